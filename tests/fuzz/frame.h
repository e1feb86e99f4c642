/*
 * tests/fuzz/frame.h — Ethernet frames for the fuzz targets and their seed generator:
 * builders for the packets a peer sends, and a checksum fix-up so that mutated frames get
 * past the checksum checks and reach the code behind them.
 */
#ifndef FZ_FRAME_H
#define FZ_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FZ_ETH_HDR 14
#define FZ_FRAME_MAX 2048 /* what a builder can hold; the targets also feed larger frames */

/* TCP header flags */
#define FZ_FIN 0x01
#define FZ_SYN 0x02
#define FZ_RST 0x04
#define FZ_PSH 0x08
#define FZ_ACK 0x10

struct fz_frame {
    uint8_t b[FZ_FRAME_MAX];
    size_t len;
};

/* A TCP segment over IPv4; addresses in host order. */
struct fz_tcp {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    const uint8_t *opt; /* options, a multiple of 4 bytes */
    size_t optlen;
    const void *data;
    size_t len;
};

/* Each builder writes a whole frame into f, checksums included. */
void fz_arp(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint16_t op,
            const uint8_t sha[6], uint32_t spa, const uint8_t tha[6], uint32_t tpa);
/* An IPv4 packet of protocol proto around payload; frag is the flags/offset field. */
void fz_ip4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr,
            uint32_t daddr, uint8_t proto, uint16_t frag, const void *payload, size_t len);
void fz_tcp4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6],
             const struct fz_tcp *t);
void fz_udp4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr,
             uint32_t daddr, uint16_t sport, uint16_t dport, const void *data, size_t len);
/* ICMP: type, code, the 4 bytes after the checksum (rest), then data. */
void fz_icmp4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr,
              uint32_t daddr, uint8_t type, uint8_t code, uint32_t rest, const void *data,
              size_t len);
/* An IPv6 packet; next is the next-header value of payload. */
void fz_ip6(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6],
            const uint8_t saddr[16], const uint8_t daddr[16], uint8_t next, uint8_t hops,
            const void *payload, size_t len);

/*
 * Recomputes the checksums of an Ethernet frame in place: the IPv4 header's, and the TCP,
 * UDP, ICMP or ICMPv6 checksum when the packet is whole (not a fragment, lengths inside the
 * frame). Anything else is left as it is.
 */
void fz_fix_sums(uint8_t *f, size_t len);

#endif /* FZ_FRAME_H */
