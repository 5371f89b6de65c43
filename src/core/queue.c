/* A worker's run queues and the global queue; see queue.h. */
#include <pthread.h>

#include "core/fd.h"
#include "core/queue.h"

/* The global queue is a ring of task pointers with a slot for every
 * descriptor that exists (the task table grows it, task.c), so a push never
 * allocates and never fails, and taking a batch copies contiguous pointers
 * instead of walking links through descriptors that are cold in cache. */
void cio__global_push(struct cio__runtime *rt, struct cio__task *const *v,
                      size_t n)
{
    pthread_mutex_lock(&rt->global_lock);
    size_t cap = rt->global_cap;
    size_t at = rt->global_head +
                atomic_load_explicit(&rt->global_n, memory_order_relaxed);
    if (at >= cap)
        at -= cap;
    for (size_t i = 0; i < n; i++) {
        rt->global[at] = v[i];
        if (++at == cap)
            at = 0;
    }
    /* Relaxed: the lock publishes the ring; lock-free readers of the
     * count only decide whether to take the lock (or, in
     * cio__worker_park(), read it after the fence that pairs with
     * cio__wake_remote()'s). */
    atomic_fetch_add_explicit(&rt->global_n, n, memory_order_relaxed);
    pthread_mutex_unlock(&rt->global_lock);
}

bool cio__runq_spill(struct cio__worker *w, struct cio__task *t,
                     uint32_t h)
{
    /* Full: move the older half and this task to the global queue, so a
     * burst of spawns costs one lock per half ring. */
    struct cio__runq *q = &w->runq;
    uint32_t n = CIO__RUNQ_SIZE / 2;
    struct cio__task *batch[CIO__RUNQ_SIZE / 2 + 1];
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&q->buf[(h + i) % CIO__RUNQ_SIZE],
                                        memory_order_relaxed);
    /* acq_rel: pairs with thieves' CAS of the head (runq_steal). */
    if (!atomic_compare_exchange_strong_explicit(&q->head, &h, h + n,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false; /* a thief took some; there may be room now */
    batch[n] = t;
    cio__global_push(w->rt, batch, n + 1);
    return true;
}

/* Takes half of the victim's ring into the thief's; returns one to run. */
struct cio__task *cio__runq_steal(struct cio__worker *thief,
                                  struct cio__worker *victim)
{
    struct cio__runq *vq = &victim->runq, *tq = &thief->runq;
    for (;;) {
        uint32_t h = atomic_load_explicit(&vq->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&vq->tail, memory_order_acquire);
        uint32_t n = tl - h;
        n -= n / 2;
        if (n == 0)
            return NULL;
        if (n > CIO__RUNQ_SIZE / 2)
            continue; /* read head and tail at different times: retry */
        uint32_t ttail = atomic_load_explicit(&tq->tail, memory_order_relaxed);
        struct cio__task *got[CIO__RUNQ_SIZE / 2];
        for (uint32_t i = 0; i < n; i++)
            got[i] = atomic_load_explicit(&vq->buf[(h + i) % CIO__RUNQ_SIZE],
                                          memory_order_relaxed);
        if (!atomic_compare_exchange_strong_explicit(
                &vq->head, &h, h + n, memory_order_acq_rel,
                memory_order_relaxed))
            continue;
        /* The thief is idle, so its own ring is empty and has room. */
        for (uint32_t i = 0; i + 1 < n; i++) {
            tq->tix[(ttail + i) % CIO__RUNQ_SIZE] = thief->ticket++;
            atomic_store_explicit(&tq->buf[(ttail + i) % CIO__RUNQ_SIZE],
                                  got[i], memory_order_relaxed);
        }
        atomic_store_explicit(&tq->tail, ttail + n - 1, memory_order_release);
        cio__count(&thief->c.steals, n);
        return got[n - 1];
    }
}

void cio__inbox_drain(struct cio__worker *w)
{
    struct cio__fifo got;
    pthread_mutex_lock(&w->inbox_lock);
    got = w->inbox;
    cio__fifo_init(&w->inbox);
    struct cio__fd *mail = w->rx_mail;
    w->rx_mail = NULL;
    atomic_store_explicit(&w->inbox_n, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->inbox_lock);
    if (mail)
        cio__rx_mail_run(w, mail);
    struct cio__snode *n;
    uint64_t k = 0;
    while ((n = cio__fifo_pop(&got))) {
        queue_put(w, task_of(n));
        k++;
    }
    cio__count(&w->c.inbox_tasks, k);
}

struct cio__task *cio__global_take(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    if (atomic_load_explicit(&rt->global_n, memory_order_relaxed) == 0)
        return NULL;
    struct cio__task *got[CIO__RUNQ_SIZE / 2 + 1];
    pthread_mutex_lock(&rt->global_lock);
    size_t avail = atomic_load_explicit(&rt->global_n, memory_order_relaxed);
    /* A fair share, so one worker does not drain what others could run. */
    size_t n = avail / (size_t)rt->nworkers + 1;
    if (n > avail)
        n = avail;
    /* No more than the ring has room for: more would spill straight back
     * here, moving every task twice (a long global queue made this the
     * hottest function of skynet). */
    size_t room = CIO__RUNQ_SIZE -
                  (atomic_load_explicit(&w->runq.tail, memory_order_relaxed) -
                   atomic_load_explicit(&w->runq.head, memory_order_acquire));
    if (n > room / 2 + 1)
        n = room / 2 + 1;
    size_t at = rt->global_head, cap = rt->global_cap;
    for (size_t i = 0; i < n; i++) {
        got[i] = rt->global[at];
        if (++at == cap)
            at = 0;
    }
    rt->global_head = at;
    atomic_fetch_sub_explicit(&rt->global_n, n, memory_order_relaxed);
    pthread_mutex_unlock(&rt->global_lock);
    /* Queued outside the lock: a full ring spills back to the global
     * queue, which takes the lock again. */
    for (size_t i = 1; i < n; i++)
        cio__runq_put(w, got[i]);
    return n ? got[0] : NULL;
}
