#!/usr/bin/python3
"""History benchmark, part 2: latency of history queries and past reads on a warm server.

    bench/history_query.py --port PORT [--requests 300] [--max-seconds 20] [--only NAME,...]

One keep-alive HTTP/1.1 connection, one request at a time (so the figure is the latency of a
query, not of a queue). Each shape gets 10 warm-up requests, then up to --requests timed
requests or --max-seconds, whichever comes first (at least 20). Where a shape has a parameter
(a key, a section, a namespace, an actor) it cycles through 20 seeded choices, so the figure is
not one cached page. The time is from sending the request to having read the whole answer,
measured in this (Python) client: it includes about 0.1 ms of client overhead.

Positions in history are taken from the store itself: R_old is the revision 1% into the history,
R_recent is 100 revisions before the newest, and the time window is the wall-clock span of the
revisions between 50% and 51% of the history (since/until in RFC 3339).
"""
import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse

NAMESPACES = ["payments", "checkout", "search", "catalog", "identity",
              "billing", "shipping", "inventory", "notifications", "analytics"]


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path):
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        # 404: a key or section that did not exist at that revision, a valid answer.
        if r.status != 200 and not (r.status == 404 and "revision=" in path):
            raise RuntimeError("GET %s: HTTP %d %s" % (path, r.status, body[:300]))
        return body


def q(path, **params):
    return path + "?" + urllib.parse.urlencode(params)


