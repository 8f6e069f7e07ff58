#!/usr/bin/python3
"""The README's five-minute tour is a promise: run it, pasted as is, against a real server.

Each command of the tour's first shell block runs in bash (127.0.0.1:8080 replaced by the test
server's address, `confhub` found through PATH as the tour says) and must exit 0; a few
outputs are checked for what the tour claims.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("readme: ")


def complete(cmd):
    """True when cmd is a whole shell command (no open quote, no trailing backslash)."""
    p = subprocess.run(["bash", "-n", "-c", cmd], capture_output=True, text=True)
    return p.returncode == 0 or "unexpected end of file" not in p.stderr and \
        "unexpected EOF" not in p.stderr


def tour_commands():
    text = open(os.path.join(chtest.ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("## Five-minute tour", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    cmds, cur = [], ""
    for line in block.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line + "\n"
        if not line.endswith("\\") and complete(cur):
            cmds.append(cur.strip())
            cur = ""
    return cmds


def main():
    bindir = os.path.dirname(chtest.BIN)
    with chtest.Server(seed=os.path.join(chtest.ROOT, "examples", "example.json")) as srv:
        env = chtest.sanitizer_env()
        env["CONFHUB_URL"] = srv.url
        env["PATH"] = bindir + os.pathsep + env["PATH"]
        outputs = []
        for cmd in tour_commands():
            run = cmd.replace("http://127.0.0.1:8080", srv.url)
            if run.startswith("export PATH="):
                continue  # the tour's PATH points at build/; the test's at the binary under test
            p = subprocess.run(["bash", "-c", run], cwd=chtest.ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
            outputs.append((cmd, p.stdout))
            tap.ok(p.returncode == 0 and "ERROR: AddressSanitizer" not in p.stderr,
                   "tour: %s" % " ".join(cmd.split())[:90], "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        out = dict(outputs)
        tap.eq(out.get("curl -s http://127.0.0.1:8080/v1/ns/default/app/port"), "8080",
               "the first read shows the example's port")
        stale = [o for c, o in outputs if "If-Match: \"1\"" in c]
        tap.ok(stale and '"conflict"' in stale[0], "a stale If-Match is refused with conflict",
               stale)
        cli_stale = [o for c, o in outputs if "--if-match 1" in c]
        tap.ok(cli_stale and "exit code 3" in cli_stale[0], "the CLI exits 3 on a stale --if-match",
               cli_stale)
        txn = [o for c, o in outputs if "confhub txn -" in c]
        tap.ok(txn and txn[0].startswith("succeeded"), "the tour's transaction succeeds", txn)
        yaml_out = [o for c, o in outputs if "export --format yaml" in c]
        tap.ok(yaml_out and yaml_out[0].startswith("app:\n"), "export --format yaml prints YAML",
               yaml_out)
        imp = [o for c, o in outputs if c == "confhub import examples/example.toml -n staging"]
        tap.ok(imp and "24 added" in imp[0], "the TOML example imports all 24 keys", imp)
        past = [o for c, o in outputs if "app/port?revision=1" in c]
        tap.eq(past, ["8080"], "a read at revision 1 shows the seeded port")
        rb = [o for c, o in outputs if "/v1/rollback" in c]
        tap.ok(rb and '"changed_keys":1' in rb[0], "the rollback restores the port", rb)
        _, _, port = srv.json("GET", "/v1/ns/default/app/port")
        tap.eq(port, 8080, "and the port is 8080 again")
    tap.done()


main()
