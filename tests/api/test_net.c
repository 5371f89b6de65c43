/* Sockets and descriptor waits: real sockets on 127.0.0.1 (and ::1, and a
 * Unix socket), every waiting call's deadline, cancellation and
 * close-while-waiting, partial writes, the I/O budget. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fd.h"
#include "core/runtime.h"
#include "harness.h"

#define MS 1000000LL

/* ---- helpers ------------------------------------------------------------- */

/* A listener on 127.0.0.1 with a free port; *a receives its address. */
static int listener(cio_addr *a, int backlog)
{
    cio_addr any;
    CHECK_OK(cio_addr_ip(&any, "127.0.0.1", 0));
    int lfd = cio_listen(&any, backlog, 0);
    CHECK(lfd >= 0);
    CHECK_OK(cio_sock_name(lfd, a));
    return lfd;
}

struct waiter {
    int fd;
    int what;        /* which call */
    int64_t deadline;
    long rc;         /* its result */
    atomic_int started;
};

enum { W_READ, W_WRITE, W_ACCEPT, W_CONNECT, W_WAIT_FD };

static cio_addr stuck_addr; /* for W_CONNECT: a listener whose queue is full */
enum { FILLERS = 4 };
static int fillers[FILLERS];

static void close_extra(int extra)
{
    if (extra < 0)
        return;
    for (int i = 0; i < FILLERS; i++)
        cio_close(fillers[i]);
}

static void *waiter_task(void *p)
{
    struct waiter *w = p;
    char buf[64];
    atomic_store(&w->started, 1);
    switch (w->what) {
    case W_READ:
        w->rc = cio_read(w->fd, buf, sizeof buf, w->deadline);
        break;
    case W_WRITE: {
        /* Writes until the socket buffers are full, then waits. */
        static char big[1 << 16];
        for (;;) {
            ssize_t n = cio_write(w->fd, big, sizeof big, w->deadline);
            if (n < 0) {
                w->rc = n;
                break;
            }
        }
        break;
    }
    case W_ACCEPT:
        w->rc = cio_accept(w->fd, NULL, w->deadline);
        break;
    case W_CONNECT:
        w->rc = cio_connect(w->fd, &stuck_addr, w->deadline);
        break;
    case W_WAIT_FD:
        w->rc = cio_wait_fd(w->fd, CIO_READABLE, w->deadline);
        break;
    }
    return NULL;
}

/* Sets up a descriptor on which call `what` must wait; *other receives a
 * descriptor to close afterwards (or -1). */
static int blocked_fd(int what, int *other, int *extra)
{
    *other = -1;
    *extra = -1;
    if (what == W_READ || what == W_WRITE) {
        int c, s;
        cio_test_tcp_pair(&c, &s);
        if (what == W_WRITE) {
            CHECK_OK(cio_sockopt_set(c, CIO_SO_SNDBUF, 4096));
            CHECK_OK(cio_sockopt_set(s, CIO_SO_RCVBUF, 4096));
        }
        *other = s;
        return c;
    }
    if (what == W_ACCEPT) {
        cio_addr a;
        return listener(&a, 16);
    }
    if (what == W_CONNECT) {
        /* A backlog of 1 queues two connections; later SYNs are dropped
         * (and retried by the kernel after a second), so a connect stays
         * in progress. The fillers stay open to keep the queue full. */
        int lfd = listener(&stuck_addr, 1);
        for (int i = 0; i < FILLERS; i++) {
            fillers[i] = cio_socket(AF_INET, SOCK_STREAM);
            CHECK(fillers[i] >= 0);
            int rc = cio_connect(fillers[i], &stuck_addr,
                                 cio_deadline_after(20 * MS));
            CHECK(rc == 0 || rc == CIO_ETIMEDOUT);
        }
        *other = lfd;
        *extra = 1;
        int fd = cio_socket(AF_INET, SOCK_STREAM);
        CHECK(fd >= 0);
        return fd;
    }
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    *other = p[1];
    return p[0];
}

static const char *const what_name[] = {"read", "write", "accept", "connect",
                                        "wait_fd"};

/* ---- deadline / cancel / close for every waiting call ---------------------- */

enum { DEADLINE, CANCEL, CLOSE };

/* One waiting call, one way to end its wait, exactly one outcome. */
static int main_outcome(void *arg)
{
    int what = (int)(intptr_t)arg >> 4, how = (int)(intptr_t)arg & 15;
    int other, extra;
    int fd = blocked_fd(what, &other, &extra);
    struct waiter w = {.fd = fd, .what = what, .deadline = CIO_NEVER};
    if (how == DEADLINE) {
        int64_t t0 = cio_now();
        w.deadline = t0 + 30 * MS;
        waiter_task(&w);
        int64_t took = cio_now() - t0;
        if (w.rc != CIO_ETIMEDOUT)
            printf("%s: rc %ld\n", what_name[what], w.rc);
        CHECK_ERR(w.rc, CIO_ETIMEDOUT);
        CHECK(took >= 30 * MS); /* never early */
        CHECK(took < 2000 * MS);
        cio_close(fd);
    } else {
        cio_task t;
        CHECK_OK(cio_spawn(&t, waiter_task, &w, NULL));
        CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
        CHECK(atomic_load(&w.started));
        cio_stats s;
        cio_stats_get(&s);
        CHECK(s.io_waits > 0);
        int p[2] = {-1, -1};
        if (how == CANCEL) {
            CHECK_OK(cio_cancel(t));
        } else {
            CHECK_OK(cio_close(fd));
            /* The number is free again: a new descriptor probably takes
             * it. The woken call must not touch it. */
            CHECK_OK(pipe2(p, O_CLOEXEC));
        }
        CHECK_OK(cio_join(t, NULL, cio_deadline_after(2000 * MS)));
        CHECK_ERR(w.rc, how == CANCEL ? CIO_ECANCELED : CIO_EBADF);
        if (how == CANCEL) {
            cio_close(fd);
        } else {
            char c = 'x';
            CHECK_EQ(write(p[1], &c, 1), 1);
            CHECK_EQ(read(p[0], &c, 1), 1); /* nobody took the byte */
            CHECK_EQ(c, 'x');
            close(p[0]);
            close(p[1]);
        }
    }
    if (other >= 0)
        cio_close(other);
    close_extra(extra);
    return 0;
}

