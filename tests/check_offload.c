/*
 * offload.c: the virtio_net_hdr of a TAP with offloads. Received headers that do not match
 * their frame are dropped and counted (the kernel sends none, but nothing from outside may
 * make us trust a checksum it did not check); a TCP segment longer than the real MSS goes out
 * as a GSO frame with the partial checksum the kernel requires, a shorter one as lwIP made it.
 */
#include <check.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/inet_chksum.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>

#include "offload.h"
#include "rxframe.h"
#include "stack.h"

static struct netcore_stack *st;
static uint8_t frame[14 + 40 + 20 + 4000];

static void setup(void)
{
    st = calloc(1, sizeof(*st));
    ck_assert_ptr_nonnull(st);
    st->dev.vnet = sizeof(struct virtio_net_hdr);
    st->dev.tso = true;
    st->dev.csum = true;
    st->dev.mtu = 1500;
    st->dev.is_eth = true;
    st->cfg.ip.s_addr = htonl(0xc6120001); /* tcp_frame's destination */
}

static void teardown(void)
{
    free(st);
}

/* An Ethernet frame with an IPv4 (or IPv6) TCP segment of data bytes; returns its length. */
static size_t tcp_frame(bool v6, size_t data)
{
    memset(frame, 0, sizeof(frame));
    uint8_t *ip = frame + 14;
    size_t ihl = v6 ? 40 : 20;
    frame[12] = v6 ? 0x86 : 0x08;
    frame[13] = v6 ? 0xdd : 0x00;
    if (v6) {
        ip[0] = 0x60;
        ip[4] = (uint8_t)((20 + data) >> 8);
        ip[5] = (uint8_t)(20 + data);
        ip[6] = 6;
        ip[8] = 0x20;
        ip[23] = 2;
        ip[24] = 0x20;
        ip[39] = 1;
    } else {
        ip[0] = 0x45;
        ip[2] = (uint8_t)((20 + 20 + data) >> 8);
        ip[3] = (uint8_t)(20 + 20 + data);
        ip[9] = 6;
        memcpy(ip + 12, "\xc6\x12\x00\x02\xc6\x12\x00\x01", 8);
    }
    uint8_t *tcp = ip + ihl;
    tcp[0] = 0x80; /* ports 32768 -> 80 */
    tcp[3] = 80;
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;
    return 14 + ihl + 20 + data;
}

/* The frame parsed as received after the header h (rxframe.c, which calls nc__vnet_rx):
 * the IPv4 header sum is made first, so that only the virtio_net_hdr can be at fault. */
static bool rx_frame(const struct virtio_net_hdr *h, size_t len, struct nc_frame *fr)
{
    if (frame[12] == 0x08) {
        frame[14 + 10] = frame[14 + 11] = 0;
        uint16_t c = inet_chksum(frame + 14, 20);
        memcpy(frame + 14 + 10, &c, 2);
    }
    return nc__frame_parse(st, fr, (const uint8_t *)h, frame, len);
}

static bool rx(const struct virtio_net_hdr *h, size_t len, bool *vouched)
{
    struct nc_frame fr;
    bool ok = rx_frame(h, len, &fr);
    *vouched = ok && fr.vouched;
    return ok;
}

/* tcp_frame(true, data) to the all-nodes group (no netif to hold our address) with an
 * 8-byte extension header of type ext in front of the TCP header; returns its length. */
static size_t tcp6_ext_frame(uint8_t ext, size_t data)
{
    size_t len = tcp_frame(true, data);
    uint8_t *ip = frame + 14;
    memmove(ip + 48, ip + 40, len - 14 - 40);
    memset(ip + 40, 0, 8);
    ip[40] = 6; /* next: TCP */
    ip[6] = ext;
    ip[5] = (uint8_t)(ip[5] + 8);
    ip[24] = 0xff;
    ip[25] = 0x02;
    return len + 8;
}

