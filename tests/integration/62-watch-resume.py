#!/usr/bin/env python3
"""Watch resume: a property test (random writes while watchers disconnect and resume at
random revisions: each sees exactly the event sequence history holds, in order, no gap, no
duplicate), resume across a server restart (from the store's history), and a compacted
start answered with the oldest revision kept."""
import asyncio
import json
import os
import random
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402
import websockets  # noqa: E402

tap = chtest.Tap()
rng = random.Random(int(os.environ.get("CONFHUB_SEED", "6")))


def call(srv, method, path, value=None):
    data = json.dumps(value).encode() if value is not None else None
    req = urllib.request.Request(srv.url + path, data=data, method=method)
    try:
        return json.loads(urllib.request.urlopen(req).read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def random_write(srv):
    sec = rng.choice(["app", "db", "dbx", "cache"])
    key = rng.choice(["a", "b", "c"])
    r = rng.random()
    if r < 0.6:
        return call(srv, "PUT", "/v1/ns/default/%s/%s" % (sec, key), rng.randint(0, 5))
    if r < 0.8:
        return call(srv, "DELETE", "/v1/ns/default/%s/%s" % (sec, key))
    doc = {s: {k: rng.randint(0, 5) for k in rng.sample(["a", "b", "c"], 2)} for s in rng.sample(["app", "db", "dbx"], 2)}
    return call(srv, "PATCH", "/v1/ns/default", doc)  # several events in one revision


FILTERS = [{}, {"section": "app"}, {"section": "db", "key": "a"}, {"prefix": "db"}]


def key_of(ev):
    return (ev["revision"], ev["op"], ev["section"], ev["key"], json.dumps(ev.get("old_value", "<absent>")),
            json.dumps(ev.get("new_value", "<absent>")))


async def resumer(url, filt, stop):
    """Watches, drops the connection after a random number of frames, resumes from the last
    revision it saw; returns every event it got."""
    got, last = [], 0
    while True:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"watch": dict(id=1, ns="default", start_revision=last, **filt)}))
            budget = rng.randint(1, 6)
            while budget:
                try:
                    f = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    if stop.is_set():
                        return got
                    continue
                if "events" in f:
                    tap_ok = f["revision"] > last
                    if not tap_ok:
                        got.append(("out of order", f["revision"], last))
                    got.extend(f["events"])
                    last = f["revision"]
                    budget -= 1
                elif "error" in f:
                    got.append(("error", f))
                    return got


async def property_test(srv):
    url = "ws://127.0.0.1:%d/v1/watch" % srv.port
    stop = asyncio.Event()
    tasks = [asyncio.create_task(resumer(url, f, stop)) for f in FILTERS for _ in range(2)]
    for _ in range(150):
        await asyncio.to_thread(random_write, srv)
        if rng.random() < 0.1:
            await asyncio.sleep(0.05)
    stop.set()
    results = await asyncio.gather(*tasks)
    # The truth: the store's history (GET /v1/history, oldest first, every page).
    truth, cursor = [], None
    while True:
        page = call(srv, "GET", "/v1/history?ns=default&order=asc&limit=1000" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else ""))
        truth += page["events"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    polled = call(srv, "GET", "/v1/watch?ns=default&start_revision=0")["events"]
    tap.eq([key_of(e) for e in polled], [key_of(e) for e in truth], "a long-poll from 0 answers exactly history")

    def match(ev, f):
        return (("section" not in f or ev["section"] == f["section"]) and ("key" not in f or ev["key"] == f["key"])
                and ("prefix" not in f or ev["section"].startswith(f["prefix"])))
    for i, got in enumerate(results):
        f = FILTERS[i // 2]
        want = [key_of(e) for e in truth if match(e, f)]
        have = [key_of(e) if isinstance(e, dict) else e for e in got]
        tap.ok(have == want, "resuming watcher %d %s saw exactly history's events (%d)" % (i, f, len(want)),
               "first difference at %s" % next((k for k, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want))))
    tap.ok(len(truth) >= 150, "the writes made at least 150 events")


async def after_restart(srv, start, n):
    async with websockets.connect("ws://127.0.0.1:%d/v1/watch" % srv.port) as ws:
        await ws.send(json.dumps({"watch": {"id": 1, "ns": "default", "start_revision": start}}))
        frames = []
        while len(frames) < n:
            f = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if "events" in f or "error" in f:
                frames.append(f)
        return frames


with chtest.Server(keep_data=True) as srv:
    asyncio.run(property_test(srv))
    data = srv.data_dir
    for i in range(5):
        call(srv, "PUT", "/v1/ns/default/r/k%d" % i, i)
    last = call(srv, "GET", "/v1/status")["revision"]
srv = chtest.Server(data_dir=data, args=["--history-keep-revisions", "3"])
with srv:
    frames = asyncio.run(after_restart(srv, last - 3, 3))
    tap.eq([f["revision"] for f in frames], [last - 2, last - 1, last], "after a restart a watcher resumes from history, nothing missed")
    tap.eq(frames[0]["events"][0]["key"], "k2", "the resumed events are the right ones")
    call(srv, "PUT", "/v1/ns/default/r/z", 1)  # commits run the compaction, in the background
    for _ in range(600):  # wait until history says revision 1 is gone (a condition, not a time)
        s, h, body = srv.json("GET", "/v1/history?ns=default&from_revision=1&limit=1")
        if s == 410:
            break
        call(srv, "PUT", "/v1/ns/default/r/z", _ + 2)
        import time
        time.sleep(0.05)
    frames = asyncio.run(after_restart(srv, 1, 1))
    e = frames[0].get("error", {})
    tap.ok(e.get("code") == "compacted" and e.get("oldest_revision", 0) > 1, "a compacted start answers compacted with the oldest revision", frames[0])
    s, h, body = srv.json("GET", "/v1/watch?ns=default&start_revision=1")
    tap.ok(s == 410 and body["error"]["code"] == "compacted" and "oldest_revision" in body["error"], "long-poll: 410 compacted", (s, body))
import shutil  # noqa: E402
shutil.rmtree(data, ignore_errors=True)
tap.done()