#define OUTCOME_CASE(name, W, HOW)                                            \
    CIO_TEST(name)                                                            \
    {                                                                         \
        (void)state;                                                          \
        cio_test_run(main_outcome, (void *)(intptr_t)((W) << 4 | (HOW)), 2,   \
                     0);                                                      \
    }
#define OUTCOME_CASES(what, W)                                                \
    OUTCOME_CASE(what##_deadline, W, DEADLINE)                                \
    OUTCOME_CASE(what##_cancel, W, CANCEL)                                    \
    OUTCOME_CASE(what##_close_while_waiting, W, CLOSE)

/* CMake registers the cases from lines starting with CIO_TEST(, so each
 * generated case is also listed here. */
#if 0
CIO_TEST(read_deadline)
CIO_TEST(read_cancel)
CIO_TEST(read_close_while_waiting)
CIO_TEST(write_deadline)
CIO_TEST(write_cancel)
CIO_TEST(write_close_while_waiting)
CIO_TEST(accept_deadline)
CIO_TEST(accept_cancel)
CIO_TEST(accept_close_while_waiting)
CIO_TEST(connect_deadline)
CIO_TEST(connect_cancel)
CIO_TEST(connect_close_while_waiting)
CIO_TEST(wait_fd_deadline)
CIO_TEST(wait_fd_cancel)
CIO_TEST(wait_fd_close_while_waiting)
#endif
OUTCOME_CASES(read, W_READ)
OUTCOME_CASES(write, W_WRITE)
OUTCOME_CASES(accept, W_ACCEPT)
OUTCOME_CASES(connect, W_CONNECT)
OUTCOME_CASES(wait_fd, W_WAIT_FD)

/* ---- echo with many concurrent connections --------------------------------- */

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = cio_read(fd, buf, sizeof buf, CIO_NEVER);
        if (n <= 0)
            break;
        CHECK_EQ(cio_write_all(fd, buf, (size_t)n, NULL, CIO_NEVER), n);
    }
    cio_close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = cio_accept(lfd, NULL, CIO_NEVER);
        if (fd < 0)
            break;
        CHECK_OK(cio_spawn(NULL, echo_conn, (void *)(intptr_t)fd, NULL));
    }
    return NULL;
}

struct client {
    cio_addr addr;
    int id;
    int rounds;
};

static void *echo_client(void *arg)
{
    struct client *c = arg;
    int fd = cio_connect_addr(&c->addr, cio_deadline_after(5000 * MS));
    CHECK(fd >= 0);
    CHECK_OK(cio_sockopt_set(fd, CIO_SO_NODELAY, 1));
    char out[3000], in[3000];
    for (int r = 0; r < c->rounds; r++) {
        size_t n = 1 + (size_t)((c->id * 131 + r * 17) % (int)sizeof out);
        for (size_t i = 0; i < n; i++)
            out[i] = (char)(c->id + r + (int)i);
        CHECK_EQ(cio_write_all(fd, out, n, NULL, CIO_NEVER), n);
        size_t got = 0;
        while (got < n) {
            ssize_t k = cio_read(fd, in + got, n - got, CIO_NEVER);
            CHECK(k > 0);
            got += (size_t)k;
        }
        CHECK(memcmp(in, out, n) == 0);
    }
    CHECK_OK(cio_shutdown(fd, SHUT_WR));
    char c1;
    CHECK_EQ(cio_read(fd, &c1, 1, CIO_NEVER), 0); /* server closed too */
    CHECK_OK(cio_close(fd));
    return NULL;
}

