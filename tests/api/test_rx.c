/* Receiving ahead on TCP sockets (io_uring's multishot receives into
 * provided buffers): bytes arrive whole and in order whatever the read
 * sizes, readers and workers; a ring with every buffer taken (ENOBUFS)
 * loses nothing; close and forget with a receive in flight. On epoll the
 * same tests check the same behaviour without it. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static bool on_uring(void)
{
    cio_stats s;
    cio_stats_get(&s);
    return s.backend && strcmp(s.backend, "io_uring") == 0;
}

static uint32_t rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Byte `pos` of connection `conn`'s stream: a lost, repeated or swapped
 * piece shows, and so do bytes of another connection. */
static unsigned char at(uint64_t pos, unsigned conn)
{
    return (unsigned char)((pos * 7 + (pos >> 8) * 13 + conn * 31) % 251);
}

static void check_bytes(const unsigned char *b, size_t n, uint64_t pos,
                        unsigned conn)
{
    for (size_t k = 0; k < n; k++)
        if (b[k] != at(pos + k, conn))
            cio_test_fail(__FILE__, __LINE__,
                          "connection %u, byte %llu is %u, want %u", conn,
                          (unsigned long long)(pos + k), b[k],
                          at(pos + k, conn));
}

/* ---- order, whatever the reads ----------------------------------------- */

struct stream {
    int wfd, rfd;
    uint64_t total;  /* bytes the writer sends */
    uint64_t read;   /* bytes the readers took, in order */
    unsigned seed;
    cio_mutex *mu;   /* two readers take turns on one socket */
    int readers_done;
};

static void *stream_writer(void *arg)
{
    struct stream *s = arg;
    static unsigned char chunk[65536];
    unsigned seed = s->seed ^ 0x77;
    uint64_t sent = 0;
    while (sent < s->total) {
        size_t n = 1 + rnd(&seed) % sizeof chunk;
        if (n > s->total - sent)
            n = (size_t)(s->total - sent);
        for (size_t k = 0; k < n; k++)
            chunk[k] = at(sent + k, 0);
        size_t done;
        CHECK_EQ(cio_write_all(s->wfd, chunk, n, &done, CIO_NEVER),
                 (ssize_t)n);
        sent += n;
        if (rnd(&seed) % 8 == 0)
            CHECK_OK(cio_sleep_until(cio_deadline_after(rnd(&seed) % 200 *
                                                        1000LL)));
    }
    CHECK_OK(cio_shutdown(s->wfd, SHUT_WR));
    return NULL;
}

/* Reads with random sizes, as one buffer or three, sometimes lagging so
 * that many buffers queue up (past the per-connection cap). */
static void *stream_reader(void *arg)
{
    struct stream *s = arg;
    unsigned char buf[20000];
    unsigned seed = s->seed ^ (unsigned)(uintptr_t)&buf;
    for (;;) {
        size_t n = 1 + rnd(&seed) % sizeof buf;
        CHECK_OK(cio_mutex_lock(s->mu, CIO_NEVER));
        ssize_t got;
        if (rnd(&seed) & 1) {
            got = cio_read(s->rfd, buf, n, cio_deadline_after(5000 * MS));
        } else {
            size_t a = n / 3, b = n / 3;
            struct iovec v[3] = {{buf, a}, {buf + a, b},
                                 {buf + a + b, n - a - b}};
            got = cio_readv(s->rfd, v, 3, cio_deadline_after(5000 * MS));
        }
        CHECK(got >= 0 && (size_t)got <= n);
        check_bytes(buf, (size_t)got, s->read, 0);
        s->read += (uint64_t)got;
        CHECK_OK(cio_mutex_unlock(s->mu));
        if (got == 0)
            break;
        if (rnd(&seed) % 16 == 0)
            CHECK_OK(cio_sleep_until(cio_deadline_after(2 * MS)));
        else if (rnd(&seed) % 4 == 0)
            cio_yield();
    }
    return NULL;
}

