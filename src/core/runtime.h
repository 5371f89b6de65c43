/* The runtime and its workers (runtime.c): the structures every core
 * module hangs off, the per-worker counters, the runtime's lifetime
 * (shutdown, pins for threads that are not workers) and the calling
 * thread's worker.
 */
#ifndef CIO_CORE_RUNTIME_H
#define CIO_CORE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/config.h"
#include "core/pool.h"
#include "core/runq.h"
#include "core/stack.h"
#include "core/task.h"
#include "core/timer.h"
#include "core/trace.h"
#include "os/os.h"
#include "util/fifo.h"

struct cio__fd;
struct cio__compact;
struct cio__stack_arena;

/* What the scheduler does with the task that just switched back to it. */
enum {
    CIO__POST_NONE,
    CIO__POST_YIELD,
    CIO__POST_PARK,
    CIO__POST_EXIT,
};

/* Buckets of the turn histogram in ticks: 2^0 to 2^47 ticks (at 3 GHz
 * about 13 hours; longer turns land in the last). */
#define CIO__TURN_LOG2 48

/* What a worker's thread is doing, for its time accounting: between
 * tasks (queues, timers, stealing), running a task, in the reactor
 * without sleeping (polling, dispatching events), asleep in the reactor. */
enum {
    CIO__PH_SCHED,
    CIO__PH_RUN,
    CIO__PH_POLL,
    CIO__PH_PARK,
    CIO__PHASES,
};

/* Per-worker counters: written by the owner only, read by anyone. */
struct cio__counters {
    _Atomic uint64_t stacks_cached;
    _Atomic uint64_t spawned;
    _Atomic uint64_t finished;
    _Atomic uint64_t freed;
    _Atomic uint64_t switches;
    _Atomic uint64_t steals;
    _Atomic uint64_t migrations;
    _Atomic uint64_t parks;
    _Atomic uint64_t timers_fired;
    _Atomic uint64_t stacks_live;
    _Atomic uint64_t queue_violations;
    _Atomic uint64_t io_waits;
    _Atomic uint64_t io_reqs;
    _Atomic uint64_t compacted;       /* tasks whose frames are copied
                                         out now (compact.c) */
    _Atomic uint64_t compact_bytes;   /* the bytes of those copies */
    _Atomic uint64_t rx_made;         /* multishot receives made (rx.c) */
    _Atomic uint64_t rx_nobufs;       /* of those, ended with no buffer */
    _Atomic uint64_t io_polls;
    _Atomic uint64_t io_events;
    _Atomic uint64_t budget_yields;
    _Atomic uint64_t inbox_tasks;     /* tasks other threads sent here */
    _Atomic uint64_t local_n;         /* tasks in `local` now */
    _Atomic uint64_t phase_ticks[CIO__PHASES]; /* ticks spent in each */
    _Atomic uint64_t turn_log2[CIO__TURN_LOG2]; /* turns (runs of tasks
                                         between two visits of the
                                         scheduler) by log2 of ticks */
    _Atomic uint64_t delay_log2[CIO__TURN_LOG2]; /* scheduling delays
                                         (wake or spawn to run) of tasks
                                         it ran, by log2 of ticks */
    _Atomic uint64_t phase_mark;      /* tick count the current one began;
                                         0 outside the worker's loop */
    _Atomic int phase;                /* CIO__PH_* now */
    _Atomic uint32_t phase_seq;       /* odd while the owner updates the
                                         three above (a seqlock) */
    _Atomic int64_t stall_ns;         /* a stall to report (observe/) */
    _Atomic uint64_t stall_switches;  /* the switch count it was seen at */
    _Atomic int altstack_ok;          /* its thread has a signal stack */
};

