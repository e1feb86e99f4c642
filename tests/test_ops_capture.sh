#!/bin/bash
# test_ops_capture.sh — seeing inside: NETCORE_PCAP writes every frame to a pcap file that
# tshark and tcpdump read (a curl transfer shows its handshake and HTTP request); NETCORE_LOG
# prints prefixed lines at the level asked, nothing by default, and a bad level names the
# variable.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
command -v tshark >/dev/null || nc_skip "tshark not installed (./netcore deps)"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
chmod 755 "$tmp"
mkdir "$tmp/www"
head -c 256K /dev/urandom >"$tmp/www/f"
nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" --directory "$tmp/www" \
    >"$tmp/http.log" 2>&1
nc_wait_listen 8000 "$NC_KERNEL_IP"

# 1. A capture of a curl download, one file per process (%p).
NETCORE_PCAP="$tmp/cap-%p.pcap" on_netcore 30 curl -sS -o "$tmp/f.out" \
    "http://$NC_KERNEL_IP:8000/f" 2>"$tmp/curl.err" || fail "curl with NETCORE_PCAP: $(cat "$tmp/curl.err")"
[ "$(nc_sha "$tmp/f.out")" = "$(nc_sha "$tmp/www/f")" ] || fail "the download differs"
caps=("$tmp"/cap-*.pcap)
[ "${#caps[@]}" -eq 1 ] && [ -s "${caps[0]}" ] || fail "want one capture file, got: ${caps[*]}"
cap=${caps[0]}
[[ $cap =~ cap-[0-9]+\.pcap$ ]] || fail "%p was not replaced by a pid: $cap"
tshark -r "$cap" >"$tmp/tshark.txt" 2>&1 || fail "tshark cannot read $cap: $(head "$tmp/tshark.txt")"
syn=$(tshark -r "$cap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == $NC_NETCORE_IP" | wc -l)
synack=$(tshark -r "$cap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.src == $NC_KERNEL_IP" | wc -l)
get=$(tshark -r "$cap" -Y 'http.request.method == "GET" && http.request.uri == "/f"' | wc -l)
arp=$(tshark -r "$cap" -Y arp | wc -l)
echo "capture: $(wc -l <"$tmp/tshark.txt") frames; SYN $syn, SYN-ACK $synack, GET /f $get, ARP $arp"
[ "$syn" -ge 1 ] && [ "$synack" -ge 1 ] || fail "the handshake is not in the capture"
[ "$get" -eq 1 ] || fail "the HTTP request is not in the capture"
bytes=$(tshark -r "$cap" -Y "ip.src == $NC_KERNEL_IP" -T fields -e tcp.len | awk '{s += $1} END {print s}')
[ "$bytes" -ge 262144 ] || fail "the capture holds $bytes payload bytes from the server, want >= 256 KiB"
tcpdump -r "$cap" -n >/dev/null 2>&1 || fail "tcpdump cannot read $cap"
echo "ok: NETCORE_PCAP captured the transfer; tshark and tcpdump read it"

# 2. NETCORE_LOG: quiet by default; info says where the stack runs; bad values name it.
on_netcore 30 curl -sS -o /dev/null "http://$NC_KERNEL_IP:8000/f" 2>"$tmp/quiet.err" ||
    fail "curl failed"
[ ! -s "$tmp/quiet.err" ] || fail "output on stderr by default: $(cat "$tmp/quiet.err")"
NETCORE_LOG=info on_netcore 30 curl -sS -o /dev/null "http://$NC_KERNEL_IP:8000/f" \
    2>"$tmp/info.err" || fail "curl with NETCORE_LOG=info failed"
grep -Eq "^netcore\[[0-9]+\]: info: stack up on $NC_TAP \(pool device 0\): $NC_NETCORE_IP/24" \
    "$tmp/info.err" || fail "NETCORE_LOG=info: $(cat "$tmp/info.err")"
bad=0
NETCORE_LOG=loud on_netcore 30 curl -sS -o /dev/null "http://$NC_KERNEL_IP:8000/f" \
    2>"$tmp/bad.err" || bad=$?
[ "$bad" -ne 0 ] || fail "curl ran with NETCORE_LOG=loud"
grep -q 'NETCORE_LOG="loud": expected error, warn, info or debug' "$tmp/bad.err" ||
    fail "NETCORE_LOG=loud: $(cat "$tmp/bad.err")"
echo "ok: NETCORE_LOG quiet by default, info names the device and address, bad values refused"
echo "PASS: test_ops_capture"
