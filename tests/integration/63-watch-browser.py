#!/usr/bin/env python3
"""The change feed in a real browser: headless Chromium's own EventSource and WebSocket read
GET /v1/watch, so the wire the server writes itself (the SSE head and chunked body on a socket
taken from h2o, our RFC 6455 framing) is checked against a browser's parser, not only ours.

Chromium is driven over the DevTools protocol (python3-websockets). The page is served from
another loopback port, so it is another origin: the server lets it open WebSockets with
--allowed-origin, and a server without the flag refuses it. confhub sends no CORS headers, so
the browser runs with --disable-web-security for the EventSource: this test is about the wire
format, not about CORS."""
import asyncio
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets)

tap = chtest.Tap("browser: ")

# The page: what each transport saw, in order, in window.seen.
PAGE = """<!doctype html><meta charset=utf-8><script>
window.seen = [];
const api = "%(api)s";
const es = new EventSource(api + "/v1/watch?ns=default&section=app");
es.onopen = () => seen.push({t: "sse-open"});
es.addEventListener("change", (m) => seen.push({t: "sse-change", id: m.lastEventId,
                                                data: JSON.parse(m.data)}));
const ws = new WebSocket(api.replace("http", "ws") + "/v1/watch");
ws.onopen = () => ws.send(JSON.stringify({watch: {id: 7, ns: "default", section: "app"}}));
ws.onmessage = (m) => seen.push({t: "ws", data: JSON.parse(m.data)});
ws.onclose = (e) => seen.push({t: "ws-close", code: e.code, reason: e.reason});
window.closeWs = () => ws.close(1000, "done");
</script>"""


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def serve_page(page):
    """A one-page HTTP server on a free loopback port; page["html"] is what it serves, read at
    each request. Returns (server, url)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", chtest.free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, "http://127.0.0.1:%d/" % httpd.server_address[1]


def start_browser(binary, profile, port):
    cmd = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-web-security",
           "--no-first-run", "--user-data-dir=" + profile, "--remote-debugging-address=127.0.0.1",
           "--remote-debugging-port=%d" % port, "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/json" % port, timeout=1) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return proc, pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chromium did not open its DevTools port")


class Page:
    """Evaluates JavaScript in a page over the DevTools protocol."""

    def __init__(self, ws):
        self.ws = ws
        self.n = 0

    async def call(self, method, params=None):
        self.n += 1
        await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == self.n:
                return msg

    async def eval(self, expr):
        msg = await self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        return msg.get("result", {}).get("result", {}).get("value")

    async def wait_seen(self, pred, timeout=15):
        """Polls window.seen until pred(seen) holds; returns the last seen list."""
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            seen = await self.eval("JSON.stringify(window.seen || [])")
            seen = json.loads(seen) if seen else []
            if pred(seen):
                break
            await asyncio.sleep(0.1)
        return seen


def changes(seen, kind):
    if kind == "sse":
        return [s for s in seen if s["t"] == "sse-change"]
    return [s for s in seen if s["t"] == "ws" and "events" in s["data"]]


async def refused(page, page_url):
    """The page's WebSocket against a server that does not allow its origin."""
    await page.call("Page.navigate", {"url": page_url})
    seen = await page.wait_seen(lambda s: any(x["t"] == "ws-close" for x in s))
    tap.ok(not any(x["t"] == "ws" for x in seen) and
           [x["code"] for x in seen if x["t"] == "ws-close"] == [1006],
           "a server without --allowed-origin refuses the page's WebSocket", seen)


async def drive(srv, page_url, debugger_url, other=None):
    async with websockets.connect(debugger_url, max_size=None) as ws:
        page = Page(ws)
        if other:
            await other(page)
        await page.call("Page.navigate", {"url": page_url})
        seen = await page.wait_seen(lambda s: any(x["t"] == "sse-open" for x in s) and
                                    any(x["t"] == "ws" and x["data"].get("created") for x in s))
        tap.ok(any(x["t"] == "sse-open" for x in seen), "EventSource opens the SSE stream", seen)
        created = [x for x in seen if x["t"] == "ws" and x["data"].get("created")]
        tap.ok(created and created[0]["data"].get("id") == 7,
               "WebSocket watch is created (id 7)", seen)

        rev = None
        for i, value in enumerate(["one", "two", "ü-three"]):
            status, _, body = srv.json("PUT", "/v1/ns/default/app/k%d" % i, json.dumps(value))
            rev = body.get("revision") if isinstance(body, dict) else None
            if not tap.ok(status in (200, 201) and rev, "PUT app/k%d answers a revision" % i, body):
                return
        seen = await page.wait_seen(lambda s: len(changes(s, "sse")) >= 3 and
                                    len(changes(s, "ws")) >= 3)

        sse = changes(seen, "sse")
        tap.eq([int(x["id"]) for x in sse], [rev - 2, rev - 1, rev],
               "EventSource: one change per revision, lastEventId = revision")
        tap.eq([x["data"]["events"][0]["new_value"] for x in sse], ["one", "two", "ü-three"],
               "EventSource: the events' values, UTF-8 intact")
        wsc = changes(seen, "ws")
        tap.eq([x["data"]["revision"] for x in wsc], [rev - 2, rev - 1, rev],
               "WebSocket: one frame per revision, in order")
        tap.eq([x["data"]["events"][0]["key"] for x in wsc], ["k0", "k1", "k2"],
               "WebSocket: the events' keys")
        tap.eq(wsc[-1]["data"]["events"] if wsc else None, sse[-1]["data"]["events"] if sse else None,
               "the same event JSON on both transports")

        # A 40 KiB value: a frame with a 16-bit length and an SSE chunk of its size.
        big = "x" * 40000
        srv.json("PUT", "/v1/ns/default/app/big", json.dumps(big))
        seen = await page.wait_seen(lambda s: len(changes(s, "sse")) >= 4 and
                                    len(changes(s, "ws")) >= 4)
        tap.ok(len(changes(seen, "sse")) >= 4 and
               changes(seen, "sse")[3]["data"]["events"][0]["new_value"] == big,
               "EventSource: a 40 KiB event arrives whole")
        tap.ok(len(changes(seen, "ws")) >= 4 and
               changes(seen, "ws")[3]["data"]["events"][0]["new_value"] == big,
               "WebSocket: a 40 KiB frame arrives whole")

        await page.eval("window.closeWs()")
        seen = await page.wait_seen(lambda s: any(x["t"] == "ws-close" for x in s))
        closes = [x for x in seen if x["t"] == "ws-close"]
        tap.ok(closes and closes[0]["code"] == 1000,
               "WebSocket: the browser's close handshake ends with 1000", closes)


def main():
    binary = find_chromium()
    if not tap.ok(binary is not None, "chromium is installed (scripts/deps.sh test)"):
        tap.done()
    profile = tempfile.mkdtemp(prefix="confhub-chromium-")
    browser = httpd = None
    page = {"html": ""}
    try:
        httpd, page_url = serve_page(page)
        origin = page_url.rstrip("/")
        with chtest.Server() as strict, chtest.Server(args=["--allowed-origin", origin]) as srv:
            browser, debugger_url = start_browser(binary, profile, chtest.free_port())

            async def against_strict(p):
                page["html"] = PAGE % {"api": strict.url}
                await refused(p, page_url)
                page["html"] = PAGE % {"api": srv.url}

            asyncio.run(asyncio.wait_for(drive(srv, page_url, debugger_url, against_strict), 90))
    finally:
        if browser:
            browser.kill()
            browser.wait()
        if httpd:
            httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
