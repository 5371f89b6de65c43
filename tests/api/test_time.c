/* Deadlines: order, never early, edge values, FIFO among equals. */
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static int order[64];
static atomic_int order_n;

struct sleeper {
    int id;
    int64_t deadline;
};

static int armed[64];
static atomic_int armed_n;

static void *sleep_and_log(void *arg)
{
    struct sleeper *s = arg;
    armed[atomic_fetch_add(&armed_n, 1)] = s->id;
    CHECK_OK(cio_sleep_until(s->deadline));
    /* Never early. */
    CHECK(cio_now() >= s->deadline);
    order[atomic_fetch_add(&order_n, 1)] = s->id;
    return NULL;
}

static int main_sleep_order(void *arg)
{
    (void)arg;
    /* Deadlines given out of order; they must fire sorted. */
    static const int offs[8] = {35, 5, 25, 15, 40, 10, 30, 20};
    struct sleeper s[8];
    cio_task t[8];
    int64_t base = cio_now();
    for (int i = 0; i < 8; i++) {
        s[i].id = offs[i];
        s[i].deadline = base + offs[i] * MS;
        CHECK_OK(cio_spawn(&t[i], sleep_and_log, &s[i], NULL));
    }
    for (int i = 0; i < 8; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(sleeps_wake_in_deadline_order)
{
    (void)state;
    cio_test_run(main_sleep_order, NULL, 1, 0);
    assert_int_equal(atomic_load(&order_n), 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(order[i], 5 * (i + 1));
}

static int main_equal_deadlines(void *arg)
{
    (void)arg;
    enum { N = 64 };
    struct sleeper s[N];
    cio_task t[N];
    /* Far enough that every task has armed it before it passes, even
     * under TSan (a task that starts after it returns at once, out of
     * the arming order: 10 ms was too short there). */
    int64_t d = cio_now() + 200 * MS;
    for (int i = 0; i < N; i++) {
        s[i].id = i;
        s[i].deadline = d;
        CHECK_OK(cio_spawn(&t[i], sleep_and_log, &s[i], NULL));
    }
    for (int i = 0; i < N; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(equal_deadlines_fire_fifo)
{
    (void)state;
    cio_test_run(main_equal_deadlines, NULL, 1, 0);
    assert_int_equal(atomic_load(&order_n), 64);
    /* The order the deadlines were armed in, which may differ from the
     * order of spawning when the run queue overflows. */
    for (int i = 0; i < 64; i++)
        assert_int_equal(order[i], armed[i]);
}

static atomic_int sleepers_started;

static void *sleep_forever(void *arg)
{
    int64_t d = *(int64_t *)arg;
    atomic_fetch_add(&sleepers_started, 1);
    CHECK_ERR(cio_sleep_until(d), CIO_ECANCELED);
    /* Cancellation sticks: the next wait ends at once as well. */
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    CHECK_EQ(cio_cancelled(), 1);
    return NULL;
}

static int main_edges(void *arg)
{
    (void)arg;
    int64_t t0 = cio_now();
    CHECK_OK(cio_sleep_until(0));
    CHECK_OK(cio_sleep_until(-5));
    CHECK_OK(cio_sleep_until(t0 - 1));
    CHECK_OK(cio_sleep_until(cio_now()));
    CHECK(cio_now() - t0 < 5000 * MS); /* no wait (generous: loaded CI) */
    CHECK_EQ(cio_deadline_after(CIO_NEVER), CIO_NEVER);
    CHECK_EQ(cio_deadline_after(CIO_NEVER - 1), CIO_NEVER);
    CHECK(cio_deadline_after(-1) < cio_now());

    /* CIO_NEVER and the largest finite deadline: only a cancel ends them. */
    static int64_t never = CIO_NEVER, largest = CIO_NEVER - 1;
    cio_task a, b;
    CHECK_OK(cio_spawn(&a, sleep_forever, &never, NULL));
    CHECK_OK(cio_spawn(&b, sleep_forever, &largest, NULL));
    while (atomic_load(&sleepers_started) < 2)
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    /* Started is not yet asleep: give b (maybe on the other worker) time
     * to arm its deadline, however loaded the machine. */
    cio_stats s;
    for (int i = 0; i < 5000; i++) {
        cio_stats_get(&s);
        if (s.timers_pending == 1)
            break;
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS / 10)));
    }
    CHECK_EQ(s.timers_pending, 1); /* CIO_NEVER arms no timer */
    CHECK_OK(cio_cancel(a));
    CHECK_OK(cio_cancel(b));
    CHECK_OK(cio_cancel(b)); /* twice is harmless */
    CHECK_OK(cio_join(a, NULL, CIO_NEVER));
    CHECK_OK(cio_join(b, NULL, CIO_NEVER));
    cio_stats_get(&s);
    CHECK_EQ(s.timers_pending, 0);
    return 0;
}

CIO_TEST(deadline_edges)
{
    (void)state;
    cio_test_run(main_edges, NULL, 2, 0);
}

/* Cancel a sleeper right at its deadline, many times: each sleep has
 * exactly one outcome, and no wake is lost or doubled. */
static atomic_int outcome_ok, outcome_cancel;

static void *racer(void *arg)
{
    int64_t d = *(int64_t *)arg;
    int rc = cio_sleep_until(d);
    if (rc == 0)
        atomic_fetch_add(&outcome_ok, 1);
    else if (rc == CIO_ECANCELED)
        atomic_fetch_add(&outcome_cancel, 1);
    else
        CHECK_ERR(rc, 0);
    return NULL;
}

static int main_cancel_firing(void *arg)
{
    (void)arg;
    enum { ROUNDS = 600 };
    for (int i = 0; i < ROUNDS; i++) {
        int64_t d = cio_deadline_after(300000 + (i % 7) * 3000);
        cio_task t;
        CHECK_OK(cio_spawn(&t, racer, &d, NULL));
        /* Before, at and after the racer's deadline; wakes can be late by
         * the kernel's timer slack (50 us by default). */
        CHECK_OK(cio_sleep_until(d + (i % 3 - 1) * 200000));
        CHECK_OK(cio_cancel(t));
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    }
    CHECK_EQ(atomic_load(&outcome_ok) + atomic_load(&outcome_cancel), ROUNDS);
    return 0;
}

CIO_TEST(cancel_timer_while_firing)
{
    (void)state;
    cio_test_run(main_cancel_firing, NULL, 2, 0);
    /* Both outcomes must have happened, or the race was not exercised. */
    assert_true(atomic_load(&outcome_ok) > 0);
    assert_true(atomic_load(&outcome_cancel) > 0);
}

#define MANY_TIMERS 200000

static atomic_int woke;

static void *sleep_rand(void *arg)
{
    /* Relative to when the task first runs, so every deadline is still
     * ahead when it is armed, however long spawning took. */
    int64_t d = cio_now() + *(int64_t *)arg;
    CHECK_OK(cio_sleep_until(d));
    CHECK(cio_now() >= d);
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static int main_many_timers(void *arg)
{
    uint64_t seed = *(unsigned *)arg;
    int64_t *d = malloc(MANY_TIMERS * sizeof *d);
    CHECK(d);
    int64_t base = MS;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    /* Small stacks, so many timers fit; sanitizers pad every frame. */
    o.stack_size = cio_test_sanitized() ? 16384 : CIO_STACK_MIN * 2;
    for (int i = 0; i < MANY_TIMERS; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        d[i] = base + (int64_t)((seed >> 33) % (200 * MS));
        CHECK_OK(cio_spawn(NULL, sleep_rand, &d[i], &o));
    }
    while (atomic_load(&woke) < MANY_TIMERS)
        CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    free(d);
    return 0;
}

CIO_TEST(many_random_timers)
{
    (void)state;
    unsigned seed = cio_test_seed();
    cio_test_run(main_many_timers, &seed, 2, 0);
    assert_int_equal(atomic_load(&woke), MANY_TIMERS);
    cio_stats s;
    cio_stats_get(&s);
    assert_true(s.timers_fired >= MANY_TIMERS);
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *sleep_until_cancelled(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    return NULL;
}

static int main_idle(void *arg)
{
    (void)arg;
    /* Every worker idle for 300 ms: they must sleep in the kernel, not
     * spin. The bound is loose (a tenth of one core) because what it
     * catches is a busy loop, which would use all of it. */
    int64_t c0 = cpu_ns(), t0 = cio_now();
    CHECK_OK(cio_sleep_until(t0 + 300 * MS));
    int64_t used = cpu_ns() - c0, wall = cio_now() - t0;
    printf("idle: %.2f ms of CPU in %.0f ms (%.2f%% of one core)\n",
           used / 1e6, wall / 1e6, 100.0 * (double)used / (double)wall);
    /* Under an emulator the process's CPU time includes the emulator's
     * own threads (translation), so the bound only holds natively. */
    if (!getenv("CIO_TEST_EMULATED"))
        CHECK(used < wall / 10);

    /* A wake reaches a parked worker: cancel a task asleep on worker 1. */
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, sleep_until_cancelled, NULL, &o));
    CHECK_OK(cio_sleep_until(cio_deadline_after(50 * MS)));
    int64_t w0 = cio_now();
    CHECK_OK(cio_cancel(t));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    printf("cancel to join across a parked worker: %.1f us\n",
           (double)(cio_now() - w0) / 1e3);
    return 0;
}

CIO_TEST(idle_workers_sleep)
{
    (void)state;
    cio_test_run(main_idle, NULL, 2, 0);
    cio_stats s;
    cio_stats_get(&s);
    assert_true(s.parks > 0);
}

/* A long deadline is read from the coarse clock plus its resolution:
 * never before the exact one. */
static int main_deadline_after(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        int64_t before = cio_now();
        int64_t d = cio_deadline_after(2000 * MS);
        int64_t after = cio_now();
        CHECK(d >= before + 2000 * MS);
        CHECK(d <= after + 2100 * MS); /* a clock tick late at most */
    }
    CHECK_EQ(cio_deadline_after(INT64_MAX - 1), CIO_NEVER); /* saturates */
    return 0;
}

CIO_TEST(deadline_after_never_early)
{
    (void)state;
    cio_test_run(main_deadline_after, NULL, 1, 0);
}

static void *poke(void *arg)
{
    int fd = (int)(intptr_t)arg;
    CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    CHECK_EQ(write(fd, "p", 1), 1);
    return NULL;
}

/* A wait that ends early leaves its timer entry armed for the next wait
 * (lazy re-arm); when the next wait's deadline is a little later, the old
 * entry expires first and must move to the new deadline, not end the new
 * wait early. */
static int main_lazy_timer(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    char c;
    for (int i = 0; i < 20; i++) {
        cio_task t;
        CHECK_OK(cio_spawn(&t, poke, (void *)(intptr_t)p[1], NULL));
        /* Woken by the byte long before the deadline: the entry stays. */
        CHECK_EQ(cio_wait_fd(p[0], CIO_READABLE, cio_deadline_after(100 * MS)),
                 CIO_READABLE);
        CHECK_EQ(read(p[0], &c, 1), 1);
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
        /* Nothing comes now: this one times out, at its own deadline. */
        int64_t d = cio_now() + 100 * MS;
        CHECK_ERR(cio_wait_fd(p[0], CIO_READABLE, d), CIO_ETIMEDOUT);
        CHECK(cio_now() >= d);
    }
    cio_stats s;
    cio_stats_get(&s);
    CHECK(s.timers_pending <= 1); /* one entry per task, reused */
    CHECK_OK(cio_close(p[0]));
    CHECK_OK(cio_close(p[1]));
    return 0;
}

CIO_TEST(lazy_timer_never_ends_a_wait_early)
{
    (void)state;
    cio_test_run(main_lazy_timer, NULL, 1, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(deadline_after_never_early),
              cmocka_unit_test(lazy_timer_never_ends_a_wait_early),
              cmocka_unit_test(sleeps_wake_in_deadline_order),
              cmocka_unit_test(idle_workers_sleep),
              cmocka_unit_test(equal_deadlines_fire_fifo),
              cmocka_unit_test(deadline_edges),
              cmocka_unit_test(cancel_timer_while_firing),
              cmocka_unit_test(many_random_timers))
