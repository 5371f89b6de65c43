/* Signals for tasks: cio_signal_wait().
 *
 * A handler and a pipe, as libuv, Go's os/signal and Tokio do, rather
 * than signalfd: signalfd sees only signals blocked in every thread of
 * the process, and a program's own threads (a library's, the one that
 * called cio_run before it) are not the runtime's to block. The first
 * wait for a signal installs the handler for it (the action before is
 * kept and put back when cio_run returns); the handler, on whatever
 * thread the kernel picks, sets the signal's pending flag and writes a
 * byte into the pipe. A task of the runtime's own ("cio-signals",
 * started by the first wait, ended with the other tasks when main
 * returns) waits on the pipe's readable end in the reactor and hands
 * each pending signal to every task waiting for it then, or keeps it
 * pending for the next wait when none is.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "cio.h"
#include "core/runtime.h"
#include "core/task.h"
#include "io/io.h"

#ifndef NSIG
#define NSIG 65
#endif

struct sig_waiter {
    struct sig_waiter *next, *prev;
    struct cio__task *task;
    uint64_t seq;
    const sigset_t *set;
    int got; /* the signal handed over (lock), 0 until then */
};

static struct {
    pthread_mutex_t lock;      /* guards all below */
    sigset_t installed;        /* signals whose handler is cio's */
    struct sigaction old[NSIG];
    struct sig_waiter *head;
    bool reader;               /* the reader task runs in this runtime */
} sg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Set by the handler, taken by the reader or a wait. */
static _Atomic int pending[NSIG];
/* Made once per process and kept, so a handler running while a runtime
 * ends never writes into a descriptor closed and reused meanwhile. */
static int spipe[2] = {-1, -1};
static pthread_once_t spipe_once = PTHREAD_ONCE_INIT;

static void spipe_make(void)
{
    if (pipe2(spipe, O_CLOEXEC | O_NONBLOCK) != 0)
        spipe[0] = spipe[1] = -1;
}

static void on_signal(int sig)
{
    int saved = errno;
    /* Release: pairs with the acquire exchange in deliver() and
     * take_pending(); a byte then makes the reader look (a full pipe
     * means it will look anyway). */
    atomic_store_explicit(&pending[sig], 1, memory_order_release);
    char c = (char)sig;
    ssize_t r = write(spipe[1], &c, 1);
    (void)r;
    errno = saved;
}

/* Signals no task may wait for: uncatchable, or synchronous faults
 * (they belong to the thread that faulted, and the runtime reports
 * stack overflows through SIGSEGV), or SIGURG (the stall reports'). */
static bool refused(int sig)
{
    return sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
           sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
           sig == SIGTRAP || sig == SIGSYS || sig == SIGURG;
}

/* Hands each pending signal to every waiter for it (lock held). */
static void deliver(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        if (!sigismember(&sg.installed, sig))
            continue;
        /* Acquire: pairs with the handler's release store. */
        if (!atomic_exchange_explicit(&pending[sig], 0,
                                      memory_order_acquire))
            continue;
        bool given = false;
        for (struct sig_waiter *w = sg.head, *next; w; w = next) {
            next = w->next;
            if (!sigismember(w->set, sig))
                continue;
            /* Unlinked before the wake: the waiter, once woken, takes
             * the lock to look, and finds itself gone and `got` set. */
            if (w->prev)
                w->prev->next = w->next;
            else
                sg.head = w->next;
            if (w->next)
                w->next->prev = w->prev;
            w->got = sig;
            cio__wake(w->task, w->seq, CIO__WAKE_OK);
            given = true;
        }
        if (!given) /* kept for the next wait (one, as the kernel does) */
            atomic_store_explicit(&pending[sig], 1, memory_order_relaxed);
    }
}

static void *reader(void *arg)
{
    (void)arg;
    for (;;) {
        /* Cancelled when main returns: then it goes with the others. */
        int rc = cio_wait_fd(spipe[0], CIO_READABLE, CIO_NEVER);
        if (rc < 0)
            break;
        char buf[64];
        while (read(spipe[0], buf, sizeof buf) > 0)
            ; /* edge-triggered: drain it all */
        pthread_mutex_lock(&sg.lock);
        deliver();
        pthread_mutex_unlock(&sg.lock);
    }
    cio_fd_forget(spipe[0]);
    return NULL;
}

/* A pending signal of `set`, taken, or 0 (lock held). */
static int take_pending(const sigset_t *set)
{
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(set, sig) && sigismember(&sg.installed, sig) &&
            atomic_exchange_explicit(&pending[sig], 0, memory_order_acquire))
            return sig;
    return 0;
}

int cio_signal_wait(const sigset_t *set, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (!set)
        return CIO_EINVAL;
    int any = 0;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(set, sig) != 1)
            continue;
        if (refused(sig))
            return CIO_EINVAL;
        any = 1;
    }
    if (!any)
        return CIO_EINVAL;
    if (cio__cancel_pending(self))
        return CIO_ECANCELED;
    pthread_once(&spipe_once, spipe_make);
    if (spipe[0] < 0)
        return CIO_EMFILE;
    pthread_mutex_lock(&sg.lock);
    if (!sg.reader) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.name = "cio-signals";
        int rc = cio_spawn(NULL, reader, NULL, &o);
        if (rc < 0) {
            pthread_mutex_unlock(&sg.lock);
            return rc;
        }
        sg.reader = true;
    }
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(set, sig) != 1 || sigismember(&sg.installed, sig))
            continue;
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        atomic_store_explicit(&pending[sig], 0, memory_order_relaxed);
        if (sigaction(sig, &sa, &sg.old[sig]) != 0) {
            pthread_mutex_unlock(&sg.lock);
            return CIO_EINVAL;
        }
        sigaddset(&sg.installed, sig);
    }
    int sig = take_pending(set);
    if (sig) {
        pthread_mutex_unlock(&sg.lock);
        return sig;
    }
    struct sig_waiter w = {.next = sg.head, .task = self, .set = set};
    if (sg.head)
        sg.head->prev = &w;
    sg.head = &w;
    cio__wait_on(self, CIO_WAIT_SIGNAL, 0);
    w.seq = cio__wait_begin(self);
    pthread_mutex_unlock(&sg.lock);
    int reason = cio__park(self, deadline);
    pthread_mutex_lock(&sg.lock);
    if (w.got) {
        /* Handed over, even if the deadline or a cancel came too: a
         * signal taken from the pending flag is never lost. */
        pthread_mutex_unlock(&sg.lock);
        return w.got;
    }
    if (w.prev)
        w.prev->next = w.next;
    else
        sg.head = w.next;
    if (w.next)
        w.next->prev = w.prev;
    pthread_mutex_unlock(&sg.lock);
    return reason < 0 ? reason : cio__wait_error(reason);
}

void cio__signals_reset(void)
{
    pthread_mutex_lock(&sg.lock);
    for (int sig = 1; sig < NSIG; sig++) {
        if (!sigismember(&sg.installed, sig))
            continue;
        sigaction(sig, &sg.old[sig], NULL);
        atomic_store_explicit(&pending[sig], 0, memory_order_relaxed);
    }
    sigemptyset(&sg.installed);
    sg.head = NULL;
    sg.reader = false;
    pthread_mutex_unlock(&sg.lock);
}
