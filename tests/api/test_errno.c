/* errno and task-local values stay the task's own across switches.
 *
 * Built twice, at -O2 and -O3: optimizing compilers keep &errno in a
 * register across calls (glibc declares __errno_location() const), which
 * is exactly what a careless runtime gets wrong.
 */
#include <errno.h>
#include <stdatomic.h>

#include "harness.h"

#define TASKS 20
#define YIELDS 5000 /* TASKS * YIELDS = 100,000 switches per case */

static cio_key key;
static atomic_long migrations_seen;

/* Default tasks: errno read and written directly, as ordinary C does. */
static void *errno_keeper(void *arg)
{
    int mine = 1000 + (int)(intptr_t)arg;
    int *tag = malloc(sizeof *tag);
    CHECK(tag);
    *tag = mine;
    CHECK_OK(cio_key_set(key, tag));
    int home = cio_worker();
    for (int i = 0; i < YIELDS; i++) {
        errno = mine;
        CHECK_OK(cio_yield());
        CHECK_EQ(errno, mine);
        CHECK(cio_key_get(key) == tag);
        CHECK_EQ(cio_worker(), home);
        if (i % 500 == 0) {
            errno = mine + 1;
            CHECK_OK(cio_sleep_until(cio_deadline_after(1000)));
            CHECK_EQ(errno, mine + 1);
        }
    }
    return NULL;
}

/* Migrating tasks read errno only through a call the compiler cannot see
 * into, as code that uses cio's calls alone would (it never keeps &errno). */
__attribute__((noinline)) static int get_errno(void)
{
    int e = errno;
    __asm__ volatile("" : "+r"(e));
    return e;
}

__attribute__((noinline)) static void set_errno(int v)
{
    errno = v;
    __asm__ volatile("" ::: "memory");
}

static void *migrator(void *arg)
{
    int mine = 2000 + (int)(intptr_t)arg;
    int *tag = malloc(sizeof *tag);
    CHECK(tag);
    CHECK_OK(cio_key_set(key, tag));
    int last = cio_worker();
    long moved = 0;
    for (int i = 0; i < YIELDS; i++) {
        set_errno(mine);
        if (i % 64 == 0)
            CHECK_OK(cio_sleep_until(cio_deadline_after(2000)));
        else
            CHECK_OK(cio_yield());
        CHECK_EQ(get_errno(), mine);
        CHECK(cio_key_get(key) == tag);
        int now = cio_worker();
        if (now != last)
            moved++;
        last = now;
    }
    atomic_fetch_add(&migrations_seen, moved);
    return NULL;
}

static int run_tasks(cio_task_fn *fn, unsigned flags)
{
    CHECK_OK(cio_key_create(&key, free));
    cio_task t[TASKS];
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = flags;
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(cio_spawn(&t[i], fn, (void *)(intptr_t)i, &o));
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_OK(cio_key_delete(key));
    return 0;
}

static int main_default(void *arg)
{
    (void)arg;
    return run_tasks(errno_keeper, 0);
}

static int main_migrate(void *arg)
{
    (void)arg;
    return run_tasks(migrator, CIO_SPAWN_MIGRATE);
}

CIO_TEST(errno_and_keys_default_tasks)
{
    (void)state;
    cio_test_run(main_default, NULL, 2, 0);
    cio_stats s;
    cio_stats_get(&s);
    assert_true(s.switches >= TASKS * YIELDS);
    /* Started tasks never move by default. */
    assert_int_equal(s.migrations, 0);
}

CIO_TEST(errno_and_keys_migrating_tasks)
{
    (void)state;
    cio_test_run(main_migrate, NULL, 2, 0);
    cio_stats s;
    cio_stats_get(&s);
    /* They really moved, seen from inside and counted by the runtime. */
    assert_true(atomic_load(&migrations_seen) > 0);
    assert_true(s.migrations > 0);
}

CIO_TEST_MAIN(cmocka_unit_test(errno_and_keys_default_tasks),
              cmocka_unit_test(errno_and_keys_migrating_tasks))
