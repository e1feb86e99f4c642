/* Private header of the preload shim: the libc table, the fd map, helpers. */
#ifndef NC_SHIM_H
#define NC_SHIM_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../core/shimapi.h" /* the core beyond netcore.h: the one way in */
#include "netcore.h"

/* One table of the real libc entry points, resolved once with dlsym(RTLD_NEXT). */
struct nc_libc {
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*preadv2)(int, const struct iovec *, int, off_t, int);
    ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
    ssize_t (*splice)(int, loff_t *, int, loff_t *, size_t, unsigned int);
    long (*syscall)(long, ...);
    int (*close)(int);
    int (*close_range)(unsigned int, unsigned int, int);
    int (*shutdown)(int, int);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                   const sigset_t *);
    int (*epoll_create)(int);
    int (*epoll_create1)(int);
    int (*epoll_ctl)(int, int, int, struct epoll_event *);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
    int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *,
                        const sigset_t *);
    int (*fstat)(int, struct stat *);
    int (*fstatat)(int, const char *, struct stat *, int);
    int (*statx)(int, const char *, int, unsigned int, struct statx *);
    int (*stat)(const char *, struct stat *);
    int (*__fxstat)(int, int, struct stat *);
    int (*__fxstatat)(int, int, const char *, struct stat *, int);
    int (*__xstat)(int, const char *, struct stat *);
    int (*fstatfs)(int, struct statfs *);
    off_t (*lseek)(int, off_t, int);
    int (*isfdtype)(int, int);
    int (*sockatmark)(int);
    void (*closefrom)(int);
    FILE *(*fdopen)(int, const char *);
    int (*fclose)(FILE *);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                       const posix_spawnattr_t *, char *const[], char *const[]);
    int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);
    int (*posix_spawn_file_actions_init)(posix_spawn_file_actions_t *);
    int (*posix_spawn_file_actions_destroy)(posix_spawn_file_actions_t *);
    int (*posix_spawn_file_actions_addopen)(posix_spawn_file_actions_t *, int, const char *,
                                            int, mode_t);
    int (*posix_spawn_file_actions_addclose)(posix_spawn_file_actions_t *, int);
    int (*posix_spawn_file_actions_adddup2)(posix_spawn_file_actions_t *, int, int);
    int (*posix_spawn_file_actions_addchdir_np)(posix_spawn_file_actions_t *, const char *);
    int (*posix_spawn_file_actions_addfchdir_np)(posix_spawn_file_actions_t *, int);
    int (*posix_spawn_file_actions_addclosefrom_np)(posix_spawn_file_actions_t *, int);
    int (*posix_spawn_file_actions_addtcsetpgrp_np)(posix_spawn_file_actions_t *, int);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    void (*freeaddrinfo)(struct addrinfo *);
    const char *(*gai_strerror)(int);
    int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *,
                       socklen_t, int);
    struct hostent *(*gethostbyname)(const char *);
    struct hostent *(*gethostbyname2)(const char *, int);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **,
                           int *);
    int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
                            struct hostent **, int *);
    struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
    int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t,
                           struct hostent **, int *);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    int (*setuid)(uid_t);
    int (*seteuid)(uid_t);
    int (*setreuid)(uid_t, uid_t);
    int (*setresuid)(uid_t, uid_t, uid_t);
    int (*capset)(void *, const void *);
};
extern struct nc_libc nc_libc;
void nc__libc_resolve(void);
#define LIBC(fn) (nc_libc.fn != NULL ? nc_libc.fn : (nc__libc_resolve(), nc_libc.fn))
/* The running stack (started on the first AF_INET or AF_INET6 socket), or NULL. */
extern struct netcore_stack *nc_stack;
/* libc.c: the NETCORE_* variables, parsed once for the whole shim (the stack, the resolver):
 * 0 with *cfg filled, or a negative errno with the parser's message (naming the variable). */
