/* The scheduler: run queues, stealing, parking, and the switch in and out.
 *
 * Each worker runs this loop on its own thread's stack (the scheduler
 * context); a task switches back to it whenever it yields, parks or ends,
 * and the scheduler does what the task asked (the "post" action) only once
 * it is off the task's stack, so no other thread can resume a task whose
 * stack is still in use.
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
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "arch/ctx.h"
#include "core/internal.h"
#include "os/os.h"

#if CIO_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
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

struct cio__task *cio__task_current(void)
{
    struct cio__worker *w = cio__current_worker();
    return w ? w->cur : NULL;
}

static inline struct cio__task *task_of(struct cio__snode *n)
{
    return n ? cio__container_of(n, struct cio__task, qnode) : NULL;
}

static inline bool stealable(const struct cio__task *t)
{
    return !(t->flags & CIO__T_PIN) &&
           (!(t->flags & CIO__T_STARTED) || (t->flags & CIO__T_MIGRATE));
}

/* Self-check in test builds: a task is never in two queues. The flag is
 * set when a task becomes runnable and cleared when it is taken to run;
 * moves between queues in between do not touch it. */
static inline void became_runnable(struct cio__worker *w, struct cio__task *t)
{
#ifdef CIO_TESTING
    if (atomic_exchange(&t->queued, 1) != 0 && w)
        atomic_fetch_add(&w->c.queue_violations, 1);
#else
    (void)w;
    (void)t;
#endif
}

/* ---- the stealable ring ------------------------------------------------- */

/* The global queue is a ring of task pointers with a slot for every
 * descriptor that exists (the task table grows it, task.c), so a push never
 * allocates and never fails, and taking a batch copies contiguous pointers
 * instead of walking links through descriptors that are cold in cache. */
static void global_push(struct cio__runtime *rt, struct cio__task *const *v,
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
    atomic_fetch_add(&rt->global_n, n);
    pthread_mutex_unlock(&rt->global_lock);
}

static void runq_put(struct cio__worker *w, struct cio__task *t)
{
    struct cio__runq *q = &w->runq;
    uint64_t ticket = w->ticket++;
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (tl - h < CIO__RUNQ_SIZE) {
            q->tix[tl % CIO__RUNQ_SIZE] = ticket;
            atomic_store_explicit(&q->buf[tl % CIO__RUNQ_SIZE], t,
                                  memory_order_relaxed);
            atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
            return;
        }
        /* Full: move the older half and this task to the global queue, so
         * a burst of spawns costs one lock per half ring. */
        uint32_t n = CIO__RUNQ_SIZE / 2;
        struct cio__task *batch[CIO__RUNQ_SIZE / 2 + 1];
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(
                &q->buf[(h + i) % CIO__RUNQ_SIZE], memory_order_relaxed);
        if (!atomic_compare_exchange_strong_explicit(
                &q->head, &h, h + n, memory_order_acq_rel,
                memory_order_relaxed))
            continue; /* a thief took some; there may be room now */
        batch[n] = t;
        global_push(w->rt, batch, n + 1);
        return;
    }
}

/* The ring's oldest task, its position and its ticket (owner only). A
 * thief may take it meanwhile: runq_take() then fails. */
static struct cio__task *runq_peek(struct cio__worker *w, uint32_t *head,
                                   uint64_t *ticket)
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

static bool runq_take(struct cio__worker *w, uint32_t h)
{
    return atomic_compare_exchange_strong_explicit(
        &w->runq.head, &h, h + 1, memory_order_acq_rel, memory_order_relaxed);
}

static bool runq_empty(struct cio__worker *w)
{
    return atomic_load_explicit(&w->runq.head, memory_order_acquire) ==
           atomic_load_explicit(&w->runq.tail, memory_order_acquire);
}

