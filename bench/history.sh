#!/usr/bin/env bash
# History benchmark: 1,000,000 history events written through the server, then the latency of
# history queries and past reads (p50/p99 per query shape) and the query plan of each shape.
#   make bench-history          (installs sqlite3 and the bench set, builds the release binary)
#   bench/history.sh            (uses build/confhub, or $CONFHUB_BIN, as it is)
# Environment: SCALE (1.0 = 1M events), REQUESTS per shape (300), MAX_SECONDS per shape (20),
# PORT_HISTORY (18490), DATA (build/bench/history/data), REUSE=1 to keep a store loaded by an
# earlier run with the same SCALE (loading 1M events takes minutes; the store is not changed by
# the queries). Output: the tables on stdout and in build/bench/history/results.txt.
# Method and results: docs/benchmarks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CONFHUB_BIN=${CONFHUB_BIN:-$ROOT/build/confhub}
SCALE=${SCALE:-1.0}
REQUESTS=${REQUESTS:-300}
MAX_SECONDS=${MAX_SECONDS:-20}
PORT=${PORT_HISTORY:-18490}
OUT=$ROOT/build/bench/history
DATA=${DATA:-$OUT/data}
REUSE=${REUSE:-0}
RESULTS=$OUT/results.txt
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

start_server() {
    "$CONFHUB_BIN" serve --listen "127.0.0.1:$PORT" --data "$DATA" --no-access-log \
        --log-level warn >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        if curl -sf "http://127.0.0.1:$PORT/v1/history?limit=1" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "history.sh: the server did not start (log: $OUT/server.log)" >&2
    exit 1
}

command -v sqlite3 >/dev/null || { echo "history.sh: needs sqlite3 (scripts/deps.sh bench)" >&2; exit 1; }
mkdir -p "$OUT"
: >"$OUT/server.log"

if [ "$REUSE" = 1 ] && [ -f "$OUT/shape.json" ] && [ -f "$DATA/confhub.db" ] &&
    grep -Eq "\"scale\": $SCALE(,|$)" "$OUT/shape.json"; then
    echo "history.sh: reusing the store in $DATA (REUSE=1)"
else
    rm -rf "$DATA" "$OUT/shape.json"
    start_server
    bench/history_load.py --port "$PORT" --shape "$OUT/shape.json.tmp" --scale "$SCALE"
    stop_server
    mv "$OUT/shape.json.tmp" "$OUT/shape.json"
fi

DB=$DATA/confhub.db
{
    echo "# confhub history bench, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), $(nproc) cores"
    echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# confhub: $CONFHUB_BIN (tree at $(git rev-parse --short HEAD 2>/dev/null))"
    echo "# store: $(du -sh "$DATA" | cut -f1) in $DATA; $(sqlite3 -readonly "$DB" \
        "SELECT count(*) || ' events, ' FROM history; SELECT count(*) || ' revisions, ' FROM revisions;
         SELECT count(*) || ' current keys, ' FROM kv; SELECT sum(op = 'delete') || ' deletes' FROM history;" | tr -d '\n')"
    echo "# load: $(tr -d '\n ' <"$OUT/shape.json" | grep -o '"load_seconds":{[^}]*}')"
} | tee "$RESULTS"

# Query plans, on the store as the benchmark left it (no ANALYZE has been run on it).
sqlite3 -readonly "$DB" <bench/history_plans.sql >"$OUT/plans.txt"
echo "# query plans: $OUT/plans.txt; lines reading a whole table (should be none):" | tee -a "$RESULTS"
grep -E 'SCAN (h|history|revisions|kv)( |$)' "$OUT/plans.txt" | sed 's/^/#   /' | tee -a "$RESULTS" || true

start_server
bench/history_query.py --port "$PORT" --requests "$REQUESTS" --max-seconds "$MAX_SECONDS" |
    tee -a "$RESULTS"
stop_server
echo "history.sh: wrote $RESULTS"
