/*
 * conform: what the cases share. Recording outcomes (CALL, NEED, note...), addresses, and
 * the standard situations a case starts from: a connected socket, a listener with a
 * connection waiting, a connect in progress, data waiting. Everything goes through the
 * column's ops; peers are kernel sockets (conform_kernel) in both columns.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

void track(struct cx *c, int fd)
{
    if (c->nfds < CX_MAX_FDS)
        c->fds[c->nfds++] = fd;
}

void track_peer(struct cx *c, int fd)
{
    if (c->nkfds < CX_MAX_FDS)
        c->kfds[c->nkfds++] = fd;
}

int drop(struct cx *c, int fd)
{
    for (int i = 0; i < c->nfds; i++) {
        if (c->fds[i] == fd) {
            c->fds[i] = c->fds[--c->nfds];
            break;
        }
    }
    return c->o->close(fd);
}

void outf(struct cx *c, const char *fmt, ...)
{
    size_t used = strlen(c->r.out);
    if (used + 1 >= sizeof(c->r.out))
        return;
    if (used > 0)
        c->r.out[used++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->r.out + used, sizeof(c->r.out) - used, fmt, ap);
    va_end(ap);
}

const char *err_name(int e)
{
    const char *n = strerrorname_np(e);
    return n != NULL ? n : "E?";
}

void broken(struct cx *c, const char *what)
{
    int e = errno;
    c->r.broken = true;
    outf(c, "SETUP %s: %s", what, e != 0 ? err_name(e) : "unexpected result");
}

void note(struct cx *c, const char *label, long ret)
{
    int e = errno;
    if (ret < 0)
        outf(c, "%s=%ld/%s", label, ret, err_name(e));
    else
        outf(c, "%s=%ld", label, ret);
}

static void port_name(const struct cx *c, uint16_t p, char *buf, size_t len)
{
    if (p == 0)
        snprintf(buf, len, "0");
    else if (p >= c->port && p <= c->port + 2)
        snprintf(buf, len, p == c->port ? "P" : "P+%d", p - c->port);
    else
        snprintf(buf, len, "eph");
}

void note_addr(struct cx *c, const char *label, const struct sockaddr_in *a, socklen_t len,
               bool remote)
{
    /* The kernel's own address is its SELF and both columns' PEER: the caller says which
     * side of a connection the address names. */
    in_addr_t first = remote ? conform_env.peer.s_addr : c->o->self.s_addr;
    char host[INET_ADDRSTRLEN], port[8], fam[16] = "";
    if (a->sin_family != AF_INET)
        snprintf(fam, sizeof(fam), "fam%d:", a->sin_family);
    if (a->sin_addr.s_addr == first)
        snprintf(host, sizeof(host), remote ? "PEER" : "SELF");
    else if (a->sin_addr.s_addr == c->o->self.s_addr)
        snprintf(host, sizeof(host), "SELF");
    else if (a->sin_addr.s_addr == conform_env.peer.s_addr)
        snprintf(host, sizeof(host), "PEER");
    else if (a->sin_addr.s_addr == htonl(INADDR_ANY))
        snprintf(host, sizeof(host), "ANY");
    else
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port_name(c, ntohs(a->sin_port), port, sizeof(port));
    outf(c, "%s=%s%s:%s/%u", label, fam, host, port, (unsigned)len);
}

struct sockaddr_in sin_of(struct in_addr a, uint16_t port)
{
    struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = a };
    return s;
}

struct sockaddr_in sin_any(uint16_t port)
{
    struct in_addr any = { htonl(INADDR_ANY) };
    return sin_of(any, port);
}

struct sockaddr_in sin_self(const struct cx *c, uint16_t port)
{
    return sin_of(c->o->self, port);
}

struct sockaddr_in sin_peer(uint16_t port)
{
    return sin_of(conform_env.peer, port);
}

int sock(struct cx *c, int type)
{
    int fd = c->o->socket(AF_INET, type, 0);
    if (fd >= 0)
        track(c, fd);
    return fd;
}

int peer_listener(struct cx *c)
{
    if (c->listener >= 0)
        return c->listener;
    const struct ops *k = &conform_kernel;
    int l = k->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        return -1;
    track_peer(c, l);
    int one = 1;
    struct timeval tv = { 3, 0 }; /* a lost connection fails the case, not the run */
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    if (k->setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        k->setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        k->bind(l, SA(a), sizeof(a)) < 0 || k->listen(l, 16) < 0)
        return -1;
    c->listener = l;
    return l;
}

int connected(struct cx *c, int *peer)
{
    int l = peer_listener(c);
    int s = sock(c, SOCK_STREAM);
    if (l < 0 || s < 0)
        return -1;
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    if (c->o->connect(s, SA(a), sizeof(a)) < 0)
        return -1;
    int p = conform_kernel.accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (p < 0)
        return -1;
    track_peer(c, p);
    *peer = p;
    return s;
}

int udp_connected(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    if (s < 0)
        return -1;
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    return c->o->connect(s, SA(a), sizeof(a)) < 0 ? -1 : s;
}

