/*
 * The shim's epoll translation (preload/epoll.c) on netcore sockets, in process: the errno of
 * each epoll call as the kernel gives it, readiness once a datagram from the hand-played peer
 * arrives, and the EPOLLET and EPOLLONESHOT semantics beside a level-triggered registration
 * of the same socket; a TCP connection's readiness as the hand-played peer answers, sends,
 * ends or resets it. shimfix.h says how the suite reaches the shim without root.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handpeer.h"
#include "shimfix.h"

#define PORT 7000

static int add(int ep, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.u64 = 0x1234500000000000ULL | (unsigned)fd };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Events in one epoll_wait of up to ms; the first event's in *ev. */
static int wait_one(int ep, struct epoll_event *ev, int ms)
{
    struct epoll_event evs[4];
    int n = epoll_wait(ep, evs, 4, ms);
    if (n > 0)
        *ev = evs[0];
    return n;
}

START_TEST(ctl_add_twice_eexist)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0);
    ck_assert_int_ge(ep, 0);
    ck_assert_int_eq(add(ep, s, EPOLLIN), 0);
    ck_assert_int_eq(sf_errno(add(ep, s, EPOLLIN)), EEXIST);
}
END_TEST

START_TEST(ctl_mod_del_unregistered_enoent)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN };
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev)), ENOENT);
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL)), ENOENT);
    /* after a DEL the socket is unknown again */
    ck_assert_int_eq(add(ep, s, EPOLLIN), 0);
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL), 0);
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL)), ENOENT);
}
END_TEST

START_TEST(ctl_bad_set_or_op)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0), p[2];
    ck_assert_int_eq(pipe(p), 0);
    /* epfd is the socket itself, or not an epoll set at all */
    ck_assert_int_eq(sf_errno(add(s, s, EPOLLIN)), EINVAL);
    ck_assert_int_eq(sf_errno(add(p[0], s, EPOLLIN)), EINVAL);
    /* epfd not open: a number above any the shim's own eventfds take (the lowest free) */
    int dead = 1000;
    ck_assert_int_eq(fcntl(dead, F_GETFD), -1);
    ck_assert_int_eq(sf_errno(add(dead, s, EPOLLIN)), EBADF);
    /* ... and the lowest free number, the one the shim's new eventfd for s takes */
    int gone = epoll_create1(0);
    ck_assert_int_ge(gone, 0);
    ck_assert_int_eq(close(gone), 0);
    ck_assert_int_eq(sf_errno(add(gone, s, EPOLLIN)), EBADF);
    /* an op that does not exist; a closed fd */
    struct epoll_event ev = { .events = EPOLLIN };
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, 99, s, &ev)), EINVAL);
    ck_assert_int_eq(sf_errno(add(ep, dead, EPOLLIN)), EBADF);
}
END_TEST

/* What the kernel refuses in the event itself: none given (EFAULT), EPOLLEXCLUSIVE with
 * EPOLLONESHOT, or in a MOD (EINVAL). */
START_TEST(ctl_bad_event)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0);
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, EPOLL_CTL_ADD, s, NULL)), EFAULT);
    ck_assert_int_eq(sf_errno(add(ep, s, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT)), EINVAL);
    ck_assert_int_eq(add(ep, s, EPOLLIN | EPOLLEXCLUSIVE), 0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev)), EINVAL);
}
END_TEST

START_TEST(wait_and_create_errors)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0);
    struct epoll_event ev;
    ck_assert_int_eq(sf_errno(epoll_wait(ep, &ev, 0, 0)), EINVAL);
    ck_assert_int_eq(sf_errno(epoll_wait(s, &ev, 1, 0)), EINVAL); /* a socket is no set */
    ck_assert_int_eq(sf_errno(epoll_create(0)), EINVAL);
    ck_assert_int_eq(sf_errno(epoll_create1(0x1234)), EINVAL);
}
END_TEST

/* A closed socket leaves the set: nothing is reported for it, and its number is EBADF. */
START_TEST(close_leaves_set)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0);
    ck_assert_int_eq(add(ep, s, EPOLLOUT), 0);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 0), 1);
    ck_assert_int_eq(close(s), 0);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
    ck_assert_int_eq(sf_errno(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL)), EBADF);
}
END_TEST

