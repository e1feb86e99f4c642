/*
 * tests/fuzz/fuzz_api.c — libFuzzer target: sequences of core API calls (include/netcore.h)
 * with arguments decoded from the input: bad handles, bad lengths, NULL buffers, odd
 * addresses and option values, and clock steps in between.
 *
 * Input: records of one operation byte followed by the argument bytes that operation reads
 * (a missing byte reads as 0). Every socket is made non-blocking as soon as it exists, and
 * every call that could wait is given MSG_DONTWAIT or a zero timeout, so no input hangs.
 *
 * The stack runs in manual mode on the wire device. At the other end a stateless peer
 * (198.18.0.1) answers ARP, acknowledges every TCP segment it gets (SYNs with a SYN-ACK,
 * port 1 with a reset) and echoes UDP datagrams sent to port 7, so that connections to it
 * open, carry data and close. Each input gets a fresh stack, stopped at the end: the leak
 * checker sees everything the input allocated.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "scene.h"

#define STACK_IP 0xc6120002u
#define PEER_IP 0xc6120001u
#define PEER_ISN 0x20000000u
#define MAX_SOCKETS 8
#define MAX_OPS 256

static const uint8_t stack_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

struct in {
    const uint8_t *p;
    size_t left;
};

struct world {
    struct netcore_stack *st;
    int fd;  /* the peer's end of the wire */
    int efd; /* an eventfd for netcore_watch */
};

