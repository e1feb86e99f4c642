/*
 * connrate — TCP connection-rate and idle-connection-memory benchmark for `netcore bench`.
 *
 *   connrate server PORT             accept; read 1 byte; write 1 byte; close — forever
 *   connrate client IP PORT SECONDS  connect; write 1 byte; read 1 byte; read EOF; close — in a
 *                                    loop for SECONDS; prints conns_per_sec=R connections=N ...
 *   connrate sink PORT               accept and hold every connection, forever
 *   connrate hold IP PORT N          open N connections to a sink, measure, print, close
 *
 * Single-threaded, blocking sockets. The client reads the server's EOF before it closes, so the
 * server always closes first and the TIME-WAIT state lands on the server's side: the client
 * never runs out of ephemeral ports, however long the run. Should connect() still fail with
 * EADDRNOTAVAIL (no free local port), the client stops, says so on stderr, and reports the rate
 * of the connections it made (exit 3).
 *
 * `hold` prints one line of key=value pairs (all byte counts; divide by N for per-connection):
 *   rss_delta     growth of this process's resident set (/proc/self/statm) across the N
 *                 connects: user-space memory only. On netcore it holds the whole stack's
 *                 per-connection cost (lwIP PCBs, socket table entries, rings); on the kernel
 *                 stack it is nearly 0, because socket memory lives in the kernel.
 *   slab_delta    growth of the kernel slab caches "TCP" and "sock_inode_cache" (/proc/slabinfo,
 *                 active objects x object size): kernel socket objects on both ends of every
 *                 connection made here, i.e. 2N sockets on the kernel stack and N (the sink's)
 *                 on netcore. Global to the machine: other activity adds noise.
 *   tcp_mem_delta growth of "TCP: ... mem" in /proc/net/sockstat (pages x 4096): memory charged
 *                 to TCP socket buffers, machine-wide; near 0 for idle connections.
 * Left out of both: the file and dentry behind each fd (a socket file on the kernel stack, an
 * eventfd on netcore), a few hundred bytes either way, and churned by every other process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "connrate";

static void __attribute__((noreturn)) usage(void)
{
    fprintf(stderr,
            "usage: %s server PORT\n"
            "       %s client IP PORT SECONDS\n"
            "       %s sink PORT\n"
            "       %s hold IP PORT N\n",
            prog, prog, prog, prog);
    exit(2);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_long(const char *what, const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s '%s' (expected %ld..%ld)\n", prog, what, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)parse_long("port", port, 1, 65535));
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        fprintf(stderr, "%s: bad IPv4 address '%s'\n", prog, ip);
        exit(2);
    }
}

/* Raises the soft RLIMIT_NOFILE to the hard limit: hold and sink keep N fds open. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            fprintf(stderr, "%s: setrlimit RLIMIT_NOFILE: %s\n", prog, strerror(errno));
    }
}

/* A listening socket on 0.0.0.0:PORT with SO_REUSEADDR; exits on failure. */
static int listen_on(const char *port)
{
    struct sockaddr_in sa;
    int fd, one = 1;

    parse_addr("0.0.0.0", port, &sa);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        exit(1);
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
        fprintf(stderr, "%s: setsockopt SO_REUSEADDR: %s\n", prog, strerror(errno));
        exit(1);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "%s: bind 0.0.0.0:%s: %s\n", prog, port, strerror(errno));
        exit(1);
    }
    if (listen(fd, 1024) < 0) {
        fprintf(stderr, "%s: listen 0.0.0.0:%s: %s\n", prog, port, strerror(errno));
        exit(1);
    }
    return fd;
}

