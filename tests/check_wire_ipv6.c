/*
 * IPv6 between two netcore stacks joined by the wire device (wirefix.h), which also hold
 * 2001:db8::1 and ::2 and link-local addresses: TCP echo, dual stack and IPV6_V6ONLY, UDP,
 * and IPv6 frames played by hand (neighbour discovery, jumbo MTU).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcore.h"
#include "wirefix.h"

static struct sockaddr_in6 sin6_of(const char *ip, int port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    if (IN6_IS_ADDR_LINKLOCAL(&a.sin6_addr))
        a.sin6_scope_id = WIRE_SCOPE;
    return a;
}

/* "addr port" (with "%scope" when there is one) of a sockaddr_in6 of length 28. */
static void name6(const struct sockaddr_in6 *a, socklen_t len, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (len != sizeof(*a) || a->sin6_family != AF_INET6) {
        snprintf(out, outlen, "bad sockaddr: len %u family %d", len, a->sin6_family);
        return;
    }
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    if (a->sin6_scope_id != 0)
        snprintf(out, outlen, "%s%%%u %u", ip, a->sin6_scope_id, ntohs(a->sin6_port));
    else
        snprintf(out, outlen, "%s %u", ip, ntohs(a->sin6_port));
}

/* An AF_INET6 TCP listener on [::]:port, dual-stack unless v6only. */
static int listen6_on(struct netcore_stack *st, int port, int v6only)
{
    int s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = sin6_of("::", port);
    if (s < 0 ||
        netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0 ||
        netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        netcore_listen(st, s, 8) != 0)
        return -1;
    return s;
}

static int connect6(struct netcore_stack *st, const char *ip, int port)
{
    int s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in6 a = sin6_of(ip, port);
    int rc = netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
    ck_assert_msg(rc == 0, "connect [%s]:%d: %s", ip, port, strerror(-rc));
    return s;
}

static int connect_to6(struct netcore_stack *st, int port)
{
    return connect6(st, SERVER_IP6, port);
}

/* Echo server on a dual-stack [::]:WF_PORT that checks the peer's address is 2001:db8::2. */
static int echo6_server(struct netcore_stack *st)
{
    int l = listen6_on(st, WF_PORT, 0);
    if (l < 0)
        return 3;
    wf_sig_send(wf_c2p[1], 'L');
    struct sockaddr_in6 peer;
    socklen_t len = sizeof(peer);
    int c = netcore_accept(st, l, (struct sockaddr *)&peer, &len, 0);
    char name[80];
    name6(&peer, len, name, sizeof(name));
    if (c < 0 || strncmp(name, CLIENT_IP6 " ", strlen(CLIENT_IP6) + 1) != 0) {
        fprintf(stderr, "echo6 server: accept %d from %s\n", c, name);
        return 4;
    }
    static char buf[65536];
    ssize_t n;
    while ((n = netcore_recv(st, c, buf, sizeof(buf), 0)) > 0)
        if (netcore_send(st, c, buf, (size_t)n, 0) != n)
            return 5;
    netcore_close(st, c);
    netcore_close(st, l);
    return n == 0 ? 0 : 6;
}

START_TEST(tcp6_echo)
{
    wf_echo_through(echo6_server, connect_to6, 4u << 20, 65536);
}
END_TEST

/*
 * Dual stack: the server answers each connection with what it sees, "peer | local"; IPv4
 * clients appear IPv4-mapped. The client connects over IPv4 from an AF_INET socket, over
 * IPv4 from an AF_INET6 socket (::ffff:198.18.0.1), over IPv6 and link-local.
 */
static int whoami_server(struct netcore_stack *st)
{
    int l = listen6_on(st, WF_PORT, 0);
    if (l < 0)
        return 3;
    wf_sig_send(wf_c2p[1], 'L');
    for (int i = 0; i < 4; i++) {
        struct sockaddr_in6 peer, self;
        socklen_t plen = sizeof(peer), slen = sizeof(self);
        int c = netcore_accept(st, l, (struct sockaddr *)&peer, &plen, 0);
        if (c < 0 || netcore_getsockname(st, c, (struct sockaddr *)&self, &slen) != 0)
            return 4;
        char p[80], me[80], msg[200];
        name6(&peer, plen, p, sizeof(p));
        name6(&self, slen, me, sizeof(me));
        int n = snprintf(msg, sizeof(msg), "%s | %s", p, me);
        if (netcore_send(st, c, msg, (size_t)n, 0) != n)
            return 5;
        char z;
        netcore_recv(st, c, &z, 1, 0); /* the client's close */
        netcore_close(st, c);
    }
    netcore_close(st, l);
    return 0;
}

