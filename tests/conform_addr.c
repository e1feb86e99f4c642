/*
 * conform cases: addresses. bind and connect with bad, short, foreign and busy addresses,
 * connect's state machine (again, in progress, refused, disconnect with AF_UNSPEC), and the
 * names getsockname, getpeername and accept hand back.
 */
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

static struct in_addr ip(const char *dotted)
{
    struct in_addr a = { 0 };
    inet_pton(AF_INET, dotted, &a);
    return a;
}

/* bind */

#define BIND_CASE(fn, type, addr_expr, len)                                               \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        int s = sock(c, type);                                                            \
        NEED(c, s >= 0, "socket");                                                        \
        struct sockaddr_storage st;                                                       \
        memset(&st, 0, sizeof(st));                                                       \
        struct sockaddr_in a = addr_expr;                                                 \
        memcpy(&st, &a, sizeof(a));                                                       \
        CALL(c, c->o->bind(s, SA(st), len));                                              \
        if (c->r.ret == 0)                                                                \
            note_name(c, s);                                                              \
    }

BIND_CASE(bind_self, SOCK_STREAM, sin_self(c, c->port), sizeof(a))
BIND_CASE(bind_any0, SOCK_STREAM, sin_any(0), sizeof(a))
BIND_CASE(bind_udp_any0, SOCK_DGRAM, sin_any(0), sizeof(a))
BIND_CASE(bind_short, SOCK_STREAM, sin_any(c->port), 8)
BIND_CASE(bind_len0, SOCK_STREAM, sin_any(c->port), 0)
BIND_CASE(bind_storage_len, SOCK_STREAM, sin_any(c->port), sizeof(st))
BIND_CASE(bind_long, SOCK_STREAM, sin_any(c->port), sizeof(st) + 1)
BIND_CASE(bind_af_unix, SOCK_STREAM, with_family(sin_any(c->port), AF_UNIX), sizeof(a))
BIND_CASE(bind_udp_af_unix, SOCK_DGRAM, with_family(sin_any(c->port), AF_UNIX), sizeof(a))
BIND_CASE(bind_unspec_any, SOCK_STREAM, with_family(sin_any(c->port), AF_UNSPEC), sizeof(a))
BIND_CASE(bind_unspec_self, SOCK_STREAM, with_family(sin_self(c, c->port), AF_UNSPEC), sizeof(a))
BIND_CASE(bind_nonlocal, SOCK_STREAM, sin_of(conform_env.unused, c->port), sizeof(a))
BIND_CASE(bind_foreign, SOCK_DGRAM, sin_of(ip("192.0.2.1"), c->port), sizeof(a))
BIND_CASE(bind_udp_bcast, SOCK_DGRAM, sin_of(ip("255.255.255.255"), c->port), sizeof(a))
BIND_CASE(bind_udp_net_bcast, SOCK_DGRAM, sin_of(conform_env.bcast, c->port), sizeof(a))
BIND_CASE(bind_udp_mcast, SOCK_DGRAM, sin_of(ip("224.0.0.251"), c->port), sizeof(a))
BIND_CASE(bind_tcp_mcast, SOCK_STREAM, sin_of(ip("224.0.0.251"), c->port), sizeof(a))

static void bind_null(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->bind(s, NULL, sizeof(struct sockaddr_in)));
}

static void bind_null_len0(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->bind(s, NULL, 0));
}

/* The second bind of one socket. */
static void rebind(struct cx *c, int type, struct sockaddr_in second)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_any(c->port);
    NEED(c, c->o->bind(s, SA(a), sizeof(a)) == 0, "bind");
    CALL(c, c->o->bind(s, SA(second), sizeof(second)));
}

static void bind_twice(struct cx *c) { rebind(c, SOCK_STREAM, sin_any((uint16_t)(c->port + 1))); }
static void bind_twice_udp(struct cx *c) { rebind(c, SOCK_DGRAM, sin_any(0)); }
static void bind_twice_nonlocal(struct cx *c)
{
    rebind(c, SOCK_STREAM, sin_of(conform_env.unused, c->port));
}

