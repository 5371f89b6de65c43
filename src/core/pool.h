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
