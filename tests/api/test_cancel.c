/* Cancellation and shutdown. */
#include <stdatomic.h>

#include "harness.h"

#define MS 1000000LL

static void *sleeper(void *arg)
{
    (void)arg;
    int rc = cio_sleep_until(CIO_NEVER);
    return (void *)(intptr_t)rc;
}

static atomic_long yields;

static void *yield_until_cancelled(void *arg)
{
    (void)arg;
    long n = 0;
    while (cio_yield() == 0)
        atomic_store(&yields, ++n);
    CHECK_EQ(cio_cancelled(), 1);
    return (void *)n;
}

static int main_cancel_sleep_yield(void *arg)
{
    (void)arg;
    cio_task s, y;
    CHECK_OK(cio_spawn(&s, sleeper, NULL, NULL));
    atomic_store(&yields, 0);
    CHECK_OK(cio_spawn(&y, yield_until_cancelled, NULL, NULL));
    /* Until the yielder has yielded: a fixed 2 ms was not always enough
     * under qemu on a loaded machine (it was cancelled before it ran). */
    int64_t give_up = cio_deadline_after(5000 * MS);
    do
        CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
    while (atomic_load(&yields) == 0 && cio_now() < give_up);
    CHECK_OK(cio_cancel(s));
    CHECK_OK(cio_cancel(y));
    void *r;
    CHECK_OK(cio_join(s, &r, CIO_NEVER));
    CHECK_ERR((intptr_t)r, CIO_ECANCELED);
    CHECK_OK(cio_join(y, &r, CIO_NEVER));
    CHECK((intptr_t)r > 0); /* it did yield before */
    return 0;
}

CIO_TEST(cancel_sleeping_and_yielding)
{
    (void)state;
    cio_test_run(main_cancel_sleep_yield, NULL, 2, 0);
}

static void *sleep_once(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cio_sleep_until(cio_deadline_after(MS));
}

static int main_cancel_before_start(void *arg)
{
    (void)arg;
    cio_task t;
    CHECK_OK(cio_spawn(&t, sleep_once, NULL, NULL));
    CHECK_OK(cio_cancel(t));
    void *r;
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    CHECK_ERR((intptr_t)r, CIO_ECANCELED);
    return 0;
}

CIO_TEST(cancel_before_start)
{
    (void)state;
    cio_test_run(main_cancel_before_start, NULL, 1, 0);
}

static void *cancels_itself(void *arg)
{
    (void)arg;
    CHECK_OK(cio_cancel(cio_self()));
    CHECK_ERR(cio_yield(), CIO_ECANCELED);
    CHECK_ERR(cio_sleep_until(cio_deadline_after(MS)), CIO_ECANCELED);
    /* A deadline already passed still reports the cancellation. */
    CHECK_ERR(cio_sleep_until(0), CIO_ECANCELED);
    return NULL;
}

static int main_cancel_self(void *arg)
{
    (void)arg;
    cio_task t;
    CHECK_OK(cio_spawn(&t, cancels_itself, NULL, NULL));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(cancel_self)
{
    (void)state;
    cio_test_run(main_cancel_self, NULL, 1, 0);
}

static cio_task slow;

static void *joiner(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cio_join(slow, NULL, CIO_NEVER);
}

static atomic_int release_slow;

static void *slow_task(void *arg)
{
    (void)arg;
    /* Runs until released, however slow the machine. */
    while (!atomic_load(&release_slow))
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    return (void *)7;
}

static int main_cancel_joiner(void *arg)
{
    (void)arg;
    cio_task j;
    CHECK_OK(cio_spawn(&slow, slow_task, NULL, NULL));
    CHECK_OK(cio_spawn(&j, joiner, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    CHECK_OK(cio_cancel(j));
    void *r;
    CHECK_OK(cio_join(j, &r, CIO_NEVER));
    CHECK_ERR((intptr_t)r, CIO_ECANCELED);
    /* The cancelled joiner gave the join back. */
    atomic_store(&release_slow, 1);
    CHECK_OK(cio_join(slow, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 7);
    return 0;
}

CIO_TEST(cancel_joiner_leaves_task_joinable)
{
    (void)state;
    cio_test_run(main_cancel_joiner, NULL, 2, 0);
}

static atomic_int cleaned;

static void *cleanup_on_cancel(void *arg)
{
    (void)arg;
    int rc = cio_sleep_until(CIO_NEVER);
    CHECK_ERR(rc, CIO_ECANCELED);
    /* Cleanup may call waiting functions; they return at once. */
    CHECK_ERR(cio_sleep_until(cio_deadline_after(MS)), CIO_ECANCELED);
    atomic_fetch_add(&cleaned, 1);
    return NULL;
}

static void *spawns_more(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    /* Spawned during shutdown: the child starts cancelled. */
    CHECK_OK(cio_spawn(NULL, cleanup_on_cancel, NULL, NULL));
    atomic_fetch_add(&cleaned, 1);
    return NULL;
}

static int main_shutdown(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        CHECK_OK(cio_spawn(NULL, cleanup_on_cancel, NULL, NULL));
    CHECK_OK(cio_spawn(NULL, spawns_more, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
    return 42;
}

CIO_TEST(shutdown_cancels_and_waits)
{
    (void)state;
    cio_test_run(main_shutdown, NULL, 2, 42);
    assert_int_equal(atomic_load(&cleaned), 102);
}

CIO_TEST_MAIN(cmocka_unit_test(cancel_sleeping_and_yielding),
              cmocka_unit_test(cancel_before_start),
              cmocka_unit_test(cancel_self),
              cmocka_unit_test(cancel_joiner_leaves_task_joinable),
              cmocka_unit_test(shutdown_cancels_and_waits))
