/*
 * conform cases: data and connection state. send and recv in each state (unconnected,
 * connecting, shut down, reset), UDP destinations, shutdown, listen, accept, the readiness
 * poll reports, and the ioctls programs ask of sockets.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "conform.h"

#define WAIT_MS 3000

static struct sockaddr_in fam(struct sockaddr_in a, int family)
{
    a.sin_family = (sa_family_t)family;
    return a;
}

/* A TCP socket whose connect to an address nobody answers is still in progress. */
static int connecting(struct cx *c)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    struct sockaddr_in a = sin_of(conform_env.unused, c->port);
    if (s < 0 || c->o->connect(s, SA(a), sizeof(a)) == 0 || errno != EINPROGRESS)
        return -1;
    return s;
}

/* The peer resets the connection (SO_LINGER 0, close); waits until s has seen it. */
static bool peer_reset(struct cx *c, int s, int p)
{
    struct linger l = { 1, 0 };
    if (conform_kernel.setsockopt(p, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0)
        return false;
    for (int i = 0; i < c->nkfds; i++)
        if (c->kfds[i] == p)
            c->kfds[i] = c->kfds[--c->nkfds];
    conform_kernel.close(p);
    return (wait_for(c, s, POLLIN, WAIT_MS) & (POLLERR | POLLHUP)) != 0;
}

/* A kernel UDP socket on peer:port+1. */
static int udp_peer(struct cx *c)
{
    int p = conform_kernel.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (p < 0)
        return -1;
    track_peer(c, p);
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    return conform_kernel.bind(p, SA(a), sizeof(a)) == 0 ? p : -1;
}

/* A UDP socket of the column on ANY:port that has received each of msgs from the peer. */
static int udp_with(struct cx *c, const char *const *msgs, int n)
{
    int s = sock(c, SOCK_DGRAM), p = udp_peer(c);
    struct sockaddr_in any = sin_any(c->port), to = sin_self(c, c->port);
    if (s < 0 || p < 0 || c->o->bind(s, SA(any), sizeof(any)) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (conform_kernel.sendto(p, msgs[i], strlen(msgs[i]), 0, SA(to), sizeof(to)) < 0)
            return -1;
    if (!(wait_for(c, s, POLLIN, WAIT_MS) & POLLIN))
        return -1;
    if (n > 1)
        usleep(50000); /* the rest follow the first at once */
    return s;
}

static void note_data(struct cx *c, const char *buf, long n)
{
    if (n > 0)
        outf(c, "data=%.*s", (int)n, buf);
}

/* send */

static void send_fresh(struct cx *c, int flags)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->send(s, "abc", 3, flags));
    outf(c, "sigpipe=%d", took_sigpipe());
}

static void send_unconnected(struct cx *c) { send_fresh(c, MSG_NOSIGNAL); }
static void send_unconnected_sig(struct cx *c) { send_fresh(c, 0); }

static void send_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    CALL(c, c->o->send(s, "abc", 3, MSG_NOSIGNAL));
}

static void send_connecting(struct cx *c)
{
    int s = connecting(c);
    NEED(c, s >= 0, "connect");
    CALL(c, c->o->send(s, "abc", 3, MSG_NOSIGNAL));
}

static void send_shut_wr(struct cx *c, int flags, bool use_write)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    NEED(c, c->o->shutdown(s, SHUT_WR) == 0, "shutdown");
    if (use_write)
        CALL(c, c->o->write(s, "abc", 3));
    else
        CALL(c, c->o->send(s, "abc", 3, flags));
    outf(c, "sigpipe=%d", took_sigpipe());
}

static void send_after_shut_wr(struct cx *c) { send_shut_wr(c, MSG_NOSIGNAL, false); }
static void send_after_shut_wr_sig(struct cx *c) { send_shut_wr(c, 0, false); }
static void write_after_shut_wr(struct cx *c) { send_shut_wr(c, 0, true); }

static void send_len0(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    CALL(c, c->o->send(s, "", 0, 0));
}

static void send_null_buf(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    CALL(c, c->o->send(s, NULL, 5, MSG_NOSIGNAL));
}

