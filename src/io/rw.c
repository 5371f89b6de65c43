/* Reading, writing and waiting on any descriptor from a task.
 *
 * Each call tries the system call while the descriptor's readiness word
 * says it may succeed, and waits for an edge once the kernel says EAGAIN.
 * On a stream socket a read that returned fewer bytes than asked drained
 * the socket (and a short write filled its buffer), so the readiness bit is
 * cleared then too and the next call waits for the edge without first
 * paying for a system call that would say EAGAIN.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/io.h"

struct vec {
    const struct iovec *iov;
    int cnt;
    struct msghdr msg; /* readv or writev as a request: lives as long as
                          the call */
};

/* Regular files: the pool's file calls. A write there writes everything
 * or stops at an error; a count, as cio_write() reports, when some bytes
 * went out before the error (the next call reports it). */
static ssize_t file_done(ssize_t r, size_t done)
{
    return r < 0 && done > 0 ? (ssize_t)done : r;
}

static ssize_t file_read(int fd, void *ctx, int64_t deadline)
{
    struct iovec *b = ctx;
    return cio_file_read(fd, b->iov_base, b->iov_len, deadline);
}

static ssize_t file_readv(int fd, void *ctx, int64_t deadline)
{
    struct vec *v = ctx;
    return cio_file_readv(fd, v->iov, v->cnt, deadline);
}

static ssize_t file_write(int fd, void *ctx, int64_t deadline)
{
    struct iovec *b = ctx;
    size_t done = 0;
    return file_done(
        cio_file_write(fd, b->iov_base, b->iov_len, &done, deadline), done);
}

static ssize_t file_writev(int fd, void *ctx, int64_t deadline)
{
    struct vec *v = ctx;
    size_t done = 0;
    return file_done(cio_file_writev(fd, v->iov, v->cnt, &done, deadline),
                     done);
}

/* The vectors' total length, or SIZE_MAX when it exceeds SSIZE_MAX (the
 * kernel refuses such a call with EINVAL; a sum that wrapped to a small
 * value must not pass for a short or empty one). */
static size_t vec_len(const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - n)
            return SIZE_MAX;
        n += iov[i].iov_len;
    }
    return n;
}

/* Zero bytes ask nothing of the descriptor: such a call returns at once,
 * whatever cio believes of its readiness, once its arguments are checked. */
static ssize_t zero_length(int fd)
{
    if (!cio__task_current())
        return CIO_EPERM;
    return fd < 0 ? CIO_EBADF : 0;
}

static ssize_t try_read(struct cio__call *c, void *ctx)
{
    struct iovec *b = ctx;
    return read(c->fd, b->iov_base, b->iov_len);
}

static ssize_t try_readv(struct cio__call *c, void *ctx)
{
    struct vec *v = ctx;
    return readv(c->fd, v->iov, v->cnt);
}

/* Writes use send() on sockets so a closed peer gives EPIPE instead of a
 * SIGPIPE that would stop the process. */
static ssize_t try_write(struct cio__call *c, void *ctx)
{
    struct iovec *b = ctx;
    if (cio__call_has(c, CIO__FD_SOCKET))
        return send(c->fd, b->iov_base, b->iov_len, MSG_NOSIGNAL);
    return write(c->fd, b->iov_base, b->iov_len);
}

static ssize_t try_writev(struct cio__call *c, void *ctx)
{
    struct vec *v = ctx;
    if (cio__call_has(c, CIO__FD_SOCKET)) {
        struct msghdr m = {.msg_iov = (struct iovec *)v->iov,
                           .msg_iovlen = (size_t)v->cnt};
        return sendmsg(c->fd, &m, MSG_NOSIGNAL);
    }
    return writev(c->fd, v->iov, v->cnt);
}

/* The same calls as backend requests (sockets only: io.h). */
static void prep_read(struct cio__call *c, void *ctx, struct cio__req *q)
{
    struct iovec *b = ctx;
    *q = (struct cio__req){.op = CIO__REQ_RECV,
                           .fd = c->fd,
                           .addr = b->iov_base,
                           .len = b->iov_len > UINT32_MAX
                                      ? UINT32_MAX
                                      : (uint32_t)b->iov_len};
}

