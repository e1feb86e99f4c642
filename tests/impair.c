/*
 * impair: a netem-like relay for the fault tests. This kernel has no sch_netem, so the
 * impairment sits outside netcore as a bridge between two devices in the test namespace:
 *
 *   netcore ── TAP NCDEV ──(kernel side: no address; AF_PACKET socket)── impair
 *   impair ──(fd of TAP PEERDEV)── kernel side of PEERDEV (the kernel peers' address)
 *
 * Frames netcore writes to its TAP are read with a packet socket bound to NCDEV and written to
 * PEERDEV's fd ("up"); frames the kernel sends out of PEERDEV are read from that fd and sent on
 * the packet socket, which hands them to netcore's TAP ("down"). Each direction has its own
 * impairments, applied like netem: duplicate %, loss %, corrupt % (one random bit flipped),
 * delay ms ± jitter ms (uniform), and reorder %: a reordered frame skips the delay.
 *
 * Usage: impair [-s SEED] [-t SECS] [-q FRAMES] [-u SPEC] [-d SPEC] [-b SPEC] NCDEV PEERDEV
 *   SPEC   loss=P,delay=MS,jitter=MS,reorder=P,dup=P,corrupt=P (P in percent, any subset)
 *   -u/-d/-b  up (netcore → kernel), down (kernel → netcore), both
 *   -q     frames held for delay at most (default 1024; more are dropped and counted)
 *   -t     exit after SECS seconds (default 600), a bound for a test that went wrong
 * Prints "impair: ready" once both devices are open, and one line of counters per direction
 * at exit (SIGTERM, SIGINT or -t). The random draws are seeded (-s) and printed.
 *
 * netcore may use its TAP's offloads (core/offload.c): it then writes TCP super-segments of up
 * to 64 KB with a partial checksum, which the kernel cuts into MTU-sized segments before a
 * real link. The packet socket takes a virtio_net_hdr (PACKET_VNET_HDR), and the relay does
 * that cutting itself (resegment), so that what it impairs and passes on is what a wire would
 * carry: frames of the MTU with whole checksums.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 65600 /* a 65535-byte frame (MTU, or a super-segment) and its headers */
#define BATCH 64        /* frames read from one device before looking at the other */

struct impairment {
    double loss, reorder, dup, corrupt; /* probabilities, 0..1 */
    double delay_ms, jitter_ms;
};

struct counters {
    uint64_t frames, sent, lost, delayed, reordered, duplicated, corrupted, overflow, errors;
};

struct dir {
    const char *name;
    struct impairment imp;
    uint64_t rng; /* xorshift64* state, one stream per direction */
    int out;      /* fd the frames leave by */
    bool out_vnet; /* out takes a virtio_net_hdr first (the packet socket) */
    struct counters c;
};

/* A frame held for its release time; the heap orders by (at, seq), so ties keep their order. */
struct held {
    uint64_t at, seq;
    struct dir *d;
    size_t len;
    uint8_t *data;
};

static struct held *heap;
static size_t heap_len, heap_cap = 1024;
static uint64_t heap_seq;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(struct dir *d)
{
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, 1). */
static double rng_unit(struct dir *d)
{
    return (double)(rng_next(d) >> 11) / 9007199254740992.0;
}

static bool chance(struct dir *d, double p)
{
    return p > 0 && rng_unit(d) < p;
}

