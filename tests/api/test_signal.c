/* Signals for tasks: a signal reaches a waiting task while the others
 * keep running; every waiter gets it; one that comes with no waiter is
 * kept for the next wait; deadlines and cancels; signals no task may wait
 * for are refused; the action before is put back when cio_run returns. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static atomic_long ticks;
static atomic_int stop_ticking;

static void *ticker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_ticking)) {
        atomic_fetch_add(&ticks, 1);
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    }
    return NULL;
}

static void *wait_usr1(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    return (void *)(intptr_t)cio_signal_wait(&s, CIO_NEVER);
}

static cio_task waiting(cio_task_fn *fn)
{
    cio_task t;
    CHECK_OK(cio_spawn(&t, fn, NULL, NULL));
    cio_test_until_waiting(t, CIO_WAIT_SIGNAL);
    return t;
}

static int main_reach(void *arg)
{
    (void)arg;
    atomic_store(&stop_ticking, 0);
    cio_task tk;
    CHECK_OK(cio_spawn(&tk, ticker, NULL, NULL));
    /* Three waiters: every one gets the signal. */
    cio_task w[3];
    for (int i = 0; i < 3; i++)
        w[i] = waiting(wait_usr1);
    long before = atomic_load(&ticks);
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK(atomic_load(&ticks) > before); /* the others run on */
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        CHECK_OK(cio_join(w[i], &r, CIO_NEVER));
        CHECK_EQ((intptr_t)r, SIGUSR1);
    }
    /* With no waiter, it is kept for the next wait. */
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    CHECK_EQ(cio_signal_wait(&s, cio_deadline_after(1000 * MS)), SIGUSR1);
    /* Only once. */
    CHECK_ERR(cio_signal_wait(&s, cio_deadline_after(20 * MS)),
              CIO_ETIMEDOUT);
    /* The other signal of the set. */
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    CHECK_EQ(cio_signal_wait(&s, cio_deadline_after(1000 * MS)), SIGUSR2);
    atomic_store(&stop_ticking, 1);
    CHECK_OK(cio_join(tk, NULL, CIO_NEVER));
    return 0;
}

static atomic_int old_handler_ran;

static void old_handler(int sig)
{
    (void)sig;
    atomic_store(&old_handler_ran, 1);
}

CIO_TEST(signal_reaches_waiting_tasks_while_others_run)
{
    (void)state;
    struct sigaction sa = {0}, prev;
    sa.sa_handler = old_handler;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &prev), 0);
    cio_test_run(main_reach, NULL, 2, 0);
    /* The action before is back. */
    atomic_store(&old_handler_ran, 0);
    raise(SIGUSR1);
    assert_int_equal(atomic_load(&old_handler_ran), 1);
    sigaction(SIGUSR1, &prev, NULL);
}

/* ---- deadline, cancel, bad input ------------------------------------------- */

static int main_limits(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    CHECK_ERR(cio_signal_wait(&s, CIO_NEVER), CIO_EINVAL); /* empty */
    CHECK_ERR(cio_signal_wait(NULL, CIO_NEVER), CIO_EINVAL);
    int bad[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGURG};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, bad[i]);
        CHECK_ERR(cio_signal_wait(&s, CIO_NEVER), CIO_EINVAL);
    }
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    int64_t t0 = cio_now();
    CHECK_ERR(cio_signal_wait(&s, cio_deadline_after(30 * MS)),
              CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 >= 30 * MS);
    cio_task t;
    CHECK_OK(cio_spawn(&t, wait_usr1, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_OK(cio_cancel(t));
    void *r;
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, CIO_ECANCELED);
    return 0;
}

CIO_TEST(deadline_cancel_and_signals_no_task_may_wait_for)
{
    (void)state;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    ASSERT_ERR(cio_signal_wait(&s, CIO_NEVER), CIO_EPERM);
    cio_test_run(main_limits, NULL, 1, 0);
}

/* ---- a graceful stop -------------------------------------------------------- */

static atomic_int goodbyes;

static int session(void *arg)
{
    (void)arg;
    int rc = cio_sleep_until(CIO_NEVER);
    /* Cancelled: a goodbye inside a shield still waits. */
    cio_shield sh;
    CHECK_OK(cio_shield_begin(&sh, cio_deadline_after(1000 * MS)));
    CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    atomic_fetch_add(&goodbyes, 1);
    CHECK_OK(cio_shield_end(&sh));
    return rc;
}

static int quick(void *arg)
{
    (void)arg;
    return cio_sleep_until(cio_deadline_after(5 * MS));
}

/* Sends signal `arg` to the process 10 ms from now. */
static void *send_later(void *arg)
{
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(kill(getpid(), (int)(intptr_t)arg), 0);
    return NULL;
}