static void prep_readv(struct cio__call *c, void *ctx, struct cio__req *q)
{
    struct vec *v = ctx;
    /* recvmsg rather than readv: only the socket forms wait for
     * readiness in the kernel before their first try (poll_first). */
    v->msg = (struct msghdr){.msg_iov = (struct iovec *)v->iov,
                             .msg_iovlen = (size_t)v->cnt};
    *q = (struct cio__req){.op = CIO__REQ_RECVMSG, .fd = c->fd,
                           .addr = &v->msg};
}

static void prep_write(struct cio__call *c, void *ctx, struct cio__req *q)
{
    struct iovec *b = ctx;
    *q = (struct cio__req){.op = CIO__REQ_SEND,
                           .fd = c->fd,
                           .addr = b->iov_base,
                           .len = b->iov_len > UINT32_MAX
                                      ? UINT32_MAX
                                      : (uint32_t)b->iov_len,
                           .flags = MSG_NOSIGNAL};
}

static void prep_writev(struct cio__call *c, void *ctx, struct cio__req *q)
{
    struct vec *v = ctx;
    v->msg = (struct msghdr){.msg_iov = (struct iovec *)v->iov,
                             .msg_iovlen = (size_t)v->cnt};
    *q = (struct cio__req){.op = CIO__REQ_SENDMSG, .fd = c->fd,
                           .addr = &v->msg, .flags = MSG_NOSIGNAL};
}

/* A read: on a regular file the pool's, on a TCP socket received ahead
 * where that can be (io.h), else tried and waited for as any call. */
static ssize_t read_run(int fd, const struct iovec *iov, int cnt, size_t n,
                        int64_t deadline, cio__attempt *attempt,
                        cio__prep *prep, void *ctx, cio__file_op *file)
{
    struct cio__call c;
    ssize_t r;
    if (cio__call_open(&c, fd, deadline, file, ctx, &r))
        return r;
    if (cio__call_rx_ok(&c)) {
        r = cio__call_rx(&c, iov, cnt, n, deadline, attempt, ctx);
        if (r != CIO__NO_REQ)
            return r;
        /* No receive now (no buffer free, a stop under way, a task that
         * may make none): wait for readiness and read into the caller's
         * buffer. Not a request into it: a wait for readiness leaves the
         * task's frames alone, so a compact task can be trimmed while
         * it lasts (a connection going idle just when the ring ran dry
         * would otherwise hold its stack for its whole idle time). */
        prep = NULL;
    }
    return cio__call_go(&c, CIO__RDY_READ, n, deadline, attempt, prep, ctx);
}

ssize_t cio_read(int fd, void *buf, size_t n, int64_t deadline)
{
    if (n == 0)
        return zero_length(fd);
    /* One vector, also the one-buffer calls' context: the frame of a
     * task waiting here is copied whole when it is trimmed (compact). */
    struct iovec one = {buf, n};
    return read_run(fd, &one, 1, n, deadline, try_read, prep_read, &one,
                    file_read);
}

ssize_t cio_readv(int fd, const struct iovec *iov, int iovcnt,
                  int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
        return CIO_EINVAL;
    size_t len = vec_len(iov, iovcnt);
    if (len == SIZE_MAX)
        return CIO_EINVAL;
    if (len == 0)
        return zero_length(fd);
    struct vec v = {.iov = iov, .cnt = iovcnt};
    return read_run(fd, iov, iovcnt, len, deadline, try_readv, prep_readv,
                    &v, file_readv);
}

ssize_t cio_write(int fd, const void *buf, size_t n, int64_t deadline)
{
    if (n == 0)
        return zero_length(fd);
    struct iovec b = {(void *)buf, n};
    return cio__call_run(fd, CIO__RDY_WRITE, n, deadline, try_write,
                         prep_write, &b, file_write);
}

ssize_t cio_writev(int fd, const struct iovec *iov, int iovcnt,
                   int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
        return CIO_EINVAL;
    size_t len = vec_len(iov, iovcnt);
    if (len == SIZE_MAX)
        return CIO_EINVAL;
    if (len == 0)
        return zero_length(fd);
    struct vec v = {.iov = iov, .cnt = iovcnt};
    return cio__call_run(fd, CIO__RDY_WRITE, len, deadline, try_writev,
                         prep_writev, &v, file_writev);
}

