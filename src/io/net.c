/* Sockets from a task: addresses, listen, accept, connect, UDP, options.
 *
 * Every socket cio creates is non-blocking and close-on-exec from the
 * start (SOCK_NONBLOCK | SOCK_CLOEXEC, accept4), and its number's state is
 * reset (cio__fd_fresh), since the number may have been used before.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"

/* ---- addresses ---------------------------------------------------------- */

int cio_addr_ip(cio_addr *out, const char *ip, int port)
{
    if (!out || port < 0 || port > 65535)
        return CIO_EINVAL;
    memset(out, 0, sizeof *out);
    if (!ip || !*ip) {
        out->u.in4.sin_family = AF_INET;
        out->u.in4.sin_port = htons((uint16_t)port);
        out->u.in4.sin_addr.s_addr = htonl(INADDR_ANY);
        out->len = sizeof out->u.in4;
        return 0;
    }
    if (inet_pton(AF_INET, ip, &out->u.in4.sin_addr) == 1) {
        out->u.in4.sin_family = AF_INET;
        out->u.in4.sin_port = htons((uint16_t)port);
        out->len = sizeof out->u.in4;
        return 0;
    }
    /* IPv6, possibly with a zone ("fe80::1%eth0"): getaddrinfo with
     * AI_NUMERICHOST parses both and never touches the network. */
    struct addrinfo hints = {.ai_family = AF_INET6,
                             .ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    if (getaddrinfo(ip, NULL, &hints, &res) != 0 || !res)
        return CIO_EINVAL;
    memcpy(&out->u.in6, res->ai_addr, sizeof out->u.in6);
    freeaddrinfo(res);
    out->u.in6.sin6_port = htons((uint16_t)port);
    out->len = sizeof out->u.in6;
    return 0;
}

int cio_addr_unix(cio_addr *out, const char *path)
{
    if (!out || !path || !*path)
        return CIO_EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof out->u.un.sun_path)
        return CIO_ENAMETOOLONG;
    memset(out, 0, sizeof *out);
    out->u.un.sun_family = AF_UNIX;
    memcpy(out->u.un.sun_path, path, n);
    if (path[0] == '@') {
        /* Abstract namespace: a leading NUL, and the length counts only
         * the name's bytes (no terminator). */
        out->u.un.sun_path[0] = 0;
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int cio_addr_set_port(cio_addr *a, int port)
{
    if (!a || port < 0 || port > 65535)
        return CIO_EINVAL;
    if (a->u.sa.sa_family == AF_INET)
        a->u.in4.sin_port = htons((uint16_t)port);
    else if (a->u.sa.sa_family == AF_INET6)
        a->u.in6.sin6_port = htons((uint16_t)port);
    else
        return CIO_EINVAL;
    return 0;
}

int cio_addr_port(const cio_addr *a)
{
    if (!a)
        return CIO_EINVAL;
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return CIO_EINVAL;
}

int cio_addr_format(const cio_addr *a, char *buf, size_t size)
{
    if (!a || !buf || size == 0)
        return CIO_EINVAL;
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    int n;
    buf[0] = 0;
    /* The bytes a length reaches beyond the structure are not the
     * address's: a Unix name is formatted by its length, so such a length
     * would read past it. The kernel and the other calls refuse it too. */
    if (a->len > sizeof a->u ||
        (a->u.sa.sa_family == AF_UNIX && a->len > sizeof a->u.un))
        return CIO_EINVAL;
    switch (a->u.sa.sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &a->u.in4.sin_addr, host, sizeof host);
        n = snprintf(buf, size, "%s:%u", host, ntohs(a->u.in4.sin_port));
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof host);
        n = snprintf(buf, size, "[%s]:%u", host, ntohs(a->u.in6.sin6_port));
        break;
    case AF_UNIX: {
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t len = a->len > off ? a->len - off : 0;
        const char *p = a->u.un.sun_path;
        if (len > 0 && p[0] == 0) { /* abstract */
            n = snprintf(buf, size, "@%.*s", (int)(len - 1), p + 1);
        } else {
            n = snprintf(buf, size, "%.*s", (int)strnlen(p, len), p);
        }
        break;
    }
    default:
        return CIO_EINVAL;
    }
    if (n < 0 || (size_t)n >= size) {
        buf[0] = 0;
        return CIO_ENOSPC;
    }
    return n;
}

