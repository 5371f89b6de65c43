/* Wakes that come from somewhere other than the task's own worker: a pool
 * thread, a plain thread, another worker's reactor. Each case once hung or
 * was late because one of these paths was special. */
#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static void *add1(void *arg)
{
    return (void *)((intptr_t)arg + 1);
}

static void *migrating_blocking(void *arg)
{
    (void)arg;
    void *r = NULL;
    CHECK_OK(cio_blocking(add1, (void *)41, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 42);
    return NULL;
}

static void *migrating_resolve(void *arg)
{
    (void)arg;
    cio_addr a;
    CHECK(cio_resolve("127.0.0.1", "80", AF_INET, &a, 1,
                      cio_deadline_after(5000 * MS)) >= 1);
    return NULL;
}

static int spawn_migrating(cio_task_fn *fn)
{
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_MIGRATE;
    cio_task t;
    CHECK_OK(cio_spawn(&t, fn, NULL, &o));
    /* Before the fix the task sat on the global queue while the only
     * worker slept: the join ended by its deadline, not by the task. */
    CHECK_OK(cio_join(t, NULL, cio_deadline_after(5000 * MS)));
    return 0;
}

static int main_pool_one_worker(void *arg)
{
    (void)arg;
    spawn_migrating(migrating_blocking);
    return spawn_migrating(migrating_resolve);
}

CIO_TEST(migrating_task_woken_by_pool_on_one_worker)
{
    (void)state;
    cio_test_run(main_pool_one_worker, NULL, 1, 0);
}

/* ---- cio_close() from a plain thread ------------------------------------ */

static int pipe_fds[2];

static void *close_later(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    if (cio_close(pipe_fds[0]) != 0)
        abort();
    return NULL;
}

static void *migrating_reader(void *arg)
{
    (void)arg;
    char c;
    int64_t t0 = cio_now();
    CHECK_ERR(cio_read(pipe_fds[0], &c, 1, cio_deadline_after(5000 * MS)),
              CIO_EBADF);
    CHECK(cio_now() - t0 < 2000 * MS);
    return NULL;
}

static int main_close_plain_thread(void *arg)
{
    (void)arg;
    CHECK(pipe(pipe_fds) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, close_later, NULL) == 0);
    spawn_migrating(migrating_reader);
    pthread_join(th, NULL);
    close(pipe_fds[1]);
    return 0;
}

CIO_TEST(migrating_task_woken_by_plain_thread_close_on_one_worker)
{
    (void)state;
    cio_test_run(main_close_plain_thread, NULL, 1, 0);
}

/* ---- no worker waits on another worker's reactor ------------------------- */

static void *write_later(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    if (write(pipe_fds[1], "x", 1) != 1)
        abort();
    return NULL;
}

static void *pinned_reader(void *arg)
{
    int64_t *took = arg;
    char c;
    int64_t t0 = cio_now();
    CHECK_ERR(cio_read(pipe_fds[0], &c, 1, cio_deadline_after(5000 * MS)), 1);
    *took = cio_now() - t0;
    return NULL;
}

static int main_foreign_reactor(void *arg)
{
    (void)arg;
    CHECK(pipe(pipe_fds) == 0);
    /* Main runs on worker 0: its wait registers the pipe there first. */
    CHECK_ERR(cio_wait_fd(pipe_fds[0], CIO_READABLE, cio_deadline_after(MS)),
              CIO_ETIMEDOUT);
    int64_t took = -1;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, pinned_reader, &took, &o));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, write_later, NULL) == 0);
    /* Worker 0 computes for 1.5 s without yielding: it never polls. */
    int64_t until = cio_now() + 1500 * MS;
    while (cio_now() < until)
        ;
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    pthread_join(th, NULL);
    /* The data came at 50 ms; before the fix it reached the reader only
     * when worker 0 polled, at 1,500 ms. */
    CHECK(took >= 0 && took < 1000 * MS);
    CHECK_OK(cio_close(pipe_fds[0]));
    CHECK_OK(cio_close(pipe_fds[1]));
    return 0;
}

CIO_TEST(reader_woken_while_first_registering_worker_is_busy)
{
    (void)state;
    cio_test_run(main_foreign_reactor, NULL, 2, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(migrating_task_woken_by_pool_on_one_worker),
              cmocka_unit_test(
                  migrating_task_woken_by_plain_thread_close_on_one_worker),
              cmocka_unit_test(
                  reader_woken_while_first_registering_worker_is_busy))
