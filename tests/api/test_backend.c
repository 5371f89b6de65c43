/* The backends: which one a runtime gets and why, the fallback from
 * io_uring to epoll when the kernel refuses it, and the one-outcome rule
 * for calls whose wait ends while a request is in the kernel. The rest of
 * the suite runs on both backends (make test runs it twice). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

#define US 1000LL
#define MS 1000000LL

static bool on_uring(void)
{
    cio_stats s;
    cio_stats_get(&s);
    return s.backend && strcmp(s.backend, "io_uring") == 0;
}

/* ---- which backend ------------------------------------------------------ */

static void *reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    ssize_t n = cio_read(fd, &c, 1, cio_deadline_after(2000 * MS));
    return (void *)(intptr_t)n;
}

static int main_which(void *arg)
{
    (void)arg;
    cio_stats s;
    cio_stats_get(&s);
    CHECK(s.backend && s.backend_why && *s.backend_why);
    /* The line `make test` shows to say which backend this machine ran. */
    printf("backend: %s (%s)\n", s.backend, s.backend_why);
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    cio_task t;
    CHECK_OK(cio_spawn(&t, reader, (void *)(intptr_t)sv, NULL));
    cio_test_until_waiting(t, CIO_WAIT_FD);
    CHECK_EQ(cio_write(c, "x", 1, CIO_NEVER), 1);
    void *r;
    CHECK_OK(cio_join(t, &r, CIO_NEVER));
    CHECK_EQ((intptr_t)r, 1);
    cio_stats_get(&s);
    /* The wait was a request on io_uring, a readiness wait on epoll. */
    if (strcmp(s.backend, "io_uring") == 0)
        CHECK(s.io_requests > 0);
    else
        CHECK_EQ(s.io_requests, 0);
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(sv));
    return 0;
}

CIO_TEST(says_which_backend_and_why)
{
    (void)state;
    cio_test_run(main_which, NULL, 2, 0);
    cio_stats s;
    cio_stats_get(&s); /* the last runtime's, after it ended */
    assert_non_null(s.backend);
    const char *env = getenv("CIO_BACKEND");
    if (env && *env && strcmp(env, "auto"))
        assert_string_equal(s.backend, env);
}

static int main_nothing(void *arg)
{
    (void)arg;
    return 0;
}

static int run_backend(void *arg)
{
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.backend = arg;
    return cio_run(main_nothing, NULL, &cfg);
}

CIO_TEST(a_backend_not_known_is_refused)
{
    (void)state;
    char said[1024];
    int st = cio_test_in_child(run_backend, (void *)"kqueue", said,
                               sizeof said);
    assert_true(WIFEXITED(st));
    assert_int_equal((signed char)WEXITSTATUS(st), (signed char)CIO_EINVAL);
    assert_non_null(strstr(said, "cio_config.backend = kqueue: expected"));
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.backend = "epoll";
    assert_int_equal(cio_run(main_which, NULL, &cfg), 0);
}

/* ---- the kernel refuses io_uring ---------------------------------------- */

/* What container runtimes do (Docker's default profile): io_uring_setup
 * fails with EPERM. False when this process cannot install the filter. */