static int main_stop(void *arg)
{
    (void)arg;
    atomic_store(&goodbyes, 0);
    cio_group *g;
    CHECK_OK(cio_group_make(&g, NULL));
    for (int i = 0; i < 10; i++)
        CHECK_OK(cio_group_spawn(g, session, NULL, NULL));
    /* Sent once the wait has begun (before it, SIGTERM would still have
     * its default action, ending the process). */
    cio_task sender;
    CHECK_OK(cio_spawn(&sender, send_later, (void *)(intptr_t)SIGTERM, NULL));
    CHECK_EQ(cio_group_wait_signals(g, NULL, CIO_NEVER), SIGTERM);
    CHECK_OK(cio_join(sender, NULL, CIO_NEVER));
    CHECK_EQ(cio_group_live(g), 0);
    CHECK_EQ(atomic_load(&goodbyes), 10);
    CHECK_OK(cio_group_free(&g));
    /* The group ends first: its result, and no signal is taken. */
    CHECK_OK(cio_group_make(&g, NULL));
    CHECK_OK(cio_group_spawn(g, quick, NULL, NULL));
    CHECK_OK(cio_group_wait_signals(g, NULL, CIO_NEVER));
    CHECK_OK(cio_group_free(&g));
    /* A deadline: the tasks run on. */
    CHECK_OK(cio_group_make(&g, NULL));
    CHECK_OK(cio_group_spawn(g, session, NULL, NULL));
    CHECK_ERR(cio_group_wait_signals(g, NULL, cio_deadline_after(20 * MS)),
              CIO_ETIMEDOUT);
    CHECK_EQ(cio_group_live(g), 1);
    cio_task t;
    CHECK_OK(cio_spawn(&t, wait_usr1, NULL, NULL)); /* unrelated waiter */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGKILL);
    CHECK_ERR(cio_group_wait_signals(g, &s, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_group_wait_signals(NULL, NULL, CIO_NEVER), CIO_EINVAL);
    CHECK_OK(cio_cancel(t));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    /* SIGINT while it waits. */
    CHECK_OK(cio_spawn(&sender, send_later, (void *)(intptr_t)SIGINT, NULL));
    CHECK_EQ(cio_group_wait_signals(g, NULL, CIO_NEVER), SIGINT);
    CHECK_OK(cio_join(sender, NULL, CIO_NEVER));
    CHECK_OK(cio_group_free(&g));
    return 0;
}

CIO_TEST(group_stops_gracefully_on_a_signal)
{
    (void)state;
    cio_test_run(main_stop, NULL, 2, 0);
}

/* ---- a signal the kernel hands to a worker's thread ------------------------ */

static void *kill_later(void *arg)
{
    usleep(50000); /* the worker is asleep in the reactor by then */
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

struct hit {
    pthread_t worker;
    atomic_int running, sent;
};

static void *kill_when_running(void *arg)
{
    struct hit *h = arg;
    while (!atomic_load(&h->running))
        usleep(100);
    pthread_kill(h->worker, SIGUSR1);
    atomic_store(&h->sent, 1);
    return NULL;
}

/* Takes the signal while it runs, in a loop that calls nothing, and ends
 * right after: the signal must outlive the task it interrupted. */
static void *interrupted(void *arg)
{
    struct hit *h = arg;
    h->worker = pthread_self();
    atomic_store(&h->running, 1);
    while (!atomic_load(&h->sent))
        ;
    for (volatile int i = 0; i < 1000000; i++)
        ;
    return NULL;
}

static int main_worker_thread(void *arg)
{
    (void)arg;
    /* Sent to this worker's thread while every task waits, so it sleeps
     * in the reactor with nothing due for 3 s: the handler must run and
     * the waiter hear of it at once, not when the worker next wakes. */
    pthread_t worker = pthread_self();
    cio_task w = waiting(wait_usr1);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, kill_later, &worker), 0);
    void *r = NULL;
    int64_t t0 = cio_now();
    CHECK_OK(cio_join(w, &r, cio_deadline_after(3000 * MS)));
    CHECK_EQ((intptr_t)r, SIGUSR1);
    CHECK(cio_now() - t0 < 2000 * MS);
    CHECK_EQ(pthread_join(th, NULL), 0);

    /* Sent to the thread of a worker running a task that ends at once
     * (a few times: where the signal lands is the kernel's choice). */
    for (int i = 0; i < 5; i++) {
        w = waiting(wait_usr1);
        struct hit h = {0};
        CHECK_EQ(pthread_create(&th, NULL, kill_when_running, &h), 0);
        cio_task t;
        CHECK_OK(cio_spawn(&t, interrupted, &h, NULL));
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_OK(cio_join(w, &r, cio_deadline_after(2000 * MS)));
        CHECK_EQ((intptr_t)r, SIGUSR1);
    }
    return 0;
}

CIO_TEST(signal_to_a_worker_thread_reaches_the_waiter)
{
    (void)state;
    cio_test_run(main_worker_thread, NULL, 1, 0);
    cio_test_run(main_worker_thread, NULL, 3, 0);
}

/* ---- a waiter left at the end does not keep the program ------------------- */

static int main_leave(void *arg)
{
    (void)arg;
    /* A task still waiting when main returns is cancelled, like any. */
    CHECK_OK(cio_spawn(NULL, wait_usr1, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    return 0;
}

CIO_TEST(waiters_end_with_the_runtime)
{
    (void)state;
    cio_test_run(main_leave, NULL, 2, 0);
    /* And a second runtime waits again. */
    cio_test_run(main_limits, NULL, 2, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(signal_reaches_waiting_tasks_while_others_run),
              cmocka_unit_test(deadline_cancel_and_signals_no_task_may_wait_for),
              cmocka_unit_test(group_stops_gracefully_on_a_signal),
              cmocka_unit_test(signal_to_a_worker_thread_reaches_the_waiter),
              cmocka_unit_test(waiters_end_with_the_runtime))
