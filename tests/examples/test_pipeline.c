/* examples/pipeline as a user runs it: output streamed with prefixes as
 * it comes, exit statuses and times, a deadline that stops a command
 * (SIGTERM, then SIGKILL for one that ignores it), SIGINT forwarded, a
 * large output whole and in order, bad usage. */
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "server_proc.h"

#define PIPELINE CIO_EXAMPLES_DIR "/pipeline"

struct run {
    char *out;   /* everything it printed (stdout and stderr), NUL-ended */
    size_t len;
    int status;  /* exit status, or 128 + signal */
    double secs;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the pipeline with `args`. With `interrupt_after` (a string), sends
 * SIGINT once that string has been printed. Fails after 20 s. */
static struct run run(const char *const *args, const char *interrupt_after)
{
    int fd;
    double t0 = now_s();
    pid_t pid = start_captured(PIPELINE, args, &fd);
    struct run r = {.out = malloc(1 << 20)};
    size_t cap = 1 << 20;
    bool sent = false;
    for (;;) {
        if (r.len + 1 >= cap) {
            cap *= 2;
            r.out = realloc(r.out, cap);
        }
        ssize_t k = read(fd, r.out + r.len, cap - 1 - r.len);
        if (k <= 0)
            break;
        r.len += (size_t)k;
        r.out[r.len] = 0;
        if (interrupt_after && !sent && strstr(r.out, interrupt_after)) {
            kill(pid, SIGINT);
            sent = true;
        }
        if (now_s() - t0 > 20) {
            kill(pid, SIGKILL);
            fail_msg("pipeline still running after 20 s");
        }
    }
    r.out[r.len] = 0;
    close(fd);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r.secs = now_s() - t0;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

static void has(const struct run *r, const char *s)
{
    if (!strstr(r->out, s))
        fail_msg("output lacks '%s':\n%s", s, r->out);
}

CIO_TEST(streams_prefixed_lines_and_reports_statuses)
{
    (void)state;
    /* Command 1 prints "b" 300 ms after "a"; command 2's lines come in
     * between, so they were not held until command 1 ended. */
    const char *const args[] = {"echo a; sleep 0.3; echo b",
                                "echo c; echo err >&2", "exit 3", NULL};
    struct run r = run(args, NULL);
    has(&r, "[1] a\n");
    has(&r, "[1] b\n");
    has(&r, "[2] c\n");
    has(&r, "[2] err\n");
    assert_true(strstr(r.out, "[2] c\n") < strstr(r.out, "[1] b\n"));
    has(&r, "[1] exit 0 after 0.3");
    has(&r, "[2] exit 0 after");
    has(&r, "[3] exit 3 after");
    assert_int_equal(r.status, 1); /* one command failed */
    free(r.out);

    const char *const ok[] = {"true", "echo fine", NULL};
    r = run(ok, NULL);
    has(&r, "[2] fine\n");
    assert_int_equal(r.status, 0);
    free(r.out);
}

CIO_TEST(deadline_stops_commands)
{
    (void)state;
    /* One stops at SIGTERM; one ignores it and is killed a second later. */
    const char *const args[] = {"-t", "0.2", "sleep 10",
                                "trap '' TERM; sleep 10", "echo quick", NULL};
    struct run r = run(args, NULL);
    has(&r, "[1] killed by Terminated (deadline) after 0.2");
    has(&r, "[2] killed by Killed (deadline) after 1.2");
    has(&r, "[3] quick\n");
    has(&r, "[3] exit 0 after");
    assert_int_equal(r.status, 1);
    assert_true(r.secs < 5);
    free(r.out);
}

CIO_TEST(sigint_is_forwarded)
{
    (void)state;
    const char *const args[] = {
        "trap 'echo got INT; exit 3' INT; echo ready; "
        "while :; do sleep 0.05; done",
        NULL};
    struct run r = run(args, "[1] ready");
    has(&r, "[1] got INT\n");
    has(&r, "[1] exit 3 after");
    assert_int_equal(r.status, 1);
    assert_true(r.secs < 5);
    free(r.out);
}

CIO_TEST(large_output_whole_and_in_order)
{
    (void)state;
    const char *const args[] = {"seq 1 200000", "seq 1 1000 >&2", NULL};
    struct run r = run(args, NULL);
    assert_int_equal(r.status, 0);
    /* Every line of command 1, in order. */
    long next = 1;
    for (char *l = r.out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "[1] ", 4) == 0 && l[4] >= '0' && l[4] <= '9') {
            long v = strtol(l + 4, NULL, 10);
            if (v != next)
                fail_msg("line %ld where %ld was due", v, next);
            next++;
        }
    }
    assert_int_equal(next, 200001);
    has(&r, "[2] 1000\n");
    free(r.out);
}

CIO_TEST(bad_usage_is_refused)
{
    (void)state;
    const char *const none[] = {NULL};
    struct run r = run(none, NULL);
    assert_int_equal(r.status, 2);
    has(&r, "usage:");
    free(r.out);
    const char *const bad_t[] = {"-t", "soon", "true", NULL};
    r = run(bad_t, NULL);
    assert_int_equal(r.status, 2);
    has(&r, "usage:");
    free(r.out);
    const char *const no_cmd[] = {"-t", "1", NULL};
    r = run(no_cmd, NULL);
    assert_int_equal(r.status, 2);
    free(r.out);
}

CIO_TEST_MAIN(cmocka_unit_test(streams_prefixed_lines_and_reports_statuses),
              cmocka_unit_test(deadline_stops_commands),
              cmocka_unit_test(sigint_is_forwarded),
              cmocka_unit_test(large_output_whole_and_in_order),
              cmocka_unit_test(bad_usage_is_refused))
