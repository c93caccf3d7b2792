-- wrk script of benchmarks/serving.py: POST one request body per line of BODIES (rotating) to TARGET_PATH
-- with the API_KEY; a TARGET_PATH holding "{id}" takes each line as an account id instead (empty body).
-- With COUNT_VERSIONS set, answers are counted by their X-Model-Version header (the model swap).
-- `done` writes one JSON line: requests, errors, latency percentiles (microseconds), versions.
local bodies, path, key = {}, os.getenv("BODIES"), os.getenv("API_KEY")
for line in io.lines(path) do bodies[#bodies + 1] = line end
local target = os.getenv("TARGET_PATH") or "/v1/score"
local count = os.getenv("COUNT_VERSIONS") ~= nil
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = id
  versions = ""
  tally = {}
  headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
end

function request()
  n = n + 1
  local body = bodies[(n % #bodies) + 1]
  if string.find(target, "{id}", 1, true) then
    return wrk.format("POST", (string.gsub(target, "{id}", body, 1)), headers, "")
  end
  return wrk.format("POST", target, headers, body)
end

if count then
  function response(status, hdrs, body)
    local v = hdrs["X-Model-Version"] or hdrs["x-model-version"] or "?"
    tally[v] = (tally[v] or 0) + 1
    local parts = {}
    for k, c in pairs(tally) do parts[#parts + 1] = k .. "=" .. c end
    versions = table.concat(parts, ";")
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for k, c in string.gmatch(t:get("versions") or "", "([^=;]+)=(%d+)") do
      merged[k] = (merged[k] or 0) + tonumber(c)
    end
  end
  local vs = {}
  for k, c in pairs(merged) do vs[#vs + 1] = string.format('"%s": %d', k, c) end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non200": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "versions": {%s}}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean, table.concat(vs, ", ")))
end
