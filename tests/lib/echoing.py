"""A helper for the tests' python programs that talk to an echo peer (tests/lib/peer.py echo)."""


def echo(s, msg):
    """Sends msg on socket s and checks that the same bytes come back."""
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(len(msg) - len(got))
        if not b:
            raise SystemExit("EOF from echo peer")
        got += b
    assert got == msg, (got, msg)
