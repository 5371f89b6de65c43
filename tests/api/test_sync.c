/* Wait groups and events: waits that end when work is done or a flag is
 * set, from tasks on every worker and from plain threads, with deadlines,
 * cancels and bad input. */
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

#define MS 1000000LL

static atomic_long finished;

static void *worker_part(void *arg)
{
    cio_wg *wg = arg;
    CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    atomic_fetch_add(&finished, 1);
    CHECK_OK(cio_wg_done(wg));
    return NULL;
}

static void *thread_part(void *arg)
{
    atomic_fetch_add(&finished, 1);
    if (cio_wg_done(arg) != 0)
        abort();
    return NULL;
}

static int main_wg(void *arg)
{
    (void)arg;
    cio_wg *wg;
    CHECK_OK(cio_wg_make(&wg));
    /* Nothing added: no wait. */
    CHECK_OK(cio_wg_wait(wg, 0));
    atomic_store(&finished, 0);
    enum { TASKS = 100 };
    CHECK_OK(cio_wg_add(wg, TASKS + 1));
    for (int i = 0; i < TASKS; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = i % 2 ? CIO_SPAWN_MIGRATE : 0;
        CHECK_OK(cio_spawn(NULL, worker_part, wg, &o));
    }
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_part, wg) == 0);
    CHECK_OK(cio_wg_wait(wg, cio_deadline_after(5000 * MS)));
    CHECK_EQ(atomic_load(&finished), TASKS + 1);
    pthread_join(th, NULL);
    /* More done than added is refused and changes nothing. */
    CHECK_ERR(cio_wg_done(wg), CIO_EINVAL);
    CHECK_OK(cio_wg_add(wg, 1));
    CHECK_ERR(cio_wg_wait(wg, cio_deadline_after(2 * MS)), CIO_ETIMEDOUT);
    CHECK_ERR(cio_wg_wait(wg, 0), CIO_ETIMEDOUT);
    CHECK_OK(cio_wg_done(wg));
    CHECK_OK(cio_wg_wait(wg, 0));
    CHECK_OK(cio_wg_free(&wg));
    CHECK_ERR(cio_wg_free(&wg), CIO_EINVAL);
    return 0;
}

CIO_TEST(wait_group_counts_tasks_and_threads)
{
    (void)state;
    cio_test_run(main_wg, NULL, 2, 0);
}

static void *wait_event(void *arg)
{
    return (void *)(intptr_t)cio_event_wait(arg, CIO_NEVER);
}

static void *wait_wg(void *arg)
{
    return (void *)(intptr_t)cio_wg_wait(arg, CIO_NEVER);
}

