-- wrk script: authenticated MCP tools/call requests.
-- Environment:
--   BENCH_TOOL    list_my_notes | save_note
--   BENCH_METHOD  tools/call (default) | another method without arguments, such as
--                 server/discover (the whole request path with no store and a small answer)
--   BENCH_ERA     2026-07-28 (per-request _meta and Mcp-* headers) | 2025-11-25
--   BENCH_ACCEPT  json (Accept: application/json, text/event-stream) | sse (text/event-stream only)
--   BENCH_TOKENS  file with one bearer token per line
--   BENCH_COLD    1: a different token on every request (each must be verified);
--                 otherwise each connection reuses one token (verified-token cache hits)
--   BENCH_PATH    request path (default /mcp)
--   BENCH_CHECK   1: check every response is a correct result; prints a summary line
local tool = os.getenv("BENCH_TOOL") or "list_my_notes"
local method = os.getenv("BENCH_METHOD") or "tools/call"
local era = os.getenv("BENCH_ERA") or "2026-07-28"
local accept = os.getenv("BENCH_ACCEPT") or "json"
local cold = os.getenv("BENCH_COLD") == "1"
local path = os.getenv("BENCH_PATH") or "/mcp"
local check = os.getenv("BENCH_CHECK") == "1"

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local args
if tool == "save_note" then
  args = '{"title":"Benchmark note","content":"A note written by the benchmark, with a short body of ordinary text.","tags":["bench"]}'
else
  args = '{}'
end

local meta = ""
local headers = {
  ["Content-Type"] = "application/json",
  ["Accept"] = accept == "sse" and "text/event-stream" or "application/json, text/event-stream",
  ["MCP-Protocol-Version"] = era,
}
if era == "2026-07-28" then
  meta = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
         '"io.modelcontextprotocol/clientCapabilities":{}}'
  headers["Mcp-Method"] = method
  if method == "tools/call" then headers["Mcp-Name"] = tool end
end
local body
if method == "tools/call" then
  body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool ..
         '","arguments":' .. args .. meta .. '}}'
else
  body = '{"jsonrpc":"2.0","id":1,"method":"' .. method .. '","params":{' .. meta:sub(2) .. '}}'
end

-- each wrk thread gets its own slice of the tokens
local counter, threads = 0, {}
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

local next_token, fixed = 0, nil
ok_count, bad_count = 0, 0

function init(argv)
  next_token = (tonumber(offset) or 0) * 7919
  if not cold then
    headers["Authorization"] = "Bearer " .. tokens[(next_token % #tokens) + 1]
    fixed = wrk.format("POST", path, headers, body)
  end
end

function request()
  if fixed then return fixed end
  next_token = next_token + 1
  headers["Authorization"] = "Bearer " .. tokens[(next_token % #tokens) + 1]
  return wrk.format("POST", path, headers, body)
end

-- one parseable line per run (latencies in microseconds)
local function summary_line(summary, latency)
  local e = summary.errors
  io.write(string.format("result: requests=%d duration_us=%d non2xx=%d socket_errors=%d " ..
    "p50_us=%d p99_us=%d max_us=%d\n", summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    latency.max))
end

if not check then
  function done(summary, latency, requests)
    summary_line(summary, latency)
  end
end

if check then
  function response(status, hdrs, resp)
    local call = method == "tools/call"
    local good = status == 200 and resp:find('"result":', 1, true) and
                 not resp:find('"isError":true', 1, true) and
                 (not call or tool ~= "list_my_notes" or resp:find('\\"count\\":20', 1, true)) and
                 (not call or tool ~= "save_note" or resp:find('\\"version\\":1', 1, true)) and
                 (method ~= "server/discover" or resp:find('"supportedVersions":', 1, true)) and
                 (accept ~= "sse" or resp:sub(1, 6) == "event:" or resp:sub(1, 5) == "data:" or resp:sub(1, 3) == "id:")
    if good then ok_count = ok_count + 1 else
      bad_count = bad_count + 1
      if bad_count == 1 then io.stderr:write("bad response: " .. status .. " " .. resp:sub(1, 300) .. "\n") end
    end
  end
  function done(summary, latency, requests)
    local good, bad = 0, 0
    for _, t in ipairs(threads) do
      good = good + (t:get("ok_count") or 0)
      bad = bad + (t:get("bad_count") or 0)
    end
    local errs = summary.errors
    io.write(string.format("check: %d correct, %d wrong, %d socket errors\n", good, bad,
      errs.connect + errs.read + errs.write + errs.timeout))
    summary_line(summary, latency)
  end
end
