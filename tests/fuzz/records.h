/*
 * tests/fuzz/records.h — the input of the device-input fuzz targets: arbitrary Ethernet
 * frames (fuzz_frames), or frames behind arbitrary virtio_net_hdr bytes (fuzz_vnet), into the
 * stack's device input path, behind which wait a listener, a live TCP connection with data in
 * flight, a connection in SYN-SENT and two UDP sockets (scene.h).
 *
 * Input: one byte choosing the MTU (bits 0-1), then records of
 *   flags   1 byte   bits 0-2: advance the clock first by 0, 1, 50, 250, 500, 1000, 4000
 *                    or 30000 ms; bit 3: fix the frame's checksums (frame.h); bit 4: the
 *                    input holds only the frame's head, zeros make up the length;
 *                    bits 5-7: what the program does next (enum fz_action, scene.h)
 *   length  3 bytes  big-endian, frames longer than FRAME_CUT are cut there
 *   [vnet   10 bytes only with vnet: the struct virtio_net_hdr the frame is written behind,
 *                    as the kernel would write it on a TAP with offloads]
 *   [held   1 byte   only with bit 4: how many of the frame's bytes follow, up to 255]
 *   frame   length (or held) bytes, fewer if the input ends first
 * Every input gets a fresh stack and scene, torn down afterwards, so nothing carries over
 * from one input to the next. After the frames the clock runs on for two seconds, then the
 * invariants are checked: the device counters add up (a frame whose header the stack refuses
 * is counted as malformed), and the stack still answers a ping.
 */
#ifndef FZ_RECORDS_H
#define FZ_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs one input; with vnet the wire carries a virtio_net_hdr (scene.h). Returns 0. */
int fz_run_records(const uint8_t *data, size_t size, bool vnet);

#endif /* FZ_RECORDS_H */
