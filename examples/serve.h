/* What the example servers share: command line, signals, the accept loop.
 * Header-only so each example stays one program. */
#ifndef CIO_EXAMPLE_SERVE_H
#define CIO_EXAMPLE_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>

struct serve_opts {
    const char *addr;   /* -a: address to listen on */
    int port;           /* -p: port (0: any free one) */
    int workers;        /* -w: workers (0: one per CPU) */
    int64_t idle_ns;    /* -i: idle keep-alive timeout in ms */
};

static inline int serve_parse(int argc, char **argv, struct serve_opts *o,
                              const char *usage)
{
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : 0;
        bool num = v && *v && end && !*end && n >= 0;
        if (!strcmp(argv[i], "-a") && v) {
            o->addr = v;
        } else if (!strcmp(argv[i], "-p") && num && n <= 65535) {
            o->port = (int)n;
        } else if (!strcmp(argv[i], "-w") && num && n <= 1024) {
            o->workers = (int)n;
        } else if (!strcmp(argv[i], "-i") && num) {
            o->idle_ns = (int64_t)n * 1000000;
        } else {
            fprintf(stderr, "usage: %s %s\n", argv[0], usage);
            return -1;
        }
    }
    return 0;
}

/* Accepts connections on `lfd` and spawns `conn(fd)` for each, until
 * cancelled. Out of descriptors (EMFILE, ENFILE) or memory, it backs off
 * (1 ms doubling to 100 ms) instead of spinning on a listener that stays
 * readable, and serves again once descriptors free up. */
/* From here on SIGINT and SIGTERM are the runtime's to hand to tasks (a
 * wait whose deadline has passed takes them and returns at once): called
 * before the server says it listens, so a stop signal sent right after
 * that line stops it gracefully instead of ending the process. */
static inline void serve_take_stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    cio_signal_wait(&set, 0);
}

static inline void serve_accept_loop(int lfd, cio_task_fn *conn,
                                     const char *name)
{
    int64_t backoff = 0;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = name;
    /* A connection's task spends most of its life waiting for the next
     * request: compact, it then holds its live frames, not stack pages. */
    o.flags = CIO_SPAWN_COMPACT;
    for (;;) {
        int fd = cio_accept(lfd, NULL, CIO_NEVER);
        if (fd == CIO_ECANCELED || fd == CIO_EBADF)
            return;
        if (fd < 0) {
            backoff = backoff ? backoff * 2 : 1000000;
            if (backoff > 100000000)
                backoff = 100000000;
            if (cio_sleep_until(cio_deadline_after(backoff)) < 0)
                return;
            continue;
        }
        backoff = 0;
        if (cio_spawn(NULL, conn, (void *)(intptr_t)fd, &o) < 0)
            cio_close(fd); /* no memory for the task: drop this client */
    }
}

struct serve_run {
    const char *name;          /* program name, for messages */
    struct serve_opts *o;
    cio_task_fn *conn;         /* run as conn((void *)(intptr_t)fd) */
    int lfd;
};

static inline int serve_acceptor(void *arg)
{
    struct serve_run *r = arg;
    serve_accept_loop(r->lfd, r->conn, r->name);
    return 0;
}

/* The main task: listen, say where, accept until SIGINT/SIGTERM. */
static inline int serve_main_task(void *arg)
{
    struct serve_run *r = arg;
    r->lfd = cio_tcp_listen(r->o->addr, r->o->port, 4096, 0);
    if (r->lfd < 0) {
        fprintf(stderr, "%s: listen on %s:%d: %s\n", r->name, r->o->addr,
                r->o->port, cio_strerror(r->lfd));
        return 1;
    }
    cio_addr local;
    char text[CIO_ADDR_STRLEN];
    cio_sock_name(r->lfd, &local);
    cio_addr_format(&local, text, sizeof text);
    serve_take_stop_signals();
    printf("listening on %s\n", text);
    fflush(stdout);

    /* The acceptor in a group that SIGINT or SIGTERM cancels. */
    cio_group *g;
    if (cio_group_make(&g, NULL) < 0 ||
        cio_group_spawn(g, serve_acceptor, r, NULL) < 0) {
        cio_close(r->lfd);
        return 1;
    }
    int sig = cio_group_wait_signals(g, NULL, CIO_NEVER);
    fprintf(stderr, "%s: %s, stopped\n", r->name,
            sig > 0 ? strsignal(sig) : "error");
    cio_group_free(&g);
    cio_close(r->lfd);
    return 0; /* the runtime cancels the connections and waits for them */
}

/* Runs a server whose connections are served by `conn`: starts the
 * runtime with o->workers workers, returns the exit status for main(). */
static inline int serve_main(const char *name, struct serve_opts *o,
                             cio_task_fn *conn)
{
    struct serve_run r = {.name = name, .o = o, .conn = conn};
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = o->workers;
    int rc = cio_run(serve_main_task, &r, &cfg);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", name, cio_strerror(rc));
        return 1;
    }
    return rc;
}

#endif /* CIO_EXAMPLE_SERVE_H */