static int main_stream(void *arg)
{
    struct stream *s = arg;
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    s->wfd = c;
    s->rfd = sv;
    CHECK_OK(cio_mutex_make(&s->mu));
    /* One reader on each worker: bytes one worker's ring received are
     * taken, and their buffers given back, from the other. */
    int nw = cio_workers();
    cio_task tw, tr[2];
    CHECK_OK(cio_spawn(&tw, stream_writer, s, NULL));
    for (int i = 0; i < 2; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = CIO_SPAWN_PIN;
        o.worker = i % nw;
        CHECK_OK(cio_spawn(&tr[i], stream_reader, s, &o));
    }
    CHECK_OK(cio_join(tw, NULL, CIO_NEVER));
    for (int i = 0; i < 2; i++)
        CHECK_OK(cio_join(tr[i], NULL, CIO_NEVER));
    CHECK_EQ(s->read, s->total);
    if (on_uring()) {
        cio_stats st;
        cio_stats_get(&st);
        CHECK(st.io_receives > 0);
    }
    CHECK_OK(cio_mutex_free(&s->mu));
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(sv));
    return 0;
}

CIO_TEST(bytes_received_ahead_arrive_whole_and_in_order)
{
    (void)state;
    struct stream s = {.total = cio_test_sanitized() ? 4u << 20 : 32u << 20,
                       .seed = cio_test_seed()};
    cio_test_run(main_stream, &s, 2, 0);
    assert_int_equal(s.read, s.total);
}

/* ---- every buffer taken ------------------------------------------------- */

#define CONNS 1000
#define PER_CONN 12000 /* several buffers' worth each */

struct many {
    int lfd;
    cio_addr addr;
    cio_event *send;   /* set once every server waits in a read */
    cio_event *go;     /* set once every client has sent */
    atomic_int waiting; /* servers about to wait in a read */
    atomic_int sent;   /* clients done sending */
    atomic_int ok;     /* connections whose bytes all arrived in order */
    atomic_int closed; /* clients that saw the server's close */
    uint64_t nobufs;
};

struct conn {
    struct many *m;
    int fd;
    unsigned id;
};

static void *server_conn(void *arg)
{
    struct conn *k = arg;
    unsigned char buf[4096];
    uint64_t pos = 0;
    /* The byte that came with the id, then one the client sends later:
     * that read waits, which makes the receive; then the bytes pile up
     * in buffers while every connection waits for the others. */
    for (; pos < 2; pos++) {
        if (pos == 1)
            atomic_fetch_add(&k->m->waiting, 1);
        ssize_t got = cio_read(k->fd, buf, 1, cio_deadline_after(20000 * MS));
        CHECK_EQ(got, 1);
        check_bytes(buf, 1, pos, k->id);
    }
    ssize_t got;
    CHECK_OK(cio_event_wait(k->m->go, cio_deadline_after(20000 * MS)));
    while (pos < PER_CONN) {
        got = cio_read(k->fd, buf, sizeof buf, cio_deadline_after(20000 * MS));
        CHECK(got > 0);
        check_bytes(buf, (size_t)got, pos, k->id);
        pos += (uint64_t)got;
    }
    CHECK_EQ(cio_read(k->fd, buf, sizeof buf, cio_deadline_after(20000 * MS)),
             0);
    CHECK_EQ(pos, PER_CONN);
    atomic_fetch_add(&k->m->ok, 1);
    CHECK_OK(cio_close(k->fd));
    free(k);
    return NULL;
}

