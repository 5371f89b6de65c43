/* The timer heap against a sorted reference (white box): random arms and
 * disarms keep it ordered, equal deadlines leave in arming order. */
#include "harness.h"
#include "core/runtime.h"
#include "core/timer.h"

#define N 20000

static struct cio__timer timers[N];

static int cmp(const void *a, const void *b)
{
    const struct cio__timer *x = *(struct cio__timer *const *)a;
    const struct cio__timer *y = *(struct cio__timer *const *)b;
    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

CIO_TEST(heap_random_arm_disarm)
{
    (void)state;
    unsigned seed = cio_test_seed();
    struct cio__worker *w = calloc(1, sizeof *w);
    assert_non_null(w);
    assert_int_equal(cio__timer_heap_init(&w->timers), 0);
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        timers[i].deadline = (seed >> 16) % 500; /* many equal deadlines */
        assert_int_equal(cio__timer_arm(w, &timers[i]), 0);
    }
    /* Take out every third at random positions of the heap. */
    int kept = 0;
    static struct cio__timer *ref[N];
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1)
            cio__timer_disarm(&timers[i]);
        else
            ref[kept++] = &timers[i];
    }
    cio__timer_disarm(&timers[1]); /* twice: nothing happens */
    assert_int_equal(atomic_load(&w->timers.n), kept);
    qsort(ref, (size_t)kept, sizeof ref[0], cmp);
    for (int i = 0; i < kept; i++) {
        struct cio__timer *top = w->timers.v[0];
        assert_ptr_equal(top, ref[i]);
        cio__timer_disarm(top);
    }
    assert_int_equal(atomic_load(&w->timers.n), 0);
    assert_int_equal(cio__timer_next(w), CIO_NEVER);
    cio__timer_heap_fini(&w->timers);
    free(w);
}

CIO_TEST_MAIN(cmocka_unit_test(heap_random_arm_disarm))
