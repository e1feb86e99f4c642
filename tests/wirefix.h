/*
 * wirefix: two netcore stacks in two processes joined by the wire device (a datagram
 * socketpair), for the check_wire_* suites: TCP and UDP end to end without root. lwIP is a
 * per-process singleton, so a test forks a peer (wf_spawn): the child runs the "server" stack
 * at 198.18.0.1, the parent the "client" at .2; parent and child share two pipes for the few
 * steps that need ordering. A test of frames played by hand has one stack in manual mode
 * (wf_raw_stack) and the other end of the wire. Every TCase takes wf_setup/wf_teardown as a
 * checked fixture.
 */
#ifndef NC_TESTS_WIREFIX_H
#define NC_TESTS_WIREFIX_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "netcore.h"

#define SERVER_IP "198.18.0.1"
#define CLIENT_IP "198.18.0.2"
#define SERVER_IP6 "2001:db8::1"
#define CLIENT_IP6 "2001:db8::2"
#define SERVER_LL "fe80::ff:fe00:1" /* link-local from MAC 02:00:00:00:00:01 */
#define CLIENT_LL "fe80::ff:fe00:2"
#define WIRE_SCOPE 1                /* the wire device's scope id (no kernel interface) */
#define WF_PORT 7007 /* the servers' TCP port: not below 1024, which only root may bind */

typedef int (*wf_server_fn)(struct netcore_stack *st);

extern int wf_c2p[2], wf_p2c[2]; /* child→parent, parent→child */
extern pid_t wf_peer_pid;        /* the server process, 0 once reaped */
extern int wf_wire[2];           /* [0] the client's (or the raw stack's) end, [1] the other */
/* Applied to the server's or the client's configuration by the next wf_spawn (wf_setup
 * clears them). */
extern void (*wf_server_tweak)(struct netcore_config *);
extern void (*wf_client_tweak)(struct netcore_config *);

/* Checked fixture: SIGPIPE ignored, no tweaks; teardown kills a peer the test left. */
void wf_setup(void);
void wf_teardown(void);

/* A stack on the wire end fd, as the server (198.18.0.1) or the client (.2), NULL on failure
 * (said on stderr). */
struct netcore_stack *wf_start_stack(int fd, bool server, int flags,
                                     void (*tweak)(struct netcore_config *));
struct sockaddr_in wf_sin_of(const char *ip, int port);
/* One byte over a sync pipe; the wait asserts it came. */
void wf_sig_send(int fd, char c);
char wf_sig_wait(int fd);
/* Forks the server process, which runs fn on its stack, waits for the client's word
 * (wf_reap) and exits with fn's result; returns the client stack in the parent once fn has
 * said 'L' on wf_c2p[1] (ready: listening, bound). */
struct netcore_stack *wf_spawn(wf_server_fn fn, int client_flags);
/* Lets the server finish, asserts it exited 0, stops the client stack. */
void wf_reap(struct netcore_stack *st);
/* A TCP listener on 0.0.0.0:port, -1 on failure (for the server, which cannot assert). */
int wf_listen_on(struct netcore_stack *st, int port, int backlog);
/* A TCP connection to the server's port; asserts. */
int wf_connect_to(struct netcore_stack *st, int port);
/* A UDP socket bound to 0.0.0.0:port; asserts. */
int wf_udp_bound(struct netcore_stack *st, int port);
/* The byte at offset i of every stream the tests send. */
uint8_t wf_pattern(size_t i);
/* Runs server fn and streams total bytes of wf_pattern, in writes of 1..chunk_max bytes,
 * through it from a socket connect_fn opens to WF_PORT; asserts every byte came back. */
void wf_echo_through(wf_server_fn fn, int (*connect_fn)(struct netcore_stack *, int),
                     size_t total, size_t chunk_max);
/* One client stack in manual mode on wf_wire[0] (tweaked when tweak is not NULL); *peer is
 * the test's end. */
struct netcore_stack *wf_raw_stack_with(int *peer, void (*tweak)(struct netcore_config *));
struct netcore_stack *wf_raw_stack(int *peer);
/* One frame on the wire; asserts it went. */
void wf_put(int fd, const void *f, size_t len);
/* An ARP request for the stack's address from .1; true when the stack answers it. */
bool wf_answers_arp(struct netcore_stack *st, int peer);

#endif /* NC_TESTS_WIREFIX_H */
