/* Files from tasks: the cio_file_* calls and the path calls, each one
 * or more operations through the file seam (fs.h), plus the helpers
 * that read a whole file and write one atomically.
 *
 * Large transfers are split into pieces of CIO__FS_CHUNK bytes, one
 * operation each, so that a deadline or a cancel is seen between pieces
 * and one task does not hold a pool thread for a whole large file while
 * others queue behind it. Short transfers are retried until done or
 * reported with the count done; nothing is cut silently. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cio.h"
#include "io/fs.h"

/* Runs `op`; its outcome, or why it did not run. */
static int64_t fs(struct cio__fsop *op, int64_t deadline)
{
    int rc = cio__fs_run(op, deadline);
    return rc < 0 ? rc : op->res;
}

int cio_file_open(const char *path, int flags, int mode, int64_t deadline)
{
    if (!path)
        return CIO_EINVAL;
    struct cio__fsop op = {.op = CIO__FS_OPEN, .path = path, .flags = flags,
                           .mode = (mode_t)mode};
    int64_t r = fs(&op, deadline);
    if (r >= 0 && r > INT_MAX)
        return CIO_EIO;
    /* A descriptor opened for a caller that left (deadline, cancel)
     * cannot happen: a running open is waited for. */
    return (int)r;
}

int cio_file_close(int fd)
{
    if (fd < 0)
        return CIO_EBADF;
    struct cio__fsop op = {.op = CIO__FS_CLOSE, .fd = fd};
    /* No deadline: a close always happens (once queued, it is waited
     * for, since a descriptor left open would leak). */
    int rc = cio__fs_run(&op, CIO_NEVER);
    if (rc == CIO_ECANCELED) {
        /* Cancelled before it ran: close it here, it does not wait. */
        return close(fd) < 0 && errno != EINTR ? -errno : 0;
    }
    return rc < 0 ? rc : (int)op.res;
}

/* Reads up to `n` bytes at `off` (< 0: the file position), piece by
 * piece; stops at end of file or a short read. Returns the count, or an
 * error if nothing was read. */
static ssize_t read_at(int fd, void *buf, size_t n, int64_t off,
                       int64_t deadline)
{
    if (fd < 0)
        return CIO_EBADF;
    if (!buf && n)
        return CIO_EINVAL;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    size_t done = 0;
    do {
        size_t k = n - done < CIO__FS_CHUNK ? n - done : CIO__FS_CHUNK;
        struct cio__fsop op = {.op = CIO__FS_READ, .fd = fd,
                               .buf = (char *)buf + done, .len = k,
                               .off = off < 0 ? -1 : off + (int64_t)done};
        int64_t r = fs(&op, deadline);
        if (r < 0)
            return done ? (ssize_t)done : (ssize_t)r;
        done += (size_t)r;
        if ((size_t)r < k)
            break; /* end of file, or a file that gives less */
    } while (done < n);
    return (ssize_t)done;
}

ssize_t cio_file_read(int fd, void *buf, size_t n, int64_t deadline)
{
    return read_at(fd, buf, n, -1, deadline);
}

ssize_t cio_file_pread(int fd, void *buf, size_t n, int64_t off,
                       int64_t deadline)
{
    if (off < 0)
        return CIO_EINVAL;
    return read_at(fd, buf, n, off, deadline);
}

/* Writes all `n` bytes at `off` (< 0: the file position). */
static ssize_t write_at(int fd, const void *buf, size_t n, int64_t off,
                        size_t *written, int64_t deadline)
{
    if (written)
        *written = 0;
    if (fd < 0)
        return CIO_EBADF;
    if ((!buf && n) || n > SSIZE_MAX)
        return CIO_EINVAL;
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < CIO__FS_CHUNK ? n - done : CIO__FS_CHUNK;
        struct cio__fsop op = {.op = CIO__FS_WRITE, .fd = fd,
                               .buf = (char *)buf + done, .len = k,
                               .off = off < 0 ? -1 : off + (int64_t)done};
        int64_t r = fs(&op, deadline);
        if (r < 0)
            return (ssize_t)r;
        if (r == 0)
            return CIO_EIO; /* no progress and no error: never loop */
        done += (size_t)r;
        if (written)
            *written = done;
    }
    return (ssize_t)n;
}

ssize_t cio_file_write(int fd, const void *buf, size_t n, size_t *written,
                       int64_t deadline)
{
    return write_at(fd, buf, n, -1, written, deadline);
}