static bool heap_less(const struct held *a, const struct held *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct held h)
{
    size_t i = heap_len++;
    heap[i] = h;
    while (i > 0 && heap_less(&heap[i], &heap[(i - 1) / 2])) {
        struct held t = heap[i];
        heap[i] = heap[(i - 1) / 2];
        heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct held heap_pop(void)
{
    struct held top = heap[0];
    heap[0] = heap[--heap_len];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_len && heap_less(&heap[l], &heap[m]))
            m = l;
        if (r < heap_len && heap_less(&heap[r], &heap[m]))
            m = r;
        if (m == i)
            break;
        struct held t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
    return top;
}

static void emit(struct dir *d, const uint8_t *f, size_t len)
{
    /* A full queue on either device loses the frame, as a NIC would; TCP recovers. */
    struct virtio_net_hdr vh;
    memset(&vh, 0, sizeof(vh)); /* a plain frame, checksums whole */
    struct iovec iov[2] = { { &vh, sizeof(vh) }, { (void *)f, len } };
    ssize_t want = (ssize_t)(d->out_vnet ? sizeof(vh) + len : len);
    if (writev(d->out, d->out_vnet ? iov : iov + 1, d->out_vnet ? 2 : 1) == want)
        d->c.sent++;
    else
        d->c.errors++;
}

/* Holds a copy of the frame until its delay has passed; drops it when the queue is full. */
static void hold(struct dir *d, const uint8_t *f, size_t len)
{
    double ms = d->imp.delay_ms;
    if (d->imp.jitter_ms > 0)
        ms += (2 * rng_unit(d) - 1) * d->imp.jitter_ms;
    if (ms <= 0) {
        emit(d, f, len);
        return;
    }
    uint8_t *copy = heap_len < heap_cap ? malloc(len) : NULL;
    if (copy == NULL) {
        d->c.overflow++;
        return;
    }
    memcpy(copy, f, len);
    heap_push((struct held){ now_ns() + (uint64_t)(ms * 1e6), heap_seq++, d, len, copy });
    d->c.delayed++;
}

/*
 * One frame in, in netem's order: a duplicate is made first (and goes through loss,
 * corruption and delay on its own, without duplicating again); then loss; then one bit of the
 * frame is flipped; then the frame is either reordered (sent at once, ahead of the frames
 * still delayed) or delayed.
 */
static void impair(struct dir *d, uint8_t *f, size_t len, bool may_dup)
{
    if (may_dup && chance(d, d->imp.dup)) {
        d->c.duplicated++;
        uint8_t copy[FRAME_MAX];
        memcpy(copy, f, len);
        impair(d, copy, len, false);
    }
    if (chance(d, d->imp.loss)) {
        d->c.lost++;
        return;
    }
    if (len > 0 && chance(d, d->imp.corrupt)) {
        size_t bit = (size_t)(rng_next(d) % (len * 8));
        f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        d->c.corrupted++;
    }
    if (d->imp.delay_ms > 0 && chance(d, d->imp.reorder)) {
        d->c.reordered++;
        emit(d, f, len);
        return;
    }
    hold(d, f, len);
}

/* The one's-complement sum of len bytes, folded, not inverted, added to sum. */
static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* Finishes a partial checksum: the field at start + off holds the pseudo-header sum. */
static void finish_csum(uint8_t *f, size_t len, size_t start, size_t off)
{
    uint16_t c = (uint16_t)~csum(f + start, len - start, 0);
    if (c == 0 && off == 6)
        c = 0xffff; /* UDP: 0 would mean "no checksum" */
    f[start + off] = (uint8_t)(c >> 8);
    f[start + off + 1] = (uint8_t)c;
}

/*
 * A frame netcore wrote with a virtio_net_hdr: a TCP super-segment is cut into segments of
 * gso_size bytes of data (IP lengths and IDs, sequence numbers, FIN/PSH on the last and CWR
 * on the first only, checksums whole), as the kernel's GSO does, and each is impaired on its
 * own; a partial checksum is finished. Anything inconsistent is counted as an error.
 */
static void resegment(struct dir *d, const struct virtio_net_hdr *h, uint8_t *f, size_t len)
{
    size_t start = h->csum_start, hl = h->hdr_len;
    bool csum_partial = (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (csum_partial && (start + h->csum_offset + 2 > len)) {
        d->c.errors++;
        return;
    }
    if (gso == VIRTIO_NET_HDR_GSO_NONE) {
        if (csum_partial)
            finish_csum(f, len, start, h->csum_offset);
        impair(d, f, len, true);
        return;
    }
    bool v6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
    if ((gso != VIRTIO_NET_HDR_GSO_TCPV4 && !v6) || !csum_partial || h->gso_size == 0 ||
        start < 14 + (v6 ? 40u : 20u) || start + 20 > len ||
        (hl = start + (size_t)(f[start + 12] >> 4) * 4) > len) {
        d->c.errors++;
        return;
    }
    const uint8_t *tcp = f + start;
    uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | tcp[6] << 8 | tcp[7];
    uint16_t id = (uint16_t)(f[14 + 4] << 8 | f[14 + 5]);
    size_t data = len - hl;
    static uint8_t seg[FRAME_MAX];
    for (size_t off = 0, k = 0; off < data; off += h->gso_size, k++) {
        size_t n = data - off < h->gso_size ? data - off : h->gso_size;
        size_t sl = hl + n;
        memcpy(seg, f, hl);
        memcpy(seg + hl, f + hl + off, n);
        uint8_t *ip = seg + 14, *t = seg + start;
        if (v6) {
            size_t pl = sl - 14 - 40;
            ip[4] = (uint8_t)(pl >> 8);
            ip[5] = (uint8_t)pl;
        } else {
            size_t tl = sl - 14;
            ip[2] = (uint8_t)(tl >> 8);
            ip[3] = (uint8_t)tl;
            ip[4] = (uint8_t)((id + k) >> 8);
            ip[5] = (uint8_t)(id + k);
            ip[10] = ip[11] = 0;
            uint16_t c = (uint16_t)~csum(ip, start - 14, 0);
            ip[10] = (uint8_t)(c >> 8);
            ip[11] = (uint8_t)c;
        }
        uint32_t s = seq + (uint32_t)off;
        t[4] = (uint8_t)(s >> 24);
        t[5] = (uint8_t)(s >> 16);
        t[6] = (uint8_t)(s >> 8);
        t[7] = (uint8_t)s;
        if (off + n < data)
            t[13] &= (uint8_t)~0x09; /* FIN, PSH: the last segment's */
        if (k > 0)
            t[13] &= (uint8_t)~0x80; /* CWR: the first's */
        /* The pseudo-header sum for this segment's length, then the whole sum over it. */
        uint32_t ps = 6 + (uint32_t)(sl - start);
        const uint8_t *a = v6 ? ip + 8 : ip + 12;
        for (int i = 0; i < (v6 ? 32 : 8); i += 2)
            ps += (uint32_t)(a[i] << 8 | a[i + 1]);
        t[16] = t[17] = 0;
        uint16_t c = (uint16_t)~csum(t, sl - start, ps);
        t[16] = (uint8_t)(c >> 8);
        t[17] = (uint8_t)c;
        impair(d, seg, sl, true);
    }
}

static void release_due(void)
{
    uint64_t now = now_ns();
    while (heap_len > 0 && heap[0].at <= now) {
        struct held h = heap_pop();
        emit(h.d, h.data, h.len);
        free(h.data);
    }
}

/* Parses "loss=5,delay=10,..." into imp; returns -1 with a message on a bad spec. */
static int parse_spec(const char *spec, struct impairment *imp)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv != NULL;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '='), *end;
        if (eq == NULL)
            goto bad;
        *eq = '\0';
        double v = strtod(eq + 1, &end);
        if (*end != '\0' || end == eq + 1 || v < 0)
            goto bad;
        if (strcmp(kv, "loss") == 0 && v <= 100)
            imp->loss = v / 100;
        else if (strcmp(kv, "reorder") == 0 && v <= 100)
            imp->reorder = v / 100;
        else if (strcmp(kv, "dup") == 0 && v <= 100)
            imp->dup = v / 100;
        else if (strcmp(kv, "corrupt") == 0 && v <= 100)
            imp->corrupt = v / 100;
        else if (strcmp(kv, "delay") == 0)
            imp->delay_ms = v;
        else if (strcmp(kv, "jitter") == 0)
            imp->jitter_ms = v;
        else
            goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "impair: bad impairment spec '%s' (want loss=P,delay=MS,jitter=MS,"
                    "reorder=P,dup=P,corrupt=P)\n", spec);
    return -1;
}

