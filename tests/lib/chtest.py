"""Helpers for confhub's black-box tests (Python 3 standard library only).

A test starts the real `confhub serve` binary on 127.0.0.1 with a free port and a temporary
data directory, talks plain HTTP to it, and prints TAP lines. Run with /usr/bin/python3.

    import chtest
    tap = chtest.Tap()
    with chtest.Server() as srv:
        status, headers, body = srv.request("GET", "/healthz")
        tap.ok(status == 200, "healthz answers 200")
    tap.done()
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CONFHUB_BIN", os.path.join(ROOT, "build", "asan", "confhub"))
LSAN_SUPP = os.path.join(ROOT, "tests", "lsan.supp")


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env["LSAN_OPTIONS"] = "suppressions=" + LSAN_SUPP
    return env


class Tap:
    """Writes TAP lines: `ok N - name` / `not ok N - name`, with a diagnostic on failure."""

    def __init__(self, prefix=""):
        self.n = 0
        self.failed = 0
        self.prefix = prefix

    def ok(self, cond, name, diag=None):
        self.n += 1
        name = (self.prefix + name) if self.prefix else name
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            if diag is not None:
                for line in str(diag).splitlines()[:20]:
                    print("#   " + line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


class CliResult:
    """A finished CLI run: exit code, stdout and stderr as text."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def json(self):
        """stdout parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.out)
        except ValueError:
            return None

    def __repr__(self):
        return "rc=%d stdout=%r stderr=%r" % (self.rc, self.out[:2000], self.err[:2000])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """The real server on a free loopback port with its own data directory."""

    def __init__(self, args=(), data_dir=None, seed=None, port=None, keep_data=False, wrap=()):
        self.port = port or free_port()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="confhub-test-")
        self.args = list(args)
        self.seed = seed
        self.keep_data = keep_data
        self.wrap = list(wrap)  # a command the server runs under, such as ["prlimit", ...]
        self.proc = None
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self):
        cmd = self.wrap + [BIN, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data", self.data_dir,
               "--threads", "2", "--no-access-log"] + self.args
        if self.seed:
            cmd += ["--seed", self.seed]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=sanitizer_env())
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the server; returns its exit code (0 when it stopped cleanly)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log.close()
        self.proc = None
        return code

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.proc = None

    def cleanup(self):
        if self.own_dir and not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        code = self.stop()
        if code not in (0, None):
            sys.stderr.write("server exit code %s; log:\n%s\n" % (code, self.read_log()))
        self.cleanup()
        return False

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request; returns (status, headers as a lowercase dict, body bytes)."""
        own = conn is None
        c = conn or self.conn()
        try:
            if isinstance(body, (dict, list, int, float, bool)) or body is None and False:
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return status, hdrs, parsed
