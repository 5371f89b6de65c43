/* Mutexes, reader-writer locks and condition variables for tasks (and
 * plain threads): waiting for one parks the task, never its worker.
 *
 * The mutex keeps the fast path of a spinlock, one compare-and-swap to
 * lock and one to unlock, and the fairness of a queue, in the manner of
 * Go's sync.Mutex. A word holds LOCKED, WAITERS (the queue may be
 * non-empty), WOKEN (a waiter was woken to compete and is on its way) and
 * STARVING (a waiter has waited HANDOFF_NS). Unlocking with waiters wakes
 * the oldest, which then competes with any task arriving meanwhile: a
 * task that finds the lock free takes it, so a busy lock does not turn
 * every hand-over into a task switch (a lock convoy). A woken waiter that
 * loses goes back to the head of the queue; if it has waited HANDOFF_NS
 * by then it sets STARVING, and from then on each unlock hands the lock
 * to the oldest waiter directly (LOCKED never clears, so no newcomer can
 * take it first) until a waiter that gets it has waited less than that,
 * or none is left. So a stream of newcomers cannot starve a waiter, and
 * the clock is read only by waiters, never on an unlock.
 *
 * Who changes the word: anyone may set LOCKED with a CAS while it is
 * clear; everything else changes under the queue lock `lock`, and while
 * LOCKED is set only its holder (or a waiter joining the queue, under the
 * queue lock) writes it.
 */
#include <stddef.h>
#include <stdlib.h>

#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"
#include "sync/waitq.h"

enum { LOCKED = 1, WAITERS = 2, WOKEN = 4, STARVING = 8 };

/* A waiter's state: woken to compete for the lock again (not handed it). */
enum { WOKE = CLOSED + 1 };

/* A waiter that waited this long makes the lock hand itself over (Go
 * uses the same 1 ms). */
#define HANDOFF_NS 1000000

/* Tries a busy lock this many times before queueing, when the holder may
 * be running on another worker: critical sections are usually shorter
 * than a park and a wake. */
#define SPINS 8
#define BACKOFF_MAX 64

struct cio_mutex {
    _Atomic uint32_t word;          /* LOCKED | WAITERS | WOKEN | STARVING */
    cio__spin lock;                 /* guards the queue; see above */
    struct wqueue waiters;          /* oldest first */
    _Atomic(const void *) owner;    /* holder's identity (see who()) */
    struct cio__held held;          /* in the holding task's list */
    bool abandoned;                 /* the last holder ended holding it */
};

/* A holder's identity: its task, or for a plain thread the address of a
 * thread-local (tasks migrate between threads; threads are not tasks). */
static _Thread_local char thread_identity;

static const void *who(struct cio__task *self)
{
    return self ? (const void *)self : (const void *)&thread_identity;
}

static bool may_spin(struct cio__task *self)
{
    return self ? self->worker->rt->nworkers > 1 : cio__os_ncpu() > 1;
}

/* ---- mutex -------------------------------------------------------------- */

static void abandon(struct cio__held *h);

int cio_mutex_make(cio_mutex **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    struct cio_mutex *m = sync_alloc(sizeof *m, &rc);
    if (m)
        m->held.abandon = abandon;
    *out = m;
    return rc;
}

/* The caller now holds `m`. */
static int acquired(struct cio_mutex *m, struct cio__task *self)
{
    /* Relaxed: only the holder writes it; others compare it with their
     * own identity, which it can equal only if they hold the lock. */
    atomic_store_explicit(&m->owner, who(self), memory_order_relaxed);
    if (self)
        cio__held_add(self, &m->held);
    if (m->abandoned) { /* written by the last holder, ordered by the lock */
        m->abandoned = false;
        return CIO_EOWNERDEAD;
    }
    return 0;
}

/* The queue may have emptied (queue lock held): then nobody waits, and
 * nobody starves. */
