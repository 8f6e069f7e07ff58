#!/usr/bin/env bash
# confhub benchmark: one run, side by side, loopback only (BRIEF section 6).
#
#   bench/run.sh                       (or `make bench`)
#   DURATION=6 ROUNDS=2 CONNECTIONS=50 THREADS=2 CONFHUB_BIN=build/confhub bench/run.sh
#
# Peers: confhub (build/confhub or $CONFHUB_BIN), nginx-light serving the same bytes as a static
# file, etcd 3.4 through its JSON gateway, and build/bench/h2o_hello (bare h2o handler). Every
# server gets its own 18xxx port and a temp dir under /tmp; all are stopped on exit. A missing
# peer is reported as "skipped: ..." and its rows and ratios are left out.
#
# The machine has 2 cores shared by the servers and wrk, and other work may run beside it:
# compare the ratios of one run, never absolute figures across runs. This is a benchmark, not a
# test: it never fails on speed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}       # wrk threads, and server threads/workers
CONFHUB_BIN=${CONFHUB_BIN:-build/confhub}
OUT_DIR=$ROOT/build/bench
RESULTS=$OUT_DIR/results.txt

PORT_CONFHUB=${PORT_CONFHUB:-18480}
PORT_NGINX=${PORT_NGINX:-18481}
PORT_H2O=${PORT_H2O:-18482}
PORT_ETCD=${PORT_ETCD:-18479}
PORT_ETCD_PEER=${PORT_ETCD_PEER:-18478}

KEY_PATH=/v1/ns/default/app/version
PUT_PATH=/v1/ns/default/bench/counter
DEFAULT_BODY='"1.2.3"'

note() { printf '%s\n' "$*" >&2; }

# --- packages -----------------------------------------------------------------------------------
if ! scripts/deps.sh bench; then
    note "note: scripts/deps.sh bench failed; running with whatever is installed"
fi
if ! command -v wrk >/dev/null 2>&1; then
    note "error: wrk is not installed (apt-get install wrk); nothing can be measured"
    exit 1
fi
command -v curl >/dev/null 2>&1 || { note "error: curl is needed"; exit 1; }

# --- temp dir and cleanup -------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/confhub-bench.XXXXXX) || exit 1
chmod 755 "$TMP" # nginx workers run as nobody when started by root
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http URL [CURL_ARGS...]: up to 10 s for any HTTP answer.
wait_http() {
    local url=$1 code
    shift
    for _ in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null)
        [ "$code" != "000" ] && return 0
        sleep 0.1
    done
    return 1
}

for p in $PORT_CONFHUB $PORT_NGINX $PORT_H2O $PORT_ETCD $PORT_ETCD_PEER; do
    if port_busy "$p"; then
        note "error: port $p is in use; set PORT_* to free ports"
        exit 1
    fi
done

declare -A HAVE=() # peer -> pid of its server, for peers that started and answered
SKIPPED=()
skip() {
    SKIPPED+=("$1")
    note "skipped: $1"
}

# --- confhub (first: the other peers serve the bytes it returns) --------------------------------
BODY=$DEFAULT_BODY
if [ ! -x "$CONFHUB_BIN" ]; then
    skip "confhub: $CONFHUB_BIN not found (build it with \`make\`, or set CONFHUB_BIN)"
else
    mkdir -p "$TMP/confhub"
    "$CONFHUB_BIN" serve --listen "127.0.0.1:$PORT_CONFHUB" --data "$TMP/confhub" \
        --threads "$THREADS" --no-access-log >"$TMP/confhub.log" 2>&1 &
    PIDS+=($!)
    if ! wait_http "http://127.0.0.1:$PORT_CONFHUB$KEY_PATH"; then
        skip "confhub: did not answer on port $PORT_CONFHUB (log: $(tail -n 3 "$TMP/confhub.log"))"
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
            -d "$DEFAULT_BODY" "http://127.0.0.1:$PORT_CONFHUB$KEY_PATH")
        case $code in
        2??)
            BODY=$(curl -sf "http://127.0.0.1:$PORT_CONFHUB$KEY_PATH")
            if [ -z "$BODY" ]; then
                skip "confhub: GET $KEY_PATH returned no body after the PUT"
                BODY=$DEFAULT_BODY
            else
                HAVE[confhub]=${PIDS[-1]}
            fi
            ;;
        *) skip "confhub: PUT $KEY_PATH answered HTTP $code" ;;
        esac
    fi
fi
printf '%s' "$BODY" >"$TMP/body"
note "read body (${#BODY} bytes): $BODY"

# --- nginx ---------------------------------------------------------------------------------------
if ! command -v nginx >/dev/null 2>&1; then
    skip "nginx not installed"
