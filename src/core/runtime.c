/* The runtime: cio_run(), shutdown, the runtime's lifetime, statistics.
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

#include "core/fd.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "os/os.h"

struct cio__runtime *_Atomic cio__rt;

/* The last runtime's counters at its end, for cio_stats_get() after it.
 * cio_run() holds the lock from unpublishing the runtime until these are
 * filled, so a reader never sees an older runtime's figures. */
static cio_stats last_stats;
static uint64_t last_stats_run; /* which runtime's they are (the lock) */
static pthread_mutex_t last_stats_lock = PTHREAD_MUTEX_INITIALIZER;

/* Threads that are not workers and are between loading cio__rt and
 * pinning the runtime they loaded (rt->pins): a few instructions. The
 * pins themselves are per runtime, so a long call on a new runtime never
 * holds up the end of the previous one. */
static _Atomic unsigned long entering;

struct cio__runtime *cio__rt_enter(bool *pinned)
{
    struct cio__worker *w = cio__current_worker();
    *pinned = false;
    if (w)
        return w->rt; /* it outlives everything its workers run */
    /* seq_cst increment, then seq_cst load: pairs with unpublish(), which
     * clears cio__rt and then reads `entering`. Either this load sees
     * NULL, or unpublish() sees this thread entering and waits until its
     * pin below is visible (the release decrement after it). */
    atomic_fetch_add_explicit(&entering, 1, memory_order_seq_cst);
    struct cio__runtime *rt = atomic_load_explicit(&cio__rt,
                                                   memory_order_seq_cst);
    if (rt)
        atomic_fetch_add_explicit(&rt->pins, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&entering, 1, memory_order_release);
    *pinned = rt != NULL;
    return rt;
}

void cio__rt_leave(struct cio__runtime *rt, bool pinned)
{
    /* Release: this thread's reads of the runtime come before the end's
     * acquire load of `pins` that sees them gone. */
    if (pinned)
        atomic_fetch_sub_explicit(&rt->pins, 1, memory_order_release);
}

/* Makes the runtime unreachable for calls from other threads and waits
 * for those already inside to leave. */
static void unpublish(struct cio__runtime *rt)
{
    atomic_store_explicit(&cio__rt, NULL, memory_order_seq_cst);
    /* Pairs with cio__rt_enter() (see there). */
    while (atomic_load_explicit(&entering, memory_order_seq_cst))
        sched_yield();
    /* Acquire: pairs with cio__rt_leave(). */
    while (atomic_load_explicit(&rt->pins, memory_order_acquire))
        sched_yield();
}

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
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    int n = rt ? rt->nworkers : CIO_EPERM;
    cio__rt_leave(rt, pinned);
    return n;
}


/* ---- shutdown ------------------------------------------------------------ */

/* Sums one counter over the workers. seq_cst loads: the shutdown check
 * needs them ordered after its own seq_cst increment (see below); other
 * readers only need whole values. */
static uint64_t sum(struct cio__runtime *rt, size_t off)
{
    uint64_t s = 0;
    for (int i = 0; i < rt->nworkers; i++)
        s += atomic_load_explicit(
            (_Atomic uint64_t *)((char *)&rt->workers[i].c + off),
            memory_order_seq_cst);
    return s;
}

#define SUM(rt, field) sum(rt, offsetof(struct cio__counters, field))

#ifdef CIO_TESTING
void (*cio__test_between_sums)(struct cio__runtime *rt);
#endif

/* Whether every task spawned has finished. Finished counts are read
 * before spawned ones: a finish that is counted comes after every spawn
 * its task made (spawn's counter store, then the task's end, which the
 * seq_cst increment publishes), so those spawns are counted too, and
 * spawned >= finished. Read the other way round, a task that spawned a
 * child and ended between the two sums made them equal with the child
 * still to run. Equal sums then mean nothing is left: a task not counted
 * as spawned has a parent not counted as finished, and so on up to main,
 * which is counted (its end set `shutdown`, which the caller saw). */
bool cio__runtime_all_done(struct cio__runtime *rt)
{
    uint64_t finished = SUM(rt, finished);
#ifdef CIO_TESTING
    if (cio__test_between_sums)
        cio__test_between_sums(rt);
#endif
    return SUM(rt, spawned) == finished;
}

