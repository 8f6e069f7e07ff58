-- confhub write benchmark: PUT a JSON value to one key, a different value on every request
-- (wrk runs one Lua state per thread, so the thread number keeps values distinct across threads).
-- Path: CONFHUB_PUT_PATH from wrk's environment, default /v1/ns/default/bench/counter.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local path = os.getenv("CONFHUB_PUT_PATH") or "/v1/ns/default/bench/counter"
local headers = { ["Content-Type"] = "application/json" }
local counter = 0

function request()
  counter = counter + 1
  local body = '"t' .. tostring(tid) .. '-' .. tostring(counter) .. '"'
  return wrk.format("PUT", path, headers, body)
end
