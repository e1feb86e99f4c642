/* wirefix: see wirefix.h. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wirefix.h"

int wf_c2p[2], wf_p2c[2]; /* child→parent, parent→child */

struct netcore_stack *wf_start_stack(int fd, bool server, int flags,
                                     void (*tweak)(struct netcore_config *))
{
    struct netcore_config c;
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = fd;
    inet_pton(AF_INET, server ? SERVER_IP : CLIENT_IP, &c.ip);
    inet_pton(AF_INET, server ? CLIENT_IP : SERVER_IP, &c.gw);
    inet_pton(AF_INET6, server ? SERVER_IP6 : CLIENT_IP6, &c.ip6);
    c.mac[5] = server ? 1 : 2;
    if (tweak != NULL)
        tweak(&c);
    struct netcore_stack *st = NULL;
    char err[256];
    int rc = netcore_start(&c, flags, &st, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "netcore_start: %s\n", err);
        return NULL;
    }
    return st;
}

struct sockaddr_in wf_sin_of(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

void wf_sig_send(int fd, char c)
{
    ck_assert_int_eq(write(fd, &c, 1), 1);
}

char wf_sig_wait(int fd)
{
    char c = 0;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    return c;
}

pid_t wf_peer_pid;
int wf_wire[2];
void (*wf_server_tweak)(struct netcore_config *);
void (*wf_client_tweak)(struct netcore_config *);

void wf_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    wf_peer_pid = 0;
    wf_server_tweak = wf_client_tweak = NULL;
}

/* A test that passed has reaped its peer; one that returned early must not leave it. */
void wf_teardown(void)
{
    if (wf_peer_pid > 0) {
        kill(wf_peer_pid, SIGKILL);
        waitpid(wf_peer_pid, NULL, 0);
        wf_peer_pid = 0;
    }
}

struct netcore_stack *wf_spawn(wf_server_fn fn, int client_flags)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, wf_wire), 0);
    ck_assert_int_eq(pipe(wf_c2p), 0);
    ck_assert_int_eq(pipe(wf_p2c), 0);
    int big = 4 << 20;
    setsockopt(wf_wire[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(wf_wire[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    wf_peer_pid = fork();
    ck_assert_int_ge(wf_peer_pid, 0);
    if (wf_peer_pid == 0) {
        close(wf_wire[0]);
        struct netcore_stack *st = wf_start_stack(wf_wire[1], true, 0, wf_server_tweak);
        if (st == NULL)
            _exit(2);
        int rc = fn(st);
        /* Stopping the stack drops what it still has to send: wait for the client. */
        wf_sig_wait(wf_p2c[0]);
        netcore_stop(st);
        _exit(rc);
    }
    close(wf_wire[1]);
    close(wf_c2p[1]); /* a server that fails before its word is an EOF, not a hang */
    struct netcore_stack *st = wf_start_stack(wf_wire[0], false, client_flags, wf_client_tweak);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(wf_sig_wait(wf_c2p[0]), 'L');
    return st;
}

void wf_reap(struct netcore_stack *st)
{
    int status = 0;
    wf_sig_send(wf_p2c[1], 'E');
    ck_assert_int_eq(waitpid(wf_peer_pid, &status, 0), wf_peer_pid);
    wf_peer_pid = 0;
    netcore_stop(st);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server failed: status %d",
                  status);
}

int wf_listen_on(struct netcore_stack *st, int port, int backlog)
{
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = wf_sin_of("0.0.0.0", port);
    if (s < 0 || netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        netcore_listen(st, s, backlog) != 0)
        return -1;
    return s;
}

int wf_connect_to(struct netcore_stack *st, int port)
{
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = wf_sin_of(SERVER_IP, port);
    int rc = netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
    ck_assert_msg(rc == 0, "connect: %s", strerror(-rc));
    return s;
}

uint8_t wf_pattern(size_t i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return (uint8_t)(x >> 24 ^ i >> 13);
}

struct writer {
    struct netcore_stack *st;
    int s;
    size_t total, chunk_max;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t *buf = malloc(w->chunk_max);
    size_t off = 0;
    unsigned seed = 1;
    while (off < w->total) {
        size_t n = 1 + (size_t)rand_r(&seed) % w->chunk_max;
        if (n > w->total - off)
            n = w->total - off;
        for (size_t i = 0; i < n; i++)
            buf[i] = wf_pattern(off + i);
        ssize_t k = netcore_send(w->st, w->s, buf, n, 0);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    netcore_shutdown(w->st, w->s, SHUT_WR);
    free(buf);
    return (void *)off;
}

/* Runs server fn and streams total bytes through it from a socket connect_fn opens. */
void wf_echo_through(wf_server_fn fn, int (*connect_fn)(struct netcore_stack *, int),
                         size_t total, size_t chunk_max)
{
    struct netcore_stack *st = wf_spawn(fn, 0);
    int s = connect_fn(st, WF_PORT);
    struct writer w = { st, s, total, chunk_max };
    pthread_t t;
    pthread_create(&t, NULL, writer_main, &w);
    uint8_t buf[100000];
    size_t got = 0, bad = (size_t)-1;
    for (;;) {
        ssize_t n = netcore_recv(st, s, buf, sizeof(buf), 0);
        ck_assert_msg(n >= 0, "recv: %s", strerror((int)-n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n && bad == (size_t)-1; i++)
            if (buf[i] != wf_pattern(got + (size_t)i))
                bad = got + (size_t)i;
        got += (size_t)n;
    }
    void *sent;
    pthread_join(t, &sent);
    ck_assert_uint_eq((size_t)sent, total);
    ck_assert_uint_eq(got, total);
    ck_assert_msg(bad == (size_t)-1, "first differing byte at %zu", bad);
    netcore_close(st, s);
    wf_reap(st);
}

int wf_udp_bound(struct netcore_stack *st, int port)
{
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = wf_sin_of("0.0.0.0", port);
    ck_assert_int_eq(netcore_bind(st, u, (struct sockaddr *)&a, sizeof(a)), 0);
    return u;
}

/* Frames from the wire that are short, foreign or garbage are dropped and counted. */
struct netcore_stack *wf_raw_stack_with(int *peer, void (*tweak)(struct netcore_config *))
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, wf_wire), 0);
    *peer = wf_wire[1];
    struct netcore_stack *st = wf_start_stack(wf_wire[0], false, NETCORE_MANUAL, tweak);
    ck_assert_ptr_nonnull(st);
    return st;
}

struct netcore_stack *wf_raw_stack(int *peer)
{
    return wf_raw_stack_with(peer, NULL);
}

void wf_put(int fd, const void *f, size_t len)
{
    ck_assert_int_eq(send(fd, f, len, 0), (ssize_t)len);
}

/* An ARP request for our address; returns true when the stack answers it. */
bool wf_answers_arp(struct netcore_stack *st, int peer)
{
    uint8_t f[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
                      0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1,
                      0, 0, 0, 0, 0, 0, 198, 18, 0, 2 };
    wf_put(peer, f, sizeof(f));
    netcore_step(st, 0);
    uint8_t r[2048];
    ssize_t n;
    while ((n = recv(peer, r, sizeof(r), MSG_DONTWAIT)) > 0)
        if (n >= 42 && r[12] == 0x08 && r[13] == 0x06 && r[21] == 2 && r[31] == 2)
            return true; /* ARP reply from 198.18.0.2 */
    return false;
}

