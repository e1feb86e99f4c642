/*
 * conform cases: the other ways in and out. sendmsg/recvmsg and their msghdr out-fields,
 * read/write/readv/writev (which differ from send/recv at length 0), the error queue,
 * timeouts, how close ends a connection, and a privileged port without the capability.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conform.h"

static void note_msg(struct cx *c, const struct msghdr *m)
{
    outf(c, "namelen=%u flags=%#x controllen=%zu", (unsigned)m->msg_namelen, m->msg_flags,
         (size_t)m->msg_controllen);
}

/* recvmsg into a buffer of len bytes, with room for an address of namelen bytes. */
static void recvmsg_into(struct cx *c, int s, size_t len, socklen_t namelen, int flags)
{
    char buf[16] = "", ctl[64];
    struct sockaddr_in from;
    memset(&from, 0, sizeof(from));
    struct iovec v = { buf, len };
    struct msghdr m = { .msg_name = &from, .msg_namelen = namelen, .msg_iov = &v,
                        .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl),
                        .msg_flags = -1 };
    CALL(c, c->o->recvmsg(s, &m, flags));
    note_msg(c, &m);
    if (c->r.ret >= 0 && m.msg_namelen >= sizeof(from) && namelen >= sizeof(from))
        note_addr(c, "from", &from, m.msg_namelen, true);
    note_data(c, buf, c->r.ret < (long)len ? c->r.ret : (long)len);
}

static void recvmsg_tcp(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    recvmsg_into(c, s, 16, sizeof(struct sockaddr_in), 0);
}

static void recvmsg_udp(struct cx *c, size_t len, socklen_t namelen, int flags)
{
    static const char *const msgs[] = { "0123456789" };
    int s = udp_with(c, msgs, 1);
    NEED(c, s >= 0, "datagram");
    recvmsg_into(c, s, len, namelen, flags);
}

static void recvmsg_udp_whole(struct cx *c) { recvmsg_udp(c, 16, sizeof(struct sockaddr_in), 0); }
static void recvmsg_udp_trunc(struct cx *c) { recvmsg_udp(c, 4, sizeof(struct sockaddr_in), 0); }
static void recvmsg_udp_trunc_flag(struct cx *c)
{
    recvmsg_udp(c, 4, sizeof(struct sockaddr_in), MSG_TRUNC);
}
static void recvmsg_udp_short_name(struct cx *c) { recvmsg_udp(c, 16, 4, 0); }
static void recvmsg_udp_empty_iov(struct cx *c) { recvmsg_udp(c, 0, sizeof(struct sockaddr_in), 0); }

static void sendmsg_udp(struct cx *c, socklen_t namelen, size_t iovlen)
{
    static struct iovec many[1100];
    int s = sock(c, SOCK_DGRAM), p = udp_peer(c);
    NEED(c, s >= 0 && p >= 0, "socket");
    struct sockaddr_in to = sin_peer((uint16_t)(c->port + 1));
    for (size_t i = 0; i < iovlen; i++)
        many[i] = (struct iovec){ (void *)"ab", 2 };
    struct msghdr m = { .msg_name = &to, .msg_namelen = namelen, .msg_iov = many,
                        .msg_iovlen = iovlen };
    CALL(c, c->o->sendmsg(s, &m, 0));
}

static void sendmsg_udp_name(struct cx *c) { sendmsg_udp(c, sizeof(struct sockaddr_in), 2); }
static void sendmsg_udp_short_name(struct cx *c) { sendmsg_udp(c, 8, 2); }
static void sendmsg_iov_max(struct cx *c) { sendmsg_udp(c, sizeof(struct sockaddr_in), 1024); }
static void sendmsg_iov_too_many(struct cx *c)
{
    sendmsg_udp(c, sizeof(struct sockaddr_in), 1025);
}

static void recvmsg_iov_too_many(struct cx *c)
{
    static struct iovec many[1025];
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    char b[4];
    for (size_t i = 0; i < 1025; i++)
        many[i] = (struct iovec){ b, 1 };
    struct msghdr m = { .msg_iov = many, .msg_iovlen = 1025 };
    CALL(c, c->o->recvmsg(s, &m, MSG_DONTWAIT));
}

