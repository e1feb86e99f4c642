/*
 * conform cases: socket() arguments, the fd flags a socket shows through fcntl, and every
 * socket call on an fd that is not a socket of the stack (EBADF, ENOTSOCK).
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conform.h"

/* socket() */

#define SOCKET_CASE(fn, type, proto)                                                      \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        CALL_FD(c, c->o->socket(AF_INET, type, proto));                                   \
    }

SOCKET_CASE(socket_tcp, SOCK_STREAM, 0)
SOCKET_CASE(socket_tcp_proto, SOCK_STREAM, IPPROTO_TCP)
SOCKET_CASE(socket_udp_proto, SOCK_DGRAM, IPPROTO_UDP)
SOCKET_CASE(socket_flag_bit, SOCK_STREAM | 0x40, 0)
SOCKET_CASE(socket_type_big, 15, 0)
SOCKET_CASE(socket_seqpacket, SOCK_SEQPACKET, 0)
SOCKET_CASE(socket_tcp_udp, SOCK_STREAM, IPPROTO_UDP)
SOCKET_CASE(socket_udp_tcp, SOCK_DGRAM, IPPROTO_TCP)
SOCKET_CASE(socket_proto_neg, SOCK_STREAM, -1)
SOCKET_CASE(socket_proto_big, SOCK_DGRAM, 300)
SOCKET_CASE(socket_udp_icmp, SOCK_DGRAM, IPPROTO_ICMP)
SOCKET_CASE(socket_tcp_sctp, SOCK_STREAM, IPPROTO_SCTP)

/* fd flags */

static void note_flags(struct cx *c, int fd)
{
    outf(c, "fl=%#x fd=%#x", c->o->fcntl(fd, F_GETFL, 0), c->o->fcntl(fd, F_GETFD, 0));
}

#define FLAGS_CASE(fn, type)                                                              \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        CALL_FD(c, c->o->socket(AF_INET, type, 0));                                       \
        if (c->r.ret >= 0)                                                                \
            note_flags(c, (int)c->r.ret);                                                 \
    }

FLAGS_CASE(flags_default, SOCK_STREAM)
FLAGS_CASE(flags_nonblock, SOCK_STREAM | SOCK_NONBLOCK)
FLAGS_CASE(flags_cloexec, SOCK_STREAM | SOCK_CLOEXEC)
FLAGS_CASE(flags_udp_both, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC)

static void setfl_nonblock(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->fcntl(s, F_SETFL, O_NONBLOCK));
    note_flags(c, s);
}

static void setfl_clear(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM | SOCK_NONBLOCK);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->fcntl(s, F_SETFL, 0));
    note_flags(c, s);
    char b;
    /* Blocking again: a receive with MSG_DONTWAIT still must not wait. */
    note(c, "recv", c->o->recv(s, &b, 1, MSG_DONTWAIT));
}

static void fionbio(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    int on = 1;
    CALL(c, c->o->ioctl(s, FIONBIO, &on));
    note_flags(c, s);
}

static void setfd_cloexec(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->fcntl(s, F_SETFD, FD_CLOEXEC));
    note_flags(c, s);
}

static void nonblock_connect_flag(struct cx *c)
{
    /* O_NONBLOCK set by fcntl makes connect non-blocking, as SOCK_NONBLOCK does. */
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    NEED(c, c->o->fcntl(s, F_SETFL, O_NONBLOCK) == 0, "F_SETFL");
    struct sockaddr_in a = sin_of(conform_env.unused, c->port);
    CALL(c, c->o->connect(s, SA(a), sizeof(a)));
}

static void dup_keeps(struct cx *c)
{
    int s = c->o->socket(AF_INET, SOCK_DGRAM, 0);
    NEED(c, s >= 0, "socket");
    int d = c->o->dup(s);
    NEED(c, d >= 0, "dup");
    track(c, d);
    NEED(c, c->o->close(s) == 0, "close");
    int v = -1;
    socklen_t l = sizeof(v);
    CALL(c, c->o->getsockopt(d, SOL_SOCKET, SO_TYPE, &v, &l));
    outf(c, "type=%d", v);
}

