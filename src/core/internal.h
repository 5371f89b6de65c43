/* Internal declarations shared by the core modules.
 *
 * Layering: core uses arch/, os/ and util/ only. Everything here is private
 * to the library (hidden visibility, cio__ prefix).
 */
#ifndef CIO_CORE_INTERNAL_H
#define CIO_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "cio.h"
#include "core/config.h"
#include "util/fifo.h"

struct cio__worker;
struct cio__runtime;

/* ---- stacks (stack.c) ---------------------------------------------------- */

struct cio__stack {
    char *lo;        /* lowest usable byte (the canary sits here) */
    size_t size;     /* usable bytes, from lo up */
    int cls;         /* size class, -1 when no stack is held */
    bool canary;     /* overflow caught by a canary (no guard page) */
};

int cio__stack_class(size_t size);
size_t cio__stack_class_size(int cls);
int cio__stack_get(struct cio__worker *w, int cls, struct cio__stack *out);
void cio__stack_put(struct cio__worker *w, struct cio__stack *s);
void cio__stack_worker_init(struct cio__worker *w);
/* For a worker with nothing to run: gives one batch of free stacks' pages
 * back to the system if any are due; false when none were. */
bool cio__stack_release_idle(struct cio__runtime *rt);
void cio__stack_worker_fini(struct cio__worker *w);
void cio__stack_runtime_fini(struct cio__runtime *rt);
bool cio__stack_canary_intact(const struct cio__stack *s);

/* Checked at every switch out of a task: inline, since it is on the hot
 * path and usually only a compare. */
static inline bool cio__stack_intact(const struct cio__stack *s,
                                     const void *sp)
{
    if (s->canary && !cio__stack_canary_intact(s))
        return false;
    return (const char *)sp >= s->lo + CIO__STACK_CANARY + CIO__STACK_MARGIN;
}
bool cio__stack_in_guard(const struct cio__stack *s, const void *addr);
size_t cio__stack_mapped(struct cio__runtime *rt);
/* Free stacks in the arena, and those of them whose pages went back. */
void cio__stack_arena_count(struct cio__runtime *rt, size_t *cached,
                            size_t *released);

/* ---- timers (timer.c) ---------------------------------------------------- */

/* One deadline of one task. It lives inside the task; the heap holds
 * pointers to it. `w` and `idx` change only under the owning heap's lock.
 *
 * Timers are re-armed lazily: a wait whose deadline is a little later than
 * the one still armed from an earlier wait keeps that heap entry and only
 * records `want`; when the entry expires before `want`, it is moved to
 * `want` instead of waking the task. A connection that waits with "now +
 * idle timeout" before every request thus touches the heap about once per
 * quarter of its timeout, not once per request (nginx's lazy timers). */
struct cio__timer {
    int64_t deadline;          /* absolute monotonic ns: the heap key */
    int64_t want;              /* the current wait's deadline (>= deadline) */
    uint64_t order;            /* arming order: equal deadlines fire FIFO */
    uint64_t wait_seq;         /* the wait this deadline belongs to */
    struct cio__task *task;    /* task to wake */
    struct cio__worker *_Atomic heap; /* worker whose heap holds it, or NULL */
    uint32_t idx;              /* position in that heap */
};

struct cio__timer_heap {
    pthread_mutex_t lock;      /* taken by the owner and by remote disarms */
    struct cio__timer **v;     /* binary min-heap on (deadline, order) */
    size_t cap;                /* slots in v */
    _Atomic size_t n;          /* armed timers; read without the lock */
    _Atomic int64_t min;       /* earliest key, CIO_NEVER when empty */
    uint64_t order;            /* next arming order number */
};

int cio__timer_heap_init(struct cio__timer_heap *h);
void cio__timer_heap_fini(struct cio__timer_heap *h);
int cio__timer_arm(struct cio__worker *w, struct cio__timer *t);
void cio__timer_disarm(struct cio__timer *t);
/* Arms `t` for the wait `seq` until `deadline` (`now`: the current time,
 * coarse is enough), reusing a lazily armed entry when it can. */
int cio__timer_wait(struct cio__worker *w, struct cio__timer *t,
                    int64_t deadline, int64_t now, uint64_t seq);
int64_t cio__timer_next(struct cio__worker *w);
size_t cio__timer_fire(struct cio__worker *w, int64_t now);

/* ---- tasks (task.c) ------------------------------------------------------ */

