-- POST /api/v1/posts with the multipart body of BENCH_BODY (built once by rampart-bench), as the
-- account whose access token is the thread's line of BENCH_TOKENS.
local req

function init(args)
  local tokens = lines(os.getenv("BENCH_TOKENS"))
  local headers = {
    ["Content-Type"] = "multipart/form-data; boundary=" .. os.getenv("BENCH_BOUNDARY"),
    ["Authorization"] = "Bearer " .. tokens[tid % #tokens + 1],
  }
  req = wrk.format("POST", "/api/v1/posts", headers, read_file(os.getenv("BENCH_BODY")))
end

function request()
  return req
end