static void *client_conn(void *arg)
{
    struct conn *k = arg;
    int fd = cio_connect_addr(&k->m->addr, cio_deadline_after(20000 * MS));
    CHECK(fd >= 0);
    unsigned char b[PER_CONN];
    for (size_t i = 0; i < PER_CONN; i++)
        b[i] = at(i, k->id);
    /* Its id, and one byte, so the server's first read makes the
     * receive with the connection otherwise empty; then the rest in
     * pieces. */
    unsigned char id[3] = {(unsigned char)k->id,
                           (unsigned char)(k->id >> 8), b[0]};
    CHECK_EQ(cio_write(fd, id, 3, CIO_NEVER), 3);
    CHECK_OK(cio_event_wait(k->m->send, cio_deadline_after(20000 * MS)));
    size_t done;
    for (size_t at_ = 1; at_ < PER_CONN; at_ += 3000) {
        size_t n = PER_CONN - at_ < 3000 ? PER_CONN - at_ : 3000;
        CHECK_EQ(cio_write_all(fd, b + at_, n, &done, CIO_NEVER),
                 (ssize_t)n);
    }
    CHECK_OK(cio_shutdown(fd, SHUT_WR));
    atomic_fetch_add(&k->m->sent, 1);
    char x;
    /* Wait for the server's close before closing: its bytes are read. */
    CHECK_EQ(cio_read(fd, &x, 1, cio_deadline_after(20000 * MS)), 0);
    CHECK_OK(cio_close(fd));
    atomic_fetch_add(&k->m->closed, 1);
    free(k);
    return NULL;
}

static void *acceptor(void *arg)
{
    struct many *m = arg;
    for (unsigned i = 0; i < CONNS; i++) {
        int fd = cio_accept(m->lfd, NULL, cio_deadline_after(20000 * MS));
        CHECK(fd >= 0);
        struct conn *k = malloc(sizeof *k);
        CHECK(k != NULL);
        *k = (struct conn){m, fd, 0};
        /* Which client this is: a two-byte prefix says. */
        unsigned char id[2];
        CHECK_EQ(cio_read(fd, id, 2, cio_deadline_after(20000 * MS)), 2);
        k->id = (unsigned)id[0] | (unsigned)id[1] << 8;
        CHECK_OK(cio_spawn(NULL, server_conn, k, NULL));
    }
    return NULL;
}

static int main_many(void *arg)
{
    struct many *m = arg;
    cio_addr any;
    CHECK_OK(cio_addr_ip(&any, "127.0.0.1", 0));
    m->lfd = cio_listen(&any, 4096, 0);
    CHECK(m->lfd >= 0);
    CHECK_OK(cio_sock_name(m->lfd, &m->addr));
    CHECK_OK(cio_event_make(&m->go));
    CHECK_OK(cio_event_make(&m->send));
    cio_task ta;
    CHECK_OK(cio_spawn(&ta, acceptor, m, NULL));
    for (unsigned i = 0; i < CONNS; i++) {
        struct conn *k = malloc(sizeof *k);
        CHECK(k != NULL);
        *k = (struct conn){m, -1, i};
        CHECK_OK(cio_spawn(NULL, client_conn, k, NULL));
    }
    CHECK_OK(cio_join(ta, NULL, CIO_NEVER));
    int64_t until = cio_deadline_after(30000 * MS);
    while (m->waiting < CONNS && cio_now() < until)
        CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(atomic_load(&m->waiting), CONNS);
    /* Let the last ones get into their read. */
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_OK(cio_event_set(m->send));
    while (m->sent < CONNS && cio_now() < until)
        CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(atomic_load(&m->sent), CONNS);
    /* Every client sent everything; the servers read nothing yet. */
    CHECK_OK(cio_sleep_until(cio_deadline_after(50 * MS)));
    cio_stats st;
    cio_stats_get(&st);
    m->nobufs = st.io_receives_nobufs;
    CHECK_OK(cio_event_set(m->go));
    while (m->ok < CONNS && cio_now() < until)
        CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(atomic_load(&m->ok), CONNS);
    while (m->closed < CONNS && cio_now() < until)
        CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_EQ(atomic_load(&m->closed), CONNS);
    CHECK_OK(cio_event_free(&m->go));
    CHECK_OK(cio_event_free(&m->send));
    CHECK_OK(cio_close(m->lfd));
    return 0;
}