static void readv_too_many(struct cx *c)
{
    static struct iovec many[1025];
    int s = udp_connected(c);
    NEED(c, s >= 0, "connect");
    char b[4];
    for (size_t i = 0; i < 1025; i++)
        many[i] = (struct iovec){ b, 1 };
    CALL(c, c->o->readv(s, many, 1025));
}

static void sendmsg_null(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->sendmsg(s, NULL, 0));
}

static void sendmsg_tcp_unconnected(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct iovec v = { (void *)"ab", 2 };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
    CALL(c, c->o->sendmsg(s, &m, MSG_NOSIGNAL));
}

/* sendmmsg and recvmmsg */

static void mmsg_send(struct cx *c, unsigned int vlen)
{
    int s = udp_connected(c), p = udp_peer(c);
    NEED(c, s >= 0 && p >= 0, "connect");
    struct iovec v = { (void *)"ab", 2 };
    struct mmsghdr m[2] = { { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } },
                            { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } } };
    CALL(c, c->o->sendmmsg(s, m, vlen, 0));
    outf(c, "len=%u,%u", m[0].msg_len, m[1].msg_len);
}

static void sendmmsg_two(struct cx *c) { mmsg_send(c, 2); }
static void sendmmsg_none(struct cx *c) { mmsg_send(c, 0); }

static void sendmmsg_unconnected(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    struct iovec v = { (void *)"ab", 2 };
    struct mmsghdr m = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
    CALL(c, c->o->sendmmsg(s, &m, 1, 0));
}

static void mmsg_recv(struct cx *c, int n, int flags)
{
    static const char *const msgs[] = { "one", "two" };
    int s = n > 0 ? udp_with(c, msgs, n) : sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "datagrams");
    char b[3][8];
    struct iovec v[3] = { { b[0], 8 }, { b[1], 8 }, { b[2], 8 } };
    struct mmsghdr m[3];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < 3; i++) {
        m[i].msg_hdr.msg_iov = &v[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    CALL(c, c->o->recvmmsg(s, m, 3, flags, NULL));
    for (long i = 0; i < c->r.ret; i++)
        outf(c, "len=%u", m[i].msg_len);
}

static void recvmmsg_two(struct cx *c) { mmsg_recv(c, 2, MSG_DONTWAIT); }
static void recvmmsg_waitforone(struct cx *c) { mmsg_recv(c, 2, MSG_WAITFORONE); }
static void recvmmsg_empty(struct cx *c) { mmsg_recv(c, 0, MSG_DONTWAIT); }

/* sendto with MSG_FASTOPEN on an unconnected socket connects and sends in one call. */
static void fastopen(struct cx *c, bool nonblock)
{
    int l = peer_listener(c), s = sock(c, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0));
    NEED(c, l >= 0 && s >= 0, "socket");
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    CALL(c, c->o->sendto(s, "tfo", 3, MSG_FASTOPEN, SA(a), sizeof(a)));
    if (nonblock)
        outf(c, "revents=%#x", wait_for(c, s, POLLOUT, WAIT_MS));
    int p = conform_kernel.accept4(l, NULL, NULL, SOCK_CLOEXEC);
    NEED(c, p >= 0, "accept");
    track_peer(c, p);
    char b[8];
    struct pollfd f = { .fd = p, .events = POLLIN };
    conform_kernel.poll(&f, 1, nonblock ? 200 : WAIT_MS);
    long n = conform_kernel.recv(p, b, sizeof(b), MSG_DONTWAIT);
    note(c, "peer_recv", n);
    note_data(c, b, n);
}

static void fastopen_blocking(struct cx *c) { fastopen(c, false); }
static void fastopen_nonblocking(struct cx *c) { fastopen(c, true); }

/* read and write: length 0 returns 0 at once, whatever the socket's state */

static void read_len0(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    char b;
    /* Were it to wait like recv, the socket is non-blocking: EAGAIN, not a hang. */
    NEED(c, c->o->fcntl(s, F_SETFL, O_NONBLOCK) == 0, "F_SETFL");
    CALL(c, c->o->read(s, &b, 0));
}

