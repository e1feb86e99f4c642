#!/bin/bash
# test_fuzz.sh — the libFuzzer targets (tests/fuzz) through 'netcore fuzz': the regression
# inputs in tests/fuzz/regress/ replay without a crash, then the targets fuzz the stack.
# Under CI (CI=true): 60 s of fuzzing in all, and a missing clang or libFuzzer is a failure.
# Elsewhere: a 10 s smoke run, skipped (77) without clang and libFuzzer.
# NETCORE_FUZZ_SECONDS overrides the time.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ci=0
[ "${CI:-}" = true ] && ci=1
secs=${NETCORE_FUZZ_SECONDS:-$([ "$ci" -eq 1 ] && echo 60 || echo 10)}

if ! command -v clang >/dev/null || ! "$top/netcore" fuzz --probe 2>/dev/null; then
    if [ "$ci" -eq 1 ]; then
        echo "FAIL: clang with libFuzzer is needed under CI (./netcore deps installs it)"
        exit 1
    fi
    echo "SKIP: no clang with libFuzzer (./netcore deps installs it)"
    exit 77
fi

# The build goes next to the other build products (the build tree under make check).
export NETCORE_FUZZ_DIR=${NC_TOP:-$top}/build-fuzz
"$top/netcore" fuzz "$secs" || { echo "FAIL: netcore fuzz $secs"; exit 1; }
echo "ok: regression inputs and $secs s of fuzzing without a crash"