/* Attaches to TAP name (created by the caller, or a new one that goes when we exit). */
static int open_tap(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "impair: open /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "impair: TUNSETIFF %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    /* Plain frames of the MTU from the kernel, whatever offloads an earlier user of this
     * persistent TAP turned on. */
    if (ioctl(fd, TUNSETOFFLOAD, 0ul) < 0) {
        fprintf(stderr, "impair: TUNSETOFFLOAD %s 0: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * A packet socket on the kernel side of netcore's TAP: it receives every frame netcore writes
 * and sends frames that netcore then reads. Our own sends would come back as outgoing frames:
 * PACKET_IGNORE_OUTGOING keeps them out.
 */
static int open_packet(const char *name)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
    if (fd < 0) {
        fprintf(stderr, "impair: socket AF_PACKET: %s\n", strerror(errno));
        return -1;
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)if_nametoindex(name);
    int one = 1, buf = 16 << 20;
    if (sll.sll_ifindex == 0) {
        fprintf(stderr, "impair: no device %s: %s\n", name, strerror(errno));
        goto fail;
    }
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "impair: bind AF_PACKET %s: %s\n", name, strerror(errno));
        goto fail;
    }
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
        fprintf(stderr, "impair: PACKET_IGNORE_OUTGOING: %s\n", strerror(errno));
        goto fail;
    }
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
        fprintf(stderr, "impair: PACKET_VNET_HDR: %s\n", strerror(errno));
        goto fail;
    }
    /* Room for a burst while we are busy with the other direction. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
    return fd;
fail:
    close(fd);
    return -1;
}

static int vnet_fd = -1; /* the packet socket: its frames come with a virtio_net_hdr */