static uint8_t wire_buf[70000];
static uint8_t data_buf[70000]; /* send and receive buffer, larger than any length picked */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_api: invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static uint8_t u8(struct in *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

#define PICK(in, arr) ((arr)[u8(in) % (sizeof(arr) / sizeof((arr)[0]))])

/* A handle: mostly one of the table's, sometimes just outside it or far off. */
static int handle(struct in *in)
{
    uint8_t b = u8(in);
    if (b == 0xff)
        return 0x7fffffff;
    if (b == 0xfe)
        return (int)0x80000000u;
    return (int)(b % (MAX_SOCKETS + 3)) - 2;
}

static size_t length(struct in *in)
{
    static const size_t lens[] = { 0, 1, 2, 7, 100, 1460, 1461, 4096, 5000, 20000, 65507,
                                   65508, 69999 };
    return PICK(in, lens);
}

/* Fills addr with an address chosen by the input; returns its length (or a bad one). */
static socklen_t address(struct in *in, struct sockaddr_storage *ss, bool *null)
{
    static const uint32_t ips[] = { STACK_IP, PEER_IP, 0, 0x7f000001, 0xc6120063,
                                    0x0a000001, 0xffffffff, 0xe0000001, 0xc61200ff };
    static const uint16_t ports[] = { 0, 7, 80, 81, 1, 5353, 65535 };
    static const socklen_t lens[] = { sizeof(struct sockaddr_in), sizeof(struct sockaddr_in),
                                      0, 2, 15, sizeof(struct sockaddr_in6), 128 };
    uint8_t kind = u8(in);
    memset(ss, 0, sizeof(*ss));
    *null = kind % 16 == 15;
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = kind % 16 == 14 ? AF_INET6 : kind % 16 == 13 ? AF_UNSPEC : AF_INET;
    a->sin_addr.s_addr = htonl(PICK(in, ips));
    uint8_t p = u8(in);
    a->sin_port = htons(p < 0xf0 ? ports[p % (sizeof(ports) / sizeof(ports[0]))]
                                 : (uint16_t)(1024 + p));
    return PICK(in, lens);
}

static void check_rc(const char *call, long rc)
{
    if (rc < -4095)
        fail("%s returned %ld, not a negative errno", call, rc);
}

/* The peer: answers what the stack sent (see the top of the file). */
static void peer_answer(struct world *w, const uint8_t *f, size_t len)
{
    struct fz_frame out;
    if (len < FZ_ETH_HDR + 28)
        return;
    const uint8_t *p = f + FZ_ETH_HDR;
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    if (type == 0x0806) {
        uint32_t tpa = (uint32_t)p[24] << 24 | p[25] << 16 | p[26] << 8 | p[27];
        if (p[7] != 1 || tpa != PEER_IP)
            return;
        fz_arp(&out, stack_mac, peer_mac, 2, peer_mac, PEER_IP, stack_mac, STACK_IP);
        write(w->fd, out.b, out.len);
        return;
    }
    if (type != 0x0800 || p[0] != 0x45 || (p[6] & 0x3f) != 0 || p[7] != 0)
        return;
    uint32_t daddr = (uint32_t)p[16] << 24 | p[17] << 16 | p[18] << 8 | p[19];
    size_t total = (size_t)(p[2] << 8 | p[3]);
    if (daddr != PEER_IP || total > len - FZ_ETH_HDR || total < 28)
        return;
    const uint8_t *l4 = p + 20;
    uint16_t sport = (uint16_t)(l4[0] << 8 | l4[1]), dport = (uint16_t)(l4[2] << 8 | l4[3]);
    if (p[9] == 17 && dport == 7) {
        fz_udp4(&out, stack_mac, peer_mac, PEER_IP, STACK_IP, 7, sport, l4 + 8,
                total - 28 < 1400 ? total - 28 : 1400);
        write(w->fd, out.b, out.len);
        return;
    }
    if (p[9] != 6 || total < 40)
        return;
    uint8_t fl = l4[13];
    size_t hl = (size_t)(l4[12] >> 4) * 4;
    if (fl & FZ_RST || hl < 20 || hl > total - 20)
        return;
    uint32_t seq = (uint32_t)l4[4] << 24 | l4[5] << 16 | l4[6] << 8 | l4[7];
    uint32_t ack = (uint32_t)l4[8] << 24 | l4[9] << 16 | l4[10] << 8 | l4[11];
    uint32_t seglen = (uint32_t)(total - 20 - hl) + !!(fl & FZ_SYN) + !!(fl & FZ_FIN);
    struct fz_tcp t = { .saddr = PEER_IP, .daddr = STACK_IP, .sport = dport, .dport = sport,
                        .seq = PEER_ISN + 1, .ack = seq + seglen, .flags = FZ_ACK,
                        .win = 65535 };
    if (dport == 1) {
        t.seq = ack;
        t.flags = FZ_RST | FZ_ACK;
    } else if ((fl & (FZ_SYN | FZ_ACK)) == FZ_SYN) {
        t.seq = PEER_ISN;
        t.flags = FZ_SYN | FZ_ACK;
    } else if (seglen == 0) {
        return; /* a bare ACK */
    }
    fz_tcp4(&out, stack_mac, peer_mac, &t);
    write(w->fd, out.b, out.len);
}

/* Runs the stack until the peer has nothing more to say (bounded). */
static void settle(struct world *w)
{
    for (int round = 0; round < 4; round++) {
        netcore_step(w->st, 0);
        ssize_t n;
        int got = 0;
        while ((n = read(w->fd, wire_buf, sizeof(wire_buf))) >= 0) {
            peer_answer(w, wire_buf, (size_t)n);
            got++;
        }
        if (got == 0)
            return;
    }
}

static void op_socket(struct world *w, struct in *in)
{
    static const int domains[] = { AF_INET, AF_INET, AF_INET6, AF_UNIX, -1 };
    static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW,
                                 SOCK_SEQPACKET, 0, 11, 15, 16, -1 };
    static const int flags[] = { SOCK_NONBLOCK, 0, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC };
    static const int protos[] = { 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, -1 };
    int domain = PICK(in, domains), type = PICK(in, types) | PICK(in, flags);
    int s = netcore_socket(w->st, domain, type, PICK(in, protos));
    check_rc("socket", s);
    if (s >= MAX_SOCKETS)
        fail("socket returned handle %d in a table of %d", s, MAX_SOCKETS);
    if (s >= 0 && netcore_set_nonblock(w->st, s, 1) != 0)
        fail("set_nonblock on new socket %d", s);
}

