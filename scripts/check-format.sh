#!/bin/sh
# Every C file is formatted with the repository's .clang-format (STYLE B11).
set -u
cd "$(dirname "$0")/.."
# shellcheck disable=SC2046
clang-format --dry-run -Werror $(git ls-files '*.c' '*.h') 2>&1 | head -40
exit "$(clang-format --dry-run -Werror $(git ls-files '*.c' '*.h') >/dev/null 2>&1; echo $?)"
