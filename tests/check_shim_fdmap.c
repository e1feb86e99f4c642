/*
 * The shim's fd map (preload/libc.c nc__fd_*, preload/socket.c) in process: which program
 * fds are netcore sockets, through socket, accept4, dup, dup2, fcntl and close; the socket
 * lives as long as one of its fds does; accept4's fd numbers and flags, and its EMFILE; the
 * socket table's limit (NETCORE_MAX_SOCKETS, EMFILE) and a bad value of it, named.
 * shimfix.h says how the suite reaches the shim without root; the map is read through the
 * shim's own nc__fd_handle (shim.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handpeer.h"
#include "shim.h"
#include "shimfix.h"

#define PORT 7002

static uint16_t port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* Sends a datagram to PORT; true when fd reads it back. */
static bool receives(int fd)
{
    char buf[8];
    hp_udp_in(sf_wire, 5353, PORT, "ping", 4);
    return sf_readable(fd) && recv(fd, buf, sizeof(buf), 0) == 4 && !memcmp(buf, "ping", 4);
}

START_TEST(socket_is_mapped)
{
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), u = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_ge(nc__fd_handle(s), 0);
    ck_assert_int_eq(nc__fd_handle(u), -1);
    ck_assert_int_eq(fcntl(s, F_GETFD), FD_CLOEXEC);
    /* what the shim does not take is the kernel's, with the kernel's errno */
    ck_assert_int_eq(sf_errno(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP)), EPROTONOSUPPORT);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ne(nc__fd_handle(fd), nc__fd_handle(s));
}
END_TEST

/* nc__fd_route, where every interposed call learns where it goes: the core with the socket's
 * handle, a relayed socket with its bits, or libc (not ours, out of the map, a control
 * connection). */
START_TEST(route_of_each_kind)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0), u = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_ge(u, 0);
    struct nc_dest d = nc__fd_route(s);
    ck_assert_int_eq(d.to, NC_TO_CORE);
    ck_assert_int_eq(d.h, nc__fd_handle(s));
    ck_assert_int_eq(nc__fd_route(u).to, NC_TO_LIBC);
    ck_assert_int_eq(nc__fd_route(-1).to, NC_TO_LIBC);
    ck_assert_int_eq(nc__fd_route(nc__fd_map_len()).to, NC_TO_LIBC);
    int bits = NC_RK_VALID | NC_RK_UNCONN | SOCK_STREAM;
    ck_assert_int_eq(nc__fd_set_remote(u, bits, INT_MIN), 0);
    d = nc__fd_route(u);
    ck_assert_int_eq(d.to, NC_TO_REMOTE);
    ck_assert_int_eq(d.h, bits);
    ck_assert_int_eq(nc__fd_set_remote(u, NC_RK_VALID | NC_RK_CHAN, bits), 0);
    ck_assert_int_eq(nc__fd_route(u).to, NC_TO_LIBC);
    nc__fd_clear_remote(u);
}
END_TEST

/* nc__fd_route_addr: a loopback address hands a netcore socket to the kernel (the call goes
 * to libc, the fd is no longer in the map); a wire address leaves it the core's. */
START_TEST(route_addr_hands_off)
{
    struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in wire = { .sin_family = AF_INET, .sin_port = htons(PORT) };
    inet_pton(AF_INET, "198.18.0.1", &wire.sin_addr);
    int s = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_DGRAM, 0);
    int hs = nc__fd_handle(s), ht = nc__fd_handle(t);
    ck_assert_int_ge(hs, 0);
    ck_assert_int_ge(ht, 0);
    struct nc_dest d = nc__fd_route_addr(s, (struct sockaddr *)&lo, sizeof(lo));
    ck_assert_int_eq(d.to, NC_TO_LIBC);
    ck_assert_int_eq(nc__fd_handle(s), -1);
    d = nc__fd_route_addr(t, (struct sockaddr *)&wire, sizeof(wire));
    ck_assert_int_eq(d.to, NC_TO_CORE);
    ck_assert_int_eq(d.h, ht);
}
END_TEST

/* A dup is the same socket; the socket outlives the fd closed first. */
START_TEST(dup_shares_socket)
{
    int s = sf_udp_bound(PORT), d = dup(s);
    ck_assert_int_ge(d, 0);
    ck_assert_int_eq(nc__fd_handle(d), nc__fd_handle(s));
    ck_assert_uint_eq(port_of(d), PORT);
    ck_assert_int_eq(close(s), 0);
    ck_assert_int_eq(nc__fd_handle(s), -1);
    ck_assert_int_eq(sf_errno(close(s)), EBADF);
    ck_assert(receives(d));
    ck_assert_int_eq(close(d), 0);
    /* the last fd closed the socket: its port is free again */
    int again = sf_udp_bound(PORT);
    ck_assert(receives(again));
}
END_TEST