void cio__runtime_task_exited(struct cio__worker *w, bool is_main)
{
    struct cio__runtime *rt = w->rt;
    /* A seq_cst read-modify-write, not the owner's plain store: it must
     * be ordered before the load of `shutdown` and the sums below. Two
     * tasks ending at once on two workers then cannot both miss the
     * other's increment (store buffering), so the last one sees all. */
    atomic_fetch_add_explicit(&w->c.finished, 1, memory_order_seq_cst);
    if (is_main) {
        atomic_store_explicit(&rt->shutdown, 1, memory_order_seq_cst);
        cio__task_cancel_all(rt);
    }
    if (!atomic_load_explicit(&rt->shutdown, memory_order_seq_cst))
        return;
    if (cio__runtime_all_done(rt))
        cio__sched_stop_all(rt);
}

static void fill_stats(struct cio__runtime *rt, cio_stats *s)
{
    memset(s, 0, sizeof *s);
    s->workers = rt->nworkers;
    s->backend = rt->be->name;
    s->backend_why = rt->be_why;
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
        s->timers_pending += atomic_load_explicit(&rt->workers[i].timers.n,
                                                  memory_order_relaxed);
    s->stack_bytes_mapped = cio__stack_mapped(rt);
    s->io_waits = SUM(rt, io_waits);
    s->io_requests = SUM(rt, io_reqs);
    s->io_receives = SUM(rt, rx_made);
    s->tasks_compacted = SUM(rt, compacted);
    s->compact_bytes = SUM(rt, compact_bytes);
    s->io_receives_nobufs = SUM(rt, rx_nobufs);
    s->io_polls = SUM(rt, io_polls);
    s->io_events = SUM(rt, io_events);
    s->budget_yields = SUM(rt, budget_yields);
    for (int i = 0; i < rt->nworkers; i++)
        s->fds_registered += (uint64_t)atomic_load_explicit(
            &rt->workers[i].nfds, memory_order_relaxed);
    if (rt->pool_inited) {
        pthread_mutex_lock(&rt->pool.lock);
        s->pool_threads = (uint64_t)rt->pool.threads;
        s->pool_busy = (uint64_t)rt->pool.running;
        s->pool_queued = (uint64_t)rt->pool.queued;
        pthread_mutex_unlock(&rt->pool.lock);
    }
    s->pool_jobs = atomic_load_explicit(&rt->pool.jobs_run,
                                        memory_order_relaxed);
}

_Atomic int64_t cio__sync_objects;

/* The last runtime's worker figures at its end (under last_stats_lock). */
static struct cio__worker_figures *last_figures;
static int last_nfigures;

static void worker_figures(struct cio__worker *w,
                           struct cio__worker_figures *f)
{
    /* The times as of one moment: the seqlock of cio__phase() (acquire
     * loads and fence pair with its releases) gives ticks, mark and phase
     * from one update; the phase in progress is then counted up to now,
     * unless the worker's loop has ended (mark 0). */
    for (;;) {
        uint32_t s1 =
            atomic_load_explicit(&w->c.phase_seq, memory_order_acquire);
        if (s1 & 1) {
            cio__os_relax();
            continue;
        }
        for (int p = 0; p < CIO__PHASES; p++)
            f->ticks[p] = atomic_load_explicit(&w->c.phase_ticks[p],
                                               memory_order_relaxed);
        for (int b = 0; b < CIO__TURN_LOG2; b++)
            f->turn_log2[b] = atomic_load_explicit(&w->c.turn_log2[b],
                                                   memory_order_relaxed);
        uint64_t mark =
            atomic_load_explicit(&w->c.phase_mark, memory_order_relaxed);
        int cur = atomic_load_explicit(&w->c.phase, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&w->c.phase_seq, memory_order_relaxed) !=
            s1)
            continue;
        uint64_t now = cio__os_ticks();
        if (w->timing && mark && now > mark)
            f->ticks[cur] += now - mark;
        break;
    }
    for (int b = 0; b < CIO__TURN_LOG2; b++)
        f->delay_log2[b] = atomic_load_explicit(&w->c.delay_log2[b],
                                                memory_order_relaxed);
    f->tasks_run = atomic_load_explicit(&w->c.switches, memory_order_relaxed);
    f->steals = atomic_load_explicit(&w->c.steals, memory_order_relaxed);
    f->inbox_tasks =
        atomic_load_explicit(&w->c.inbox_tasks, memory_order_relaxed);
    /* Head first: a later head can only make the difference smaller. */
    uint32_t head = atomic_load_explicit(&w->runq.head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&w->runq.tail, memory_order_acquire);
    uint32_t ring = tail - head;
    f->queued = atomic_load_explicit(&w->c.local_n, memory_order_relaxed) +
                (ring <= CIO__RUNQ_SIZE ? ring : 0) +
                (atomic_load_explicit(&w->lifo, memory_order_relaxed) != NULL);
}