ssize_t cio_file_pwrite(int fd, const void *buf, size_t n, int64_t off,
                        size_t *written, int64_t deadline)
{
    if (written)
        *written = 0;
    if (off < 0)
        return CIO_EINVAL;
    return write_at(fd, buf, n, off, written, deadline);
}

ssize_t cio_file_readv(int fd, const struct iovec *iov, int iovcnt,
                       int64_t deadline)
{
    if (fd < 0)
        return CIO_EBADF;
    if (!iov || iovcnt <= 0 || iovcnt > IOV_MAX)
        return CIO_EINVAL;
    struct cio__fsop op = {.op = CIO__FS_READV, .fd = fd, .iov = iov,
                           .iovcnt = iovcnt, .off = -1};
    return (ssize_t)fs(&op, deadline);
}

ssize_t cio_file_writev(int fd, const struct iovec *iov, int iovcnt,
                        size_t *written, int64_t deadline)
{
    if (written)
        *written = 0;
    if (fd < 0)
        return CIO_EBADF;
    if (!iov || iovcnt <= 0 || iovcnt > IOV_MAX)
        return CIO_EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SSIZE_MAX - total)
            return CIO_EINVAL;
        total += iov[i].iov_len;
    }
    /* A short writev goes on from where it stopped, on a copy of the
     * caller's array (which is const). */
    struct iovec v[IOV_MAX];
    memcpy(v, iov, (size_t)iovcnt * sizeof *v);
    int first = 0;
    size_t done = 0;
    while (done < total) {
        struct cio__fsop op = {.op = CIO__FS_WRITEV, .fd = fd,
                               .iov = v + first, .iovcnt = iovcnt - first,
                               .off = -1};
        int64_t r = fs(&op, deadline);
        if (r < 0)
            return (ssize_t)r;
        if (r == 0)
            return CIO_EIO;
        done += (size_t)r;
        if (written)
            *written = done;
        size_t k = (size_t)r;
        while (first < iovcnt && k >= v[first].iov_len) {
            k -= v[first].iov_len;
            first++;
        }
        if (first < iovcnt) {
            v[first].iov_base = (char *)v[first].iov_base + k;
            v[first].iov_len -= k;
        }
    }
    return (ssize_t)total;
}

static int fd_op(int what, int fd, int64_t off, int64_t deadline)
{
    if (fd < 0)
        return CIO_EBADF;
    struct cio__fsop op = {.op = what, .fd = fd, .off = off};
    return (int)fs(&op, deadline);
}

int cio_file_sync(int fd, int64_t deadline)
{
    return fd_op(CIO__FS_FSYNC, fd, 0, deadline);
}

int cio_file_datasync(int fd, int64_t deadline)
{
    return fd_op(CIO__FS_FDATASYNC, fd, 0, deadline);
}

int cio_file_truncate(int fd, int64_t len, int64_t deadline)
{
    if (len < 0)
        return CIO_EINVAL;
    return fd_op(CIO__FS_FTRUNCATE, fd, len, deadline);
}

int cio_file_stat(int fd, struct stat *st, int64_t deadline)
{
    if (fd < 0)
        return CIO_EBADF;
    if (!st)
        return CIO_EINVAL;
    struct cio__fsop op = {.op = CIO__FS_FSTAT, .fd = fd, .st = st};
    return (int)fs(&op, deadline);
}

static int path_op(int what, const char *path, const char *path2, int mode,
                   struct stat *st, int64_t deadline)
{
    if (!path || (what == CIO__FS_RENAME && !path2) ||
        (what == CIO__FS_STAT && !st))
        return CIO_EINVAL;
    struct cio__fsop op = {.op = what, .path = path, .path2 = path2,
                           .mode = (mode_t)mode, .st = st};
    return (int)fs(&op, deadline);
}

int cio_stat(const char *path, struct stat *st, int64_t deadline)
{
    return path_op(CIO__FS_STAT, path, NULL, 0, st, deadline);
}

int cio_unlink(const char *path, int64_t deadline)
{
    return path_op(CIO__FS_UNLINK, path, NULL, 0, NULL, deadline);
}

int cio_rename(const char *from, const char *to, int64_t deadline)
{
    return path_op(CIO__FS_RENAME, from, to, 0, NULL, deadline);
}

int cio_mkdir(const char *path, int mode, int64_t deadline)
{
    return path_op(CIO__FS_MKDIR, path, NULL, mode, NULL, deadline);
}

int cio_rmdir(const char *path, int64_t deadline)
{
    return path_op(CIO__FS_RMDIR, path, NULL, 0, NULL, deadline);
}

