#!/bin/bash
# test_faults_peer.sh — the kernel-side peer is SIGKILLed under a program on netcore, and the
# program's blocked call ends the way it does on the kernel stack, within 10 s: a sender
# whose data is flowing, and one blocked on a full window, fail with ECONNRESET or EPIPE; a
# receiver gets EOF (the dead peer's end is closed) or ECONNRESET (it is reset, data unread).
# Each case runs on the kernel stack first, which validates the case, then on netcore.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
prog=$NC_TOP/tests/fault_peer
[ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
port=7700

# kill_case STACK MODE PEERMODE WAIT WANT: start a tests/lib/peer.py PEERMODE peer, run
# fault_peer MODE against it on STACK (kernel or netcore), SIGKILL the peer once the program
# says WAIT (connected, flowing) and its call is under way, and expect the line WANT from the
# program within 10 s.
kill_case() {
    local stack=$1 mode=$2 peermode=$3 wait=$4 want=$5 peer line='' t0 ms rc=0 out cpid=
    port=$((port + 1))
    nc_peer "$peermode" "$port"
    peer=$NC_LAST_PID
    if [ "$stack" = kernel ]; then
        coproc PROG { ip netns exec "$NC_NS" timeout 30 "$prog" "$mode" "$NC_KERNEL_IP" "$port"; }
    else
        coproc PROG { on_netcore 30 "$prog" "$mode" "$NC_KERNEL_IP" "$port"; }
    fi
    # Our own copy of the pipe: bash unsets PROG as soon as the program has exited.
    local pid=$PROG_PID from
    exec {from}<&"${PROG[0]}"
    until [ "$line" = "$wait" ]; do
        read -r -t 20 line <&"$from" ||
            fail "$stack $mode: no '$wait' from the program (last: '${line:-}')"
        [[ $line == "pid "* ]] && cpid=${line#pid }
    done
    # The call is under way: a sender to a peer that does not read has filled the window
    # and sleeps in send, a receiver sleeps in recv. A sender to a discarding peer does not
    # stop: "flowing" says enough.
    [ "$peermode" = discard ] || nc_wait_blocked "$cpid" >/dev/null
    kill -KILL "$peer"
    wait "$peer" 2>/dev/null || true
    t0=$(date +%s%N)
    out=$(cat <&"$from")
    exec {from}<&-
    wait "$pid" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "# $stack, $mode against a $peermode peer: '$out' ${ms} ms after the kill (exit $rc)"
    [ "$rc" -ne 124 ] || fail "$stack $mode: still blocked 30 s after the peer died"
    [[ " $want " == *" ${out// /} "* ]] ||
        fail "$stack $mode against a dying $peermode peer: '$out', want one of: $want"
    [ "$ms" -le 10000 ] || fail "$stack $mode: took $ms ms after the peer died"
}

for stack in kernel netcore; do
    kill_case "$stack" send discard flowing "send:ECONNRESET send:EPIPE"
    kill_case "$stack" send hold flowing "send:ECONNRESET send:EPIPE"
    kill_case "$stack" recv hold connected "recv:EOF"
    kill_case "$stack" recv-rst hold connected "recv:ECONNRESET"
done
echo "PASS: test_faults_peer"
