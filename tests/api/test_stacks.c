/* Stack memory: what a wave of tasks touched goes back to the operating
 * system once the wave has ended, and the address space is used again. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define TOUCHED_PAGES 4

static atomic_int asleep;
static long page;
static int wave;
static int guard_pipe[2];
static atomic_int guards_checked, guards_faulting;

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident * page;
}

/* Whether the page below this task's stack faults. The stack's top is the
 * page boundary above the entry frame, its end `size` below. */
static void check_guard(const volatile char *local, size_t size)
{
    uintptr_t top = ((uintptr_t)local + (uintptr_t)page - 1) &
                    ~((uintptr_t)page - 1);
    const char *guard = (const char *)(top - size - (size_t)page);
    atomic_fetch_add(&guards_checked, 1);
    if (write(guard_pipe[1], guard, 1) < 0 && errno == EFAULT)
        atomic_fetch_add(&guards_faulting, 1);
}

__attribute__((noinline)) static int touch_and_sleep(void)
{
    /* Not volatile: clang splits a volatile array it indexes with
     * constants into scalars, and the frame shrinks to a page. */
    char buf[(TOUCHED_PAGES - 1) * 4096];
    memset(buf, 1, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
    atomic_fetch_add(&asleep, 1);
    CHECK_ERR(cio_sleep_until(CIO_NEVER), CIO_ECANCELED);
    return buf[0];
}

static void *toucher(void *arg)
{
    /* In the stack's top page: this frame is small, the big one below. */
    volatile char here = 0;
    if (arg)
        check_guard(&here, CIO_STACK_DEFAULT);
    return (void *)(intptr_t)(touch_and_sleep() + here);
}

/* Spawns a wave of tasks that touch stack pages and sleep. */
static void spawn_wave(cio_task *t, void *arg)
{
    atomic_store(&asleep, 0);
    for (int i = 0; i < wave; i++)
        CHECK_OK(cio_spawn(&t[i], toucher, arg, NULL));
    while (atomic_load(&asleep) < wave)
        CHECK_OK(cio_sleep_until(cio_deadline_after(1000000)));
}

static void end_wave(cio_task *t)
{
    for (int i = 0; i < wave; i++)
        CHECK_OK(cio_cancel(t[i]));
    for (int i = 0; i < wave; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
}

/* The most of what a wave's stacks held that may stay resident once it
 * has ended: a small reserve, descriptors and bookkeeping (a few hundred
 * bytes a task). ASan's shadow of the stacks stays too. */
static long may_keep(long held)
{
    return cio_test_sanitized() ? held / 2 : held / 4;
}

/* TSan keeps a shadow of every stack page a task touched, which the
 * runtime's MADV_DONTNEED does not give back: there resident memory says
 * nothing about cio, and the count of released stacks is checked alone. */
static bool judge_rss(void)
{
    return !cio_test_tsan();
}

static uint64_t stacks_released(void)
{
    cio_stats s;
    cio_stats_get(&s);
    return s.stacks_released;
}

/* Whether an ended wave's stacks are given back, as far as can be seen. */
static bool released_enough(long kept, long held)
{
    return judge_rss() ? kept <= may_keep(held)
                       : stacks_released() >= (uint64_t)wave / 2;
}

/* Waits until the stacks of an ended wave are given back, for at most 5 s
 * (a loaded machine may be slow); returns the bytes still kept over `r0`
 * (0 where resident memory is not judged). */
static long wait_released(long r0, long held)
{
    long kept = rss_bytes() - r0;
    int64_t give_up = cio_deadline_after(5000000000LL);
    while (!released_enough(kept, held) && cio_now() < give_up) {
        CHECK_OK(cio_sleep_until(cio_deadline_after(2000000)));
        kept = rss_bytes() - r0;
    }
    printf("%d tasks: %ld MiB held asleep, %ld MiB kept after the joins\n",
           wave, held >> 20, kept >> 20);
    fflush(stdout);
    /* Otherwise the test would prove nothing. */
    CHECK(held >= (long)wave * (TOUCHED_PAGES - 1) * page);
    return judge_rss() ? kept : 0;
}

static int main_waves(void *arg)
{
    int guards_work = *(int *)arg;
    cio_task *t = calloc((size_t)wave, sizeof *t);
    CHECK(t != NULL);
    long r0 = rss_bytes();
    spawn_wave(t, NULL);
    long r1 = rss_bytes();
    cio_stats s;
    cio_stats_get(&s);
    uint64_t mapped = s.stack_bytes_mapped;
    end_wave(t);
    /* Idle workers release the pages, so they have a moment as soon as
     * this task sleeps. */
    CHECK(wait_released(r0, r1 - r0) <= may_keep(r1 - r0));
    cio_stats_get(&s);
    CHECK(s.stacks_released >= (uint64_t)wave / 2);
    CHECK(s.stacks_released <= s.stacks_cached);

    /* A second wave reuses the released address space, guards intact. */
    spawn_wave(t, guards_work ? (void *)1 : NULL);
    cio_stats_get(&s);
    CHECK_EQ(s.stack_bytes_mapped, mapped);
    CHECK(s.stacks_released < (uint64_t)wave / 2);
    if (guards_work) {
        CHECK_EQ(atomic_load(&guards_checked), wave);
        CHECK_EQ(atomic_load(&guards_faulting), wave);
    }
    end_wave(t);
    free(t);
    return 0;
}

static atomic_int busy_stop;

static void *yield_once(void *arg)
{
    CHECK_OK(cio_yield());
    return arg;
}

/* Keeps its worker from ever being idle, with stacks freed meanwhile:
 * its tasks overlap, so more of them end than a worker's cache holds. */
static void *busy(void *arg)
{
    (void)arg;
    cio_task k[4];
    while (!atomic_load(&busy_stop)) {
        for (int i = 0; i < 4; i++)
            CHECK_OK(cio_spawn(&k[i], yield_once, NULL, NULL));
        for (int i = 0; i < 4; i++)
            CHECK_OK(cio_join(k[i], NULL, CIO_NEVER));
    }
    return NULL;
}

static int main_busy(void *arg)
{
    (void)arg;
    cio_task *t = calloc((size_t)wave, sizeof *t);
    CHECK(t != NULL);
    long r0 = rss_bytes();
    spawn_wave(t, NULL);
    long r1 = rss_bytes();
    cio_task b;
    CHECK_OK(cio_spawn(&b, busy, NULL, NULL));
    cio_stats s;
    cio_stats_get(&s);
    uint64_t parks = s.parks;
    end_wave(t);
    long kept = wait_released(r0, r1 - r0);
    cio_stats_get(&s);
    CHECK(s.stacks_released >= (uint64_t)wave / 2);
    atomic_store(&busy_stop, 1);
    CHECK_OK(cio_join(b, NULL, CIO_NEVER));
    CHECK(kept <= may_keep(r1 - r0));
    /* The worker never slept, so it never was idle: the stacks went back
     * from where tasks end. */
    CHECK_EQ(s.parks, parks);
    free(t);
    return 0;
}

/* Whether guard regions fault here (Linux 6.13+; not under qemu-user). */
static int guard_regions_work(void)
{
    char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = madvise(p, (size_t)page, 102 /* MADV_GUARD_INSTALL */) == 0 &&
             write(guard_pipe[1], p, 1) < 0 && errno == EFAULT;
    munmap(p, (size_t)page);
    return ok;
}

CIO_TEST(stacks_released_when_tasks_end)
{
    (void)state;
    page = sysconf(_SC_PAGESIZE);
    wave = cio_test_sanitized() ? 5000 : 20000;
    /* Non-blocking: a guard that does not fault lets a byte through. */
    assert_int_equal(pipe2(guard_pipe, O_NONBLOCK), 0);
    /* ASan may move locals off the stack, so the guard is not found. */
    int guards_work = !cio_test_sanitized() && guard_regions_work();
    cio_test_run(main_waves, &guards_work, 2, 0);
    close(guard_pipe[0]);
    close(guard_pipe[1]);
}

CIO_TEST(stacks_released_when_no_worker_is_idle)
{
    (void)state;
    page = sysconf(_SC_PAGESIZE);
    wave = cio_test_sanitized() ? 5000 : 20000;
    cio_test_run(main_busy, NULL, 1, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(stacks_released_when_tasks_end),
              cmocka_unit_test(stacks_released_when_no_worker_is_idle))
