/*
 * sem_siglocks: signal handlers against the shim's own locks, compared with the kernel. No
 * arguments; no peer. A hang is the failure (nc_both's time limit ends it).
 *
 * 1. The stack's start: while the program's first socket() starts netcore (a lock of the shim
 *    held across it), another thread signals the main thread in a loop and the handler opens
 *    and closes a socket; a handler run while the start holds that lock waited for itself.
 *    (The kernel's socket() is too quick for the signals to land inside; the count of those
 *    that did is printed.)
 * 2. fork while another thread calls sigaction in a loop: the child installs a handler and
 *    raises its signal; a child that inherited the shim's handler table halfway through a
 *    write (its lock held, a sequence count odd) hung in sigaction or in the raise.
 * Prints "ok: ..." per case and "FAIL: sem_siglocks: ..." on failure; exits 1 if any failed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORKS 300

static pthread_t main_thread;
static atomic_bool storm_on, flipping;
static volatile sig_atomic_t runs, errors, in_first_socket, runs_in_first_socket;
static volatile sig_atomic_t usr2_ran;

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    runs = runs + 1;
    if (in_first_socket) { /* the first socket is the main thread's */
        runs_in_first_socket = runs_in_first_socket + 1;
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0 || close(s) != 0)
            errors = errors + 1;
    }
    errno = saved;
}

static void on_usr2(int sig)
{
    (void)sig;
    usr2_ran = 1;
}

static void on_usr2_other(int sig)
{
    (void)sig;
    usr2_ran = 2;
}

static void install(int sig, void (*fn)(int))
{
    struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        printf("FAIL: sem_siglocks: sigaction: %s\n", strerror(errno));
        exit(1);
    }
}

/* Signals the main thread every few microseconds (pacing, not synchronisation). */
static void *storm(void *arg)
{
    (void)arg;
    struct timespec gap = { 0, 20000 };
    while (atomic_load(&storm_on)) {
        pthread_kill(main_thread, SIGUSR1);
        nanosleep(&gap, NULL);
    }
    return NULL;
}

static void *flip(void *arg)
{
    (void)arg;
    for (unsigned i = 0; atomic_load(&flipping); i++)
        install(SIGUSR2, i & 1 ? on_usr2 : on_usr2_other);
    return NULL;
}

static pthread_t start_storm(void)
{
    runs = 0;
    errors = 0;
    atomic_store(&storm_on, true);
    pthread_t t;
    pthread_create(&t, NULL, storm, NULL);
    return t;
}

static void stop_storm(pthread_t t)
{
    atomic_store(&storm_on, false);
    pthread_join(t, NULL);
}

static int case_start(void)
{
    pthread_t t = start_storm();
    while (runs == 0)
        sched_yield(); /* the storm has begun */
    in_first_socket = 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    in_first_socket = 0;
    int err = errno;
    stop_storm(t);
    printf("# %d handler runs, %d inside the first socket()\n", (int)runs,
           (int)runs_in_first_socket);
    if (s < 0 || errors != 0) {
        printf("FAIL: sem_siglocks: start: socket=%d (%s), %d handler errors\n", s,
               s < 0 ? strerror(err) : "-", (int)errors);
        return -1;
    }
    close(s);
    return 0;
}

static int case_fork_sigaction(void)
{
    atomic_store(&flipping, true);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    int bad = 0;
    for (int i = 0; i < FORKS && !bad; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            install(SIGUSR2, on_usr2);
            raise(SIGUSR2);
            _exit(usr2_ran == 1 ? 0 : 3);
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad = i + 1;
    }
    atomic_store(&flipping, false);
    pthread_join(t, NULL);
    if (bad) {
        printf("FAIL: sem_siglocks: fork %d: the child's handler did not run\n", bad);
        return -1;
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_thread = pthread_self();
    install(SIGUSR1, on_usr1);
    struct {
        const char *name;
        int (*fn)(void);
    } cases[] = { { "a handler opens sockets during the stack's start", case_start },
                  { "fork while another thread calls sigaction", case_fork_sigaction } };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].fn() != 0)
            failed++;
        else
            printf("ok: %s\n", cases[i].name);
    }
    return failed != 0;
}
