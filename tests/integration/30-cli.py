#!/usr/bin/python3
"""30-cli.py: the confhub command-line client end to end against a real server.

Runs the CLI binary ($CONFHUB_BIN, default build/asan/confhub) as a user would, against a server
started by tests/lib/chtest.py (chtest.Server), and checks stdout, stderr and exit codes as
docs/cli.md states them. Prints TAP.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import chtest  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.environ.get('CONFHUB_BIN') or os.path.join(ROOT, 'build', 'asan', 'confhub')


Result = chtest.CliResult
closed_port = chtest.free_port  # a port nothing listens on once it is closed


def main():
    tap = chtest.Tap()
    ok = tap.ok
    with tempfile.TemporaryDirectory(prefix='confhub-cli-') as tmp:
        srv = chtest.Server(data_dir=tmp).start()
        env = chtest.sanitizer_env()
        env['CONFHUB_URL'] = srv.url

        def run(*args, stdin=b''):
            proc = subprocess.run([BIN] + list(args), input=stdin, capture_output=True,
                                  env=env, timeout=60)
            r = Result(proc)
            # Every line on stderr follows "confhub: what: why"; sanitizer reports would not.
            if r.err and 'usage:' not in r.err and not r.err.startswith('confhub: '):
                ok(False, 'stderr of %r is a confhub message' % (args,), r.err)
            return r

        def check(cond, desc, r=None):
            ok(cond, desc, r)

        try:
            # Help, version and usage errors (no server needed, exit 0 or 1).
            r = run('--help')
            check(r.rc == 0 and 'serve     run the server' in r.out and
                  'migrate   show or apply database migrations' in r.out and
                  'Exit codes' in r.out, '--help lists commands, serve, migrate, exit codes', r)
            r = run('help', 'put')
            check(r.rc == 0 and 'usage: confhub put SECTION KEY VALUE' in r.out, 'help put', r)
            r = run('del', '--help')
            check(r.rc == 0 and 'usage: confhub del SECTION [KEY]' in r.out, 'del --help', r)
            r = run('version')
            check(r.rc == 0 and r.out == 'confhub 0.1.0\n', 'version prints confhub 0.1.0', r)
            r = run('frobnicate')
            check(r.rc == 1 and "see 'confhub --help'" in r.err, 'unknown command exits 1', r)
            r = run('get', 'app', 'port', '--bogus')
            check(r.rc == 1 and "unknown option '--bogus'" in r.err, 'unknown option exits 1', r)
            r = run('get')
            check(r.rc == 1 and 'usage: confhub get' in r.err, 'missing argument exits 1', r)
            r = run('put', 'app', 'port')
            check(r.rc == 1, 'put without VALUE exits 1', r)
            r = run('ls', '-o', 'yaml')
            check(r.rc == 1, '-o yaml is rejected', r)
            r = run('get', 'a/b', 'c')
            check(r.rc == 1 and r.err.startswith('confhub: get a/b/c: section name'),
                  "a name with '/' is a usage error", r)
            r = run('get', 'app', 'port', '--if-match', '3')
            check(r.rc == 1, '--if-match on get is a usage error', r)
            r = run('put', 'app', 'port', '1', '--if-match', 'abc')
            check(r.rc == 1, '--if-match wants a number', r)

            # put: JSON number, created then updated then unchanged.
            r = run('put', 'app', 'port', '8080')
            check(r.rc == 0 and r.out.startswith('created app/port (revision '), 'put creates', r)
            r = run('get', 'app', 'port')
            check(r.rc == 0 and r.out == '8080\n', 'get prints a number as JSON', r)
            r = run('get', 'app', 'port', '-o', 'json')
            check(r.rc == 0 and r.json().get('value') == 8080 and
                  isinstance(r.json().get('mod_revision'), int) and
                  r.json().get('version') == 1, 'get -o json gives value and revisions', r)
            r = run('put', 'app', 'port', '8081')
            check(r.rc == 0 and r.out.startswith('updated app/port (revision '), 'put updates', r)
            r = run('put', 'app', 'port', '8081')
            check(r.rc == 0 and r.out.startswith('unchanged app/port'), 'same put: unchanged', r)

            # put: JSON object, plain string fallback, --string, stdin, negative numbers, reals.
            r = run('put', 'app', 'limits', '{"cpu": 2, "mem": "1Gi", "tags": ["a", "b"]}')
            check(r.rc == 0, 'put a JSON object', r)
            r = run('get', 'app', 'limits', '--json')
            check(r.rc == 0 and r.json()['value'] == {'cpu': 2, 'mem': '1Gi', 'tags': ['a', 'b']},
                  'the object round-trips (--json shorthand)', r)
            r = run('get', 'app', 'limits')
            check(r.rc == 0 and json.loads(r.out) == {'cpu': 2, 'mem': '1Gi', 'tags': ['a', 'b']}
                  and '\n  "cpu": 2' in r.out, 'text get pretty-prints an object', r)
            r = run('put', 'app', 'name', 'my service')
            check(r.rc == 0, 'put a plain string', r)
            r = run('get', 'app', 'name')
            check(r.rc == 0 and r.out == 'my service\n', 'a string prints raw', r)
            r = run('get', 'app', 'name', '-o', 'json')
            check(r.rc == 0 and r.json()['value'] == 'my service', 'it is stored as a string', r)
            r = run('put', '--string', 'app', 'version', '1.10')
            check(r.rc == 0, 'put --string', r)
            r = run('get', 'app', 'version', '-o', 'json')
            check(r.rc == 0 and r.json()['value'] == '1.10', '--string keeps "1.10" a string', r)
            r = run('put', 'app', 'ratio', '0.1')
            r = run('get', 'app', 'ratio')
            check(r.rc == 0 and r.out == '0.1\n', 'a real prints in its short form', r)
            r = run('put', 'app', 'offset', '-5')
            r2 = run('put', 'app', 'offset2', '--', '-6')
            check(r.rc == 0 and r2.rc == 0 and run('get', 'app', 'offset').out == '-5\n' and
                  run('get', 'app', 'offset2').out == '-6\n', 'negative numbers as VALUE', r)
            r = run('put', 'app', 'motd', '-', stdin=b'hello\nworld\n')
            check(r.rc == 0 and run('get', 'app', 'motd', '--json').json()['value'] ==
                  'hello\nworld', "VALUE '-' reads a string from stdin (one newline dropped)", r)
            r = run('put', 'app', 'cfg', '-', stdin=b'{"a": [1, 2]}\n')
            check(r.rc == 0 and run('get', 'app', 'cfg', '--json').json()['value'] ==
                  {'a': [1, 2]}, "VALUE '-' reads JSON from stdin", r)

            # get SECTION and ls.
            r = run('get', 'app')
            want = ['cfg = {"a":[1,2]}', 'limits = {"cpu":2,"mem":"1Gi","tags":["a","b"]}',
                    'motd = "hello\\nworld"', 'name = "my service"', 'offset = -5',
                    'offset2 = -6', 'port = 8081', 'ratio = 0.1', 'version = "1.10"']
            check(r.rc == 0 and r.out.splitlines() == want, 'get SECTION prints sorted lines', r)
            r = run('get', 'app', '-o', 'json')
            check(r.rc == 0 and r.json().get('port') == 8081, 'get SECTION -o json', r)
            run('put', 'db', 'url', 'postgres://db/app')
            r = run('ls')
            check(r.rc == 0 and r.out.splitlines() == ['app', 'db'], 'ls lists sections', r)
            r = run('ls', 'app')
            check(r.rc == 0 and r.out.splitlines() == [w.split(' = ')[0] for w in want],
                  'ls SECTION lists keys', r)
            r = run('ls', 'db', '-o', 'json')
            check(r.rc == 0 and r.json() == ['url'], 'ls -o json prints an array', r)

            # A section that holds a list (stored under "@"), written through the API.
            status, _, _ = srv.request('PUT', '/v1/ns/default/hosts', body='["a", "b"]')
            r = run('get', 'hosts')
            check(status in (200, 201) and r.rc == 0 and r.out == '[\n  "a",\n  "b"\n]\n',
                  'get of a list section prints the list', r)
            r = run('ls', 'hosts')
            check(r.rc == 0 and r.out == '', 'ls of a list section lists nothing', r)
            run('del', 'hosts')

            # Not found (exit 2).
            r = run('get', 'app', 'nosuchkey')
            check(r.rc == 2 and r.err.startswith('confhub: get app/nosuchkey: '),
                  'missing key exits 2', r)
            r = run('get', 'nosuchsection')
            check(r.rc == 2, 'missing section exits 2', r)
            r = run('del', 'app', 'nosuchkey')
            check(r.rc == 2, 'del of a missing key exits 2', r)

            # --if-match (exit 3 on mismatch).
            mod = run('get', 'app', 'port', '-o', 'json').json()['mod_revision']
            r = run('put', 'app', 'port', '9000', '--if-match', str(mod + 1000))
            check(r.rc == 3 and 'mod_revision %d' % mod in r.err,
                  '--if-match mismatch exits 3 and names the current revision', r)
            check(run('get', 'app', 'port').out == '8081\n', 'the failed put changed nothing')
            r = run('put', 'app', 'port', '9000', '--if-match', str(mod))
            check(r.rc == 0 and run('get', 'app', 'port').out == '9000\n',
                  '--if-match with the right revision writes', r)
            mod = run('get', 'app', 'port', '-o', 'json').json()['mod_revision']
            r = run('del', 'app', 'port', '--if-match', str(mod + 1))
            check(r.rc == 3, 'del --if-match mismatch exits 3', r)

            # put -o json, del.
            r = run('put', 'app', 'port', '1', '-o', 'json')
            check(r.rc == 0 and isinstance(r.json().get('revision'), int) and
                  r.json().get('changed') is True, 'put -o json prints the answer', r)
            r = run('del', 'app', 'port')
            check(r.rc == 0 and r.out.startswith('deleted app/port (revision '), 'del a key', r)
            check(run('get', 'app', 'port').rc == 2, 'the deleted key is gone')
            r = run('del', 'db', '-o', 'json')
            check(r.rc == 0 and isinstance(r.json().get('revision'), int), 'del a section', r)
            check(run('ls').out.splitlines() == ['app'], 'the deleted section is gone')

            # Namespaces with -n, options anywhere.
            r = run('-n', 'staging', 'put', 'db', 'url', 'x')
            check(r.rc == 0, '-n before the command', r)
            r = run('get', 'db', 'url', '--namespace', 'staging')
            check(r.rc == 0 and r.out == 'x\n', '--namespace after the arguments', r)
            r = run('get', 'db', 'url', '--namespace=staging')
            check(r.rc == 0 and r.out == 'x\n', '--namespace=NS form', r)
            check(run('get', 'db', 'url').rc == 2, 'other namespaces do not see it')
            check(run('ls', '-n', 'staging').out == 'db\n', 'ls -n staging')

            # Names with spaces, dots and UTF-8.
            for sec, key, val in [('my section', 'my key', 'v1'),
                                  ('k8s', 'app.kubernetes.io', 'v2'),
                                  ('配置', '键', '值')]:
                r = run('put', sec, key, val)
                r2 = run('get', sec, key)
                check(r.rc == 0 and r.out.startswith('created %s/%s' % (sec, key)) and
                      r2.rc == 0 and r2.out == val + '\n', 'name %r/%r round-trips' % (sec, key),
                      r if r.rc else r2)
                r = run('ls', sec)
                check(r.rc == 0 and r.out == key + '\n', 'ls %r shows %r' % (sec, key), r)
            r = run('ls')
            check(r.rc == 0 and set(r.out.splitlines()) >= {'my section', 'k8s', '配置'},
                  'ls shows the unusual section names', r)

            # A request the server rejects as too large (413) is exit 1.
            with chtest.Server(args=['--max-body-bytes', '1024']) as small:
                r = run('put', 'app', 'big', 'x' * 4096, '--server', small.url)
            check(r.rc == 1 and r.err.startswith('confhub: put app/big: '),
                  'a body over the server limit (413) exits 1', r)

            # Cannot reach the server (exit 4).
            r = run('get', 'app', 'name', '--server', 'http://127.0.0.1:%d' % closed_port())
            check(r.rc == 4 and r.err.startswith('confhub: cannot reach http://127.0.0.1:'),
                  'an unreachable server exits 4', r)
            env_bad = dict(env, CONFHUB_URL='http://127.0.0.1:%d' % closed_port())
            proc = subprocess.run([BIN, 'ls'], capture_output=True, env=env_bad, timeout=60)
            check(proc.returncode == 4, 'CONFHUB_URL is honoured')
        finally:
            code = srv.stop()
            ok(code == 0, 'the server stopped cleanly', srv.read_log() if code else None)
    tap.done()


if __name__ == '__main__':
    main()
