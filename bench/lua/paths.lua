-- GET the paths of BENCH_DATA in turn. With BENCH_TOKENS, each request carries a bearer token from
-- that file, also in turn. Requests are formatted once in init, so the generator's cost is the same
-- for the ceiling and for Rampart.
local requests = {}
local i = 0

function init(args)
  local paths = lines(os.getenv("BENCH_DATA"))
  local tokens = nil
  if os.getenv("BENCH_TOKENS") then
    tokens = lines(os.getenv("BENCH_TOKENS"))
  end
  for k, path in ipairs(paths) do
    local headers = {}
    if tokens then
      headers["Authorization"] = "Bearer " .. tokens[(k - 1) % #tokens + 1]
    end
    requests[k] = wrk.format("GET", path, headers)
  end
  i = (tid * 7919) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end
