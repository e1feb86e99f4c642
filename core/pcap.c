/*
 * Packet capture: with NETCORE_PCAP=path every frame the device sends and receives is
 * written to a pcap file that tcpdump, tshark and wireshark read — received frames before
 * any validation, so a dropped frame is there too. "%p" in the path becomes the process id,
 * so that each process of a program (one stack each) writes its own file.
 *
 * Written from under the stack lock, in order, one writev per frame, with nanosecond
 * timestamps. A failed write (disk full) ends the capture with one warning rather than
 * slowing every frame with retries.
 */
#include "pcap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "netcore.h"
#include "shimapi.h"
#include "stack.h"
#include "sys.h"

#define PCAP_MAGIC_NS 0xa1b23c4dU
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101
#define SNAPLEN 262144

struct pcap_global {
    uint32_t magic;
    uint16_t major, minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec {
    uint32_t sec, nsec, incl, orig;
};

/* path with %p replaced by the pid (and %% by %); false if it does not fit. */
static bool expand(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = path; *p != '\0'; p++) {
        int n;
        if (p[0] == '%' && p[1] == 'p') {
            n = snprintf(out + o, cap - o, "%d", (int)getpid());
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            n = snprintf(out + o, cap - o, "%%");
            p++;
        } else {
            n = snprintf(out + o, cap - o, "%c", *p);
        }
        if (n < 0 || (size_t)n >= cap - o)
            return false;
        o += (size_t)n;
    }
    return true;
}

int nc__pcap_open(struct netcore_stack *st, char *err, size_t errlen)
{
    st->pcap_fd = -1;
    if (st->cfg.pcap[0] == '\0')
        return 0;
    char path[sizeof(st->cfg.pcap) + 32];
    if (!expand(st->cfg.pcap, path, sizeof(path))) {
        snprintf(err, errlen, "NETCORE_PCAP=\"%s\": too long once %%p is replaced",
                 st->cfg.pcap);
        return -ENAMETOOLONG;
    }
    int fd = nc__fd_high((int)nc__raw_syscall(SYS_openat, AT_FDCWD, path,
                                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "NETCORE_PCAP: cannot create %s: %s", path, strerror(e));
        return -e;
    }
    struct pcap_global g = {
        .magic = PCAP_MAGIC_NS, .major = 2, .minor = 4, .snaplen = SNAPLEN,
        .linktype = st->dev.is_eth ? LINKTYPE_ETHERNET : LINKTYPE_RAW,
    };
    if (nc__sys_write(fd, &g, sizeof(g)) != (int)sizeof(g)) {
        snprintf(err, errlen, "NETCORE_PCAP: cannot write to %s", path);
        nc__sys_close(fd);
        return -EIO;
    }
    st->pcap_fd = fd;
    nc__log(NETCORE_LOG_INFO, "capturing frames to %s", path);
    return 0;
}

void nc__pcap_frame(struct netcore_stack *st, const struct iovec *iov, int n)
{
    if (st->pcap_fd < 0)
        return;
    struct iovec v[17];
    struct pcap_rec r;
    struct timespec ts;
    size_t len = 0;
    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++) {
        v[i + 1] = iov[i];
        len += iov[i].iov_len;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    r.sec = (uint32_t)ts.tv_sec;
    r.nsec = (uint32_t)ts.tv_nsec;
    r.incl = r.orig = (uint32_t)len;
    v[0].iov_base = &r;
    v[0].iov_len = sizeof(r);
    ssize_t w = nc__raw_syscall(SYS_writev, st->pcap_fd, v, n + 1);
    if (w != (ssize_t)(len + sizeof(r))) {
        nc__log(NETCORE_LOG_WARN, "NETCORE_PCAP: write failed (%s); capture stopped",
                w < 0 ? strerror(errno) : "short write");
        nc__sys_close(st->pcap_fd);
        st->pcap_fd = -1;
    }
}

void nc__pcap_close(struct netcore_stack *st)
{
    nc__sys_clear_fd(&st->pcap_fd);
}
