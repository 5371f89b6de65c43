/* A stack overflow is reported with the task's name and stack size, and
 * the process stops. Each case runs the overflow in a child process. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "os/os.h"

__attribute__((noinline)) static int recurse(volatile char *prev, int depth)
{
    volatile char frame[256];
    frame[0] = (char)depth;
    frame[255] = prev ? prev[0] : 0;
    if (depth == 0)
        return frame[0];
    return recurse(frame, depth - 1) + frame[255];
}

static void *deep(void *arg)
{
    (void)arg;
    recurse(NULL, 1 << 20); /* far more than any stack here */
    return NULL;
}

static void *smash_small(void *arg)
{
    (void)arg;
    /* Writes from past the end of the smallest stack (a page, rounded up
     * from CIO_STACK_MIN) up into it: the guard region faults, or, without
     * guard regions, the check at the next switch sees the canary. */
    size_t n = cio__os_page() + 1024;
    volatile char big[n];
    memset((char *)big, 0x55, n);
    cio_yield();
    return (void *)(intptr_t)big[7];
}

static size_t overflow_stack;
static cio_task_fn *overflow_fn;

static int main_overflow(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "deep-diver";
    o.stack_size = overflow_stack;
    cio_task t;
    CHECK_OK(cio_spawn(&t, overflow_fn, NULL, &o));
    cio_join(t, NULL, CIO_NEVER);
    return 0;
}

static int run_overflow(void *arg)
{
    (void)arg;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 1;
    cio_run(main_overflow, NULL, &cfg);
    return 0; /* not reached when the overflow is caught */
}