static void close_twice(struct cx *c)
{
    int s = c->o->socket(AF_INET, SOCK_STREAM, 0);
    NEED(c, s >= 0, "socket");
    note(c, "close1", c->o->close(s));
    CALL(c, c->o->close(s));
}

/* calls on fds that are not sockets of the stack */

enum bad { BAD_M1, BAD_CLOSED, BAD_PIPE, BAD_FILE };

/* -1, a socket of the column closed just now, a pipe, or a regular (memfd) file. */
static int bad_fd(struct cx *c, enum bad kind)
{
    int p[2], s;
    switch (kind) {
    case BAD_M1:
        return -1;
    case BAD_CLOSED:
        s = c->o->socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || c->o->close(s) != 0)
            return -2;
        return s;
    case BAD_PIPE:
        if (syscall(SYS_pipe2, p, O_CLOEXEC) != 0)
            return -2;
        track_peer(c, p[0]);
        track_peer(c, p[1]);
        return p[0];
    case BAD_FILE:
        s = (int)syscall(SYS_memfd_create, "conform", MFD_CLOEXEC);
        if (s >= 0)
            track_peer(c, s);
        return s < 0 ? -2 : s;
    }
    return -2;
}

#define BADFD_CASE(fn, kind, expr)                                                        \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        int fd = bad_fd(c, kind);                                                         \
        NEED(c, fd != -2, "bad fd");                                                      \
        struct sockaddr_in a = sin_peer((uint16_t)(c->port + 2));                         \
        socklen_t l = sizeof(a);                                                          \
        int v = 1;                                                                        \
        char b[4] = "abc";                                                                \
        (void)a, (void)l, (void)v, (void)b;                                               \
        CALL(c, expr);                                                                    \
    }

BADFD_CASE(bind_m1, BAD_M1, c->o->bind(fd, SA(a), l))
BADFD_CASE(bind_closed, BAD_CLOSED, c->o->bind(fd, SA(a), l))
BADFD_CASE(connect_file, BAD_FILE, c->o->connect(fd, SA(a), l))
BADFD_CASE(connect_closed, BAD_CLOSED, c->o->connect(fd, SA(a), l))
BADFD_CASE(listen_pipe, BAD_PIPE, c->o->listen(fd, 1))
BADFD_CASE(accept_file, BAD_FILE, c->o->accept(fd, SA(a), &l))
BADFD_CASE(accept_m1, BAD_M1, c->o->accept(fd, NULL, NULL))
BADFD_CASE(accept4_m1_flags, BAD_M1, c->o->accept4(fd, NULL, NULL, 0x1234))
BADFD_CASE(send_m1, BAD_M1, c->o->send(fd, b, 3, MSG_NOSIGNAL))
BADFD_CASE(send_pipe, BAD_PIPE, c->o->send(fd, b, 3, MSG_NOSIGNAL))
BADFD_CASE(sendto_closed, BAD_CLOSED, c->o->sendto(fd, b, 3, 0, SA(a), l))
BADFD_CASE(recv_closed, BAD_CLOSED, c->o->recv(fd, b, 3, MSG_DONTWAIT))
BADFD_CASE(recv_file, BAD_FILE, c->o->recv(fd, b, 3, MSG_DONTWAIT))
BADFD_CASE(recvfrom_m1, BAD_M1, c->o->recvfrom(fd, b, 3, 0, SA(a), &l))
BADFD_CASE(read_closed, BAD_CLOSED, c->o->read(fd, b, 3))
BADFD_CASE(shutdown_file, BAD_FILE, c->o->shutdown(fd, SHUT_RDWR))
BADFD_CASE(shutdown_m1_how, BAD_M1, c->o->shutdown(fd, 7))
BADFD_CASE(getsockopt_pipe, BAD_PIPE, c->o->getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l))
BADFD_CASE(setsockopt_closed, BAD_CLOSED,
           c->o->setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)))
