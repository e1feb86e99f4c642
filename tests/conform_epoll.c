/*
 * conform cases: epoll over sockets. epoll_ctl's errors for a socket (the shim keeps its own
 * registry for netcore sockets), and what epoll_wait reports in each state, level- and
 * edge-triggered and one-shot.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conform.h"

/* A new epoll set of the column, closed after the case. */
static int epoll_set(struct cx *c)
{
    int ep = c->o->epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0)
        track(c, ep);
    return ep;
}

static int add(struct cx *c, int ep, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.u64 = 0x5eed };
    return c->o->epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The call under test is one epoll_wait; its events and data go to out. */
static void wait_events(struct cx *c, int ep, int ms)
{
    struct epoll_event ev[2];
    memset(ev, 0, sizeof(ev));
    CALL(c, c->o->epoll_wait(ep, ev, 2, ms));
    for (long i = 0; i < c->r.ret; i++)
        outf(c, "events=%#x data=%#llx", ev[i].events, (unsigned long long)ev[i].data.u64);
}

static void note_wait(struct cx *c, const char *label, int ep, int ms)
{
    struct epoll_event ev[2];
    memset(ev, 0, sizeof(ev));
    int n = c->o->epoll_wait(ep, ev, 2, ms);
    note(c, label, n);
    if (n > 0)
        outf(c, "events=%#x", ev[0].events);
}

#define ALL (EPOLLIN | EPOLLOUT | EPOLLRDHUP)

/* epoll_ctl */

static void ctl_case(struct cx *c, int op, bool added, bool null_event)
{
    int ep = epoll_set(c), s = sock(c, SOCK_STREAM);
    NEED(c, ep >= 0 && s >= 0, "socket");
    NEED(c, !added || add(c, ep, s, EPOLLIN) == 0, "add");
    struct epoll_event ev = { .events = EPOLLIN };
    CALL(c, c->o->epoll_ctl(ep, op, s, null_event ? NULL : &ev));
}

static void ctl_add_twice(struct cx *c) { ctl_case(c, EPOLL_CTL_ADD, true, false); }
static void ctl_mod_missing(struct cx *c) { ctl_case(c, EPOLL_CTL_MOD, false, false); }
static void ctl_del_missing(struct cx *c) { ctl_case(c, EPOLL_CTL_DEL, false, false); }
static void ctl_add_null(struct cx *c) { ctl_case(c, EPOLL_CTL_ADD, false, true); }
static void ctl_bad_op(struct cx *c) { ctl_case(c, 99, false, false); }
static void ctl_del_added(struct cx *c) { ctl_case(c, EPOLL_CTL_DEL, true, true); }

/* epoll_ctl on a socket with an fd that is no epoll set: -1, or a pipe. */
static void ctl_bad_set(struct cx *c, int op, bool pipe_set)
{
    int p[2], s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    int ep = -1;
    if (pipe_set) {
        NEED(c, syscall(SYS_pipe2, p, O_CLOEXEC) == 0, "pipe");
        track_peer(c, p[0]);
        track_peer(c, p[1]);
        ep = p[0];
    }
    struct epoll_event ev = { .events = EPOLLIN };
    CALL(c, c->o->epoll_ctl(ep, op, s, &ev));
}

static void ctl_add_badf(struct cx *c) { ctl_bad_set(c, EPOLL_CTL_ADD, false); }
static void ctl_del_badf(struct cx *c) { ctl_bad_set(c, EPOLL_CTL_DEL, false); }
static void ctl_add_pipe(struct cx *c) { ctl_bad_set(c, EPOLL_CTL_ADD, true); }
static void ctl_del_pipe(struct cx *c) { ctl_bad_set(c, EPOLL_CTL_DEL, true); }

/* epoll_wait in each state */

static void wait_fresh_tcp(struct cx *c)
{
    int ep = epoll_set(c), s = sock(c, SOCK_STREAM);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, ALL) == 0, "add");
    wait_events(c, ep, 0);
}

static void wait_connected(struct cx *c)
{
    int p, ep = epoll_set(c), s = connected(c, &p);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, ALL) == 0, "add");
    wait_events(c, ep, 0);
}

static void wait_listening(struct cx *c)
{
    int p, ep = epoll_set(c), l = listening(c, &p);
    NEED(c, ep >= 0 && l >= 0 && add(c, ep, l, ALL) == 0, "add");
    wait_events(c, ep, 0);
}

