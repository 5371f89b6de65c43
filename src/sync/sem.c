/* Counting semaphores: permits taken by tasks, waited for in arrival
 * order. A released permit goes straight to the oldest waiter, so a task
 * that arrives later cannot take it first (no barging), and a waiter is
 * never starved by a stream of newcomers. */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"
#include "sync/waitq.h"

struct cio_sem {
    pthread_mutex_t lock;   /* guards the rest */
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
    struct cio_sem *s = calloc(1, sizeof *s);
    if (!s)
        return CIO_ENOMEM;
    int rc = pthread_mutex_init(&s->lock, NULL);
    if (rc) {
        free(s);
        return -rc;
    }
    s->permits = permits;
    *out = s;
    return 0;
}

int cio_sem_try_acquire(cio_sem *s)
{
    if (!s)
        return CIO_EINVAL;
    pthread_mutex_lock(&s->lock);
    int rc = CIO_EAGAIN;
    if (s->permits > 0) {
        s->permits--;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cio_sem_acquire(cio_sem *s, int64_t deadline)
{
    if (!s)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    pthread_mutex_lock(&s->lock);
    if (s->permits > 0) {
        s->permits--;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (atomic_load_explicit(&self->ctl, memory_order_relaxed) &
        CIO__C_CANCELLED) {
        pthread_mutex_unlock(&s->lock);
        return CIO_ECANCELED;
    }
    /* A permit handed to this record is this task's even if its deadline
     * or a cancel came at the same time: the call then succeeds. */
    struct waiter w = {0};
    int state = wq_wait(&s->lock, &s->waiters, &w, self, deadline);
    return state == DONE ? 0 : state;
}

int cio_sem_release(cio_sem *s)
{
    if (!s)
        return CIO_EINVAL;
    pthread_mutex_lock(&s->lock);
    struct waiter *w = wq_pop(&s->waiters);
    int rc = 0;
    if (w)
        finish(w, DONE); /* the permit goes to the oldest waiter */
    else if (s->permits == LONG_MAX)
        rc = CIO_EINVAL;
    else
        s->permits++;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cio_sem_free(cio_sem **sp)
{
    if (!sp || !*sp)
        return CIO_EINVAL;
    struct cio_sem *s = *sp;
    pthread_mutex_lock(&s->lock);
    bool busy = s->waiters.head != NULL;
    pthread_mutex_unlock(&s->lock);
    if (busy)
        return CIO_EBUSY;
    pthread_mutex_destroy(&s->lock);
    free(s);
    *sp = NULL;
    return 0;
}
