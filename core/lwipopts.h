/*
 * netcore's configuration of lwIP, which it builds from Debian's source package (lwip.am,
 * `netcore deps`). Every lwIP object and every core file sees this file, so their structures
 * agree.
 *
 * Where behaviour depends on a value it is the one of Debian's own build (its
 * /usr/include/lwip/lwipopts.h, which netcore used to link as liblwip): the same MSS, windows,
 * protocols, IPv6 features and checksum-on-copy. The differences are how lwIP meets its host:
 *  - NO_SYS: one thread at a time drives lwIP under the stack lock (core/stack.c), through the
 *    raw API; no tcpip thread, no netconn or socket API, no OS locks inside lwIP. Packets a pcb
 *    sends to one of our own addresses wait on the netif's loop queue until whoever holds the
 *    lock polls it (netif_poll_all in stack.c) instead of going to a tcpip thread.
 *  - hooks and macros in place of functions that were replaced through liblwip's PLT: the
 *    ISN (LWIP_HOOK_TCP_ISN, core/iss.c), the checksum (LWIP_CHKSUM, core/chksum.c), random
 *    numbers (LWIP_RAND, core/iss.c: libc's rand() is the program's own generator).
 *  - IP forwarding off: netcore has one interface per process, on which lwIP never forwarded.
 *  - options in place of rewriting frames on the wire: SACK (LWIP_TCP_SACK_OUT) and a large
 *    scaled receive window (TCP_WND, TCP_RCV_SCALE).
 */
#ifndef NETCORE_LWIPOPTS_H
#define NETCORE_LWIPOPTS_H

/* ---- how lwIP meets netcore */
#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0 /* the stack lock serialises every call into lwIP */
#define LWIP_NETCONN                0
#define LWIP_SOCKET                 0
#define LWIP_NETIF_LOOPBACK_MULTITHREADING 0
#define LWIP_HOOK_FILENAME          "lwiphooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
    nc__tcp_isn((local_ip), (local_port), (remote_ip), (remote_port))

/* lwIP's sums go through the core's 64-bit routine. lwIP's own (algorithm 2, Debian's) is
 * still built: tests/check_chksum compares the two. */
#define LWIP_CHKSUM                 nc__chksum
#define LWIP_CHKSUM_ALGORITHM       2
unsigned short nc__chksum(const void *dataptr, int len);
unsigned short lwip_standard_chksum(const void *dataptr, int len);

/* Random numbers (local port start, IPv6 ND and MLD delays) from the kernel's generator. */
unsigned int nc__rand(void);
#define LWIP_RAND()                 ((u32_t)nc__rand())

/* ---- memory: libc's malloc for the heap and for every pool, as in Debian's build */
#define MEM_LIBC_MALLOC             1
#define MEMP_MEM_MALLOC             1
/* through a cache of 64 KB blocks (core/bigbuf.c) */
#include <stddef.h>
void *nc__mem_malloc(size_t size);
void nc__mem_free(void *p);
#define mem_clib_malloc             nc__mem_malloc
#define mem_clib_free               nc__mem_free
#define MEM_USE_POOLS               0
#if defined __LP64__
#define MEM_ALIGNMENT               8
#else
#define MEM_ALIGNMENT               4
#endif

/* ---- link and interface */
#define LWIP_NETIF_TX_SINGLE_PBUF   1 /* dev.c writes one contiguous frame */
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define ARP_QUEUEING                1
#define ARP_QUEUE_LEN               10
#define LWIP_NETIF_LOOPBACK         1
#define LWIP_HAVE_LOOPIF            0
/* Packets to our own addresses wait on the loop queue until the lock holder lets go
 * (stack.c): a bound on it, beyond which lwIP drops them (TCP sends them again). One lock
 * hold sends at most a window's worth (1 MiB: 719 segments of 1460 bytes). */
#define LWIP_LOOPBACK_MAX_PBUFS     1024

/* ---- IPv4 */
#define LWIP_IPV4                   1
#define LWIP_ICMP                   1
#define LWIP_IGMP                   1
#define LWIP_RAW                    1
#define IP_FORWARD                  0
/* Fragments waiting for reassembly, for IPv4 and for IPv6 each (lwIP's default, 10, lost
 * every datagram of more than 10 fragments: 14800 bytes at MTU 1500, where the kernel takes
 * 65507). A largest datagram is 45 fragments of 1480 bytes, 54 of 1232 at IPv6's least MTU:
 * 128 hold two of them. Bounded by MEMP_NUM_REASSDATA (5) datagrams at once too, so at most
 * ~330 KB per family whatever the MTU (a fragment under 32 KB gets a pbuf of its own size,
 * netif.c). */
#define IP_REASS_MAX_PBUFS          128

/* ---- IPv6 (Debian's: SLAAC, MLD, one DAD probe) */
#define LWIP_IPV6                   1
#define LWIP_ICMP6                  1
#define LWIP_IPV6_MLD               1
#define LWIP_IPV6_FORWARD           0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 1
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 1
#define LWIP_IPV6_AUTOCONFIG        1
#define MEMP_NUM_MLD6_GROUP         16
#define LWIP_IPV6_NUM_ADDRESSES     6
#if defined __LP64__
/* ip6_frag.c keeps its reassembly helper in the fragment header's place only on 32-bit. */
#define IPV6_FRAG_COPYHEADER        1
#endif

