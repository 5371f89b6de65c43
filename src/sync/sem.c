/* Counting semaphores: permits taken by tasks, waited for in arrival
 * order. A released permit goes straight to the oldest waiter, so a task
 * that arrives later cannot take it first (no barging), and a waiter is
 * never starved by a stream of newcomers. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"
#include "sync/waitq.h"

struct cio_sem {
    cio__spin lock;         /* guards the rest */
    long permits;           /* free permits; 0 while tasks wait */
    struct wqueue waiters;  /* tasks in cio_sem_acquire(), oldest first */
};

int cio_sem_make(cio_sem **out, long permits)
{
    if (!out)
        return CIO_EINVAL;
    *out = NULL;
    if (permits < 0)
        return CIO_EINVAL;
    int rc;
    struct cio_sem *s = sync_alloc(sizeof *s, &rc);
    if (s)
        s->permits = permits;
    *out = s;
    return rc;
}

int cio_sem_try_acquire(cio_sem *s)
{
    if (!s)
        return CIO_EINVAL;
    cio__spin_lock(&s->lock);
    int rc = CIO_EAGAIN;
    if (s->permits > 0) {
        s->permits--;
        rc = 0;
    }
    cio__spin_unlock(&s->lock);
    return rc;
}

int cio_sem_acquire(cio_sem *s, int64_t deadline)
{
    if (!s)
        return CIO_EINVAL;
    cio__spin_lock(&s->lock);
    bool free_permit = s->permits > 0;
    if (free_permit)
        s->permits--;
    /* A permit handed to a waiter is its task's even if its deadline or a
     * cancel came at the same time: the call then succeeds. */
    return sync_wait_until(&s->lock, &s->waiters, free_permit, CIO_WAIT_SEM,
                           s, deadline);
}

int cio_sem_release(cio_sem *s)
{
    if (!s)
        return CIO_EINVAL;
    cio__spin_lock(&s->lock);
    struct waiter *w = wq_pop(&s->waiters);
    int rc = 0;
    if (w)
        finish(w, DONE); /* the permit goes to the oldest waiter */
    else if (s->permits == LONG_MAX)
        rc = CIO_EINVAL;
    else
        s->permits++;
    cio__spin_unlock(&s->lock);
    return rc;
}

int cio_sem_free(cio_sem **sp)
{
    if (!sp || !*sp)
        return CIO_EINVAL;
    if (sync_busy_or_done(&(*sp)->lock, &(*sp)->waiters))
        return CIO_EBUSY;
    free(*sp);
    *sp = NULL;
    return 0;
}