BADFD_CASE(getsockname_file, BAD_FILE, c->o->getsockname(fd, SA(a), &l))
BADFD_CASE(getpeername_m1, BAD_M1, c->o->getpeername(fd, SA(a), &l))
BADFD_CASE(ioctl_fionread_closed, BAD_CLOSED, c->o->ioctl(fd, FIONREAD, &v))

const struct conform_case conform_fd_cases[] = {
    { "socket: TCP", socket_tcp, NULL },
    { "socket: TCP, IPPROTO_TCP", socket_tcp_proto, NULL },
    { "socket: UDP, IPPROTO_UDP", socket_udp_proto, NULL },
    { "socket: unknown flag bit in type", socket_flag_bit, NULL },
    { "socket: type 15", socket_type_big, NULL },
    { "socket: SOCK_SEQPACKET", socket_seqpacket, NULL },
    { "socket: TCP with IPPROTO_UDP", socket_tcp_udp, NULL },
    { "socket: UDP with IPPROTO_TCP", socket_udp_tcp, NULL },
    { "socket: protocol -1", socket_proto_neg, NULL },
    { "socket: protocol 300", socket_proto_big, NULL },
    { "socket: UDP with IPPROTO_ICMP (ping)", socket_udp_icmp, NULL },
    { "socket: TCP with IPPROTO_SCTP", socket_tcp_sctp, NULL },
    { "fcntl: flags of a plain socket", flags_default, NULL },
    { "fcntl: SOCK_NONBLOCK shows O_NONBLOCK", flags_nonblock, NULL },
    { "fcntl: SOCK_CLOEXEC shows FD_CLOEXEC", flags_cloexec, NULL },
    { "fcntl: UDP SOCK_NONBLOCK|SOCK_CLOEXEC", flags_udp_both, NULL },
    { "fcntl: F_SETFL O_NONBLOCK", setfl_nonblock, NULL },
    { "fcntl: F_SETFL 0 clears O_NONBLOCK", setfl_clear, NULL },
    { "ioctl: FIONBIO on", fionbio, NULL },
    { "fcntl: F_SETFD FD_CLOEXEC", setfd_cloexec, NULL },
    { "connect: O_NONBLOCK from fcntl", nonblock_connect_flag, NULL },
    { "dup: the copy outlives the original", dup_keeps, NULL },
    { "close: twice", close_twice, NULL },
    { "bind: fd -1", bind_m1, NULL },
    { "bind: closed fd", bind_closed, NULL },
    { "connect: regular file", connect_file, NULL },
    { "connect: closed fd", connect_closed, NULL },
    { "listen: pipe", listen_pipe, NULL },
    { "accept: regular file", accept_file, NULL },
    { "accept: fd -1", accept_m1, NULL },
    { "accept4: fd -1 and bad flags", accept4_m1_flags, NULL },
    { "send: fd -1", send_m1, NULL },
    { "send: pipe", send_pipe, NULL },
    { "sendto: closed fd", sendto_closed, NULL },
    { "recv: closed fd", recv_closed, NULL },
    { "recv: regular file", recv_file, NULL },
    { "recvfrom: fd -1", recvfrom_m1, NULL },
    { "read: closed fd", read_closed, NULL },
    { "shutdown: regular file", shutdown_file, NULL },
    { "shutdown: fd -1 and bad how", shutdown_m1_how, NULL },
    { "getsockopt: pipe", getsockopt_pipe, NULL },
    { "setsockopt: closed fd", setsockopt_closed, NULL },
    { "getsockname: regular file", getsockname_file, NULL },
    { "getpeername: fd -1", getpeername_m1, NULL },
    { "ioctl FIONREAD: closed fd", ioctl_fionread_closed, NULL },
    { NULL, NULL, NULL },
};
