/* A line chat server: each line a client sends goes to every other client.
 *
 *     chat [-a ADDR] [-p PORT] [-w WORKERS] [-i IDLE_MS]
 *
 * Straight-line code with channels and a task group:
 *   - one hub task owns the set of clients and fans each line out to the
 *     other clients' queues, never waiting on any of them;
 *   - each client has a session task (reads lines, one deadline per read
 *     for the idle limit) and a writer task (empties the client's queue
 *     into its socket);
 *   - a client whose queue is full (it stopped reading) is dropped, so a
 *     slow client never slows the others;
 *   - SIGINT or SIGTERM cancels the group of sessions; each says goodbye
 *     in a shield and leaves, and the server exits once all have.
 * Prints "listening on ADDR:PORT" once it accepts connections.
 */
#include <stdatomic.h>
#include <sys/socket.h>

#include "serve.h"

#define LINE_MAX_LEN 1024 /* longer lines are refused: the client is told */
#define QUEUE 256         /* lines waiting for one client's writer */
#define SNDBUF (64 << 10) /* kernel bytes per client: bounded memory */
#define MAX_CLIENTS 10000 /* the acceptor waits while this many are on */
#define GOODBYE_NS (1000 * 1000000LL) /* how long a goodbye may take */

/* A line, shared by every queue it is in. */
struct msg {
    atomic_int refs;
    size_t len;
    char text[];
};

static struct msg *msg_new(size_t len)
{
    struct msg *m = malloc(sizeof *m + len);
    if (m) {
        atomic_init(&m->refs, 1);
        m->len = len;
    }
    return m;
}

static struct msg *msg_text(const char *text)
{
    size_t len = strlen(text);
    struct msg *m = msg_new(len);
    if (m)
        memcpy(m->text, text, len);
    return m;
}

static void msg_unref(struct msg *m)
{
    /* acq_rel: the last owner frees what every owner has stopped reading. */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}

struct client {
    int fd;
    int id;
    cio_chan *out; /* struct msg *: the lines to write, filled by the hub */
};

struct post {
    struct client *from;
    struct msg *m;
};

struct server {
    cio_chan *joins;  /* struct client *: a session starts */
    cio_chan *leaves; /* struct client *: a session ends */
    cio_chan *posts;  /* struct post: a line to pass on */
    cio_group *sessions;
    int64_t idle_ns;
    atomic_int next_id;
};

static struct server srv;

/* ---- the hub ------------------------------------------------------------ */

/* Queues a notice for the client alone (dropped if its queue is full). */
static void tell(struct client *c, const char *text)
{
    struct msg *m = msg_text(text);
    if (m && cio_chan_try_send(c->out, &m) != 0)
        msg_unref(m);
}


struct roster {
    struct client **c;
    size_t n, cap;
};

static ssize_t roster_find(const struct roster *r, const struct client *c)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->c[i] == c) /* compared, never dereferenced: see hub_main */
            return (ssize_t)i;
    return -1;
}

/* Stops serving a client: its writer drains what is queued and ends; the
 * shutdown ends a write stuck on a client that stopped reading, and its
 * session's read. */
static void roster_drop(struct roster *r, size_t i, bool kick)
{
    struct client *c = r->c[i];
    r->c[i] = r->c[--r->n];
    if (kick)
        cio_shutdown(c->fd, SHUT_RDWR);
    cio_chan_close(c->out);
}

/* The hub: the only task that knows every client. A client pointer is
 * dereferenced only while it is in the roster; its session frees it only
 * after the hub has closed its queue (the writer ends then), and the hub
 * closes a queue exactly when it takes the client out. */
