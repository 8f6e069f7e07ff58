#!/usr/bin/python3
"""32-cli-history.py: `confhub history`, `diff`, `rollback` and reads at a past revision.

Runs the CLI binary ($CONFHUB_BIN, default build/asan/confhub) against real servers started by
tests/lib/chtest.py, and checks stdout, stderr and exit codes as docs/cli.md states them. What
only happens on a terminal (colours, cutting the history table to the window, the rollback
question) runs the CLI on a pseudo-terminal from Python's pty module. Compaction is awaited by
polling the API (a deadline, not a timing assertion). Prints TAP.
"""
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import chtest  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.path.abspath(os.environ.get('CONFHUB_BIN') or os.path.join(ROOT, 'build', 'asan', 'confhub'))

Result = chtest.CliResult
EVENT_KEYS = {'revision', 'timestamp', 'actor', 'remote', 'op', 'ns', 'section', 'key',
              'old_value', 'new_value'}
RED, GREEN, BOLD, RESET = '\x1b[31m', '\x1b[32m', '\x1b[1m', '\x1b[m'


def main():
    tap = chtest.Tap()
    check = tap.ok
    srv = chtest.Server().start()
    env = chtest.sanitizer_env()
    env['CONFHUB_URL'] = srv.url
    env.pop('NO_COLOR', None)
    env.pop('COLUMNS', None)
    env['TERM'] = 'xterm'

    def run(*args, stdin=b'', extra_env=None):
        e = dict(env, **(extra_env or {}))
        proc = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, env=e,
                              timeout=120)
        r = Result(proc)
        for line in r.err.splitlines():
            if not (line.startswith('confhub: ') or line.startswith('usage: ') or
                    line.startswith(' ')):
                check(False, 'stderr of %r is confhub messages' % (args,), r.err)
                break
        return r

    def run_pty(*args, answer=None, before_answer=None, cols=200, extra_env=None):
        """Runs the CLI with stdin, stdout and stderr on a pseudo-terminal of `cols` columns.
        When answer is given, it is typed after '[y/N]' shows (before_answer() runs first).
        Returns (exit code, everything the terminal showed, with \\r\\n as \\n)."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 40, cols, 0, 0))
        e = dict(env, **(extra_env or {}))
        proc = subprocess.Popen([BIN] + list(args), stdin=slave, stdout=slave, stderr=slave,
                                env=e, close_fds=True)
        os.close(slave)
        out = b''
        answered = False
        deadline = time.time() + 120
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b''
            if not data:
                break
            out += data
            if answer is not None and not answered and b'[y/N]' in out:
                if before_answer:
                    before_answer()
                os.write(master, answer.encode() + b'\n')
                answered = True
        if proc.poll() is None and time.time() >= deadline:
            proc.kill()
        rc = proc.wait(timeout=60)
        os.close(master)
        return rc, out.decode('utf-8', 'replace').replace('\r\n', '\n')

    def api_write(method, path, body=None, actor=None):
        headers = {'X-Confhub-Actor': actor} if actor else {}
        text = None if body is None else json.dumps(body)
        status, _, answer = srv.json(method, path, body=text, headers=headers)
        if status not in (200, 201):
            raise RuntimeError('%s %s: %s %r' % (method, path, status, answer))
        return answer['revision']

    def rows(out):
        """The table's data rows as lists of cells (split on runs of 2+ spaces)."""
        lines = out.splitlines()
        return [re.split(r'  +', line.strip()) for line in lines[1:]]

    def revs(out):
        return [int(row[0]) for row in rows(out)]

    try:
        # ---- help and usage errors ------------------------------------------------------
        r = run('--help')
        check(r.rc == 0 and 'history ' in r.out and 'diff ' in r.out and 'rollback ' in r.out
              and '5  the revision asked for was compacted' in r.out,
              '--help lists history, diff, rollback and exit code 5', r)
        for cmd, usage in [('history', 'usage: confhub history [SECTION [KEY]]'),
                           ('diff', 'usage: confhub diff R1 [R2] [SECTION [KEY]]'),
                           ('rollback', 'usage: confhub rollback --to R [SECTION [KEY]]')]:
            r = run('help', cmd)
            r2 = run(cmd, '--help')
            check(r.rc == 0 and r.out.startswith(usage) and 'Examples:' in r.out and
                  r2.out == r.out, 'help %s and %s --help' % (cmd, cmd), r)
        r = run('help', 'get')
        check(r.rc == 0 and '--revision R' in r.out, 'help get mentions --revision', r)
        for args, why in [(('history', '--limit', 'ten'), 'history --limit wants a count'),
                          (('history', '--op', 'put'), 'history --op must be set or delete'),
                          (('history', '--from-rev', '-1'), '--from-rev wants a revision'),
                          (('history', 'app', '--prefix', 'a'), '--prefix with SECTION'),
                          (('history', '--since', 'yesterday'), '--since of no known form'),
                          (('history', '--until', '2026-13-45'), '--until with a bad date'),
                          (('history', 'a', 'b', 'c'), 'history with 3 arguments'),
                          (('history', 'a/b'), 'history of a bad section name'),
                          (('get', 'app', 'port', '--limit', '3'), 'get takes no --limit'),
                          (('get', 'app', 'port', '--revision', 'x'), 'get --revision x'),
                          (('put', 'app', 'port', '1', '--revision', '1'), 'put takes no --revision'),
                          (('diff',), 'diff without R1'),
                          (('diff', 'abc'), 'diff with a non-number R1'),
                          (('diff', '1', 'a', 'b', 'c'), 'diff with too many arguments'),
                          (('diff', '1', '--color', 'sometimes'), 'diff --color sometimes'),
                          (('diff', '1', '--yes'), 'diff takes no --yes'),
                          (('rollback',), 'rollback without --to'),
                          (('rollback', '--to', 'now', '--yes'), 'rollback --to now'),
                          (('rollback', '--to', '1', 'a', 'b', 'c'), 'rollback with 3 arguments')]:
            r = run(*args)
            check(r.rc == 1 and r.err.startswith('confhub: '), '%s: exit 1' % why, r)
        r = run('rollback', '--yes')
        check(r.rc == 1 and '--to R is required' in r.err, 'rollback names the missing --to', r)

        # ---- a known history ------------------------------------------------------------
        rev = {}
        rev[1] = api_write('PUT', '/v1/ns/default/app/port', 8080, 'alice')
        rev[2] = api_write('PUT', '/v1/ns/default/app/port', 8081, 'bob')
        rev[3] = api_write('PUT', '/v1/ns/default/app/name', 'web', 'alice')
        rev[4] = api_write('PUT', '/v1/ns/default/db/url', 'pg://a', 'carol')
        rev[5] = api_write('DELETE', '/v1/ns/default/app/name', None, 'bob')
        rev[6] = api_write('PUT', '/v1/ns/default/feature_x/on', True, 'alice')
        rev[7] = api_write('PUT', '/v1/ns/default/feature_y/on', False, None)
        check([rev[i] for i in range(1, 8)] == list(range(rev[1], rev[1] + 7)),
              'seven writes made seven consecutive revisions', rev)
        r1, r2, r3, r4, r5, r6, r7 = (rev[i] for i in range(1, 8))

        # ---- history: the table -----------------------------------------------------------
        r = run('history')
        lines = r.out.splitlines()
        check(r.rc == 0 and re.match(r'^REV +TIME \(UTC\) +ACTOR +OP +KEY +CHANGE$', lines[0]) and
              r.err == '', 'history prints a table with a header line', r)
        check(revs(r.out) == [r7, r6, r5, r4, r3, r2, r1], 'newest first by default', r)
        by_rev = {int(row[0]): row for row in rows(r.out)}
        check(by_rev[r2][2:] == ['bob', 'set', 'app/port', '8080 -> 8081'],
              'a set row: actor, op, section/key, old -> new', by_rev.get(r2))
        check(by_rev[r5][2:] == ['bob', 'delete', 'app/name', '"web" -> (deleted)'],
              'a delete row shows "(deleted)"', by_rev.get(r5))
        check(by_rev[r7][2:] == ['anonymous', 'set', 'feature_y/on', '(none) -> false'],
              'a write without an actor is anonymous', by_rev.get(r7))
        check(re.match(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$', by_rev[r1][1]) is not None,
              'the time column is YYYY-MM-DD HH:MM:SS (UTC)', by_rev.get(r1))
        starts = [lines[0].index(h) for h in ('ACTOR', 'OP', 'KEY', 'CHANGE')]
        check(all(line[at - 2:at] == '  ' and line[at] != ' ' for line in lines[1:]
                  for at in starts), 'the columns are aligned', r.out)

        r = run('history', 'app', 'port')
        check(r.rc == 0 and revs(r.out) == [r2, r1], 'history SECTION KEY', r)
        r = run('history', 'app')
        check(r.rc == 0 and revs(r.out) == [r5, r3, r2, r1], 'history SECTION', r)
        r = run('history', '--asc')
        check(r.rc == 0 and revs(r.out) == [r1, r2, r3, r4, r5, r6, r7], '--asc: oldest first', r)
        r = run('history', '--actor', 'alice')
        check(r.rc == 0 and revs(r.out) == [r6, r3, r1], '--actor', r)
        r = run('history', '--op', 'delete')
        check(r.rc == 0 and revs(r.out) == [r5], '--op delete', r)
        r = run('history', '--op', 'set', 'app')
        check(r.rc == 0 and revs(r.out) == [r3, r2, r1], '--op set with SECTION', r)
        r = run('history', '--prefix', 'feature')
        check(r.rc == 0 and revs(r.out) == [r7, r6], '--prefix', r)
        r = run('history', '--from-rev', str(r2), '--to-rev', str(r4))
        check(r.rc == 0 and revs(r.out) == [r4, r3, r2], '--from-rev and --to-rev (inclusive)', r)
        r = run('history', '-n', 'nosuchns')
        check(r.rc == 0 and r.out == '' and r.err == '', 'no events: nothing printed, exit 0', r)
        r = run('history', '--limit', '3')
        check(r.rc == 0 and revs(r.out) == [r7, r6, r5] and r.err == '',
              '--limit 3 prints 3 (asked for: no note)', r)
        r = run('history', '--limit', '7')
        check(r.rc == 0 and len(revs(r.out)) == 7 and r.err == '',
              '--limit equal to the count: no note', r)

        # --since/--until: durations, dates and offsets (no timing thresholds: the events are
        # seconds old, so "the last 10 hours" holds all of them and "until 10 hours ago" none).
        r = run('history', '--since', '10h')
        check(r.rc == 0 and len(revs(r.out)) == 7, '--since 10h (a duration)', r)
        r = run('history', '--until', '10h')
        check(r.rc == 0 and r.out == '', '--until 10h: nothing that old', r)
        r = run('history', '--since', '2000-01-01')
        check(r.rc == 0 and len(revs(r.out)) == 7, '--since a date', r)
        r = run('history', '--since', '2999-01-01T00:00:00+02:00')
        check(r.rc == 0 and r.out == '', '--since an RFC 3339 time with an offset (future)', r)
        r = run('history', '--since', '2000-01-01T00:00:00.5+02:00', '--until', '2999-12-31T23:59:59Z')
        check(r.rc == 0 and len(revs(r.out)) == 7, '--since with a +offset is sent encoded', r)

        # -o json: one event per line.
        r = run('history', '-o', 'json')
        events = [json.loads(line) for line in r.out.splitlines()]
        check(r.rc == 0 and len(events) == 7 and
              all(set(e) | {'old_value', 'new_value'} == EVENT_KEYS for e in events) and
              [e['revision'] for e in events] == [r7, r6, r5, r4, r3, r2, r1],
              '-o json: one event object per line, every field', r)
        check(events[2]['op'] == 'delete' and events[2]['old_value'] == 'web' and
              events[2]['actor'] == 'bob', '-o json keeps the server\'s values', events[2])
        r = run('history', 'app', 'port', '--json', '--asc', '--limit', '1')
        check(r.rc == 0 and [json.loads(x)['new_value'] for x in r.out.splitlines()] == [8080],
              '--json --asc --limit 1', r)

        # ---- history: paging past the server's 1000-event pages --------------------------
        bulk = {'s%02d' % s: {'k%03d' % k: k for k in range(110)} for s in range(10)}
        api_write('PUT', '/v1/ns/bulk', bulk)  # 1100 keys: 1100 events in one revision
        r = run('history', '-n', 'bulk', '--limit', '1050', '-o', 'json')
        got = [json.loads(line) for line in r.out.splitlines()]
        check(r.rc == 0 and len(got) == 1050 and
              len({(e['section'], e['key']) for e in got}) == 1050 and r.err == '',
              '--limit 1050 pages through next_cursor: 1050 distinct events', r)
        r = run('history', '-n', 'bulk', '--limit', '0', '-o', 'json')
        got = [json.loads(line) for line in r.out.splitlines()]
        check(r.rc == 0 and len({(e['section'], e['key']) for e in got}) == 1100 and
              len(got) == 1100 and r.err == '', '--limit 0: all 1100 events', r)
        r = run('history', '-n', 'bulk', '--limit', '1100')
        check(r.rc == 0 and len(r.out.splitlines()) == 1101 and r.err == '',
              'table of 1100 events (header + 1100 rows), no note', r)
        r = run('history', '-n', 'bulk')
        check(r.rc == 0 and len(r.out.splitlines()) == 101 and
              r.err == 'confhub: history: showing the newest 100 events; more match (--limit N '
              'for more, --limit 0 for all)\n', 'the default limit is 100, and a note says so', r)
        r = run('history', '-n', 'bulk', '--asc', '-o', 'json')
        check(r.rc == 0 and len(r.out.splitlines()) == 100 and 'the oldest 100 events' in r.err,
              'the note in -o json --asc mode says oldest', r)

        # ---- history on a terminal: the change column is cut to the window ---------------
        long_value = 'x' * 300
        api_write('PUT', '/v1/ns/default/long/text', long_value)
        rc, out = run_pty('history', 'long', cols=80)
        shown = out.splitlines()
        check(rc == 0 and len(shown) == 2 and all(len(line) < 80 for line in shown) and
              shown[1].endswith('...') and long_value not in out,
              'on an 80-column terminal every line fits and the value ends in ...', out)
        r = run('history', 'long')
        check(r.rc == 0 and r.out.splitlines()[1].endswith('(none) -> "%s"' % long_value),
              'piped, the value is not cut', r)

        # ---- get / ls / export at a past revision ---------------------------------------
        r = run('get', 'app', 'port', '--revision', str(r1))
        check(r.rc == 0 and r.out == '8080\n', 'get KEY --revision R', r)
        r = run('get', 'app', 'port', '--revision', str(r2))
        check(r.rc == 0 and r.out == '8081\n', 'get KEY at a later revision', r)
        r = run('get', 'app', '--revision', str(r3))
        check(r.rc == 0 and r.out == 'name = "web"\nport = 8081\n', 'get SECTION --revision R', r)
        r = run('get', 'app', 'port', '--revision', str(r1), '-o', 'json')
        check(r.rc == 0 and r.json() == {'value': 8080, 'revision': r1},
              'get KEY --revision -o json: {"value","revision"}', r)
        r = run('get', 'app', '--revision', str(r3), '-o', 'json')
        check(r.rc == 0 and r.json() == {'name': 'web', 'port': 8081},
              'get SECTION --revision -o json: the section', r)
        r = run('get', 'app', 'name', '--revision', str(r5))
        check(r.rc == 2 and 'not found at revision %d' % r5 in r.err,
              'a key deleted by then: exit 2', r)
        r = run('get', 'app', 'port', '--revision', '999999')
        check(r.rc == 1 and 'does not exist yet' in r.err, 'a future revision: exit 1', r)
        r = run('ls', '--revision', str(r3))
        check(r.rc == 0 and r.out == 'app\n', 'ls --revision', r)
        r = run('ls', '--revision', str(r4), '-o', 'json')
        check(r.rc == 0 and r.json() == ['app', 'db'], 'ls --revision -o json', r)
        r = run('ls', 'app', '--revision', str(r3))
        check(r.rc == 0 and r.out == 'name\nport\n', 'ls SECTION --revision', r)
        r = run('export', '--revision', str(r4))
        check(r.rc == 0 and r.json() == {'app': {'name': 'web', 'port': 8081},
                                         'db': {'url': 'pg://a'}}, 'export --revision', r)

        # ---- diff -------------------------------------------------------------------------
        r = run('diff', str(r1), str(r4))
        want = ['--- default/app (revision %d)' % r1, '+++ default/app (revision %d)' % r4,
                '+name = "web"', '-port = 8080', '+port = 8081',
                '--- default/db (revision %d)' % r1, '+++ default/db (revision %d)' % r4,
                '+url = "pg://a"']
        check(r.rc == 0 and r.out.splitlines() == want and '\x1b' not in r.out,
              'diff R1 R2: git-like, no colour when piped', r)
        r = run('diff', str(r3), str(r5), 'app')
        check(r.rc == 0 and r.out.splitlines()[2:] == ['-name = "web"'], 'diff R1 R2 SECTION', r)
        r = run('diff', str(r1), 'app', 'port')
        check(r.rc == 0 and r.out.splitlines()[2:] == ['-port = 8080', '+port = 8081'],
              'diff R1 SECTION KEY (R2 is now)', r)
        r = run('diff', str(r1), str(r4), '-o', 'json')
        j = r.json() or {}
        check(r.rc == 0 and j.get('from') == r1 and j.get('to') == r4 and
              {'section': 'db', 'key': 'url', 'change': 'added', 'new': 'pg://a'} in j['changes'],
              'diff -o json is the server\'s answer', r)
        r = run('diff', str(r7), str(r7))
        check(r.rc == 0 and r.out == '', 'no differences: nothing printed, exit 0', r)
        r = run('diff', '1', '999999')
        check(r.rc == 1 and 'does not exist yet' in r.err, 'diff to a future revision: exit 1', r)
        rc, out = run_pty('diff', str(r1), str(r4))
        check(rc == 0 and BOLD + '--- default/app (revision %d)' % r1 + RESET in out and
              RED + '-port = 8080' + RESET in out and GREEN + '+port = 8081' + RESET in out and
              GREEN + '+url = "pg://a"' + RESET in out, 'on a terminal: red -, green +, bold headers',
              out)
        rc, out = run_pty('diff', str(r1), str(r4), extra_env={'NO_COLOR': '1'})
        check(rc == 0 and '\x1b' not in out and '-port = 8080' in out, 'NO_COLOR turns colour off',
              out)
        rc, out = run_pty('diff', str(r1), str(r4), '--color', 'never')
        check(rc == 0 and '\x1b' not in out, '--color never on a terminal', out)
        r = run('diff', str(r1), str(r4), '--color=always')
        check(r.rc == 0 and RED + '-port = 8080' + RESET in r.out, '--color=always when piped', r)

        # ---- rollback ---------------------------------------------------------------------
        b1 = api_write('PUT', '/v1/ns/rb/app/port', 1)
        b2 = api_write('PUT', '/v1/ns/rb/app/port', 2)
        api_write('PUT', '/v1/ns/rb/app/debug', True)
        api_write('PUT', '/v1/ns/rb/db/url', 'x')

        def rb_state():
            return run('export', '-n', 'rb').json()

        state = rb_state()
        r = run('rollback', '-n', 'rb', '--to', str(b2), '--dry-run')
        lines = r.out.splitlines()
        check(r.rc == 0 and lines[:2] == ['- app/debug', '- db/url'] and
              re.match(r'^dry run of rollback of rb to revision %d: 0 to add, 0 to change, 2 to '
                       r'remove \(at revision \d+\); nothing was changed$' % b2, lines[2]),
              'rollback --dry-run lists the changes', r)
        r = run('rollback', '-n', 'rb', '--to', str(b1), 'app', 'port', '--dry-run')
        check(r.rc == 0 and r.out.splitlines()[0] == '~ app/port: 2 -> 1',
              'rollback SECTION KEY --dry-run', r)
        r = run('rollback', '-n', 'rb', '--to', str(b2), '--dry-run', '-o', 'json')
        j = r.json() or {}
        check(r.rc == 0 and j.get('dry_run') is True and
              sorted(x['section'] for x in j.get('removed', [])) == ['app', 'db'],
              'rollback --dry-run -o json', r)
        check(rb_state() == state, 'dry runs changed nothing')

        r = run('rollback', '-n', 'rb', '--to', str(b2))
        check(r.rc == 1 and 'not confirmed' in r.err and '--yes' in r.err and r.out == '',
              'without --yes and without a terminal: refused, exit 1', r)
        check(rb_state() == state, 'the refused rollback changed nothing')

        rc, out = run_pty('rollback', '-n', 'rb', '--to', str(b2), answer='n')
        check(rc == 1 and '- app/debug' in out and
              'Roll back rb to revision %d (0 to add, 0 to change, 2 to remove)? [y/N]' % b2 in out
              and 'not confirmed; nothing was changed' in out,
              'on a terminal: the changes, the question, and "n" declines (exit 1)', out)
        check(rb_state() == state, 'the declined rollback changed nothing')

        def write_meanwhile():
            api_write('PUT', '/v1/ns/rb/db/url', 'y')

        rc, out = run_pty('rollback', '-n', 'rb', '--to', str(b2), answer='y',
                          before_answer=write_meanwhile)
        check(rc == 3 and 'no longer the ones to make' in out,
              'a write while asking: nothing is done, exit 3', out)
        state = rb_state()
        check(state['db']['url'] == 'y' and state['app']['debug'] is True,
              'the conflicting rollback changed nothing', state)

        rc, out = run_pty('rollback', '-n', 'rb', '--to', str(b2), answer='y')
        check(rc == 0 and re.search(r'rolled back rb to revision %d: 0 added, 0 changed, 2 removed '
                                    r'\(revision \d+\)' % b2, out),
              'on a terminal, "y" rolls back', out)
        check(rb_state() == {'app': {'port': 2}}, 'the namespace is as it was at that revision',
              rb_state())
        rc, out = run_pty('rollback', '-n', 'rb', '--to', str(b2), answer='y')
        check(rc == 0 and 'nothing to roll back: rb already matches revision %d' % b2 in out and
              '[y/N]' not in out, 'nothing to do: no question asked', out)

        r = run('rollback', '-n', 'rb', '--to', str(b1), 'app', 'port', '--yes')
        check(r.rc == 0 and re.match(r'^rolled back rb/app/port to revision %d: 0 added, 1 changed, '
                                     r'0 removed \(revision \d+\)\n$' % b1, r.out),
              'rollback --yes SECTION KEY without a terminal', r)
        check(run('get', '-n', 'rb', 'app', 'port').out == '1\n', 'the key has its old value')
        r = run('rollback', '-n', 'rb', '--to', str(b1), 'app', 'port', '-y')
        check(r.rc == 0 and r.out.startswith('nothing to roll back: rb/app/port already matches'),
              'rollback -y when already there', r)
        r = run('rollback', '-n', 'rb', '--to', str(b2), '--yes', '-o', 'json')
        j = r.json() or {}
        check(r.rc == 0 and j.get('changed') is True and j.get('changed_keys') == 1 and
              isinstance(j.get('revision'), int), 'rollback --yes -o json: the server\'s answer', r)
        r = run('history', '-n', 'rb', '--limit', '1', '-o', 'json')
        check(r.rc == 0 and json.loads(r.out)['new_value'] == 2,
              'the rollback is itself in the history', r)
        r = run('rollback', '-n', 'rb', '--to', '999999', '--yes')
        check(r.rc == 1 and 'does not exist yet' in r.err, 'rollback to a future revision: exit 1', r)

        # ---- cannot reach the server ------------------------------------------------------
        r = run('history', '--server', 'http://127.0.0.1:%d' % chtest.free_port())
        check(r.rc == 4 and r.err.startswith('confhub: cannot reach '), 'unreachable: exit 4', r)
    finally:
        code = srv.stop()
        check(code == 0, 'the server stopped cleanly', srv.read_log() if code else None)
        srv.cleanup()

    # ---- compacted revisions (exit 5) ------------------------------------------------------
    with chtest.Server(args=['--history-keep-revisions', '2']) as small:
        env['CONFHUB_URL'] = small.url
        for i in range(6):
            status, _, _ = small.json('PUT', '/v1/ns/default/app/port', body=str(i))
        oldest = None
        deadline = time.time() + 60
        while time.time() < deadline:
            status, _, answer = small.json('GET', '/v1/ns/default/app/port?revision=1')
            if status == 410:
                oldest = answer['error']['oldest_revision']
                break
            time.sleep(0.1)
        check(oldest is not None and oldest > 1, 'the server compacted revision 1', oldest)
        for args in [('get', 'app', 'port', '--revision', '1'), ('diff', '1'),
                     ('history', '--from-rev', '1'), ('rollback', '--to', '1', '--yes'),
                     ('rollback', '--to', '1', '--dry-run'), ('export', '--revision', '1'),
                     ('ls', '--revision', '1')]:
            r = run(*args)
            check(r.rc == 5 and 'compacted' in r.err and 'revision %s' % oldest in r.err,
                  '%s: exit 5 naming the oldest revision kept' % ' '.join(args), r)
        r = run('get', 'app', 'port', '--revision', str(oldest))
        check(r.rc == 0, 'the oldest revision kept can still be read', r)
    tap.done()


if __name__ == '__main__':
    main()