/* Takes half of the victim's ring into the thief's; returns one to run. */
static struct cio__task *runq_steal(struct cio__worker *thief,
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

/* ---- queues of one worker ----------------------------------------------- */

static void local_put(struct cio__worker *w, struct cio__task *t)
{
    atomic_store_explicit(&t->ticket, w->ticket++, memory_order_relaxed);
    cio__fifo_push(&w->local, &t->qnode);
}

static void queue_put(struct cio__worker *w, struct cio__task *t)
{
    if (stealable(t))
        runq_put(w, t);
    else
        local_put(w, t);
}

static void inbox_put(struct cio__worker *target, struct cio__task *t)
{
    pthread_mutex_lock(&target->inbox_lock);
    cio__fifo_push(&target->inbox, &t->qnode);
    atomic_store(&target->inbox_n, 1);
    pthread_mutex_unlock(&target->inbox_lock);
    cio__sched_unpark(target);
}

static void inbox_drain(struct cio__worker *w)
{
    struct cio__fifo got;
    pthread_mutex_lock(&w->inbox_lock);
    got = w->inbox;
    cio__fifo_init(&w->inbox);
    atomic_store_explicit(&w->inbox_n, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->inbox_lock);
    struct cio__snode *n;
    while ((n = cio__fifo_pop(&got)))
        queue_put(w, task_of(n));
}

static struct cio__task *global_take(struct cio__worker *w)
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
    atomic_fetch_sub(&rt->global_n, n);
    pthread_mutex_unlock(&rt->global_lock);
    /* Queued outside the lock: a full ring spills back to the global
     * queue, which takes the lock again. */
    for (size_t i = 1; i < n; i++)
        runq_put(w, got[i]);
    return n ? got[0] : NULL;
}

/* Wakes `v` if it sleeps (the caller has issued the fence that pairs with
 * park()); true when this call did. */
static bool unpark(struct cio__worker *v)
{
    if (!atomic_load_explicit(&v->parked, memory_order_relaxed) ||
        atomic_exchange(&v->parked, 0) != 1)
        return false;
    atomic_fetch_sub(&v->rt->n_parked, 1);
    v->rt->be->wake(v->poller);
    return true;
}

/* Wakes one sleeping worker when there is stealable work and no worker is
 * already looking for it. */
static void notify_idle(struct cio__runtime *rt)
{
    if (rt->nworkers == 1)
        return; /* nobody else to wake: skip the fence */
    /* Pairs with the fence in park(): either this sees the parked count,
     * or the parking worker sees the work pushed before this fence. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&rt->n_parked, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&rt->n_spinning, memory_order_relaxed) != 0)
        return;
    for (int i = 0; i < rt->nworkers; i++)
        if (unpark(&rt->workers[i]))
            return;
}

void cio__sched_unpark(struct cio__worker *w)
{
    atomic_thread_fence(memory_order_seq_cst);
    unpark(w);
}

void cio__sched_stop_all(struct cio__runtime *rt)
{
    atomic_store(&rt->stop, 1);
    for (int i = 0; i < rt->nworkers; i++)
        rt->be->wake(rt->workers[i].poller);
}

static void lifo_put(struct cio__worker *w, struct cio__task *t)
{
    struct cio__task *old = atomic_exchange(&w->lifo, t);
    if (old)
        queue_put(w, old);
}

void cio__sched_ready(struct cio__worker *waker, struct cio__task *t,
                      bool lifo)
{
    struct cio__runtime *rt = atomic_load(&cio__rt);
    if (waker && waker->rt != rt)
        waker = NULL;
    became_runnable(waker ? waker : &rt->workers[0], t);
    if (stealable(t)) {
        if (waker) {
            if (lifo && !waker->polling)
                lifo_put(waker, t);
            else
                runq_put(waker, t);
        } else {
            global_push(rt, &t, 1);
        }
        notify_idle(rt);
        return;
    }
    if (waker && waker->index == t->home) {
        if (lifo && !waker->polling)
            lifo_put(waker, t);
        else
            local_put(waker, t);
        return;
    }
    inbox_put(&rt->workers[t->home], t);
}

void cio__sched_spawned(struct cio__worker *w, struct cio__task *t)
{
    became_runnable(w, t);
    if (t->flags & CIO__T_PIN) {
        if (t->home == w->index)
            local_put(w, t);
        else
            inbox_put(&w->rt->workers[t->home], t);
        return;
    }
    runq_put(w, t);
    notify_idle(w->rt);
}

/* Steps 4-5 of a tick: LIFO slot, then the oldest queued task. */
static struct cio__task *pop_own(struct cio__worker *w)
{
    struct cio__task *t = atomic_load_explicit(&w->lifo, memory_order_relaxed);
    if (t) {
        t = atomic_exchange(&w->lifo, NULL);
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
            if (runq_take(w, h))
                return rq;
            continue; /* a thief took it */
        }
        return task_of(cio__fifo_pop(&w->local));
    }
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
        struct cio__task *t = runq_steal(w, v);
        if (t)
            return t;
        /* The victim may be stuck in a long task with a stealable task in
         * its LIFO slot: do not leave it stranded there. */
        t = atomic_load_explicit(&v->lifo, memory_order_acquire);
        if (t && stealable(t) &&
            atomic_compare_exchange_strong(&v->lifo, &t, NULL)) {
            if (stealable(t)) {
                cio__count(&w->c.steals, 1);
                return t;
            }
            /* It started running and parked again in between: send it
             * home, where it must run. It is still marked runnable, so
             * this is a move between queues, not a new wake. */
            inbox_put(&rt->workers[t->home], t);
        }
    }
    return NULL;
}

