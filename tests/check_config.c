/*
 * check_config: netcore_config_defaults() and netcore_config_from_env().
 *
 * Most tests read variables through a fake lookup backed by a small table, so they never
 * depend on, or change, the environment the suite runs in; one test goes through the real
 * environment (get == NULL).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netcore.h"

/* Fake environment */

#define FAKE_MAX 16

static struct {
    const char *name, *value;
} fake[FAKE_MAX];
static int nfake;

static const char *fake_get(const char *name)
{
    int i;

    for (i = 0; i < nfake; i++)
        if (!strcmp(fake[i].name, name))
            return fake[i].value;
    return NULL;
}

static void fake_set(const char *name, const char *value)
{
    int i;

    for (i = 0; i < nfake; i++)
        if (!strcmp(fake[i].name, name))
            break;
    ck_assert_int_lt(i, FAKE_MAX);
    fake[i].name = name;
    fake[i].value = value;
    if (i == nfake)
        nfake++;
}

/* Fixture: defaults in cfg, a byte copy in before, and an empty fake environment. */

static struct netcore_config cfg, before;
static char err[256];

static void setup(void)
{
    nfake = 0;
    netcore_config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof(cfg));
    memset(err, 0, sizeof(err));
}

static int load(void)
{
    return netcore_config_from_env(&cfg, fake_get, err, sizeof(err));
}

/* Network-order address of a dotted quad. */
static in_addr_t ip4(const char *s)
{
    struct in_addr a;

    ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

/* An IPv6 address from its text form. */
static struct in6_addr ip6(const char *s)
{
    struct in6_addr a;

    ck_assert_int_eq(inet_pton(AF_INET6, s, &a), 1);
    return a;
}

#define ck_assert_ip6_eq(got, text) \
    do { \
        struct in6_addr want_ = ip6(text); \
        ck_assert_mem_eq(&(got), &want_, sizeof(want_)); \
    } while (0)

/* Loads expecting success, with the message on failure. */
#define ck_load_ok() \
    do { \
        int rc_ = load(); \
        ck_assert_msg(rc_ == 0, "from_env failed (%d): %s", rc_, err); \
    } while (0)

/* Loads expecting -EINVAL, a message starting `name="value": `, and cfg unchanged. */
static void load_bad(const char *name, const char *value)
{
    char want[160];

    ck_assert_int_eq(load(), -EINVAL);
    snprintf(want, sizeof(want), "%s=\"%s\": ", name, value);
    ck_assert_msg(!strncmp(err, want, strlen(want)), "message \"%s\" does not start with %s",
                  err, want);
    ck_assert_msg(strlen(err) > strlen(want), "message \"%s\" says nothing expected", err);
    ck_assert_msg(!memcmp(&cfg, &before, sizeof(cfg)), "cfg changed by %s=\"%s\"", name,
                  value);
}

/* Sets name to value and loads expecting the failure load_bad describes. */
static void set_bad(const char *name, const char *value)
{
    fake_set(name, value);
    load_bad(name, value);
}

/* defaults */

START_TEST(test_defaults)
{
    static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
    char ifname[IFNAMSIZ] = "nctap0";

    ck_assert_int_eq(cfg.device, NETCORE_DEV_TAP);
    ck_assert_mem_eq(cfg.ifname, ifname, IFNAMSIZ);
    ck_assert_int_eq(cfg.wire_fd, -1);
    ck_assert_uint_eq(cfg.ip.s_addr, ip4("198.18.0.2"));
    ck_assert_int_eq(cfg.prefix, 24);
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("198.18.0.1"));
    ck_assert_ip6_eq(cfg.ip6, "2001:db8::2");
    ck_assert_int_eq(cfg.prefix6, 64);
    ck_assert_uint_eq(cfg.dns.s_addr, 0); /* the gateway */
    ck_assert_mem_eq(cfg.mac, mac, 6);
    ck_assert_int_eq(cfg.mtu, 0);
    ck_assert_int_eq(cfg.spin_us, sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 50 : 0);
    ck_assert_uint_eq(cfg.sndbuf, 262144);
    ck_assert_uint_eq(cfg.rcvbuf, 262144);
    ck_assert_uint_eq(cfg.ring_mem, 0);
    ck_assert_int_eq(cfg.max_sockets, 1024);
    ck_assert_int_eq(cfg.backlog, 128);
    ck_assert_int_eq(cfg.udp_queue, 64);
    ck_assert_int_eq(cfg.cmd_queue, 256);
    ck_assert_int_eq(cfg.time_wait_max, 1024);
    ck_assert_int_eq(cfg.linger_s, 10);
    ck_assert_int_eq(cfg.share, 1);
    ck_assert_str_eq(cfg.run_dir, "");
    ck_assert_int_eq(cfg.spin_own, 1);
    ck_assert_int_eq(cfg.rx_batch, 64);
}
END_TEST

START_TEST(test_defaults_repeatable)
{
    struct netcore_config other;

    memset(&other, 0xa5, sizeof(other));
    netcore_config_defaults(&other);
    ck_assert_mem_eq(&other, &cfg, sizeof(cfg));
}
END_TEST

