#!/usr/bin/python3
"""33-cli-watch.py: `confhub watch`: filters, -o json against GET /v1/history, --rev, --count,
reconnection across a server killed with SIGKILL and restarted, --exec (environment, stdin, no
leaked descriptors, a failing command), a compacted --rev (exit 5), usage errors and signals.

Runs the CLI binary ($CONFHUB_BIN, default build/asan/confhub) against real servers on
127.0.0.1 started by tests/lib/chtest.py. Every wait is a condition polled under a generous
deadline, never a timing assertion. Prints TAP.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import chtest  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.path.abspath(os.environ.get('CONFHUB_BIN') or os.path.join(ROOT, 'build', 'asan', 'confhub'))
DEADLINE = 60


class Watch:
    """A `confhub watch` running in the background; its stdout lines are collected as they
    come (which also shows the CLI flushes per batch: stdout is a pipe, not a terminal)."""

    def __init__(self, env, *args):
        self.proc = subprocess.Popen([BIN, 'watch'] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.lines = []
        self.err = ''
        self.lock = threading.Lock()
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.decode('utf-8', 'replace').rstrip('\n'))

    def _read_err(self):
        for line in self.proc.stderr:
            with self.lock:
                self.err += line.decode('utf-8', 'replace')

    def wait_lines(self, n, timeout=DEADLINE):
        """Waits until at least n lines came (or the deadline); returns a copy of them."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.lines) >= n:
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(0.05)
        with self.lock:
            return list(self.lines)

    def wait_err(self, text, timeout=DEADLINE):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if text in self.err:
                    return True
            time.sleep(0.05)
        return False

    def finish(self, sig=None, timeout=DEADLINE):
        """Sends sig (if any), waits for the exit; returns (exit code, lines, stderr)."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = 'timeout'
            self.proc.wait()
        self.t_out.join(10)
        self.t_err.join(10)
        return rc, list(self.lines), self.err


def history(srv, query):
    """Every event of GET /v1/history?QUERY, oldest first (following next_cursor)."""
    events, cursor = [], None
    while True:
        path = '/v1/history?order=asc&limit=1000&' + query + ('&cursor=' + cursor if cursor else '')
        status, _, body = srv.json('GET', path)
        assert status == 200, (status, body)
        events += body['events']
        cursor = body.get('next_cursor')
        if not cursor or not body['events']:
            return events


def revision(srv):
    status, _, body = srv.json('GET', '/v1/status')
    return body['revision']


def put(srv, section, key, value, ns='default'):
    status, _, body = srv.json('PUT', '/v1/ns/%s/%s/%s' % (ns, section, key), body=json.dumps(value))
    assert status in (200, 201), (status, body)
    return body['revision']


def delete(srv, section, key, ns='default'):
    status, _, body = srv.json('DELETE', '/v1/ns/%s/%s/%s' % (ns, section, key))
    assert status == 200, (status, body)
    return body['revision']


def text_line(e):
    """How the CLI's text mode shows an event, without the time column."""
    old = json.dumps(e['old_value'], separators=(',', ':')) if 'old_value' in e else '(none)'
    new = '(deleted)' if e['op'] == 'delete' else json.dumps(e['new_value'], separators=(',', ':'))
    return '%d  %s  %s  %s/%s  %s -> %s' % (e['revision'], e['actor'], e['op'], e['section'],
                                            e['key'], old, new)


def strip_time(line):
    """'7  2026-11-23 08:14:02  alice ...' -> '7  alice ...'."""
    parts = line.split('  ', 2)
    return parts[0] + '  ' + parts[2] if len(parts) == 3 else line


