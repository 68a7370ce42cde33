-- One wrk script for every `make bench` HTTP scenario.
--
--   BENCH_TOKEN=tf_… wrk -t2 -c32 -d15s -s bench/wrk/scenario.lua http://127.0.0.1:PORT -- SCENARIO PATHS_FILE
--
-- SCENARIO is list, get, create or patch; PATHS_FILE holds one request path per line (bench/run.sh writes them from
-- the seed summary). Each thread walks the paths round-robin from its own offset, so the two threads do not hit the
-- same rows in lockstep. list and get send GET; create POSTs a new title to a project's task collection; patch sends
-- a merge patch that renames the task, without If-Match (last writer wins, no 412).
--
-- done() prints one machine-readable line that bench/run.sh parses:
--   RESULT <scenario> rps=… p50_ms=… p99_ms=… requests=… non2xx=… errors=…
-- non2xx counts every response outside 200–299 (wrk's own `errors.status` only counts ≥ 400); errors counts
-- socket errors and timeouts.

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   scenario = args[1]
   local file = args[2]
   if scenario == nil or file == nil then
      error("usage: wrk … -s scenario.lua URL -- list|get|create|patch PATHS_FILE")
   end
   paths = {}
   for line in io.lines(file) do
      if line ~= "" then
         paths[#paths + 1] = line
      end
   end
   if #paths == 0 then
      error("no paths in " .. file)
   end
   local token = os.getenv("BENCH_TOKEN")
   if token == nil or token == "" then
      error("BENCH_TOKEN is not set")
   end
   wrk.headers["Authorization"] = "Bearer " .. token
   wrk.headers["Accept"] = "application/json"
   if scenario == "create" or scenario == "patch" then
      wrk.headers["Content-Type"] = "application/json"
   end
   counter = thread_index * math.floor(#paths / 2)
   non2xx = 0
end

function request()
   counter = counter + 1
   local path = paths[(counter % #paths) + 1]
   if scenario == "create" then
      local body = string.format('{"title":"Bench task %d.%d","priority":"medium"}', thread_index, counter)
      return wrk.format("POST", path, nil, body)
   elseif scenario == "patch" then
      local body = string.format('{"title":"Renamed by bench %d.%d"}', thread_index, counter)
      return wrk.format("PATCH", path, nil, body)
   end
   return wrk.format("GET", path)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if non2xx <= 3 then
         io.stderr:write(string.format("%s: HTTP %d: %s\n", scenario, status, string.sub(body or "", 1, 300)))
      end
   end
end

function done(summary, latency, requests)
   local bad = 0
   local name = "?"
   for _, t in ipairs(threads) do
      bad = bad + (t:get("non2xx") or 0)
      name = t:get("scenario") or name
   end
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   io.write(string.format(
      "RESULT %s rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d errors=%d\n",
      name,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000,
      latency:percentile(99) / 1000,
      summary.requests,
      bad,
      socket_errors
   ))
end
