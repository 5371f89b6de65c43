/* Queues of waiting tasks and threads, shared by the sync/ modules.
 *
 * A waiter is a record on the waiter's stack, queued (oldest first) under
 * the lock of the object it waits on. A record's outcome is decided once,
 * by compare-and-swap on its claim word: a finisher (a partner, a close,
 * an unlock) claims it, or the waiter itself gives up (deadline, cancel).
 * So each wait has exactly one outcome, and:
 *   - the finisher sets the outcome and then `woken`; after that store it
 *     touches neither the record nor the waiter's stack;
 *   - a waiter whose record was claimed never touches the object again
 *     (it waits for `woken` if needed, then reads its record), so the
 *     object may be freed as soon as the finisher is done with it: a
 *     receiver that got the last element may free the channel while the
 *     sender is still returning;
 *   - a waiter that gave up takes the object's lock to unlink its record.
 *     The object is alive then: finishers skip records they cannot claim
 *     and leave them queued, and a free refuses while records are queued.
 * A select's records share one claim word (chan.c), so the first partner
 * to claim any of them completes the whole select.
 *
 * A waiter is a task, which parks (its worker runs other tasks), or a
 * plain thread (not a task: a library's callback thread), which sleeps on
 * the futex word `woken`.
 */
#ifndef CIO_SYNC_WAITQ_H
#define CIO_SYNC_WAITQ_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"
#include "os/os.h"
#include "util/spin.h"

/* Outcomes (`state`), set by the finisher. */
enum { PENDING, DONE, CLOSED };

/* Claim word of a record that is not a select's. */
enum { OPEN, TAKEN, LEFT };

/* Who waits: a task (woken by cio__wake for its wait `seq`) or, with
 * `task` NULL, a plain thread sleeping on `woken`. */
struct sleeper {
    struct cio__task *task;
    uint64_t seq;
    _Atomic uint32_t woken;  /* 1 once the finisher is done with the record */
};

/* Starts a wait of `self` (NULL: the calling plain thread) on `obj`, a
 * sync object of kind `what` (CIO_WAIT_*, for the task's figures). */
static inline void sleeper_init(struct sleeper *s, struct cio__task *self,
                                int what, const void *obj)
{
    s->task = self;
    s->seq = 0;
    if (self) {
        cio__wait_on(self, what, (uintptr_t)obj);
        s->seq = cio__wait_begin(self);
    }
    atomic_init(&s->woken, 0);
}

/* Waits (the object's lock not held) until woken or `deadline`: a
 * CIO__WAKE_* reason, or an error (< 0) from cio__park. */
static inline int sleeper_park(struct sleeper *s, int64_t deadline)
{
    if (s->task)
        return cio__park(s->task, deadline);
    /* Acquire: pairs with the release store in finish(). */
    while (!atomic_load_explicit(&s->woken, memory_order_acquire))
        if (cio__os_futex_wait(&s->woken, 0, deadline) == -ETIMEDOUT)
            return CIO__WAKE_TIMEOUT;
    return CIO__WAKE_OK;
}

/* Waits until the finisher that claimed this sleeper's record is done
 * with it: a few instructions under the object's lock, so a task spins
 * (it cannot park: its wait has ended) and a thread sleeps. */
static inline void sleeper_settle(struct sleeper *s)
{
    /* Acquire: pairs with the release store in finish(). */
    for (int i = 0; !atomic_load_explicit(&s->woken, memory_order_acquire);
         i++) {
        if (!s->task)
            cio__os_futex_wait(&s->woken, 0, INT64_MAX);
        else if (i < 1000)
            cio__os_relax();
        else
            sched_yield(); /* the finisher's thread was preempted */
    }
}

/* What the waiter records of one cio_select() share: the first partner to
 * claim one of them (by CAS on `winner`) completes the select; the others
 * find it taken and skip their records. */
struct select_state {
    _Atomic int winner;      /* -1: open; >= 0: that case won; -2: gave up */
    struct sleeper who;
};

