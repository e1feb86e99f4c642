/* netif.c: lwIP's netif over the device. */
#ifndef NC_NETIF_H
#define NC_NETIF_H

struct netcore_stack;

/* Reads up to max_frames frames from the device without blocking, and parses and dispatches
 * each (rxframe.h). Caller holds the lock. Returns the number of frames read. */
int nc__pump_device(struct netcore_stack *st, int max_frames);
/* The device is gone (why: the errno that said so): every connection fails with ENETDOWN
 * and new ones are refused with it. Caller holds the lock. */
void nc__dev_down(struct netcore_stack *st, int why);
/* lwIP's netif over st->dev, with the configured addresses, its state the stack; 0 or
 * -errno. */
int nc__netif_setup(struct netcore_stack *st);
void nc__netif_teardown(struct netcore_stack *st);

#endif /* NC_NETIF_H */
