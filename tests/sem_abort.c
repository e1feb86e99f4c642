/*
 * sem_abort: the program's SIGABRT handler runs when the program aborts inside a socket call,
 * compared with the kernel. Usage: sem_abort IP PORT (a kernel-side echo server).
 *
 * The program receives into a page it cannot write, and its SIGSEGV handler calls abort(), as
 * a crash handler does. On netcore the fault comes in the copy out of the receive ring, while
 * the thread holds the ring's lock: netcore's own failed assertions abort there too. A SIGABRT
 * deferred until that lock is let go never runs, since abort() then resets the signal to its
 * default and raises it again; the process died of SIGABRT. On the kernel the copy fails with
 * EFAULT instead, and the program calls abort() itself. Either way the handler must run: it
 * says so and exits 0. Prints "FAIL: sem_abort: ..." otherwise; exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void say(const char *s)
{
    ssize_t n = write(STDOUT_FILENO, s, strlen(s));
    (void)n;
}

static void on_abrt(int sig)
{
    (void)sig;
    say("ok: the SIGABRT handler ran\n");
    _exit(0);
}

static void on_segv(int sig)
{
    (void)sig;
    say("sem_abort: SIGSEGV in recv's copy, aborting\n");
    abort();
}

static void fail(const char *what)
{
    printf("FAIL: sem_abort: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_abort IP PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail("connect");
    struct sigaction sa = { .sa_handler = on_abrt };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGABRT, &sa, NULL) != 0)
        fail("sigaction SIGABRT");
    sa.sa_handler = on_segv;
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        fail("sigaction SIGSEGV");
    void *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        fail("mmap");
    if (send(s, "x", 1, 0) != 1)
        fail("send");
    struct pollfd p = { .fd = s, .events = POLLIN };
    if (poll(&p, 1, 10000) != 1)
        fail("poll for the echo");
    ssize_t n = recv(s, page, 16, 0);
    if (n != -1 || errno != EFAULT) {
        printf("FAIL: sem_abort: recv into a PROT_NONE page = %zd (%s), want a fault or "
               "EFAULT\n", n, n < 0 ? strerror(errno) : "-");
        return 1;
    }
    say("sem_abort: recv said EFAULT, aborting\n");
    abort();
}