/* Reads up to BATCH frames from fd and impairs each; false when fd failed. */
static bool pump(int fd, struct dir *d)
{
    static uint8_t f[FRAME_MAX];
    for (int i = 0; i < BATCH; i++) {
        ssize_t n = read(fd, f, sizeof(f));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return true;
            fprintf(stderr, "impair: read %s: %s\n", d->name, strerror(errno));
            return false;
        }
        d->c.frames++;
        if (fd == vnet_fd) {
            struct virtio_net_hdr h;
            if ((size_t)n < sizeof(h)) {
                d->c.errors++;
                continue;
            }
            memcpy(&h, f, sizeof(h));
            resegment(d, &h, f + sizeof(h), (size_t)n - sizeof(h));
            continue;
        }
        impair(d, f, (size_t)n, true);
    }
    return true;
}

static void print_counters(const struct dir *d, int pkt)
{
    printf("impair: %s frames=%llu sent=%llu lost=%llu delayed=%llu reordered=%llu "
           "duplicated=%llu corrupted=%llu overflow=%llu errors=%llu",
           d->name, (unsigned long long)d->c.frames, (unsigned long long)d->c.sent,
           (unsigned long long)d->c.lost, (unsigned long long)d->c.delayed,
           (unsigned long long)d->c.reordered, (unsigned long long)d->c.duplicated,
           (unsigned long long)d->c.corrupted, (unsigned long long)d->c.overflow,
           (unsigned long long)d->c.errors);
    struct tpacket_stats st;
    socklen_t sl = sizeof(st);
    /* Frames the packet socket dropped because we were slow are losses we did not choose. */
    if (pkt >= 0 && getsockopt(pkt, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
        printf(" sockdrops=%u", st.tp_drops);
    printf("\n");
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct dir up = { .name = "up" }, down = { .name = "down" };
    uint64_t seed = (uint64_t)time(NULL);
    double secs = 600;
    int opt;
    while ((opt = getopt(argc, argv, "s:t:q:u:d:b:")) != -1) {
        switch (opt) {
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 't': secs = strtod(optarg, NULL); break;
        case 'q': heap_cap = strtoul(optarg, NULL, 0); break;
        case 'u':
            if (parse_spec(optarg, &up.imp) < 0)
                return 2;
            break;
        case 'd':
            if (parse_spec(optarg, &down.imp) < 0)
                return 2;
            break;
        case 'b':
            if (parse_spec(optarg, &up.imp) < 0 || parse_spec(optarg, &down.imp) < 0)
                return 2;
            break;
        default:
            goto usage;
        }
    }
    if (argc - optind != 2 || heap_cap == 0 || secs <= 0)
        goto usage;
    heap = calloc(heap_cap, sizeof(*heap));
    if (heap == NULL) {
        fprintf(stderr, "impair: no memory for a queue of %zu frames\n", heap_cap);
        return 1;
    }
    /* Two streams from one seed: the directions draw independently of each other. */
    up.rng = seed * 2 + 1;
    down.rng = (seed ^ 0x9E3779B97F4A7C15ull) * 2 + 1;

    int pkt = open_packet(argv[optind]);
    int tap = pkt < 0 ? -1 : open_tap(argv[optind + 1]);
    if (tap < 0)
        return 1;
    up.out = tap;
    down.out = pkt;
    down.out_vnet = true;
    vnet_fd = pkt;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: ppoll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("impair: ready seed=%llu\n", (unsigned long long)seed);
    fflush(stdout);

    uint64_t deadline = now_ns() + (uint64_t)(secs * 1e9);
    int rc = 0;
    while (!stop) {
        release_due();
        uint64_t now = now_ns(), wake = deadline;
        if (now >= deadline) {
            fprintf(stderr, "impair: time limit of %.0f s reached\n", secs);
            break;
        }
        if (heap_len > 0 && heap[0].at < wake)
            wake = heap[0].at;
        uint64_t wait = wake > now ? wake - now : 0;
        struct timespec ts = { (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
        struct pollfd pfd[2] = { { pkt, POLLIN, 0 }, { tap, POLLIN, 0 } };
        int n = ppoll(pfd, 2, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "impair: ppoll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (n <= 0)
            continue;
        if (((pfd[0].revents & (POLLIN | POLLERR)) && !pump(pkt, &up)) ||
            ((pfd[1].revents & (POLLIN | POLLERR)) && !pump(tap, &down))) {
            rc = 1;
            break;
        }
    }
    print_counters(&up, pkt);
    print_counters(&down, -1);
    return rc;
usage:
    fprintf(stderr, "usage: impair [-s SEED] [-t SECS] [-q FRAMES] [-u SPEC] [-d SPEC] "
                    "[-b SPEC] NCDEV PEERDEV\n");
    return 2;
}
