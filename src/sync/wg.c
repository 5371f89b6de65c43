/* Wait groups and one-shot events: objects tasks wait on until a count
 * reaches zero, or until something is set once. Both use the waiter
 * queues of waitq.h under one lock each. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"
#include "sync/waitq.h"

struct cio_wg {
    cio__spin lock;         /* guards the rest */
    long count;             /* tasks (or anything) still to finish */
    struct wqueue waiters;  /* tasks in cio_wg_wait() */
};

struct cio_event {
    cio__spin lock;         /* guards the rest */
    bool set;
    struct wqueue waiters;  /* tasks in cio_event_wait() */
};

/* Wakes every waiter of `q` (lock held). */
static void release_all(struct wqueue *q)
{
    struct waiter *w;
    while ((w = wq_pop(q)))
        finish(w, DONE);
}

/* ---- wait groups -------------------------------------------------------- */

int cio_wg_make(cio_wg **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    *out = sync_alloc(sizeof **out, &rc);
    return rc;
}

int cio_wg_add(cio_wg *wg, long delta)
{
    if (!wg)
        return CIO_EINVAL;
    cio__spin_lock(&wg->lock);
    long n;
    if (__builtin_add_overflow(wg->count, delta, &n) || n < 0) {
        cio__spin_unlock(&wg->lock);
        return CIO_EINVAL; /* more done than added: nothing changes */
    }
    wg->count = n;
    if (n == 0)
        release_all(&wg->waiters);
    cio__spin_unlock(&wg->lock);
    return 0;
}

int cio_wg_done(cio_wg *wg)
{
    return cio_wg_add(wg, -1);
}

int cio_wg_wait(cio_wg *wg, int64_t deadline)
{
    if (!wg)
        return CIO_EINVAL;
    cio__spin_lock(&wg->lock);
    return sync_wait_until(&wg->lock, &wg->waiters, wg->count == 0,
                           CIO_WAIT_WAITGROUP, wg, deadline);
}

int cio_wg_free(cio_wg **wg)
{
    if (!wg || !*wg)
        return CIO_EINVAL;
    if (sync_busy_or_done(&(*wg)->lock, &(*wg)->waiters))
        return CIO_EBUSY;
    free(*wg);
    *wg = NULL;
    return 0;
}

/* ---- events ------------------------------------------------------------- */

int cio_event_make(cio_event **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    *out = sync_alloc(sizeof **out, &rc);
    return rc;
}

int cio_event_set(cio_event *e)
{
    if (!e)
        return CIO_EINVAL;
    cio__spin_lock(&e->lock);
    bool was = e->set;
    e->set = true;
    release_all(&e->waiters);
    cio__spin_unlock(&e->lock);
    return was ? CIO_EALREADY : 0;
}

int cio_event_is_set(cio_event *e)
{
    if (!e)
        return CIO_EINVAL;
    cio__spin_lock(&e->lock);
    bool set = e->set;
    cio__spin_unlock(&e->lock);
    return set;
}

int cio_event_wait(cio_event *e, int64_t deadline)
{
    if (!e)
        return CIO_EINVAL;
    cio__spin_lock(&e->lock);
    return sync_wait_until(&e->lock, &e->waiters, e->set, CIO_WAIT_EVENT, e,
                           deadline);
}

int cio_event_free(cio_event **e)
{
    if (!e || !*e)
        return CIO_EINVAL;
    if (sync_busy_or_done(&(*e)->lock, &(*e)->waiters))
        return CIO_EBUSY;
    free(*e);
    *e = NULL;
    return 0;
}
