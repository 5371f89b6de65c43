/* Faults injected below the runtime: every failure is reported to the
 * caller and the runtime keeps serving, or refuses to start cleanly. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "core/runtime.h"
#include "core/task.h"
#include "os/os.h"

static void *failing_mmap(void *addr, size_t len, int prot, int flags, int fd,
                          off_t off)
{
    (void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
    errno = ENOMEM;
    return MAP_FAILED;
}

static void *touch(void *arg)
{
    volatile char buf[8192];
    buf[0] = 1;
    return (void *)(intptr_t)(buf[0] + (intptr_t)arg);
}

static int main_no_stacks(void *arg)
{
    (void)arg;
    /* A stack class nobody has used yet: its first stack needs a mapping. */
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.stack_size = 4 << 20;
    cio__os.mmap = failing_mmap;
    cio_task t;
    CHECK_OK(cio_spawn(&t, touch, NULL, &o));
    /* Spawning succeeds; the task cannot start, and its join says why. */
    CHECK_ERR(cio_join(t, NULL, CIO_NEVER), CIO_ENOMEM);
    cio__os.mmap = cio__os_default.mmap;
    /* Once memory is back, the same spawn works. */
    void *r;
    CHECK_OK(cio_spawn(&t, touch, (void *)4, &o));
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 5);
    return 0;
}

CIO_TEST(stack_mmap_failure_reported_at_join)
{
    (void)state;
    cio_test_run(main_no_stacks, NULL, 2, 0);
}

static int fail_after;

static int failing_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                  void *(*fn)(void *), void *arg)
{
    if (fail_after-- <= 0)
        return EAGAIN;
    return pthread_create(t, attr, fn, arg);
}

static int must_not_run(void *arg)
{
    (void)arg;
    abort();
}

CIO_TEST(thread_creation_failure)
{
    (void)state;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 4;
    for (int n = 0; n < 3; n++) {
        fail_after = n; /* the (n+1)th thread fails */
        cio__os.pthread_create = failing_pthread_create;
        int rc = cio_run(must_not_run, NULL, &cfg);
        cio__os = cio__os_default;
        ASSERT_ERR(rc, CIO_EAGAIN);
        cio_test_check_teardown();
    }
}

static int failing_eventfd(unsigned int v, int flags)
{
    (void)v, (void)flags;
    errno = EMFILE;
    return -1;
}

static int failing_epoll(int flags)
{
    (void)flags;
    errno = ENFILE;
    return -1;
}

CIO_TEST(kernel_object_failure)
{
    (void)state;
    cio__os.eventfd = failing_eventfd;
    ASSERT_ERR(cio_run(must_not_run, NULL, NULL), CIO_EMFILE);
    cio__os = cio__os_default;
    cio__os.epoll_create1 = failing_epoll;
    ASSERT_ERR(cio_run(must_not_run, NULL, NULL), CIO_ENFILE);
    cio__os = cio__os_default;
    /* And the runtime still starts afterwards. */
    cio_test_run(main_no_stacks, NULL, 1, 0);
}

CIO_TEST(main_without_stack_is_an_error)
{
    (void)state;
    /* No stack can be mapped for main: cio_run must say so, not return
     * main's status of 0 as if it had run. */
    cio__os.mmap = failing_mmap;
    int rc = cio_run(must_not_run, NULL, NULL);
    cio__os = cio__os_default;
    ASSERT_ERR(rc, CIO_ENOMEM);
    cio_test_check_teardown();
}

/* ---- the "all done" check of shutdown ----------------------------------- */

static struct cio__worker *racer;

/* A task of worker `racer` spawns a child and ends, between the check's
 * two sums. */
static void spawn_and_end(struct cio__runtime *rt)
{
    (void)rt;
    cio__count(&racer->c.spawned, 1);
    atomic_fetch_add(&racer->c.finished, 1);
}

