#!/usr/bin/env python3
"""Watch over SSE and long-poll (GET /v1/watch): event stream format, Last-Event-ID resume,
progress heartbeats, long-poll answers (at once, held, empty with the current revision), and
clear errors for bad requests."""
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap()


def put(srv, path, value):
    req = urllib.request.Request(srv.url + path, data=json.dumps(value).encode(), method="PUT")
    return json.loads(urllib.request.urlopen(req).read())


def sse_messages(resp, n):
    """Reads n SSE messages (dicts of field -> value, comments under ':')."""
    out, cur = [], {}
    while len(out) < n:
        line = resp.readline().decode()
        if line == "":
            break
        line = line.rstrip("\n")
        if line == "":
            if cur:
                out.append(cur)
            cur = {}
            continue
        if line.startswith(":"):
            cur.setdefault(":", []).append(line[1:].strip())
            continue
        k, _, v = line.partition(": ")
        cur[k] = v
    return out


with chtest.Server(args=["--watch-progress-interval", "1"]) as srv:
    for i in range(3):
        put(srv, "/v1/ns/default/app/k%d" % i, i)
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("GET", "/v1/watch?ns=default&section=app&start_revision=1", headers={"Accept": "text/event-stream"})
    r = c.getresponse()
    tap.eq((r.status, r.getheader("content-type")), (200, "text/event-stream"), "SSE answers text/event-stream")
    msgs = [m for m in sse_messages(r, 3) if m.get("event") == "change"]
    while len(msgs) < 2:
        msgs += [m for m in sse_messages(r, 1) if m.get("event") == "change"]
    tap.eq([m["id"] for m in msgs], ["2", "3"], "SSE replays the revisions after start_revision, id = revision")
    d = json.loads(msgs[0]["data"])
    tap.eq((d["revision"], d["events"][0]["key"], d["events"][0]["new_value"]), (2, "k1", 1), "SSE data is the revision's events")
    threading.Timer(0.3, put, (srv, "/v1/ns/default/app/k9", 9)).start()
    m = [x for x in sse_messages(r, 1)]
    while not any(x.get("event") == "change" for x in m):
        m = sse_messages(r, 1)
    tap.eq(m[0]["id"], "4", "SSE delivers live changes")
    m = sse_messages(r, 1)[0]
    tap.ok(m.get("event") == "progress" and ":" in m and m["id"] == "4", "idle SSE gets a heartbeat comment and a progress event", m)
    c.close()

    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("GET", "/v1/watch?ns=default", headers={"Accept": "text/event-stream", "Last-Event-ID": "3"})
    r = c.getresponse()
    m = [x for x in sse_messages(r, 2) if x.get("event") == "change"]
    tap.eq([x["id"] for x in m], ["4"], "Last-Event-ID resumes after that revision")
    c.close()

    s, h, body = srv.json("GET", "/v1/watch?ns=default&start_revision=2")
    tap.eq((s, body["revision"], [e["revision"] for e in body["events"]]), (200, 4, [3, 4]), "long-poll with events after start answers at once")
    t0 = time.monotonic()
    threading.Timer(0.3, put, (srv, "/v1/ns/default/app/k5", 5)).start()
    s, h, body = srv.json("GET", "/v1/watch?ns=default&start_revision=4&wait=30s")
    tap.eq((s, [e["key"] for e in body["events"]], body["revision"]), (200, ["k5"], 5), "long-poll holds until a change arrives")
    s, h, body = srv.json("GET", "/v1/watch?ns=default&start_revision=5&wait=200ms")
    tap.eq((s, body), (200, {"revision": 5, "events": []}), "long-poll with nothing new answers an empty list and the current revision")
    s, h, body = srv.json("GET", "/v1/watch?ns=default&section=other&start_revision=0")
    tap.eq(body, {"revision": 5, "events": []}, "no matching events: empty list, the revision covered")

    for q, code, what in [("", 400, "no namespace"), ("ns=nope", 404, "unknown namespace"),
                          ("ns=default&start_revision=x", 400, "bad start_revision"),
                          ("ns=default&wait=3h", 400, "wait over max-watch-wait"),
                          ("ns=default&wait=soon", 400, "bad wait"),
                          ("ns=default&key=k", 400, "key without section"),
                          ("ns=a%2Fb", 400, "bad namespace name")]:
        s, h, body = srv.json("GET", "/v1/watch?" + q)
        tap.ok(s == code and "error" in body, "%s: %d with an error body" % (what, code), (s, body))
    s, h, body = srv.json("GET", "/v1/watch?ns=default&section=%zz")
    tap.ok(s == 400 and "'section'" in body["error"]["message"] and "%" in body["error"]["message"],
           "a bad escape in a filter is 400 naming the parameter and the escape", (s, body))
    s, h, body = srv.json("GET", "/v1/watch?ns=nope&start_revision=0")
    tap.eq((s, body), (200, {"revision": 5, "events": []}), "an unknown namespace may be watched from a revision")
    # A catch-up of many revisions at once: the stream's queue grows as they are queued.
    first = put(srv, "/v1/ns/default/burst/k", 0)["revision"]
    for i in range(1, 60):
        put(srv, "/v1/ns/default/burst/k", i)
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("GET", "/v1/watch?ns=default&section=burst&start_revision=%d" % (first - 1),
              headers={"Accept": "text/event-stream"})
    r = c.getresponse()
    ids = []
    while len(ids) < 60:
        ids += [int(m["id"]) for m in sse_messages(r, 1) if m.get("event") == "change"]
    tap.eq(ids, list(range(first, first + 60)), "SSE catch-up of 60 revisions: all, in order")
    c.close()
    s, h, body = srv.json("GET", "/v1/debug/ws-echo")
    tap.eq(s, 404, "the echo endpoint is off by default")


