/*
 * sem_sigpipe: sending to a peer that has closed, compared with the kernel: EPIPE with SIGPIPE,
 * or without it under MSG_NOSIGNAL. Usage: sem_sigpipe IP PORT — the peer accepts and closes
 * at once. Prints "FAIL: sem_sigpipe: ..." per failed case; exits 1 if any failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sends allowed to succeed before the peer's RST is seen (the first always may). */
#define MAX_SENDS 100000

static volatile sig_atomic_t sigpipes;
static struct sockaddr_in peer;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_sigpipe: %s: ", what);                             \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

enum how { SEND, SEND_NOSIGNAL, WRITE };

static ssize_t put(int s, enum how how, const char *buf, size_t len)
{
    switch (how) {
    case SEND:
        return send(s, buf, len, 0);
    case SEND_NOSIGNAL:
        return send(s, buf, len, MSG_NOSIGNAL);
    default:
        return write(s, buf, len);
    }
}

/*
 * Connects, waits for the peer's FIN (recv returns 0), then sends until the first error:
 * that error and the next must be EPIPE, each with one SIGPIPE unless MSG_NOSIGNAL.
 */
static int run(const char *what, enum how how)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0 && connect(s, (struct sockaddr *)&peer, sizeof(peer)) == 0, "connect: %s",
          strerror(errno));
    char buf[100];
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    CHECK(n == 0, "recv=%zd (%s), want 0: the peer closes", n, n < 0 ? strerror(errno) : "-");
    memset(buf, 'p', sizeof(buf));
    sigpipes = 0;
    int i, err = 0;
    for (i = 0; i < MAX_SENDS; i++) {
        n = put(s, how, buf, sizeof(buf));
        err = errno;
        if (n < 0)
            break;
        CHECK(sigpipes == 0, "SIGPIPE after send %d succeeded", i + 1);
    }
    CHECK(n == -1, "%d sends of %zu bytes succeeded to a closed peer", i, sizeof(buf));
    int want = how == SEND_NOSIGNAL ? 0 : 1;
    CHECK(err == EPIPE, "send %d failed with %s, want EPIPE", i + 1, strerror(err));
    CHECK(sigpipes == want, "SIGPIPE delivered %d times, want %d", (int)sigpipes, want);
    n = put(s, how, buf, sizeof(buf));
    err = errno;
    CHECK(n == -1 && err == EPIPE, "next send=%zd (%s), want -1 EPIPE", n,
          n < 0 ? strerror(err) : "-");
    CHECK(sigpipes == 2 * want, "after the next send SIGPIPE delivered %d times, want %d",
          (int)sigpipes, 2 * want);
    printf("%s: %d sends succeeded before EPIPE\n", what, i);
    close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_sigpipe IP PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    peer = (struct sockaddr_in){ .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &peer.sin_addr);
    struct sigaction sa = { .sa_handler = on_sigpipe };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    int failed = 0;
    failed += run("send", SEND) != 0;
    failed += run("send MSG_NOSIGNAL", SEND_NOSIGNAL) != 0;
    failed += run("write", WRITE) != 0;
    if (failed == 0)
        printf("ok: send, send MSG_NOSIGNAL, write\n");
    return failed != 0;
}
