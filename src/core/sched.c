/* The scheduler's decisions and its loop: which task runs next, stealing,
 * making tasks runnable, polling the reactor. The queues are queue.c's,
 * parking and remote wakes idle.c's, the switch switch.c's.
 *
 * Each worker runs this loop on its own thread's stack (the scheduler
 * context).
 *
 * One scheduling decision ("tick"), in order:
 *   1. move tasks other threads sent to this worker (inbox) to its queue;
 *   2. wake tasks whose deadline passed;
 *   3. every CIO__GLOBAL_INTERVAL ticks, take from the global queue first;
 *   4. the LIFO slot (the task woken last by this worker), at most
 *      CIO__LIFO_MAX times in a row;
 *   5. the oldest of: the local FIFO (tasks only this worker may run) and
 *      the stealable ring (unstarted tasks, migrating tasks); tickets give
 *      one FIFO order across the two;
 *   6. the global queue;
 *   7. steal half of a random victim's ring (or its LIFO slot);
 *   8. poll the reactor without waiting (also every CIO__POLL_INTERVAL
 *      ticks, so I/O keeps flowing under a long queue);
 *   9. spin a little repeating 1, 6, 7, then sleep in the reactor until
 *      the next deadline, an I/O event or a wake from another thread.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compact.h"
#include "core/fd.h"
#include "core/idle.h"
#include "core/queue.h"
#include "core/sched.h"
#include "core/switch.h"
#include "os/os.h"

#if CIO_HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

_Thread_local struct cio__worker *cio__tls_worker
    __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) struct cio__worker *cio__current_worker(void)
{
    /* The empty asm keeps the compiler from treating the read as constant
     * across calls inside this function's callers after inlining. */
    struct cio__worker *w = cio__tls_worker;
    __asm__ volatile("" : "+r"(w));
    return w;
}

/* Reads the thread-local itself rather than calling the function above:
 * one call per lookup on the paths that make one per operation (every
 * lock and unlock of a cio_mutex). noinline for the same reason. */
__attribute__((noinline)) struct cio__task *cio__task_current(void)
{
    struct cio__worker *w = cio__tls_worker;
    __asm__ volatile("" : "+r"(w));
    return w ? atomic_load_explicit(&w->cur, memory_order_relaxed) : NULL;
}

void cio__sched_ready(struct cio__worker *waker, struct cio__task *t,
                      bool lifo)
{
    /* A thread that is not a worker waking a task is a pool thread (joined
     * before the runtime ends) or holds a pin (cio__rt_enter). Acquire:
     * pairs with the publishing CAS in cio_run(). */
    struct cio__runtime *rt =
        waker ? waker->rt : atomic_load_explicit(&cio__rt,
                                                 memory_order_acquire);
    became_runnable(waker ? waker : &rt->workers[0], t);
    if (stealable(t) && waker) {
        if (lifo && !waker->polling)
            lifo_put(waker, t);
        else
            cio__runq_put(waker, t);
        cio__notify_idle(rt);
        return;
    }
    if (waker && waker->index == t->home) {
        if (lifo && !waker->polling)
            lifo_put(waker, t);
        else
            local_put(waker, t);
        return;
    }
    cio__wake_remote(rt, t);
}

void cio__sched_spawned(struct cio__worker *w, struct cio__task *t)
{
    became_runnable(w, t);
    if (cio__task_flags(t) & CIO__T_PIN) {
        if (t->home == w->index)
            local_put(w, t);
        else
            cio__wake_remote(w->rt, t);
        return;
    }
    cio__runq_put(w, t);
    cio__notify_idle(w->rt);
}

/* Steps 4-5 of a tick: LIFO slot, then the oldest queued task. */
static struct cio__task *pop_own(struct cio__worker *w)
{
    struct cio__task *t = atomic_load_explicit(&w->lifo, memory_order_relaxed);
    if (t) {
        t = atomic_exchange_explicit(&w->lifo, NULL, memory_order_acquire);
        if (t) {
            if (w->lifo_runs < CIO__LIFO_MAX) {
                w->lifo_runs++;
                return t;
            }
            queue_put(w, t); /* it had its turns: back of the queue */
        }
    }
    w->lifo_runs = 0;
    for (;;) {
        struct cio__task *lt = task_of(w->local.head);
        uint32_t h;
        uint64_t rq_ticket;
        struct cio__task *rq = runq_peek(w, &h, &rq_ticket);
        if (!rq && !lt)
            return NULL;
        if (rq && (!lt || rq_ticket < atomic_load_explicit(
                                          &lt->ticket, memory_order_relaxed))) {
            if (runq_take(w, h)) {
                runq_prefetch(w, h + 1);
                return rq;
            }
            continue; /* a thief took it */
        }
        local_taken(w);
        return task_of(cio__fifo_pop(&w->local));
    }
}

/* Whether another worker's ring or LIFO slot, or the global queue, holds
 * tasks this worker could take (a glance, no lock). */
