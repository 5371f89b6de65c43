/* What the example servers share: command line, signals, the accept loop.
 * Header-only so each example stays one program. */
#ifndef CIO_EXAMPLE_SERVE_H
#define CIO_EXAMPLE_SERVE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
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

/* SIGINT and SIGTERM are blocked in every thread (workers inherit the mask
 * of the thread that calls cio_run) and read by a task from a signalfd. */
static inline int serve_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? 0 : -1;
}

/* Task: returns once SIGINT or SIGTERM arrives (or on error). */
static inline int serve_wait_signal(const sigset_t *set)
{
    int sfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        return -1;
    struct signalfd_siginfo si;
    ssize_t n = cio_read(sfd, &si, sizeof si, CIO_NEVER);
    cio_close(sfd);
    return n == (ssize_t)sizeof si ? (int)si.ssi_signo : (int)n;
}

/* Accepts connections on `lfd` and spawns `conn(fd)` for each, until
 * cancelled. Out of descriptors (EMFILE, ENFILE) or memory, it backs off
 * (1 ms doubling to 100 ms) instead of spinning on a listener that stays
 * readable, and serves again once descriptors free up. */
static inline void serve_accept_loop(int lfd, cio_task_fn *conn,
                                     const char *name)
{
    int64_t backoff = 0;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = name;
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
    sigset_t sigs;
    int lfd;
};

static inline void *serve_acceptor(void *arg)
{
    struct serve_run *r = arg;
    serve_accept_loop(r->lfd, r->conn, r->name);
    return NULL;
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
    printf("listening on %s\n", text);
    fflush(stdout);

    cio_task acc;
    if (cio_spawn(&acc, serve_acceptor, r, NULL) < 0) {
        cio_close(r->lfd);
        return 1;
    }
    int sig = serve_wait_signal(&r->sigs);
    fprintf(stderr, "%s: %s, stopping\n", r->name,
            sig > 0 ? strsignal(sig) : "error");
    cio_cancel(acc);
    cio_join(acc, NULL, CIO_NEVER);
    cio_close(r->lfd);
    return 0; /* the runtime cancels the connections and waits for them */
}

/* Runs a server whose connections are served by `conn`: blocks the stop
 * signals, starts the runtime with o->workers workers, returns the exit
 * status for main(). */
static inline int serve_main(const char *name, struct serve_opts *o,
                             cio_task_fn *conn)
{
    struct serve_run r = {.name = name, .o = o, .conn = conn};
    if (serve_block_signals(&r.sigs) < 0)
        return 1;
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