struct cio__worker {
    /* Owner-only state first. */
    int index;                        /* position in rt->workers */
    struct cio__runtime *rt;          /* runtime it belongs to */
    void *sched_sp;                   /* scheduler context's stack pointer */
    struct cio__task *_Atomic cur;    /* task running now, or NULL (owner
                                         writes, relaxed; others read it
                                         to tell a running task) */
    struct cio__task *leaving;        /* task a direct yield or park left
                                         last: its stack may still be in
                                         use (overflow.c) */
    int post;                         /* CIO__POST_* for cur after switch */
    struct cio__fifo local;           /* runnable tasks only it may run */
    int lifo_runs;                    /* consecutive runs from the LIFO slot */
    uint64_t tick;                    /* scheduling decisions made */
    uint64_t ticket;                  /* next queue ticket */
    uint32_t rng;                     /* victim choice */
    int budget;                       /* I/O calls left before cur yields */
    int reqs;                         /* its backend's requests in flight */
    struct cio__rxlink *rx_link;      /* per provided buffer: the next one
                                         queued on the same descriptor and
                                         its length (rx.c; NULL: the
                                         backend has none). Entries are
                                         guarded by the lock of the
                                         descriptor the buffer is queued
                                         on, so any thread reads them */
    uint32_t rx_nbufs;                /* entries in rx_link */
    struct cio__compact *cx_head;     /* compact tasks parked here, oldest */
    struct cio__compact *cx_tail;     /* first (compact.c) */
    bool polling;                     /* dispatching reactor events */
    bool timing;                      /* accounts time per phase */
    bool exact;                       /* reads the clock at every switch
                                         and wake (rt->exact) */
    uint64_t run_mark;                /* when the running task's run began
                                         (ticks; see cio__stamp) */
    struct cio__lane *lane;           /* its trace lane, NULL: no trace */
    struct cio__fifo free_tasks;      /* task descriptors for reuse */
    uint32_t nfree;                   /* descriptors in free_tasks */
    struct cio__stack_cache stacks[CIO__STACK_CLASSES]; /* stack cache */
    pthread_t thread;                 /* its OS thread */
    bool thread_started;              /* thread was created */
    void *altstack;                   /* signal stack of its thread */
    void *volatile fault_jmp;         /* a sigjmp_buf a fault on this
                                         thread jumps to instead of
                                         being reported (set by code that
                                         may fault in a signal handler:
                                         observe/'s stall report), NULL
                                         otherwise; this thread only */
#if CIO_HAVE_ASAN
    const void *sched_stack_lo;       /* scheduler stack, for ASan */
    size_t sched_stack_size;          /* its size */
    void *sched_fake;                 /* its fake-stack save slot */
#endif
#if CIO_HAVE_TSAN
    void *sched_fiber;                /* TSan fiber of the scheduler */
#endif

    /* Shared state. */
    _Alignas(64) struct cio__runq runq;  /* stealable tasks */
    struct cio__task *_Atomic lifo;      /* task just woken here */
    _Alignas(64) pthread_mutex_t inbox_lock; /* guards inbox */
    struct cio__fifo inbox;              /* tasks sent here by others */
    _Atomic int inbox_n;                 /* non-zero when inbox has tasks
                                            or rx_mail entries */
    struct cio__fd *rx_mail;             /* receives to cancel (rx.c),
                                            guarded by inbox_lock */
    _Atomic bool loop_done;              /* its loop has ended: it reads
                                            no more mail nor completions */
    _Atomic int parked;                  /* sleeping in the kernel */
    void *poller;                        /* its reactor instance */
    _Atomic int nfds;                    /* descriptors registered there */
    struct cio__timer_heap timers;       /* deadlines armed on this worker */
    struct cio__counters c;              /* statistics */
};

struct cio__runtime {
    int nworkers;                     /* worker count */
    bool timing;                      /* workers account time per phase */
    bool exact;                       /* and read the clock at every switch
                                         and wake (cio_config.stats 2) */
    int64_t stall_ns;                 /* report a task run this long, 0:
                                         never (observe/stall.c) */
    struct cio__trace *trace;         /* the trace's lanes, NULL: none
                                         (trace.c) */
    size_t stack_size;                /* default task stack */
    int stack_cls;                    /* its size class */
    struct cio__worker *workers;      /* array of nworkers */
    _Alignas(64) pthread_mutex_t global_lock; /* guards the global ring */
    struct cio__task **global;        /* ring of stealable tasks for anyone */
    size_t global_cap;                /* its slots: >= descriptors existing */
    size_t global_head;               /* index of the oldest */
    _Atomic size_t global_n;          /* tasks in it */
    _Alignas(64) _Atomic int n_parked;   /* workers asleep */
    _Atomic int n_spinning;           /* workers looking for work */
    _Atomic int shutdown;             /* main returned: cancel the rest */
    _Atomic int stop;                 /* every task finished: workers exit */
    int main_status;                  /* main's return value */
    _Atomic unsigned long pins;       /* other threads in calls using it */
    /* Task table: chunks of CIO__TASK_CHUNK descriptors, never moved or
     * freed while the runtime lives, so a stale pointer to a descriptor is
     * always safe to read (handles and wakes check generations/seqs). */
    pthread_mutex_t table_lock;
    struct cio__task *_Atomic *chunks; /* CIO__TASK_CHUNKS entries */
    _Atomic uint32_t nchunks;         /* chunks allocated */
    /* Free descriptors no worker's list has room for (table lock): a
     * worker that frees more than it spawns (it runs what another
     * spawned) passes them on here, where the spawner finds them. */
    struct cio__fifo free_shared;
    size_t free_shared_n;
    /* Stack arena, shared by all workers (stack.c). */
    pthread_mutex_t stack_lock;
    struct cio__stack_arena *arena;
    _Atomic bool stack_release_due;   /* free stacks to give back (stack.c) */
    /* Reactor backend of every worker, and why it was chosen. */
    const struct cio__backend *be;
    const char *be_why;
    bool be_fallback;                 /* epoll may replace io_uring */
    _Atomic bool rx_off;              /* the kernel refused a multishot
                                         receive: reads make none (rx.c) */
    _Atomic bool rx_worked;           /* a receive has delivered bytes */
    int64_t compact_ns;               /* a compact task waiting this long
                                         is trimmed; < 0: never */
    _Atomic bool compact_off;         /* trimming failed (mlockall): no
                                         more (compact.c) */
    /* Descriptor table (fd.c): chunks of CIO__FD_CHUNK, same rules as the
     * task table. */
    pthread_mutex_t fd_lock;
    struct cio__fd *_Atomic *fd_chunks;
    uint32_t fd_nchunks;              /* entries in fd_chunks */
    struct cio__fd_side *fd_side;     /* aliases and saved flags (fd.c), */
    int fd_nside, fd_cside;           /* in use and room; under fd_lock */
    /* Blocking pool (pool.c). */
    struct cio__pool pool;
    bool pool_inited;                 /* set before the runtime is published,
                                         cleared after it is unpublished */
};

