/*
 * tests/fuzz/scene.h — the world a fuzzed frame lands in: one netcore stack (manual mode,
 * wire device) and a scripted peer on the other end of the wire. Once started, the stack has
 *   - a listener on port FZ_LISTEN_PORT,
 *   - a live connection the peer opened to it (FZ_PEER_IP:FZ_LIVE_PORT), with 5 bytes the
 *     stack sent still unacknowledged,
 *   - a connection of its own in SYN-SENT (FZ_CONNECT_PORT -> FZ_PEER_IP:FZ_CONNECT_TO),
 *   - a bound UDP socket (FZ_UDP_PORT) and a connected one (FZ_UDPC_PORT -> FZ_PEER_IP:7).
 * The peer answers ARP requests for its address; everything else the stack sends is read and
 * dropped. Sequence numbers are the same in every run (NETCORE_FUZZ fixes the ISNs).
 * With vnet the wire plays a TAP with offloads (netcore_config.wire_vnet): every frame either
 * way starts with a struct virtio_net_hdr, all zeros in what the scene itself writes.
 */
#ifndef FZ_SCENE_H
#define FZ_SCENE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netcore.h"

#define FZ_STACK_IP 0xc6120002u /* 198.18.0.2, host order */
#define FZ_PEER_IP 0xc6120001u  /* 198.18.0.1 */
#define FZ_LISTEN_PORT 80
#define FZ_LIVE_PORT 40001      /* the peer's end of the live connection */
#define FZ_CONNECT_PORT 40100   /* the stack's end of its SYN-SENT connection */
#define FZ_CONNECT_TO 9
#define FZ_UDP_PORT 5353
#define FZ_UDPC_PORT 5354
#define FZ_PEER_ISN 0x01000000u
#define FZ_HELLO_LEN 5          /* bytes the stack sent on the live connection */
#define FZ_ECHO_ID 0x4e43       /* ICMP echo identifier of the liveness check */
#define FZ_MAX_ACCEPTED 8

extern const uint8_t fz_stack_mac[6], fz_peer_mac[6];

struct fz_scene {
    struct netcore_stack *st;
    int fd;                       /* the peer's end of the wire */
    size_t vnet;                  /* bytes of virtio_net_hdr before every frame, or 0 */
    int max_sockets;
    int listener, live, udp, udpc, connecting;
    int accepted[FZ_MAX_ACCEPTED];
    int naccepted;
    uint32_t live_iss;            /* the stack's ISN on the live connection */
    uint32_t connect_iss;         /* the stack's ISN on its SYN-SENT connection */
    uint32_t synack_iss;          /* the ISN in the last SYN-ACK the stack sent */
    uint64_t frames_in, empty_in; /* frames the peer wrote (empty ones apart) */
    uint64_t frames_out;
    bool echo_seen;               /* an echo reply with FZ_ECHO_ID came back */
};

/* Starts the stack with this MTU, with or without the virtio_net_hdr, and builds the scene.
 * Returns 0 or a negative errno. */
int fz_scene_start(struct fz_scene *sc, int mtu, bool vnet);
/* Closes every socket, stops the stack, frees lwIP's leftovers (see scene.c). */
void fz_scene_stop(struct fz_scene *sc);
/* The peer writes one frame (any bytes, any length) and the stack takes it in; with vnet a
 * header of zeros goes first. */
void fz_scene_send(struct fz_scene *sc, const void *frame, size_t len);
/* The same with these sc->vnet bytes of header first (any bytes). */
void fz_scene_send_hdr(struct fz_scene *sc, const void *hdr, const void *frame, size_t len);
/*
 * lwIP state that outlives netcore_stop(): fragments waiting for reassembly, the phase of its
 * cyclic timers, the parity of TCP's timer. Resets them, so that every input starts from the
 * same state whatever ran before it. The stack must be stopped.
 */
void fz_lwip_reset(void);
/* Once per process before the first stack: the manual clock, and fz_lwip_reset(). */
void fz_first_start(void);
/* Advances the clock by ms and runs the stack's timers. */
void fz_scene_tick(struct fz_scene *sc, uint32_t ms);
/* What the program does after a frame (fz_scene_app); it accepts new connections in all. */
enum fz_action {
    FZ_APP_READ,           /* read what arrived on every socket */
    FZ_APP_IDLE,           /* read nothing: receive rings fill up */
    FZ_APP_SEND,           /* read, and send 1000 bytes on the live connection */
    FZ_APP_SHUT_WR,        /* read, and shut down writing on the live connection */
    FZ_APP_CLOSE,          /* close the live connection (unacknowledged data lingers) */
    FZ_APP_SEND_ACCEPTED,  /* read, and send 1000 bytes on every accepted connection */
    FZ_APP_CLOSE_ACCEPTED, /* close the connection accepted last */
    FZ_APP_CLOSE_LISTENER, /* close the listener: connections still queued are reset */
};
void fz_scene_app(struct fz_scene *sc, enum fz_action what);

#endif /* FZ_SCENE_H */
