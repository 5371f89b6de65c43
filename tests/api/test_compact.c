/* Compact tasks (CIO_SPAWN_COMPACT): a task that waits long has its
 * frames copied out and its stack's pages given back, and runs on after
 * the wait as if nothing happened: every local, pointers into its own
 * frames, errno and task-local values. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static cio_stats stats(void)
{
    cio_stats s;
    cio_stats_get(&s);
    return s;
}

/* Waits until `n` compact tasks are trimmed (frames copied out). */
static void until_compacted(uint64_t n)
{
    int64_t until = cio_deadline_after(5000 * MS);
    while (stats().tasks_compacted < n) {
        if (cio_now() > until)
            cio_test_fail(__FILE__, __LINE__, "%llu tasks compacted, want %llu",
                          (unsigned long long)stats().tasks_compacted,
                          (unsigned long long)n);
        CHECK_OK(cio_sleep_until(cio_deadline_after(1 * MS)));
    }
}

static cio_task spawn_compact_on(cio_task_fn *fn, void *arg, int worker)
{
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_COMPACT;
    if (worker >= 0) {
        o.flags |= CIO_SPAWN_PIN;
        o.worker = worker % cio_workers();
    }
    cio_task t;
    CHECK_OK(cio_spawn(&t, fn, arg, &o));
    return t;
}

static cio_task spawn_compact(cio_task_fn *fn, void *arg)
{
    return spawn_compact_on(fn, arg, -1);
}

static cio_key key;

/* Runs `fn` on two workers, compact tasks trimmed after `after_ns`. */
static void run_compact(int (*fn)(void *), void *arg, int64_t after_ns)
{
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.compact_after_ns = after_ns;
    cio_test_run_cfg(fn, arg, &cfg, 0);
}

/* What the waiting frames hold, checked after the wait. */
struct probe {
    int depth;
    int64_t wake_at;
    int fd;          /* >= 0: wait by reading it instead of sleeping */
    int expect;      /* what the wait returns: 0 (a sleep), 1 (a byte) or
                        an error (woken early: closed, cancelled) */
    uint64_t sum;    /* of every frame's pattern, before and after */
};

static uint64_t deep(struct probe *p, int d)
{
    /* Locals in every frame, one pointing into its own frame and one
     * into the caller's. */
    unsigned char buf[200];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + (size_t)d);
    unsigned char *mine = &buf[d % 100];
    uint64_t below = 0;
    if (d < p->depth) {
        below = deep(p, d + 1);
    } else {
        if (p->fd >= 0) {
            char c = 0;
            ssize_t r = cio_read(p->fd, &c, 1, cio_deadline_after(5000 * MS));
            CHECK_EQ(r, p->expect ? p->expect : 1);
            CHECK(r != 1 || c == 'x');
        } else {
            /* A sleep leaves errno alone: what the task set survives. */
            errno = 1234;
            CHECK_EQ(cio_sleep_until(p->wake_at), p->expect);
            CHECK_EQ(errno, 1234);
        }
        CHECK(cio_key_get(key) == (void *)p);
    }
    uint64_t sum = below;
    for (size_t i = 0; i < sizeof buf; i++) {
        CHECK_EQ(buf[i], (unsigned char)(i * 7 + (size_t)d));
        sum += buf[i];
    }
    CHECK(mine == &buf[d % 100] && *mine == buf[d % 100]);
    return sum;
}

static void *waiter(void *arg)
{
    struct probe *p = arg;
    CHECK_OK(cio_key_set(key, p));
    p->sum = deep(p, 0);
    return NULL;
}

