/* The blocking pool: OS threads for work that would hold a worker.
 *
 * A task hands a job to the pool and parks; its worker runs other tasks;
 * the pool thread runs the job and wakes the task. Threads start on demand
 * (when a job arrives and no thread is idle) up to the limit, and exit
 * after being idle for the configured time. Jobs wait in one FIFO.
 *
 * A job usually lives on the calling task's stack, so the caller cannot
 * leave while the job runs: a deadline or a cancel takes a queued job back,
 * but waits for a running one. Jobs that own their memory (name lookups)
 * may be abandoned while running; the pool thread frees them when done.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "core/pool.h"
#include "core/runtime.h"
#include "core/task.h"
#include "os/os.h"

struct cio__pool_thread {
    struct cio__pool_thread *next;
    struct cio__pool *pool;
    pthread_t tid;
};

int cio__pool_init(struct cio__pool *p, int max, int64_t idle_ns)
{
    p->max = max;
    p->target = cio__os_ncpu() < max ? cio__os_ncpu() : max;
    p->idle_ns = idle_ns;
    atomic_store_explicit(&p->backlog, 0, memory_order_relaxed);
    atomic_store_explicit(&p->progress, 0, memory_order_relaxed);
    int rc = pthread_mutex_init(&p->lock, NULL);
    if (rc)
        return -rc;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) {
        pthread_mutex_destroy(&p->lock);
        return -rc;
    }
    rc = pthread_cond_init(&p->gone, NULL);
    if (rc) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        return -rc;
    }
    return 0;
}

/* Joins threads that have exited (lock held; they no longer touch it). */
static void reap(struct cio__pool *p)
{
    while (p->exited) {
        struct cio__pool_thread *th = p->exited;
        p->exited = th->next;
        pthread_join(th->tid, NULL);
        free(th);
    }
}

void cio__pool_fini(struct cio__pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    while (p->threads > 0)
        pthread_cond_wait(&p->gone, &p->lock);
    reap(p);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->gone);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}

/* Jobs queued that another thread could take, for the workers' watch
 * (lock held): none once the pool is at its limit, so workers do not wake
 * for a pool that cannot grow. */
static void mirror(struct cio__pool *p)
{
    /* Relaxed: read only as a hint (cio__pool_backlogged); lock held. */
    atomic_store_explicit(&p->backlog, p->threads < p->max ? p->queued : 0,
                          memory_order_relaxed);
}

static void unlink_job(struct cio__pool *p, struct cio__job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        p->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        p->tail = j->prev;
    j->prev = j->next = NULL;
    p->queued--;
    mirror(p);
}

/* A thread started, took or finished a job (cio__pool_watch). */
static void progressed(struct cio__pool *p)
{
    /* Relaxed, lock held: a time for a heuristic, read without the lock
     * only as a hint (cio__pool_watch); nothing is published with it. */
    atomic_store_explicit(&p->progress, cio__os_now(), memory_order_relaxed);
}

#ifdef CIO_TESTING
void (*cio__test_pool_after_wake)(void);
#endif

