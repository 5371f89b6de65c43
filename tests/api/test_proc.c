/* Child processes: exit statuses, pipes both ways past the pipe buffer,
 * environment and working directory, output streamed before the end, a
 * deadline then a kill, a cancelled waiter, hundreds at once, bad input;
 * and after every case, not one zombie. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

/* No child of this process is left, running or zombie. */
static void no_children(void)
{
    int st;
    CHECK_EQ(waitpid(-1, &st, WNOHANG), -1);
    CHECK_EQ(errno, ECHILD);
}

static cio_proc *spawn(const char *const *argv, const cio_proc_opts *o)
{
    cio_proc *p = NULL;
    cio_proc_opts d;
    cio_proc_opts_init(&d);
    if (!o) {
        d.flags = CIO_PROC_PATH;
        o = &d;
    }
    CHECK_OK(cio_proc_spawn(&p, argv[0], argv, o));
    CHECK(p != NULL);
    return p;
}

static int run_status(const char *const *argv)
{
    cio_proc *p = spawn(argv, NULL);
    int st = cio_proc_wait(p, cio_deadline_after(5000 * MS));
    CHECK_OK(cio_proc_free(&p));
    return st;
}

/* Reads everything from `fd` into a growing buffer until end of file. */
static size_t read_all(int fd, char **out)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    CHECK(b != NULL);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
            CHECK(b != NULL);
        }
        ssize_t k = cio_read(fd, b + n, cap - n, cio_deadline_after(5000 * MS));
        CHECK(k >= 0);
        if (k == 0)
            break;
        n += (size_t)k;
    }
    *out = b;
    return n;
}

/* ---- exit statuses -------------------------------------------------------- */

static int main_status(void *arg)
{
    (void)arg;
    CHECK_EQ(run_status((const char *const[]){"true", NULL}), 0);
    CHECK_EQ(run_status((const char *const[]){"sh", "-c", "exit 7", NULL}), 7);
    CHECK_EQ(run_status((const char *const[]){"sh", "-c", "exit 255", NULL}),
             255);
    int st = run_status((const char *const[]){"sh", "-c", "kill -TERM $$", NULL});
    CHECK_EQ(st, CIO_PROC_SIGNALED + SIGTERM);
    CHECK_EQ(CIO_PROC_TERMSIG(st), SIGTERM);
    CHECK_EQ(CIO_PROC_TERMSIG(7), 0);
    /* Once ended, the same status again, at once; no more signals. */
    cio_proc *p = spawn((const char *const[]){"sh", "-c", "exit 3", NULL}, NULL);
    CHECK_EQ(cio_proc_wait(p, CIO_NEVER), 3);
    CHECK_EQ(cio_proc_wait(p, 0), 3);
    CHECK(cio_proc_pid(p) > 0);
    CHECK_ERR(cio_proc_kill(p, SIGTERM, 0), CIO_ESRCH);
    CHECK_OK(cio_proc_free(&p));
    CHECK(p == NULL);
    return 0;
}

CIO_TEST(exit_status_and_signal)
{
    (void)state;
    cio_test_run(main_status, NULL, 2, 0);
    no_children();
}

/* ---- pipes both ways ------------------------------------------------------ */

enum { BIG = 4 << 20 }; /* 64 pipe buffers */

struct feed {
    cio_proc *p;
    const char *data;
    size_t n;
};

static void *feeder(void *arg)
{
    struct feed *f = arg;
    int fd = cio_proc_fd(f->p, 0);
    CHECK(fd >= 0);
    size_t done = 0;
    CHECK_EQ(cio_write_all(fd, f->data, f->n, &done,
                           cio_deadline_after(10000 * MS)),
             (ssize_t)f->n);
    CHECK_OK(cio_proc_close_fd(f->p, 0)); /* end of file for the child */
    CHECK_ERR(cio_proc_fd(f->p, 0), CIO_EBADF);
    return NULL;
}

