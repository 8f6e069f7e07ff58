#!/usr/bin/python3
"""Black-box tests of YAML import and export (docs/formats.md, YAML)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("yaml: ")
YAML = {"Content-Type": "application/yaml"}

DOC = """\
db: &db
  host: pg.internal
  port: 5432
  ratio: 1.0
  tls: true
  password: "true"
  version: '12'
  note: |
    line one
    line two
replica: *db
flags: [a, "on", ~]
"""

WANT = {
    "db": {"host": "pg.internal", "port": 5432, "ratio": 1.0, "tls": True, "password": "true",
           "version": "12", "note": "line one\nline two\n"},
    "flags": ["a", "on", None],
}
WANT["replica"] = dict(WANT["db"])


def typed_eq(a, b):
    """Equality that tells 1 from 1.0 and True from 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(typed_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(typed_eq(x, y) for x, y in zip(a, b))
    return a == b


def main():
    with chtest.Server() as srv:
        st, _, b = srv.json("PUT", "/v1/ns/y/import", DOC, YAML)
        tap.ok(st == 201, "a YAML document imports", b)
        _, _, got = srv.json("GET", "/v1/ns/y")
        want = {"db": WANT["db"], "replica": WANT["replica"], "flags": WANT["flags"]}
        tap.ok(typed_eq(got, want), "types are kept and aliases resolved", got)

        st, h, body = srv.request("GET", "/v1/ns/y/export?format=yaml")
        tap.ok(st == 200 and h["content-type"].startswith("application/yaml") and
               b'password: "true"' in body and b"ratio: 1.0" in body, "export as YAML", body)
        st, _, b = srv.json("PUT", "/v1/ns/y2/import", body, YAML)
        _, _, again = srv.json("GET", "/v1/ns/y2")
        tap.ok(st == 201 and typed_eq(again, want), "exported YAML imports back the same", again)

        st, _, b = srv.json("PUT", "/v1/ns/y/import", "a:\n  k: 1\n  k: 2\n", YAML)
        tap.ok(st == 400 and b["error"]["line"] == 3 and "duplicate key 'k'" in
               b["error"]["message"], "a duplicate key is 400 with its line", b)
        st, _, b = srv.json("PUT", "/v1/ns/y/import", "a:\n  200: ok\n", YAML)
        tap.ok(st == 400 and "a key must be a string" in b["error"]["message"],
               "a non-string key is 400", b)
        st, _, b = srv.json("PUT", "/v1/ns/y/import", "a: {k: 1}\n---\nb: {k: 2}\n", YAML)
        tap.ok(st == 400 and "more than one YAML document" in b["error"]["message"],
               "a multi-document stream is 400", b)
        st, _, b = srv.json("PUT", "/v1/ns/y/import", "a: {k: 99999999999999999999}\n", YAML)
        tap.ok(st == 400 and "a.k" in b["error"]["message"], "a number too big names its key", b)
        bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
            for i in range(8))
        st, _, b = srv.json("PUT", "/v1/ns/y/import", bomb, YAML)
        tap.ok(st == 413, "an alias bomb is refused as too large", b)
        _, _, got = srv.json("GET", "/v1/ns/y")
        tap.ok(typed_eq(got, want), "refused imports changed nothing", got)
    tap.done()


main()