/* Anything this worker could run, or a deadline already due (fired here,
 * by the precise clock: the per-tick check trusts the coarse one, which
 * can lag after the CPU was idle, and would leave it for later). */
static bool has_work(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    if (atomic_load(&w->inbox_n) || atomic_load(&rt->global_n) ||
        atomic_load(&rt->stop))
        return true;
    for (int i = 0; i < rt->nworkers; i++) {
        struct cio__worker *v = &rt->workers[i];
        if (!runq_empty(v))
            return true;
        struct cio__task *t = atomic_load(&v->lifo);
        if (t && (v == w || stealable(t)))
            return true;
    }
    int64_t now = cio__os_now();
    if (cio__timer_next(w) > now)
        return false;
    cio__timer_fire(w, now);
    return true;
}

/* Polls the reactor, waiting at most `timeout_ns` (0: not at all, < 0: no
 * limit), and wakes the tasks waiting on what became ready. Returns the
 * number of events. */
int cio__sched_poll(struct cio__worker *w, int64_t timeout_ns)
{
    struct cio__runtime *rt = w->rt;
    struct cio__event ev[CIO__POLL_EVENTS];
    int n = rt->be->poll(w->poller, ev, CIO__POLL_EVENTS, timeout_ns);
    cio__count(&w->c.io_polls, 1);
    if (n <= 0)
        return 0;
    cio__count(&w->c.io_events, (uint64_t)n);
    /* Tasks woken by a batch of events queue in event order: the LIFO
     * slot is for one task waking another, not for a batch. */
    w->polling = true;
    for (int i = 0; i < n; i++)
        cio__fd_event(rt, ev[i].token, ev[i].events);
    w->polling = false;
    return n;
}

static void park(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    atomic_store(&w->parked, 1);
    atomic_fetch_add(&rt->n_parked, 1);
    /* Pairs with notify_idle() and cio__sched_unpark(). */
    atomic_thread_fence(memory_order_seq_cst);
    if (has_work(w)) {
        if (atomic_exchange(&w->parked, 0) == 1)
            atomic_fetch_sub(&rt->n_parked, 1);
        return;
    }
    int64_t next = cio__timer_next(w), timeout = -1;
    if (next != CIO_NEVER) {
        timeout = next - cio__os_now();
        if (timeout < 0)
            timeout = 0;
    }
    cio__sched_poll(w, timeout);
    if (atomic_exchange(&w->parked, 0) == 1)
        atomic_fetch_sub(&rt->n_parked, 1);
    cio__count(&w->c.parks, 1);
}

