#include "os/os.h"
#include "core/config.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int real_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                               void *(*fn)(void *), void *arg)
{
    return pthread_create(t, attr, fn, arg);
}

const struct cio__os_calls cio__os_default = {
    .mmap = mmap,
    .munmap = munmap,
    .madvise = madvise,
    .pthread_create = real_pthread_create,
    .epoll_create1 = epoll_create1,
    .eventfd = eventfd,
    .close = close,
};

struct cio__os_calls cio__os = {
    .mmap = mmap,
    .munmap = munmap,
    .madvise = madvise,
    .pthread_create = real_pthread_create,
    .epoll_create1 = epoll_create1,
    .eventfd = eventfd,
    .close = close,
};

int64_t cio__os_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return cio__os_ns(&ts);
}

int64_t cio__os_now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return cio__os_ns(&ts);
}

int64_t cio__os_coarse_res(void)
{
    static _Atomic int64_t res;
    int64_t r = atomic_load_explicit(&res, memory_order_relaxed);
    if (!r) {
        struct timespec ts;
        if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0)
            r = cio__os_ns(&ts);
        /* A resolution that cannot be had, or an absurd one: never trust
         * the coarse clock (every check falls through to the precise). */
        if (r <= 0 || r > 100000000)
            r = INT64_MAX / 4;
        atomic_store_explicit(&res, r, memory_order_relaxed);
    }
    return r;
}

int cio__os_ncpu(void)
{
    /* The affinity mask, not the machine's CPU count, is what this process
     * may use (taskset, cgroups with cpusets). */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void cio__os_thread_name(const char *name)
{
    char buf[16];
    size_t i = 0;
    for (; name[i] && i < sizeof buf - 1; i++)
        buf[i] = name[i];
    buf[i] = 0;
    pthread_setname_np(pthread_self(), buf);
}

size_t cio__os_page(void)
{
    static size_t page;
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

int cio__os_futex_wait(_Atomic uint32_t *word, uint32_t expect,
                       int64_t deadline)
{
    struct timespec ts, *tp = NULL;
    if (deadline != INT64_MAX) {
        ts = cio__os_ts(deadline < 0 ? 0 : deadline);
        tp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute time on CLOCK_MONOTONIC, the
     * clock of cio__os_now(). */
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                      expect, tp, NULL, FUTEX_BITSET_MATCH_ANY);
    return rc < 0 ? -errno : 0;
}

void cio__os_futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* ---- signals under ThreadSanitizer ------------------------------------------ */

/* ThreadSanitizer runs the handler of a signal that comes while a thread
 * is outside a call it knows to block late, at the next call it
 * intercepts, and keeps it with the fiber current then. A task's fiber
 * that takes a signal just before it stops keeps it while it waits,
 * maybe for ever: a task waiting for SIGTERM's byte would never get it.
 * So under ThreadSanitizer a worker lets asynchronous signals in only
 * while it sleeps in epoll_pwait, a call it knows to block, where it runs
 * handlers at once. A worker busy for long takes none meanwhile; the
 * program's other threads and idle workers do. Faults stay open (they
 * are the faulting thread's), and so do the stall reports' SIGURG and
 * profilers' SIGPROF, which are meant for the thread they interrupt. */
void cio__os_async_signals(sigset_t *set)
{
    sigfillset(set);
    sigdelset(set, SIGSEGV);
    sigdelset(set, SIGBUS);
    sigdelset(set, SIGILL);
    sigdelset(set, SIGFPE);
    sigdelset(set, SIGTRAP);
    sigdelset(set, SIGSYS);
    sigdelset(set, SIGURG);
    sigdelset(set, SIGPROF);
}

#if CIO_HAVE_TSAN
static __thread sigset_t sig_open;
static __thread bool sig_held;

void cio__os_signals_hold(void)
{
    sigset_t async;
    cio__os_async_signals(&async);
    if (pthread_sigmask(SIG_BLOCK, &async, &sig_open) == 0)
        sig_held = true;
}

void cio__os_signals_release(void)
{
    if (sig_held)
        pthread_sigmask(SIG_SETMASK, &sig_open, NULL);
    sig_held = false;
}

const sigset_t *cio__os_signals_open(void)
{
    return sig_held ? &sig_open : NULL;
}
#else
void cio__os_signals_hold(void) {}
void cio__os_signals_release(void) {}
const sigset_t *cio__os_signals_open(void) { return NULL; }
#endif

/* ---- ticks ----------------------------------------------------------------- */

static pthread_once_t ticks_once = PTHREAD_ONCE_INIT;
static uint64_t ticks_base;
static int64_t ns_base;

/* The clock between two counter reads, the counter taken as their
 * middle: a preemption between the reads shows as a wide pair, and the
 * narrowest of a few pairs is kept. */
static void ticks_pair(uint64_t *ticks, int64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 4; i++) {
        uint64_t t1 = cio__os_ticks();
        int64_t n = cio__os_now();
        uint64_t t2 = cio__os_ticks();
        if (t2 - t1 < best) {
            best = t2 - t1;
            *ticks = t1 + (t2 - t1) / 2;
            *ns = n;
        }
    }
}

static void ticks_take_base(void)
{
    ticks_pair(&ticks_base, &ns_base);
}

void cio__os_ticks_start(void)
{
    pthread_once(&ticks_once, ticks_take_base);
}

int64_t cio__os_ticks_ns(uint64_t ticks)
{
#if defined(__aarch64__)
    uint64_t freq;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    return freq ? (int64_t)((unsigned __int128)ticks * 1000000000u / freq)
                : (int64_t)ticks;
#elif defined(__x86_64__)
    cio__os_ticks_start();
    /* The rate over the process's life so far: both clocks read back to
     * back, so the error is their read time (tens of ns) over the span;
     * a span under 100 us is stretched to that first. */
    int64_t dn;
    uint64_t dt;
    do {
        uint64_t t = 0;
        int64_t n = 0;
        ticks_pair(&t, &n);
        dn = n - ns_base;
        dt = t - ticks_base;
    } while (dn < 100000);
    return dt ? (int64_t)((unsigned __int128)ticks * (uint64_t)dn / dt) : 0;
#else
    return (int64_t)ticks;
#endif
}