/* Reads the server's answer on s, minus the port numbers that vary, and closes s. */
static void answer(struct netcore_stack *st, int s, char *out, size_t outlen)
{
    char buf[200] = { 0 };
    ck_assert_int_gt(netcore_recv(st, s, buf, sizeof(buf) - 1, 0), 0);
    char a[80], b[80];
    unsigned pa, pb;
    ck_assert_msg(sscanf(buf, "%79s %u | %79s %u", a, &pa, b, &pb) == 4, "answer '%s'", buf);
    ck_assert_uint_eq(pb, WF_PORT);
    snprintf(out, outlen, "%s | %s", a, b);
    netcore_close(st, s);
}

START_TEST(tcp6_dual_stack)
{
    struct netcore_stack *st = wf_spawn(whoami_server, 0);
    char got[200];

    answer(st, wf_connect_to(st, WF_PORT), got, sizeof(got));
    ck_assert_str_eq(got, "::ffff:" CLIENT_IP " | ::ffff:" SERVER_IP);

    int s = connect6(st, "::ffff:" SERVER_IP, WF_PORT);
    struct sockaddr_in6 a;
    socklen_t len = sizeof(a);
    char name[80];
    ck_assert_int_eq(netcore_getpeername(st, s, (struct sockaddr *)&a, &len), 0);
    name6(&a, len, name, sizeof(name));
    char want[64];
    snprintf(want, sizeof(want), "::ffff:%s %d", SERVER_IP, WF_PORT);
    ck_assert_str_eq(name, want);
    len = sizeof(a);
    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    name6(&a, len, name, sizeof(name));
    ck_assert_msg(strncmp(name, "::ffff:" CLIENT_IP " ", strlen(CLIENT_IP) + 8) == 0, "%s", name);
    answer(st, s, got, sizeof(got));
    ck_assert_str_eq(got, "::ffff:" CLIENT_IP " | ::ffff:" SERVER_IP);

    answer(st, connect6(st, SERVER_IP6, WF_PORT), got, sizeof(got));
    ck_assert_str_eq(got, CLIENT_IP6 " | " SERVER_IP6);

    s = connect6(st, SERVER_LL, WF_PORT);
    len = sizeof(a);
    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    name6(&a, len, name, sizeof(name));
    ck_assert_msg(strncmp(name, CLIENT_LL "%1 ", strlen(CLIENT_LL) + 3) == 0, "%s", name);
    answer(st, s, got, sizeof(got));
    ck_assert_str_eq(got, CLIENT_LL "%1 | " SERVER_LL "%1");
    wf_reap(st);
}
END_TEST

/* IPV6_V6ONLY: an IPv6-only listener resets IPv4 connections and takes IPv6 ones. */
static int v6only_server(struct netcore_stack *st)
{
    int l = listen6_on(st, WF_PORT, 1);
    if (l < 0)
        return 3;
    wf_sig_send(wf_c2p[1], 'L');
    int c = netcore_accept(st, l, NULL, NULL, 0);
    if (c < 0 || netcore_send(st, c, "6", 1, 0) != 1)
        return 4;
    wf_sig_wait(wf_p2c[0]);
    netcore_close(st, c);
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp6_v6only)
{
    struct netcore_stack *st = wf_spawn(v6only_server, 0);
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = wf_sin_of(SERVER_IP, WF_PORT);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a)), -ECONNREFUSED);
    netcore_close(st, s);
    /* From an AF_INET6 socket too, and an IPv6-only client cannot even try. */
    s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 m = sin6_of("::ffff:" SERVER_IP, WF_PORT);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&m, sizeof(m)), -ECONNREFUSED);
    netcore_close(st, s);
    s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&m, sizeof(m)), -ENETUNREACH);
    netcore_close(st, s);
    s = connect6(st, SERVER_IP6, WF_PORT);
    char b;
    ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), 1);
    ck_assert_int_eq(b, '6');
    wf_sig_send(wf_p2c[1], 'D');
    netcore_close(st, s);
    wf_reap(st);
}
END_TEST