static void bind_after_connect(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = sin_any(0);
    CALL(c, c->o->bind(s, SA(a), sizeof(a)));
}

static void bind_after_listen(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    struct sockaddr_in a = sin_any(c->port);
    CALL(c, c->o->bind(s, SA(a), sizeof(a)));
}

static void bind_udp_after_connect(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = sin_any(c->port);
    CALL(c, c->o->bind(s, SA(a), sizeof(a)));
}

/* EADDRINUSE: a first socket holds the port (options, listening or not), a second binds. */
static void busy(struct cx *c, int type, struct sockaddr_in first, bool reuse1, bool listen1,
                 struct sockaddr_in second, bool reuse2)
{
    int one = 1;
    int a = sock(c, type), b = sock(c, type);
    NEED(c, a >= 0 && b >= 0, "socket");
    NEED(c, !reuse1 || c->o->setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0,
         "SO_REUSEADDR");
    NEED(c, !reuse2 || c->o->setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0,
         "SO_REUSEADDR");
    NEED(c, c->o->bind(a, SA(first), sizeof(first)) == 0, "first bind");
    NEED(c, !listen1 || c->o->listen(a, 1) == 0, "listen");
    CALL(c, c->o->bind(b, SA(second), sizeof(second)));
}

static void inuse_tcp(struct cx *c)
{
    busy(c, SOCK_STREAM, sin_self(c, c->port), false, false, sin_self(c, c->port), false);
}

static void inuse_any_self(struct cx *c)
{
    busy(c, SOCK_STREAM, sin_any(c->port), false, false, sin_self(c, c->port), false);
}

static void inuse_reuse_both(struct cx *c)
{
    busy(c, SOCK_STREAM, sin_self(c, c->port), true, false, sin_self(c, c->port), true);
}

static void inuse_reuse_listening(struct cx *c)
{
    busy(c, SOCK_STREAM, sin_any(c->port), true, true, sin_any(c->port), true);
}

static void inuse_listening_noreuse(struct cx *c)
{
    busy(c, SOCK_STREAM, sin_any(c->port), false, true, sin_self(c, c->port), true);
}

