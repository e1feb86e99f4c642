/*
 * closer: fds a client passed to the driver are let go of without blocking the netstack.
 *
 * An fd that comes with a request is the client's choice: close() of a TCP socket with
 * SO_LINGER and unsent data waits up to the linger time, and fstat() or close() of a file on
 * a hung FUSE or NFS mount waits for the server. On the netstack thread that would stop the
 * stack for every process. So the driver looks at a passed fd only with
 * getsockopt(SO_DOMAIN), which touches no filesystem; AF_UNIX sockets (every program end,
 * every well-formed request's fd) are closed at once, which never waits; anything else goes
 * to a thread of its own that closes it. The queue is bounded: when it is full (a client
 * sending junk fds faster than they close), the fd is closed inline, as before.
 *
 * The thread starts at the first fd it is given. After fork (the keeper, a child) the copy
 * of the queue is the parent's business: the child starts afresh (its pid differs).
 */
#include "closer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shimapi.h"

#define CLOSER_QUEUE 256

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pid_t pid;          /* the process whose thread runs; 0: none started */
    int q[CLOSER_QUEUE];
    int head, n;
    _Atomic unsigned long closed; /* by the thread (check_share) */
} cl = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *closer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cl.mu);
    for (;;) {
        while (cl.n == 0)
            pthread_cond_wait(&cl.cv, &cl.mu);
        int fd = cl.q[cl.head];
        cl.head = (cl.head + 1) % CLOSER_QUEUE;
        cl.n--;
        pthread_mutex_unlock(&cl.mu);
        nc__raw_syscall(SYS_close, fd); /* may wait: that is what this thread is for */
        atomic_fetch_add(&cl.closed, 1);
        pthread_mutex_lock(&cl.mu);
    }
    return NULL;
}

/* Caller holds cl.mu. A child of fork has the parent's queue but not its thread. */
static bool closer_running(void)
{
    pid_t me = getpid();
    if (cl.pid == me)
        return true;
    cl.head = cl.n = 0; /* the parent's fds: the child's copies are CLOEXEC, and few */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* none of the program's handlers here */
    pthread_t t;
    int rc = pthread_create(&t, NULL, closer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return false;
    pthread_detach(t);
    cl.pid = me;
    return true;
}

bool nc__fd_is_unix(int fd)
{
    int dom = 0;
    socklen_t len = sizeof(dom);
    return nc__raw_syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 &&
           dom == AF_UNIX;
}

void nc__close_passed(int fd)
{
    if (fd < 0)
        return;
    if (nc__fd_is_unix(fd)) {
        nc__raw_syscall(SYS_close, fd); /* an AF_UNIX socket's close never waits */
        return;
    }
    /* A fork in another thread may have left the child's copy of the mutex held: the child
     * is single-threaded then, so a fresh mutex is safe there. */
    if (cl.pid != 0 && cl.pid != getpid()) {
        pthread_mutex_init(&cl.mu, NULL);
        pthread_cond_init(&cl.cv, NULL);
    }
    pthread_mutex_lock(&cl.mu);
    if (cl.n < CLOSER_QUEUE && closer_running()) {
        cl.q[(cl.head + cl.n) % CLOSER_QUEUE] = fd;
        cl.n++;
        pthread_cond_signal(&cl.cv);
        fd = -1;
    }
    pthread_mutex_unlock(&cl.mu);
    if (fd >= 0)
        nc__raw_syscall(SYS_close, fd); /* queue full or no thread: inline, as before */
}

unsigned long nc__closer_count(void)
{
    return atomic_load(&cl.closed);
}
