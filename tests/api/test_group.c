/* Task groups (wait all, cancel all, first error, deadline, limit, free
 * with live tasks) and shields (cancellation held back for cleanup). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

#define MS 1000000LL

static atomic_int ran, cancelled_seen, cleaned, inside, most_inside;

static void reset(void)
{
    atomic_store(&ran, 0);
    atomic_store(&cancelled_seen, 0);
    atomic_store(&cleaned, 0);
    atomic_store(&inside, 0);
    atomic_store(&most_inside, 0);
}

static int sleep_200ms(void *arg)
{
    (void)arg;
    return cio_sleep_until(cio_deadline_after(200 * MS));
}

static int short_job(void *arg)
{
    (void)arg;
    int now = atomic_fetch_add(&inside, 1) + 1;
    int most = atomic_load(&most_inside);
    while (now > most &&
           !atomic_compare_exchange_weak(&most_inside, &most, now))
        ;
    int rc = cio_sleep_until(cio_deadline_after(MS));
    atomic_fetch_sub(&inside, 1);
    atomic_fetch_add(&ran, 1);
    return rc;
}

static int sleep_forever(void *arg)
{
    (void)arg;
    int rc = cio_sleep_until(CIO_NEVER);
    CHECK_ERR(rc, CIO_ECANCELED);
    atomic_fetch_add(&cancelled_seen, 1);
    return rc;
}

static int fail_soon(void *arg)
{
    CHECK_OK(cio_sleep_until(cio_deadline_after(3 * MS)));
    return (int)(intptr_t)arg;
}

/* ---- wait all, cancel all ---------------------------------------------- */

static int main_wait_all(void *arg)
{
    (void)arg;
    reset();
    cio_group *g;
    CHECK_OK(cio_group_make(&g, NULL));
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = i % 2 ? CIO_SPAWN_MIGRATE : 0;
        CHECK_OK(cio_group_spawn(g, short_job, NULL, &o));
    }
    CHECK(cio_group_live(g) > 0);
    /* Freeing with live tasks is refused and changes nothing. */
    CHECK_ERR(cio_group_free(&g), CIO_EBUSY);
    CHECK(g != NULL);
    CHECK_OK(cio_group_wait(g, CIO_NEVER));
    CHECK_EQ(atomic_load(&ran), N);
    CHECK_EQ(cio_group_live(g), 0);
    /* A group may be used again after a wait. The task sleeps long
     * enough that a wait with a passed deadline surely finds it alive
     * (a 1 ms one could end first under emulation). */
    CHECK_OK(cio_group_spawn(g, sleep_200ms, NULL, NULL));
    CHECK_ERR(cio_group_wait(g, cio_deadline_after(0)), CIO_ETIMEDOUT);
    CHECK_OK(cio_group_wait(g, CIO_NEVER));
    CHECK_OK(cio_group_free(&g));
    CHECK(g == NULL);
    return 0;
}

CIO_TEST(group_waits_for_all_its_tasks)
{
    (void)state;
    cio_test_run(main_wait_all, NULL, 2, 0);
}