static void sendto_tcp_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    CALL(c, c->o->sendto(s, "abc", 3, MSG_NOSIGNAL, SA(a), sizeof(a)));
}

static void sendto_tcp_unconnected(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->sendto(s, "abc", 3, MSG_NOSIGNAL, SA(a), sizeof(a)));
}

static void send_after_reset(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    NEED(c, peer_reset(c, s, p), "reset");
    note(c, "send1", c->o->send(s, "abc", 3, MSG_NOSIGNAL));
    CALL(c, c->o->send(s, "abc", 3, MSG_NOSIGNAL));
}

/* UDP destinations */

#define UDP_SEND_CASE(fn, addr_expr, len, flags)                                          \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        int s = sock(c, SOCK_DGRAM);                                                      \
        NEED(c, s >= 0, "socket");                                                        \
        struct sockaddr_in a = addr_expr;                                                 \
        CALL(c, c->o->sendto(s, "abc", 3, flags, SA(a), len));                            \
    }

UDP_SEND_CASE(udp_sendto, sin_peer((uint16_t)(c->port + 1)), sizeof(a), 0)
UDP_SEND_CASE(udp_sendto_short, sin_peer((uint16_t)(c->port + 1)), 8, 0)
UDP_SEND_CASE(udp_sendto_unix, fam(sin_peer((uint16_t)(c->port + 1)), AF_UNIX), sizeof(a), 0)
UDP_SEND_CASE(udp_sendto_unspec, fam(sin_peer((uint16_t)(c->port + 1)), AF_UNSPEC), sizeof(a),
              0)
UDP_SEND_CASE(udp_sendto_port0, sin_peer(0), sizeof(a), 0)
UDP_SEND_CASE(udp_sendto_oob, sin_peer((uint16_t)(c->port + 1)), sizeof(a), MSG_OOB)
UDP_SEND_CASE(udp_sendto_bcast, sin_of(conform_env.bcast, c->port),
              sizeof(a), 0)

static void udp_send_unconnected(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->send(s, "abc", 3, 0));
}

static void udp_sendto_null(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->sendto(s, "abc", 3, 0, NULL, sizeof(struct sockaddr_in)));
}

static void udp_sendto_bcast_allowed(struct cx *c)
{
    int one = 1, s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) == 0,
         "SO_BROADCAST");
    struct sockaddr_in a = sin_of(conform_env.bcast, c->port);
    CALL(c, c->o->sendto(s, "abc", 3, 0, SA(a), sizeof(a)));
}

static void udp_sendto_size(struct cx *c, size_t len)
{
    static char big[65600];
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->sendto(s, big, len, 0, SA(a), sizeof(a)));
}

static void udp_sendto_max(struct cx *c) { udp_sendto_size(c, 65507); }
static void udp_sendto_too_big(struct cx *c) { udp_sendto_size(c, 65508); }
static void udp_sendto_len0(struct cx *c) { udp_sendto_size(c, 0); }

static void udp_sendto_null_buf(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->sendto(s, NULL, 3, 0, SA(a), sizeof(a)));
}

static void udp_connected_sendto_other(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    CALL(c, c->o->sendto(s, "abc", 3, 0, SA(a), sizeof(a)));
}

static void udp_send_shut_wr(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0 && c->o->shutdown(s, SHUT_WR) == 0, "shutdown");
    CALL(c, c->o->send(s, "abc", 3, 0)); /* EPIPE, but no SIGPIPE for a datagram socket */
    outf(c, "sigpipe=%d", took_sigpipe());
}

