/* Wait groups and one-shot events: objects tasks wait on until a count
 * reaches zero, or until something is set once. Both use the waiter
 * queues of waitq.h under one lock each. */
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"
#include "sync/waitq.h"

struct cio_wg {
    pthread_mutex_t lock;   /* guards the rest */
    long count;             /* tasks (or anything) still to finish */
    struct wqueue waiters;  /* tasks in cio_wg_wait() */
};

struct cio_event {
    pthread_mutex_t lock;   /* guards the rest */
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

/* A task waits (lock held on entry, released on return) until `ready`
 * is true of the object; 0, or the error that ended the wait. */
static int wait_until(pthread_mutex_t *lock, struct wqueue *q, bool ready,
                      int64_t deadline)
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
static void *alloc_with_lock(size_t size, size_t lock_off, int *rc)
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
static bool busy_or_done(pthread_mutex_t *lock, struct wqueue *q)
{
    pthread_mutex_lock(lock);
    bool busy = q->head != NULL;
    pthread_mutex_unlock(lock);
    if (!busy)
        pthread_mutex_destroy(lock);
    return busy;
}

/* ---- wait groups --------------------------------------------------------- */

int cio_wg_make(cio_wg **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    *out = alloc_with_lock(sizeof **out, offsetof(struct cio_wg, lock), &rc);
    return rc;
}

int cio_wg_add(cio_wg *wg, long delta)
{
    if (!wg)
        return CIO_EINVAL;
    pthread_mutex_lock(&wg->lock);
    long n;
    if (__builtin_add_overflow(wg->count, delta, &n) || n < 0) {
        pthread_mutex_unlock(&wg->lock);
        return CIO_EINVAL; /* more done than added: nothing changes */
    }
    wg->count = n;
    if (n == 0)
        release_all(&wg->waiters);
    pthread_mutex_unlock(&wg->lock);
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
    if (!cio__task_current())
        return CIO_EPERM;
    pthread_mutex_lock(&wg->lock);
    return wait_until(&wg->lock, &wg->waiters, wg->count == 0, deadline);
}

int cio_wg_free(cio_wg **wg)
{
    if (!wg || !*wg)
        return CIO_EINVAL;
    if (busy_or_done(&(*wg)->lock, &(*wg)->waiters))
        return CIO_EBUSY;
    free(*wg);
    *wg = NULL;
    return 0;
}

/* ---- events ----------------------------------------------------------------- */

int cio_event_make(cio_event **out)
{
    if (!out)
        return CIO_EINVAL;
    int rc;
    *out = alloc_with_lock(sizeof **out, offsetof(struct cio_event, lock),
                           &rc);
    return rc;
}

int cio_event_set(cio_event *e)
{
    if (!e)
        return CIO_EINVAL;
    pthread_mutex_lock(&e->lock);
    bool was = e->set;
    e->set = true;
    release_all(&e->waiters);
    pthread_mutex_unlock(&e->lock);
    return was ? CIO_EALREADY : 0;
}

int cio_event_is_set(cio_event *e)
{
    if (!e)
        return CIO_EINVAL;
    pthread_mutex_lock(&e->lock);
    bool set = e->set;
    pthread_mutex_unlock(&e->lock);
    return set;
}

int cio_event_wait(cio_event *e, int64_t deadline)
{
    if (!e)
        return CIO_EINVAL;
    if (!cio__task_current())
        return CIO_EPERM;
    pthread_mutex_lock(&e->lock);
    return wait_until(&e->lock, &e->waiters, e->set, deadline);
}

int cio_event_free(cio_event **e)
{
    if (!e || !*e)
        return CIO_EINVAL;
    if (busy_or_done(&(*e)->lock, &(*e)->waiters))
        return CIO_EBUSY;
    free(*e);
    *e = NULL;
    return 0;
}