/* SO_REUSEPORT on both lets a second listener share the port (kernel load balancing). */
static void inuse_reuseport(struct cx *c)
{
    int one = 1;
    int a = sock(c, SOCK_STREAM), b = sock(c, SOCK_STREAM);
    struct sockaddr_in any = sin_any(c->port);
    NEED(c, a >= 0 && b >= 0, "socket");
    NEED(c, c->o->setsockopt(a, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
                c->o->setsockopt(b, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0,
         "SO_REUSEPORT");
    NEED(c, c->o->bind(a, SA(any), sizeof(any)) == 0 && c->o->listen(a, 1) == 0, "listen");
    CALL(c, c->o->bind(b, SA(any), sizeof(any)));
    if (c->r.ret == 0)
        note(c, "listen", c->o->listen(b, 1));
}

static void inuse_udp(struct cx *c)
{
    busy(c, SOCK_DGRAM, sin_any(c->port), false, false, sin_any(c->port), false);
}

static void inuse_udp_reuse(struct cx *c)
{
    busy(c, SOCK_DGRAM, sin_any(c->port), true, false, sin_any(c->port), true);
}

/* Two sockets bound to one port with SO_REUSEADDR: only one may listen. */
static void inuse_second_listen(struct cx *c)
{
    int one = 1;
    int a = sock(c, SOCK_STREAM), b = sock(c, SOCK_STREAM);
    struct sockaddr_in any = sin_any(c->port);
    NEED(c, a >= 0 && b >= 0, "socket");
    NEED(c, c->o->setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
                c->o->setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0,
         "SO_REUSEADDR");
    NEED(c, c->o->bind(a, SA(any), sizeof(any)) == 0 && c->o->bind(b, SA(any), sizeof(any)) == 0,
         "bind");
    note(c, "listen1", c->o->listen(a, 1));
    CALL(c, c->o->listen(b, 1));
}

/* A server restarts on its port while a connection it accepted lives on. */
static void restart_server(struct cx *c, bool reuse)
{
    int p, s = accepted(c, &p);
    NEED(c, s >= 0, "accept");
    NEED(c, drop(c, c->fds[0]) == 0, "close listener"); /* fds[0]: the listener */
    int one = 1, n = sock(c, SOCK_STREAM);
    NEED(c, n >= 0, "socket");
    NEED(c, !reuse || c->o->setsockopt(n, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0,
         "SO_REUSEADDR");
    struct sockaddr_in any = sin_any(c->port);
    CALL(c, c->o->bind(n, SA(any), sizeof(any)));
    if (c->r.ret == 0)
        note(c, "listen", c->o->listen(n, 1));
}

static void restart_reuse(struct cx *c) { restart_server(c, true); }
static void restart_noreuse(struct cx *c) { restart_server(c, false); }

/* The port of a connection this side closed first waits in TIME-WAIT. */
static void time_wait(struct cx *c, bool reuse_old, bool reuse)
{
    int one = 1;
    int l = peer_listener(c), s = sock(c, SOCK_STREAM);
    struct sockaddr_in self = sin_self(c, c->port), to = sin_peer((uint16_t)(c->port + 1));
    NEED(c, l >= 0 && s >= 0, "socket");
    NEED(c, !reuse_old || c->o->setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0,
         "SO_REUSEADDR");
    NEED(c, c->o->bind(s, SA(self), sizeof(self)) == 0, "bind");
    NEED(c, c->o->connect(s, SA(to), sizeof(to)) == 0, "connect");
    int p = conform_kernel.accept4(l, NULL, NULL, SOCK_CLOEXEC);
    NEED(c, p >= 0, "accept");
    track_peer(c, p);
    NEED(c, drop(c, s) == 0, "close");
    char b;
    NEED(c, conform_kernel.recv(p, &b, 1, 0) == 0, "peer sees EOF");
    /* With a linger time the peer's close returns once its FIN is acknowledged: the closing
     * side has it, and waits in TIME-WAIT. */
    struct linger lg = { 1, WAIT_MS / 1000 };
    NEED(c, conform_kernel.setsockopt(p, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0,
         "linger");
    c->nkfds--; /* p, the last peer tracked */
    NEED(c, conform_kernel.close(p) == 0, "peer close");
    int n = sock(c, SOCK_STREAM);
    NEED(c, n >= 0, "socket");
    NEED(c, !reuse || c->o->setsockopt(n, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0,
         "SO_REUSEADDR");
    CALL(c, c->o->bind(n, SA(self), sizeof(self)));
}

static void inuse_time_wait(struct cx *c) { time_wait(c, false, false); }
static void inuse_time_wait_reuse(struct cx *c) { time_wait(c, false, true); }
static void inuse_time_wait_reuse_both(struct cx *c) { time_wait(c, true, true); }

/* TCP and UDP have ports of their own. */
static void bind_tcp_udp(struct cx *c)
{
    int t = sock(c, SOCK_STREAM), u = sock(c, SOCK_DGRAM);
    struct sockaddr_in any = sin_any(c->port);
    NEED(c, t >= 0 && u >= 0 && c->o->bind(t, SA(any), sizeof(any)) == 0, "bind");
    NEED(c, c->o->listen(t, 1) == 0, "listen");
    CALL(c, c->o->bind(u, SA(any), sizeof(any)));
}

/* connect to INADDR_ANY reaches a listener on this host (which address it names differs:
 * the kernel's loopback, netcore's own address; only the outcome is compared). */
static void connect_any(struct cx *c)
{
    int l = sock(c, SOCK_STREAM), s = sock(c, SOCK_STREAM);
    struct sockaddr_in any = sin_any(c->port);
    NEED(c, l >= 0 && s >= 0 && c->o->bind(l, SA(any), sizeof(any)) == 0, "bind");
    NEED(c, c->o->listen(l, 1) == 0, "listen");
    CALL(c, c->o->connect(s, SA(any), sizeof(any)));
}

/* connect */

#define CONNECT_CASE(fn, type, addr_expr, len)                                            \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        int s = sock(c, (type) | SOCK_NONBLOCK);                                          \
        NEED(c, s >= 0, "socket");                                                        \
        struct sockaddr_storage st;                                                       \
        memset(&st, 0, sizeof(st));                                                       \
        struct sockaddr_in a = addr_expr;                                                 \
        memcpy(&st, &a, sizeof(a));                                                       \
        CALL(c, c->o->connect(s, SA(st), len));                                           \
    }

CONNECT_CASE(connect_udp_port0, SOCK_DGRAM, sin_peer(0), sizeof(a))
CONNECT_CASE(connect_short, SOCK_STREAM, sin_peer(c->port), 8)
CONNECT_CASE(connect_len0, SOCK_STREAM, sin_peer(c->port), 0)
CONNECT_CASE(connect_len1, SOCK_DGRAM, sin_peer(c->port), 1)
CONNECT_CASE(connect_long, SOCK_STREAM, sin_peer(c->port), sizeof(st) + 1)
CONNECT_CASE(connect_af_unix, SOCK_STREAM, with_family(sin_peer(c->port), AF_UNIX), sizeof(a))
CONNECT_CASE(connect_udp_af_unix, SOCK_DGRAM, with_family(sin_peer(c->port), AF_UNIX), sizeof(a))
CONNECT_CASE(connect_unspec, SOCK_STREAM, with_family(sin_peer(c->port), AF_UNSPEC), sizeof(a))
CONNECT_CASE(connect_udp_unspec, SOCK_DGRAM, with_family(sin_peer(c->port), AF_UNSPEC), sizeof(a))
CONNECT_CASE(connect_bcast, SOCK_STREAM, sin_of(ip("255.255.255.255"), c->port), sizeof(a))
CONNECT_CASE(connect_net_bcast, SOCK_STREAM, sin_of(conform_env.bcast, c->port), sizeof(a))
CONNECT_CASE(connect_mcast, SOCK_STREAM, sin_of(ip("224.0.0.251"), c->port), sizeof(a))
CONNECT_CASE(connect_udp_net_bcast, SOCK_DGRAM, sin_of(conform_env.bcast, c->port),
             sizeof(a))

static void connect_port0(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer(0);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
}

static void connect_null(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->connect(s, NULL, sizeof(struct sockaddr_in)));
}

static void connect_null_len0(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->connect(s, NULL, 0));
}

static void connect_udp_bcast_allowed(struct cx *c)
{
    int one = 1, s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) == 0,
         "SO_BROADCAST");
    struct sockaddr_in a = sin_of(conform_env.bcast, c->port);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
}