static int main_pipes(void *arg)
{
    (void)arg;
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.flags = CIO_PROC_PATH;
    o.stdio[0] = o.stdio[1] = CIO_STDIO_PIPE;
    const char *const argv[] = {"cat", NULL};
    cio_proc *p = spawn(argv, &o);
    CHECK_ERR(cio_proc_fd(p, 2), CIO_EBADF);
    char *data = malloc(BIG);
    CHECK(data != NULL);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)(i * 131 + (i >> 13));
    /* The child writes more than a pipe holds while the parent still
     * writes its stdin: with a writer and a reader task, no deadlock. */
    struct feed f = {p, data, BIG};
    cio_task t;
    CHECK_OK(cio_spawn(&t, feeder, &f, NULL));
    char *got;
    size_t n = read_all(cio_proc_fd(p, 1), &got);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_EQ(n, (size_t)BIG);
    CHECK(memcmp(got, data, BIG) == 0);
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(5000 * MS)), 0);
    CHECK_OK(cio_proc_free(&p));
    free(got);
    free(data);
    return 0;
}

CIO_TEST(pipes_both_ways_past_the_pipe_buffer)
{
    (void)state;
    cio_test_run(main_pipes, NULL, 2, 0);
    no_children();
}

/* ---- environment, directory, stderr, null, a descriptor ------------------ */

static int main_env(void *arg)
{
    (void)arg;
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    const char *const env[] = {"GREETING=hello there", "PATH=/bin:/usr/bin",
                               NULL};
    o.env = env;
    o.cwd = "/";
    o.stdio[0] = CIO_STDIO_NULL;
    o.stdio[1] = o.stdio[2] = CIO_STDIO_PIPE;
    const char *const argv[] = {
        "/bin/sh", "-c",
        "echo \"$GREETING\"; pwd; echo oops >&2; cat; echo \"[$HOME]\"", NULL};
    cio_proc *p = spawn(argv, &o);
    char *out, *err;
    size_t n = read_all(cio_proc_fd(p, 1), &out);
    size_t m = read_all(cio_proc_fd(p, 2), &err);
    CHECK_EQ(cio_proc_wait(p, CIO_NEVER), 0);
    CHECK_OK(cio_proc_free(&p));
    /* stdin was /dev/null: cat read nothing; HOME was not passed on. */
    const char want[] = "hello there\n/\n[]\n";
    CHECK_EQ(n, sizeof want - 1);
    CHECK(memcmp(out, want, n) == 0);
    CHECK_EQ(m, (size_t)5);
    CHECK(memcmp(err, "oops\n", 5) == 0);
    free(out);
    free(err);

    /* stderr into stdout's pipe. */
    cio_proc_opts_init(&o);
    o.stdio[1] = CIO_STDIO_PIPE;
    o.stdio[2] = CIO_STDIO_STDOUT;
    const char *const both[] = {"/bin/sh", "-c", "echo a; echo b >&2; echo c",
                                NULL};
    p = spawn(both, &o);
    n = read_all(cio_proc_fd(p, 1), &out);
    CHECK_EQ(cio_proc_wait(p, CIO_NEVER), 0);
    CHECK_OK(cio_proc_free(&p));
    CHECK_EQ(n, (size_t)6);
    CHECK(memcmp(out, "a\nb\nc\n", 6) == 0);
    free(out);

    /* stdout into a descriptor of the parent's (a pipe it made). */
    int pp[2];
    CHECK_EQ(pipe2(pp, O_CLOEXEC), 0);
    cio_proc_opts_init(&o);
    o.stdio[1] = CIO_STDIO_FD;
    o.stdio_fd[1] = pp[1];
    const char *const to_fd[] = {"/bin/sh", "-c", "echo via-fd", NULL};
    p = spawn(to_fd, &o);
    CHECK_EQ(cio_proc_wait(p, CIO_NEVER), 0);
    CHECK_OK(cio_proc_free(&p));
    close(pp[1]);
    n = read_all(pp[0], &out);
    CHECK_OK(cio_close(pp[0]));
    CHECK_EQ(n, (size_t)7);
    CHECK(memcmp(out, "via-fd\n", 7) == 0);
    free(out);
    return 0;
}

CIO_TEST(environment_directory_and_streams)
{
    (void)state;
    cio_test_run(main_env, NULL, 2, 0);
    no_children();
}

/* ---- output arrives as it is written -------------------------------------- */

