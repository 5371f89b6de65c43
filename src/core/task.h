/* Tasks (task.c): the descriptor table, the wait/wake protocol every
 * blocking call uses, the control word behind join, detach and cancel;
 * task-local storage (tls.c).
 */
#ifndef CIO_CORE_TASK_H
#define CIO_CORE_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio.h"
#include "core/config.h"
#include "core/stack.h"
#include "core/timer.h"
#include "util/fifo.h"

struct cio__worker;
struct cio__runtime;
struct cio__tls_slot;

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

/* Control word: generation << 32 | joins << 8 | flags. The generation
 * makes a handle ({gen, slot}) stale once its task is freed; flags change
 * by CAS. `joins` counts JOINWAIT registrations (mod 2^24), so a joiner
 * that gives up and registers again changes the word even though its
 * flags are the same: the ending task, which read the first joiner before
 * its CAS, then fails the CAS and reads the joiner again. */
enum {
    CIO__C_ALIVE = 1,    /* slot holds a task */
    CIO__C_DETACHED = 2, /* frees itself when done */
    CIO__C_CLAIMED = 4,  /* a joiner owns the join */
    CIO__C_JOINWAIT = 8, /* the joiner is registered and may be parked */
    CIO__C_DONE = 16,    /* function returned; result valid */
    CIO__C_CANCELLED = 32, /* cancellation requested */
    CIO__C_SHIELDED = 64,  /* in a shield: a cancel neither wakes nor
                              ends its waits (set and cleared by the task
                              itself, see cio_shield_begin) */
};
#define CIO__CGEN(c) ((uint32_t)((c) >> 32))
#define CIO__C_JOINS_SHIFT 8
#define CIO__C_JOINS_MASK ((uint64_t)0xffffff << CIO__C_JOINS_SHIFT)
/* `c` with JOINWAIT set and one more join registration counted. */
static inline uint64_t cio__ctl_join_registered(uint64_t c)
{
    uint64_t joins = (c + ((uint64_t)1 << CIO__C_JOINS_SHIFT)) &
                     CIO__C_JOINS_MASK;
    return (c & ~CIO__C_JOINS_MASK) | joins | CIO__C_JOINWAIT;
}

/* Task flags, fixed at spawn except STARTED. */
enum {
    CIO__T_STARTED = 1,
    CIO__T_MIGRATE = 2,
    CIO__T_PIN = 4,
    CIO__T_MAIN = 8,
    CIO__T_COMPACT = 16,     /* CIO_SPAWN_COMPACT (compact.c) */
    CIO__T_TRIMMED = 32,     /* its frames are copied out now (compact.c):
                                its stack holds nothing to look at */
    CIO__T_SIDE = 64,        /* the slot's side has been written (struct
                                cio__task_side); kept from task to task */
};

/* Something a task holds and must give back if it ends without doing so
 * (a locked mutex): linked into its task's `held` list while held. When
 * the task's function returns, each record still linked is unlinked and
 * its `abandon` runs, in the task, before the task ends. Core knows only
 * this list; what giving back means is the holder's business. */
struct cio__held {
    struct cio__held *next, *prev;
    void (*abandon)(struct cio__held *h);
};

/* A task's figures (observe/ reads them, any thread: relaxed atomics).
 * Written by the worker running the task, except `woken_at`, which the
 * waker that won a wait writes while the task is parked (the queue that
 * hands the task on orders it before the next run reads it). Times are
 * cio__os_ticks() stamps and sums; what each stamp is worth depends on
 * the accounting level (runtime.h, cio__stamp). Every run writes the two
 * here (cio__fig, beside the descriptors); the figures of waits are in
 * the task's side (struct cio__task_side), which a task that never waits
 * never touches. */
struct cio__task_fig {
    _Atomic uint64_t run;         /* ticks running */
    _Atomic uint64_t ready;       /* ticks from wakes (and the spawn) to
                                     the runs that followed */
};

