-- POST /api/v1/auth/refresh. A refresh token is good once, so each thread keeps a queue: a request
-- takes the oldest token and a 200 puts the new one from its body back. Every token is in flight on
-- at most one connection, which is what rotation requires, and each session refreshes in series.
-- BENCH_DATA holds one refresh token per line (one session each); a thread needs more tokens than
-- connections, because wrk formats one request on thread 0 before the run to check the script.
local queue = {}
local head, tail = 1, 0

local function push(token)
  tail = tail + 1
  queue[tail] = token
end

function init(args)
  for _, token in ipairs(share(lines(os.getenv("BENCH_DATA")))) do
    push(token)
  end
end

function request()
  local token = "exhausted"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  local body = '{"refresh_token":"' .. token .. '"}'
  return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
      push(token)
    end
  end
end
