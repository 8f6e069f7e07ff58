-- etcd 3.4 read peer: POST /v3/kv/range of key "app/version" (base64) through the JSON gateway.
wrk.method = "POST"
wrk.body = '{"key":"YXBwL3ZlcnNpb24="}'
wrk.headers["Content-Type"] = "application/json"
