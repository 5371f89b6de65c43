/* Switching into and out of tasks; see switch.h.
 *
 * A task switches back to its worker's scheduler context whenever it
 * yields, parks or ends, and the scheduler does what the task asked (the
 * "post" action) only once it is off the task's stack, so no other thread
 * can resume a task whose stack is still in use. */
#include <errno.h>

#include "arch/ctx.h"
#include "core/compact.h"
#include "core/queue.h"
#include "core/sched.h"
#include "core/switch.h"
#include "os/os.h"

#if CIO_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if CIO_HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

static void task_entry(void *p)
{
    struct cio__task *t = p;
#if CIO_HAVE_ASAN
    struct cio__worker *w = t->worker;
    __sanitizer_finish_switch_fiber(NULL, &w->sched_stack_lo,
                                    &w->sched_stack_size);
#endif
    t->result = t->fn(t->arg);
    cio__held_abandon_all(t);
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
 * do first (inbox, deadlines, LIFO slot, its global-queue or reactor
 * turn, an older task in the ring). `t` must not be stealable: it is
 * queued before its stack is left, so no other worker may be able to
 * take it. */
static struct cio__task *direct_next(struct cio__worker *w,
                                     struct cio__task *t)
{
    if (stealable(t) || (w->tick + 1) % CIO__GLOBAL_INTERVAL == 0 ||
        (w->tick + 1) % CIO__POLL_INTERVAL == 0 ||
        atomic_load_explicit(&w->inbox_n, memory_order_relaxed) ||
        cio__timers_due_soon(w) ||
        atomic_load_explicit(&w->lifo, memory_order_relaxed))
        return NULL;
    struct cio__task *u = task_of(w->local.head);
    if (!u || !(cio__task_flags(u) & CIO__T_STARTED))
        return NULL;
    uint32_t h;
    uint64_t rq_ticket;
    struct cio__task *rq = runq_peek(w, &h, &rq_ticket);
    if (rq && rq_ticket < atomic_load_explicit(&u->ticket,
                                               memory_order_relaxed))
        return NULL;
    cio__fifo_pop(&w->local);
    local_taken(w);
    return u;
}

/* Leaves `t` for `u`, a started task this worker took to run next,
 * without going through the scheduler's context (direct yield and park).
 * Both live on this worker's thread, so errno is handed over here, on the
 * task's side. */
static inline void switch_direct(struct cio__worker *w, struct cio__task *t,
                                 struct cio__task *u, uint64_t now)
{
#ifdef CIO_TESTING
    atomic_store_explicit(&u->queued, 0, memory_order_relaxed);
#endif
    int last = atomic_load_explicit(&u->last, memory_order_relaxed);
    if (last >= 0 && last != w->index)
        cio__count(&w->c.migrations, 1);
    atomic_store_explicit(&u->last, w->index, memory_order_relaxed);
    u->worker = w;
    if (cio__task_compact(u))
        cio__compact_resume(w, u); /* its frames back before it runs */
    cio__fig_run_begins(w, u, now);
    if (w->lane)
        cio__trace_run(w, u, now);
    /* `cur` names `u` before this task's stack is left: the fault handler
     * also looks at `leaving`, so an overflow in the switch itself is
     * still blamed on this task. (Setting `cur` on the resumed side
     * instead cost a dependent load after every switch: 14 to 16 ns a
     * yield.) */
    w->leaving = t;
    atomic_store_explicit(&w->cur, u, memory_order_relaxed);
    w->budget = CIO__IO_BUDGET;
    cio__count(&w->c.switches, 1);
    t->saved_errno = errno;
    errno = u->saved_errno;
#if CIO_HAVE_TSAN
    void *fiber = u->tsan_fiber;
#else
    void *fiber = NULL;
#endif
    /* `u` was switched out inside leave() too (tasks leave nowhere else):
     * both callers take started tasks only. */
    leave(t, u->sp, false, u->stack.lo, u->stack.size, fiber, true);
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
    w->lifo_runs = 0; /* as pop_own() taking from the queue */
    /* Below level 2 a hand-off reads no clock: `t`'s run goes on in
     * `u`'s (cio_task_stats says so). */
    uint64_t now = cio__stamp(w);
    if (w->exact)
        cio__fig_run_ends(w, t, now);
    if (w->lane)
        cio__trace_stop(w, t, CIO__STOP_YIELD, now);
    switch_direct(w, t, u, now);
}

/* Parks `t` and, when the scheduler's next pick would be the task in the
 * LIFO slot (typically the one `t` just woke: the partner of a channel
 * hand-off), switches straight to that task, skipping the scheduler's
 * context: half the switches of a ping-pong.
 *
 * The park is committed while still on `t`'s stack, which is safe only
 * because `t` is not stealable: a wake from anywhere queues it for this
 * worker alone (inbox or local queue), and this worker runs nothing until
 * the switch below has left `t`'s stack. A stealable task goes through
 * the scheduler, which commits the park once off the stack. */
void cio__sched_park(struct cio__task *t)
{
    struct cio__worker *w = t->worker;
    if (stealable(t) || w->lifo_runs >= CIO__LIFO_MAX ||
        (w->tick + 1) % CIO__GLOBAL_INTERVAL == 0 ||
        (w->tick + 1) % CIO__POLL_INTERVAL == 0 ||
        atomic_load_explicit(&w->inbox_n, memory_order_relaxed) ||
        cio__timers_due_soon(w) ||
        !atomic_load_explicit(&w->lifo, memory_order_relaxed)) {
        cio__sched_switch_out(t, CIO__POST_PARK);
        return;
    }
    /* Acquire: pairs with the release in lifo_put() (a thief may take the
     * slot first: then NULL). */
    struct cio__task *u =
        atomic_exchange_explicit(&w->lifo, NULL, memory_order_acquire);
    if (!u) {
        cio__sched_switch_out(t, CIO__POST_PARK);
        return;
    }
    if (!(cio__task_flags(u) & CIO__T_STARTED)) {
        lifo_put(w, u); /* it needs a stack first: the scheduler's job */
        cio__sched_switch_out(t, CIO__POST_PARK);
        return;
    }
    /* As for a direct yield; before the commit, which publishes it to the
     * waker's side. */
    uint64_t now = cio__stamp(w);
    if (now)
        atomic_store_explicit(&cio__side_w(t)->park_at, now,
                              memory_order_relaxed);
    uint64_t v = atomic_load_explicit(&t->wait, memory_order_acquire);
    /* As commit_park(): release on success, so the waker that queues `t`
     * sees what it wrote; acquire on failure, where a wake came first
     * (NOTIFIED) and `t` simply goes on running. */
    if (CIO__WSTATE(v) != CIO__W_RUNNING ||
        !atomic_compare_exchange_strong_explicit(
            &t->wait, &v, CIO__WORD(CIO__WSEQ(v), 0, CIO__W_WAITING),
            memory_order_release, memory_order_acquire)) {
        lifo_put(w, u);
        return;
    }
    if (cio__task_compact(t))
        cio__compact_parked(w, t);
    w->lifo_runs++;
    w->tick++;
    if (w->exact)
        cio__fig_run_ends(w, t, now);
    /* After the commit: `t` is parked now, and cannot run again before
     * this thread leaves its stack (see above), so the lane stays in
     * order. */
    if (w->lane)
        cio__trace_stop(w, t, CIO__STOP_PARK, now);
    switch_direct(w, t, u, now);
}

/* Gives a task its stack on first run; false if it cannot start. */
static bool start(struct cio__worker *w, struct cio__task *t)
{
    int rc = cio__stack_get(w, (int)t->stack_req, &t->stack);
    if (rc < 0) {
        t->result = NULL;
        cio__side_w(t)->start_err = rc;
        return false;
    }
    t->sp = cio__ctx_init(t->stack.lo + t->stack.size, task_entry, t);
#if CIO_HAVE_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    cio__task_flag_set(t, CIO__T_STARTED);
    if (!(cio__task_flags(t) & CIO__T_PIN))
        t->home = w->index;
    return true;
}

static void ended(struct cio__worker *w, struct cio__task *t)
{
    bool is_main = cio__task_flags(t) & CIO__T_MAIN;
    if (cio__side_used(t)) {
        struct cio__task_side *side = cio__side(t);
        if (is_main && side->start_err < 0)
            w->rt->main_status = side->start_err; /* main never ran */
        cio__timer_disarm(&side->timer); /* a lazily kept entry (timer.c) */
    }
    if (cio__task_compact(t))
        cio__compact_free(t);
#if CIO_HAVE_TSAN
    if (cio__task_flags(t) & CIO__T_STARTED)
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
    uint64_t v = atomic_load_explicit(&t->wait, memory_order_acquire);
    /* Release on success: pairs with the waker's acq_rel CAS in
     * cio__wake_queued(), so the task's saved context (its stack pointer,
     * saved by the switch just made) is seen by whoever runs it next.
     * Acquire on failure: a wake came first (NOTIFIED), and what the waker
     * wrote must be seen when the task resumes here. */
    if (CIO__WSTATE(v) == CIO__W_RUNNING &&
        atomic_compare_exchange_strong_explicit(
            &t->wait, &v, CIO__WORD(CIO__WSEQ(v), 0, CIO__W_WAITING),
            memory_order_release, memory_order_acquire)) {
        /* Parked (maybe woken already: it runs only here, after this). */
        if (cio__task_compact(t))
            cio__compact_parked(w, t);
        return;
    }
    became_runnable(w, t);
    lifo_put(w, t); /* NOTIFIED: resume it soon */
}

void cio__switch_run(struct cio__worker *w, struct cio__task *t)
{
#ifdef CIO_TESTING
    atomic_store_explicit(&t->queued, 0, memory_order_relaxed);
#endif
    if (!(cio__task_flags(t) & CIO__T_STARTED) && !start(w, t)) {
        ended(w, t);
        return;
    }
    int last = atomic_load_explicit(&t->last, memory_order_relaxed);
    if (last >= 0 && last != w->index)
        cio__count(&w->c.migrations, 1);
    atomic_store_explicit(&t->last, w->index, memory_order_relaxed);
    t->worker = w;
    if (cio__task_compact(t))
        cio__compact_resume(w, t); /* its frames back before it runs */
    atomic_store_explicit(&w->cur, t, memory_order_relaxed);
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
    uint64_t begin = cio__phase(w, CIO__PH_RUN);
    cio__fig_run_begins(w, t, begin);
    if (w->lane)
        cio__trace_run(w, t, begin);
    cio__ctx_switch(&w->sched_sp, t->sp);
    uint64_t now = cio__phase(w, CIO__PH_SCHED);
#if CIO_HAVE_ASAN
    __sanitizer_finish_switch_fiber(w->sched_fake, NULL, NULL);
#endif
    /* Not necessarily `t`: a yield may have switched straight to another
     * task (cio__sched_yield), and that one came back here. */
    t = atomic_load_explicit(&w->cur, memory_order_relaxed);
    cio__fig_run_ends(w, t, now);
    t->saved_errno = errno;
    atomic_store_explicit(&w->cur, NULL, memory_order_relaxed);
    int post = w->post;
    w->post = CIO__POST_NONE;
    if (w->lane)
        cio__trace_stop(w, t,
                        post == CIO__POST_YIELD  ? CIO__STOP_YIELD
                        : post == CIO__POST_PARK ? CIO__STOP_PARK
                                                 : CIO__STOP_EXIT,
                        now);
    switch (post) {
    case CIO__POST_YIELD:
        became_runnable(w, t);
        queue_put(w, t);
        break;
    case CIO__POST_PARK:
        /* Before the commit, which publishes it to the waker's side. */
        if (now)
            atomic_store_explicit(&cio__side_w(t)->park_at, now,
                                  memory_order_relaxed);
        commit_park(w, t);
        break;
    case CIO__POST_EXIT:
        ended(w, t);
        break;
    }
}