/* Wait word: seq << 8 | reason << 2 | state. The seq names one wait of a
 * task; a wake for an older seq is stale and ignored. Exactly one wake per
 * seq wins, by compare-and-swap, and only the winner queues the task. */
enum {
    CIO__W_RUNNING = 0,  /* running, possibly about to park for this seq */
    CIO__W_WAITING = 1,  /* parked for this seq */
    CIO__W_READY = 2,    /* woken and queued */
    CIO__W_NOTIFIED = 3, /* woken before it finished parking */
};
enum {
    CIO__WAKE_OK = 0,      /* what the task waited for happened */
    CIO__WAKE_TIMEOUT = 1, /* its deadline passed */
    CIO__WAKE_CANCEL = 2,  /* it was cancelled */
};
#define CIO__WSEQ(w) ((w) >> 8)
#define CIO__WREASON(w) ((int)(((w) >> 2) & 63))
#define CIO__WSTATE(w) ((int)((w)&3))
#define CIO__WORD(seq, reason, state)                                         \
    (((uint64_t)(seq) << 8) | ((uint64_t)(reason) << 2) | (uint64_t)(state))

/* Control word: generation << 32 | flags. The generation makes a handle
 * ({gen, slot}) stale once its task is freed; flags change by CAS. */
enum {
    CIO__C_ALIVE = 1,    /* slot holds a task */
    CIO__C_DETACHED = 2, /* frees itself when done */
    CIO__C_CLAIMED = 4,  /* a joiner owns the join */
    CIO__C_JOINWAIT = 8, /* the joiner is registered and may be parked */
    CIO__C_DONE = 16,    /* function returned; result valid */
    CIO__C_CANCELLED = 32, /* cancellation requested */
};
#define CIO__CGEN(c) ((uint32_t)((c) >> 32))

/* Task flags, fixed at spawn except STARTED. */
enum {
    CIO__T_STARTED = 1,
    CIO__T_MIGRATE = 2,
    CIO__T_PIN = 4,
    CIO__T_MAIN = 8,
};

struct cio__task {
    void *sp;                     /* saved stack pointer while switched out */
    struct cio__snode qnode;      /* run-queue link */
    _Atomic uint64_t wait;        /* wait word, see above */
    _Atomic uint64_t ctl;         /* control word, see above */
    uint32_t slot;                /* index in the task table */
    uint32_t flags;               /* CIO__T_* */
    int home;                     /* home worker, -1 before the first run */
    int last;                     /* worker that ran it last, -1 if none */
    _Atomic uint64_t ticket;      /* FIFO order in its worker's local FIFO
                                     (ring slots keep their own, runq.tix) */
    struct cio__worker *worker;   /* worker running it (valid while running) */
    cio_task_fn *fn;              /* body */
    void *arg;                    /* body's argument */
    void *result;                 /* body's return value */
    const char *name;             /* spawn name or NULL */
    int start_err;                /* why it could not start, or 0 */
    int saved_errno;              /* errno while switched out */
    size_t stack_req;             /* stack size class to allocate */
    struct cio__stack stack;      /* its stack once started */
    struct cio__timer timer;      /* deadline of its current wait */
    struct cio__task *_Atomic joiner; /* task waiting in cio_join() */
    uint64_t joiner_seq;          /* that joiner's wait seq */
    struct cio__tls_slot *tls;    /* task-local values, or NULL */
    _Atomic int queued;           /* self-check: runnable, not yet run */
#if CIO_HAVE_ASAN
    void *asan_fake;              /* ASan fake-stack save slot */
#endif
#if CIO_HAVE_TSAN
    void *tsan_fiber;             /* TSan fiber of this task */
#endif
};

struct cio__task *cio__task_current(void);
int cio__task_alloc(struct cio__worker *w, struct cio__task **out);
void cio__task_free(struct cio__worker *w, struct cio__task *t);
struct cio__task *cio__task_lookup(struct cio__runtime *rt, cio_task h);
cio_task cio__task_handle(const struct cio__task *t);
void cio__task_finish(struct cio__worker *w, struct cio__task *t);
void cio__task_cancel_all(struct cio__runtime *rt);
int cio__task_cancel(struct cio__task *t, uint32_t gen);
void cio__task_table_fini(struct cio__runtime *rt);
int cio__task_create(struct cio__worker *w, struct cio__task **out,
                     cio_task_fn *fn, void *arg, const cio_spawn_opts *o);

