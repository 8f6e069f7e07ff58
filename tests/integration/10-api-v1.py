#!/usr/bin/python3
"""Black-box tests of every /v1 route and error status against the real server."""
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("api: ")
q = urllib.parse.quote
EXAMPLE = os.path.join(chtest.ROOT, "examples", "example.json")


def err_code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def test_reads(srv):
    doc = json.load(open(EXAMPLE))
    st, h, body = srv.json("GET", "/v1/ns/default")
    tap.eq(st, 200, "GET namespace document")
    tap.eq(body, doc, "the seeded document round-trips, list and scalar sections included")
    tap.eq(h.get("content-type"), "application/json", "JSON content type")
    tap.eq(h.get("x-confhub-revision"), "1", "X-Confhub-Revision on a read")
    st, h, body = srv.json("GET", "/v1/ns/default/app")
    tap.eq((st, body), (200, doc["app"]), "GET section")
    st, h, body = srv.json("GET", "/v1/ns/default/regions")
    tap.eq((st, body), (200, doc["regions"]), "GET list-valued section")
    st, h, body = srv.json("GET", "/v1/ns/default/maintenance_mode")
    tap.eq((st, body), (200, False), "GET scalar-valued section")
    st, h, body = srv.json("GET", "/v1/ns/default/app/port")
    tap.eq((st, body), (200, 8080), "GET key")
    tap.eq(h.get("etag"), '"1"', "ETag is the mod_revision")
    st, h, body = srv.json("GET", "/v1/ns/default/app/timeouts?meta=true")
    tap.eq(body, {"value": doc["app"]["timeouts"], "create_revision": 1, "mod_revision": 1,
                  "version": 1}, "?meta=true answers value and revisions")
    st, h, body = srv.json("GET", "/v1/namespaces")
    tap.eq(body, {"namespaces": [{"name": "default", "sections": 7, "keys": 24}], "revision": 1},
           "GET /v1/namespaces")
    st, h, body = srv.request("GET", "/healthz")
    tap.eq((st, body), (200, b"ok\n"), "GET /healthz")
    st, h, body = srv.json("GET", "/v1/status")
    tap.ok(st == 200 and body["revision"] == 1 and body["store"] == "sqlite" and
           body["keys"] == 24 and body["namespaces"] == 1 and "uptime_s" in body and
           body["version"], "GET /v1/status", body)
    st, h, body = srv.json("GET", "/v1/limits")
    tap.ok(st == 200 and body["max-body-bytes"]["value"] == 16 << 20 and
           body["max-name-bytes"]["max"] == 256, "GET /v1/limits lists the limits table", body)


def test_not_found(srv):
    for path, what in [("/v1/ns/nope", "namespace"), ("/v1/ns/default/nope", "section"),
                       ("/v1/ns/default/app/nope", "key"), ("/nope", "route"),
                       ("/v1/ns/default/regions/x", "key in a list section")]:
        st, h, body = srv.json("GET", path)
        tap.ok(st == 404 and err_code(body) == "not_found" and body["error"]["message"],
               "404 not_found for a missing %s" % what, body)
        tap.ok("x-confhub-revision" in h, "X-Confhub-Revision on a 404 (%s)" % what)


