/*
 * shimfix: the preload shim in a Check suite's own process, its stack on the wire device.
 *
 * How the suites reach the shim: they link preload/libnetcore-shim.la, the convenience
 * library the LD_PRELOAD object is made of, whole (--whole-archive), so every call the
 * preload object interposes (socket, close, dup, poll, select, epoll_*, ...) is interposed
 * in the test program the same way, and the shim's dlsym(RTLD_NEXT) finds libc behind it.
 * The one seam is at link time: the suites link with --wrap=netcore_config_from_env, and the
 * wrapper below takes the environment's configuration as the shim reads it and puts the
 * stack on the wire device (a socketpair whose other end the test holds), as a stack of
 * this process's own (NETCORE_STACK=own) without a stats socket. Nothing of preload/ is
 * compiled again or changed, no root and no TAP are needed.
 *
 * The shim starts its stack at the first AF_INET socket, once per process: each test runs
 * in a process of its own (Check's fork mode, the default; CK_FORK=no is not supported),
 * and sf_setup, a checked fixture, gives each its own wire. The stack is 198.18.0.2 as
 * configured by default; the test plays 198.18.0.1 by hand (handpeer.h: hp_udp_in).
 */
#ifndef NC_TESTS_SHIMFIX_H
#define NC_TESTS_SHIMFIX_H

#include <stdbool.h>
#include <stdint.h>

/* The test's end of the wire (after sf_setup). */
extern int sf_wire;

/* Checked fixture: a new wire for the stack the shim will start, and no linger at exit
 * (NETCORE_LINGER=0). Both ends, and the stack, last until the test's process exits:
 * closing the wire first would only make the stack say that its device went down. */
void sf_setup(void);

/* A UDP socket through the shim, bound to port on the stack's address. */
int sf_udp_bound(uint16_t port);
/* The errno of a call that returned rc: errno when rc is -1, else 0 (the call succeeded),
 * so that one assertion says which error a call failed with. */
int sf_errno(long rc);
/* Waits up to 5 s for fd to be readable (poll, through the shim); true if so. */
bool sf_readable(int fd);

#endif /* NC_TESTS_SHIMFIX_H */
