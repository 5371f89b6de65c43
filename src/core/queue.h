/* A worker's run queues and the global queue (queue.c): the stealable
 * ring, the local FIFO of tasks bound to the worker, the LIFO slot, the
 * inbox other threads fill, and the runtime's global ring. Only the
 * scheduler's modules use these (sched.c, idle.c, switch.c).
 *
 * Where a task may run decides its queue: stealable() tasks (not started
 * yet, or allowed to migrate, and not pinned) go to the ring, which idle
 * workers steal from; the rest to the local FIFO of their home worker.
 * Tickets give one FIFO order across the two.
 */
#ifndef CIO_CORE_QUEUE_H
#define CIO_CORE_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/runtime.h"
#include "core/task.h"

void cio__global_push(struct cio__runtime *rt, struct cio__task *const *v,
                      size_t n);
struct cio__task *cio__global_take(struct cio__worker *w);
/* The ring is full (head `h`): moves its older half and `t` to the
 * global queue; false when a thief made room meanwhile. */
bool cio__runq_spill(struct cio__worker *w, struct cio__task *t, uint32_t h);
/* Takes half of the victim's ring into the thief's; returns one to run. */
struct cio__task *cio__runq_steal(struct cio__worker *thief,
                                  struct cio__worker *victim);
void cio__inbox_drain(struct cio__worker *w);

/* Queues `t` at the tail of this worker's ring (owner only). Inline: every
 * spawn and every wake of a stealable task comes here. */
static inline void cio__runq_put(struct cio__worker *w, struct cio__task *t)
{
    struct cio__runq *q = &w->runq;
    uint64_t ticket = w->ticket++;
    for (;;) {
        /* Acquire: pairs with thieves' release CAS of the head, after
         * which their slots may be reused. */
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (__builtin_expect(tl - h < CIO__RUNQ_SIZE, 1)) {
            q->tix[tl % CIO__RUNQ_SIZE] = ticket;
            atomic_store_explicit(&q->buf[tl % CIO__RUNQ_SIZE], t,
                                  memory_order_relaxed);
            /* Release: publishes the slot to thieves' acquire of tail. */
            atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
            return;
        }
        if (cio__runq_spill(w, t, h))
            return;
    }
}

static inline struct cio__task *task_of(struct cio__snode *n)
{
    return n ? cio__container_of(n, struct cio__task, qnode) : NULL;
}

static inline bool stealable(const struct cio__task *t)
{
    uint32_t f = cio__task_flags(t);
    return !(f & CIO__T_PIN) &&
           (!(f & CIO__T_STARTED) || (f & CIO__T_MIGRATE));
}

/* Self-check in test builds: a task is never in two queues. The flag is
 * set when a task becomes runnable and cleared when it is taken to run;
 * moves between queues in between do not touch it. */
static inline void became_runnable(struct cio__worker *w, struct cio__task *t)
{
#ifdef CIO_TESTING
    /* Relaxed: a self-check; the read-modify-write sees the last value. */
    if (atomic_exchange_explicit(&t->queued, 1, memory_order_relaxed) != 0 &&
        w)
        atomic_fetch_add_explicit(&w->c.queue_violations, 1,
                                  memory_order_relaxed);
#else
    (void)w;
    (void)t;
#endif
}

static inline void local_put(struct cio__worker *w, struct cio__task *t)
{
    atomic_store_explicit(&t->ticket, w->ticket++, memory_order_relaxed);
    cio__count(&w->c.local_n, 1);
    cio__fifo_push(&w->local, &t->qnode);
}

static inline void queue_put(struct cio__worker *w, struct cio__task *t)
{
    if (stealable(t))
        cio__runq_put(w, t);
    else
        local_put(w, t);
}

static inline void lifo_put(struct cio__worker *w, struct cio__task *t)
{
    /* acq_rel: release publishes `t` to a thief's acquire (steal_any);
     * the old task was put here by this worker, or is NULL. */
    struct cio__task *old =
        atomic_exchange_explicit(&w->lifo, t, memory_order_acq_rel);
    if (old)
        queue_put(w, old);
}

/* The ring's oldest task, its position and its ticket (owner only). A
 * thief may take it meanwhile: runq_take() then fails. */
static inline struct cio__task *runq_peek(struct cio__worker *w,
                                          uint32_t *head, uint64_t *ticket)
{
    struct cio__runq *q = &w->runq;
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (h == tl)
        return NULL;
    *head = h;
    *ticket = q->tix[h % CIO__RUNQ_SIZE];
    return atomic_load_explicit(&q->buf[h % CIO__RUNQ_SIZE],
                                memory_order_relaxed);
}

/* Starts loading the descriptor of the task at ring position `at`, if
 * there is one, while the task just taken runs: behind a long queue each
 * is cold, and the switch into it would wait for its first line. A glance
 * (a thief may take it meanwhile: then the load was for nothing). */
static inline void runq_prefetch(struct cio__worker *w, uint32_t at)
{
    struct cio__runq *q = &w->runq;
    if (at != atomic_load_explicit(&q->tail, memory_order_relaxed))
        __builtin_prefetch(atomic_load_explicit(&q->buf[at % CIO__RUNQ_SIZE],
                                                memory_order_relaxed));
}

static inline bool runq_take(struct cio__worker *w, uint32_t h)
{
    return atomic_compare_exchange_strong_explicit(
        &w->runq.head, &h, h + 1, memory_order_acq_rel, memory_order_relaxed);
}

/* A task left the local FIFO (owner only; see local_n). */
static inline void local_taken(struct cio__worker *w)
{
    cio__count(&w->c.local_n, (uint64_t)-1);
}

static inline bool runq_empty(struct cio__worker *w)
{
    return atomic_load_explicit(&w->runq.head, memory_order_acquire) ==
           atomic_load_explicit(&w->runq.tail, memory_order_acquire);
}

#endif /* CIO_CORE_QUEUE_H */
