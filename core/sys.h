/* sys.c: raw syscalls, so the core never re-enters the preload shim (nc__raw_syscall,
 * nc__fd_high and the eventfd pair are in shimapi.h: the shim uses them too) */
#ifndef NC_SYS_H
#define NC_SYS_H

#include <stddef.h>
#include <sys/uio.h>

int nc__sys_read(int fd, void *buf, size_t len);
int nc__sys_readv(int fd, const struct iovec *iov, int n);
int nc__sys_write(int fd, const void *buf, size_t len);
int nc__sys_send(int fd, const void *buf, size_t len, int flags);
int nc__sys_writev(int fd, const struct iovec *iov, int n);
int nc__sys_close(int fd);
/* Closes *fd if it is open (>= 0) and marks it closed (-1): a teardown may run twice. */
void nc__sys_clear_fd(int *fd);

/*
 * A module that holds fds walks them in one function with a visitor, for both uses: the list
 * a keeper keeps (keep.c), and their close in a forked child. One walk, so an fd added to a
 * module is never kept but left open in a child, or the reverse.
 */
typedef void nc_fd_visit(int *fd, void *arg);
struct nc_fd_list {
    int *fds;
    int cap;
    int n;
};
/* Visitors: nc__fd_list appends an open fd to arg, a struct nc_fd_list, while it has room;
 * nc__fd_clear closes it (nc__sys_clear_fd; arg unused). */
void nc__fd_list(int *fd, void *arg);
void nc__fd_clear(int *fd, void *arg);
int nc__sys_poll1(int fd, short events, int timeout_ms);
int nc__sys_eventfd(void);
/* A copy of fd where nc__fd_high would move it, close-on-exec, fd left open; or -errno. */
int nc__fd_high_dup(int fd);

#endif /* NC_SYS_H */