/* What a task needs only when it uses something beyond spawn, run and
 * join: a name, a deadline, task-local values, held locks, shields,
 * compaction, and the figures of its waits. In its chunk of the task
 * table after the descriptors and their figures (cio__side), in pages the
 * kernel gives only when first written: a spawn burst of plain tasks never
 * touches them (a million tasks would otherwise fault in 150 MB more).
 *
 * The rule that keeps it so: every field is zero in a slot whose side has
 * not been written (CIO__T_SIDE clear; fresh pages are zero), and whoever
 * writes one first sets CIO__T_SIDE through cio__side_w(), which only the
 * task's owner calls (the task itself, or the worker running it, or its
 * spawner before it is queued). The flag stays with the slot; the next
 * spawn into such a slot zeroes the side (cio__task_create). Paths every
 * task takes (its end, its first run) read the side only when the flag is
 * set. Observers (figures, names, dumps) read it in any slot. */
struct cio__task_side {
    const char *name;             /* spawn name or NULL */
    struct cio__timer timer;      /* deadline of its current wait */
    struct cio__tls_slot *tls;    /* task-local values, or NULL */
    struct cio__held *held;       /* what it holds (owner-only list) */
    struct cio__compact *cx;      /* CIO_SPAWN_COMPACT's side, or NULL */
    int64_t shield_deadline;      /* deadline of its innermost shield
                                     (meaningful while shield_depth > 0) */
    int shield_depth;             /* nested shields it is in */
    int start_err;                /* why it could not start, or 0 */
    /* Figures of its waits (see struct cio__task_fig). */
    _Atomic uint64_t blocked;     /* ticks parked until woken */
    _Atomic uint64_t park_at;     /* when its last park began */
    _Atomic uint64_t woken_at;    /* when its last wake came: see
                                     CIO__RUNS_WOKEN */
    _Atomic uintptr_t wait_obj;   /* what its last wait was on */
    _Atomic int wait_kind;        /* CIO_WAIT_* of that wait */
};

/* A task descriptor: what spawn, run, wait, wake and join touch, in two
 * cache lines (128 bytes without sanitizers; asserted in task.c). The
 * first line is what a switch reads; what fewer tasks use is in the
 * side. */
struct cio__task {
    void *sp;                     /* saved stack pointer while switched out */
    struct cio__snode qnode;      /* run-queue link */
    _Atomic uint64_t wait;        /* wait word, see above */
    _Atomic uint64_t ctl;         /* control word, see above */
    uint32_t slot;                /* index in the task table */
    _Atomic uint32_t flags;       /* CIO__T_*: cio__task_flags() */
    _Atomic uint64_t runs;        /* times resumed (owner writes), and
                                     CIO__RUNS_* */
    _Atomic uint64_t ticket;      /* FIFO order in its worker's local FIFO
                                     (ring slots keep their own, runq.tix) */
    struct cio__worker *worker;   /* worker running it (valid while running) */
    cio_task_fn *fn;              /* body */
    void *arg;                    /* body's argument */
    union {
        size_t stack_req;         /* stack size class, until it starts */
        void *result;             /* body's return value, once done */
    };
    struct cio__stack stack;      /* its stack once started */
    struct cio__task *_Atomic joiner; /* task waiting in cio_join() */
    _Atomic uint64_t joiner_seq;  /* that joiner's wait seq */
    int saved_errno;              /* errno while switched out */
    int16_t home;                 /* home worker, -1 before the first run */
    _Atomic int16_t last;         /* worker that ran it last, -1 if none
                                     (owner writes; relaxed) */
#ifdef CIO_TESTING
    _Atomic int queued;           /* self-check: runnable, not yet run */
#endif
#if CIO_HAVE_ASAN
    void *asan_fake;              /* ASan fake-stack save slot */
#endif
#if CIO_HAVE_TSAN
    void *tsan_fiber;             /* TSan fiber of this task */
#endif
};

/* In `runs`, beside the count, so that a switch reads one word:
 * WOKEN: a wake whose stamp is in the figures' `woken_at` waits for the
 * task's next run (set by the waker that won the wait: the task is parked,
 * nobody else writes `runs` then; cleared by that run). NEW: the task has
 * not run yet, and the low bits hold its spawn's stamp (so a spawn writes
 * no figure: a task that never waits touches them once, when it runs). */
#define CIO__RUNS_WOKEN ((uint64_t)1 << 63)
#define CIO__RUNS_NEW ((uint64_t)1 << 62)
#define CIO__RUNS_STAMP (CIO__RUNS_NEW - 1)

/* A task's figures and its side: in the chunk of the task table that
 * holds it, after the chunk's descriptors (task.c's grow_table). */