/* dup2 onto a kernel fd makes it the socket; onto another socket's fd, closes that one. */
START_TEST(dup2_onto_fds)
{
    int s = sf_udp_bound(PORT), t = sf_udp_bound(PORT + 1), p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(dup2(s, p[0]), p[0]);
    ck_assert_int_eq(nc__fd_handle(p[0]), nc__fd_handle(s));
    ck_assert_int_eq(close(s), 0);
    ck_assert(receives(p[0]));
    ck_assert_int_eq(dup2(p[0], t), t);
    ck_assert_uint_eq(port_of(t), PORT);
    int u = sf_udp_bound(PORT + 1); /* t's socket is gone, and its port with it */
    ck_assert_uint_eq(port_of(u), PORT + 1);
    ck_assert_int_eq(dup2(t, t), t);
    ck_assert_int_eq(nc__fd_handle(t), nc__fd_handle(p[0]));
    ck_assert_int_eq(sf_errno(dup3(t, t, 0)), EINVAL);
}
END_TEST

/* F_DUPFD_CLOEXEC maps the new fd; F_GETFL/F_SETFL are the socket's O_NONBLOCK. */
START_TEST(fcntl_dup_and_flags)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int d = fcntl(s, F_DUPFD_CLOEXEC, 100);
    ck_assert_int_ge(d, 100);
    ck_assert_int_eq(nc__fd_handle(d), nc__fd_handle(s));
    ck_assert_int_eq(fcntl(d, F_GETFD), FD_CLOEXEC);
    ck_assert_int_eq(fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    char c;
    ck_assert_int_eq(sf_errno(recv(d, &c, 1, 0)), EAGAIN);
    ck_assert_int_eq(fcntl(d, F_SETFL, O_RDWR), 0);
    ck_assert_int_eq(fcntl(s, F_GETFL) & O_NONBLOCK, 0); /* one socket, one flag */
}
END_TEST

/* close_range lets go of the netcore sockets in its range, like close. */
START_TEST(close_range_releases)
{
    int s = sf_udp_bound(PORT);
    int d = fcntl(s, F_DUPFD, 200);
    ck_assert_int_eq(close_range((unsigned)d, (unsigned)d, 0), 0);
    ck_assert_int_eq(nc__fd_handle(d), -1);
    ck_assert_int_eq(close_range((unsigned)s, (unsigned)s, 0), 0);
    ck_assert_int_eq(nc__fd_handle(s), -1);
    int again = sf_udp_bound(PORT);
    ck_assert(receives(again));
}
END_TEST

/* A listener on the stack's own address and a connection to it (looped inside the stack);
 * *c is the connecting end, connected on return. */
static int self_listener(int *c)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
    inet_pton(AF_INET, "198.18.0.2", &a.sin_addr);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    *c = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(*c, (struct sockaddr *)&a, sizeof(a)), 0);
    return l;
}

/*
 * accept4's fd is the lowest free number, as the kernel's (the core makes it with the
 * connection's eventfd: netcore_accept_fd), mapped, with the flags asked for and only those;
 * the stack's own copy of the eventfd is nowhere near.
 */
START_TEST(accept4_numbering_flags)
{
    int c, l = self_listener(&c);
    int hole = dup(0), above = dup(0);
    ck_assert_int_lt(hole, above);
    ck_assert_int_eq(close(hole), 0);
    int a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_eq(a, hole);
    ck_assert_int_ge(nc__fd_handle(a), 0);
    ck_assert_int_ne(nc__fd_handle(a), nc__fd_handle(l));
    ck_assert_int_eq(fcntl(a, F_GETFD), FD_CLOEXEC);
    ck_assert_int_eq(fcntl(a, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    char b[4];
    ck_assert_int_eq(sf_errno(recv(a, b, sizeof(b), 0)), EAGAIN);
    ck_assert_int_eq(send(c, "hi", 2, 0), 2);
    ck_assert(sf_readable(a));
    ck_assert_int_eq(recv(a, b, sizeof(b), 0), 2);
    ck_assert_int_eq(memcmp(b, "hi", 2), 0);
    /* plain accept: neither flag, and the next free number */
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to, peer;
    socklen_t len = sizeof(to);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&to, &len), 0);
    ck_assert_int_eq(connect(c2, (struct sockaddr *)&to, sizeof(to)), 0);
    int expect = dup(0);
    ck_assert_int_eq(close(expect), 0);
    len = sizeof(peer);
    int a2 = accept(l, (struct sockaddr *)&peer, &len);
    ck_assert_int_eq(a2, expect);
    ck_assert_int_eq(len, sizeof(peer));
    ck_assert_uint_eq(ntohs(peer.sin_port), port_of(c2));
    ck_assert_int_eq(fcntl(a2, F_GETFD), 0);
    ck_assert_int_eq(fcntl(a2, F_GETFL) & O_NONBLOCK, 0);
}
END_TEST