static void *hub_main(void *arg)
{
    (void)arg;
    struct roster r = {0};
    for (;;) {
        struct client *joining = NULL, *leaving = NULL;
        struct post p;
        cio_case cs[3] = {{srv.joins, CIO_RECV, &joining, 0},
                          {srv.leaves, CIO_RECV, &leaving, 0},
                          {srv.posts, CIO_RECV, &p, 0}};
        int k = cio_select(cs, 3, CIO_NEVER);
        if (k < 0 || cs[k].result < 0)
            break; /* cancelled: every session has left */
        if (k == 0) {
            if (r.n == r.cap) {
                size_t cap = r.cap ? 2 * r.cap : 64;
                struct client **c = realloc(r.c, cap * sizeof *c);
                if (!c) { /* no memory: this client is not served */
                    cio_shutdown(joining->fd, SHUT_RDWR);
                    cio_chan_close(joining->out);
                    continue;
                }
                r.c = c;
                r.cap = cap;
            }
            r.c[r.n++] = joining;
            /* From now on every line posted reaches this client. */
            char hello[64];
            snprintf(hello, sizeof hello, "* welcome, client %d\n",
                     joining->id);
            tell(joining, hello);
        } else if (k == 1) {
            ssize_t i = roster_find(&r, leaving);
            if (i >= 0) /* else it was dropped already */
                roster_drop(&r, (size_t)i, false);
        } else {
            for (size_t i = 0; i < r.n; i++) {
                if (r.c[i] == p.from)
                    continue;
                struct msg *m = p.m;
                atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
                if (cio_chan_try_send(r.c[i]->out, &m) == 0)
                    continue;
                /* Its queue is full: it stopped reading. Drop it. */
                msg_unref(m);
                roster_drop(&r, i--, true);
            }
            msg_unref(p.m);
        }
    }
    free(r.c);
    return NULL;
}

/* ---- a client ----------------------------------------------------------- */

static void *writer_main(void *arg)
{
    struct client *c = arg;
    bool broken = false;
    struct msg *m;
    /* Ends when the hub closes the queue (after the buffered lines). */
    while (cio_chan_recv(c->out, &m, CIO_NEVER) == 0) {
        if (!broken &&
            cio_write_all(c->fd, m->text, m->len, NULL, CIO_NEVER) < 0) {
            broken = true; /* gone: let the session's read end too */
            cio_shutdown(c->fd, SHUT_RDWR);
        }
        msg_unref(m);
    }
    return NULL;
}

/* Reads lines and posts them, until the client leaves, idles too long, or
 * the session is cancelled. */
static void read_lines(struct client *c)
{
    char buf[LINE_MAX_LEN];
    size_t have = 0;
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "client %d: ", c->id);
    for (;;) {
        ssize_t n = cio_read(c->fd, buf + have, sizeof buf - have,
                             cio_deadline_after(srv.idle_ns));
        if (n == CIO_ETIMEDOUT)
            tell(c, "* idle for too long, bye\n");
        if (n <= 0)
            return;
        have += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
            size_t len = (size_t)(nl + 1 - start);
            struct msg *m = msg_new((size_t)plen + len);
            if (!m)
                return;
            memcpy(m->text, prefix, (size_t)plen);
            memcpy(m->text + plen, start, len);
            struct post p = {c, m};
            if (cio_chan_send(srv.posts, &p, CIO_NEVER) < 0) {
                msg_unref(m);
                return;
            }
            start = nl + 1;
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (have == sizeof buf) {
            tell(c, "* line too long, bye\n");
            return;
        }
    }
}

static int session_main(void *arg)
{
    struct client c = {.fd = (int)(intptr_t)arg};
    c.id = atomic_fetch_add(&srv.next_id, 1);
    cio_sockopt_set(c.fd, CIO_SO_SNDBUF, SNDBUF);
    cio_task writer;
    if (cio_chan_make(&c.out, sizeof(struct msg *), QUEUE) < 0) {
        cio_close(c.fd);
        return 0;
    }
    struct client *self = &c;
    if (cio_spawn(&writer, writer_main, &c, NULL) < 0) {
        cio_chan_free(&c.out);
        cio_close(c.fd);
        return 0;
    }
    if (cio_chan_send(srv.joins, &self, CIO_NEVER) == 0)
        read_lines(&c);
    else
        cio_chan_close(c.out); /* never joined: the hub will not close it */
    /* Leaving must finish even when cancelled (the server is stopping):
     * in a shield, bounded in time. */
    cio_shield s;
    cio_shield_begin(&s, cio_deadline_after(GOODBYE_NS));
    if (cio_cancelled())
        tell(&c, "* server stopping, bye\n");
    cio_chan_send(srv.leaves, &self, CIO_NEVER);
    if (cio_join(writer, NULL, CIO_NEVER) < 0) {
        /* The goodbye could not be written in time: stop the writer. */
        cio_shutdown(c.fd, SHUT_RDWR);
        cio_cancel(writer);
        cio_shield_end(&s);
        cio_shield_begin(&s, CIO_NEVER);
        cio_join(writer, NULL, CIO_NEVER);
    }
    cio_shield_end(&s);
    /* The queue is closed and drained: drop what a race left behind. */
    struct msg *m;
    while (cio_chan_try_recv(c.out, &m) == 0)
        msg_unref(m);
    cio_chan_free(&c.out);
    cio_close(c.fd);
    return 0;
}