static void queue_left(struct cio_mutex *m)
{
    if (!m->waiters.head)
        atomic_fetch_and_explicit(&m->word, ~(uint32_t)(WAITERS | STARVING),
                                  memory_order_relaxed);
}

/* Hands the WOKEN role on (queue lock held): the caller was woken to
 * compete and leaves without the lock. If the lock is free and a waiter
 * remains, that one is woken instead; otherwise the next unlock wakes. */
static void pass_woken(struct cio_mutex *m)
{
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    /* Mutex waiters never give up without the queue lock (lock_slow), so
     * the head can be taken without the claim protocol of waitq.h. */
    struct waiter *next = !(w & LOCKED) ? m->waiters.head : NULL;
    if (!next) {
        atomic_fetch_and_explicit(&m->word, ~(uint32_t)WOKEN,
                                  memory_order_relaxed);
        return;
    }
    wq_unlink(&m->waiters, next);
    queue_left(m);
    finish(next, WOKE);
}

/* Waits for the lock; `must`: neither a cancel nor a deadline ends the
 * wait (relocking after a condition wait). */
static int lock_slow(struct cio_mutex *m, struct cio__task *self,
                     int64_t deadline, bool must)
{
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) == who(self))
        return CIO_EDEADLK;
    int spins = may_spin(self) ? SPINS : 0, backoff = 1;
    bool woken = false; /* this caller holds the WOKEN role */
    struct waiter rec; /* not zeroed: what the mutex reads is set here */
    rec.since = 0;
    rec.sel = NULL;
    for (;;) {
        uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
        if (!(w & LOCKED)) {
            uint32_t nw = (w | LOCKED) & ~(woken ? (uint32_t)WOKEN : 0);
            /* Acquire: pairs with the release that unlocked it. */
            if (atomic_compare_exchange_weak_explicit(
                    &m->word, &w, nw, memory_order_acquire,
                    memory_order_relaxed))
                return acquired(m, self);
            continue;
        }
        if (spins > 0) {
            /* Backing off (1, 2, 4... pauses between looks) leaves the
             * holder's core the lock's cache line for longer, so it can
             * take and release the lock many times without a transfer. */
            for (int i = backoff; i > 0; i--)
                cio__os_relax();
            backoff = backoff < BACKOFF_MAX ? backoff * 2 : backoff;
            spins--;
            continue;
        }
        cio__spin_lock(&m->lock);
        w = atomic_load_explicit(&m->word, memory_order_relaxed);
        if (!(w & LOCKED)) {
            cio__spin_unlock(&m->lock);
            continue;
        }
        if (!must && wait_refused(self)) {
            if (woken)
                pass_woken(m);
            cio__spin_unlock(&m->lock);
            return CIO_ECANCELED;
        }
        /* Joining the queue: WAITERS set while LOCKED is, so the holder's
         * unlock takes the slow path and sees this record. Relaxed: the
         * queue lock orders the record; the CAS only has to see LOCKED. */
        uint32_t nw = (w | WAITERS) & ~(woken ? (uint32_t)WOKEN : 0);
        if (!atomic_compare_exchange_strong_explicit(
                &m->word, &w, nw, memory_order_relaxed,
                memory_order_relaxed)) {
            cio__spin_unlock(&m->lock);
            continue;
        }
        if (woken) {
            wq_push_front(&m->waiters, &rec); /* keeps its place */
            if (cio__os_now_coarse() - rec.since >= HANDOFF_NS)
                atomic_fetch_or_explicit(&m->word, STARVING,
                                         memory_order_relaxed);
        } else {
            rec.since = cio__os_now_coarse();
            wq_push(&m->waiters, &rec);
        }
        woken = false;
        rec.state = PENDING;
        sleeper_init(&rec.who, self, CIO_WAIT_MUTEX, m);
        cio__spin_unlock(&m->lock);
        int reason = sleeper_park(&rec.who, must ? CIO_NEVER : deadline);
        cio__spin_lock(&m->lock);
        int state = rec.state;
        if (rec.linked)
            wq_unlink(&m->waiters, &rec);
        if (state == DONE) { /* handed over: LOCKED was kept for us */
            /* Back to competing once this waiter did not wait long or
             * was the last (Go's rule for leaving starvation mode). */
            if (!m->waiters.head ||
                cio__os_now_coarse() - rec.since < HANDOFF_NS)
                atomic_fetch_and_explicit(&m->word, ~(uint32_t)STARVING,
                                          memory_order_relaxed);
            cio__spin_unlock(&m->lock);
            return acquired(m, self);
        }
        if (state == WOKE) {
            /* Compete again, even if the deadline came at the same
             * moment: a lock taken now is taken. A loss re-queues and
             * the next park ends at once with the timeout. */
            woken = true;
            cio__spin_unlock(&m->lock);
            spins = may_spin(self) ? SPINS : 0;
            backoff = 1;
            continue;
        }
        queue_left(m);
        cio__spin_unlock(&m->lock);
        if (must && reason >= 0)
            continue; /* a stray cancel wake: wait again */
        return cio__wait_error(reason == CIO__WAKE_OK ? CIO__WAKE_TIMEOUT
                                                      : reason);
    }
}

