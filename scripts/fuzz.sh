#!/bin/sh
# Runs every libFuzzer target (build/fuzz/fuzz/fuzz_*) for FUZZ_SECONDS each, starting from its
# saved corpus (fuzz/corpus/<target>/, read-only here); new inputs go to build/fuzz/new/<target>/.
# Prints one TAP line per target. To keep a finding: add it to fuzz/corpus/<target>/ (or merge
# with `-merge=1`), fix the bug, and the corpus replay in `make test` keeps it fixed.
set -u
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-10}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
for bin in build/fuzz/fuzz/fuzz_*; do
    case "$bin" in *.o | *.d) continue ;; esac
    [ -x "$bin" ] || continue
    t=${bin##*/}
    mkdir -p "build/fuzz/new/$t"
    dict=""
    [ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
    # shellcheck disable=SC2086
    if "$bin" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        $dict -artifact_prefix="build/fuzz/new/$t/" "build/fuzz/new/$t" "fuzz/corpus/$t" \
        >"build/fuzz/$t.log" 2>&1; then
        echo "ok - fuzz $t: ${SECONDS_EACH}s, $(grep -c . "build/fuzz/$t.log") log lines, no finding"
    else
        echo "not ok - fuzz $t found a failure (build/fuzz/$t.log; input in build/fuzz/new/$t/)"
        grep -E "ERROR|SUMMARY|Test unit written" "build/fuzz/$t.log" | head -5 | sed 's/^/#   /'
    fi
done