/* UDP echo on a dual-stack [::]:5000 that prefixes each answer with the sender it saw. */
static int udp6_server(struct netcore_stack *st)
{
    int u = netcore_socket(st, AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = sin6_of("::", 5000);
    if (netcore_bind(st, u, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 3;
    wf_sig_send(wf_c2p[1], 'L');
    for (;;) {
        char buf[256], out[400];
        struct sockaddr_in6 from;
        socklen_t fl = sizeof(from);
        ssize_t n = netcore_recvfrom(st, u, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from,
                                     &fl);
        if (n < 0)
            return 4;
        buf[n] = '\0';
        if (strcmp(buf, "done") == 0)
            break;
        char name[80];
        name6(&from, fl, name, sizeof(name));
        int k = snprintf(out, sizeof(out), "%s | %s", name, buf);
        /* The answer goes back to the address as seen: IPv4-mapped ones over IPv4. */
        if (netcore_sendto(st, u, out, (size_t)k, 0, (struct sockaddr *)&from, fl) != k)
            return 5;
    }
    netcore_close(st, u);
    return 0;
}

/* Sends msg on u to `to`, returns the answer and who sent it. */
static void udp_ask(struct netcore_stack *st, int u, const struct sockaddr *to, socklen_t tl,
                    const char *msg, char *got, size_t gotlen, struct sockaddr_storage *from,
                    socklen_t *fl)
{
    ck_assert_int_eq(netcore_sendto(st, u, msg, strlen(msg), 0, to, tl), (ssize_t)strlen(msg));
    ssize_t n = netcore_recvfrom(st, u, got, gotlen - 1, 0, (struct sockaddr *)from, fl);
    ck_assert_int_gt(n, 0);
    got[n] = '\0';
}

START_TEST(udp6_datagrams)
{
    struct netcore_stack *st = wf_spawn(udp6_server, 0);
    char got[400], exp[200], name[80];
    struct sockaddr_storage from;
    socklen_t fl;

    int u6 = netcore_socket(st, AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 srv6 = sin6_of(SERVER_IP6, 5000);
    fl = sizeof(from);
    udp_ask(st, u6, (struct sockaddr *)&srv6, sizeof(srv6), "v6", got, sizeof(got), &from, &fl);
    name6((struct sockaddr_in6 *)&from, fl, name, sizeof(name));
    ck_assert_str_eq(name, SERVER_IP6 " 5000");
    struct sockaddr_in6 self;
    socklen_t sl = sizeof(self);
    ck_assert_int_eq(netcore_getsockname(st, u6, (struct sockaddr *)&self, &sl), 0);
    snprintf(exp, sizeof(exp), CLIENT_IP6 " %u | v6", ntohs(self.sin6_port));
    ck_assert_str_eq(got, exp);

    /* The same AF_INET6 socket reaches IPv4 by a mapped address, or a plain sockaddr_in. */
    struct sockaddr_in6 srv_m = sin6_of("::ffff:" SERVER_IP, 5000);
    fl = sizeof(from);
    udp_ask(st, u6, (struct sockaddr *)&srv_m, sizeof(srv_m), "m", got, sizeof(got), &from, &fl);
    name6((struct sockaddr_in6 *)&from, fl, name, sizeof(name));
    ck_assert_str_eq(name, "::ffff:" SERVER_IP " 5000");
    snprintf(exp, sizeof(exp), "::ffff:" CLIENT_IP " %u | m", ntohs(self.sin6_port));
    ck_assert_str_eq(got, exp);
    struct sockaddr_in srv4 = wf_sin_of(SERVER_IP, 5000);
    fl = sizeof(from);
    udp_ask(st, u6, (struct sockaddr *)&srv4, sizeof(srv4), "4", got, sizeof(got), &from, &fl);
    name6((struct sockaddr_in6 *)&from, fl, name, sizeof(name));
    ck_assert_str_eq(name, "::ffff:" SERVER_IP " 5000");

    /* An AF_INET client: the server saw it mapped; the answer came back over IPv4. */
    int u4 = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    fl = sizeof(from);
    udp_ask(st, u4, (struct sockaddr *)&srv4, sizeof(srv4), "plain", got, sizeof(got), &from,
            &fl);
    ck_assert_uint_eq(fl, sizeof(struct sockaddr_in));
    ck_assert_msg(strncmp(got, "::ffff:" CLIENT_IP " ", strlen(CLIENT_IP) + 8) == 0, "%s", got);

    /* Link-local, and a short buffer: the name is cut, its length still says 28. */
    struct sockaddr_in6 ll = sin6_of(SERVER_LL, 5000);
    fl = 8;
    udp_ask(st, u6, (struct sockaddr *)&ll, sizeof(ll), "ll", got, sizeof(got), &from, &fl);
    ck_assert_uint_eq(fl, sizeof(struct sockaddr_in6));
    snprintf(exp, sizeof(exp), CLIENT_LL "%%1 %u | ll", ntohs(self.sin6_port));
    ck_assert_str_eq(got, exp);

    /* A connected socket learns of a closed port from ICMPv6 port unreachable. */
    int c = netcore_socket(st, AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 closed = sin6_of(SERVER_IP6, 5999);
    ck_assert_int_eq(netcore_connect(st, c, (struct sockaddr *)&closed, sizeof(closed)), 0);
    ck_assert_int_eq(netcore_send(st, c, "x", 1, 0), 1);
    char b;
    struct timeval tv = { .tv_sec = 5 };
    netcore_setsockopt(st, c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(netcore_recv(st, c, &b, 1, 0), -ECONNREFUSED);

    ck_assert_int_eq(netcore_sendto(st, u6, "done", 4, 0, (struct sockaddr *)&srv6,
                                    sizeof(srv6)), 4);
    netcore_close(st, c);
    netcore_close(st, u4);
    netcore_close(st, u6);
    wf_reap(st);
}
END_TEST

/* IPv6 frames from the wire: checked, counted, and answered as neighbour discovery needs. */
static void mtu9000(struct netcore_config *c)
{
    c->mtu = 9000;
}

static uint16_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/*
 * An Ethernet frame to dmac carrying an IPv6 packet src -> dst with next header nh and the
 * given payload, whose checksum (at csum_off in the payload) is filled in. Returns its length.
 */
static size_t frame6(uint8_t *f, const uint8_t dmac[6], const char *src, const char *dst,
                     uint8_t nh, const uint8_t *payload, size_t plen, size_t csum_off)
{
    static const uint8_t smac[6] = { 2, 0, 0, 0, 0, 1 };
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t *ip = f + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[4] = (uint8_t)(plen >> 8);
    ip[5] = (uint8_t)plen;
    ip[6] = nh;
    ip[7] = 255;
    inet_pton(AF_INET6, src, ip + 8);
    inet_pton(AF_INET6, dst, ip + 24);
    memcpy(ip + 40, payload, plen);
    uint8_t *pl = ip + 40;
    pl[csum_off] = pl[csum_off + 1] = 0;
    uint32_t pseudo = sum16(0, ip + 8, 32) + (uint32_t)plen + nh;
    uint16_t c = (uint16_t)~sum16(pseudo, pl, plen);
    pl[csum_off] = (uint8_t)(c >> 8);
    pl[csum_off + 1] = (uint8_t)c;
    return 14 + 40 + plen;
}

/* Collects what the stack sent: whether an IPv6 frame of next header nh and first payload
 * byte `type` went out, with its payload copied into out. */
static bool sent6(int peer, uint8_t nh, uint8_t type, uint8_t *out, size_t outlen)
{
    uint8_t r[9100];
    ssize_t n;
    bool got = false;
    while ((n = recv(peer, r, sizeof(r), MSG_DONTWAIT)) > 0) {
        if (got || n < 14 + 40 + 1 || r[12] != 0x86 || r[13] != 0xdd || r[14 + 6] != nh)
            continue;
        if (nh == 58 ? r[54] != type : (r[54 + 13] & 0x12) != type)
            continue;
        got = true;
        memcpy(out, r + 54, (size_t)n - 54 < outlen ? (size_t)n - 54 : outlen);
    }
    return got;
}

START_TEST(frames_ipv6)
{
    int peer;
    struct netcore_stack *st = wf_raw_stack_with(&peer, mtu9000);
    static const uint8_t ours[6] = { 2, 0, 0, 0, 0, 2 }, mld[6] = { 0x33, 0x33, 0, 0, 0, 0x16 },
                         sol[6] = { 0x33, 0x33, 0xff, 0, 0, 2 };
    uint8_t f[200], echo[8] = { 128, 0, 0, 0, 0, 1, 0, 1 }, out[64];
    struct netcore_stats s;
    size_t n;

    /* Malformed: an IPv4 header under the IPv6 ethertype; a payload longer than the frame. */
    n = frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2);
    f[14] = 0x45;
    wf_put(peer, f, n);
    n = frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2);
    f[14 + 5] = 100;
    wf_put(peer, f, n);
    /* Foreign: another host's address, a group we are not in, another solicited-node group. */
    wf_put(peer, f, frame6(f, ours, SERVER_IP6, "2001:db8::99", 58, echo, sizeof(echo), 2));
    wf_put(peer, f, frame6(f, mld, SERVER_IP6, "ff02::16", 58, echo, sizeof(echo), 2));
    wf_put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:99", 58, echo, sizeof(echo), 2));
    netcore_step(st, 0);
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_malformed, 2);
    ck_assert_uint_eq(s.rx_dropped_foreign, 3);
    ck_assert(!sent6(peer, 58, 129, out, sizeof(out)));

    /* Neighbour solicitation for our address, to its solicited-node group: we advertise our
     * MAC, and learn the sender's from its option. */
    uint8_t ns[32] = { 135, 0 };
    inet_pton(AF_INET6, CLIENT_IP6, ns + 8);
    ns[24] = 1; /* source link-layer address option */
    ns[25] = 1;
    memcpy(ns + 26, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }, 6);
    wf_put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 136, out, sizeof(out)));
    uint8_t target[16];
    inet_pton(AF_INET6, CLIENT_IP6, target);
    ck_assert_mem_eq(out + 8, target, 16);
    ck_assert_int_eq(out[24], 2); /* target link-layer address option: our MAC */
    ck_assert_mem_eq(out + 26, ours, 6);

    /* Echo to our address is answered. */
    wf_put(peer, f, frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 129, out, sizeof(out)));

    /* A SYN to an IPv6 listener: the SYN-ACK offers the link's MTU less 60 bytes of headers
     * (our MSS rewriting covers IPv6 as it does IPv4). */
    int l = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any = sin6_of("::", 8080);
    ck_assert_int_eq(netcore_bind(st, l, (struct sockaddr *)&any, sizeof(any)), 0);
    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    uint8_t syn[24] = { 0x9c, 0x40, 8080 >> 8, 8080 & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02,
                        0xff, 0xff, 0, 0, 0, 0, 2, 4, 0x22, 0xec }; /* MSS 8940 */
    wf_put(peer, f, frame6(f, ours, SERVER_IP6, CLIENT_IP6, 6, syn, sizeof(syn), 16));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 6, 0x12, out, sizeof(out)));
    ck_assert_int_eq(out[20], 2); /* lwIP puts MSS first */
    ck_assert_int_eq(out[22] << 8 | out[23], 9000 - 60);

    /* ISNs hash all 128 bits of the addresses: the same SYN from hosts that differ only in
     * the low bits gets unrelated sequence numbers, not the 4 us clock's few steps apart. */
    uint32_t isn[3];
    isn[0] = (uint32_t)out[4] << 24 | out[5] << 16 | out[6] << 8 | out[7];
    for (int i = 1; i < 3; i++) {
        char src[INET6_ADDRSTRLEN];
        snprintf(src, sizeof(src), "2001:db8::%d", 2 + i);
        wf_put(peer, f, frame6(f, sol, src, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
        wf_put(peer, f, frame6(f, ours, src, CLIENT_IP6, 6, syn, sizeof(syn), 16));
        netcore_step(st, 0);
        ck_assert(sent6(peer, 6, 0x12, out, sizeof(out)));
        isn[i] = (uint32_t)out[4] << 24 | out[5] << 16 | out[6] << 8 | out[7];
    }
    uint32_t spread = 0;
    for (int i = 0; i < 3; i++) {
        uint32_t d = isn[i] - isn[(i + 1) % 3];
        d = d < 0x80000000u ? d : -d;
        spread = d > spread ? d : spread;
    }
    ck_assert_msg(spread > 1000000, "ISNs %08x %08x %08x", isn[0], isn[1], isn[2]);
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_malformed, 2);
    ck_assert_uint_eq(s.rx_dropped_foreign, 3);
    netcore_stop(st);
    close(peer);
}
END_TEST