/* The wait/wake protocol every blocking call uses:
 *     seq = cio__wait_begin(t);
 *     ...register (t, seq) where a waker will find it...
 *     ...if the condition already holds: stop, no park...
 *     reason = cio__park(t, deadline);
 * Wakers call cio__wake(t, seq, reason) from any thread. */
uint64_t cio__wait_begin(struct cio__task *t);
/* The error a wait that ended for `reason` reports: CIO_ETIMEDOUT for a
 * passed deadline, CIO_ECANCELED for a cancel, an error from cio__park
 * (< 0) as it is. Not for CIO__WAKE_OK. */
static inline int cio__wait_error(int reason)
{
    return reason == CIO__WAKE_TIMEOUT  ? CIO_ETIMEDOUT
           : reason == CIO__WAKE_CANCEL ? CIO_ECANCELED
                                        : reason;
}
int cio__park(struct cio__task *t, int64_t deadline);
/* Parks with no deadline, even when the task is cancelled: for waits that
 * must not end early (a pool job using the task's stack). A cancel that
 * arrives meanwhile still ends it, with CIO__WAKE_CANCEL. */
int cio__park_uncancellable(struct cio__task *t);
bool cio__wake(struct cio__task *t, uint64_t seq, int reason);
/* The same, saying whether the woken task may take the waker's LIFO slot
 * (cio__wake: only when what it waited for happened). */
bool cio__wake_queued(struct cio__task *t, uint64_t seq, int reason,
                      bool lifo);

/* ---- task-local storage (tls.c) ----------------------------------------- */

struct cio__tls_slot {
    void *value;       /* the task's value */
    uint32_t gen;      /* key generation the value was set under */
};

void cio__tls_run_dtors(struct cio__task *t);

/* ---- descriptors (fd.c) ------------------------------------------------- */

/* One task waiting on a descriptor; lives on the waiting task's stack and
 * is linked into the descriptor's list only while the fd's lock says so. */
struct cio__fdwait {
    struct cio__fdwait *next;
    struct cio__task *task;
    uint64_t seq;                 /* the task's wait this belongs to */
    int want;                     /* CIO_READABLE | CIO_WRITABLE */
    int got;                      /* set by the waker: ready bits, or CLOSED */
};

/* What cio knows of one descriptor number. Lives in a table indexed by the
 * number, in chunks never freed while the runtime runs, so a reactor event
 * or a late wake for a closed descriptor reads valid memory; `gen` tells
 * whether it is still about the same descriptor.
 *
 * Readiness is a word, count << 4 | WCLOSED | RCLOSED | WRITE | READ: the
 * reactor sets bits and bumps the count at every edge; a call that meets
 * EAGAIN clears its bit only if the word is unchanged since it read it
 * before the system call, so an edge that arrives in between is never
 * lost. The CLOSED bits (end of file, hang-up, error) survive a short
 * read, which does not consume a queued end of stream; only EAGAIN clears
 * them (the condition is gone: a UDP error is reported once). */
struct cio__fd {
    _Atomic uint64_t rdy;         /* readiness word, see above */
    _Atomic uint32_t refs;        /* calls using the descriptor << 1 | CLOSING */
    _Atomic uint32_t lock;        /* guards the fields below */
    _Atomic uint32_t gen;         /* bumped when the number is closed */
    uint32_t flags;               /* CIO__FD_* */
    struct cio__worker *poller;   /* reactor it is registered with */
    struct cio__fdwait *waiters;  /* tasks waiting on it */
    struct cio__task *closer;     /* cio_close() waiting for calls to leave */
    uint64_t closer_seq;          /* that closer's wait */
};

enum {
    CIO__FD_KNOWN = 1,       /* set up for cio (non-blocking) */
    CIO__FD_REGISTERED = 2,  /* added to `poller`'s reactor */
    CIO__FD_STREAM = 4,      /* a stream socket: a short read drained it */
    CIO__FD_NOPOLL = 8,      /* the reactor cannot watch it: always ready */
    CIO__FD_SOCKET = 16,     /* a socket: writes use MSG_NOSIGNAL */
};
enum {
    CIO__RDY_READ = 1,
    CIO__RDY_WRITE = 2,
    CIO__RDY_RCLOSED = 4,    /* READ << 2: reads return at once, for good */
    CIO__RDY_WCLOSED = 8,    /* WRITE << 2: writes fail at once, for good */
    CIO__RDY_ONE = 16,       /* one edge in the count */
};
/* The bits that make a call waiting for `bit` (READ or WRITE) go ahead. */
#define CIO__RDY_GO(bit) ((uint64_t)(bit) | ((uint64_t)(bit) << 2))
#define CIO__FD_CLOSED 0x100 /* fdwait.got: the descriptor was closed */

