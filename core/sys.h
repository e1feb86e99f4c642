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
int nc__sys_poll1(int fd, short events, int timeout_ms);
int nc__sys_eventfd(void);

#endif /* NC_SYS_H */