START_TEST(test_defaults_pass_env)
{
    /* The defaults themselves form a valid pair of address and gateway. */
    fake_set("NETCORE_IP", "198.18.0.2/24");
    fake_set("NETCORE_GW", "198.18.0.1");
    fake_set("NETCORE_IP6", "2001:db8::2/64");
    ck_load_ok();
    before.tap_pool = 1; /* an address given by hand picks one device (test_tap_pool) */
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

/* valid */

START_TEST(test_empty_env)
{
    memset(err, 'X', sizeof(err));
    ck_load_ok();
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

START_TEST(test_err_untouched_on_success)
{
    char sentinel[sizeof(err)];

    fake_set("NETCORE_MTU", "9000");
    memset(err, 'X', sizeof(err));
    memset(sentinel, 'X', sizeof(sentinel));
    ck_load_ok();
    ck_assert_mem_eq(err, sentinel, sizeof(err));
}
END_TEST

START_TEST(test_device)
{
    fake_set("NETCORE_DEVICE", "tun");
    ck_load_ok();
    ck_assert_int_eq(cfg.device, NETCORE_DEV_TUN);
    fake_set("NETCORE_DEVICE", "tap");
    ck_load_ok();
    ck_assert_int_eq(cfg.device, NETCORE_DEV_TAP);
}
END_TEST

START_TEST(test_ifname)
{
    char want[IFNAMSIZ] = "x";

    /* A shorter name clears the tail of the longer one before it. */
    fake_set("NETCORE_TAP", "x");
    ck_load_ok();
    ck_assert_mem_eq(cfg.ifname, want, IFNAMSIZ);

    fake_set("NETCORE_TAP", "abcdefghijklmno");
    ck_load_ok();
    ck_assert_str_eq(cfg.ifname, "abcdefghijklmno");

    fake_set("NETCORE_TAP", "Tun_1.a-Z");
    ck_load_ok();
    ck_assert_str_eq(cfg.ifname, "Tun_1.a-Z");
}
END_TEST

START_TEST(test_ip_prefix)
{
    fake_set("NETCORE_IP", "10.1.2.3/16");
    fake_set("NETCORE_GW", "10.1.0.1");
    ck_load_ok();
    ck_assert_uint_eq(cfg.ip.s_addr, ip4("10.1.2.3"));
    ck_assert_int_eq(cfg.prefix, 16);
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("10.1.0.1"));
}
END_TEST

START_TEST(test_ip_no_prefix)
{
    fake_set("NETCORE_IP", "198.18.0.77");
    ck_load_ok();
    ck_assert_uint_eq(cfg.ip.s_addr, ip4("198.18.0.77"));
    ck_assert_int_eq(cfg.prefix, 24);
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("198.18.0.1"));
}
END_TEST

START_TEST(test_ip_prefix_edges)
{
    /* /31 has no network or broadcast address (RFC 3021): both are hosts. */
    fake_set("NETCORE_IP", "10.0.0.0/31");
    fake_set("NETCORE_GW", "10.0.0.1");
    ck_load_ok();
    ck_assert_int_eq(cfg.prefix, 31);

    fake_set("NETCORE_IP", "10.0.0.2/1");
    fake_set("NETCORE_GW", "100.0.0.1");
    ck_load_ok();
    ck_assert_int_eq(cfg.prefix, 1);
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("100.0.0.1"));
}
END_TEST

START_TEST(test_gw_only)
{
    fake_set("NETCORE_GW", "198.18.0.254");
    ck_load_ok();
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("198.18.0.254"));
    ck_assert_uint_eq(cfg.ip.s_addr, before.ip.s_addr);
}
END_TEST

START_TEST(test_mac)
{
    static const uint8_t want[6] = { 0x02, 0xab, 0xcd, 0xef, 0x10, 0xff };
    static const uint8_t oui[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, 0x01 };

    fake_set("NETCORE_MAC", "02:AB:cd:Ef:10:fF");
    ck_load_ok();
    ck_assert_mem_eq(cfg.mac, want, 6);
    fake_set("NETCORE_MAC", "00:16:3e:00:00:01");
    ck_load_ok();
    ck_assert_mem_eq(cfg.mac, oui, 6);
}
END_TEST

START_TEST(test_mtu)
{
    fake_set("NETCORE_MTU", "576");
    ck_load_ok();
    ck_assert_int_eq(cfg.mtu, 576);
    fake_set("NETCORE_MTU", "65521");
    ck_load_ok();
    ck_assert_int_eq(cfg.mtu, 65521);
    fake_set("NETCORE_MTU", "9000");
    ck_load_ok();
    ck_assert_int_eq(cfg.mtu, 9000);
    /* Leading zeros are decimal, not octal. */
    fake_set("NETCORE_MTU", "01500");
    ck_load_ok();
    ck_assert_int_eq(cfg.mtu, 1500);
}
END_TEST

static const struct {
    const char *value;
    size_t bytes;
} sizes[] = {
    { "4096", 4096 },
    { "4097", 8192 },
    { "5000", 8192 },
    { "65537", 131072 },
    { "4k", 4096 },
    { "4K", 4096 },
    { "5k", 8192 },
    { "300K", 524288 },
    { "1m", 1048576 },
    { "3M", 4194304 },
    { "64m", 67108864 },
    { "67108864", 67108864 },
    { "65536k", 67108864 },
    { "67108863", 67108864 },
};

START_TEST(test_sizes)
{
    fake_set("NETCORE_SNDBUF", sizes[_i].value);
    fake_set("NETCORE_RCVBUF", sizes[_i].value);
    ck_load_ok();
    ck_assert_uint_eq(cfg.sndbuf, sizes[_i].bytes);
    ck_assert_uint_eq(cfg.rcvbuf, sizes[_i].bytes);
}
END_TEST

/* NETCORE_RING_MEM: 0 (no cap) or a byte count, not rounded. */
static const struct {
    const char *value;
    size_t bytes;
} ring_mems[] = {
    { "0", 0 },
    { "4096", 4096 },
    { "5000", 5000 },
    { "4k", 4096 },
    { "512K", 524288 },
    { "64m", 67108864 },
    { "2G", (size_t)2 << 30 },
    { "1024g", (size_t)1 << 40 },
};

