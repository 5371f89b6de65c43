/* pipeline: runs several shell commands at once and streams their output.
 *
 *   pipeline [-t SECONDS] COMMAND...
 *
 * Each COMMAND runs as `/bin/sh -c COMMAND`, in a process group of its
 * own, with stdin from /dev/null and stdout and stderr into one pipe.
 * Every line it writes is printed as it arrives, prefixed with the
 * command's number: "[2] line". With -t, a command still running after
 * SECONDS (decimals allowed) gets SIGTERM, and SIGKILL a second later.
 * SIGINT and SIGTERM sent to the pipeline are forwarded to every command
 * still running; a second one kills them. At the end each command's exit
 * status and run time are printed. Exit status: 0 when every command
 * exited 0, 1 otherwise, 2 for bad usage.
 *
 * One task per command moves its output; a worker is busy only while
 * there is output to move: waiting for output, for an exit and for
 * signals holds no thread.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

#define GRACE_NS 1000000000LL /* from SIGTERM to SIGKILL */

struct cmd {
    int num;
    const char *line;
    cio_proc *proc;      /* under `lock`: NULL once freed */
    int64_t start, end;
    int status;          /* cio_proc_wait's, or an error */
    bool deadline_hit;   /* stopped for running too long */
};

static struct {
    struct cmd *cmds;
    int n;
    int64_t limit_ns;    /* -t, or 0 */
    cio_mutex *lock;     /* the procs, against the forwarder */
    cio_mutex *out;      /* whole lines on stdout */
    int interrupts;      /* signals forwarded */
} pl;

/* Writes `len` bytes to stdout as one piece among the tasks. */
static void put(const char *s, size_t len)
{
    if (cio_mutex_lock(pl.out, CIO_NEVER) < 0)
        return;
    cio_write_all(1, s, len, NULL, CIO_NEVER);
    cio_mutex_unlock(pl.out);
}

/* Prints "[num] " + line + "\n". */
static void put_line(int num, const char *line, size_t len)
{
    char head[24];
    int h = snprintf(head, sizeof head, "[%d] ", num);
    char *buf = malloc((size_t)h + len + 1);
    if (!buf)
        return;
    memcpy(buf, head, (size_t)h);
    memcpy(buf + h, line, len);
    buf[(size_t)h + len] = '\n';
    put(buf, (size_t)h + len + 1);
    free(buf);
}

static void signal_cmd(struct cmd *c, int sig)
{
    if (cio_mutex_lock(pl.lock, CIO_NEVER) < 0)
        return; /* cancelled */
    if (c->proc)
        cio_proc_kill(c->proc, sig, 1);
    cio_mutex_unlock(pl.lock);
}

/* Past the deadline: SIGTERM, and the time by which SIGKILL follows. */
static int64_t escalate(struct cmd *c)
{
    if (!c->deadline_hit) {
        c->deadline_hit = true;
        signal_cmd(c, SIGTERM);
        return cio_deadline_after(GRACE_NS);
    }
    signal_cmd(c, SIGKILL);
    return CIO_NEVER;
}

static void *run_cmd(void *arg)
{
    struct cmd *c = arg;
    const char *const argv[] = {"sh", "-c", c->line, NULL};
    cio_proc_opts o;
    cio_proc_opts_init(&o);
    o.stdio[0] = CIO_STDIO_NULL;
    o.stdio[1] = CIO_STDIO_PIPE;
    o.stdio[2] = CIO_STDIO_STDOUT;
    o.flags = CIO_PROC_NEW_GROUP;
    c->start = cio_now();
    cio_proc *p;
    int rc = cio_proc_spawn(&p, "/bin/sh", argv, &o);
    if (rc < 0) {
        c->status = rc;
        c->end = cio_now();
        return NULL;
    }
    cio_mutex_lock(pl.lock, CIO_NEVER);
    c->proc = p;
    cio_mutex_unlock(pl.lock);

    int64_t deadline = pl.limit_ns ? c->start + pl.limit_ns : CIO_NEVER;
    int fd = cio_proc_fd(p, 1);
    static const size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    size_t have = 0;
    while (buf) {
        ssize_t k = cio_read(fd, buf + have, cap - have, deadline);
        if (k == CIO_ETIMEDOUT) {
            deadline = escalate(c);
            continue;
        }
        if (k <= 0)
            break; /* end of output (or an error: the exit tells) */
        have += (size_t)k;
        /* Print each whole line; keep the rest for the next read. */
        size_t from = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] == '\n') {
                put_line(c->num, buf + from, i - from);
                from = i + 1;
            }
        }
        if (from == 0 && have == cap) { /* a line longer than the buffer */
            put_line(c->num, buf, have);
            from = have;
        }
        memmove(buf, buf + from, have - from);
        have -= from;
    }
    if (buf && have)
        put_line(c->num, buf, have);
    free(buf);
    /* The output may end before the command does (it closed it). */
    for (;;) {
        c->status = cio_proc_wait(p, deadline);
        if (c->status != CIO_ETIMEDOUT)
            break;
        deadline = escalate(c);
    }
    c->end = cio_now();
    cio_mutex_lock(pl.lock, CIO_NEVER);
    c->proc = NULL;
    cio_mutex_unlock(pl.lock);
    cio_proc_free(&p);
    return NULL;
}