int nc__shim_config(struct netcore_config *cfg, char *err, size_t errlen);
/* Starts the stack if needed; returns 0 or a negative errno (after one line on stderr). */
int nc__shim_start(void);
/* The same without a word on failure, and without keeping the error (privdrop.c). */
int nc__shim_start_quiet(void);

/* The fds the shim keeps track of are those below NC_FD_MAX: the fd map has this many entries
 * (fewer when RLIMIT_NOFILE's hard limit is lower; a netcore socket cannot take a higher
 * number: EMFILE), and so do epoll's per-fd counts (a higher fd is searched for) and
 * close_range's scan (libc.c, epoll.c, socket.c). */
#define NC_FD_MAX 65536

/* fd map: program fd → netcore socket handle, or -1 when the fd is not ours. */
int nc__fd_handle(int fd);
/* True, with h set, when fd is a netcore socket and the call is not the netstack's own. */
#define OURS(fd, h) (!nc__in_stack_thread && ((h) = nc__fd_handle(fd)) >= 0)

/* The fd map's raw entry: > 0 a netcore socket (handle + 1), < 0 a relayed socket
 * (-(remote bits), remote.c), 0 neither. One array load. */
int nc__fd_entry(int fd);
/* Where an interposed call on fd goes: each interposer asks once, and calls one of three. */
enum nc_route {
    NC_TO_LIBC,   /* not ours, a control connection, or a call made on the netstack thread */
    NC_TO_CORE,   /* a netcore socket */
    NC_TO_REMOTE, /* a relayed socket (remote.c) */
};
struct nc_dest {
    enum nc_route to;
    int h; /* NC_TO_CORE: the socket's handle; NC_TO_REMOTE: its NC_RK_* bits; else 0 */
};
/* nc__fd_route's one load of the fd map: > 0 a netcore socket (handle + 1), < 0 a relayed
 * socket (-(NC_RK_* bits)), 0 libc's. */
int nc__fd_lookup(int fd);
/* The destination of a call on fd. Inline, so that the struct costs nothing on every call:
 * the interposer branches on the map's entry as it is loaded. */
static inline struct nc_dest nc__fd_route(int fd)
{
    int v = nc__fd_lookup(fd);
    if (v > 0)
        return (struct nc_dest){ NC_TO_CORE, v - 1 };
    if (v < 0)
        return (struct nc_dest){ NC_TO_REMOTE, -v };
    return (struct nc_dest){ NC_TO_LIBC, 0 };
}
/* Sets fd's entry to the relayed socket bits (> 0); expect INT_MIN: whatever was there, else
 * only if the entry still holds the bits expect (-EAGAIN if not). -EMFILE past the map. */
int nc__fd_set_remote(int fd, int bits, int expect);
/* Clears fd's entry if it is a relayed socket's. */
void nc__fd_clear_remote(int fd);
/* Entries in the map (0 before the shim allocated it). */
int nc__fd_map_len(void);

/* Records fd as a new reference to handle. */
int nc__fd_bind(int fd, int handle);
/* Forgets fd; returns the handle's remaining reference count, or -1 if fd was not ours. */
int nc__fd_unbind(int fd, int *handle);
/* Makes every fd that is a netcore socket an unconnected kernel socket (ENOTCONN for every
 * call) in this process's fd table; forget also clears the map (a forked child). */
void nc__poison_mapped(bool forget);
/* The lowest fd >= from that is a netcore socket of this process, or -1. */
int nc__fd_next(int from);
/* Undoes nc__poison_mapped(false) after an exec that failed: the fds are sockets again. */
void nc__unpoison_mapped(void);
/* A new core socket whose program fd the core made (netcore_socket_fd, netcore_accept_fd):
 * maps fd to handle. Closes both on failure. */
int nc__fd_adopt(int handle, int fd);

/*
 * remote.c: relayed sockets (core/share.h). A process attached to a stack it does not drive
 * has only these; the driver has them for the sockets other processes may hold too. The fd
 * is a real AF_UNIX socket (one end of the driver's socketpair): data and readiness go to
 * the kernel, control calls are requests on the thread's control connection.
 */
