/* Queues of waiting tasks and threads, shared by the sync/ modules.
 *
 * A waiter is a record on the waiter's stack, queued (oldest first) under
 * the lock of the object it waits on. Whoever completes it sets its state
 * and wakes the waiter, under that lock; a wait that ends otherwise
 * (deadline, cancel) takes the lock and reads its record: completed means
 * the operation happened after all, so each has exactly one outcome. A
 * record may belong to a select (chan.c), which only the first partner to
 * claim it completes.
 *
 * A waiter is a task, which parks (its worker runs other tasks), or a
 * plain thread (not a task: a library's callback thread), which sleeps on
 * a futex word in its record. Either way the waker calls sleeper_wake()
 * under the object's lock, and the sleeper takes that lock again before
 * its record goes away, so a wake never touches a dead record.
 */
#ifndef CIO_SYNC_WAITQ_H
#define CIO_SYNC_WAITQ_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"
#include "os/os.h"

enum { PENDING, DONE, CLOSED };

/* Who waits: a task (woken by cio__wake for its wait `seq`) or, with
 * `task` NULL, a plain thread sleeping on `woken`. */
struct sleeper {
    struct cio__task *task;
    uint64_t seq;
    _Atomic uint32_t woken;  /* a thread's futex word: 1 once woken */
};

/* Starts a wait of `self` (NULL: the calling plain thread). */
static inline void sleeper_init(struct sleeper *s, struct cio__task *self)
{
    s->task = self;
    s->seq = self ? cio__wait_begin(self) : 0;
    atomic_init(&s->woken, 0);
}

/* Wakes the sleeper, under the lock of the object it waits on. */
static inline void sleeper_wake(struct sleeper *s)
{
    if (s->task) {
        cio__wake(s->task, s->seq, CIO__WAKE_OK);
        return;
    }
    /* Release: pairs with the acquire in sleeper_park() (the sleeper then
     * reads its record under the object's lock, which orders it too). */
    atomic_store_explicit(&s->woken, 1, memory_order_release);
    cio__os_futex_wake(&s->woken, 1);
}

/* Waits (the object's lock not held) until woken or `deadline`: a
 * CIO__WAKE_* reason, or an error (< 0) from cio__park. */
static inline int sleeper_park(struct sleeper *s, int64_t deadline)
{
    if (s->task)
        return cio__park(s->task, deadline);
    /* Acquire: pairs with the release in sleeper_wake(). */
    while (!atomic_load_explicit(&s->woken, memory_order_acquire))
        if (cio__os_futex_wait(&s->woken, 0, deadline) == -ETIMEDOUT)
            return CIO__WAKE_TIMEOUT;
    return CIO__WAKE_OK;
}

/* Whether a wait of `self` (NULL: a plain thread) must not start: the
 * task has been cancelled outside a shield. */
static inline bool wait_refused(struct cio__task *self)
{
    return self && cio__cancel_pending(self);
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
    void *elem;              /* a sender's element, a receiver's destination */
    int64_t since;           /* when it first queued (mutex.c) */
    int kind;                /* what it asks for (rwlock: read or write) */
    int state;               /* PENDING, DONE, CLOSED (under the lock) */
    bool linked;             /* in a queue (under the lock) */
    struct select_state *sel; /* the select it belongs to, or NULL */
    int index;               /* its case in that select */
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

/* Whether `w` may be completed now: always for a plain send or receive;
 * for a select's record, only by the first partner to claim its select
 * (acq_rel: pairs with the other claimants and with the select's own
 * give-up CAS, so exactly one of them wins). */
static inline bool claim(struct waiter *w)
{
    if (!w->sel)
        return true;
    int open = -1;
    return atomic_compare_exchange_strong_explicit(
        &w->sel->winner, &open, w->index, memory_order_acq_rel,
        memory_order_acquire);
}

/* The oldest waiter of `q` that can be completed now (lock held); records
 * of selects already completed elsewhere are dropped on the way. */
static inline struct waiter *wq_pop(struct wqueue *q)
{
    struct waiter *w;
    while ((w = q->head)) {
        wq_unlink(q, w);
        if (claim(w))
            return w;
    }
    return NULL;
}

/* Ends a waiter's wait (lock held): its task may return as soon as the
 * wake is seen, so the record is read before, and not after. */
static inline void finish(struct waiter *w, int state)
{
    w->state = state;
    sleeper_wake(w->sel ? &w->sel->who : &w->who);
}

/* Queues `w` on `q` and waits until someone completes it (`lock`, which
 * guards `q`, held on entry and released on return); `self` is the
 * calling task, NULL for a plain thread. Returns the state the record was
 * completed with (DONE, CLOSED), or, when the wait ended without that,
 * CIO_ETIMEDOUT or CIO_ECANCELED (the record is unlinked). */
static inline int wq_wait(pthread_mutex_t *lock, struct wqueue *q,
                          struct waiter *w, struct cio__task *self,
                          int64_t deadline)
{
    w->state = PENDING;
    w->sel = NULL;
    sleeper_init(&w->who, self);
    wq_push(q, w);
    pthread_mutex_unlock(lock);
    int reason = sleeper_park(&w->who, deadline);
    pthread_mutex_lock(lock);
    /* Whatever ended the wait, the record's state under the lock is the
     * outcome. */
    int state = w->state;
    if (w->linked)
        wq_unlink(q, w);
    pthread_mutex_unlock(lock);
    if (state != PENDING)
        return state;
    return cio__wait_error(reason == CIO__WAKE_OK ? CIO__WAKE_TIMEOUT
                                                  : reason);
}

/* ---- what every sync object does alike ---- */

/* The caller waits (lock held on entry, released on return) until `ready`
 * is true of the object; 0, or the error that ended the wait. A task
 * parks; a plain thread sleeps. */
static inline int sync_wait_until(pthread_mutex_t *lock, struct wqueue *q,
                                  bool ready, int64_t deadline)
{
    if (ready) {
        pthread_mutex_unlock(lock);
        return 0;
    }
    struct cio__task *self = cio__task_current();
    if (wait_refused(self)) {
        pthread_mutex_unlock(lock);
        return CIO_ECANCELED;
    }
    struct waiter w = {0};
    int state = wq_wait(lock, q, &w, self, deadline);
    return state == DONE ? 0 : state;
}

/* Counts sync objects made (+1) and freed (-1), see cio_stats. */
static inline void sync_count(int delta)
{
    atomic_fetch_add_explicit(&cio__sync_objects, delta,
                              memory_order_relaxed);
}

/* A zeroed object of `size` bytes whose mutex, at `lock_off`, is
 * initialised; NULL with *rc set when one cannot be had. */
static inline void *sync_alloc(size_t size, size_t lock_off, int *rc)
{
    char *o = calloc(1, size);
    if (!o) {
        *rc = CIO_ENOMEM;
        return NULL;
    }
    *rc = -pthread_mutex_init((pthread_mutex_t *)(o + lock_off), NULL);
    if (*rc) {
        free(o);
        return NULL;
    }
    sync_count(1);
    return o;
}

/* Whether tasks wait on `q`; when none do, `lock` is destroyed, and the
 * caller frees the object. */
static inline bool sync_busy_or_done(pthread_mutex_t *lock,
                                     struct wqueue *q)
{
    pthread_mutex_lock(lock);
    bool busy = q->head != NULL;
    pthread_mutex_unlock(lock);
    if (!busy) {
        pthread_mutex_destroy(lock);
        sync_count(-1);
    }
    return busy;
}

#endif /* CIO_SYNC_WAITQ_H */
