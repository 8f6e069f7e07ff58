#!/usr/bin/python3
"""31-cli-txn-import-export.py: `confhub txn`, `confhub import` and `confhub export` end to end.

Runs the CLI binary ($CONFHUB_BIN, default build/asan/confhub) against a real server started by
tests/lib/chtest.py and checks stdout, stderr, exit codes and the files written, as docs/cli.md
states them. The server parses YAML and TOML; the test only writes documents and reads the
namespace back through the CLI and the API. Prints TAP.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import chtest  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
# Absolute: the CLI runs with its working directory in the test's scratch directory.
BIN = os.path.abspath(os.environ.get('CONFHUB_BIN') or os.path.join(ROOT, 'build', 'asan', 'confhub'))


Result = chtest.CliResult
closed_port = chtest.free_port  # a port nothing listens on once it is closed


def write(path, text):
    with open(path, 'wb') as f:
        f.write(text.encode() if isinstance(text, str) else text)
    return path


def read(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8', 'replace')


def main():
    tap = chtest.Tap()
    with tempfile.TemporaryDirectory(prefix='confhub-cli31-') as tmp:
        data = os.path.join(tmp, 'data')
        files = os.path.join(tmp, 'files')
        os.mkdir(data)
        os.mkdir(files)
        srv = chtest.Server(data_dir=data).start()
        env = chtest.sanitizer_env()
        env['CONFHUB_URL'] = srv.url

        def run(*args, stdin=b''):
            proc = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, env=env,
                                  timeout=120, cwd=files)
            r = Result(proc)
            # Every stderr line is "confhub: what: why" (or usage text); a sanitizer report
            # would not be.
            for line in r.err.splitlines():
                if not (line.startswith('confhub: ') or line.startswith('usage: ')):
                    tap.ok(False, 'stderr of %r is confhub messages' % (args,), r.err)
                    break
            return r

        def check(cond, desc, r=None):
            tap.ok(cond, desc, r)

        def f(name, text=None):
            path = os.path.join(files, name)
            if text is not None:
                write(path, text)
            return path

        def get_json(ns, section, key):
            r = run('get', section, key, '-n', ns, '-o', 'json')
            return r.json().get('value') if r.rc == 0 and r.json() else ('<rc %d>' % r.rc)

        def mod_rev(section, key, ns='default'):
            return run('get', section, key, '-n', ns, '-o', 'json').json()['mod_revision']

        try:
            # ---- help and usage errors (no server needed) -------------------------------
            for cmd, usage in [('txn', 'usage: confhub txn FILE|-'),
                               ('import', 'usage: confhub import FILE|-'),
                               ('export', 'usage: confhub export [-o FILE]')]:
                r = run('help', cmd)
                check(r.rc == 0 and r.out.startswith(usage) and 'Examples:' in r.out,
                      'help %s shows the synopsis and examples' % cmd, r)
            r = run('--help')
            check(r.rc == 0 and all(c in r.out for c in ('  txn ', '  import ', '  export ')),
                  '--help lists txn, import and export', r)
            r = run('import', '-')
            check(r.rc == 1 and 'needs --format' in r.err, 'import from stdin needs --format', r)
            r = run('import', f('notes.txt', 'a: 1\n'))
            check(r.rc == 1 and 'use --format' in r.err, 'an unknown extension needs --format', r)
            r = run('import', 'missing.yaml')
            check(r.rc == 1 and "cannot read 'missing.yaml'" in r.err,
                  'a missing FILE is a usage error (exit 1)', r)
            r = run('import', 'a.yaml', '--format', 'xml')
            check(r.rc == 1, '--format xml is refused', r)
            r = run('export', '-o', 'json')
            check(r.rc == 1 and '--format' in r.err and not os.path.exists(f('json')),
                  "'export -o json' is refused with a hint, not a file named json", r)
            r = run('export', '-o', 'out.txt')
            check(r.rc == 1 and 'use --format' in r.err and not os.path.exists(f('out.txt')),
                  'export -o FILE with an unknown extension needs --format', r)
            r = run('txn', 'x.json', '-n', 'staging')
            check(r.rc == 1 and '-n/--namespace does not apply to txn' in r.err,
                  '-n does not apply to txn', r)
            r = run('export', '--json')
            check(r.rc == 1 and 'does not apply to export' in r.err, '--json on export', r)
            for opt in ('--merge', '--dry-run', '--pretty', '--format=json'):
                r = run('get', 'app', 'port', opt)
                check(r.rc == 1 and 'does not apply to get' in r.err, '%s on get' % opt, r)
            r = run('txn', f('bad.json', '{"then": [\n  {"op": "put",, }\n]}\n'))
            check(r.rc == 1 and r.err.startswith('confhub: txn %s:2:' % f('bad.json')),
                  'txn of a file that is not JSON names FILE:LINE:COL', r)
            r = run('txn', '-', stdin=b'[1, 2]')
            check(r.rc == 1 and 'a transaction is a JSON object' in r.err,
                  'txn of a JSON array is refused locally', r)

            # ---- txn ---------------------------------------------------------------------
            check(run('put', 'app', 'port', '8080').rc == 0, 'seed app/port')
            rev = mod_rev('app', 'port')
            cas = {'if': [{'section': 'app', 'key': 'port', 'mod_revision': rev}],
                   'then': [{'op': 'put', 'section': 'app', 'key': 'port', 'value': 8081},
                            {'op': 'put', 'ns': 'staging', 'section': 'db', 'key': 'url',
                             'value': 'postgres://db/app'}],
                   'else': [{'op': 'put', 'section': 'app', 'key': 'lost', 'value': True}]}
            f('cas.json', json.dumps(cas, indent=2))
            r = run('txn', 'cas.json')
            lines = r.out.splitlines()
            check(r.rc == 0 and lines and lines[0].startswith('succeeded (revision ') and
                  'put default/app/port: changed' in lines and
                  'put staging/db/url: changed' in lines and r.err == '',
                  'txn: conditions hold, then runs (exit 0, one line per result)', r)
            check(get_json('default', 'app', 'port') == 8081 and
                  get_json('staging', 'db', 'url') == 'postgres://db/app',
                  'the then branch wrote both namespaces')
            r = run('txn', 'cas.json')
            lines = r.out.splitlines()
            check(r.rc == 3 and lines and lines[0].startswith('conditions failed (revision ') and
                  'put default/app/lost: changed' in lines and r.err == '',
                  'txn: a stale mod_revision runs else, exit 3, nothing on stderr', r)
            check(get_json('default', 'app', 'port') == 8081 and
                  get_json('default', 'app', 'lost') is True,
                  'the else branch ran and the then branch did not')
            r = run('txn', 'cas.json', '-o', 'json')
            ans = r.json() or {}
            check(r.rc == 3 and ans.get('succeeded') is False and
                  isinstance(ans.get('revision'), int) and isinstance(ans.get('results'), list),
                  'txn -o json prints the server answer (still exit 3)', r)

            # Conditions on value, version and exists; ops on sections and namespaces; stdin.
            txn = {'if': [{'section': 'app', 'key': 'port', 'value': 8081},
                          {'section': 'app', 'key': 'nope', 'exists': False},
                          {'section': 'app', 'key': 'port', 'version': 1, 'op': '>'},
                          {'ns': 'staging', 'section': 'db', 'key': 'url',
                           'value': 'x', 'op': '!='}],
                   'then': [{'op': 'put_section', 'section': 'limits',
                             'value': {'cpu': 2, 'mem': '1Gi'}},
                            {'op': 'delete', 'section': 'app', 'key': 'lost'},
                            {'op': 'put_namespace', 'ns': 'scratch',
                             'value': {'s': {'k': 1}}},
                            {'op': 'delete_section', 'ns': 'staging', 'section': 'db'}]}
            r = run('txn', '-', stdin=json.dumps(txn).encode())
            check(r.rc == 0 and r.out.startswith('succeeded') and
                  len(r.out.splitlines()) == 5, 'txn - reads stdin; value/exists/version conds', r)
            r = run('get', 'limits', '-o', 'json')
            check(r.rc == 0 and r.json() == {'cpu': 2, 'mem': '1Gi'}, 'put_section wrote', r)
            check(run('get', 'app', 'lost').rc == 2, 'delete removed app/lost')
            check(get_json('scratch', 's', 'k') == 1, 'put_namespace wrote namespace scratch')
            check(run('get', 'db', 'url', '-n', 'staging').rc == 2, 'delete_section removed it')
            r = run('txn', '-', stdin=b'{"then":[{"op":"delete_namespace","ns":"scratch"}]}')
            check(r.rc == 0 and run('ls', '-n', 'scratch').rc == 2, 'delete_namespace', r)
            r = run('txn', '-', stdin=b'{"if":[{"section":"app","key":"port","exists":true}]}')
            check(r.rc == 0 and r.out.splitlines()[0].startswith('succeeded'),
                  'a txn with only conditions succeeds and changes nothing', r)
            r = run('txn', '-', stdin=b'{"then":[{"op":"put","section":"app","key":"x","value":1},'
                    b'{"op":"delete","section":"app","key":"nope"}]}')
            check(r.rc == 2 and r.err.startswith('confhub: txn <stdin>: ') and
                  run('get', 'app', 'x').rc == 2,
                  'a delete of a missing key refuses the whole txn (404, exit 2)', r)
            r = run('txn', '-', stdin=b'{"then":[{"op":"frobnicate","section":"a","key":"b"}]}')
            check(r.rc == 1 and r.err.startswith('confhub: txn <stdin>: '),
                  'an invalid txn is a 400: exit 1 with the server message', r)
            r = run('txn', '-', stdin=b'{"if":[{"section":"app","key":"port"}]}')
            check(r.rc == 1, 'a condition without a comparison is a 400', r)
            many = {'then': [{'op': 'put', 'section': 's', 'key': 'k%d' % i, 'value': i}
                             for i in range(200)]}
            # Between the limit and twice it, so the server's JSON 413 answers (docs/decisions.md).
            body = json.dumps(many).encode()
            with chtest.Server(args=['--max-body-bytes', str(len(body) * 2 // 3)]) as small:
                r = run('txn', '-', '--server', small.url, stdin=body)
            check(r.rc == 1 and r.err.startswith('confhub: txn <stdin>: '),
                  'a txn over the server limit (413) exits 1', r)
            with chtest.Server(args=['--max-txn-ops', '5']) as small:
                r = run('txn', '-', '--server', small.url, stdin=body)
                r2 = run('txn', 'cas.json', '--server', small.url)
            check(r.rc == 1 and r.err.startswith('confhub: txn <stdin>: ') and
                  r2.rc != 1, 'too many operations (413, --max-txn-ops) exits 1', r)
            r = run('txn', 'cas.json', '--server', 'http://127.0.0.1:%d' % closed_port())
            check(r.rc == 4 and 'cannot reach' in r.err, 'txn: unreachable server exits 4', r)

            # ---- export ------------------------------------------------------------------
            r = run('export')
            doc = r.json()
            check(r.rc == 0 and isinstance(doc, dict) and doc.get('app', {}).get('port') == 8081
                  and doc.get('limits') == {'cpu': 2, 'mem': '1Gi'},
                  'export prints the namespace as JSON on stdout', r)
            r = run('export', '--pretty')
            check(r.rc == 0 and r.json() == doc and '\n ' in r.out,
                  'export --pretty is indented and equal', r)
            r = run('export', '-o', 'default.json')
            check(r.rc == 0 and r.out.startswith('exported default to default.json (revision ')
                  and json.loads(read(f('default.json'))) == doc,
                  'export -o FILE.json writes the file and says so', r)
            r = run('export', '--format', 'json', '-o', 'cfg.txt')
            check(r.rc == 0 and json.loads(read(f('cfg.txt'))) == doc,
                  '--format names the format of a FILE with another extension', r)
            r = run('export', '-o', '-')
            check(r.rc == 0 and r.json() == doc, "-o - is stdout", r)
            f('keep.json', 'precious\n')
            r = run('export', '-n', 'nosuchns', '-o', 'keep.json')
            check(r.rc == 2 and read(f('keep.json')) == 'precious\n',
                  'a failed export exits 2 and leaves FILE as it was', r)
            r = run('export', '-o', 'keep.json', '--server',
                    'http://127.0.0.1:%d' % closed_port())
            check(r.rc == 4 and read(f('keep.json')) == 'precious\n',
                  'an unreachable server leaves FILE as it was (exit 4)', r)
            r = run('export', '-o', os.path.join('no', 'such', 'dir.json'))
            check(r.rc == 4 and r.err.startswith('confhub: export default: '),
                  'an unwritable FILE exits 4', r)
            check(not [n for n in os.listdir(files) if '.tmp.' in n],
                  'no temporary files are left behind')

            # ---- import (JSON) -----------------------------------------------------------
            f('imp.json', json.dumps({'app': {'port': 9000, 'name': 'web'},
                                      'db': {'url': 'pg://a'}}))
            r = run('import', 'imp.json', '-n', 'imp')
            check(r.rc == 0 and r.out.startswith('imported imp.json into imp: 3 added, 0 changed,'
                                                 ' 0 removed (revision '),
                  'import FILE.json into a new namespace', r)
            check(get_json('imp', 'app', 'port') == 9000 and get_json('imp', 'db', 'url') ==
                  'pg://a', 'the imported keys are there')
            r = run('import', 'imp.json', '-n', 'imp')
            check(r.rc == 0 and ': 0 added, 0 changed, 0 removed' in r.out,
                  'importing the same file again changes nothing', r)

            f('imp2.json', json.dumps({'app': {'port': 9001, 'debug': True}}))
            before = run('export', '-n', 'imp').json()
            r = run('import', 'imp2.json', '-n', 'imp', '--dry-run')
            lines = r.out.splitlines()
            want = ['+ app/debug = true', '- app/name', '~ app/port: 9000 -> 9001', '- db/url']
            check(r.rc == 0 and lines[:-1] == want and
                  lines[-1].startswith('dry run of imp2.json into imp: 1 to add, 1 to change, '
                                       '2 to remove (at revision ') and
                  lines[-1].endswith('); nothing was changed'),
                  'import --dry-run lists + ~ - sorted by target, and a summary', r)
            check(run('export', '-n', 'imp').json() == before, 'the dry run changed nothing')
            r = run('import', 'imp2.json', '-n', 'imp', '--dry-run', '--merge')
            check(r.rc == 0 and r.out.splitlines()[:-1] == want[0:1] + want[2:3],
                  'import --dry-run --merge lists no removals', r)
            r = run('import', 'imp2.json', '-n', 'imp', '--dry-run', '-o', 'json')
            ans = r.json() or {}
            check(r.rc == 0 and ans.get('dry_run') is True and len(ans.get('removed', [])) == 2 and
                  (ans.get('changed') or [{}])[0].get('old') == 9000,
                  'import --dry-run -o json prints the server answer', r)
            r = run('import', 'imp2.json', '-n', 'imp', '--merge')
            check(r.rc == 0 and ': 1 added, 1 changed, 0 removed' in r.out and
                  get_json('imp', 'app', 'name') == 'web' and get_json('imp', 'db', 'url') ==
                  'pg://a' and get_json('imp', 'app', 'port') == 9001,
                  'import --merge adds and changes, removes nothing', r)
            r = run('import', 'imp2.json', '-n', 'imp', '-o', 'json')
            ans = r.json() or {}
            check(r.rc == 0 and ans.get('removed') == 2 and ans.get('added') == 0 and
                  isinstance(ans.get('revision'), int),
                  'import replaces by default (-o json: the server answer)', r)
            check(run('get', 'db', 'url', '-n', 'imp').rc == 2 and
                  run('get', 'app', 'name', '-n', 'imp').rc == 2, 'replace removed the rest')

            r = run('import', 'default.json', '-n', 'copy')
            check(r.rc == 0 and run('export', '-n', 'copy').json() == doc,
                  'export then import round-trips a namespace (JSON)', r)
            r = run('import', '-', '--format', 'json', '-n', 'fromstdin',
                    stdin=b'{"s": {"k": "v"}}')
            check(r.rc == 0 and r.out.startswith('imported <stdin> into fromstdin: 1 added') and
                  get_json('fromstdin', 's', 'k') == 'v', 'import - --format json', r)
            f('cfg.conf', '{"s": {"k": 2}}')
            r = run('import', 'cfg.conf', '--format', 'json', '-n', 'fromstdin')
            check(r.rc == 0 and get_json('fromstdin', 's', 'k') == 2,
                  '--format names the format of a FILE with another extension', r)

            # Parse errors: FILE:LINE:COL with the user's FILE, exit 1, nothing changed.
            f('bad-doc.json', '{\n  "app": {\n    "port": 1,,\n  }\n}\n')
            r = run('import', 'bad-doc.json', '-n', 'imp')
            check(r.rc == 1 and r.err.startswith('confhub: import bad-doc.json:3:') and
                  r.err.split(':')[3].strip().isdigit() and 'request body' not in r.err,
                  'a JSON parse error prints import FILE:LINE:COL: why', r)
            r = run('import', '-', '--format', 'json', '-n', 'imp', stdin=b'{\n "a": {\n  "b": ]\n')
            check(r.rc == 1 and r.err.startswith('confhub: import <stdin>:3:'),
                  'a JSON parse error from stdin names <stdin>:LINE:COL', r)
            check(get_json('imp', 'app', 'port') == 9001, 'failed imports changed nothing')
            r = run('import', '-', '--format', 'json', '-n', 'imp', stdin=b'[1, 2]')
            check(r.rc == 1 and r.err.startswith('confhub: import <stdin>: '),
                  'a document that is not an object is a 400 (exit 1)', r)

            # ---- YAML and TOML: the server parses and writes them -------------------------
            def server_has(fmt):
                """Whether the server reads and writes fmt (the formats land separately)."""
                _, _, body = srv.request('GET', '/v1/ns/default/export?format=' + fmt)
                _, _, body2 = srv.request('PUT', '/v1/ns/probe/import?format=%s&dry_run=true'
                                          % fmt, body='# probe\n')
                return b'not built in' not in body + body2

            for fmt in ('yaml', 'toml'):
                if not server_has(fmt):
                    tap.ok(True, '%s import and export # SKIP the server has no %s yet'
                           % (fmt, fmt))
                    continue
                r = run('export', '-o', 'default.' + fmt)
                text = read(f('default.' + fmt)) if r.rc == 0 else ''
                check(r.rc == 0 and 'port' in text and not text.lstrip().startswith('{'),
                      'export -o FILE.%s writes %s' % (fmt, fmt), r)
                r = run('export', '--format', fmt)
                check(r.rc == 0 and r.out == text, 'export --format %s to stdout' % fmt, r)
                r = run('import', 'default.' + fmt, '-n', 'copy-' + fmt)
                check(r.rc == 0 and run('export', '-n', 'copy-' + fmt).json() == doc,
                      'export then import round-trips a namespace (%s)' % fmt, r)
                r = run('import', 'default.' + fmt, '-n', 'copy-' + fmt, '--dry-run')
                check(r.rc == 0 and r.out.startswith('dry run of default.%s into copy-%s: 0 to add'
                                                     % (fmt, fmt)),
                      'a %s dry run against an equal namespace lists nothing' % fmt, r)
            if server_has('yaml'):
                f('imp.yml', 'app:\n  port: 9000\n  hosts: [a, b]\n')
                r = run('import', 'imp.yml', '-n', 'impyaml')
                check(r.rc == 0 and get_json('impyaml', 'app', 'hosts') == ['a', 'b'],
                      'import FILE.yml', r)
                f('bad.yaml', 'app:\n  port: 1\n  name: [unclosed\n')
                r = run('import', 'bad.yaml', '-n', 'impyaml')
                check(r.rc == 1 and r.err.startswith('confhub: import bad.yaml:') and
                      r.err.split(':')[2].strip().isdigit() and 'request body' not in r.err,
                      'a YAML parse error prints import FILE:LINE:COL: why', r)
                f('cfg.conf', 's:\n  k: 3\n')
                r = run('import', 'cfg.conf', '--format', 'yaml', '-n', 'fromstdin')
                check(r.rc == 0 and get_json('fromstdin', 's', 'k') == 3,
                      '--format yaml for a .conf file', r)
            if server_has('toml'):
                f('t.toml', '[app]\nport = 7000\nhosts = ["a", "b"]\n')
                r = run('import', 't.toml', '-n', 'imptoml')
                check(r.rc == 0 and get_json('imptoml', 'app', 'hosts') == ['a', 'b'],
                      'import FILE.toml', r)
                f('bad.toml', '[app]\nport = = 1\n')
                r = run('import', 'bad.toml', '-n', 'imptoml')
                check(r.rc == 1 and r.err.startswith('confhub: import bad.toml:2:'),
                      'a TOML parse error names line 2', r)

            # A file over 1 MiB: no progress bar without a terminal, and it imports.
            big = {'big': {'k%05d' % i: 'v' * 100 for i in range(12000)}}
            f('big.json', json.dumps(big))
            r = run('import', 'big.json', '-n', 'big')
            check(r.rc == 0 and r.err == '' and ': 12000 added' in r.out,
                  'a 1.3 MiB import works and draws nothing on a non-terminal stderr', r)
            with chtest.Server(args=['--max-body-bytes', '1048576']) as small:
                r = run('import', 'big.json', '--server', small.url)
            check(r.rc == 1 and r.err.startswith('confhub: import big.json: '),
                  'an import over the server limit (413) exits 1', r)
            r = run('import', 'imp.json', '--server', 'http://127.0.0.1:%d' % closed_port())
            check(r.rc == 4 and 'cannot reach' in r.err, 'import: unreachable server exits 4', r)
        finally:
            code = srv.stop()
            tap.ok(code == 0, 'the server stopped cleanly', srv.read_log() if code else None)
    tap.done()


if __name__ == '__main__':
    main()
