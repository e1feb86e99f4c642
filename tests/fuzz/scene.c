/*
 * tests/fuzz/scene.c — the stack under fuzz and its scripted peer (see scene.h).
 *
 * Everything runs in the calling thread: the stack is started with NETCORE_MANUAL and the
 * manual clock, and each frame is written to the wire and taken in with netcore_step(), the
 * same device read path (nc__pump_device) a TAP uses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include <lwip/ip4_frag.h>
#include <lwip/ip6_frag.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/timeouts.h>

#include "frame.h"
#include "scene.h"

const uint8_t fz_stack_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
const uint8_t fz_peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

#define WIRE_MAX 70000 /* larger than any frame the targets write */

static uint8_t rbuf[WIRE_MAX];

static void die(const char *what)
{
    fprintf(stderr, "fuzz scene: %s\n", what);
    abort();
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static struct sockaddr_in sin_of(uint32_t ip, uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(ip);
    return a;
}

/* Notes what the stack said that the scene cares about; returns true to answer an ARP. */
static bool look(struct fz_scene *sc, const uint8_t *f, size_t len)
{
    sc->frames_out++;
    if (len < FZ_ETH_HDR + 28)
        return false;
    uint16_t type = get16(f + 12);
    const uint8_t *p = f + FZ_ETH_HDR;
    if (type == 0x0806)
        return get16(p + 6) == 1 && get32(p + 24) == FZ_PEER_IP;
    if (type != 0x0800 || (p[0] >> 4) != 4)
        return false;
    size_t ihl = (size_t)(p[0] & 0xf) * 4;
    if (len < FZ_ETH_HDR + ihl + 20)
        return false;
    const uint8_t *l4 = p + ihl;
    if (p[9] == 6) {
        uint16_t sport = get16(l4);
        uint8_t fl = l4[13];
        if (sport == FZ_CONNECT_PORT && (fl & (FZ_SYN | FZ_ACK)) == FZ_SYN)
            sc->connect_iss = get32(l4 + 4);
        if ((fl & (FZ_SYN | FZ_ACK)) == (FZ_SYN | FZ_ACK))
            sc->synack_iss = get32(l4 + 4);
    } else if (p[9] == 1 && l4[0] == 0 && get16(l4 + 4) == FZ_ECHO_ID) {
        sc->echo_seen = true;
    }
    return false;
}

/* Reads what the stack sent; answers its ARP requests for the peer. */
static void drain(struct fz_scene *sc)
{
    static int depth; /* an answer is sent (and drained) from in here: bound the nesting */
    bool answer = false;
    ssize_t n;
    while ((n = read(sc->fd, rbuf, sizeof(rbuf))) >= 0)
        if ((size_t)n >= sc->vnet && look(sc, rbuf + sc->vnet, (size_t)n - sc->vnet))
            answer = true;
    if (!answer || depth >= 4)
        return;
    struct fz_frame f;
    fz_arp(&f, fz_stack_mac, fz_peer_mac, 2, fz_peer_mac, FZ_PEER_IP, fz_stack_mac,
           FZ_STACK_IP);
    depth++;
    fz_scene_send(sc, f.b, f.len);
    depth--;
}

void fz_scene_send(struct fz_scene *sc, const void *frame, size_t len)
{
    static const uint8_t zero[sizeof(struct virtio_net_hdr)];
    fz_scene_send_hdr(sc, zero, frame, len);
}

void fz_scene_send_hdr(struct fz_scene *sc, const void *hdr, const void *frame, size_t len)
{
    /* write, not writev, without a header: a writev of nothing sends no datagram at all,
     * and the empty ones are part of what the targets try */
    struct iovec iov[2] = { { (void *)hdr, sc->vnet }, { (void *)frame, len } };
    ssize_t n = sc->vnet == 0 ? write(sc->fd, frame, len) : writev(sc->fd, iov, 2);
    if (n == (ssize_t)(sc->vnet + len)) {
        if (len == 0)
            sc->empty_in++;
        else
            sc->frames_in++;
    }
    netcore_step(sc->st, 0);
    drain(sc);
}

void fz_scene_tick(struct fz_scene *sc, uint32_t ms)
{
    netcore_clock_advance(ms);
    netcore_step(sc->st, 0);
    drain(sc);
}

static void peer_tcp(struct fz_scene *sc, uint16_t sport, uint32_t seq, uint32_t ack,
                     uint8_t flags, const uint8_t *opt, size_t optlen)
{
    struct fz_tcp t = { .saddr = FZ_PEER_IP, .daddr = FZ_STACK_IP, .sport = sport,
                        .dport = FZ_LISTEN_PORT, .seq = seq, .ack = ack, .flags = flags,
                        .win = 65535, .opt = opt, .optlen = optlen };
    struct fz_frame f;
    fz_tcp4(&f, fz_stack_mac, fz_peer_mac, &t);
    fz_scene_send(sc, f.b, f.len);
}

static int start_stack(struct fz_scene *sc, int mtu, bool vnet)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct netcore_config c;
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = sv[0];
    c.wire_vnet = vnet;
    c.ip.s_addr = htonl(FZ_STACK_IP);
    c.gw.s_addr = htonl(FZ_PEER_IP);
    memcpy(c.mac, fz_stack_mac, 6);
    c.mtu = mtu;
    /* Small bounds, so that a few frames reach the full-queue and full-ring paths. */
    c.sndbuf = 16384;
    c.rcvbuf = 16384;
    c.max_sockets = 16;
    c.backlog = 4;
    c.udp_queue = 4;
    c.cmd_queue = 8;
    c.time_wait_max = 4;
    c.spin_us = 0;
    char err[256];
    int rc = netcore_start(&c, NETCORE_MANUAL, &sc->st, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "fuzz scene: netcore_start: %s\n", err);
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    sc->fd = sv[1];
    sc->max_sockets = c.max_sockets;
    return 0;
}

