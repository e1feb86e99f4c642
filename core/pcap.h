/* pcap.c: NETCORE_PCAP capture (no-ops without it). */
#ifndef NC_PCAP_H
#define NC_PCAP_H

#include <stddef.h>
#include <sys/uio.h>

struct netcore_stack;

int nc__pcap_open(struct netcore_stack *st, char *err, size_t errlen);
void nc__pcap_frame(struct netcore_stack *st, const struct iovec *iov, int n);
void nc__pcap_close(struct netcore_stack *st);

#endif /* NC_PCAP_H */