static int main_stream(void *arg)
{
    (void)arg;
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.stdio[1] = CIO_STDIO_PIPE;
    const char *const argv[] = {"/bin/sh", "-c", "echo first; sleep 1; echo second",
                                NULL};
    int64_t t0 = cio_now();
    cio_proc *p = spawn(argv, &o);
    char buf[64];
    ssize_t k = cio_read(cio_proc_fd(p, 1), buf, sizeof buf,
                         cio_deadline_after(5000 * MS));
    CHECK_EQ(k, 6);
    CHECK(memcmp(buf, "first\n", 6) == 0);
    CHECK(cio_now() - t0 < 800 * MS); /* before the child ended */
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(5000 * MS)), 0);
    CHECK_OK(cio_proc_free(&p));
    return 0;
}

CIO_TEST(output_is_read_before_the_child_ends)
{
    (void)state;
    cio_test_run(main_stream, NULL, 1, 0);
    no_children();
}

/* ---- deadlines, kills, cancels, frees --------------------------------------- */

static void *wait_child(void *arg)
{
    return (void *)(intptr_t)cio_proc_wait(arg, CIO_NEVER);
}

/* The process `pid` is gone, collected (a zombie still answers kill 0). */
static void gone_soon(pid_t pid)
{
    int64_t until = cio_deadline_after(3000 * MS);
    while (kill(pid, 0) == 0) {
        CHECK(cio_now() < until);
        CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
    }
    CHECK_EQ(errno, ESRCH);
}

static int main_kill(void *arg)
{
    (void)arg;
    const char *const argv[] = {"sleep", "30", NULL};
    /* A deadline: the child runs on; a kill ends it. */
    cio_proc *p = spawn(argv, NULL);
    int64_t t0 = cio_now();
    CHECK_ERR(cio_proc_wait(p, cio_deadline_after(100 * MS)), CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 >= 100 * MS);
    CHECK_ERR(cio_proc_wait(p, 0), CIO_ETIMEDOUT);
    CHECK_OK(cio_proc_kill(p, SIGTERM, 0));
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(3000 * MS)),
             CIO_PROC_SIGNALED + SIGTERM);
    CHECK(cio_now() - t0 < 2000 * MS);
    CHECK_OK(cio_proc_free(&p));

    /* A waiting task cancelled: it returns, the child runs on until the
     * handle is freed, which kills and collects it. */
    p = spawn(argv, NULL);
    pid_t pid = cio_proc_pid(p);
    cio_task t;
    CHECK_OK(cio_spawn(&t, wait_child, p, NULL));
    cio_test_until_waiting(t, CIO_WAIT_FD);
    CHECK_OK(cio_cancel(t));
    void *r;
    CHECK_OK(cio_join(t, &r, cio_deadline_after(3000 * MS)));
    CHECK_EQ((intptr_t)r, CIO_ECANCELED);
    CHECK_EQ(kill(pid, 0), 0); /* still running */
    CHECK_OK(cio_proc_free(&p));
    gone_soon(pid);

    /* Freed while running, never waited for: killed and collected. */
    p = spawn(argv, NULL);
    pid = cio_proc_pid(p);
    CHECK_OK(cio_proc_free(&p));
    gone_soon(pid);

    /* A group: the kill reaches the child's own children too. */
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.flags = CIO_PROC_NEW_GROUP;
    const char *const tree[] = {"/bin/sh", "-c", "sleep 30 & sleep 30; wait",
                                NULL};
    p = spawn(tree, &o);
    CHECK_OK(cio_sleep_until(cio_deadline_after(50 * MS)));
    CHECK_OK(cio_proc_kill(p, SIGKILL, 1));
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(3000 * MS)),
             CIO_PROC_SIGNALED + SIGKILL);
    CHECK_OK(cio_proc_free(&p));
    /* Left to the end: cio_run returns only after its collection. */
    p = spawn(argv, NULL);
    CHECK_OK(cio_proc_free(&p));
    return 0;
}

CIO_TEST(deadline_kill_cancel_and_free)
{
    (void)state;
    cio_test_run(main_kill, NULL, 2, 0);
    no_children();
}

/* ---- two waiters, and a stream cio made non-blocking ------------------------ */

static void *wait_and_say(void *arg)
{
    return (void *)(intptr_t)cio_proc_wait(arg, cio_deadline_after(5000 * MS));
}

