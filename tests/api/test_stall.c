/* Stall reports: a task that computes for 300 ms without waiting is
 * reported once, by name, with a backtrace, while the tasks queued behind
 * it are run by the other worker; nothing is reported when reports are
 * off or nothing stalls. */
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"
#include "observe/observe.h"

#define MS 1000000LL

static atomic_int ran;

static void *quick(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
    return NULL;
}

static void *hog(void *arg)
{
    (void)arg;
    /* Queued on this worker: not started, so the other may take them. */
    for (int i = 0; i < 10; i++)
        CHECK_OK(cio_spawn(NULL, quick, NULL, NULL));
    int64_t end = cio_now() + 300 * MS;
    while (cio_now() < end)
        ; /* never waits */
    return (void *)(intptr_t)atomic_load(&ran);
}

static int main_hog(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "hog";
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, hog, NULL, &o));
    void *r;
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    /* All ten ran while the hog held its worker. */
    CHECK_EQ((intptr_t)r, 10);
    return 0;
}

static int run_hog(void *arg)
{
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.stall_ns = (int64_t)(intptr_t)arg;
    atomic_store(&ran, 0);
    return cio_run(main_hog, NULL, &cfg) == 0 ? 0 : 1;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

CIO_TEST(stalled_task_is_reported_once_with_a_backtrace)
{
    (void)state;
    char said[8192];
    int st = cio_test_in_child(run_hog, (void *)(intptr_t)(50 * MS), said,
                               sizeof said);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (count(said, "cio: stall: task \"hog\" has run on worker 1 for ") != 1)
        fail_msg("expected one report, got: %s", said);
    /* backtrace_symbols_fd lines: "binary(symbol+0x..)[0x...]". */
    assert_non_null(strstr(said, ")[0x"));
    long ms = atol(strstr(said, " for ") + 5);
    assert_true(ms >= 50 && ms < 300);
}

CIO_TEST(no_report_when_off_or_nothing_stalls)
{
    (void)state;
    char said[8192];
    int st = cio_test_in_child(run_hog, (void *)(intptr_t)-1, said,
                               sizeof said);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_null(strstr(said, "stall"));
    /* A threshold above the hog's 300 ms: nothing to report. */
    st = cio_test_in_child(run_hog, (void *)(intptr_t)(2000 * MS), said,
                           sizeof said);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_null(strstr(said, "stall"));
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.stall_ns = -2;
    assert_int_equal(cio_run(run_hog, NULL, &cfg), CIO_EINVAL);
}

/* The unwinder can fault on a frame it misreads (it did under qemu): the
 * report must then say so and the program go on, not be stopped as a
 * stack overflow (the signal stack lies below the task's) or killed. */
static int run_hog_faulting(void *arg)
{
    void *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (page == MAP_FAILED)
        return 2;
    cio__test_report_fault_at = page;
    return run_hog(arg);
}

CIO_TEST(a_fault_while_unwinding_is_reported_and_survived)
{
    (void)state;
    if (cio_test_tsan())
        CIO_SKIP("ThreadSanitizer takes the fault first, its own way");
    char said[8192];
    int st = cio_test_in_child(run_hog_faulting, (void *)(intptr_t)(50 * MS),
                               said, sizeof said);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("status %#x, said: %s", st, said);
    if (count(said, "cio: stall: task \"hog\" has run on worker 1 for ") != 1)
        fail_msg("expected one report, got: %s", said);
    assert_non_null(strstr(said, "backtrace unavailable"));
    assert_null(strstr(said, "overflow"));
}

CIO_TEST_MAIN(cmocka_unit_test(stalled_task_is_reported_once_with_a_backtrace),
              cmocka_unit_test(no_report_when_off_or_nothing_stalls),
              cmocka_unit_test(a_fault_while_unwinding_is_reported_and_survived))
