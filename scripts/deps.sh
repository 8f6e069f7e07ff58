#!/bin/sh
# The one place that installs Debian packages (idempotent).
#   scripts/deps.sh [build|test|bench]...   (default: build)
# It runs `apt-get update` once, and only when a package is missing.
set -eu

BUILD_PKGS="gcc make pkg-config libh2o-evloop-dev libssl-dev zlib1g-dev libjansson-dev
libsqlite3-dev libcurl4-openssl-dev libfyaml-dev libjemalloc-dev"
TEST_PKGS="libcmocka-dev python3 python3-websockets curl clang-format clang-14 libclang-rt-14-dev
chromium"
BENCH_PKGS="wrk nginx-light etcd-server python3-yaml sqlite3 liburing-dev"

want=""
[ $# -eq 0 ] && set -- build
for set_name in "$@"; do
    case "$set_name" in
    build) want="$want $BUILD_PKGS" ;;
    test) want="$want $BUILD_PKGS $TEST_PKGS" ;;
    bench) want="$want $BUILD_PKGS $BENCH_PKGS" ;;
    *) echo "deps.sh: unknown package set '$set_name' (build, test or bench)" >&2; exit 1 ;;
    esac
done

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
    fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps.sh: installing:$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
