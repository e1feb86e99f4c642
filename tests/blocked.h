/*
 * blocked: whether another thread of this process sleeps in a system call, for tests that
 * must act on a call blocked in a thread (a close or shutdown that has to wake it). Nothing
 * tells one thread that a call of another has blocked; the thread's state in /proc does.
 */
#ifndef NC_TESTS_BLOCKED_H
#define NC_TESTS_BLOCKED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * Waits up to ms for the thread *tid (0 until the thread has stored its gettid()) to sleep
 * in a system call, reading its state every millisecond; false if it does not, or has ended.
 * A thread that sleeps only a moment (on a lock) passes too: the caller's outcome must not
 * depend on the call having blocked, only be likelier to test the blocked case.
 */
bool thread_blocked(const _Atomic pid_t *tid, int ms);

#endif /* NC_TESTS_BLOCKED_H */