static inline struct cio__task_fig *cio__fig(struct cio__task *t)
{
    uint32_t i = t->slot % CIO__TASK_CHUNK;
    return (struct cio__task_fig *)(t - i + CIO__TASK_CHUNK) + i;
}
/* (From a const descriptor too: observers read names through it.) */
static inline struct cio__task_side *cio__side(const struct cio__task *t)
{
    uint32_t i = t->slot % CIO__TASK_CHUNK;
    uintptr_t figs = (uintptr_t)(t - i + CIO__TASK_CHUNK);
    return (struct cio__task_side *)(figs + CIO__TASK_CHUNK *
                                                sizeof(struct cio__task_fig)) +
           i;
}

/* Flags are written by whoever owns the task (spawner, then the worker
 * starting it) and read by thieves deciding whether they may take it:
 * relaxed, since a thief confirms what it read by the CAS that takes the
 * task (and the queues order the rest). */
static inline uint32_t cio__task_flags(const struct cio__task *t)
{
    return atomic_load_explicit(&t->flags, memory_order_relaxed);
}
static inline void cio__task_flag_set(struct cio__task *t, uint32_t f)
{
    atomic_store_explicit(&t->flags, cio__task_flags(t) | f,
                          memory_order_relaxed);
}
static inline void cio__task_flag_clear(struct cio__task *t, uint32_t f)
{
    atomic_store_explicit(&t->flags, cio__task_flags(t) & ~f,
                          memory_order_relaxed);
}
/* Whether the side of `t` may hold anything but zeros. */
static inline bool cio__side_used(const struct cio__task *t)
{
    return cio__task_flags(t) & CIO__T_SIDE;
}
/* The side of `t`, to write: its owner only (see struct cio__task_side). */
static inline struct cio__task_side *cio__side_w(struct cio__task *t)
{
    if (!cio__side_used(t))
        cio__task_flag_set(t, CIO__T_SIDE);
    return cio__side(t);
}
/* Whether `t` is a compact task with its compact record made (compact.c).
 * The flags are in the descriptor's first cache line, which a switch
 * reads anyway: other tasks, and a compact task whose side is unused,
 * pay no load of the side. */
static inline bool cio__task_compact(struct cio__task *t)
{
    uint32_t f = CIO__T_COMPACT | CIO__T_SIDE;
    return (cio__task_flags(t) & f) == f && cio__side(t)->cx;
}

/* Whether a cancel should end a wait of `t` now: requested, and `t` is
 * not in a shield. Relaxed: a task reads its own flag (SHIELDED is only
 * written by itself); a cancel seen a little late only ends the next
 * wait instead, and cio__park() rechecks with the ordering that loses
 * no wake. */
static inline bool cio__cancel_pending(const struct cio__task *t)
{
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    return (c & (CIO__C_CANCELLED | CIO__C_SHIELDED)) == CIO__C_CANCELLED;
}

static inline void cio__held_add(struct cio__task *t, struct cio__held *h)
{
    struct cio__task_side *s = cio__side_w(t);
    h->prev = NULL;
    h->next = s->held;
    if (s->held)
        s->held->prev = h;
    s->held = h;
}