START_TEST(test_ring_mem)
{
    fake_set("NETCORE_RING_MEM", ring_mems[_i].value);
    ck_load_ok();
    ck_assert_uint_eq(cfg.ring_mem, ring_mems[_i].bytes);
}
END_TEST

START_TEST(test_dns)
{
    /* On the subnet, beyond the gateway, or the gateway itself: all reachable. */
    fake_set("NETCORE_DNS", "198.18.0.53");
    ck_load_ok();
    ck_assert_uint_eq(cfg.dns.s_addr, ip4("198.18.0.53"));
    fake_set("NETCORE_DNS", "192.0.2.1");
    ck_load_ok();
    ck_assert_uint_eq(cfg.dns.s_addr, ip4("192.0.2.1"));
    fake_set("NETCORE_DNS", "198.18.0.1");
    ck_load_ok();
    ck_assert_uint_eq(cfg.dns.s_addr, ip4("198.18.0.1"));
    /* A new gateway leaves an unset NETCORE_DNS meaning "the gateway". */
    nfake = 0;
    netcore_config_defaults(&cfg);
    fake_set("NETCORE_GW", "198.18.0.254");
    ck_load_ok();
    ck_assert_uint_eq(cfg.dns.s_addr, 0);
}
END_TEST

START_TEST(test_dns_loopback_message)
{
    fake_set("NETCORE_DNS", "127.0.0.53");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_str_eq(err, "NETCORE_DNS=\"127.0.0.53\": a loopback address; expected a DNS "
                          "server netcore can reach (loopback is not on the TAP)");
}
END_TEST

START_TEST(test_ints)
{
    fake_set("NETCORE_MAX_SOCKETS", "1");
    fake_set("NETCORE_BACKLOG", "1");
    fake_set("NETCORE_UDP_QUEUE", "1");
    fake_set("NETCORE_CMD_QUEUE", "1");
    fake_set("NETCORE_TIME_WAIT_MAX", "0");
    ck_load_ok();
    ck_assert_int_eq(cfg.max_sockets, 1);
    ck_assert_int_eq(cfg.backlog, 1);
    ck_assert_int_eq(cfg.udp_queue, 1);
    ck_assert_int_eq(cfg.cmd_queue, 1);
    ck_assert_int_eq(cfg.time_wait_max, 0);

    fake_set("NETCORE_MAX_SOCKETS", "65536");
    fake_set("NETCORE_BACKLOG", "65535");
    fake_set("NETCORE_UDP_QUEUE", "65536");
    fake_set("NETCORE_CMD_QUEUE", "65536");
    fake_set("NETCORE_TIME_WAIT_MAX", "1000000");
    ck_load_ok();
    ck_assert_int_eq(cfg.max_sockets, 65536);
    ck_assert_int_eq(cfg.backlog, 65535);
    ck_assert_int_eq(cfg.udp_queue, 65536);
    ck_assert_int_eq(cfg.cmd_queue, 65536);
    ck_assert_int_eq(cfg.time_wait_max, 1000000);
}
END_TEST

/* The TAP pool: on by default; a device, address or MAC given by hand turns it off unless
 * NETCORE_TAP_POOL is given too. */
START_TEST(test_tap_pool)
{
    ck_load_ok();
    ck_assert_int_eq(cfg.tap_pool, 64);
    fake_set("NETCORE_TAP_POOL", "4");
    ck_load_ok();
    ck_assert_int_eq(cfg.tap_pool, 4);
    fake_set("NETCORE_TAP_POOL", NULL);
    cfg.tap_pool = 16;
    fake_set("NETCORE_IP", "198.18.0.9/24");
    ck_load_ok();
    ck_assert_int_eq(cfg.tap_pool, 1);
    cfg.tap_pool = 16;
    fake_set("NETCORE_IP", NULL);
    fake_set("NETCORE_TAP", "tap7");
    ck_load_ok();
    ck_assert_int_eq(cfg.tap_pool, 1);
    cfg.tap_pool = 16;
    fake_set("NETCORE_TAP_POOL", "3");
    ck_load_ok();
    ck_assert_int_eq(cfg.tap_pool, 3);
    cfg.tap_pool = 16;
    fake_set("NETCORE_TAP", NULL);
    fake_set("NETCORE_TAP_POOL", NULL);
    fake_set("NETCORE_MAC", "02:00:00:00:00:09");
    ck_load_ok();
    ck_assert_int_eq(cfg.tap_pool, 1);
    fake_set("NETCORE_MAC", NULL);
    cfg.tap_pool = 16;
    setup();
    set_bad("NETCORE_TAP_POOL", "0");
    set_bad("NETCORE_TAP_POOL", "257");
}
END_TEST

START_TEST(test_log_pcap)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    ck_assert_int_eq(cfg.log_level, NETCORE_LOG_ERROR);
    ck_assert_str_eq(cfg.pcap, "");
    for (int i = 0; i < 4; i++) {
        fake_set("NETCORE_LOG", names[i]);
        ck_load_ok();
        ck_assert_int_eq(cfg.log_level, i);
    }
    fake_set("NETCORE_PCAP", "/tmp/x-%p.pcap");
    ck_load_ok();
    ck_assert_str_eq(cfg.pcap, "/tmp/x-%p.pcap");
    setup();
    set_bad("NETCORE_LOG", "DEBUG");
    set_bad("NETCORE_LOG", "");
    char longp[300];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    fake_set("NETCORE_LOG", NULL);
    fake_set("NETCORE_PCAP", longp);
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_msg(strstr(err, "NETCORE_PCAP=") == err, "message: %s", err);
}
END_TEST

