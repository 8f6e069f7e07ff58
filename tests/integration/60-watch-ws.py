#!/usr/bin/env python3
"""Watch over WebSocket (GET /v1/watch): live events, filters, several watches per connection,
cancel, progress frames, bad requests answered with error frames while the connection and
the other watches carry on, close codes, a slow consumer, 1,000 watchers at once, and 400
watches on one connection getting large frames."""
import asyncio
import json
import os
import socket
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402
import websockets  # noqa: E402  (Debian python3-websockets)

tap = chtest.Tap()


def put(srv, path, value):
    req = urllib.request.Request(srv.url + path, data=json.dumps(value).encode(), method="PUT")
    return json.loads(urllib.request.urlopen(req).read())


async def recv_json(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def recv_until(ws, pred):
    """Frames until pred(frame) holds (progress frames are skipped)."""
    while True:
        f = await recv_json(ws)
        if pred(f):
            return f


async def basics(srv):
    url = "ws://127.0.0.1:%d/v1/watch" % srv.port
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"watch": {"id": 1, "ns": "default"}}))
        created = await recv_json(ws)
        tap.eq(created, {"id": 1, "created": True, "revision": 0}, "created answer names the start")
        await ws.send(json.dumps({"watch": {"id": "k", "ns": "default", "section": "app", "key": "port"}}))
        await recv_json(ws)
        await ws.send(json.dumps({"watch": {"id": "p", "ns": "default", "prefix": "db"}}))
        await recv_json(ws)
        r1 = await asyncio.to_thread(put, srv, "/v1/ns/default/app/port", 8080)
        f = await recv_until(ws, lambda f: f.get("id") == 1)
        tap.eq(f["revision"], r1["revision"], "event frame carries the write's revision")
        ev = f["events"][0]
        tap.eq({k: ev.get(k, "<absent>") for k in ("revision", "op", "ns", "section", "key",
                                                   "old_value", "new_value", "actor")},
               {"revision": 1, "op": "set", "ns": "default", "section": "app", "key": "port",
                "old_value": "<absent>", "new_value": 8080, "actor": "anonymous"},
               "event JSON has every field (no old_value for a new key)")
        tap.ok(ev["remote"].startswith("127.0.0.1:"), "and the writer's address, as in history")
        tap.ok(ev["timestamp"].endswith("Z") and "T" in ev["timestamp"], "timestamp is RFC 3339 UTC")
        f = await recv_until(ws, lambda f: f.get("id") == "k")
        tap.eq(f["revision"], 1, "key watch gets its key")
        await asyncio.to_thread(put, srv, "/v1/ns/default/dbmain/host", "pg")
        await asyncio.to_thread(put, srv, "/v1/ns/default/app/port", 9090)
        got = {}
        while len(got) < 3:
            f = await recv_json(ws)
            if "events" in f:
                got.setdefault(f["id"], []).append(f["revision"])
        tap.eq(got, {1: [2, 3], "p": [2], "k": [3]}, "each watch sees exactly what its filter matches")
        f = await asyncio.wait_for(ws.recv(), 30)
        f = json.loads(f)
        tap.ok(f.get("progress") is True and "revision" in f, "idle watch gets a progress frame", f)

        # Bad requests: error frames, the connection and the other watches carry on.
        await ws.send("{not json")
        e = await recv_until(ws, lambda f: "error" in f)
        tap.eq((e["id"], e["error"]["code"]), (None, "invalid_argument"), "bad JSON: error frame")
        await ws.send(json.dumps({"watch": {"id": 9, "ns": "no-such-ns"}}))
        e = await recv_until(ws, lambda f: "error" in f)
        tap.eq((e["id"], e["error"]["code"]), (9, "not_found"), "unknown namespace: not_found error frame")
        await ws.send(json.dumps({"watch": {"id": 1, "ns": "default"}}))
        e = await recv_until(ws, lambda f: "error" in f)
        tap.eq(e["error"]["code"], "invalid_argument", "duplicate watch id refused")
        await ws.send(json.dumps({"watch": {"id": 5, "ns": "default", "key": "x"}}))
        e = await recv_until(ws, lambda f: "error" in f)
        tap.ok("section" in e["error"]["message"], "a key without a section is refused", e)
        await ws.send(json.dumps({"watch": {"id": 6, "ns": "a/b"}}))
        e = await recv_until(ws, lambda f: "error" in f)
        tap.eq(e["error"]["code"], "invalid_argument", "bad namespace name refused")
        await ws.send(json.dumps({"cancel": 42}))
        e = await recv_until(ws, lambda f: "error" in f)
        tap.eq(e["error"]["code"], "not_found", "cancel of an unknown id: not_found")
        await ws.send(b"\x00\x01")
        e = await recv_until(ws, lambda f: "error" in f)
        tap.eq(e["error"]["code"], "invalid_argument", "binary message refused")
        await ws.send(json.dumps({"cancel": "p"}))
        f = await recv_until(ws, lambda f: f.get("id") == "p")
        tap.eq(f, {"id": "p", "canceled": True}, "cancel answers canceled")
        await asyncio.to_thread(put, srv, "/v1/ns/default/app/port", 1)
        f = await recv_until(ws, lambda f: f.get("id") == 1 and "events" in f)
        tap.eq(f["revision"], 4, "the connection still delivers after all those errors")
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)
        tap.ok(True, "ping answered with pong")

    # Too big a message: close 1009, and the server carries on.
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send("x" * 5000)
        try:
            await asyncio.wait_for(ws.recv(), 10)
            code = None
        except websockets.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
        tap.eq(code, 1009, "a message over max-ws-message-bytes closes with 1009")
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"watch": {"id": 1, "ns": "default", "start_revision": 3}}))
        await recv_json(ws)
        f = await recv_until(ws, lambda f: "events" in f)
        tap.eq(f["revision"], 4, "resume from a revision replays what followed it")


