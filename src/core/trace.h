/* Trace recording (trace.c): what core writes into per-thread lanes when
 * a trace is on, for observe/trace.c to turn into a trace file.
 *
 * A lane is a ring of fixed-size events with one writer: a worker's
 * thread, a pool thread, or (under a lock) any other thread. Writing an
 * event is four relaxed stores and two counter stores, no lock and no
 * read-modify-write. The reader (observe/) copies events out while the
 * writer goes on:
 *   - drain mode: the writer never passes the reader (`read`); when the
 *     ring is full the event is dropped and counted;
 *   - ring mode (flight recorder): the writer overwrites the oldest; a
 *     reader's copy is checked afterwards against `claimed` and the part
 *     that may have been overwritten meanwhile is discarded (a seqlock
 *     per event, see cio__lane_put and cio__lane_snapshot).
 */
#ifndef CIO_CORE_TRACE_H
#define CIO_CORE_TRACE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "os/os.h"

struct cio__runtime;
struct cio__task;
struct cio__worker;

/* Event kinds. */
enum {
    CIO__EV_RUN = 1,  /* a run of `task` begins (its count in `runs`) */
    CIO__EV_STOP,     /* it ends: sub = CIO__STOP_*, arg = what it waits on
                         (wait kind in the high sub bits) */
    CIO__EV_WAKE,     /* `task` is woken: sub = CIO__BY_* | wait kind << 4,
                         arg = the waking task's id (by a task), runs = its
                         run count then (the wake is for run runs + 1) */
    CIO__EV_SPAWN,    /* `task` is spawned by the running task (arg) */
    CIO__EV_NAME,     /* part of `task`'s name: bytes in tick, arg, meta */
    CIO__EV_JOB,      /* a pool thread starts a job for `task` */
    CIO__EV_JOB_END,  /* and ends it */
    CIO__EV_STALL,    /* `task` held its worker for arg ns (stall report) */
    CIO__EV_POLL,     /* the reactor's events are dispatched: sub 1 from
                         here, 0 to here (its wakes lie between) */
};

/* Why a run ended (CIO__EV_STOP). */
enum { CIO__STOP_YIELD = 1, CIO__STOP_PARK, CIO__STOP_EXIT };

/* Who woke a task (CIO__EV_WAKE). */
enum {
    CIO__BY_TASK = 1, /* a running task (arg: its id) */
    CIO__BY_FD,       /* the reactor: a descriptor became ready */
    CIO__BY_TIMER,    /* a deadline passed */
    CIO__BY_CANCEL,   /* a cancel */
    CIO__BY_POOL,     /* a pool thread finished its job */
    CIO__BY_THREAD,   /* a thread that is not the runtime's */
    CIO__BY_SCHED,    /* a worker between tasks (a task's end: a join) */
};

/* Name bytes one CIO__EV_NAME event carries (tick, arg and 7 of meta's
 * bytes), and the events one name may take. */
#define CIO__NAME_PER_EV 23
#define CIO__NAME_EVS 2

struct cio__trace_ev {
    _Atomic uint64_t tick; /* cio__os_ticks() when it happened */
    _Atomic uint64_t task; /* the task's handle id */
    _Atomic uint64_t arg;
    _Atomic uint64_t meta; /* kind | sub << 8 | runs << 16 */
};

/* Lanes: what they belong to. */
enum { CIO__LANE_WORKER, CIO__LANE_POOL, CIO__LANE_OTHER };

struct cio__lane {
    struct cio__trace_ev *ev;
    uint64_t mask;                /* slots - 1 (a power of two) */
    bool ring;                    /* overwrite the oldest (flight recorder) */
    int kind;                     /* CIO__LANE_* */
    int index;                    /* worker index, pool lane number */
    uint64_t limit;               /* writer only: `read` + slots, as last
                                     seen (drain mode) */
    volatile sig_atomic_t busy;   /* writer only: inside cio__lane_put (a
                                     signal handler on the same thread
                                     must not write then) */
    _Atomic uint64_t claimed;     /* writer: events begun (ring mode) */
    _Atomic uint64_t done;        /* writer: events written */
    _Atomic uint64_t dropped;     /* writer: events lost to a full ring */
    _Alignas(64) _Atomic uint64_t read; /* reader: events consumed */
    _Atomic bool taken;           /* a pool lane has a thread (trace lock) */
};

/* The trace of a runtime (rt->trace, NULL when off). */
struct cio__trace {
    uint64_t slots;               /* events per lane */
    bool ring;
    uint64_t start;               /* tick the trace began */
    int nworkers;
    int npool;                    /* pool lanes allocated */
    int max_pool;                 /* their most (the pool's thread limit) */
    pthread_mutex_t lock;         /* guards lane allocation and `other` */
    struct cio__lane *other;      /* threads that are not the runtime's */
    struct cio__lane **lanes;     /* workers, then `other`, then pool lanes
                                     as allocated; entries published with
                                     `nlanes` */
    _Atomic int nlanes;
};

