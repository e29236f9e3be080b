-- Shared by every scenario script (prepended by rampart-bench): thread numbering, data files, and
-- the JSON summary that rampart-bench reads back. Environment: BENCH_OUT (summary path),
-- BENCH_THREADS (wrk -t), and per script BENCH_DATA / BENCH_TOKENS / BENCH_BODY / BENCH_BOUNDARY.

local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

-- Non-empty lines of a file.
function lines(path)
  local t = {}
  for line in io.lines(path) do
    if line ~= "" then
      t[#t + 1] = line
    end
  end
  return t
end

-- This thread's share of a list (items i with i mod threads == tid), so threads never share one.
function share(items)
  local n = tonumber(os.getenv("BENCH_THREADS"))
  local mine = {}
  for i, v in ipairs(items) do
    if (i - 1) % n == tid then
      mine[#mine + 1] = v
    end
  end
  return mine
end

function read_file(path)
  local f = assert(io.open(path, "rb"))
  local body = f:read("*a")
  f:close()
  return body
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  out:close()
end