static void *pool_main(void *arg)
{
    struct cio__pool_thread *th = arg;
    struct cio__pool *p = th->pool;
    cio__os_thread_name("cio-pool");
    struct cio__runtime *rt =
        (struct cio__runtime *)((char *)p - offsetof(struct cio__runtime,
                                                     pool));
    /* Its trace lane: this thread's wakes and jobs (trace.c). */
    cio__tls_lane = cio__trace_lane_take(rt);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        bool timed_out = false;
        while (!p->head && !p->stop && !timed_out) {
            struct timespec ts =
                cio__os_ts(cio__os_add_sat(cio__os_now(), p->idle_ns));
            p->idle++;
            timed_out = pthread_cond_timedwait(&p->cond, &p->lock, &ts) ==
                        ETIMEDOUT;
            p->idle--;
        }
        struct cio__job *j = p->head;
        if (!j)
            break; /* idle too long, or the runtime is ending */
        unlink_job(p, j);
        j->state = CIO__JOB_RUNNING;
        p->running++;
        progressed(p);
        /* The caller's handle, taken while it surely waits (the job may
         * be abandoned, its caller gone, by the time the job ends). */
        uint64_t id = cio__tls_lane && j->task ? cio__task_handle(j->task).id
                                                : 0;
        pthread_mutex_unlock(&p->lock);

        if (cio__tls_lane)
            cio__trace_job(id, false);
        void *result = j->fn(j->arg);

        pthread_mutex_lock(&p->lock);
        progressed(p);
        atomic_fetch_add_explicit(&p->jobs_run, 1, memory_order_relaxed);
        /* Before the wake: a caller that saw its job end must not see the
         * thread still busy with it. */
        p->running--;
        j->result = result;
        if (j->state == CIO__JOB_ABANDONED || !j->task) {
            pthread_mutex_unlock(&p->lock);
            j->release(j);
            if (cio__tls_lane)
                cio__trace_job(id, true);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        /* The job may live on the task's stack: once DONE is visible the
         * task may return, so take what the wake needs first. */
        struct cio__task *t = j->task;
        uint64_t seq = j->seq;
        j->state = CIO__JOB_DONE;
        pthread_mutex_unlock(&p->lock);
        cio__wake(t, seq, CIO__WAKE_OK);
        /* After the wake, so the wake's arrow leaves from inside the job. */
        if (cio__tls_lane)
            cio__trace_job(id, true);
#ifdef CIO_TESTING
        if (cio__test_pool_after_wake)
            cio__test_pool_after_wake();
#endif
        pthread_mutex_lock(&p->lock);
    }
    /* Leave the live list for the exited one: whoever starts the next
     * thread, or the pool's end, joins this one. */
    for (struct cio__pool_thread **pp = &p->live; *pp; pp = &(*pp)->next) {
        if (*pp == th) {
            *pp = th->next;
            break;
        }
    }
    th->next = p->exited;
    p->exited = th;
    p->threads--;
    mirror(p);
    cio__trace_lane_put(rt, cio__tls_lane);
    cio__tls_lane = NULL;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts one more thread (called without the lock, with p->threads already
 * counting it). Returns 0 or a negative errno. */
static int grow(struct cio__pool *p)
{
    struct cio__pool_thread *th = calloc(1, sizeof *th);
    int rc = CIO_ENOMEM;
    if (th) {
        th->pool = p;
        /* Born with asynchronous signals blocked (a thread starts with its
         * creator's mask), so none is handled on a pool thread: a handler
         * there would cut a job's blocking call short with EINTR, and a
         * thread about to end with a signal still to handle would lose it
         * under ThreadSanitizer, which runs handlers late. Workers and the
         * program's own threads take them. Faults stay open. */
        sigset_t all, old;
        cio__os_async_signals(&all);
        sigaddset(&all, SIGURG); /* the stall reports' is for workers */
        pthread_sigmask(SIG_BLOCK, &all, &old);
        rc = -cio__os.pthread_create(&th->tid, NULL, pool_main, th);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_mutex_lock(&p->lock);
    if (rc == 0) {
        th->next = p->live;
        p->live = th;
    } else {
        free(th);
        p->threads--;
        mirror(p);
        pthread_cond_broadcast(&p->gone);
    }
    reap(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Waits, ignoring cancellation, until the running job is done. */
static void wait_done(struct cio__task *self, struct cio__pool *p,
                      struct cio__job *j)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (j->state == CIO__JOB_DONE) {
            pthread_mutex_unlock(&p->lock);
            return;
        }
        cio__wait_on(self, CIO_WAIT_POOL, (uintptr_t)j);
        j->seq = cio__wait_begin(self);
        pthread_mutex_unlock(&p->lock);
        cio__park_uncancellable(self);
    }
}

/* Queues `j` and starts a thread for it when none is idle. Returns false
 * when the job was taken back because no thread exists to run it. */
static bool enqueue(struct cio__pool *p, struct cio__job *j)
{
    pthread_mutex_lock(&p->lock);
    j->prev = p->tail;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    /* Up to one thread per CPU at once; more once those are blocked. */
    bool start = p->idle < p->queued && p->threads < p->target;
    if (start) {
        p->threads++;
        progressed(p);
    }
    mirror(p);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);

    if (start && grow(p) < 0) {
        /* Without a new thread the job waits for a busy one; with no
         * thread at all it would wait forever. */
        pthread_mutex_lock(&p->lock);
        if (p->threads == 0 && j->state == CIO__JOB_QUEUED) {
            unlink_job(p, j);
            pthread_mutex_unlock(&p->lock);
            return false;
        }
        pthread_mutex_unlock(&p->lock);
    }
    return true;
}

void cio__pool_watch(struct cio__pool *p, int64_t now, int64_t stuck_ns)
{
    if (!cio__pool_backlogged(p) ||
        now - atomic_load_explicit(&p->progress, memory_order_relaxed) <
            stuck_ns)
        return;
    pthread_mutex_lock(&p->lock);
    /* Relaxed: every store of `progress` is made under this lock. */
    bool start = !p->stop && p->idle < p->queued && p->threads < p->max &&
                 now - atomic_load_explicit(&p->progress,
                                            memory_order_relaxed) >=
                     stuck_ns;
    if (start) {
        p->threads++;
        /* One start per stuck period, whichever worker looks. */
        atomic_store_explicit(&p->progress, now, memory_order_relaxed);
        mirror(p);
    }
    pthread_mutex_unlock(&p->lock);
    if (start)
        grow(p);
}

int cio__pool_post(struct cio__pool *p, struct cio__job *j)
{
    j->task = NULL;
    j->state = CIO__JOB_QUEUED;
    j->next = NULL;
    return enqueue(p, j) ? 0 : CIO_EAGAIN;
}

int cio__pool_run(struct cio__task *self, struct cio__job *j, bool abandon,
                  int64_t deadline)
{
    struct cio__pool *p = &self->worker->rt->pool;
    j->task = self;
    j->state = CIO__JOB_QUEUED;
    j->next = NULL;
    cio__wait_on(self, CIO_WAIT_POOL, (uintptr_t)j);
    j->seq = cio__wait_begin(self);

    if (!enqueue(p, j)) {
        if (abandon)
            j->release(j); /* the caller left the job to the pool */
        return CIO_EAGAIN;
    }

    int reason = cio__park(self, deadline);
    if (reason == CIO__WAKE_OK)
        return 0;
    int err = cio__wait_error(reason);
    pthread_mutex_lock(&p->lock);
    switch (j->state) {
    case CIO__JOB_QUEUED:
        unlink_job(p, j);
        pthread_mutex_unlock(&p->lock);
        if (abandon)
            j->release(j);
        return err;
    case CIO__JOB_DONE:
        pthread_mutex_unlock(&p->lock);
        return 0;
    default:
        if (abandon) {
            j->state = CIO__JOB_ABANDONED;
            pthread_mutex_unlock(&p->lock);
            return err;
        }
        pthread_mutex_unlock(&p->lock);
        wait_done(self, p, j);
        return 0;
    }
}

int cio_blocking(cio_job_fn *fn, void *arg, void **result, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (!fn)
        return CIO_EINVAL;
    if (cio__cancel_pending(self))
        return CIO_ECANCELED;
    struct cio__job j = {.fn = fn, .arg = arg};
    int rc = cio__pool_run(self, &j, false, deadline);
    if (rc == 0 && result)
        *result = j.result;
    return rc;
}
