-- POST /api/v1/auth/login for the accounts of BENCH_DATA in turn, all with BENCH_PASSWORD.
local requests = {}
local i = 0

function init(args)
  local password = os.getenv("BENCH_PASSWORD")
  for k, login in ipairs(lines(os.getenv("BENCH_DATA"))) do
    local body = string.format('{"login":"%s","password":"%s"}', login, password)
    requests[k] = wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
  end
  i = (tid * 7919) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end