/* A connected UDP socket learns of the closed port from ICMP; an unconnected one does not. */
static void udp_refused(struct cx *c, bool conn)
{
    int s = sock(c, SOCK_DGRAM);
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    NEED(c, s >= 0, "socket");
    NEED(c, !conn || c->o->connect(s, SA(a), sizeof(a)) == 0, "connect");
    NEED(c, c->o->sendto(s, "abc", 3, 0, SA(a), sizeof(a)) == 3, "sendto");
    outf(c, "revents=%#x", wait_for(c, s, POLLIN, conn ? WAIT_MS : 200));
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
    note(c, "again", c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

static void udp_refused_connected(struct cx *c) { udp_refused(c, true); }
static void udp_refused_unconnected(struct cx *c) { udp_refused(c, false); }

/* recv */

static void recv_fresh(struct cx *c, size_t len, int flags)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    char b[8];
    CALL(c, c->o->recv(s, b, len, flags));
}

static void recv_unconnected(struct cx *c) { recv_fresh(c, 8, 0); }
static void recv_unconnected_len0(struct cx *c) { recv_fresh(c, 0, 0); }
static void recv_oob_unconnected(struct cx *c) { recv_fresh(c, 8, MSG_OOB | MSG_DONTWAIT); }

static void recv_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

static void recv_connecting(struct cx *c)
{
    int s = connecting(c);
    NEED(c, s >= 0, "connect");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), 0));
}

static void recv_connected(struct cx *c, size_t len, int flags)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    char b[8] = "";
    CALL(c, c->o->recv(s, b, len, flags));
}

static void recv_dontwait(struct cx *c) { recv_connected(c, 8, MSG_DONTWAIT); }
/* Length 0 waits for data in the kernel (its low-water mark is at least one byte). */
static void recv_len0(struct cx *c) { recv_connected(c, 0, MSG_DONTWAIT); }
static void recv_oob(struct cx *c) { recv_connected(c, 8, MSG_OOB | MSG_DONTWAIT); }
static void recv_peek_dontwait(struct cx *c) { recv_connected(c, 8, MSG_PEEK | MSG_DONTWAIT); }

/* A connected socket with "hello" from the peer waiting in it. */
static int with_hello(struct cx *c)
{
    int p, s = connected(c, &p);
    if (s < 0 || conform_kernel.send(p, "hello", 5, 0) != 5)
        return -1;
    return (wait_for(c, s, POLLIN, WAIT_MS) & POLLIN) ? s : -1;
}

static void recv_peek(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    char b[16];
    long n = c->o->recv(s, b, 3, MSG_PEEK);
    note(c, "peek", n);
    note_data(c, b, n);
    CALL(c, c->o->recv(s, b, sizeof(b), 0));
    note_data(c, b, c->r.ret);
}

static void recv_len0_data(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    char b[8];
    CALL(c, c->o->recv(s, b, 0, 0));
    note(c, "then", c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

static void recv_waitall_dontwait(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    char b[16];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_WAITALL | MSG_DONTWAIT));
}

static void recv_null_buf(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    CALL(c, c->o->recv(s, NULL, 5, 0));
}

static void recvfrom_tcp(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    char b[16];
    struct sockaddr_in a;
    memset(&a, 0xee, sizeof(a));
    socklen_t l = sizeof(a);
    CALL(c, c->o->recvfrom(s, b, sizeof(b), 0, SA(a), &l));
    outf(c, "fromlen=%u family=%#x", (unsigned)l, a.sin_family);
}

static void read_peer_closed(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    NEED(c, conform_kernel.shutdown(p, SHUT_WR) == 0, "peer shutdown");
    outf(c, "revents=%#x", wait_for(c, s, POLLIN | POLLRDHUP, WAIT_MS));
    char b[8];
    CALL(c, c->o->read(s, b, sizeof(b)));
}

static void recv_after_shut_rd(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0 && c->o->shutdown(s, SHUT_RD) == 0, "shutdown");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

static void recv_after_reset(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    NEED(c, peer_reset(c, s, p), "reset");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), 0));
    note(c, "again", c->o->recv(s, b, sizeof(b), 0));
}

static void so_error_after_reset(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    NEED(c, peer_reset(c, s, p), "reset");
    int e = -1;
    socklen_t l = sizeof(e);
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l));
    outf(c, "so_error=%d", e);
    char b[8];
    note(c, "recv", c->o->recv(s, b, sizeof(b), 0));
    note(c, "send", c->o->send(s, "x", 1, MSG_NOSIGNAL));
}