/* accept, retrying EINTR and the transient errors a busy listener can return. */
static int accept_one(int lfd)
{
    int fd;

    for (;;) {
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0)
            return fd;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            sleep(1);
            continue;
        }
        exit(1);
    }
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
    ssize_t n;

    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t write_full(int fd, const void *buf, size_t len)
{
    ssize_t n;

    do
        n = write(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

static void __attribute__((noreturn)) cmd_server(int argc, char **argv)
{
    int lfd, fd;
    char c;

    if (argc != 1)
        usage();
    lfd = listen_on(argv[0]);
    for (;;) {
        fd = accept_one(lfd);
        /* A client that vanishes mid-exchange costs one connection, not the server. */
        if (read_full(fd, &c, 1) == 1)
            (void)write_full(fd, &c, 1);
        close(fd);
    }
}

static void __attribute__((noreturn)) cmd_sink(int argc, char **argv)
{
    int lfd;

    if (argc != 1)
        usage();
    raise_nofile();
    lfd = listen_on(argv[0]);
    for (;;)
        (void)accept_one(lfd);  /* held until the process is killed */
}

/* One request/response connection. Returns 0, or a positive errno naming the failure. */
static int one_exchange(const struct sockaddr_in *sa, const char **call)
{
    char c = 'x';
    int fd, err = 0;
    ssize_t n;

    *call = "socket";
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    *call = "connect";
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        err = errno;
        goto out;
    }
    *call = "write";
    if (write_full(fd, &c, 1) != 1) {
        err = errno ? errno : EIO;
        goto out;
    }
    *call = "read";
    n = read_full(fd, &c, 1);
    if (n != 1) {
        /* An EOF before the byte (the server's read failed and it closed) is not a reset:
         * said apart, so that a failed run tells which end gave up. */
        if (n == 0)
            *call = "read (EOF before the server's byte)";
        err = n == 0 ? ENODATA : errno;
        goto out;
    }
    *call = "read EOF";
    n = read_full(fd, &c, 1);
    if (n != 0)
        err = n < 0 ? errno : EPROTO;
out:
    close(fd);
    return err;
}

static int cmd_client(int argc, char **argv)
{
    struct sockaddr_in sa;
    double secs, t0, t1, end;
    long count = 0;
    const char *call = "";
    int err = 0;

    if (argc != 3)
        usage();
    parse_addr(argv[0], argv[1], &sa);
    secs = (double)parse_long("seconds", argv[2], 1, 3600);
    t0 = now();
    end = t0 + secs;
    do {
        err = one_exchange(&sa, &call);
        if (err)
            break;
        count++;
    } while (now() < end);
    t1 = now();
    if (err)
        fprintf(stderr, "%s: %s after %ld connections: %s%s\n", prog, call, count,
                strerror(err), err == EADDRNOTAVAIL ? " (out of ephemeral ports)" : "");
    printf("conns_per_sec=%.1f connections=%ld seconds=%.3f\n", (double)count / (t1 - t0),
           count, t1 - t0);
    fflush(stdout);
    if (!err)
        return 0;
    return err == EADDRNOTAVAIL ? 3 : 1;
}

/* Resident set size of this process in bytes, from /proc/self/statm; -1 on error. */
static long long rss_bytes(void)
{
    long long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    int ok;

    if (!f)
        return -1;
    ok = fscanf(f, "%lld %lld", &size, &resident) == 2;
    fclose(f);
    return ok ? resident * sysconf(_SC_PAGESIZE) : -1;
}

/* Bytes in the slab caches TCP and sock_inode_cache (active objects x size); -1 on error. */
static long long slab_bytes(void)
{
    char line[512], name[128];
    long long active, total, size, sum = 0;
    FILE *f = fopen("/proc/slabinfo", "r");
    int seen = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%127s %lld %lld %lld", name, &active, &total, &size) != 4)
            continue;
        if (strcmp(name, "TCP") == 0 || strcmp(name, "sock_inode_cache") == 0) {
            sum += active * size;
            seen++;
        }
    }
    fclose(f);
    return seen == 2 ? sum : -1;
}

/* "TCP: ... mem P" of /proc/net/sockstat, in bytes; -1 on error. */
static long long tcp_mem_bytes(void)
{
    char line[256];
    const char *p;
    long long pages = -1;
    FILE *f = fopen("/proc/net/sockstat", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "TCP:", 4) == 0 && (p = strstr(line, " mem ")))
            pages = strtoll(p + 5, NULL, 10);
    }
    fclose(f);
    return pages < 0 ? -1 : pages * 4096;
}

static int cmd_hold(int argc, char **argv)
{
    struct sockaddr_in sa;
    long n, i;
    int *fds;
    long long rss0, rss1, slab0, slab1, mem0, mem1;
    struct timespec settle = { 0, 500 * 1000 * 1000 };

    if (argc != 3)
        usage();
    parse_addr(argv[0], argv[1], &sa);
    n = parse_long("N", argv[2], 1, 1000000);
    raise_nofile();
    fds = calloc((size_t)n, sizeof(*fds));
    if (!fds) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    /* Warm up: one connection made and closed first, so one-time costs (the stack's start,
     * the first socket's tables, libc's stdio buffers) are not charged to the N. */
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fprintf(stderr, "%s: warm-up connect: %s\n", prog, strerror(errno));
            return 1;
        }
        close(fd);
    }
    nanosleep(&settle, NULL);
    rss0 = rss_bytes();
    slab0 = slab_bytes();
    mem0 = tcp_mem_bytes();
    for (i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0) {
            fprintf(stderr, "%s: socket #%ld: %s\n", prog, i + 1, strerror(errno));
            return 1;
        }
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fprintf(stderr, "%s: connect #%ld: %s\n", prog, i + 1, strerror(errno));
            return 1;
        }
    }
    /* Let the sink accept the last connections (its sockets are in slab_delta). */
    nanosleep(&settle, NULL);
    rss1 = rss_bytes();
    slab1 = slab_bytes();
    mem1 = tcp_mem_bytes();
    if (rss0 < 0 || rss1 < 0) {
        fprintf(stderr, "%s: cannot read /proc/self/statm\n", prog);
        return 1;
    }
    printf("connections=%ld rss_delta=%lld", n, rss1 - rss0);
    if (slab0 >= 0 && slab1 >= 0)
        printf(" slab_delta=%lld", slab1 - slab0);
    if (mem0 >= 0 && mem1 >= 0)
        printf(" tcp_mem_delta=%lld", mem1 - mem0);
    printf(" rss_per_conn=%.0f\n", (double)(rss1 - rss0) / (double)n);
    fflush(stdout);
    for (i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "server") == 0)
        cmd_server(argc - 2, argv + 2);
    if (strcmp(argv[1], "client") == 0)
        return cmd_client(argc - 2, argv + 2);
    if (strcmp(argv[1], "sink") == 0)
        cmd_sink(argc - 2, argv + 2);
    if (strcmp(argv[1], "hold") == 0)
        return cmd_hold(argc - 2, argv + 2);
    usage();
}
