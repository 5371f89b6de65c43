/* http_hello, libuv peer: a keep-alive HTTP/1.1 server that answers every
 * request with "Hello, World!".
 *
 * It parses no more than the benchmarks need: a request is anything up to
 * an empty line ("\r\n\r\n"), so bodies are not supported, which wrk's and
 * idle_conns' GETs never have. The answers to all the requests found in
 * one read go out in one write, as pipelining wants. The response carries
 * a Date, like nginx's and Go's, so all servers send about the same bytes
 * (115 here); it is formatted once per second, as nginx does.
 * Usage: bench_uv_http_hello PORT
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server.h"

static char response[160];
static size_t response_len;
static time_t response_time = -1;

static void refresh_response(void)
{
    time_t now = time(NULL);
    char date[64];
    struct tm tm;

    if (now == response_time)
        return;
    response_time = now;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT",
             gmtime_r(&now, &tm));
    response_len = (size_t)snprintf(response, sizeof response,
                                    "HTTP/1.1 200 OK\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: 13\r\n"
                                    "Date: %s\r\n"
                                    "\r\n"
                                    "Hello, World!", date);
}

/* Counts the requests that end in data[0, len). c->state carries how much
 * of "\r\n\r\n" the previous read ended with, since a head may arrive in
 * pieces. */
static size_t count_requests(struct uvpeer_conn *c, const char *data,
                             size_t len)
{
    static const char end[] = "\r\n\r\n";
    unsigned m = c->state;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (data[i] == end[m]) {
            if (++m == 4) {
                n++;
                m = 0;
            }
        } else {
            /* A mismatched '\r' may start the next terminator. */
            m = data[i] == '\r';
        }
    }
    c->state = m;
    return n;
}

static void on_data(struct uvpeer_conn *c, char *data, size_t len)
{
    static char out[64 * 1024];
    size_t n = count_requests(c, data, len);

    if (n == 0)
        return;
    refresh_response();
    while (n > 0) {
        size_t k = 0;

        /* More than one pass only when over 500 pipelined requests
         * arrive in one read. */
        for (; n > 0 && (k + 1) * response_len <= sizeof out; n--, k++)
            memcpy(out + k * response_len, response, response_len);
        if (uvpeer_send(c, out, k * response_len) < 0)
            return;
    }
}

int main(int argc, char **argv)
{
    return uvpeer_serve(argc, argv, on_data);
}
