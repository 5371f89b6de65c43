/* Reading and writing any descriptor from a task.
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/io.h"

static bool stream(const struct cio__call *c)
{
    return atomic_load_explicit((_Atomic uint32_t *)&c->st->flags,
                                memory_order_relaxed) &
           CIO__FD_STREAM;
}

static bool is_socket(const struct cio__call *c)
{
    return atomic_load_explicit((_Atomic uint32_t *)&c->st->flags,
                                memory_order_relaxed) &
           CIO__FD_SOCKET;
}

ssize_t cio_read(int fd, void *buf, size_t n, int64_t deadline)
{
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    for (;;) {
        if (cio__call_ready(&c, CIO__RDY_READ)) {
            ssize_t r = read(fd, buf, n);
            if (r >= 0) {
                if (r > 0 && (size_t)r < n && stream(&c))
                    cio__call_not_ready(&c, CIO__RDY_READ);
                cio__call_end(&c, true);
                return r;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                rc = -errno;
                break;
            }
            cio__call_not_ready(&c, CIO__RDY_READ);
        }
        rc = cio__call_wait(&c, CIO__RDY_READ, deadline);
        if (rc < 0)
            break;
    }
    cio__call_end(&c, false);
    return rc;
}

ssize_t cio_readv(int fd, const struct iovec *iov, int iovcnt,
                  int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
        return CIO_EINVAL;
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    size_t want = 0;
    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    for (;;) {
        if (cio__call_ready(&c, CIO__RDY_READ)) {
            ssize_t r = readv(fd, iov, iovcnt);
            if (r >= 0) {
                if (r > 0 && (size_t)r < want && stream(&c))
                    cio__call_not_ready(&c, CIO__RDY_READ);
                cio__call_end(&c, true);
                return r;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                rc = -errno;
                break;
            }
            cio__call_not_ready(&c, CIO__RDY_READ);
        }
        rc = cio__call_wait(&c, CIO__RDY_READ, deadline);
        if (rc < 0)
            break;
    }
    cio__call_end(&c, false);
    return rc;
}

/* One write attempt: send() on sockets so a closed peer gives EPIPE
 * instead of a SIGPIPE that would stop the process. */
static ssize_t write_once(const struct cio__call *c, const void *buf,
                          size_t n)
{
    if (is_socket(c))
        return send(c->fd, buf, n, MSG_NOSIGNAL);
    return write(c->fd, buf, n);
}

static ssize_t writev_once(const struct cio__call *c,
                           const struct iovec *iov, int iovcnt)
{
    if (is_socket(c)) {
        struct msghdr m = {.msg_iov = (struct iovec *)iov,
                           .msg_iovlen = (size_t)iovcnt};
        return sendmsg(c->fd, &m, MSG_NOSIGNAL);
    }
    return writev(c->fd, iov, iovcnt);
}

ssize_t cio_write(int fd, const void *buf, size_t n, int64_t deadline)
{
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    for (;;) {
        if (cio__call_ready(&c, CIO__RDY_WRITE)) {
            ssize_t r = write_once(&c, buf, n);
            if (r >= 0) {
                if ((size_t)r < n && stream(&c))
                    cio__call_not_ready(&c, CIO__RDY_WRITE);
                cio__call_end(&c, true);
                return r;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                rc = -errno;
                break;
            }
            cio__call_not_ready(&c, CIO__RDY_WRITE);
        }
        rc = cio__call_wait(&c, CIO__RDY_WRITE, deadline);
        if (rc < 0)
            break;
    }
    cio__call_end(&c, false);
    return rc;
}

ssize_t cio_writev(int fd, const struct iovec *iov, int iovcnt,
                   int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
        return CIO_EINVAL;
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    size_t want = 0;
    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    for (;;) {
        if (cio__call_ready(&c, CIO__RDY_WRITE)) {
            ssize_t r = writev_once(&c, iov, iovcnt);
            if (r >= 0) {
                if ((size_t)r < want && stream(&c))
                    cio__call_not_ready(&c, CIO__RDY_WRITE);
                cio__call_end(&c, true);
                return r;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                rc = -errno;
                break;
            }
            cio__call_not_ready(&c, CIO__RDY_WRITE);
        }
        rc = cio__call_wait(&c, CIO__RDY_WRITE, deadline);
        if (rc < 0)
            break;
    }
    cio__call_end(&c, false);
    return rc;
}

ssize_t cio_write_all(int fd, const void *buf, size_t n, size_t *written,
                      int64_t deadline)
{
    size_t done = 0;
    if (written)
        *written = 0;
    if (n > SSIZE_MAX)
        return CIO_EINVAL;
    struct cio__call c;
    int rc = cio__call_begin(&c, fd);
    if (rc < 0)
        return rc;
    while (done < n) {
        if (cio__call_ready(&c, CIO__RDY_WRITE)) {
            ssize_t r = write_once(&c, (const char *)buf + done, n - done);
            if (r >= 0) {
                done += (size_t)r;
                if (written)
                    *written = done;
                if (done < n && stream(&c))
                    cio__call_not_ready(&c, CIO__RDY_WRITE);
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
        rc = cio__call_wait(&c, CIO__RDY_WRITE, deadline);
        if (rc < 0) {
            cio__call_end(&c, false);
            return rc;
        }
    }
    cio__call_end(&c, true);
    return (ssize_t)n;
}