static int main_echo_many(void *arg)
{
    (void)arg;
    enum { CLIENTS = 200, ROUNDS = 20 };
    cio_addr a;
    int lfd = listener(&a, 1024);
    cio_task srv;
    CHECK_OK(cio_spawn(&srv, echo_server, (void *)(intptr_t)lfd, NULL));
    static struct client cl[CLIENTS];
    cio_task t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (struct client){.addr = a, .id = i, .rounds = ROUNDS};
        CHECK_OK(cio_spawn(&t[i], echo_client, &cl[i], NULL));
    }
    for (int i = 0; i < CLIENTS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_OK(cio_close(lfd)); /* wakes the acceptor with EBADF */
    CHECK_OK(cio_join(srv, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(echo_many_connections)
{
    (void)state;
    cio_test_run(main_echo_many, NULL, 2, 0);
}

/* ---- other families ------------------------------------------------------ */

static void roundtrip(int c, int s)
{
    char buf[16];
    CHECK_EQ(cio_write(c, "ping", 4, CIO_NEVER), 4);
    CHECK_EQ(cio_read(s, buf, sizeof buf, cio_deadline_after(2000 * MS)), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ(cio_write(s, "pong!", 5, CIO_NEVER), 5);
    CHECK_EQ(cio_read(c, buf, sizeof buf, cio_deadline_after(2000 * MS)), 5);
    CHECK(memcmp(buf, "pong!", 5) == 0);
}

static int main_ipv6(void *arg)
{
    (void)arg;
    int lfd = cio_tcp_listen("::1", 0, 16, CIO_LISTEN_V6ONLY);
    if (lfd == CIO_EADDRNOTAVAIL || lfd == CIO_EAFNOSUPPORT)
        return 77;
    CHECK(lfd >= 0);
    cio_addr a;
    CHECK_OK(cio_sock_name(lfd, &a));
    CHECK_EQ(a.u.sa.sa_family, AF_INET6);
    char text[CIO_ADDR_STRLEN];
    CHECK(cio_addr_format(&a, text, sizeof text) > 0);
    CHECK(strncmp(text, "[::1]:", 6) == 0);
    int c = cio_tcp_connect("::1", cio_addr_port(&a), cio_deadline_after(2000 * MS));
    CHECK(c >= 0);
    cio_addr peer;
    int s = cio_accept(lfd, &peer, cio_deadline_after(2000 * MS));
    CHECK(s >= 0);
    CHECK_EQ(peer.u.sa.sa_family, AF_INET6);
    roundtrip(c, s);
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(s));
    CHECK_OK(cio_close(lfd));
    return 0;
}

CIO_TEST(ipv6_loopback)
{
    (void)state;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    int rc = cio_run(main_ipv6, NULL, &cfg);
    if (rc == 77)
        CIO_SKIP("no IPv6 on ::1 here");
    ASSERT_ERR(rc, 0);
    cio_test_check_teardown();
}

static int main_unix(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/cio-test-%d.sock", (int)getpid());
    unlink(path);
    int lfd = cio_unix_listen(path, 16);
    CHECK(lfd >= 0);
    CHECK_ERR(cio_unix_listen(path, 16), CIO_EADDRINUSE);
    int c = cio_unix_connect(path, cio_deadline_after(2000 * MS));
    CHECK(c >= 0);
    cio_addr peer;
    int s = cio_accept(lfd, &peer, cio_deadline_after(2000 * MS));
    CHECK(s >= 0);
    CHECK_EQ(peer.u.sa.sa_family, AF_UNIX);
    roundtrip(c, s);
    CHECK_OK(cio_close(c));
    char b;
    CHECK_EQ(cio_read(s, &b, 1, cio_deadline_after(2000 * MS)), 0);
    CHECK_OK(cio_close(s));
    CHECK_OK(cio_close(lfd));
    unlink(path);
    CHECK_ERR(cio_unix_connect(path, cio_deadline_after(100 * MS)), CIO_ENOENT);
    return 0;
}

CIO_TEST(unix_stream)
{
    (void)state;
    cio_test_run(main_unix, NULL, 2, 0);
}

static int main_udp(void *arg)
{
    (void)arg;
    cio_addr a, b, from;
    CHECK_OK(cio_addr_ip(&a, "127.0.0.1", 0));
    int x = cio_udp_bind(&a, 0);
    int y = cio_udp_bind(&a, 0);
    CHECK(x >= 0 && y >= 0);
    CHECK_OK(cio_sock_name(y, &b));
    char buf[100], big[100];
    memset(big, 'u', sizeof big);
    CHECK_EQ(cio_sendto(x, "hello", 5, &b, CIO_NEVER), 5);
    CHECK_EQ(cio_recvfrom(y, buf, sizeof buf, &from, cio_deadline_after(2000 * MS)), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    cio_addr xa;
    CHECK_OK(cio_sock_name(x, &xa));
    CHECK_EQ(cio_addr_port(&from), cio_addr_port(&xa));
    /* A datagram larger than the buffer: its full length is reported. */
    CHECK_EQ(cio_sendto(x, big, sizeof big, &b, CIO_NEVER), 100);
    CHECK_EQ(cio_recvfrom(y, buf, 10, NULL, cio_deadline_after(2000 * MS)), 100);
    CHECK_EQ(buf[9], 'u');
    /* Nothing more: the deadline ends the wait. */
    CHECK_ERR(cio_recvfrom(y, buf, sizeof buf, NULL, cio_deadline_after(20 * MS)),
              CIO_ETIMEDOUT);
    CHECK_OK(cio_close(x));
    CHECK_OK(cio_close(y));
    return 0;
}

CIO_TEST(udp_sendto_recvfrom)
{
    (void)state;
    cio_test_run(main_udp, NULL, 1, 0);
}

/* ---- errors that do not last, closes racing calls ------------------------ */

static void *udp_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char b[16];
    /* The ICMP error for the datagram sent below: reported once... */
    CHECK_ERR(cio_recvfrom(fd, b, sizeof b, NULL, cio_deadline_after(2000 * MS)),
              CIO_ECONNREFUSED);
    /* ...after which the socket waits again: no spinning on an error bit
     * that no longer holds (that would never return here). */
    CHECK_ERR(cio_recvfrom(fd, b, sizeof b, NULL, cio_deadline_after(50 * MS)),
              CIO_ETIMEDOUT);
    return NULL;
}

static int main_udp_error(void *arg)
{
    (void)arg;
    cio_addr any, closed;
    CHECK_OK(cio_addr_ip(&any, "127.0.0.1", 0));
    int tmp = cio_udp_bind(&any, 0);
    CHECK(tmp >= 0);
    CHECK_OK(cio_sock_name(tmp, &closed));
    CHECK_OK(cio_close(tmp)); /* nothing listens on that port now */
    int fd = cio_udp_bind(&any, 0);
    CHECK(fd >= 0);
    CHECK_OK(cio_connect(fd, &closed, CIO_NEVER));
    cio_task t;
    CHECK_OK(cio_spawn(&t, udp_reader, (void *)(intptr_t)fd, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(cio_sendto(fd, "x", 1, NULL, CIO_NEVER), 1);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_close(fd));
    return 0;
}

CIO_TEST(udp_error_is_reported_once)
{
    (void)state;
    cio_test_run(main_udp_error, NULL, 1, 0);
}

static atomic_int race_fd, race_stop, race_started;

static void *race_reader(void *arg)
{
    (void)arg;
    char b[8];
    atomic_store(&race_started, 1);
    while (!atomic_load(&race_stop)) {
        ssize_t n = cio_read(atomic_load(&race_fd), b, sizeof b, CIO_NEVER);
        CHECK(n == (ssize_t)sizeof b || n == CIO_EBADF);
    }
    return NULL;
}

static uint32_t refs_of(int fd)
{
    struct cio__runtime *rt = atomic_load(&cio__rt);
    struct cio__fd *chunk = atomic_load(&rt->fd_chunks[fd / CIO__FD_CHUNK]);
    return atomic_load(&chunk[fd % CIO__FD_CHUNK].refs);
}

static int main_close_race(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    int rounds = cio_test_sanitized() ? 300 : 2000;
    /* Each round needs both workers' threads on a CPU at once; on a
     * machine whose CPUs are busy with other work a round can take the
     * kernel's scheduling latency, so the rounds stop after 5 s (at
     * least 100 are made). */
    int64_t stop_at = cio_now() + 5000 * MS;
    for (int i = 0; i < rounds && (i < 100 || cio_now() < stop_at); i++) {
        /* /dev/zero is always readable: the reader is inside a call on
         * the other worker nearly all the time while this one closes. */
        int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        atomic_store(&race_fd, fd);
        atomic_store(&race_stop, 0);
        atomic_store(&race_started, 0);
        cio_task t;
        CHECK_OK(cio_spawn(&t, race_reader, NULL, &o));
        while (!atomic_load(&race_started))
            CHECK_OK(cio_yield());
        CHECK_OK(cio_close(fd));
        atomic_store(&race_stop, 1);
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
        /* Every call that met the close gave its count back exactly. */
        CHECK_EQ(refs_of(fd), 0);
    }
    return 0;
}

CIO_TEST(close_races_calls_in_flight)
{
    (void)state;
    cio_test_run(main_close_race, NULL, 2, 0);
}

/* ---- vectors, reuseport -------------------------------------------------- */

static int main_vectors(void *arg)
{
    (void)arg;
    int c, s;
    cio_test_tcp_pair(&c, &s);
    char x[] = "abc", y[] = "defgh";
    struct iovec out[3] = {{x, 3}, {y, 0}, {y, 5}};
    CHECK_EQ(cio_writev(c, out, 3, CIO_NEVER), 8);
    /* Read back through two vectors, the first two bytes long. */
    char flat[10];
    size_t got = 0;
    while (got < 8) {
        size_t first = got < 2 ? 2 - got : 0;
        struct iovec in[2] = {{flat + got, first},
                              {flat + got + first, sizeof flat - got - first}};
        ssize_t n = cio_readv(s, in, 2, cio_deadline_after(2000 * MS));
        CHECK(n > 0);
        got += (size_t)n;
    }
    CHECK(memcmp(flat, "abcdefgh", 8) == 0);
    CHECK_EQ(cio_writev(c, out, 0, CIO_NEVER), 0);
    cio_close(c);
    cio_close(s);

    /* Two listeners on one port with SO_REUSEPORT; without it, EADDRINUSE. */
    int l1 = cio_tcp_listen("127.0.0.1", 0, 16, CIO_LISTEN_REUSEPORT);
    CHECK(l1 >= 0);
    cio_addr la;
    CHECK_OK(cio_sock_name(l1, &la));
    int l2 = cio_tcp_listen("127.0.0.1", cio_addr_port(&la), 16, CIO_LISTEN_REUSEPORT);
    CHECK(l2 >= 0);
    CHECK_ERR(cio_tcp_listen("127.0.0.1", cio_addr_port(&la), 16, 0), CIO_EADDRINUSE);
    int v;
    CHECK_OK(cio_sockopt_get(l2, CIO_SO_REUSEPORT, &v));
    CHECK_EQ(v, 1);
    CHECK_OK(cio_sockopt_get(l2, CIO_SO_REUSEADDR, &v));
    CHECK_EQ(v, 1);
    cio_close(l1);
    cio_close(l2);
    return 0;
}

CIO_TEST(readv_writev_and_reuseport)
{
    (void)state;
    cio_test_run(main_vectors, NULL, 1, 0);
}

/* ---- partial writes ------------------------------------------------------- */

enum { BIG = 4 << 20 };

static void *slow_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t got = 0;
    unsigned char buf[777];
    while (got < BIG) {
        ssize_t n = cio_read(fd, buf, sizeof buf, cio_deadline_after(10000 * MS));
        CHECK(n > 0);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) * 7 % 251))
                CHECK(!"byte out of order");
        got += (size_t)n;
        if (got % 7 == 0)
            cio_yield();
    }
    char c;
    CHECK_EQ(cio_read(fd, &c, 1, cio_deadline_after(2000 * MS)), 0);
    return NULL;
}

