#!/usr/bin/env python3
"""Client processes of a shared stack in the corners the review found (issue 14): the shell
tests test_share_dropfork.sh, test_share_nbconnect.sh and test_share_udpdown.sh run these on
netcore. python3 shareclient.py MODE ARGS...

  idle ADDR PORT     the stack's driver: listens on ADDR:PORT, says "idle up", blocks in accept
  dropfork ADDR PORT PEER PEERPORT UNREACH
                     as root: drops to uid/gid 65534, forks and the parent leaves at once
                     (_exit, as a daemon's); the child (a client now, which cannot open the
                     run directory) starts a thread blocked in a connect to UNREACH:80, then
                     listens on ADDR:PORT ("listening as uid N"), forks a grandchild that
                     echoes "ping" through the kernel-side echo peer PEER:PEERPORT, and serves
                     one connection with "hello\\n"
  nbconnect UNREACH PEER PEERPORT
                     non-blocking connects: to UNREACH:80 (never answered), SO_ERROR and
                     getpeername answer at once (0, ENOTCONN) while it is under way; to the
                     listener PEER:PEERPORT and to the closed PEER:1, the outcome once the fd is
                     made blocking (the peer's name, ECONNREFUSED)
  udpdown ADDR PORT  UDP on ADDR:PORT: "udp up", one datagram received ("got DATA"), a
                     connected socket shut for reading reads b'' ("shut_rd ok"), "udp ready",
                     then recvfrom until it fails: "recvfrom: ERRNO at T" (T: time.monotonic())
  orphan ADDR PORT [fresh|pollonly|selectonly]
                     an event loop whose driver dies: a TCP listener and a UDP socket on
                     ADDR:PORT, and one connection accepted on the listener, in a
                     level-triggered epoll set ("orphan ready"); then it serves as an event
                     loop does (accept, recvfrom, recv and close at EOF) until an epoll_wait of
                     1 s reports nothing, failing when a socket is reported ready more than
                     twice ("wake-ups: N, cpu S"); then poll and select of the dead sockets
                     report nothing for 0.2 s, accept, recvfrom, sendto and getsockname fail
                     with ENETDOWN, epoll unregister and close succeed ("orphan ok").
                     fresh: after "orphan ready", waits for a line on stdin, and serves from a
                     new thread, which has no control connection yet (it reaches the driver
                     that has come since, which does not know the old sockets).
                     pollonly: after "orphan ready", waits for a line on stdin, closes the
                     connection, and only polls the listener and the UDP socket (never a call
                     on them) until a poll of 1 s reports nothing, failing when they are
                     reported more than twice ("orphan ok"); selectonly: the same with select

Prints "FAIL: ..." and exits 1 when something is not what the kernel would give."""
import errno, os, select, socket, sys, threading, time
# Loaded now: after the drop to nobody the interpreter's own directory may be out of reach
# (a python under /root), and socket.create_connection needs this codec for a host string.
import encodings.idna  # noqa: F401


def fail(what):
    print(f"FAIL: {what}", flush=True)
    os._exit(1)


def errname(e):
    return errno.errorcode.get(e, str(e))


def idle(addr, port):
    s = socket.create_server((addr, port))
    print("idle up", flush=True)
    while True:
        c, _ = s.accept()
        c.close()