static int check_all_done(void *arg)
{
    (void)arg;
    struct cio__runtime *rt = atomic_load(&cio__rt);
    racer = &rt->workers[1];
    /* Main itself is spawned and running: not all done. */
    CHECK(!cio__runtime_all_done(rt));
    /* Pretend main has ended, and one more task on worker 1 is about to
     * spawn its child and end: all done must stay false, since the child
     * is still to run, whatever the check reads in between. */
    cio__count(&rt->workers[0].c.finished, 1);
    cio__count(&racer->c.spawned, 1);
    cio__test_between_sums = spawn_and_end;
    bool done = cio__runtime_all_done(rt);
    cio__test_between_sums = NULL;
    /* Undo the pretence, so the real shutdown counts right. */
    cio__count(&rt->workers[0].c.finished, (uint64_t)-1);
    cio__count(&racer->c.spawned, (uint64_t)-2);
    cio__count(&racer->c.finished, (uint64_t)-1);
    CHECK(!done);
    return 0;
}

CIO_TEST(all_done_check_sees_spawn_of_task_ending_meanwhile)
{
    (void)state;
    cio_test_run(check_all_done, NULL, 2, 0);
}

/* ---- a number reused while cio_close() finishes -------------------------- */

static int spair[2], victim_fd;
static atomic_int reuse_go, reuse_done, reuse_rc;

/* close(2) as cio_close() makes it; then, before cio_close() returns,
 * the number is reused by someone else and a task writes to it. */
static int close_then_reuse(int fd)
{
    int r = close(fd);
    if (dup2(spair[0], fd) != fd)
        abort();
    atomic_store(&reuse_go, 1);
    for (int i = 0; i < 200 && !atomic_load(&reuse_done); i++)
        usleep(1000);
    return r;
}

static void *write_reused(void *arg)
{
    (void)arg;
    while (!atomic_load(&reuse_go))
        cio_yield();
    atomic_store(&reuse_rc,
                 (int)cio_write(victim_fd, "x", 1, cio_deadline_after(2000000000)));
    atomic_store(&reuse_done, 1);
    return NULL;
}

static int main_reuse(void *arg)
{
    (void)arg;
    int p[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, spair) == 0);
    CHECK(pipe(p) == 0);
    victim_fd = p[0];
    char c;
    CHECK_ERR(cio_read(victim_fd, &c, 1, 0), CIO_ETIMEDOUT);
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, write_reused, NULL, &o));
    cio__os.close = close_then_reuse;
    CHECK_OK(cio_close(victim_fd));
    cio__os.close = cio__os_default.close;
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    /* The write was to the new descriptor, not refused as if it were the
     * one being closed. */
    CHECK_EQ(atomic_load(&reuse_rc), 1);
    CHECK_ERR(cio_read(spair[1], &c, 1, CIO_NEVER), 1);
    CHECK_OK(cio_close(victim_fd));
    CHECK_OK(cio_close(p[1]));
    CHECK_OK(cio_close(spair[0]));
    CHECK_OK(cio_close(spair[1]));
    return 0;
}

CIO_TEST(number_reused_during_close_is_usable)
{
    (void)state;
    cio_test_run(main_reuse, NULL, 2, 0);
}

/* ---- a joiner that gives up and joins again while the task ends -------- */

static atomic_int window_used;

/* The task has read its joiner and is about to mark itself done: stall
 * there once, long enough for the joiner to time out and join again. */
static void stall_once(struct cio__task *t)
{
    (void)t;
    if (atomic_exchange(&window_used, 1) == 0)
        usleep(150 * 1000);
}

static void *end_soon(void *arg)
{
    (void)arg;
    cio_sleep_until(cio_deadline_after(20000000));
    return (void *)7;
}

static int main_rejoin(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, end_soon, NULL, &o));
    cio__test_finish_window = stall_once;
    CHECK_ERR(cio_join(t, NULL, cio_deadline_after(60000000)), CIO_ETIMEDOUT);
    /* The same control word as the first join left: the ending task's
     * compare-and-swap must still see that this is a new join. */
    void *r = NULL;
    int64_t t0 = cio_now();
    CHECK_OK(cio_join(t, &r, cio_deadline_after(3000000000LL)));
    CHECK(cio_now() - t0 < 2000000000LL);
    CHECK_EQ((intptr_t)r, 7);
    cio__test_finish_window = NULL;
    return 0;
}

CIO_TEST(rejoin_while_task_ends_is_woken)
{
    (void)state;
    cio_test_run(main_rejoin, NULL, 2, 0);
}