static int main_partial(void *arg)
{
    (void)arg;
    int c, s;
    cio_test_tcp_pair(&c, &s);
    /* A tiny send buffer makes most writes partial. The receive buffer
     * keeps its default: a tiny one on loopback (64 KiB segments) stalls
     * TCP itself on zero-window probes. */
    CHECK_OK(cio_sockopt_set(c, CIO_SO_SNDBUF, 2048));
    unsigned char *data = malloc(BIG);
    CHECK(data);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (unsigned char)(i * 7 % 251);
    cio_task r;
    CHECK_OK(cio_spawn(&r, slow_reader, (void *)(intptr_t)s, NULL));
    /* One write of 4 MiB through a 2 KiB buffer: many partial writes, all
     * completed in order. */
    size_t written = 0;
    CHECK_EQ(cio_write_all(c, data, BIG, &written, cio_deadline_after(20000 * MS)), BIG);
    CHECK_EQ(written, BIG);
    CHECK_OK(cio_shutdown(c, SHUT_WR));
    CHECK_OK(cio_join(r, NULL, CIO_NEVER));
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(s));
    free(data);
    return 0;
}

CIO_TEST(partial_writes_tiny_buffers)
{
    (void)state;
    cio_test_run(main_partial, NULL, 2, 0);
}