def dropfork(addr, port, peer, peerport, unreach):
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    if os.fork() > 0:
        os._exit(0)  # the daemonizing parent leaves without exit handlers
    started = threading.Event()

    def stuck():
        try:
            c = socket.socket()
        except OSError as e:
            fail(f"socket in a thread after the drop and the fork: {errname(e.errno)}")
        started.set()
        try:
            c.connect((unreach, 80))  # waits long: nobody answers there
        except OSError:
            pass

    threading.Thread(target=stuck, daemon=True).start()
    started.wait()
    try:
        s = socket.create_server((addr, port))
    except OSError as e:
        fail(f"listen after the drop and the fork: {errname(e.errno)}")
    print(f"listening as uid {os.geteuid()}", flush=True)
    pid = os.fork()
    if pid == 0:
        try:
            c = socket.socket()  # no getaddrinfo: nobody may not read every codec
            c.settimeout(10)
            c.connect((peer, peerport))
            c.sendall(b"ping")
            got = c.recv(10)
        except OSError as e:
            print(f"FAIL: grandchild: {errname(e.errno)}", flush=True)
            os._exit(1)
        print(f"grandchild echo {'ok' if got == b'ping' else repr(got)}", flush=True)
        os._exit(0 if got == b"ping" else 1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        fail("the grandchild could not use the stack")
    s.settimeout(30)  # an orphan of a failed test must not stay behind for ever
    try:
        c, _ = s.accept()
    except OSError as e:
        fail(f"accept in the child: {e}")
    c.sendall(b"hello\n")
    c.close()
    print("served", flush=True)
    os._exit(0)


def timed(what, call, limit=1.0):
    t = time.monotonic()
    try:
        r = call()
    except OSError as e:
        r = errname(e.errno)
    dt = time.monotonic() - t
    print(f"{what}: {r!r} after {dt:.3f} s", flush=True)
    if dt > limit:
        fail(f"{what} took {dt:.3f} s on a non-blocking socket")
    return r


def nbconnect(unreach, peer, peerport):
    s = socket.socket()
    s.setblocking(False)
    if s.connect_ex((unreach, 80)) != errno.EINPROGRESS:
        fail("non-blocking connect to an address nobody answers: want EINPROGRESS")
    select.select([], [s], [], 5)
    if timed("SO_ERROR while connecting",
             lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)) != 0:
        fail("SO_ERROR while connecting: want 0")
    if timed("getpeername while connecting", s.getpeername) != "ENOTCONN":
        fail("getpeername while connecting: want ENOTCONN")
    if timed("SO_ERROR again", lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)) != 0:
        fail("SO_ERROR while still connecting: want 0")
    s.close()

    ok = socket.socket()
    ok.setblocking(False)
    r = ok.connect_ex((peer, peerport))
    if r not in (0, errno.EINPROGRESS):
        fail(f"non-blocking connect to a listener: {errname(r)}")
    ok.setblocking(True)  # now the outcome is waited for
    name = ok.getpeername()
    print(f"connected to a listener: getpeername {name}", flush=True)
    if name != (peer, peerport):
        fail(f"getpeername: want {(peer, peerport)}")
    if ok.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
        fail("SO_ERROR of a connect that worked: want 0")

    bad = socket.socket()
    bad.setblocking(False)
    r = bad.connect_ex((peer, 1))
    if r not in (errno.EINPROGRESS, errno.ECONNREFUSED):
        fail(f"non-blocking connect to a closed port: {errname(r)}")
    if r == errno.EINPROGRESS:
        bad.setblocking(True)
        e = bad.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        print(f"refused: SO_ERROR {errname(e)}", flush=True)
        if e != errno.ECONNREFUSED:
            fail("SO_ERROR of a refused connect, blocking: want ECONNREFUSED")
    print("nbconnect ok", flush=True)