CIO_TEST(a_full_buffer_ring_under_1000_connections_loses_nothing)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * CONNS + 100) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < 2 * CONNS + 100)
            CIO_SKIP("RLIMIT_NOFILE below 2,100");
    }
    struct many m = {0};
    /* One worker: every connection's receive shares one ring. */
    cio_test_run(main_many, &m, 1, 0);
    print_message("receives ended with no buffer free: %llu\n",
                  (unsigned long long)m.nobufs);
    assert_int_equal(atomic_load(&m.ok), CONNS);
    if (on_uring())
        assert_true(m.nobufs > 0);
}

/* ---- close, forget, wait, deadlines ------------------------------------- */

struct waiter {
    int fd;
    size_t n;
    int64_t deadline;
    unsigned char buf[64];
    ssize_t got;
};

static void *read_one(void *arg)
{
    struct waiter *w = arg;
    w->got = cio_read(w->fd, w->buf, w->n, w->deadline);
    return NULL;
}

/* Spawns a reader pinned to worker `wk` and lets it wait in its read. */
static cio_task waiting_reader(struct waiter *w, int wk)
{
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = wk % cio_workers();
    cio_task t;
    CHECK_OK(cio_spawn(&t, read_one, w, &o));
    cio_test_until_waiting(t, CIO_WAIT_FD);
    return t;
}

static int main_close(void *arg)
{
    (void)arg;
    /* The closer on the reader's worker (it cancels the receive itself)
     * and on the other (it asks that worker to). */
    for (int closer_elsewhere = 0; closer_elsewhere < 2; closer_elsewhere++) {
        int c, sv;
        cio_test_tcp_pair(&c, &sv);
        struct waiter w = {.fd = sv, .n = 8, .deadline = CIO_NEVER};
        int here = 0;
        cio_task t = waiting_reader(&w, closer_elsewhere ? 1 - here : here);
        CHECK_OK(cio_close(sv));
        CHECK_OK(cio_join(t, NULL, CIO_NEVER));
        CHECK_EQ(w.got, CIO_EBADF);
        /* The socket is closed, not held open by a receive: the peer
         * sees the end of the stream. */
        char x;
        CHECK_EQ(cio_read(c, &x, 1, cio_deadline_after(2000 * MS)), 0);
        CHECK_OK(cio_close(c));
    }
    return 0;
}

CIO_TEST(close_with_a_receive_in_flight_closes_the_socket)
{
    (void)state;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    /* The main task runs on worker 0 (pinned by the runtime); readers are
     * pinned to 0 or 1. */
    cio_test_run_cfg(main_close, NULL, &cfg, 0);
}

static int main_forget(void *arg)
{
    (void)arg;
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    struct waiter w = {.fd = sv, .n = 1, .deadline = CIO_NEVER};
    cio_task t = waiting_reader(&w, 0);
    CHECK_EQ(cio_write(c, "abcdef", 6, CIO_NEVER), 6);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_EQ(w.got, 1);
    CHECK_EQ(w.buf[0], 'a');
    /* Five bytes are left: readable, whether in the socket or received
     * ahead into cio's buffers. */
    CHECK_EQ(cio_wait_fd(sv, CIO_READABLE, cio_deadline_after(1000 * MS)),
             CIO_READABLE);
    int rc = cio_fd_forget(sv);
    char b[8];
    if (rc == CIO_EBUSY) {
        /* Received ahead: taking the descriptor back would lose them. */
        CHECK(on_uring());
        CHECK_EQ(cio_read(sv, b, sizeof b, CIO_NEVER), 5);
        CHECK(memcmp(b, "bcdef", 5) == 0);
        CHECK_OK(cio_fd_forget(sv));
    } else {
        CHECK_OK(rc);
        CHECK_EQ(recv(sv, b, sizeof b, 0), 5);
        CHECK(memcmp(b, "bcdef", 5) == 0);
    }
    /* The descriptor is the program's again, and nothing is received
     * ahead of it any more. */
    CHECK_EQ(cio_write(c, "gh", 2, CIO_NEVER), 2);
    struct pollfd p = {.fd = sv, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 2000), 1);
    CHECK_EQ(recv(sv, b, sizeof b, 0), 2);
    CHECK(memcmp(b, "gh", 2) == 0);
    close(sv);
    CHECK_OK(cio_close(c));
    return 0;
}

