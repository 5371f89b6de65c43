/* Queues of waiting tasks, shared by the sync/ modules.
 *
 * A waiter is a record on the waiting task's stack, queued (oldest first)
 * under the lock of the object it waits on. Whoever completes it sets its
 * state and wakes the task, under that lock; a wait that ends otherwise
 * (deadline, cancel) takes the lock and reads its record: completed means
 * the operation happened after all, so each has exactly one outcome. A
 * record may belong to a select (chan.c), which only the first partner to
 * claim it completes.
 */
#ifndef CIO_SYNC_WAITQ_H
#define CIO_SYNC_WAITQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"

enum { PENDING, DONE, CLOSED };

/* What the waiter records of one cio_select() share: the first partner to
 * claim one of them (by CAS on `winner`) completes the select; the others
 * find it taken and skip their records. */
struct select_state {
    _Atomic int winner;      /* -1: open; >= 0: that case won; -2: gave up */
    struct cio__task *task;
    uint64_t seq;
};

struct waiter {
    struct waiter *next, *prev;
    struct cio__task *task;
    uint64_t seq;            /* the task's wait this record belongs to */
    void *elem;              /* a sender's element, a receiver's destination */
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
    struct cio__task *t = w->sel ? w->sel->task : w->task;
    uint64_t seq = w->sel ? w->sel->seq : w->seq;
    w->state = state;
    cio__wake(t, seq, CIO__WAKE_OK);
}

/* Queues `w` on `q` and waits until someone completes it (`lock`, which
 * guards `q`, held on entry and released on return). Returns the state
 * the record was completed with (DONE, CLOSED), or, when the wait ended
 * without that, CIO_ETIMEDOUT or CIO_ECANCELED (the record is unlinked). */
static inline int wq_wait(pthread_mutex_t *lock, struct wqueue *q,
                          struct waiter *w, struct cio__task *self,
                          int64_t deadline)
{
    w->task = self;
    w->state = PENDING;
    w->sel = NULL;
    w->seq = cio__wait_begin(self);
    wq_push(q, w);
    pthread_mutex_unlock(lock);
    int reason = cio__park(self, deadline);
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

/* A task waits (lock held on entry, released on return) until `ready`
 * is true of the object; 0, or the error that ended the wait. */
static inline int sync_wait_until(pthread_mutex_t *lock, struct wqueue *q,
                                  bool ready, int64_t deadline)
{
    if (ready) {
        pthread_mutex_unlock(lock);
        return 0;
    }
    struct cio__task *self = cio__task_current();
    if (atomic_load_explicit(&self->ctl, memory_order_relaxed) &
        CIO__C_CANCELLED) {
        pthread_mutex_unlock(lock);
        return CIO_ECANCELED;
    }
    struct waiter w = {0};
    int state = wq_wait(lock, q, &w, self, deadline);
    return state == DONE ? 0 : state;
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
    if (!busy)
        pthread_mutex_destroy(lock);
    return busy;
}

#endif /* CIO_SYNC_WAITQ_H */
