/* A TCP echo server: one task per connection, straight-line code.
 *
 *     echo [-a ADDR] [-p PORT] [-w WORKERS]
 *
 * Prints "listening on ADDR:PORT" once it accepts connections; SIGINT or
 * SIGTERM stops it cleanly (every connection task is cancelled and closes
 * its socket before the process exits).
 */
#include "serve.h"

#define FIRST 128 /* bytes read while idle (the outer frame's buffer) */

/* Echoes `n` bytes just read, then, while the read may have left more
 * (it filled its buffer), what else is there now, with a buffer big
 * enough for bulk. Returns false when the connection is over. */
static bool pump(int fd, const char *first, size_t n, bool more)
{
    char buf[16384];
    if (cio_write_all(fd, first, n, NULL, CIO_NEVER) < 0)
        return false;
    while (more) {
        /* Deadline 0: what is there now, else CIO_ETIMEDOUT. */
        ssize_t k = cio_read(fd, buf, sizeof buf, 0);
        if (k == CIO_ETIMEDOUT)
            return true;
        if (k <= 0 || cio_write_all(fd, buf, (size_t)k, NULL, CIO_NEVER) < 0)
            return false;
        more = (size_t)k == sizeof buf;
    }
    return true;
}

/* The wait for the next bytes is a read into a small buffer of this,
 * the task's outermost frame: the big one lives in pump()'s frame, gone
 * while the connection is idle, so a compact task (serve.h) holds a few
 * hundred bytes then. */
static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char first[FIRST];
    for (;;) {
        ssize_t n = cio_read(fd, first, sizeof first, CIO_NEVER);
        if (n <= 0)
            break; /* end of stream, reset, or cancelled at shutdown */
        if (!pump(fd, first, (size_t)n, n == FIRST))
            break;
    }
    cio_close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct serve_opts o = {.addr = "127.0.0.1", .port = 7000};
    if (serve_parse(argc, argv, &o, "[-a ADDR] [-p PORT] [-w WORKERS]") < 0)
        return 2;
    return serve_main("echo", &o, connection);
}