CIO_TEST(forget_gives_back_a_socket_without_losing_bytes_received_ahead)
{
    (void)state;
    cio_test_run(main_forget, NULL, 2, 0);
}

static int main_deadline(void *arg)
{
    (void)arg;
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    char b[8];
    /* Datagram calls on a stream are refused (MSG_TRUNC would discard
     * the bytes), nothing read. */
    CHECK_EQ(cio_recvfrom(sv, b, sizeof b, NULL, cio_deadline_after(20 * MS)),
             CIO_EINVAL);
    /* A read that waits with a receive in flight, until its deadline. */
    CHECK_EQ(cio_read(sv, b, sizeof b, cio_deadline_after(20 * MS)),
             CIO_ETIMEDOUT);
    CHECK_EQ(cio_write(c, "12345", 5, CIO_NEVER), 5);
    CHECK_EQ(cio_read(sv, b, sizeof b, cio_deadline_after(2000 * MS)), 5);
    CHECK(memcmp(b, "12345", 5) == 0);
    /* A deadline already passed still takes what is there... */
    CHECK_EQ(cio_write(c, "67", 2, CIO_NEVER), 2);
    int64_t until = cio_deadline_after(2000 * MS);
    ssize_t got;
    while ((got = cio_read(sv, b, sizeof b, cio_now() - 1)) == CIO_ETIMEDOUT &&
           cio_now() < until)
        CHECK_OK(cio_sleep_until(cio_deadline_after(1 * MS)));
    CHECK_EQ(got, 2);
    CHECK(memcmp(b, "67", 2) == 0);
    /* ...and says so when nothing is. */
    CHECK_EQ(cio_read(sv, b, sizeof b, cio_now() - 1), CIO_ETIMEDOUT);
    /* The end of the stream, after the bytes. */
    CHECK_EQ(cio_write(c, "89", 2, CIO_NEVER), 2);
    CHECK_OK(cio_shutdown(c, SHUT_WR));
    CHECK_EQ(cio_read(sv, b, 1, CIO_NEVER), 1);
    CHECK_EQ(cio_read(sv, b + 1, 4, CIO_NEVER), 1);
    CHECK(memcmp(b, "89", 2) == 0);
    CHECK_EQ(cio_read(sv, b, sizeof b, CIO_NEVER), 0);
    CHECK_EQ(cio_read(sv, b, sizeof b, CIO_NEVER), 0);
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(sv));
    return 0;
}

CIO_TEST(reads_with_deadlines_and_the_end_of_stream_lose_nothing)
{
    (void)state;
    cio_test_run(main_deadline, NULL, 2, 0);
}

/* A task reading in a loop makes a new receive whenever the last one
 * ends: a stop must keep it from doing so, or forget waits for ever. */
struct looper {
    int fd;
    int reads;
    ssize_t last;
};

static void *read_loop(void *arg)
{
    struct looper *l = arg;
    char b[4];
    while ((l->last = cio_read(l->fd, b, sizeof b, CIO_NEVER)) > 0)
        l->reads++;
    return NULL;
}

static void *forget_it(void *arg)
{
    int rc, fd = *(int *)arg;
    /* CIO_EBUSY while bytes received ahead are unread: read them, as a
     * program would, and forget again. */
    while ((rc = cio_fd_forget(fd)) == CIO_EBUSY) {
        char b[4];
        ssize_t r = cio_read(fd, b, sizeof b, cio_deadline_after(20 * MS));
        CHECK(r >= 0 || r == CIO_ETIMEDOUT); /* the reader was first */
    }
    return (void *)(intptr_t)rc;
}