START_TEST(test_stack_rundir)
{
    fake_set("NETCORE_STACK", "own");
    ck_load_ok();
    ck_assert_int_eq(cfg.share, 0);
    fake_set("NETCORE_STACK", "shared");
    ck_load_ok();
    ck_assert_int_eq(cfg.share, 1);
    fake_set("NETCORE_RUNDIR", "/run/user/1000/netcore");
    ck_load_ok();
    ck_assert_str_eq(cfg.run_dir, "/run/user/1000/netcore");

    setup();
    fake_set("NETCORE_STACK", "Shared");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_str_eq(err, "NETCORE_STACK=\"Shared\": expected shared or own");
    setup();
    fake_set("NETCORE_RUNDIR", "run/netcore");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_str_eq(err,
                     "NETCORE_RUNDIR=\"run/netcore\": expected an absolute directory path");
    /* The longest that fits, and one more. */
    char dir[sizeof(cfg.run_dir) + 1];
    memset(dir, 'd', sizeof(dir));
    dir[0] = '/';
    dir[sizeof(cfg.run_dir) - 1] = '\0';
    setup();
    fake_set("NETCORE_RUNDIR", dir);
    ck_load_ok();
    ck_assert_str_eq(cfg.run_dir, dir);
    dir[sizeof(cfg.run_dir) - 1] = 'd';
    dir[sizeof(cfg.run_dir)] = '\0';
    setup();
    fake_set("NETCORE_RUNDIR", dir);
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_msg(strstr(err, "NETCORE_RUNDIR=") == err && strstr(err, "longer than 95 bytes"),
                  "message: %s", err);
    ck_assert_msg(!memcmp(&cfg, &before, sizeof(cfg)), "cfg changed by a bad NETCORE_RUNDIR");
}
END_TEST

/* The spin of a profile, on this machine: none on one CPU (config.c). */
static int spin_of(int us)
{
    return sysconf(_SC_NPROCESSORS_ONLN) > 1 ? us : 0;
}

/* NETCORE_PROFILE sets spin, device ownership and batch; balanced is the default. */
START_TEST(test_profile)
{
    fake_set("NETCORE_PROFILE", "latency");
    ck_load_ok();
    ck_assert_int_eq(cfg.spin_us, spin_of(1000));
    ck_assert_int_eq(cfg.spin_own, 1);
    ck_assert_int_eq(cfg.rx_batch, 16);
    fake_set("NETCORE_PROFILE", "throughput");
    ck_load_ok();
    ck_assert_int_eq(cfg.spin_us, spin_of(50));
    ck_assert_int_eq(cfg.spin_own, 0);
    ck_assert_int_eq(cfg.rx_batch, 256);
    fake_set("NETCORE_PROFILE", "balanced");
    ck_load_ok();
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

/* A variable given with a profile wins, whichever comes first in the environment; the
 * profile still sets the others. */
START_TEST(test_profile_overridden)
{
    fake_set("NETCORE_SPIN_US", "7");
    fake_set("NETCORE_PROFILE", "latency");
    fake_set("NETCORE_RX_BATCH", "300");
    ck_load_ok();
    ck_assert_int_eq(cfg.spin_us, 7);
    ck_assert_int_eq(cfg.spin_own, 1);
    ck_assert_int_eq(cfg.rx_batch, 300);
    setup();
    fake_set("NETCORE_PROFILE", "throughput");
    fake_set("NETCORE_SPIN_OWN", "1");
    ck_load_ok();
    ck_assert_int_eq(cfg.spin_own, 1);
    ck_assert_int_eq(cfg.rx_batch, 256);
}
END_TEST

/* The message names the variable and the three words. */
START_TEST(test_profile_message)
{
    set_bad("NETCORE_PROFILE", "fast");
    ck_assert_str_eq(err, "NETCORE_PROFILE=\"fast\": expected latency, balanced or throughput");
}
END_TEST

START_TEST(test_all)
{
    static const uint8_t mac[6] = { 0x0a, 0, 0, 0, 0, 0x01 };

    fake_set("NETCORE_DEVICE", "tun");
    fake_set("NETCORE_TAP", "nctun7");
    fake_set("NETCORE_IP", "172.16.5.9/12");
    fake_set("NETCORE_GW", "172.31.255.254");
    fake_set("NETCORE_IP6", "fd00:1:2:3::9/112");
    fake_set("NETCORE_DNS", "172.16.0.53");
    fake_set("NETCORE_MAC", "0a:00:00:00:00:01");
    fake_set("NETCORE_MTU", "9000");
    fake_set("NETCORE_SNDBUF", "1m");
    fake_set("NETCORE_RCVBUF", "100000");
    fake_set("NETCORE_MAX_SOCKETS", "4096");
    fake_set("NETCORE_BACKLOG", "512");
    fake_set("NETCORE_UDP_QUEUE", "256");
    fake_set("NETCORE_CMD_QUEUE", "1024");
    fake_set("NETCORE_TIME_WAIT_MAX", "5000");
    fake_set("NETCORE_LINGER", "0");
    ck_load_ok();
    ck_assert_int_eq(cfg.device, NETCORE_DEV_TUN);
    ck_assert_str_eq(cfg.ifname, "nctun7");
    ck_assert_int_eq(cfg.wire_fd, -1);
    ck_assert_uint_eq(cfg.ip.s_addr, ip4("172.16.5.9"));
    ck_assert_int_eq(cfg.prefix, 12);
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("172.31.255.254"));
    ck_assert_ip6_eq(cfg.ip6, "fd00:1:2:3::9");
    ck_assert_int_eq(cfg.prefix6, 112);
    ck_assert_uint_eq(cfg.dns.s_addr, ip4("172.16.0.53"));
    ck_assert_mem_eq(cfg.mac, mac, 6);
    ck_assert_int_eq(cfg.mtu, 9000);
    ck_assert_uint_eq(cfg.sndbuf, 1048576);
    ck_assert_uint_eq(cfg.rcvbuf, 131072);
    ck_assert_int_eq(cfg.max_sockets, 4096);
    ck_assert_int_eq(cfg.backlog, 512);
    ck_assert_int_eq(cfg.udp_queue, 256);
    ck_assert_int_eq(cfg.cmd_queue, 1024);
    ck_assert_int_eq(cfg.time_wait_max, 5000);
    ck_assert_int_eq(cfg.linger_s, 0);
}
END_TEST