static void connect_refused(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_so_error(c, s);
    note_name(c, s);
}

/* After a failed connect the kernel's socket is unconnected again: connect starts anew. */
static void connect_refused_retry(struct cx *c, bool open)
{
    int l = peer_listener(c), s = sock(c, SOCK_STREAM);
    NEED(c, l >= 0 && s >= 0, "socket");
    struct sockaddr_in closed = sin_peer((uint16_t)(c->port + 2));
    struct sockaddr_in to = sin_peer((uint16_t)(c->port + (open ? 1 : 2)));
    note(c, "connect1", c->o->connect(s, SA(closed), sizeof(closed)));
    CALL(c, c->o->connect(s, SA(to), sizeof(to)));
    if (c->r.ret == 0)
        note_peer(c, s);
}

static void connect_refused_again(struct cx *c) { connect_refused_retry(c, false); }
static void connect_refused_then_open(struct cx *c) { connect_refused_retry(c, true); }

/* Non-blocking connect to the closed port; steps is what the program does afterwards. */
static void nb_refused(struct cx *c, int steps)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    NEED(c, c->o->connect(s, SA(a), sizeof(a)) < 0 && errno == EINPROGRESS, "EINPROGRESS");
    outf(c, "revents=%#x", wait_for(c, s, POLLOUT, 3000));
    if (steps & 1)
        note_so_error(c, s);
    if (steps & 2)
        note(c, "connect2", c->o->connect(s, SA(a), sizeof(a)));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
}