int cio__fd_table_init(struct cio__runtime *rt);
void cio__fd_table_fini(struct cio__runtime *rt);
/* Starts a call on `fd`: the descriptor cannot be closed under it until
 * cio__fd_end(). Sets up descriptors cio has not seen. */
int cio__fd_begin(struct cio__runtime *rt, int fd, struct cio__fd **out);
static inline void cio__fd_end(struct cio__fd *st)
{
    atomic_fetch_sub_explicit(&st->refs, 2, memory_order_release);
}
/* A descriptor cio just created: forget what the number meant before. */
int cio__fd_fresh(struct cio__runtime *rt, int fd, uint32_t flags);
/* Waits until one of `want` is ready; returns the ready bits or an error.
 * `edge_only`: when this call registers the descriptor, forget the "maybe
 * ready" bits first (registering reports the current state as an edge). */
int cio__fd_wait(struct cio__task *self, struct cio__fd *st, int fd,
                 int want, int64_t deadline, bool edge_only);
/* After EAGAIN (or a short read): clears `bit` unless an edge came since
 * `snap` was read. */
static inline void cio__fd_clear(struct cio__fd *st, uint64_t snap,
                                 uint64_t bit)
{
    atomic_compare_exchange_strong(&st->rdy, &snap, snap & ~bit);
}
/* Reactor side: an edge on the descriptor named by `token`. */
void cio__fd_event(struct cio__runtime *rt, uint64_t token, uint32_t ev);
/* I/O that completed without waiting: spends the task's budget and yields
 * when it is gone. */
void cio__io_budget_yield(struct cio__task *self);
static inline void cio__io_spent(struct cio__task *self);

/* ---- blocking pool (pool.c) ---------------------------------------------- */

struct cio__job {
    struct cio__job *prev, *next; /* pool queue links */
    cio_job_fn *fn;
    void *arg;
    void *result;
    struct cio__task *task;       /* waiting task, or NULL when abandoned */
    uint64_t seq;                 /* its wait */
    int state;                    /* CIO__JOB_* */
    /* Abandonable jobs own their memory: when the caller gives up on a
     * running job, the pool thread calls this after fn returns. */
    void (*release)(struct cio__job *job);
};
enum { CIO__JOB_QUEUED, CIO__JOB_RUNNING, CIO__JOB_DONE, CIO__JOB_ABANDONED };

struct cio__pool_thread;
struct cio__pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;          /* jobs queued, or stop */
    pthread_cond_t gone;          /* a thread exited */
    struct cio__job *head, *tail; /* queued jobs, FIFO */
    int max;                      /* thread limit */
    int64_t idle_ns;              /* idle time before a thread exits */
    int threads;                  /* threads alive */
    int idle;                     /* of them, waiting for jobs */
    int queued;                   /* jobs in the queue */
    bool stop;                    /* runtime ending: threads exit */
    struct cio__pool_thread *live;   /* threads alive */
    struct cio__pool_thread *exited; /* threads to join */
    _Atomic uint64_t jobs_run;    /* statistics */
};

int cio__pool_init(struct cio__pool *p, int max, int64_t idle_ns);
void cio__pool_fini(struct cio__pool *p);
/* Runs `job` on the pool and waits. `abandon`: the caller may leave at the
 * deadline or on cancel while the job runs (job->release frees it then).
 * Returns 0 (job->result valid), CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EAGAIN. */
int cio__pool_run(struct cio__task *self, struct cio__job *job, bool abandon,
                  int64_t deadline);

/* ---- scheduler (sched.c) ------------------------------------------------- */

/* Go-style bounded ring of tasks any worker may run. The owner pushes at the
 * tail; the owner and thieves take from the head by CAS. */
struct cio__runq {
    _Atomic uint32_t head;
    _Atomic uint32_t tail;
    struct cio__task *_Atomic buf[CIO__RUNQ_SIZE];
    /* Each slot's queue ticket, written and read by the owner only: kept
     * here rather than in the task, whose descriptor is usually cold when
     * it is queued (a spawn burst refilled from the global queue). */
    uint64_t tix[CIO__RUNQ_SIZE];
};

