/* echo_load: the load generator of the echo benchmark.
 *
 * CONNS connections to an echo server on 127.0.0.1:PORT, each with one
 * SIZE-byte message in flight: send it, wait until all SIZE bytes are back,
 * check them, record the round trip, send the next. Every message has
 * different bytes, so a server that replays stale data or mixes up
 * connections fails the check. One thread, nonblocking sockets, epoll.
 *
 * The clock starts once every connection is established and stops after
 * SECONDS. Output on stdout:
 *   result echo.rate VALUE msg/s     round trips completed per second
 *   result echo.p99_us VALUE us      99th percentile round trip
 *   requests N                       round trips completed (run.py divides
 *                                    the server's CPU time by N)
 * A connection error, a closed connection or a wrong byte ends the run with
 * a message on stderr and exit status 1.
 * Usage: bench_echo_load PORT [CONNS [SECONDS [SIZE]]]
 */
#include <poll.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "net.h"

/* Round trips go into a log-linear histogram (64 sub-buckets per power of
 * two, so a percentile is within 1.6%) instead of a list of samples: the
 * memory stays constant however long the run is. Values below 128 ns are
 * exact; the last bucket starts at 2^46 ns (19 hours). */
#define HIST_SUB 64
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_BUCKETS (HIST_LINEAR + 40 * HIST_SUB)

static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_total;

static int msb64(uint64_t v)
{
    int b = 0;

    while (v >>= 1)
        b++;
    return b;
}

static void hist_add(int64_t ns)
{
    uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
    size_t i;

    if (v < HIST_LINEAR) {
        i = (size_t)v;
    } else {
        int shift = msb64(v) - 6;    /* v >> shift is in [64, 128) */
        i = HIST_LINEAR + (size_t)(shift - 1) * HIST_SUB +
            (size_t)((v >> shift) - HIST_SUB);
        if (i >= HIST_BUCKETS)
            i = HIST_BUCKETS - 1;
    }
    hist[i]++;
    hist_total++;
}

/* The middle of bucket i, in ns. */
static double hist_value(size_t i)
{
    size_t shift;

    if (i < HIST_LINEAR)
        return (double)i;
    shift = (i - HIST_LINEAR) / HIST_SUB + 1;
    return ((double)(HIST_SUB + (i - HIST_LINEAR) % HIST_SUB) + 0.5) *
           (double)((uint64_t)1 << shift);
}

static double hist_percentile(double p)
{
    uint64_t rank = (uint64_t)(p * (double)hist_total + 0.999999);
    uint64_t seen = 0;

    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return 0;
}

struct conn {
    int fd;
    unsigned id;            /* index, mixed into the message bytes */
    uint64_t seq;           /* messages sent on this connection */
    size_t sent;            /* bytes of the current message written */
    size_t got;             /* bytes of the current echo read */
    bool want_out;          /* EPOLLOUT armed: the last write was partial */
    int64_t t_send;         /* when the current message was started */
    unsigned char *out;     /* the current message */
    unsigned char *in;      /* its echo */
};

static const char *prog = "bench_echo_load";
static int ep;
static size_t msg_size;

static void die(const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
    exit(1);
}

static void arm(struct conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u),
                             .data.ptr = c};

    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl", errno);
    c->want_out = out;
}

static void flush(struct conn *c)
{
    while (c->sent < msg_size) {
        ssize_t r = write(c->fd, c->out + c->sent, msg_size - c->sent);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                die("write", errno);
            if (!c->want_out)
                arm(c, true);
            return;
        }
        c->sent += (size_t)r;
    }
    if (c->want_out)
        arm(c, false);
}

static void send_next(struct conn *c, int64_t now)
{
    for (size_t j = 0; j < msg_size; j++)
        c->out[j] = (unsigned char)(c->seq * 131 + c->id * 7 + j);
    c->seq++;
    c->sent = 0;
    c->got = 0;
    c->t_send = now;
    flush(c);
}

