/* shimfix: see shimfix.h. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcore.h"
#include "shimfix.h"

int sf_wire = -1;
static int stack_end = -1;

int __real_netcore_config_from_env(struct netcore_config *cfg,
                                   const char *(*get)(const char *), char *err, size_t errlen);
int __wrap_netcore_config_from_env(struct netcore_config *cfg,
                                   const char *(*get)(const char *), char *err, size_t errlen);

/*
 * The shim's reading of its configuration (libc.c, at the stack's start), linked in place of
 * netcore_config_from_env: what the environment says, then the wire device in place of the
 * TAP. A bad NETCORE_* value still fails as it would under LD_PRELOAD.
 */
int __wrap_netcore_config_from_env(struct netcore_config *cfg,
                                   const char *(*get)(const char *), char *err, size_t errlen)
{
    int rc = __real_netcore_config_from_env(cfg, get, err, errlen);
    if (rc != 0)
        return rc;
    cfg->device = NETCORE_DEV_WIRE;
    cfg->wire_fd = stack_end;
    cfg->share = 0;
    strcpy(cfg->stat_dir, "off");
    return 0;
}

void sf_setup(void)
{
    /* At exit the shim delivers what its sockets still owe, for up to NETCORE_LINGER
     * seconds: a hand-played peer acknowledges nothing then. */
    ck_assert_int_eq(setenv("NETCORE_LINGER", "0", 1), 0);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    stack_end = sv[0];
    sf_wire = sv[1];
}

int sf_udp_bound(uint16_t port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "198.18.0.2", &a.sin_addr);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

bool sf_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 5000) == 1 && (p.revents & POLLIN);
}

int sf_errno(long rc)
{
    return rc == -1 ? errno : 0;
}