int cio_mutex_lock(cio_mutex *m, int64_t deadline)
{
    if (!m)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_at_entry();
    uint32_t w = 0;
    /* Acquire: pairs with the release that unlocked it. */
    if (atomic_compare_exchange_weak_explicit(&m->word, &w, LOCKED,
                                              memory_order_acquire,
                                              memory_order_relaxed))
        return acquired(m, self);
    return lock_slow(m, self, deadline, false);
}

int cio_mutex_try_lock(cio_mutex *m)
{
    if (!m)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_at_entry();
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    while (!(w & LOCKED))
        /* Acquire: pairs with the release that unlocked it. */
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, w | LOCKED,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return acquired(m, self);
    return atomic_load_explicit(&m->owner, memory_order_relaxed) == who(self)
               ? CIO_EDEADLK
               : CIO_EAGAIN;
}

/* Releases `m`, held by the caller (whose identity is already cleared). */
static void release(struct cio_mutex *m);

/* The caller, holding `m`, lets it go. */
static void let_go(struct cio_mutex *m, struct cio__task *self)
{
    atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
    if (self)
        cio__held_remove(self, &m->held);
    release(m);
}

static void release(struct cio_mutex *m)
{
    uint32_t w = LOCKED;
    /* Release: pairs with the acquire of the next holder's CAS. */
    if (atomic_compare_exchange_strong_explicit(&m->word, &w, 0,
                                                memory_order_release,
                                                memory_order_relaxed))
        return;
    cio__spin_lock(&m->lock);
    w = atomic_load_explicit(&m->word, memory_order_relaxed);
    struct waiter *h = m->waiters.head;
    if (h && (w & STARVING)) {
        /* Straight to the oldest waiter: LOCKED stays set. Release: the
         * store orders this holder's writes before the waiter's acquire
         * CAS on the next release; the queue lock orders them for it. */
        wq_unlink(&m->waiters, h);
        if (!m->waiters.head)
            w &= ~(uint32_t)(WAITERS | STARVING);
        atomic_store_explicit(&m->word, w, memory_order_release);
        finish(h, DONE);
        cio__spin_unlock(&m->lock);
        return;
    }
    bool wake = h && !(w & WOKEN);
    if (wake) {
        wq_unlink(&m->waiters, h);
        w |= WOKEN;
    }
    if (!m->waiters.head)
        w &= ~(uint32_t)(WAITERS | STARVING);
    /* Release: pairs with the acquire CAS of whoever takes it next. */
    atomic_store_explicit(&m->word, w & ~(uint32_t)LOCKED,
                          memory_order_release);
    if (wake)
        finish(h, WOKE);
    cio__spin_unlock(&m->lock);
}

