#!/bin/sh
# yaml.sh: runs yaml-test-suite (../shared/conformance, harness/yaml_suite.py) against
# `confhub debug yaml-to-json` (load: the JSON stream must equal in.json; invalid YAML must be
# refused) and `confhub debug yaml-roundtrip` (load -> our dump -> load must equal in.json).
# Prints TAP: one line per mode, failures as '#' diagnostics. Skips: yaml-skip.txt.
#   CONFHUB_BIN=build/asan/confhub sh tests/conformance/yaml.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CONFHUB_BIN:-$ROOT/build/asan/confhub}
CONF=$ROOT/../shared/conformance
SKIP=$ROOT/tests/conformance/yaml-skip.txt
PY=/usr/bin/python3

if [ ! -f "$CONF/harness/yaml_suite.py" ]; then
    echo "not ok - yaml-test-suite: ../shared/conformance not found"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "not ok - yaml-test-suite: $BIN is not built"
    exit 1
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$PY" "$CONF/harness/yaml_suite.py" -v --skip-file "$SKIP" \
    --json "$BIN debug yaml-to-json" --dump "$BIN debug yaml-roundtrip" >"$out" 2>&1
rc=$?
skipped=$(tail -n 1 "$out" | sed -n 's/.*, \([0-9]*\) skipped.*/\1/p')
status=0
for mode in json dump; do
    passed=$(grep -c "^ok   $mode " "$out")
    failed=$(grep -c "^FAIL $mode " "$out")
    name="yaml-test-suite"
    [ "$mode" = dump ] && name="yaml-test-suite round trip"
    if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
        echo "ok - $name: $passed passed, ${skipped:-0} skipped"
    else
        echo "not ok - $name: $passed passed, $failed failed, ${skipped:-0} skipped"
        grep "^FAIL $mode " "$out" | sed 's/^/# /'
        status=1
    fi
done
if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
    echo "not ok - yaml-test-suite: harness exited $rc"
    sed 's/^/# /' "$out" | tail -n 20
    status=1
fi
exit $status