/* Forwards SIGINT and SIGTERM to every command still running; from the
 * second one on, SIGKILL. Cancelled when all commands are done. */
static void *forwarder(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int sig = cio_signal_wait(&set, CIO_NEVER);
        if (sig < 0)
            return NULL;
        int send = pl.interrupts++ ? SIGKILL : sig;
        for (int i = 0; i < pl.n; i++)
            signal_cmd(&pl.cmds[i], send);
    }
}

static void summary(const struct cmd *c)
{
    char text[512];
    double secs = (double)(c->end - c->start) / 1e9;
    int n;
    if (c->status < 0)
        n = snprintf(text, sizeof text, "[%d] could not run: %s\n", c->num,
                     cio_strerror(c->status));
    else if (c->status >= CIO_PROC_SIGNALED)
        n = snprintf(text, sizeof text, "[%d] killed by %s%s after %.3f s\n",
                     c->num, strsignal(CIO_PROC_TERMSIG(c->status)),
                     c->deadline_hit ? " (deadline)" : "", secs);
    else
        n = snprintf(text, sizeof text, "[%d] exit %d%s after %.3f s\n",
                     c->num, c->status, c->deadline_hit ? " (deadline)" : "",
                     secs);
    if (n > 0)
        put(text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

static int main_task(void *arg)
{
    (void)arg;
    if (cio_mutex_make(&pl.lock) < 0 || cio_mutex_make(&pl.out) < 0)
        return 2;
    /* Take the signals before the first command starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    cio_signal_wait(&set, 0);
    cio_task fw;
    if (cio_spawn(&fw, forwarder, NULL, NULL) < 0)
        return 2;
    cio_task *t = calloc((size_t)pl.n, sizeof *t);
    if (!t)
        return 2;
    int spawned = 0;
    for (int i = 0; i < pl.n; i++, spawned++)
        if (cio_spawn(&t[i], run_cmd, &pl.cmds[i], NULL) < 0)
            break;
    for (int i = 0; i < spawned; i++)
        cio_join(t[i], NULL, CIO_NEVER);
    free(t);
    cio_cancel(fw);
    cio_join(fw, NULL, CIO_NEVER);
    int rc = spawned == pl.n ? 0 : 1;
    for (int i = 0; i < pl.n; i++) {
        if (i >= spawned) {
            pl.cmds[i].status = CIO_ENOMEM;
            pl.cmds[i].start = pl.cmds[i].end = cio_now();
        }
        summary(&pl.cmds[i]);
        if (pl.cmds[i].status != 0)
            rc = 1;
    }
    cio_mutex_free(&pl.lock);
    cio_mutex_free(&pl.out);
    return rc;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [-t SECONDS] COMMAND...\n", prog);
    return 2;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "-t") == 0) {
        if (i + 1 >= argc)
            return usage(argv[0]);
        char *end;
        double s = strtod(argv[i + 1], &end);
        if (!*argv[i + 1] || *end || !(s > 0) || s > 1e6)
            return usage(argv[0]);
        pl.limit_ns = (int64_t)(s * 1e9);
        i += 2;
    }
    if (i >= argc)
        return usage(argv[0]);
    pl.n = argc - i;
    pl.cmds = calloc((size_t)pl.n, sizeof *pl.cmds);
    if (!pl.cmds)
        return 2;
    for (int k = 0; k < pl.n; k++) {
        pl.cmds[k].num = k + 1;
        pl.cmds[k].line = argv[i + k];
    }
    int rc = cio_run(main_task, NULL, NULL);
    free(pl.cmds);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], cio_strerror(rc));
        return 2;
    }
    return rc;
}