static int main_shared(void *arg)
{
    (void)arg;
    /* Two tasks wait for one child: both hear of its end. */
    cio_proc *p = spawn((const char *const[]){"sh", "-c", "sleep 0.2; exit 4",
                                              NULL},
                        NULL);
    cio_task a, b;
    CHECK_OK(cio_spawn(&a, wait_and_say, p, NULL));
    CHECK_OK(cio_spawn(&b, wait_and_say, p, NULL));
    void *ra, *rb;
    CHECK_OK(cio_join(a, &ra, CIO_NEVER));
    CHECK_OK(cio_join(b, &rb, CIO_NEVER));
    CHECK_EQ((intptr_t)ra, 4);
    CHECK_EQ((intptr_t)rb, 4);
    CHECK_OK(cio_proc_free(&p));

    /* A pipe the parent writes with cio (so non-blocking here) reaches a
     * child blocking, as the child expects its stdout to be. */
    int pp[2];
    CHECK_EQ(pipe2(pp, O_CLOEXEC), 0);
    CHECK_EQ(cio_write(pp[1], "x", 1, CIO_NEVER), 1);
    CHECK(fcntl(pp[1], F_GETFL) & O_NONBLOCK);
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.stdio[1] = CIO_STDIO_FD;
    o.stdio_fd[1] = pp[1];
    p = spawn((const char *const[]){"/bin/sh", "-c",
                                    "exec cat /proc/self/fdinfo/1", NULL},
              &o);
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(5000 * MS)), 0);
    CHECK_OK(cio_proc_free(&p));
    CHECK_OK(cio_close(pp[1]));
    char *out;
    size_t n = read_all(pp[0], &out);
    CHECK_OK(cio_close(pp[0]));
    CHECK(n > 1 && out[0] == 'x');
    out[n - 1] = 0;
    const char *fl = strstr(out, "flags:");
    CHECK(fl != NULL);
    long flags = strtol(fl + 6, NULL, 8);
    CHECK_EQ(flags & O_NONBLOCK, 0);
    free(out);
    return 0;
}

CIO_TEST(two_waiters_and_a_blocking_stdout_for_the_child)
{
    (void)state;
    cio_test_run(main_shared, NULL, 2, 0);
    no_children();
}

/* ---- from a task with the smallest stack ------------------------------------ */

static void *small_spawner(void *arg)
{
    (void)arg;
    /* A $PATH lookup builds a path as long as PATH_MAX: not on a stack
     * of one page. */
    cio_proc *p = spawn((const char *const[]){"true", NULL}, NULL);
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(5000 * MS)), 0);
    CHECK_OK(cio_proc_free(&p));
    return NULL;
}

