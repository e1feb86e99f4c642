/*
 * nested_rpc — a signal handler's call on a relayed socket while its thread waits for a reply
 * of the driver (tests/test_remote.sh, against tests/lib/fakedriver.py --slow, which answers
 * every GETSOCKNAME half a second late). The main thread's getsockname() is in its exchange on
 * the thread's control connection when SIGALRM comes; the handler's getsockname() must not
 * use that connection: it would read the main thread's reply, drop it as not its own, and the
 * main thread would wait for it forever (preload/remote.c, rpc_busy). Prints both results;
 * exit 0 when both calls succeeded. Run under a time limit: the failure is a hang.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int fd;
static volatile sig_atomic_t handler_rc = 99, handler_errno;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    handler_rc = getsockname(fd, (struct sockaddr *)&a, &l);
    handler_errno = handler_rc != 0 ? errno : 0;
    errno = saved;
}

int main(void)
{
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { .it_value = { 0, 100000 } }; /* within the outer call's wait */
    setitimer(ITIMER_REAL, &it, NULL);
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    int rc = getsockname(fd, (struct sockaddr *)&a, &l);
    int e = rc != 0 ? errno : 0;
    printf("outer getsockname %d (%s), handler's %d (%s)\n", rc, strerror(e), (int)handler_rc,
           strerror(handler_errno));
    return rc == 0 && handler_rc == 0 ? 0 : 1;
}