def test_writes(srv):
    st, h, body = srv.json("PUT", "/v1/ns/default/app/color", '"blue"')
    tap.eq((st, body), (201, {"revision": 2, "mod_revision": 2, "version": 1, "changed": True}),
           "PUT new key answers 201 with its revision")
    tap.eq(h.get("x-confhub-revision"), "2", "X-Confhub-Revision after a write")
    st, h, body = srv.json("PUT", "/v1/ns/default/app/color", '"green"')
    tap.eq((st, body), (200, {"revision": 3, "mod_revision": 3, "version": 2, "changed": True}),
           "PUT existing key answers 200 and bumps version")
    st, h, body = srv.json("PUT", "/v1/ns/default/app/color", '"green"')
    tap.eq((st, body), (200, {"revision": 3, "mod_revision": 3, "version": 2, "changed": False}),
           "PUT of the same value is a no-op without a revision")
    st, h, body = srv.json("PUT", "/v1/ns/default/app/timeouts",
                           '{"idle_s":60,"write_ms":5000,"read_ms":2500}')
    tap.eq(body.get("changed"), False, "reordered object members are the same value")
    st, h, body = srv.json("DELETE", "/v1/ns/default/app/color")
    tap.eq((st, body), (200, {"revision": 4}), "DELETE key")
    st, h, body = srv.json("GET", "/v1/ns/default/app/color")
    tap.eq(st, 404, "deleted key is gone")
    st, h, body = srv.json("DELETE", "/v1/ns/default/app/color")
    tap.eq((st, err_code(body)), (404, "not_found"), "DELETE of a missing key is 404")

    # Sections: object, list, {} and back.
    st, h, body = srv.json("PUT", "/v1/ns/default/svc", '{"a":1,"b":[1,2]}')
    tap.eq((st, body["changed"]), (201, True), "PUT new section")
    st, h, body = srv.json("PUT", "/v1/ns/default/svc", '{"a":1,"c":true}')
    st2, _, sec = srv.json("GET", "/v1/ns/default/svc")
    tap.eq(sec, {"a": 1, "c": True}, "PUT section replaces it (b removed)")
    rev = int(h["x-confhub-revision"])
    tap.eq(body["revision"], rev, "section replace is one revision")
    st, h, body = srv.json("PUT", "/v1/ns/default/svc", '["x","y"]')
    _, _, sec = srv.json("GET", "/v1/ns/default/svc")
    tap.eq(sec, ["x", "y"], "a section can become a list")
    st, h, body = srv.json("PUT", "/v1/ns/default/svc/k", '1')
    tap.eq((st, err_code(body)), (400, "invalid_argument"),
           "PUT key into a list section is refused")
    st, h, body = srv.json("PUT", "/v1/ns/default/svc", '{}')
    _, _, sec = srv.json("GET", "/v1/ns/default/svc")
    tap.eq(sec, {}, "an empty-object section round-trips")
    st, h, body = srv.json("PUT", "/v1/ns/default/svc/k", '1')
    _, _, sec = srv.json("GET", "/v1/ns/default/svc")
    tap.eq((st, sec), (201, {"k": 1}), "a key can be added to an empty section")
    st, h, body = srv.json("DELETE", "/v1/ns/default/svc")
    tap.eq(st, 200, "DELETE section")
    st, h, body = srv.json("GET", "/v1/ns/default/svc")
    tap.eq(st, 404, "deleted section is gone")

    # Namespaces.
    st, h, body = srv.json("PUT", "/v1/ns/team-b", '{"s1":{"k":1},"s2":"scalar"}')
    tap.eq((st, body["changed"]), (201, True), "PUT new namespace")
    st, h, body = srv.json("PUT", "/v1/ns/team-b", '{"s1":{"k":2}}')
    _, _, doc = srv.json("GET", "/v1/ns/team-b")
    tap.eq(doc, {"s1": {"k": 2}}, "PUT namespace replaces the whole document")
    st, h, body = srv.json("PUT", "/v1/ns/team-b", '[1]')
    tap.eq((st, err_code(body)), (400, "invalid_argument"), "a namespace document must be an object")
    st, h, body = srv.json("DELETE", "/v1/ns/team-b")
    tap.eq(st, 200, "DELETE namespace")
    st, h, body = srv.json("GET", "/v1/ns/team-b")
    tap.eq(st, 404, "deleted namespace is gone")
    st, h, body = srv.json("DELETE", "/v1/ns/team-b")
    tap.eq(st, 404, "DELETE of a missing namespace is 404")