static void wait_refused(struct cx *c)
{
    int ep = epoll_set(c), s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, EPOLLOUT) == 0, "add");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));
    NEED(c, c->o->connect(s, SA(a), sizeof(a)) < 0 && errno == EINPROGRESS, "EINPROGRESS");
    wait_events(c, ep, WAIT_MS);
}

static void wait_peer_closed(struct cx *c)
{
    int p, ep = epoll_set(c), s = connected(c, &p);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, EPOLLIN | EPOLLRDHUP) == 0, "add");
    NEED(c, conform_kernel.shutdown(p, SHUT_WR) == 0, "peer shutdown");
    wait_events(c, ep, WAIT_MS);
}

static void wait_reset(struct cx *c)
{
    int p, ep = epoll_set(c), s = connected(c, &p);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, EPOLLIN) == 0, "add");
    NEED(c, peer_reset(c, s, p), "reset");
    /* What the set reports, not how soon: peer_reset saw the reset through poll, and
     * netcore's set learns of it a moment later, through the eventfd the netstack signals
     * after the socket's state has changed. */
    wait_events(c, ep, WAIT_MS);
}

/* Edge-triggered: data reported once; more data is a new edge. */
static void wait_edge(struct cx *c)
{
    int p, ep = epoll_set(c), s = connected(c, &p);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, EPOLLIN | EPOLLET) == 0, "add");
    NEED(c, conform_kernel.send(p, "a", 1, 0) == 1, "peer send");
    note_wait(c, "first", ep, WAIT_MS);
    note_wait(c, "again", ep, 0);
    NEED(c, conform_kernel.send(p, "b", 1, 0) == 1, "peer send");
    wait_events(c, ep, WAIT_MS);
}

/* One-shot: reported once, then nothing until EPOLL_CTL_MOD re-arms it. */
static void wait_oneshot(struct cx *c)
{
    int p, ep = epoll_set(c), s = connected(c, &p);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, EPOLLIN | EPOLLONESHOT) == 0, "add");
    NEED(c, conform_kernel.send(p, "a", 1, 0) == 1, "peer send");
    note_wait(c, "first", ep, WAIT_MS);
    note_wait(c, "again", ep, 0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 7 };
    note(c, "mod", c->o->epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev));
    wait_events(c, ep, 0);
}

/* Closing the only fd of a socket takes it out of every set. */
static void wait_after_close(struct cx *c)
{
    int ep = epoll_set(c), s = c->o->socket(AF_INET, SOCK_STREAM, 0);
    NEED(c, ep >= 0 && s >= 0 && add(c, ep, s, ALL) == 0, "add");
    NEED(c, c->o->close(s) == 0, "close");
    wait_events(c, ep, 0);
}

static void wait_bad_count(struct cx *c)
{
    int ep = epoll_set(c);
    NEED(c, ep >= 0, "epoll_create1");
    struct epoll_event ev;
    CALL(c, c->o->epoll_wait(ep, &ev, 0, 0));
}

const struct conform_case conform_epoll_cases[] = {
    { "epoll_ctl: ADD twice", ctl_add_twice, NULL },
    { "epoll_ctl: MOD, not added", ctl_mod_missing, NULL },
    { "epoll_ctl: DEL, not added", ctl_del_missing, NULL },
    { "epoll_ctl: DEL, added (NULL event)", ctl_del_added, NULL },
    { "epoll_ctl: ADD, NULL event", ctl_add_null, NULL },
    { "epoll_ctl: op 99", ctl_bad_op, NULL },
    { "epoll_ctl: ADD, set -1", ctl_add_badf, NULL },
    { "epoll_ctl: DEL, set -1", ctl_del_badf, NULL },
    { "epoll_ctl: ADD, a pipe for the set", ctl_add_pipe, NULL },
    { "epoll_ctl: DEL, a pipe for the set", ctl_del_pipe, NULL },
    { "epoll_wait: fresh TCP", wait_fresh_tcp, NULL },
    { "epoll_wait: connected", wait_connected, NULL },
    { "epoll_wait: listening, connection waiting", wait_listening, NULL },
    { "epoll_wait: refused", wait_refused, NULL },
    { "epoll_wait: peer closed", wait_peer_closed, NULL },
    { "epoll_wait: reset", wait_reset, NULL },
    { "epoll_wait: EPOLLET", wait_edge, NULL },
    { "epoll_wait: EPOLLONESHOT", wait_oneshot, NULL },
    { "epoll_wait: socket closed", wait_after_close, NULL },
    { "epoll_wait: maxevents 0", wait_bad_count, NULL },
    { NULL, NULL, NULL },
};
