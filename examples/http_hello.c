/* An HTTP/1.1 server answering "Hello, World!" to every request.
 *
 *     http_hello [-a ADDR] [-p PORT] [-w WORKERS] [-i IDLE_MS]
 *
 * One task per connection, written as straight-line code: read, parse
 * every complete request in the buffer (pipelining), queue one response
 * per request in order, write them in one go, read again. Message framing
 * follows RFC 9112 (examples/http/http.c): request bodies by Content-Length
 * or chunked are read and discarded, HTTP/1.0 clients get keep-alive only
 * when they ask, "Expect: 100-continue" gets its interim response.
 * A malformed request gets 400, a head over 8 KiB gets 431, a body over
 * 16 MiB gets 413, and then the connection is closed. A connection idle
 * for IDLE_MS (default 60 s) between requests, or that takes that long to
 * send one request (head and body), is closed. A connection the server
 * closes (an error, "Connection: close", HTTP/1.0) is closed in stages
 * (RFC 9112 9.6): responses written, our side shut, the client's input
 * drained for a moment, so no reset destroys the last response.
 * Between requests a connection's task waits in a small outer frame, and
 * it is spawned compact (CIO_SPAWN_COMPACT): an idle connection holds the
 * few hundred bytes of its live frames, not stack pages.
 * Prints "listening on ADDR:PORT" when ready; SIGINT or SIGTERM stop it.
 */
#include <time.h>

#include "http.h"
#include "serve.h"

#define HEAD_MAX 8192      /* longer request heads get 431 */
#define IN_SMALL 2048      /* read buffer on the task's stack */
#define IN_BIG 16384       /* heap buffer for long heads and pipelines */
#define OUT_SIZE 2048      /* responses queued before a write */
#define FIRST 128          /* bytes the wait between requests reads */
#define BODY_MAX (16u << 20) /* larger request bodies get 413 */
#define LINGER_NS (1000 * 1000000LL) /* reading after the last response */

static int64_t idle_ns = 60 * 1000000000LL;

/* The Date header (RFC 9110 5.6.7), rendered once per second per worker.
 * Connection tasks never migrate (the default), so a thread-local cache is
 * safe to use across their waits. */
static _Thread_local struct {
    time_t sec;
    char text[40];
    size_t len;
} date;