def test_names(srv):
    for ns, sec, key in [("default", "my section", "my key"),
                         ("default", "labels", "app.kubernetes.io"),
                         ("配置", "节", "键"), ("default", "sym", "a+b=c&d?e#f%g")]:
        path = "/v1/ns/%s/%s/%s" % (q(ns, safe=""), q(sec, safe=""), q(key, safe=""))
        st, h, body = srv.json("PUT", path, '"v"')
        tap.ok(st in (200, 201), "PUT with percent-encoded names %r" % key, body)
        st, h, body = srv.json("GET", path)
        tap.eq((st, body), (200, "v"), "GET with percent-encoded names %r" % key)
        _, _, sec_doc = srv.json("GET", "/v1/ns/%s/%s" % (q(ns, safe=""), q(sec, safe="")))
        tap.eq(sec_doc, {key: "v"}, "the decoded name is stored %r" % key)
    for bad, why in [("%2F", "slash"), ("..", "dot-dot"), ("@", "reserved @"), ("%01", "control"),
                     ("%C3%28", "invalid UTF-8"), ("%zz", "bad escape"), ("%00", "NUL")]:
        st, h, body = srv.json("PUT", "/v1/ns/default/s/" + bad, '1')
        tap.ok(st == 400 and err_code(body) == "invalid_argument",
               "bad name is 400: %s" % why, body)
    st, h, body = srv.json("PUT", "/v1/ns/default/s/" + "k" * 257, '1')
    tap.ok(st == 413 and "limit of 256" in body["error"]["message"] and
           err_code(body) == "too_large", "a 257-byte name is 413 naming the limit", body)
    st, h, body = srv.json("PUT", "/v1/ns/default/s", '{"a/b":1}')
    tap.eq((st, err_code(body)), (400, "invalid_argument"), "bad key name inside a section body")


def test_errors(srv):
    st, h, body = srv.json("PUT", "/v1/ns/default/app/x", '{"a":\n 1,,}')
    tap.ok(st == 400 and body["error"]["line"] == 2 and body["error"]["column"] >= 3 and
           "line 2" in body["error"]["message"], "bad JSON says line and column", body)
    st, h, body = srv.json("PUT", "/v1/ns/default/app/x", '{"a":1,"a":2}')
    tap.eq((st, err_code(body)), (400, "invalid_argument"), "duplicate keys are refused")
    st, h, body = srv.json("PUT", "/v1/ns/default/app/x", '')
    tap.eq((st, err_code(body)), (400, "invalid_argument"), "an empty body is refused")
    st, h, body = srv.json("PUT", "/v1/ns/default/app/x", '1', {"Content-Type": "application/xml"})
    tap.eq((st, err_code(body)), (415, "unsupported_media_type"), "415 for a non-JSON media type")
    st, h, body = srv.json("POST", "/v1/ns/default/app/x", '1')
    tap.eq((st, err_code(body), h.get("allow")), (405, "method_not_allowed", "GET, PUT, DELETE"),
           "405 with Allow")
    st, h, body = srv.json("GET", "/v1/ns/default/app/port", "x")
    tap.eq(st, 400, "a body on GET is refused")
    deep = "[" * 65 + "]" * 65
    st, h, body = srv.json("PUT", "/v1/ns/default/app/deep", deep)
    tap.ok(st == 413 and "max-json-depth" in body["error"]["message"],
           "nesting over the limit is 413 naming the limit", body)
    deeper = "[" * 5000 + "]" * 5000
    st, h, body = srv.json("PUT", "/v1/ns/default/app/deep", deeper)
    tap.eq(st, 413, "very deep nesting is 413, not a crash")
    big = '"' + "x" * (1 << 20) + '"'
    st, h, body = srv.json("PUT", "/v1/ns/default/app/big", big)
    tap.ok(st == 413 and "max-value-bytes" in body["error"]["message"],
           "a value over max-value-bytes is 413 naming the limit", body)
    st, h, body = srv.json("PUT", "/v1/ns/default/app/x", '1', {"If-Match": "abc"})
    tap.eq(st, 400, "a malformed If-Match is 400")