int cio_sock_name(int fd, cio_addr *out)
{
    if (!out)
        return CIO_EINVAL;
    out->len = sizeof out->u;
    return getsockname(fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

int cio_peer_name(int fd, cio_addr *out)
{
    if (!out)
        return CIO_EINVAL;
    out->len = sizeof out->u;
    return getpeername(fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

/* ---- sockets -------------------------------------------------------------- */

/* A descriptor cio just got from the kernel: reset its number's state
 * (any thread: outside a runtime there is no state to reset). */
static int adopt_new(int fd, uint32_t flags)
{
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    int rc = rt ? cio__fd_fresh(rt, fd, flags | CIO__FD_SOCKET) : 0;
    cio__rt_leave(rt, pinned);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int cio_socket(int family, int type)
{
    if (type & ~(SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET | SOCK_RAW))
        return CIO_EINVAL;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    uint32_t f = 0;
    if (type == SOCK_STREAM)
        f = CIO__FD_STREAM |
            (family == AF_INET || family == AF_INET6 ? CIO__FD_TCP : 0);
    return adopt_new(fd, f);
}

static int set_int(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof v) < 0 ? -errno : 0;
}

static bool valid_addr(const cio_addr *a)
{
    return a && a->len > 0 && a->len <= sizeof a->u &&
           (a->u.sa.sa_family == AF_INET || a->u.sa.sa_family == AF_INET6 ||
            a->u.sa.sa_family == AF_UNIX);
}

/* Socket of `type` bound to `addr` with the options `flags` asks for. */
static int bound_socket(const cio_addr *addr, int type, unsigned flags)
{
    if (!valid_addr(addr) ||
        (flags & ~(unsigned)(CIO_LISTEN_REUSEPORT | CIO_LISTEN_V6ONLY)))
        return CIO_EINVAL;
    int fam = addr->u.sa.sa_family;
    int fd = cio_socket(fam, type);
    if (fd < 0)
        return fd;
    int rc = 0;
    if (fam != AF_UNIX && type == SOCK_STREAM)
        rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (rc == 0 && (flags & CIO_LISTEN_REUSEPORT))
        rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (rc == 0 && fam == AF_INET6)
        rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY,
                     (flags & CIO_LISTEN_V6ONLY) ? 1 : 0);
    if (rc == 0 && bind(fd, &addr->u.sa, addr->len) < 0)
        rc = -errno;
    if (rc < 0) {
        cio_close(fd);
        return rc;
    }
    return fd;
}

int cio_listen(const cio_addr *addr, int backlog, unsigned flags)
{
    int fd = bound_socket(addr, SOCK_STREAM, flags);
    if (fd < 0)
        return fd;
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        int rc = -errno;
        cio_close(fd);
        return rc;
    }
    return fd;
}

/* The addresses of `host`:`port`: a numeric address as it is, a name
 * through cio_resolve() (task only). Returns the count found (as
 * cio_resolve(), up to `max` stored) or an error. */
static int host_addrs(const char *host, int port, cio_addr *out, int max,
                      int64_t deadline)
{
    if (cio_addr_ip(out, host, port) == 0)
        return 1;
    char svc[8];
    snprintf(svc, sizeof svc, "%d", port);
    return cio_resolve(host, svc, AF_UNSPEC, out, max, deadline);
}

int cio_tcp_listen(const char *host, int port, int backlog, unsigned flags)
{
    cio_addr a;
    if (port < 0 || port > 65535)
        return CIO_EINVAL;
    if (!host || !*host) {
        int rc = cio_addr_ip(&a, "::", port);
        if (rc == 0) {
            int fd = cio_listen(&a, backlog, flags);
            if (fd != CIO_EAFNOSUPPORT)
                return fd;
        }
        cio_addr_ip(&a, NULL, port);
        return cio_listen(&a, backlog, flags);
    }
    int n = host_addrs(host, port, &a, 1, CIO_NEVER);
    if (n < 0)
        return n;
    return cio_listen(&a, backlog, flags);
}

int cio_unix_listen(const char *path, int backlog)
{
    cio_addr a;
    int rc = cio_addr_unix(&a, path);
    if (rc < 0)
        return rc;
    return cio_listen(&a, backlog, 0);
}

struct accept_ctx {
    cio_addr *peer;
};

static ssize_t try_accept(struct cio__call *c, void *ctx)
{
    struct accept_ctx *a = ctx;
    for (;;) {
        a->peer->len = sizeof a->peer->u;
        int fd = accept4(c->fd, &a->peer->u.sa, &a->peer->len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        /* The peer gave up before we took it: nothing to report, take
         * the next one. */
        if (fd >= 0 || (errno != ECONNABORTED && errno != EPROTO))
            return fd;
    }
}

static void prep_accept(struct cio__call *c, void *ctx, struct cio__req *q)
{
    struct accept_ctx *a = ctx;
    a->peer->len = sizeof a->peer->u;
    *q = (struct cio__req){.op = CIO__REQ_ACCEPT, .fd = c->fd,
                           .addr = &a->peer->u.sa, .addr2 = &a->peer->len,
                           .flags = SOCK_NONBLOCK | SOCK_CLOEXEC};
}

int cio_accept(int lfd, cio_addr *peer, int64_t deadline)
{
    cio_addr tmp;
    struct accept_ctx a = {peer ? peer : &tmp};
    ssize_t fd;
    do
        fd = cio__call_run(lfd, CIO__RDY_READ, 0, deadline, try_accept,
                           prep_accept, &a, NULL);
    /* As try_accept: a connection its peer gave up on is skipped (a
     * request reports it; the direct call skips it itself). */
    while (fd == -ECONNABORTED || fd == -EPROTO);
    if (fd < 0)
        return (int)fd;
    int fam = a.peer->u.sa.sa_family;
    return adopt_new((int)fd, CIO__FD_STREAM | (fam == AF_INET ||
                                                        fam == AF_INET6
                                                    ? CIO__FD_TCP
                                                    : 0));
}

/* Whether the socket is connected: SO_ERROR, then the peer's name, since
 * an edge may come before the connection is complete. 1 yes, 0 not yet,
 * or the error. */
static int connected(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    if (err)
        return -err;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        return 1;
    return errno == ENOTCONN ? 0 : -errno;
}

int cio_connect(int fd, const cio_addr *addr, int64_t deadline)
{
    if (!valid_addr(addr))
        return CIO_EINVAL;
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    if (cio__call_by_req(&c) && !cio__os_passed(deadline)) {
        /* The whole handshake as one request: the kernel tries, waits for
         * it to end and reports how, with no edge to wait for and no
         * SO_ERROR to ask. */
        struct cio__req q = {.op = CIO__REQ_CONNECT, .fd = c.fd,
                             .addr = (void *)&addr->u.sa, .len = addr->len};
        rc = cio__fd_req(c.self, c.st, c.num, &q, deadline);
        if (rc != CIO__NO_REQ) {
            cio__call_end(&c, false);
            return rc;
        }
    }
    if (connect(fd, &addr->u.sa, addr->len) == 0) {
        cio__call_end(&c, true);
        return 0;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        rc = -errno;
        cio__call_end(&c, false);
        return rc;
    }
    /* The socket is not writable until the handshake ends. */
    cio__call_drained(&c, CIO__RDY_WRITE);
    for (;;) {
        rc = cio__call_wait(&c, CIO__RDY_WRITE, deadline);
        if (rc < 0)
            break;
        rc = connected(fd);
        if (rc != 0)
            break;
        cio__call_drained(&c, CIO__RDY_WRITE);
    }
    cio__call_end(&c, false);
    return rc < 0 ? rc : 0;
}

int cio_connect_addr(const cio_addr *addr, int64_t deadline)
{
    if (!valid_addr(addr))
        return CIO_EINVAL;
    if (!cio__task_current())
        return CIO_EPERM;
    int fd = cio_socket(addr->u.sa.sa_family, SOCK_STREAM);
    if (fd < 0)
        return fd;
    int rc = cio_connect(fd, addr, deadline);
    if (rc < 0) {
        cio_close(fd);
        return rc;
    }
    return fd;
}

/* Most addresses tried for one host name. */
#define CONNECT_ADDRS 16
/* Least time one attempt gets when several share a deadline (Go: 2 s). */
#define ATTEMPT_MIN_NS (2 * 1000000000LL)

/* The deadline of attempt `i` of `n`: an equal share of the time left, so
 * one address that never answers cannot use it all. A deadline already
 * past stays as it is: `deadline - now` could not be computed for one far
 * in the past (a user's INT64_MIN), and the attempt must not wait anyway. */
static int64_t attempt_deadline(int64_t deadline, int i, int n)
{
    if (deadline == CIO_NEVER || i + 1 >= n)
        return deadline;
    int64_t now = cio_now();
    if (deadline <= now)
        return deadline;
    int64_t left = deadline - now, share = left / (n - i);
    if (share < ATTEMPT_MIN_NS)
        share = ATTEMPT_MIN_NS;
    return share < left ? now + share : deadline;
}

int cio_tcp_connect(const char *host, int port, int64_t deadline)
{
    if (!host || !*host || port <= 0 || port > 65535)
        return CIO_EINVAL;
    if (!cio__task_current())
        return CIO_EPERM;
    cio_addr addrs[CONNECT_ADDRS];
    int n = host_addrs(host, port, addrs, CONNECT_ADDRS, deadline);
    if (n < 0)
        return n;
    if (n > CONNECT_ADDRS)
        n = CONNECT_ADDRS;
    int rc = CIO_ECONNREFUSED;
    for (int i = 0; i < n; i++) {
        rc = cio_connect_addr(&addrs[i], attempt_deadline(deadline, i, n));
        if (rc >= 0 || rc == CIO_ECANCELED)
            return rc;
        if (deadline != CIO_NEVER && cio_now() >= deadline)
            return CIO_ETIMEDOUT;
    }
    return rc;
}

int cio_unix_connect(const char *path, int64_t deadline)
{
    cio_addr a;
    int rc = cio_addr_unix(&a, path);
    if (rc < 0)
        return rc;
    return cio_connect_addr(&a, deadline);
}

int cio_shutdown(int fd, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return CIO_EINVAL;
    return shutdown(fd, how) < 0 ? -errno : 0;
}

/* ---- options ------------------------------------------------------------- */

struct opt {
    int level, name;
};

static int opt_of(int opt, struct opt *o)
{
    switch (opt) {
    case CIO_SO_NODELAY: *o = (struct opt){IPPROTO_TCP, TCP_NODELAY}; break;
    case CIO_SO_KEEPALIVE: *o = (struct opt){SOL_SOCKET, SO_KEEPALIVE}; break;
    case CIO_SO_KEEPIDLE: *o = (struct opt){IPPROTO_TCP, TCP_KEEPIDLE}; break;
    case CIO_SO_RCVBUF: *o = (struct opt){SOL_SOCKET, SO_RCVBUF}; break;
    case CIO_SO_SNDBUF: *o = (struct opt){SOL_SOCKET, SO_SNDBUF}; break;
    case CIO_SO_REUSEADDR: *o = (struct opt){SOL_SOCKET, SO_REUSEADDR}; break;
    case CIO_SO_REUSEPORT: *o = (struct opt){SOL_SOCKET, SO_REUSEPORT}; break;
    case CIO_SO_LINGER: *o = (struct opt){SOL_SOCKET, SO_LINGER}; break;
    case CIO_SO_BROADCAST: *o = (struct opt){SOL_SOCKET, SO_BROADCAST}; break;
    case CIO_SO_ERROR: *o = (struct opt){SOL_SOCKET, SO_ERROR}; break;
    default: return CIO_EINVAL;
    }
    return 0;
}

int cio_sockopt_set(int fd, int opt, int value)
{
    struct opt o;
    if (opt_of(opt, &o) < 0 || opt == CIO_SO_ERROR)
        return CIO_EINVAL;
    if (opt == CIO_SO_LINGER) {
        if (value < -1)
            return CIO_EINVAL;
        struct linger l = {.l_onoff = value >= 0, .l_linger = value < 0 ? 0 : value};
        return setsockopt(fd, o.level, o.name, &l, sizeof l) < 0 ? -errno : 0;
    }
    if (value < 0)
        return CIO_EINVAL;
    return set_int(fd, o.level, o.name, value);
}

int cio_sockopt_get(int fd, int opt, int *value)
{
    struct opt o;
    if (!value || opt_of(opt, &o) < 0)
        return CIO_EINVAL;
    if (opt == CIO_SO_LINGER) {
        struct linger l;
        socklen_t len = sizeof l;
        if (getsockopt(fd, o.level, o.name, &l, &len) < 0)
            return -errno;
        *value = l.l_onoff ? l.l_linger : -1;
        return 0;
    }
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, o.level, o.name, &v, &len) < 0)
        return -errno;
    *value = opt == CIO_SO_ERROR ? -v : v;
    return 0;
}

/* ---- UDP ------------------------------------------------------------------ */

int cio_udp_bind(const cio_addr *addr, unsigned flags)
{
    return bound_socket(addr, SOCK_DGRAM, flags);
}

struct dgram {
    void *buf;
    size_t n;
    cio_addr *addr;
};

static ssize_t try_sendto(struct cio__call *c, void *ctx)
{
    struct dgram *d = ctx;
    return sendto(c->fd, d->buf, d->n, MSG_NOSIGNAL,
                  d->addr ? &d->addr->u.sa : NULL, d->addr ? d->addr->len : 0);
}

static ssize_t try_recvfrom(struct cio__call *c, void *ctx)
{
    struct dgram *d = ctx;
    if (cio__call_has(c, CIO__FD_STREAM)) {
        /* MSG_TRUNC on a stream discards the bytes it reports. */
        errno = EINVAL;
        return -1;
    }
    d->addr->len = sizeof d->addr->u;
    return recvfrom(c->fd, d->buf, d->n, MSG_TRUNC, &d->addr->u.sa,
                    &d->addr->len);
}

ssize_t cio_sendto(int fd, const void *buf, size_t n, const cio_addr *to,
                   int64_t deadline)
{
    if (to && !valid_addr(to))
        return CIO_EINVAL;
    struct dgram d = {(void *)buf, n, (cio_addr *)to};
    return cio__call_run(fd, CIO__RDY_WRITE, 0, deadline, try_sendto, NULL,
                         &d, NULL);
}

ssize_t cio_recvfrom(int fd, void *buf, size_t n, cio_addr *from,
                     int64_t deadline)
{
    cio_addr tmp;
    struct dgram d = {buf, n, from ? from : &tmp};
    return cio__call_run(fd, CIO__RDY_READ, 0, deadline, try_recvfrom, NULL,
                         &d, NULL);
}