static const char *const env_names[] = {
    "NETCORE_DEVICE", "NETCORE_TAP", "NETCORE_IP", "NETCORE_GW", "NETCORE_IP6", "NETCORE_DNS",
    "NETCORE_MAC", "NETCORE_MTU", "NETCORE_SNDBUF", "NETCORE_RCVBUF", "NETCORE_MAX_SOCKETS",
    "NETCORE_BACKLOG", "NETCORE_UDP_QUEUE", "NETCORE_CMD_QUEUE", "NETCORE_TIME_WAIT_MAX",
    "NETCORE_LINGER", "NETCORE_PROFILE", "NETCORE_SPIN_US", "NETCORE_SPIN_OWN", "NETCORE_RX_BATCH",
};

START_TEST(test_real_env)
{
    size_t i;
    int rc;

    /* Whatever the suite was started with must not leak into the result. */
    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        ck_assert_int_eq(unsetenv(env_names[i]), 0);
    ck_assert_int_eq(setenv("NETCORE_MTU", "9000", 1), 0);
    ck_assert_int_eq(setenv("NETCORE_TAP", "envtap0", 1), 0);
    ck_assert_int_eq(setenv("NETCORE_SNDBUF", "5k", 1), 0);
    rc = netcore_config_from_env(&cfg, NULL, err, sizeof(err));
    ck_assert_msg(rc == 0, "from_env failed (%d): %s", rc, err);
    ck_assert_int_eq(cfg.mtu, 9000);
    ck_assert_str_eq(cfg.ifname, "envtap0");
    ck_assert_uint_eq(cfg.sndbuf, 8192);
    ck_assert_uint_eq(cfg.rcvbuf, before.rcvbuf);

    memcpy(&before, &cfg, sizeof(cfg));
    ck_assert_int_eq(setenv("NETCORE_BACKLOG", "", 1), 0);
    ck_assert_int_eq(netcore_config_from_env(&cfg, NULL, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "NETCORE_BACKLOG=\"\": not an integer in 1..65535");
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));

    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
}
END_TEST

/* invalid */