static void udp_recv_empty(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

static void udp_recvfrom(struct cx *c, socklen_t len)
{
    static const char *const msgs[] = { "hello" };
    int s = udp_with(c, msgs, 1);
    NEED(c, s >= 0, "datagram");
    char b[16];
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    socklen_t l = len;
    CALL(c, c->o->recvfrom(s, b, sizeof(b), 0, SA(a), &l));
    note_addr(c, "from", &a, l, true);
}

static void udp_recvfrom_full(struct cx *c) { udp_recvfrom(c, sizeof(struct sockaddr_in)); }
static void udp_recvfrom_short(struct cx *c) { udp_recvfrom(c, 4); }

static void udp_truncate(struct cx *c, int flags)
{
    static const char *const msgs[] = { "0123456789", "ab" };
    int s = udp_with(c, msgs, 2);
    NEED(c, s >= 0, "datagram");
    char b[16];
    CALL(c, c->o->recv(s, b, 4, flags));
    long n = c->o->recv(s, b, sizeof(b), MSG_DONTWAIT);
    note(c, "next", n);
    note_data(c, b, n);
}

static void udp_recv_truncated(struct cx *c) { udp_truncate(c, 0); }
static void udp_recv_trunc_flag(struct cx *c) { udp_truncate(c, MSG_TRUNC); }
static void udp_recv_peek(struct cx *c) { udp_truncate(c, MSG_PEEK); }

static void udp_recv_shut_rd(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0 && c->o->shutdown(s, SHUT_RD) == 0, "shutdown");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

/* talking to oneself: the stack's own address */

static void connect_self(struct cx *c)
{
    int l = sock(c, SOCK_STREAM), s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    struct sockaddr_in any = sin_any(c->port), self = sin_self(c, c->port);
    NEED(c, l >= 0 && s >= 0 && c->o->bind(l, SA(any), sizeof(any)) == 0, "bind");
    NEED(c, c->o->listen(l, 1) == 0, "listen");
    note(c, "connect", c->o->connect(s, SA(self), sizeof(self)));
    outf(c, "revents=%#x", wait_for(c, s, POLLOUT, 2000));
    int e = -1;
    socklen_t len = sizeof(e);
    c->o->getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len);
    outf(c, "so_error=%d", e);
    CALL_FD(c, c->o->accept(l, NULL, NULL));
    if (c->r.ret < 0)
        return;
    int a = (int)c->r.ret;
    char b[8] = "";
    note(c, "send", c->o->send(s, "hi", 2, 0));
    wait_for(c, a, POLLIN, 2000);
    long n = c->o->recv(a, b, sizeof(b), MSG_DONTWAIT);
    note(c, "recv", n);
    note_data(c, b, n);
    drop(c, s);
    wait_for(c, a, POLLIN, 2000);
    note(c, "eof", c->o->recv(a, b, sizeof(b), MSG_DONTWAIT));
}

static void udp_self(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    struct sockaddr_in any = sin_any(c->port), self = sin_self(c, c->port);
    NEED(c, s >= 0 && c->o->bind(s, SA(any), sizeof(any)) == 0, "bind");
    note(c, "sendto", c->o->sendto(s, "me", 2, 0, SA(self), sizeof(self)));
    outf(c, "revents=%#x", wait_for(c, s, POLLIN, 2000));
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}

/* shutdown */

static void shutdown_fresh(struct cx *c, int type, int how)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->shutdown(s, how));
}

static void shutdown_unconnected(struct cx *c) { shutdown_fresh(c, SOCK_STREAM, SHUT_RDWR); }
static void shutdown_bad_how_fresh(struct cx *c) { shutdown_fresh(c, SOCK_STREAM, 3); }
static void shutdown_udp_unconnected(struct cx *c) { shutdown_fresh(c, SOCK_DGRAM, SHUT_WR); }

static void shutdown_connected(struct cx *c, int how, int how2)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    if (how2 >= 0)
        note(c, "first", c->o->shutdown(s, how2));
    CALL(c, c->o->shutdown(s, how));
}

static void shutdown_bad_how(struct cx *c) { shutdown_connected(c, 3, -1); }
static void shutdown_how_neg(struct cx *c) { shutdown_connected(c, -1, -1); }
static void shutdown_wr_twice(struct cx *c) { shutdown_connected(c, SHUT_WR, SHUT_WR); }

