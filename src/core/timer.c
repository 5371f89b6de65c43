/* Deadlines: one binary min-heap per worker.
 *
 * A task arms its deadline on the worker running it, and that worker fires
 * it. Arming and removal are O(log n) (the timer knows its heap index), so
 * a million pending deadlines cost one pointer each in the heap plus the
 * timer inside its task. Equal deadlines fire in arming order.
 *
 * The lock exists for one case: a task allowed to migrate may be woken by
 * another source and resumed on another worker, which must then take its
 * deadline out of the first worker's heap. Uncontended, it costs an atomic
 * pair per operation.
 */
#include <stdlib.h>

#include "core/runtime.h"
#include "core/task.h"
#include "core/timer.h"

static bool before(const struct cio__timer *a, const struct cio__timer *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->order < b->order;
}

/* Publishes the earliest key for lock-free checks (lock held). */
static void update_min(struct cio__timer_heap *h)
{
    atomic_store_explicit(&h->min,
                          atomic_load_explicit(&h->n, memory_order_relaxed)
                              ? h->v[0]->deadline
                              : CIO_NEVER,
                          memory_order_relaxed);
}

static void place(struct cio__timer_heap *h, size_t i, struct cio__timer *t)
{
    h->v[i] = t;
    t->idx = (uint32_t)i;
}

static void sift_up(struct cio__timer_heap *h, size_t i)
{
    struct cio__timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(t, h->v[parent]))
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct cio__timer_heap *h, size_t i, size_t n)
{
    struct cio__timer *t = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(h->v[c + 1], h->v[c]))
            c++;
        if (!before(h->v[c], t))
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

/* Removes the entry at index i; the lock is held. */
static void remove_at(struct cio__timer_heap *h, size_t i)
{
    size_t n = atomic_load_explicit(&h->n, memory_order_relaxed) - 1;
    struct cio__timer *gone = h->v[i];
    /* Release: the entry is the task's again. Pairs with the acquire load
     * in cio__timer_disarm(), through which a task resumed on another
     * worker learns this and rewrites the entry: the firing worker's
     * reads of it (cio__timer_fire) come before that. */
    atomic_store_explicit(&gone->heap, NULL, memory_order_release);
    atomic_store_explicit(&h->n, n, memory_order_relaxed);
    if (i == n)
        return;
    place(h, i, h->v[n]);
    if (i > 0 && before(h->v[i], h->v[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i, n);
}

int cio__timer_heap_init(struct cio__timer_heap *h)
{
    h->v = NULL;
    h->cap = 0;
    atomic_init(&h->n, 0);
    atomic_init(&h->min, CIO_NEVER);
    h->order = 0;
    return -pthread_mutex_init(&h->lock, NULL);
}

void cio__timer_heap_fini(struct cio__timer_heap *h)
{
    free(h->v);
    h->v = NULL;
    pthread_mutex_destroy(&h->lock);
}

int cio__timer_arm(struct cio__worker *w, struct cio__timer *t)
{
    struct cio__timer_heap *h = &w->timers;
    pthread_mutex_lock(&h->lock);
    size_t n = atomic_load_explicit(&h->n, memory_order_relaxed);
    if (n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct cio__timer **v = realloc(h->v, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&h->lock);
            return CIO_ENOMEM;
        }
        h->v = v;
        h->cap = cap;
    }
    t->order = h->order++;
    atomic_store_explicit(&t->heap, w, memory_order_relaxed);
    h->v[n] = t;
    atomic_store_explicit(&h->n, n + 1, memory_order_relaxed);
    sift_up(h, n);
    update_min(h);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

int cio__timer_wait(struct cio__worker *w, struct cio__timer *t,
                    int64_t deadline, int64_t now, uint64_t seq)
{
    /* The entry may stay when it is in this worker's heap (only this
     * worker fires it, and it is running this task, so nothing touches
     * the entry meanwhile) and expires no later than the new deadline but
     * not much earlier: by at most a quarter of the time left, so an
     * early expiry costs one move per such span. */
    if (atomic_load_explicit(&t->heap, memory_order_relaxed) == w &&
        t->deadline <= deadline &&
        deadline - t->deadline <= (t->deadline - now) / 4) {
        t->want = deadline;
        t->wait_seq = seq;
        return 0;
    }
    /* The new wait's seq is written only once no other worker's heap can
     * still fire the old entry (a migrating task's), or that worker could
     * end this wait with the old entry's deadline. */
    cio__timer_disarm(t);
    t->deadline = t->want = deadline;
    t->wait_seq = seq;
    return cio__timer_arm(w, t);
}

void cio__timer_disarm(struct cio__timer *t)
{
    /* NULL read here means fired or never armed: both leave nothing to do,
     * and the acquire pairs with remove_at()'s release, so the caller may
     * rewrite the entry. A non-NULL read is confirmed under that heap's
     * lock, because the owner may be firing it right now. */
    struct cio__worker *w = atomic_load_explicit(&t->heap, memory_order_acquire);
    if (!w)
        return;
    pthread_mutex_lock(&w->timers.lock);
    if (atomic_load_explicit(&t->heap, memory_order_relaxed) == w) {
        remove_at(&w->timers, t->idx);
        update_min(&w->timers);
    }
    pthread_mutex_unlock(&w->timers.lock);
}

int64_t cio__timer_next(struct cio__worker *w)
{
    struct cio__timer_heap *h = &w->timers;
    if (atomic_load_explicit(&h->n, memory_order_relaxed) == 0)
        return CIO_NEVER;
    pthread_mutex_lock(&h->lock);
    int64_t d = atomic_load_explicit(&h->n, memory_order_relaxed)
                    ? h->v[0]->deadline
                    : CIO_NEVER;
    pthread_mutex_unlock(&h->lock);
    return d;
}

size_t cio__timer_fire(struct cio__worker *w, int64_t now)
{
    struct cio__timer_heap *h = &w->timers;
    size_t fired = 0;
    for (;;) {
        /* Wakes happen outside the lock: a wake may take other locks (an
         * inbox) and must not nest inside this one. The task and seq are
         * copied first because the task may re-arm its timer as soon as
         * it is woken. */
        struct {
            struct cio__task *task;
            uint64_t seq;
        } batch[CIO__TIMER_BATCH];
        size_t k = 0;
        pthread_mutex_lock(&h->lock);
        while (k < CIO__TIMER_BATCH &&
               atomic_load_explicit(&h->n, memory_order_relaxed) > 0 &&
               h->v[0]->deadline <= now) {
            struct cio__timer *t = h->v[0];
            if (t->want > now) {
                /* Lazily kept for a later deadline: move it there. */
                t->deadline = t->want;
                t->order = h->order++;
                sift_down(h, 0, atomic_load_explicit(&h->n,
                                                     memory_order_relaxed));
                continue;
            }
            batch[k].task = t->task;
            batch[k].seq = t->wait_seq;
            k++;
            remove_at(h, 0);
        }
        update_min(h);
        pthread_mutex_unlock(&h->lock);
        for (size_t i = 0; i < k; i++)
            if (cio__wake(batch[i].task, batch[i].seq, CIO__WAKE_TIMEOUT))
                fired++;
        if (k < CIO__TIMER_BATCH)
            break;
    }
    cio__count(&w->c.timers_fired, fired);
    return fired;
}
