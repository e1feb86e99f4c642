/*
 * check_socktable: the socket table and the argument and state checks of the public API.
 *
 * Each test gets its own stack on the wire device in manual mode (a socketpair, nothing on
 * the other end). lwIP is a per-process singleton, so the suite relies on Check's fork mode:
 * every test runs in a fresh process. Every expected value is what Linux returns for the same
 * call on a kernel socket.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "netcore.h"

#define MAX_SOCKETS 8
#define OUR_IP "198.18.0.2"     /* netcore_config_defaults() */
#define FOREIGN_IP "198.18.0.77" /* on our subnet, not ours */

/* Fixture: a running stack with MAX_SOCKETS slots; sv[1] is the far end of the wire. */

static struct netcore_stack *st;
static int sv[2] = { -1, -1 };
static char err[256];

static int start_stack(int pair[2], struct netcore_stack **out)
{
    struct netcore_config c;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = pair[0];
    c.max_sockets = MAX_SOCKETS;
    err[0] = '\0';
    return netcore_start(&c, NETCORE_MANUAL, out, err, sizeof(err));
}

static void setup(void)
{
    int rc = start_stack(sv, &st);

    ck_assert_msg(rc == 0, "netcore_start: %s (%d)", err, rc);
}

static void teardown(void)
{
    netcore_stop(st); /* closes sv[0] */
    st = NULL;
    close(sv[1]);
}

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static int new_sock(int type)
{
    int s = netcore_socket(st, AF_INET, type, 0);

    ck_assert_msg(s >= 0, "netcore_socket(%d): %d", type, s);
    return s;
}

static int bind_to(int s, const char *ip, uint16_t port)
{
    struct sockaddr_in a = sin4(ip, port);

    return netcore_bind(st, s, (const struct sockaddr *)&a, sizeof(a));
}

static int nsockets(void)
{
    struct netcore_stats stats;

    netcore_get_stats(st, &stats);
    return stats.sockets;
}

#define ANY_PORT (-1)

/* Checks getsockname(s) against ip:port (ANY_PORT: any nonzero port); returns the port. */
static uint16_t check_name(int s, const char *ip, int port)
{
    struct sockaddr_in a, want = sin4(ip, 0);
    socklen_t len = sizeof(a);

    memset(&a, 0xa5, sizeof(a));
    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    ck_assert_uint_eq(len, sizeof(a));
    ck_assert_int_eq(a.sin_family, AF_INET);
    ck_assert_uint_eq(a.sin_addr.s_addr, want.sin_addr.s_addr);
    if (port == ANY_PORT)
        ck_assert_uint_ne(ntohs(a.sin_port), 0);
    else
        ck_assert_uint_eq(ntohs(a.sin_port), port);
    return ntohs(a.sin_port);
}

static int int_opt(int s, int level, int name)
{
    int v = -12345;
    socklen_t len = sizeof(v);

    ck_assert_int_eq(netcore_getsockopt(st, s, level, name, &v, &len), 0);
    ck_assert_uint_eq(len, sizeof(v));
    return v;
}

/* start: one stack per process */

START_TEST(test_second_start_busy)
{
    struct netcore_stack *other = NULL;
    int pair[2];

    ck_assert_int_eq(start_stack(pair, &other), -EBUSY);
    ck_assert_ptr_null(other);
    ck_assert_msg(err[0] != '\0', "no message for -EBUSY");
    /* A refused start does not take the caller's fd. */
    ck_assert_int_ge(fcntl(pair[0], F_GETFD), 0);
    close(pair[0]);
    close(pair[1]);
    /* The running stack is unaffected. */
    ck_assert_int_eq(new_sock(SOCK_STREAM), 0);
}
END_TEST

START_TEST(test_restart)
{
    netcore_stop(st);
    close(sv[1]);
    int rc = start_stack(sv, &st);
    ck_assert_msg(rc == 0, "second netcore_start after stop: %s (%d)", err, rc);
    int s = new_sock(SOCK_STREAM);
    ck_assert_int_eq(bind_to(s, OUR_IP, 5001), 0);
    ck_assert_int_eq(nsockets(), 1);
}
END_TEST

