/* A runtime's lifetime as seen from outside it: what other threads may
 * call while it starts and ends, when it may stop, what its handles mean
 * after it, and that steady churn reaches a steady size. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "core/runtime.h"

#define MS 1000000LL

static bool emulated(void)
{
    return getenv("CIO_TEST_EMULATED") != NULL;
}

/* ---- calls from any thread while cio_run ends ----------------------------- */

static atomic_int poll_stop;
static cio_task _Atomic seen_task;

static void *poll_runtime(void *arg)
{
    int fd = *(int *)arg;
    while (!atomic_load(&poll_stop)) {
        cio_stats s;
        cio_stats_get(&s);
        (void)cio_workers();
        (void)cio_task_name(atomic_load(&seen_task));
        /* A number cio has seen (stdin's dup): nothing to close, but the
         * table is read. */
        (void)cio_fd_forget(fd);
    }
    return NULL;
}

static void *short_task(void *arg)
{
    return arg;
}

static int main_brief(void *arg)
{
    int fd = *(int *)arg;
    /* Lets cio see the descriptor, so forget() reads its entry. */
    (void)cio_wait_fd(fd, CIO_READABLE, 0);
    for (int i = 0; i < 8; i++) {
        cio_task t;
        CHECK_OK(cio_spawn(&t, short_task, NULL, NULL));
        atomic_store(&seen_task, t);
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    }
    atomic_store(&seen_task, cio_self());
    /* EBADF: the polling thread's forget is under way, and unregisters. */
    int rc = cio_fd_forget(fd);
    CHECK(rc == 0 || rc == CIO_EBADF);
    return 0;
}

CIO_TEST(any_thread_calls_safe_while_runtime_ends)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    atomic_store(&poll_stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poll_runtime, &p[0]), 0);
    int runs = cio_test_sanitized() ? 100 : 300;
    for (int i = 0; i < runs; i++)
        cio_test_run(main_brief, &p[0], 2, 0);
    atomic_store(&poll_stop, 1);
    pthread_join(th, NULL);
    close(p[0]);
    close(p[1]);
    /* Outside a runtime these answer "no runtime". */
    assert_int_equal(cio_workers(), CIO_EPERM);
    assert_null(cio_task_name(atomic_load(&seen_task)));
}

/* ---- shutdown waits for every task ---------------------------------------- */

static atomic_long chain_ran;

static void *chain_link(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    atomic_fetch_add(&chain_ran, 1);
    /* The child is spawned as this task exits: a finish and a spawn on
     * different workers race with the "all done" check. */
    if (depth > 0)
        CHECK_OK(cio_spawn(NULL, chain_link, (void *)(depth - 1), NULL));
    return NULL;
}

#define CHAINS 4
#define DEPTH 16

static int main_chains(void *arg)
{
    (void)arg;
    for (int i = 0; i < CHAINS; i++)
        CHECK_OK(cio_spawn(NULL, chain_link, (void *)(intptr_t)(DEPTH - 1),
                           NULL));
    return 0;
}

CIO_TEST(shutdown_waits_for_tasks_spawned_while_others_exit)
{
    (void)state;
    int runs = emulated() ? 300 : cio_test_sanitized() ? 1000 : 10000;
    for (int i = 0; i < runs; i++) {
        atomic_store(&chain_ran, 0);
        cio_test_run(main_chains, NULL, 8, 0);
        if (atomic_load(&chain_ran) != CHAINS * DEPTH)
            fail_msg("run %d: %ld of %d tasks ran before cio_run returned", i,
                     atomic_load(&chain_ran), CHAINS * DEPTH);
    }
}

/* ---- handles from an earlier runtime -------------------------------------- */

static cio_task old_handle;
static atomic_int victim_cancelled;

static int main_first(void *arg)
{
    (void)arg;
    CHECK_OK(cio_spawn(&old_handle, short_task, NULL, NULL));
    CHECK_OK(cio_join(old_handle, NULL, CIO_NEVER));
    return 0;
}

static void *victim(void *arg)
{
    (void)arg;
    int rc = cio_sleep_until(cio_deadline_after(20 * MS));
    atomic_store(&victim_cancelled, rc == CIO_ECANCELED);
    return NULL;
}

static int main_second(void *arg)
{
    (void)arg;
    cio_task t;
    CHECK_OK(cio_spawn(&t, victim, NULL, NULL));
    /* The same slot as the old handle's task, in a new runtime. */
    CHECK_ERR(cio_cancel(old_handle), CIO_ESRCH);
    CHECK(cio_task_name(old_handle) == NULL);
    CHECK_ERR(cio_detach(old_handle), CIO_ESRCH);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK(!atomic_load(&victim_cancelled));
    return 0;
}