def open_stream(port, version):
    """A raw SSE request; returns the socket and the response head (lower-cased lines)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(("GET /v1/watch?ns=default HTTP/%s\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
               % version).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    while b"watching from" not in rest:  # the stream is open once its first comment is in
        rest += s.recv(4096)
    return s, head.decode("latin-1").lower().split("\r\n"), rest


def read_to_eof(s, data):
    while True:
        d = s.recv(1 << 20)
        if not d:
            return data
        data += d


def dechunk(body):
    """The text of a chunked body, and whether it ended with the last chunk."""
    out = b""
    while body:
        line, _, body = body.partition(b"\r\n")
        n = int(line, 16)
        if n == 0:
            return out, body == b"\r\n"
        out, body = out + body[:n], body[n + 2:]
    return out, False


# A stream owns its connection: the head is what h2o sent before plus connection: close, the
# body is chunked by us, a slow consumer gets an error event and the end of the body, the
# server stopping ends the body, and HTTP/1.0 gets a raw body.
srv = chtest.Server(args=["--watch-queue", "4"]).start()
put(srv, "/v1/ns/default/big/k", 0)
s, head, rest = open_stream(srv.port, "1.1")
tap.eq(head[0], "http/1.1 200 ok", "SSE stream: 200")
for h in ("content-type: text/event-stream", "cache-control: no-cache", "transfer-encoding: chunked",
          "connection: close"):
    tap.ok(h in head, "SSE stream head has %s" % h, head)
tap.ok(any(h.startswith("x-confhub-revision: ") for h in head), "and X-Confhub-Revision", head)
for i in range(120):  # the client reads nothing meanwhile
    put(srv, "/v1/ns/default/big/k", "v" * 60000 + str(i))
text, ended = dechunk(read_to_eof(s, rest))
s.close()
last = text.decode().strip().split("\n\n")[-1]
tap.ok(last.startswith("event: error") and "slow consumer" in last, "a slow SSE consumer ends with an error event", last[:200])
tap.ok(ended, "then the last chunk, and the server closes the connection")
s11, _, rest11 = open_stream(srv.port, "1.1")
s10, head10, rest10 = open_stream(srv.port, "1.0")
tap.ok(not any(h.startswith("transfer-encoding") for h in head10) and rest10.startswith(b"retry: 1000\n"),
       "HTTP/1.0: the body is not chunked", (head10, rest10[:40]))
tap.eq(srv.stop(), 0, "the server stops cleanly with streams open")
srv.cleanup()
text, ended = dechunk(read_to_eof(s11, rest11))
tap.ok(ended and text.startswith(b"retry: 1000\n"), "stopping ends a stream's body", text[:80])
tap.ok(read_to_eof(s10, rest10).startswith(b"retry: 1000\n"), "and an HTTP/1.0 stream ends with the close")
tap.done()