/* Whether the earliest deadline may be due, with no precise clock read
 * (lazily kept entries far ahead stay cheap). A coarse clock that lags
 * can only say "not yet" a little late; a worker about to sleep checks
 * with the precise clock (has_work). */
static bool timer_due_soon(struct cio__worker *w)
{
    int64_t min = atomic_load_explicit(&w->timers.min, memory_order_relaxed);
    return min != CIO_NEVER &&
           min <= cio__os_now_coarse() + cio__os_coarse_res();
}

static void fire_timers(struct cio__worker *w)
{
    if (timer_due_soon(w))
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
            inbox_drain(w);
        fire_timers(w);
        bool io = atomic_load_explicit(&w->nfds, memory_order_relaxed) != 0;
        if (io && w->tick % CIO__POLL_INTERVAL == 0)
            cio__sched_poll(w, 0);
        struct cio__task *t = NULL;
        if (w->tick % CIO__GLOBAL_INTERVAL == 0)
            t = global_take(w);
        if (!t)
            t = pop_own(w);
        if (!t)
            t = global_take(w);
        if (t)
            return t;
        if (io && cio__sched_poll(w, 0) > 0)
            continue;
        /* With one worker there is nobody to steal from, and nothing can
         * queue work here without waking the reactor: sleep at once. */
        if (rt->nworkers > 1) {
            int rounds = released ? 1 : CIO__SPIN_ROUNDS;
            atomic_fetch_add(&rt->n_spinning, 1);
            for (int i = 0; i < rounds && !t; i++) {
                if (atomic_load_explicit(&w->inbox_n, memory_order_relaxed))
                    break;
                t = global_take(w);
                if (!t)
                    t = steal_any(w);
                if (!t && i > CIO__SPIN_ROUNDS / 2)
                    sched_yield();
            }
            atomic_fetch_sub(&rt->n_spinning, 1);
            if (t) {
                /* Work was found: another idle worker may find more. */
                if (!runq_empty(w))
                    notify_idle(rt);
                return t;
            }
        }
        if (atomic_load(&rt->stop))
            return NULL;
        /* Idle: give back the stack pages a fallen task count no longer
         * needs, a batch per round, so work that arrives meanwhile waits
         * for one batch at most. */
        released = atomic_load_explicit(&rt->stack_release_due,
                                        memory_order_relaxed) &&
                   cio__stack_release_idle(rt);
        if (released)
            continue;
        if (!atomic_load_explicit(&w->inbox_n, memory_order_relaxed))
            park(w);
    }
}

/* ---- switching ----------------------------------------------------------- */

static void task_entry(void *p)
{
    struct cio__task *t = p;
#if CIO_HAVE_ASAN
    struct cio__worker *w = t->worker;
    __sanitizer_finish_switch_fiber(NULL, &w->sched_stack_lo,
                                    &w->sched_stack_size);
#endif
    t->result = t->fn(t->arg);
    cio__tls_run_dtors(t);
    cio__sched_switch_out(t, CIO__POST_EXIT);
    __builtin_unreachable();
}

/* Leaves task `t`'s stack for the context saved at `to_sp`, whose stack is
 * [lo, lo + size) and whose TSan fiber is `fiber`; returns when something
 * switches back to `t`. A task leaving for good (`ending`) lets ASan drop
 * its fake stack. The overflow check runs here, at every switch out. */