/* Puts an 8-byte destination-options header (Pad6) in front of the payload of frame6's
 * frame f of n bytes; the upper layer's checksum stays right. Returns the new length. */
static size_t dest_opts6(uint8_t *f, size_t n)
{
    uint8_t *ip = f + 14;
    memmove(ip + 48, ip + 40, n - 54);
    memset(ip + 40, 0, 8);
    ip[40] = ip[6];
    ip[42] = 1; /* PadN of 4 bytes */
    ip[43] = 4;
    ip[6] = 60;
    uint16_t plen = (uint16_t)((ip[4] << 8 | ip[5]) + 8);
    ip[4] = (uint8_t)(plen >> 8);
    ip[5] = (uint8_t)plen;
    return n + 8;
}

/* An ICMPv6 error behind an extension header still reaches the connection it quotes: the
 * frame's parse walks to the upper-layer header for every stage (core/rxframe.c). */
START_TEST(frames_ipv6_extension_header)
{
    int peer;
    struct netcore_stack *st = wf_raw_stack_with(&peer, mtu9000);
    static const uint8_t ours[6] = { 2, 0, 0, 0, 0, 2 }, sol[6] = { 0x33, 0x33, 0xff, 0, 0, 2 };
    uint8_t f[200], out[64];
    /* the peer's MAC, from its neighbour solicitation (see frames_ipv6) */
    uint8_t ns[32] = { 135, 0 };
    inet_pton(AF_INET6, CLIENT_IP6, ns + 8);
    ns[24] = 1;
    ns[25] = 1;
    memcpy(ns + 26, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }, 6);
    wf_put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 136, out, sizeof(out)));

    int c = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in6 to = sin6_of(SERVER_IP6, 5999);
    ck_assert_int_eq(netcore_connect(st, c, (struct sockaddr *)&to, sizeof(to)), -EINPROGRESS);
    netcore_step(st, 0);
    ck_assert(sent6(peer, 6, 0x02, out, sizeof(out)));
    /* port unreachable quoting our SYN's header and ports */
    uint8_t err[8 + 40 + 8] = { 1, 4 };
    uint8_t *q = err + 8;
    q[0] = 0x60;
    q[5] = 20;
    q[6] = 6;
    q[7] = 64;
    inet_pton(AF_INET6, CLIENT_IP6, q + 8);
    inet_pton(AF_INET6, SERVER_IP6, q + 24);
    memcpy(q + 40, out, 8);
    size_t n = frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, err, sizeof(err), 2);
    wf_put(peer, f, dest_opts6(f, n));
    netcore_step(st, 0);
    int e = 0;
    socklen_t el = sizeof(e);
    ck_assert_int_eq(netcore_getsockopt(st, c, SOL_SOCKET, SO_ERROR, &e, &el), 0);
    ck_assert_int_eq(e, ECONNREFUSED);
    struct netcore_stats s;
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_malformed, 0);
    netcore_close(st, c);
    netcore_stop(st);
    close(peer);
}
END_TEST

