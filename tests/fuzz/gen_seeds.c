/*
 * tests/fuzz/gen_seeds.c — writes the seed corpora of the fuzz targets:
 *   gen_seeds DIR   ->  DIR/frames/<name>, DIR/vnet/<name>, DIR/api/<name>
 * Frame seeds are valid traffic for the scene of fuzz_frames (scene.h): they carry its
 * addresses, ports and sequence numbers, which this program learns by starting the scene
 * itself (the fuzz build fixes the stack's ISNs, so they hold in every run). The input
 * formats are described in records.h and at the top of fuzz_api.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/virtio_net.h>

#include "frame.h"
#include "scene.h"

#define FIX 0x08 /* record flag: fix checksums */
#define PAD 0x10 /* record flag: pad with zeros */
#define APP(a) ((uint8_t)((a) << 5)) /* record flags: what the program does next */

static const char *outdir;
static FILE *out;
static uint32_t live_iss, connect_iss, iss2; /* iss2: the handshake seed's SYN-ACK */

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero_mac[6];

static void die(const char *what)
{
    fprintf(stderr, "gen_seeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Starts seed file DIR/target/name. */
static void open_seed(const char *target, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
    out = fopen(path, "wb");
    if (out == NULL)
        die(path);
}

static void close_seed(void)
{
    if (fclose(out) != 0)
        die("fclose");
}

static void bytes(const void *p, size_t n)
{
    if (n > 0 && fwrite(p, 1, n, out) != n)
        die("fwrite");
}

static void byte(uint8_t b)
{
    bytes(&b, 1);
}

/* The header of the next records in a vnet seed; NULL while writing frames seeds. */
static const struct virtio_net_hdr *vhdr;

/* A frames seed: its first byte chooses the MTU (records.h). */
static void frames_seed(const char *name, uint8_t mtu_sel)
{
    vhdr = NULL;
    open_seed("frames", name);
    byte(mtu_sel);
}

/* A vnet seed: the same, and its records carry h (set vhdr to change it). */
static void vnet_seed(const char *name, uint8_t mtu_sel, const struct virtio_net_hdr *h)
{
    vhdr = h;
    open_seed("vnet", name);
    byte(mtu_sel);
}

/* One record: flags, the 3-byte length len, then the frame's bytes (with PAD: the count
 * of them first, and the target adds zeros up to len). */
static void rec_len(uint8_t flags, const struct fz_frame *f, size_t len)
{
    uint8_t h[4] = { flags, (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
    bytes(h, 4);
    if (vhdr != NULL)
        bytes(vhdr, sizeof(*vhdr));
    size_t held = f->len < len ? f->len : len;
    if (flags & PAD) {
        held = held > 255 ? 255 : held;
        byte((uint8_t)held);
    }
    bytes(f->b, held);
}

static void rec(uint8_t flags, const struct fz_frame *f)
{
    rec_len(flags | FIX, f, f->len);
}

static void tcp(uint8_t flags, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                uint8_t tf, uint16_t win, const void *data, size_t len)
{
    static const uint8_t opt[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    struct fz_tcp t = { .saddr = FZ_PEER_IP, .daddr = FZ_STACK_IP, .sport = sport,
                        .dport = dport, .seq = seq, .ack = ack, .flags = tf, .win = win,
                        .data = data, .len = len };
    if (tf & FZ_SYN) {
        t.opt = opt;
        t.optlen = sizeof(opt);
    }
    struct fz_frame f;
    fz_tcp4(&f, fz_stack_mac, fz_peer_mac, &t);
    rec(flags, &f);
}

/* A segment on the live connection, acknowledging ack_off bytes the stack sent. */
static void live_ack(uint8_t flags, uint32_t seq_off, uint32_t ack_off, uint8_t tf,
                     uint16_t win, const char *data)
{
    tcp(flags, FZ_LIVE_PORT, FZ_LISTEN_PORT, FZ_PEER_ISN + 1 + seq_off, live_iss + 1 + ack_off,
        tf, win, data, data ? strlen(data) : 0);
}

/* A segment on the live connection acknowledging the stack's hello. */
static void live(uint8_t flags, uint32_t seq_off, uint8_t tf, uint16_t win, const char *data)
{
    live_ack(flags, seq_off, FZ_HELLO_LEN, tf, win, data);
}

/* A segment of len zero bytes on the live connection: its header, padded by the target. */
static void live_padded(uint8_t flags, uint32_t seq_off, size_t len)
{
    struct fz_tcp t = { .saddr = FZ_PEER_IP, .daddr = FZ_STACK_IP, .sport = FZ_LIVE_PORT,
                        .dport = FZ_LISTEN_PORT, .seq = FZ_PEER_ISN + 1 + seq_off,
                        .ack = live_iss + 1 + FZ_HELLO_LEN, .flags = FZ_ACK, .win = 65535 };
    struct fz_frame f;
    fz_tcp4(&f, fz_stack_mac, fz_peer_mac, &t);
    size_t total = 40 + len;
    f.b[FZ_ETH_HDR + 2] = (uint8_t)(total >> 8);
    f.b[FZ_ETH_HDR + 3] = (uint8_t)total;
    rec_len(flags | FIX | PAD, &f, FZ_ETH_HDR + total);
}

static void udp(uint8_t flags, uint16_t sport, uint16_t dport, const char *data)
{
    struct fz_frame f;
    fz_udp4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, sport, dport, data,
            strlen(data));
    rec(flags, &f);
}

/* Learns the ISNs the stack uses in the scene. */
static void learn(void)
{
    struct fz_scene sc;
    if (fz_scene_start(&sc, 1500, false) != 0)
        die("fz_scene_start");
    live_iss = sc.live_iss;
    connect_iss = sc.connect_iss;
    static const uint8_t opt[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    struct fz_tcp t = { .saddr = FZ_PEER_IP, .daddr = FZ_STACK_IP, .sport = FZ_LIVE_PORT + 1,
                        .dport = FZ_LISTEN_PORT, .seq = FZ_PEER_ISN, .flags = FZ_SYN,
                        .win = 65535, .opt = opt, .optlen = sizeof(opt) };
    struct fz_frame f;
    fz_tcp4(&f, fz_stack_mac, fz_peer_mac, &t);
    fz_scene_send(&sc, f.b, f.len);
    iss2 = sc.synack_iss;
    fz_scene_stop(&sc);
}

static void seeds_arp_icmp(void)
{
    struct fz_frame f;
    frames_seed("arp_request", 0);
    fz_arp(&f, bcast, fz_peer_mac, 1, fz_peer_mac, FZ_PEER_IP, zero_mac, FZ_STACK_IP);
    rec(0, &f);
    close_seed();

    frames_seed("arp_reply", 0);
    static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x07 };
    fz_arp(&f, fz_stack_mac, other, 2, other, 0xc6120007, fz_stack_mac, FZ_STACK_IP);
    rec(0, &f);
    fz_arp(&f, fz_stack_mac, fz_peer_mac, 2, fz_peer_mac, FZ_PEER_IP, fz_stack_mac,
           FZ_STACK_IP);
    rec(0x05, &f);
    close_seed();

    frames_seed("icmp_echo", 0);
    fz_icmp4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 8, 0, 0x12340001,
             "ping", 4);
    rec(0, &f);
    close_seed();

    /* Destination unreachable quoting the stack's SYN (icmp.c fails the connect) and a
     * datagram of the connected UDP socket (its next call gets the error). */
    frames_seed("icmp_unreach", 0);
    uint8_t q[28] = { 0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
                      FZ_CONNECT_PORT >> 8, FZ_CONNECT_PORT & 0xff, 0, FZ_CONNECT_TO,
                      (uint8_t)(connect_iss >> 24), (uint8_t)(connect_iss >> 16),
                      (uint8_t)(connect_iss >> 8), (uint8_t)connect_iss };
    fz_icmp4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 3, 1, 0, q, sizeof(q));
    rec(0, &f);
    q[9] = 17;
    q[20] = FZ_UDPC_PORT >> 8;
    q[21] = FZ_UDPC_PORT & 0xff;
    q[23] = 7;
    fz_icmp4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 3, 3, 0, q, sizeof(q));
    rec(0, &f);
    close_seed();
}

static void seeds_tcp(void)
{
    /* A second connection through the listener: SYN, ACK of the SYN-ACK, data, FIN. */
    frames_seed("tcp_handshake", 0);
    uint16_t p2 = FZ_LIVE_PORT + 1;
    tcp(0, p2, FZ_LISTEN_PORT, FZ_PEER_ISN, 0, FZ_SYN, 65535, NULL, 0);
    tcp(0, p2, FZ_LISTEN_PORT, FZ_PEER_ISN + 1, iss2 + 1, FZ_ACK, 65535, NULL, 0);
    tcp(0, p2, FZ_LISTEN_PORT, FZ_PEER_ISN + 1, iss2 + 1, FZ_ACK | FZ_PSH, 65535, "GET /\r\n",
        7);
    tcp(0, p2, FZ_LISTEN_PORT, FZ_PEER_ISN + 8, iss2 + 1, FZ_ACK | FZ_FIN, 65535, NULL, 0);
    close_seed();

    /* The peer answers the stack's own SYN: the connection opens, then the stack sends. */
    frames_seed("tcp_synack", 0);
    tcp(APP(FZ_APP_SEND), FZ_CONNECT_TO, FZ_CONNECT_PORT, FZ_PEER_ISN, connect_iss + 1,
        FZ_SYN | FZ_ACK, 65535, NULL, 0);
    close_seed();

    frames_seed("tcp_data", 0);
    live(0, 0, FZ_ACK | FZ_PSH, 65535, "hello back");
    close_seed();

    frames_seed("tcp_ack", 0);
    live(APP(FZ_APP_SEND), 0, FZ_ACK, 65535, NULL);
    close_seed();

    frames_seed("tcp_fin", 0);
    live(0, 0, FZ_ACK | FZ_FIN, 65535, NULL);
    live(APP(FZ_APP_SHUT_WR), 1, FZ_ACK, 65535, NULL);
    close_seed();

    frames_seed("tcp_rst", 0);
    live(0, 0, FZ_RST, 0, NULL);
    close_seed();

    /* Out of order: the second half first, then the first. */
    frames_seed("tcp_ooseq", 0);
    live(0, 5, FZ_ACK, 65535, "world");
    live(0, 0, FZ_ACK, 65535, "hello");
    close_seed();

    /* The peer's window closes, the program writes, the persist timer probes, it opens. */
    frames_seed("tcp_window", 0);
    live(APP(FZ_APP_SEND), 0, FZ_ACK, 0, NULL);
    live(0x06, 0, FZ_ACK, 0, NULL);
    live(0x05, 0, FZ_ACK, 65535, NULL);
    close_seed();

    /* The program does not read and the receive ring (16 KiB) fills: data waits. Each
     * 1400-byte segment is a header zero-padded to its IP length. */
    frames_seed("tcp_fill", 0);
    for (uint32_t i = 0; i < 14; i++)
        live_padded(APP(FZ_APP_IDLE), i * 1400, 1400);
    close_seed();

    /* The program sends 1000 bytes and closes with them unacknowledged; the peer
     * acknowledges them and the stack's FIN, then closes its side. */
    frames_seed("tcp_close_linger", 0);
    live(APP(FZ_APP_SEND), 0, FZ_ACK, 65535, NULL);
    live(APP(FZ_APP_CLOSE), 0, FZ_ACK, 65535, NULL);
    live_ack(0, 0, FZ_HELLO_LEN + 1000, FZ_ACK, 65535, NULL);
    live_ack(0, 0, FZ_HELLO_LEN + 1001, FZ_ACK | FZ_FIN, 65535, NULL);
    close_seed();

    /* Data for a connection the program closed: the stack resets it. */
    frames_seed("tcp_data_after_close", 0);
    live(APP(FZ_APP_CLOSE), 0, FZ_ACK, 65535, NULL);
    live(0, 0, FZ_ACK | FZ_PSH, 65535, "too late");
    close_seed();

    /* A second connection: accepted, written to, closed by the program, then the listener. */
    frames_seed("tcp_accepted", 0);
    tcp(0, p2, FZ_LISTEN_PORT, FZ_PEER_ISN, 0, FZ_SYN, 65535, NULL, 0);
    tcp(APP(FZ_APP_SEND_ACCEPTED), p2, FZ_LISTEN_PORT, FZ_PEER_ISN + 1, iss2 + 1, FZ_ACK,
        65535, NULL, 0);
    tcp(APP(FZ_APP_CLOSE_ACCEPTED), p2, FZ_LISTEN_PORT, FZ_PEER_ISN + 1, iss2 + 1001, FZ_ACK,
        65535, NULL, 0);
    tcp(APP(FZ_APP_CLOSE_LISTENER), p2, FZ_LISTEN_PORT, FZ_PEER_ISN + 1, iss2 + 1002,
        FZ_ACK | FZ_FIN, 65535, NULL, 0);
    close_seed();

    /* More SYNs than the backlog (4): the rest are dropped. */
    frames_seed("tcp_syn_flood", 0);
    for (uint16_t i = 0; i < 6; i++)
        tcp(APP(FZ_APP_IDLE), (uint16_t)(50000 + i), FZ_LISTEN_PORT, FZ_PEER_ISN, 0, FZ_SYN,
            65535, NULL, 0);
    close_seed();

    /* A 9000-byte MTU: the peer's MSS 8960 raises the connection's MSS (syn.c). */
    frames_seed("tcp_syn_jumbo", 1);
    static const uint8_t big_mss[] = { 2, 4, 0x23, 0x00, 1, 3, 3, 7 };
    struct fz_tcp t = { .saddr = FZ_PEER_IP, .daddr = FZ_STACK_IP, .sport = FZ_LIVE_PORT + 1,
                        .dport = FZ_LISTEN_PORT, .seq = FZ_PEER_ISN, .flags = FZ_SYN,
                        .win = 65535, .opt = big_mss, .optlen = sizeof(big_mss) };
    struct fz_frame f;
    fz_tcp4(&f, fz_stack_mac, fz_peer_mac, &t);
    rec(0, &f);
    close_seed();

    /* A 9000-byte segment on the live connection (MTU 65000). */
    frames_seed("tcp_big_segment", 2);
    live_padded(0, 0, 9000);
    close_seed();
}

static void seeds_udp_ip(void)
{
    frames_seed("udp", 0);
    udp(0, 1234, FZ_UDP_PORT, "a datagram");
    udp(0, 7, FZ_UDPC_PORT, "an answer");
    udp(0, 1234, 9999, "nobody listens"); /* port unreachable goes back */
    close_seed();

    /* A UDP datagram in two fragments. */
    frames_seed("ipv4_fragments", 0);
    uint8_t dg[8 + 40];
    memset(dg, 'f', sizeof(dg));
    dg[0] = 0x04;
    dg[1] = 0xd2;
    dg[2] = FZ_UDP_PORT >> 8;
    dg[3] = FZ_UDP_PORT & 0xff;
    dg[4] = 0;
    dg[5] = sizeof(dg);
    dg[6] = dg[7] = 0; /* no checksum: it would cover both fragments */
    struct fz_frame f;
    fz_ip4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 17, 0x2000, dg, 24);
    rec(0, &f);
    uint8_t id[2] = { f.b[FZ_ETH_HDR + 4], f.b[FZ_ETH_HDR + 5] };
    fz_ip4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 17, 3, dg + 24, 24);
    memcpy(f.b + FZ_ETH_HDR + 4, id, 2); /* both fragments of one datagram */
    rec(0, &f);
    close_seed();

    /* IPv4 with a 24-byte header (options: NOPs, end of list), to the bound UDP port. */
    {
        frames_seed("ipv4_options", 0);
        uint8_t pkt[24 + 8 + 4] = { 0x46, 0, 0, sizeof(pkt), 0, 9, 0, 0, 64, 17, 0, 0,
                                    198, 18, 0, 1, 198, 18, 0, 2, 1, 1, 1, 0 /* NOPs, EOL */,
                                    0x04, 0xd2, FZ_UDP_PORT >> 8, FZ_UDP_PORT & 0xff, 0, 12,
                                    0, 0, 'o', 'p', 't', 's' };
        memcpy(f.b, fz_stack_mac, 6);
        memcpy(f.b + 6, fz_peer_mac, 6);
        f.b[12] = 0x08;
        f.b[13] = 0x00;
        memcpy(f.b + FZ_ETH_HDR, pkt, sizeof(pkt));
        f.len = FZ_ETH_HDR + sizeof(pkt);
        rec(0, &f);
        close_seed();
    }

    /* IPv6 to the all-nodes group (the stack has no IPv6 address of its own): an ICMPv6
     * echo request, a router advertisement with a prefix, a neighbor solicitation. */
    frames_seed("ipv6", 0);
    static const uint8_t src6[16] = { 0xfe, 0x80, [15] = 1 };
    static const uint8_t all6[16] = { 0xff, 0x02, [15] = 1 };
    static const uint8_t mcast_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
    uint8_t echo[8 + 4] = { 128, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g' };
    fz_ip6(&f, mcast_mac, fz_peer_mac, src6, all6, 58, 64, echo, sizeof(echo));
    rec(0, &f);
    uint8_t ra[16 + 32 + 8] = { 134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
                                /* prefix information 2001:db8::/64, autonomous */
                                3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10, 0, 0, 0, 0,
                                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                /* source link-layer address */
                                1, 1, 0x02, 0, 0, 0, 0, 0x01 };
    fz_ip6(&f, mcast_mac, fz_peer_mac, src6, all6, 58, 255, ra, sizeof(ra));
    rec(0, &f);
    uint8_t ns[8 + 16 + 8] = { 135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80, [23] = 2, 1, 1, 0x02, 0,
                               0, 0, 0, 0x01 };
    fz_ip6(&f, mcast_mac, fz_peer_mac, src6, all6, 58, 255, ns, sizeof(ns));
    rec(0, &f);
    close_seed();
}

