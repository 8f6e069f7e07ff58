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
        test_streams(srv)
    tap.done()


def test_streams(srv):
    stream = "app: {port: 1}\n---\napp: {port: 2}\nregions: [eu]\n"
    st, _, b = srv.json("PUT", "/v1/import?namespaces=staging,prod&dry_run=true", stream, YAML)
    tap.ok(st == 200 and b["dry_run"] and len(b["added"]) == 3, "a stream dry run lists the keys",
           b)
    st, _, b = srv.json("PUT", "/v1/import?namespaces=staging,prod", stream, YAML)
    _, _, staging = srv.json("GET", "/v1/ns/staging")
    _, _, prod = srv.json("GET", "/v1/ns/prod")
    tap.ok(st == 200 and b["added"] == 3 and staging == {"app": {"port": 1}} and
           prod == {"app": {"port": 2}, "regions": ["eu"]},
           "a YAML stream imports one namespace per document", b)
    _, _, ms = srv.json("GET", "/v1/ns/staging/app/port?meta=true")
    _, _, mp = srv.json("GET", "/v1/ns/prod/app/port?meta=true")
    tap.eq(ms["mod_revision"], mp["mod_revision"], "the whole stream is one revision")
    for path, why in [("/v1/import?namespaces=a", "fewer names than documents"),
                      ("/v1/import?namespaces=a,a", "the same namespace twice"),
                      ("/v1/import", "no names"),
                      ("/v1/import?namespaces=a,b/c", "a bad name")]:
        st, _, b = srv.json("PUT", path, stream, YAML)
        tap.ok(st == 400, "a stream with %s is 400" % why, b)
    st, _, b = srv.json("PUT", "/v1/import?namespaces=a&format=json", '{"a":{"k":1}}')
    tap.ok(st == 400 and "YAML" in b["error"]["message"], "only YAML streams hold documents", b)

    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("s: {k: 10}\n---\ns: {k: 20}\n")
    env = chtest.sanitizer_env()
    env["CONFHUB_URL"] = srv.url
    p = subprocess.run([chtest.BIN, "import", f.name, "--namespaces", "cli-a,cli-b"],
                       capture_output=True, text=True, env=env)
    _, _, b = srv.json("GET", "/v1/ns/cli-b/s/k")
    tap.ok(p.returncode == 0 and "into cli-a,cli-b: 2 added" in p.stdout and b == 20,
           "confhub import --namespaces imports a stream", p.stdout + p.stderr)
    p = subprocess.run([chtest.BIN, "import", f.name], capture_output=True, text=True, env=env)
    tap.ok(p.returncode == 1 and ":2:1: more than one YAML document" in p.stderr,
           "without --namespaces a stream is refused with its position", p.stderr)
    p = subprocess.run([chtest.BIN, "import", f.name, "--namespaces", "x,y", "--merge"],
                       capture_output=True, text=True, env=env)
    tap.ok(p.returncode == 1 and "--merge" in p.stderr, "--merge with --namespaces is refused",
           p.stderr)
    os.unlink(f.name)


main()
