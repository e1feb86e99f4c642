/*
 * uv_udp — a libuv UDP client, as a libuv program would write it: COUNT datagrams to an echo
 * peer with uv_udp_send, at most WINDOW in flight (Debian's libuv 1.44 sends them with
 * syscall(SYS_sendmmsg)), their echoes read with uv_udp_recv_start on a UV_UDP_RECVMMSG
 * handle (syscall(SYS_recvmmsg)).
 * Each datagram carries its index and a pattern derived from it; every echo is checked.
 * Exits 0 when all COUNT came back intact within 20 s.
 *
 * usage: uv_udp PEER-IP PORT COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAXN 1000

static int count, sent, received, bad;
static unsigned char seen[MAXN];
static char rbuf[4 * 65536]; /* recvmmsg: whole 64 KiB chunks */
static uv_udp_t udp;
static uv_timer_t timer;
static struct sockaddr_in peer_addr;

#define WINDOW 8

/* Datagram i: "uv DDDD " then 50 + (i * 37) % 1200 bytes of pattern. */
static size_t fill(int i, char *buf)
{
    size_t len = 8 + 50 + (size_t)(i * 37) % 1200;
    char tag[16];
    snprintf(tag, sizeof(tag), "uv %04d ", i % 10000);
    memcpy(buf, tag, 8);
    for (size_t k = 8; k < len; k++)
        buf[k] = (char)('a' + (i + k) % 26);
    return len;
}

static int send_next(void);

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void finish(void)
{
    uv_udp_recv_stop(&udp);
    uv_close((uv_handle_t *)&udp, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    (void)h;
    (void)from;
    (void)flags;
    if (n < 0) {
        fprintf(stderr, "uv_udp: recv: %s\n", uv_strerror((int)n));
        bad++;
        finish();
        return;
    }
    if (n == 0)
        return; /* nothing more in this batch */
    char want[1400];
    int i = atoi(buf->base + 3);
    if (i < 0 || i >= count || seen[i] || (size_t)n != fill(i, want) ||
        memcmp(buf->base, want, (size_t)n) != 0) {
        fprintf(stderr, "uv_udp: unexpected datagram of %zd bytes: %.8s\n", n, buf->base);
        bad++;
    } else {
        seen[i] = 1;
        received++;
        if (sent < count && send_next() != 0)
            bad++;
    }
    if (received + bad >= count)
        finish();
}

static void on_sent(uv_udp_send_t *req, int status)
{
    if (status != 0) {
        fprintf(stderr, "uv_udp: send: %s\n", uv_strerror(status));
        bad++;
    }
    free(req);
}

static int send_next(void)
{
    static char bufs[MAXN][1400];
    uv_udp_send_t *req = malloc(sizeof(*req));
    uv_buf_t b = uv_buf_init(bufs[sent], (unsigned)fill(sent, bufs[sent]));
    int rc = req != NULL ? uv_udp_send(req, &udp, &b, 1, (const struct sockaddr *)&peer_addr,
                                       on_sent) : UV_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "uv_udp: uv_udp_send: %s\n", uv_strerror(rc));
        free(req);
        return rc;
    }
    sent++;
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "uv_udp: timed out with %d of %d echoes\n", received, count);
    finish();
}

int main(int argc, char **argv)
{
    if (argc != 4 || (count = atoi(argv[3])) <= 0 || count > MAXN) {
        fprintf(stderr, "usage: %s PEER-IP PORT COUNT (1..%d)\n", argv[0], MAXN);
        return 2;
    }
    struct sockaddr_in peer;
    uv_loop_t *loop = uv_default_loop();
    if (uv_ip4_addr(argv[1], atoi(argv[2]), &peer) != 0 ||
        uv_udp_init_ex(loop, &udp, AF_INET | UV_UDP_RECVMMSG) != 0 ||
        uv_udp_recv_start(&udp, on_alloc, on_recv) != 0) {
        fprintf(stderr, "uv_udp: setup failed\n");
        return 1;
    }
    uv_timer_init(loop, &timer);
    uv_timer_start(&timer, on_timeout, 20000, 0);
    peer_addr = peer;
    /* A first window queued at once (libuv hands a queue to one sendmmsg), then one more
     * per echo: a burst of all COUNT would overflow a receive queue and lose datagrams. */
    for (int i = 0; i < WINDOW && i < count; i++)
        if (send_next() != 0)
            return 1;
    uv_run(loop, UV_RUN_DEFAULT);
    printf("uv_udp: sent %d, %d echoes intact, %d bad (libuv %s)\n", sent, received, bad,
           uv_version_string());
    return received == count && bad == 0 ? 0 : 1;
}