/* API seeds: op byte, then its arguments (fuzz_api.c). */
/*
 * Frames behind the headers the kernel writes on a TAP with offloads: plain, checksum to be
 * finished (NEEDS_CSUM, as between local sockets), checked (DATA_VALID), a GSO super-segment
 * and the program sending back (TSO and partial sums the other way); then headers the stack
 * must refuse.
 */
static void seeds_vnet(void)
{
    static const struct virtio_net_hdr none = { 0 };
    static const struct virtio_net_hdr partial = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = FZ_ETH_HDR + 20, .csum_offset = 16
    };
    static const struct virtio_net_hdr valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
    static const struct virtio_net_hdr gso = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = FZ_ETH_HDR + 40, .gso_size = 1448, .csum_start = FZ_ETH_HDR + 20,
        .csum_offset = 16
    };
    static const struct virtio_net_hdr udp_partial = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = FZ_ETH_HDR + 20, .csum_offset = 6
    };
    struct fz_frame f;

    vnet_seed("plain", 0, &none);
    fz_icmp4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 8, 0, 0x12340001,
             "ping", 4);
    rec(0, &f);
    live(APP(FZ_APP_SEND), 0, FZ_ACK | FZ_PSH, 65535, "hello back");
    close_seed();

    vnet_seed("needs_csum", 0, &partial);
    live(APP(FZ_APP_SEND), 0, FZ_ACK | FZ_PSH, 65535, "hello back");
    vhdr = &udp_partial;
    udp(0, 9999, FZ_UDP_PORT, "datagram");
    close_seed();

    vnet_seed("data_valid", 0, &valid);
    live(0, 0, FZ_ACK | FZ_PSH, 65535, "hello back");
    udp(0, 9999, FZ_UDP_PORT, "datagram");
    close_seed();

    /* 40 KB in one super-segment, then the program sends 1000 bytes a few times */
    vnet_seed("gso", 0, &gso);
    live_padded(0, 0, 40000);
    vhdr = &none;
    live_ack(APP(FZ_APP_SEND), 40000, FZ_HELLO_LEN, FZ_ACK, 65535, NULL);
    live_ack(APP(FZ_APP_SEND), 40000, FZ_HELLO_LEN + 1000, FZ_ACK, 65535, NULL);
    close_seed();

    static const struct virtio_net_hdr bad[] = {
        { .flags = 0x80 },
        { .gso_type = VIRTIO_NET_HDR_GSO_UDP, .gso_size = 1400 },
        { .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 1400 },
        { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = FZ_ETH_HDR, .csum_offset = 16 },
        { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 0xffff, .csum_offset = 0xffff },
    };
    vnet_seed("bad_headers", 0, &bad[0]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vhdr = &bad[i];
        live(0, 0, FZ_ACK | FZ_PSH, 65535, "dropped");
    }
    close_seed();
}