/*
 * An IPv6 fragment of datagram id, fragmentable part at offset off (more behind it when more),
 * len bytes of it, to our address; with dstopts, an 8-byte destination options header before
 * the fragment header. Returns the frame's length.
 */
static size_t frag6(uint8_t *f, uint32_t id, bool dstopts, size_t off, bool more, size_t len)
{
    static const uint8_t ours[6] = { 2, 0, 0, 0, 0, 2 }, smac[6] = { 2, 0, 0, 0, 0, 1 };
    size_t ext = dstopts ? 8 : 0, plen = ext + 8 + len;
    memcpy(f, ours, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t *ip = f + 14;
    memset(ip, 0, 40 + plen);
    ip[0] = 0x60;
    ip[4] = (uint8_t)(plen >> 8);
    ip[5] = (uint8_t)plen;
    ip[6] = dstopts ? 60 : 44;
    ip[7] = 255;
    inet_pton(AF_INET6, SERVER_IP6, ip + 8);
    inet_pton(AF_INET6, CLIENT_IP6, ip + 24);
    uint8_t *h = ip + 40;
    if (dstopts) {
        h[0] = 44;              /* next: the fragment header; length 0: 8 bytes */
        h[2] = 1;               /* PadN over the other 6 */
        h[3] = 4;
        h += 8;
    }
    h[0] = 17;                  /* UDP */
    h[2] = (uint8_t)(off >> 8);
    h[3] = (uint8_t)((off & 0xf8) | (more ? 1 : 0));
    memcpy(h + 4, &id, 4);
    memset(h + 8, 0x5a, len);
    return 14 + 40 + plen;
}

/* Sends a datagram of total fragmentable bytes in 8 KB fragments, the first with a
 * destination options header when first_dstopts. */
static void frag6_train(struct netcore_stack *st, int peer, uint32_t id, bool first_dstopts,
                        size_t total)
{
    static uint8_t f[14 + 40 + 16 + 8192];
    for (size_t off = 0; off < total; off += 8192) {
        size_t len = total - off < 8192 ? total - off : 8192;
        wf_put(peer, f, frag6(f, id, first_dstopts && off == 0, off, off + len < total, len));
        netcore_step(st, 0);
    }
}

/*
 * Fragments whose datagram lwIP cannot hold reassembled. Its pbuf lengths are 16 bits, and a
 * datagram longer than 65535 bytes with its headers failed an assertion in ip6_reass that
 * aborts the process (rxframe.c drops them first): one whose last fragment ends past that,
 * and one whose first fragment alone carries an options header, which the later fragments
 * do not show and lwIP puts back in front. Both dropped and counted; the stack goes on and
 * still answers a ping.
 */
START_TEST(frames_ipv6_fragments_too_long)
{
    int peer;
    struct netcore_stack *st = wf_raw_stack_with(&peer, mtu9000);
    struct netcore_stats s0, s1;
    netcore_get_stats(st, &s0);
    frag6_train(st, peer, 0x1234, false, 0xffff - 40 + 8);
    frag6_train(st, peer, 0x1235, true, 0xffff - 40);
    netcore_get_stats(st, &s1);
    ck_assert_uint_ge(s1.rx_dropped_malformed, s0.rx_dropped_malformed + 2);
    /* alive: an echo request is answered */
    static const uint8_t ours[6] = { 2, 0, 0, 0, 0, 2 };
    uint8_t f[200], echo[8] = { 128, 0, 0, 0, 0, 7, 0, 1 }, out[64];
    uint8_t ns[32] = { 135, 0 };
    inet_pton(AF_INET6, CLIENT_IP6, ns + 8);
    ns[24] = 1;
    ns[25] = 1;
    memcpy(ns + 26, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }, 6);
    static const uint8_t sol[6] = { 0x33, 0x33, 0xff, 0, 0, 2 };
    wf_put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
    netcore_step(st, 0);
    wf_put(peer, f, frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 129, out, sizeof(out)));
    netcore_stop(st);
    close(peer);
}
END_TEST

static Suite *wire_ipv6_suite(void)
{
    Suite *s = suite_create("wire_ipv6");
    TCase *t_ipv6 = tcase_create("ipv6");
    tcase_add_checked_fixture(t_ipv6, wf_setup, wf_teardown);
    tcase_set_timeout(t_ipv6, 60);
    tcase_add_test(t_ipv6, tcp6_echo);
    tcase_add_test(t_ipv6, tcp6_dual_stack);
    tcase_add_test(t_ipv6, tcp6_v6only);
    tcase_add_test(t_ipv6, udp6_datagrams);
    tcase_add_test(t_ipv6, frames_ipv6);
    tcase_add_test(t_ipv6, frames_ipv6_extension_header);
    tcase_add_test(t_ipv6, frames_ipv6_fragments_too_long);
    suite_add_tcase(s, t_ipv6);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_ipv6_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