#define NC_RK_TYPE 0xf           /* SOCK_STREAM or SOCK_DGRAM */
#define NC_RK_INET6 0x100        /* AF_INET6, else AF_INET */
#define NC_RK_LISTENING 0x200    /* listen() done: the fd carries the accept token */
#define NC_RK_CONNECTING 0x400   /* a non-blocking connect is under way */
#define NC_RK_UNCONN 0x800       /* TCP: never connected, as far as this process knows */
#define NC_RK_PEER 0x1000        /* UDP: connected to a peer (send needs no address) */
#define NC_RK_CHAN 0x2000        /* not a socket: one of the shim's control connections */
#define NC_RK_VALID 0x4000       /* set in every entry of a relayed socket */
#define NC_RK_WRSHUT 0x8000      /* shut for writing by this process: a send is EPIPE */
#define NC_RK_RDSHUT 0x10000     /* UDP: shut for reading by this process: a read of 0 is EOF */
#define NC_RK_GONE 0x20000       /* its driver is gone: an inert stand-in (remote_gone.c) */

/* Set in a process that uses a stack another process drives (no nc_stack). */
extern bool nc__remote_client;
/* -1 if fd is not a relayed netcore socket, else its NC_RK_* bits. */
int nc__remote_kind(int fd);
/* Records fd as a relayed socket; 0 or -errno. */
int nc__remote_adopt(int fd, int family, int type, bool listening);
/* The lowest fd >= from that is a relayed socket, or -1 (a scan of the map: exec, spawn). */
int nc__remote_next(int from);
/* Forgets fd (it is being closed; the kernel closes the socketpair end itself). */
void nc__remote_forget(int fd);
/* Asks the driver what fd is (NC_OP_IDENTIFY) and adopts it: 0, or -errno (-EBADF: not a
 * socket of this stack). An fd that cannot be one (not an unnamed AF_UNIX stream or
 * seqpacket socket) is -EBADF at once, without a request or a stack. */
int nc__remote_identify(int fd);
/* poll.c: waits up to timeout_ms for the outcome of relayed fd's connect under way; 0 when
 * the time ran out, 1 when known (or nothing to wait for), -EINTR. */
int nc__remote_poll_connecting(int fd, int timeout_ms);
/* True once this process uses a shared stack (drives it or is attached). */
bool nc__remote_shared(void);
/* reach.c: 0 when LD_PRELOAD reaches the program an exec would start (path, searched along
 * PATH when search, or fd when >= 0), else -EPERM, said on stderr: it would run on the
 * kernel's stack. NETCORE_ALLOW_KERNEL=1 lets it. */
int nc__exec_reach(const char *path, bool search, int fd);
/* Remembers the configuration, whose rendezvous the control connections reach. */
void nc__remote_setup(const struct netcore_config *cfg);
/* Client mode: checks that the driver accepts this process and says whose stack this is;
 * 0, or -errno with a message in err (-EACCES: refused). */
int nc__remote_attach(const struct netcore_config *cfg, char *err, size_t errlen);
/* Before a privilege drop: one more connection, for threads that cannot connect after it. */
void nc__remote_keep_spare(void);
/* Fork's prepare handler, first of all: a control connection for the child of a process
 * that holds a spare (it cannot open one after its privilege drop). */
