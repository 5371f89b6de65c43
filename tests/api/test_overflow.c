/* A stack overflow is reported with the task's name and stack size, and
 * the process stops. Each case runs the overflow in a child process. */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

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
    /* Writes past the end of a 2 KiB stack that has no guard page; the
     * check at the next switch must see it. */
    volatile char big[3000];
    memset((char *)big, 0x55, sizeof big);
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

/* Runs the overflow in a child; returns what it wrote on stderr. */
static void expect_overflow_report(size_t stack, cio_task_fn *fn,
                                   const char *want)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        overflow_stack = stack;
        overflow_fn = fn;
        cio_config cfg;
        cio_config_init(&cfg);
        cfg.workers = 1;
        cio_run(main_overflow, NULL, &cfg);
        _exit(0); /* not reached when the overflow is caught */
    }
    close(fds[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
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
    expect_overflow_report(CIO_STACK_MIN, smash_small,
                           "stack overflow in task \"deep-diver\" "
                           "(stack of 2048 bytes)");
}

CIO_TEST_MAIN(cmocka_unit_test(overflow_guard_page_reported),
              cmocka_unit_test(overflow_small_stack_reported))
