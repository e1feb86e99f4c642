/*
 * sem_halfclose: shutdown(SHUT_WR) half-close, compared with the kernel. Usage: sem_halfclose
 * IP PORT — the peer echoes until EOF, then sends "EOF <bytes>\n" and closes. A writer thread
 * sends 1 MiB and shuts down the write side; the main thread must receive the whole echo, the
 * peer's EOF line, then 0. Prints "FAIL: sem_halfclose: ..." per failure; exits 1 if any.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOTAL (1 << 20)

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_halfclose: ");                                     \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 10) * 7 + 1);
}

struct writer {
    int s;
    const char *error; /* NULL on success */
    int err;
};

/* Sends TOTAL pattern bytes, shuts down the write side, checks send then fails with EPIPE. */
static void *writer(void *arg)
{
    struct writer *w = arg;
    static uint8_t buf[TOTAL];
    for (size_t i = 0; i < TOTAL; i++)
        buf[i] = pattern(i);
    for (size_t off = 0; off < TOTAL;) {
        ssize_t n = send(w->s, buf + off, TOTAL - off, 0);
        if (n <= 0) {
            w->error = "send";
            w->err = errno;
            return NULL;
        }
        off += (size_t)n;
    }
    if (shutdown(w->s, SHUT_WR) != 0) {
        w->error = "shutdown(SHUT_WR)";
        w->err = errno;
        return NULL;
    }
    ssize_t n = send(w->s, "x", 1, MSG_NOSIGNAL);
    if (n != -1 || errno != EPIPE) {
        w->error = "send after SHUT_WR (want -1 EPIPE)";
        w->err = n < 0 ? errno : 0;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_halfclose IP PORT\n");
        return 2;
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0, "connect %s:%s: %s",
          argv[1], argv[2], strerror(errno));
    struct writer w = { .s = s };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer, &w) == 0, "pthread_create");

    static uint8_t got[TOTAL + 64];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(s, got + have, sizeof(got) - have, 0);
        CHECK(n >= 0, "recv after %zu bytes: %s", have, strerror(errno));
        if (n == 0)
            break;
        have += (size_t)n;
        CHECK(have < sizeof(got), "more than %zu bytes came back", have);
    }
    pthread_join(t, NULL);
    CHECK(w.error == NULL, "writer: %s: %s", w.error, w.err ? strerror(w.err) : "succeeded");
    for (size_t i = 0; i < have && i < TOTAL; i++)
        CHECK(got[i] == pattern(i), "echo differs at byte %zu of %zu", i, have);
    char want[32];
    int wl = snprintf(want, sizeof(want), "EOF %d\n", TOTAL);
    CHECK(have == TOTAL + (size_t)wl && memcmp(got + TOTAL, want, (size_t)wl) == 0,
          "got %zu bytes, want the %d-byte echo then \"EOF %d\\n\" (the peer saw our EOF)", have,
          TOTAL, TOTAL);
    /* EOF is sticky; both directions are shut, so poll says POLLIN|POLLHUP (and RDHUP). */
    char c;
    ssize_t n = recv(s, &c, 1, 0);
    CHECK(n == 0, "recv after EOF=%zd, want 0", n);
    struct pollfd f = { .fd = s, .events = POLLIN | POLLRDHUP };
    int rc = poll(&f, 1, 0);
    CHECK(rc == 1 && f.revents == (POLLIN | POLLRDHUP | POLLHUP),
          "poll after both shut=%d revents=%#x, want 1, POLLIN|POLLRDHUP|POLLHUP", rc,
          f.revents);
    close(s);
    printf("ok: half-close: %d bytes echoed, the peer saw EOF and answered, then 0\n", TOTAL);
    return 0;
}
