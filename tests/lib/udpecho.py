"""Kernel-side UDP echo for the shell tests: python3 tests/lib/udpecho.py ADDR PORT LOG.

Sends every datagram back to where it came from, and appends "SOURCE-IP PORT LENGTH" for each
to LOG, so a test can tell which stack (kernel or netcore, by address) sent it.
"""
import socket
import sys

addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
with open(log, "a", buffering=1) as out:
    while True:
        data, src = s.recvfrom(65536)
        s.sendto(data, src)
        out.write("%s %d %d\n" % (src[0], src[1], len(data)))
