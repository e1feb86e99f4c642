/*
 * sem_threads: concurrent use from several threads, compared with the kernel. Usage:
 * sem_threads IP PORT (a kernel-side echo server that closes on EOF).
 *  - 8 threads, each with its own connection, echo 4 MiB in 64 KiB steps, content-checked;
 *  - one connection shared by two threads: one writes 16 MiB then shuts down the write side,
 *    the other reads the echo until EOF, content-checked.
 * Prints "FAIL: sem_threads: ..." per failure; exits 1 if any.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 8
#define PER_THREAD (4u << 20)
#define STEP (64u << 10)
#define SHARED (16u << 20)

static struct sockaddr_in peer;

/* Byte i of stream k: differs between streams and does not repeat with the step size. */
static uint8_t pattern(unsigned k, size_t i)
{
    return (uint8_t)(i * 131 + (i >> 10) * 7 + k * 37 + 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_peer(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&peer, sizeof(peer)) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

static int send_all(int s, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(s, buf, len, 0);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(int s, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(s, buf, len, 0);
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

struct job {
    unsigned k;
    int s;
    char error[160];
};

#define JOB_FAIL(j, ...)                                                                  \
    do {                                                                                  \
        snprintf((j)->error, sizeof((j)->error), __VA_ARGS__);                            \
        return NULL;                                                                      \
    } while (0)

/* One connection per thread: send a step, read its echo back, check, repeat. */
static void *echo_thread(void *arg)
{
    struct job *j = arg;
    uint8_t *out = malloc(STEP), *in = malloc(STEP);
    int s = connect_peer();
    if (out == NULL || in == NULL || s < 0)
        JOB_FAIL(j, "thread %u: connect: %s", j->k, strerror(errno));
    for (size_t off = 0; off < PER_THREAD; off += STEP) {
        for (size_t i = 0; i < STEP; i++)
            out[i] = pattern(j->k, off + i);
        if (send_all(s, out, STEP) != 0)
            JOB_FAIL(j, "thread %u: send at %zu: %s", j->k, off, strerror(errno));
        if (recv_all(s, in, STEP) != 0)
            JOB_FAIL(j, "thread %u: recv at %zu: %s", j->k, off,
                     errno ? strerror(errno) : "early EOF");
        for (size_t i = 0; i < STEP; i++)
            if (in[i] != out[i])
                JOB_FAIL(j, "thread %u: echo differs at byte %zu: %#x, want %#x", j->k,
                         off + i, in[i], out[i]);
    }
    close(s);
    free(out);
    free(in);
    return NULL;
}

/* The shared connection's writer: SHARED bytes in STEP writes, then SHUT_WR. */
static void *writer_thread(void *arg)
{
    struct job *j = arg;
    uint8_t *out = malloc(STEP);
    if (out == NULL)
        JOB_FAIL(j, "malloc");
    for (size_t off = 0; off < SHARED; off += STEP) {
        for (size_t i = 0; i < STEP; i++)
            out[i] = pattern(j->k, off + i);
        if (send_all(j->s, out, STEP) != 0)
            JOB_FAIL(j, "writer: send at %zu: %s", off, strerror(errno));
    }
    if (shutdown(j->s, SHUT_WR) != 0)
        JOB_FAIL(j, "writer: shutdown: %s", strerror(errno));
    free(out);
    return NULL;
}

static int case_parallel(void)
{
    pthread_t t[NTHREADS];
    struct job jobs[NTHREADS];
    for (unsigned k = 0; k < NTHREADS; k++) {
        jobs[k] = (struct job){ .k = k };
        if (pthread_create(&t[k], NULL, echo_thread, &jobs[k]) != 0) {
            fprintf(stderr, "FAIL: sem_threads: pthread_create\n");
            return -1;
        }
    }
    int failed = 0;
    for (unsigned k = 0; k < NTHREADS; k++) {
        pthread_join(t[k], NULL);
        if (jobs[k].error[0] != '\0') {
            fprintf(stderr, "FAIL: sem_threads: parallel: %s\n", jobs[k].error);
            failed = -1;
        }
    }
    return failed;
}

static int case_shared(void)
{
    struct job w = { .k = 99 };
    w.s = connect_peer();
    if (w.s < 0) {
        fprintf(stderr, "FAIL: sem_threads: shared: connect: %s\n", strerror(errno));
        return -1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, writer_thread, &w) != 0) {
        fprintf(stderr, "FAIL: sem_threads: pthread_create\n");
        return -1;
    }
    static uint8_t in[STEP];
    size_t have = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = recv(w.s, in, sizeof(in), 0);
        if (n < 0) {
            fprintf(stderr, "FAIL: sem_threads: shared: recv after %zu bytes: %s\n", have,
                    strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n && rc == 0; i++)
            if (in[i] != pattern(w.k, have + (size_t)i)) {
                fprintf(stderr, "FAIL: sem_threads: shared: echo differs at byte %zu\n",
                        have + (size_t)i);
                rc = -1;
            }
        if (rc != 0)
            break;
        have += (size_t)n;
    }
    /* On a failed read the writer may be blocked: shutting down both sides releases it. */
    if (rc != 0)
        shutdown(w.s, SHUT_RDWR);
    pthread_join(t, NULL);
    if (w.error[0] != '\0') {
        fprintf(stderr, "FAIL: sem_threads: shared: %s\n", w.error);
        rc = -1;
    }
    if (rc == 0 && have != SHARED) {
        fprintf(stderr, "FAIL: sem_threads: shared: %zu bytes echoed before EOF, want %u\n",
                have, SHARED);
        rc = -1;
    }
    close(w.s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_threads IP PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    peer = (struct sockaddr_in){ .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &peer.sin_addr);
    int failed = 0;
    double t0 = now_s();
    if (case_parallel() != 0)
        failed++;
    else
        printf("ok: %d threads x %u MiB echoed on their own connections (%.2f s)\n", NTHREADS,
               PER_THREAD >> 20, now_s() - t0);
    t0 = now_s();
    if (case_shared() != 0)
        failed++;
    else
        printf("ok: %u MiB written by one thread, echo read by another (%.2f s)\n",
               SHARED >> 20, now_s() - t0);
    return failed != 0;
}