__attribute__((noinline)) static void leave(struct cio__task *t,
                                            void *to_sp, bool ending,
                                            const void *lo, size_t size,
                                            void *fiber, bool same_site)
{
    if (__builtin_expect(
            !cio__stack_intact(&t->stack, __builtin_frame_address(0)), 0))
        cio__stack_overflow(t);
#if CIO_HAVE_ASAN
    __sanitizer_start_switch_fiber(ending ? NULL : &t->asan_fake, lo, size);
#else
    (void)ending, (void)lo, (void)size;
#endif
#if CIO_HAVE_TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
    if (same_site)
        cio__ctx_switch_ret(&t->sp, to_sp);
    else
        cio__ctx_switch(&t->sp, to_sp);
#if CIO_HAVE_ASAN
    __sanitizer_finish_switch_fiber(t->asan_fake, NULL, NULL);
#endif
}

void cio__sched_switch_out(struct cio__task *t, int post)
{
    struct cio__worker *w = t->worker;
    w->post = post;
#if CIO_HAVE_ASAN
    const void *lo = w->sched_stack_lo;
    size_t size = w->sched_stack_size;
#else
    const void *lo = NULL;
    size_t size = 0;
#endif
#if CIO_HAVE_TSAN
    void *fiber = w->sched_fiber;
#else
    void *fiber = NULL;
#endif
    leave(t, w->sched_sp, post == CIO__POST_EXIT, lo, size, fiber, false);
}

/* The task a yield of `t` may switch to directly, skipping the scheduler
 * context: a started task of this worker's local FIFO that the scheduler
 * would pick next anyway. NULL whenever the scheduler has anything else to
 * do first (inbox, deadlines, LIFO slot, its global-queue turn, an older
 * task in the ring). `t` must not be stealable: it is queued before its
 * stack is left, so no other worker may be able to take it. */
static struct cio__task *direct_next(struct cio__worker *w,
                                     struct cio__task *t)
{
    if (stealable(t) || (w->tick + 1) % CIO__GLOBAL_INTERVAL == 0 ||
        atomic_load_explicit(&w->inbox_n, memory_order_relaxed) ||
        timer_due_soon(w) ||
        atomic_load_explicit(&w->lifo, memory_order_relaxed))
        return NULL;
    struct cio__task *u = task_of(w->local.head);
    if (!u || !(u->flags & CIO__T_STARTED))
        return NULL;
    uint32_t h;
    uint64_t rq_ticket;
    struct cio__task *rq = runq_peek(w, &h, &rq_ticket);
    if (rq && rq_ticket < atomic_load_explicit(&u->ticket,
                                               memory_order_relaxed))
        return NULL;
    cio__fifo_pop(&w->local);
    return u;
}

void cio__sched_yield(struct cio__task *t)
{
    struct cio__worker *w = t->worker;
    struct cio__task *u = direct_next(w, t);
    if (!u) {
        cio__sched_switch_out(t, CIO__POST_YIELD);
        return;
    }
    became_runnable(w, t);
    local_put(w, t);
    w->tick++;
#ifdef CIO_TESTING
    atomic_store(&u->queued, 0);
#endif
    u->worker = w;
    w->cur = u;
    w->budget = CIO__IO_BUDGET;
    cio__count(&w->c.switches, 1);
    /* Both tasks live on this worker's thread (neither may migrate), so
     * errno can be handed over here, on the task's side. */
    t->saved_errno = errno;
    errno = u->saved_errno;
#if CIO_HAVE_TSAN
    void *fiber = u->tsan_fiber;
#else
    void *fiber = NULL;
#endif
    /* `u` was switched out inside leave() too (tasks leave nowhere else)
     * unless it never ran, and direct_next() takes started tasks only. */
    leave(t, u->sp, false, u->stack.lo, u->stack.size, fiber, true);
}