static int main_write_all_partial_error(void *arg)
{
    (void)arg;
    int c, s;
    cio_test_tcp_pair(&c, &s);
    CHECK_OK(cio_sockopt_set(c, CIO_SO_SNDBUF, 4096));
    CHECK_OK(cio_sockopt_set(s, CIO_SO_RCVBUF, 4096));
    static char data[1 << 20];
    size_t written = 12345;
    /* Nobody reads: the deadline passes with part of it written. */
    CHECK_ERR(cio_write_all(c, data, sizeof data, &written, cio_deadline_after(50 * MS)),
              CIO_ETIMEDOUT);
    CHECK(written > 0 && written < sizeof data);
    /* The peer goes away: the writer gets EPIPE or ECONNRESET, no SIGPIPE. */
    CHECK_OK(cio_sockopt_set(s, CIO_SO_LINGER, 0));
    CHECK_OK(cio_close(s));
    ssize_t rc;
    do
        rc = cio_write(c, data, sizeof data, cio_deadline_after(2000 * MS));
    while (rc > 0);
    CHECK(rc == CIO_EPIPE || rc == CIO_ECONNRESET);
    CHECK_OK(cio_close(c));
    return 0;
}

CIO_TEST(write_all_reports_count_and_no_sigpipe)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    cio_test_run(main_write_all_partial_error, NULL, 1, 0);
}

/* ---- the budget ------------------------------------------------------------- */

static atomic_int stop_flood;

static void *flooder(void *arg)
{
    int fd = (int)(intptr_t)arg;
    cio_addr to;
    CHECK_OK(cio_sock_name(fd, &to)); /* to itself; nobody reads */
    long n = 0;
    while (!atomic_load(&stop_flood)) {
        /* A UDP socket is always writable: without the budget this loop
         * would never let the sleeper below run. */
        CHECK_EQ(cio_sendto(fd, "x", 1, &to, CIO_NEVER), 1);
        n++;
    }
    return (void *)n;
}

static void *sleeper(void *arg)
{
    int64_t *late = arg;
    int64_t want = cio_deadline_after(10 * MS);
    CHECK_OK(cio_sleep_until(want));
    *late = cio_now() - want;
    atomic_store(&stop_flood, 1);
    return NULL;
}

static int main_budget(void *arg)
{
    (void)arg;
    cio_addr a;
    CHECK_OK(cio_addr_ip(&a, "127.0.0.1", 0));
    int fd = cio_udp_bind(&a, 0);
    CHECK(fd >= 0);
    int64_t late = -1;
    cio_task f, s;
    CHECK_OK(cio_spawn(&s, sleeper, &late, NULL));
    CHECK_OK(cio_spawn(&f, flooder, (void *)(intptr_t)fd, NULL));
    void *n;
    CHECK_OK(cio_join(s, NULL, CIO_NEVER));
    CHECK_OK(cio_join(f, &n, CIO_NEVER));
    CHECK((long)(intptr_t)n > 0);
    printf("sleeper woke %lld us late; flooder sent %ld\n",
           (long long)(late / 1000), (long)(intptr_t)n);
    /* Generous: a loaded machine may add milliseconds, never seconds. */
    CHECK(late >= 0 && late < 1000 * MS);
    cio_stats st;
    cio_stats_get(&st);
    CHECK(st.budget_yields > 0);
    CHECK_OK(cio_close(fd));
    return 0;
}

CIO_TEST(budget_always_ready_socket_does_not_starve)
{
    (void)state;
    cio_test_run(main_budget, NULL, 1, 0);
}

/* ---- wait_fd on a foreign descriptor --------------------------------------- */

static void *pipe_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(write(fd, "z", 1), 1);
    return NULL;
}

static int main_wait_fd_ready(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC)); /* blocking: cio makes it non-blocking */
    cio_task t;
    CHECK_OK(cio_spawn(&t, pipe_writer, (void *)(intptr_t)p[1], NULL));
    char c;
    /* The pattern a foreign library follows: wait, try, wait again on
     * EAGAIN. The first cio call on the descriptor makes it non-blocking,
     * so the read cannot block the worker. */
    int rounds = 0;
    int64_t t0 = cio_now();
    for (;;) {
        int ev = cio_wait_fd(p[0], CIO_READABLE, cio_deadline_after(2000 * MS));
        CHECK_EQ(ev, CIO_READABLE);
        rounds++;
        ssize_t n = read(p[0], &c, 1);
        if (n == 1)
            break;
        CHECK(n < 0 && errno == EAGAIN);
    }
    /* The byte came 10 ms later: it really waited, and woke for it. */
    CHECK(cio_now() - t0 >= 5 * MS);
    CHECK(rounds <= 2);
    CHECK_EQ(c, 'z');
    CHECK_EQ(cio_wait_fd(p[1], CIO_WRITABLE, cio_deadline_after(2000 * MS)),
             CIO_WRITABLE);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_close(p[0]));
    CHECK_OK(cio_close(p[1]));
    return 0;
}

CIO_TEST(wait_fd_foreign_pipe)
{
    (void)state;
    cio_test_run(main_wait_fd_ready, NULL, 2, 0);
}

/* ---- a deadline that has passed: try once, do not wait -------------------- */

/* Holds the worker without a switch, so it polls no reactor meanwhile: an
 * edge that arrives now stays in the kernel and cio's readiness bit stays
 * clear. */
static void spin(int64_t ns)
{
    int64_t until = cio_now() + ns;
    while (cio_now() < until)
        ;
}

/* Each call first meets EAGAIN (its readiness bit is cleared), then the
 * descriptor becomes ready while the worker does not poll: a call that
 * must not wait has to try the operation, not trust the stale bit. */
