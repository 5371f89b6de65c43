/* The operating system as the runtime sees it.
 *
 * System calls that can fail for reasons outside the program's control go
 * through one table, cio__os, so a test can make the Nth call fail with a
 * chosen errno and check that the failure is reported, not crashed on.
 */
#ifndef CIO_OS_H
#define CIO_OS_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct cio__os_calls {
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
    int (*munmap)(void *addr, size_t len);
    int (*madvise)(void *addr, size_t len, int advice);
    int (*pthread_create)(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
    int (*epoll_create1)(int flags);
    int (*eventfd)(unsigned int initval, int flags);
    int (*close)(int fd);
};

/* The table in use; tests may replace entries and must restore them. */
extern struct cio__os_calls cio__os;
/* The real calls, for restoring. */
extern const struct cio__os_calls cio__os_default;

/* Nanoseconds <-> struct timespec (non-negative values). */
static inline int64_t cio__os_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static inline struct timespec cio__os_ts(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

/* t + ns, saturating at INT64_MAX (CIO_NEVER) and INT64_MIN: a time
 * computed from user input ("now + idle") must not wrap to the far past,
 * or to a value the kernel refuses as a timeout. */
static inline int64_t cio__os_add_sat(int64_t t, int64_t ns)
{
    int64_t r;
    if (__builtin_add_overflow(t, ns, &r))
        return ns > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Tells the CPU the caller spins (a sibling hyperthread may run). */
static inline void cio__os_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Signals on a worker's thread under ThreadSanitizer (os.c says why): a
 * worker holds the asynchronous signals back while it runs (hold, at the
 * start of its loop; release, at the end) and lets them in only while it
 * sleeps in the reactor, with the mask that open() returns. Elsewhere
 * hold and release do nothing and open() is NULL. */
void cio__os_signals_hold(void);
/* Every signal but the synchronous faults (SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGTRAP, SIGSYS: they belong to the thread that faulted), the
 * stall reports' SIGURG and profilers' SIGPROF (meant for the thread they
 * interrupt): what a thread that takes no signal blocks. */
void cio__os_async_signals(sigset_t *set);
void cio__os_signals_release(void);
const sigset_t *cio__os_signals_open(void);

/* Monotonic nanoseconds. */
int64_t cio__os_now(void);
/* A tick counter cheap enough to read at every scheduler transition: the
 * TSC on x86-64 (constant and non-stop on the CPUs cio runs on; a read is
 * about 7 ns where clock_gettime costs about 20), the virtual counter on
 * aarch64, elsewhere the monotonic clock in ns. Monotonic per thread;
 * only differences taken on one thread are meaningful. */
static inline uint64_t cio__os_ticks(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return (uint64_t)cio__os_now();
#endif
}
/* `ticks` (a difference of cio__os_ticks()) in nanoseconds. On x86-64 the
 * rate is measured against the monotonic clock since the first call of
 * cio__os_ticks_start(), so it sharpens as the process runs. */
int64_t cio__os_ticks_ns(uint64_t ticks);
/* Starts the measurement of the tick rate (once per process; cheap). */
void cio__os_ticks_start(void);
/* The same clock as of the last timer tick: a few times cheaper to read,
 * never ahead of cio__os_now(), usually behind it by less than
 * cio__os_coarse_res(), but by more after a CPU comes back from idle
 * (the tick that updates it comes late). So use it only where a late
 * answer is harmless: "is this deadline surely still ahead?" may then
 * delay a wake a little, never make one early. */
int64_t cio__os_now_coarse(void);
int64_t cio__os_coarse_res(void);
/* Whether `deadline` (CIO_NEVER: never) has passed, reading the precise
 * clock only when the coarse one puts it within a tick: a deadline far
 * ahead costs the cheap read alone. After a CPU's idle the coarse clock
 * may lag more than a tick, and a deadline passed just then is taken as
 * ahead: the caller's wait then ends at once on it instead. */
static inline bool cio__os_passed(int64_t deadline)
{
    if (deadline == INT64_MAX) /* CIO_NEVER */
        return false;
    if (deadline > cio__os_now_coarse() + cio__os_coarse_res())
        return false;
    return deadline <= cio__os_now();
}
/* Online CPUs usable by this process (at least 1). */
int cio__os_ncpu(void);
/* Names the calling thread (best effort; at most 15 characters kept). */
void cio__os_thread_name(const char *name);
/* Page size in bytes. */
size_t cio__os_page(void);
/* Sleeps while *word == expect, until woken or `deadline` (monotonic ns;
 * INT64_MAX: none). 0 when woken (or spuriously), -EAGAIN when *word
 * differed, -ETIMEDOUT, -EINTR. */
int cio__os_futex_wait(_Atomic uint32_t *word, uint32_t expect,
                       int64_t deadline);
/* Wakes up to `n` threads sleeping on `word`. */
void cio__os_futex_wake(_Atomic uint32_t *word, int n);

#endif /* CIO_OS_H */
