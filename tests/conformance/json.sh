#!/bin/sh
# json.sh: runs JSONTestSuite (../shared/conformance, harness/json_suite.py) against
# `confhub debug json-validate`: y_ files must be accepted, n_ files refused, i_ files must not
# crash. Prints one TAP line, failures as '#' diagnostics.
#   CONFHUB_BIN=build/asan/confhub sh tests/conformance/json.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CONFHUB_BIN:-$ROOT/build/asan/confhub}
CONF=$ROOT/../shared/conformance
PY=/usr/bin/python3

if [ ! -f "$CONF/harness/json_suite.py" ]; then
    echo "not ok - JSONTestSuite: ../shared/conformance not found"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "not ok - JSONTestSuite: $BIN is not built"
    exit 1
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$PY" "$CONF/harness/json_suite.py" --cmd "$BIN debug json-validate" >"$out" 2>&1
rc=$?
summary=$(tail -n 1 "$out")
if [ "$rc" -eq 0 ]; then
    echo "ok - JSONTestSuite: $summary"
    grep '^# i_' "$out"
    exit 0
fi
echo "not ok - JSONTestSuite: $summary"
grep -v '^# ' "$out" | sed 's/^/# /'
exit 1
