#!/usr/bin/python3
"""Black-box tests of history: queries, reads at a past revision, diffs, rollback, retention."""
import json
import os
import random
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("history: ")


def code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def put(srv, path, value, actor=None):
    headers = {"X-Confhub-Actor": actor} if actor else None
    st, _, b = srv.json("PUT", path, json.dumps(value), headers)
    assert st in (200, 201), (st, b)
    return b["revision"]


def events(srv, query=""):
    st, _, b = srv.json("GET", "/v1/history" + query)
    assert st == 200, (st, b)
    return b


def all_events(srv, query, limit):
    """Every event of a query, page by page."""
    out, cursor, pages = [], None, 0
    while True:
        q = query + "&limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
        b = events(srv, "?" + q.lstrip("&"))
        out += b["events"]
        pages += 1
        cursor = b["next_cursor"]
        if not cursor:
            return out, pages


# ---------------------------------------------------------------- queries

def test_queries(srv):
    t0 = time.time()
    r1 = put(srv, "/v1/ns/default/app/port", 8080, actor="alice")
    r2 = put(srv, "/v1/ns/default/app/host", "a.internal", actor="bob")
    r3 = put(srv, "/v1/ns/default/app/port", 9090, actor="alice")
    st, _, b = srv.json("DELETE", "/v1/ns/default/app/host")
    r4 = b["revision"]
    r5 = put(srv, "/v1/ns/other/db/url", "pg://x")
    r6 = put(srv, "/v1/ns/default/appx/k", [1, {"a": None}])
    tap.eq([r1, r2, r3, r4, r5, r6], [1, 2, 3, 4, 5, 6], "six writes, six revisions")

    b = events(srv)
    evs = b["events"]
    tap.eq([e["revision"] for e in evs], [6, 5, 4, 3, 2, 1], "newest first by default")
    tap.eq(b["revision"], 6, "the answer carries the current revision")
    tap.eq(b["next_cursor"], None, "one page: no next cursor")
    e3 = evs[3]
    tap.eq({k: e3[k] for k in ("revision", "actor", "op", "ns", "section", "key", "old_value",
                               "new_value")},
           {"revision": 3, "actor": "alice", "op": "set", "ns": "default", "section": "app",
            "key": "port", "old_value": 8080, "new_value": 9090}, "an event's fields")
    tap.ok(e3["remote"].startswith("127.0.0.1:"), "the client address is recorded", e3)
    ts = e3["timestamp"]
    tap.ok(len(ts) == 24 and ts[10] == "T" and ts.endswith("Z") and ts[19] == ".",
           "timestamps are RFC 3339 UTC with milliseconds", ts)
    tap.eq((evs[2]["op"], evs[2]["old_value"], evs[2]["new_value"]), ("delete", "a.internal", None),
           "a delete has the old value and a null new value")
    tap.eq(evs[0]["new_value"], [1, {"a": None}], "values come back as JSON, not as strings")
    tap.eq(evs[4]["actor"], "bob", "X-Confhub-Actor names the actor")
    tap.eq(evs[1]["actor"], "anonymous", "without the header the actor is anonymous")
    stamps = [e["timestamp"] for e in reversed(evs)]
    tap.ok(stamps == sorted(stamps), "timestamps never go backwards", stamps)

    def revs(q):
        return [e["revision"] for e in events(srv, q)["events"]]

    tap.eq(revs("?order=asc"), [1, 2, 3, 4, 5, 6], "order=asc")
    tap.eq(revs("?ns=other"), [5], "ns filter")
    tap.eq(revs("?ns=default&section=app"), [4, 3, 2, 1], "section filter")
    tap.eq(revs("?section=app&key=port"), [3, 1], "key filter (section alone means default)")
    tap.eq(revs("?ns=default&prefix=app"), [6, 4, 3, 2, 1], "section prefix filter")
    tap.eq(revs("?ns=default&prefix=appx"), [6], "a longer prefix")
    tap.eq(revs("?actor=alice"), [3, 1], "actor filter")
    tap.eq(revs("?op=delete"), [4], "op filter")
    tap.eq(revs("?from_revision=2&to_revision=4"), [4, 3, 2], "revision range")
    tap.eq(revs("?actor=alice&section=app&key=port&op=set&order=asc"), [1, 3], "filters combine")
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 60)) + ".000Z"
    until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 30)) + ".000Z"
    tap.eq(revs("?since=" + since), [6, 5, 4, 3, 2, 1], "since before every write")
    tap.eq(revs("?until=" + until), [], "until before every write")
    ts3 = urllib.parse.quote(e3["timestamp"])
    got = revs("?since=%s&until=%s" % (ts3, ts3))
    tap.ok(3 in got and all(evs[6 - r]["timestamp"] == e3["timestamp"] for r in got),
           "since = until = one event's time finds that event (and its same-millisecond peers)",
           got)
    offset = urllib.parse.quote("2000-01-01T02:00:00+02:00")
    tap.eq(revs("?since=" + offset), [6, 5, 4, 3, 2, 1], "RFC 3339 with an offset")

    for q, what in [("?limit=0", "limit 0"), ("?limit=1001", "limit over 1000"),
                    ("?op=update", "an unknown op"), ("?order=up", "an unknown order"),
                    ("?cursor=xyz", "a made-up cursor"), ("?since=yesterday", "a bad time"),
                    ("?since=2026-02-30T00:00:00Z", "a date that does not exist"),
                    ("?key=port", "key without section"), ("?prefix=a", "prefix without ns"),
                    ("?ns=a%2Fb", "a bad name"), ("?from_revision=-1", "a negative revision")]:
        st, _, b = srv.json("GET", "/v1/history" + q)
        tap.ok(st == 400 and code(b) == "invalid_argument", what + " is 400", (st, b))