CIO_TEST(handle_from_earlier_runtime_is_stale)
{
    (void)state;
    cio_test_run(main_first, NULL, 1, 0);
    cio_test_run(main_second, NULL, 1, 0);
    cio_test_run(main_second, NULL, 2, 0);
}

/* ---- steady churn reaches a steady size ------------------------------------ */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *nothing(void *arg)
{
    (void)arg;
    return NULL;
}

struct churn {
    int rounds, per_round;
    uint32_t chunks[16];
    long rss[16];
};

static uint64_t live(void)
{
    cio_stats s;
    cio_stats_get(&s);
    return s.tasks_live;
}

static int main_churn(void *arg)
{
    struct churn *c = arg;
    struct cio__runtime *rt = atomic_load(&cio__rt);
    /* Main spawns on worker 0, worker 1 runs and ends every task (an
     * accept loop and the workers that serve its connections). */
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    for (int r = 0; r < c->rounds; r++) {
        for (int i = 0; i < c->per_round; i++) {
            CHECK_OK(cio_spawn(NULL, nothing, NULL, &o));
            /* At most a few thousand alive: the table needs no more. */
            while (i % 256 == 0 && live() > 4096)
                cio_sleep_until(cio_deadline_after(MS / 10));
        }
        /* Every task of the round finishes before the next starts. */
        while (live() > 1)
            cio_sleep_until(cio_deadline_after(MS));
        c->chunks[r] = atomic_load(&rt->nchunks);
        c->rss[r] = rss_kib();
    }
    return 0;
}

CIO_TEST(task_table_reaches_plateau_under_churn)
{
    (void)state;
    struct churn c = {.rounds = 6,
                      .per_round = cio_test_sanitized() || emulated() ? 20000
                                                                      : 200000};
    cio_test_run(main_churn, &c, 2, 0);
    for (int r = 0; r < c.rounds; r++)
        printf("round %d: %u chunks, rss %ld KiB\n", r, c.chunks[r], c.rss[r]);
    /* The table may grow while the free lists settle, then not at all:
     * before the fix it grew by about a chunk per 1,024 tasks, every
     * round. */
    assert_true(c.chunks[c.rounds - 1] <= c.chunks[1] + 2);
    if (!cio_test_sanitized())
        assert_true(c.rss[c.rounds - 1] - c.rss[1] < 8 * 1024);
}

/* ---- bad configuration names its cause ------------------------------------ */

static int must_not_run(void *arg)
{
    (void)arg;
    abort();
}

static int run_with(void *arg)
{
    const cio_config *cfg = arg;
    return cio_run(must_not_run, NULL, cfg) == CIO_EINVAL ? 0 : 1;
}

static void expect_refusal(const cio_config *cfg, const char *env,
                           const char *want)
{
    char said[512];
    if (env)
        setenv("CIO_WORKERS", env, 1);
    int status = cio_test_in_child(run_with, (void *)cfg, said, sizeof said);
    unsetenv("CIO_WORKERS");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("cio_run did not refuse with CIO_EINVAL: %s", said);
    if (!strstr(said, want))
        fail_msg("stderr: '%s', want '%s'", said, want);
}

CIO_TEST(bad_configuration_names_setting_and_value)
{
    (void)state;
    expect_refusal(NULL, "abc",
                   "cio: CIO_WORKERS=abc: expected a whole number of workers "
                   "from 1 to 1024");
    expect_refusal(NULL, "0", "CIO_WORKERS=0: expected");
    cio_config c;
    cio_config_init(&c);
    c.workers = -2;
    expect_refusal(&c, NULL, "cio: cio_config.workers = -2: expected 0");
    cio_config_init(&c);
    c.pool_threads = 5000;
    expect_refusal(&c, NULL, "cio_config.pool_threads = 5000: expected");
    cio_config_init(&c);
    c.stats = 3;
    expect_refusal(&c, NULL, "cio_config.stats = 3: expected 0");
    cio_config_init(&c);
    c.stall_ns = -5;
    expect_refusal(&c, NULL, "cio_config.stall_ns = -5: expected 0");
    cio_config_init(&c);
    c.pool_idle_ns = -1;
    expect_refusal(&c, NULL, "cio_config.pool_idle_ns = -1: expected");
    cio_config_init(&c);
    c.stack_size = 100;
    expect_refusal(&c, NULL, "cio_config.stack_size = 100: expected");
}

CIO_TEST_MAIN(cmocka_unit_test(any_thread_calls_safe_while_runtime_ends),
              cmocka_unit_test(
                  shutdown_waits_for_tasks_spawned_while_others_exit),
              cmocka_unit_test(handle_from_earlier_runtime_is_stale),
              cmocka_unit_test(task_table_reaches_plateau_under_churn),
              cmocka_unit_test(bad_configuration_names_setting_and_value))