def pct(sorted_ms, p):
    i = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--max-seconds", type=float, default=20.0)
    ap.add_argument("--only", default="", help="comma-separated shape names")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    cli = Client(args.port)
    rnd = random.Random(args.seed)

    newest = json.loads(cli.get("/v1/history?limit=1"))
    rev = newest["revision"]
    r_old = max(1, rev // 100)
    r_recent = rev - 100

    def ts_of(r):
        page = json.loads(cli.get(q("/v1/history", from_revision=r, order="asc", limit=1)))
        return page["events"][0]["timestamp"]

    since, until = ts_of(rev * 50 // 100), ts_of(rev * 51 // 100)

    keys = [(rnd.choice(NAMESPACES), "sec_%03d" % rnd.randrange(100), "key_%02d" % rnd.randrange(50))
            for _ in range(20)]
    sections = [(rnd.choice(NAMESPACES), "sec_%03d" % rnd.randrange(100)) for _ in range(20)]
    nss = [NAMESPACES[i % len(NAMESPACES)] for i in range(20)]
    people = ["alice", "bob", "carol", "dave", "ops-bot"]
    bots = ["deploy-bot", "terraform", "ci-sync"]

    # Cursors for page 50 (found once, by walking 49 pages).
    def cursor_after(pages, **params):
        cur = None
        for _ in range(pages):
            p = dict(params)
            if cur:
                p["cursor"] = cur
            cur = json.loads(cli.get(q("/v1/history", **p)))["next_cursor"]
        return cur

    deep_cursor = cursor_after(49)
    deep_ns_cursor = cursor_after(49, ns="payments")
    deep_actor_cursor = cursor_after(49, actor="alice")

    cyc = lambda seq: (lambda i: seq[i % len(seq)])  # noqa: E731
    K, S, N = cyc(keys), cyc(sections), cyc(nss)
    shapes = [
        ("newest", "newest page, no filter",
         lambda i: "/v1/history"),
        ("key", "one key's history",
         lambda i: q("/v1/history", ns=K(i)[0], section=K(i)[1], key=K(i)[2])),
        ("section", "one section",
         lambda i: q("/v1/history", ns=S(i)[0], section=S(i)[1])),
        ("namespace", "one namespace",
         lambda i: q("/v1/history", ns=N(i))),
        ("prefix", "one namespace, section prefix (10 of 100 sections)",
         lambda i: q("/v1/history", ns=N(i), prefix="sec_0%d" % (i % 10))),
        ("actor_person", "actor filter: a person (alice..dave, ops-bot)",
         lambda i: q("/v1/history", actor=people[i % len(people)])),
        ("actor_bot", "actor filter: a bot (deploy-bot, terraform, ci-sync)",
         lambda i: q("/v1/history", actor=bots[i % len(bots)])),
        ("actor_ns", "actor filter within one namespace",
         lambda i: q("/v1/history", ns=N(i), actor=people[i % len(people)])),
        ("op_delete", "op=delete",
         lambda i: q("/v1/history", op="delete")),
        ("op_delete_ns", "op=delete within one namespace",
         lambda i: q("/v1/history", ns=N(i), op="delete")),
        ("time_window", "since/until: a 1% window in the middle",
         lambda i: q("/v1/history", since=since, until=until)),
        ("time_window_ns", "since/until within one namespace",
         lambda i: q("/v1/history", ns=N(i), since=since, until=until)),
        ("page50", "page 50 with cursor, no filter",
         lambda i: q("/v1/history", cursor=deep_cursor)),
        ("page50_ns", "page 50 with cursor, one namespace",
         lambda i: q("/v1/history", ns="payments", cursor=deep_ns_cursor)),
        ("page50_actor", "page 50 with cursor, actor=alice",
         lambda i: q("/v1/history", actor="alice", cursor=deep_actor_cursor)),
        ("asc_from_old", "order=asc from_revision=R_old",
         lambda i: q("/v1/history", order="asc", from_revision=r_old)),
        ("asc_from_old_ns", "order=asc from_revision=R_old, one namespace",
         lambda i: q("/v1/history", ns=N(i), order="asc", from_revision=r_old)),
        ("read_key_old", "key at R_old",
         lambda i: q("/v1/ns/%s/%s/%s" % K(i), revision=r_old)),
        ("read_section_old", "section at R_old",
         lambda i: q("/v1/ns/%s/%s" % S(i), revision=r_old)),
        ("read_ns_old", "namespace at R_old (5,000 keys)",
         lambda i: q("/v1/ns/%s" % N(i), revision=r_old)),
        ("read_key_recent", "key at R_recent",
         lambda i: q("/v1/ns/%s/%s/%s" % K(i), revision=r_recent)),
        ("read_section_recent", "section at R_recent",
         lambda i: q("/v1/ns/%s/%s" % S(i), revision=r_recent)),
        ("read_ns_recent", "namespace at R_recent (5,000 keys)",
         lambda i: q("/v1/ns/%s" % N(i), revision=r_recent)),
        ("diff_ns_far", "diff of one namespace, R_old..R_recent",
         lambda i: q("/v1/diff", ns=N(i), **{"from": r_old, "to": r_recent})),
        ("diff_ns_near", "diff of one namespace, last 1,000 revisions",
         lambda i: q("/v1/diff", ns=N(i), **{"from": rev - 1000, "to": rev})),
    ]
    only = set(filter(None, args.only.split(",")))

    print("# history query latency: revision %d, R_old %d, R_recent %d, window %s .. %s"
          % (rev, r_old, r_recent, since, until))
    print("# one connection, sequential; %d requests or %.0f s per shape (>= 20), after 10 warm-up"
          % (args.requests, args.max_seconds))
    print("%-20s %6s %9s %9s %9s %9s %9s  %s" % ("shape", "n", "p50_ms", "p99_ms", "max_ms",
                                                  "req/s", "bytes", "what"))
    for name, what, path_of in shapes:
        if only and name not in only:
            continue
        for i in range(10):
            cli.get(path_of(i))
        times, size = [], 0
        start = time.perf_counter()
        i = 0
        while i < args.requests and (i < 20 or time.perf_counter() - start < args.max_seconds):
            path = path_of(i)
            t = time.perf_counter()
            body = cli.get(path)
            times.append((time.perf_counter() - t) * 1000.0)
            size += len(body)
            i += 1
        total = time.perf_counter() - start
        times.sort()
        print("%-20s %6d %9.2f %9.2f %9.2f %9.1f %9d  %s" % (
            name, len(times), pct(times, 50), pct(times, 99), times[-1], len(times) / total,
            size // len(times), what), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