static int main_cancel_all(void *arg)
{
    (void)arg;
    reset();
    cio_group *g;
    CHECK_OK(cio_group_make(&g, NULL));
    for (int i = 0; i < 50; i++)
        CHECK_OK(cio_group_spawn(g, sleep_forever, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
    CHECK_OK(cio_group_cancel(g));
    CHECK_ERR(cio_group_wait(g, CIO_NEVER), CIO_ECANCELED);
    CHECK_EQ(atomic_load(&cancelled_seen), 50);
    /* A cancelled group spawns nothing more. */
    CHECK_ERR(cio_group_spawn(g, short_job, NULL, NULL), CIO_ECANCELED);
    CHECK_OK(cio_group_free(&g));
    return 0;
}

CIO_TEST(group_cancel_cancels_every_task)
{
    (void)state;
    cio_test_run(main_cancel_all, NULL, 2, 0);
}

/* ---- first error ----------------------------------------------------------- */

static int main_fail_fast(void *arg)
{
    (void)arg;
    reset();
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.flags = CIO_GROUP_FAIL_FAST;
    cio_group *g;
    CHECK_OK(cio_group_make(&g, &o));
    for (int i = 0; i < 20; i++)
        CHECK_OK(cio_group_spawn(g, sleep_forever, NULL, NULL));
    CHECK_OK(cio_group_spawn(g, fail_soon, (void *)(intptr_t)CIO_EIO, NULL));
    /* The first error is the group's; the rest were cancelled by it. */
    CHECK_ERR(cio_group_wait(g, cio_deadline_after(5000 * MS)), CIO_EIO);
    CHECK_EQ(atomic_load(&cancelled_seen), 20);
    CHECK_ERR(cio_group_spawn(g, short_job, NULL, NULL), CIO_EIO);
    CHECK_OK(cio_group_free(&g));

    /* Without the flag an error is reported but cancels nothing. */
    reset();
    CHECK_OK(cio_group_make(&g, NULL));
    for (int i = 0; i < 10; i++)
        CHECK_OK(cio_group_spawn(g, short_job, NULL, NULL));
    CHECK_OK(cio_group_spawn(g, fail_soon, (void *)(intptr_t)CIO_EPIPE,
                             NULL));
    CHECK_ERR(cio_group_wait(g, CIO_NEVER), CIO_EPIPE);
    CHECK_EQ(atomic_load(&ran), 10);
    CHECK_OK(cio_group_free(&g));
    return 0;
}

CIO_TEST(group_first_error_cancels_the_rest)
{
    (void)state;
    cio_test_run(main_fail_fast, NULL, 2, 0);
}

/* ---- deadline and limit ----------------------------------------------------- */

static int main_deadline(void *arg)
{
    (void)arg;
    reset();
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.deadline = cio_deadline_after(20 * MS);
    cio_group *g;
    CHECK_OK(cio_group_make(&g, &o));
    for (int i = 0; i < 10; i++)
        CHECK_OK(cio_group_spawn(g, sleep_forever, NULL, NULL));
    int64_t t0 = cio_now();
    CHECK_ERR(cio_group_wait(g, CIO_NEVER), CIO_ETIMEDOUT);
    CHECK(cio_now() >= o.deadline);
    CHECK(cio_now() - t0 < 5000 * MS);
    CHECK_EQ(atomic_load(&cancelled_seen), 10);
    CHECK_ERR(cio_group_spawn(g, short_job, NULL, NULL), CIO_ETIMEDOUT);
    CHECK_OK(cio_group_free(&g));

    /* A group done before its deadline frees at once; its deadline task
     * ends with it (the teardown check sees no task left). */
    o.deadline = cio_deadline_after(60000 * MS);
    CHECK_OK(cio_group_make(&g, &o));
    CHECK_OK(cio_group_spawn(g, short_job, NULL, NULL));
    CHECK_OK(cio_group_wait(g, CIO_NEVER));
    CHECK_OK(cio_group_free(&g));
    return 0;
}

CIO_TEST(group_deadline_cancels_the_group)
{
    (void)state;
    cio_test_run(main_deadline, NULL, 2, 0);
}

static int main_limit(void *arg)
{
    (void)arg;
    reset();
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.limit = 3;
    cio_group *g;
    CHECK_OK(cio_group_make(&g, &o));
    for (int i = 0; i < 30; i++) {
        CHECK_OK(cio_group_spawn(g, short_job, NULL, NULL));
        CHECK(cio_group_live(g) <= 3);
    }
    CHECK_OK(cio_group_wait(g, CIO_NEVER));
    CHECK_EQ(atomic_load(&ran), 30);
    CHECK_EQ(atomic_load(&most_inside), 3);
    CHECK_OK(cio_group_free(&g));
    return 0;
}

CIO_TEST(group_limit_bounds_tasks_alive_at_once)
{
    (void)state;
    cio_test_run(main_limit, NULL, 2, 0);
}

/* ---- places handed over at the limit ----------------------------------------- */

static int slow_job(void *arg)
{
    (void)arg;
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    atomic_fetch_add(&ran, 1);
    return 0;
}

struct producer {
    cio_group *g;
    int second_rc;
    bool bad_opts;
};

static void *produce_two(void *arg)
{
    struct producer *p = arg;
    CHECK_OK(cio_group_spawn(p->g, slow_job, NULL, NULL));
    /* At the limit: waits for the first to end. */
    CHECK_OK(cio_group_spawn(p->g, slow_job, NULL, NULL));
    return NULL;
}

/* A place freed at the limit goes to the spawner waiting for it: the
 * group's wait must not end, nor its free succeed, before that spawner
 * has used it (it used to: the spawner then locked a freed group). */
static int main_handover(void *arg)
{
    (void)arg;
    reset();
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.limit = 1;
    cio_group *g;
    CHECK_OK(cio_group_make(&g, &o));
    struct producer p = {.g = g};
    cio_task t;
    CHECK_OK(cio_spawn(&t, produce_two, &p, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(3 * MS)));
    CHECK_OK(cio_group_wait(g, CIO_NEVER));
    CHECK_EQ(atomic_load(&ran), 2);
    CHECK_OK(cio_group_free(&g));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    return 0;
}

static void *spawn_with(void *arg)
{
    struct producer *p = arg;
    cio_spawn_opts so;
    cio_spawn_opts_init(&so);
    if (p->bad_opts)
        so.stack_size = (size_t)1 << 40; /* refused by cio_spawn */
    p->second_rc = cio_group_spawn(p->g, slow_job, NULL, &so);
    return NULL;
}

/* A spawner given a place whose spawn then fails passes the place on: the
 * next spawner in line is not left waiting for a place nobody frees. */
static int main_failed_spawn(void *arg)
{
    (void)arg;
    reset();
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.limit = 1;
    cio_group *g;
    CHECK_OK(cio_group_make(&g, &o));
    CHECK_OK(cio_group_spawn(g, slow_job, NULL, NULL));
    struct producer bad = {.g = g, .bad_opts = true}, good = {.g = g};
    cio_task tb, tg;
    CHECK_OK(cio_spawn(&tb, spawn_with, &bad, NULL));
    CHECK_OK(cio_yield());
    CHECK_OK(cio_spawn(&tg, spawn_with, &good, NULL));
    CHECK_OK(cio_join(tb, NULL, CIO_NEVER));
    CHECK_OK(cio_join(tg, NULL, cio_deadline_after(5000 * MS)));
    CHECK_ERR(bad.second_rc, CIO_EINVAL);
    CHECK_OK(good.second_rc);
    CHECK_OK(cio_group_wait(g, CIO_NEVER));
    CHECK_EQ(atomic_load(&ran), 2);
    CHECK_OK(cio_group_free(&g));
    return 0;
}

CIO_TEST(group_place_at_the_limit_is_handed_over)
{
    (void)state;
    cio_test_run(main_handover, NULL, 1, 0);
    cio_test_run(main_handover, NULL, 2, 0);
    cio_test_run(main_failed_spawn, NULL, 1, 0);
    cio_test_run(main_failed_spawn, NULL, 2, 0);
}

/* ---- a cancelled waiter ---------------------------------------------------- */

/* Cleans up in a shield after the cancel: the group's waiter must not
 * return before this is done. */
static int sleep_then_clean(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    cio_shield s;
    CHECK_OK(cio_shield_begin(&s, cio_deadline_after(1000 * MS)));
    CHECK_OK(cio_sleep_until(cio_deadline_after(3 * MS)));
    CHECK_OK(cio_shield_end(&s));
    atomic_fetch_add(&cleaned, 1);
    return CIO_ECANCELED;
}

static void *parent_main(void *arg)
{
    (void)arg;
    cio_group *g;
    CHECK_OK(cio_group_make(&g, NULL));
    for (int i = 0; i < 10; i++)
        CHECK_OK(cio_group_spawn(g, sleep_then_clean, NULL, NULL));
    CHECK_ERR(cio_group_wait(g, CIO_NEVER), CIO_ECANCELED);
    CHECK_EQ(atomic_load(&cleaned), 10);
    CHECK_OK(cio_group_free(&g));
    return NULL;
}

/* Main: runs `arg` (a parent task's body), cancels it 3 ms in, joins it. */
static int main_cancel_parent(void *arg)
{
    reset();
    cio_task p;
    CHECK_OK(cio_spawn(&p, (cio_task_fn *)arg, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(3 * MS)));
    CHECK_OK(cio_cancel(p));
    CHECK_OK(cio_join(p, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(cancelled_waiter_cancels_its_group_and_waits)
{
    (void)state;
    cio_test_run(main_cancel_parent, (void *)parent_main, 2, 0);
}

/* A task that cleans up for longer than its group's waiter may wait. */
static int stubborn(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    cio_shield s;
    CHECK_OK(cio_shield_begin(&s, CIO_NEVER));
    CHECK_OK(cio_sleep_until(cio_deadline_after(100 * MS)));
    CHECK_OK(cio_shield_end(&s));
    atomic_fetch_add(&cleaned, 1);
    return 0;
}

static void *impatient_parent(void *arg)
{
    (void)arg;
    cio_group *g;
    CHECK_OK(cio_group_make(&g, NULL));
    CHECK_OK(cio_group_spawn(g, stubborn, NULL, NULL));
    /* Cancelled while waiting: the group is cancelled, the wait goes on
     * to its deadline, which passes with the task still cleaning up. */
    CHECK_ERR(cio_group_wait(g, cio_deadline_after(30 * MS)), CIO_ETIMEDOUT);
    CHECK_EQ(atomic_load(&cleaned), 0);
    CHECK_ERR(cio_group_free(&g), CIO_EBUSY);
    CHECK_ERR(cio_group_wait(g, CIO_NEVER), CIO_ECANCELED);
    CHECK_EQ(atomic_load(&cleaned), 1);
    CHECK_OK(cio_group_free(&g));
    return NULL;
}

CIO_TEST(cancelled_waiter_reports_its_deadline)
{
    (void)state;
    cio_test_run(main_cancel_parent, (void *)impatient_parent, 2, 0);
}

static int main_group_bad(void *arg)
{
    (void)arg;
    cio_group *g;
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.flags = 1u << 7;
    CHECK_ERR(cio_group_make(&g, &o), CIO_EINVAL);
    cio_group_opts_init(&o);
    o.limit = -1;
    CHECK_ERR(cio_group_make(&g, &o), CIO_EINVAL);
    CHECK_OK(cio_group_make(&g, NULL));
    CHECK_ERR(cio_group_spawn(g, NULL, NULL, NULL), CIO_EINVAL);
    CHECK_ERR(cio_group_spawn(NULL, short_job, NULL, NULL), CIO_EINVAL);
    cio_spawn_opts so;
    cio_spawn_opts_init(&so);
    so.stack_size = (size_t)1 << 40;
    CHECK_ERR(cio_group_spawn(g, short_job, NULL, &so), CIO_EINVAL);
    CHECK_EQ(cio_group_live(g), 0);
    CHECK_ERR(cio_group_wait(NULL, 0), CIO_EINVAL);
    CHECK_ERR(cio_group_cancel(NULL), CIO_EINVAL);
    CHECK_OK(cio_group_free(&g));
    CHECK_ERR(cio_group_free(&g), CIO_EINVAL);
    return 0;
}

CIO_TEST(group_bad_input_is_refused)
{
    (void)state;
    cio_test_run(main_group_bad, NULL, 1, 0);
    cio_group *g;
    ASSERT_ERR(cio_group_make(NULL, NULL), CIO_EINVAL);
    cio_group_opts o;
    cio_group_opts_init(&o);
    o.deadline = cio_deadline_after(MS);
    ASSERT_ERR(cio_group_make(&g, &o), CIO_EPERM);
    assert_int_equal(cio_group_make(&g, NULL), 0);
    ASSERT_ERR(cio_group_spawn(g, short_job, NULL, NULL), CIO_EPERM);
    ASSERT_ERR(cio_group_wait(g, 0), CIO_EPERM);
    assert_int_equal(cio_group_free(&g), 0);
}

/* ---- shields ---------------------------------------------------------------- */

struct shielded {
    cio_chan *c;
    atomic_int phase;
};

static void *shield_main(void *arg)
{
    struct shielded *s = arg;
    cio_shield sh;
    CHECK_OK(cio_shield_begin(&sh, CIO_NEVER));
    atomic_store(&s->phase, 1);
    /* Cancelled while parked here: the cancel neither wakes nor ends the
     * wait; the element sent later arrives. */
    int v = 0;
    CHECK_OK(cio_chan_recv(s->c, &v, CIO_NEVER));
    CHECK_EQ(v, 42);
    CHECK_EQ(cio_cancelled(), 1);
    CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    CHECK_OK(cio_shield_end(&sh));
    /* Outside the shield the cancel applies at the next wait. */
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    CHECK_ERR(cio_chan_recv(s->c, &v, CIO_NEVER), CIO_ECANCELED);
    return NULL;
}

static int main_shield(void *arg)
{
    (void)arg;
    struct shielded s = {0};
    CHECK_OK(cio_chan_make(&s.c, sizeof(int), 0));
    cio_task t;
    CHECK_OK(cio_spawn(&t, shield_main, &s, NULL));
    while (atomic_load(&s.phase) == 0)
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS / 10)));
    CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
    CHECK_OK(cio_cancel(t));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    int v = 42;
    CHECK_OK(cio_chan_send(s.c, &v, cio_deadline_after(5000 * MS)));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_chan_free(&s.c));
    return 0;
}

CIO_TEST(shield_holds_back_a_cancel_until_it_ends)
{
    (void)state;
    cio_test_run(main_shield, NULL, 2, 0);
    cio_test_run(main_shield, NULL, 1, 0);
}

static void *shield_deadline_main(void *arg)
{
    cio_chan *c = arg;
    CHECK_OK(cio_cancel(cio_self()));
    cio_shield outer, inner;
    int64_t t0 = cio_now();
    CHECK_OK(cio_shield_begin(&outer, cio_deadline_after(20 * MS)));
    /* Every wait ends by the shield's deadline, whatever its own. */
    int v;
    CHECK_ERR(cio_chan_recv(c, &v, CIO_NEVER), CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 >= 20 * MS);
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ETIMEDOUT);
    CHECK_ERR(cio_sleep_until(cio_deadline_after(10000 * MS)), CIO_ETIMEDOUT);
    /* An inner shield cannot outlast the outer one. */
    CHECK_OK(cio_shield_begin(&inner, CIO_NEVER));
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ETIMEDOUT);
    /* Ends innermost first. */
    CHECK_ERR(cio_shield_end(&outer), CIO_EINVAL);
    CHECK_OK(cio_shield_end(&inner));
    CHECK_ERR(cio_shield_end(&inner), CIO_EINVAL);
    CHECK_OK(cio_shield_end(&outer));
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    return NULL;
}

