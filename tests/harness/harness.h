/* Test harness on top of cmocka.
 *
 * cmocka's assert_* macros jump back to the runner with longjmp, which is
 * only valid on the thread and stack that called the runner. Code running
 * inside a task (another stack, maybe another thread) uses CHECK* instead:
 * they print the expression, both values (error codes by name) and the
 * place, then abort the process, which fails this case alone because every
 * case runs in its own process.
 */
#ifndef CIO_TEST_HARNESS_H
#define CIO_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <cio.h>

/* Declares a case; CMake registers each CIO_TEST line as a ctest test. */
#define CIO_TEST(name) static void name(void **state)

void cio_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            cio_test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);     \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            cio_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a,   \
                          #b, a_, b_);                                        \
    } while (0)

/* The exact error code, printed by name on failure. */
#define CHECK_ERR(expr, code)                                                 \
    do {                                                                      \
        int e_ = (int)(expr), c_ = (int)(code);                               \
        if (e_ != c_)                                                         \
            cio_test_fail(__FILE__, __LINE__, "%s: got %s (%d), want %s",     \
                          #expr, cio_err_name(e_), e_, cio_err_name(c_));     \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, 0)

/* cmocka-side counterpart of CHECK_ERR, for the runner's own thread. */
#define ASSERT_ERR(expr, code)                                                \
    do {                                                                      \
        int e_ = (int)(expr), c_ = (int)(code);                               \
        if (e_ != c_)                                                         \
            fail_msg("%s: got %s (%d), want %s", #expr, cio_err_name(e_), e_, \
                     cio_err_name(c_));                                       \
    } while (0)

/* Runs fn as cio's main task with `workers` workers (0: default) and checks
 * the teardown: cio_run returned `want`, and no task, stack or timer is
 * left and no task was ever queued twice. */
void cio_test_run(int (*fn)(void *), void *arg, int workers, int want);
/* The same with a whole configuration. The teardown also checks that no
 * descriptor is left registered, no pool thread is left, and no channel,
 * lock or group is left unfreed (a free succeeds only when nothing waits
 * on the object, so none is left with waiters either). */
void cio_test_run_cfg(int (*fn)(void *), void *arg, const cio_config *cfg,
                      int want);
void cio_test_check_teardown(void);

/* Task only. Spawns fn(arg) named `name`, failing the case if it cannot. */
cio_task cio_test_spawn_named(const char *name, cio_task_fn *fn, void *arg);
/* Task only. Waits (sleeping 1 ms at a time, at most 5 s, then failing
 * the case) until `t` waits on `what` (a CIO_WAIT_*; < 0: on anything);
 * returns its figures then. */
cio_task_stats cio_test_until_waiting(cio_task t, int what);
/* Task only. A connected TCP pair on 127.0.0.1 (the kernel completes the
 * handshake before the accept, so no helper task is needed). */
void cio_test_tcp_pair(int *client, int *server);

/* Runs fn(arg) in a child process with its stderr captured into `said`
 * (NUL-terminated, at most cap - 1 bytes); the child exits with fn's
 * value. Returns the child's wait status. For cases that expect the
 * process to end: a stack overflow report aborts it. */
int cio_test_in_child(int (*fn)(void *), void *arg, char *said, size_t cap);

/* Runs the case named argv[1] from `tests`; fails if there is none. */
int cio_test_main(const struct CMUnitTest *tests, size_t n, int argc,
                  char **argv);

#define CIO_TEST_MAIN(...)                                                    \
    int main(int argc, char **argv)                                           \
    {                                                                         \
        const struct CMUnitTest tests_[] = {__VA_ARGS__};                     \
        return cio_test_main(tests_, sizeof tests_ / sizeof tests_[0], argc,  \
                             argv);                                           \
    }

/* A seed for randomized tests: $CIO_TEST_SEED or a fresh one, printed so a
 * failing run can be replayed. */
unsigned cio_test_seed(void);

/* Ends this case as skipped (ctest's SKIP_RETURN_CODE), saying why. */
#define CIO_SKIP(why)                                                         \
    do {                                                                      \
        printf("skipped: %s\n", why);                                         \
        fflush(stdout);                                                       \
        exit(77);                                                             \
    } while (0)

/* Whether the build has a sanitizer (some heavy cases scale down). */
int cio_test_sanitized(void);
/* Whether the build has ThreadSanitizer, which maps a shadow stack per task
 * (so tens of thousands of live tasks at most). */
int cio_test_tsan(void);

#endif /* CIO_TEST_HARNESS_H */
