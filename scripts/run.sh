#!/bin/sh
# `make run`: starts confhub on 127.0.0.1:8080 with its data in ./data. On an empty store the
# example document (examples/example.json) is loaded into namespace 'default' once.
#   LISTEN=127.0.0.1:9090 DATA=/tmp/confhub scripts/run.sh
set -eu
cd "$(dirname "$0")/.."
LISTEN=${LISTEN:-127.0.0.1:8080}
DATA=${DATA:-./data}
BIN=${CONFHUB_BIN:-build/confhub}
cat <<EOM

  confhub is starting on http://$LISTEN (data in $DATA; Ctrl-C stops it)

  try:  curl -s http://$LISTEN/v1/ns/default/app/port
        $BIN --server http://$LISTEN get app

EOM
exec "$BIN" serve --listen "$LISTEN" --data "$DATA" --seed examples/example.json
