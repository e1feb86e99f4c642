/* closer.c: closing the fds clients pass, off the calling thread. */
#ifndef NC_CLOSER_H
#define NC_CLOSER_H

#include <stdbool.h>

/* An fd a client passed is an AF_UNIX socket (getsockopt SO_DOMAIN: no
 * filesystem touched); closes a passed fd without waiting on the calling thread (anything
 * but an AF_UNIX socket goes to the closer thread); fds that thread closed so far. */
bool nc__fd_is_unix(int fd);
void nc__close_passed(int fd);
unsigned long nc__closer_count(void);

#endif /* NC_CLOSER_H */
