/* Task groups: tasks that are waited for, cancelled and fail together
 * (structured concurrency: Go's errgroup, Trio's nurseries).
 *
 * The group owns its tasks: each runs member_main(), which reports its
 * result to the group and unlinks itself under the group's lock as its
 * last act, so a member in the list is always a live task and cancelling
 * it by handle is safe. A group with a deadline has a watchdog task that
 * cancels it when the deadline passes; the watchdog holds a reference,
 * so the group's memory outlives cio_group_free() until the watchdog has
 * ended.
 */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"
#include "sync/waitq.h"

struct member {
    struct member *next, *prev;
    struct cio_group *g;
    cio_group_fn *fn;
    void *arg;
    cio_task task;
};

struct cio_group {
    cio__spin lock;            /* guards the rest */
    unsigned flags;            /* CIO_GROUP_* */
    int limit;                 /* most members at once, 0: no limit */
    int64_t deadline;
    long live;                 /* members spawned and not yet ended */
    int err;                   /* the first error, 0 */
    bool cancelled;
    bool freed;                /* cio_group_free() succeeded */
    int refs;                  /* the user's, and the watchdog's */
    struct member *members;    /* live members */
    struct wqueue waiters;     /* in cio_group_wait() */
    struct wqueue spawners;    /* in cio_group_spawn(), waiting for room */
    cio_task watchdog;         /* the deadline's task, or zero */
};

void cio_group_opts_init(cio_group_opts *o)
{
    if (o)
        *o = (cio_group_opts){.deadline = CIO_NEVER};
}

static void destroy(struct cio_group *g)
{
    free(g);
    sync_count(-1);
}

/* Cancels the group (lock held, on a worker): every member, later spawns
 * refused, spawners waiting for room told. `why` becomes the group's
 * error unless a task's error came first. */
static void cancel_locked(struct cio_group *g, int why)
{
    if (!g->err)
        g->err = why;
    if (g->cancelled)
        return;
    g->cancelled = true;
    for (struct member *m = g->members; m; m = m->next)
        cio_cancel(m->task);
    /* Spawners waiting for room are told with the wake (CLOSED and the
     * error), so they need not touch the group again. */
    struct waiter *w;
    while ((w = wq_pop(&g->spawners))) {
        w->result = g->err;
        finish(w, CLOSED);
    }
}

/* A place in the group is given up (lock held): it goes straight to the
 * oldest spawner waiting for room, which then owns it (`live` keeps
 * counting it, so no wait ends and no free succeeds before that spawner
 * has spawned or given the place back); with none waiting, the count
 * drops, and at 0 the waiters are told, the group's error with the wake
 * (they do not touch the group again, so whoever wakes first may free
 * it). */
static void place_freed(struct cio_group *g)
{
    struct waiter *w = wq_pop(&g->spawners);
    if (w) {
        finish(w, DONE);
        return;
    }
    if (--g->live > 0)
        return;
    while ((w = wq_pop(&g->waiters))) {
        w->result = g->err;
        finish(w, DONE);
    }
}

static void *watchdog_main(void *p)
{
    struct cio_group *g = p;
    int rc = cio_sleep_until(g->deadline);
    cio__spin_lock(&g->lock);
    if (rc == 0 && !g->freed)
        cancel_locked(g, CIO_ETIMEDOUT);
    bool last = --g->refs == 0;
    cio__spin_unlock(&g->lock);
    if (last)
        destroy(g);
    return NULL;
}

int cio_group_make(cio_group **out, const cio_group_opts *opts)
{
    if (!out)
        return CIO_EINVAL;
    *out = NULL;
    cio_group_opts o;
    cio_group_opts_init(&o);
    if (opts)
        o = *opts;
    if ((o.flags & ~(unsigned)CIO_GROUP_FAIL_FAST) || o.limit < 0)
        return CIO_EINVAL;
    bool timed = o.deadline != CIO_NEVER;
    if (timed && !cio__task_current())
        return CIO_EPERM;
    int rc;
    struct cio_group *g = sync_alloc(sizeof *g, &rc);
    if (!g)
        return rc;
    g->flags = o.flags;
    g->limit = o.limit;
    g->deadline = o.deadline;
    g->refs = 1;
    if (timed) {
        static const cio_spawn_opts wopts = {.name = "group-deadline"};
        g->refs = 2;
        rc = cio_spawn(&g->watchdog, watchdog_main, g, &wopts);
        if (rc < 0) {
            destroy(g);
            return rc;
        }
        cio_detach(g->watchdog);
    }
    *out = g;
    return 0;
}