void nc__remote_fork_channel(void);
void nc__remote_fork_prepare(void);
void nc__remote_fork_parent(void);
/* Closes every control connection (the parent's) in a forked child. */
void nc__remote_fork_child(void);
/* The calls, on a relayed fd with bits k; each returns what the libc call would, errno set. */
int nc__remote_socket(int domain, int type, int protocol);
int nc__remote_bind(int fd, int k, const struct sockaddr *addr, socklen_t len);
int nc__remote_listen(int fd, int k, int backlog);
int nc__remote_accept4(int fd, int k, struct sockaddr *addr, socklen_t *len, int flags);
int nc__remote_connect(int fd, int k, const struct sockaddr *addr, socklen_t len);
int nc__remote_shutdown(int fd, int k, int how);
int nc__remote_getsockname(int fd, int k, struct sockaddr *addr, socklen_t *len);
int nc__remote_getpeername(int fd, int k, struct sockaddr *addr, socklen_t *len);
int nc__remote_getsockopt(int fd, int k, int level, int name, void *val, socklen_t *len);
int nc__remote_setsockopt(int fd, int k, int level, int name, const void *val,
                          socklen_t len);
int nc__remote_ioctl(int fd, int k, unsigned long req, void *arg);
/* The fd was duplicated: newfd refers to the same socket. Returns newfd, or -1 (closed). */
int nc__remote_dup(int newfd, int k);
/* Sets and clears NC_RK_* bits of fd's entry (while it is the relayed socket it was). */
void nc__remote_bits(int fd, int set, int clear);
/* One request and its reply on this thread's control connection (remote.c has the contract
 * of nc__remote_exchange): the reply's rc, or -ENETDOWN (no driver), -EPROTO, -EINTR and
 * -ETIME (wait only: the wait's time ran out; -ETIMEDOUT is the connection's own). */
struct nc_share_req;
struct nc_share_rep;
long nc__remote_rpc(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                    int *fd_out);
long nc__remote_rpc_wait(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                         int *fd_out, bool wait, int timeout_ms);
long nc__remote_exchange(int cfd, struct nc_share_req *req, int fd, struct nc_share_rep *rep,
                         int *fd_out, bool wait, int timeout_ms, bool *spent);
/* remote_gone.c: a call on fd (-1: none) found the driver gone (lost: on a connection that
 * worked) or did not reach it: the relayed listeners and UDP sockets of a dead driver made
 * inert (never ready; calls fail with ENETDOWN, NC_RK_GONE). */
void nc__remote_gone(int fd, bool lost);
/* remote_ops.c: a sockaddr of size bytes out to the program as the kernel moves one: none
 * when addr is NULL, truncated to *len, *len set to size; 0, -EFAULT or -EINVAL. */
int nc__addr_out(const void *src, socklen_t size, struct sockaddr *addr, socklen_t *len);
/* remote_io.c: data on relayed fds; negative errno, as the core's calls. */
ssize_t nc__remote_send(int fd, int k, const struct iovec *iov, int n, int flags,
                        const struct sockaddr *to, socklen_t tolen);
ssize_t nc__remote_recv(int fd, int k, const struct iovec *iov, int n, int flags,
                        struct sockaddr *from, socklen_t *fromlen, int *msg_flags);