/* create: netcore_socket and the table's bound */

START_TEST(test_table_full)
{
    for (int i = 0; i < MAX_SOCKETS; i++) {
        int s = new_sock(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
        ck_assert_int_ge(s, 0);
        ck_assert_int_lt(s, MAX_SOCKETS);
    }
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, 0), -EMFILE);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_DGRAM, 0), -EMFILE);
    ck_assert_int_eq(nsockets(), MAX_SOCKETS);
}
END_TEST

START_TEST(test_handles_distinct)
{
    int seen[MAX_SOCKETS] = { 0 };

    for (int i = 0; i < MAX_SOCKETS; i++) {
        int s = new_sock(SOCK_STREAM);
        ck_assert_int_lt(s, MAX_SOCKETS);
        ck_assert_int_eq(seen[s], 0);
        seen[s] = 1;
    }
}
END_TEST

START_TEST(test_close_frees_slot)
{
    int ids[MAX_SOCKETS];

    for (int i = 0; i < MAX_SOCKETS; i++)
        ids[i] = new_sock(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, 0), -EMFILE);

    /* A TCP slot and a UDP slot come back; each is reused by the next socket. */
    ck_assert_int_eq(netcore_close(st, ids[2]), 0);
    ck_assert_int_eq(nsockets(), MAX_SOCKETS - 1);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_DGRAM, 0), ids[2]);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, 0), -EMFILE);
    ck_assert_int_eq(netcore_close(st, ids[5]), 0);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, 0), ids[5]);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_DGRAM, 0), -EMFILE);
    ck_assert_int_eq(nsockets(), MAX_SOCKETS);
}
END_TEST

START_TEST(test_close_bound_frees_slot)
{
    int ids[MAX_SOCKETS];

    for (int i = 0; i < MAX_SOCKETS; i++)
        ids[i] = new_sock(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
    ck_assert_int_eq(bind_to(ids[0], OUR_IP, 5002), 0);
    ck_assert_int_eq(bind_to(ids[1], OUR_IP, 5002), 0);
    ck_assert_int_eq(netcore_listen(st, ids[2], 4), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(netcore_close(st, ids[i]), 0);
    ck_assert_int_eq(nsockets(), MAX_SOCKETS - 3);
    for (int i = 0; i < 3; i++)
        new_sock(SOCK_STREAM);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, 0), -EMFILE);
}
END_TEST

START_TEST(test_bad_domain)
{
    ck_assert_int_eq(netcore_socket(st, AF_PACKET, SOCK_DGRAM, 0), -EAFNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_NETLINK, SOCK_DGRAM, 0), -EAFNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_UNIX, SOCK_STREAM, 0), -EAFNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_UNSPEC, SOCK_STREAM, 0), -EAFNOSUPPORT);
    ck_assert_int_eq(nsockets(), 0);
}
END_TEST

START_TEST(test_bad_type)
{
    /* The kernel has raw sockets; this stack does not, so SOCK_RAW is a type it lacks. */
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_RAW, 0), -ESOCKTNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_SEQPACKET, 0), -ESOCKTNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_RDM, 0), -ESOCKTNOSUPPORT);
    ck_assert_int_eq(nsockets(), 0);
}
END_TEST

START_TEST(test_bad_type_bits)
{
    /* Linux: flag bits other than SOCK_NONBLOCK|SOCK_CLOEXEC, or a type >= SOCK_MAX (11),
     * are EINVAL before any protocol lookup. */
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM | 0x100, 0), -EINVAL);
    ck_assert_int_eq(netcore_socket(st, AF_INET, 11, 0), -EINVAL);
    ck_assert_int_eq(netcore_socket(st, AF_INET, -1, 0), -EINVAL);
    ck_assert_int_eq(nsockets(), 0);
}
END_TEST

START_TEST(test_bad_protocol)
{
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, IPPROTO_UDP), -EPROTONOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_DGRAM, IPPROTO_TCP), -EPROTONOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, IPPROTO_ICMP), -EPROTONOSUPPORT);
    ck_assert_int_eq(nsockets(), 0);
}
END_TEST

