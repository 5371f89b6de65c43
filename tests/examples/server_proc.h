/* Starting example programs from a test, and stopping a server. */
#ifndef CIO_TEST_SERVER_PROC_H
#define CIO_TEST_SERVER_PROC_H

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- any example ----------------------------------------------------------- */

/* Starts `path` with `args` (NULL-terminated, after the program name),
 * its stdout and stderr into a pipe; *out gets the pipe's read end.
 * Returns the child's pid. */
static inline pid_t start_captured(const char *path, const char *const *args,
                                   int *out)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[16] = {path};
        int n = 1;
        for (int i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* ---- the server process --------------------------------------------------- */

struct server {
    pid_t pid;
    int port;
};

/* Starts `path` with `args` (NULL-terminated, after the program name) and
 * `nofile` as RLIMIT_NOFILE (0: unchanged); waits for its "listening on"
 * line. */
static inline struct server start(const char *path, const char *const *args,
                           rlim_t nofile)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[16] = {path, "-p", "0", "-w", "1"};
        int n = 5;
        for (int i = 0; args && args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(p[1], 1);
        /* A failing case aborts the test process: take the server along,
         * or it would keep ctest waiting on the output it inherited. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (nofile) {
            struct rlimit rl = {nofile, nofile};
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char line[128];
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t k = read(p[0], line + got, 1);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (line[got - 1] == '\n')
            break;
    }
    line[got] = 0;
    close(p[0]);
    const char *colon = strrchr(line, ':');
    if (strncmp(line, "listening on ", 13) != 0 || !colon)
        fail_msg("server said: '%s'", line);
    return (struct server){pid, atoi(colon + 1)};
}

/* Sends `sig` (0: none, it stops by itself), then returns the exit status
 * (fails after 5 s). */
static inline int stop_with(struct server *s, int sig)
{
    if (sig) /* 0: it stops by itself; just wait */
        kill(s->pid, sig);
    for (int i = 0; i < 500; i++) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    fail_msg("server did not stop within 5 s of signal %d", sig);
    return -1;
}

/* SIGTERM, then the exit status (fails after 5 s). */
static inline int stop(struct server *s)
{
    return stop_with(s, SIGTERM);
}

#endif /* CIO_TEST_SERVER_PROC_H */