static int main_sleep(void *arg)
{
    (void)arg;
    CHECK_OK(cio_key_create(&key, NULL));
    struct probe p = {.depth = 20,
                      .wake_at = cio_deadline_after(300 * MS),
                      .fd = -1};
    /* On the other worker than main's: an idle worker wakes to trim. */
    cio_task t = spawn_compact_on(waiter, &p, 1);
    until_compacted(1);
    /* Its copy is its live frames: 21 frames of about 250 bytes, not the
     * pages they span (a sanitizer's redzones and fake stack change the
     * sizes). */
    cio_stats s = stats();
    if (!cio_test_sanitized())
        CHECK(s.compact_bytes > 20 * 200 && s.compact_bytes < 12 * 1024);
    /* And the pages are gone (one may stay: a canary's). */
    cio_task_stats ts;
    CHECK_OK(cio_task_stats_get(t, &ts));
    CHECK(ts.stack_used <= 4096);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_EQ(stats().tasks_compacted, 0);
    CHECK_EQ(stats().compact_bytes, 0);
    uint64_t want = 0;
    for (int d = 0; d <= 20; d++)
        for (size_t i = 0; i < 200; i++)
            want += (unsigned char)(i * 7 + (size_t)d);
    CHECK_EQ(p.sum, want);
    CHECK_OK(cio_key_delete(key));
    return 0;
}

CIO_TEST(a_sleeping_compact_task_is_trimmed_and_resumes_whole)
{
    (void)state;
    run_compact(main_sleep, NULL, 20 * MS);
}

static int main_socket(void *arg)
{
    (void)arg;
    CHECK_OK(cio_key_create(&key, NULL));
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    struct probe p = {.depth = 5, .fd = sv};
    cio_task t = spawn_compact(waiter, &p);
    until_compacted(1);
    CHECK_EQ(cio_write(c, "x", 1, CIO_NEVER), 1);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_EQ(stats().tasks_compacted, 0);
    CHECK(p.sum > 0);
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(sv));
    CHECK_OK(cio_key_delete(key));
    return 0;
}

CIO_TEST(a_compact_task_waiting_on_a_socket_is_trimmed_and_reads_after)
{
    (void)state;
    run_compact(main_socket, NULL, 20 * MS);
}

/* Many at once, woken in a burst while the sweep may be trimming: each
 * comes back with its own frames. */
#define MANY 2000

static void *many_sleeper(void *arg)
{
    struct probe *p = arg;
    CHECK_OK(cio_key_set(key, p));
    p->sum = deep(p, 0);
    return NULL;
}

/* Samples the number trimmed at once, until told to stop. */
static uint64_t most;
static atomic_bool stop_watch;

static void *watch(void *arg)
{
    (void)arg;
    while (!stop_watch) {
        uint64_t n = stats().tasks_compacted;
        if (n > most)
            most = n;
        CHECK_OK(cio_sleep_until(cio_deadline_after(1 * MS)));
    }
    return NULL;
}