static const struct {
    const char *name, *value;
} bad[] = {
    { "NETCORE_RING_MEM", "" },
    { "NETCORE_RING_MEM", "-1" },
    { "NETCORE_RING_MEM", "4095" },
    { "NETCORE_RING_MEM", "1k" },
    { "NETCORE_RING_MEM", "1025g" },
    { "NETCORE_RING_MEM", "1t" },
    { "NETCORE_RING_MEM", "4kb" },
    { "NETCORE_RING_MEM", "18446744073709551616" },

    { "NETCORE_DEVICE", "" },
    { "NETCORE_DEVICE", "wire" },
    { "NETCORE_DEVICE", "TAP" },
    { "NETCORE_DEVICE", "tapx" },
    { "NETCORE_DEVICE", " tun" },

    { "NETCORE_TAP", "" },
    { "NETCORE_TAP", "abcdefghijklmnop" },
    { "NETCORE_TAP", "bad name" },
    { "NETCORE_TAP", "eth0:1" },
    { "NETCORE_TAP", "a/b" },
    { "NETCORE_TAP", "." },
    { "NETCORE_TAP", ".." },

    { "NETCORE_IP", "" },
    { "NETCORE_IP", "garbage" },
    { "NETCORE_IP", "10.0.0.2/0" },
    { "NETCORE_IP", "10.0.0.2/33" },
    { "NETCORE_IP", "10.0.0.2/" },
    { "NETCORE_IP", "10.0.0.2/24x" },
    { "NETCORE_IP", "10.0.0.2/-1" },
    { "NETCORE_IP", "10.0.0.2/+24" },
    { "NETCORE_IP", "10.0.0.2/24/8" },
    { "NETCORE_IP", "-10.0.0.2" },
    { "NETCORE_IP", " 10.0.0.2" },
    { "NETCORE_IP", "10.0.0.256" },
    { "NETCORE_IP", "10.0.0" },
    { "NETCORE_IP", "10.0.0.2.5" },
    { "NETCORE_IP", "010.0.0.2" },
    { "NETCORE_IP", "0.0.0.0" },
    { "NETCORE_IP", "0.0.0.0/8" },
    { "NETCORE_IP", "224.0.0.1" },
    { "NETCORE_IP", "239.1.2.3/8" },
    { "NETCORE_IP", "255.255.255.255" },
    { "NETCORE_IP", "255.255.255.255/32" },
    { "NETCORE_IP", "127.0.0.1" },
    { "NETCORE_IP", "127.1.2.3/8" },
    { "NETCORE_IP", "198.18.0.0" },
    { "NETCORE_IP", "198.18.0.255" },
    { "NETCORE_IP", "198.18.255.255/16" },

    { "NETCORE_GW", "" },
    { "NETCORE_GW", "gateway" },
    { "NETCORE_GW", "198.18.0.1/24" },
    { "NETCORE_GW", "198.18.0.1 " },
    { "NETCORE_GW", "198.18.0.-1" },
    { "NETCORE_GW", "256.18.0.1" },
    { "NETCORE_GW", "198.18.0.0" },
    { "NETCORE_GW", "198.18.0.255" },

    { "NETCORE_IP6", "" },
    { "NETCORE_IP6", "ipv6" },
    { "NETCORE_IP6", "198.18.0.2" },
    { "NETCORE_IP6", "2001:db8::g" },
    { "NETCORE_IP6", "2001:db8:::2" },
    { "NETCORE_IP6", "2001:db8::2 " },
    { "NETCORE_IP6", " 2001:db8::2" },
    { "NETCORE_IP6", "[2001:db8::2]" },
    { "NETCORE_IP6", "2001:db8::2%nctap0" },
    { "NETCORE_IP6", "2001:db8::2/" },
    { "NETCORE_IP6", "2001:db8::2/+64" },
    { "NETCORE_IP6", "2001:db8::2/64x" },
    { "NETCORE_IP6", "2001:db8::2/129" },
    { "NETCORE_IP6", "2001:db8::2/63" },
    { "NETCORE_IP6", "2001:db8::2/0" },
    { "NETCORE_IP6", "/64" },
    { "NETCORE_IP6", "::" },
    { "NETCORE_IP6", "::/128" },
    { "NETCORE_IP6", "::1" },
    { "NETCORE_IP6", "ff02::1" },
    { "NETCORE_IP6", "fe80::2" },
    { "NETCORE_IP6", "febf::2/64" },
    { "NETCORE_IP6", "::ffff:198.18.0.2" },
    { "NETCORE_IP6", "2001:db8::" },
    { "NETCORE_IP6", "2001:db8::100/120" },
    { "NETCORE_DNS", "" },
    { "NETCORE_DNS", "dns.example" },
    { "NETCORE_DNS", "198.18.0.1/24" },
    { "NETCORE_DNS", "198.18.0.1:53" },
    { "NETCORE_DNS", "198.18.0.1 " },
    { "NETCORE_DNS", "198.18.0" },
    { "NETCORE_DNS", "198.18.0.256" },
    { "NETCORE_DNS", "0.0.0.0" },
    { "NETCORE_DNS", "255.255.255.255" },
    { "NETCORE_DNS", "224.0.0.251" },
    { "NETCORE_DNS", "127.0.0.1" },
    { "NETCORE_DNS", "127.0.0.53" },
    { "NETCORE_DNS", "2001:db8::1" },

    { "NETCORE_MAC", "" },
    { "NETCORE_MAC", "garbage" },
    { "NETCORE_MAC", "02:00:00:00:00" },
    { "NETCORE_MAC", "02:00:00:00:00:02:03" },
    { "NETCORE_MAC", "02:00:00:00:00:02x" },
    { "NETCORE_MAC", "02-00-00-00-00-02" },
    { "NETCORE_MAC", "2:0:0:0:0:2" },
    { "NETCORE_MAC", "02:00:00:00:00:0g" },
    { "NETCORE_MAC", "01:00:5e:00:00:01" },
    { "NETCORE_MAC", "ff:ff:ff:ff:ff:ff" },
    { "NETCORE_MAC", "00:00:00:00:00:00" },

    { "NETCORE_MTU", "" },
    { "NETCORE_MTU", "abc" },
    { "NETCORE_MTU", "575" },
    { "NETCORE_MTU", "65522" },
    { "NETCORE_MTU", "1500x" },
    { "NETCORE_MTU", "-1500" },
    { "NETCORE_MTU", "+1500" },
    { "NETCORE_MTU", " 1500" },
    { "NETCORE_MTU", "1500 " },
    { "NETCORE_MTU", "0x5dc" },
    { "NETCORE_MTU", "1e3" },
    { "NETCORE_MTU", "4294968796" },
    { "NETCORE_MTU", "99999999999999999999999" },

    { "NETCORE_SNDBUF", "" },
    { "NETCORE_SNDBUF", "abc" },
    { "NETCORE_SNDBUF", "4095" },
    { "NETCORE_SNDBUF", "0" },
    { "NETCORE_SNDBUF", "0k" },
    { "NETCORE_SNDBUF", "67108865" },
    { "NETCORE_SNDBUF", "65m" },
    { "NETCORE_SNDBUF", "1g" },
    { "NETCORE_SNDBUF", "-4096" },
    { "NETCORE_SNDBUF", "4kb" },
    { "NETCORE_SNDBUF", "4 k" },
    { "NETCORE_SNDBUF", "k" },
    { "NETCORE_SNDBUF", "17592186044416m" },
    { "NETCORE_SNDBUF", "18446744073709551616" },

    { "NETCORE_RCVBUF", "" },
    { "NETCORE_RCVBUF", "1M2" },
    { "NETCORE_RCVBUF", "3k" },
    { "NETCORE_RCVBUF", "-1" },
    { "NETCORE_RCVBUF", "+8192" },

    { "NETCORE_MAX_SOCKETS", "" },
    { "NETCORE_MAX_SOCKETS", "0" },
    { "NETCORE_MAX_SOCKETS", "65537" },
    { "NETCORE_MAX_SOCKETS", "-1" },
    { "NETCORE_MAX_SOCKETS", "10 " },

    { "NETCORE_BACKLOG", "" },
    { "NETCORE_BACKLOG", "0" },
    { "NETCORE_BACKLOG", "65536" },
    { "NETCORE_BACKLOG", "many" },
    { "NETCORE_BACKLOG", "-128" },

    { "NETCORE_UDP_QUEUE", "" },
    { "NETCORE_UDP_QUEUE", "0" },
    { "NETCORE_UDP_QUEUE", "65537" },
    { "NETCORE_UDP_QUEUE", "1.5" },
    { "NETCORE_UDP_QUEUE", "-64" },

    { "NETCORE_CMD_QUEUE", "" },
    { "NETCORE_CMD_QUEUE", "0" },
    { "NETCORE_CMD_QUEUE", "65537" },
    { "NETCORE_CMD_QUEUE", "+1" },
    { "NETCORE_CMD_QUEUE", "256k" },

    { "NETCORE_TIME_WAIT_MAX", "" },
    { "NETCORE_TIME_WAIT_MAX", "-1" },
    { "NETCORE_TIME_WAIT_MAX", "1000001" },
    { "NETCORE_TIME_WAIT_MAX", "1k" },
    { "NETCORE_TIME_WAIT_MAX", "18446744073709551615" },

    { "NETCORE_LINGER", "" },
    { "NETCORE_LINGER", "-1" },
    { "NETCORE_LINGER", "3601" },
    { "NETCORE_LINGER", "5s" },

    { "NETCORE_STACK", "" },
    { "NETCORE_STACK", "shared " },
    { "NETCORE_STACK", "1" },
    { "NETCORE_STACK", "OWN" },

    { "NETCORE_RUNDIR", "" },
    { "NETCORE_RUNDIR", "relative" },
    { "NETCORE_RUNDIR", "./tmp" },

    { "NETCORE_PROFILE", "" },
    { "NETCORE_PROFILE", "fast" },
    { "NETCORE_PROFILE", "Latency" },
    { "NETCORE_PROFILE", "latency " },
    { "NETCORE_SPIN_OWN", "2" },
    { "NETCORE_SPIN_OWN", "yes" },
    { "NETCORE_RX_BATCH", "0" },
    { "NETCORE_RX_BATCH", "4097" },
};