/* Runs the overflow in a child and checks what it wrote on stderr. */
static void expect_overflow_report(size_t stack, cio_task_fn *fn,
                                   const char *want)
{
    char buf[4096];
    overflow_stack = stack;
    overflow_fn = fn;
    int status = cio_test_in_child(run_overflow, NULL, buf, sizeof buf);
    if (!strstr(buf, want))
        fail_msg("child said: '%s', want '%s'", buf, want);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* Whether this kernel has guard regions that really fault (Linux 6.13+;
 * qemu-user accepts the call and does nothing). */
static int guard_regions_work(void)
{
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int fds[2], ok = 0;
    if (madvise(p, 4096, 102 /* MADV_GUARD_INSTALL */) == 0 &&
        pipe(fds) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, 4096);
    return ok;
}

CIO_TEST(overflow_guard_page_reported)
{
    (void)state;
    if (cio_test_sanitized())
        CIO_SKIP("sanitizers catch the overflow first, their own way");
    if (!guard_regions_work())
        CIO_SKIP("no working guard regions here; the canary case covers "
                 "overflow detection");
    expect_overflow_report(16384, deep,
                           "stack overflow in task \"deep-diver\" "
                           "(stack of 16384 bytes)");
}

CIO_TEST(overflow_small_stack_reported)
{
    (void)state;
    if (cio_test_sanitized())
        CIO_SKIP("sanitizers catch the overflow first, their own way");
    /* CIO_STACK_MIN is rounded up to the page size; the report says so. */
    char want[128];
    snprintf(want, sizeof want,
             "stack overflow in task \"deep-diver\" (stack of %zu bytes)",
             cio__os_page());
    expect_overflow_report(CIO_STACK_MIN, smash_small, want);
}

/* ---- an overflow never silently corrupts the neighbouring stack -------- */

/* Two tasks with the smallest stacks. The one whose stack lies higher runs
 * a function whose frame is bigger than its stack and writes only the far
 * end of it (a big local buffer used from its start), then returns before
 * the next switch: the stack pointer check never sees it, and a canary
 * below the stack is skipped. The other task holds a known pattern in a
 * live frame meanwhile. The overflow must be reported, or must leave the
 * pattern alone. */

#define PATTERN_LEN 1280

static size_t nb_frame;                 /* overrunning frame, bytes */
static int nb_fake_guards;              /* guard regions accepted, inert */
static const char *volatile nb_top[2];  /* each task's stack top, roughly */
static _Atomic int nb_started, nb_holding, nb_done;
static _Atomic int nb_over = -1;        /* index of the overrunning task */
static int nb_changed;
static volatile char nb_sink;

static char pattern_at(int i)
{
    return (char)(0xa0 + i % 7);
}

__attribute__((noinline)) static char overrun(size_t n)
{
    volatile char big[n];
    for (int i = 0; i < 64; i++)
        big[i] = 0x55;
    return big[63];
}

__attribute__((noinline)) static void hold_pattern(void)
{
    volatile char pat[PATTERN_LEN];
    for (int i = 0; i < PATTERN_LEN; i++)
        pat[i] = pattern_at(i);
    atomic_store(&nb_holding, 1);
    while (!atomic_load(&nb_done))
        cio_yield();
    int changed = 0;
    for (int i = 0; i < PATTERN_LEN; i++)
        changed += pat[i] != pattern_at(i);
    nb_changed = changed;
}

static void *neighbour(void *arg)
{
    int me = (int)(intptr_t)arg;
    volatile char here = 0;
    nb_top[me] = (const char *)&here;
    atomic_fetch_add(&nb_started, 1);
    while (atomic_load(&nb_over) < 0)
        cio_yield();
    if (atomic_load(&nb_over) != me) {
        hold_pattern();
        return NULL;
    }
    while (!atomic_load(&nb_holding))
        cio_yield();
    nb_sink = overrun(nb_frame);
    cio_yield(); /* the switch that checks the stack */
    atomic_store(&nb_done, 1);
    return NULL;
}

static int main_neighbours(void *arg)
{
    (void)arg;
    static const char *const names[2] = {"left", "right"};
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.stack_size = CIO_STACK_MIN;
    cio_task t[2];
    for (int i = 0; i < 2; i++) {
        o.name = names[i];
        CHECK_OK(cio_spawn(&t[i], neighbour, (void *)(intptr_t)i, &o));
    }
    while (atomic_load(&nb_started) < 2)
        cio_yield();
    int hi = nb_top[1] > nb_top[0];
    /* Otherwise the test would prove nothing: the stacks must be
     * neighbours, the overrunning one right above the other. */
    size_t dist = (size_t)(nb_top[hi] - nb_top[!hi]);
    CHECK(dist <= 4 * cio__os_page());
    atomic_store(&nb_over, hi);
    for (int i = 0; i < 2; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return nb_changed;
}

/* An emulator's view of guard regions: the call succeeds, nothing faults. */
static int inert_madvise(void *addr, size_t len, int advice)
{
    (void)addr, (void)len, (void)advice;
    return 0;
}

enum { NB_INTACT, NB_REPORTED };

/* Runs the two neighbours in a child; fails the case if the pattern
 * changed without a report, else says which of the two good ends came. */
static int neighbours_child(void *arg)
{
    (void)arg;
    if (nb_fake_guards)
        cio__os.madvise = inert_madvise;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 1;
    int rc = cio_run(main_neighbours, NULL, &cfg);
    if (rc != 0)
        fprintf(stderr, "neighbour's frame changed: %d bytes\n", rc);
    return rc != 0 ? 3 : 0;
}

static int run_neighbours(size_t frame, int fake_guards)
{
    char buf[4096];
    nb_frame = frame;
    nb_fake_guards = fake_guards;
    int status = cio_test_in_child(neighbours_child, NULL, buf, sizeof buf);
    printf("frame %zu: child said '%s'\n", frame, buf);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
        strstr(buf, "cio: stack overflow in task \""))
        return NB_REPORTED;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return NB_INTACT;
    fail_msg("silent corruption or crash (status %#x), child said: '%s'",
             status, buf);
    return -1;
}

CIO_TEST(overflow_min_stack_never_corrupts_neighbour)
{
    (void)state;
    if (cio_test_sanitized())
        CIO_SKIP("sanitizers catch the overflow first, their own way");
    /* A 3000-byte frame: more than CIO_STACK_MIN holds. */
    run_neighbours(3000, 0);
}

CIO_TEST(overflow_skipping_past_min_stack_reported)
{
    (void)state;
    if (cio_test_sanitized())
        CIO_SKIP("sanitizers catch the overflow first, their own way");
    /* A frame that overruns even a page-sized stack by half a page: it
     * lands in the guard region, which reports it where guard regions
     * work; elsewhere it must at least leave the neighbour alone. */
    size_t page = cio__os_page();
    int got = run_neighbours(page + page / 2, 0);
    if (guard_regions_work())
        assert_int_equal(got, NB_REPORTED);
}

CIO_TEST(overflow_without_guard_regions_never_corrupts_neighbour)
{
    (void)state;
    if (cio_test_sanitized())
        CIO_SKIP("sanitizers catch the overflow first, their own way");
    /* As under qemu-user or a kernel before 6.13: the canary and the gap
     * left for the guard must keep both frames off the neighbour. */
    size_t page = cio__os_page();
    run_neighbours(3000, 1);
    run_neighbours(page + page / 2, 1);
}

CIO_TEST_MAIN(cmocka_unit_test(overflow_guard_page_reported),
              cmocka_unit_test(overflow_small_stack_reported),
              cmocka_unit_test(overflow_min_stack_never_corrupts_neighbour),
              cmocka_unit_test(overflow_skipping_past_min_stack_reported),
              cmocka_unit_test(
                  overflow_without_guard_regions_never_corrupts_neighbour))
