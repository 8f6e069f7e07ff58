#!/usr/bin/python3
"""Import benchmark: a generated 100,000-key document in JSON, YAML and TOML.

For each format: the wall time of `PUT /v1/ns/bench/import` against a release confhub on
loopback (parse, plan, one durable SQLite commit, answer), side by side with Python parsing
the same file alone (json, PyYAML's C loader, tomllib). Goal (BRIEF section 6): <= 1 s per
import, and faster than Python's parse alone.

    bench/import.py [--keys 100000] [--rounds 3]      (make bench-import)

The YAML and TOML files are written from the JSON one by `confhub convert`.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("CONFHUB_BIN", os.path.join(ROOT, "build", "confhub"))


def make_document(n_keys, per_section=100, seed=7):
    rnd = random.Random(seed)
    doc = {}
    for s in range(n_keys // per_section):
        sec = {}
        for k in range(per_section):
            kind = k % 6
            if kind == 0:
                v = rnd.randint(-10**12, 10**12)
            elif kind == 1:
                v = "value-%d-%s" % (k, "x" * rnd.randint(1, 16))
            elif kind == 2:
                v = rnd.random() * 1000
            elif kind == 3:
                v = rnd.random() < 0.5
            elif kind == 4:
                v = [rnd.randint(0, 100) for _ in range(3)]
            else:
                v = {"host": "h%d.internal" % k, "port": 1000 + k}
            sec["key_%03d" % k] = v
        doc["section_%04d" % s] = sec
    return doc


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def python_parse_seconds(fmt, path):
    code = {
        "json": "import json; f=open(P,'rb'); t=time.perf_counter(); json.load(f)",
        "yaml": "import yaml; f=open(P,'rb'); t=time.perf_counter(); yaml.load(f, Loader=yaml.CSafeLoader)",
        "toml": "import tomllib; f=open(P,'rb'); t=time.perf_counter(); tomllib.load(f)",
    }[fmt]
    out = subprocess.run(["/usr/bin/python3", "-c",
                          "import time; P=%r; %s; print(time.perf_counter()-t)" % (path, code)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def import_seconds(fmt, path, data_dir):
    port = free_port()
    srv = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data_dir,
                            "--threads", "2", "--no-access-log", "--log-level", "warn"])
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.02)
        body = open(path, "rb").read()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t = time.perf_counter()
        conn.request("PUT", "/v1/ns/bench/import?format=%s" % fmt, body=body,
                     headers={"Content-Type": "application/" + fmt})
        r = conn.getresponse()
        answer = r.read()
        took = time.perf_counter() - t
        if r.status not in (200, 201):
            raise RuntimeError("import failed: %d %s" % (r.status, answer[:300]))
        return took, json.loads(answer)
    finally:
        srv.terminate()
        srv.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="confhub-import-bench-")
    try:
        doc = make_document(args.keys)
        paths = {"json": os.path.join(work, "doc.json")}
        with open(paths["json"], "w") as f:
            json.dump(doc, f)
        for fmt in ("yaml", "toml"):
            paths[fmt] = os.path.join(work, "doc." + fmt)
            subprocess.run([BIN, "convert", paths["json"], "--to", fmt, "-o", paths[fmt]],
                           check=True)
        print("# import of %d keys (%d sections); %d rounds; best and median of the rounds"
              % (args.keys, len(doc), args.rounds))
        print("# confhub: %s; python: /usr/bin/python3 (json, yaml CSafeLoader, tomllib)" % BIN)
        print("%-5s %10s %12s %12s %12s %8s" % ("fmt", "bytes", "confhub_s", "python_s",
                                                 "ratio", "goal"))
        for fmt in ("json", "yaml", "toml"):
            ours, theirs = [], []
            for r in range(args.rounds):
                data_dir = os.path.join(work, "data-%s-%d" % (fmt, r))
                took, answer = import_seconds(fmt, paths[fmt], data_dir)
                if answer.get("added") != args.keys:
                    raise RuntimeError("import added %r keys, expected %d" %
                                       (answer.get("added"), args.keys))
                ours.append(took)
                theirs.append(python_parse_seconds(fmt, paths[fmt]))
                shutil.rmtree(data_dir, ignore_errors=True)
            ours.sort()
            theirs.sort()
            med_o, med_p = ours[len(ours) // 2], theirs[len(theirs) // 2]
            ok = med_o <= 1.0 and med_o < med_p
            print("%-5s %10d %5.3f/%5.3f %5.3f/%5.3f %11.2fx %8s" % (
                fmt, os.path.getsize(paths[fmt]), ours[0], med_o, theirs[0], med_p,
                med_p / med_o, "met" if ok else "NOT met"))
        print("# ratio = python parse median / confhub import median (> 1: confhub is faster);"
              " goal: confhub <= 1 s and faster than python's parse alone")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
