#!/usr/bin/python3
"""The server process: flags, seed errors, logs, migrations, refusing a newer database."""
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("process: ")


def run(*args, timeout=30):
    p = subprocess.run([chtest.BIN] + list(args), capture_output=True, text=True,
                       env=chtest.sanitizer_env(), timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_help_and_usage():
    code, out, err = run("serve", "--help")
    tap.ok(code == 0 and "--listen" in out and "--max-body-bytes" in out and "SIGTERM" in out,
           "serve --help lists flags and limits", out + err)
    code, out, err = run("serve", "--bogus")
    tap.ok(code == 1 and "--bogus" in err, "an unknown serve flag is exit 1 naming it", err)
    code, out, err = run("serve", "--threads", "0")
    tap.ok(code == 1 and "--threads" in err, "--threads 0 is refused", err)
    code, out, err = run("serve", "--max-json-depth", "1")
    tap.ok(code == 1 and "max-json-depth" in err and "outside" in err,
           "a limit outside its range is refused", err)
    code, out, err = run("serve", "--routes")
    tap.ok(code == 0 and "PUT     /v1/ns/{ns}/{section}/{key}" in out, "serve --routes prints the table",
           out)
    code, out, err = run("migrate")
    tap.ok(code == 1 and "usage" in err, "migrate without an action is a usage error", err)


def test_seed_errors():
    d = tempfile.mkdtemp(prefix="confhub-test-")
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{\n  "app": {"port": 80,}\n}\n')
    code, out, err = run("serve", "--listen", "127.0.0.1:%d" % chtest.free_port(), "--data",
                         os.path.join(d, "data"), "--seed", bad)
    tap.ok(code == 1 and re.search(re.escape(bad) + r":2:\d+: ", err), "a bad seed fails with file:line:col",
           err)
    code, out, err = run("serve", "--listen", "127.0.0.1:%d" % chtest.free_port(), "--data",
                         os.path.join(d, "data2"), "--seed", os.path.join(d, "missing.json"))
    tap.ok(code == 1 and "cannot open" in err and "missing.json" in err,
           "a missing seed file is a clear error", err)
    shutil.rmtree(d, ignore_errors=True)


def test_seeds():
    d = tempfile.mkdtemp(prefix="confhub-test-")
    team = os.path.join(d, "team.json")
    with open(team, "w") as f:
        f.write('{"db": {"host": "pg"}}')
    example = os.path.join(chtest.ROOT, "examples", "example.json")
    srv = chtest.Server(args=["--seed", example, "--seed", "team-b=" + team], keep_data=True)
    srv.start()
    _, _, body = srv.json("GET", "/v1/namespaces")
    tap.eq([(n["name"], n["keys"]) for n in body["namespaces"]], [("default", 24), ("team-b", 1)],
           "--seed FILE and --seed NS=FILE both load")
    tap.eq(body["revision"], 1, "all seeds go in one revision")
    srv.json("PUT", "/v1/ns/team-b/db/host", '"changed"')
    srv.stop()
    srv2 = chtest.Server(data_dir=srv.data_dir, args=["--seed", "team-b=" + team]).start()
    _, _, host = srv2.json("GET", "/v1/ns/team-b/db/host")
    srv2.stop()
    tap.eq(host, "changed", "seeds are never applied to a store that is not empty")
    tap.ok("--seed not applied" in srv2.read_log(), "skipping the seed is logged")
    code, out, err = run("serve", "--listen", "127.0.0.1:%d" % chtest.free_port(), "--data",
                         os.path.join(d, "x"), "--seed", "a=" + team, "--seed", "a=" + team)
    tap.ok(code == 1 and "--seed" in err and "same key" in err,
           "two seeds for one namespace are refused", err)
    code, out, err = run("serve", "--listen", "127.0.0.1:%d" % chtest.free_port(), "--data",
                         os.path.join(d, "y"), "--seed", "a/b=" + team)
    tap.ok(code == 1, "a seed namespace that is not a valid name is refused", err)
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(srv.data_dir, ignore_errors=True)


def test_address_in_use():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix="confhub-test-")
    code, out, err = run("serve", "--listen", "127.0.0.1:%d" % port, "--data", d)
    s.close()
    tap.ok(code == 1 and "cannot listen" in err and "in use" in err,
           "an address in use is a clear error", err)
    with chtest.Server() as first:
        code, out, err = run("serve", "--listen", "127.0.0.1:%d" % first.port, "--data", d)
        tap.ok(code == 1 and "in use" in err,
               "a port another confhub holds is refused too (SO_REUSEPORT does not share it)", err)
    code, out, err = run("serve", "--listen", "nonsense", "--data", d)
    tap.ok(code == 1 and "ADDR:PORT" in err, "a malformed --listen is a clear error", err)
    shutil.rmtree(d, ignore_errors=True)


def test_logs():
    srv = chtest.Server(args=["--log-format", "json", "--access-log", "-"])
    # chtest passes --no-access-log; the later --access-log wins.
    srv.start()
    srv.request("GET", "/v1/ns/default")
    srv.request("PUT", "/v1/ns/default/a/b", "1")
    code = srv.stop()
    log = srv.read_log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    tap.ok(any(x.get("module") == "serve" and "listening" in x.get("msg", "") for x in lines),
           "--log-format json writes JSON lines", log[-1500:])
    tap.ok(all(set(x) >= {"time", "level", "module", "msg"} for x in lines) and lines,
           "JSON log lines carry time, level, module, msg")
    access = [line for line in log.splitlines() if " PUT /v1/ns/default/a/b 201 " in line]
    tap.ok(access and re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1 PUT "
                                r"/v1/ns/default/a/b 201 \d+ \d+us rev=1$", access[0]),
           "the access log has time, client, method, path, status, bytes, duration, revision",
           log[-1500:])
    tap.eq(code, 0, "clean stop")
    srv.cleanup()

    srv = chtest.Server(args=["--log-level", "warn"])
    srv.start()
    srv.request("GET", "/healthz")
    srv.stop()
    tap.ok("listening" not in srv.read_log(), "--log-level warn hides info lines", srv.read_log())
    srv.cleanup()