START_TEST(rx_plain_and_vouched)
{
    bool v;
    size_t len = tcp_frame(false, 100);
    struct virtio_net_hdr h = { 0 };
    ck_assert(rx(&h, len, &v));
    ck_assert(!v);
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csum_start = 14 + 20;
    h.csum_offset = 16;
    ck_assert(rx(&h, len, &v));
    ck_assert(v);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = 1448;
    ck_assert(rx(&h, len, &v));
    ck_assert(v);
    ck_assert_uint_eq(st->stats.rx_gso, 1);
    h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_DATA_VALID };
    ck_assert(rx(&h, len, &v));
    ck_assert(v);
    ck_assert_uint_eq(st->stats.rx_dropped_malformed, 0);
}
END_TEST

START_TEST(rx_bad_headers_dropped)
{
    bool v;
    size_t len = tcp_frame(false, 100);
    struct virtio_net_hdr bad[] = {
        /* the sum is not where the TCP checksum is */
        { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 14 + 20, .csum_offset = 6 },
        { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 14, .csum_offset = 16 },
        { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 0xffff, .csum_offset = 0xffff },
        /* GSO of the wrong IP version, of UDP, of size 0; unknown flags */
        { .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 1400 },
        { .gso_type = VIRTIO_NET_HDR_GSO_UDP, .gso_size = 1400 },
        { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 0 },
        { .flags = 0x80 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = true;
        ck_assert_msg(!rx(&bad[i], len, &v), "header %zu taken", i);
        ck_assert(!v);
    }
    ck_assert_uint_eq(st->stats.rx_dropped_malformed, sizeof(bad) / sizeof(bad[0]));
    /* a fragment's checksum field is not the segment's */
    frame[14 + 6] = 0x20;
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 14 + 20,
                                .csum_offset = 16 };
    ck_assert(!rx(&h, len, &v));
}
END_TEST

/* A TCP segment behind an IPv6 extension header: the parse walks the ones lwIP walks and the
 * kernel's vouch holds for the header found there; behind one it does not walk, the partial
 * sum is finished in software over [csum_start, end) for lwIP to check. */
START_TEST(rx_ipv6_extension_headers)
{
    struct nc_frame fr;
    size_t len = tcp6_ext_frame(60, 100); /* destination options */
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                .csum_start = 14 + 48, .csum_offset = 16 };
    ck_assert(rx_frame(&h, len, &fr));
    ck_assert(fr.vouched);
    ck_assert_uint_eq(fr.proto, 6);
    ck_assert_uint_eq(fr.l4, 14 + 48);
    ck_assert(fr.tcp.tcp);
    ck_assert_uint_eq(fr.tcp.dport, 80);
    ck_assert_uint_eq(fr.tcp.len, 100);
    len = tcp6_ext_frame(140, 100); /* a header we do not walk */
    frame[14 + 48 + 16] = 0x12; /* the pseudo-header sum the kernel left */
    frame[14 + 48 + 17] = 0x34;
    for (size_t i = 0; i < 100; i++)
        frame[14 + 48 + 20 + i] = (uint8_t)(i * 13 + 1);
    ck_assert(rx_frame(&h, len, &fr));
    ck_assert(!fr.vouched);
    ck_assert_uint_eq(fr.proto, 140);
    /* the segment now sums to what the pseudo-header lacks: with it, to 0xffff */
    uint16_t pseudo;
    memcpy(&pseudo, "\x12\x34", 2);
    ck_assert_uint_eq(inet_chksum(frame + 14 + 48, 120), pseudo);
    ck_assert_uint_ne(frame[14 + 48 + 16] << 8 | frame[14 + 48 + 17], 0x1234);
    ck_assert_uint_eq(st->stats.rx_dropped_malformed, 0);
    /* a csum_start inside the IPv6 header, or a field past the packet, is still dropped */
    h.csum_start = 14 + 8;
    ck_assert(!rx_frame(&h, len, &fr));
    h.csum_start = 14 + 48;
    h.csum_offset = 120;
    ck_assert(!rx_frame(&h, len, &fr));
    ck_assert_uint_eq(st->stats.rx_dropped_malformed, 2);
}
END_TEST

