#!/usr/bin/python3
"""Crash test: kill -9 during 50 concurrent writers, 20 rounds.

After every restart: every acknowledged write is present with its revision (in the history
table, and as the key's value or an older one overwritten later), revisions are gap-free and
increasing, multi-key writes (a section PUT of {"a": n, "b": n}) are never half-applied, and
history agrees with the current state (replaying every event gives it, and so does a read at
the last revision).
"""
import http.client
import os
import random
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("crash: ")
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
WRITERS = 50


class Writer(threading.Thread):
    """Writes its own key (and every 4th write, its own two-key section) until stopped."""

    def __init__(self, idx, port, start_value, stop):
        super().__init__(daemon=True)
        self.idx, self.port, self.value, self.stop = idx, port, start_value, stop
        self.acked = []  # (kind, value, revision)

    def run(self):
        conn = None
        while not self.stop.is_set():
            self.value += 1
            pair = self.value % 4 == 0
            if pair:
                path, body = "/v1/ns/crash/pair%d" % self.idx, '{"a":%d,"b":%d}' % (self.value,
                                                                                     self.value)
            else:
                path, body = "/v1/ns/crash/keys/w%d" % self.idx, str(self.value)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("PUT", path, body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status in (200, 201):
                    import json
                    self.acked.append(("pair" if pair else "key", self.value,
                                       json.loads(data)["revision"]))
            except (OSError, http.client.HTTPException, ValueError):
                conn = None
                time.sleep(0.01)


def check_store(db_path):
    """Reads the store file directly: revisions gap-free, meta revision = the last one."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    revs = [r[0] for r in db.execute("SELECT DISTINCT revision FROM history ORDER BY revision")]
    meta = db.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
    hist = {}
    for rev, key, section, new in db.execute(
            "SELECT revision, key, section, new_value FROM history"):
        hist.setdefault(rev, []).append((section, key, new))
    db.close()
    return revs, meta, hist


def replay_crash_ns(srv):
    """The crash namespace rebuilt from its history events, through the API; and the last
    revision seen."""
    state, cursor, last = {}, None, 0
    while True:
        q = "/v1/history?ns=crash&order=asc&limit=1000" + ("&cursor=" + cursor if cursor else "")
        st, _, page = srv.json("GET", q)
        if st != 200:
            raise AssertionError("history query failed: %s %r" % (st, page))
        for e in page["events"]:
            sec = state.setdefault(e["section"], {})
            if e["op"] == "set":
                sec[e["key"]] = e["new_value"]
            else:
                sec.pop(e["key"], None)
            last = e["revision"]
        cursor = page["next_cursor"]
        if not cursor:
            return {s: k for s, k in state.items() if k}, last


def main():
    data_dir = None
    values = [0] * WRITERS
    all_acked = [[] for _ in range(WRITERS)]
    failures = []
    for rnd in range(ROUNDS):
        srv = chtest.Server(data_dir=data_dir, keep_data=True)
        srv.start()
        data_dir = srv.data_dir
        stop = threading.Event()
        writers = [Writer(i, srv.port, values[i], stop) for i in range(WRITERS)]
        [w.start() for w in writers]
        time.sleep(random.uniform(0.4, 1.2))
        srv.kill9()  # SIGKILL while writers are mid-request
        stop.set()
        [w.join() for w in writers]
        for i, w in enumerate(writers):
            values[i] = w.value + 1  # never reuse a value that may have been in flight
            all_acked[i].extend(w.acked)

        revs, meta, hist = check_store(os.path.join(data_dir, "confhub.db"))
        gapless = revs == list(range(1, len(revs) + 1)) and (not revs or meta == revs[-1])
        if not gapless:
            failures.append("round %d: revisions not gap-free: meta=%s last=%s n=%d" %
                            (rnd, meta, revs[-1] if revs else None, len(revs)))
        srv2 = chtest.Server(data_dir=data_dir, keep_data=True).start()
        for i in range(WRITERS):
            for kind, value, rev in all_acked[i]:
                events = hist.get(rev, [])
                if kind == "key":
                    want = [("keys", "w%d" % i, str(value))]
                    if [e for e in events if e[1] == "w%d" % i] != want:
                        failures.append("round %d: acked write w%d=%d at revision %d missing from "
                                        "history (%r)" % (rnd, i, value, rev, events))
                elif value > 0:
                    got = sorted((e[1], e[2]) for e in events if e[0] == "pair%d" % i)
                    if got and got != [("a", str(value)), ("b", str(value))]:
                        failures.append("round %d: pair%d at revision %d half-applied: %r" %
                                        (rnd, i, rev, got))
            st, _, cur = srv2.json("GET", "/v1/ns/crash/keys/w%d" % i)
            last = max([v for k, v, _ in all_acked[i] if k == "key"], default=None)
            if last is not None and (st != 200 or cur < last):
                failures.append("round %d: w%d is %r, older than the acknowledged %d" %
                                (rnd, i, cur, last))
            st, _, pair = srv2.json("GET", "/v1/ns/crash/pair%d" % i)
            if st == 200 and pair["a"] != pair["b"]:
                failures.append("round %d: pair%d half-applied after restart: %r" % (rnd, i, pair))
        replayed, last = replay_crash_ns(srv2)
        st, _, cur = srv2.json("GET", "/v1/ns/crash")
        if st == 200 and replayed != cur:
            failures.append("round %d: history replayed does not give the current state" % rnd)
        st, _, past = srv2.json("GET", "/v1/ns/crash?revision=%d" % last)
        if st == 200 and past != replayed:
            failures.append("round %d: the read at revision %d disagrees with history" % (rnd, last))
        code = srv2.stop()
        if code != 0:
            failures.append("round %d: clean stop exited %s: %s" % (rnd, code, srv2.read_log()[-2000:]))
    total = sum(len(a) for a in all_acked)
    tap.ok(total > 100, "writers got acknowledgements across %d rounds (%d acked)" % (ROUNDS, total))
    tap.ok(not failures, "every acknowledged write survived %d kill -9 rounds, revisions "
           "gap-free, nothing half-applied, history agrees with the state" % ROUNDS, "\n".join(failures[:20]))
    import shutil
    shutil.rmtree(data_dir, ignore_errors=True)
    tap.done()


main()