static void shutdown_udp_connected(struct cx *c)
{
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    CALL(c, c->o->shutdown(s, SHUT_RDWR));
}

static void shutdown_listening(struct cx *c, int how)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    CALL(c, c->o->shutdown(s, how));
    note(c, "accept", c->o->accept(s, NULL, NULL));
    int v = -1;
    socklen_t l = sizeof(v);
    c->o->getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l);
    outf(c, "acceptconn=%d revents=%#x", v, wait_for(c, s, POLLIN | POLLOUT, 0));
}

static void shutdown_listen_rdwr(struct cx *c) { shutdown_listening(c, SHUT_RDWR); }
static void shutdown_listen_wr(struct cx *c) { shutdown_listening(c, SHUT_WR); }

static void shutdown_connecting(struct cx *c)
{
    int l = peer_listener(c), s = connecting(c);
    NEED(c, l >= 0 && s >= 0, "connect");
    CALL(c, c->o->shutdown(s, SHUT_RDWR));
    outf(c, "revents=%#x", wait_for(c, s, POLLIN | POLLOUT | POLLRDHUP, 0));
    int e = -1;
    socklen_t len = sizeof(e);
    c->o->getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len);
    outf(c, "so_error=%d", e);
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    note(c, "connect", c->o->connect(s, SA(a), sizeof(a)));
}

struct blocked {
    const struct ops *o;
    int fd;
    long ret;
    int err;
};

static void *accept_thread(void *arg)
{
    struct blocked *b = arg;
    b->ret = b->o->accept(b->fd, NULL, NULL);
    b->err = errno;
    return NULL;
}

/* A thread blocked in accept: shutdown of the listener ends it (EINVAL). */
static void shutdown_wakes_accept(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    struct blocked b = { c->o, s, 0, 0 };
    pthread_t t;
    NEED(c, pthread_create(&t, NULL, accept_thread, &b) == 0, "thread");
    usleep(100000);
    CALL(c, c->o->shutdown(s, SHUT_RDWR));
    pthread_join(t, NULL);
    errno = b.err;
    note(c, "accept", b.ret);
    if (b.ret >= 0)
        track(c, (int)b.ret);
}

/* listen and accept */

static void listen_udp(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->listen(s, 1));
}

static void listen_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    CALL(c, c->o->listen(s, 1));
}

static void listen_twice(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    CALL(c, c->o->listen(s, 5));
}

static void listen_backlog_neg(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->listen(s, -1));
}

static void listen_after_refused(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    NEED(c, s >= 0 && c->o->connect(s, SA(a), sizeof(a)) < 0, "connect refused");
    CALL(c, c->o->listen(s, 1));
}

static void accept_fresh(struct cx *c, int type, int flags)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    CALL_FD(c, c->o->accept4(s, NULL, NULL, flags));
}

static void accept_not_listening(struct cx *c) { accept_fresh(c, SOCK_STREAM, 0); }
static void accept_udp(struct cx *c) { accept_fresh(c, SOCK_DGRAM, 0); }
static void accept4_bad_flags_udp(struct cx *c) { accept_fresh(c, SOCK_DGRAM, 0x1234); }

static void accept4_bad_flags(struct cx *c)
{
    int p, l = listening(c, &p);
    NEED(c, l >= 0, "listen");
    CALL_FD(c, c->o->accept4(l, NULL, NULL, O_APPEND));
}

static void accept_empty(struct cx *c)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    CALL_FD(c, c->o->accept(s, NULL, NULL));
}

static void accept_timeout(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    struct timeval tv = { 0, 100000 };
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO");
    CALL_FD(c, c->o->accept(s, NULL, NULL));
}

static void accept_flags(struct cx *c, int lflags, int aflags)
{
    int p, l = listening(c, &p);
    NEED(c, l >= 0, "listen");
    NEED(c, c->o->fcntl(l, F_SETFL, lflags) == 0, "F_SETFL");
    CALL_FD(c, c->o->accept4(l, NULL, NULL, aflags));
    if (c->r.ret >= 0)
        outf(c, "fl=%#x fd=%#x", c->o->fcntl((int)c->r.ret, F_GETFL, 0),
             c->o->fcntl((int)c->r.ret, F_GETFD, 0));
}