/* Writable at once, readable only once a datagram came; the program's data comes back. */
START_TEST(level_readiness)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(EPOLL_CLOEXEC);
    ck_assert_int_eq(add(ep, s, EPOLLIN | EPOLLOUT), 0);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 0), 1);
    ck_assert_uint_eq(ev.events, EPOLLOUT);
    ck_assert_uint_eq(ev.data.u64, 0x1234500000000000ULL | (unsigned)s);
    struct epoll_event in = { .events = EPOLLIN, .data.u64 = 77 };
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_MOD, s, &in), 0);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
    hp_udp_in(sf_wire, 5353, PORT, "hello", 5);
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_eq(ev.events, EPOLLIN);
    ck_assert_uint_eq(ev.data.u64, 77);
    /* level-triggered: reported again while the datagram waits, not after it is read */
    ck_assert_int_eq(wait_one(ep, &ev, 0), 1);
    char buf[16];
    ck_assert_int_eq(recv(s, buf, sizeof(buf), 0), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
}
END_TEST

/* EPOLLET: one report per arrival, none while the data only waits; the level-triggered
 * registration of the same socket in another set goes on reporting it. */
START_TEST(edge_triggered)
{
    int s = sf_udp_bound(PORT), et = epoll_create1(0), lt = epoll_create1(0);
    ck_assert_int_eq(add(et, s, EPOLLIN | EPOLLET), 0);
    ck_assert_int_eq(add(lt, s, EPOLLIN), 0);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(et, &ev, 0), 0);
    hp_udp_in(sf_wire, 5353, PORT, "one", 3);
    ck_assert_int_eq(wait_one(et, &ev, 5000), 1);
    ck_assert_uint_eq(ev.events, EPOLLIN);
    ck_assert_int_eq(wait_one(et, &ev, 0), 0);
    ck_assert_int_eq(wait_one(lt, &ev, 0), 1);
    ck_assert_int_eq(wait_one(lt, &ev, 0), 1);
    hp_udp_in(sf_wire, 5353, PORT, "two", 3);
    ck_assert_int_eq(wait_one(et, &ev, 5000), 1);
    ck_assert_int_eq(wait_one(et, &ev, 0), 0);
    char buf[16];
    ck_assert_int_eq(recv(s, buf, sizeof(buf), 0), 3);
    ck_assert_int_eq(recv(s, buf, sizeof(buf), 0), 3);
    ck_assert_mem_eq(buf, "two", 3);
    ck_assert_int_eq(wait_one(lt, &ev, 0), 0);
}
END_TEST

/* EPOLLONESHOT: one report, then nothing until EPOLL_CTL_MOD arms it again. */
START_TEST(oneshot)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0);
    ck_assert_int_eq(add(ep, s, EPOLLIN | EPOLLONESHOT), 0);
    hp_udp_in(sf_wire, 5353, PORT, "one", 3);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
    char buf[16];
    ck_assert_int_eq(recv(s, buf, sizeof(buf), 0), 3);
    hp_udp_in(sf_wire, 5353, PORT, "two", 3);
    ck_assert(sf_readable(s));
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0); /* disarmed, though readable */
    struct epoll_event again = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 9 };
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_MOD, s, &again), 0);
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_eq(ev.data.u64, 9);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
}
END_TEST

