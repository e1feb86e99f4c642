/*
 * tests/fuzz/records.c — the input format of the device-input targets (records.h) and its
 * run: a fresh stack and scene per input, the records' frames into the device input path,
 * then the invariants.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "frame.h"
#include "records.h"
#include "scene.h"

#define FRAME_CUT 65600 /* above the largest read buffer (MTU 65521 + 18) */
#define MAX_FRAMES 512

static const int mtus[4] = { 1500, 9000, 65000, 65521 };
static const uint32_t ticks[8] = { 0, 1, 50, 250, 500, 1000, 4000, 30000 };

static uint8_t frame[FRAME_CUT];
static uint8_t hdr[sizeof(struct virtio_net_hdr)];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* The stack is still there: it answers a ping from the peer. */
static void check_alive(struct fz_scene *sc)
{
    static const char payload[] = "netcore fuzz ping";
    struct fz_frame f;
    sc->echo_seen = false;
    fz_icmp4(&f, fz_stack_mac, fz_peer_mac, FZ_PEER_IP, FZ_STACK_IP, 8, 0,
             (uint32_t)FZ_ECHO_ID << 16 | 1, payload, sizeof(payload));
    fz_scene_send(sc, f.b, f.len);
    if (!sc->echo_seen)
        fail("no echo reply to a ping (%llu frames in, %llu out)",
             (unsigned long long)sc->frames_in, (unsigned long long)sc->frames_out);
}

static void check_counters(struct fz_scene *sc)
{
    struct netcore_stats s;
    netcore_get_stats(sc->st, &s);
    unsigned long long rx = s.rx_frames, in = sc->frames_in, empty = sc->empty_in;
    unsigned long long dropped = s.rx_dropped_malformed + s.rx_dropped_foreign;
    if (rx != in)
        fail("rx_frames %llu, the peer wrote %llu", rx, in);
    if (s.rx_dropped_malformed < empty)
        fail("rx_dropped_malformed %llu, below %llu empty frames",
             (unsigned long long)s.rx_dropped_malformed, empty);
    if (dropped > rx + empty)
        fail("%llu frames dropped of %llu", dropped, rx + empty);
    if (s.tx_errors != 0)
        fail("tx_errors %llu on a wire that is always read", (unsigned long long)s.tx_errors);
    if (s.tx_frames != sc->frames_out)
        fail("tx_frames %llu, the peer read %llu", (unsigned long long)s.tx_frames,
             (unsigned long long)sc->frames_out);
    if (s.sockets < 0 || s.sockets > sc->max_sockets)
        fail("%d sockets in a table of %d", s.sockets, sc->max_sockets);
    if (s.time_wait > 4)
        fail("%d TIME-WAIT entries, above the cap of 4", s.time_wait);
}

int fz_run_records(const uint8_t *data, size_t size, bool vnet)
{
    if (size < 1)
        return 0;
    struct fz_scene sc;
    if (fz_scene_start(&sc, mtus[data[0] & 3], vnet) != 0)
        abort();
    size_t at = 1;
    for (int n = 0; n < MAX_FRAMES && size - at >= 4; n++) {
        uint8_t fl = data[at];
        size_t len = (size_t)data[at + 1] << 16 | (size_t)data[at + 2] << 8 | data[at + 3];
        at += 4;
        /* the virtio_net_hdr, zeros where the input ends */
        size_t hl = size - at < sc.vnet ? size - at : sc.vnet;
        memset(hdr, 0, sizeof(hdr));
        memcpy(hdr, data + at, hl);
        at += hl;
        if (len > FRAME_CUT)
            len = FRAME_CUT;
        size_t have = len;
        if (fl & 0x10)
            have = at < size ? data[at++] : 0;
        if (have > len)
            have = len;
        if (have > size - at)
            have = size - at;
        memcpy(frame, data + at, have);
        memset(frame + have, 0, len - have);
        at += have;
        if (!(fl & 0x10))
            len = have;
        if (fl & 0x08)
            fz_fix_sums(frame, len);
        if (ticks[fl & 7] != 0)
            fz_scene_tick(&sc, ticks[fl & 7]);
        fz_scene_send_hdr(&sc, hdr, frame, len);
        fz_scene_app(&sc, (enum fz_action)(fl >> 5));
    }
    for (int i = 0; i < 4; i++) {
        fz_scene_tick(&sc, 500);
        fz_scene_app(&sc, FZ_APP_READ);
    }
    check_counters(&sc);
    check_alive(&sc);
    fz_scene_stop(&sc);
    return 0;
}