static void nb_refused_connect(struct cx *c) { nb_refused(c, 0); }
static void nb_refused_so_error(struct cx *c) { nb_refused(c, 1); }
static void nb_refused_third(struct cx *c) { nb_refused(c, 2); }

static void nb_refused_poll(struct cx *c)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    outf(c, "revents=%#x", wait_for(c, s, POLLIN | POLLOUT | POLLRDHUP, 3000));
    note_so_error(c, s);
    note_so_error(c, s);
}

static void connect_isconn(struct cx *c, socklen_t len, int family)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = with_family(sin_peer((uint16_t)(c->port + 1)), family);
    CALL(c, c->o->connect(s, SA(a), len));
}

static void connect_again(struct cx *c) { connect_isconn(c, sizeof(struct sockaddr_in), AF_INET); }
static void connect_again_short(struct cx *c) { connect_isconn(c, 8, AF_INET); }
static void connect_again_unix(struct cx *c)
{
    connect_isconn(c, sizeof(struct sockaddr_in), AF_UNIX);
}

static void connect_in_progress(struct cx *c)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_of(conform_env.unused, c->port);
    note(c, "connect1", c->o->connect(s, SA(a), sizeof(a)));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    outf(c, "revents=%#x", wait_for(c, s, POLLIN | POLLOUT, 0));
    note_peer(c, s);
}

static void nb_completes(struct cx *c)
{
    int l = peer_listener(c), s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, l >= 0 && s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    note(c, "connect1", c->o->connect(s, SA(a), sizeof(a)));
    outf(c, "revents=%#x", wait_for(c, s, POLLOUT, 3000));
    note(c, "connect2", c->o->connect(s, SA(a), sizeof(a)));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
}

static void connect_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
}

/* connect(AF_UNSPEC) on a connected TCP socket drops the connection; the socket is new. */
static void connect_unspec_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = with_family(sin_any(0), AF_UNSPEC);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_peer(c, s);
    note_name(c, s);
    outf(c, "revents=%#x", wait_for(c, s, POLLIN | POLLOUT | POLLRDHUP, 0));
    note_so_error(c, s);
    char b;
    note(c, "peer_recv", conform_kernel.recv(p, &b, 1, 0));
    struct sockaddr_in to = sin_peer((uint16_t)(c->port + 1));
    note(c, "reconnect", c->o->connect(s, SA(to), sizeof(to)));
    note_so_error(c, s);
}

/* After the program bound a port itself, a disconnect keeps it. */
static void connect_unspec_bound(struct cx *c)
{
    int l = peer_listener(c), s = sock(c, SOCK_STREAM);
    struct sockaddr_in self = sin_self(c, c->port), to = sin_peer((uint16_t)(c->port + 1));
    NEED(c, l >= 0 && s >= 0 && c->o->bind(s, SA(self), sizeof(self)) == 0, "bind");
    NEED(c, c->o->connect(s, SA(to), sizeof(to)) == 0, "connect");
    struct sockaddr_in a = with_family(sin_any(0), AF_UNSPEC);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_name(c, s);
}

/* connect(AF_UNSPEC) on a listener stops it. */
static void connect_unspec_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    struct sockaddr_in any = sin_any(c->port);
    NEED(c, s >= 0 && c->o->bind(s, SA(any), sizeof(any)) == 0, "bind");
    NEED(c, c->o->listen(s, 1) == 0, "listen");
    struct sockaddr_in a = with_family(sin_any(0), AF_UNSPEC);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note(c, "accept", c->o->accept(s, NULL, NULL));
    note_name(c, s);
    note(c, "listen", c->o->listen(s, 1));
}

static void udp_dissolve(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    note_name(c, s);
    struct sockaddr_in a = with_family(sin_any(0), AF_UNSPEC);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_peer(c, s);
    note_name(c, s);
    note(c, "send", c->o->send(s, "x", 1, 0));
}