def test_limits_flags():
    with chtest.Server(args=["--max-body-bytes", "1000", "--max-value-bytes", "100"]) as srv:
        st, h, body = srv.json("PUT", "/v1/ns/default/s/k", '"' + "x" * 200 + '"')
        tap.ok(st == 413 and "100" in body["error"]["message"], "--max-value-bytes is applied", body)
        st, h, body = srv.json("PUT", "/v1/ns/default/s/k", '"' + "x" * 1500 + '"')
        tap.ok(st == 413 and "max-body-bytes" in body["error"]["message"],
               "a body over --max-body-bytes is 413 naming the limit", body)
        st, h, body = srv.request("PUT", "/v1/ns/default/s/k", '"' + "x" * 5000 + '"')
        tap.eq(st, 413, "a body far over --max-body-bytes is cut off with 413")
        st, h, body = srv.json("GET", "/v1/limits")
        tap.eq(body["max-body-bytes"]["value"], 1000, "GET /v1/limits shows the flag's value")


def test_conditions(srv):
    srv.json("PUT", "/v1/ns/default/cas/k", '1')
    _, h, body = srv.json("GET", "/v1/ns/default/cas/k?meta=true")
    rev = body["mod_revision"]
    st, h, body = srv.json("PUT", "/v1/ns/default/cas/k", '2', {"If-Match": '"%d"' % (rev + 100)})
    tap.ok(st == 412 and err_code(body) == "conflict" and body["error"]["mod_revision"] == rev,
           "If-Match mismatch is 412 with the current mod_revision", body)
    st, h, body = srv.json("PUT", "/v1/ns/default/cas/k", '2', {"If-Match": '"%d"' % rev})
    tap.eq(st, 200, "If-Match with the current mod_revision succeeds")
    st, h, body = srv.json("PUT", "/v1/ns/default/cas/k", '3', {"If-None-Match": "*"})
    tap.eq((st, err_code(body)), (412, "conflict"), "If-None-Match: * on an existing key is 412")
    st, h, body = srv.json("PUT", "/v1/ns/default/cas/new", '3', {"If-None-Match": "*"})
    tap.eq(st, 201, "If-None-Match: * creates a new key")
    st, h, body = srv.json("DELETE", "/v1/ns/default/cas/new", None, {"If-Match": '"1"'})
    tap.eq(st, 412, "DELETE with a stale If-Match is 412")
    st, h, body = srv.json("PUT", "/v1/ns/default/cas", '{"k":9}', {"If-Match": '"1"'})
    tap.eq(st, 412, "section PUT honours If-Match")

    # Races: 20 clients create the same key with If-None-Match: exactly one wins.
    results = []

    def create(i):
        st, _, _ = srv.json("PUT", "/v1/ns/default/race/once", str(i), {"If-None-Match": "*"})
        results.append(st)
    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    tap.eq(sorted(results), [201] + [412] * 19, "If-None-Match race: exactly one creator wins")

    # Compare-and-swap counter: 8 clients x 10 increments, retrying on 412; none is lost.
    srv.json("PUT", "/v1/ns/default/race/counter", '0')

    def incr():
        for _ in range(10):
            while True:
                _, _, b = srv.json("GET", "/v1/ns/default/race/counter?meta=true")
                st, _, _ = srv.json("PUT", "/v1/ns/default/race/counter", str(b["value"] + 1),
                                    {"If-Match": '"%d"' % b["mod_revision"]})
                if st == 200:
                    break
    threads = [threading.Thread(target=incr) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    _, _, v = srv.json("GET", "/v1/ns/default/race/counter")
    tap.eq(v, 80, "If-Match race: 80 compare-and-swap increments, none lost")


def test_keepalive_and_garbage(srv):
    c = srv.conn()
    for i in range(3):
        st, _, body = srv.request("GET", "/v1/ns/default/app/port", conn=c)
    c.close()
    tap.eq(st, 200, "keep-alive connection serves several requests")
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"GARBAGE\r\n\r\n")
    data = s.recv(1000)
    s.close()
    tap.ok(data.startswith(b"HTTP/1.1 4"), "a garbage request gets a 4xx", data[:80])
    st, _, _ = srv.request("GET", "/healthz")
    tap.eq(st, 200, "the server still serves after garbage")