static int main_event(void *arg)
{
    (void)arg;
    cio_event *e;
    CHECK_OK(cio_event_make(&e));
    CHECK_EQ(cio_event_is_set(e), 0);
    CHECK_ERR(cio_event_wait(e, cio_deadline_after(MS)), CIO_ETIMEDOUT);
    cio_task t[8];
    for (int i = 0; i < 8; i++)
        CHECK_OK(cio_spawn(&t[i], wait_event, e, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    CHECK_ERR(cio_event_free(&e), CIO_EBUSY);
    CHECK_OK(cio_event_set(e));
    CHECK_ERR(cio_event_set(e), CIO_EALREADY);
    for (int i = 0; i < 8; i++) {
        void *r;
        CHECK_OK(cio_join(t[i], &r, CIO_NEVER));
        CHECK_OK((intptr_t)r);
    }
    /* Later waits return at once. */
    CHECK_OK(cio_event_wait(e, 0));
    CHECK_EQ(cio_event_is_set(e), 1);
    CHECK_OK(cio_event_free(&e));

    /* A cancelled waiter leaves, and leaves nothing queued. */
    cio_wg *wg;
    CHECK_OK(cio_wg_make(&wg));
    CHECK_OK(cio_wg_add(wg, 1));
    cio_task w;
    CHECK_OK(cio_spawn(&w, wait_wg, wg, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    CHECK_OK(cio_cancel(w));
    void *r;
    CHECK_OK(cio_join(w, &r, CIO_NEVER));
    CHECK_ERR((intptr_t)r, CIO_ECANCELED);
    CHECK_OK(cio_wg_free(&wg));
    return 0;
}

CIO_TEST(event_wakes_every_waiter_once_set)
{
    (void)state;
    cio_test_run(main_event, NULL, 2, 0);
}

CIO_TEST(bad_input_is_refused)
{
    (void)state;
    ASSERT_ERR(cio_wg_make(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_wg_add(NULL, 1), CIO_EINVAL);
    ASSERT_ERR(cio_wg_free(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_event_make(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_event_set(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_event_free(NULL), CIO_EINVAL);
    cio_wg *wg;
    assert_int_equal(cio_wg_make(&wg), 0);
    /* Outside a task the wait blocks the thread (until its deadline). */
    assert_int_equal(cio_wg_wait(wg, CIO_NEVER), 0);
    assert_int_equal(cio_wg_add(wg, 2), 0);
    ASSERT_ERR(cio_wg_wait(wg, cio_deadline_after(10000000)), CIO_ETIMEDOUT);
    ASSERT_ERR(cio_wg_add(wg, -3), CIO_EINVAL);
    ASSERT_ERR(cio_wg_add(wg, LONG_MAX), CIO_EINVAL);
    assert_int_equal(cio_wg_free(&wg), 0);
    assert_null(wg);
}

/* ---- semaphores ---------------------------------------------------------- */

static atomic_int inside, most_inside;

static void *bounded(void *arg)
{
    cio_sem *s = arg;
    CHECK_OK(cio_sem_acquire(s, CIO_NEVER));
    int n = atomic_fetch_add(&inside, 1) + 1;
    int m = atomic_load(&most_inside);
    while (n > m && !atomic_compare_exchange_weak(&most_inside, &m, n))
        ;
    CHECK_OK(cio_sleep_until(cio_deadline_after(MS / 2)));
    atomic_fetch_sub(&inside, 1);
    CHECK_OK(cio_sem_release(s));
    return NULL;
}

static int order[4], order_n;

static void *take_in_turn(void *arg)
{
    cio_sem *s = ((void **)arg)[0];
    int id = (int)(intptr_t)((void **)arg)[1];
    CHECK_OK(cio_sem_acquire(s, CIO_NEVER));
    order[order_n++] = id;
    return NULL;
}

static int main_sem(void *arg)
{
    (void)arg;
    cio_sem *s;
    /* At most 3 at once, whatever the workers. */
    CHECK_OK(cio_sem_make(&s, 3));
    atomic_store(&inside, 0);
    atomic_store(&most_inside, 0);
    cio_task t[30];
    for (int i = 0; i < 30; i++)
        CHECK_OK(cio_spawn(&t[i], bounded, s, NULL));
    for (int i = 0; i < 30; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK(atomic_load(&most_inside) >= 1 && atomic_load(&most_inside) <= 3);
    /* Every permit came back. */
    for (int i = 0; i < 3; i++)
        CHECK_OK(cio_sem_try_acquire(s));
    CHECK_ERR(cio_sem_try_acquire(s), CIO_EAGAIN);
    /* A timed-out and a cancelled waiter take no permit with them. */
    CHECK_ERR(cio_sem_acquire(s, cio_deadline_after(MS)), CIO_ETIMEDOUT);
    CHECK_ERR(cio_sem_acquire(s, 0), CIO_ETIMEDOUT);
    /* Waiters are served in arrival order (one worker: they queue in
     * spawn order), and a release goes to the oldest. */
    void *args[4][2];
    cio_task w[4];
    order_n = 0;
    for (int i = 0; i < 4; i++) {
        args[i][0] = s;
        args[i][1] = (void *)(intptr_t)i;
        CHECK_OK(cio_spawn(&w[i], take_in_turn, args[i], NULL));
    }
    CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
    CHECK_ERR(cio_sem_free(&s), CIO_EBUSY);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(cio_sem_release(s));
        CHECK_OK(cio_join(w[i], NULL, CIO_NEVER));
        CHECK_EQ(order[i], i);
    }
    CHECK_EQ(order_n, 4);
    CHECK_OK(cio_sem_free(&s));
    CHECK_ERR(cio_sem_make(&s, -1), CIO_EINVAL);
    CHECK_ERR(cio_sem_release(NULL), CIO_EINVAL);
    return 0;
}

CIO_TEST(semaphore_bounds_and_serves_in_order)
{
    (void)state;
    cio_test_run(main_sem, NULL, 1, 0);
}

static int main_sem_workers(void *arg)
{
    (void)arg;
    cio_sem *s;
    CHECK_OK(cio_sem_make(&s, 2));
    atomic_store(&inside, 0);
    atomic_store(&most_inside, 0);
    cio_task t[40];
    for (int i = 0; i < 40; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = i % 2 ? CIO_SPAWN_MIGRATE : 0;
        CHECK_OK(cio_spawn(&t[i], bounded, s, &o));
    }
    for (int i = 0; i < 40; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK(atomic_load(&most_inside) <= 2);
    CHECK_OK(cio_sem_free(&s));
    return 0;
}

CIO_TEST(semaphore_bounds_tasks_on_all_workers)
{
    (void)state;
    cio_test_run(main_sem_workers, NULL, 2, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(wait_group_counts_tasks_and_threads),
              cmocka_unit_test(event_wakes_every_waiter_once_set),
              cmocka_unit_test(bad_input_is_refused),
              cmocka_unit_test(semaphore_bounds_and_serves_in_order),
              cmocka_unit_test(semaphore_bounds_tasks_on_all_workers))