static void accept4_flags(struct cx *c) { accept_flags(c, 0, SOCK_NONBLOCK | SOCK_CLOEXEC); }
static void accept_no_inherit(struct cx *c) { accept_flags(c, O_NONBLOCK, 0); }

/* poll */

/* The call under test is the poll; its revents go to out, in hex. */
static void poll_of(struct cx *c, int s)
{
    struct pollfd f = { .fd = s, .events = POLLIN | POLLOUT | POLLRDHUP };
    CALL(c, c->o->poll(&f, 1, 0));
    outf(c, "revents=%#x", f.revents);
}

static void poll_fresh_tcp(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    poll_of(c, s);
}

static void poll_fresh_udp(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    poll_of(c, s);
}

static void poll_listen_empty(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    poll_of(c, s);
}

static void poll_listen_pending(struct cx *c)
{
    int p, l = listening(c, &p);
    NEED(c, l >= 0, "listen");
    poll_of(c, l);
}

static void poll_connecting(struct cx *c)
{
    int s = connecting(c);
    NEED(c, s >= 0, "connect");
    poll_of(c, s);
}

static void poll_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    poll_of(c, s);
}

static void poll_data(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    poll_of(c, s);
}

static void poll_peer_closed(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0 && conform_kernel.shutdown(p, SHUT_WR) == 0, "peer shutdown");
    wait_for(c, s, POLLRDHUP, WAIT_MS);
    poll_of(c, s);
}

static void poll_shut(struct cx *c, int how)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0 && c->o->shutdown(s, how) == 0, "shutdown");
    poll_of(c, s);
}

static void poll_shut_wr(struct cx *c) { poll_shut(c, SHUT_WR); }
static void poll_shut_rd(struct cx *c) { poll_shut(c, SHUT_RD); }
static void poll_shut_rdwr(struct cx *c) { poll_shut(c, SHUT_RDWR); }

static void poll_both_closed(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0 && c->o->shutdown(s, SHUT_WR) == 0, "shutdown");
    NEED(c, conform_kernel.shutdown(p, SHUT_WR) == 0, "peer shutdown");
    wait_for(c, s, POLLRDHUP, WAIT_MS);
    usleep(20000); /* the peer's ACK of our FIN */
    poll_of(c, s);
}

static void poll_reset(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    NEED(c, peer_reset(c, s, p), "reset");
    poll_of(c, s);
}

static void poll_udp_data(struct cx *c)
{
    static const char *const msgs[] = { "hello" };
    int s = udp_with(c, msgs, 1);
    NEED(c, s >= 0, "datagram");
    poll_of(c, s);
}

/* ioctl */

static void ioctl_int(struct cx *c, int s, unsigned long req)
{
    int v = -1;
    CALL(c, c->o->ioctl(s, req, &v));
    if (c->r.ret == 0)
        outf(c, "v=%d", v);
}

static void fionread_fresh(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    ioctl_int(c, s, FIONREAD);
}

static void fionread_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    ioctl_int(c, s, FIONREAD);
}

static void fionread_data(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    ioctl_int(c, s, FIONREAD);
}

static void fionread_udp(struct cx *c)
{
    static const char *const msgs[] = { "1234567", "abc" };
    int s = udp_with(c, msgs, 2);
    NEED(c, s >= 0, "datagrams");
    ioctl_int(c, s, FIONREAD);
}

static void outq_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    ioctl_int(c, s, SIOCOUTQ);
}

static void outqnsd_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    ioctl_int(c, s, SIOCOUTQNSD);
}

static void outq_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    ioctl_int(c, s, SIOCOUTQ);
}

static void atmark_connected(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    ioctl_int(c, s, SIOCATMARK);
}

static void ioctl_udp(struct cx *c, unsigned long req)
{
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    ioctl_int(c, s, req);
}

static void outq_udp(struct cx *c) { ioctl_udp(c, SIOCOUTQ); }
static void atmark_udp(struct cx *c) { ioctl_udp(c, SIOCATMARK); }

