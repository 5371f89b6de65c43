/* A mixed load meant for ThreadSanitizer: migrating and home tasks that
 * sleep, wait on sockets with deadlines, run pool jobs, cancel each other
 * and spawn while exiting, on more workers than the machine has CPUs.
 * Without TSan it still checks that every task ends and nothing leaks. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define US 1000LL
#define TASKS 16

static int rounds;
static int pairs[TASKS][2];
static atomic_long grandchildren;

static uint32_t next(uint32_t *r)
{
    *r = *r * 1664525u + 1013904223u;
    return *r >> 8;
}

static void *leaf(void *arg)
{
    (void)arg;
    atomic_fetch_add(&grandchildren, 1);
    return NULL;
}

/* Spawns its own child as it exits. */
static void *parent(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_MIGRATE;
    CHECK_OK(cio_spawn(NULL, leaf, NULL, &o));
    return NULL;
}

static void *sleeper(void *arg)
{
    int64_t d = (int64_t)(intptr_t)arg;
    int rc = cio_sleep_until(cio_deadline_after(d));
    CHECK(rc == 0 || rc == CIO_ECANCELED);
    return NULL;
}

static void *job(void *arg)
{
    return arg;
}

static void *stress(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint32_t r = (uint32_t)me * 2654435761u + 1;
    int mine = pairs[me][0], peer = pairs[(me + 1) % TASKS][1];
    char buf[64];
    for (int i = 0; i < rounds; i++) {
        int rc;
        switch (next(&r) % 7) {
        case 0:
            CHECK_OK(cio_sleep_until(
                cio_deadline_after((int64_t)(next(&r) % 200) * US)));
            break;
        case 1:
            rc = (int)cio_read(mine, buf, sizeof buf,
                               cio_deadline_after((int64_t)(next(&r) % 300) *
                                                  US));
            CHECK(rc > 0 || rc == CIO_ETIMEDOUT);
            break;
        case 2:
            rc = (int)cio_write(peer, "x", 1, cio_deadline_after(1000 * US));
            CHECK(rc == 1 || rc == CIO_ETIMEDOUT);
            break;
        case 3: {
            void *out = NULL;
            CHECK_OK(cio_blocking(job, (void *)(intptr_t)i, &out, CIO_NEVER));
            CHECK_EQ((intptr_t)out, i);
            break;
        }
        case 4: {
            cio_task t;
            CHECK_OK(cio_spawn(&t, sleeper,
                               (void *)(intptr_t)((next(&r) % 500) * US), NULL));
            if (next(&r) & 1)
                cio_yield();
            rc = cio_cancel(t);
            CHECK(rc == 0);
            CHECK_OK(cio_join(t, NULL, CIO_NEVER));
            break;
        }
        case 5:
            CHECK_OK(cio_spawn(NULL, parent, NULL, NULL));
            break;
        default:
            cio_yield();
        }
    }
    return NULL;
}

static int main_stress(void *arg)
{
    (void)arg;
    for (int i = 0; i < TASKS; i++)
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]) == 0);
    cio_task t[TASKS];
    for (int i = 0; i < TASKS; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = i % 2 ? CIO_SPAWN_MIGRATE : 0;
        CHECK_OK(cio_spawn(&t[i], stress, (void *)(intptr_t)i, &o));
    }
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    for (int i = 0; i < TASKS; i++) {
        CHECK_OK(cio_close(pairs[i][0]));
        CHECK_OK(cio_close(pairs[i][1]));
    }
    return 0;
}

CIO_TEST(mixed_load_on_more_workers_than_cpus)
{
    (void)state;
    rounds = getenv("CIO_TEST_EMULATED") ? 300 : 3000;
    cio_test_run(main_stress, NULL, 4, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(mixed_load_on_more_workers_than_cpus))