/* ---- the server --------------------------------------------------------- */

static int acceptor_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int64_t backoff = 0;
    for (;;) {
        int fd = cio_accept(lfd, NULL, CIO_NEVER);
        if (fd == CIO_ECANCELED)
            return 0;
        if (fd < 0) { /* out of descriptors or memory: back off */
            backoff = backoff ? backoff * 2 : 1000000;
            if (backoff > 100000000)
                backoff = 100000000;
            if (cio_sleep_until(cio_deadline_after(backoff)) < 0)
                return 0;
            continue;
        }
        backoff = 0;
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.name = "chat-session";
        /* Waits while MAX_CLIENTS sessions run. */
        if (cio_group_spawn(srv.sessions, session_main, (void *)(intptr_t)fd,
                            &o) < 0) {
            cio_close(fd);
            if (cio_cancelled())
                return 0;
        }
    }
}

struct run {
    struct serve_opts *o;
};

static int main_task(void *arg)
{
    struct run *r = arg;
    int lfd = cio_tcp_listen(r->o->addr, r->o->port, 4096, 0);
    if (lfd < 0) {
        fprintf(stderr, "chat: listen on %s:%d: %s\n", r->o->addr,
                r->o->port, cio_strerror(lfd));
        return 1;
    }
    cio_group_opts go;
    cio_group_opts_init(&go);
    go.limit = MAX_CLIENTS + 1; /* the sessions and the acceptor */
    cio_task hub;
    int rc;
    if ((rc = cio_chan_make(&srv.joins, sizeof(struct client *), 0)) < 0 ||
        (rc = cio_chan_make(&srv.leaves, sizeof(struct client *), 0)) < 0 ||
        (rc = cio_chan_make(&srv.posts, sizeof(struct post), 1024)) < 0 ||
        (rc = cio_group_make(&srv.sessions, &go)) < 0 ||
        (rc = cio_spawn(&hub, hub_main, NULL, NULL)) < 0 ||
        (rc = cio_group_spawn(srv.sessions, acceptor_main,
                              (void *)(intptr_t)lfd, NULL)) < 0) {
        fprintf(stderr, "chat: %s\n", cio_strerror(rc));
        return 1; /* the process ends: what was made goes with it */
    }
    cio_addr local;
    char text[CIO_ADDR_STRLEN];
    cio_sock_name(lfd, &local);
    cio_addr_format(&local, text, sizeof text);
    serve_take_stop_signals();
    printf("listening on %s\n", text);
    fflush(stdout);

    /* SIGINT or SIGTERM cancels the sessions; each says goodbye. */
    int sig = cio_group_wait_signals(srv.sessions, NULL, CIO_NEVER);
    fprintf(stderr, "chat: %s, stopped\n",
            sig > 0 ? strsignal(sig) : "error");
    cio_cancel(hub);
    cio_join(hub, NULL, CIO_NEVER);
    cio_close(lfd);
    /* Lines posted by sessions the hub never got to: drop them. */
    struct post p;
    while (cio_chan_try_recv(srv.posts, &p) == 0)
        msg_unref(p.m);
    cio_group_free(&srv.sessions);
    cio_chan_free(&srv.joins);
    cio_chan_free(&srv.leaves);
    cio_chan_free(&srv.posts);
    return 0;
}

int main(int argc, char **argv)
{
    struct serve_opts o = {.addr = "127.0.0.1", .port = 7001,
                           .idle_ns = 300 * 1000000000LL};
    if (serve_parse(argc, argv, &o, "[-a ADDR] [-p PORT] [-w WORKERS] "
                                    "[-i IDLE_MS]") < 0)
        return 2;
    srv.idle_ns = o.idle_ns ? o.idle_ns : 300 * 1000000000LL;
    struct run r = {.o = &o};
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = o.workers;
    int rc = cio_run(main_task, &r, &cfg);
    if (rc < 0) {
        fprintf(stderr, "chat: %s\n", cio_strerror(rc));
        return 1;
    }
    return rc;
}
