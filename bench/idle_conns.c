/* idle_conns: the client of the idle_conns benchmark.
 *
 * Opens N keep-alive connections to an HTTP server on 127.0.0.1:PORT,
 * sends one GET on each and reads the whole response (status 200, framed
 * by Content-Length), then holds every connection open and idle. Once all
 * N are held it prints "ready N" on stdout and waits for EOF on stdin,
 * SIGINT or SIGTERM; meanwhile run.py reads the server's RSS. Before
 * exiting it checks that the server closed none of the connections and
 * sent nothing more on them; otherwise the count behind the measurement
 * was wrong, and it exits with status 1.
 *
 * At most WINDOW connections are being set up at a time. Opening all N at
 * once would overflow the server's accept backlog, and a handshake dropped
 * that way stalls its connection for a second or more of SYN retries.
 *
 * Every connection goes to 127.0.0.1:PORT. One source address has only
 * the ephemeral port range (about 28,000 ports by default) towards one
 * server port, so beyond PER_SOURCE connections the client binds its
 * sockets to the next loopback source address (127.0.0.2, 127.0.0.3...,
 * all of 127/8 is the loopback device): 100,000 connections need four.
 * Usage: bench_idle_conns PORT [N [WINDOW]]
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/epoll.h>

#include "net.h"

/* Connections from one loopback source address (see above). */
#define PER_SOURCE 20000

/* A connection being set up: connect, send the GET, read the response. */
struct slot {
    int fd;                 /* -1 when the slot is free */
    bool connected;         /* the GET is sent; waiting for the response */
    size_t len;             /* bytes of the response read so far */
    char buf[2048];         /* the response, kept NUL-terminated */
};

static const char *prog = "bench_idle_conns";
static int ep;
static char request[128];
static size_t request_len;
static volatile sig_atomic_t stop;

static void die(const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Opens connection number `i` (from 0). */
static void slot_open(struct slot *s, long port, long i)
{
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    int rc;

    s->fd = bench_tcp_socket();
    if (s->fd < 0)
        die("socket", errno);
    if (i >= PER_SOURCE) {
        /* The port is chosen at connect time, per destination: without
         * IP_BIND_ADDRESS_NO_PORT a bind would take one for good. */
        struct sockaddr_in src = bench_loopback(0);
        int one = 1;
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i / PER_SOURCE));
        if (setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                       sizeof one) != 0 ||
            bind(s->fd, (struct sockaddr *)&src, sizeof src) != 0)
            die("bind to a loopback source address", errno);
    }
    rc = bench_connect_start(s->fd, port);
    if (rc < 0)
        die("connect", -rc);
    s->connected = false;
    s->len = 0;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0)
        die("epoll_ctl", errno);
}

/* The connect finished: send the GET. It is far smaller than an empty
 * socket buffer, so one write takes it all. */
static void slot_send(struct slot *s)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    int err = bench_connect_error(s->fd);
    ssize_t r;

    if (err != 0)
        die("connect", err);
    r = write(s->fd, request, request_len);
    if (r != (ssize_t)request_len)
        die("write", r < 0 ? errno : EIO);
    s->connected = true;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) != 0)
        die("epoll_ctl", errno);
}

static void bad_response(const struct slot *s, const char *why)
{
    fprintf(stderr, "%s: %s in the response:\n%.*s\n", prog, why,
            (int)s->len, s->buf);
    exit(1);
}

/* Reads more of the response; returns true once it is complete. */
static bool slot_read(struct slot *s)
{
    const char *end, *cl;
    size_t head;
    ssize_t r;

    r = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return false;
        die("read", errno);
    }
    if (r == 0)
        bad_response(s, "the server closed the connection");
    s->len += (size_t)r;
    s->buf[s->len] = '\0';
    end = strstr(s->buf, "\r\n\r\n");
    if (end == NULL) {
        if (s->len == sizeof s->buf - 1)
            bad_response(s, "no end of the head");
        return false;
    }
    head = (size_t)(end - s->buf) + 4;
    if (strncmp(s->buf, "HTTP/1.1 200 ", 13) != 0)
        bad_response(s, "not status 200");
    for (cl = s->buf; (cl = strchr(cl, '\n')) != NULL && cl < end; cl++) {
        if (strncasecmp(cl + 1, "Content-Length:", 15) == 0)
            break;
    }
    if (cl == NULL || cl >= end)
        bad_response(s, "no Content-Length");
    if (s->len > head + strtoul(cl + 16, NULL, 10))
        bad_response(s, "more bytes than Content-Length");
    return s->len == head + strtoul(cl + 16, NULL, 10);
}

/* Opens and sets up all n connections, at most `window` at a time.
 * Returns the descriptors. */
static int *open_all(long port, long n, long window)
{
    int *held = malloc((size_t)n * sizeof *held);
    struct slot *slots = calloc((size_t)window, sizeof *slots);
    struct epoll_event evs[64];
    long opened = 0, nheld = 0;

    if (held == NULL || slots == NULL)
        die("allocating connections", ENOMEM);
    for (long i = 0; i < window; i++) {
        slots[i].fd = -1;
        if (opened < n) {
            slot_open(&slots[i], port, opened);
            opened++;
        }
    }
    while (nheld < n) {
        int k = epoll_wait(ep, evs, 64, 10000);
        if (k == 0) {
            fprintf(stderr, "%s: stalled with %ld connections held\n",
                    prog, nheld);
            exit(1);
        }
        if (k < 0 && errno != EINTR)
            die("epoll_wait", errno);
        for (int e = 0; e < k; e++) {
            struct slot *s = evs[e].data.ptr;
            if (!s->connected) {
                slot_send(s);
                continue;
            }
            if (!slot_read(s))
                continue;
            /* Held connections stay out of epoll: nothing reads them
             * until the check at the end. */
            if (epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL) != 0)
                die("epoll_ctl", errno);
            held[nheld++] = s->fd;
            s->fd = -1;
            if (opened < n) {
                slot_open(s, port, opened);
                opened++;
            }
        }
    }
    free(slots);
    return held;
}

/* Counts the connections the server closed or wrote to while they were
 * held, then closes them all with a reset: a normal close would leave N
 * sockets in TIME_WAIT for a minute, and a few repetitions of that could
 * use up the ephemeral ports. */
static long check_and_close(int *held, long n)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    long bad = 0;

    for (long i = 0; i < n; i++) {
        char c;
        ssize_t r = recv(held[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
            bad++;
        setsockopt(held[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(held[i]);
    }
    return bad;
}

int main(int argc, char **argv)
{
    long port = bench_arg_long(argc, argv, 1, 0);
    long n = bench_arg_long(argc, argv, 2, 10000);
    long window = bench_arg_long(argc, argv, 3, 64);
    struct sigaction sa;
    int *held;
    long bad;
    char c;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [N [WINDOW]]\n", prog);
        return 2;
    }
    if (window > n)
        window = n;
    if (bench_raise_nofile(prog, (rlim_t)(n + window) + 16) != 0)
        return 1;
    /* No SA_RESTART: the signal has to interrupt the read of stdin. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET / HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\n"
                                   "\r\n", port);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1", errno);

    held = open_all(port, n, window);
    printf("ready %ld\n", n);
    fflush(stdout);
    while (!stop && read(STDIN_FILENO, &c, 1) > 0)
        continue;

    bad = check_and_close(held, n);
    free(held);
    if (bad > 0) {
        fprintf(stderr, "%s: the server closed or wrote to %ld of the %ld "
                "held connections\n", prog, bad, n);
        return 1;
    }
    return 0;
}