struct waiter {
    struct waiter *next, *prev;
    struct sleeper who;      /* who waits (unused for a select's record) */
    _Atomic int claim;       /* OPEN, TAKEN, LEFT (unused for a select's) */
    int state;               /* outcome, set by the finisher */
    int result;              /* a value handed over with it (group.c) */
    void *elem;              /* a sender's element, a receiver's destination;
                                rwlock.c: the waiter's identity */
    bool linked;             /* in a queue (under the lock) */
    struct select_state *sel; /* the select it belongs to, or NULL */
    int index;               /* its case in that select */
    int64_t since;           /* when it first queued (mutex.c) */
    int kind;                /* what it asks for (rwlock: read or write) */
};

struct wqueue {
    struct waiter *head, *tail;
};

static inline void wq_push(struct wqueue *q, struct waiter *w)
{
    w->linked = true;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

/* Queues `w` first: a waiter that was woken to compete for something
 * and lost keeps its place ahead of later arrivals. */
static inline void wq_push_front(struct wqueue *q, struct waiter *w)
{
    w->linked = true;
    w->prev = NULL;
    w->next = q->head;
    if (q->head)
        q->head->prev = w;
    else
        q->tail = w;
    q->head = w;
}

static inline void wq_unlink(struct wqueue *q, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
    w->linked = false;
}

/* Claims `w` for completion (lock held). acq_rel: pairs with the waiter's
 * give-up CAS (wq_outcome) and, for a select, with the other partners'
 * claims and the select's own give-up, so exactly one of them wins. */
static inline bool claim(struct waiter *w)
{
    if (w->sel) {
        int open = -1;
        return atomic_compare_exchange_strong_explicit(
            &w->sel->winner, &open, w->index, memory_order_acq_rel,
            memory_order_acquire);
    }
    int open = OPEN;
    return atomic_compare_exchange_strong_explicit(
        &w->claim, &open, TAKEN, memory_order_acq_rel, memory_order_acquire);
}

/* The oldest waiter of `q` that could be claimed, unlinked (lock held).
 * Records that cannot be claimed (their waiter gave up, or their select
 * is decided) stay queued: their waiters take them out. */
static inline struct waiter *wq_pop(struct wqueue *q)
{
    for (struct waiter *w = q->head; w; w = w->next)
        if (claim(w)) {
            wq_unlink(q, w);
            return w;
        }
    return NULL;
}

#ifdef CIO_TESTING
/* Called by finish() between the store of `woken` and the wake, so a
 * test can make the woken task and its runtime end exactly there. */
extern void (*cio__test_finish_gap)(void);
#endif

/* Completes a claimed record with `state` (lock held). After the store of
 * `woken` the waiter may return at any moment, so what the wake needs is
 * read before it, and neither the record nor the waiter's stack is touched
 * after it (a futex wake only names an address). */
static inline void finish(struct waiter *w, int state)
{
    struct sleeper *s = w->sel ? &w->sel->who : &w->who;
    struct cio__task *t = s->task;
    uint64_t seq = s->seq;
    /* A plain thread waking a task pins the runtime first: once `woken`
     * is stored the task may return, main may end and cio_run() free the
     * runtime and its task table, which the wake below still reads. The
     * pin holds cio_run() back until the wake is done (a worker needs
     * none: the runtime outlives what its workers run). */
    bool pinned = false;
    struct cio__runtime *rt =
        t && !cio__current_worker() ? cio__rt_enter(&pinned) : NULL;
    w->state = state;
    /* Release: pairs with the acquire loads in sleeper_park() and
     * sleeper_settle(); the task's wake orders it for a parked task. */
    atomic_store_explicit(&s->woken, 1, memory_order_release);
#ifdef CIO_TESTING
    if (cio__test_finish_gap)
        cio__test_finish_gap();
#endif
    if (t)
        cio__wake(t, seq, CIO__WAKE_OK);
    else
        cio__os_futex_wake(&s->woken, 1);
    if (pinned)
        cio__rt_leave(rt, pinned);
}

/* Queues `w` on `q` (lock held) as a wait of `self` (NULL: a thread) on
 * `obj`, of kind `what` (see sleeper_init). */
static inline void wq_enqueue(struct wqueue *q, struct waiter *w,
                              struct cio__task *self, int what,
                              const void *obj)
{
    w->state = PENDING;
    w->sel = NULL;
    atomic_init(&w->claim, OPEN);
    sleeper_init(&w->who, self, what, obj);
    wq_push(q, w);
}

/* Parks the waiter of `w` (queued on `q` under `lock`, lock not held) and
 * returns its outcome: the state it was completed with (DONE, CLOSED), or,
 * when it gave up first, CIO_ETIMEDOUT / CIO_ECANCELED with `lock` held
 * and the record unlinked (the caller may act on the object under the
 * same hold, then unlocks). */
static inline int wq_park_outcome(cio__spin *lock, struct wqueue *q,
                                  struct waiter *w, int64_t deadline)
{
    int reason = sleeper_park(&w->who, deadline);
    if (reason != CIO__WAKE_OK) {
        int open = OPEN;
        /* acq_rel: pairs with claim(). */
        if (atomic_compare_exchange_strong_explicit(
                &w->claim, &open, LEFT, memory_order_acq_rel,
                memory_order_acquire)) {
            cio__spin_lock(lock);
            wq_unlink(q, w); /* still queued: nobody else unlinks it */
            return cio__wait_error(reason);
        }
        /* Claimed just as the wait ended: the outcome stands. */
        sleeper_settle(&w->who);
    }
    return w->state;
}

/* The same, the lock let go in every case; when the waiter gave up, it
 * first runs left(obj) under the lock if given (its leaving may let
 * others in). */
static inline int wq_outcome(cio__spin *lock, struct wqueue *q,
                             struct waiter *w, int64_t deadline,
                             void (*left)(void *obj), void *obj)
{
    int state = wq_park_outcome(lock, q, w, deadline);
    if (state < 0) {
        if (left)
            left(obj);
        cio__spin_unlock(lock);
    }
    return state;
}

/* Queues `w` on `q` and waits until someone completes it (`lock`, which
 * guards `q`, held on entry and released on return); `self` is the
 * calling task, NULL for a plain thread; `what` and `obj` as for
 * wq_enqueue. Returns the state the record was completed with (DONE,
 * CLOSED), or CIO_ETIMEDOUT or CIO_ECANCELED. */
static inline int wq_wait(cio__spin *lock, struct wqueue *q,
                          struct waiter *w, struct cio__task *self,
                          int what, const void *obj, int64_t deadline)
{
    wq_enqueue(q, w, self, what, obj);
    cio__spin_unlock(lock);
    return wq_outcome(lock, q, w, deadline, NULL, NULL);
}

/* Whether a wait of `self` (NULL: a plain thread) must not start: the
 * task has been cancelled outside a shield. */
static inline bool wait_refused(struct cio__task *self)
{
    return self && cio__cancel_pending(self);
}

/* ---- what every sync object does alike ---- */

/* The caller waits (lock held on entry, released on return) until `ready`
 * is true of the object; 0, or the error that ended the wait. A task
 * parks; a plain thread sleeps. */
static inline int sync_wait_until(cio__spin *lock, struct wqueue *q,
                                  bool ready, int what, const void *obj,
                                  int64_t deadline)
{
    if (ready) {
        cio__spin_unlock(lock);
        return 0;
    }
    struct cio__task *self = cio__task_current();
    if (wait_refused(self)) {
        cio__spin_unlock(lock);
        return CIO_ECANCELED;
    }
    struct waiter w;
    int state = wq_wait(lock, q, &w, self, what, obj, deadline);
    return state == DONE ? 0 : state;
}

/* Counts sync objects made (+1) and freed (-1), see cio_stats. */
static inline void sync_count(int delta)
{
    atomic_fetch_add_explicit(&cio__sync_objects, delta,
                              memory_order_relaxed);
}

/* A zeroed object of `size` bytes (its lock, zeroed, is free); NULL with
 * *rc set when memory cannot be had. */
static inline void *sync_alloc(size_t size, int *rc)
{
    void *o = calloc(1, size);
    *rc = o ? 0 : CIO_ENOMEM;
    if (o)
        sync_count(1);
    return o;
}

/* Whether anything waits on `q` (guarded by `lock`); when nothing does,
 * the object is counted as freed, and the caller frees it. */
static inline bool sync_busy_or_done(cio__spin *lock, struct wqueue *q)
{
    cio__spin_lock(lock);
    bool busy = q->head != NULL;
    cio__spin_unlock(lock);
    if (!busy)
        sync_count(-1);
    return busy;
}

#endif /* CIO_SYNC_WAITQ_H */