static bool work_elsewhere(struct cio__runtime *rt, struct cio__worker *w)
{
    if (atomic_load_explicit(&rt->global_n, memory_order_relaxed))
        return true;
    for (int i = 0; i < rt->nworkers; i++) {
        struct cio__worker *v = &rt->workers[i];
        if (v == w)
            continue;
        if (!runq_empty(v))
            return true;
        struct cio__task *t =
            atomic_load_explicit(&v->lifo, memory_order_relaxed);
        if (t && stealable(t))
            return true;
    }
    return false;
}

static struct cio__task *steal_any(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    int n = rt->nworkers;
    if (n == 1)
        return NULL;
    w->rng = w->rng * 1664525u + 1013904223u;
    int start = (int)((w->rng >> 8) % (uint32_t)n);
    for (int k = 0; k < n; k++) {
        struct cio__worker *v = &rt->workers[(start + k) % n];
        if (v == w)
            continue;
        struct cio__task *t = cio__runq_steal(w, v);
        if (t)
            return t;
        /* The victim may be stuck in a long task with a stealable task in
         * its LIFO slot: do not leave it stranded there. */
        t = atomic_load_explicit(&v->lifo, memory_order_acquire);
        if (t && stealable(t) &&
            /* Acquire: pairs with the owner's release in lifo_put(). */
            atomic_compare_exchange_strong_explicit(&v->lifo, &t, NULL,
                                                    memory_order_acquire,
                                                    memory_order_relaxed)) {
            if (stealable(t)) {
                cio__count(&w->c.steals, 1);
                return t;
            }
            /* It started running and parked again in between: send it
             * home, where it must run. It is still marked runnable, so
             * this is a move between queues, not a new wake. */
            cio__wake_remote(rt, t);
        }
    }
    return NULL;
}

/* Polls the reactor, waiting at most `timeout_ns` (0: not at all, < 0: no
 * limit), and wakes the tasks waiting on what became ready. Returns the
 * number of events. */
int cio__sched_poll(struct cio__worker *w, int64_t timeout_ns)
{
    struct cio__runtime *rt = w->rt;
    struct cio__event ev[CIO__POLL_EVENTS];
    cio__phase(w, timeout_ns ? CIO__PH_PARK : CIO__PH_POLL);
    int n = rt->be->poll(w->poller, ev, CIO__POLL_EVENTS, timeout_ns);
    cio__count(&w->c.io_polls, 1);
    if (n <= 0) {
        cio__phase(w, CIO__PH_SCHED);
        return 0;
    }
    cio__phase(w, CIO__PH_POLL);
    cio__count(&w->c.io_events, (uint64_t)n);
    /* Tasks woken by a batch of events queue in event order: the LIFO
     * slot is for one task waking another, not for a batch. */
    w->polling = true;
    if (w->lane)
        cio__trace_poll(w, true);
    for (int i = 0; i < n; i++) {
        if (!(ev[i].events & CIO__EV_DONE))
            cio__fd_event(rt, ev[i].token, ev[i].events);
        else if (cio__rx_token(ev[i].token))
            cio__rx_done(w, ev[i].token, ev[i].res, ev[i].events, ev[i].buf);
        else
            cio__fd_req_done(w, ev[i].token, ev[i].res);
    }
    if (w->lane)
        cio__trace_poll(w, false);
    w->polling = false;
    cio__phase(w, CIO__PH_SCHED);
    return n;
}

static void fire_timers(struct cio__worker *w)
{
    if (cio__timers_due_soon(w))
        cio__timer_fire(w, cio__os_now());
}

