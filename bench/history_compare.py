#!/usr/bin/python3
"""History benchmark, part 4: do two servers give the same answers on the same store?

    bench/history_compare.py PORT_A PORT_B

For checking a change to the history SQL: start the old and the new binary on two copies of
one store (e.g. the one bench/history.sh loaded) and compare, byte for byte, the answers to
seeded history queries (every filter shape, both orders, several limits, up to 5 pages along
the cursor), past reads of keys, sections and namespaces, and diffs. Prints the differing
requests and a count; exit status 1 if any differ. Slow queries can outlast the server's idle
timeout on the other connection, so each request uses its own connection.
"""
import http.client, json, random, sys, urllib.parse
A, B = int(sys.argv[1]), int(sys.argv[2])
ca = http.client.HTTPConnection("127.0.0.1", A, timeout=600)
cb = http.client.HTTPConnection("127.0.0.1", B, timeout=600)
def get(c, p):
    c = http.client.HTTPConnection("127.0.0.1", c.port, timeout=600)
    c.request("GET", p); r = c.getresponse(); out = r.status, r.read(); c.close(); return out
NS = ["payments","checkout","search","catalog","identity","billing","shipping","inventory","notifications","analytics"]
rnd = random.Random(5)
rev = json.loads(get(ca, "/v1/history?limit=1")[1])["revision"]
paths = []
for i in range(40):
    ns = rnd.choice(NS); sec = "sec_%03d" % rnd.randrange(100); key = "key_%02d" % rnd.randrange(50)
    actor = rnd.choice(["alice","bob","carol","dave","ops-bot","deploy-bot","terraform","ci-sync","bootstrap","nobody"])
    R = rnd.choice([1, 10, 3555, rev//2, rev-100, rev])
    R2 = rnd.randrange(R, rev+1)
    order = rnd.choice(["asc","desc"])
    lim = rnd.choice([1, 7, 100, 1000])
    base = [dict(), dict(ns=ns), dict(ns=ns, section=sec), dict(ns=ns, section=sec, key=key),
            dict(actor=actor), dict(ns=ns, actor=actor), dict(ns=ns, section=sec, actor=actor),
            dict(op="delete"), dict(ns=ns, section=sec, op="delete"), dict(ns=ns, prefix="sec_0")]
    for b in base:
        p = dict(b, order=order, limit=lim)
        if rnd.random() < 0.5: p["from_revision"] = R
        if rnd.random() < 0.3: p["to_revision"] = R2
        paths.append(("hist", p))
    paths.append(("raw", "/v1/ns/%s/%s/%s?revision=%d" % (ns, sec, key, R)))
    paths.append(("raw", "/v1/ns/%s/%s?revision=%d" % (ns, sec, R)))
    if i % 4 == 0:
        paths.append(("raw", "/v1/ns/%s?revision=%d" % (ns, R)))
        paths.append(("raw", "/v1/diff?ns=%s&from=%d&to=%d" % (ns, R, R2)))
n = bad = 0
for kind, p in paths:
    if kind == "raw":
        sa, ba = get(ca, p); sb, bb = get(cb, p); n += 1
        if (sa, ba) != (sb, bb): bad += 1; print("DIFF", p, sa, sb)
        continue
    # walk up to 5 pages with the cursor
    cur = None
    for page in range(5):
        q = dict(p)
        if cur: q["cursor"] = cur
        path = "/v1/history?" + urllib.parse.urlencode(q)
        sa, ba = get(ca, path); sb, bb = get(cb, path); n += 1
        if (sa, ba) != (sb, bb):
            bad += 1; print("DIFF", path, sa, sb, ba[:200], bb[:200]); break
        if sa != 200: break
        cur = json.loads(ba)["next_cursor"]
        if not cur: break
print("compared %d answers, %d differ" % (n, bad))
sys.exit(1 if bad else 0)