static void *member_main(void *p)
{
    struct member *m = p;
    struct cio_group *g = m->g;
    int rc = m->fn(m->arg);
    cio__spin_lock(&g->lock);
    if (m->prev)
        m->prev->next = m->next;
    else
        g->members = m->next;
    if (m->next)
        m->next->prev = m->prev;
    if (rc < 0 && !g->err) {
        g->err = rc;
        if (g->flags & CIO_GROUP_FAIL_FAST)
            cancel_locked(g, rc);
    }
    place_freed(g);
    /* The last touch of the group: once unlocked, a waiter may free it. */
    cio__spin_unlock(&g->lock);
    free(m);
    return NULL;
}

int cio_group_spawn(cio_group *g, cio_group_fn *fn, void *arg,
                    const cio_spawn_opts *opts)
{
    if (!g || !fn)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    struct member *m = malloc(sizeof *m);
    if (!m)
        return CIO_ENOMEM;
    *m = (struct member){.g = g, .fn = fn, .arg = arg};
    cio__spin_lock(&g->lock);
    if (g->cancelled) {
        int rc = g->err;
        cio__spin_unlock(&g->lock);
        free(m);
        return rc;
    }
    if (!g->limit || g->live < g->limit) {
        g->live++; /* a place of its own */
    } else {
        /* Waits for a place until the group's deadline, whose watchdog
         * cancels the group (and so wakes this) as it passes. */
        if (wait_refused(self)) {
            cio__spin_unlock(&g->lock);
            free(m);
            return CIO_ECANCELED;
        }
        struct waiter w;
        wq_enqueue(&g->spawners, &w, self, CIO_WAIT_GROUP, g);
        cio__spin_unlock(&g->lock);
        int state = wq_outcome(&g->lock, &g->spawners, &w, CIO_NEVER, NULL,
                               NULL);
        if (state != DONE) {
            free(m);
            return state == CLOSED ? w.result : state;
        }
        /* A place was handed over: `live` already counts it, so the group
         * cannot be freed before it is used or given back. */
        cio__spin_lock(&g->lock);
    }
    int rc = g->cancelled ? g->err : 0;
    /* Spawned under the lock: the member cannot end (it takes the lock
     * to unlink itself) before its handle is stored and it is linked. */
    if (rc == 0)
        rc = cio_spawn(&m->task, member_main, m, opts);
    if (rc < 0) {
        place_freed(g);
        cio__spin_unlock(&g->lock);
        free(m);
        return rc;
    }
    cio_detach(m->task);
    m->prev = NULL;
    m->next = g->members;
    if (g->members)
        g->members->prev = m;
    g->members = m;
    cio__spin_unlock(&g->lock);
    return 0;
}

int cio_group_cancel(cio_group *g)
{
    if (!g)
        return CIO_EINVAL;
    if (!cio__task_current())
        return CIO_EPERM;
    cio__spin_lock(&g->lock);
    cancel_locked(g, CIO_ECANCELED);
    cio__spin_unlock(&g->lock);
    return 0;
}