/* ---- UDP, TCP */
#define LWIP_UDP                    1
#define LWIP_UDPLITE                1 /* as Debian's; core/udpin.c guards its coverage */
#define LWIP_MULTICAST_TX_OPTIONS   1
#define LWIP_TCP                    1
#define LWIP_TCP_KEEPALIVE          1
#define SO_REUSE                    1
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1
#define TCP_MSS                     1460
/* A 1 MiB receive window with a window scale of 5 (up to 2 MiB) when the peer scales
 * windows too, 64 KiB - 1 when it does not. Large enough that a kernel sender is seldom held
 * by it: one so held transmits from inside our ACK's write() to the TAP, on our CPU time
 * (with 256 KiB, a third more CPU per GB received). It bounds what a connection holds beyond
 * its receive ring (NETCORE_RCVBUF) while the program does not read: the data in flight. */
#define LWIP_WND_SCALE              1
#define TCP_RCV_SCALE               5
#define TCP_WND                     (1024 * 1024)
/* A window update of its own once the window grew by half the most it can be (512 KiB
 * scaled, 32 KiB not), not lwIP's 4 MSS (an ACK per 5840 bytes read): below that,
 * core/ackpol.c decides when received data is acknowledged, and the window with it. */
#define TCP_WND_UPDATE_THRESHOLD    (TCP_WND_MAX(pcb) / 2)
/* Out-of-order segments a connection keeps, in pbufs (lwIP drops the queue's tail beyond,
 * with its SACK blocks). Unbounded, only the window limits them: a peer sending the 1 MiB in
 * one-byte segments behind a hole made lwIP hold ~140 bytes of heap per byte (the pbuf, the
 * frame's headers, the tcp_seg) and walk the whole queue for each insertion
 * (tests/check_rxmem). 2048 is a 1 MiB window of 512-byte segments, nearly three of
 * 1460-byte ones: a real sender's out-of-order data is never cut. */
#define TCP_OOSEQ_MAX_PBUFS         2048
/* Debian's; tcp.c raises each connection's snd_buf (lwIP's low-water marks are 16-bit). */
#define TCP_SND_BUF                 0xFFFF
/* Segments a connection may queue (unsent and unacknowledged): lwIP's default, 4 x TCP_SND_BUF
 * in 1460-byte segments (180), capped a sender without offloads at 263 KB in flight, a
 * quarter of the 1 MiB that tcp.c lets a connection have, and at a 10 ms RTT at 26 MB/s
 * (bench/loss.sh, 16 MiB without loss: 1.1 s, the kernel 0.3 s). 1 MiB in 1460-byte
 * segments is 719; the bytes stay bounded by snd_buf. bbr's larger queue (cc.c, up to
 * 4 MiB) is reached with TAP offloads' super-segments; without them this count caps it near
 * 1.5 MB. */
#define TCP_SND_QUEUELEN            1024
/* Off: tcp_write would sum every byte it copies whatever the netif (lwIP decides this at
 * compile time), and with TUN_F_CSUM the kernel sums them instead (offload.c). Without
 * offloads lwIP sums a segment when it sends it: the same bytes once, and once more per
 * retransmission. */
#define LWIP_CHECKSUM_ON_COPY       0
/* Selective acknowledgements for what arrives out of order (RFC 2018): SACK-permitted in our
 * SYN, and in our SYN-ACK when the peer's SYN offered it; up to 4 blocks, the newest first, in
 * the pure ACKs of such a connection. A sender facing a receiver without them learns of one
 * hole per round trip and, with a flight of a few large segments, mostly from a timeout. */
#define LWIP_TCP_SACK_OUT           1
#define LWIP_TCP_MAX_SACK_NUM       4
/* Two pointers of netcore's per pcb: tcpin.c's NewReno recovery point, rexmit.c's SACK
 * scoreboard. */
#define LWIP_TCP_PCB_NUM_EXT_ARGS   2

/* ---- checksums: lwIP computes and checks them all (CHECKSUM_GEN_*, CHECKSUM_CHECK_* stay 1),
 * but per interface, so that a device that hands frames with their checksum already verified
 * (virtio_net_hdr VIRTIO_NET_HDR_F_DATA_VALID) or finishes them itself (NEEDS_CSUM) can turn
 * lwIP's work off with NETIF_SET_CHECKSUM_CTRL around those frames. netif_add enables all. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1

/* ---- no DHCP, AutoIP, DNS (netcore's addresses are configured; names resolve elsewhere) */
#define LWIP_DHCP                   0
#define LWIP_AUTOIP                 0
#define LWIP_DNS                    0

/* ---- statistics: netcore counts its own */
#define LWIP_STATS                  0
#define LWIP_STATS_DISPLAY          0

#endif /* NETCORE_LWIPOPTS_H */
