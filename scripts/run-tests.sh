#!/bin/sh
# Runs every test against one build variant (default build/asan) and prints TAP, then the
# closing line `N passed, N failed`. Exit status is non-zero when anything failed.
#   scripts/run-tests.sh [BUILD_DIR]
set -u
B=${1:-build/asan}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
export CONFHUB_BIN="$ROOT/$B/confhub"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp"
PY=/usr/bin/python3

run_all() {
    for t in "$B"/tests/test_*; do
        [ -x "$t" ] || continue
        echo "# unit: $t"
        if ! CMOCKA_MESSAGE_OUTPUT=TAP "$t"; then
            echo "not ok - $t exited non-zero"
        fi
    done
    for r in "$B"/fuzz/replay_fuzz_*; do
        [ -x "$r" ] || continue
        n=${r##*/replay_}
        if "$r" fuzz/corpus/"$n"/* >/tmp/confhub-replay.$$ 2>&1; then
            echo "ok - fuzz corpus replay: $n ($(ls fuzz/corpus/"$n" | wc -l) inputs)"
        else
            echo "not ok - fuzz corpus replay: $n"
            tail -20 /tmp/confhub-replay.$$ | sed 's/^/#   /'
        fi
        rm -f /tmp/confhub-replay.$$
    done
    if [ -d build/fuzz/fuzz ]; then
        FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz.sh
    fi
    for t in tests/integration/*.py; do
        [ -f "$t" ] || continue
        echo "# integration: $t"
        if ! "$PY" "$t"; then
            echo "not ok - $t exited non-zero"
        fi
    done
    # The release binary allocates with jemalloc (docs/decisions.md, "The allocator"), which
    # the sanitizer build cannot use: a few suites run against it too.
    if [ -x build/confhub ]; then
        for t in 10-api-v1 15-api-txn-patch-import 60-watch-ws 61-watch-sse-poll; do
            echo "# integration, release build: $t"
            CONFHUB_BIN="$ROOT/build/confhub" "$PY" tests/integration/$t.py ||
                echo "not ok - $t (release build) exited non-zero"
        done
    fi
    for t in tests/conformance/*.sh tests/conformance/*.py; do
        [ -f "$t" ] || continue
        echo "# conformance: $t"
        case "$t" in
        *.py) "$PY" "$t" ;;
        *) sh "$t" ;;
        esac || echo "not ok - $t exited non-zero"
    done
    for t in scripts/check-*.sh; do
        [ -x "$t" ] || continue
        if "$t" >/tmp/confhub-check.$$ 2>&1; then
            echo "ok - $t"
        else
            echo "not ok - $t"
            sed 's/^/#   /' /tmp/confhub-check.$$
        fi
        rm -f /tmp/confhub-check.$$
    done
}

run_all 2>&1 | scripts/tap-summary.sh