/* Adds to a counter only its owner writes: a plain load and store, no
 * locked instruction, yet readers on other threads see whole values. */
static inline void cio__count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call,
 * which the PIC default would use on every task switch. */
extern _Thread_local struct cio__worker *cio__tls_worker
    __attribute__((tls_model("initial-exec")));
/* Bucket of a log2 histogram of ticks (turns, delays). */
static inline int cio__log2_bucket(uint64_t d)
{
    int b = 63 - __builtin_clzll(d | 1);
    return b < CIO__TURN_LOG2 ? b : CIO__TURN_LOG2 - 1;
}

/* The worker's thread enters phase `next` (CIO__PH_*): the time since the
 * last transition goes to the phase it was in. Owner only; a plain load
 * and store per counter (cio__count), one tick read. Returns that read
 * (0 with timing off), which the task figures share. */
static inline uint64_t cio__phase(struct cio__worker *w, int next)
{
    /* Relaxed throughout: only the owner writes these; readers on other
     * threads (the stall watchdog, snapshots) may be off by one interval.
     * The phase itself is kept even with timing off: the watchdog reads
     * it. */
    int cur = atomic_load_explicit(&w->c.phase, memory_order_relaxed);
    if (!w->timing) {
        atomic_store_explicit(&w->c.phase, next, memory_order_relaxed);
        return 0;
    }
    uint64_t now = cio__os_ticks();
    /* A seqlock, so a snapshot (worker_figures) never pairs the new ticks
     * with the old mark or the reverse: odd while updating; the release
     * fence orders the odd value before the updates, the release store
     * of the even one after them (pairs with the reader's acquires). */
    uint32_t seq = atomic_load_explicit(&w->c.phase_seq, memory_order_relaxed);
    atomic_store_explicit(&w->c.phase_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    uint64_t d = now - atomic_load_explicit(&w->c.phase_mark,
                                            memory_order_relaxed);
    cio__count(&w->c.phase_ticks[cur], d);
    if (cur == CIO__PH_RUN)
        cio__count(&w->c.turn_log2[cio__log2_bucket(d)], 1);
    atomic_store_explicit(&w->c.phase_mark, now, memory_order_relaxed);
    atomic_store_explicit(&w->c.phase, next, memory_order_relaxed);
    atomic_store_explicit(&w->c.phase_seq, seq + 2, memory_order_release);
    return now;
}

/* A tick stamp for a task figure at a point with no clock read of its
 * own (a spawn, a wake, a park or a direct hand-off by a task running on
 * `w`): exact at level 2 (rt->exact); otherwise the worker's last phase
 * transition, the start of the turn in progress (also w->run_mark then),
 * which costs a load instead of a clock read (about 7 to 14 ns). 0 with
 * timing off: figures with a 0 stamp are not counted. */
static inline uint64_t cio__stamp(struct cio__worker *w)
{
    if (w->exact)
        return cio__os_ticks();
    /* Relaxed: the owner's own write. */
    return atomic_load_explicit(&w->c.phase_mark, memory_order_relaxed);
}

/* A wake (or spawn) of `t` not yet followed by a run, seen when the run
 * begins at `now` (0: unmeasured): its blocked time, scheduling delay. */
void cio__fig_woken(struct cio__worker *w, struct cio__task *t, uint64_t runs,
                    uint64_t now);

/* A run of `t` begins on `w` at `now` (ticks; 0: unmeasured). Owner only
 * (the worker about to run `t`). */
static inline void cio__fig_run_begins(struct cio__worker *w,
                                       struct cio__task *t, uint64_t now)
{
    /* Relaxed: the waker's store is ordered before this by the queue that
     * handed `t` here (see struct cio__task_fig). */
    uint64_t r = atomic_load_explicit(&t->runs, memory_order_relaxed);
    w->run_mark = now;
    if (!(r & (CIO__RUNS_WOKEN | CIO__RUNS_NEW))) {
        atomic_store_explicit(&t->runs, r + 1, memory_order_relaxed);
        return;
    }
    cio__fig_woken(w, t, r, now);
    /* Release: a first run's reset of the figures comes before the count
     * that says they are this task's (pairs with the acquire in
     * cio__task_figures_get). */
    atomic_store_explicit(&t->runs,
                          r & CIO__RUNS_NEW ? 1 : (r + 1) & ~CIO__RUNS_WOKEN,
                          memory_order_release);
}

/* The run of `t` that began at w->run_mark ends at `now`. Owner only. */
static inline void cio__fig_run_ends(struct cio__worker *w,
                                     struct cio__task *t, uint64_t now)
{
    if (now > w->run_mark && w->run_mark)
        cio__count(&cio__fig(t)->run, now - w->run_mark);
}

/* The calling thread's worker, read afresh: never inlined, so a caller that
 * switched stacks cannot reuse a thread-local address computed before. */
struct cio__worker *cio__current_worker(void);
/* The calling task (NULL on a thread that runs none), read inline: for a
 * function that reads it once, at entry, before anything that may switch
 * it to another thread. The task itself stays the same wherever it runs,
 * so the pointer stays right; a second read after a switch must use
 * cio__task_current(), which is never inlined (see above). Saves a call
 * on paths taken once per operation (each mutex lock and unlock). */
static inline struct cio__task *cio__task_at_entry(void)
{
    struct cio__worker *w = cio__tls_worker;
    return w ? atomic_load_explicit(&w->cur, memory_order_relaxed) : NULL;
}
extern struct cio__runtime *_Atomic cio__rt;

/* What the layers above core do at a runtime's start (its workers run,
 * main has not started), end (every task has finished; the workers are
 * still there) and stop (the workers have exited): observe/'s stall
 * watchdog and trace writer. And what core records for them: a trace of
 * `trace_slots` events per lane (0: none), kept as a ring
 * (`trace_ring`, the flight recorder) or drained. */
struct cio__run_hooks {
    void (*started)(struct cio__runtime *rt, void *ctx);
    void (*ending)(struct cio__runtime *rt, void *ctx);
    void (*stopped)(struct cio__runtime *rt, void *ctx);
    void *ctx;
    uint64_t trace_slots;
    bool trace_ring;
};
/* cio_run() itself, with the hooks of the layers above (observe/run.c
 * passes them: core knows nothing of what they do). */
int cio__run(int (*main)(void *arg), void *arg, const cio_config *cfg,
             const struct cio__run_hooks *hooks);

/* One worker's raw figures, for observe/: ticks per phase (the current
 * phase counted up to the moment of the snapshot) and counts. */
struct cio__worker_figures {
    uint64_t ticks[CIO__PHASES];
    uint64_t turn_log2[CIO__TURN_LOG2];
    uint64_t delay_log2[CIO__TURN_LOG2];
    uint64_t tasks_run, steals, inbox_tasks, queued;
};
/* A snapshot of worker `worker` (>= 0) of the running runtime, or, when
 * none runs, of the last runtime's at its end, in *out if that worker
 * exists. Returns the worker count (0 before any runtime ended;
 * CIO_ENOMEM if the last figures could not be kept). Thread-safe (pins
 * the runtime it reads). */
int cio__worker_figures_get(int worker, struct cio__worker_figures *out);

void cio__runtime_task_exited(struct cio__worker *w, bool is_main);
bool cio__runtime_all_done(struct cio__runtime *rt);
#ifdef CIO_TESTING
/* Called between the two sums of the "all done" check, so a test can
 * make a task spawn and end exactly there. */
extern void (*cio__test_between_sums)(struct cio__runtime *rt);
#endif
/* The runtime, for code that may run on any thread: NULL when none runs.
 * A thread that is not one of its workers holds it (`*pinned`) until
 * cio__rt_leave(), and cio_run() frees it only after every holder left. */
struct cio__runtime *cio__rt_enter(bool *pinned);
void cio__rt_leave(struct cio__runtime *rt, bool pinned);

/* Sync objects (sync/) made and not yet freed, process-wide: counted here
 * so that cio_stats_get() can report them without core knowing what they
 * are. Relaxed updates: only a snapshot is ever read. */
extern _Atomic int64_t cio__sync_objects;

#endif /* CIO_CORE_RUNTIME_H */