START_TEST(test_explicit_protocol)
{
    int t = netcore_socket(st, AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, IPPROTO_UDP);

    ck_assert_int_ge(t, 0);
    ck_assert_int_ge(u, 0);
    ck_assert_int_eq(int_opt(t, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
    ck_assert_int_eq(int_opt(u, SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDP);
}
END_TEST

START_TEST(test_type_flags)
{
    int a = netcore_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int b = netcore_socket(st, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int c = new_sock(SOCK_STREAM);

    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(netcore_get_nonblock(st, a), 1);
    ck_assert_int_eq(netcore_get_nonblock(st, b), 1);
    ck_assert_int_eq(netcore_get_nonblock(st, c), 0);
    ck_assert_int_eq(int_opt(a, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    ck_assert_int_eq(int_opt(b, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
}
END_TEST

/* badf: every call on a handle that is not an open socket */

enum { BAD_MINUS1, BAD_MAX, BAD_HUGE, BAD_INT_MIN, BAD_CLOSED_TCP, BAD_CLOSED_UDP, BAD_N };

static int bad_handle(int which)
{
    switch (which) {
    case BAD_MINUS1: return -1;
    case BAD_MAX: return MAX_SOCKETS;
    case BAD_HUGE: return 1000;
    case BAD_INT_MIN: return INT_MIN;
    default: {
        int s = new_sock(which == BAD_CLOSED_TCP ? SOCK_STREAM : SOCK_DGRAM);
        ck_assert_int_eq(netcore_close(st, s), 0);
        return s;
    }
    }
}

START_TEST(test_badf)
{
    int h = bad_handle(_i);
    struct sockaddr_in a = sin4(OUR_IP, 5003), from;
    socklen_t len = sizeof(from);
    char buf[16] = { 0 };
    int v = 1;
    socklen_t vlen = sizeof(v);
    const struct sockaddr *sa = (const struct sockaddr *)&a;

    ck_assert_int_eq(netcore_bind(st, h, sa, sizeof(a)), -EBADF);
    ck_assert_int_eq(netcore_listen(st, h, 1), -EBADF);
    ck_assert_int_eq(netcore_accept(st, h, NULL, NULL, 0), -EBADF);
    ck_assert_int_eq(netcore_connect(st, h, sa, sizeof(a)), -EBADF);
    ck_assert_int_eq(netcore_send(st, h, buf, sizeof(buf), 0), -EBADF);
    ck_assert_int_eq(netcore_recv(st, h, buf, sizeof(buf), 0), -EBADF);
    ck_assert_int_eq(netcore_sendto(st, h, buf, sizeof(buf), 0, sa, sizeof(a)), -EBADF);
    ck_assert_int_eq(netcore_recvfrom(st, h, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                                      &len), -EBADF);
    ck_assert_int_eq(netcore_shutdown(st, h, SHUT_RDWR), -EBADF);
    ck_assert_int_eq(netcore_getsockname(st, h, (struct sockaddr *)&from, &len), -EBADF);
    ck_assert_int_eq(netcore_getpeername(st, h, (struct sockaddr *)&from, &len), -EBADF);
    ck_assert_int_eq(netcore_setsockopt(st, h, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)),
                     -EBADF);
    ck_assert_int_eq(netcore_getsockopt(st, h, SOL_SOCKET, SO_TYPE, &v, &vlen), -EBADF);
    ck_assert_int_eq(netcore_set_nonblock(st, h, 1), -EBADF);
    ck_assert_int_eq(netcore_get_nonblock(st, h), -EBADF);
    ck_assert_int_eq(netcore_readable_bytes(st, h), -EBADF);
    ck_assert_int_eq(netcore_fd(st, h), -EBADF);
    ck_assert_int_eq(netcore_wait(st, h, POLLIN, 0), -EBADF);
    ck_assert_uint_eq(netcore_poll(st, h, POLLIN | POLLOUT), POLLNVAL);
    netcore_want(st, h, POLLIN, 1); /* ignored */
    ck_assert_int_eq(netcore_close(st, h), -EBADF);
    ck_assert_int_eq(nsockets(), 0);
}
END_TEST

START_TEST(test_close_twice)
{
    int s = new_sock(SOCK_STREAM);

    ck_assert_int_eq(netcore_close(st, s), 0);
    ck_assert_int_eq(netcore_close(st, s), -EBADF);
}
END_TEST

/* fd: one eventfd per socket */

static int is_eventfd(int fd)
{
    char path[64], target[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

START_TEST(test_fd_distinct)
{
    int ids[MAX_SOCKETS], fds[MAX_SOCKETS];

    for (int i = 0; i < MAX_SOCKETS; i++) {
        ids[i] = new_sock(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
        fds[i] = netcore_fd(st, ids[i]);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_msg(is_eventfd(fds[i]), "netcore_fd %d is not an eventfd", fds[i]);
        ck_assert_int_ne(fds[i], sv[0]);
        ck_assert_int_ne(fds[i], sv[1]);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(fds[i], fds[j]);
        /* Stable: the same fd every time. */
        ck_assert_int_eq(netcore_fd(st, ids[i]), fds[i]);
    }
}
END_TEST

START_TEST(test_fd_closed_with_socket)
{
    int s = new_sock(SOCK_STREAM);
    int fd = netcore_fd(st, s);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(netcore_close(st, s), 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_fd_quiet)
{
    int s = new_sock(SOCK_STREAM);
    struct pollfd p = { .fd = netcore_fd(st, s), .events = POLLIN };

    /* Nobody registered interest: the eventfd stays quiet. */
    ck_assert_int_eq(poll(&p, 1, 0), 0);
}
END_TEST

/* netcore_socket_fd: the program's descriptor is the lowest free number, on the same
 * eventfd as the stack's (which is elsewhere, and close-on-exec), and is the caller's. */
START_TEST(test_socket_fd)
{
    int low = dup(0), fd = -1, fd2 = -1;

    ck_assert_int_ge(low, 0);
    ck_assert_int_eq(close(low), 0); /* the lowest free number */
    int s = netcore_socket_fd(st, AF_INET, SOCK_STREAM, 0, &fd);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(fd, low);
    ck_assert_msg(is_eventfd(fd), "fd %d is not an eventfd", fd);
    ck_assert_int_eq(fcntl(fd, F_GETFD), 0);
    int efd = netcore_fd(st, s);
    ck_assert_int_ne(efd, fd);
    ck_assert_int_eq(fcntl(efd, F_GETFD), FD_CLOEXEC);
    /* One file: what the stack signals, the program's descriptor reads. */
    uint64_t one = 1, v = 0;
    ck_assert_int_eq(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
    ck_assert_int_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
    ck_assert_int_eq(v, 1);
    int u = netcore_socket_fd(st, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, &fd2);
    ck_assert_int_ge(u, 0);
    ck_assert_int_eq(fcntl(fd2, F_GETFD), FD_CLOEXEC);
    /* Closing the socket leaves the caller's descriptor open. */
    ck_assert_int_eq(netcore_close(st, s), 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD), 0);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(close(fd2), 0);
    /* A failed call leaves no descriptor behind. */
    fd = -1;
    ck_assert_int_eq(netcore_socket_fd(st, AF_INET, SOCK_RAW, 0, &fd), -ESOCKTNOSUPPORT);
    low = dup(0);
    ck_assert_int_eq(close(low), 0);
    ck_assert_int_eq(netcore_socket_fd(st, AF_INET, SOCK_STREAM, 0, &fd) >= 0, 1);
    ck_assert_int_eq(fd, low);
}
END_TEST

/* stats: netcore_stats.sockets */

START_TEST(test_stats_sockets)
{
    int ids[MAX_SOCKETS];

    ck_assert_int_eq(nsockets(), 0);
    for (int i = 0; i < MAX_SOCKETS; i++) {
        ids[i] = new_sock(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
        ck_assert_int_eq(nsockets(), i + 1);
    }
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, 0), -EMFILE);
    ck_assert_int_eq(nsockets(), MAX_SOCKETS);
    for (int i = 0; i < MAX_SOCKETS; i++) {
        ck_assert_int_eq(netcore_close(st, ids[i]), 0);
        ck_assert_int_eq(nsockets(), MAX_SOCKETS - 1 - i);
    }
}
END_TEST

START_TEST(test_stats_failed_create)
{
    ck_assert_int_eq(netcore_socket(st, AF_UNIX, SOCK_STREAM, 0), -EAFNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET6, SOCK_RAW, 0), -ESOCKTNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_RAW, 0), -ESOCKTNOSUPPORT);
    ck_assert_int_eq(netcore_socket(st, AF_INET, SOCK_STREAM, IPPROTO_UDP), -EPROTONOSUPPORT);
    ck_assert_int_eq(nsockets(), 0);
}
END_TEST

/* bind: addresses, ports, and getsockname */

START_TEST(test_getsockname_unbound)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);

    check_name(s, "0.0.0.0", 0);
}
END_TEST

START_TEST(test_bind_getsockname)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);

    ck_assert_int_eq(bind_to(s, OUR_IP, 5010), 0);
    check_name(s, OUR_IP, 5010);
}
END_TEST

START_TEST(test_bind_any)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);

    ck_assert_int_eq(bind_to(s, "0.0.0.0", 5011), 0);
    check_name(s, "0.0.0.0", 5011);
}
END_TEST

START_TEST(test_bind_twice)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);

    ck_assert_int_eq(bind_to(s, OUR_IP, 5012), 0);
    ck_assert_int_eq(bind_to(s, OUR_IP, 5012), -EINVAL);
    ck_assert_int_eq(bind_to(s, OUR_IP, 5013), -EINVAL);
    ck_assert_int_eq(bind_to(s, "0.0.0.0", 0), -EINVAL);
    check_name(s, OUR_IP, 5012);
}
END_TEST