START_TEST(test_bad_value)
{
    set_bad(bad[_i].name, bad[_i].value);
}
END_TEST

START_TEST(test_bad_after_good)
{
    /* Everything before the last variable parses; none of it may reach cfg. */
    fake_set("NETCORE_DEVICE", "tun");
    fake_set("NETCORE_TAP", "other0");
    fake_set("NETCORE_IP", "10.0.0.2/8");
    fake_set("NETCORE_GW", "10.0.0.1");
    fake_set("NETCORE_MAC", "02:00:00:00:00:99");
    fake_set("NETCORE_MTU", "9000");
    fake_set("NETCORE_SNDBUF", "1m");
    set_bad("NETCORE_TIME_WAIT_MAX", "lots");
}
END_TEST

START_TEST(test_message_exact)
{
    fake_set("NETCORE_MTU", "abc");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_str_eq(err, "NETCORE_MTU=\"abc\": not an integer in 576..65521");
}
END_TEST

START_TEST(test_err_null)
{
    fake_set("NETCORE_MTU", "abc");
    ck_assert_int_eq(netcore_config_from_env(&cfg, fake_get, NULL, 0), -EINVAL);
    ck_assert_int_eq(netcore_config_from_env(&cfg, fake_get, NULL, 100), -EINVAL);
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

START_TEST(test_err_short)
{
    char small[8];

    fake_set("NETCORE_MTU", "abc");
    memset(small, 'X', sizeof(small));
    ck_assert_int_eq(netcore_config_from_env(&cfg, fake_get, small, 0), -EINVAL);
    ck_assert_int_eq(small[0], 'X');
    ck_assert_int_eq(netcore_config_from_env(&cfg, fake_get, small, sizeof(small)), -EINVAL);
    ck_assert_str_eq(small, "NETCORE");
    ck_assert_int_eq(netcore_config_from_env(&cfg, fake_get, small, 1), -EINVAL);
    ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(test_err_long_value)
{
    char value[300];

    /* A huge value is cut in the message so what was expected still fits. */
    memset(value, '7', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    fake_set("NETCORE_MTU", value);
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "NETCORE_MTU=\"7777"));
    ck_assert_ptr_nonnull(strstr(err, "...\": not an integer in 576..65521"));
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

/* ip6 */

static const struct {
    const char *value, *addr;
    int prefix;
} ip6_good[] = {
    { "2001:db8::7", "2001:db8::7", 64 },         /* no prefix: the default's stays */
    { "2001:DB8:0:0:0:0:0:7/64", "2001:db8::7", 64 },
    { "2001:db8::7/128", "2001:db8::7", 128 },
    { "2001:db8::7/0096", "2001:db8::7", 96 },    /* decimal, not octal */
    { "fd12:3456:789a:1::1/64", "fd12:3456:789a:1::1", 64 },
    { "2001:db8::1:2:3:4/64", "2001:db8::1:2:3:4", 64 },
    { "2001:db8::198.18.0.2/64", "2001:db8::c612:2", 64 },
    { "2001:db8::/127", "2001:db8::", 127 },      /* /127 has no anycast address (RFC 6164) */
    { "2001:db8::101/120", "2001:db8::101", 120 },
};

START_TEST(test_ip6_good)
{
    fake_set("NETCORE_IP6", ip6_good[_i].value);
    ck_load_ok();
    ck_assert_ip6_eq(cfg.ip6, ip6_good[_i].addr);
    ck_assert_int_eq(cfg.prefix6, ip6_good[_i].prefix);
    /* IPv4 settings are untouched. */
    ck_assert_uint_eq(cfg.ip.s_addr, before.ip.s_addr);
    ck_assert_int_eq(cfg.prefix, before.prefix);
}
END_TEST

START_TEST(test_ip6_messages)
{
    fake_set("NETCORE_IP6", "2001:db8::zz");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_str_eq(err, "NETCORE_IP6=\"2001:db8::zz\": not an IPv6 address x:x::x[/64..128]");

    set_bad("NETCORE_IP6", "2001:db8::2/48");
    ck_assert_ptr_nonnull(strstr(err, "/64..128"));

    set_bad("NETCORE_IP6", "fe80::1");
    ck_assert_ptr_nonnull(strstr(err, "link-local"));

    set_bad("NETCORE_IP6", "2001:db8:1::/64");
    ck_assert_ptr_nonnull(strstr(err, "anycast"));
}
END_TEST

START_TEST(test_ip6_with_ip4)
{
    /* Both families at once; a bad IPv6 value keeps a good IPv4 one out of cfg too. */
    fake_set("NETCORE_IP", "10.0.0.2/24");
    fake_set("NETCORE_GW", "10.0.0.1");
    fake_set("NETCORE_IP6", "fd00::2/64");
    ck_load_ok();
    ck_assert_uint_eq(cfg.ip.s_addr, ip4("10.0.0.2"));
    ck_assert_ip6_eq(cfg.ip6, "fd00::2");

    memcpy(&before, &cfg, sizeof(cfg));
    fake_set("NETCORE_IP", "10.0.0.3/24");
    set_bad("NETCORE_IP6", "fd00::2/65x");
}
END_TEST

/* gw */

START_TEST(test_gw_outside)
{
    set_bad("NETCORE_GW", "10.0.0.1");
    ck_assert_ptr_nonnull(strstr(err, "198.18.0.0/24"));
}
END_TEST

START_TEST(test_gw_equals_ip)
{
    set_bad("NETCORE_GW", "198.18.0.2");

    fake_set("NETCORE_IP", "10.9.8.7/16");
    set_bad("NETCORE_GW", "10.9.8.7");
}
END_TEST

START_TEST(test_gw_final_prefix)
{
    /* Judged on the new address and prefix, whatever order they are read in. */
    set_bad("NETCORE_GW", "198.18.5.1");
    fake_set("NETCORE_IP", "198.18.0.2");
    load_bad("NETCORE_GW", "198.18.5.1");
    fake_set("NETCORE_IP", "198.18.0.2/16");
    ck_load_ok();
    ck_assert_int_eq(cfg.prefix, 16);
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("198.18.5.1"));
}
END_TEST

START_TEST(test_gw_new_subnet)
{
    fake_set("NETCORE_IP", "10.0.0.2/24");
    fake_set("NETCORE_GW", "10.0.0.1");
    ck_load_ok();
    ck_assert_uint_eq(cfg.gw.s_addr, ip4("10.0.0.1"));
}
END_TEST

START_TEST(test_gw_unset_outside)
{
    /* The old default gateway is not on the new subnet: say so under NETCORE_GW. */
    fake_set("NETCORE_IP", "10.0.0.2/24");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "NETCORE_GW"));
    ck_assert_ptr_nonnull(strstr(err, "198.18.0.1"));
    ck_assert_ptr_nonnull(strstr(err, "10.0.0.0/24"));
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

