/*
 * conform cases: data. send and recv in each state (unconnected, connecting, shut down,
 * reset), TCP and UDP, and where a datagram may go (addresses, sizes, broadcast, ICMP).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

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
UDP_SEND_CASE(udp_sendto_unix, with_family(sin_peer((uint16_t)(c->port + 1)), AF_UNIX), sizeof(a), 0)
UDP_SEND_CASE(udp_sendto_unspec, with_family(sin_peer((uint16_t)(c->port + 1)), AF_UNSPEC), sizeof(a),
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

/* The error a connected UDP socket learned from ICMP fails its next send, once. */
static void udp_refused_send(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    NEED(c, s >= 0 && c->o->connect(s, SA(a), sizeof(a)) == 0, "connect");
    NEED(c, c->o->send(s, "abc", 3, 0) == 3, "send");
    outf(c, "revents=%#x", wait_for(c, s, POLLIN, WAIT_MS));
    CALL(c, c->o->send(s, "abc", 3, 0));
    note(c, "again", c->o->send(s, "abc", 3, 0));
}

/* A connected UDP socket takes datagrams from its peer only. */
static void udp_connected_filters(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM), p = udp_peer(c);
    int other = conform_kernel.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    NEED(c, s >= 0 && p >= 0 && other >= 0, "socket");
    track_peer(c, other);
    struct sockaddr_in any = sin_any(c->port), self = sin_self(c, c->port);
    struct sockaddr_in to = sin_peer((uint16_t)(c->port + 1));
    NEED(c, c->o->bind(s, SA(any), sizeof(any)) == 0, "bind");
    NEED(c, c->o->connect(s, SA(to), sizeof(to)) == 0, "connect");
    NEED(c, conform_kernel.sendto(other, "no", 2, 0, SA(self), sizeof(self)) == 2, "other");
    NEED(c, conform_kernel.sendto(p, "yes", 3, 0, SA(self), sizeof(self)) == 3, "peer");
    wait_for(c, s, POLLIN, WAIT_MS);
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
    note_data(c, b, c->r.ret);
    note(c, "next", c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
}
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

static void recv_null_buf_empty(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    CALL(c, c->o->recv(s, NULL, 5, MSG_DONTWAIT));
}

static void udp_recv_null_buf(struct cx *c)
{
    static const char *const msgs[] = { "one", "two" };
    int s = udp_with(c, msgs, 2);
    NEED(c, s >= 0, "datagrams");
    CALL(c, c->o->recv(s, NULL, 5, 0));
    char b[8];
    long n = c->o->recv(s, b, sizeof(b), MSG_DONTWAIT);
    note(c, "next", n);
    note_data(c, b, n);
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

/* Data the peer sends after SHUT_RD. */
static void recv_shut_rd_then_data(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0 && c->o->shutdown(s, SHUT_RD) == 0, "shutdown");
    NEED(c, conform_kernel.send(p, "late", 4, 0) == 4 && fence(c), "peer send");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
    note_data(c, b, c->r.ret);
    note(c, "peer_send", conform_kernel.send(p, "more", 4, MSG_NOSIGNAL));
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
    { "send: UDP connected, port closed (ICMP)", udp_refused_send, NULL },
    { "recv: UDP connected, another sender", udp_connected_filters, NULL },
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
    { "recv: NULL buffer, nothing there", recv_null_buf_empty, NULL },
    { "recv: UDP NULL buffer", udp_recv_null_buf, NULL },
    { "recvfrom: TCP address", recvfrom_tcp, NULL },
    { "read: peer closed", read_peer_closed, NULL },
    { "recv: after SHUT_RD", recv_after_shut_rd, NULL },
    { "recv: data after SHUT_RD", recv_shut_rd_then_data, NULL },
    { "recv: after reset", recv_after_reset, NULL },
    { "SO_ERROR: after reset", so_error_after_reset, NULL },
    { "recv: UDP nothing there", udp_recv_empty, NULL },
    { "recvfrom: UDP address", udp_recvfrom_full, NULL },
    { "recvfrom: UDP address length 4", udp_recvfrom_short, NULL },
    { "recv: UDP truncated", udp_recv_truncated, NULL },
    { "recv: UDP MSG_TRUNC", udp_recv_trunc_flag, NULL },
    { "recv: UDP MSG_PEEK", udp_recv_peek, NULL },
    { "recv: UDP after SHUT_RD", udp_recv_shut_rd, NULL },
    { NULL, NULL, NULL },
};
