#!/bin/sh
# toml-test (TOML 1.0.0: 210 decoder, 210 encoder and 499 invalid-input checks) against
# `confhub debug toml-decode` and `confhub debug toml-encode`, printed as TAP: one `not ok`
# line per failing case, then one summary line. The suite is read in place from
# ../shared/conformance next to the repository (docs/formats.md); it is never copied here.
#   CONFHUB_BIN=build/asan/confhub tests/conformance/toml.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CONFHUB_BIN:-$ROOT/build/asan/confhub}
SUITE=$ROOT/../shared/conformance
PY=/usr/bin/python3

if [ ! -f "$SUITE/harness/toml_suite.py" ]; then
    echo "not ok - toml-test: ../shared/conformance not found"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "not ok - toml-test: $BIN is not built"
    exit 1
fi
out=$(mktemp) || exit 1
"$PY" "$SUITE/harness/toml_suite.py" --version 1.0.0 \
    --decoder "'$BIN' debug toml-decode" --encoder "'$BIN' debug toml-encode" >"$out" 2>&1
rc=$?
# "FAIL name: why" -> "not ok - toml-test name: why"; the per-kind counts become diagnostics.
sed -n -e 's/^FAIL /not ok - toml-test /p' -e 's/^# /#   /p' "$out"
summary=$(tail -n 1 "$out")
rm -f "$out"
if [ "$rc" -eq 0 ]; then
    echo "ok - toml-test 1.0.0: $summary"
else
    echo "not ok - toml-test 1.0.0: $summary (harness exit $rc)"
fi
exit "$rc"