def main():
    tap = chtest.Tap()
    check = tap.ok
    srv = chtest.Server(keep_data=True).start()
    env = chtest.sanitizer_env()
    env['CONFHUB_URL'] = srv.url

    def run(*args, extra_env=None):
        proc = subprocess.run([BIN] + list(args), capture_output=True, timeout=120,
                              env=dict(env, **(extra_env or {})))
        return chtest.CliResult(proc)

    # ---- usage errors, before anything is sent ----------------------------------------------
    for args, code, why in [
            (('watch', 'a', 'b', 'c'), 1, 'three arguments'),
            (('watch', '--rev', 'x'), 1, '--rev that is not a revision'),
            (('watch', '--count', '0'), 1, '--count 0'),
            (('watch', '--count', '-3'), 1, 'a negative --count'),
            (('watch', 'app', '--prefix', 'a'), 1, '--prefix with SECTION'),
            (('watch', 'a/b'), 1, "a section name with '/'"),
            (('watch', '-n', '..'), 1, 'a bad namespace name'),
            (('watch', '-o', 'yaml'), 1, '-o yaml'),
            (('watch', '--limit', '5'), 1, 'an option watch does not take'),
            (('watch', '--exec', ''), 1, 'an empty --exec'),
            (('watch', '-n', 'nosuchns'), 2, 'a namespace that does not exist (no --rev)')]:
        r = run(*args)
        check(r.rc == code and r.err.startswith('confhub: ') and r.out == '',
              '%s: exit %d (%s)' % (' '.join(args), code, why), r)
    r = run('watch', extra_env={'CONFHUB_URL': 'http://127.0.0.1:1'})
    check(r.rc == 4 and 'cannot reach' in r.err, 'an unreachable server on the first connection: exit 4', r)
    r = run('help', 'watch')
    check(r.rc == 0 and '--exec' in r.out and '--rev' in r.out and '--count' in r.out,
          'confhub help watch describes the options', r)
    r = run('--help')
    check(r.rc == 0 and 'watch' in r.out, 'the command list names watch', r)

    # ---- filters: key, section, prefix, namespace; text and json ----------------------------
    r0 = put(srv, 'seed', 'x', 0)
    writes = [('app', 'port', 8080), ('app', 'name', 'web'), ('db', 'url', 'pg://a'),
              ('feature-a', 'on', True), ('app', 'port', 8081), ('feature-b', 'pct', 0.1),
              ('featurex', 'k', [1, 2]), ('other', 'f', None), ('app', 'port', {'n': 1})]
    for s, k, v in writes:
        put(srv, s, k, v)
    delete(srv, 'app', 'name')
    delete(srv, 'app', 'port')
    put(srv, 'app', 'port', 'back')
    srv.request('PUT', '/v1/ns/other-ns/s/k', body='1')

    cases = [(('app', 'port'), 'section=app&key=port'),
             (('app',), 'section=app'),
             (('--prefix', 'feature'), 'prefix=feature'),
             ((), '')]
    for args, query in cases:
        want = history(srv, 'ns=default&from_revision=%d&%s' % (r0 + 1, query))
        r = run('watch', *args, '--rev', str(r0), '--count', str(len(want)), '-o', 'json')
        got = [json.loads(line) for line in r.out.splitlines()] if r.rc == 0 else None
        check(r.rc == 0 and got == want and len(want) > 0,
              'watch %s -o json --rev R: exactly the history events after R, in order (%d)' %
              (' '.join(args), len(want)), r)
        r = run('watch', *args, '--rev', str(r0), '--count', str(len(want)))
        check(r.rc == 0 and [strip_time(x) for x in r.out.splitlines()] == [text_line(e) for e in want],
              'watch %s: text lines "REV  TIME  ACTOR  OP  section/key  old -> new"' % ' '.join(args),
              (r, [text_line(e) for e in want]))
    r = run('watch', 'app', 'port', '--rev', str(r0), '--count', '1')
    check(r.rc == 0 and len(r.out.splitlines()) == 1, '--count 1 stops after one event', r)
    r = run('watch', '-n', 'other-ns', '--rev', '0', '--count', '1', '-o', 'json')
    check(r.rc == 0 and json.loads(r.out)['ns'] == 'other-ns', '-n NS watches that namespace', r)
    evs = history(srv, 'ns=default&section=app&key=port&from_revision=%d' % (r0 + 1))
    deleted = [x for x in run('watch', 'app', 'port', '--rev', str(r0), '--count', str(len(evs))).out.splitlines()
               if ' delete ' in x]
    check(len(deleted) == 1 and deleted[0].endswith('{"n":1} -> (deleted)'),
          'a delete shows old -> (deleted)', deleted)

    # ---- live: from now, in order, flushed per batch ----------------------------------------
    before = revision(srv)
    w = Watch(env, 'live', '-o', 'json')
    first = None
    deadline = time.time() + DEADLINE
    i = 0
    while time.time() < deadline and not w.wait_lines(1, timeout=0.3):
        first = put(srv, 'live', 'k', i)  # until the watch, started "now", sees one
        i += 1
    for j in range(5):
        put(srv, 'live', 'k%d' % j, j)
        put(srv, 'elsewhere', 'k', j)
    first_seen = w.wait_lines(1)
    want = []
    if first_seen:
        want = history(srv, 'ns=default&section=live&from_revision=%d' % json.loads(first_seen[0])['revision'])
        w.wait_lines(len(want))
    rc, lines, err = w.finish(signal.SIGINT)
    got = [json.loads(x) for x in lines]
    check(rc == 0, 'SIGINT ends a watch with exit 0', (rc, err))
    check(first is not None and len(got) >= 6 and got[0]['revision'] > before,
          'without --rev the watch starts now: nothing from before it started', (before, got[:2]))
    check(got == want, 'live events are the history from the first one on, each once, in order',
          (got, want))

    # ---- a multi-event revision, and --exec --------------------------------------------------
    tmp = tempfile.mkdtemp(prefix='confhub-watch-')
    out_file = os.path.join(tmp, 'hook.out')
    hook = os.path.join(tmp, 'hook.py')
    with open(hook, 'w') as f:
        f.write('import json, os, sys\n'
                'data = sys.stdin.read()\n'
                'fds = []\n'
                'for fd in os.listdir("/proc/self/fd"):\n'
                '    try:\n'
                '        fds.append((int(fd), os.readlink("/proc/self/fd/" + fd)))\n'
                '    except OSError:\n'
                '        pass\n'
                'extra = [t for n, t in fds if n > 2 and not t.startswith("/proc/")]\n'
                'names = ["CONFHUB_REVISION", "CONFHUB_NS", "CONFHUB_EVENTS", "CONFHUB_SECTION",\n'
                '         "CONFHUB_KEY", "CONFHUB_OP", "CONFHUB_ACTOR", "CONFHUB_VALUE",\n'
                '         "CONFHUB_OLD_VALUE"]\n'
                'rec = {"env": {n: os.environ.get(n) for n in names}, "stdin": data, "fds": extra}\n'
                'with open(sys.argv[1], "a") as f:\n'
                '    f.write(json.dumps(rec) + "\\n")\n'
                'sys.exit(3 if os.environ.get("CONFHUB_KEY") == "fail" else 0)\n')
    start = revision(srv)
    cmd = '%s %s %s' % (sys.executable, hook, out_file)
    w = Watch(dict(env, CONFHUB_SECTION='stale'), 'hooked', '--exec', cmd, '--rev', str(start))
    put(srv, 'hooked', 'port', 8080)
    status, _, body = srv.json('POST', '/v1/txn', body=json.dumps(
        {'then': [{'op': 'put', 'section': 'hooked', 'key': 'a', 'value': 'x y'},
                  {'op': 'put', 'section': 'hooked', 'key': 'b', 'value': {'z': 1}}]}))
    check(status == 200, 'a transaction of two keys', body)
    put(srv, 'hooked', 'fail', 1)
    delete(srv, 'hooked', 'port')
    lines = w.wait_lines(5)
    deadline = time.time() + DEADLINE
    recs = []
    while time.time() < deadline:
        recs = [json.loads(x) for x in open(out_file)] if os.path.exists(out_file) else []
        if len(recs) >= 4:
            break
        time.sleep(0.05)
    failed = w.wait_err('exited with status 3')
    rc, lines, err = w.finish(signal.SIGTERM)
    check(rc == 0, 'SIGTERM ends a watch with exit 0', (rc, err))
    check(len(lines) == 5, 'the watch printed every event while --exec ran', lines)
    want = history(srv, 'ns=default&section=hooked&from_revision=%d' % (start + 1))
    check(len(recs) == 4, '--exec ran once per revision (4 revisions, 5 events)', recs)
    if len(recs) == 4:
        e0 = recs[0]['env']
        check(e0 == {'CONFHUB_REVISION': str(want[0]['revision']), 'CONFHUB_NS': 'default',
                     'CONFHUB_EVENTS': '1', 'CONFHUB_SECTION': 'hooked', 'CONFHUB_KEY': 'port',
                     'CONFHUB_OP': 'set', 'CONFHUB_ACTOR': 'anonymous', 'CONFHUB_VALUE': '8080',
                     'CONFHUB_OLD_VALUE': None},
              '--exec: the environment of a one-event revision', e0)
        frame = json.loads(recs[0]['stdin'])
        check(frame == {'revision': want[0]['revision'], 'events': [want[0]]},
              '--exec: stdin is the revision frame {"revision","events"}', recs[0]['stdin'])
        e1 = recs[1]['env']
        check(e1['CONFHUB_EVENTS'] == '2' and e1['CONFHUB_SECTION'] is None and
              e1['CONFHUB_KEY'] is None and e1['CONFHUB_VALUE'] is None,
              '--exec: a two-event revision sets the count only (an inherited CONFHUB_SECTION is dropped)', e1)
        check(json.loads(recs[1]['stdin'])['events'] == want[1:3],
              '--exec: both events of the transaction on stdin', recs[1]['stdin'])
        e3 = recs[3]['env']
        check(e3['CONFHUB_OP'] == 'delete' and e3['CONFHUB_VALUE'] is None and
              e3['CONFHUB_OLD_VALUE'] == '8080', '--exec: a delete has CONFHUB_OLD_VALUE and no CONFHUB_VALUE', e3)
        check(all(r['fds'] == [] for r in recs), '--exec: no descriptor of the watch leaks into CMD',
              [r['fds'] for r in recs])
    check(failed and 'revision %d' % want[3]['revision'] in err,
          "--exec: a command's non-zero exit is reported on stderr and the watch goes on", err)
    r = run('watch', 'hooked', '--rev', str(start), '--count', '1', '--exec', 'cat > /dev/null')
    check(r.rc == 0 and len(r.out.splitlines()) == 1, '--exec with --count ends after the count', r)

    # ---- reconnect: server killed (SIGKILL), restarted on the same port and data ------------
    start = revision(srv)
    w = Watch(env, '-o', 'json', '--rev', str(start), '--prefix', 'rc')
    for i in range(5):
        put(srv, 'rc%d' % (i % 2), 'k', i)
    w.wait_lines(5)
    srv.kill9()
    lost = w.wait_err('reconnecting')
    srv = chtest.Server(port=srv.port, data_dir=srv.data_dir, keep_data=True).start()
    for i in range(5, 12):
        put(srv, 'rc%d' % (i % 2), 'k', i)
        put(srv, 'notrc', 'k', i)
    lines = w.wait_lines(12)
    rc, lines, err = w.finish(signal.SIGTERM)
    want = history(srv, 'ns=default&prefix=rc&from_revision=%d' % (start + 1))
    got = [json.loads(x) for x in lines]
    check(lost, 'a lost connection is reported on stderr with the wait before reconnecting', err)
    check(rc == 0 and len(want) == 12 and got == want,
          'after SIGKILL and a restart the watch resumes: every change exactly once, in order',
          (rc, [e['revision'] for e in got], [e['revision'] for e in want], err))

    # ---- the server stopping cleanly ends the stream; the watch reconnects ------------------
    start = revision(srv)
    w = Watch(env, 'stop', '-o', 'json', '--rev', str(start), '--count', '2')
    put(srv, 'stop', 'k', 1)
    w.wait_lines(1)
    code = srv.stop()
    check(code == 0, 'the server stopped cleanly with a watch open', srv.read_log() if code else None)
    srv = chtest.Server(port=srv.port, data_dir=srv.data_dir, keep_data=True).start()
    put(srv, 'stop', 'k', 2)
    rc, lines, err = w.finish()
    check(rc == 0 and [json.loads(x)['new_value'] for x in lines] == [1, 2],
          'a server restarted cleanly: the watch reconnects and --count ends it', (rc, lines, err))
    srv.stop()

    # ---- a compacted --rev: exit 5 naming the oldest revision kept --------------------------
    small = chtest.Server(data_dir=srv.data_dir, port=srv.port, keep_data=True,
                          args=['--history-keep-revisions', '2', '--watch-cache-revisions', '0'])
    small.start()
    oldest = None
    deadline = time.time() + DEADLINE
    i = 0
    while time.time() < deadline:  # commits run the compaction in the background
        put(small, 'compact', 'k', i)
        i += 1
        status, _, answer = small.json('GET', '/v1/history?ns=default&from_revision=1&limit=1')
        if status == 410:
            oldest = answer['error']['oldest_revision']
            break
        time.sleep(0.05)
    check(oldest is not None, 'the server compacted revision 1', oldest)
    r = run('watch', '--rev', '1', extra_env={'CONFHUB_URL': small.url})
    check(r.rc == 5 and 'compacted' in r.err and 'revision %s' % oldest in r.err,
          'watch --rev of a compacted revision: exit 5, naming the oldest revision kept', r)
    code = small.stop()
    check(code == 0, 'the last server stopped cleanly', small.read_log() if code else None)
    import shutil
    shutil.rmtree(small.data_dir, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == '__main__':
    main()
