/* The wait/wake protocol under cross-worker stress (white box).
 *
 * Pairs of tasks ping-pong through one-slot mailboxes built directly on
 * cio__wait_begin/cio__park/cio__wake, with the pair's two tasks on
 * different workers. Every successful wake must end exactly one park, no
 * wake may be lost (the test would hang: ctest's timeout fails it), and no
 * task may ever be queued twice (the runtime's self-check, asserted at
 * teardown).
 */
#include <stdatomic.h>

#include "harness.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"

#define PAIRS 4
#define ROUNDS 20000

struct box {
    pthread_mutex_t lock;
    int full;
    struct cio__task *waiter;
    uint64_t seq;
};

static struct box boxes[PAIRS][2];
static atomic_long wakes_won, parks_ok;

static void box_put(struct box *b)
{
    pthread_mutex_lock(&b->lock);
    CHECK_EQ(b->full, 0);
    b->full = 1;
    struct cio__task *w = b->waiter;
    uint64_t seq = b->seq;
    b->waiter = NULL;
    pthread_mutex_unlock(&b->lock);
    if (w && cio__wake(w, seq, CIO__WAKE_OK))
        atomic_fetch_add(&wakes_won, 1);
}

static void box_take(struct box *b)
{
    struct cio__task *self = cio__task_current();
    for (;;) {
        uint64_t seq = cio__wait_begin(self);
        pthread_mutex_lock(&b->lock);
        if (b->full) {
            b->full = 0;
            pthread_mutex_unlock(&b->lock);
            return;
        }
        b->waiter = self;
        b->seq = seq;
        pthread_mutex_unlock(&b->lock);
        int r = cio__park(self, CIO_NEVER);
        CHECK_ERR(r, CIO__WAKE_OK);
        atomic_fetch_add(&parks_ok, 1);
    }
}

static void *pinger(void *arg)
{
    struct box *b = arg; /* b[0]: to the ponger, b[1]: back */
    for (int i = 0; i < ROUNDS; i++) {
        box_put(&b[0]);
        box_take(&b[1]);
    }
    return NULL;
}

static void *ponger(void *arg)
{
    struct box *b = arg;
    for (int i = 0; i < ROUNDS; i++) {
        box_take(&b[0]);
        box_put(&b[1]);
    }
    return NULL;
}

static int main_pairs(void *arg)
{
    unsigned flags = *(unsigned *)arg;
    cio_task t[2 * PAIRS];
    for (int p = 0; p < PAIRS; p++) {
        for (int k = 0; k < 2; k++) {
            pthread_mutex_init(&boxes[p][k].lock, NULL);
            boxes[p][k].full = 0;
            boxes[p][k].waiter = NULL;
        }
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = flags;
        o.worker = 0;
        CHECK_OK(cio_spawn(&t[2 * p], pinger, boxes[p], &o));
        o.worker = 1;
        CHECK_OK(cio_spawn(&t[2 * p + 1], ponger, boxes[p], &o));
    }
    for (int i = 0; i < 2 * PAIRS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return 0;
}

static void check_counts(void)
{
    long won = atomic_load(&wakes_won), ok = atomic_load(&parks_ok);
    printf("wakes won %ld, parks ended %ld\n", won, ok);
    assert_int_equal(won, ok);
    assert_true(won > 0);
}

CIO_TEST(cross_worker_pinned_pairs)
{
    (void)state;
    unsigned flags = CIO_SPAWN_PIN;
    cio_test_run(main_pairs, &flags, 2, 0);
    check_counts();
}

CIO_TEST(cross_worker_migrating_pairs)
{
    (void)state;
    unsigned flags = CIO_SPAWN_MIGRATE;
    cio_test_run(main_pairs, &flags, 2, 0);
    check_counts();
}

CIO_TEST(cross_worker_default_pairs)
{
    (void)state;
    unsigned flags = 0;
    cio_test_run(main_pairs, &flags, 2, 0);
    check_counts();
}

CIO_TEST_MAIN(cmocka_unit_test(cross_worker_pinned_pairs),
              cmocka_unit_test(cross_worker_migrating_pairs),
              cmocka_unit_test(cross_worker_default_pairs))
