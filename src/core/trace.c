/* Trace recording; see trace.h. Core only records: observe/trace.c
 * decides what a trace is for, reads the lanes and writes the file. */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/trace.h"

_Atomic int cio__tracing;
_Thread_local struct cio__lane *cio__tls_lane
    __attribute__((tls_model("initial-exec")));

static struct cio__lane *lane_new(uint64_t slots, bool ring, int kind,
                                  int index)
{
    struct cio__lane *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    /* calloc, not malloc: the pages are touched only as events come. */
    l->ev = calloc(slots, sizeof *l->ev);
    if (!l->ev) {
        free(l);
        return NULL;
    }
    l->mask = slots - 1;
    l->ring = ring;
    l->kind = kind;
    l->index = index;
    l->limit = slots;
    return l;
}

static void lane_free(struct cio__lane *l)
{
    if (l) {
        free(l->ev);
        free(l);
    }
}

int cio__trace_init(struct cio__runtime *rt, uint64_t slots, bool ring,
                    int max_pool)
{
    if (!slots)
        return 0;
    uint64_t n = 16;
    while (n < slots)
        n <<= 1;
    struct cio__trace *tr = calloc(1, sizeof *tr);
    if (!tr)
        return CIO_ENOMEM;
    tr->slots = n;
    tr->ring = ring;
    tr->nworkers = rt->nworkers;
    tr->max_pool = max_pool;
    pthread_mutex_init(&tr->lock, NULL);
    tr->lanes = calloc((size_t)(rt->nworkers + 1 + max_pool),
                       sizeof *tr->lanes);
    rt->trace = tr;
    if (!tr->lanes)
        goto nomem;
    for (int i = 0; i < rt->nworkers; i++) {
        struct cio__lane *l = lane_new(n, ring, CIO__LANE_WORKER, i);
        if (!l)
            goto nomem;
        tr->lanes[i] = l;
        rt->workers[i].lane = l;
    }
    tr->other = lane_new(n, ring, CIO__LANE_OTHER, 0);
    if (!tr->other)
        goto nomem;
    tr->lanes[rt->nworkers] = tr->other;
    /* Relaxed: the runtime's publication (cio__run's seq_cst CAS) and the
     * thread starts order the lanes before any reader or writer. */
    atomic_store_explicit(&tr->nlanes, rt->nworkers + 1,
                          memory_order_relaxed);
    tr->start = cio__os_ticks();
    return 0;
nomem:
    cio__trace_fini(rt);
    return CIO_ENOMEM;
}

void cio__trace_fini(struct cio__runtime *rt)
{
    struct cio__trace *tr = rt->trace;
    if (!tr)
        return;
    if (tr->lanes) {
        for (int i = 0; i < rt->nworkers + 1 + tr->max_pool; i++)
            lane_free(tr->lanes[i]);
        free(tr->lanes);
    }
    for (int i = 0; i < rt->nworkers; i++)
        rt->workers[i].lane = NULL;
    pthread_mutex_destroy(&tr->lock);
    free(tr);
    rt->trace = NULL;
}

struct cio__lane *cio__trace_lane_take(struct cio__runtime *rt)
{
    struct cio__trace *tr = rt->trace;
    if (!tr)
        return NULL;
    struct cio__lane *l = NULL;
    pthread_mutex_lock(&tr->lock);
    int base = tr->nworkers + 1;
    /* The lowest free lane: pool threads come and go, their lanes stay
     * (a reader may still be copying a gone thread's events). */
    for (int i = 0; i < tr->npool; i++) {
        struct cio__lane *p = tr->lanes[base + i];
        if (!atomic_load_explicit(&p->taken, memory_order_relaxed)) {
            l = p;
            break;
        }
    }
    if (!l && tr->npool < tr->max_pool) {
        l = lane_new(tr->slots, tr->ring, CIO__LANE_POOL, tr->npool);
        if (l) {
            tr->lanes[base + tr->npool++] = l;
            /* Release: pairs with the reader's acquire of the count, so
             * the lane it then reads is whole. */
            atomic_store_explicit(&tr->nlanes, base + tr->npool,
                                  memory_order_release);
        }
    }
    /* Relaxed: the lock orders it (taken and given back under it). The
     * previous thread's last writes happen-before this one's first, by
     * the same lock. */
    if (l)
        atomic_store_explicit(&l->taken, true, memory_order_relaxed);
    pthread_mutex_unlock(&tr->lock);
    return l;
}

void cio__trace_lane_put(struct cio__runtime *rt, struct cio__lane *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&rt->trace->lock);
    atomic_store_explicit(&l->taken, false, memory_order_relaxed);
    pthread_mutex_unlock(&rt->trace->lock);
}

