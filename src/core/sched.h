/* The scheduler as the other modules see it: making tasks runnable,
 * switching out of and back into them, the run loop, polling the reactor.
 * Inside, it is four modules: queue.c (a worker's run queues and the
 * global queue), idle.c (parking and the one remote-wake path), switch.c
 * (the context switch glue) and sched.c (the scheduling decision and the
 * loop).
 */
#ifndef CIO_CORE_SCHED_H
#define CIO_CORE_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/runtime.h"
#include "core/task.h"
#include "os/os.h"

void cio__sched_loop(struct cio__worker *w);
void cio__sched_switch_out(struct cio__task *t, int post);
void cio__sched_yield(struct cio__task *t);
/* Switches out of `t` for a park (cio__park): the wait word says why it
 * resumes. */
void cio__sched_park(struct cio__task *t);
void cio__sched_ready(struct cio__worker *waker, struct cio__task *t,
                      bool lifo);
void cio__sched_spawned(struct cio__worker *w, struct cio__task *t);
int cio__sched_poll(struct cio__worker *w, int64_t timeout_ns);
void cio__sched_stop_all(struct cio__runtime *rt);
int cio__worker_init(struct cio__runtime *rt, struct cio__worker *w, int i);
void cio__worker_fini(struct cio__worker *w);
/* Whether this worker's earliest deadline may be due, with no precise
 * clock read (lazily kept entries far ahead stay cheap). A coarse clock
 * that lags can only say "not yet" a little late; a worker about to sleep
 * checks with the precise clock (idle.c's has_work). */
static inline bool cio__timers_due_soon(struct cio__worker *w)
{
    int64_t min = atomic_load_explicit(&w->timers.min, memory_order_relaxed);
    return min != CIO_NEVER &&
           min <= cio__os_now_coarse() + cio__os_coarse_res();
}

/* I/O that completed without waiting: spends the task's budget and yields
 * when it is gone. */
void cio__io_budget_yield(struct cio__task *self);
static inline void cio__io_spent(struct cio__task *self)
{
    if (--self->worker->budget <= 0)
        cio__io_budget_yield(self);
}

#endif /* CIO_CORE_SCHED_H */