static void ioctl_unknown(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    ioctl_int(c, s, _IO('z', 99));
}

const struct conform_case conform_io_cases[] = {
    { "send: unconnected TCP", send_unconnected, NULL },
    { "send: unconnected TCP, no MSG_NOSIGNAL", send_unconnected_sig, NULL },
    { "send: listening", send_listening, NULL },
    { "send: connect in progress", send_connecting, NULL },
    { "send: after SHUT_WR", send_after_shut_wr, NULL },
    { "send: after SHUT_WR, no MSG_NOSIGNAL", send_after_shut_wr_sig, NULL },
    { "write: after SHUT_WR", write_after_shut_wr, NULL },
    { "send: length 0", send_len0, NULL },
    { "send: NULL buffer", send_null_buf, NULL },
    { "sendto: TCP connected, other address", sendto_tcp_connected, NULL },
    { "sendto: TCP unconnected, with address", sendto_tcp_unconnected, NULL },
    { "send: after reset", send_after_reset, NULL },
    { "sendto: UDP", udp_sendto, NULL },
    { "send: UDP unconnected", udp_send_unconnected, NULL },
    { "sendto: UDP NULL address", udp_sendto_null, NULL },
    { "sendto: UDP length 8", udp_sendto_short, NULL },
    { "sendto: UDP AF_UNIX family", udp_sendto_unix, NULL },
    { "sendto: UDP AF_UNSPEC family", udp_sendto_unspec, NULL },
    { "sendto: UDP port 0", udp_sendto_port0, NULL },
    { "sendto: UDP MSG_OOB", udp_sendto_oob, NULL },
    { "sendto: UDP broadcast", udp_sendto_bcast, NULL },
    { "sendto: UDP broadcast, SO_BROADCAST", udp_sendto_bcast_allowed, NULL },
    { "sendto: UDP 65507 bytes", udp_sendto_max, NULL },
    { "sendto: UDP 65508 bytes", udp_sendto_too_big, NULL },
    { "sendto: UDP 0 bytes", udp_sendto_len0, NULL },
    { "sendto: UDP NULL buffer", udp_sendto_null_buf, NULL },
    { "sendto: UDP connected, other address", udp_connected_sendto_other, NULL },
    { "send: UDP after SHUT_WR", udp_send_shut_wr, NULL },
    { "recv: UDP connected, port closed (ICMP)", udp_refused_connected, NULL },
    { "recv: UDP unconnected, port closed (ICMP)", udp_refused_unconnected, NULL },
    { "recv: unconnected TCP", recv_unconnected, NULL },
    { "recv: unconnected TCP, length 0", recv_unconnected_len0, NULL },
    { "recv: unconnected TCP, MSG_OOB", recv_oob_unconnected, NULL },
    { "recv: listening", recv_listening, NULL },
    { "recv: connect in progress", recv_connecting, NULL },
    { "recv: MSG_DONTWAIT, nothing there", recv_dontwait, NULL },
    { "recv: length 0, MSG_DONTWAIT", recv_len0, NULL },
    { "recv: MSG_OOB, no urgent data", recv_oob, NULL },
    { "recv: MSG_PEEK|MSG_DONTWAIT, nothing there", recv_peek_dontwait, NULL },
    { "recv: MSG_PEEK, then read", recv_peek, NULL },
    { "recv: length 0, data there", recv_len0_data, NULL },
    { "recv: MSG_WAITALL|MSG_DONTWAIT, partial", recv_waitall_dontwait, NULL },
    { "recv: NULL buffer, data there", recv_null_buf, NULL },
    { "recvfrom: TCP address", recvfrom_tcp, NULL },
    { "read: peer closed", read_peer_closed, NULL },
    { "recv: after SHUT_RD", recv_after_shut_rd, NULL },
    { "recv: after reset", recv_after_reset, NULL },
    { "SO_ERROR: after reset", so_error_after_reset, NULL },
    { "recv: UDP nothing there", udp_recv_empty, NULL },
    { "recvfrom: UDP address", udp_recvfrom_full, NULL },
    { "recvfrom: UDP address length 4", udp_recvfrom_short, NULL },
    { "recv: UDP truncated", udp_recv_truncated, NULL },
    { "recv: UDP MSG_TRUNC", udp_recv_trunc_flag, NULL },
    { "recv: UDP MSG_PEEK", udp_recv_peek, NULL },
    { "recv: UDP after SHUT_RD", udp_recv_shut_rd, NULL },
    { "connect: own address, listener there", connect_self, NULL },
    { "sendto: UDP to own address", udp_self, NULL },
    { "shutdown: unconnected TCP", shutdown_unconnected, NULL },
    { "shutdown: how 3, unconnected", shutdown_bad_how_fresh, NULL },
    { "shutdown: UDP unconnected", shutdown_udp_unconnected, NULL },
    { "shutdown: how 3", shutdown_bad_how, NULL },
    { "shutdown: how -1", shutdown_how_neg, NULL },
    { "shutdown: SHUT_WR twice", shutdown_wr_twice, NULL },
    { "shutdown: UDP connected", shutdown_udp_connected, NULL },
    { "shutdown: listening, SHUT_RDWR", shutdown_listen_rdwr, NULL },
    { "shutdown: listening, SHUT_WR", shutdown_listen_wr, NULL },
    { "shutdown: connect in progress", shutdown_connecting, NULL },
    { "shutdown: listener, accept blocked in a thread", shutdown_wakes_accept, NULL },
    { "listen: UDP", listen_udp, NULL },
    { "listen: connected", listen_connected, NULL },
    { "listen: twice", listen_twice, NULL },
    { "listen: backlog -1", listen_backlog_neg, NULL },
    { "listen: after a refused connect", listen_after_refused, NULL },
    { "accept: not listening", accept_not_listening, NULL },
    { "accept: UDP", accept_udp, NULL },
    { "accept4: bad flags", accept4_bad_flags, NULL },
    { "accept4: UDP, bad flags", accept4_bad_flags_udp, NULL },
    { "accept: non-blocking, nothing there", accept_empty, NULL },
    { "accept: SO_RCVTIMEO expires", accept_timeout, NULL },
    { "accept4: SOCK_NONBLOCK|SOCK_CLOEXEC", accept4_flags, NULL },
    { "accept: O_NONBLOCK not inherited", accept_no_inherit, NULL },
    { "poll: fresh TCP", poll_fresh_tcp, NULL },
    { "poll: fresh UDP", poll_fresh_udp, NULL },
    { "poll: listening, nothing there", poll_listen_empty, NULL },
    { "poll: listening, connection waiting", poll_listen_pending, NULL },
    { "poll: connect in progress", poll_connecting, NULL },
    { "poll: connected", poll_connected, NULL },
    { "poll: data there", poll_data, NULL },
    { "poll: peer closed", poll_peer_closed, NULL },
    { "poll: after SHUT_WR", poll_shut_wr, NULL },
    { "poll: after SHUT_RD", poll_shut_rd, NULL },
    { "poll: after SHUT_RDWR", poll_shut_rdwr, NULL },
    { "poll: both sides closed", poll_both_closed, NULL },
    { "poll: reset", poll_reset, NULL },
    { "poll: UDP datagram there", poll_udp_data, NULL },
    { "ioctl FIONREAD: fresh TCP", fionread_fresh, NULL },
    { "ioctl FIONREAD: listening", fionread_listening, NULL },
    { "ioctl FIONREAD: data there", fionread_data, NULL },
    { "ioctl FIONREAD: UDP, two datagrams", fionread_udp, NULL },
    { "ioctl SIOCOUTQ: connected, idle", outq_connected, NULL },
    { "ioctl SIOCOUTQNSD: connected, idle", outqnsd_connected, NULL },
    { "ioctl SIOCOUTQ: listening", outq_listening, NULL },
    { "ioctl SIOCOUTQ: UDP", outq_udp, NULL },
    { "ioctl SIOCATMARK: connected", atmark_connected, NULL },
    { "ioctl SIOCATMARK: UDP", atmark_udp, NULL },
    { "ioctl: unknown request", ioctl_unknown, NULL },
    { NULL, NULL, NULL },
};