static void op_bind_connect(struct world *w, struct in *in, bool connect)
{
    int s = handle(in);
    struct sockaddr_storage ss;
    bool null;
    socklen_t len = address(in, &ss, &null);
    const struct sockaddr *a = null ? NULL : (struct sockaddr *)&ss;
    int rc = connect ? netcore_connect(w->st, s, a, len) : netcore_bind(w->st, s, a, len);
    check_rc(connect ? "connect" : "bind", rc);
}

static void op_listen(struct world *w, struct in *in)
{
    static const int backlogs[] = { 1, 2, 0, -1, 3, 1000, 0x7fffffff, (int)0x80000000u };
    int s = handle(in);
    check_rc("listen", netcore_listen(w->st, s, PICK(in, backlogs)));
}

static void op_accept(struct world *w, struct in *in)
{
    static const int flags[] = { SOCK_NONBLOCK, 0, SOCK_CLOEXEC, 0x4000000 };
    static const socklen_t lens[] = { sizeof(struct sockaddr_in), 0, 4, 128, 0x80000000u };
    int s = handle(in);
    uint8_t how = u8(in);
    struct sockaddr_storage ss;
    socklen_t len = PICK(in, lens), len0 = len;
    int n = netcore_accept(w->st, s, how & 1 ? NULL : (struct sockaddr *)&ss,
                           how & 2 ? NULL : &len, PICK(in, flags));
    check_rc("accept", n);
    if (n >= MAX_SOCKETS)
        fail("accept returned handle %d", n);
    if (n >= 0) {
        if (!(how & 1) && len != sizeof(struct sockaddr_in))
            fail("accept: address length %u (was %u)", len, len0);
        netcore_set_nonblock(w->st, n, 1);
    }
}

static void op_send(struct world *w, struct in *in, bool to)
{
    static const int flags[] = { 0, MSG_NOSIGNAL, MSG_MORE, MSG_OOB, MSG_PEEK };
    int s = handle(in);
    size_t len = length(in);
    bool null = u8(in) % 8 == 7;
    int fl = MSG_DONTWAIT | PICK(in, flags);
    ssize_t n;
    if (to) {
        struct sockaddr_storage ss;
        bool anull;
        socklen_t alen = address(in, &ss, &anull);
        n = netcore_sendto(w->st, s, null ? NULL : data_buf, len, fl,
                           anull ? NULL : (struct sockaddr *)&ss, alen);
    } else {
        n = netcore_send(w->st, s, null ? NULL : data_buf, len, fl);
    }
    check_rc("send", n);
    if (n > (ssize_t)len)
        fail("send of %zu bytes returned %zd", len, n);
}

static void op_recv(struct world *w, struct in *in, bool from)
{
    static const int flags[] = { 0, MSG_PEEK, MSG_WAITALL, MSG_TRUNC, MSG_PEEK | MSG_TRUNC,
                                 MSG_OOB };
    static const socklen_t lens[] = { sizeof(struct sockaddr_in), 0, 4, 128, 0x80000000u };
    int s = handle(in);
    size_t len = length(in);
    uint8_t how = u8(in);
    int fl = MSG_DONTWAIT | PICK(in, flags);
    void *buf = how % 8 == 7 ? NULL : data_buf;
    ssize_t n;
    if (from) {
        struct sockaddr_storage ss;
        socklen_t alen = PICK(in, lens);
        n = netcore_recvfrom(w->st, s, buf, len, fl, how & 8 ? NULL : (struct sockaddr *)&ss,
                             how & 16 ? NULL : &alen);
    } else {
        n = netcore_recv(w->st, s, buf, len, fl);
    }
    check_rc("recv", n);
    if (n > (ssize_t)len && !(fl & MSG_TRUNC))
        fail("recv into %zu bytes returned %zd", len, n);
}

