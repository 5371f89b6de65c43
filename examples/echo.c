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

int main(int argc, char **argv)
{
    struct serve_opts o = {.addr = "127.0.0.1", .port = 7000};
    if (serve_parse(argc, argv, &o, "[-a ADDR] [-p PORT] [-w WORKERS]") < 0)
        return 2;
    return serve_main("echo", &o, connection);
}