def test_paging(srv):
    base = events(srv)["revision"]
    st, _, b = srv.json("POST", "/v1/txn", json.dumps(
        {"then": [{"op": "put", "ns": "paging", "section": "s%d" % (i % 7), "key": "k%d" % i,
                   "value": i} for i in range(250)]}))
    tap.eq((st, b["revision"]), (200, base + 1), "a 250-key transaction is one revision")
    for i in range(40):
        put(srv, "/v1/ns/paging/single/k", i)
    want = 290
    for order in ("desc", "asc"):
        got, pages = all_events(srv, "ns=paging&order=" + order, 7)
        keys = [(e["revision"], e["section"], e["key"]) for e in got]
        tap.eq((len(got), len(set(keys)), pages), (want, want, (want + 6) // 7),
               "paging (%s) returns every event exactly once" % order)
        ordered = [e["revision"] for e in got]
        tap.ok(ordered == sorted(ordered, reverse=order == "desc"),
               "pages keep the order across a multi-event revision (%s)" % order)
    b = events(srv, "?ns=paging&limit=250&order=asc")
    tap.ok(len(b["events"]) == 250 and b["next_cursor"], "a full page has a next cursor")


# ---------------------------------------------------------------- the past

def test_past_reads(srv):
    ns = "past"
    r1 = put(srv, "/v1/ns/%s/app/port" % ns, 1)
    r2 = put(srv, "/v1/ns/%s/app/host" % ns, "h")
    r3 = put(srv, "/v1/ns/%s/list" % ns, [1, 2])
    st, _, b = srv.json("DELETE", "/v1/ns/%s/app" % ns)
    r4 = b["revision"]
    r5 = put(srv, "/v1/ns/%s/app/port" % ns, 2)

    st, h, b = srv.json("GET", "/v1/ns/%s?revision=%d" % (ns, r2))
    tap.ok(st == 200 and b == {"app": {"host": "h", "port": 1}}, "a namespace at a past revision", b)
    tap.eq(h.get("x-confhub-revision"), str(r2), "X-Confhub-Revision is the revision asked for")
    tap.ok("etag" not in h, "no ETag on a past read", h)
    st, _, b = srv.json("GET", "/v1/ns/%s?revision=%d" % (ns, r4))
    tap.eq(b, {"list": [1, 2]}, "after a section delete")
    st, _, b = srv.json("GET", "/v1/ns/%s/app?revision=%d" % (ns, r3))
    tap.eq(b, {"host": "h", "port": 1}, "a section at a past revision")
    st, _, b = srv.json("GET", "/v1/ns/%s/list?revision=%d" % (ns, r3))
    tap.eq(b, [1, 2], "a list section at a past revision")
    st, _, b = srv.json("GET", "/v1/ns/%s/app/port?revision=%d" % (ns, r1))
    tap.eq((st, b), (200, 1), "a key at a past revision")
    st, _, b = srv.json("GET", "/v1/ns/%s/app/port?revision=%d" % (ns, r5))
    tap.eq(b, 2, "a key at the current revision")
    st, _, b = srv.json("GET", "/v1/ns/%s/app/host?revision=%d" % (ns, r4))
    tap.ok(st == 404 and code(b) == "not_found" and "revision %d" % r4 in b["error"]["message"],
           "a key deleted by then is 404 naming the revision", b)
    st, _, b = srv.json("GET", "/v1/ns/%s?revision=%d" % (ns, r1 - 1))
    tap.eq(st, 404, "a namespace before its first write is 404")
    st, _, b = srv.json("GET", "/v1/ns/default?revision=0")
    tap.eq((st, b), (200, {}), "the default namespace at revision 0 is {}")
    st, _, b = srv.json("GET", "/v1/namespaces?revision=%d" % r2)
    names = [n["name"] for n in b["namespaces"]]
    tap.ok(st == 200 and "past" in names and "default" in names and b["revision"] == r2,
           "namespaces at a past revision", b)
    item = [n for n in b["namespaces"] if n["name"] == "past"][0]
    tap.eq((item["sections"], item["keys"]), (1, 2), "with their counts then")
    st, _, b = srv.json("GET", "/v1/namespaces?revision=0")
    tap.eq(b["namespaces"], [{"name": "default", "sections": 0, "keys": 0}],
           "at revision 0 only the empty default namespace")
    st, h, body = srv.request("GET", "/v1/ns/%s/export?revision=%d&format=yaml" % (ns, r2))
    tap.ok(st == 200 and h["content-type"] == "application/yaml" and b"host: h" in body,
           "an export at a past revision, as YAML", body)
    st, h, body = srv.request("GET", "/v1/ns/%s/export?revision=%d&format=toml" % (ns, r3))
    tap.ok(st == 200 and b"list = [1, 2]" in body, "and as TOML", body)

    current = events(srv)["revision"]
    st, _, b = srv.json("GET", "/v1/ns/%s?revision=%d" % (ns, current + 5))
    tap.ok(st == 400 and "does not exist yet" in b["error"]["message"],
           "a future revision is 400", b)
    st, _, b = srv.json("GET", "/v1/ns/%s/app/port?revision=%d&meta=true" % (ns, r5))
    tap.eq(st, 400, "meta=true with revision is 400")
    st, _, b = srv.json("GET", "/v1/ns/%s/app/port?revision=x" % ns)
    tap.eq(st, 400, "a revision that is not a number is 400")


def test_diff(srv):
    ns = "diff"
    r0 = events(srv)["revision"]
    put(srv, "/v1/ns/%s/a/x" % ns, 1)
    put(srv, "/v1/ns/%s/a/y" % ns, 1)
    r2 = put(srv, "/v1/ns/%s/b/z" % ns, 1)
    put(srv, "/v1/ns/%s/a/x" % ns, 2)
    srv.json("DELETE", "/v1/ns/%s/a/y" % ns)
    put(srv, "/v1/ns/%s/b/z" % ns, 5)
    r6 = put(srv, "/v1/ns/%s/b/z" % ns, 1)
    st, _, b = srv.json("GET", "/v1/diff?ns=%s&from=%d" % (ns, r2))
    tap.eq((st, b["changes"]),
           (200, [{"section": "a", "key": "x", "change": "changed", "old": 1, "new": 2},
                  {"section": "a", "key": "y", "change": "removed", "old": 1}]),
           "a diff lists changed and removed keys; a key changed back is not listed")
    tap.eq((b["from"], b["to"]), (r2, r6), "from and to default to now")
    st, _, b = srv.json("GET", "/v1/diff?ns=%s&from=%d&to=%d" % (ns, r0, r2))
    tap.eq([c["change"] for c in b["changes"]], ["added"] * 3, "added keys from before the namespace")
    tap.ok("old" not in b["changes"][0] and b["changes"][0]["new"] == 1, "an added key has no old",
           b)
    st, _, b = srv.json("GET", "/v1/diff?ns=%s&from=%d&section=a&key=x" % (ns, r0))
    tap.eq([(c["section"], c["key"]) for c in b["changes"]], [("a", "x")], "section and key narrow it")
    st, _, b = srv.json("GET", "/v1/diff?ns=%s&from=%d&to=%d" % (ns, r6, r2))
    tap.eq(st, 400, "from after to is 400")
    st, _, b = srv.json("GET", "/v1/diff?ns=%s" % ns)
    tap.eq(st, 400, "from is required")
    st, _, b = srv.json("GET", "/v1/diff?from=1")
    tap.eq(st, 400, "ns is required")


def test_rollback(srv):
    ns = "rb"
    r1 = put(srv, "/v1/ns/%s/app/port" % ns, 1)
    put(srv, "/v1/ns/%s/app/host" % ns, "h")
    r3 = put(srv, "/v1/ns/%s/db/url" % ns, "u1")
    put(srv, "/v1/ns/%s/app/port" % ns, 2)
    srv.json("DELETE", "/v1/ns/%s/app/host" % ns)
    put(srv, "/v1/ns/%s/app/new" % ns, True)
    put(srv, "/v1/ns/%s/db/url" % ns, "u2")

    def rollback(body, actor=None):
        headers = {"X-Confhub-Actor": actor} if actor else None
        return srv.json("POST", "/v1/rollback", json.dumps(body), headers)

    st, _, before = srv.json("GET", "/v1/ns/%s" % ns)
    st, _, b = rollback({"ns": ns, "section": "app", "to_revision": r3, "dry_run": True})
    tap.ok(st == 200 and b["dry_run"] is True and len(b["added"]) == 1 and
           len(b["changed"]) == 1 and len(b["removed"]) == 1, "a dry run answers the diff", b)
    st, _, after = srv.json("GET", "/v1/ns/%s" % ns)
    tap.eq(after, before, "a dry run writes nothing")

    st, _, b = rollback({"ns": ns, "section": "app", "key": "port", "to_revision": r1}, "carol")
    tap.ok(st == 200 and b["changed"] and b["changed_keys"] == 1, "roll back one key", b)
    st, _, v = srv.json("GET", "/v1/ns/%s/app/port" % ns)
    tap.eq(v, 1, "the key has its old value")
    ev = events(srv, "?limit=1")["events"][0]
    tap.eq((ev["revision"], ev["actor"], ev["old_value"], ev["new_value"]),
           (b["revision"], "carol", 2, 1), "a rollback is recorded in history like any write")

    st, _, b = rollback({"ns": ns, "section": "app", "to_revision": r3})
    st, _, sec = srv.json("GET", "/v1/ns/%s/app" % ns)
    tap.eq(sec, {"host": "h", "port": 1}, "roll back a section: deleted keys return, new ones go")
    st, _, db = srv.json("GET", "/v1/ns/%s/db/url" % ns)
    tap.eq(db, "u2", "a section rollback leaves other sections alone")

    st, _, b = rollback({"ns": ns, "to_revision": r1})
    st, _, doc = srv.json("GET", "/v1/ns/%s" % ns)
    tap.eq(doc, {"app": {"port": 1}}, "roll back a whole namespace")
    st, _, d = srv.json("GET", "/v1/diff?ns=%s&from=%d" % (ns, r1))
    tap.eq(d["changes"], [], "after a rollback to R, diff(R, now) is empty")

    rev = events(srv)["revision"]
    st, _, b = rollback({"ns": ns, "to_revision": r1})
    tap.ok(st == 200 and b["changed"] is False and b["revision"] == rev,
           "a rollback that changes nothing makes no revision", b)
    st, _, b = rollback({"ns": "never", "to_revision": 1})
    tap.ok(st == 200 and b["changed"] is False, "rolling back an absent scope to absence is a no-op",
           b)
    st, _, b = rollback({"ns": ns, "to_revision": 0})
    st2, _, doc = srv.json("GET", "/v1/ns/%s" % ns)
    tap.ok(b["removed"] == 1 and st2 == 404, "rollback to revision 0 empties the scope", (b, doc))

    for body, what in [({"ns": ns}, "no to_revision"),
                       ({"ns": ns, "to_revision": -1}, "a negative revision"),
                       ({"ns": ns, "to_revision": rev + 100}, "a future revision"),
                       ({"ns": ns, "to_revision": 1, "sekshun": "a"}, "an unknown member"),
                       ({"ns": ns, "key": "k", "to_revision": 1}, "key without section"),
                       ({"ns": "a/b", "to_revision": 1}, "a bad name"),
                       ({"ns": ns, "to_revision": 1, "dry_run": "yes"}, "a non-boolean dry_run"),
                       ([1], "a body that is not an object")]:
        st, _, b = rollback(body)
        tap.ok(st == 400 and code(b) == "invalid_argument", what + " is 400", (st, b))
    st, _, b = srv.json("PUT", "/v1/ns/x/y/z", "1", {"X-Confhub-Actor": "a" * 64})
    tap.eq(st, 400, "an actor over 63 bytes is 400")


# ---------------------------------------------------------------- property test

def replay(evs, upto):
    """The state of every namespace after revision upto, from events in ascending order."""
    state = {}
    for e in evs:
        if e["revision"] > upto:
            break
        secs = state.setdefault(e["ns"], {}).setdefault(e["section"], {})
        if e["op"] == "set":
            secs[e["key"]] = e["new_value"]
        else:
            secs.pop(e["key"], None)
    docs = {}
    for ns, secs in state.items():
        doc = {}
        for sec, keys in secs.items():
            if "@" in keys:
                doc[sec] = keys["@"]
            elif keys:
                doc[sec] = dict(keys)
        if doc:
            docs[ns] = doc
    return docs


def random_write(srv, rnd):
    ns = rnd.choice(["p1", "p2", "default"])
    sec = rnd.choice(["a", "b", "c"])
    key = rnd.choice(["x", "y", "z", "w"])
    value = rnd.choice([1, 2, "s", None, [1, 2], {"n": rnd.randint(0, 3)}, True, 2.5])
    kind = rnd.randrange(9)
    if kind < 3:
        srv.json("PUT", "/v1/ns/%s/%s/%s" % (ns, sec, key), json.dumps(value))
    elif kind == 3:
        srv.json("DELETE", "/v1/ns/%s/%s/%s" % (ns, sec, key))
    elif kind == 4:
        srv.json("PUT", "/v1/ns/%s/%s" % (ns, sec),
                 json.dumps(rnd.choice([{"x": value, "q": 1}, [value], "scalar"])))
    elif kind == 5:
        srv.json("DELETE", "/v1/ns/%s/%s" % (ns, sec))
    elif kind == 6:
        srv.json("POST", "/v1/txn", json.dumps({"then": [
            {"op": "put", "ns": ns, "section": sec, "key": "t1", "value": value},
            {"op": "delete", "ns": rnd.choice(["p1", "p2"]), "section": "b", "key": "x"}]}))
    elif kind == 7:
        doc = {s: {k: rnd.randint(0, 2) for k in rnd.sample(["x", "y", "z"], 2)}
               for s in rnd.sample(["a", "b", "c"], 2)}
        mode = rnd.choice(["replace", "merge"])
        srv.json("PUT", "/v1/ns/%s/import?mode=%s" % (ns, mode), json.dumps(doc))
    else:
        srv.json("PATCH", "/v1/ns/%s" % ns, json.dumps({sec: {key: value, "x": None}}),
                 {"Content-Type": "application/merge-patch+json"})


def test_property():
    rnd = random.Random(int(os.environ.get("CONFHUB_SEED", "5")))
    with chtest.Server() as srv:
        for _ in range(300):
            random_write(srv, rnd)
        evs, _ = all_events(srv, "order=asc", 1000)
        now = events(srv)["revision"]
        revs = [e["revision"] for e in evs]
        tap.ok(revs == sorted(revs) and set(revs) == set(range(1, now + 1)),
               "every revision 1..%d has events, in order" % now)
        bad = []
        for r in rnd.sample(range(0, now + 1), 40):
            want = replay(evs, r)
            for ns in ("p1", "p2", "default"):
                st, h, got = srv.json("GET", "/v1/ns/%s?revision=%d" % (ns, r))
                expect = want.get(ns, {} if ns == "default" else None)
                if (got if st == 200 else None) != expect or h.get("x-confhub-revision") != str(r):
                    bad.append((ns, r, st, got, expect))
        tap.ok(not bad, "the state read at R equals the replay of the events up to R, "
               "for 40 random R", bad[:3])
        bad = []
        for _ in range(40):
            r1, r2 = sorted(rnd.sample(range(0, now + 1), 2))
            for ns in ("p1", "p2"):
                st, _, d = srv.json("GET", "/v1/diff?ns=%s&from=%d&to=%d" % (ns, r1, r2))
                state = {s: dict(k) for s, k in keys_of(replay(evs, r1).get(ns, {})).items()}
                for c in d["changes"]:
                    if c["change"] == "removed":
                        state[c["section"]].pop(c["key"])
                    else:
                        state.setdefault(c["section"], {})[c["key"]] = c["new"]
                state = {s: k for s, k in state.items() if k}
                if state != keys_of(replay(evs, r2).get(ns, {})):
                    bad.append((ns, r1, r2, d))
        tap.ok(not bad, "diff(R1, R2) applied to state R1 gives state R2, for 40 random pairs",
               bad[:2])
        bad = []
        for _ in range(10):
            r = rnd.randrange(0, now)
            ns = rnd.choice(["p1", "p2"])
            sec = rnd.choice([None, "a", "b"])
            body = {"ns": ns, "to_revision": r}
            if sec:
                body["section"] = sec
            st, _, b = srv.json("POST", "/v1/rollback", json.dumps(body))
            q = "&section=" + sec if sec else ""
            st2, _, d = srv.json("GET", "/v1/diff?ns=%s&from=%d%s" % (ns, r, q))
            if st != 200 or st2 != 200 or d["changes"]:
                bad.append((body, b, d))
            random_write(srv, rnd)
        tap.ok(not bad, "rollback to R, then diff(R, now) on that scope is empty (10 random)",
               bad[:2])


def keys_of(doc):
    """A document as {section: {key: value}}, list and scalar sections under '@'."""
    return {s: (dict(v) if isinstance(v, dict) and v else {"@": v}) for s, v in doc.items()}


# ---------------------------------------------------------------- retention

def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_compaction():
    with chtest.Server(args=["--history-keep-revisions", "5"]) as srv:
        for i in range(30):
            put(srv, "/v1/ns/default/app/n", i)
        stop = threading.Event()
        failures = []

        def writer():
            i = 0
            while not stop.is_set():
                st, _, b = srv.json("PUT", "/v1/ns/default/busy/k%d" % (i % 50), str(i))
                if st not in (200, 201):
                    failures.append((st, b))
                i += 1

        t = threading.Thread(target=writer)
        t.start()

        def compacted():
            st, _, b = srv.json("GET", "/v1/ns/default/app/n?revision=1")
            return b if st == 410 else None

        b = wait_for(compacted, "a read at revision 1 to answer 410")
        stop.set()
        t.join()
        tap.ok(not failures, "writers keep going while compaction runs", failures[:3])
        err = b["error"]
        tap.ok(err["code"] == "compacted" and err["oldest_revision"] >= 25 and
               "compacted" in err["message"], "410 names the oldest revision kept", b)
        oldest = err["oldest_revision"]
        st, _, v = srv.json("GET", "/v1/ns/default/app/n?revision=%d" % oldest)
        tap.eq((st, v), (200, min(oldest, 30) - 1), "the state at the horizon itself is still right")
        st, _, v = srv.json("GET", "/v1/ns/default/app/n?revision=%d" % (oldest - 1))
        tap.eq(st, 410, "one below the horizon is 410")
        st, _, b = srv.json("GET", "/v1/history?from_revision=%d" % oldest)
        tap.eq(st, 410, "a history query from the horizon is 410 (its events are gone)")
        st, _, b = srv.json("GET", "/v1/diff?ns=default&from=2")
        tap.eq(st, 410, "a diff from below the horizon is 410")
        st, _, b = srv.json("POST", "/v1/rollback", '{"ns":"default","to_revision":2}')
        tap.eq(st, 410, "a rollback below the horizon is 410 and writes nothing")
        evs, _ = all_events(srv, "order=asc", 1000)
        tap.ok(evs and evs[0]["revision"] > oldest, "history keeps only events after the horizon",
               evs[:1])
        now = events(srv)["revision"]

        def settled():
            b = srv.json("GET", "/v1/ns/default/app/n?revision=%d" % (now - 6))[2]
            return b if code(b) == "compacted" else None

        wait_for(settled, "the horizon to follow the writes")
        st, _, v = srv.json("GET", "/v1/ns/default/busy/k1?revision=%d" % (now - 1))
        tap.eq(st, 200, "reads above the horizon stay right while it moves")
        data_dir = srv.data_dir
        srv.keep_data = True
    with chtest.Server(data_dir=data_dir) as srv:
        st, _, b = srv.json("GET", "/v1/ns/default/app/n?revision=1")
        tap.ok(st == 410 and b["error"]["oldest_revision"] >= oldest,
               "the horizon survives a restart", b)
        st, _, v = srv.json("GET", "/v1/ns/default/app/n?revision=%d" % now)
        tap.eq(st, 200, "and reads above it work after the restart")
    with chtest.Server(args=["--history-retention", "1s"]) as srv:
        put(srv, "/v1/ns/default/a/b", 1)
        put(srv, "/v1/ns/default/a/b", 2)
        b = wait_for(lambda: code(srv.json("GET", "/v1/history?from_revision=1")[2]) == "compacted",
                     "--history-retention to drop old events")
        st, _, v = srv.json("GET", "/v1/ns/default/a/b")
        tap.eq(v, 2, "retention drops history, never current values")


def test_flags():
    for args, what in [(["--history-retention", "soon"], "a bad duration"),
                       (["--history-retention", "5y"], "an unknown unit"),
                       (["--history-keep-revisions", "-1"], "a negative count"),
                       (["--history-keep-revisions", "x"], "a count that is not a number")]:
        srv = chtest.Server(args=args)
        try:
            srv.start()
            tap.ok(False, what + " is refused")
        except RuntimeError as e:
            tap.ok("history" in str(e), what + " is refused with a message naming the flag", str(e))
        finally:
            srv.stop()
            srv.cleanup()


def main():
    with chtest.Server() as srv:
        test_queries(srv)
        test_paging(srv)
        test_past_reads(srv)
        test_diff(srv)
        test_rollback(srv)
    test_property()
    test_compaction()
    test_flags()
    tap.done()


main()
