/* Task dumps: cio_dump lists a task blocked on a socket and one blocked
 * on a timer with the right reasons and a backtrace through the call
 * each waits in; SIGQUIT prints the dump when the program opted in; bad
 * calls are refused. */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static void *read_one(void *arg)
{
    char c;
    CHECK_EQ(cio_read((int)(intptr_t)arg, &c, 1, CIO_NEVER), 1);
    return NULL;
}

/* Sleeps until cancelled. */
static void *nap(void *arg)
{
    int rc = cio_sleep_until(cio_deadline_after((int64_t)(intptr_t)arg));
    CHECK(rc == CIO_ECANCELED);
    return NULL;
}

/* The dump's block for the task named `name`: its line and the
 * backtrace lines under it (up to the next task's line). */
static char *block_of(const char *dump, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\" ", name);
    const char *at = strstr(dump, key);
    CHECK(at != NULL);
    while (at > dump && at[-1] != '\n')
        at--;
    const char *end = strstr(at + 1, "\ntask ");
    if (!end)
        end = strstr(at, "\ncio: ");
    CHECK(end != NULL);
    return strndup(at, (size_t)(end - at));
}

static int main_dump(void *arg)
{
    (void)arg;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    cio_task sock =
        cio_test_spawn_named("sock", read_one, (void *)(intptr_t)sv[0]);
    cio_task sleeper = cio_test_spawn_named("sleeper", nap,
                                            (void *)(intptr_t)(5000 * MS));
    cio_test_until_waiting(sock, -1);
    cio_test_until_waiting(sleeper, -1);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    int n = cio_dump(f);
    fclose(f);
    fprintf(stderr, "%s", text); /* shown when the case fails */
    CHECK_EQ(n, 3);
    CHECK(strstr(text, "\"main\" running on worker") != NULL);

    char want[64];
    char *b = block_of(text, "sock");
    snprintf(want, sizeof want, "waiting on a descriptor (fd %d) for", sv[0]);
    CHECK(strstr(b, want) != NULL);
    CHECK(strstr(b, "stack ") != NULL);
    /* Its backtrace goes through the call it waits in. */
    CHECK(strstr(b, "    #0 ") != NULL);
    CHECK(strstr(b, "(cio_read+") != NULL);
    free(b);

    b = block_of(text, "sleeper");
    CHECK(strstr(b, "waiting on a timer for") != NULL);
    CHECK(strstr(b, "(cio_sleep_until+") != NULL);
    free(b);
    free(text);

    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_OK(cio_join(sock, NULL, CIO_NEVER));
    CHECK_OK(cio_cancel(sleeper));
    CHECK_OK(cio_join(sleeper, NULL, CIO_NEVER));
    CHECK_OK(cio_close(sv[0]));
    close(sv[1]);
    return 0;
}

CIO_TEST(dump_lists_waits_with_reasons_and_backtraces)
{
    (void)state;
    cio_test_run(main_dump, NULL, 2, 0);
}

/* ---- SIGQUIT ------------------------------------------------------------- */

static int main_quit(void *arg)
{
    (void)arg;
    cio_task t = cio_test_spawn_named("napper", nap,
                                      (void *)(intptr_t)(5000 * MS));
    cio_test_until_waiting(t, -1);
    CHECK_EQ(kill(getpid(), SIGQUIT), 0);
    /* The dump is written by the runtime's own thread: give it time. */
    CHECK_OK(cio_sleep_until(cio_deadline_after(300 * MS)));
    CHECK_OK(cio_cancel(t));
    cio_join(t, NULL, CIO_NEVER);
    return 0;
}

static int run_quit(void *arg)
{
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.sigquit = (int)(intptr_t)arg;
    return cio_run(main_quit, NULL, &cfg);
}

CIO_TEST(sigquit_prints_the_dump_when_asked_for)
{
    (void)state;
    static char said[16384];
    int st = cio_test_in_child(run_quit, (void *)1, said, sizeof said);
    fprintf(stderr, "%s", said); /* shown when the case fails */
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(said, "cio: tasks of the runtime"));
    assert_non_null(strstr(said, "\"napper\" waiting on a timer"));
    /* Off: SIGQUIT keeps its own action (here: ignored). */
    signal(SIGQUIT, SIG_IGN);
    st = cio_test_in_child(run_quit, (void *)-1, said, sizeof said);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_null(strstr(said, "cio: tasks"));
    signal(SIGQUIT, SIG_DFL);
}

/* ---- bad calls ----------------------------------------------------------- */

static int main_null(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_dump(NULL), CIO_EINVAL);
    return 0;
}

CIO_TEST(dump_refuses_bad_calls)
{
    (void)state;
    ASSERT_ERR(cio_dump(stderr), CIO_ESRCH);
    cio_test_run(main_null, NULL, 1, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(dump_lists_waits_with_reasons_and_backtraces),
              cmocka_unit_test(sigquit_prints_the_dump_when_asked_for),
              cmocka_unit_test(dump_refuses_bad_calls))
