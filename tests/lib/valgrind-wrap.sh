#!/bin/sh
# Test wrapper (LOG_COMPILER for the Check suites): with NETCORE_VALGRIND=1 the suite runs
# under valgrind, following Check's forked test processes, failing on any memory error or a
# definite leak. Without it the suite runs as is.
if [ "${NETCORE_VALGRIND:-0}" = 1 ]; then
    export CK_TIMEOUT_MULTIPLIER=20
    exec valgrind -q --trace-children=yes --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --suppressions="$(dirname "$0")/valgrind.supp" "$@"
fi
exec "$@"
