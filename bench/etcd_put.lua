-- etcd 3.4 write peer: POST /v3/kv/put through the JSON gateway, key "app/version" and value
-- "\"1.2.3\"" in base64. etcd gives every put a new revision, so no request is a no-op.
local headers = { ["Content-Type"] = "application/json" }
local body = '{"key":"YXBwL3ZlcnNpb24=","value":"IjEuMi4zIg=="}'

function request()
  return wrk.format("POST", "/v3/kv/put", headers, body)
end