static void op_setsockopt(struct world *w, struct in *in)
{
    static const int levels[] = { SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6, -1 };
    static const int names[] = { SO_REUSEADDR, SO_KEEPALIVE, SO_RCVTIMEO, SO_SNDTIMEO,
                                 SO_LINGER, SO_SNDBUF, SO_RCVBUF, SO_REUSEPORT, SO_ERROR,
                                 TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
                                 TCP_CORK, TCP_MAXSEG, IP_TOS, IP_TTL, 0, -1, 9999 };
    static const socklen_t lens[] = { sizeof(int), sizeof(struct timeval), 0, 1,
                                      sizeof(struct linger), 64, 0x80000000u };
    static const uint32_t vals[] = { 0, 1, 0xffffffff, 0x7fffffff, 0x80000000u, 2, 1000 };
    int s = handle(in);
    int level = PICK(in, levels), name = PICK(in, names);
    socklen_t len = PICK(in, lens);
    uint8_t how = u8(in);
    /* The value: one of a few ints, or (how & 1) 64 raw bytes, e.g. a timeval. */
    uint8_t val[64] = { 0 };
    if (how & 1) {
        for (size_t i = 0; i < sizeof(val); i++)
            val[i] = u8(in);
    } else {
        uint32_t v = PICK(in, vals);
        memcpy(val, &v, sizeof(v));
    }
    /* A length past the buffer is fair: the core must read only what the option takes. */
    int rc = netcore_setsockopt(w->st, s, level, name, how & 4 ? NULL : val, len);
    check_rc("setsockopt", rc);
}

static void op_getsockopt(struct world *w, struct in *in)
{
    static const int levels[] = { SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, -1 };
    static const int names[] = { SO_ERROR, SO_TYPE, SO_RCVTIMEO, SO_LINGER, SO_SNDBUF,
                                 SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL, TCP_INFO,
                                 TCP_MAXSEG, TCP_NODELAY, TCP_CONGESTION, 0, -1 };
    static const socklen_t lens[] = { sizeof(int), 0, 1, 8, 16, 104, 232, 512, 0x80000000u };
    int s = handle(in);
    int level = PICK(in, levels), name = PICK(in, names);
    socklen_t len = PICK(in, lens), len0 = len;
    uint8_t how = u8(in);
    uint8_t val[512];
    int rc = netcore_getsockopt(w->st, s, level, name, how & 1 ? NULL : val,
                                how & 2 ? NULL : &len);
    check_rc("getsockopt", rc);
    if (rc == 0 && len > len0)
        fail("getsockopt level %d name %d: length %u grew from %u", level, name, len, len0);
}

static void op_name(struct world *w, struct in *in)
{
    static const socklen_t lens[] = { sizeof(struct sockaddr_in), 0, 3, 128, 0x80000000u };
    int s = handle(in);
    uint8_t how = u8(in);
    struct sockaddr_storage ss;
    socklen_t len = PICK(in, lens);
    struct sockaddr *a = how & 2 ? NULL : (struct sockaddr *)&ss;
    socklen_t *lp = how & 4 ? NULL : &len;
    int rc = how & 1 ? netcore_getpeername(w->st, s, a, lp) : netcore_getsockname(w->st, s, a, lp);
    check_rc("getsockname", rc);
    /* The full length of the socket's family, whatever the buffer held (as the kernel). */
    int dom = 0;
    socklen_t dl = sizeof(dom);
    socklen_t want = netcore_getsockopt(w->st, s, SOL_SOCKET, SO_DOMAIN, &dom, &dl) == 0 &&
                             dom == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    if (rc == 0 && len != want)
        fail("get%sname: length %u, want %u", how & 1 ? "peer" : "sock", len, want);
}

