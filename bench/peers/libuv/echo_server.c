/* echo, libuv peer: writes every byte it reads back to the same
 * connection. The write is attempted straight from the read buffer; only
 * what the socket does not take at once is copied (see server.c).
 * Usage: bench_uv_echo PORT
 */
#include "server.h"

static void on_data(struct uvpeer_conn *c, char *data, size_t len)
{
    uvpeer_send(c, data, len);
}

int main(int argc, char **argv)
{
    return uvpeer_serve(argc, argv, on_data);
}