static int main_past_deadline(void *arg)
{
    (void)arg;
    char buf[4096] = {0};
    int64_t past = cio_now() - 1;
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    CHECK_ERR(cio_read(p[0], buf, 1, 0), CIO_ETIMEDOUT);
    CHECK_EQ(write(p[1], "a", 1), 1);
    spin(20 * MS);
    CHECK_EQ(cio_read(p[0], buf, 1, 0), 1);
    CHECK_ERR(cio_read(p[0], buf, 1, past), CIO_ETIMEDOUT);
    CHECK_EQ(write(p[1], "b", 1), 1);
    spin(20 * MS);
    struct iovec iov = {buf, 1};
    CHECK_EQ(cio_readv(p[0], &iov, 1, past), 1);
    CHECK_ERR(cio_wait_fd(p[0], CIO_READABLE, 0), CIO_ETIMEDOUT);
    CHECK_EQ(write(p[1], "c", 1), 1);
    spin(20 * MS);
    CHECK_EQ(cio_wait_fd(p[0], CIO_READABLE, 0), CIO_READABLE);
    CHECK_EQ(read(p[0], buf, 1), 1);

    /* Writes: fill the pipe, drain it behind cio's back. */
    ssize_t n;
    while ((n = cio_write(p[1], buf, sizeof buf, 0)) > 0)
        ;
    CHECK_ERR(n, CIO_ETIMEDOUT);
    while (read(p[0], buf, sizeof buf) > 0)
        ;
    spin(20 * MS);
    CHECK_EQ(cio_write(p[1], buf, 1, 0), 1);
    while ((n = cio_writev(p[1], &(struct iovec){buf, sizeof buf}, 1, past)) > 0)
        ;
    CHECK_ERR(n, CIO_ETIMEDOUT);
    while (read(p[0], buf, sizeof buf) > 0)
        ;
    spin(20 * MS);
    CHECK_EQ(cio_writev(p[1], &(struct iovec){buf, 1}, 1, past), 1);
    while ((n = cio_write(p[1], buf, sizeof buf, 0)) > 0)
        ;
    while (read(p[0], buf, sizeof buf) > 0)
        ;
    spin(20 * MS);
    size_t done = 0;
    CHECK_EQ(cio_write_all(p[1], buf, 8, &done, 0), 8);
    CHECK_EQ(done, 8);
    CHECK_OK(cio_close(p[0]));
    CHECK_OK(cio_close(p[1]));

    /* accept: the connection comes from a plain blocking socket. */
    cio_addr a;
    int lfd = listener(&a, 16);
    CHECK_ERR(cio_accept(lfd, NULL, 0), CIO_ETIMEDOUT);
    int raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(raw >= 0);
    CHECK_OK(connect(raw, &a.u.sa, a.len));
    spin(20 * MS);
    int s = cio_accept(lfd, NULL, 0);
    CHECK(s >= 0);
    cio_close(s);
    close(raw);

    /* connect: a loopback handshake ends within the connect(2) call or
     * just after; the call looks once more before reporting the
     * timeout. */
    int ok = 0;
    for (int i = 0; i < 5 && !ok; i++) {
        int c = cio_connect_addr(&a, 0);
        CHECK(c >= 0 || c == CIO_ETIMEDOUT);
        if (c >= 0) {
            ok = 1;
            cio_close(c);
        }
        int s2 = cio_accept(lfd, NULL, cio_deadline_after(2000 * MS));
        CHECK(s2 >= 0);
        cio_close(s2);
    }
    CHECK(ok);
    cio_close(lfd);

    /* UDP */
    cio_addr lo, ua;
    CHECK_OK(cio_addr_ip(&lo, "127.0.0.1", 0));
    int u = cio_udp_bind(&lo, 0);
    CHECK(u >= 0);
    CHECK_OK(cio_sock_name(u, &ua));
    CHECK_ERR(cio_recvfrom(u, buf, sizeof buf, NULL, 0), CIO_ETIMEDOUT);
    int raw_u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(raw_u >= 0);
    CHECK_EQ(sendto(raw_u, "d", 1, 0, &ua.u.sa, ua.len), 1);
    spin(20 * MS);
    CHECK_EQ(cio_recvfrom(u, buf, sizeof buf, NULL, 0), 1);
    CHECK_EQ(cio_sendto(u, "e", 1, &ua, past), 1);
    CHECK_EQ(cio_recvfrom(u, buf, sizeof buf, NULL, past), 1);
    close(raw_u);
    cio_close(u);
    return 0;
}

CIO_TEST(past_deadline_tries_once)
{
    (void)state;
    cio_test_run(main_past_deadline, NULL, 1, 0);
}

/* Zero bytes ask nothing of the descriptor: no readiness, no wait. */
static int main_zero_length(void *arg)
{
    (void)arg;
    char buf[1];
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    /* Known not readable from here on. */
    CHECK_ERR(cio_read(p[0], buf, 1, 0), CIO_ETIMEDOUT);
    CHECK_EQ(cio_read(p[0], buf, 0, 0), 0);
    CHECK_EQ(cio_write(p[1], buf, 0, 0), 0);
    /* The pipe stays idle: a waiting read would take the whole 300 ms. */
    int64_t t0 = cio_now();
    CHECK_EQ(cio_read(p[0], buf, 0, cio_deadline_after(300 * MS)), 0);
    CHECK_EQ(cio_read(p[0], buf, 0, CIO_NEVER), 0);
    struct iovec none[2] = {{buf, 0}, {NULL, 0}};
    CHECK_EQ(cio_readv(p[0], none, 2, CIO_NEVER), 0);
    CHECK_EQ(cio_readv(p[0], NULL, 0, CIO_NEVER), 0);
    CHECK(cio_now() - t0 < 200 * MS);
    /* A full pipe: the same for writes. */
    char big[4096] = {0};
    while (cio_write(p[1], big, sizeof big, 0) > 0)
        ;
    t0 = cio_now();
    CHECK_EQ(cio_write(p[1], buf, 0, cio_deadline_after(300 * MS)), 0);
    CHECK_EQ(cio_writev(p[1], none, 2, CIO_NEVER), 0);
    CHECK_EQ(cio_write_all(p[1], buf, 0, NULL, CIO_NEVER), 0);
    CHECK(cio_now() - t0 < 200 * MS);
    CHECK_ERR(cio_read(-1, buf, 0, 0), CIO_EBADF);
    CHECK_ERR(cio_write(-1, buf, 0, 0), CIO_EBADF);
    CHECK_ERR(cio_readv(-1, none, 2, 0), CIO_EBADF);
    /* Lengths whose sum wraps to 0 are not an empty call: the kernel
     * refuses a total past SSIZE_MAX, and so does cio. */
    struct iovec wrap[2] = {{buf, SIZE_MAX / 2 + 1}, {buf, SIZE_MAX / 2 + 1}};
    CHECK_ERR(cio_readv(p[0], wrap, 2, 0), CIO_EINVAL);
    CHECK_ERR(cio_writev(p[1], wrap, 2, 0), CIO_EINVAL);
    CHECK_OK(cio_close(p[0]));
    CHECK_OK(cio_close(p[1]));
    return 0;
}