/* Gives a task its stack on first run; false if it cannot start. */
static bool start(struct cio__worker *w, struct cio__task *t)
{
    int rc = cio__stack_get(w, (int)t->stack_req, &t->stack);
    if (rc < 0) {
        t->start_err = rc;
        return false;
    }
    t->sp = cio__ctx_init(t->stack.lo + t->stack.size, task_entry, t);
#if CIO_HAVE_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    t->flags |= CIO__T_STARTED;
    if (!(t->flags & CIO__T_PIN))
        t->home = w->index;
    return true;
}

static void ended(struct cio__worker *w, struct cio__task *t)
{
    bool is_main = t->flags & CIO__T_MAIN;
    cio__timer_disarm(&t->timer); /* a lazily kept entry (timer.c) */
#if CIO_HAVE_TSAN
    if (t->flags & CIO__T_STARTED)
        __tsan_destroy_fiber(t->tsan_fiber);
#endif
    cio__stack_put(w, &t->stack);
    cio__task_finish(w, t);
    cio__runtime_task_exited(w, is_main);
}

/* The task switched back to the scheduler with PARK: commit the park, or,
 * if a wake came first, keep it runnable. */
static void commit_park(struct cio__worker *w, struct cio__task *t)
{
    uint64_t v = atomic_load(&t->wait);
    if (CIO__WSTATE(v) == CIO__W_RUNNING &&
        atomic_compare_exchange_strong(
            &t->wait, &v,
            CIO__WORD(CIO__WSEQ(v), 0, CIO__W_WAITING)))
        return;
    became_runnable(w, t);
    lifo_put(w, t); /* NOTIFIED: resume it soon */
}

static void run(struct cio__worker *w, struct cio__task *t)
{
#ifdef CIO_TESTING
    atomic_store(&t->queued, 0);
#endif
    if (!(t->flags & CIO__T_STARTED) && !start(w, t)) {
        ended(w, t);
        return;
    }
    if (t->last >= 0 && t->last != w->index)
        cio__count(&w->c.migrations, 1);
    t->last = w->index;
    t->worker = w;
    w->cur = t;
    w->budget = CIO__IO_BUDGET;
    cio__count(&w->c.switches, 1);
    /* errno is restored and saved here, on the scheduler's side, because
     * this code always runs on the thread whose errno the task will use. */
    errno = t->saved_errno;
#if CIO_HAVE_ASAN
    __sanitizer_start_switch_fiber(&w->sched_fake, t->stack.lo,
                                   t->stack.size);
#endif
#if CIO_HAVE_TSAN
    __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
    cio__ctx_switch(&w->sched_sp, t->sp);
#if CIO_HAVE_ASAN
    __sanitizer_finish_switch_fiber(w->sched_fake, NULL, NULL);
#endif
    /* Not necessarily `t`: a yield may have switched straight to another
     * task (cio__sched_yield), and that one came back here. */
    t = w->cur;
    t->saved_errno = errno;
    w->cur = NULL;
    int post = w->post;
    w->post = CIO__POST_NONE;
    switch (post) {
    case CIO__POST_YIELD:
        became_runnable(w, t);
        queue_put(w, t);
        break;
    case CIO__POST_PARK:
        commit_park(w, t);
        break;
    case CIO__POST_EXIT:
        ended(w, t);
        break;
    }
}

void cio__sched_loop(struct cio__worker *w)
{
    cio__tls_worker = w;
#if CIO_HAVE_TSAN
    w->sched_fiber = __tsan_get_current_fiber();
#endif
    struct cio__task *t;
    while ((t = find_work(w)))
        run(w, t);
    cio__tls_worker = NULL;
}

/* ---- worker setup ---------------------------------------------------------- */

int cio__worker_init(struct cio__runtime *rt, struct cio__worker *w, int i)
{
    memset(w, 0, sizeof *w);
    w->index = i;
    w->rt = rt;
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
    cio__stack_worker_fini(w);
    cio__timer_heap_fini(&w->timers);
    pthread_mutex_destroy(&w->inbox_lock);
    w->rt->be->close(w->poller);
}
