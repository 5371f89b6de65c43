/* Per-worker figures: the four times add up to the worker's life, running
 * time covers a task that spins, asleep time covers idling, counts move,
 * and the accounting can be switched off. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "harness.h"

#define MS 1000000LL

static int64_t total(const cio_worker_stats *s)
{
    return s->run_ns + s->sched_ns + s->poll_ns + s->park_ns;
}

static void *spin(void *arg)
{
    int64_t end = cio_now() + (int64_t)(intptr_t)arg;
    while (cio_now() < end)
        ; /* a hog: never waits */
    return NULL;
}

static int main_spin_and_sleep(void *arg)
{
    (void)arg;
    /* Over an interval both workers live through, each one's four times
     * grow by the interval's length: every moment is in one of them. */
    cio_worker_stats a[2], b[2];
    /* Worker 1's loop may not have begun yet: wait until it has. */
    do {
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
        CHECK_OK(cio_worker_stats_get(1, &a[1]));
    } while (total(&a[1]) == 0);
    int64_t t1 = cio_now();
    for (int w = 0; w < 2; w++)
        CHECK_OK(cio_worker_stats_get(w, &a[w]));
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, spin, (void *)(intptr_t)(150 * MS), &o));
    /* Main, on worker 0, sleeps: that worker has nothing to run. */
    CHECK_OK(cio_sleep_until(cio_deadline_after(200 * MS)));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    for (int w = 0; w < 2; w++)
        CHECK_OK(cio_worker_stats_get(w, &b[w]));
    int64_t span = cio_now() - t1;
    for (int w = 0; w < 2; w++) {
        int64_t grew = total(&b[w]) - total(&a[w]);
        if (grew > span + span / 20 || grew < span - span / 20)
            cio_test_fail(__FILE__, __LINE__,
                          "worker %d: times grew by %lld ns over %lld ns", w,
                          (long long)grew, (long long)span);
    }
    /* The spinner's 150 ms were worker 1's, counted while running too. */
    CHECK(b[1].run_ns - a[1].run_ns >= 140 * MS);
    /* ... and one turn of 150 ms: 2^17 to 2^18 us. */
    CHECK(b[1].turns[17] - a[1].turns[17] == 1);
    for (int w = 0; w < 2; w++) {
        uint64_t turns = 0;
        for (int i = 0; i < CIO_TURN_BUCKETS; i++)
            turns += b[w].turns[i] - a[w].turns[i];
        /* A turn runs one task or more: never more turns than runs. */
        CHECK(turns >= 1 && turns <= b[w].tasks_run - a[w].tasks_run);
    }
    return 0;
}

CIO_TEST(worker_times_add_up_and_cover_what_happened)
{
    (void)state;
    int64_t t0 = cio_now();
    cio_test_run(main_spin_and_sleep, NULL, 2, 0);
    int64_t wall = cio_now() - t0;
    for (int w = 0; w < 2; w++) {
        cio_worker_stats s;
        assert_int_equal(cio_worker_stats_get(w, &s), 0);
        /* The last runtime's figures, kept at its end: no more than it
         * lived (its start and end, slow under emulation, are outside
         * the workers' loops). */
        if (total(&s) > wall)
            fail_msg("worker %d: %lld ns in all, runtime lived %lld ns", w,
                     (long long)total(&s), (long long)wall);
        assert_true(s.tasks_run >= 1);
    }
    cio_worker_stats w0, w1;
    assert_int_equal(cio_worker_stats_get(0, &w0), 0);
    assert_int_equal(cio_worker_stats_get(1, &w1), 0);
    /* The spinner's 150 ms were worker 1's; main slept on worker 0, which
     * was idle: asleep, or looking for work before it sleeps (a search
     * that yields its CPU between looks, and so can last long when the
     * machine is loaded, as under emulation with tests in parallel). */
    if (w1.run_ns < 140 * MS || w0.park_ns + w0.sched_ns < 100 * MS ||
        w0.run_ns >= 50 * MS)
        fail_msg("worker 0: run %lld sched %lld poll %lld park %lld ns; "
                 "worker 1: run %lld ns",
                 (long long)w0.run_ns, (long long)w0.sched_ns,
                 (long long)w0.poll_ns, (long long)w0.park_ns,
                 (long long)w1.run_ns);
}