int cio_group_wait(cio_group *g, int64_t deadline)
{
    if (!g)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    bool shielded = false;
    struct cio__shield_save save;
    int rc = 0;
    cio__spin_lock(&g->lock);
    for (;;) {
        if (g->live == 0) {
            if (!rc)
                rc = g->err;
            cio__spin_unlock(&g->lock);
            break;
        }
        if (wait_refused(self)) {
            /* The waiter is cancelled: so is its group, and the waiter
             * waits (in a shield, up to its deadline) for the members to
             * end, so none outlives the scope that made it. */
            cancel_locked(g, CIO_ECANCELED);
            cio__shield_enter(self, cio__shield_cap(self, deadline), &save);
            shielded = true;
            rc = CIO_ECANCELED;
        }
        struct waiter w;
        wq_enqueue(&g->waiters, &w, self, CIO_WAIT_GROUP, g);
        cio__spin_unlock(&g->lock);
        int state = wq_park_outcome(&g->lock, &g->waiters, &w, deadline);
        if (state == DONE) {
            if (!rc)
                rc = w.result;
            break;
        }
        /* Gave up, the lock held again: a cancel of this waiter cancels
         * the group (above) under this same hold, so the group cannot
         * have been freed in between. */
        if (state != CIO_ECANCELED || shielded) {
            cio__spin_unlock(&g->lock);
            rc = state;
            break;
        }
        /* Cancelled: reported even if the last member ended meanwhile. */
        rc = CIO_ECANCELED;
    }
    if (shielded)
        cio__shield_leave(self, &save);
    return rc;
}

long cio_group_live(cio_group *g)
{
    if (!g)
        return CIO_EINVAL;
    cio__spin_lock(&g->lock);
    long n = g->live;
    cio__spin_unlock(&g->lock);
    return n;
}

int cio_group_free(cio_group **gp)
{
    if (!gp || !*gp)
        return CIO_EINVAL;
    struct cio_group *g = *gp;
    cio__spin_lock(&g->lock);
    if (g->live || g->waiters.head || g->spawners.head || g->freed) {
        int rc = g->freed ? CIO_EINVAL : CIO_EBUSY;
        cio__spin_unlock(&g->lock);
        return rc;
    }
    g->freed = true;
    /* The watchdog, if it still sleeps, ends now (or at the runtime's
     * end, when not called from a worker) and drops the last reference. */
    if (g->watchdog.id && cio__current_worker())
        cio_cancel(g->watchdog);
    bool last = --g->refs == 0;
    cio__spin_unlock(&g->lock);
    if (last)
        destroy(g);
    *gp = NULL;
    return 0;
}

/* ---- a graceful stop on signals ------------------------------------------ */

struct stopper {
    cio_group *g;
    const sigset_t *set;
    int sig; /* the signal that came, 0 if none */
};

static void *stop_on_signal(void *arg)
{
    struct stopper *s = arg;
    int sig = cio_signal_wait(s->set, CIO_NEVER);
    if (sig > 0) {
        s->sig = sig;
        cio_group_cancel(s->g);
    }
    return NULL;
}

int cio_group_wait_signals(cio_group *g, const sigset_t *set,
                           int64_t deadline)
{
    if (!g)
        return CIO_EINVAL;
    sigset_t dflt;
    if (!set) {
        sigemptyset(&dflt);
        sigaddset(&dflt, SIGINT);
        sigaddset(&dflt, SIGTERM);
        set = &dflt;
    }
    /* A wait that is over at once checks the set and takes the signals
     * from here on: one that comes before the watcher waits is kept. */
    struct stopper s = {.g = g, .set = set};
    int rc = cio_signal_wait(set, 0);
    if (rc > 0) {
        s.sig = rc;
        cio_group_cancel(g);
    } else if (rc != CIO_ETIMEDOUT) {
        return rc; /* a bad set, not a task, cancelled */
    }
    cio_task watcher = {0};
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "cio-stop-on-signal";
    if (!s.sig) {
        rc = cio_spawn(&watcher, stop_on_signal, &s, &o);
        if (rc < 0)
            return rc;
    }
    rc = cio_group_wait(g, deadline);
    if (watcher.id) {
        /* The watcher reads `s` on this stack: it ends before this
         * returns, even when this task is cancelled. */
        cio_shield sh;
        cio_shield_begin(&sh, CIO_NEVER);
        cio_cancel(watcher);
        cio_join(watcher, NULL, CIO_NEVER);
        cio_shield_end(&sh);
    }
    return s.sig ? s.sig : rc;
}