START_TEST(test_bind_foreign)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);

    ck_assert_int_eq(bind_to(s, FOREIGN_IP, 5014), -EADDRNOTAVAIL);
    ck_assert_int_eq(bind_to(s, "10.1.2.3", 0), -EADDRNOTAVAIL);
    /* The failed binds left the socket unbound. */
    check_name(s, "0.0.0.0", 0);
    ck_assert_int_eq(bind_to(s, OUR_IP, 5014), 0);
}
END_TEST

START_TEST(test_bind_port_zero)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);
    int s2 = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);

    ck_assert_int_eq(bind_to(s, OUR_IP, 0), 0);
    ck_assert_int_eq(bind_to(s2, OUR_IP, 0), 0);
    uint16_t p1 = check_name(s, OUR_IP, ANY_PORT);
    uint16_t p2 = check_name(s2, OUR_IP, ANY_PORT);
    ck_assert_uint_ne(p1, p2);
}
END_TEST

START_TEST(test_bind_in_use)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int a = new_sock(type), b = new_sock(type), c = new_sock(type);

    ck_assert_int_eq(bind_to(a, OUR_IP, 5015), 0);
    ck_assert_int_eq(bind_to(b, OUR_IP, 5015), -EADDRINUSE);
    ck_assert_int_eq(bind_to(c, "0.0.0.0", 5015), -EADDRINUSE);
    /* b is still unbound and can take another port. */
    ck_assert_int_eq(bind_to(b, OUR_IP, 5016), 0);
}
END_TEST

