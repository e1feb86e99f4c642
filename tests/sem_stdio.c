/*
 * sem_stdio — stdio on a socket (fdopen, fprintf, fgets, fclose) and fds closed inside libc
 * (fclose, close_range): the socket behind them is closed and its fd number is free again;
 * a stream on a non-blocking socket whose peer does not read fails its flush with EAGAIN, as
 * the kernel's write does, instead of waiting.
 * Usage: sem_stdio ECHO_IP ECHO_PORT HOLD_PORT (a peer on ECHO_IP that never reads)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "FAIL: sem_stdio: " __VA_ARGS__); \
            fprintf(stderr, "\n");                        \
            exit(1);                                      \
        }                                                 \
    } while (0)

static int connect_echo(const char *ip, int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    CHECK(s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s",
          strerror(errno));
    return s;
}

int main(int argc, char **argv)
{
    CHECK(argc == 4, "usage: sem_stdio ECHO_IP ECHO_PORT HOLD_PORT");
    int port = atoi(argv[2]);

    int s = connect_echo(argv[1], port);
    FILE *f = fdopen(s, "r+");
    CHECK(f != NULL, "fdopen: %s", strerror(errno));
    for (int i = 0; i < 100; i++) {
        char want[64], got[64];
        snprintf(want, sizeof(want), "line %d through stdio\n", i);
        CHECK(fputs(want, f) >= 0 && fflush(f) == 0, "fputs/fflush: %s", strerror(errno));
        CHECK(fgets(got, sizeof(got), f) != NULL, "fgets: %s", strerror(errno));
        CHECK(strcmp(got, want) == 0, "echo '%s', want '%s'", got, want);
    }
    CHECK(fclose(f) == 0, "fclose: %s", strerror(errno));
    int t = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(t == s, "after fclose the next socket is fd %d, want %d (freed)", t, s);
    close(t);
    printf("ok: fdopen/fputs/fgets/fclose, fd freed\n");

    s = connect_echo(argv[1], port);
    CHECK(close_range((unsigned)s, (unsigned)s, 0) == 0, "close_range: %s", strerror(errno));
    t = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(t == s, "after close_range the next socket is fd %d, want %d (freed)", t, s);
    CHECK(send(t, "x", 1, MSG_NOSIGNAL) == -1 && (errno == EPIPE || errno == ENOTCONN),
          "send on the new, unconnected socket: errno %d", errno);
    printf("ok: close_range frees the socket\n");
    close(t);

    /* 64 MiB at most: far more than the kernel's or netcore's buffers hold for a peer that
     * reads nothing, so a flush that waits for room instead of failing hangs here (the test
     * runs under a time limit). */
    s = connect_echo(argv[1], atoi(argv[3]));
    CHECK(fcntl(s, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK: %s", strerror(errno));
    f = fdopen(s, "w");
    CHECK(f != NULL, "fdopen: %s", strerror(errno));
    static char chunk[65536];
    int err = 0;
    for (int i = 0; i < 1024 && err == 0; i++)
        if (fwrite(chunk, 1, sizeof(chunk), f) != sizeof(chunk) || fflush(f) != 0)
            err = errno;
    CHECK(err == EAGAIN, "a stream on a full non-blocking socket: errno %d, want EAGAIN", err);
    fclose(f);
    printf("ok: a stream on a full non-blocking socket fails with EAGAIN\n");
    return 0;
}