/* Reads what there is of the echo; returns true when it completed. */
static bool on_readable(struct conn *c)
{
    ssize_t r;

    do
        r = read(c->fd, c->in + c->got, msg_size - c->got);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return false;
        die("read", errno);
    }
    if (r == 0) {
        fprintf(stderr, "%s: the server closed connection %u\n", prog, c->id);
        exit(1);
    }
    c->got += (size_t)r;
    if (c->got < msg_size)
        return false;
    /* The whole message has to be back before the next one goes out, so
     * an echo longer than the message shows up as a mismatch next time. */
    if (c->sent < msg_size || memcmp(c->in, c->out, msg_size) != 0) {
        fprintf(stderr, "%s: connection %u: echo %llu differs from the "
                "message sent\n", prog, c->id, (unsigned long long)c->seq);
        exit(1);
    }
    return true;
}

static struct conn *open_conns(long port, long n)
{
    struct conn *conns = calloc((size_t)n, sizeof *conns);
    unsigned char *bufs = malloc((size_t)n * 2 * msg_size);

    if (conns == NULL || bufs == NULL)
        die("allocating connections", ENOMEM);
    /* Connecting one at a time keeps the server's accept backlog short;
     * on loopback it takes well under a millisecond per connection. */
    for (long i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        struct pollfd pfd;
        int rc, err;

        c->id = (unsigned)i;
        c->out = bufs + (size_t)i * 2 * msg_size;
        c->in = c->out + msg_size;
        c->fd = bench_tcp_socket();
        if (c->fd < 0)
            die("socket", errno);
        rc = bench_connect_start(c->fd, port);
        if (rc < 0)
            die("connect", -rc);
        pfd = (struct pollfd){.fd = c->fd, .events = POLLOUT};
        do
            rc = poll(&pfd, 1, 10000);
        while (rc < 0 && errno == EINTR);
        if (rc <= 0)
            die("connect", rc == 0 ? ETIMEDOUT : errno);
        err = bench_connect_error(c->fd);
        if (err != 0)
            die("connect", err);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl", errno);
    }
    return conns;
}

int main(int argc, char **argv)
{
    long port = bench_arg_long(argc, argv, 1, 0);
    long n = bench_arg_long(argc, argv, 2, 100);
    long seconds = bench_arg_long(argc, argv, 3, 10);
    struct epoll_event evs[256];
    struct conn *conns;
    int64_t t0, now, deadline;
    uint64_t done = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [CONNS [SECONDS [SIZE]]]\n", prog);
        return 2;
    }
    msg_size = (size_t)bench_arg_long(argc, argv, 4, 64);
    if (bench_raise_nofile(prog, (rlim_t)n + 16) != 0)
        return 1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1", errno);
    conns = open_conns(port, n);

    t0 = bench_now_ns();
    deadline = t0 + seconds * 1000000000;
    for (long i = 0; i < n; i++)
        send_next(&conns[i], t0);
    for (now = t0; now < deadline;) {
        int k = epoll_wait(ep, evs, 256,
                           (int)((deadline - now + 999999) / 1000000));
        if (k < 0 && errno != EINTR)
            die("epoll_wait", errno);
        now = bench_now_ns();
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            if (evs[e].events & EPOLLOUT)
                flush(c);
            if ((evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
                on_readable(c)) {
                /* The round trip ends when the last byte is read, not when
                 * the batch started: a batch of 256 events takes long
                 * enough to skew the tail. */
                int64_t t = bench_now_ns();
                hist_add(t - c->t_send);
                done++;
                send_next(c, t);
            }
        }
    }

    now = bench_now_ns();
    bench_result("echo.rate", (double)done * 1e9 / (double)(now - t0), "msg/s");
    bench_result("echo.p99_us", hist_percentile(0.99) / 1e3, "us");
    printf("requests %llu\n", (unsigned long long)done);
    for (long i = 0; i < n; i++)
        close(conns[i].fd);
    free(conns[0].out);    /* the buffers of all connections */
    free(conns);
    return 0;
}