uint64_t cio__trace_runs(const struct cio__task *t)
{
    /* Relaxed: written by the task's worker; a waker reads it while the
     * task is parked or still switching out, when it does not change. */
    uint64_t r = atomic_load_explicit(&t->runs, memory_order_relaxed);
    return r & CIO__RUNS_NEW ? 0 : r & ~CIO__RUNS_WOKEN;
}

static inline uint64_t tick_or(uint64_t now)
{
    return now ? now : cio__os_ticks();
}

void cio__trace_run(struct cio__worker *w, struct cio__task *t, uint64_t now)
{
    cio__lane_put(w->lane, tick_or(now), cio__task_handle(t).id, 0,
                  cio__ev_meta(CIO__EV_RUN, 0, cio__trace_runs(t)));
}

void cio__trace_stop(struct cio__worker *w, struct cio__task *t, int why,
                     uint64_t now)
{
    uint64_t obj = 0;
    int kind = 0;
    if (why == CIO__STOP_PARK) {
        /* Relaxed: the task's own writes, on this thread. */
        struct cio__task_side *f = cio__side(t);
        kind = atomic_load_explicit(&f->wait_kind, memory_order_relaxed);
        obj = atomic_load_explicit(&f->wait_obj, memory_order_relaxed);
    }
    cio__lane_put(w->lane, tick_or(now), cio__task_handle(t).id, obj,
                  cio__ev_meta(CIO__EV_STOP, why | kind << 4, 0));
}

void cio__trace_wake_note(struct cio__task *t, struct cio__wake_note *n)
{
    /* Acquire fence: the caller read the wait word relaxed; this makes
     * that read synchronize with the store that wrote it (the task's
     * seq_cst cio__wait_begin, or its park's release commit), which came
     * after the task stored its run count and, by cio__wait_on, its wait
     * kind. While the word stays as read (the CAS checks), neither
     * changes: a new run needs a wake, which changes the word. */
    atomic_thread_fence(memory_order_acquire);
    n->tick = cio__os_ticks();
    n->id = cio__task_handle(t).id;
    n->runs = cio__trace_runs(t);
    n->kind = atomic_load_explicit(&cio__side(t)->wait_kind,
                                   memory_order_relaxed);
}

void cio__trace_wake(struct cio__worker *waker, int reason,
                     const struct cio__wake_note *n)
{
    uint64_t by_id = 0;
    int by;
    struct cio__lane *l;
    struct cio__trace *other = NULL;
    if (waker) {
        l = waker->lane;
        if (!l)
            return;
        struct cio__task *cur =
            atomic_load_explicit(&waker->cur, memory_order_relaxed);
        if (reason == CIO__WAKE_TIMEOUT)
            by = CIO__BY_TIMER;
        else if (reason == CIO__WAKE_CANCEL)
            by = cur ? CIO__BY_TASK : CIO__BY_CANCEL;
        else if (waker->polling)
            by = CIO__BY_FD;
        else
            by = cur ? CIO__BY_TASK : CIO__BY_SCHED;
        if (by == CIO__BY_TASK)
            by_id = cio__task_handle(cur).id;
    } else if (cio__tls_lane) {
        l = cio__tls_lane;
        by = reason == CIO__WAKE_CANCEL ? CIO__BY_CANCEL : CIO__BY_POOL;
    } else {
        /* A thread of the program's own: one shared lane, under a lock
         * (such wakes cost a futex anyway). The thread holds the runtime
         * (cio__rt_enter) for the call that wakes; not `t->worker`, which
         * the task's next run may be rewriting already (a NOTIFIED wake).
         * Acquire: pairs with the runtime's publication. */
        struct cio__runtime *rt =
            atomic_load_explicit(&cio__rt, memory_order_acquire);
        other = rt ? rt->trace : NULL;
        if (!other)
            return;
        pthread_mutex_lock(&other->lock);
        l = other->other;
        by = reason == CIO__WAKE_CANCEL ? CIO__BY_CANCEL : CIO__BY_THREAD;
    }
    if (!l)
        goto out;
    cio__lane_put(l, n->tick, n->id, by_id,
                  cio__ev_meta(CIO__EV_WAKE, by | (n->kind & 0xf) << 4,
                               n->runs));
out:
    if (other)
        pthread_mutex_unlock(&other->lock);
}

