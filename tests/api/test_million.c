/* A million tasks alive at once, with the default stack size, under the
 * system's default vm.max_map_count (65530): stacks must not be one mapping
 * each. Sanitizer builds hold fewer: ASan multiplies the memory per stack,
 * TSan maps a shadow stack of its own for every task. */
#include <stdatomic.h>
#include <string.h>

#include "harness.h"

static atomic_int asleep, woke;

static void *doze(void *arg)
{
    (void)arg;
    atomic_fetch_add(&asleep, 1);
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static long map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static int main_million(void *arg)
{
    int n = *(int *)arg;
    for (int i = 0; i < n; i++)
        CHECK_OK(cio_spawn(NULL, doze, NULL, NULL));
    while (atomic_load(&asleep) < n)
        CHECK_OK(cio_sleep_until(cio_deadline_after(5000000)));
    cio_stats s;
    cio_stats_get(&s);
    CHECK(s.stacks_live >= (uint64_t)n);
    long maps = map_count();
    printf("%d tasks asleep: %ld mappings, %llu MiB of stack address space\n",
           n, maps, (unsigned long long)(s.stack_bytes_mapped >> 20));
    /* TSan maps a shadow stack per task itself: only count without it. */
    if (!cio_test_tsan())
        CHECK(maps > 0 && maps < 30000);
    /* Returning cancels them all; cio_run waits for every one. */
    return 0;
}

CIO_TEST(million_concurrent_tasks)
{
    (void)state;
    int n = cio_test_tsan() ? 20000 : cio_test_sanitized() ? 100000 : 1000000;
    cio_test_run(main_million, &n, 2, 0);
    assert_int_equal(atomic_load(&woke), n);
}

CIO_TEST_MAIN(cmocka_unit_test(million_concurrent_tasks))