static void http_date(void)
{
    time_t now = time(NULL);
    if (now != date.sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        date.len = strftime(date.text, sizeof date.text,
                            "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date.sec = now;
    }
}

/* One connection's state while it has a request under way. It lives on
 * the task's stack and is small; the big buffer exists only while a long
 * head or a deep pipeline needs it. */
struct conn {
    int fd;
    char *in;                 /* small or big */
    size_t cap;               /* bytes `in` holds */
    size_t have;              /* bytes in `in` */
    size_t outn;              /* bytes queued in `out` */
    enum { HEAD, LENGTH, CHUNKED } state;
    uint64_t left;            /* body bytes left with LENGTH */
    struct http_chunked chunk;
    struct http_req req;      /* request whose body is being read */
    bool close_after;         /* the current request ends the connection */
    int64_t req_deadline;     /* the request under way must be in by then */
    uint64_t answered;        /* requests answered so far */
    char small[IN_SMALL];
    char out[OUT_SIZE];
};

static int flush(struct conn *c)
{
    if (c->outn == 0)
        return 0;
    ssize_t n = cio_write_all(c->fd, c->out, c->outn, NULL,
                              cio_deadline_after(idle_ns));
    c->outn = 0;
    return n < 0 ? (int)n : 0;
}

static int queue(struct conn *c, const char *s, size_t n)
{
    if (OUT_SIZE - c->outn < n) {
        int rc = flush(c);
        if (rc < 0)
            return rc;
    }
    memcpy(c->out + c->outn, s, n);
    c->outn += n;
    return 0;
}

#define LIT(s) s, sizeof s - 1

static int respond(struct conn *c, const struct http_req *r)
{
    static const char status[] = "HTTP/1.1 200 OK\r\nServer: cio\r\nDate: ";
    static const char fields[] = "\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 13\r\n";
    static const char body[] = "Hello, World!";
    const char *conn = !r->keep_alive ? "Connection: close\r\n"
                       : r->minor == 0 ? "Connection: keep-alive\r\n"
                                       : "";
    size_t conn_len = strlen(conn);
    size_t n = sizeof status - 1 + date.len + sizeof fields - 1 + conn_len +
               2 + (r->head ? 0 : sizeof body - 1);
    if (OUT_SIZE - c->outn < n) {
        int rc = flush(c);
        if (rc < 0)
            return rc;
    }
    /* Pieces copied in place: no formatting on the hot path. */
    char *p = c->out + c->outn;
    memcpy(p, status, sizeof status - 1);
    p += sizeof status - 1;
    memcpy(p, date.text, date.len);
    p += date.len;
    memcpy(p, fields, sizeof fields - 1);
    p += sizeof fields - 1;
    memcpy(p, conn, conn_len);
    p += conn_len;
    memcpy(p, "\r\n", 2);
    p += 2;
    if (!r->head) {
        memcpy(p, body, sizeof body - 1);
        p += sizeof body - 1;
    }
    c->outn = (size_t)(p - c->out);
    c->answered++;
    return 0;
}

/* Ends a connection the server closes: writes what is queued, shuts our
 * side and reads what the client still sends for a moment. Closing with
 * unread input would make the kernel reset the connection, which can
 * destroy responses the client has not read yet (RFC 9112 9.6). */
static void finish(struct conn *c)
{
    if (flush(c) < 0)
        return;
    cio_shutdown(c->fd, SHUT_WR);
    int64_t until = cio_deadline_after(LINGER_NS);
    while (cio_read(c->fd, c->small, sizeof c->small, until) > 0)
        ;
}

/* Answers an unusable request, then ends the connection. */
static void fail(struct conn *c, int status)
{
    const char *reason = status == 413   ? "Content Too Large"
                         : status == 431 ? "Request Header Fields Too Large"
                         : status == 501 ? "Not Implemented"
                         : status == 505 ? "HTTP Version Not Supported"
                                         : "Bad Request";
    char h[200];
    http_date();
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 %d %s\r\nServer: cio\r\nDate: %.*s\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     status, reason, (int)date.len, date.text);
    if (queue(c, h, (size_t)n) == 0)
        finish(c);
}

/* Handles every complete request in the buffer. Returns 1 to keep the
 * connection, 0 to close it (after what was queued is written), or a
 * negative HTTP status to answer before closing. */
static int process(struct conn *c)
{
    size_t pos = 0;
    int keep = 1;
    http_date();
    while (pos < c->have && keep == 1) {
        const char *p = c->in + pos;
        size_t n = c->have - pos;
        if (c->state == HEAD) {
            int rc = http_parse_head(p, n, HEAD_MAX, &c->req);
            if (rc == 0)
                break;
            if (rc < 0) {
                keep = rc;
                break;
            }
            pos += (size_t)rc;
            c->close_after = !c->req.keep_alive;
            if (c->req.body == HTTP_BODY_NONE ||
                (c->req.body == HTTP_BODY_LENGTH && c->req.length == 0)) {
                if (respond(c, &c->req) < 0)
                    return 0;
                if (c->close_after)
                    keep = 0;
                continue;
            }
            if (c->req.body == HTTP_BODY_LENGTH && c->req.length > BODY_MAX) {
                keep = -413;
                break;
            }
            if (c->req.expect_continue &&
                queue(c, LIT("HTTP/1.1 100 Continue\r\n\r\n")) < 0)
                return 0;
            if (c->req.body == HTTP_BODY_LENGTH) {
                c->state = LENGTH;
                c->left = c->req.length;
            } else {
                c->state = CHUNKED;
                http_chunked_init(&c->chunk);
            }
            continue;
        }
        bool done;
        if (c->state == LENGTH) {
            size_t take = n < c->left ? n : (size_t)c->left;
            pos += take;
            c->left -= take;
            done = c->left == 0;
        } else {
            size_t used;
            int rc = http_chunked_feed(&c->chunk, p, n, &used);
            pos += used;
            if (rc < 0) {
                keep = -400;
                break;
            }
            if (c->chunk.body > BODY_MAX) {
                keep = -413;
                break;
            }
            done = rc == 1;
        }
        if (done) {
            /* The body is read: now the final response, in order. */
            c->state = HEAD;
            if (respond(c, &c->req) < 0)
                return 0;
            if (c->close_after)
                keep = 0;
        }
    }
    memmove(c->in, c->in + pos, c->have - pos);
    c->have -= pos;
    return keep;
}

