/*
 * fault_peer: what a program sees when its peer dies. The test kills the peer; this program
 * reports how its blocked call ended. Plain libc socket code, run on the kernel stack and on
 * netcore. Usage: fault_peer MODE IP PORT, MODE one of
 *   send      send 64 KiB at a time until send fails; "flowing" once 64 KiB went out
 *   recv      block in recv until it returns
 *   recv-rst  send 100 bytes the peer never reads, then block in recv (the peer's end is
 *             reset, not closed, when it dies with data unread)
 * Prints "pid PID" first (the test watches it block), "connected" once connected (recv-rst:
 * once the peer has acknowledged the 100 bytes), then one line: "send: ERRNAME" or
 * "recv: EOF|ERRNAME".
 * Exits 0 when that is what a kernel socket gives when its peer dies (send: ECONNRESET or
 * EPIPE; recv: EOF or ECONNRESET), 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENETDOWN: return "ENETDOWN";
    case ENOTCONN: return "ENOTCONN";
    default: return strerror(e);
    }
}

/* Sends until send fails (MSG_NOSIGNAL: the error, not SIGPIPE, is what we report). */
static int do_send(int s)
{
    static char buf[65536];
    size_t total = 0;
    memset(buf, 'x', sizeof(buf));
    for (;;) {
        ssize_t n = send(s, buf, sizeof(buf), MSG_NOSIGNAL);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            printf("send: %s\n", errname(e));
            return e == ECONNRESET || e == EPIPE ? 0 : 1;
        }
        if (total < sizeof(buf) && total + (size_t)n >= sizeof(buf)) {
            printf("flowing\n");
            fflush(stdout);
        }
        total += (size_t)n;
    }
}

static int do_recv(int s)
{
    char buf[4096];
    ssize_t n;
    do {
        n = recv(s, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        printf("recv: EOF\n");
        return 0;
    }
    if (n > 0) {
        printf("recv: %zd bytes, want none\n", n);
        return 1;
    }
    int e = errno;
    printf("recv: %s\n", errname(e));
    return e == ECONNRESET ? 0 : 1;
}

/*
 * Waits (up to 10 s) until the peer has acknowledged everything s sent: it holds the data
 * then, and dies with it unread. No event says data was acknowledged; SIOCOUTQ, the bytes not
 * yet acknowledged, says it, and is read every millisecond.
 */
static bool acked(int s)
{
    struct timespec tick = { 0, 1000000 };
    for (int i = 0; i < 10000; i++, nanosleep(&tick, NULL)) {
        int queued;
        if (ioctl(s, SIOCOUTQ, &queued) != 0)
            return false;
        if (queued == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fault_peer send|recv|recv-rst IP PORT\n");
        return 2;
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
        fprintf(stderr, "fault_peer: bad address %s\n", argv[2]);
        return 2;
    }
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        printf("connect: %s\n", errname(errno));
        return 1;
    }
    if (strcmp(argv[1], "recv-rst") == 0) {
        static const char unread[100];
        if (send(s, unread, sizeof(unread), MSG_NOSIGNAL) != (ssize_t)sizeof(unread)) {
            printf("send: %s\n", errname(errno));
            return 1;
        }
        if (!acked(s)) {
            printf("send: not acknowledged in 10 s\n");
            return 1;
        }
    }
    printf("connected\n");
    fflush(stdout);
    return strcmp(argv[1], "send") == 0 ? do_send(s) : do_recv(s);
}