/* Out of fds, accept says EMFILE, as the kernel's, and the connection stays queued for the
 * next accept (the kernel finds the fd before it takes a connection). */
START_TEST(accept_emfile_keeps_connection)
{
    int c, l = self_listener(&c);
    ck_assert_int_eq(send(c, "q", 1, 0), 1);
    struct rlimit rl, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int next = dup(0); /* the lowest free number: nothing at or above it may be had */
    ck_assert_int_eq(close(next), 0);
    low = rl;
    low.rlim_cur = (rlim_t)next;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(sf_errno(accept4(l, NULL, NULL, SOCK_NONBLOCK)), EMFILE);
    ck_assert_int_eq(sf_errno(accept(l, NULL, NULL)), EMFILE);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    ck_assert_int_eq(a, next);
    char b;
    ck_assert(sf_readable(a));
    ck_assert_int_eq(recv(a, &b, 1, 0), 1);
    ck_assert_int_eq(b, 'q');
}
END_TEST

/* The socket table holds NETCORE_MAX_SOCKETS sockets: EMFILE beyond, room after a close. */
START_TEST(max_sockets_emfile)
{
    ck_assert_int_eq(setenv("NETCORE_MAX_SOCKETS", "3", 1), 0);
    int s[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(s[i] = socket(AF_INET, SOCK_DGRAM, 0), 0);
    ck_assert_int_eq(sf_errno(socket(AF_INET, SOCK_STREAM, 0)), EMFILE);
    int d = dup(s[0]); /* a dup is no new socket */
    ck_assert_int_ge(d, 0);
    ck_assert_int_eq(close(s[0]), 0);
    ck_assert_int_eq(sf_errno(socket(AF_INET, SOCK_STREAM, 0)), EMFILE);
    ck_assert_int_eq(close(d), 0);
    ck_assert_int_ge(socket(AF_INET, SOCK_STREAM, 0), 0);
}
END_TEST

/* A bad NETCORE_* value: the socket call fails with EINVAL, the message names the variable,
 * and the kernel's own sockets are untouched. */
START_TEST(bad_variable_named)
{
    ck_assert_int_eq(setenv("NETCORE_MAX_SOCKETS", "lots", 1), 0);
    int err[2], saved = dup(2);
    ck_assert_int_eq(pipe(err), 0);
    ck_assert_int_eq(dup2(err[1], 2), 2);
    errno = 0;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int e = errno;
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(err[1]);
    char msg[512] = "";
    ck_assert_int_gt(read(err[0], msg, sizeof(msg) - 1), 0);
    ck_assert_int_eq(s, -1);
    ck_assert_int_eq(e, EINVAL);
    ck_assert_msg(strstr(msg, "NETCORE_MAX_SOCKETS") != NULL, "message: %s", msg);
    ck_assert_int_ge(socket(AF_UNIX, SOCK_DGRAM, 0), 0);
}
END_TEST

static Suite *shim_fdmap_suite(void)
{
    Suite *su = suite_create("shim_fdmap");
    TCase *tm = tcase_create("map");
    tcase_add_checked_fixture(tm, sf_setup, NULL);
    tcase_add_test(tm, socket_is_mapped);
    tcase_add_test(tm, route_of_each_kind);
    tcase_add_test(tm, route_addr_hands_off);
    tcase_add_test(tm, dup_shares_socket);
    tcase_add_test(tm, dup2_onto_fds);
    tcase_add_test(tm, fcntl_dup_and_flags);
    tcase_add_test(tm, close_range_releases);
    tcase_add_test(tm, accept4_numbering_flags);
    suite_add_tcase(su, tm);
    TCase *tl = tcase_create("limits");
    tcase_add_checked_fixture(tl, sf_setup, NULL);
    tcase_add_test(tl, max_sockets_emfile);
    tcase_add_test(tl, accept_emfile_keeps_connection);
    tcase_add_test(tl, bad_variable_named);
    suite_add_tcase(su, tl);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(shim_fdmap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