static int open_bound(struct fz_scene *sc, int type, uint16_t port)
{
    int s = netcore_socket(sc->st, AF_INET, type | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = sin_of(0, port);
    if (s < 0 || netcore_bind(sc->st, s, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("socket/bind");
    return s;
}

int fz_scene_start(struct fz_scene *sc, int mtu, bool vnet)
{
    memset(sc, 0, sizeof(*sc));
    for (int i = 0; i < FZ_MAX_ACCEPTED; i++)
        sc->accepted[i] = -1;
    sc->vnet = vnet ? sizeof(struct virtio_net_hdr) : 0;
    fz_first_start();
    int rc = start_stack(sc, mtu, vnet);
    if (rc != 0)
        return rc;

    /* The peer introduces itself, so the stack knows its MAC from the start. */
    struct fz_frame f;
    static const uint8_t zero[6];
    fz_arp(&f, (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, fz_peer_mac, 1,
           fz_peer_mac, FZ_PEER_IP, zero, FZ_STACK_IP);
    fz_scene_send(sc, f.b, f.len);

    sc->listener = open_bound(sc, SOCK_STREAM, FZ_LISTEN_PORT);
    if (netcore_listen(sc->st, sc->listener, 4) != 0)
        die("listen");
    sc->udp = open_bound(sc, SOCK_DGRAM, FZ_UDP_PORT);
    sc->udpc = open_bound(sc, SOCK_DGRAM, FZ_UDPC_PORT);
    struct sockaddr_in echo = sin_of(FZ_PEER_IP, 7);
    if (netcore_connect(sc->st, sc->udpc, (struct sockaddr *)&echo, sizeof(echo)) != 0)
        die("connect UDP");
    sc->connecting = open_bound(sc, SOCK_STREAM, FZ_CONNECT_PORT);
    struct sockaddr_in to = sin_of(FZ_PEER_IP, FZ_CONNECT_TO);
    if (netcore_connect(sc->st, sc->connecting, (struct sockaddr *)&to, sizeof(to)) !=
        -EINPROGRESS)
        die("connect TCP");
    netcore_step(sc->st, 0);
    drain(sc);

    /* The live connection: the peer's SYN (MSS 1460, window scale 7), then its ACK. */
    static const uint8_t opt[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    peer_tcp(sc, FZ_LIVE_PORT, FZ_PEER_ISN, 0, FZ_SYN, opt, sizeof(opt));
    sc->live_iss = sc->synack_iss;
    peer_tcp(sc, FZ_LIVE_PORT, FZ_PEER_ISN + 1, sc->live_iss + 1, FZ_ACK, NULL, 0);
    sc->live = netcore_accept(sc->st, sc->listener, NULL, NULL, SOCK_NONBLOCK);
    if (sc->live < 0 || sc->connect_iss == 0 || sc->live_iss == 0)
        die("handshake");
    if (netcore_send(sc->st, sc->live, "hello", FZ_HELLO_LEN, 0) != FZ_HELLO_LEN)
        die("send hello");
    netcore_step(sc->st, 0);
    drain(sc);
    return 0;
}

static void read_all(struct fz_scene *sc)
{
    static uint8_t buf[4096];
    netcore_recv(sc->st, sc->live, buf, sizeof(buf), 0);
    for (int i = 0; i < sc->naccepted; i++)
        netcore_recv(sc->st, sc->accepted[i], buf, sizeof(buf), 0);
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    netcore_recvfrom(sc->st, sc->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
    netcore_recv(sc->st, sc->udpc, buf, sizeof(buf), 0);
}

void fz_scene_app(struct fz_scene *sc, enum fz_action what)
{
    static const uint8_t out[1000];
    int s;
    while ((s = netcore_accept(sc->st, sc->listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        if (sc->naccepted < FZ_MAX_ACCEPTED)
            sc->accepted[sc->naccepted++] = s;
        else
            netcore_close(sc->st, s);
    }
    if (what != FZ_APP_IDLE)
        read_all(sc);
    switch (what) {
    case FZ_APP_SEND:
        netcore_send(sc->st, sc->live, out, sizeof(out), 0);
        break;
    case FZ_APP_SHUT_WR:
        netcore_shutdown(sc->st, sc->live, SHUT_WR);
        break;
    case FZ_APP_CLOSE:
        netcore_close(sc->st, sc->live);
        sc->live = -1; /* its number may go to the next connection */
        break;
    case FZ_APP_SEND_ACCEPTED:
        for (int i = 0; i < sc->naccepted; i++)
            netcore_send(sc->st, sc->accepted[i], out, sizeof(out), 0);
        break;
    case FZ_APP_CLOSE_ACCEPTED:
        if (sc->naccepted > 0)
            netcore_close(sc->st, sc->accepted[--sc->naccepted]);
        break;
    case FZ_APP_CLOSE_LISTENER:
        netcore_close(sc->st, sc->listener);
        sc->listener = -1;
        break;
    default:
        break;
    }
}

void fz_scene_stop(struct fz_scene *sc)
{
    for (int i = 0; i < sc->naccepted; i++)
        netcore_close(sc->st, sc->accepted[i]);
    int mine[] = { sc->live, sc->connecting, sc->udpc, sc->udp, sc->listener };
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        if (mine[i] >= 0)
            netcore_close(sc->st, mine[i]);
    netcore_stop(sc->st);
    close(sc->fd);
    fz_lwip_reset();
    sc->st = NULL;
}

void fz_first_start(void)
{
    static bool done;
    if (done)
        return;
    netcore_clock_manual(1);
    fz_lwip_reset(); /* the first input starts like the ones after it */
    done = true;
}

void fz_lwip_reset(void)
{
    /* Fragments waiting for reassembly: both timers age every entry by one tick, so more
     * calls than IP_REASS_MAXAGE (15) and IPV6_REASS_MAXAGE (60) free them all. */
    for (int i = 0; i < 64; i++) {
        ip_reass_tmr();
        ip6_reass_tmr();
    }
    /* Timers: after a jump longer than any interval (1 s), lwIP restarts each cyclic timer
     * one interval from now instead of keeping its old phase. */
    netcore_clock_advance(10000);
    sys_check_timeouts();
    /* tcp_tmr() runs TCP's slow timer (which counts tcp_ticks) every other call: make the
     * count of calls even, so that the first slow tick comes as late in every input. */
    u32_t ticks = tcp_ticks;
    tcp_tmr();
    if (tcp_ticks != ticks)
        tcp_tmr();
}
