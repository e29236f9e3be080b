-- The mixed load: of every 100 requests, 90 reads (the paths of BENCH_DATA in turn: posts by id and
-- feed pages), 9 caption edits (PATCH by the post's owner) and 1 upload (BENCH_BODY).
-- BENCH_WRITERS: one line per writing account, "<access token> <post id> <post id> ...".
local reads, writes = {}, {}
local upload
local r, w, n = 0, 0, 0

function init(args)
  for k, path in ipairs(lines(os.getenv("BENCH_DATA"))) do
    reads[k] = wrk.format("GET", path, {})
  end
  local writers = share(lines(os.getenv("BENCH_WRITERS")))
  local first_token = nil
  for _, line in ipairs(writers) do
    local token = nil
    for field in line:gmatch("%S+") do
      if token == nil then
        token = field
        first_token = first_token or token
      else
        local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
        local body = string.format('{"caption":"edited under load %d #bench #mixed"}', #writes + 1)
        writes[#writes + 1] = wrk.format("PATCH", "/api/v1/posts/" .. field, headers, body)
      end
    end
  end
  local headers = {
    ["Content-Type"] = "multipart/form-data; boundary=" .. os.getenv("BENCH_BOUNDARY"),
    ["Authorization"] = "Bearer " .. first_token,
  }
  upload = wrk.format("POST", "/api/v1/posts", headers, read_file(os.getenv("BENCH_BODY")))
  r = (tid * 7919) % #reads
end

function request()
  n = n + 1
  local slot = n % 100
  if slot == 0 then
    return upload
  elseif slot <= 9 then
    w = w % #writes + 1
    return writes[w]
  end
  r = r % #reads + 1
  return reads[r]
end
