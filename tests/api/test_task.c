/* Tasks through the public API: spawn, join, detach, yield order, bad
 * input. */
#include <stdatomic.h>
#include <string.h>

#include "harness.h"

static void *ret_arg_times_2(void *arg)
{
    return (void *)((intptr_t)arg * 2);
}

static int main_spawn_join(void *arg)
{
    (void)arg;
    cio_task t[16];
    for (int i = 0; i < 16; i++)
        CHECK_OK(cio_spawn(&t[i], ret_arg_times_2, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < 16; i++) {
        void *r = NULL;
        CHECK_OK(cio_join(t[i], &r, CIO_NEVER));
        CHECK_EQ((intptr_t)r, 2 * i);
    }
    return 3;
}

CIO_TEST(spawn_join_result)
{
    (void)state;
    cio_test_run(main_spawn_join, NULL, 2, 3);
}

static atomic_int detached_ran;

static void *bump(void *arg)
{
    (void)arg;
    atomic_fetch_add(&detached_ran, 1);
    return NULL;
}

static void *sleep_ms(void *arg)
{
    cio_sleep_until(cio_deadline_after((intptr_t)arg * 1000000));
    return arg;
}

static int main_detached(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        CHECK_OK(cio_spawn(NULL, bump, NULL, NULL));
    while (atomic_load(&detached_ran) < 100)
        CHECK_OK(cio_sleep_until(cio_deadline_after(100000)));
    cio_task t;
    CHECK_OK(cio_spawn(&t, sleep_ms, (void *)5, NULL));
    CHECK_OK(cio_detach(t));
    CHECK_ERR(cio_detach(t), CIO_EINVAL);
    CHECK_ERR(cio_join(t, NULL, CIO_NEVER), CIO_EINVAL);
    return 0;
}

CIO_TEST(spawn_detached)
{
    (void)state;
    cio_test_run(main_detached, NULL, 2, 0);
    assert_int_equal(atomic_load(&detached_ran), 100);
}

static cio_task joinee;

static void *first_joiner(void *arg)
{
    (void)arg;
    void *r = NULL;
    CHECK_OK(cio_join(joinee, &r, CIO_NEVER));
    return r;
}

static int main_join_errors(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_join((cio_task){0}, NULL, CIO_NEVER), CIO_ESRCH);
    CHECK_ERR(cio_join(cio_self(), NULL, CIO_NEVER), CIO_EDEADLK);
    CHECK_ERR(cio_detach((cio_task){0}), CIO_ESRCH);
    CHECK_ERR(cio_cancel((cio_task){0}), CIO_ESRCH);
    CHECK(cio_task_name((cio_task){0}) == NULL);

    cio_task t;
    CHECK_OK(cio_spawn(&t, ret_arg_times_2, (void *)1, NULL));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    /* Joined: the handle is stale, whatever reuses the slot. */
    CHECK_ERR(cio_join(t, NULL, CIO_NEVER), CIO_ESRCH);
    CHECK_ERR(cio_detach(t), CIO_ESRCH);
    CHECK_ERR(cio_cancel(t), CIO_ESRCH);
    cio_task reuse;
    CHECK_OK(cio_spawn(&reuse, ret_arg_times_2, (void *)1, NULL));
    CHECK_ERR(cio_join(t, NULL, CIO_NEVER), CIO_ESRCH);
    CHECK_OK(cio_join(reuse, NULL, CIO_NEVER));

    /* A second joiner while the first waits. */
    CHECK_OK(cio_spawn(&joinee, sleep_ms, (void *)20, NULL));
    cio_task first;
    void *r;
    CHECK_OK(cio_spawn(&first, first_joiner, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(1000000)));
    CHECK_ERR(cio_join(joinee, &r, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_detach(joinee), CIO_EINVAL);
    CHECK_OK(cio_join(first, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 20);
    return 0;
}

CIO_TEST(join_errors)
{
    (void)state;
    cio_test_run(main_join_errors, NULL, 1, 0);
}

static int main_join_timeout(void *arg)
{
    (void)arg;
    cio_task t;
    CHECK_OK(cio_spawn(&t, sleep_ms, (void *)50, NULL));
    int64_t start = cio_now();
    CHECK_ERR(cio_join(t, NULL, cio_deadline_after(5000000)), CIO_ETIMEDOUT);
    CHECK(cio_now() - start >= 5000000);
    /* A deadline already passed does not wait at all. */
    CHECK_ERR(cio_join(t, NULL, 0), CIO_ETIMEDOUT);
    void *r;
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 50);
    return 0;
}

CIO_TEST(join_timeout_then_join)
{
    (void)state;
    cio_test_run(main_join_timeout, NULL, 2, 0);
}

static char log_buf[64];
static int log_len;

static void *yielder(void *arg)
{
    for (int i = 0; i < 3; i++) {
        log_buf[log_len++] = (char)(intptr_t)arg;
        CHECK_OK(cio_yield());
    }
    return NULL;
}

static int main_yield_order(void *arg)
{
    (void)arg;
    cio_task t[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(cio_spawn(&t[i], yielder, (void *)(intptr_t)('A' + i), NULL));
    for (int i = 0; i < 3; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(yield_order_one_worker)
{
    (void)state;
    cio_test_run(main_yield_order, NULL, 1, 0);
    log_buf[log_len] = 0;
    assert_string_equal(log_buf, "ABCABCABC");
}

static int main_bad_input(void *arg)
{
    (void)arg;
    cio_task t = {42};
    CHECK_ERR(cio_spawn(&t, NULL, NULL, NULL), CIO_EINVAL);
    CHECK_EQ(t.id, 0);
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.stack_size = CIO_STACK_MIN - 1;
    CHECK_ERR(cio_spawn(&t, bump, NULL, &o), CIO_EINVAL);
    o.stack_size = (size_t)CIO_STACK_MAX + 1;
    CHECK_ERR(cio_spawn(&t, bump, NULL, &o), CIO_EINVAL);
    o.stack_size = 0;
    o.flags = CIO_SPAWN_PIN;
    o.worker = 2;
    CHECK_ERR(cio_spawn(&t, bump, NULL, &o), CIO_EINVAL);
    o.worker = -1;
    CHECK_ERR(cio_spawn(&t, bump, NULL, &o), CIO_EINVAL);
    o.flags = 1u << 7;
    o.worker = 0;
    CHECK_ERR(cio_spawn(&t, bump, NULL, &o), CIO_EINVAL);
    /* One runtime at a time. */
    CHECK_ERR(cio_run(main_bad_input, NULL, NULL), CIO_EBUSY);
    CHECK_EQ(cio_workers(), 2);
    CHECK(cio_worker() >= 0 && cio_worker() < 2);
    return 0;
}

static int never_runs(void *arg)
{
    (void)arg;
    abort();
}

CIO_TEST(bad_input)
{
    (void)state;
    cio_test_run(main_bad_input, NULL, 2, 0);

    /* Outside a task. */
    cio_task t = {0};
    ASSERT_ERR(cio_spawn(&t, ret_arg_times_2, NULL, NULL), CIO_EPERM);
    ASSERT_ERR(cio_join(t, NULL, CIO_NEVER), CIO_EPERM);
    ASSERT_ERR(cio_detach(t), CIO_EPERM);
    ASSERT_ERR(cio_cancel(t), CIO_EPERM);
    ASSERT_ERR(cio_yield(), CIO_EPERM);
    ASSERT_ERR(cio_sleep_until(0), CIO_EPERM);
    ASSERT_ERR(cio_worker(), CIO_EPERM);
    ASSERT_ERR(cio_workers(), CIO_EPERM);
    assert_int_equal(cio_self().id, 0);
    assert_int_equal(cio_cancelled(), 0);

    /* Bad runtime settings. */
    ASSERT_ERR(cio_run(NULL, NULL, NULL), CIO_EINVAL);
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = -1;
    ASSERT_ERR(cio_run(never_runs, NULL, &cfg), CIO_EINVAL);
    cfg.workers = 100000;
    ASSERT_ERR(cio_run(never_runs, NULL, &cfg), CIO_EINVAL);
    cfg.workers = 1;
    cfg.stack_size = 100;
    ASSERT_ERR(cio_run(never_runs, NULL, &cfg), CIO_EINVAL);
    cio_config_init(&cfg);
    setenv("CIO_WORKERS", "two", 1);
    ASSERT_ERR(cio_run(never_runs, NULL, &cfg), CIO_EINVAL);
    setenv("CIO_WORKERS", "0", 1);
    ASSERT_ERR(cio_run(never_runs, NULL, &cfg), CIO_EINVAL);
    unsetenv("CIO_WORKERS");
}

static int main_workers_env(void *arg)
{
    (void)arg;
    return cio_workers();
}

CIO_TEST(workers_from_env)
{
    (void)state;
    setenv("CIO_WORKERS", "3", 1);
    cio_test_run(main_workers_env, NULL, 0, 3);
    unsetenv("CIO_WORKERS");
}

static void *where_am_i(void *arg)
{
    int want = (int)(intptr_t)arg;
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(cio_worker(), want);
        CHECK_OK(cio_yield());
        CHECK_OK(cio_sleep_until(i % 10 ? 0 : cio_deadline_after(10000)));
    }
    return NULL;
}

static void *stays_home(void *arg)
{
    (void)arg;
    int home = cio_worker();
    for (int i = 0; i < 200; i++) {
        CHECK_OK(cio_yield());
        if (i % 20 == 0)
            CHECK_OK(cio_sleep_until(cio_deadline_after(20000)));
        CHECK_EQ(cio_worker(), home);
    }
    return NULL;
}

static int main_placement(void *arg)
{
    (void)arg;
    cio_task t[2], u[16];
    for (int w = 0; w < 2; w++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = CIO_SPAWN_PIN;
        o.worker = w;
        CHECK_OK(cio_spawn(&t[w], where_am_i, (void *)(intptr_t)w, &o));
    }
    for (int i = 0; i < 16; i++)
        CHECK_OK(cio_spawn(&u[i], stays_home, NULL, NULL));
    for (int w = 0; w < 2; w++)
        CHECK_OK(cio_join(t[w], NULL, CIO_NEVER));
    for (int i = 0; i < 16; i++)
        CHECK_OK(cio_join(u[i], NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(pinned_and_home_workers)
{
    (void)state;
    cio_test_run(main_placement, NULL, 2, 0);
}

static int main_names(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "worker-bee";
    cio_task t, u;
    CHECK_OK(cio_spawn(&t, sleep_ms, (void *)1, &o));
    CHECK_OK(cio_spawn(&u, sleep_ms, (void *)1, NULL));
    CHECK(strcmp(cio_task_name(t), "worker-bee") == 0);
    CHECK(strcmp(cio_task_name(u), "task") == 0);
    CHECK(strcmp(cio_task_name(cio_self()), "main") == 0);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_join(u, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(task_names)
{
    (void)state;
    cio_test_run(main_names, NULL, 1, 0);
}

/* A slot's former task leaves nothing its next task could see: the name,
 * task-local values, an unfinished shield, a lazily kept timer entry and
 * the figures of its waits all live in the slot's side (core/task.h),
 * which a spawn into the slot must zero. */
static cio_key reuse_key;
static atomic_int reuse_long_sleep;

static void *former(void *arg)
{
    (void)arg;
    cio_shield sh;
    CHECK_OK(cio_key_set(reuse_key, (void *)0x5eed));
    CHECK_OK(cio_sleep_until(cio_deadline_after(1000000)));
    /* Armed for 200 ms, left armed when it ends (a lazily kept entry). */
    CHECK_OK(cio_shield_begin(&sh, cio_deadline_after(200 * 1000000LL)));
    CHECK_OK(cio_sleep_until(cio_deadline_after(1000000)));
    return NULL; /* still in the shield */
}

static void *next_in_slot(void *arg)
{
    if ((uint32_t)cio_self().id != *(uint32_t *)arg)
        return NULL; /* another slot: not the case */
    CHECK(cio_key_get(reuse_key) == NULL);
    /* Its own timed wait works on the slot's timer entry. */
    CHECK_OK(cio_sleep_until(cio_deadline_after(1000000)));
    /* Not in the former task's shield: a cancel ends this wait. */
    atomic_store(&reuse_long_sleep, 1);
    CHECK_ERR(cio_sleep_until(cio_deadline_after(5 * 1000000000LL)),
              CIO_ECANCELED);
    return (void *)1;
}

static int main_slot_reuse(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "former";
    CHECK_OK(cio_key_create(&reuse_key, NULL));
    cio_task a, b;
    CHECK_OK(cio_spawn(&a, former, NULL, &o));
    uint32_t slot = (uint32_t)a.id;
    CHECK_OK(cio_join(a, NULL, CIO_NEVER));
    /* Freed slots are reused oldest first: spawn until it comes back. */
    int tries = 0;
    for (;;) {
        CHECK_OK(cio_spawn(&b, next_in_slot, &slot, NULL));
        if ((uint32_t)b.id == slot)
            break;
        CHECK_OK(cio_join(b, NULL, CIO_NEVER));
        CHECK(++tries < 100000);
    }
    CHECK(strcmp(cio_task_name(b), "task") == 0);
    while (!atomic_load(&reuse_long_sleep))
        CHECK_OK(cio_sleep_until(cio_deadline_after(1000000)));
    cio_test_until_waiting(b, CIO_WAIT_TIMER);
    CHECK_OK(cio_cancel(b));
    void *r = NULL;
    int64_t t0 = cio_now();
    CHECK_OK(cio_join(b, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 1);
    CHECK(cio_now() - t0 < 2 * 1000000000LL);
    CHECK_OK(cio_key_delete(reuse_key));
    return 0;
}

CIO_TEST(slot_reuse_shows_nothing_of_the_former_task)
{
    (void)state;
    cio_test_run(main_slot_reuse, NULL, 1, 0);
}

#define MANY 100000

static void *square(void *arg)
{
    intptr_t i = (intptr_t)arg;
    return (void *)(i * i);
}

static int main_many(void *arg)
{
    (void)arg;
    cio_task *t = malloc(MANY * sizeof *t);
    CHECK(t);
    for (intptr_t i = 0; i < MANY; i++)
        CHECK_OK(cio_spawn(&t[i], square, (void *)i, NULL));
    for (intptr_t i = 0; i < MANY; i++) {
        void *r;
        CHECK_OK(cio_join(t[i], &r, CIO_NEVER));
        CHECK_EQ((intptr_t)r, i * i);
    }
    free(t);
    cio_stats s;
    cio_stats_get(&s);
    CHECK(s.tasks_spawned >= MANY);
    return 0;
}

CIO_TEST(many_tasks_across_workers)
{
    (void)state;
    cio_test_run(main_many, NULL, 2, 0);
    cio_stats s;
    cio_stats_get(&s);
    assert_int_equal(s.tasks_finished, MANY + 1);
    assert_int_equal(s.workers, 2);
}

CIO_TEST_MAIN(cmocka_unit_test(spawn_join_result),
              cmocka_unit_test(spawn_detached),
              cmocka_unit_test(join_errors),
              cmocka_unit_test(join_timeout_then_join),
              cmocka_unit_test(yield_order_one_worker),
              cmocka_unit_test(bad_input),
              cmocka_unit_test(workers_from_env),
              cmocka_unit_test(pinned_and_home_workers),
              cmocka_unit_test(task_names),
              cmocka_unit_test(slot_reuse_shows_nothing_of_the_former_task),
              cmocka_unit_test(many_tasks_across_workers))