int cio_readdir(const char *path, cio_dirent **entries, size_t *n,
                int64_t deadline)
{
    if (entries)
        *entries = NULL;
    if (n)
        *n = 0;
    if (!path || !entries || !n)
        return CIO_EINVAL;
    struct cio__fsop op = {.op = CIO__FS_READDIR, .path = path};
    int64_t r = fs(&op, deadline);
    if (r < 0)
        return (int)r;
    *entries = op.buf;
    *n = op.len;
    return 0;
}

/* ---- whole files ---------------------------------------------------------- */

int cio_read_file(const char *path, void **data, size_t *len, size_t max,
                  int64_t deadline)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!path || !data || !len)
        return CIO_EINVAL;
    /* Most files fit one operation. */
    struct cio__fsop op = {.op = CIO__FS_READFILE, .path = path,
                           .len = max};
    int64_t whole = fs(&op, deadline);
    if (whole >= 0) {
        *data = op.buf;
        *len = (size_t)whole;
        return 0;
    }
    if (!(whole == CIO_EFBIG && op.flags == 1))
        return (int)whole;
    /* Larger than a piece: open, then read piece by piece. */
    int fd = cio_file_open(path, O_RDONLY, 0, deadline);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = cio_file_stat(fd, &st, deadline);
    /* The size is a hint (the file may grow or be a special file): read
     * until end of file, growing the buffer, up to `max`. */
    size_t cap = rc == 0 && S_ISREG(st.st_mode) && st.st_size > 0
                     ? (size_t)st.st_size + 1
                     : 4096;
    if (max && cap > max + 1)
        cap = max + 1;
    char *buf = NULL;
    size_t got = 0;
    while (rc == 0) {
        char *nb = realloc(buf, cap);
        if (!nb) {
            rc = CIO_ENOMEM;
            break;
        }
        buf = nb;
        ssize_t r = cio_file_read(fd, buf + got, cap - got, deadline);
        if (r < 0) {
            rc = (int)r;
            break;
        }
        got += (size_t)r;
        if (max && got > max) {
            rc = CIO_EFBIG; /* larger than the caller allows */
            break;
        }
        if (r == 0)
            break; /* end of file */
        if (got == cap) {
            if (cap > SIZE_MAX / 2) {
                rc = CIO_ENOMEM;
                break;
            }
            cap *= 2;
            if (max && cap > max + 1)
                cap = max + 1;
        }
    }
    int crc = cio_file_close(fd);
    if (rc == 0 && crc < 0)
        rc = crc;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf)
            return CIO_ENOMEM;
    }
    buf[got] = 0; /* room kept: the last read, of 0, had room left */
    *data = buf;
    *len = got;
    return 0;
}

/* The directory part of `path` ("." when it has none), in `out`. */
static int dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(out, cap, ".") < (int)cap ? 0 : CIO_ENAMETOOLONG;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return CIO_ENAMETOOLONG;
    memcpy(out, path, n);
    out[n] = 0;
    return 0;
}

int cio_write_file_atomic(const char *path, const void *data, size_t len,
                          int mode, int64_t deadline)
{
    if (!path || (!data && len))
        return CIO_EINVAL;
    char tmp[PATH_MAX], dir[PATH_MAX];
    int rc = dir_of(path, dir, sizeof dir);
    if (rc < 0)
        return rc;
    /* Beside the target, so the rename stays within one file system; a
     * name of its own per call, so two writers never share it. */
    static _Atomic unsigned long seq;
    unsigned long k = atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed);
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d-%lu", path, (int)getpid(), k) >=
        (int)sizeof tmp)
        return CIO_ENAMETOOLONG;
    int fd = cio_file_open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode, deadline);
    if (fd < 0)
        return fd;
    ssize_t w = cio_file_write(fd, data, len, NULL, deadline);
    rc = w < 0 ? (int)w : 0;
    if (rc == 0)
        rc = cio_file_sync(fd, deadline); /* the data, before the name */
    int crc = cio_file_close(fd);
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = cio_rename(tmp, path, deadline);
    if (rc < 0) {
        /* The target is as it was; the temporary file goes, here on the
         * worker (a cancel may be what stopped us, and would stop a pool
         * request too). */
        unlink(tmp);
        return rc;
    }
    /* The rename itself is durable once the directory is synced. */
    int dfd = cio_file_open(dir, O_RDONLY | O_DIRECTORY, 0, deadline);
    if (dfd < 0)
        return dfd;
    rc = cio_file_sync(dfd, deadline);
    crc = cio_file_close(dfd);
    return rc < 0 ? rc : crc;
}