/* Room to read into: the small buffer until it is full, then the big one
 * (a head of up to 8 KiB, or many pipelined requests). Returns false when
 * no memory is to be had. */
static bool room(struct conn *c)
{
    if (c->have < c->cap)
        return true;
    if (c->in != c->small)
        return true; /* full big buffer: process() decides (431) */
    char *big = malloc(IN_BIG);
    if (!big)
        return false;
    memcpy(big, c->small, c->have);
    c->in = big;
    c->cap = IN_BIG;
    return true;
}

/* Serves a connection from `n` bytes just read (`first`, the start of a
 * request) until it is idle again: every request answered and nothing
 * half read. Its state, buffers included, lives in this frame, which is
 * gone while the connection waits for its next request. Returns true to
 * wait for that, false when the connection is over. */
static bool serve_requests(int fd, const char *first, size_t n)
{
    struct conn c;
    c.fd = fd;
    c.in = c.small;
    c.cap = IN_SMALL;
    memcpy(c.small, first, n);
    c.have = n;
    c.outn = 0;
    c.state = HEAD;
    c.answered = 0;
    /* Once a request has begun, all of it must arrive within the idle
     * time of its start, so a client sending a byte now and then cannot
     * hold the task (slowloris). */
    c.req_deadline = cio_deadline_after(idle_ns);
    bool again = false;
    for (;;) {
        uint64_t answered = c.answered;
        int keep = process(&c);
        if (keep < 0) {
            fail(&c, -keep);
            break;
        }
        if (keep == 0) {
            finish(&c);
            break;
        }
        if (flush(&c) < 0)
            break;
        if (c.have == 0 && c.state == HEAD) {
            again = true; /* idle again */
            break;
        }
        if (c.answered != answered)
            c.req_deadline = cio_deadline_after(idle_ns); /* a new one began */
        if (c.in != c.small && c.have <= IN_SMALL) {
            /* Back to small requests: give the big buffer back. */
            memcpy(c.small, c.in, c.have);
            free(c.in);
            c.in = c.small;
            c.cap = IN_SMALL;
        }
        if (!room(&c))
            break;
        if (c.have == c.cap) {
            fail(&c, 431); /* cannot happen: heads stop at 8 KiB */
            break;
        }
        ssize_t r = cio_read(c.fd, c.in + c.have, c.cap - c.have,
                             c.req_deadline);
        if (r <= 0)
            break; /* closed, reset, too slow, or shutting down */
        c.have += (size_t)r;
    }
    if (c.in != c.small)
        free(c.in);
    return again;
}

/* A connection's task. Between requests it waits in a read into a small
 * buffer of this, its outermost frame: spawned compact (serve.h), an idle
 * connection then holds a few hundred bytes of frames rather than the
 * pages serve_requests() touched. */
static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char first[FIRST];
    for (;;) {
        /* Between requests the idle time runs afresh. */
        ssize_t n = cio_read(fd, first, sizeof first,
                             cio_deadline_after(idle_ns));
        if (n <= 0)
            break; /* closed, reset, idle too long, or shutting down */
        if (!serve_requests(fd, first, (size_t)n))
            break;
    }
    cio_close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct serve_opts o = {.addr = "127.0.0.1", .port = 8080};
    if (serve_parse(argc, argv, &o,
                    "[-a ADDR] [-p PORT] [-w WORKERS] [-i IDLE_MS]") < 0)
        return 2;
    if (o.idle_ns > 0)
        idle_ns = o.idle_ns;
    return serve_main("http_hello", &o, connection);
}