static bool refuse_io_uring(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

static int main_on_epoll(void *arg)
{
    (void)arg;
    cio_stats s;
    cio_stats_get(&s);
    CHECK(strcmp(s.backend, "epoll") == 0);
    CHECK(strstr(s.backend_why, "Operation not permitted") != NULL);
    main_which(NULL); /* and it works */
    return 0;
}

static int refused_then_run(void *arg)
{
    if (!refuse_io_uring())
        return 77;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.backend = arg;
    return cio_run(main_on_epoll, NULL, &cfg);
}

CIO_TEST(io_uring_refused_by_the_kernel_falls_back_to_epoll)
{
    (void)state;
    char said[2048];
    /* Auto: epoll, with the reason. */
    int st = cio_test_in_child(refused_then_run, (void *)"auto", said,
                               sizeof said);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        CIO_SKIP("no seccomp filter can be installed here");
    if (WEXITSTATUS(st) != 0)
        fail_msg("status %d, said: %s", WEXITSTATUS(st), said);
    /* Asked for by name: cio_run fails with the kernel's error, saying so. */
    st = cio_test_in_child(refused_then_run, (void *)"io_uring", said,
                           sizeof said);
    assert_true(WIFEXITED(st));
    assert_int_equal((signed char)WEXITSTATUS(st), (signed char)CIO_EPERM);
    assert_non_null(strstr(said, "io_uring_setup: Operation not permitted"));
}

static int memlock_then_run(void *arg)
{
    (void)arg;
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
        return 3;
    return cio_run(main_which, NULL, NULL);
}

CIO_TEST(a_memlock_limit_too_small_for_a_ring_still_runs)
{
    (void)state;
    /* Kernels before 5.12 charge rings to RLIMIT_MEMLOCK: then the probe
     * or a worker's ring fails and epoll takes over; later ones charge
     * the memory cgroup, and io_uring works. Either way the program runs. */
    char said[2048];
    int st = cio_test_in_child(memlock_then_run, NULL, said, sizeof said);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("status %d, said: %s", WEXITSTATUS(st), said);
}

/* ---- one outcome when a wait ends during a request --------------------- */

/* The byte at position `pos` of the stream: not periodic in any chunk
 * size used here, so a lost or repeated piece shows. */
static unsigned char at(uint64_t pos)
{
    return (unsigned char)((pos * 7 + (pos >> 8) * 13) % 251);
}

struct race {
    int wfd, rfd;
    int calls;                /* calls each side makes with a deadline */
    unsigned seed;
    uint64_t written, read;   /* bytes each side counts as done */
    int wtimeouts, rtimeouts; /* waits that ended first */
};

static uint32_t rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Half the calls wait as long as it takes, so both sides progress; the
 * others have a deadline about as long as the other side takes to act,
 * so many end while their request is in the kernel. */
static int64_t race_deadline(unsigned *seed)
{
    uint32_t x = rnd(seed);
    if (x & 1)
        return CIO_NEVER;
    return cio_now() + (int64_t)((x >> 1) % 100) * US;
}

static void *race_writer(void *arg)
{
    struct race *r = arg;
    static unsigned char chunk[8192];
    unsigned seed = r->seed ^ 0x5a5a5a5a;
    for (int i = 0; i < r->calls; i++) {
        size_t n = 1 + rnd(&seed) % sizeof chunk;
        for (size_t k = 0; k < n; k++)
            chunk[k] = at(r->written + k);
        ssize_t w = cio_write(r->wfd, chunk, n, race_deadline(&seed));
        if (w == CIO_ETIMEDOUT) {
            r->wtimeouts++;
            continue;
        }
        CHECK(w > 0);
        r->written += (uint64_t)w; /* what it says went out, went out */
    }
    CHECK_OK(cio_shutdown(r->wfd, SHUT_WR));
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    unsigned char buf[8192];
    unsigned seed = r->seed;
    for (int i = 0;; i++) {
        size_t n = 1 + rnd(&seed) % sizeof buf;
        /* Racing deadlines for as many calls as the writer makes, then
         * none: the rest is read to the end. */
        int64_t d = i < r->calls ? race_deadline(&seed)
                                 : cio_deadline_after(5000 * MS);
        ssize_t got = cio_read(r->rfd, buf, n, d);
        if (got == CIO_ETIMEDOUT && i < r->calls) {
            r->rtimeouts++;
            continue;
        }
        CHECK(got >= 0);
        if (got == 0)
            break;
        for (ssize_t k = 0; k < got; k++)
            if (buf[k] != at(r->read + (uint64_t)k))
                cio_test_fail(__FILE__, __LINE__,
                              "byte %llu is %u, want %u (lost or repeated "
                              "data)",
                              (unsigned long long)(r->read + (uint64_t)k),
                              buf[k], at(r->read + (uint64_t)k));
        r->read += (uint64_t)got;
    }
    return NULL;
}

static int main_race(void *arg)
{
    struct race *r = arg;
    /* A Unix stream pair with a small send buffer: writes wait too, and
     * are let go as soon as the reader takes data (TCP would hold a small
     * window shut for its persist timer). */
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0, sv));
    int c = sv[0], s = sv[1];
    CHECK_OK(cio_sockopt_set(c, CIO_SO_SNDBUF, 8192));
    r->wfd = c;
    r->rfd = s;
    cio_task tw, tr;
    CHECK_OK(cio_spawn(&tw, race_writer, r, NULL));
    CHECK_OK(cio_spawn(&tr, race_reader, r, NULL));
    CHECK_OK(cio_join(tw, NULL, CIO_NEVER));
    CHECK_OK(cio_join(tr, NULL, CIO_NEVER));
    CHECK_EQ(r->read, r->written);
    if (on_uring()) {
        cio_stats st;
        cio_stats_get(&st);
        CHECK(st.io_requests > 0);
    }
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(s));
    return 0;
}