static int main_small(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    /* Sanitizers make every frame larger: a few pages there. */
    o.stack_size = cio_test_sanitized() ? 8 * CIO_STACK_MIN : CIO_STACK_MIN;
    cio_task t;
    CHECK_OK(cio_spawn(&t, small_spawner, NULL, &o));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(spawn_from_a_task_with_the_smallest_stack)
{
    (void)state;
    cio_test_run(main_small, NULL, 2, 0);
    no_children();
}

/* ---- hundreds at once ------------------------------------------------------- */

enum { MANY = 300 };

static void *one_child(void *arg)
{
    int i = (int)(intptr_t)arg;
    char code[16];
    snprintf(code, sizeof code, "exit %d", i % 200);
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.stdio[1] = CIO_STDIO_PIPE;
    const char *const argv[] = {"/bin/sh", "-c", "echo $0; exit $1",
                                code + 5, code + 5, NULL};
    cio_proc *p = spawn(argv, &o);
    char buf[16];
    ssize_t k = cio_read(cio_proc_fd(p, 1), buf, sizeof buf - 1,
                         cio_deadline_after(20000 * MS));
    CHECK(k > 0);
    buf[k] = 0;
    CHECK_EQ(atoi(buf), i % 200);
    CHECK_EQ(cio_proc_wait(p, cio_deadline_after(20000 * MS)), i % 200);
    CHECK_OK(cio_proc_free(&p));
    return NULL;
}

static int main_many(void *arg)
{
    (void)arg;
    cio_task t[MANY];
    for (int i = 0; i < MANY; i++)
        CHECK_OK(cio_spawn(&t[i], one_child, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < MANY; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(hundreds_at_once_from_many_tasks)
{
    (void)state;
    cio_test_run(main_many, NULL, 0, 0);
    no_children();
}

/* ---- bad input -------------------------------------------------------------- */

static int main_bad(void *arg)
{
    (void)arg;
    cio_proc *p = NULL;
    const char *const argv[] = {"x", NULL};
    CHECK_ERR(cio_proc_spawn(&p, "/no/such/program", argv, NULL), CIO_ENOENT);
    CHECK_ERR(cio_proc_spawn(&p, "/etc/passwd", argv, NULL), CIO_EACCES);
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.flags = CIO_PROC_PATH;
    CHECK_ERR(cio_proc_spawn(&p, "no-such-program-anywhere", argv, &o),
              CIO_ENOENT);
    CHECK_ERR(cio_proc_spawn(NULL, "/bin/true", argv, NULL), CIO_EINVAL);
    CHECK_ERR(cio_proc_spawn(&p, NULL, argv, NULL), CIO_EINVAL);
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", NULL, NULL), CIO_EINVAL);
    const char *const empty[] = {NULL};
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", empty, NULL), CIO_EINVAL);
    o.flags = 1u << 20;
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, &o), CIO_EINVAL);
    cio_proc_opts_init(&o);
    o.stdio[1] = 42;
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, &o), CIO_EINVAL);
    cio_proc_opts_init(&o);
    o.stdio[0] = CIO_STDIO_STDOUT;
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, &o), CIO_EINVAL);
    cio_proc_opts_init(&o);
    o.stdio[1] = CIO_STDIO_FD;
    o.stdio_fd[1] = 1000000;
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, &o), CIO_EBADF);
    o.stdio_fd[1] = -1;
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, &o), CIO_EINVAL);
    cio_proc_opts_init(&o);
    o.cwd = "/no/such/dir";
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, &o), CIO_ENOENT);
    CHECK(p == NULL);
    /* A failed spawn leaves no descriptor behind. */
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cio_proc_opts_init(&o);
    o.stdio[0] = o.stdio[1] = o.stdio[2] = CIO_STDIO_PIPE;
    CHECK_ERR(cio_proc_spawn(&p, "/no/such/program", argv, &o), CIO_ENOENT);
    int after = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK_EQ(after, probe + 1);
    close(after);
    close(probe);

    p = spawn((const char *const[]){"sleep", "30", NULL}, NULL);
    CHECK_ERR(cio_proc_kill(p, -1, 0), CIO_EINVAL);
    CHECK_ERR(cio_proc_kill(p, 100000, 0), CIO_EINVAL);
    CHECK_ERR(cio_proc_fd(p, 3), CIO_EINVAL);
    CHECK_ERR(cio_proc_close_fd(p, 1), CIO_EBADF);
    CHECK_ERR(cio_proc_wait(NULL, 0), CIO_EINVAL);
    CHECK_OK(cio_proc_free(&p));
    CHECK_ERR(cio_proc_free(&p), CIO_EINVAL);
    CHECK_ERR(cio_proc_free(NULL), CIO_EINVAL);
    return 0;
}

CIO_TEST(bad_input_is_refused_and_leaves_nothing)
{
    (void)state;
    cio_test_run(main_bad, NULL, 2, 0);
    /* Outside a task: spawning and waiting are task calls. */
    cio_proc *p = NULL;
    const char *const argv[] = {"true", NULL};
    CHECK_ERR(cio_proc_spawn(&p, "/bin/true", argv, NULL), CIO_EPERM);
    CHECK_ERR(cio_proc_wait(p, 0), CIO_EPERM);
    no_children();
}

CIO_TEST_MAIN(cmocka_unit_test(exit_status_and_signal),
              cmocka_unit_test(pipes_both_ways_past_the_pipe_buffer),
              cmocka_unit_test(environment_directory_and_streams),
              cmocka_unit_test(output_is_read_before_the_child_ends),
              cmocka_unit_test(deadline_kill_cancel_and_free),
              cmocka_unit_test(two_waiters_and_a_blocking_stdout_for_the_child),
              cmocka_unit_test(spawn_from_a_task_with_the_smallest_stack),
              cmocka_unit_test(hundreds_at_once_from_many_tasks),
              cmocka_unit_test(bad_input_is_refused_and_leaves_nothing))