static void write_len0(struct cx *c, bool shut)
{
    int p, s = shut ? connected(c, &p) : sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    NEED(c, !shut || c->o->shutdown(s, SHUT_WR) == 0, "shutdown");
    CALL(c, c->o->write(s, "", 0));
    outf(c, "sigpipe=%d", took_sigpipe());
}

static void write_len0_fresh(struct cx *c) { write_len0(c, false); }
static void write_len0_shut(struct cx *c) { write_len0(c, true); }

static void writev_count(struct cx *c, int n, bool conn)
{
    int p, s = conn ? connected(c, &p) : sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "connect");
    struct iovec v[2] = { { (void *)"ab", 2 }, { (void *)"cd", 2 } };
    CALL(c, c->o->writev(s, v, n));
    outf(c, "sigpipe=%d", took_sigpipe());
}

static void writev_none(struct cx *c) { writev_count(c, 0, true); }
static void writev_none_fresh(struct cx *c) { writev_count(c, 0, false); }
static void writev_negative(struct cx *c) { writev_count(c, -1, true); }
static void writev_two(struct cx *c) { writev_count(c, 2, true); }

static void readv_none(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    char b[4];
    struct iovec v = { b, 0 };
    CALL(c, c->o->readv(s, &v, 1));
}

static void readv_two(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    char a[3] = "", b[8] = "";
    struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
    CALL(c, c->o->readv(s, v, 2));
    note_data(c, a, 3);
    note_data(c, b, c->r.ret - 3);
}

/* the error queue: netcore never has anything in it */

static void errqueue(struct cx *c)
{
    int s = with_hello(c);
    NEED(c, s >= 0, "data");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_ERRQUEUE));
    note(c, "recv", c->o->recv(s, b, sizeof(b), 0));
}

/* timeouts */

static void rcvtimeo_expires(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct timeval tv = { 0, 100000 };
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "set");
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), 0));
}

static void sndtimeo_connect(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct timeval tv = { 0, 200000 };
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0, "set");
    /* Not the address other cases connect to: the kernel's request for it, pending since
     * one of them, could fail (EHOSTUNREACH, 3 s after it began) between our two calls. */
    struct sockaddr_in a = sin_of(conform_env.unused2, c->port);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
    note(c, "again", c->o->connect(s, SA(a), sizeof(a)));
}

/* how close ends a connection, as the peer sees it */

static void close_seen(struct cx *c, bool linger0, bool unread)
{
    int p, s = unread ? with_hello(c) : connected(c, &p);
    NEED(c, s >= 0, "connect");
    if (unread)
        p = c->kfds[c->nkfds - 1]; /* with_hello's peer, the last one tracked */
    struct linger l = { 1, 0 };
    NEED(c, !linger0 || c->o->setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == 0,
         "SO_LINGER");
    CALL(c, drop(c, s));
    struct pollfd f = { .fd = p, .events = POLLIN };
    conform_kernel.poll(&f, 1, WAIT_MS);
    char b[8];
    note(c, "peer_recv", conform_kernel.recv(p, b, sizeof(b), 0));
}

static void close_graceful(struct cx *c) { close_seen(c, false, false); }
static void close_linger0(struct cx *c) { close_seen(c, true, false); }
static void close_unread(struct cx *c) { close_seen(c, false, true); }

/* A connection reset while it waits in the accept queue is still handed out. */
static void accept_reset(struct cx *c)
{
    int p, l = listening(c, &p);
    NEED(c, l >= 0, "listen");
    struct linger lg = { 1, 0 };
    NEED(c, conform_kernel.setsockopt(p, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0, "linger");
    for (int i = 0; i < c->nkfds; i++)
        if (c->kfds[i] == p)
            c->kfds[i] = c->kfds[--c->nkfds];
    conform_kernel.close(p);
    NEED(c, fence(c), "the reset arrives");
    CALL_FD(c, c->o->accept(l, NULL, NULL));
    if (c->r.ret >= 0) {
        char b[8];
        note(c, "recv", c->o->recv((int)c->r.ret, b, sizeof(b), 0));
    }
}

/* A port below 1024 needs CAP_NET_BIND_SERVICE: drop it for the call, then take it back. */
static bool bind_service(bool on)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return false;
    if (on)
        d[0].effective |= 1u << CAP_NET_BIND_SERVICE;
    else
        d[0].effective &= ~(1u << CAP_NET_BIND_SERVICE);
    return syscall(SYS_capset, &h, d) == 0;
}

