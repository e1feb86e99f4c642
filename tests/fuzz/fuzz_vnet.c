/*
 * tests/fuzz/fuzz_vnet.c — libFuzzer target: Ethernet frames behind arbitrary
 * virtio_net_hdr bytes, as on a TAP with offloads, into the stack's device input path: the
 * header's checks (nc__vnet_rx), GSO super-segments and checksums the header vouches for,
 * and what the stack sends back with TSO and partial checksums (the input format: records.h).
 * Whatever the header says, the stack must not crash, and a frame it refuses is counted.
 */
#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_run_records(data, size, true);
}