else
    mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
    cp "$TMP/body" "$TMP/nginx/www/value"
    chmod -R a+rX "$TMP/nginx"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $THREADS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  server { listen 127.0.0.1:$PORT_NGINX; root $TMP/nginx/www;
    location / { default_type application/json; } }
}
EOF
    nginx -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
        >"$TMP/nginx/stdout.log" 2>&1 &
    PIDS+=($!)
    if wait_http "http://127.0.0.1:$PORT_NGINX/value" &&
        [ "$(curl -s "http://127.0.0.1:$PORT_NGINX/value")" = "$BODY" ]; then
        HAVE[nginx]=${PIDS[-1]}
    else
        skip "nginx: did not serve /value on port $PORT_NGINX ($(tail -n 2 "$TMP/nginx/error.log" 2>/dev/null))"
    fi
fi

# --- bare h2o handler ----------------------------------------------------------------------------
if ! make -s -C bench >/dev/null; then
    skip "h2o_hello: build failed (needs libh2o-evloop-dev libssl-dev zlib1g-dev)"
else
    "$OUT_DIR/h2o_hello" "$PORT_H2O" "$BODY" "$THREADS" >"$TMP/h2o_hello.log" 2>&1 &
    PIDS+=($!)
    if wait_http "http://127.0.0.1:$PORT_H2O/value" &&
        [ "$(curl -s "http://127.0.0.1:$PORT_H2O/value")" = "$BODY" ]; then
        HAVE[h2o_hello]=${PIDS[-1]}
    else
        skip "h2o_hello: did not answer on port $PORT_H2O ($(cat "$TMP/h2o_hello.log"))"
    fi
fi

# --- etcd ----------------------------------------------------------------------------------------
ETCD_URL=http://127.0.0.1:$PORT_ETCD
if ! command -v etcd >/dev/null 2>&1; then
    skip "etcd not installed"
else
    etcd --data-dir "$TMP/etcd" \
        --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
        --initial-advertise-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
        --initial-cluster "default=http://127.0.0.1:$PORT_ETCD_PEER" >"$TMP/etcd.log" 2>&1 &
    PIDS+=($!)
    ok=0
    for _ in $(seq 1 100); do
        if curl -sf "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if [ $ok = 1 ] && curl -sf -X POST -H 'Content-Type: application/json' \
        -d '{"key":"YXBwL3ZlcnNpb24=","value":"IjEuMi4zIg=="}' "$ETCD_URL/v3/kv/put" >/dev/null; then
        HAVE[etcd]=${PIDS[-1]}
    else
        skip "etcd: not healthy on port $PORT_ETCD ($(tail -n 2 "$TMP/etcd.log"))"
    fi
fi

# --- measurements --------------------------------------------------------------------------------
# measure PEER TEST ROUND URL [WRK_ARGS...]: one wrk run; appends a row to $TMP/rows.
# Row: peer test round req_per_s p99_ms errors (non-2xx/3xx responses + socket errors).
measure() {
    local peer=$1 test=$2 round=$3 url=$4 out
    shift 4
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" 2>&1)
    printf '### %s %s round %s: wrk -t%s -c%s -d%ss --latency %s %s\n%s\n\n' "$peer" "$test" \
        "$round" "$THREADS" "$CONNECTIONS" "$DURATION" "$*" "$url" "$out" >>"$TMP/wrk.log"
    printf '%s\n' "$out" | awk -v peer="$peer" -v test="$test" -v round="$round" '
        /^Requests\/sec:/ { rps = $2 }
        /^ +99%/ {
            v = $2; unit = v; sub(/^[0-9.]+/, "", unit); n = v + 0
            if (unit == "us") n /= 1000; else if (unit == "s") n *= 1000; else if (unit == "m") n *= 60000
            p99 = sprintf("%.2f", n)
        }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { x = $i; sub(/,/, "", x); err += x }
        }
        END {
            if (rps == "") rps = "-"; if (p99 == "") p99 = "-"
            printf "%-10s %-6s %5s %12s %9s %8d\n", peer, test, round, rps, p99, err
        }' | tee -a "$TMP/rows"
}

mkdir -p "$OUT_DIR"
: >"$TMP/rows"
: >"$TMP/wrk.log"
export CONFHUB_PUT_PATH=$PUT_PATH
START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
note ""
note "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, $ROUNDS rounds"
printf '%-10s %-6s %5s %12s %9s %8s\n' peer test round req/s p99_ms errors
# run PEER TEST ROUND URL [WRK_ARGS...]: measure if the peer is up; a peer whose server has
# exited (crashed) is reported and left out of the rest of the run.
run() {
    local peer=$1 pid=${HAVE[$1]:-} status
    [ -n "$pid" ] || return 0
    measure "$@"
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        status=$?
        unset "HAVE[$peer]"
        skip "$peer: server exited (status $status$([ $status -gt 128 ] && echo ", signal $((status - 128))")) during $2 round $3; rows after that are missing (log: build/bench/$peer.log)"
    fi
}

for round in $(seq 1 "$ROUNDS"); do
    run confhub read "$round" "http://127.0.0.1:$PORT_CONFHUB$KEY_PATH"
    run nginx read "$round" "http://127.0.0.1:$PORT_NGINX/value"
    run h2o_hello read "$round" "http://127.0.0.1:$PORT_H2O/value"
    run etcd read "$round" "$ETCD_URL/v3/kv/range" -s bench/etcd_range.lua
    run confhub write "$round" "http://127.0.0.1:$PORT_CONFHUB" -s bench/put.lua
    run etcd write "$round" "$ETCD_URL" -s bench/etcd_put.lua
done

# The writes must have changed the key (each request carries a new value).
if [ -n "${HAVE[confhub]:-}" ]; then
    note "confhub $PUT_PATH after the write runs: $(curl -s "http://127.0.0.1:$PORT_CONFHUB$PUT_PATH")"
fi

# --- ratios --------------------------------------------------------------------------------------
# ratio NUM_PEER NUM_TEST DEN_PEER DEN_TEST TARGET LABEL: per round, and of the mean over rounds.
ratio() {
    awk -v np="$1" -v nt="$2" -v dp="$3" -v dt="$4" -v target="$5" -v label="$6" '
        $3 + 0 > maxr { maxr = $3 + 0 }
        $4 == "-" { next }
        $6 > 0 { bad[$1 " " $2] = bad[$1 " " $2] " r" $3; next }
        $1 == np && $2 == nt { num[$3] = $4 }
        $1 == dp && $2 == dt { den[$3] = $4 }
        END {
            per = ""; n = 0; ns = 0; ds = 0
            for (r = 1; r <= maxr; r++) {
                if (!(r in num) || !(r in den) || den[r] <= 0) continue
                per = per sprintf(" r%d %.2fx", r, num[r] / den[r]); ns += num[r]; ds += den[r]; n++
            }
            note = ""
            if ((np " " nt) in bad) note = note "; " np " " nt " had errors in" bad[np " " nt]
            if ((dp " " dt) in bad) note = note "; " dp " " dt " had errors in" bad[dp " " dt]
            if (n == 0) {
                printf "%-32s    n/a  (no round with valid %s and %s figures%s)\n", label,
                    np " " nt, dp " " dt, note
                exit
            }
            m = ns / ds
            printf "%-32s %6.2fx  target >= %sx  %-7s (rounds:%s%s)\n", label, m, target,
                (m >= target ? "met" : "NOT met"), per, note
        }' "$TMP/rows"
}

{
    echo ""
    echo "ratios (mean req/s over the rounds where both figures are valid: no errors):"
    ratio confhub read nginx read 1.0 "confhub read / nginx static"
    ratio confhub read etcd read 10 "confhub read / etcd range"
    ratio confhub read h2o_hello read 0.9 "confhub read / h2o_hello"
    ratio confhub write etcd write 3 "confhub write / etcd put"
} | tee "$TMP/ratios"

if [ "${#SKIPPED[@]}" -gt 0 ]; then
    echo ""
    for s in "${SKIPPED[@]}"; do echo "skipped: $s"; done
fi | tee "$TMP/skipped"

{
    echo "# confhub bench, started $START on $(hostname), $(nproc) cores"
    echo "# load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the cores)"
    echo "# wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency; rounds $ROUNDS; read body: $BODY"
    echo "# confhub: $CONFHUB_BIN (tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))"
    printf '%-10s %-6s %5s %12s %9s %8s\n' peer test round req/s p99_ms errors
    cat "$TMP/rows" "$TMP/ratios" "$TMP/skipped"
} >"$RESULTS"
cp "$TMP/wrk.log" "$OUT_DIR/wrk.log"
cp "$TMP/confhub.log" "$OUT_DIR/confhub.log" 2>/dev/null
cp "$TMP/etcd.log" "$OUT_DIR/etcd.log" 2>/dev/null
cp "$TMP/h2o_hello.log" "$OUT_DIR/h2o_hello.log" 2>/dev/null
cp "$TMP/nginx/error.log" "$OUT_DIR/nginx.log" 2>/dev/null
note ""
note "wrote $RESULTS (raw wrk output: $OUT_DIR/wrk.log)"