static void op_misc(struct world *w, struct in *in)
{
    static const unsigned evs[] = { POLLIN, POLLOUT, POLLIN | POLLOUT | POLLRDHUP, 0,
                                    0xffffffffu };
    int s = handle(in);
    uint8_t what = u8(in);
    unsigned ev = PICK(in, evs);
    switch (what % 10) {
    case 0: check_rc("shutdown", netcore_shutdown(w->st, s, (int)(u8(in) % 5) - 1)); break;
    case 1: check_rc("close", netcore_close(w->st, s)); break;
    case 2: {
        unsigned r = netcore_poll(w->st, s, ev);
        if (r & ~(ev | POLLERR | POLLHUP | POLLNVAL))
            fail("poll for %#x returned %#x", ev, r);
        break;
    }
    case 3: check_rc("readable_bytes", netcore_readable_bytes(w->st, s)); break;
    case 4: check_rc("wait", netcore_wait(w->st, s, ev, 0)); break;
    case 5:
        netcore_want(w->st, s, ev, what & 0x80 ? -1 : 1);
        if (netcore_wanted(w->st, s) & ~(unsigned)(POLLIN | POLLOUT | POLLRDHUP | POLLERR |
                                                   POLLHUP | POLLNVAL))
            fail("wanted %#x", netcore_wanted(w->st, s));
        break;
    case 6: check_rc("watch", netcore_watch(w->st, s, what & 0x80 ? -1 : w->efd, ev)); break;
    case 7: check_rc("unwatch", netcore_unwatch(w->st, s, w->efd)); break;
    case 8: check_rc("fd", netcore_fd(w->st, s)); break;
    default:
        check_rc("get_nonblock", netcore_get_nonblock(w->st, s));
        check_rc("set_nonblock", netcore_set_nonblock(w->st, s, 1));
        break;
    }
}

static void op_clock(struct world *w, struct in *in)
{
    static const uint32_t ms[] = { 0, 1, 100, 250, 500, 1000, 5000, 60000 };
    netcore_clock_advance(PICK(in, ms));
    settle(w);
}

static void check_stats(struct world *w)
{
    struct netcore_stats s;
    netcore_get_stats(w->st, &s);
    if (s.sockets < 0 || s.sockets > MAX_SOCKETS)
        fail("%d sockets in a table of %d", s.sockets, MAX_SOCKETS);
    int open = 0;
    for (int i = 0; i < MAX_SOCKETS; i++)
        open += netcore_fd(w->st, i) >= 0;
    if (open > s.sockets)
        fail("%d open handles but %d sockets counted", open, s.sockets);
    if (s.time_wait > 2)
        fail("%d TIME-WAIT entries, above the cap of 2", s.time_wait);
}

static void start(struct world *w)
{
    fz_first_start();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct netcore_config c;
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = sv[0];
    c.ip.s_addr = htonl(STACK_IP);
    c.gw.s_addr = htonl(PEER_IP);
    memcpy(c.mac, stack_mac, 6);
    c.sndbuf = 4096;
    c.rcvbuf = 4096;
    c.max_sockets = MAX_SOCKETS;
    c.backlog = 2;
    c.udp_queue = 2;
    c.cmd_queue = 2;
    c.time_wait_max = 2;
    c.spin_us = 0;
    char err[256];
    if (netcore_start(&c, NETCORE_MANUAL, &w->st, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_api: netcore_start: %s\n", err);
        abort();
    }
    w->fd = sv[1];
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static void stop(struct world *w)
{
    for (int i = 0; i < MAX_SOCKETS; i++)
        netcore_close(w->st, i);
    netcore_stop(w->st);
    close(w->fd);
    close(w->efd);
    fz_lwip_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size };
    struct world w;
    start(&w);
    for (int n = 0; n < MAX_OPS && in.left > 0; n++) {
        uint8_t op = u8(&in);
        switch (op % 16) {
        case 0: op_socket(&w, &in); break;
        case 1: op_bind_connect(&w, &in, false); break;
        case 2: op_listen(&w, &in); break;
        case 3: op_accept(&w, &in); break;
        case 4: op_bind_connect(&w, &in, true); break;
        case 5: op_send(&w, &in, false); break;
        case 6: op_send(&w, &in, true); break;
        case 7: op_recv(&w, &in, false); break;
        case 8: op_recv(&w, &in, true); break;
        case 9: op_setsockopt(&w, &in); break;
        case 10: op_getsockopt(&w, &in); break;
        case 11: op_name(&w, &in); break;
        case 12: op_misc(&w, &in); break;
        case 13: op_clock(&w, &in); break;
        case 14: check_stats(&w); break;
        default: check_rc("drain", netcore_drain(w.st, 0)); break;
        }
        settle(&w);
    }
    check_stats(&w);
    stop(&w);
    return 0;
}
