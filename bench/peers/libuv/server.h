/* The TCP server skeleton shared by the libuv peers of the network
 * benchmarks (http_hello.c, echo_server.c): one loop, one listener on
 * 127.0.0.1, one small struct per connection.
 */
#ifndef CIO_BENCH_UV_SERVER_H
#define CIO_BENCH_UV_SERVER_H

#include <stddef.h>
#include <uv.h>

struct uvpeer_conn {
    uv_tcp_t tcp;           /* first: the handle pointer is the conn pointer */
    unsigned queued;        /* writes libuv still holds; reading waits for 0 */
    unsigned state;         /* the protocol's own: http_hello's parser state */
};

/* Called with the bytes of every read. `data` is a buffer shared by all
 * connections, valid only during the call; uvpeer_send copies what it
 * cannot write at once. */
typedef void uvpeer_data_fn(struct uvpeer_conn *c, char *data, size_t len);

/* Writes len bytes to c in order after anything queued before. The bytes
 * the socket does not take at once are copied and queued, and reading
 * from c pauses until they are written. Returns 0, or a negative UV_E*
 * after closing c. */
int uvpeer_send(struct uvpeer_conn *c, char *data, size_t len);

/* Parses "PORT" from argv[1], listens on 127.0.0.1:PORT, prints
 * "listening on 127.0.0.1:PORT" and serves until killed. Returns the exit
 * status for a setup error. */
int uvpeer_serve(int argc, char **argv, uvpeer_data_fn *on_data);

#endif /* CIO_BENCH_UV_SERVER_H */