/* The folded sum of the IPv4 pseudo-header of tcp_frame(false, data). */
static uint16_t pseudo4(size_t data)
{
    uint32_t s = 0xc612 + 0x0002 + 0xc612 + 0x0001 + 6 + 20 + (uint32_t)data;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

START_TEST(tx_gso_only_above_mss)
{
    struct virtio_net_hdr h;
    size_t len = tcp_frame(false, 1460);
    /* without TUN_F_CSUM: as lwIP made it, with lwIP's full checksum */
    st->dev.csum = false;
    frame[14 + 20 + 16] = 0xab;
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_uint_eq(frame[14 + 20 + 16], 0xab);
    /* with it: a partial sum for the kernel to finish, but no GSO up to the MSS */
    st->dev.csum = true;
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    ck_assert_uint_eq(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(h.csum_start, 14 + 20);
    ck_assert_uint_eq(h.csum_offset, 16);
    ck_assert_uint_eq(h.hdr_len, 14 + 20 + 20);
    ck_assert_uint_eq((uint16_t)(frame[14 + 20 + 16] << 8 | frame[14 + 20 + 17]),
                      pseudo4(1460));
    ck_assert_uint_eq(st->stats.tx_gso, 0);

    len = tcp_frame(false, 4000);
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(h.gso_size, 1460);
    ck_assert_uint_eq(h.hdr_len, 14 + 20 + 20);
    ck_assert_uint_eq(h.csum_start, 14 + 20);
    ck_assert_uint_eq(h.csum_offset, 16);
    uint16_t c = (uint16_t)(frame[14 + 20 + 16] << 8 | frame[14 + 20 + 17]);
    ck_assert_uint_eq(c, pseudo4(4000));
    ck_assert_uint_eq(st->stats.tx_gso, 1);

    /* a peer that asked for 1200 gets 1200 */
    uint8_t peer[4] = { 0xc6, 0x12, 0x00, 0x01 };
    nc__offload_mss_set(st, false, peer, 32768, 80, 1200, 1460);
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_size, 1200);
    /* the next connection on the same ports asked for the link's: the entry goes */
    nc__offload_mss_set(st, false, peer, 32768, 80, 1460, 1460);
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_size, 1460);

    len = tcp_frame(true, 4000);
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
    ck_assert_uint_eq(h.gso_size, 1440);
    ck_assert_uint_eq(h.csum_start, 14 + 40);

    st->dev.tso = false;
    len = tcp_frame(false, 4000);
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    ck_assert_uint_eq(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
}
END_TEST

/* The IPv4 UDP datagram of tcp_frame's addresses with data bytes (a pattern), in frame. */
static size_t udp_frame(size_t data)
{
    size_t len = tcp_frame(false, 0);
    uint8_t *ip = frame + 14;
    size_t ulen = 8 + data;
    ip[2] = (uint8_t)((20 + ulen) >> 8);
    ip[3] = (uint8_t)(20 + ulen);
    ip[9] = 17;
    uint8_t *udp = ip + 20;
    memset(udp + 4, 0, 16);
    udp[4] = (uint8_t)(ulen >> 8);
    udp[5] = (uint8_t)ulen;
    for (size_t i = 0; i < data; i++)
        udp[8 + i] = (uint8_t)(i * 7 + 3);
    (void)len;
    return 14 + 20 + ulen;
}

START_TEST(tx_udp_partial)
{
    struct virtio_net_hdr h;
    size_t len = udp_frame(100);
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    ck_assert_uint_eq(h.csum_start, 14 + 20);
    ck_assert_uint_eq(h.csum_offset, 6);
    ck_assert_uint_eq(h.hdr_len, 14 + 20 + 8);
    uint32_t sum = 0xc612 + 0x0002 + 0xc612 + 0x0001 + 17 + 108;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    ck_assert_uint_eq((uint16_t)(frame[14 + 20 + 6] << 8 | frame[14 + 20 + 7]), sum);
    /* a fragment: nothing the kernel could finish */
    len = udp_frame(100);
    frame[14 + 6] = 0x20;
    nc__vnet_tx(st, frame, len, len, &h);
    ck_assert_uint_eq(h.flags, 0);
}
END_TEST

/* What lwIP leaves to the kernel but the kernel cannot finish (a datagram lwIP is about to
 * fragment) is summed here: the whole datagram then sums to 0xffff with its pseudo-header. */
START_TEST(csum_finish_before_frag)
{
    struct netif nif;
    memset(&nif, 0, sizeof(nif));
    NETIF_SET_CHECKSUM_CTRL(&nif, NETIF_CHECKSUM_ENABLE_ALL & ~(NETIF_CHECKSUM_GEN_TCP |
                                                              NETIF_CHECKSUM_GEN_UDP));
    size_t len = udp_frame(3000);
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)(len - 14), PBUF_RAM);
    ck_assert_ptr_nonnull(p);
    memcpy(p->payload, frame + 14, len - 14);
    nc__offload_csum_finish(&nif, p);
    const uint8_t *ip = p->payload;
    ck_assert_uint_eq(ip[0], 0x45); /* the header is back in front */
    ip4_addr_t src, dst;
    memcpy(&src.addr, ip + 12, 4);
    memcpy(&dst.addr, ip + 16, 4);
    ck_assert_uint_ne(ip[20 + 6] | ip[20 + 7], 0);
    pbuf_remove_header(p, 20);
    ck_assert_uint_eq(inet_chksum_pseudo(p, 17, p->tot_len, &src, &dst), 0);
    pbuf_add_header(p, 20);
    /* where lwIP generates sums itself, the field is left as it made it */
    NETIF_SET_CHECKSUM_CTRL(&nif, NETIF_CHECKSUM_ENABLE_ALL);
    ((uint8_t *)p->payload)[20 + 6] = 0xab;
    nc__offload_csum_finish(&nif, p);
    ck_assert_uint_eq(((uint8_t *)p->payload)[20 + 6], 0xab);
    pbuf_free(p);
}
END_TEST

