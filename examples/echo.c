/* A TCP echo server: one task per connection, straight-line code.
 *
 *     echo [-a ADDR] [-p PORT] [-w WORKERS]
 *
 * Prints "listening on ADDR:PORT" once it accepts connections; SIGINT or
 * SIGTERM stops it cleanly (every connection task is cancelled and closes
 * its socket before the process exits).
 */
#include "serve.h"

static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = cio_read(fd, buf, sizeof buf, CIO_NEVER);
        if (n <= 0)
            break; /* end of stream, reset, or cancelled at shutdown */
        if (cio_write_all(fd, buf, (size_t)n, NULL, CIO_NEVER) < 0)
            break;
    }
    cio_close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    serve_accept_loop((int)(intptr_t)arg, connection, "echo-conn");
    return NULL;
}

struct args {
    struct serve_opts o;
    sigset_t sigs;
};

static int main_task(void *p)
{
    struct args *a = p;
    int lfd = cio_tcp_listen(a->o.addr, a->o.port, 4096, 0);
    if (lfd < 0) {
        fprintf(stderr, "echo: listen on %s:%d: %s\n", a->o.addr, a->o.port,
                cio_strerror(lfd));
        return 1;
    }
    cio_addr local;
    char text[CIO_ADDR_STRLEN];
    cio_sock_name(lfd, &local);
    cio_addr_format(&local, text, sizeof text);
    printf("listening on %s\n", text);
    fflush(stdout);

    cio_task acc;
    if (cio_spawn(&acc, acceptor, (void *)(intptr_t)lfd, NULL) < 0) {
        cio_close(lfd);
        return 1;
    }
    int sig = serve_wait_signal(&a->sigs);
    fprintf(stderr, "echo: %s, stopping\n", sig > 0 ? strsignal(sig) : "error");
    cio_cancel(acc);
    cio_join(acc, NULL, CIO_NEVER);
    cio_close(lfd);
    return 0; /* the runtime cancels the connections and waits for them */
}

int main(int argc, char **argv)
{
    struct args a = {.o = {.addr = "127.0.0.1", .port = 7000}};
    if (serve_parse(argc, argv, &a.o, "[-a ADDR] [-p PORT] [-w WORKERS]") < 0)
        return 2;
    if (serve_block_signals(&a.sigs) < 0)
        return 1;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = a.o.workers;
    int rc = cio_run(main_task, &a, &cfg);
    if (rc < 0) {
        fprintf(stderr, "echo: %s\n", cio_strerror(rc));
        return 1;
    }
    return rc;
}
