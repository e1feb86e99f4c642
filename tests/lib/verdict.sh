# shellcheck shell=bash
# tests/lib/verdict.sh — for tests that go on after a failed step, so the content checks
# still say what arrived and the other parts still run: flunk records a failure, checked
# ends the test with it. Source after netns.sh.
bad=0

# flunk WHAT...: note a failure and go on.
flunk() {
    echo "FAIL: $*" >&2
    bad=1
}

# checked: fail the test if any step failed.
checked() {
    [ "$bad" -eq 0 ] || exit 1
}

# status RC WHAT: note a failure unless RC is 0 (124: its `timeout` ran out).
status() {
    [ "$1" -eq 0 ] && return 0
    flunk "$2: exit $1$([ "$1" -eq 124 ] && echo ' (timed out)')"
}

# wait_pid PID WHAT: wait for a background job started with a `timeout` of its own.
wait_pid() {
    local rc=0
    wait "$1" || rc=$?
    status "$rc" "$2"
}

# same FILE WANT WHAT: FILE's sha256 is WANT.
same() {
    local got
    [ -f "$1" ] || { flunk "$3: no output file"; return; }
    got=$(nc_sha "$1")
    [ "$got" = "$2" ] ||
        { flunk "$3: sha256 $got ($(stat -c %s "$1") bytes), want $2"; return; }
    echo "$3: $(stat -c %s "$1") bytes, sha256 ok"
}