/* A task to run next, or NULL when the runtime stops. */
static struct cio__task *find_work(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    bool released = false; /* last round released stacks: look once */
    for (;;) {
        w->tick++;
        if (atomic_load_explicit(&w->inbox_n, memory_order_relaxed))
            cio__inbox_drain(w);
        fire_timers(w);
        bool io = atomic_load_explicit(&w->nfds, memory_order_relaxed) != 0 ||
                  w->reqs != 0;
        if (io && w->tick % CIO__POLL_INTERVAL == 0)
            cio__sched_poll(w, 0);
        /* Compact tasks that have waited long give their pages back;
         * a busy worker looks at the oldest now and then. */
        if (w->cx_head && w->tick % CIO__POLL_INTERVAL == 0)
            cio__compact_sweep(w);
        /* A busy worker looks after the pool too, more patiently (idle
         * ones wake for it: pool.h). */
        if (w->tick % CIO__POLL_INTERVAL == 0 &&
            cio__pool_backlogged(&rt->pool))
            cio__pool_watch(&rt->pool, cio__os_now(),
                            20 * CIO__POOL_STUCK_NS);
        struct cio__task *t = NULL;
        if (w->tick % CIO__GLOBAL_INTERVAL == 0)
            t = cio__global_take(w);
        if (!t)
            t = pop_own(w);
        if (!t)
            t = cio__global_take(w);
        if (t)
            return t;
        if (io && cio__sched_poll(w, 0) > 0)
            continue;
        /* With one worker there is nobody to steal from, and nothing can
         * queue work here without waking the reactor: sleep at once. */
        if (rt->nworkers > 1) {
            int rounds = released ? 1 : CIO__SPIN_ROUNDS;
            /* Relaxed: a hint for unpark_any(); a stale read costs a
             * needless wake or a delay until the spinner parks and
             * checks again after its fence. */
            atomic_fetch_add_explicit(&rt->n_spinning, 1,
                                      memory_order_relaxed);
            for (int i = 0; i < rounds && !t; i++) {
                if (atomic_load_explicit(&w->inbox_n, memory_order_relaxed))
                    break;
                t = cio__global_take(w);
                if (!t)
                    t = steal_any(w);
                if (!t && i > CIO__SPIN_ROUNDS / 2)
                    sched_yield();
            }
            int spinners = atomic_fetch_sub_explicit(&rt->n_spinning, 1,
                                                     memory_order_relaxed);
            if (t) {
                /* Work was found: another idle worker may find more. And
                 * while this one spun, publishers skipped waking anyone
                 * (unpark_any); if it was the last spinner and work it did
                 * not take is in sight, someone must come for it (Go's
                 * rule for the last spinning M). */
                bool last = spinners == 1;
                /* The fence orders the decrement before the glance: it
                 * pairs with the publishers' fence before they read
                 * n_spinning (store buffering, both sides fenced), so
                 * either they saw no spinner and woke someone, or this
                 * glance sees their work. */
                if (last)
                    atomic_thread_fence(memory_order_seq_cst);
                if (!runq_empty(w) || (last && work_elsewhere(rt, w)))
                    cio__notify_idle(rt);
                return t;
            }
        }
        /* Acquire: pairs with cio__sched_stop_all(). */
        if (atomic_load_explicit(&rt->stop, memory_order_acquire))
            return NULL;
        /* Idle: give back the stack pages a fallen task count no longer
         * needs, a batch per round, so work that arrives meanwhile waits
         * for one batch at most. */
        /* Relaxed: a hint; the release itself takes the arena lock. */
        released = atomic_load_explicit(&rt->stack_release_due,
                                        memory_order_relaxed) &&
                   cio__stack_release_idle(rt);
        if (released)
            continue;
        if (cio__task_table_ahead(w))
            continue; /* work may have come meanwhile */
        if (w->cx_head)
            cio__compact_sweep(w); /* idle: a good time */
        if (!atomic_load_explicit(&w->inbox_n, memory_order_relaxed))
            cio__worker_park(w);
    }
}

void cio__sched_loop(struct cio__worker *w)
{
    cio__tls_worker = w;
#if CIO_HAVE_TSAN
    w->sched_fiber = __tsan_get_current_fiber();
#endif
    cio__os_signals_hold();
    if (w->rt->be->start) {
        /* The probe at start did the same on a ring like this one. */
        int rc = w->rt->be->start(w->poller);
        if (rc < 0) {
            fprintf(stderr, "cio: worker %d cannot start its %s: %s\n",
                    w->index, w->rt->be->name, strerror(-rc));
            abort();
        }
        cio__rx_worker_start(w);
    }
    if (w->timing)
        atomic_store_explicit(&w->c.phase_mark, cio__os_ticks(),
                              memory_order_relaxed);
    struct cio__task *t;
    while ((t = find_work(w)))
        cio__switch_run(w, t);
    cio__phase(w, CIO__PH_SCHED); /* the last interval counts too */
    /* Outside the loop from here: snapshots stop counting (the runtime's
     * teardown is nobody's phase). */
    atomic_store_explicit(&w->c.phase_mark, 0, memory_order_relaxed);
    cio__os_signals_release();
    /* Release: pairs with the acquire in cio__rx_stop(), which stops
     * waiting for mail this worker will not read. */
    atomic_store_explicit(&w->loop_done, true, memory_order_release);
    cio__tls_worker = NULL;
}

int cio__worker_init(struct cio__runtime *rt, struct cio__worker *w, int i)
{
    memset(w, 0, sizeof *w);
    w->index = i;
    w->rt = rt;
    w->timing = rt->timing;
    w->exact = rt->exact;
    w->rng = 0x9e3779b9u * (uint32_t)(i + 1);
    cio__fifo_init(&w->local);
    cio__fifo_init(&w->free_tasks);
    cio__fifo_init(&w->inbox);
    cio__stack_worker_init(w);
    int rc = -pthread_mutex_init(&w->inbox_lock, NULL);
    if (rc < 0)
        return rc;
    rc = cio__timer_heap_init(&w->timers);
    if (rc < 0)
        goto err_inbox;
    rc = rt->be->open(&w->poller);
    if (rc < 0)
        goto err_timers;
    return 0;

err_timers:
    cio__timer_heap_fini(&w->timers);
err_inbox:
    pthread_mutex_destroy(&w->inbox_lock);
    return rc;
}

void cio__worker_fini(struct cio__worker *w)
{
    cio__rx_worker_fini(w);
    cio__stack_worker_fini(w);
    cio__timer_heap_fini(&w->timers);
    pthread_mutex_destroy(&w->inbox_lock);
    w->rt->be->close(w->poller);
}
