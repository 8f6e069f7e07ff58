#!/bin/sh
# ws.sh: runs the RFC 6455 conformance client (../shared/conformance, harness/ws_suite.py,
# built from the Autobahn case catalogue) against the WebSocket echo endpoint that
# `confhub serve --enable-ws-echo` provides at /v1/debug/ws-echo (off by default). The
# default 252 checks, then the 9.* limit cases with max-ws-message-bytes at their largest
# message (16 MiB). Prints one TAP line per run, failures as '#' diagnostics.
#   CONFHUB_BIN=build/asan/confhub sh tests/conformance/ws.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CONFHUB_BIN:-$ROOT/build/asan/confhub}
CONF=$ROOT/../shared/conformance
PY=/usr/bin/python3

if [ ! -f "$CONF/harness/ws_suite.py" ]; then
    echo "not ok - ws_suite: ../shared/conformance not found"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "not ok - ws_suite: $BIN is not built"
    exit 1
fi
dir=$(mktemp -d) || exit 1
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp"
"$BIN" serve --listen "127.0.0.1:$port" --data "$dir" --threads 2 --no-access-log --enable-ws-echo \
    --max-ws-message-bytes 16777216 >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
i=0
until "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
        echo "not ok - ws_suite: the server did not start"
        sed 's/^/# /' "$dir/server.log"
        exit 1
    fi
    sleep 0.1
done
rc=0
run() {
    name=$1
    shift
    "$PY" "$CONF/harness/ws_suite.py" --port "$port" --path /v1/debug/ws-echo "$@" >"$dir/out" 2>&1
    if [ $? -eq 0 ]; then
        echo "ok - ws_suite $name: $(tail -n 1 "$dir/out")"
    else
        echo "not ok - ws_suite $name: $(tail -n 1 "$dir/out")"
        grep '^FAILED' "$dir/out" | sed 's/^/# /'
        rc=1
    fi
}
run "default checks"
run "9.* limits" --cases '9.*' --exclude ''
kill -TERM "$pid"
if ! wait "$pid"; then
    echo "not ok - ws_suite: the server did not stop cleanly"
    tail -30 "$dir/server.log" | sed 's/^/# /'
    rc=1
fi
exit $rc
