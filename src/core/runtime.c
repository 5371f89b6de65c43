/* The runtime: cio_run(), shutdown, statistics and overflow reports.
 *
 * cio_run() turns the calling thread into worker 0 and starts the others.
 * When main returns, every task still alive is cancelled; the workers keep
 * running until the count of tasks spawned equals the count finished, then
 * all stop and everything is freed before cio_run() returns.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/internal.h"
#include "os/os.h"

struct cio__runtime *_Atomic cio__rt;

/* The last runtime's counters at its end, for cio_stats_get() after it. */
static cio_stats last_stats;
static pthread_mutex_t last_stats_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sigaction old_segv;

void cio_config_init(cio_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
}

int cio_worker(void)
{
    struct cio__worker *w = cio__current_worker();
    return w ? w->index : CIO_EPERM;
}

int cio_workers(void)
{
    struct cio__runtime *rt = atomic_load(&cio__rt);
    return rt ? rt->nworkers : CIO_EPERM;
}

/* ---- overflow reports --------------------------------------------------- */

static void say(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

void cio__stack_overflow(const struct cio__task *t)
{
    /* Only async-signal-safe calls: this also runs in the SIGSEGV handler. */
    char num[24];
    size_t n = t->stack.size, i = sizeof num - 1;
    num[i] = 0;
    do {
        num[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n && i > 0);
    say("cio: stack overflow in task \"");
    say(t->name ? t->name : "task");
    say("\" (stack of ");
    say(&num[i]);
    say(" bytes); stopping the process\n");
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* The stack pointer of the interrupted code. */
static const char *interrupted_sp(void *uctx)
{
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (const char *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const char *)uc->uc_mcontext.sp;
#else
    (void)uc;
    return NULL;
#endif
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    struct cio__worker *w = cio__tls_worker;
    if (w && w->cur) {
        /* Ours when the fault hit the task's guard region, or when the
         * task's stack pointer has left its stack at the low end (no guard
         * page: the overflow ran on until it met unmapped memory). */
        const struct cio__stack *st = &w->cur->stack;
        const char *sp = interrupted_sp(uctx);
        if (cio__stack_in_guard(st, info->si_addr) ||
            (st->cls >= 0 && sp && sp < st->lo + CIO__STACK_CANARY))
            cio__stack_overflow(w->cur);
    }
    /* Not ours: hand it to whoever had it before, or let the default
     * action happen when the faulting instruction runs again. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        old_segv.sa_sigaction(sig, info, uctx);
    } else if (old_segv.sa_handler != SIG_DFL &&
               old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
    } else {
        signal(SIGSEGV, SIG_DFL);
    }
}

static int altstack_on(struct cio__worker *w, stack_t *old)
{
    size_t size = 64 * 1024;
    w->altstack = malloc(size);
    if (!w->altstack)
        return CIO_ENOMEM;
    stack_t ss = {.ss_sp = w->altstack, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, old) < 0) {
        free(w->altstack);
        w->altstack = NULL;
        return -errno;
    }
    return 0;
}

static void altstack_off(struct cio__worker *w, const stack_t *old)
{
    if (!w->altstack)
        return;
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(old ? old : &off, NULL);
    free(w->altstack);
    w->altstack = NULL;
}

/* ---- shutdown ------------------------------------------------------------ */

static uint64_t sum(struct cio__runtime *rt, size_t off)
{
    uint64_t s = 0;
    for (int i = 0; i < rt->nworkers; i++)
        s += atomic_load((_Atomic uint64_t *)((char *)&rt->workers[i].c + off));
    return s;
}

#define SUM(rt, field) sum(rt, offsetof(struct cio__counters, field))

void cio__runtime_task_exited(struct cio__worker *w, bool is_main)
{
    struct cio__runtime *rt = w->rt;
    atomic_fetch_add(&w->c.finished, 1);
    if (is_main) {
        atomic_store(&rt->shutdown, 1);
        cio__task_cancel_all(rt);
    }
    if (!atomic_load(&rt->shutdown))
        return;
    /* Every worker increments its own counters with sequentially consistent
     * operations before summing, so the last task to finish anywhere sees
     * all the others' increments. */
    if (SUM(rt, spawned) == SUM(rt, finished))
        cio__sched_stop_all(rt);
}

static void fill_stats(struct cio__runtime *rt, cio_stats *s)
{
    memset(s, 0, sizeof *s);
    s->workers = rt->nworkers;
    s->tasks_spawned = SUM(rt, spawned);
    s->tasks_finished = SUM(rt, finished);
    s->tasks_live = s->tasks_spawned - SUM(rt, freed);
    s->switches = SUM(rt, switches);
    s->steals = SUM(rt, steals);
    s->migrations = SUM(rt, migrations);
    s->parks = SUM(rt, parks);
    s->timers_fired = SUM(rt, timers_fired);
    s->stacks_live = SUM(rt, stacks_live);
    s->queue_violations = SUM(rt, queue_violations);
    size_t arena_free, released;
    cio__stack_arena_count(rt, &arena_free, &released);
    s->stacks_cached = SUM(rt, stacks_cached) + arena_free;
    s->stacks_released = released;
    for (int i = 0; i < rt->nworkers; i++)
        s->timers_pending += atomic_load(&rt->workers[i].timers.n);
    s->stack_bytes_mapped = cio__stack_mapped(rt);
    s->io_waits = SUM(rt, io_waits);
    s->io_polls = SUM(rt, io_polls);
    s->io_events = SUM(rt, io_events);
    s->budget_yields = SUM(rt, budget_yields);
    for (int i = 0; i < rt->nworkers; i++)
        s->fds_registered += (uint64_t)atomic_load(&rt->workers[i].nfds);
    if (rt->pool_inited) {
        pthread_mutex_lock(&rt->pool.lock);
        s->pool_threads = (uint64_t)rt->pool.threads;
        pthread_mutex_unlock(&rt->pool.lock);
    }
    s->pool_jobs = atomic_load(&rt->pool.jobs_run);
}

void cio_stats_get(cio_stats *out)
{
    struct cio__runtime *rt = atomic_load(&cio__rt);
    if (rt) {
        fill_stats(rt, out);
        return;
    }
    pthread_mutex_lock(&last_stats_lock);
    *out = last_stats;
    pthread_mutex_unlock(&last_stats_lock);
}

/* ---- start and stop ---------------------------------------------------- */

struct main_call {
    int (*fn)(void *);
    void *arg;
    struct cio__runtime *rt;
};

static void *main_task(void *p)
{
    struct main_call *mc = p;
    mc->rt->main_status = mc->fn(mc->arg);
    return NULL;
}

static void *worker_thread(void *p)
{
    struct cio__worker *w = p;
    char name[16];
    snprintf(name, sizeof name, "cio-w%d", w->index);
    cio__os_thread_name(name);
    altstack_on(w, NULL);
    cio__sched_loop(w);
    altstack_off(w, NULL);
    return NULL;
}

static int parse_workers(const cio_config *cfg, int *out)
{
    int n = cfg ? cfg->workers : 0;
    if (n < 0 || n > CIO__WORKERS_MAX)
        return CIO_EINVAL;
    if (n == 0) {
        const char *env = getenv("CIO_WORKERS");
        if (env && *env) {
            char *end;
            errno = 0;
            long v = strtol(env, &end, 10);
            if (errno || *end || v < 1 || v > CIO__WORKERS_MAX)
                return CIO_EINVAL;
            n = (int)v;
        } else {
            n = cio__os_ncpu();
            if (n > CIO__WORKERS_MAX)
                n = CIO__WORKERS_MAX;
        }
    }
    *out = n;
    return 0;
}

static void runtime_free(struct cio__runtime *rt, int inited)
{
    for (int i = 0; i < inited; i++)
        cio__worker_fini(&rt->workers[i]);
    if (rt->pool_inited)
        cio__pool_fini(&rt->pool);
    cio__fd_table_fini(rt);
    cio__task_table_fini(rt);
    cio__stack_runtime_fini(rt);
    pthread_mutex_destroy(&rt->global_lock);
    free(rt->global);
    pthread_mutex_destroy(&rt->table_lock);
    pthread_mutex_destroy(&rt->stack_lock);
    free(rt->workers);
    free(rt);
}

static int runtime_new(const cio_config *cfg, struct cio__runtime **out)
{
    int nworkers, rc = parse_workers(cfg, &nworkers);
    if (rc < 0)
        return rc;
    size_t stack = cfg && cfg->stack_size ? cfg->stack_size : CIO_STACK_DEFAULT;
    if (cio__stack_class(stack) < 0)
        return CIO_EINVAL;
    int pool_max = cfg && cfg->pool_threads ? cfg->pool_threads
                                            : CIO__POOL_THREADS;
    int64_t pool_idle = cfg && cfg->pool_idle_ns ? cfg->pool_idle_ns
                                                 : CIO__POOL_IDLE_NS;
    if (pool_max < 0 || pool_max > CIO__POOL_THREADS_MAX || pool_idle < 0)
        return CIO_EINVAL;
    struct cio__runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return CIO_ENOMEM;
    rt->nworkers = nworkers;
    rt->stack_size = stack;
    pthread_mutex_init(&rt->global_lock, NULL);
    pthread_mutex_init(&rt->table_lock, NULL);
    pthread_mutex_init(&rt->stack_lock, NULL);
    rt->be = &cio__backend_epoll;
    rt->workers = calloc((size_t)nworkers, sizeof *rt->workers);
    rt->chunks = calloc(CIO__TASK_CHUNKS, sizeof *rt->chunks);
    if (!rt->workers || !rt->chunks) {
        runtime_free(rt, 0);
        return CIO_ENOMEM;
    }
    rc = cio__fd_table_init(rt);
    if (rc == 0) {
        rc = cio__pool_init(&rt->pool, pool_max, pool_idle);
        rt->pool_inited = rc == 0;
    }
    if (rc < 0) {
        runtime_free(rt, 0);
        return rc;
    }
    for (int i = 0; i < nworkers; i++) {
        rc = cio__worker_init(rt, &rt->workers[i], i);
        if (rc < 0) {
            runtime_free(rt, i);
            return rc;
        }
    }
    *out = rt;
    return 0;
}

static int start_threads(struct cio__runtime *rt)
{
    for (int i = 1; i < rt->nworkers; i++) {
        struct cio__worker *w = &rt->workers[i];
        int rc = cio__os.pthread_create(&w->thread, NULL, worker_thread, w);
        if (rc != 0)
            return -rc;
        w->thread_started = true;
    }
    return 0;
}

static void join_threads(struct cio__runtime *rt)
{
    for (int i = 1; i < rt->nworkers; i++)
        if (rt->workers[i].thread_started)
            pthread_join(rt->workers[i].thread, NULL);
}

int cio_run(int (*main)(void *arg), void *arg, const cio_config *cfg)
{
    if (!main)
        return CIO_EINVAL;
    struct cio__runtime *rt, *none = NULL;
    int rc = runtime_new(cfg, &rt);
    if (rc < 0)
        return rc;
    if (!atomic_compare_exchange_strong(&cio__rt, &none, rt)) {
        runtime_free(rt, rt->nworkers);
        return CIO_EBUSY;
    }
    struct cio__worker *w0 = &rt->workers[0];
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    stack_t old_alt;
    int alt = altstack_on(w0, &old_alt);

    struct main_call mc = {.fn = main, .arg = arg, .rt = rt};
    cio_spawn_opts o = {.name = "main", .flags = CIO_SPAWN_PIN, .worker = 0};
    struct cio__task *t;
    rc = start_threads(rt);
    if (rc == 0)
        rc = cio__task_create(w0, &t, main_task, &mc, &o);
    if (rc < 0) {
        /* Without all its workers the runtime does not start: stop the
         * ones already running before main ran at all. */
        cio__sched_stop_all(rt);
        join_threads(rt);
        if (alt == 0)
            altstack_off(w0, &old_alt);
        sigaction(SIGSEGV, &old_segv, NULL);
        goto out;
    }
    t->flags |= CIO__T_MAIN;
    atomic_fetch_or(&t->ctl, CIO__C_DETACHED);
    cio__sched_spawned(w0, t);
    cio__sched_loop(w0);
    join_threads(rt);
    if (alt == 0)
        altstack_off(w0, &old_alt);
    sigaction(SIGSEGV, &old_segv, NULL);
    rc = rt->main_status;
    /* Every task has finished, so no job is queued or waited for; jobs
     * that were abandoned while running finish before the pool ends. */
    cio__pool_fini(&rt->pool);
    rt->pool_inited = false;

out:
    pthread_mutex_lock(&last_stats_lock);
    fill_stats(rt, &last_stats);
    pthread_mutex_unlock(&last_stats_lock);
    atomic_store(&cio__rt, NULL);
    runtime_free(rt, rt->nworkers);
    return rc;
}