static void forget_reader_round(void)
{
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    struct looper l = {.fd = sv};
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1 % cio_workers();
    cio_task tr, tf;
    CHECK_OK(cio_spawn(&tr, read_loop, &l, &o));
    cio_test_until_waiting(tr, CIO_WAIT_FD);
    CHECK_EQ(cio_write(c, "ab", 2, CIO_NEVER), 2);
    o.worker = 0;
    CHECK_OK(cio_spawn(&tf, forget_it, &sv, &o));
    void *rc;
    CHECK_OK(cio_join(tf, &rc, cio_deadline_after(5000 * MS)));
    CHECK_EQ((intptr_t)rc, 0);
    /* A reader that was between two reads takes the descriptor up again
     * with its next one (forget gives it back to the program, which may
     * call cio on it): the end of the stream ends it. */
    CHECK_OK(cio_shutdown(c, SHUT_WR));
    CHECK_OK(cio_join(tr, NULL, cio_deadline_after(5000 * MS)));
    CHECK(l.last == CIO_EBADF || l.last == 0);
    CHECK_OK(cio_close(sv));
    CHECK_OK(cio_close(c));
}

static int main_forget_reader(void *arg)
{
    (void)arg;
    /* The re-arm races the stop's look at the receive: many rounds. */
    for (int round = 0; round < 200; round++)
        forget_reader_round();
    return 0;
}

CIO_TEST(forget_while_a_task_reads_in_a_loop_returns)
{
    (void)state;
    cio_test_run(main_forget_reader, NULL, 2, 0);
}

/* A task that may not make receives (it migrates) reads after another
 * task's receive queued bytes: it gets those first. */
static int main_migrating_reader(void *arg)
{
    (void)arg;
    int c, sv;
    cio_test_tcp_pair(&c, &sv);
    struct waiter w = {.fd = sv, .n = 1, .deadline = CIO_NEVER};
    cio_task t = waiting_reader(&w, 0);
    CHECK_EQ(cio_write(c, "abcdef", 6, CIO_NEVER), 6);
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_EQ(w.got, 1);
    struct waiter m = {.fd = sv, .n = 3, .deadline = CIO_NEVER};
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_MIGRATE;
    CHECK_OK(cio_spawn(&t, read_one, &m, &o));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_EQ(m.got, 3);
    CHECK(memcmp(m.buf, "bcd", 3) == 0);
    CHECK_EQ(cio_write(c, "gh", 2, CIO_NEVER), 2);
    m.n = 8;
    CHECK_OK(cio_spawn(&t, read_one, &m, &o));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK(m.got >= 2);
    CHECK(memcmp(m.buf, "ef", 2) == 0);
    CHECK_OK(cio_close(c));
    CHECK_OK(cio_close(sv));
    return 0;
}

CIO_TEST(a_migrating_reader_gets_the_bytes_received_ahead_first)
{
    (void)state;
    cio_test_run(main_migrating_reader, NULL, 2, 0);
}

CIO_TEST_MAIN(cmocka_unit_test(bytes_received_ahead_arrive_whole_and_in_order),
              cmocka_unit_test(a_full_buffer_ring_under_1000_connections_loses_nothing),
              cmocka_unit_test(close_with_a_receive_in_flight_closes_the_socket),
              cmocka_unit_test(forget_gives_back_a_socket_without_losing_bytes_received_ahead),
              cmocka_unit_test(reads_with_deadlines_and_the_end_of_stream_lose_nothing),
              cmocka_unit_test(forget_while_a_task_reads_in_a_loop_returns),
              cmocka_unit_test(a_migrating_reader_gets_the_bytes_received_ahead_first))