def test_migrations():
    d = tempfile.mkdtemp(prefix="confhub-test-")
    code, out, err = run("migrate", "up", "--data", d)
    tap.ok(code == 0 and "schema version 0 to 2" in out, "migrate up creates and migrates", out + err)
    code, out, err = run("migrate", "up", "--data", d)
    tap.ok(code == 0 and "up to date" in out, "migrate up again is a no-op", out + err)
    code, out, err = run("migrate", "status", "--data", d)
    tap.ok(code == 0 and "schema version: 2" in out and "pending migrations: 0" in out,
           "migrate status reports the version", out + err)
    db = sqlite3.connect(os.path.join(d, "confhub.db"))
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    code, out, err = run("serve", "--listen", "127.0.0.1:%d" % chtest.free_port(), "--data", d)
    tap.ok(code == 1 and "newer" in err and "99" in err,
           "serve refuses a database newer than itself", err)
    code, out, err = run("migrate", "status", "--data", d)
    tap.ok(code == 1 and "newer" in err, "migrate status refuses it too", err)
    code, out, err = run("migrate", "status", "--data", os.path.join(d, "nope"))
    tap.ok(code == 1 and err.startswith("confhub migrate: "), "status of a missing store fails clearly",
           err)
    shutil.rmtree(d, ignore_errors=True)
    test_upgrade_from_schema_1()


def test_upgrade_from_schema_1():
    """A store written by the first release (schema 1) upgrades in place, history included."""
    d = tempfile.mkdtemp(prefix="confhub-test-")
    db = sqlite3.connect(os.path.join(d, "confhub.db"))
    with open(os.path.join(chtest.ROOT, "src", "store_migrations", "sqlite", "0001_init.sql")) as f:
        db.executescript(f.read())
    db.executescript("""
        PRAGMA user_version = 1;
        INSERT INTO kv VALUES ('default', 'app', 'port', '9090', 1, 2, 2);
        INSERT INTO revisions VALUES (1, 1700000000000, 'anonymous', ''), (2, 1700000001000, 'ops', '');
        INSERT INTO history VALUES (1, 0, 'set', 'default', 'app', 'port', NULL, '8080'),
                                   (2, 0, 'set', 'default', 'app', 'port', '8080', '9090');
        UPDATE meta SET value = 2 WHERE name = 'revision';
    """)
    db.commit()
    db.close()
    code, out, err = run("migrate", "status", "--data", d)
    tap.ok(code == 0 and "schema version: 1" in out and "pending migrations: 1" in out,
           "a schema 1 store has one pending migration", out + err)
    srv = chtest.Server(data_dir=d)
    srv.start()
    st, _, v = srv.json("GET", "/v1/ns/default/app/port?revision=1")
    st2, _, h = srv.json("GET", "/v1/history?actor=ops")
    srv.stop()
    tap.ok(st == 200 and v == 8080 and st2 == 200 and len(h["events"]) == 1,
           "serve upgrades it and its history reads work", (st, v, h))
    code, out, err = run("migrate", "status", "--data", d)
    tap.ok("schema version: 2" in out, "the store is at schema 2 after the upgrade", out)
    shutil.rmtree(d, ignore_errors=True)


def test_store_flag():
    d = tempfile.mkdtemp(prefix="confhub-test-")
    path = os.path.join(d, "custom.db")
    srv = chtest.Server(args=["--store", "sqlite:" + path])
    srv.start()
    srv.request("PUT", "/v1/ns/default/s/k", "1")
    _, _, status = srv.json("GET", "/v1/status")
    srv.stop()
    srv.cleanup()
    tap.ok(os.path.exists(path) and status["keys"] == 1, "--store sqlite:PATH uses that file")
    code, out, err = run("serve", "--store", "mysql://x", "--listen",
                         "127.0.0.1:%d" % chtest.free_port())
    tap.ok(code == 1 and "unknown store" in err, "an unknown store scheme is a clear error", err)
    shutil.rmtree(d, ignore_errors=True)


def test_sigint():
    srv = chtest.Server()
    srv.start()
    import signal
    tap.eq(srv.stop(sig=signal.SIGINT), 0, "SIGINT stops cleanly with exit 0")
    tap.ok("stopped cleanly" in srv.read_log(), "the stop is logged")
    srv.cleanup()


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def test_fd_limit():
    """serve raises its soft open-file limit to what --max-connections needs, up to the hard
    limit, and says so when the hard limit is too low."""
    for hard, warn in ((20000, False), (500, True)):
        srv = chtest.Server(wrap=["prlimit", "--nofile=200:%d" % hard]).start()
        soft = soft_nofile(srv.proc.pid)
        st, _, _ = srv.json("GET", "/healthz")
        srv.stop()
        log = srv.read_log()
        srv.cleanup()
        if warn:
            tap.ok(soft == 500 and "open-file limit is 500" in log and "--max-connections 10000" in log,
                   "a hard limit below --max-connections is used and warned about", (soft, log))
        else:
            tap.ok(soft is not None and soft >= 10000 and "open-file limit" not in log and st == 200,
                   "the soft limit is raised to what --max-connections needs", (soft, log))


test_help_and_usage()
test_fd_limit()
test_seed_errors()
test_seeds()
test_address_in_use()
test_logs()
test_migrations()
test_store_flag()
test_sigint()
tap.done()