ssize_t cio_write_all(int fd, const void *buf, size_t n, size_t *written,
                      int64_t deadline)
{
    size_t done = 0;
    if (written)
        *written = 0;
    if (n > SSIZE_MAX)
        return CIO_EINVAL;
    if (n == 0)
        return zero_length(fd);
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    if (cio__call_has(&c, CIO__FD_FILE)) {
        /* A regular file: all of it on the pool, the descriptor held. */
        ssize_t r = cio_file_write(fd, buf, n, written, deadline);
        cio__call_end(&c, false);
        return r;
    }
    /* One call for the whole buffer: the descriptor is held throughout
     * and the budget is spent once. */
    bool direct = !cio__call_by_req(&c); /* sends: as in cio__call_run */
    while (done < n) {
        struct iovec b = {(char *)buf + done, n - done};
        if (direct && cio__call_ready(&c, CIO__RDY_WRITE)) {
            ssize_t r = try_write(&c, &b);
            if (r >= 0) {
                done += (size_t)r;
                if (written)
                    *written = done;
                if (done < n && cio__call_has(&c, CIO__FD_STREAM))
                    cio__call_drained(&c, CIO__RDY_WRITE);
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                cio__call_end(&c, false);
                return -errno;
            }
            cio__call_not_ready(&c, CIO__RDY_WRITE);
        }
        ssize_t r = cio__call_req(&c, &b, prep_write, deadline, direct);
        if (r >= 0) {
            done += (size_t)r;
            if (written)
                *written = done;
            continue;
        }
        if (r == CIO__NO_REQ) {
            direct = true; /* no request here: as on epoll */
            r = cio__call_wait(&c, CIO__RDY_WRITE, deadline);
        }
        if (r < 0 && r != -EAGAIN && r != -EINTR) {
            cio__call_end(&c, false);
            return r;
        }
    }
    cio__call_end(&c, true);
    return (ssize_t)n;
}

/* The descriptor's state now, from the kernel: what a wait whose deadline
 * has passed reports instead of readiness bits that may be stale (the
 * edge that would set them waits for this worker's next poll). Returns
 * the ready subset of `events`, CIO_ETIMEDOUT when none is, or an error. */
static int poll_now(int fd, int events)
{
    struct pollfd p = {.fd = fd};
    if (events & CIO_READABLE)
        p.events |= POLLIN;
    if (events & CIO_WRITABLE)
        p.events |= POLLOUT;
    int n;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -errno;
    if (p.revents & POLLNVAL)
        return CIO_EBADF;
    int got = 0;
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
        got |= CIO_READABLE;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR))
        got |= CIO_WRITABLE;
    got &= events;
    return got ? got : CIO_ETIMEDOUT;
}

int cio_wait_fd(int fd, int events, int64_t deadline)
{
    if (!cio__task_current())
        return CIO_EPERM;
    if (!(events & (CIO_READABLE | CIO_WRITABLE)) ||
        (events & ~(CIO_READABLE | CIO_WRITABLE)))
        return CIO_EINVAL;
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    /* Nothing is known of a descriptor not yet registered, and registering
     * reports its current state as an edge: wait for that rather than
     * return at once. */
    rc = cio__fd_wait(c.self, c.st, fd, events, deadline, true);
    if (rc == CIO_ETIMEDOUT)
        rc = poll_now(fd, events);
    /* Bytes cio received ahead (core/rx.c) are readable, though the
     * socket may hold none. */
    if (rc == CIO_ETIMEDOUT && (events & CIO_READABLE) &&
        cio__call_has(&c, CIO__FD_TCP) && cio__rx_pending(c.st))
        rc = CIO_READABLE;
    if (rc > 0) {
        /* Consume the edge: the next wait sleeps until a new one, which
         * is what a caller that just met EAGAIN needs. */
        cio__fd_clear(c.st, cio__fd_readiness(c.st), (uint64_t)rc);
    }
    cio__call_end(&c, false);
    return rc;
}