/* What the scheduler does with the task that just switched back to it. */
enum {
    CIO__POST_NONE,
    CIO__POST_YIELD,
    CIO__POST_PARK,
    CIO__POST_EXIT,
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
    _Atomic uint64_t io_polls;
    _Atomic uint64_t io_events;
    _Atomic uint64_t budget_yields;
};

struct cio__stack_cache {
    struct cio__stack v[CIO__STACK_CACHE];
    int n;
    int max;         /* stacks it may hold: fewer for big classes */
};

struct cio__worker {
    /* Owner-only state first. */
    int index;                        /* position in rt->workers */
    struct cio__runtime *rt;          /* runtime it belongs to */
    void *sched_sp;                   /* scheduler context's stack pointer */
    struct cio__task *cur;            /* task running now, or NULL */
    int post;                         /* CIO__POST_* for cur after switch */
    struct cio__fifo local;           /* runnable tasks only it may run */
    int lifo_runs;                    /* consecutive runs from the LIFO slot */
    uint64_t tick;                    /* scheduling decisions made */
    uint64_t ticket;                  /* next queue ticket */
    uint32_t rng;                     /* victim choice */
    int budget;                       /* I/O calls left before cur yields */
    bool polling;                     /* dispatching reactor events */
    struct cio__fifo free_tasks;      /* task descriptors for reuse */
    struct cio__stack_cache stacks[CIO__STACK_CLASSES]; /* stack cache */
    pthread_t thread;                 /* its OS thread */
    bool thread_started;              /* thread was created */
    void *altstack;                   /* signal stack of its thread */
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
    _Atomic int inbox_n;                 /* non-zero when inbox has tasks */
    _Atomic int parked;                  /* sleeping in the kernel */
    void *poller;                        /* its reactor instance */
    _Atomic int nfds;                    /* descriptors registered there */
    struct cio__timer_heap timers;       /* deadlines armed on this worker */
    struct cio__counters c;              /* statistics */
};

struct cio__runtime {
    int nworkers;                     /* worker count */
    size_t stack_size;                /* default task stack */
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
    /* Task table: chunks of CIO__TASK_CHUNK descriptors, never moved or
     * freed while the runtime lives, so a stale pointer to a descriptor is
     * always safe to read (handles and wakes check generations/seqs). */
    pthread_mutex_t table_lock;
    struct cio__task *_Atomic *chunks; /* CIO__TASK_CHUNKS entries */
    _Atomic uint32_t nchunks;         /* chunks allocated */
    /* Stack arena, shared by all workers (stack.c). */
    pthread_mutex_t stack_lock;
    struct cio__stack_arena *arena;
    _Atomic bool stack_release_due;   /* free stacks to give back (stack.c) */
    /* Reactor backend of every worker. */
    const struct cio__backend *be;
    /* Descriptor table (fd.c): chunks of CIO__FD_CHUNK, same rules as the
     * task table. */
    pthread_mutex_t fd_lock;
    struct cio__fd *_Atomic *fd_chunks;
    uint32_t fd_nchunks;              /* entries in fd_chunks */
    /* Blocking pool (pool.c). */
    struct cio__pool pool;
    _Atomic bool pool_inited;
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
/* The calling thread's worker, read afresh: never inlined, so a caller that
 * switched stacks cannot reuse a thread-local address computed before. */
struct cio__worker *cio__current_worker(void);
extern struct cio__runtime *_Atomic cio__rt;

void cio__sched_loop(struct cio__worker *w);
void cio__sched_switch_out(struct cio__task *t, int post);
void cio__sched_yield(struct cio__task *t);
void cio__sched_ready(struct cio__worker *waker, struct cio__task *t,
                      bool lifo);
void cio__sched_spawned(struct cio__worker *w, struct cio__task *t);
void cio__sched_unpark(struct cio__worker *w);
int cio__sched_poll(struct cio__worker *w, int64_t timeout_ns);
void cio__sched_stop_all(struct cio__runtime *rt);
int cio__worker_init(struct cio__runtime *rt, struct cio__worker *w, int i);
void cio__worker_fini(struct cio__worker *w);
void cio__runtime_task_exited(struct cio__worker *w, bool is_main);
void cio__stack_overflow(const struct cio__task *t);

static inline void cio__io_spent(struct cio__task *self)
{
    if (--self->worker->budget <= 0)
        cio__io_budget_yield(self);
}

#endif /* CIO_CORE_INTERNAL_H */