/* Sets errno from a negative result and returns -1; passes other values through. */
static inline long nc__ret(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/* Blocking calls interrupted by a signal: restart unless the handler said otherwise. */
bool nc__restart_after_eintr(int h, bool sending);
/* signal.c, from the atfork handlers: no sigaction halfway at fork; a forked child forgets the
 * handler runs deferred in its parent's thread. */
void nc__signal_fork_prepare(void);
void nc__signal_fork_parent(void);
void nc__signal_fork_child(void);

/* passthru.c: loopback sockets (and NETCORE_PASSTHROUGH ranges) are handed to the kernel
 * under the same fd number. nc__passthrough_parse reads the variable's value (NULL: none). */
int nc__passthrough_parse(const char *v, char *err, size_t errlen);
bool nc__passthrough(const struct sockaddr *a, socklen_t len);
int nc__handoff(int fd, int h);
/* nc__fd_route for a call that names an address (bind, connect, sendto): a netcore socket
 * given a pass-through address is handed to the kernel first, and the call goes to libc. */
struct nc_dest nc__fd_route_addr(int fd, const struct sockaddr *a, socklen_t len);

/* epoll: forget every registration of fd (it is being closed). */
void nc__epoll_forget_fd(int fd);
/* epoll: fd has just become a kernel socket (passthru.c): put it in each epoll set it was
 * registered in, with the program's events and data, and forget the registrations. */
void nc__epoll_handoff(int fd);
void nc__epoll_atfork_child(void);
bool nc__epoll_known(int fd);

/* io.c: all of buf to fd (ours or not), retrying EINTR and, with wait, waiting out EAGAIN;
 * len, or -errno if nothing was written, or the count written before a later failure. */
ssize_t nc__write_all(int fd, const void *buf, size_t len, bool wait);
/* splice.c: sendfile from netcore socket in (a program fd) to out; negative errno. */
ssize_t nc__sendfile_from(int in, int out, off_t *off, size_t count);

/* True when handle is a TCP socket. */
bool nc__stream(int handle);

/* Translate readiness of handle for the poll events asked; drains the eventfd first. */
unsigned nc__ready(int handle, unsigned events);

/* resolve.c: host names through c-ares, /etc/hosts first, then DNS over netcore sockets. */
enum nc_res {
    NC_RES_OK,
    NC_RES_NOTFOUND, /* no such name or address (NXDOMAIN, or nothing in /etc/hosts) */
    NC_RES_NODATA,   /* the name exists, without addresses of the family asked */
    NC_RES_AGAIN,    /* no answer in time, a failing server, or no stack to ask through */
    NC_RES_FAIL,     /* an answer that cannot be used, a malformed name */
    NC_RES_NOMEM,
};
struct nc_addr {
    int family; /* AF_INET or AF_INET6 */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } a;
};
struct nc_host {
    char *name;     /* canonical name (end of the CNAME chain), or the name of a PTR record */
    char **aliases; /* NULL-terminated */
    int naddrs;     /* IPv4 addresses first, then IPv6 */
    struct nc_addr *addrs;
};
/* Addresses of name, family AF_INET, AF_INET6 or AF_UNSPEC (both). */
enum nc_res nc__resolve_name(const char *name, int family, struct nc_host *out);
/* Name of an address (len 4 for AF_INET, 16 for AF_INET6). */
enum nc_res nc__resolve_addr(const void *addr, int len, int family, struct nc_host *out);
void nc__host_free(struct nc_host *h);

/* privdrop.c: start the stack before a call of the setuid family (or capset) made as root
 * takes away the right to open the TAP. */
void nc__before_drop(void);

/* convert.c: sockets another process is about to hold become relayed (core/share.h). */
/* This process drives a shared stack (libc.c): its sockets may be relayed. */
bool nc__shared_driver(void);
/* libc.c: hands the stack to a keeper if other processes use it (when: "exit", "exec"...);
 * true when it did. */
bool nc__keep_if_used(const char *when);
/* libc.c: a process drives this device's shared stack now. */
bool nc__driver_running(void);
/* libc.c: this process has handed its stack to a keeper; it is a client from now on. */
void nc__handed_off(void);
bool nc__vfork_child(void);
void nc__convert_fork_child(void);
/* Relays every socket (or those a new image would inherit); returns how many could not be. */
int nc__convert_all(bool inheritable_only);
/* The atfork prepare handler's part (vfork converts only what exec would keep). */
void nc__convert_at_fork(void);
/* Relays the socket at fd (0 if fd is not a fast-path socket), or -errno. */
int nc__convert_fd(int fd);
/* Calls fn(fd, arg) for each fd that msg's SCM_RIGHTS messages carry. */
void nc__each_passed_fd(const struct msghdr *msg, void (*fn)(int fd, void *arg), void *arg);
void nc__convert_rights(const struct msghdr *msg);
void nc__adopt_rights(const struct msghdr *msg);
void nc__adopt_inherited(int fd);
char **nc__exec_env(char *const envp[], char **buf, size_t cap);
bool nc__remote_inheritable(void);

#endif /* NC_SHIM_H */