/* Non-zero while a runtime traces: the wake path's check for threads
 * that are not workers (relaxed: a wake racing the trace's start or end
 * may go unrecorded). */
extern _Atomic int cio__tracing;
/* The calling pool thread's lane, or NULL. */
extern _Thread_local struct cio__lane *cio__tls_lane
    __attribute__((tls_model("initial-exec")));

/* Appends one event. Writer only (or under the lock that makes one). */
static inline void cio__lane_put(struct cio__lane *l, uint64_t tick,
                                 uint64_t task, uint64_t arg, uint64_t meta)
{
    l->busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    /* Relaxed: the writer's own counter. */
    uint64_t n = atomic_load_explicit(&l->done, memory_order_relaxed);
    if (!l->ring && n >= l->limit) {
        /* Acquire: pairs with the reader's release of `read` after it
         * copied the slots out, so they are not overwritten under it. */
        l->limit = atomic_load_explicit(&l->read, memory_order_acquire) +
                   l->mask + 1;
        if (n >= l->limit) {
            atomic_store_explicit(
                &l->dropped,
                atomic_load_explicit(&l->dropped, memory_order_relaxed) + 1,
                memory_order_relaxed);
            goto out;
        }
    }
    if (l->ring) {
        /* A seqlock per slot: the claim is published before the slot is
         * overwritten (release fence, paired with the acquire fence in
         * cio__lane_snapshot after its copy), so a reader that copied a
         * half-written slot sees the claim that covers it. */
        atomic_store_explicit(&l->claimed, n + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
    }
    struct cio__trace_ev *e = &l->ev[n & l->mask];
    atomic_store_explicit(&e->tick, tick, memory_order_relaxed);
    atomic_store_explicit(&e->task, task, memory_order_relaxed);
    atomic_store_explicit(&e->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&e->meta, meta, memory_order_relaxed);
    /* Release: pairs with the reader's acquire of `done`, so the slots
     * below it are seen whole. */
    atomic_store_explicit(&l->done, n + 1, memory_order_release);
out:
    atomic_signal_fence(memory_order_seq_cst);
    l->busy = 0;
}

static inline uint64_t cio__ev_meta(int kind, int sub, uint64_t runs)
{
    return (uint64_t)kind | (uint64_t)(sub & 0xff) << 8 | runs << 16;
}

/* The run count of `t` as the trace numbers runs (no flag bits). */
uint64_t cio__trace_runs(const struct cio__task *t);

/* Recording at core's hook points; each is called only when the lane
 * (or cio__tracing) says a trace is on. */
void cio__trace_run(struct cio__worker *w, struct cio__task *t, uint64_t now);
void cio__trace_stop(struct cio__worker *w, struct cio__task *t, int why,
                     uint64_t now);
/* A wake about to be tried: its stamp, and the woken task's run count
 * and wait kind, read while the wait word just read (the caller's) still
 * stands; the wake's CAS confirms it did. */
struct cio__wake_note {
    uint64_t tick, runs;
    uint64_t id; /* its handle: once woken it may end and its slot go */
    int kind;
};
void cio__trace_wake_note(struct cio__task *t, struct cio__wake_note *n);
/* Records a wake that won (by `waker`, NULL on a thread that is not a
 * worker) from its note. */
void cio__trace_wake(struct cio__worker *waker, int reason,
                     const struct cio__wake_note *n);
void cio__trace_spawn(struct cio__worker *w, struct cio__task *parent,
                      struct cio__task *t);
/* A pool thread starts (or ends) a job for the task with handle id `id`
 * (0: abandoned). */
void cio__trace_job(uint64_t id, bool end);
/* The worker starts (`begin`) or ends dispatching the reactor's events. */
void cio__trace_poll(struct cio__worker *w, bool begin);

/* Set up and torn down with the runtime (runtime.c): `slots` events per
 * lane (rounded up to a power of two), `ring` for the flight recorder;
 * 0 slots: no trace. */
int cio__trace_init(struct cio__runtime *rt, uint64_t slots, bool ring,
                    int max_pool);
void cio__trace_fini(struct cio__runtime *rt);
/* A pool thread's lane for its life (NULL: none, no trace or no memory);
 * cio__trace_lane_put gives it back. */
struct cio__lane *cio__trace_lane_take(struct cio__runtime *rt);
void cio__trace_lane_put(struct cio__runtime *rt, struct cio__lane *l);

/* Copies the events of `l` that are still whole into `out` (room for
 * the lane's slots), oldest first: in ring mode the last ones written,
 * in drain mode those from `read` on with ticks below `cutoff` (the
 * caller then calls cio__lane_consume). Returns how many; `*first` is
 * the sequence number of the first. In drain mode `out` may be NULL:
 * the slots stay put until consumed, so they can be read in place. One
 * reader at a time. */
uint64_t cio__lane_snapshot(struct cio__lane *l, struct cio__trace_ev *out,
                            uint64_t cutoff, uint64_t *first);
/* Drain mode: the reader is done with the events below `upto`. */
void cio__lane_consume(struct cio__lane *l, uint64_t upto);

#endif /* CIO_CORE_TRACE_H */