int cio_mutex_unlock(cio_mutex *m)
{
    if (!m)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_at_entry();
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) != who(self))
        return CIO_EPERM;
    let_go(m, self);
    return 0;
}

/* The holding task ended: the next holder learns it (CIO_EOWNERDEAD). */
static void abandon(struct cio__held *h)
{
    struct cio_mutex *m = cio__container_of(h, struct cio_mutex, held);
    m->abandoned = true;
    atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
    release(m);
}

int cio_mutex_free(cio_mutex **mp)
{
    if (!mp || !*mp)
        return CIO_EINVAL;
    struct cio_mutex *m = *mp;
    if (atomic_load_explicit(&m->word, memory_order_acquire) != 0)
        return CIO_EBUSY;
    if (sync_busy_or_done(&m->lock, &m->waiters))
        return CIO_EBUSY;
    free(m);
    *mp = NULL;
    return 0;
}

/* ---- condition variables ------------------------------------------------ */

struct cio_cond {
    cio__spin lock;         /* guards the queue */
    struct wqueue waiters;  /* oldest first */
};

int cio_cond_make(cio_cond **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    *out = sync_alloc(sizeof **out, &rc);
    return rc;
}

/* Takes `m` back after a condition wait, whatever happens meanwhile: a
 * task does so in a shield without deadline, so no cancel wakes it. */
static int relock(struct cio_mutex *m, struct cio__task *self)
{
    uint32_t w = 0;
    if (atomic_compare_exchange_strong_explicit(&m->word, &w, LOCKED,
                                                memory_order_acquire,
                                                memory_order_relaxed))
        return acquired(m, self);
    if (!self)
        return lock_slow(m, NULL, CIO_NEVER, true);
    struct cio__shield_save save;
    cio__shield_enter(self, CIO_NEVER, &save);
    int rc = lock_slow(m, self, CIO_NEVER, true);
    cio__shield_leave(self, &save);
    return rc;
}

int cio_cond_wait(cio_cond *c, cio_mutex *m, int64_t deadline)
{
    if (!c || !m)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_at_entry();
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) != who(self))
        return CIO_EPERM;
    cio__spin_lock(&c->lock);
    if (wait_refused(self)) {
        cio__spin_unlock(&c->lock);
        return CIO_ECANCELED;
    }
    /* Queued before the mutex is let go: a signal sent by whoever takes
     * the mutex next finds this waiter. */
    struct waiter rec;
    wq_enqueue(&c->waiters, &rec, self, CIO_WAIT_COND, c);
    cio__spin_unlock(&c->lock);
    let_go(m, self);
    int state = wq_outcome(&c->lock, &c->waiters, &rec, deadline, NULL,
                           NULL);
    int rc = relock(m, self);
    if (state == DONE)
        return rc; /* 0, or CIO_EOWNERDEAD */
    return rc < 0 ? rc : state;
}

/* Wakes the oldest waiter, or every waiter. */
static int cond_wake(cio_cond *c, bool all)
{
    if (!c)
        return CIO_EINVAL;
    cio__spin_lock(&c->lock);
    struct waiter *w;
    while ((w = wq_pop(&c->waiters))) {
        finish(w, DONE);
        if (!all)
            break;
    }
    cio__spin_unlock(&c->lock);
    return 0;
}

int cio_cond_signal(cio_cond *c)
{
    return cond_wake(c, false);
}

int cio_cond_broadcast(cio_cond *c)
{
    return cond_wake(c, true);
}

int cio_cond_free(cio_cond **cp)
{
    if (!cp || !*cp)
        return CIO_EINVAL;
    if (sync_busy_or_done(&(*cp)->lock, &(*cp)->waiters))
        return CIO_EBUSY;
    free(*cp);
    *cp = NULL;
    return 0;
}