static void udp_dissolve_bound(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    struct sockaddr_in any = sin_any(c->port), to = sin_peer((uint16_t)(c->port + 1));
    NEED(c, s >= 0 && c->o->bind(s, SA(any), sizeof(any)) == 0, "bind");
    NEED(c, c->o->connect(s, SA(to), sizeof(to)) == 0, "connect");
    struct sockaddr_in a = with_family(sin_any(0), AF_UNSPEC);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_name(c, s);
}

static void udp_reconnect(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_peer(c, s);
}

/* names */

static void name_fresh(struct cx *c, int type)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a;
    memset(&a, 0xee, sizeof(a));
    socklen_t l = sizeof(a);
    CALL(c, c->o->getsockname(s, SA(a), &l));
    note_addr(c, "name", &a, l, false);
}

static void name_fresh_tcp(struct cx *c) { name_fresh(c, SOCK_STREAM); }
static void name_fresh_udp(struct cx *c) { name_fresh(c, SOCK_DGRAM); }

/* getsockname with an odd buffer: addr NULL or not, a length of len (or no length). */
static void name_odd(struct cx *c, bool addr, int len, bool has_len)
{
    int s = sock(c, SOCK_STREAM);
    struct sockaddr_in self = sin_self(c, c->port);
    NEED(c, s >= 0 && c->o->bind(s, SA(self), sizeof(self)) == 0, "bind");
    unsigned char buf[32];
    memset(buf, 0xee, sizeof(buf));
    socklen_t l = (socklen_t)len;
    CALL(c, c->o->getsockname(s, addr ? (struct sockaddr *)buf : NULL, has_len ? &l : NULL));
    if (has_len)
        outf(c, "len=%d", (int)l);
    if (addr)
        outf(c, "bytes=%02x%02x%02x%02x%02x%02x", buf[0], buf[1], buf[2], buf[3], buf[4],
             buf[5]);
}

static void name_short(struct cx *c) { name_odd(c, true, 3, true); }
static void name_len_neg(struct cx *c) { name_odd(c, true, -1, true); }
static void name_len_null(struct cx *c) { name_odd(c, true, 16, false); }
static void name_null_len0(struct cx *c) { name_odd(c, false, 0, true); }
static void name_null_len16(struct cx *c) { name_odd(c, false, 16, true); }
static void name_len_big(struct cx *c) { name_odd(c, true, 32, true); }

static void name_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    CALL(c, 0);
    note_name(c, s);
    note_peer(c, s);
}

static void name_listen_unbound(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->listen(s, 1));
    note_name(c, s);
    note_peer(c, s);
}

static void name_udp_connected(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note_name(c, s);
    note_peer(c, s);
}

static void name_udp_after_send(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->sendto(s, "x", 1, 0, SA(a), sizeof(a)));
    note_name(c, s);
    note_peer(c, s);
}

static void name_accepted(struct cx *c)
{
    int p, s = accepted(c, &p);
    NEED(c, s >= 0, "accept");
    CALL(c, 0);
    note_name(c, s);
    note_peer(c, s);
}

static void peer_fresh(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    CALL(c, c->o->getpeername(s, SA(a), &l));
}

static void peer_udp_fresh(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    CALL(c, c->o->getpeername(s, SA(a), &l));
}

static void peer_null_len(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a;
    CALL(c, c->o->getpeername(s, SA(a), NULL));
}

static void peer_after_refused(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    NEED(c, c->o->connect(s, SA(a), sizeof(a)) < 0, "connect refused");
    socklen_t l = sizeof(a);
    CALL(c, c->o->getpeername(s, SA(a), &l));
}

/* accept's address out-parameters */

static void accept_odd(struct cx *c, bool addr, int len, bool has_len)
{
    int p, l = listening(c, &p);
    NEED(c, l >= 0, "listen");
    struct sockaddr_in a;
    memset(&a, 0xee, sizeof(a));
    socklen_t n = (socklen_t)len;
    CALL_FD(c, c->o->accept(l, addr ? SA(a) : NULL, has_len ? &n : NULL));
    if (has_len)
        outf(c, "len=%d", (int)n);
    if (addr && c->r.ret >= 0 && len >= (int)sizeof(a))
        note_addr(c, "from", &a, n, true);
    if (addr && len < (int)sizeof(a))
        outf(c, "family=%d", a.sin_family);
}