def udpdown(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("udp up", flush=True)
    d, a = s.recvfrom(100)
    print(f"got {d!r} from {a[0]}", flush=True)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((a[0], 9))
    u.shutdown(socket.SHUT_RD)
    got = u.recv(10)
    if got != b"":
        fail(f"recv after shutdown(SHUT_RD): {got!r}, want b''")
    print("shut_rd ok", flush=True)
    print("udp ready", flush=True)
    empty = 0
    while True:
        try:
            d, a = s.recvfrom(100)
        except OSError as e:
            print(f"recvfrom: {errname(e.errno)} at {time.monotonic():.6f}", flush=True)
            sys.exit(0 if e.errno in (errno.ENETDOWN, errno.ECONNRESET) else 1)
        if d == b"":
            empty += 1
            if empty >= 3:
                fail(f"recvfrom returned empty datagrams (from {a!r}) after the driver died")


def orphan_call(what, call):
    try:
        r = call()
    except OSError as e:
        if e.errno != errno.ENETDOWN:
            fail(f"{what} on a socket of the dead driver: {errname(e.errno)}, want ENETDOWN")
        return
    fail(f"{what} on a socket of the dead driver: {r!r}, want ENETDOWN")


def orphan(addr, port, mode):
    ls = socket.create_server((addr, port))
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind((addr, port))
    print("orphan up", flush=True)
    ls.settimeout(30)  # an orphan of a failed test must not stay behind for ever
    cs, _ = ls.accept()
    for s in (ls, us, cs):
        s.setblocking(False)
    ep = select.epoll()
    names = {ls.fileno(): "listener", us.fileno(): "udp", cs.fileno(): "connection"}
    for fd in names:
        ep.register(fd, select.EPOLLIN)
    print("orphan ready", flush=True)
    if mode == "fresh":
        sys.stdin.readline()
        t = threading.Thread(target=orphan_serve, args=(addr, ls, us, cs, ep, names))
        t.start()
        t.join()
    elif mode in ("pollonly", "selectonly"):
        sys.stdin.readline()
        ep.close()
        cs.close()
        p = select.poll()
        p.register(ls, select.POLLIN)
        p.register(us, select.POLLIN)
        reported = 0
        while True:
            if mode == "pollonly":
                evs = p.poll(1000)
            else:
                evs, _, _ = select.select([ls, us], [], [], 1.0)
            if not evs:
                break
            reported += len(evs)
            if reported > 2:
                fail(f"{mode[:-4]} reports the dead listener or UDP socket again and again: "
                     f"{evs}")
        print(f"{mode[:-4]}: reported {reported} times", flush=True)
        print("orphan ok", flush=True)
    else:
        orphan_serve(addr, ls, us, cs, ep, names)


def orphan_serve(addr, ls, us, cs, ep, names):
    evs = ep.poll(30)  # the driver is killed now; nothing comes before that
    if not evs:
        fail("nothing reported within 30 s of 'orphan ready'")
    cpu = time.process_time()
    seen = {name: 0 for name in names.values()}
    wakes = 0
    # An event loop: what is reported ready is served, a connection that ends is closed. A
    # kernel's listener and UDP socket never become ready when the network goes away, and a
    # connection reports its end once; so the loop must come to rest.
    while evs:
        wakes += 1
        for fd, ev in evs:
            name = names.get(fd, str(fd))
            seen[name] += 1
            if seen[name] > 2:
                fail(f"the {name} reported ready (events {ev:#x}) {seen[name]} times after "
                     f"the driver died: wake-ups {wakes}, cpu "
                     f"{time.process_time() - cpu:.3f} s")
            if name == "listener":
                orphan_call("accept", ls.accept)
            elif name == "udp":
                orphan_call("recvfrom", lambda: us.recvfrom(100))
            elif name == "connection":
                try:
                    d = cs.recv(100)
                except OSError as e:
                    d = errname(e.errno)
                print(f"connection: recv {d!r}", flush=True)
                if d not in (b"", "ENETDOWN", "ECONNRESET"):
                    fail(f"recv on a connection of the dead driver: {d!r}")
                ep.unregister(cs.fileno())
                cs.close()
        evs = ep.poll(1.0)
    print(f"wake-ups: {wakes}, reported {seen}, cpu {time.process_time() - cpu:.3f} s",
          flush=True)
    p = select.poll()
    p.register(ls, select.POLLIN)
    p.register(us, select.POLLIN)
    if p.poll(200):
        fail(f"poll reports the dead listener or UDP socket: {p.poll(0)}")
    r, _, _ = select.select([ls, us], [], [], 0.2)
    if r:
        fail(f"select reports the dead listener or UDP socket readable: {r}")
    orphan_call("accept", ls.accept)
    orphan_call("recvfrom", lambda: us.recvfrom(100))
    orphan_call("sendto", lambda: us.sendto(b"x", (addr, 9)))
    orphan_call("getsockname", ls.getsockname)
    ep.unregister(ls.fileno())  # the kernel's listener is still in the set: no error
    ep.modify(us.fileno(), select.EPOLLIN | select.EPOLLOUT)
    ep.unregister(us.fileno())
    ls.close()
    us.close()
    ep.close()
    print("orphan ok", flush=True)


mode = sys.argv[1]
if mode == "idle":
    idle(sys.argv[2], int(sys.argv[3]))
elif mode == "dropfork":
    dropfork(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6])
elif mode == "nbconnect":
    nbconnect(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif mode == "udpdown":
    udpdown(sys.argv[2], int(sys.argv[3]))
elif mode == "orphan":
    orphan(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
else:
    sys.exit(f"unknown mode {mode}")
