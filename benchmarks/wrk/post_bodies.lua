-- wrk script of benchmarks/serving.py: POST one request body per line of BODIES (rotating) to TARGET_PATH
-- with the API_KEY; a TARGET_PATH holding "{id}" takes each line as an account id instead (empty body).
-- With COUNT_VERSIONS set, answers are counted by their X-Model-Version header (the model swap); with
-- COUNT_STATUS set, by their HTTP status (benchmarks/abuse.py). With ROTATE_KEY set, every request sends a
-- different key (API_KEY followed by a counter): the wrong-key clients of benchmarks/abuse.py.
-- `done` writes one JSON line: requests, errors, latency percentiles (microseconds), versions.
local bodies, path, key = {}, os.getenv("BODIES"), os.getenv("API_KEY")
for line in io.lines(path) do bodies[#bodies + 1] = line end
local target = os.getenv("TARGET_PATH") or "/v1/score"
local count = os.getenv("COUNT_VERSIONS") ~= nil
local count_status = os.getenv("COUNT_STATUS") ~= nil
local rotate = os.getenv("ROTATE_KEY") ~= nil
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = id
  versions = ""
  statuses = ""
  tally = {}
  by_status = {}
  headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
end

function request()
  n = n + 1
  local body = bodies[(n % #bodies) + 1]
  if rotate then headers["X-API-Key"] = key .. "-" .. id .. "-" .. n end
  if string.find(target, "{id}", 1, true) then
    return wrk.format("POST", (string.gsub(target, "{id}", body, 1)), headers, "")
  end
  return wrk.format("POST", target, headers, body)
end

local function joined(t)
  local parts = {}
  for k, c in pairs(t) do parts[#parts + 1] = k .. "=" .. c end
  return table.concat(parts, ";")
end

if count or count_status then
  function response(status, hdrs, body)
    if count then
      local v = hdrs["X-Model-Version"] or hdrs["x-model-version"] or "?"
      tally[v] = (tally[v] or 0) + 1
      versions = joined(tally)
    end
    if count_status then
      local s = tostring(status)
      by_status[s] = (by_status[s] or 0) + 1
      statuses = joined(by_status)
    end
  end
end

local function merged_json(field)
  local merged = {}
  for _, t in ipairs(threads) do
    for k, c in string.gmatch(t:get(field) or "", "([^=;]+)=(%d+)") do
      merged[k] = (merged[k] or 0) + tonumber(c)
    end
  end
  local vs = {}
  for k, c in pairs(merged) do vs[#vs + 1] = string.format('"%s": %d', k, c) end
  return "{" .. table.concat(vs, ", ") .. "}"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non200": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "versions": %s, "statuses": %s}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean,
    merged_json("versions"), merged_json("statuses")))
end