static int main_shield_deadline(void *arg)
{
    (void)arg;
    cio_chan *c;
    CHECK_OK(cio_chan_make(&c, sizeof(int), 1));
    cio_task t;
    CHECK_OK(cio_spawn(&t, shield_deadline_main, c, NULL));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_chan_free(&c));
    CHECK_ERR(cio_shield_begin(NULL, 0), CIO_EINVAL);
    CHECK_ERR(cio_shield_end(NULL), CIO_EINVAL);
    return 0;
}

CIO_TEST(shield_deadline_bounds_every_wait_inside)
{
    (void)state;
    cio_test_run(main_shield_deadline, NULL, 2, 0);
    cio_shield s;
    ASSERT_ERR(cio_shield_begin(&s, 0), CIO_EPERM);
    ASSERT_ERR(cio_shield_end(&s), CIO_EPERM);
}

CIO_TEST_MAIN(cmocka_unit_test(group_waits_for_all_its_tasks),
              cmocka_unit_test(group_cancel_cancels_every_task),
              cmocka_unit_test(group_first_error_cancels_the_rest),
              cmocka_unit_test(group_deadline_cancels_the_group),
              cmocka_unit_test(group_limit_bounds_tasks_alive_at_once),
              cmocka_unit_test(cancelled_waiter_cancels_its_group_and_waits),
              cmocka_unit_test(group_place_at_the_limit_is_handed_over),
              cmocka_unit_test(cancelled_waiter_reports_its_deadline),
              cmocka_unit_test(group_bad_input_is_refused),
              cmocka_unit_test(shield_holds_back_a_cancel_until_it_ends),
              cmocka_unit_test(shield_deadline_bounds_every_wait_inside))