/* ---- reader-writer locks ------------------------------------------------ */

/* Strictly in arrival order: a reader arriving while a writer waits
 * queues behind it, so a stream of readers cannot starve a writer, and
 * the readers queued behind a writer all enter together after it. */

enum { READ = 1, WRITE = 2 };

struct cio_rwlock {
    cio__spin lock;         /* guards the rest */
    long readers;           /* readers holding it */
    const void *writer;     /* the writer holding it, or NULL */
    struct wqueue waiters;  /* oldest first; `kind` READ or WRITE */
};

int cio_rwlock_make(cio_rwlock **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    *out = sync_alloc(sizeof **out, &rc);
    return rc;
}

/* Lets in whoever the queue's head allows (lock held). */
static void rw_grant(struct cio_rwlock *l)
{
    struct waiter *w = l->waiters.head;
    while (!l->writer && w) {
        struct waiter *next = w->next;
        if (w->kind == WRITE && l->readers)
            return;
        /* A record whose waiter gave up stays for it to unlink; skip. */
        if (claim(w)) {
            wq_unlink(&l->waiters, w);
            if (w->kind == WRITE)
                l->writer = w->elem; /* the waiter's identity */
            else
                l->readers++;
            finish(w, DONE);
        }
        w = next;
    }
}

static void rw_grant_obj(void *l)
{
    rw_grant(l);
}

static int rw_lock(cio_rwlock *l, int kind, int64_t deadline)
{
    if (!l)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_at_entry();
    cio__spin_lock(&l->lock);
    if (l->writer == who(self)) {
        cio__spin_unlock(&l->lock);
        return CIO_EDEADLK;
    }
    bool free_now = !l->writer && !l->waiters.head &&
                    (kind == READ || l->readers == 0);
    if (free_now) {
        if (kind == READ)
            l->readers++;
        else
            l->writer = who(self);
        cio__spin_unlock(&l->lock);
        return 0;
    }
    if (wait_refused(self)) {
        cio__spin_unlock(&l->lock);
        return CIO_ECANCELED;
    }
    struct waiter w;
    w.kind = kind;
    w.elem = (void *)who(self);
    wq_enqueue(&l->waiters, &w, self, CIO_WAIT_RWLOCK, l);
    cio__spin_unlock(&l->lock);
    /* Leaving the queue may let those behind in (a writer at the head
     * that gave up lets the readers after it enter). */
    int state = wq_outcome(&l->lock, &l->waiters, &w, deadline, rw_grant_obj,
                           l);
    return state == DONE ? 0 : state;
}

int cio_rwlock_rdlock(cio_rwlock *l, int64_t deadline)
{
    return rw_lock(l, READ, deadline);
}

int cio_rwlock_wrlock(cio_rwlock *l, int64_t deadline)
{
    return rw_lock(l, WRITE, deadline);
}

int cio_rwlock_unlock(cio_rwlock *l)
{
    if (!l)
        return CIO_EINVAL;
    const void *me = who(cio__task_at_entry());
    cio__spin_lock(&l->lock);
    int rc = 0;
    if (l->writer == me)
        l->writer = NULL;
    else if (l->writer || l->readers == 0)
        rc = CIO_EPERM; /* a writer holds it, or nobody does */
    else
        l->readers--;
    if (rc == 0)
        rw_grant(l);
    cio__spin_unlock(&l->lock);
    return rc;
}

int cio_rwlock_free(cio_rwlock **lp)
{
    if (!lp || !*lp)
        return CIO_EINVAL;
    struct cio_rwlock *l = *lp;
    cio__spin_lock(&l->lock);
    bool held = l->writer || l->readers;
    cio__spin_unlock(&l->lock);
    if (held || sync_busy_or_done(&l->lock, &l->waiters))
        return CIO_EBUSY;
    free(l);
    *lp = NULL;
    return 0;
}
