#!/usr/bin/env bash
# confhub watch fan-out benchmark: N watchers on one server, one change delivered to all of
# them; commit-to-receipt latency and server RSS per idle watcher (docs/benchmarks.md).
#
#   bench/watch.sh                      (or `make bench-watch`)
#   N=10000 ROUNDS=20 CASES="ws:10000x1 ws:10x1000 sse:10000x1" bench/watch.sh
#
# Each case starts a fresh release server (build/confhub or $CONFHUB_BIN) on a free loopback
# port with a temp data dir, runs build/bench/watch against it, and stops it. CASES is a list
# of TRANSPORT:CONNSxWATCHES_PER_CONN. The open-file limit is raised for the server and the
# load tool (both hold one descriptor per connection), and the server gets --max-connections
# and --max-watches-per-connection above the case's needs (the defaults are 10,000 and 64).
# A benchmark, not a test: it prints figures and never fails on speed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

ROUNDS=${ROUNDS:-20}
CASES=${CASES:-"ws:10000x1 sse:10000x1 ws:10x1000"}
THREADS=${THREADS:-2}
SETTLE_MS=${SETTLE_MS:-2000}
CONFHUB_BIN=${CONFHUB_BIN:-build/confhub}
TOOL=${TOOL:-build/bench/watch}
OUT_DIR=$ROOT/build/bench
RESULTS=$OUT_DIR/watch-results.txt

[ -x "$CONFHUB_BIN" ] || { echo "error: $CONFHUB_BIN not found (run make)" >&2; exit 1; }
[ -x "$TOOL" ] || { echo "error: $TOOL not found (run make -C bench)" >&2; exit 1; }
mkdir -p "$OUT_DIR"

# Both processes need one descriptor per connection, plus a few.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/confhub-wbench.XXXXXX) || exit 1
SERVER_PID=
# SIGTERM, then SIGKILL after 10 s (a server that does not stop is reported).
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "## the server did not stop within 10 s of SIGTERM: killed" | tee -a "$RESULTS"
        kill -9 "$SERVER_PID" 2>/dev/null
        status=1
    fi
    wait "$SERVER_PID" 2>/dev/null
}
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

{
    echo "# bench/watch.sh $(date -u '+%Y-%m-%d %H:%M:%S UTC') tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo '+dirty'), server $CONFHUB_BIN"
    echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nofile $(ulimit -n)"
} | tee "$RESULTS"

status=0
for c in $CASES; do
    transport=${c%%:*}
    shape=${c#*:}
    conns=${shape%x*}
    per=${shape#*x}
    port=$(free_port)
    rm -rf "$TMP/data"
    mkdir -p "$TMP/data"
    cmd=("$CONFHUB_BIN" serve --listen "127.0.0.1:$port" --data "$TMP/data" --threads "$THREADS"
         --no-access-log --max-connections $((conns + 100))
         --max-watches-per-connection "$((per > 64 ? per : 64))")
    "${cmd[@]}" >"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/v1/status" && break
        sleep 0.1
    done
    echo "## case $c: ${cmd[*]}" | sed "s|$TMP|\$T|g" | tee -a "$RESULTS"
    echo "## $TOOL --port $port --pid $SERVER_PID --transport $transport --conns $conns --watches-per-conn $per --rounds $ROUNDS --settle-ms $SETTLE_MS" | tee -a "$RESULTS"
    "$TOOL" --port "$port" --pid "$SERVER_PID" --transport "$transport" --conns "$conns" \
        --watches-per-conn "$per" --rounds "$ROUNDS" --settle-ms "$SETTLE_MS" |
        tee -a "$RESULTS"
    [ "${PIPESTATUS[0]}" -eq 0 ] || { status=1; echo "## case $c FAILED (server log: $(tail -n 3 "$TMP/server.log"))" | tee -a "$RESULTS"; }
    stop_server
    SERVER_PID=
done
echo "# results: $RESULTS"
exit $status
