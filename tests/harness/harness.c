#include "harness.h"

#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"

void cio_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

void cio_test_check_teardown(void)
{
    cio_stats s;
    cio_stats_get(&s);
    if (s.tasks_live || s.stacks_live || s.timers_pending ||
        s.queue_violations || s.tasks_spawned != s.tasks_finished ||
        s.fds_registered || s.pool_threads || s.sync_objects)
        fail_msg("teardown: tasks_live=%llu stacks_live=%llu "
                 "timers_pending=%llu queue_violations=%llu "
                 "spawned=%llu finished=%llu fds_registered=%llu "
                 "pool_threads=%llu sync_objects=%llu",
                 (unsigned long long)s.tasks_live,
                 (unsigned long long)s.stacks_live,
                 (unsigned long long)s.timers_pending,
                 (unsigned long long)s.queue_violations,
                 (unsigned long long)s.tasks_spawned,
                 (unsigned long long)s.tasks_finished,
                 (unsigned long long)s.fds_registered,
                 (unsigned long long)s.pool_threads,
                 (unsigned long long)s.sync_objects);
}

void cio_test_run(int (*fn)(void *), void *arg, int workers, int want)
{
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = workers;
    cio_test_run_cfg(fn, arg, &cfg, want);
}

void cio_test_run_cfg(int (*fn)(void *), void *arg, const cio_config *cfg,
                      int want)
{
    int rc = cio_run(fn, arg, cfg);
    if (rc != want)
        fail_msg("cio_run returned %d (%s), want %d", rc, cio_err_name(rc),
                 want);
    cio_test_check_teardown();
}

int cio_test_in_child(int (*fn)(void *), void *arg, char *said, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        fail_msg("pipe failed");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        _exit(fn(arg));
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], said + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    said[n] = 0;
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail_msg("waitpid failed");
    return status;
}

int cio_test_main(const struct CMUnitTest *tests, size_t n, int argc,
                  char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASE\ncases:\n", argv[0]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %s\n", tests[i].name);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0)
            return _cmocka_run_group_tests(argv[1], &tests[i], 1, NULL, NULL);
    }
    fprintf(stderr, "no case named '%s'\n", argv[1]);
    return 2;
}

unsigned cio_test_seed(void)
{
    const char *env = getenv("CIO_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 0)
                        : (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("CIO_TEST_SEED=%u\n", seed);
    return seed;
}

int cio_test_sanitized(void)
{
    return CIO_HAVE_ASAN || CIO_HAVE_TSAN;
}

int cio_test_tsan(void)
{
    return CIO_HAVE_TSAN;
}

cio_task cio_test_spawn_named(const char *name, cio_task_fn *fn, void *arg)
{
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = name;
    cio_task t;
    CHECK_OK(cio_spawn(&t, fn, arg, &o));
    return t;
}

void cio_test_tcp_pair(int *client, int *server)
{
    cio_addr any, a;
    CHECK_OK(cio_addr_ip(&any, "127.0.0.1", 0));
    int lfd = cio_listen(&any, 16, 0);
    CHECK(lfd >= 0);
    CHECK_OK(cio_sock_name(lfd, &a));
    *client = cio_connect_addr(&a, cio_deadline_after(2000 * 1000000LL));
    CHECK(*client >= 0);
    *server = cio_accept(lfd, NULL, cio_deadline_after(2000 * 1000000LL));
    CHECK(*server >= 0);
    CHECK_OK(cio_close(lfd));
}

cio_task_stats cio_test_until_waiting(cio_task t, int what)
{
    int64_t until = cio_deadline_after(5000 * 1000000LL);
    for (;;) {
        cio_task_stats s;
        CHECK_OK(cio_task_stats_get(t, &s));
        if (s.state == CIO_TASK_WAITING && (what < 0 || (int)s.wait_on == what))
            return s;
        if (cio_now() > until)
            cio_test_fail(__FILE__, __LINE__,
                          "task state %d, waiting on %d; want waiting on %d",
                          s.state, s.wait_on, what);
        CHECK_OK(cio_sleep_until(cio_deadline_after(1000000LL)));
    }
}
