/* Parking and waking workers; see idle.h.
 *
 * The pairing that loses no wake: a worker about to sleep sets `parked`,
 * issues a full fence, and looks for work (has_work); whoever publishes
 * work issues a full fence after publishing and then reads `parked`. One
 * of the two sees the other. */
#include <stdatomic.h>

#include "core/compact.h"
#include "core/fd.h"
#include "core/idle.h"
#include "core/queue.h"
#include "core/sched.h"
#include "os/os.h"

/* Wakes `v` if it sleeps (the caller has issued the fence that pairs with
 * cio__worker_park()); true when this call did. */
static bool unpark(struct cio__worker *v)
{
    if (!atomic_load_explicit(&v->parked, memory_order_relaxed) ||
        atomic_exchange_explicit(&v->parked, 0, memory_order_relaxed) != 1)
        return false;
    atomic_fetch_sub_explicit(&v->rt->n_parked, 1, memory_order_relaxed);
    v->rt->be->wake(v->poller);
    return true;
}

/* Wakes one sleeping worker unless one is already looking for work (it
 * will find what was published). The caller has issued the fence. */
static void unpark_any(struct cio__runtime *rt)
{
    if (atomic_load_explicit(&rt->n_parked, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&rt->n_spinning, memory_order_relaxed) != 0)
        return;
    for (int i = 0; i < rt->nworkers; i++)
        if (unpark(&rt->workers[i]))
            return;
}

/* After a worker queued stealable work on itself: another worker may
 * take it. With one worker the pusher is the one to run it. */
void cio__notify_idle_slow(struct cio__runtime *rt)
{
    /* Pairs with the fence in cio__worker_park(): either this sees the
     * parked count, or the parking worker sees the work pushed before
     * this fence. */
    atomic_thread_fence(memory_order_seq_cst);
    unpark_any(rt);
}

/* The one path for a task made runnable by a thread that will not run it
 * itself: another worker, a pool thread, a plain thread. A task bound to
 * its home goes to that worker's inbox and the home is unparked; any other
 * goes to the global queue and a sleeping worker is unparked. The one-worker
 * runtime takes this path too: its only worker may be asleep. */
void cio__wake_remote(struct cio__runtime *rt, struct cio__task *t)
{
    struct cio__worker *home = NULL;
    if (stealable(t)) {
        cio__global_push(rt, &t, 1);
    } else {
        home = &rt->workers[t->home];
        pthread_mutex_lock(&home->inbox_lock);
        cio__fifo_push(&home->inbox, &t->qnode);
        /* Relaxed: the fence below orders it before the parked check,
         * and the owner reads the list itself under the lock. */
        atomic_store_explicit(&home->inbox_n, 1, memory_order_relaxed);
        pthread_mutex_unlock(&home->inbox_lock);
    }
    /* Pairs with the fence in cio__worker_park(): either this sees the
     * worker parked, or the parking worker sees the task published above. */
    atomic_thread_fence(memory_order_seq_cst);
    if (home)
        unpark(home);
    else
        unpark_any(rt);
}

void cio__wake_remote_rx(struct cio__worker *home, struct cio__fd *st)
{
    pthread_mutex_lock(&home->inbox_lock);
    st->rx.mail_next = home->rx_mail;
    home->rx_mail = st;
    /* Relaxed: as in cio__wake_remote(). */
    atomic_store_explicit(&home->inbox_n, 1, memory_order_relaxed);
    pthread_mutex_unlock(&home->inbox_lock);
    /* Pairs with the fence in cio__worker_park(), as above. */
    atomic_thread_fence(memory_order_seq_cst);
    unpark(home);
}

void cio__sched_stop_all(struct cio__runtime *rt)
{
    /* Release: pairs with the acquire loads in find_work() and has_work();
     * everything the last task did comes before the workers' exit. */
    atomic_store_explicit(&rt->stop, 1, memory_order_release);
    for (int i = 0; i < rt->nworkers; i++)
        rt->be->wake(rt->workers[i].poller);
}

/* Anything this worker could run, or a deadline already due (fired here,
 * by the precise clock: the per-tick check trusts the coarse one, which
 * can lag after the CPU was idle, and would leave it for later). */
static bool has_work(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    /* Relaxed where cio__worker_park()'s fence orders the loads after its
     * "parked" store (the other side fences after publishing); `stop`
     * acquires. */
    if (atomic_load_explicit(&w->inbox_n, memory_order_relaxed) ||
        atomic_load_explicit(&rt->global_n, memory_order_relaxed) ||
        atomic_load_explicit(&rt->stop, memory_order_acquire))
        return true;
    for (int i = 0; i < rt->nworkers; i++) {
        struct cio__worker *v = &rt->workers[i];
        if (!runq_empty(v))
            return true;
        struct cio__task *t =
            atomic_load_explicit(&v->lifo, memory_order_relaxed);
        if (t && (v == w || stealable(t)))
            return true;
    }
    int64_t now = cio__os_now();
    if (cio__timer_next(w) > now)
        return false;
    cio__timer_fire(w, now);
    return true;
}

/* Back from parking: unless a waker already took the flag (and the
 * count with it, in unpark()), take them back. The exchange decides who. */
static void unparked(struct cio__worker *w)
{
    if (atomic_exchange_explicit(&w->parked, 0, memory_order_relaxed) == 1)
        atomic_fetch_sub_explicit(&w->rt->n_parked, 1, memory_order_relaxed);
}

void cio__worker_park(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    /* Relaxed stores, then the fence: pairs with the fences in
     * cio__notify_idle_slow() and cio__wake_remote(), which publish work
     * and then read `parked` / `n_parked`. Either they see this worker
     * parked and wake it, or has_work() below sees their work. */
    atomic_store_explicit(&w->parked, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt->n_parked, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (has_work(w)) {
        unparked(w);
        return;
    }
    int64_t next = cio__timer_next(w), timeout = -1;
    /* Wake when the oldest waiting compact task is due to be trimmed. */
    int64_t trim = cio__compact_due(w);
    if (trim < next)
        next = trim;
    if (next != CIO_NEVER) {
        timeout = next - cio__os_now();
        if (timeout < 0)
            timeout = 0;
    }
    /* Jobs wait for a pool thread: wake when the pool's threads would
     * count as blocked, to start another then (cio__pool_watch). */
    bool backlog = cio__pool_backlogged(&rt->pool);
    if (backlog) {
        int64_t due = cio__pool_stuck_at(&rt->pool) - cio__os_now();
        if (due < 0)
            due = 0;
        if (timeout < 0 || timeout > due)
            timeout = due;
    }
    cio__sched_poll(w, timeout);
    if (backlog)
        cio__pool_watch(&rt->pool, cio__os_now(), CIO__POOL_STUCK_NS);
    unparked(w);
    cio__count(&w->c.parks, 1);
}