static void accept_addr(struct cx *c) { accept_odd(c, true, sizeof(struct sockaddr_in), true); }
static void accept_short(struct cx *c) { accept_odd(c, true, 2, true); }
static void accept_no_addr(struct cx *c) { accept_odd(c, false, -5, true); }
static void accept_len_null(struct cx *c) { accept_odd(c, true, 0, false); }
static void accept_len_neg(struct cx *c) { accept_odd(c, true, -1, true); }

const struct conform_case conform_addr_cases[] = {
    { "bind: own address", bind_self, NULL },
    { "bind: INADDR_ANY port 0", bind_any0, NULL },
    { "bind: UDP INADDR_ANY port 0", bind_udp_any0, NULL },
    { "bind: NULL address", bind_null, NULL },
    { "bind: NULL address, length 0", bind_null_len0, NULL },
    { "bind: length 8", bind_short, NULL },
    { "bind: length 0", bind_len0, NULL },
    { "bind: length of sockaddr_storage", bind_storage_len, NULL },
    { "bind: length beyond sockaddr_storage", bind_long, NULL },
    { "bind: AF_UNIX family", bind_af_unix, NULL },
    { "bind: UDP AF_UNIX family", bind_udp_af_unix, NULL },
    { "bind: AF_UNSPEC with INADDR_ANY", bind_unspec_any, NULL },
    { "bind: AF_UNSPEC with own address", bind_unspec_self, NULL },
    { "bind: unassigned address on the subnet", bind_nonlocal, NULL },
    { "bind: UDP foreign address", bind_foreign, NULL },
    { "bind: UDP 255.255.255.255", bind_udp_bcast, NULL },
    { "bind: UDP subnet broadcast", bind_udp_net_bcast, NULL },
    { "bind: UDP multicast group", bind_udp_mcast, NULL },
    { "bind: TCP multicast group", bind_tcp_mcast, NULL },
    { "bind: twice", bind_twice, NULL },
    { "bind: UDP twice", bind_twice_udp, NULL },
    { "bind: twice, second non-local", bind_twice_nonlocal, NULL },
    { "bind: after connect", bind_after_connect, NULL },
    { "bind: after listen", bind_after_listen, NULL },
    { "bind: UDP after connect", bind_udp_after_connect, NULL },
    { "bind: port in use", inuse_tcp, NULL },
    { "bind: port in use on INADDR_ANY", inuse_any_self, NULL },
    { "bind: SO_REUSEADDR on both", inuse_reuse_both, NULL },
    { "bind: SO_REUSEADDR, first listening", inuse_reuse_listening, NULL },
    { "bind: first listening without SO_REUSEADDR", inuse_listening_noreuse, NULL },
    { "bind: SO_REUSEPORT on both, first listening", inuse_reuseport,
      "lwIP has one listener per port: SO_REUSEPORT is accepted but shares nothing" },
    { "bind: UDP port in use", inuse_udp, NULL },
    { "bind: UDP SO_REUSEADDR on both", inuse_udp_reuse, NULL },
    { "listen: second of two SO_REUSEADDR binds", inuse_second_listen, NULL },
    { "bind: server restart, SO_REUSEADDR", restart_reuse, NULL },
    { "bind: server restart, no SO_REUSEADDR", restart_noreuse, NULL },
    { "bind: port in TIME-WAIT", inuse_time_wait, NULL },
    { "bind: port in TIME-WAIT, SO_REUSEADDR", inuse_time_wait_reuse, NULL },
    { "bind: port in TIME-WAIT, SO_REUSEADDR on both", inuse_time_wait_reuse_both, NULL },
    { "bind: TCP and UDP on one port", bind_tcp_udp, NULL },
    { "connect: INADDR_ANY, listener on INADDR_ANY", connect_any, NULL },
    { "connect: port 0", connect_port0, NULL },
    { "connect: UDP port 0", connect_udp_port0, NULL },
    { "connect: NULL address", connect_null, NULL },
    { "connect: UDP NULL address, length 0", connect_null_len0, NULL },
    { "connect: length 8", connect_short, NULL },
    { "connect: length 0", connect_len0, NULL },
    { "connect: UDP length 1", connect_len1, NULL },
    { "connect: length beyond sockaddr_storage", connect_long, NULL },
    { "connect: AF_UNIX family", connect_af_unix, NULL },
    { "connect: UDP AF_UNIX family", connect_udp_af_unix, NULL },
    { "connect: AF_UNSPEC, unconnected", connect_unspec, NULL },
    { "connect: UDP AF_UNSPEC, unconnected", connect_udp_unspec, NULL },
    { "connect: AF_UNSPEC, connected", connect_unspec_connected, NULL },
    { "connect: AF_UNSPEC keeps a bound port", connect_unspec_bound, NULL },
    { "connect: AF_UNSPEC, listening", connect_unspec_listening, NULL },
    { "connect: 255.255.255.255", connect_bcast, NULL },
    { "connect: subnet broadcast", connect_net_bcast, NULL },
    { "connect: multicast group", connect_mcast, NULL },
    { "connect: UDP subnet broadcast", connect_udp_net_bcast, NULL },
    { "connect: UDP broadcast, SO_BROADCAST", connect_udp_bcast_allowed, NULL },
    { "connect: refused", connect_refused, NULL },
    { "connect: refused, again", connect_refused_again, NULL },
    { "connect: refused, then to a listener", connect_refused_then_open, NULL },
    { "connect: non-blocking refused, poll", nb_refused_poll, NULL },
    { "connect: non-blocking refused, again", nb_refused_connect, NULL },
    { "connect: non-blocking refused, SO_ERROR, again", nb_refused_so_error, NULL },
    { "connect: non-blocking refused, twice more", nb_refused_third, NULL },
    { "connect: established, again", connect_again, NULL },
    { "connect: established, again with length 8", connect_again_short, NULL },
    { "connect: established, again with AF_UNIX", connect_again_unix, NULL },
    { "connect: in progress, again", connect_in_progress, NULL },
    { "connect: non-blocking completes", nb_completes, NULL },
    { "connect: listening socket", connect_listening, NULL },
    { "connect: UDP AF_UNSPEC dissolves", udp_dissolve, NULL },
    { "connect: UDP AF_UNSPEC keeps a bound port", udp_dissolve_bound, NULL },
    { "connect: UDP to another peer", udp_reconnect, NULL },
    { "getsockname: fresh TCP", name_fresh_tcp, NULL },
    { "getsockname: fresh UDP", name_fresh_udp, NULL },
    { "getsockname: length 3", name_short, NULL },
    { "getsockname: length -1", name_len_neg, NULL },
    { "getsockname: NULL length", name_len_null, NULL },
    { "getsockname: NULL address, length 0", name_null_len0, NULL },
    { "getsockname: NULL address, length 16", name_null_len16, NULL },
    { "getsockname: length 32", name_len_big, NULL },
    { "names: connected", name_connected, NULL },
    { "names: listening, not bound", name_listen_unbound, NULL },
    { "names: UDP connected", name_udp_connected, NULL },
    { "names: UDP after sendto", name_udp_after_send, NULL },
    { "names: accepted", name_accepted, NULL },
    { "getpeername: fresh TCP", peer_fresh, NULL },
    { "getpeername: fresh UDP", peer_udp_fresh, NULL },
    { "getpeername: NULL length", peer_null_len, NULL },
    { "getpeername: after refused", peer_after_refused, NULL },
    { "accept: address", accept_addr, NULL },
    { "accept: address length 2", accept_short, NULL },
    { "accept: NULL address", accept_no_addr, NULL },
    { "accept: NULL length", accept_len_null, NULL },
    { "accept: length -1", accept_len_neg, NULL },
    { NULL, NULL, NULL },
};
