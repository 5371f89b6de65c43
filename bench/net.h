/* Helpers shared by the network load generators (echo_load.c,
 * idle_conns.c). Linux only: they drive their sockets with epoll.
 */
#ifndef CIO_BENCH_NET_H
#define CIO_BENCH_NET_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

/* Raises the soft RLIMIT_NOFILE so that `need` descriptors fit. Returns 0,
 * or -1 (after a message) when the hard limit is too low. */
static inline int bench_raise_nofile(const char *prog, rlim_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr, "%s: need %lu open files, the hard limit is %lu\n",
                prog, (unsigned long)need, (unsigned long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

static inline struct sockaddr_in bench_loopback(long port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* A nonblocking TCP socket with Nagle off: every message is sent at once,
 * as a latency benchmark needs. */
static inline int bench_tcp_socket(void)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Starts a connect to 127.0.0.1:port on a nonblocking socket. Returns 0
 * when it completed or is in progress (wait for EPOLLOUT, then check
 * bench_connect_error), -errno otherwise. */
static inline int bench_connect_start(int fd, long port)
{
    struct sockaddr_in sa = bench_loopback(port);

    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
        errno == EINPROGRESS)
        return 0;
    return -errno;
}

/* The outcome of a nonblocking connect once the socket is writable:
 * 0 or a positive errno. */
static inline int bench_connect_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}

#endif /* CIO_BENCH_NET_H */