static inline void cio__held_remove(struct cio__task *t, struct cio__held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        cio__side(t)->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

/* Gives back what `t` still holds (its function has returned). */
void cio__held_abandon_all(struct cio__task *t);

/* Enters / leaves a shield with deadline `deadline` exactly (not capped
 * by the shields around it): for runtime code that must finish a wait
 * whatever happens around it (relocking a mutex after a condition wait).
 * `save` keeps what cio__shield_leave restores. */
struct cio__shield_save {
    int64_t deadline;
};
void cio__shield_enter(struct cio__task *t, int64_t deadline,
                       struct cio__shield_save *save);
/* `deadline` capped by the shield `t` is in, if any: a shield inside
 * another cannot outlast the outer one's budget. */
static inline int64_t cio__shield_cap(struct cio__task *t, int64_t deadline)
{
    /* Relaxed: SHIELDED is set and cleared by `t` itself, with its depth;
     * checked first so that a task outside shields reads no side. */
    if (!(atomic_load_explicit(&t->ctl, memory_order_relaxed) &
          CIO__C_SHIELDED))
        return deadline;
    struct cio__task_side *s = cio__side(t);
    return s->shield_deadline < deadline ? s->shield_deadline : deadline;
}
void cio__shield_leave(struct cio__task *t,
                       const struct cio__shield_save *save);

struct cio__task *cio__task_current(void);
int cio__task_alloc(struct cio__worker *w, struct cio__task **out);
/* For an idle worker: when few free descriptors are left, takes a batch
 * from the shared list or grows the table by a chunk now, so that the
 * spawns of the next burst find their descriptors' pages given already,
 * not on their own path. True when it did. */
bool cio__task_table_ahead(struct cio__worker *w);
void cio__task_free(struct cio__worker *w, struct cio__task *t);
struct cio__task *cio__task_lookup(struct cio__runtime *rt, cio_task h);
cio_task cio__task_handle(const struct cio__task *t);
void cio__task_finish(struct cio__worker *w, struct cio__task *t);
#ifdef CIO_TESTING
/* Called by cio__task_finish() between reading the joiner and marking the
 * task done, so a test can make a joiner come and go exactly there. */
extern void (*cio__test_finish_window)(struct cio__task *t);
#endif
/* A task's figures as core keeps them (observe/ makes cio_task_stats of
 * them): ticks, counts and what it waits on. */
struct cio__task_figures {
    cio_task handle;
    const char *name;       /* as given at spawn, or NULL */
    int state;              /* CIO_TASK_* */
    int worker;             /* running it, or the last that ran it, or -1 */
    int wait_kind;          /* CIO_WAIT_* while waiting */
    uintptr_t wait_obj;
    uint64_t park_at;       /* while waiting: when the wait began */
    uint64_t run, ready, blocked, runs;
    uintptr_t stack_lo;     /* 0 without a stack */
    size_t stack_size;
};
/* Figures of the task in `slot` (an index into the task table) if a task
 * lives there: 0, or CIO_ESRCH (no live task, or its slot was reused
 * while being read). `gen`: the generation it must have, 0 for any.
 * Any thread holding `rt` (cio__rt_enter). */
int cio__task_figures_get(struct cio__runtime *rt, uint32_t slot, uint32_t gen,
                          struct cio__task_figures *out);
/* The return addresses of the task in `slot` (generation `gen`) while it
 * is switched out (waiting or ready), innermost first, from its saved
 * frame-pointer chain: how many (0: running, not started, or no chain),
 * CIO_EAGAIN (it ran while being read), CIO_ESRCH. Any thread holding
 * `rt`. */
int cio__task_backtrace(struct cio__runtime *rt, uint32_t slot, uint32_t gen,
                        uintptr_t *pcs, int max);
/* Slots the task table has now (some hold no live task). */
uint32_t cio__task_slots(struct cio__runtime *rt);
void cio__task_cancel_all(struct cio__runtime *rt);
int cio__task_cancel(struct cio__task *t, uint32_t gen);
void cio__task_table_fini(struct cio__runtime *rt);
/* At the runtime's end: later runtimes start their generations above
 * every one this one used, so its handles stay stale. */
void cio__task_table_retire(struct cio__runtime *rt);
int cio__task_create(struct cio__worker *w, struct cio__task **out,
                     cio_task_fn *fn, void *arg, const cio_spawn_opts *o);

/* The wait/wake protocol every blocking call uses:
 *     seq = cio__wait_begin(t);
 *     ...register (t, seq) where a waker will find it...
 *     ...if the condition already holds: stop, no park...
 *     reason = cio__park(t, deadline);
 * Wakers call cio__wake(t, seq, reason) from any thread. */
uint64_t cio__wait_begin(struct cio__task *t);
/* Says what the wait `t` is about to make is on (CIO_WAIT_*, and the
 * object: a descriptor number, a task handle, a sync object's address),
 * for the figures and the trace. Owner only, before cio__wait_begin():
 * its store of the wait word publishes these to a waker that read it. */
static inline void cio__wait_on(struct cio__task *t, int kind, uintptr_t obj)
{
    struct cio__task_side *f = cio__side_w(t);
    atomic_store_explicit(&f->wait_kind, kind, memory_order_relaxed);
    atomic_store_explicit(&f->wait_obj, obj, memory_order_relaxed);
}
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

/* ---- task-local storage (tls.c) ---- */

struct cio__tls_slot {
    void *value;       /* the task's value */
    uint32_t gen;      /* key generation the value was set under */
};

void cio__tls_run_dtors(struct cio__task *t);

#endif /* CIO_CORE_TASK_H */
