/* The blocking pool and name resolution. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"
#include "core/runtime.h"
#include "harness.h"
#include "os/os.h"

#define MS 1000000LL

static void nap(int64_t ns)
{
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static cio_config pool_cfg(int workers, int threads, int64_t idle_ns)
{
    cio_config c;
    cio_config_init(&c);
    c.workers = workers;
    c.pool_threads = threads;
    c.pool_idle_ns = idle_ns;
    return c;
}

/* ---- many jobs, every result checked ---------------------------------------- */

static void *square(void *arg)
{
    intptr_t x = (intptr_t)arg;
    if (x % 97 == 0)
        nap(100000); /* some jobs block for real */
    return (void *)(x * x + 1);
}

static void *submitter(void *arg)
{
    intptr_t base = (intptr_t)arg;
    for (intptr_t i = 0; i < 10; i++) {
        void *r;
        intptr_t x = base * 10 + i;
        CHECK_OK(cio_blocking(square, (void *)x, &r, CIO_NEVER));
        CHECK_EQ((intptr_t)r, x * x + 1);
    }
    return NULL;
}

static int main_many(void *arg)
{
    (void)arg;
    enum { TASKS = 1000 };
    static cio_task t[TASKS];
    for (intptr_t i = 0; i < TASKS; i++)
        CHECK_OK(cio_spawn(&t[i], submitter, (void *)i, NULL));
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    cio_stats s;
    cio_stats_get(&s);
    CHECK(s.pool_jobs >= 10000);
    CHECK(s.pool_threads >= 1 && s.pool_threads <= 64);
    return 0;
}

CIO_TEST(pool_10000_jobs_from_1000_tasks)
{
    (void)state;
    cio_test_run(main_many, NULL, 2, 0);
}

/* ---- deadline, cancel ---------------------------------------------------- */

static atomic_int ran;

static void *slow_job(void *arg)
{
    nap((int64_t)(intptr_t)arg);
    atomic_fetch_add(&ran, 1);
    return (void *)7;
}

static void *mark_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 100);
    return NULL;
}

