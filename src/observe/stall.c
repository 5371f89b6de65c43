/* Stall reports: a watchdog thread notices a worker that has run one task
 * for cio_config.stall_ns without a switch, and has the worker report it.
 *
 * The watchdog only reads what core counts anyway (a worker's switches
 * and its phase, both written by the worker alone); a worker whose
 * switch count has not moved while it stayed in the running phase for
 * the whole threshold is stalled. The report is written by the stalled
 * worker's own thread, in a SIGURG handler the watchdog triggers with
 * pthread_kill: only that thread may read its current task, and only
 * there can backtrace() see where the task is. The handler runs on the
 * worker's alternate signal stack (the task's may be nearly full) and
 * makes only async-signal-safe calls (backtrace() is made safe by a
 * first call at start, which loads what it needs). The unwinder can still
 * fault on a frame it misreads (seen under emulation): the fault returns
 * to the report, which says the backtrace is unavailable, instead of
 * ending the process.
 */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime.h"
#include "observe/observe.h"

/* One runtime runs at a time (cio_run refuses a second), so one
 * watchdog. */
static struct {
    struct cio__runtime *rt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    bool running;
    struct sigaction old_urg;
    uint64_t *seen_switches;  /* per worker: the count last seen */
    int64_t *seen_at;         /* when it was first seen */
    uint64_t *reported;       /* the count (+1) whose stall was reported */
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void say(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void say_num(int64_t n)
{
    char num[24];
    size_t i = sizeof num - 1;
    num[i] = 0;
    if (n < 0)
        n = 0;
    do {
        num[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n && i > 0);
    say(&num[i]);
}

#ifdef CIO_TESTING
void *cio__test_report_fault_at;
#endif

/* Writes the report (in the SIGURG handler, on the stalled thread). */
static void report(struct cio__worker *w, int64_t ns)
{
    struct cio__task *t =
        atomic_load_explicit(&w->cur, memory_order_relaxed);
    const char *name = cio__side(t)->name;
    say("cio: stall: task \"");
    say(name ? name : "task");
    say("\" has run on worker ");
    say_num(w->index);
    say(" for ");
    say_num(ns / 1000000);
    say(" ms without waiting; where it is now:\n");
    /* Into the trace too, unless the task was interrupted while writing
     * an event of its own into this lane (then the stall is not traced:
     * the lane has one writer at a time). */
    struct cio__lane *l = w->lane;
    if (l && !l->busy)
        cio__lane_put(l, cio__os_ticks(), cio__task_handle(t).id,
                      (uint64_t)ns, cio__ev_meta(CIO__EV_STALL, 0, 0));
    void *frames[48];
    sigjmp_buf recover;
    if (sigsetjmp(recover, 1)) {
        w->fault_jmp = NULL;
        say("  (backtrace unavailable: the unwinder faulted)\n");
        return;
    }
    w->fault_jmp = &recover;
#ifdef CIO_TESTING
    if (cio__test_report_fault_at)
        *(volatile char *)cio__test_report_fault_at = 0;
#endif
    int n = backtrace(frames, 48);
    w->fault_jmp = NULL;
    /* Skip the handler's own frames and the signal trampoline's. */
    if (n > 3)
        backtrace_symbols_fd(frames + 3, n - 3, STDERR_FILENO);
}

static void on_urg(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno; /* the interrupted task's */
    struct cio__worker *w = cio__tls_worker;
    int64_t ns = w ? atomic_exchange_explicit(&w->c.stall_ns, 0,
                                              memory_order_acquire)
                   : 0;
    if (ns) {
        /* Still the same stall? The task may have waited (or the worker
         * be switching) since the watchdog looked: then say nothing
         * rather than name the wrong task or unwind a switch. Relaxed:
         * this thread's own counters. */
        uint64_t sw = atomic_load_explicit(&w->c.switches,
                                           memory_order_relaxed);
        if (sw == atomic_load_explicit(&w->c.stall_switches,
                                       memory_order_relaxed) &&
            atomic_load_explicit(&w->c.phase, memory_order_relaxed) ==
                CIO__PH_RUN &&
            atomic_load_explicit(&w->cur, memory_order_relaxed))
            report(w, ns);
    } else if (wd.old_urg.sa_flags & SA_SIGINFO) {
        /* Not the watchdog's: whoever handled SIGURG before. */
        if (wd.old_urg.sa_sigaction)
            wd.old_urg.sa_sigaction(sig, si, uctx);
    } else if (wd.old_urg.sa_handler != SIG_DFL &&
               wd.old_urg.sa_handler != SIG_IGN) {
        wd.old_urg.sa_handler(sig);
    }
    errno = saved;
}

static void check(struct cio__runtime *rt, int64_t now)
{
    for (int i = 0; i < rt->nworkers; i++) {
        struct cio__worker *w = &rt->workers[i];
        /* Relaxed: counters the worker alone writes; a stale read delays
         * a report by one look at most. */
        uint64_t sw = atomic_load_explicit(&w->c.switches,
                                           memory_order_relaxed);
        int ph = atomic_load_explicit(&w->c.phase, memory_order_relaxed);
        if (sw != wd.seen_switches[i] || ph != CIO__PH_RUN) {
            wd.seen_switches[i] = sw;
            wd.seen_at[i] = now;
            continue;
        }
        if (now - wd.seen_at[i] < rt->stall_ns || wd.reported[i] == sw + 1)
            continue;
        wd.reported[i] = sw + 1; /* once per stall */
        /* Without its own signal stack, the handler would run on the
         * task's, which may be nearly full: no report then. */
        if (!atomic_load_explicit(&w->c.altstack_ok, memory_order_relaxed))
            continue;
        atomic_store_explicit(&w->c.stall_switches, sw,
                              memory_order_relaxed);
        /* Release: pairs with the handler's acquire exchange (and orders
         * the switch count above before it). */
        atomic_store_explicit(&w->c.stall_ns, now - wd.seen_at[i],
                              memory_order_release);
        pthread_kill(w->thread, SIGURG);
        cio__trace_after_stall();
    }
}

static void *watchdog(void *arg)
{
    struct cio__runtime *rt = arg;
    cio__os_thread_name("cio-watchdog");
    int64_t period = rt->stall_ns / 4;
    if (period < 1000000)
        period = 1000000;
    pthread_mutex_lock(&wd.lock);
    while (!wd.stop) {
        /* The condition waits on the monotonic clock (started()): a step
         * of the wall clock does not suspend the watchdog. */
        struct timespec ts = cio__os_ts(cio__os_now() + period);
        pthread_cond_timedwait(&wd.cond, &wd.lock, &ts);
        if (!wd.stop) /* an early wake only makes an extra look */
            check(rt, cio__os_now());
    }
    pthread_mutex_unlock(&wd.lock);
    return NULL;
}

static void free_tables(void)
{
    free(wd.seen_switches);
    free(wd.seen_at);
    free(wd.reported);
    wd.seen_switches = NULL;
    wd.seen_at = NULL;
    wd.reported = NULL;
}

void cio__stall_started(struct cio__runtime *rt)
{
    if (!rt->stall_ns)
        return;
    int n = rt->nworkers;
    wd.seen_switches = calloc((size_t)n, sizeof *wd.seen_switches);
    wd.seen_at = calloc((size_t)n, sizeof *wd.seen_at);
    wd.reported = calloc((size_t)n, sizeof *wd.reported);
    if (!wd.seen_switches || !wd.seen_at || !wd.reported)
        goto fail; /* no reports this run: nothing else depends on them */
    void *warm[1];
    backtrace(warm, 1); /* loads the unwinder now, not in the handler */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd.cond, &ca);
    pthread_condattr_destroy(&ca);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_urg;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, &wd.old_urg);
    wd.rt = rt;
    wd.stop = false;
    /* The watchdog takes no signals meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = cio__os.pthread_create(&wd.thread, NULL, watchdog, rt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        wd.running = true;
        return;
    }
    sigaction(SIGURG, &wd.old_urg, NULL);
    pthread_cond_destroy(&wd.cond);
fail:
    free_tables();
}

void cio__stall_ending(struct cio__runtime *rt)
{
    (void)rt;
    if (!wd.running)
        return;
    pthread_mutex_lock(&wd.lock);
    wd.stop = true;
    pthread_cond_signal(&wd.cond);
    pthread_mutex_unlock(&wd.lock);
    pthread_join(wd.thread, NULL);
    wd.running = false;
    /* The handler goes back; a report asked for just before still
     * pending then is dropped (the old SIGURG action, normally to ignore
     * it, gets it). */
    sigaction(SIGURG, &wd.old_urg, NULL);
    pthread_cond_destroy(&wd.cond);
    free_tables();
}