/* A netcore socket and a pipe in one set: each reported for what happened to it. */
START_TEST(mixed_with_kernel_fd)
{
    int s = sf_udp_bound(PORT), ep = epoll_create1(0), p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(add(ep, s, EPOLLIN), 0);
    ck_assert_int_eq(add(ep, p[0], EPOLLIN), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    struct epoll_event evs[4];
    ck_assert_int_eq(epoll_wait(ep, evs, 4, 5000), 1);
    ck_assert_uint_eq(evs[0].data.u64, 0x1234500000000000ULL | (unsigned)p[0]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    hp_udp_in(sf_wire, 5353, PORT, "x", 1);
    ck_assert_int_eq(epoll_wait(ep, evs, 4, 5000), 1);
    ck_assert_uint_eq(evs[0].data.u64, 0x1234500000000000ULL | (unsigned)s);
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    ck_assert_int_eq(epoll_wait(ep, evs, 4, 5000), 2);
}
END_TEST

/* A TCP socket through the shim connecting to the hand-played peer (198.18.0.1:80), in ep
 * for everything: nothing to report until the peer's SYN-ACK, then EPOLLOUT alone. Returns
 * the socket, in ep from then on for EPOLLIN and EPOLLRDHUP (a writable socket would be
 * reported at once by every wait); *h is the peer for hp_send. */
static int tcp_connected(struct hp *h, int ep)
{
    memset(h, 0, sizeof(*h));
    h->wire = sf_wire;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(add(ep, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.1", &a.sin_addr);
    ck_assert_int_eq(sf_errno(connect(s, (struct sockaddr *)&a, sizeof(a))), EINPROGRESS);
    struct hp_seg syn;
    ck_assert(hp_wait_seg(h, &syn, 5000));
    ck_assert_uint_eq(syn.flags & (HP_SYN | HP_ACK), HP_SYN);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
    h->iss = syn.seq;
    static const uint8_t mss[4] = { 2, 4, HP_MSS >> 8, HP_MSS & 0xff };
    hp_send(h, HP_ISS, h->iss + 1, HP_SYN | HP_ACK, 65535, mss, sizeof(mss), 0);
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_eq(ev.events, EPOLLOUT);
    ev.events = EPOLLIN | EPOLLRDHUP;
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), 0);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
    return s;
}

/* Data from the peer is EPOLLIN until read; its FIN is EPOLLRDHUP, and EOF. */
START_TEST(tcp_data_then_fin)
{
    struct hp h;
    int ep = epoll_create1(0), s = tcp_connected(&h, ep);
    hp_send(&h, HP_ISS + 1, h.iss + 1, HP_ACK, 65535, NULL, 0, 5);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_eq(ev.events, EPOLLIN);
    char buf[16];
    ck_assert_int_eq(recv(s, buf, sizeof(buf), 0), 5);
    ck_assert_int_eq(wait_one(ep, &ev, 0), 0);
    hp_send(&h, HP_ISS + 6, h.iss + 1, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_eq(ev.events, EPOLLIN | EPOLLRDHUP);
    ck_assert_int_eq(recv(s, buf, sizeof(buf), 0), 0);
}
END_TEST

/* A reset: EPOLLERR and EPOLLHUP, and SO_ERROR says ECONNRESET once. */
START_TEST(tcp_reset)
{
    struct hp h;
    int ep = epoll_create1(0), s = tcp_connected(&h, ep);
    hp_send(&h, HP_ISS + 1, h.iss + 1, HP_RST | HP_ACK, 0, NULL, 0, 0);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_eq(ev.events & (EPOLLERR | EPOLLHUP), EPOLLERR | EPOLLHUP);
    int err = -1;
    socklen_t len = sizeof(err);
    ck_assert_int_eq(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, ECONNRESET);
    ck_assert_int_eq(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
}
END_TEST

/* A refused connect: the SYN answered by a reset is EPOLLERR, SO_ERROR ECONNREFUSED. */
START_TEST(tcp_refused)
{
    struct hp h = { .wire = sf_wire };
    int ep = epoll_create1(0), s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(add(ep, s, EPOLLOUT), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.1", &a.sin_addr);
    ck_assert_int_eq(sf_errno(connect(s, (struct sockaddr *)&a, sizeof(a))), EINPROGRESS);
    struct hp_seg syn;
    ck_assert(hp_wait_seg(&h, &syn, 5000));
    hp_send(&h, 0, syn.seq + 1, HP_RST | HP_ACK, 0, NULL, 0, 0);
    struct epoll_event ev;
    ck_assert_int_eq(wait_one(ep, &ev, 5000), 1);
    ck_assert_uint_ne(ev.events & EPOLLERR, 0);
    int err = -1;
    socklen_t len = sizeof(err);
    ck_assert_int_eq(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, ECONNREFUSED);
}
END_TEST

static Suite *shim_epoll_suite(void)
{
    Suite *su = suite_create("shim_epoll");
    TCase *te = tcase_create("errno");
    tcase_add_checked_fixture(te, sf_setup, NULL);
    tcase_add_test(te, ctl_add_twice_eexist);
    tcase_add_test(te, ctl_mod_del_unregistered_enoent);
    tcase_add_test(te, ctl_bad_set_or_op);
    tcase_add_test(te, ctl_bad_event);
    tcase_add_test(te, wait_and_create_errors);
    tcase_add_test(te, close_leaves_set);
    suite_add_tcase(su, te);
    TCase *tr = tcase_create("readiness");
    tcase_add_checked_fixture(tr, sf_setup, NULL);
    tcase_add_test(tr, level_readiness);
    tcase_add_test(tr, edge_triggered);
    tcase_add_test(tr, oneshot);
    tcase_add_test(tr, mixed_with_kernel_fd);
    suite_add_tcase(su, tr);
    TCase *tt = tcase_create("tcp");
    tcase_add_checked_fixture(tt, sf_setup, NULL);
    tcase_add_test(tt, tcp_data_then_fin);
    tcase_add_test(tt, tcp_reset);
    tcase_add_test(tt, tcp_refused);
    suite_add_tcase(su, tt);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(shim_epoll_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