static void *occupy(void *arg)
{
    void *r;
    CHECK_OK(cio_blocking(slow_job, arg, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 7);
    return NULL;
}

static int main_deadline_queued(void *arg)
{
    (void)arg;
    atomic_store(&ran, 0);
    cio_task o;
    CHECK_OK(cio_spawn(&o, occupy, (void *)(intptr_t)(200 * MS), NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    int64_t t0 = cio_now();
    CHECK_ERR(cio_blocking(mark_job, NULL, NULL, t0 + 30 * MS), CIO_ETIMEDOUT);
    int64_t took = cio_now() - t0;
    CHECK(took >= 30 * MS && took < 150 * MS);
    CHECK_OK(cio_join(o, NULL, CIO_NEVER));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_EQ(atomic_load(&ran), 1); /* the timed-out job never ran */
    return 0;
}

CIO_TEST(blocking_deadline_while_queued)
{
    (void)state;
    cio_config c = pool_cfg(2, 1, 0);
    cio_test_run_cfg(main_deadline_queued, NULL, &c, 0);
}

static void *queued_caller(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cio_blocking(mark_job, NULL, NULL, CIO_NEVER);
}

static int main_cancel_queued(void *arg)
{
    (void)arg;
    atomic_store(&ran, 0);
    cio_task o, q;
    CHECK_OK(cio_spawn(&o, occupy, (void *)(intptr_t)(200 * MS), NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_OK(cio_spawn(&q, queued_caller, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_OK(cio_cancel(q));
    void *r;
    CHECK_OK(cio_join(q, &r, cio_deadline_after(100 * MS))); /* at once */
    CHECK_ERR((intptr_t)r, CIO_ECANCELED);
    CHECK_OK(cio_join(o, NULL, CIO_NEVER));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_EQ(atomic_load(&ran), 1);
    return 0;
}

CIO_TEST(blocking_cancel_while_queued)
{
    (void)state;
    cio_config c = pool_cfg(2, 1, 0);
    cio_test_run_cfg(main_cancel_queued, NULL, &c, 0);
}

static void *running_caller(void *arg)
{
    (void)arg;
    void *r = NULL;
    int rc = cio_blocking(slow_job, (void *)(intptr_t)(100 * MS), &r, CIO_NEVER);
    CHECK_OK(rc); /* a running job is waited for */
    CHECK_EQ((intptr_t)r, 7);
    CHECK_EQ(atomic_load(&ran), 1);
    /* The cancellation is seen at the next waiting call. */
    CHECK_ERR(cio_sleep_until(cio_deadline_after(MS)), CIO_ECANCELED);
    return NULL;
}

static int main_cancel_running(void *arg)
{
    (void)arg;
    atomic_store(&ran, 0);
    cio_task t;
    CHECK_OK(cio_spawn(&t, running_caller, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(30 * MS)));
    CHECK_OK(cio_cancel(t));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(blocking_cancel_while_running_waits_for_it)
{
    (void)state;
    cio_test_run(main_cancel_running, NULL, 2, 0);
}

/* ---- shutdown with queued jobs -------------------------------------------- */

enum { SHUT_JOBS = 200 };
static atomic_int job_ran[SHUT_JOBS];
static int outcome[SHUT_JOBS];

static void *counted_job(void *arg)
{
    nap(2 * MS);
    atomic_fetch_add(&job_ran[(intptr_t)arg], 1);
    return arg;
}

static void *shut_caller(void *arg)
{
    intptr_t i = (intptr_t)arg;
    void *r = NULL;
    outcome[i] = cio_blocking(counted_job, arg, &r, CIO_NEVER);
    if (outcome[i] == 0)
        CHECK_EQ((intptr_t)r, i);
    return NULL;
}

static int main_shutdown(void *arg)
{
    (void)arg;
    for (intptr_t i = 0; i < SHUT_JOBS; i++) {
        outcome[i] = 1; /* "no outcome": must be overwritten */
        CHECK_OK(cio_spawn(NULL, shut_caller, (void *)i, NULL));
    }
    /* Return once some jobs have run (thread start-up is slow under an
     * emulator): the rest are still queued behind two threads. */
    for (;;) {
        int ran_now = 0;
        for (int i = 0; i < SHUT_JOBS; i++)
            ran_now += atomic_load(&job_ran[i]);
        if (ran_now > 0)
            break;
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    }
    return 0; /* the runtime cancels the callers with jobs still queued */
}

CIO_TEST(blocking_shutdown_loses_no_job)
{
    (void)state;
    cio_config c = pool_cfg(2, 2, 0);
    cio_test_run_cfg(main_shutdown, NULL, &c, 0);
    int done = 0, cancelled = 0;
    for (int i = 0; i < SHUT_JOBS; i++) {
        /* Each job either ran once and its caller got the result, or never
         * ran and its caller was told so. */
        if (outcome[i] == 0) {
            assert_int_equal(atomic_load(&job_ran[i]), 1);
            done++;
        } else {
            ASSERT_ERR(outcome[i], CIO_ECANCELED);
            assert_int_equal(atomic_load(&job_ran[i]), 0);
            cancelled++;
        }
    }
    printf("%d jobs ran, %d were taken back at shutdown\n", done, cancelled);
    assert_true(done > 0 && cancelled > 0);
}

/* ---- growth and idle exit ----------------------------------------------- */

static atomic_int running, peak;

static void *overlap_job(void *arg)
{
    (void)arg;
    int n = atomic_fetch_add(&running, 1) + 1;
    int p = atomic_load(&peak);
    while (n > p && !atomic_compare_exchange_weak(&peak, &p, n))
        ;
    nap(30 * MS);
    atomic_fetch_sub(&running, 1);
    return NULL;
}

static void *overlap_caller(void *arg)
{
    (void)arg;
    CHECK_OK(cio_blocking(overlap_job, NULL, NULL, CIO_NEVER));
    return NULL;
}

static int main_grow_shrink(void *arg)
{
    (void)arg;
    cio_task t[12];
    for (int i = 0; i < 12; i++)
        CHECK_OK(cio_spawn(&t[i], overlap_caller, NULL, NULL));
    for (int i = 0; i < 12; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_EQ(atomic_load(&peak), 4); /* grew to the limit, not past it */
    cio_stats s;
    cio_stats_get(&s);
    CHECK_EQ(s.pool_threads, 4);
    /* Idle threads leave after pool_idle_ns. */
    int64_t until = cio_deadline_after(3000 * MS);
    do {
        CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
        cio_stats_get(&s);
    } while (s.pool_threads > 0 && cio_now() < until);
    CHECK_EQ(s.pool_threads, 0);
    /* And the pool starts again on demand. */
    CHECK_OK(cio_blocking(overlap_job, NULL, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(pool_grows_to_limit_and_shrinks_when_idle)
{
    (void)state;
    cio_config c = pool_cfg(2, 4, 50 * MS);
    cio_test_run_cfg(main_grow_shrink, NULL, &c, 0);
}

/* ---- jobs that never block do not grow the pool ----------------------------- */

static void *spin_job(void *arg)
{
    volatile uint64_t x = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 2000; i++)
        x = x * 6364136223846793005u + 1;
    return (void *)(uintptr_t)x;
}

static void *spin_caller(void *arg)
{
    for (int i = 0; i < 20; i++)
        CHECK_OK(cio_blocking(spin_job, arg, NULL, CIO_NEVER));
    return NULL;
}

static int main_no_growth(void *arg)
{
    (void)arg;
    enum { T = 200 };
    static cio_task t[T];
    for (int i = 0; i < T; i++)
        CHECK_OK(cio_spawn(&t[i], spin_caller, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < T; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    /* 4,000 short jobs, 200 queued at a time: a thread per CPU keeps up,
     * so the pool stays far below its limit of 64 (a few more may start
     * when a thread is preempted for long). */
    cio_stats s;
    cio_stats_get(&s);
    printf("pool threads after 4000 short jobs: %llu\n",
           (unsigned long long)s.pool_threads);
    CHECK(s.pool_threads >= 1);
    CHECK(s.pool_threads <= 16);
    return 0;
}

CIO_TEST(short_jobs_do_not_grow_the_pool)
{
    (void)state;
    cio_config c = pool_cfg(2, 64, 10000 * MS);
    cio_test_run_cfg(main_no_growth, NULL, &c, 0);
}

/* ---- busy and queued, as cio_stats reports them ------------------------------ */

static atomic_int held_open;

static void *hold_until_released(void *arg)
{
    (void)arg;
    while (!atomic_load(&held_open))
        nap(MS);
    return NULL;
}

static void *hold_caller(void *arg)
{
    (void)arg;
    CHECK_OK(cio_blocking(hold_until_released, NULL, NULL, CIO_NEVER));
    return NULL;
}

static int main_busy_queued(void *arg)
{
    (void)arg;
    atomic_store(&held_open, 0);
    cio_task t[5];
    for (int i = 0; i < 5; i++)
        CHECK_OK(cio_spawn(&t[i], hold_caller, NULL, NULL));
    /* Two threads (the limit) take two jobs; three wait for them. */
    cio_stats s;
    int64_t until = cio_deadline_after(5000 * MS);
    do {
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
        cio_stats_get(&s);
    } while ((s.pool_busy != 2 || s.pool_queued != 3) && cio_now() < until);
    CHECK_EQ(s.pool_busy, 2);
    CHECK_EQ(s.pool_queued, 3);
    CHECK_EQ(s.pool_threads, 2);
    atomic_store(&held_open, 1);
    for (int i = 0; i < 5; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    cio_stats_get(&s);
    CHECK_EQ(s.pool_busy, 0);
    CHECK_EQ(s.pool_queued, 0);
    return 0;
}

CIO_TEST(pool_busy_and_queued_are_reported)
{
    (void)state;
    cio_config c = pool_cfg(2, 2, 10000 * MS);
    cio_test_run_cfg(main_busy_queued, NULL, &c, 0);
}

/* ---- faults and bad input ------------------------------------------------- */

static int no_thread(pthread_t *t, const pthread_attr_t *a,
                     void *(*fn)(void *), void *arg)
{
    (void)t, (void)a, (void)fn, (void)arg;
    return EAGAIN;
}

static int main_no_threads(void *arg)
{
    (void)arg;
    cio__os.pthread_create = no_thread;
    int rc = cio_blocking(mark_job, NULL, NULL, CIO_NEVER);
    cio__os.pthread_create = cio__os_default.pthread_create;
    CHECK_ERR(rc, CIO_EAGAIN);
    /* The runtime goes on; with threads available again the pool works. */
    CHECK_OK(cio_blocking(mark_job, NULL, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(blocking_without_threads_reports_eagain)
{
    (void)state;
    cio_test_run(main_no_threads, NULL, 1, 0);
}

static int main_bad(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_blocking(NULL, NULL, NULL, CIO_NEVER), CIO_EINVAL);
    cio_addr a[2];
    CHECK_ERR(cio_resolve(NULL, NULL, AF_UNSPEC, a, 2, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_resolve("localhost", NULL, 12345, a, 2, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_resolve("localhost", NULL, AF_UNSPEC, a, -1, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_resolve("localhost", NULL, AF_UNSPEC, NULL, 2, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_resolve("localhost", "no-such-service-x", AF_UNSPEC, a, 2, CIO_NEVER),
              CIO_EINVAL);
    return 0;
}

CIO_TEST(pool_and_resolve_bad_input)
{
    (void)state;
    cio_test_run(main_bad, NULL, 1, 0);
    ASSERT_ERR(cio_blocking(mark_job, NULL, NULL, CIO_NEVER), CIO_EPERM);
    cio_addr a;
    ASSERT_ERR(cio_resolve("localhost", NULL, AF_UNSPEC, &a, 1, CIO_NEVER), CIO_EPERM);
    cio_config c = pool_cfg(1, -1, 0);
    ASSERT_ERR(cio_run(main_bad, NULL, &c), CIO_EINVAL);
    c = pool_cfg(1, 5000, 0);
    ASSERT_ERR(cio_run(main_bad, NULL, &c), CIO_EINVAL);
    c = pool_cfg(1, 0, -1);
    ASSERT_ERR(cio_run(main_bad, NULL, &c), CIO_EINVAL);
}

/* ---- name resolution -------------------------------------------------------- */

static bool loopback(const cio_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return ntohl(a->u.in4.sin_addr.s_addr) >> 24 == 127;
    return a->u.sa.sa_family == AF_INET6 &&
           memcmp(&a->u.in6.sin6_addr, &in6addr_loopback, 16) == 0;
}

static int main_resolve(void *arg)
{
    (void)arg;
    cio_addr a[8];
    int n = cio_resolve("localhost", "80", AF_UNSPEC, a, 8, cio_deadline_after(5000 * MS));
    CHECK(n >= 1);
    for (int i = 0; i < n && i < 8; i++) {
        CHECK(loopback(&a[i]));
        CHECK_EQ(cio_addr_port(&a[i]), 80);
    }
    /* max 0: the count, nothing stored. */
    CHECK_EQ(cio_resolve("localhost", "80", AF_UNSPEC, NULL, 0, CIO_NEVER), n);
    n = cio_resolve("127.0.0.1", "http", AF_INET, a, 8, CIO_NEVER);
    CHECK_EQ(n, 1);
    CHECK_EQ(cio_addr_port(&a[0]), 80);
    /* ".invalid" never resolves (RFC 6761); without a reachable DNS server
     * the resolver may say "try again" instead. */
    int rc = cio_resolve("no-such-host.invalid", "80", AF_UNSPEC, a, 8,
                         cio_deadline_after(20000 * MS));
    CHECK(rc == CIO_ENOHOST || rc == CIO_EAGAIN);
    CHECK(strcmp(cio_err_name(CIO_ENOHOST), "ENOHOST") == 0);
    return 0;
}

CIO_TEST(resolve_localhost_and_unknown_name)
{
    (void)state;
    cio_test_run(main_resolve, NULL, 2, 0);
}

static void *resolver(void *arg)
{
    cio_addr a[4];
    int64_t *deadline = arg;
    return (void *)(intptr_t)cio_resolve("localhost", "80", AF_UNSPEC, a, 4, *deadline);
}

static int main_resolve_deadline_cancel(void *arg)
{
    (void)arg;
    atomic_store(&ran, 0);
    /* The only pool thread is busy, so the lookup waits in the queue. */
    cio_task o, r;
    CHECK_OK(cio_spawn(&o, occupy, (void *)(intptr_t)(300 * MS), NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    int64_t t0 = cio_now();
    int64_t dl = t0 + 30 * MS;
    CHECK_ERR((intptr_t)resolver(&dl), CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 >= 30 * MS && cio_now() - t0 < 250 * MS);
    int64_t never = CIO_NEVER;
    CHECK_OK(cio_spawn(&r, resolver, &never, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_OK(cio_cancel(r));
    void *res;
    CHECK_OK(cio_join(r, &res, cio_deadline_after(100 * MS)));
    CHECK_ERR((intptr_t)res, CIO_ECANCELED);
    CHECK_OK(cio_join(o, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(resolve_deadline_and_cancel)
{
    (void)state;
    cio_config c = pool_cfg(2, 1, 0);
    cio_test_run_cfg(main_resolve_deadline_cancel, NULL, &c, 0);
}

/* The runtime ends while a lookup waits behind a busy pool: the resolver
 * is cancelled (the analogue of a descriptor closed under a waiting call:
 * there is no descriptor), the lookup never runs, nothing leaks. */
static intptr_t shutdown_resolve_rc = 1;

static void *resolver_at_shutdown(void *arg)
{
    (void)arg;
    cio_addr a[2];
    shutdown_resolve_rc = cio_resolve("localhost", "80", AF_UNSPEC, a, 2, CIO_NEVER);
    return NULL;
}

/* Waits (bounded) until the pool has `busy` jobs running and `queued`
 * queued: fixed sleeps made this case fail on a loaded machine, where a
 * task may not have run within them. */
static void await_pool(int busy, int queued)
{
    struct cio__pool *p = &atomic_load(&cio__rt)->pool;
    int64_t until = cio_deadline_after(5000 * MS);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool there = p->threads - p->idle == busy && p->queued == queued;
        pthread_mutex_unlock(&p->lock);
        if (there)
            return;
        CHECK(cio_now() < until);
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    }
}

static int main_resolve_shutdown(void *arg)
{
    (void)arg;
    /* Long enough that the lookup is still queued when main returns. */
    CHECK_OK(cio_spawn(NULL, occupy, (void *)(intptr_t)(1000 * MS), NULL));
    await_pool(1, 0);
    CHECK_OK(cio_spawn(NULL, resolver_at_shutdown, NULL, NULL));
    await_pool(1, 1);
    return 0;
}

CIO_TEST(resolve_cancelled_by_shutdown)
{
    (void)state;
    cio_config c = pool_cfg(2, 1, 0);
    cio_test_run_cfg(main_resolve_shutdown, NULL, &c, 0);
    ASSERT_ERR(shutdown_resolve_rc, CIO_ECANCELED);
}

/* A job that owns its memory may be left running: the pool frees it. */
static atomic_int released;

static void release_job(struct cio__job *j)
{
    atomic_fetch_add(&released, 1);
    free(j);
}

static int main_abandon(void *arg)
{
    (void)arg;
    atomic_store(&ran, 0);
    struct cio__job *j = calloc(1, sizeof *j);
    CHECK(j);
    j->fn = slow_job;
    j->arg = (void *)(intptr_t)(100 * MS);
    j->release = release_job;
    int64_t t0 = cio_now();
    CHECK_ERR(cio__pool_run(cio__task_current(), j, true, t0 + 20 * MS), CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 < 90 * MS); /* left without waiting for it */
    CHECK_EQ(atomic_load(&released), 0);
    return 0;
}

CIO_TEST(abandoned_job_is_freed_by_the_pool)
{
    (void)state;
    cio_test_run(main_abandon, NULL, 1, 0);
    /* cio_run waited for the job: it ran to its end and was freed once. */
    assert_int_equal(atomic_load(&ran), 1);
    assert_int_equal(atomic_load(&released), 1);
}

/* ---- an idle time too long to add to the clock ----------------------------- */

static void *identity(void *arg)
{
    return arg;
}

static int main_idle_forever(void *arg)
{
    (void)arg;
    void *r = NULL;
    CHECK_OK(cio_blocking(identity, (void *)(intptr_t)42, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 42);
    /* The thread now waits idle for its (never ending) idle time. */
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    return 0;
}

static void idle_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "cio_run did not return within 5 s\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(1);
}

/* pool_idle_ns = INT64_MAX is a valid "never exit when idle": the idle
 * thread's deadline must saturate, not wrap into an invalid time. */
CIO_TEST(pool_idle_ns_max_returns)
{
    (void)state;
    signal(SIGALRM, idle_watchdog);
    alarm(5);
    cio_config c = pool_cfg(1, 1, INT64_MAX);
    int64_t t0 = cio_now();
    cio_test_run_cfg(main_idle_forever, NULL, &c, 0);
    alarm(0);
    assert_true(cio_now() - t0 < 2000 * MS);
}

CIO_TEST_MAIN(cmocka_unit_test(pool_10000_jobs_from_1000_tasks),
              cmocka_unit_test(blocking_deadline_while_queued),
              cmocka_unit_test(blocking_cancel_while_queued),
              cmocka_unit_test(blocking_cancel_while_running_waits_for_it),
              cmocka_unit_test(blocking_shutdown_loses_no_job),
              cmocka_unit_test(pool_grows_to_limit_and_shrinks_when_idle),
              cmocka_unit_test(short_jobs_do_not_grow_the_pool),
              cmocka_unit_test(blocking_without_threads_reports_eagain),
              cmocka_unit_test(pool_and_resolve_bad_input),
              cmocka_unit_test(resolve_localhost_and_unknown_name),
              cmocka_unit_test(resolve_deadline_and_cancel),
              cmocka_unit_test(resolve_cancelled_by_shutdown),
              cmocka_unit_test(abandoned_job_is_freed_by_the_pool),
              cmocka_unit_test(pool_idle_ns_max_returns),
              cmocka_unit_test(pool_busy_and_queued_are_reported))