CIO_TEST(zero_length_returns_at_once)
{
    (void)state;
    cio_test_run(main_zero_length, NULL, 1, 0);
    char b;
    ASSERT_ERR(cio_read(0, &b, 0, 0), CIO_EPERM);
    ASSERT_ERR(cio_write(1, &b, 0, 0), CIO_EPERM);
}

/* ---- formatting addresses ------------------------------------------------- */

/* A Unix address whose length claims more than the structure holds: the
 * bytes past it are not the address's (here: past the heap block). */
CIO_TEST(addr_set_port)
{
    (void)state;
    cio_addr a;
    char text[CIO_ADDR_STRLEN];
    ASSERT_ERR(cio_addr_ip(&a, "127.0.0.1", 80), 0);
    ASSERT_ERR(cio_addr_set_port(&a, 8080), 0);
    assert_int_equal(cio_addr_port(&a), 8080);
    assert_true(cio_addr_format(&a, text, sizeof text) > 0);
    assert_string_equal(text, "127.0.0.1:8080");
    ASSERT_ERR(cio_addr_ip(&a, "::1", 1), 0);
    ASSERT_ERR(cio_addr_set_port(&a, 65535), 0);
    assert_int_equal(cio_addr_port(&a), 65535);
    ASSERT_ERR(cio_addr_set_port(&a, 65536), CIO_EINVAL);
    ASSERT_ERR(cio_addr_set_port(&a, -1), CIO_EINVAL);
    assert_int_equal(cio_addr_port(&a), 65535);
    ASSERT_ERR(cio_addr_set_port(NULL, 1), CIO_EINVAL);
    ASSERT_ERR(cio_addr_unix(&a, "/tmp/x.sock"), 0);
    ASSERT_ERR(cio_addr_set_port(&a, 1), CIO_EINVAL);
}

CIO_TEST(addr_format_unix_bounds)
{
    (void)state;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t path = sizeof ((struct sockaddr_un *)0)->sun_path;
    char text[CIO_ADDR_STRLEN];
    cio_addr *a = malloc(sizeof *a);
    assert_non_null(a);
    memset(a, 'a', sizeof *a);
    a->u.un.sun_family = AF_UNIX;
    a->len = (socklen_t)(off + path + 21);
    ASSERT_ERR(cio_addr_format(a, text, sizeof text), CIO_EINVAL);
    assert_string_equal(text, "");
    a->len = (socklen_t)(sizeof a->u + 1);
    ASSERT_ERR(cio_addr_format(a, text, sizeof text), CIO_EINVAL);
    a->u.in4.sin_family = AF_INET;
    ASSERT_ERR(cio_addr_format(a, text, sizeof text), CIO_EINVAL);

    /* The longest a Unix address can be: a full path with no NUL... */
    memset(&a->u, 'a', sizeof a->u);
    a->u.un.sun_family = AF_UNIX;
    a->len = (socklen_t)sizeof(struct sockaddr_un);
    assert_int_equal(cio_addr_format(a, text, sizeof text), (int)path);
    assert_int_equal(strspn(text, "a"), path);
    /* ...and a full abstract name. */
    a->u.un.sun_path[0] = 0;
    assert_int_equal(cio_addr_format(a, text, sizeof text), (int)path);
    assert_int_equal(text[0], '@');
    assert_int_equal(strspn(text + 1, "a"), path - 1);
    /* The length ends an abstract name; a path ends at it or at a NUL. */
    a->len = (socklen_t)(off + 4);
    assert_int_equal(cio_addr_format(a, text, sizeof text), 4);
    assert_string_equal(text, "@aaa");
    a->u.un.sun_path[0] = '/';
    a->u.un.sun_path[2] = 0;
    assert_int_equal(cio_addr_format(a, text, sizeof text), 2);
    assert_string_equal(text, "/a");
    a->len = (socklen_t)off; /* unnamed */
    assert_int_equal(cio_addr_format(a, text, sizeof text), 0);
    assert_string_equal(text, "");
    free(a);

    cio_addr b;
    assert_int_equal(cio_addr_unix(&b, "@cio-test"), 0);
    assert_int_equal(cio_addr_format(&b, text, sizeof text), 9);
    assert_string_equal(text, "@cio-test");
    assert_int_equal(cio_addr_unix(&b, "/tmp/cio.sock"), 0);
    assert_int_equal(cio_addr_format(&b, text, sizeof text), 13);
    assert_string_equal(text, "/tmp/cio.sock");
}

/* ---- names, bad input ------------------------------------------------------- */

static int main_connect_by_name(void *arg)
{
    (void)arg;
    cio_addr a;
    int lfd = listener(&a, 16);
    /* "localhost" may resolve to ::1 first, where nothing listens: the
     * next address is tried within the same deadline. */
    int c = cio_tcp_connect("localhost", cio_addr_port(&a), cio_deadline_after(5000 * MS));
    CHECK(c >= 0);
    int s = cio_accept(lfd, NULL, cio_deadline_after(2000 * MS));
    CHECK(s >= 0);
    roundtrip(c, s);
    cio_close(c);
    cio_close(s);
    cio_close(lfd);
    /* Nothing listens on the port now. */
    CHECK_ERR(cio_tcp_connect("127.0.0.1", cio_addr_port(&a), cio_deadline_after(2000 * MS)),
              CIO_ECONNREFUSED);
    return 0;
}

CIO_TEST(connect_by_name_and_refused)
{
    (void)state;
    cio_test_run(main_connect_by_name, NULL, 2, 0);
}

