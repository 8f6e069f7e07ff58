#!/bin/sh
# Enforces the dependency direction of STYLE B1.2 with greps:
#   http_* -> service -> model/store -> common; formats/ and common/ never include server
#   modules; store_* never includes HTTP or service headers; cli/ includes only confhub.h,
#   common/ and its own headers.
set -u
cd "$(dirname "$0")/.."
fail=0
bad() {
    echo "layer violation: $1"
    fail=1
}
for f in src/common/*.[ch]; do
    grep -Hn '#include "' "$f" | grep -v '"common/' | grep -v '"confhub.h"' | while read -r l; do
        echo "layer violation: common/ must include only common/ and confhub.h: $l"
    done | grep . && fail=1
done
for f in src/store*.[ch]; do
    grep -Hn '#include "\(http_\|service\|server\)' "$f" && bad "$f includes an HTTP or service header"
done
for f in src/model.[ch] src/service.[ch]; do
    grep -Hn '#include "http_' "$f" && bad "$f includes an HTTP header"
    grep -Hn '#include <h2o' "$f" && bad "$f uses h2o types"
done
for f in src/cli/*.[ch]; do
    grep -Hn '#include "' "$f" | grep -v '"common/' | grep -v '"confhub.h"' | grep -v '"cli/' |
        grep -v '#include "[a-z_]*\.h"' | while read -r l; do
        echo "layer violation: cli/ must include only confhub.h, common/ and cli/: $l"
    done | grep . && fail=1
    grep -Hn '#include "\(http_\|service\|model\|store\|server\|limits\)' "$f" &&
        bad "$f includes a server module"
done
exit $fail