def test_restart_keeps_data():
    srv = chtest.Server(seed=EXAMPLE, keep_data=True).start()
    srv.json("PUT", "/v1/ns/default/app/port", '9090')
    _, _, before = srv.json("GET", "/v1/ns/default/app/port?meta=true")
    tap.eq(srv.stop(), 0, "SIGTERM stops the server with exit code 0")
    srv2 = chtest.Server(data_dir=srv.data_dir, seed=EXAMPLE).start()
    _, h, after = srv2.json("GET", "/v1/ns/default/app/port?meta=true")
    tap.eq(after, before, "data and revisions survive a restart; the seed is not re-applied")
    tap.eq(h.get("x-confhub-revision"), "2", "the revision survives a restart")
    tap.eq(srv2.stop(), 0, "second stop is clean")
    srv2.cleanup()
    import shutil
    shutil.rmtree(srv.data_dir, ignore_errors=True)


def test_empty_default():
    with chtest.Server() as srv:
        st, h, body = srv.json("GET", "/v1/ns/default")
        tap.eq((st, body, h.get("x-confhub-revision")), (200, {}, "0"),
               "the default namespace exists, empty, on a new server")
        srv.json("PUT", "/v1/ns/alpha/s/k", "1")
        srv.json("PUT", "/v1/ns/zeta/s/k", "1")
        st, h, body = srv.json("GET", "/v1/namespaces")
        tap.eq([n["name"] for n in body["namespaces"]], ["alpha", "default", "zeta"],
               "an empty default is listed in its sorted place")
        st, h, body = srv.json("GET", "/v1/ns/other")
        tap.eq(st, 404, "other empty namespaces do not exist")


def test_origins():
    """Cross-site writes: a page of another origin may not change anything (a text/plain POST
    reaches the server without a CORS preflight); reads, programs and the server's own pages
    may."""
    txn = '{"then":[{"op":"put","ns":"web","section":"s","key":"k","value":1}]}'
    with chtest.Server() as srv:
        own = "http://127.0.0.1:%d" % srv.port
        st, _, body = srv.json("POST", "/v1/txn", txn,
                               {"Content-Type": "text/plain", "Origin": "http://evil.example"})
        tap.ok(st == 403 and body["error"]["code"] == "forbidden" and
               "--allowed-origin http://evil.example" in body["error"]["message"],
               "a text/plain POST from another origin's page: 403 forbidden, naming the flag", body)
        st, _, _ = srv.json("PUT", "/v1/ns/web/s/k", "2", {"Origin": "http://evil.example"})
        tap.eq(st, 403, "a PUT from another origin's page: 403")
        st, _, _ = srv.json("GET", "/v1/ns/web")
        tap.eq(st, 404, "and nothing was written")
        st, _, _ = srv.json("POST", "/v1/txn", txn, {"Content-Type": "text/plain", "Origin": own})
        tap.eq(st, 200, "the server's own origin may write")
        st, _, _ = srv.json("GET", "/v1/ns/web/s/k", headers={"Origin": "http://evil.example"})
        tap.eq(st, 200, "reads are not checked (the browser withholds the answer)")
        st, _, _ = srv.json("DELETE", "/v1/ns/web/s/k")
        tap.eq(st, 200, "a request without Origin (a program) may write")
    with chtest.Server(args=["--allowed-origin", "http://ui.example:3000"]) as srv:
        st, _, _ = srv.json("POST", "/v1/txn", txn,
                            {"Content-Type": "text/plain", "Origin": "http://ui.example:3000"})
        tap.eq(st, 200, "--allowed-origin lets that origin's pages write")
    r = subprocess.run([chtest.BIN, "serve", "--allowed-origin", "http://ui.example/app"],
                       capture_output=True, text=True, env=chtest.sanitizer_env())
    tap.ok(r.returncode == 1 and "no path" in r.stderr,
           "--allowed-origin with a path is a usage error (exit 1)", r.stderr)


def main():
    test_empty_default()
    test_origins()
    with chtest.Server(seed=EXAMPLE) as srv:
        test_reads(srv)
        test_not_found(srv)
        test_writes(srv)
        test_names(srv)
        test_errors(srv)
        test_conditions(srv)
        test_keepalive_and_garbage(srv)
    test_limits_flags()
    test_restart_keeps_data()
    tap.done()


main()