int cio__worker_figures_get(int worker, struct cio__worker_figures *out)
{
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    if (rt) {
        int all = rt->nworkers;
        if (worker < all)
            worker_figures(&rt->workers[worker], out);
        cio__rt_leave(rt, pinned);
        return all;
    }
    pthread_mutex_lock(&last_stats_lock);
    int all = last_nfigures;
    if (worker < all)
        *out = last_figures[worker];
    pthread_mutex_unlock(&last_stats_lock);
    return all;
}

void cio_stats_get(cio_stats *out)
{
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    if (rt) {
        fill_stats(rt, out);
        cio__rt_leave(rt, pinned);
    } else {
        pthread_mutex_lock(&last_stats_lock);
        *out = last_stats;
        pthread_mutex_unlock(&last_stats_lock);
    }
    /* Relaxed: a snapshot of a count nothing else is ordered by. */
    out->sync_objects = (uint64_t)atomic_load_explicit(&cio__sync_objects,
                                                       memory_order_relaxed);
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
    cio__overflow_altstack_on(w, NULL);
    /* Relaxed: read by the stall watchdog only to decide whether it may
     * signal this thread (observe/stall.c). */
    atomic_store_explicit(&w->c.altstack_ok, w->altstack != NULL,
                          memory_order_relaxed);
    cio__sched_loop(w);
    cio__overflow_altstack_off(w, NULL);
    return NULL;
}

/* Bad configuration is refused with CIO_EINVAL and one line on stderr
 * that names the setting, the value and what is accepted: the error code
 * alone cannot say which of several settings was wrong. */
static int refuse(const char *what, const char *value, const char *accepted)
{
    /* An environment variable as the shell writes it, a field as C. */
    const char *eq = strncmp(what, "CIO_", 4) == 0 ? "=" : " = ";
    fprintf(stderr, "cio: %s%s%s: expected %s\n", what, eq, value, accepted);
    return CIO_EINVAL;
}