START_TEST(test_gw_prefix32)
{
    /* A /32 subnet holds only the address, so no gateway can be inside it. */
    fake_set("NETCORE_IP", "10.0.0.2/32");
    set_bad("NETCORE_GW", "10.0.0.1");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_defaults_repeatable);
    tcase_add_test(tc, test_defaults_pass_env);
    suite_add_tcase(s, tc);

    tc = tcase_create("valid");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_empty_env);
    tcase_add_test(tc, test_err_untouched_on_success);
    tcase_add_test(tc, test_device);
    tcase_add_test(tc, test_ifname);
    tcase_add_test(tc, test_ip_prefix);
    tcase_add_test(tc, test_ip_no_prefix);
    tcase_add_test(tc, test_ip_prefix_edges);
    tcase_add_test(tc, test_gw_only);
    tcase_add_test(tc, test_mac);
    tcase_add_test(tc, test_dns);
    tcase_add_test(tc, test_dns_loopback_message);
    tcase_add_test(tc, test_mtu);
    tcase_add_loop_test(tc, test_sizes, 0, sizeof(sizes) / sizeof(sizes[0]));
    tcase_add_loop_test(tc, test_ring_mem, 0, sizeof(ring_mems) / sizeof(ring_mems[0]));
    tcase_add_test(tc, test_ints);
    tcase_add_test(tc, test_tap_pool);
    tcase_add_test(tc, test_log_pcap);
    tcase_add_test(tc, test_stack_rundir);
    tcase_add_test(tc, test_all);
    tcase_add_test(tc, test_profile);
    tcase_add_test(tc, test_profile_overridden);
    tcase_add_test(tc, test_profile_message);
    tcase_add_test(tc, test_real_env);
    suite_add_tcase(s, tc);

    tc = tcase_create("invalid");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_bad_value, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, test_bad_after_good);
    tcase_add_test(tc, test_message_exact);
    tcase_add_test(tc, test_err_null);
    tcase_add_test(tc, test_err_short);
    tcase_add_test(tc, test_err_long_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("ip6");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_ip6_good, 0, sizeof(ip6_good) / sizeof(ip6_good[0]));
    tcase_add_test(tc, test_ip6_messages);
    tcase_add_test(tc, test_ip6_with_ip4);
    suite_add_tcase(s, tc);

    tc = tcase_create("gw");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_gw_outside);
    tcase_add_test(tc, test_gw_equals_ip);
    tcase_add_test(tc, test_gw_final_prefix);
    tcase_add_test(tc, test_gw_new_subnet);
    tcase_add_test(tc, test_gw_unset_outside);
    tcase_add_test(tc, test_gw_prefix32);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
