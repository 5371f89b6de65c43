/* The blocking pool (pool.c): OS threads for work that would hold a
 * worker.
 */
#ifndef CIO_CORE_POOL_H
#define CIO_CORE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio.h"
#include "core/config.h"

struct cio__task;

struct cio__job {
    struct cio__job *prev, *next; /* pool queue links */
    cio_job_fn *fn;
    void *arg;
    void *result;
    struct cio__task *task;       /* waiting task, or NULL when abandoned */
    uint64_t seq;                 /* its wait */
    int state;                    /* CIO__JOB_* */
    /* Abandonable jobs own their memory: when the caller gives up on a
     * running job, the pool thread calls this after fn returns. */
    void (*release)(struct cio__job *job);
};
enum { CIO__JOB_QUEUED, CIO__JOB_RUNNING, CIO__JOB_DONE, CIO__JOB_ABANDONED };

struct cio__pool_thread;
struct cio__pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;          /* jobs queued, or stop */
    pthread_cond_t gone;          /* a thread exited */
    struct cio__job *head, *tail; /* queued jobs, FIFO */
    int max;                      /* thread limit */
    int target;                   /* threads started as soon as jobs come:
                                     one per CPU; more only when those
                                     block (cio__pool_watch) */
    /* Read without the lock by the workers' watch, written under it. */
    _Atomic int backlog;          /* jobs queued (`queued`'s mirror) */
    _Atomic int64_t progress;     /* when a thread last started, took a
                                     job or finished one (ns) */
    int64_t idle_ns;              /* idle time before a thread exits */
    int threads;                  /* threads alive */
    int idle;                     /* of them, waiting for jobs */
    int running;                  /* of them, running a job (busy) */
    int queued;                   /* jobs in the queue */
    bool stop;                    /* runtime ending: threads exit */
    struct cio__pool_thread *live;   /* threads alive */
    struct cio__pool_thread *exited; /* threads to join */
    _Atomic uint64_t jobs_run;    /* statistics */
};

int cio__pool_init(struct cio__pool *p, int max, int64_t idle_ns);
void cio__pool_fini(struct cio__pool *p);
/* Runs `job` on the pool and waits. `abandon`: the caller may leave at the
 * deadline or on cancel while the job runs (job->release frees it then).
 * Returns 0 (job->result valid), CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EAGAIN. */
int cio__pool_run(struct cio__task *self, struct cio__job *job, bool abandon,
                  int64_t deadline);

/* Called by workers now and then while jobs are queued: when no thread
 * has taken or finished a job for `stuck_ns`, the threads there are
 * taken as blocked (a slow disk, a name lookup, a job waiting for
 * another job), so one more is started, up to the limit. Threads that
 * keep finishing jobs are not added to: on 2 CPUs, 64 threads reading
 * the page cache only switch more. An idle worker wakes for it and uses
 * CIO__POOL_STUCK_NS: its own CPU is free, so threads that make no
 * progress are waiting, not preempted. A busy worker uses 20 times that:
 * the pool's threads may just be waiting for a CPU it holds, and another
 * thread would not help them. */
void cio__pool_watch(struct cio__pool *p, int64_t now, int64_t stuck_ns);
/* Whether jobs wait for a thread (a hint, read without the lock). */
static inline bool cio__pool_backlogged(struct cio__pool *p)
{
    /* Relaxed: a hint for the workers' watch, which looks again under
     * the lock. */
    return atomic_load_explicit(&p->backlog, memory_order_relaxed) != 0;
}
/* When the pool's threads will count as blocked if none takes or
 * finishes a job before (a hint). */
static inline int64_t cio__pool_stuck_at(struct cio__pool *p)
{
    /* Relaxed: a hint, as in cio__pool_backlogged(). */
    return atomic_load_explicit(&p->progress, memory_order_relaxed) +
           CIO__POOL_STUCK_NS;
}
/* Hands `job` to the pool with no one waiting for it (job->task NULL):
 * job->release(job) runs after fn, on the pool thread. Jobs queued when
 * the runtime ends still run before cio_run returns. Returns 0, or
 * CIO_EAGAIN (no pool thread could be started and none exists; the job
 * was not queued). */
int cio__pool_post(struct cio__pool *p, struct cio__job *job);
#ifdef CIO_TESTING
/* Called by a pool thread right after it woke a job's caller. */
extern void (*cio__test_pool_after_wake)(void);
#endif

#endif /* CIO_CORE_POOL_H */