static uint64_t joins_counted(cio_task h)
{
    struct cio__task *t = cio__task_lookup(atomic_load(&cio__rt), h);
    CHECK(t != NULL);
    return atomic_load(&t->ctl) & CIO__C_JOINS_MASK;
}

static int main_join_no_wait(void *arg)
{
    (void)arg;
    cio_task t;
    CHECK_OK(cio_spawn(&t, end_soon, NULL, NULL));
    uint64_t before = joins_counted(t);
    /* Joins that must not wait never register, so a loop of them cannot
     * wrap the registration count (task.h). */
    for (int i = 0; i < 1000; i++)
        CHECK_ERR(cio_join(t, NULL, 0), CIO_ETIMEDOUT);
    CHECK_EQ(joins_counted(t), before);
    void *r;
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 7);
    return 0;
}

CIO_TEST(join_past_deadline_does_not_register)
{
    (void)state;
    cio_test_run(main_join_no_wait, NULL, 1, 0);
}

/* ---- a plain thread wakes a task while the runtime ends ---------------- */

extern void (*cio__test_finish_gap)(void);

static atomic_int gap_used;

static void stall_in_gap(void)
{
    /* The plain thread, once: the woken task returns and main ends
     * meanwhile; without a pin the runtime is freed under the wake. */
    if (!cio_self().id && atomic_exchange(&gap_used, 1) == 0)
        usleep(200 * 1000);
}

static void *late_sender(void *arg)
{
    cio_chan *c = arg;
    long v = 42;
    while (cio_chan_try_send(c, &v) != 0)
        usleep(1000);
    return NULL;
}

static int main_thread_wakes_at_end(void *arg)
{
    cio_chan *c = arg;
    long v = 0;
    int rc;
    /* Deadlines shorter than the stall: the receive ends by its timer,
     * finds its record claimed, and takes the element. */
    while ((rc = cio_chan_recv(c, &v, cio_deadline_after(20000000))) ==
           CIO_ETIMEDOUT)
        ;
    CHECK_OK(rc);
    CHECK_EQ(v, 42);
    return 0; /* main ends while the sender may still be in the gap */
}

CIO_TEST(thread_waker_pins_the_runtime_it_wakes_into)
{
    (void)state;
    cio_chan *c;
    assert_int_equal(cio_chan_make(&c, sizeof(long), 0), 0);
    atomic_store(&gap_used, 0);
    cio__test_finish_gap = stall_in_gap;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_sender, c), 0);
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    assert_int_equal(cio_run(main_thread_wakes_at_end, c, &cfg), 0);
    pthread_join(th, NULL);
    cio__test_finish_gap = NULL;
    assert_int_equal(cio_chan_free(&c), 0);
    cio_test_check_teardown();
}

/* A pool thread that is slow to come back after waking its caller: the
 * caller, whose job is done, must not see the thread still busy. */
static void slow_after_wake(void)
{
    usleep(30 * 1000);
}

static void *no_work(void *arg)
{
    return arg;
}

static int main_busy_after_wake(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cio_blocking(no_work, NULL, NULL, CIO_NEVER));
        cio_stats s;
        cio_stats_get(&s);
        CHECK_EQ(s.pool_busy, 0);
    }
    return 0;
}

CIO_TEST(pool_thread_not_busy_once_its_caller_is_woken)
{
    (void)state;
    /* Set and cleared while no pool thread exists (they read it). */
    cio__test_pool_after_wake = slow_after_wake;
    cio_test_run(main_busy_after_wake, NULL, 2, 0);
    cio__test_pool_after_wake = NULL;
}

CIO_TEST_MAIN(cmocka_unit_test(stack_mmap_failure_reported_at_join),
              cmocka_unit_test(thread_creation_failure),
              cmocka_unit_test(kernel_object_failure),
              cmocka_unit_test(main_without_stack_is_an_error),
              cmocka_unit_test(
                  all_done_check_sees_spawn_of_task_ending_meanwhile),
              cmocka_unit_test(number_reused_during_close_is_usable),
              cmocka_unit_test(rejoin_while_task_ends_is_woken),
              cmocka_unit_test(join_past_deadline_does_not_register),
              cmocka_unit_test(thread_waker_pins_the_runtime_it_wakes_into),
              cmocka_unit_test(pool_thread_not_busy_once_its_caller_is_woken))