def raw_upgrade(port, version, host="x", origin=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    extra = "Origin: %s\r\n" % origin if origin else ""
    s.sendall(("GET /v1/watch HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n%s\r\n"
               % (host, version, extra)).encode())
    data = s.recv(4096).decode("latin-1")
    s.close()
    return data


async def slow_consumer(srv):
    url = "ws://127.0.0.1:%d/v1/watch" % srv.port
    big = "v" * 60000
    # max_queue=1: the client stops reading, so the server's queue for it fills up.
    async with websockets.connect(url, max_queue=1, max_size=None) as ws:
        await ws.send(json.dumps({"watch": {"id": 1, "ns": "default"}}))
        revs = []
        for i in range(120):
            revs.append((await asyncio.to_thread(put, srv, "/v1/ns/default/big/k%d" % (i % 3), big + str(i)))["revision"])
        tap.ok(len(revs) == 120 and revs == sorted(revs), "writers are not held back by a stalled watcher")
        frames, code, reason = [], None, ""
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        except websockets.ConnectionClosed as e:
            code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, "")
        tap.eq(code, 1008, "slow consumer closed with 1008")
        tap.ok("slow consumer" in reason and "resume" in reason, "the close reason says why and what to do", reason)
        got = [f["revision"] for f in frames if "events" in f]
        tap.ok(got == revs[:len(got)], "what it did get is in order with no gap", got[:5])


async def many(srv):
    url = "ws://127.0.0.1:%d/v1/watch" % srv.port
    conns = [await websockets.connect(url) for _ in range(50)]
    for c in conns:
        for i in range(20):
            await c.send(json.dumps({"watch": {"id": i, "ns": "default", "section": "many"}}))
    for c in conns:
        for i in range(20):
            await recv_json(c)
    r = await asyncio.to_thread(put, srv, "/v1/ns/default/many/k", 1)
    seen = 0
    for c in conns:
        for i in range(20):
            f = await recv_until(c, lambda f: "events" in f)
            seen += f["revision"] == r["revision"]
    tap.eq(seen, 1000, "1,000 watchers all get the change")
    for c in conns:
        await c.close()


