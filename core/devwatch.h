/* devwatch.c: the netstack thread sleeps on the device only while nobody spins on it. */
#ifndef NC_DEVWATCH_H
#define NC_DEVWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcore_stack;

/* A thread starts polling the device: frames wake the netstack thread no more. Returns
 * false when there is nothing to hold (no thread, no device); else release it after. */
bool nc__devwatch_hold(struct netcore_stack *st);
void nc__devwatch_release(struct netcore_stack *st);
/* Lingering (devwatch.c): a release that leaves its hold lazy while the tick runs and no
 * thread sleeps; the next hold takes it over, nc__devwatch_claim (shimapi.h) lets it go. */
void nc__devwatch_release_lazy(struct netcore_stack *st);
/* nc__devwatch_drop_held, lingering: the spin got what it waited for. */
void nc__devwatch_drop_held_lazy(void);
/* The linger tick, on the netstack thread: true to run it again in LINGER_MS. */
bool nc__devwatch_tick(struct netcore_stack *st);
/* The tick stops (or could not start): nothing may linger any more. */
void nc__devwatch_stop_linger(struct netcore_stack *st);
/* nc__devwatch_hold for a thread spinning outside the stack lock: the hold is the thread's,
 * ended by nc__devwatch_drop_held (shimapi.h) -- by the spin, or by the shim's signal
 * wrapper before a handler runs. */
bool nc__devwatch_hold_thread(struct netcore_stack *st);
/* The IP packet ip (len bytes of it at hand) is about to go out, the lock held: a program
 * thread sending a SYN, a FIN or a new connection's first data holds the device until it
 * unlocks. */
void nc__devwatch_tx(struct netcore_stack *st, const uint8_t *ip, size_t len);
/* In nc__run_pending: lets go of the hold nc__devwatch_tx took, if any; with read, after
 * taking the answers to what was sent (which may send, and hold again). */
void nc__devwatch_settle(struct netcore_stack *st, bool read);

/* The device's epoll set (st->dev_watch); 0 or -errno. Closed by nc__devwatch_close. */
int nc__devwatch_open(struct netcore_stack *st);
void nc__devwatch_close(struct netcore_stack *st);
/* In a keeper: a set of its own under the same number, armed, nobody spinning. */
void nc__devwatch_reset(struct netcore_stack *st);

#endif /* NC_DEVWATCH_H */
