/* Pipes, terminals and files a task did not open through cio: a read
 * waits without holding the worker; a terminal is read and written
 * through cio's own description, so the program's (and the shell's)
 * stays blocking; a pipe's flags come back when cio lets go of it or the
 * runtime ends; a regular file goes to the pool; stdin and stdout of a
 * process work the same way. */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0);
    return fl & O_NONBLOCK;
}

static atomic_long ticks;
static atomic_int stop;

static void *ticker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&ticks, 1);
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    }
    return NULL;
}

struct writer {
    int fd;
    const char *s;
};

static void *write_later(void *arg)
{
    struct writer *w = arg;
    usleep(100000);
    CHECK_EQ(write(w->fd, w->s, strlen(w->s)), (ssize_t)strlen(w->s));
    return NULL;
}

/* A pseudo-terminal: the master, and the slave in raw mode (no echo, no
 * line discipline to wait for a newline). */
static int pty(int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(m >= 0);
    CHECK_EQ(grantpt(m), 0);
    CHECK_EQ(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(s >= 0);
    struct termios t;
    CHECK_EQ(tcgetattr(s, &t), 0);
    cfmakeraw(&t);
    CHECK_EQ(tcsetattr(s, TCSANOW, &t), 0);
    *slave = s;
    return m;
}

/* ---- pipes ------------------------------------------------------------------ */

static int main_pipe(void *arg)
{
    (void)arg;
    atomic_store(&stop, 0);
    cio_task tk;
    CHECK_OK(cio_spawn(&tk, ticker, NULL, NULL));
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK(!nonblocking(p[0]));
    /* The data comes in 100 ms from a plain thread: the read waits, the
     * other task of this (only) worker keeps running meanwhile. */
    pthread_t th;
    struct writer w = {p[1], "piped"};
    CHECK_EQ(pthread_create(&th, NULL, write_later, &w), 0);
    long before = atomic_load(&ticks);
    char buf[16];
    CHECK_EQ(cio_read(p[0], buf, sizeof buf, cio_deadline_after(3000 * MS)), 5);
    CHECK(memcmp(buf, "piped", 5) == 0);
    CHECK(atomic_load(&ticks) - before >= 20);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* Left to the runtime's end: put back then (checked after cio_run). */
    CHECK_EQ(cio_write(p[1], "x", 1, CIO_NEVER), 1);
    CHECK(nonblocking(p[1]));
    *(int *)arg = p[1];
    /* While cio uses it, the pipe is non-blocking; given up, as before. */
    CHECK(nonblocking(p[0]));
    CHECK_OK(cio_fd_forget(p[0]));
    CHECK(!nonblocking(p[0]));
    close(p[0]);
    atomic_store(&stop, 1);
    CHECK_OK(cio_join(tk, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(pipe_flags_come_back)
{
    (void)state;
    int left = -1;
    cio_test_run(main_pipe, &left, 1, 0);
    CHECK(left >= 0);
    CHECK(!nonblocking(left));
    close(left);
}

/* ---- terminals -------------------------------------------------------------- */

static int main_tty(void *arg)
{
    (void)arg;
    int s, m = pty(&s);
    /* Reads wait in the reactor and come through cio's own description:
     * the program's descriptor never becomes non-blocking. */
    pthread_t th;
    struct writer w = {m, "typed"};
    CHECK_EQ(pthread_create(&th, NULL, write_later, &w), 0);
    char buf[16];
    CHECK_ERR(cio_read(s, buf, sizeof buf, 0), CIO_ETIMEDOUT);
    CHECK(!nonblocking(s));
    CHECK_EQ(cio_read(s, buf, sizeof buf, cio_deadline_after(3000 * MS)), 5);
    CHECK(memcmp(buf, "typed", 5) == 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK(!nonblocking(s));
    /* Writes too. */
    CHECK_EQ(cio_write(s, "shown", 5, cio_deadline_after(3000 * MS)), 5);
    size_t got = 0;
    while (got < 5) {
        ssize_t k = read(m, buf + got, 5 - got);
        CHECK(k > 0);
        got += (size_t)k;
    }
    CHECK(memcmp(buf, "shown", 5) == 0);
    /* A deadline with nothing typed. */
    int64_t t0 = cio_now();
    CHECK_ERR(cio_read(s, buf, sizeof buf, cio_deadline_after(50 * MS)),
              CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 >= 50 * MS);
    CHECK(!nonblocking(s));
    CHECK_OK(cio_close(s));
    close(m);

    /* The master side too: it is not reopened (that would make a new
     * pseudo-terminal), so what the slave writes is what it reads. */
    m = pty(&s);
    CHECK_EQ(write(s, "slave", 5), 5);
    got = 0;
    while (got < 5) {
        ssize_t k = cio_read(m, buf + got, 5 - got,
                             cio_deadline_after(3000 * MS));
        CHECK(k > 0);
        got += (size_t)k;
    }
    CHECK(memcmp(buf, "slave", 5) == 0);
    CHECK_OK(cio_close(m));
    close(s);
    return 0;
}

CIO_TEST(terminal_is_used_through_a_description_of_its_own)
{
    (void)state;
    cio_test_run(main_tty, NULL, 2, 0);
}

/* ---- regular files ---------------------------------------------------------- */

static int main_file(void *arg)
{
    (void)arg;
    char path[] = "/tmp/cio_stdio_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    cio_stats a, b;
    cio_stats_get(&a);
    enum { N = 3 << 20 }; /* larger than one pool operation */
    char *data = malloc(N), *back = malloc(N);
    CHECK(data && back);
    for (size_t i = 0; i < N; i++)
        data[i] = (char)(i * 7 + (i >> 11));
    size_t done = 0;
    CHECK_EQ(cio_write_all(fd, data, N, &done, CIO_NEVER), (ssize_t)N);
    CHECK_EQ(done, (size_t)N);
    cio_stats_get(&b);
    CHECK(b.pool_jobs > a.pool_jobs); /* the writes ran on the pool */
    a = b;
    CHECK_EQ(cio_write(fd, "tail", 4, CIO_NEVER), 4);
    CHECK_OK(cio_file_truncate(fd, N, CIO_NEVER));
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    size_t got = 0;
    for (;;) {
        ssize_t k = cio_read(fd, back + got, N - got, CIO_NEVER);
        CHECK(k >= 0);
        if (k == 0)
            break;
        got += (size_t)k;
    }
    CHECK_EQ(got, (size_t)N);
    CHECK(memcmp(data, back, N) == 0);
    cio_stats_get(&b);
    CHECK(b.pool_jobs > a.pool_jobs); /* the reads too */
    CHECK(!nonblocking(fd));
    CHECK_OK(cio_close(fd));
    free(data);
    free(back);
    return 0;
}

CIO_TEST(regular_file_goes_to_the_pool)
{
    (void)state;
    cio_test_run(main_file, NULL, 2, 0);
}

/* ---- a process's own stdin and stdout --------------------------------------- */

static int main_own(void *arg)
{
    (void)arg;
    char buf[64];
    ssize_t k = cio_read(0, buf, sizeof buf, cio_deadline_after(3000 * MS));
    CHECK(k > 0);
    for (ssize_t i = 0; i < k; i++)
        buf[i] = (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
    CHECK_EQ(cio_write(1, buf, (size_t)k, cio_deadline_after(3000 * MS)), k);
    return 0;
}

/* In a child: its stdin and stdout are a terminal's slave side, as in an
 * interactive shell. */
static int child_own(void *arg)
{
    (void)arg;
    int s, m = pty(&s);
    if (dup2(s, 0) < 0 || dup2(s, 1) < 0)
        return 10;
    close(s);
    if (write(m, "quiet", 5) != 5)
        return 11;
    cio_config cfg;
    cio_config_init(&cfg);
    if (cio_run(main_own, NULL, &cfg) != 0)
        return 12;
    if (nonblocking(0) || nonblocking(1))
        return 13; /* the shell would be left with a non-blocking tty */
    char buf[8];
    size_t got = 0;
    while (got < 5) {
        ssize_t k = read(m, buf + got, 5 - got);
        if (k <= 0)
            return 14;
        got += (size_t)k;
    }
    return memcmp(buf, "QUIET", 5) == 0 ? 0 : 15;
}

CIO_TEST(own_stdin_and_stdout_on_a_terminal)
{
    (void)state;
    char said[4096];
    int st = cio_test_in_child(child_own, NULL, said, sizeof said);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child status %d: %s", st, said);
}

CIO_TEST_MAIN(cmocka_unit_test(pipe_flags_come_back),
              cmocka_unit_test(terminal_is_used_through_a_description_of_its_own),
              cmocka_unit_test(regular_file_goes_to_the_pool),
              cmocka_unit_test(own_stdin_and_stdout_on_a_terminal))