async def one_conn_many_frames(srv):
    """400 watches on one connection and a 2 KB value: one change makes about 1 MB of frames
    for one socket, more than the server gathers into one write, so it takes several."""
    url = "ws://127.0.0.1:%d/v1/watch" % srv.port
    async with websockets.connect(url, max_size=1 << 20) as ws:
        for i in range(400):
            await ws.send(json.dumps({"watch": {"id": i, "ns": "default", "section": "big"}}))
        for i in range(400):
            await recv_json(ws)
        revs = []
        for n in range(2):
            r = await asyncio.to_thread(put, srv, "/v1/ns/default/big/v", "x%d" % n * 1000)
            revs.append(r["revision"])
        got = {}
        while sum(len(v) for v in got.values()) < 800:
            f = await recv_until(ws, lambda f: "events" in f)
            got.setdefault(f["revision"], set()).add(f["id"])
        tap.eq({r: len(got.get(r, ())) for r in revs}, {r: 400 for r in revs},
               "400 watches on one connection each get both large changes")
        tap.eq(sorted(got), revs, "and nothing else")


with chtest.Server(args=["--max-watches-per-connection", "400"]) as srv:
    asyncio.run(one_conn_many_frames(srv))
    s, _, body = srv.json("GET", "/healthz")
    tap.eq(s, 200, "the server answers after sending them")
with chtest.Server(args=["--watch-progress-interval", "1", "--max-ws-message-bytes", "4096"]) as srv:
    asyncio.run(basics(srv))
    tap.ok(raw_upgrade(srv.port, "8").startswith("HTTP/1.1 426") , "unsupported WebSocket version: 426")
    tap.ok("sec-websocket-version: 13" in raw_upgrade(srv.port, "8").lower(), "426 names version 13")
    tap.ok(raw_upgrade(srv.port, "13").startswith("HTTP/1.1 101"), "version 13 upgrades")
    host = "127.0.0.1:%d" % srv.port
    tap.ok(raw_upgrade(srv.port, "13", host, "http://" + host).startswith("HTTP/1.1 101"),
           "a page of the server's own origin may open a WebSocket")
    refused = raw_upgrade(srv.port, "13", host, "http://evil.example")
    tap.ok(refused.startswith("HTTP/1.1 403") and '"code":"forbidden"' in refused and
           "--allowed-origin http://evil.example" in refused,
           "another origin's page is refused: 403 forbidden, naming the flag", refused)
    tap.ok(raw_upgrade(srv.port, "13", host, "null").startswith("HTTP/1.1 403"),
           "an opaque origin (null) is refused")
    s, _, body = srv.json("GET", "/healthz")
    tap.eq(s, 200, "server carries on")
with chtest.Server(args=["--allowed-origin", "https://app.example:8443"]) as srv:
    host = "127.0.0.1:%d" % srv.port
    tap.ok(raw_upgrade(srv.port, "13", host, "HTTPS://App.Example:8443").startswith("HTTP/1.1 101"),
           "--allowed-origin lets that origin in (case-insensitive)")
    tap.ok(raw_upgrade(srv.port, "13", host, "https://app.example").startswith("HTTP/1.1 403"),
           "the same host on another port is another origin")
with chtest.Server(args=["--allowed-origin", "*"]) as srv:
    tap.ok(raw_upgrade(srv.port, "13", "x", "http://anything.example").startswith("HTTP/1.1 101"),
           "--allowed-origin '*' lets any origin in")
with chtest.Server(args=["--watch-queue", "4"]) as srv:
    asyncio.run(slow_consumer(srv))
with chtest.Server() as srv:
    asyncio.run(many(srv))
tap.done()
