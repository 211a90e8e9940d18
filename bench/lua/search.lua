-- wrk script: authenticated MCP search_notes calls (2026-07-28 era), for bench/scale.sh.
-- Environment:
--   BENCH_TOKENS     file with one bearer token per line; each request takes the next one
--                    (the tokens repeat, so after the first round they are cache hits)
--   BENCH_QUERY      the query text: plain words, no quotes or backslashes
--   BENCH_PATH       request path (default /mcp)
--   BENCH_CHECK      1: check every response is a correct result; prints a summary line
--   BENCH_MIN_COUNT  with BENCH_CHECK: the least number of results a correct answer has
local query = os.getenv("BENCH_QUERY") or "note"
local path = os.getenv("BENCH_PATH") or "/mcp"
local check = os.getenv("BENCH_CHECK") == "1"
local min_count = tonumber(os.getenv("BENCH_MIN_COUNT") or "0")
assert(not query:find('["\\]'), "BENCH_QUERY must not contain quotes or backslashes")

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local headers = {
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json, text/event-stream",
  ["MCP-Protocol-Version"] = "2026-07-28",
  ["Mcp-Method"] = "tools/call",
  ["Mcp-Name"] = "search_notes",
}
local body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_notes",' ..
             '"arguments":{"query":"' .. query .. '"},' ..
             '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
             '"io.modelcontextprotocol/clientCapabilities":{}}}}'

-- each wrk thread starts at its own place in the token list
local counter, threads = 0, {}
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

local next_token = 0
ok_count, bad_count, results = 0, 0, 0

function init(argv)
  next_token = (tonumber(offset) or 0) * 7919
end

function request()
  next_token = next_token + 1
  headers["Authorization"] = "Bearer " .. tokens[(next_token % #tokens) + 1]
  return wrk.format("POST", path, headers, body)
end

if check then
  -- Correct: a result (not a tool error) for this query, with at least min_count results,
  -- every one of them the caller's own note (no organizations here, so nothing shared).
  function response(status, hdrs, resp)
    local count = resp:match('"structuredContent":{"query":"[^"]*","count":(%d+)')
    local good = status == 200 and count ~= nil and tonumber(count) >= min_count and
                 not resp:find('"isError":true', 1, true) and
                 not resp:find('"mine":false', 1, true)
    if good then
      ok_count = ok_count + 1
      results = results + tonumber(count)
    else
      bad_count = bad_count + 1
      if bad_count == 1 then io.stderr:write("bad response: " .. status .. " " .. resp:sub(1, 300) .. "\n") end
    end
  end
  function done(summary, latency, requests)
    local good, bad, n = 0, 0, 0
    for _, t in ipairs(threads) do
      good = good + (t:get("ok_count") or 0)
      bad = bad + (t:get("bad_count") or 0)
      n = n + (t:get("results") or 0)
    end
    local errs = summary.errors
    io.write(string.format("check: %d correct, %d wrong, %d socket errors, %.1f results per answer\n",
      good, bad, errs.connect + errs.read + errs.write + errs.timeout, good > 0 and n / good or 0))
  end
end
