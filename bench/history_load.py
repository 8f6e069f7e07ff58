#!/usr/bin/python3
"""History benchmark, part 1: fill a running confhub with 1,000,000 history events.

Every event is a real write through the server's HTTP API (no SQLite is written directly):

    bench/history_load.py --port PORT --shape OUT.json [--scale 1.0] [--seed 1]

The shape (scale 1.0; docs/benchmarks.md has the numbers it gave):

- 10 namespaces x 100 sections x 50 keys = 50,000 keys.
- bootstrap: one import per namespace (PUT /v1/ns/NS/import), actor "bootstrap":
  10 revisions, 50,000 events.
- bulk writer (one thread), owns the sections whose index % 4 == 0:
  5,500 transactions (POST /v1/txn) of 100 operations each in one namespace over 1-5 of its
  sections, about 5% deletes, actors "deploy-bot" (70%) and "terraform" (30%): 550,000 events;
  plus every 110 transactions a merge import (PUT /v1/ns/NS/import?mode=merge) of 20 sections
  x 50 keys, actor "ci-sync": 50 revisions, 50,000 events.
- single writers (three threads), thread t owns the sections whose index % 4 == t:
  350,000 single-key writes (PUT or, about 5% of the time, DELETE of an existing key) from
  actors alice, bob, carol, dave (people) and ops-bot, weighted 3:2:2:1:2.
- Keys are skewed: 80% of the writes go to the hottest 10% of keys (in each owner's sections).
- Every write changes its value (a counter is part of it), so each operation is exactly one
  event, and the bulk writer is paced to the single writers so both spread over the whole run.

Owners are disjoint, so each thread knows which of its keys exist without asking the server
(a delete is always of an existing key). Exit status 0 only if every write succeeded; the
shape file records what the query driver needs (names, hot keys, counts).
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time

NAMESPACES = ["payments", "checkout", "search", "catalog", "identity",
              "billing", "shipping", "inventory", "notifications", "analytics"]
N_SECTIONS = 100
N_KEYS = 50
OWNERS = 4  # owner 0: the bulk writer; 1..3: single writers
PEOPLE = [("alice", 3), ("bob", 2), ("carol", 2), ("dave", 1), ("ops-bot", 2)]


def sec_name(i):
    return "sec_%03d" % i


def key_name(i):
    return "key_%02d" % i


def value_for(k, counter):
    kind = k % 3
    if kind == 0:
        return counter
    if kind == 1:
        return "v%d-%s" % (counter, "x" * (k % 17))
    return {"host": "h%d.internal" % k, "port": 1000 + k, "gen": counter}


class Failed(Exception):
    pass


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None, actor=None, ok=(200, 201)):
        headers = {"Content-Type": "application/json"}
        if actor:
            headers["X-Confhub-Actor"] = actor
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        answer = r.read()
        if r.status not in ok:
            raise Failed("%s %s: HTTP %d %s" % (method, path, r.status, answer[:300]))
        return json.loads(answer) if answer else None


class Keyspace:
    """The keys one owner writes, with which of them exist and which are hot."""

    def __init__(self, owner, rnd):
        self.rnd = rnd
        self.sections = [s for s in range(N_SECTIONS) if s % OWNERS == owner]
        self.keys = [(ns, s, k) for ns in NAMESPACES for s in self.sections for k in range(N_KEYS)]
        shuffled = self.keys[:]
        rnd.shuffle(shuffled)
        self.hot = shuffled[:len(shuffled) // 10]
        self.hot_set = set(self.hot)
        self.cold = shuffled[len(shuffled) // 10:]
        self.exists = set(self.keys)  # after the bootstrap imports

    def pick(self):
        return self.rnd.choice(self.hot if self.rnd.random() < 0.8 else self.cold)


class Progress:
    def __init__(self, singles_total, bulk_total):
        self.lock = threading.Lock()
        self.singles = 0
        self.singles_total = singles_total
        self.bulk = 0
        self.bulk_total = bulk_total
        self.error = None

    def singles_fraction(self):
        with self.lock:
            return self.singles / self.singles_total if self.singles_total else 1.0


def single_writer(port, owner, count, seed, progress, counter_base):
    rnd = random.Random(seed * 1000 + owner)
    ks = Keyspace(owner, rnd)
    actors = [a for a, _ in PEOPLE]
    weights = [w for _, w in PEOPLE]
    cli = Client(port)
    counter = counter_base
    try:
        for i in range(count):
            if progress.error:
                return
            ns, s, k = ks.pick()
            path = "/v1/ns/%s/%s/%s" % (ns, sec_name(s), key_name(k))
            actor = rnd.choices(actors, weights)[0]
            if (ns, s, k) in ks.exists and rnd.random() < 0.05:
                cli.call("DELETE", path, actor=actor)
                ks.exists.discard((ns, s, k))
            else:
                counter += 1
                cli.call("PUT", path, body=value_for(k, counter), actor=actor)
                ks.exists.add((ns, s, k))
            if i % 64 == 63:
                with progress.lock:
                    progress.singles += 64
        with progress.lock:
            progress.singles += count % 64
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        progress.error = "single writer %d: %s" % (owner, e)


def bulk_writer(port, n_txns, ops_per_txn, merge_every, merge_sections, seed, progress,
                shape):
    rnd = random.Random(seed * 1000)
    ks = Keyspace(0, rnd)
    cli = Client(port)
    counter = 10**9
    by_ns_sec = {}
    for key in ks.keys:
        by_ns_sec.setdefault((key[0], key[1]), []).append(key)
    try:
        for t in range(n_txns):
            if progress.error:
                return
            # Pace: stay at or behind the single writers' share of their work.
            while progress.singles_fraction() < t / n_txns and not progress.error:
                time.sleep(0.005)
            if merge_every and t % merge_every == merge_every - 1:
                ns = rnd.choice(NAMESPACES)
                secs = rnd.sample(ks.sections, merge_sections)
                doc = {}
                for s in secs:
                    sec = doc[sec_name(s)] = {}
                    for k in range(N_KEYS):
                        counter += 1
                        sec[key_name(k)] = value_for(k, counter)
                        ks.exists.add((ns, s, k))
                cli.call("PUT", "/v1/ns/%s/import?mode=merge" % ns, body=doc, actor="ci-sync")
                shape["merge_imports"] += 1
                shape["events"]["merge_imports"] += merge_sections * N_KEYS
            ns = rnd.choice(NAMESPACES)
            secs = rnd.sample(ks.sections, rnd.randint(1, 5))
            pool = [key for s in secs for key in by_ns_sec[(ns, s)]]
            # Hot keys first, so transactions also favour them.
            hot = [key for key in pool if key in ks.hot_set]
            cold = [key for key in pool if key not in ks.hot_set]
            rnd.shuffle(hot)
            rnd.shuffle(cold)
            if len(pool) < ops_per_txn:  # 1 section = 50 keys: widen to more sections
                extra = [s for s in ks.sections if s not in secs]
                rnd.shuffle(extra)
                for s in extra:
                    more = by_ns_sec[(ns, s)][:]
                    rnd.shuffle(more)
                    cold += more
                    if len(hot) + len(cold) >= ops_per_txn:
                        break
            n_hot = min(len(hot), ops_per_txn // 5)
            chosen = hot[:n_hot] + cold[:ops_per_txn - n_hot]
            ops = []
            for (kns, s, k) in chosen:
                if (kns, s, k) in ks.exists and rnd.random() < 0.05:
                    ops.append({"op": "delete", "ns": kns, "section": sec_name(s),
                                "key": key_name(k)})
                    ks.exists.discard((kns, s, k))
                else:
                    counter += 1
                    ops.append({"op": "put", "ns": kns, "section": sec_name(s),
                                "key": key_name(k), "value": value_for(k, counter)})
                    ks.exists.add((kns, s, k))
            actor = "deploy-bot" if rnd.random() < 0.7 else "terraform"
            answer = cli.call("POST", "/v1/txn", body={"then": ops}, actor=actor)
            if not answer.get("succeeded"):
                raise Failed("txn did not succeed: %r" % answer)
            with progress.lock:
                progress.bulk += 1
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        progress.error = "bulk writer: %s" % e


def bootstrap(port, shape):
    cli = Client(port)
    for n, ns in enumerate(NAMESPACES):
        doc = {}
        for s in range(N_SECTIONS):
            doc[sec_name(s)] = {key_name(k): value_for(k, n * 100000 + s * 100 + k)
                                for k in range(N_KEYS)}
        answer = cli.call("PUT", "/v1/ns/%s/import" % ns, body=doc, actor="bootstrap")
        if answer.get("added") != N_SECTIONS * N_KEYS:
            raise Failed("bootstrap import of %s added %r keys" % (ns, answer.get("added")))
    shape["events"]["bootstrap"] = len(NAMESPACES) * N_SECTIONS * N_KEYS


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--shape", required=True, help="where to write the shape (JSON)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiplies the transaction and single-write counts (1.0: 1M events)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    n_txns = int(5500 * args.scale)
    n_singles = int(350000 * args.scale)
    merge_every = 110
    merge_sections = 20
    shape = {"namespaces": NAMESPACES, "sections": N_SECTIONS, "keys_per_section": N_KEYS,
             "actors": ["bootstrap", "deploy-bot", "terraform", "ci-sync"] +
                       [a for a, _ in PEOPLE],
             "txns": n_txns, "ops_per_txn": 100, "merge_imports": 0, "singles": n_singles,
             "events": {"bootstrap": 0, "txns": n_txns * 100, "merge_imports": 0,
                        "singles": n_singles},
             "seed": args.seed, "scale": args.scale}

    t0 = time.time()
    bootstrap(args.port, shape)
    t_boot = time.time() - t0
    print("history_load: bootstrap imports: %d events in %.1f s" %
          (shape["events"]["bootstrap"], t_boot), flush=True)

    progress = Progress(n_singles, n_txns)
    per = [n_singles // 3 + (1 if i < n_singles % 3 else 0) for i in range(3)]
    threads = [threading.Thread(target=single_writer,
                                args=(args.port, o + 1, per[o], args.seed, progress,
                                      (o + 1) * 10**8))
               for o in range(3)]
    threads.append(threading.Thread(target=bulk_writer,
                                    args=(args.port, n_txns, 100, merge_every, merge_sections,
                                          args.seed, progress, shape)))
    t1 = time.time()
    for t in threads:
        t.start()
    last = t1
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if time.time() - last >= 10:
            last = time.time()
            with progress.lock:
                print("history_load: %.0f s: %d/%d single writes, %d/%d txns" %
                      (last - t1, progress.singles, n_singles, progress.bulk, n_txns), flush=True)
    for t in threads:
        t.join()
    if progress.error:
        print("history_load: FAILED: %s" % progress.error, file=sys.stderr)
        return 1
    took = time.time() - t1
    total = sum(shape["events"].values())
    shape["load_seconds"] = {"bootstrap": round(t_boot, 2), "writes": round(took, 2)}
    shape["total_events"] = total
    with open(args.shape, "w") as f:
        json.dump(shape, f, indent=1)
    print("history_load: %d events in %.1f s (%d single writes, %d txns, %d merge imports)" %
          (total, took + t_boot, n_singles, n_txns, shape["merge_imports"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