START_TEST(test_bind_in_use_listener)
{
    int l = new_sock(SOCK_STREAM), b = new_sock(SOCK_STREAM);

    ck_assert_int_eq(bind_to(l, OUR_IP, 5017), 0);
    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_int_eq(bind_to(b, OUR_IP, 5017), -EADDRINUSE);
}
END_TEST

START_TEST(test_bind_tcp_udp_share_port)
{
    int t = new_sock(SOCK_STREAM), u = new_sock(SOCK_DGRAM);

    ck_assert_int_eq(bind_to(t, OUR_IP, 5018), 0);
    ck_assert_int_eq(bind_to(u, OUR_IP, 5018), 0);
}
END_TEST

START_TEST(test_bind_after_close)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int a = new_sock(type);

    ck_assert_int_eq(bind_to(a, OUR_IP, 5019), 0);
    ck_assert_int_eq(netcore_close(st, a), 0);
    int b = new_sock(type);
    ck_assert_int_eq(bind_to(b, OUR_IP, 5019), 0);
}
END_TEST

START_TEST(test_bind_bad_address)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);
    struct sockaddr_in a = sin4(OUR_IP, 5020);
    struct sockaddr_in6 a6;

    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    ck_assert_int_eq(netcore_bind(st, s, NULL, sizeof(a)), -EFAULT);
    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a) - 1), -EINVAL);
    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&a6, sizeof(a6)), -EAFNOSUPPORT);
    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a)), 0);
}
END_TEST