static void api_seed(const char *name, const uint8_t *ops, size_t n)
{
    open_seed("api", name);
    bytes(ops, n);
    close_seed();
}

static void seeds_api(void)
{
    /* socket(INET, STREAM) -> 0; bind 0 to 0.0.0.0:80; listen 0; socket -> 1;
     * connect 1 to the peer:7; clock; send 1; recv 1; close 1; accept 0. */
    static const uint8_t tcp_client[] = {
        0, 0, 0, 0, 0,        /* socket AF_INET SOCK_STREAM NONBLOCK proto 0 */
        1, 2, 0, 2, 2, 0,     /* bind h0 0.0.0.0:80 len 16 */
        2, 2, 0,              /* listen h0 backlog 1 */
        0, 0, 0, 0, 0,        /* socket -> h1 */
        4, 3, 0, 1, 1, 0,     /* connect h1 to 198.18.0.1:7 */
        13, 3,                /* clock 250 ms */
        5, 3, 4, 0, 0,        /* send h1 100 bytes */
        13, 3,
        7, 3, 4, 0, 0,        /* recv h1 100 bytes */
        12, 3, 0, 0, 2,       /* shutdown h1 SHUT_WR */
        13, 5,
        12, 3, 1, 0,          /* close h1 */
        3, 2, 0, 0, 0,        /* accept h0 */
        14,                   /* stats */
    };
    api_seed("tcp_client", tcp_client, sizeof(tcp_client));

    static const uint8_t udp[] = {
        0, 0, 1, 0, 0,        /* socket AF_INET SOCK_DGRAM -> h0 */
        1, 2, 0, 2, 5, 0,     /* bind h0 0.0.0.0:5353 */
        6, 2, 4, 0, 0, 0, 1, 1, 0, /* sendto h0 100 bytes to 198.18.0.1:7 */
        8, 2, 4, 0, 0, 0,     /* recvfrom h0 */
        4, 2, 0, 1, 1, 0,     /* connect h0 to the peer:7 */
        5, 2, 3, 0, 0,        /* send h0 7 bytes */
        8, 2, 4, 0, 3, 0,     /* recvfrom h0, MSG_TRUNC */
        4, 2, 13, 0, 0, 0,    /* connect h0 AF_UNSPEC */
        12, 2, 0, 0, 3,       /* shutdown h0 SHUT_RDWR */
        14,
    };
    api_seed("udp", udp, sizeof(udp));

    static const uint8_t options[] = {
        0, 0, 0, 0, 0,
        9, 2, 0, 0, 0, 0, 1,  /* SO_REUSEADDR 1 */
        9, 2, 0, 2, 1, 0, 1,  /* SO_RCVTIMEO 1 s */
        9, 2, 1, 9, 0, 0, 1,  /* TCP_NODELAY 1 */
        9, 2, 1, 10, 0, 0, 6, /* TCP_KEEPIDLE 1000 */
        10, 2, 1, 8, 6, 0,    /* TCP_INFO, 232 bytes */
        10, 2, 0, 0, 0, 0,    /* SO_ERROR */
        11, 2, 0, 0,          /* getsockname */
        11, 2, 0, 1,          /* getpeername */
        12, 2, 2, 0,          /* poll */
        12, 2, 6, 1,          /* watch */
        12, 2, 7, 0,          /* unwatch */
    };
    api_seed("options", options, sizeof(options));

    /* Connect to the stack's own address (loopback through lwIP's netif). */
    static const uint8_t self[] = {
        0, 0, 0, 0, 0,
        1, 2, 0, 0, 2, 0,     /* bind h0 198.18.0.2:80 */
        2, 2, 0,
        0, 0, 0, 0, 0,
        4, 3, 0, 0, 2, 0,     /* connect h1 to 198.18.0.2:80 */
        13, 1,
        3, 2, 0, 0, 0,        /* accept h0 -> h2 */
        5, 3, 4, 0, 0,
        13, 1,
        7, 4, 4, 0, 0,
    };
    api_seed("self", self, sizeof(self));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
        die(outdir);
    learn();
    seeds_arp_icmp();
    seeds_tcp();
    seeds_udp_ip();
    seeds_vnet();
    seeds_api();
    return 0;
}
