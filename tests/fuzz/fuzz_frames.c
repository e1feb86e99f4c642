/*
 * tests/fuzz/fuzz_frames.c — libFuzzer target: arbitrary Ethernet frames into the stack's
 * device input path (the input format: records.h).
 */
#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_run_records(data, size, false);
}
