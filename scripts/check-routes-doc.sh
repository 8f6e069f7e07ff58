#!/bin/sh
# Every route in the table (confhub serve --routes) has a heading in docs/api.md, and every
# route documented there is in the table (STYLE B8).
set -u
cd "$(dirname "$0")/.."
BIN=${CONFHUB_BIN:-build/asan/confhub}
fail=0
table=$("$BIN" serve --routes | awk '{print $1" "$2}')
echo "$table" | while read -r method pattern; do
    grep -q "^### $method $pattern\$" docs/api.md || { echo "route not documented: $method $pattern"; exit 1; }
done || fail=1
grep '^### [A-Z]* /' docs/api.md | sed 's/^### //' | while read -r method pattern; do
    echo "$table" | grep -qx "$method $pattern" || { echo "documented route not in the table: $method $pattern"; exit 1; }
done || fail=1
exit $fail