static int main_bad_input(void *arg)
{
    (void)arg;
    char buf[8];
    cio_addr a;
    CHECK_ERR(cio_read(-1, buf, 1, CIO_NEVER), CIO_EBADF);
    CHECK_ERR(cio_write(-5, buf, 1, CIO_NEVER), CIO_EBADF);
    CHECK_ERR(cio_wait_fd(-1, CIO_READABLE, CIO_NEVER), CIO_EBADF);
    CHECK_ERR(cio_wait_fd(0, 0, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_wait_fd(0, 8, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_readv(0, NULL, -1, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_writev(0, NULL, 100000, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_read(1000000, buf, 1, CIO_NEVER), CIO_EBADF); /* not open */
    CHECK_ERR(cio_addr_ip(&a, "not-an-ip", 80), CIO_EINVAL);
    CHECK_ERR(cio_addr_ip(&a, "127.0.0.1", 65536), CIO_EINVAL);
    CHECK_ERR(cio_addr_ip(NULL, "127.0.0.1", 1), CIO_EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    CHECK_ERR(cio_addr_unix(&a, longp), CIO_ENAMETOOLONG);
    CHECK_ERR(cio_addr_unix(&a, ""), CIO_EINVAL);
    CHECK_OK(cio_addr_ip(&a, "127.0.0.1", 8080));
    char small[4];
    CHECK_ERR(cio_addr_format(&a, small, sizeof small), CIO_ENOSPC);
    CHECK_EQ(small[0], 0);
    char text[CIO_ADDR_STRLEN];
    CHECK_EQ(cio_addr_format(&a, text, sizeof text), 14);
    CHECK(strcmp(text, "127.0.0.1:8080") == 0);
    CHECK_ERR(cio_addr_port(NULL), CIO_EINVAL);
    CHECK_ERR(cio_listen(NULL, 1, 0), CIO_EINVAL);
    CHECK_ERR(cio_connect_addr(NULL, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_tcp_connect(NULL, 80, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_tcp_connect("127.0.0.1", 0, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_tcp_listen("127.0.0.1", 70000, 1, 0), CIO_EINVAL);
    CHECK_ERR(cio_shutdown(0, 42), CIO_EINVAL);
    CHECK_ERR(cio_sockopt_set(0, 999, 1), CIO_EINVAL);
    CHECK_ERR(cio_sockopt_get(0, CIO_SO_NODELAY, NULL), CIO_EINVAL);
    /* The same address twice. */
    cio_addr l;
    int lfd = listener(&l, 4);
    CHECK_ERR(cio_listen(&l, 4, 0), CIO_EADDRINUSE);
    /* Options round-trip. */
    int c, s, v;
    cio_test_tcp_pair(&c, &s);
    CHECK_OK(cio_sockopt_set(c, CIO_SO_NODELAY, 1));
    CHECK_OK(cio_sockopt_get(c, CIO_SO_NODELAY, &v));
    CHECK_EQ(v, 1);
    CHECK_OK(cio_sockopt_set(c, CIO_SO_LINGER, 3));
    CHECK_OK(cio_sockopt_get(c, CIO_SO_LINGER, &v));
    CHECK_EQ(v, 3);
    CHECK_OK(cio_sockopt_get(c, CIO_SO_ERROR, &v));
    CHECK_EQ(v, 0);
    cio_close(c);
    cio_close(s);
    cio_close(lfd);
    CHECK_ERR(cio_close(-1), CIO_EBADF);
    return 0;
}

CIO_TEST(bad_input)
{
    (void)state;
    cio_test_run(main_bad_input, NULL, 1, 0);
    char b;
    /* Outside a runtime the task-only calls refuse. */
    ASSERT_ERR(cio_read(0, &b, 1, CIO_NEVER), CIO_EPERM);
    ASSERT_ERR(cio_wait_fd(0, CIO_READABLE, CIO_NEVER), CIO_EPERM);
    ASSERT_ERR(cio_accept(0, NULL, CIO_NEVER), CIO_EPERM);
    ASSERT_ERR(cio_tcp_connect("127.0.0.1", 1, CIO_NEVER), CIO_EPERM);
}

CIO_TEST_MAIN(cmocka_unit_test(read_deadline), cmocka_unit_test(read_cancel),
              cmocka_unit_test(read_close_while_waiting),
              cmocka_unit_test(write_deadline), cmocka_unit_test(write_cancel),
              cmocka_unit_test(write_close_while_waiting),
              cmocka_unit_test(accept_deadline),
              cmocka_unit_test(accept_cancel),
              cmocka_unit_test(accept_close_while_waiting),
              cmocka_unit_test(connect_deadline),
              cmocka_unit_test(connect_cancel),
              cmocka_unit_test(connect_close_while_waiting),
              cmocka_unit_test(wait_fd_deadline),
              cmocka_unit_test(wait_fd_cancel),
              cmocka_unit_test(wait_fd_close_while_waiting),
              cmocka_unit_test(echo_many_connections),
              cmocka_unit_test(ipv6_loopback), cmocka_unit_test(unix_stream),
              cmocka_unit_test(udp_sendto_recvfrom),
              cmocka_unit_test(udp_error_is_reported_once),
              cmocka_unit_test(close_races_calls_in_flight),
              cmocka_unit_test(readv_writev_and_reuseport),
              cmocka_unit_test(partial_writes_tiny_buffers),
              cmocka_unit_test(write_all_reports_count_and_no_sigpipe),
              cmocka_unit_test(budget_always_ready_socket_does_not_starve),
              cmocka_unit_test(wait_fd_foreign_pipe),
              cmocka_unit_test(past_deadline_tries_once),
              cmocka_unit_test(zero_length_returns_at_once),
              cmocka_unit_test(addr_set_port),
              cmocka_unit_test(addr_format_unix_bounds),
              cmocka_unit_test(connect_by_name_and_refused),
              cmocka_unit_test(bad_input))