static int refuse_num(const char *what, long long v, const char *accepted)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    return refuse(what, num, accepted);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static int parse_workers(const cio_config *cfg, int *out)
{
    int n = cfg ? cfg->workers : 0;
    if (n < 0 || n > CIO__WORKERS_MAX)
        return refuse_num("cio_config.workers", n,
                          "0 (the default) to " STR(CIO__WORKERS_MAX));
    if (n == 0) {
        const char *env = getenv("CIO_WORKERS");
        if (env && *env) {
            char *end;
            errno = 0;
            long v = strtol(env, &end, 10);
            if (errno || *end || v < 1 || v > CIO__WORKERS_MAX)
                return refuse("CIO_WORKERS", env,
                              "a whole number of workers from 1 to " STR(
                                  CIO__WORKERS_MAX));
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

/* Why each runtime got its backend: two buffers used in turn, so the
 * last runtime's text (kept in its final cio_stats) stays as it was while
 * the next one starts. One runtime at a time writes them. */
static char why_text[2][192];
static unsigned why_turn;

/* Picks the backend (cio_config.backend, else $CIO_BACKEND, else auto). */
static int choose_backend(const cio_config *cfg, struct cio__runtime *rt)
{
    const char *what = "cio_config.backend";
    const char *v = cfg ? cfg->backend : NULL;
    if (!v || !*v) {
        what = "CIO_BACKEND";
        v = getenv("CIO_BACKEND");
    }
    if (!v || !*v) {
        what = NULL;
        v = "auto";
    }
    bool want_uring = strcmp(v, "io_uring") == 0;
    bool want_epoll = strcmp(v, "epoll") == 0;
    if (!want_uring && !want_epoll && strcmp(v, "auto"))
        return refuse(what, v, "\"io_uring\", \"epoll\" or \"auto\"");
    char *why = why_text[why_turn++ & 1];
    size_t n = sizeof why_text[0];
    rt->be = &cio__backend_epoll;
    rt->be_fallback = !want_uring;
    if (want_epoll) {
        snprintf(why, n, "asked for (%s)", what);
    } else {
        char detail[128];
        int rc = cio__uring_probe(detail, sizeof detail);
        if (rc == 0) {
            rt->be = &cio__backend_uring;
            snprintf(why, n, what ? "asked for (%s); probe passed"
                                  : "probe passed", what);
        } else if (want_uring) {
            fprintf(stderr, "cio: %s asks for io_uring, which is unusable "
                            "here: %s\n", what, detail);
            return rc;
        } else {
            snprintf(why, n, "io_uring unusable: %s", detail);
        }
    }
    rt->be_why = why;
    const char *dbg = getenv("CIO_DEBUG");
    if (dbg && strstr(dbg, "backend"))
        fprintf(stderr, "cio: backend %s: %s\n", rt->be->name, why);
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
    cio__trace_fini(rt);
    pthread_mutex_destroy(&rt->global_lock);
    free(rt->global);
    pthread_mutex_destroy(&rt->table_lock);
    pthread_mutex_destroy(&rt->stack_lock);
    free(rt->workers);
    free(rt);
}

static int runtime_new(const cio_config *cfg,
                       const struct cio__run_hooks *hooks,
                       struct cio__runtime **out)
{
    int nworkers = 0, rc = parse_workers(cfg, &nworkers);
    if (rc < 0)
        return rc;
    size_t stack = cfg && cfg->stack_size ? cfg->stack_size : CIO_STACK_DEFAULT;
    if (cio__stack_class(stack) < 0)
        return refuse_num("cio_config.stack_size", (long long)stack,
                          "0 (the default) or a size from CIO_STACK_MIN (" STR(
                              CIO_STACK_MIN) ") to CIO_STACK_MAX");
    int pool_max = cfg && cfg->pool_threads ? cfg->pool_threads
                                            : CIO__POOL_THREADS;
    int64_t pool_idle = cfg && cfg->pool_idle_ns ? cfg->pool_idle_ns
                                                 : CIO__POOL_IDLE_NS;
    if (pool_max < 0 || pool_max > CIO__POOL_THREADS_MAX)
        return refuse_num("cio_config.pool_threads", pool_max,
                          "0 (the default) to " STR(CIO__POOL_THREADS_MAX));
    if (pool_idle < 0)
        return refuse_num("cio_config.pool_idle_ns", (long long)pool_idle,
                          "0 (the default) or a positive time in ns");
    int stats = cfg ? cfg->stats : 0;
    if (stats < -1 || stats > 2)
        return refuse_num("cio_config.stats", stats,
                          "0 (the default), 1 (on), 2 (exact per run) or "
                          "-1 (off)");
    if (stats == 0) {
        const char *env = getenv("CIO_STATS");
        stats = 1;
        if (env && *env) {
            if (strcmp(env, "0") && strcmp(env, "1") && strcmp(env, "2"))
                return refuse("CIO_STATS", env,
                              "0 (off), 1 (on) or 2 (exact per run)");
            stats = *env == '0' ? -1 : *env - '0';
        }
    }
    int64_t stall = cfg ? cfg->stall_ns : 0;
    if (stall < -1)
        return refuse_num("cio_config.stall_ns", (long long)stall,
                          "0 (the default), a time in ns, or -1 (never)");
    if (stall == 0) {
        stall = CIO__STALL_NS;
        const char *env = getenv("CIO_STALL_MS");
        if (env && *env) {
            char *end;
            errno = 0;
            long long ms = strtoll(env, &end, 10);
            if (errno || *end || ms < 0 || ms > INT64_MAX / 1000000)
                return refuse("CIO_STALL_MS", env,
                              "a whole number of milliseconds (0: never)");
            stall = ms * 1000000;
        }
    }
    int64_t compact = cfg ? cfg->compact_after_ns : 0;
    if (compact < -1 && compact != CIO_NEVER)
        return refuse_num("cio_config.compact_after_ns", (long long)compact,
                          "0 (the default), a time in ns, or -1 (never)");
    if (compact == 0)
        compact = CIO__COMPACT_NS;
    struct cio__runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return CIO_ENOMEM;
    rt->nworkers = nworkers;
    rt->compact_ns = compact == CIO_NEVER ? -1 : compact;
    rt->stall_ns = stall > 0 && stall != CIO_NEVER ? stall : 0;
    rt->stack_size = stack;
    rt->stack_cls = cio__stack_class(stack);
    rt->timing = stats > 0;
    /* A trace needs a tick at every switch: the exact level reads them,
     * and with time accounting off the trace reads its own. */
    rt->exact = stats > 1 || (stats > 0 && hooks && hooks->trace_slots);
    if (rt->timing)
        cio__os_ticks_start();
    pthread_mutex_init(&rt->global_lock, NULL);
    pthread_mutex_init(&rt->table_lock, NULL);
    pthread_mutex_init(&rt->stack_lock, NULL);
    rc = choose_backend(cfg, rt);
    if (rc < 0) {
        runtime_free(rt, 0);
        return rc;
    }
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
        if (rc < 0 && rt->be == &cio__backend_uring && rt->be_fallback) {
            /* Rings cost locked memory on older kernels: RLIMIT_MEMLOCK
             * may allow the probe's and not one per worker. */
            for (int k = 0; k < i; k++)
                cio__worker_fini(&rt->workers[k]);
            char *why = why_text[why_turn++ & 1];
            snprintf(why, sizeof why_text[0],
                     "io_uring unusable: the ring of worker %d: %s", i,
                     strerror(-rc));
            rt->be = &cio__backend_epoll;
            rt->be_why = why;
            i = -1;
            continue;
        }
        if (rc < 0) {
            runtime_free(rt, i);
            return rc;
        }
    }
    if (hooks && hooks->trace_slots) {
        rc = cio__trace_init(rt, hooks->trace_slots, hooks->trace_ring,
                             pool_max);
        if (rc < 0) {
            runtime_free(rt, nworkers);
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

int cio__run(int (*main)(void *arg), void *arg, const cio_config *cfg,
             const struct cio__run_hooks *hooks)
{
    if (!main)
        return CIO_EINVAL;
    struct cio__runtime *rt, *none = NULL;
    int rc = runtime_new(cfg, hooks, &rt);
    if (rc < 0)
        return rc;
    /* seq_cst: publishes the runtime (release for its contents, to the
     * acquire in cio__rt_enter) and pairs with unpublish() of the last. */
    if (!atomic_compare_exchange_strong_explicit(&cio__rt, &none, rt,
                                                 memory_order_seq_cst,
                                                 memory_order_seq_cst)) {
        runtime_free(rt, rt->nworkers);
        return CIO_EBUSY;
    }
    struct cio__worker *w0 = &rt->workers[0];
    w0->thread = pthread_self(); /* worker 0 is the caller's thread */
    cio__overflow_catch();
    stack_t old_alt;
    int alt = cio__overflow_altstack_on(w0, &old_alt);
    atomic_store_explicit(&w0->c.altstack_ok, w0->altstack != NULL,
                          memory_order_relaxed);

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
            cio__overflow_altstack_off(w0, &old_alt);
        cio__overflow_release();
        goto out;
    }
    cio__task_flag_set(t, CIO__T_MAIN);
    if (w0->lane) /* this thread is worker 0's: its lane's writer */
        cio__trace_spawn(w0, NULL, t);
    /* Relaxed: not yet queued; the queue push publishes it. */
    atomic_fetch_or_explicit(&t->ctl, CIO__C_DETACHED, memory_order_relaxed);
    cio__sched_spawned(w0, t);
    if (hooks && hooks->started)
        hooks->started(rt, hooks->ctx);
    cio__sched_loop(w0);
    if (hooks && hooks->ending)
        hooks->ending(rt, hooks->ctx);
    join_threads(rt);
    if (hooks && hooks->stopped)
        hooks->stopped(rt, hooks->ctx);
    if (alt == 0)
        cio__overflow_altstack_off(w0, &old_alt);
    cio__overflow_release();
    rc = rt->main_status;

out:
    cio__task_table_retire(rt);
    pthread_mutex_lock(&last_stats_lock);
    unpublish(rt);
    fill_stats(rt, &last_stats);
    struct cio__worker_figures *figs =
        realloc(last_figures, (size_t)rt->nworkers * sizeof *figs);
    if (figs) {
        last_figures = figs;
        for (int i = 0; i < rt->nworkers; i++)
            worker_figures(&rt->workers[i], &figs[i]);
        last_nfigures = rt->nworkers;
    } else {
        last_nfigures = CIO_ENOMEM;
    }
    uint64_t mine = ++last_stats_run;
    pthread_mutex_unlock(&last_stats_lock);
    /* Every task has finished, so no job is queued or waited for; jobs
     * that were abandoned while running (a name lookup) finish before the
     * pool ends, which may take a while: readers of the last figures do
     * not wait for it. No other thread can reach the runtime now. */
    if (rt->pool_inited) {
        cio__pool_fini(&rt->pool);
        rt->pool_inited = false;
        /* Unless a later runtime has ended meanwhile: its figures stand. */
        pthread_mutex_lock(&last_stats_lock);
        if (last_stats_run == mine) {
            last_stats.pool_threads = 0;
            last_stats.pool_jobs = atomic_load_explicit(
                &rt->pool.jobs_run, memory_order_relaxed);
        }
        pthread_mutex_unlock(&last_stats_lock);
    }
    runtime_free(rt, rt->nworkers);
    return rc;
}