static void bind_privileged(struct cx *c, bool cap)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    NEED(c, cap || bind_service(false), "capset");
    struct sockaddr_in a = sin_self(c, 80);
    CALL(c, c->o->bind(s, SA(a), sizeof(a)));
    NEED(c, bind_service(true), "capset back");
}

static void bind_privileged_nocap(struct cx *c) { bind_privileged(c, false); }
static void bind_privileged_cap(struct cx *c) { bind_privileged(c, true); }

const struct conform_case conform_msg_cases[] = {
    { "recvmsg: TCP", recvmsg_tcp, NULL },
    { "recvmsg: UDP", recvmsg_udp_whole, NULL },
    { "recvmsg: UDP truncated", recvmsg_udp_trunc, NULL },
    { "recvmsg: UDP truncated, MSG_TRUNC", recvmsg_udp_trunc_flag, NULL },
    { "recvmsg: UDP name length 4", recvmsg_udp_short_name, NULL },
    { "recvmsg: UDP no buffer", recvmsg_udp_empty_iov, NULL },
    { "sendmsg: UDP with a name", sendmsg_udp_name, NULL },
    { "sendmsg: UDP name length 8", sendmsg_udp_short_name, NULL },
    { "sendmsg: 1024 iovecs", sendmsg_iov_max, NULL },
    { "sendmsg: 1025 iovecs", sendmsg_iov_too_many, NULL },
    { "recvmsg: 1025 iovecs", recvmsg_iov_too_many, NULL },
    { "readv: 1025 iovecs", readv_too_many, NULL },
    { "sendmsg: NULL msghdr", sendmsg_null, NULL },
    { "sendmsg: TCP unconnected", sendmsg_tcp_unconnected, NULL },
    { "sendmmsg: two messages", sendmmsg_two, NULL },
    { "sendmmsg: none", sendmmsg_none, NULL },
    { "sendmmsg: UDP unconnected", sendmmsg_unconnected, NULL },
    { "recvmmsg: two there, MSG_DONTWAIT", recvmmsg_two, NULL },
    { "recvmmsg: two there, MSG_WAITFORONE", recvmmsg_waitforone, NULL },
    { "recvmmsg: none there, MSG_DONTWAIT", recvmmsg_empty, NULL },
    { "sendto: MSG_FASTOPEN, blocking", fastopen_blocking, NULL },
    { "sendto: MSG_FASTOPEN, non-blocking", fastopen_nonblocking, NULL },
    { "read: length 0, nothing there", read_len0, NULL },
    { "write: length 0, unconnected TCP", write_len0_fresh, NULL },
    { "write: length 0, after SHUT_WR", write_len0_shut, NULL },
    { "writev: no iovecs", writev_none, NULL },
    { "writev: no iovecs, unconnected TCP", writev_none_fresh, NULL },
    { "readv: nothing, unconnected TCP", readv_none, NULL },
    { "writev: -1 iovecs", writev_negative, NULL },
    { "writev: two iovecs", writev_two, NULL },
    { "readv: two iovecs", readv_two, NULL },
    { "recv: MSG_ERRQUEUE, data there", errqueue, NULL },
    { "SO_RCVTIMEO: recv waits, then EAGAIN", rcvtimeo_expires, NULL },
    { "SO_SNDTIMEO: connect waits, then EINPROGRESS", sndtimeo_connect, NULL },
    { "close: the peer sees EOF", close_graceful, NULL },
    { "close: SO_LINGER 0, the peer sees a reset", close_linger0, NULL },
    { "close: unread data, the peer sees a reset", close_unread, NULL },
    { "accept: connection reset while queued", accept_reset, NULL },
    { "bind: port 80 without CAP_NET_BIND_SERVICE", bind_privileged_nocap, NULL },
    { "bind: port 80 with CAP_NET_BIND_SERVICE", bind_privileged_cap, NULL },
    { NULL, NULL, NULL },
};