START_TEST(super_mss_whole_segments)
{
    ck_assert_uint_eq(nc__offload_super_mss(1460), 44 * 1460);
    ck_assert_uint_eq(nc__offload_super_mss(1440), 45 * 1440);
    ck_assert_uint_eq(nc__offload_super_mss(536) % 536, 0);
    /* a frame of headers and one super-segment still fits lwIP's 16-bit lengths */
    ck_assert_uint_le(14 + 60 + 40 + nc__offload_super_mss(536), 0xffff);
    ck_assert_uint_eq(nc__offload_super_mss(64960), 64960); /* the 65000-byte MTU */
}
END_TEST

static Suite *offload_suite(void)
{
    Suite *s = suite_create("offload");
    TCase *rxc = tcase_create("rx");
    tcase_add_checked_fixture(rxc, setup, teardown);
    tcase_add_test(rxc, rx_plain_and_vouched);
    tcase_add_test(rxc, rx_bad_headers_dropped);
    tcase_add_test(rxc, rx_ipv6_extension_headers);
    suite_add_tcase(s, rxc);
    TCase *txc = tcase_create("tx");
    tcase_add_checked_fixture(txc, setup, teardown);
    tcase_add_test(txc, tx_gso_only_above_mss);
    tcase_add_test(txc, super_mss_whole_segments);
    tcase_add_test(txc, tx_udp_partial);
    tcase_add_test(txc, csum_finish_before_frag);
    suite_add_tcase(s, txc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(offload_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}
