/* See server.h. Written the way a careful libuv server is: uv_try_write
 * first, so the common case needs no write request and no copy, and one
 * read buffer for the whole loop, so an idle connection costs only its
 * handle (the idle_conns benchmark compares exactly that).
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct queued_write {
    uv_write_t req;
    char data[];            /* the bytes uv_try_write did not take */
};

/* Safe to share: libuv calls alloc_cb and then read_cb for one connection
 * at a time on this one thread, and read_cb is done with the bytes when it
 * returns. */
static char read_buf[64 * 1024];
static uvpeer_data_fn *data_fn;

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void conn_close(struct uvpeer_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct uvpeer_conn *c = (struct uvpeer_conn *)s;

    if (nread > 0)
        data_fn(c, buf->base, (size_t)nread);
    else if (nread < 0)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    struct uvpeer_conn *c = (struct uvpeer_conn *)req->handle;

    free(req);
    if (status < 0) {
        conn_close(c);
        return;
    }
    /* The peer has caught up: take requests again. */
    if (--c->queued == 0 && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int uvpeer_send(struct uvpeer_conn *c, char *data, size_t len)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    struct queued_write *w;
    int n, rc;

    /* uv_try_write refuses (UV_EAGAIN) while writes are queued, so the
     * bytes can never overtake earlier ones. */
    n = uv_try_write(s, &buf, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        goto err_close;
    if ((size_t)n == len)
        return 0;
    w = malloc(sizeof *w + len - (size_t)n);
    if (w == NULL) {
        n = UV_ENOMEM;
        goto err_close;
    }
    memcpy(w->data, data + n, len - (size_t)n);
    buf = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
    rc = uv_write(&w->req, s, &buf, 1, on_written);
    if (rc < 0) {
        free(w);
        n = rc;
        goto err_close;
    }
    /* Without a pause a client that sends but does not read would make
     * the queue grow without bound. */
    if (c->queued++ == 0)
        uv_read_stop(s);
    return 0;

err_close:
    conn_close(c);
    return n;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct uvpeer_conn *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* The idle_conns benchmark holds 10,000 connections; the inherited soft
 * limit may be lower than the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int uvpeer_serve(int argc, char **argv, uvpeer_data_fn *on_data)
{
    uv_loop_t *loop = uv_default_loop();
    static uv_tcp_t listener;
    struct sockaddr_in addr;
    long port = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    int rc;

    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    raise_nofile();
    data_fn = on_data;
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    uv_tcp_init(loop, &listener);
    rc = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        fprintf(stderr, "%s: listen on 127.0.0.1:%ld: %s\n", argv[0], port,
                uv_strerror(rc));
        return 1;
    }
    printf("listening on 127.0.0.1:%ld\n", port);
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