/* ---- counts ------------------------------------------------------------------ */

static void *wait_for_thread(void *arg)
{
    cio_chan *c = arg;
    int v;
    CHECK_OK(cio_chan_recv(c, &v, CIO_NEVER));
    return NULL;
}

static void *thread_sends(void *arg)
{
    int v = 1;
    if (cio_chan_send(arg, &v, CIO_NEVER) != 0)
        abort();
    return NULL;
}

static int main_counts(void *arg)
{
    (void)arg;
    cio_worker_stats before, after;
    CHECK_OK(cio_worker_stats_get(0, &before));
    cio_chan *c;
    CHECK_OK(cio_chan_make(&c, sizeof(int), 0));
    cio_task t;
    CHECK_OK(cio_spawn(&t, wait_for_thread, c, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_sends, c) == 0);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    pthread_join(th, NULL);
    CHECK_OK(cio_chan_free(&c));
    /* Tasks spawned and not yet run are queued on the worker, up to its
     * ring's size (the rest wait in the global queue, nobody's). */
    CHECK_OK(cio_worker_stats_get(0, &after));
    CHECK_EQ(after.queued, 0);
    for (int i = 0; i < 3; i++)
        CHECK_OK(cio_spawn(NULL, spin, (void *)0, NULL));
    CHECK_OK(cio_worker_stats_get(0, &after));
    CHECK_EQ(after.queued, 3);
    /* The plain thread's wake arrived through the worker's inbox. */
    CHECK(after.wakes_received > before.wakes_received);
    CHECK(after.tasks_run > before.tasks_run);
    return 0;
}

CIO_TEST(worker_counts_move)
{
    (void)state;
    cio_test_run(main_counts, NULL, 1, 0);
}

/* ---- off, and bad input ---------------------------------------------------------- */

static int main_short_spin(void *arg)
{
    (void)arg;
    cio_task t;
    CHECK_OK(cio_spawn(&t, spin, (void *)(intptr_t)(20 * MS), NULL));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(worker_times_can_be_switched_off)
{
    (void)state;
    cio_worker_stats s;
    /* Nothing has run yet in this process. */
    ASSERT_ERR(cio_worker_stats_get(0, &s), CIO_ESRCH);
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 1;
    cfg.stats = -1;
    cio_test_run_cfg(main_short_spin, NULL, &cfg, 0);
    assert_int_equal(cio_worker_stats_get(0, &s), 0);
    assert_true(total(&s) == 0);
    for (int i = 0; i < CIO_TURN_BUCKETS; i++)
        assert_true(s.turns[i] == 0);
    assert_true(s.tasks_run >= 2); /* the counts stay on */
    cfg.stats = 1;
    cio_test_run_cfg(main_short_spin, NULL, &cfg, 0);
    assert_int_equal(cio_worker_stats_get(0, &s), 0);
    assert_true(s.run_ns >= 15 * MS);
    /* $CIO_STATS=0 switches it off when the field says "choose". */
    setenv("CIO_STATS", "0", 1);
    cfg.stats = 0;
    cio_test_run_cfg(main_short_spin, NULL, &cfg, 0);
    assert_int_equal(cio_worker_stats_get(0, &s), 0);
    assert_true(total(&s) == 0);
    unsetenv("CIO_STATS");
    /* Bad input. */
    cfg.stats = 3;
    assert_int_equal(cio_run(main_short_spin, NULL, &cfg), CIO_EINVAL);
    ASSERT_ERR(cio_worker_stats_get(0, NULL), CIO_EINVAL);
    ASSERT_ERR(cio_worker_stats_get(-1, &s), CIO_EINVAL);
    ASSERT_ERR(cio_worker_stats_get(1, &s), CIO_EINVAL);
}

CIO_TEST_MAIN(cmocka_unit_test(worker_times_add_up_and_cover_what_happened),
              cmocka_unit_test(worker_counts_move),
              cmocka_unit_test(worker_times_can_be_switched_off))