CIO_TEST(deadlines_racing_reads_and_writes_lose_and_repeat_nothing)
{
    (void)state;
    /* 100,000 calls with deadlines about as long as the other side takes:
     * many end while their request is in the kernel. */
    struct race r = {.calls = cio_test_sanitized() ? 10000 : 50000,
                     .seed = cio_test_seed()};
    cio_test_run(main_race, &r, 2, 0);
    print_message("%llu bytes; timeouts: %d of %d writes, %d of %d reads\n",
                  (unsigned long long)r.read, r.wtimeouts, r.calls,
                  r.rtimeouts, r.calls);
    /* The races happened: some waits ended first, some completed (a
     * write that finds some room returns a short count rather than
     * wait, so writes may all complete). */
    assert_true(r.wtimeouts + r.rtimeouts > 0);
    assert_true(r.wtimeouts < r.calls && r.rtimeouts < r.calls);
}

/* Cancels racing reads: each read runs in a task of its own, cancelled
 * at a random moment while the other side writes. */
struct one_read {
    int fd;
    unsigned char buf[16];
    ssize_t got;
};

static void *cancelled_read(void *arg)
{
    struct one_read *o = arg;
    o->got = cio_read(o->fd, o->buf, sizeof o->buf, CIO_NEVER);
    return NULL;
}

static void *trickle(void *arg)
{
    struct race *r = arg;
    unsigned seed = r->seed ^ 0x1234;
    for (int i = 0; i < r->calls; i++) {
        unsigned char b = at(r->written);
        CHECK_EQ(cio_write(r->wfd, &b, 1, CIO_NEVER), 1);
        r->written++;
        CHECK_OK(cio_sleep_until(cio_now() + (int64_t)(rnd(&seed) % 20) * US));
    }
    CHECK_OK(cio_shutdown(r->wfd, SHUT_WR));
    return NULL;
}

static int main_cancel_race(void *arg)
{
    struct race *r = arg;
    int c, s;
    cio_test_tcp_pair(&c, &s);
    r->wfd = c;
    r->rfd = s;
    cio_task tw;
    CHECK_OK(cio_spawn(&tw, trickle, r, NULL));
    unsigned seed = r->seed;
    for (;;) {
        struct one_read o = {.fd = s};
        cio_task t;
        CHECK_OK(cio_spawn(&t, cancelled_read, &o, NULL));
        CHECK_OK(cio_sleep_until(cio_now() + (int64_t)(rnd(&seed) % 20) * US));
        cio_cancel(t);
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
        if (o.got == CIO_ECANCELED) {
            r->rtimeouts++;
            continue;
        }
        CHECK(o.got >= 0);
        if (o.got == 0)
            break;
        for (ssize_t k = 0; k < o.got; k++)
            CHECK_EQ(o.buf[k], at(r->read + (uint64_t)k));
        r->read += (uint64_t)o.got;
    }
    CHECK_OK(cio_join(tw, NULL, CIO_NEVER));
    CHECK_EQ(r->read, r->written);
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(s));
    return 0;
}

CIO_TEST(cancels_racing_reads_lose_nothing)
{
    (void)state;
    struct race r = {.calls = cio_test_sanitized() ? 2000 : 10000,
                     .seed = cio_test_seed()};
    cio_test_run(main_cancel_race, &r, 2, 0);
    print_message("%llu bytes; %d reads cancelled first\n",
                  (unsigned long long)r.read, r.rtimeouts);
    assert_true(r.rtimeouts > 0);
}

CIO_TEST_MAIN(cmocka_unit_test(says_which_backend_and_why),
              cmocka_unit_test(a_backend_not_known_is_refused),
              cmocka_unit_test(io_uring_refused_by_the_kernel_falls_back_to_epoll),
              cmocka_unit_test(a_memlock_limit_too_small_for_a_ring_still_runs),
              cmocka_unit_test(deadlines_racing_reads_and_writes_lose_and_repeat_nothing),
              cmocka_unit_test(cancels_racing_reads_lose_nothing))