static int main_many(void *arg)
{
    (void)arg;
    CHECK_OK(cio_key_create(&key, NULL));
    static struct probe p[MANY];
    static cio_task t[MANY];
    most = 0;
    stop_watch = false;
    cio_task w;
    CHECK_OK(cio_spawn(&w, watch, NULL, NULL));
    int64_t base = cio_deadline_after(100 * MS);
    for (int i = 0; i < MANY; i++) {
        /* Wake times spread over 100 ms, past the trimming age of some. */
        p[i] = (struct probe){.depth = 1 + i % 5,
                              .wake_at = base + (int64_t)(i % 100) * MS,
                              .fd = -1};
        t[i] = spawn_compact(many_sleeper, &p[i]);
    }
    for (int i = 0; i < MANY; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    stop_watch = true;
    CHECK_OK(cio_join(w, NULL, CIO_NEVER));
    CHECK_EQ(stats().tasks_compacted, 0);
    CHECK(most > 0); /* trims happened, and all came back */
    CHECK_OK(cio_key_delete(key));
    return 0;
}

CIO_TEST(many_compact_tasks_trimmed_and_woken_in_bursts_stay_whole)
{
    (void)state;
    run_compact(main_many, NULL, 1 * MS);
}

/* A trimmed task woken by another task of its worker, which then yields:
 * the worker switches straight from that one to it (no scheduler pass),
 * and its frames must come back on that path too. */
static void *canceller(void *arg)
{
    cio_task *t = arg;
    CHECK_OK(cio_cancel(*t));
    cio_yield();
    return NULL;
}

static int main_direct(void *arg)
{
    (void)arg;
    CHECK_OK(cio_key_create(&key, NULL));
    for (int round = 0; round < 50; round++) {
        struct probe p = {.depth = 8, .wake_at = CIO_NEVER, .fd = -1,
                          .expect = CIO_ECANCELED};
        cio_task t = spawn_compact_on(waiter, &p, 0);
        until_compacted(1);
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = CIO_SPAWN_PIN;
        o.worker = 0;
        cio_task c;
        CHECK_OK(cio_spawn(&c, canceller, &t, &o));
        CHECK_OK(cio_join(c, NULL, CIO_NEVER));
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
        CHECK(p.sum > 0);
        CHECK_EQ(stats().tasks_compacted, 0);
    }
    CHECK_OK(cio_key_delete(key));
    return 0;
}

CIO_TEST(a_trimmed_task_switched_to_directly_gets_its_frames_back)
{
    (void)state;
    run_compact(main_direct, NULL, 5 * MS);
}

/* Waits whose other side writes into the task's frames never allow it,
 * and neither does compact_after_ns = -1. */
static void *sleeps(void *arg)
{
    CHECK_OK(cio_sleep_until(cio_deadline_after(60 * MS)));
    return arg;
}

static void *joins(void *arg)
{
    (void)arg;
    cio_task s;
    CHECK_OK(cio_spawn(&s, sleeps, NULL, NULL));
    void *r;
    CHECK_OK(cio_join(s, &r, CIO_NEVER));
    cio_chan *ch;
    CHECK_OK(cio_chan_make(&ch, sizeof(int), 0));
    int v = 0;
    CHECK_ERR(cio_chan_recv(ch, &v, cio_deadline_after(60 * MS)),
              CIO_ETIMEDOUT);
    CHECK_OK(cio_chan_free(&ch));
    return NULL;
}

static int main_never(void *arg)
{
    cio_task_fn *fn = arg;
    most = 0;
    stop_watch = false;
    cio_task w;
    CHECK_OK(cio_spawn(&w, watch, NULL, NULL));
    cio_task t = spawn_compact(fn, NULL);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    stop_watch = true;
    CHECK_OK(cio_join(w, NULL, CIO_NEVER));
    CHECK_EQ(most, 0);
    return 0;
}

CIO_TEST(joins_channels_and_a_negative_age_never_trim)
{
    (void)state;
    run_compact(main_never, (void *)joins, 1 * MS);
    run_compact(main_never, (void *)sleeps, -1);
}

static void *nothing(void *arg)
{
    return arg;
}

static int main_refused(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_COMPACT | CIO_SPAWN_MIGRATE;
    cio_task t;
    CHECK_ERR(cio_spawn(&t, nothing, NULL, &o), CIO_EINVAL);
    return 0;
}

CIO_TEST(compact_with_migrate_and_bad_settings_are_refused)
{
    (void)state;
    cio_test_run(main_refused, NULL, 1, 0);
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.compact_after_ns = -5;
    assert_int_equal(cio_run(main_refused, NULL, &cfg), CIO_EINVAL);
}

CIO_TEST_MAIN(cmocka_unit_test(a_sleeping_compact_task_is_trimmed_and_resumes_whole),
              cmocka_unit_test(a_compact_task_waiting_on_a_socket_is_trimmed_and_reads_after),
              cmocka_unit_test(many_compact_tasks_trimmed_and_woken_in_bursts_stay_whole),
              cmocka_unit_test(a_trimmed_task_switched_to_directly_gets_its_frames_back),
              cmocka_unit_test(joins_channels_and_a_negative_age_never_trim),
              cmocka_unit_test(compact_with_migrate_and_bad_settings_are_refused))