void cio__trace_spawn(struct cio__worker *w, struct cio__task *parent,
                      struct cio__task *t)
{
    struct cio__lane *l = w->lane;
    uint64_t id = cio__task_handle(t).id;
    uint64_t tick = cio__os_ticks();
    cio__lane_put(l, tick, id, parent ? cio__task_handle(parent).id : 0,
                  cio__ev_meta(CIO__EV_SPAWN, 0, 0));
    /* A name is in the side: a task with none unused has none. */
    const char *name = cio__side_used(t) ? cio__side(t)->name : NULL;
    if (!name)
        return;
    /* The name is copied: it need not outlive the task, and a trace is
     * written after tasks end. A longer name is cut where a UTF-8
     * character begins, so the trace stays valid UTF-8. */
    size_t len = strlen(name);
    if (len > CIO__NAME_PER_EV * CIO__NAME_EVS) {
        len = CIO__NAME_PER_EV * CIO__NAME_EVS;
        while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
            len--;
    }
    for (int e = 0; e < CIO__NAME_EVS && e * CIO__NAME_PER_EV < (int)len;
         e++) {
        unsigned char b[24] = {0};
        size_t off = (size_t)e * CIO__NAME_PER_EV;
        size_t k = len - off < CIO__NAME_PER_EV ? len - off : CIO__NAME_PER_EV;
        memcpy(b, name + off, k);
        uint64_t w0, w1, w2;
        memcpy(&w0, b, 8);
        memcpy(&w1, b + 8, 8);
        memcpy(&w2, b + 16, 8);
        /* Byte 7 of the third word becomes meta's high byte; its low
         * byte holds the kind and the part's number. */
        cio__lane_put(l, w0, id, w1,
                      (w2 << 8) | (uint64_t)CIO__EV_NAME |
                          (uint64_t)e << 5);
    }
}

void cio__trace_job(uint64_t id, bool end)
{
    struct cio__lane *l = cio__tls_lane;
    if (l)
        cio__lane_put(l, cio__os_ticks(), id, 0,
                      cio__ev_meta(end ? CIO__EV_JOB_END : CIO__EV_JOB, 0,
                                   0));
}

void cio__trace_poll(struct cio__worker *w, bool begin)
{
    cio__lane_put(w->lane, cio__os_ticks(), 0, 0,
                  cio__ev_meta(CIO__EV_POLL, begin, 0));
}

uint64_t cio__lane_snapshot(struct cio__lane *l, struct cio__trace_ev *out,
                            uint64_t cutoff, uint64_t *first)
{
    uint64_t slots = l->mask + 1;
    /* Acquire: pairs with the writer's release of `done`. */
    uint64_t done = atomic_load_explicit(&l->done, memory_order_acquire);
    uint64_t from;
    if (l->ring)
        from = done > slots ? done - slots : 0;
    else
        /* Relaxed: the reader's own counter. */
        from = atomic_load_explicit(&l->read, memory_order_relaxed);
    uint64_t n = 0;
    for (uint64_t s = from; s < done; s++, n++) {
        const struct cio__trace_ev *e = &l->ev[s & l->mask];
        struct cio__trace_ev *o = out ? &out[n] : NULL;
        uint64_t tick = atomic_load_explicit(&e->tick, memory_order_relaxed);
        uint64_t meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
        /* Drain mode stops at the cut: what a later run needs from
         * another lane (the wake before it) is then surely copied too. */
        if (!l->ring && (meta & 0x1f) != CIO__EV_NAME && tick >= cutoff)
            break;
        if (!out)
            continue; /* drain mode may read the slots in place */
        atomic_store_explicit(&o->tick, tick, memory_order_relaxed);
        atomic_store_explicit(
            &o->task, atomic_load_explicit(&e->task, memory_order_relaxed),
            memory_order_relaxed);
        atomic_store_explicit(
            &o->arg, atomic_load_explicit(&e->arg, memory_order_relaxed),
            memory_order_relaxed);
        atomic_store_explicit(&o->meta, meta, memory_order_relaxed);
    }
    *first = from;
    if (!l->ring || !out)
        return n;
    /* Acquire fence: pairs with the writer's release fence after its
     * claim, so a slot overwritten while it was copied shows in the claim
     * read here; such slots (below claimed - slots) are left out. */
    atomic_thread_fence(memory_order_acquire);
    uint64_t claimed = atomic_load_explicit(&l->claimed, memory_order_relaxed);
    uint64_t valid = claimed > slots ? claimed - slots : 0;
    if (valid <= from)
        return n;
    uint64_t skip = valid - from < n ? valid - from : n;
    memmove(out, out + skip, (size_t)(n - skip) * sizeof *out);
    *first = from + skip;
    return n - skip;
}

void cio__lane_consume(struct cio__lane *l, uint64_t upto)
{
    /* Release: pairs with the writer's acquire of `read` (cio__lane_put):
     * the copies are made before the slots are given back. */
    atomic_store_explicit(&l->read, upto, memory_order_release);
}