/* listen */

START_TEST(test_listen_udp)
{
    int u = new_sock(SOCK_DGRAM);

    ck_assert_int_eq(netcore_listen(st, u, 1), -EOPNOTSUPP);
    ck_assert_int_eq(bind_to(u, OUR_IP, 5021), 0);
    ck_assert_int_eq(netcore_listen(st, u, 1), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_listen_autobind)
{
    int l = new_sock(SOCK_STREAM);

    ck_assert_int_eq(int_opt(l, SOL_SOCKET, SO_ACCEPTCONN), 0);
    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    check_name(l, "0.0.0.0", ANY_PORT);
    ck_assert_int_eq(int_opt(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
}
END_TEST

START_TEST(test_listen_twice)
{
    int l = new_sock(SOCK_STREAM);

    ck_assert_int_eq(bind_to(l, OUR_IP, 5022), 0);
    ck_assert_int_eq(netcore_listen(st, l, 1), 0);
    ck_assert_int_eq(netcore_listen(st, l, 8), 0);
    check_name(l, OUR_IP, 5022);
    ck_assert_int_eq(bind_to(l, OUR_IP, 5023), -EINVAL);
}
END_TEST

/* accept */

START_TEST(test_accept_not_listening)
{
    int t = new_sock(SOCK_STREAM);

    ck_assert_int_eq(netcore_accept(st, t, NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(bind_to(t, OUR_IP, 5024), 0);
    ck_assert_int_eq(netcore_accept(st, t, NULL, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_accept_udp)
{
    int u = new_sock(SOCK_DGRAM);

    ck_assert_int_eq(netcore_accept(st, u, NULL, NULL, 0), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_accept_nonblock)
{
    int l = netcore_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_int_eq(netcore_accept(st, l, NULL, NULL, 0), -EAGAIN);
    ck_assert_int_eq(netcore_accept(st, l, (struct sockaddr *)&a, &len, SOCK_NONBLOCK),
                     -EAGAIN);
    ck_assert_int_eq(nsockets(), 1);
}
END_TEST

START_TEST(test_accept_set_nonblock)
{
    int l = new_sock(SOCK_STREAM);

    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_int_eq(netcore_set_nonblock(st, l, 1), 0);
    ck_assert_int_eq(netcore_get_nonblock(st, l), 1);
    ck_assert_int_eq(netcore_accept(st, l, NULL, NULL, 0), -EAGAIN);
}
END_TEST

START_TEST(test_accept_timeout)
{
    int l = new_sock(SOCK_STREAM);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
    struct timespec t0, t1;

    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_int_eq(netcore_setsockopt(st, l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(netcore_accept(st, l, NULL, NULL, 0), -EAGAIN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_ge(ms, 90);
    ck_assert_int_lt(ms, 2000);
}
END_TEST

START_TEST(test_accept_bad_flags)
{
    int l = netcore_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_int_eq(netcore_accept(st, l, NULL, NULL, 0x4000000), -EINVAL);
}
END_TEST

/* peer: getpeername and shutdown on sockets that are not connected */

START_TEST(test_getpeername_unconnected)
{
    int t = new_sock(SOCK_STREAM), u = new_sock(SOCK_DGRAM), l = new_sock(SOCK_STREAM);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    ck_assert_int_eq(netcore_getpeername(st, t, (struct sockaddr *)&a, &len), -ENOTCONN);
    ck_assert_int_eq(netcore_getpeername(st, u, (struct sockaddr *)&a, &len), -ENOTCONN);
    ck_assert_int_eq(bind_to(t, OUR_IP, 5025), 0);
    ck_assert_int_eq(netcore_getpeername(st, t, (struct sockaddr *)&a, &len), -ENOTCONN);
    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_int_eq(netcore_getpeername(st, l, (struct sockaddr *)&a, &len), -ENOTCONN);
}
END_TEST

static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };

START_TEST(test_shutdown_unconnected)
{
    int t = new_sock(SOCK_STREAM), u = new_sock(SOCK_DGRAM);

    ck_assert_int_eq(netcore_shutdown(st, t, hows[_i]), -ENOTCONN);
    ck_assert_int_eq(netcore_shutdown(st, u, hows[_i]), -ENOTCONN);
    ck_assert_int_eq(bind_to(t, OUR_IP, 5026), 0);
    ck_assert_int_eq(netcore_shutdown(st, t, hows[_i]), -ENOTCONN);
}
END_TEST

START_TEST(test_shutdown_bad_how)
{
    int t = new_sock(SOCK_STREAM), u = new_sock(SOCK_DGRAM);

    ck_assert_int_eq(netcore_shutdown(st, t, 3), -EINVAL);
    ck_assert_int_eq(netcore_shutdown(st, t, -1), -EINVAL);
    ck_assert_int_eq(netcore_shutdown(st, u, 3), -EINVAL);
}
END_TEST

/* sockopt */

START_TEST(test_so_type)
{
    int t = new_sock(SOCK_STREAM), u = new_sock(SOCK_DGRAM);

    ck_assert_int_eq(int_opt(t, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    ck_assert_int_eq(int_opt(u, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    ck_assert_int_eq(int_opt(t, SOL_SOCKET, SO_DOMAIN), AF_INET);
    ck_assert_int_eq(int_opt(u, SOL_SOCKET, SO_DOMAIN), AF_INET);
    ck_assert_int_eq(int_opt(t, SOL_SOCKET, SO_ERROR), 0);
    ck_assert_int_eq(int_opt(u, SOL_SOCKET, SO_ERROR), 0);
}
END_TEST

START_TEST(test_unknown_option)
{
    int s = new_sock(_i ? SOCK_DGRAM : SOCK_STREAM);
    int v = 1;
    socklen_t len = sizeof(v);

    ck_assert_int_eq(netcore_getsockopt(st, s, SOL_SOCKET, 9999, &v, &len), -ENOPROTOOPT);
    ck_assert_int_eq(netcore_setsockopt(st, s, SOL_SOCKET, 9999, &v, sizeof(v)), -ENOPROTOOPT);
}
END_TEST

/* poll: readiness of sockets that are not connected */

START_TEST(test_poll_fresh_tcp)
{
    int t = new_sock(SOCK_STREAM);

    ck_assert_uint_eq(netcore_poll(st, t, POLLIN | POLLOUT), POLLOUT | POLLHUP);
    /* POLLHUP is reported even when not asked for, as poll(2) does. */
    ck_assert_uint_eq(netcore_poll(st, t, POLLIN), POLLHUP);
    ck_assert_int_eq(bind_to(t, OUR_IP, 5027), 0);
    ck_assert_uint_eq(netcore_poll(st, t, POLLIN | POLLOUT), POLLOUT | POLLHUP);
}
END_TEST

START_TEST(test_poll_fresh_udp)
{
    int u = new_sock(SOCK_DGRAM);

    ck_assert_uint_eq(netcore_poll(st, u, POLLIN | POLLOUT), POLLOUT);
    ck_assert_uint_eq(netcore_poll(st, u, POLLIN), 0);
}
END_TEST

START_TEST(test_poll_listener)
{
    int l = new_sock(SOCK_STREAM);

    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    ck_assert_uint_eq(netcore_poll(st, l, POLLIN | POLLOUT), 0);
    ck_assert_int_eq(netcore_wait(st, l, POLLIN, 0), 0);
}
END_TEST

/* netcore_wanted: what every waiter registered with netcore_want, of what is ready. */
START_TEST(test_wanted)
{
    int u = new_sock(SOCK_DGRAM); /* POLLOUT now, never POLLIN here */

    ck_assert_uint_eq(netcore_wanted(st, u), 0);
    netcore_want(st, u, POLLIN, 1);
    ck_assert_uint_eq(netcore_wanted(st, u), 0);
    netcore_want(st, u, POLLOUT, 1);
    ck_assert_uint_eq(netcore_wanted(st, u), POLLOUT);
    netcore_want(st, u, POLLOUT, -1);
    ck_assert_uint_eq(netcore_wanted(st, u), 0);
    netcore_want(st, u, POLLIN, -1);
    ck_assert_int_eq(netcore_close(st, u), 0);
    ck_assert_uint_eq(netcore_wanted(st, u), 0); /* a closed handle: nothing */
}
END_TEST

static Suite *socktable_suite(void)
{
    Suite *s = suite_create("socktable");
    TCase *tc;

    tc = tcase_create("start");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_second_start_busy);
    tcase_add_test(tc, test_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_table_full);
    tcase_add_test(tc, test_handles_distinct);
    tcase_add_test(tc, test_close_frees_slot);
    tcase_add_test(tc, test_close_bound_frees_slot);
    tcase_add_test(tc, test_bad_domain);
    tcase_add_test(tc, test_bad_type);
    tcase_add_test(tc, test_bad_type_bits);
    tcase_add_test(tc, test_bad_protocol);
    tcase_add_test(tc, test_explicit_protocol);
    tcase_add_test(tc, test_type_flags);
    suite_add_tcase(s, tc);

    tc = tcase_create("badf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_badf, 0, BAD_N);
    tcase_add_test(tc, test_close_twice);
    suite_add_tcase(s, tc);

    tc = tcase_create("fd");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fd_distinct);
    tcase_add_test(tc, test_fd_closed_with_socket);
    tcase_add_test(tc, test_fd_quiet);
    tcase_add_test(tc, test_socket_fd);
    suite_add_tcase(s, tc);

    tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_sockets);
    tcase_add_test(tc, test_stats_failed_create);
    suite_add_tcase(s, tc);

    /* Loop tests over _i: 0 TCP, 1 UDP. */
    tc = tcase_create("bind");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_getsockname_unbound, 0, 2);
    tcase_add_loop_test(tc, test_bind_getsockname, 0, 2);
    tcase_add_loop_test(tc, test_bind_any, 0, 2);
    tcase_add_loop_test(tc, test_bind_twice, 0, 2);
    tcase_add_loop_test(tc, test_bind_foreign, 0, 2);
    tcase_add_loop_test(tc, test_bind_port_zero, 0, 2);
    tcase_add_loop_test(tc, test_bind_in_use, 0, 2);
    tcase_add_test(tc, test_bind_in_use_listener);
    tcase_add_test(tc, test_bind_tcp_udp_share_port);
    tcase_add_loop_test(tc, test_bind_after_close, 0, 2);
    tcase_add_loop_test(tc, test_bind_bad_address, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("listen");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_listen_udp);
    tcase_add_test(tc, test_listen_autobind);
    tcase_add_test(tc, test_listen_twice);
    suite_add_tcase(s, tc);

    tc = tcase_create("accept");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_accept_not_listening);
    tcase_add_test(tc, test_accept_udp);
    tcase_add_test(tc, test_accept_nonblock);
    tcase_add_test(tc, test_accept_set_nonblock);
    tcase_add_test(tc, test_accept_timeout);
    tcase_add_test(tc, test_accept_bad_flags);
    suite_add_tcase(s, tc);

    tc = tcase_create("unconnected");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_getpeername_unconnected);
    tcase_add_loop_test(tc, test_shutdown_unconnected, 0, 3);
    tcase_add_test(tc, test_shutdown_bad_how);
    suite_add_tcase(s, tc);

    tc = tcase_create("sockopt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_so_type);
    tcase_add_loop_test(tc, test_unknown_option, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("poll");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_poll_fresh_tcp);
    tcase_add_test(tc, test_poll_fresh_udp);
    tcase_add_test(tc, test_poll_listener);
    tcase_add_test(tc, test_wanted);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(socktable_suite());
    int failed;

    /* lwIP is a per-process singleton: each test needs its own process. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