int listening(struct cx *c, int *peer)
{
    const struct ops *o = c->o, *k = &conform_kernel;
    int l = sock(c, SOCK_STREAM);
    if (l < 0)
        return -1;
    int one = 1;
    struct timeval tv = { 3, 0 };
    struct sockaddr_in any = sin_any(c->port), self = sin_self(c, c->port);
    if (o->setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        o->setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        o->bind(l, SA(any), sizeof(any)) < 0 || o->listen(l, 8) < 0)
        return -1;
    int p = k->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p < 0)
        return -1;
    track_peer(c, p);
    if (k->connect(p, SA(self), sizeof(self)) < 0)
        return -1;
    /* The handshake is done on the peer's side; wait until the listener has it too. */
    if (!(wait_for(c, l, POLLIN, 3000) & POLLIN))
        return -1;
    *peer = p;
    return l;
}

int accepted(struct cx *c, int *peer)
{
    int l = listening(c, peer);
    int s = l < 0 ? -1 : c->o->accept4(l, NULL, NULL, 0);
    if (s >= 0)
        track(c, s);
    return s;
}

int wait_for(struct cx *c, int fd, short events, int ms)
{
    struct pollfd f = { .fd = fd, .events = events };
    int n = c->o->poll(&f, 1, ms);
    return n > 0 ? f.revents : n;
}

bool took_sigpipe(void)
{
    sigset_t pending, pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (sigpending(&pending) != 0 || !sigismember(&pending, SIGPIPE))
        return false;
    struct timespec zero = { 0, 0 };
    return sigtimedwait(&pipe, NULL, &zero) == SIGPIPE;
}

struct sockaddr_in with_family(struct sockaddr_in a, int family)
{
    a.sin_family = (sa_family_t)family;
    return a;
}

/* A TCP socket whose connect to an address nobody answers is still in progress. */
int connecting(struct cx *c)
{
    int s = sock(c, SOCK_STREAM | SOCK_NONBLOCK);
    struct sockaddr_in a = sin_of(conform_env.unused, c->port);
    if (s < 0 || c->o->connect(s, SA(a), sizeof(a)) == 0 || errno != EINPROGRESS)
        return -1;
    return s;
}

/* The peer resets the connection (SO_LINGER 0, close); waits until s has seen it. */
bool peer_reset(struct cx *c, int s, int p)
{
    struct linger l = { 1, 0 };
    if (conform_kernel.setsockopt(p, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0)
        return false;
    for (int i = 0; i < c->nkfds; i++)
        if (c->kfds[i] == p)
            c->kfds[i] = c->kfds[--c->nkfds];
    conform_kernel.close(p);
    return (wait_for(c, s, POLLIN, WAIT_MS) & (POLLERR | POLLHUP)) != 0;
}

/* A kernel UDP socket on peer:port+1. */
int udp_peer(struct cx *c)
{
    int p = conform_kernel.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (p < 0)
        return -1;
    track_peer(c, p);
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    return conform_kernel.bind(p, SA(a), sizeof(a)) == 0 ? p : -1;
}

/* A UDP socket of the column on ANY:port that has received each of msgs from the peer. */
int udp_with(struct cx *c, const char *const *msgs, int n)
{
    int s = sock(c, SOCK_DGRAM), p = udp_peer(c);
    struct sockaddr_in any = sin_any(c->port), to = sin_self(c, c->port);
    if (s < 0 || p < 0 || c->o->bind(s, SA(any), sizeof(any)) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (conform_kernel.sendto(p, msgs[i], strlen(msgs[i]), 0, SA(to), sizeof(to)) < 0)
            return -1;
    if (!(wait_for(c, s, POLLIN, WAIT_MS) & POLLIN) || !fence(c))
        return -1;
    return s;
}

bool fence(struct cx *c)
{
    int r = c->o->socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int k = conform_kernel.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = sin_self(c, (uint16_t)(c->port + 3));
    bool ok = r >= 0 && k >= 0 && c->o->bind(r, SA(to), sizeof(to)) == 0 &&
              conform_kernel.sendto(k, "fence", 5, 0, SA(to), sizeof(to)) == 5 &&
              (wait_for(c, r, POLLIN, WAIT_MS) & POLLIN) != 0;
    if (r >= 0)
        c->o->close(r);
    if (k >= 0)
        conform_kernel.close(k);
    return ok;
}

void note_data(struct cx *c, const char *buf, long n)
{
    if (n > 0)
        outf(c, "data=%.*s", (int)n, buf);
}

/* A connected socket with "hello" from the peer waiting in it. */
int with_hello(struct cx *c)
{
    int p, s = connected(c, &p);
    if (s < 0 || conform_kernel.send(p, "hello", 5, 0) != 5)
        return -1;
    return (wait_for(c, s, POLLIN, WAIT_MS) & POLLIN) ? s : -1;
}

void note_name(struct cx *c, int s)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    memset(&a, 0, sizeof(a));
    if (c->o->getsockname(s, SA(a), &l) == 0)
        note_addr(c, "name", &a, l, false);
    else
        note(c, "name", -1);
}

void note_peer(struct cx *c, int s)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    memset(&a, 0, sizeof(a));
    if (c->o->getpeername(s, SA(a), &l) == 0)
        note_addr(c, "peer", &a, l, true);
    else
        note(c, "peer", -1);
}

void note_so_error(struct cx *c, int s)
{
    int e = -1;
    socklen_t l = sizeof(e);
    if (c->o->getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l) == 0)
        outf(c, "so_error=%d", e);
    else
        note(c, "so_error", -1);
}
