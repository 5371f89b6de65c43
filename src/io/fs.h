/* The seam every file call goes through (fs.c): one operation on the
 * file system, described whole, run where file I/O can run without
 * holding a worker: an io_uring request where the backend takes it and
 * the operation allows (fs.c says which), else a job on the blocking
 * pool. file.c and cio.h are the same either way. */
#ifndef CIO_IO_FS_H
#define CIO_IO_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

enum {
    CIO__FS_OPEN,     /* path, flags, mode -> descriptor */
    CIO__FS_CLOSE,    /* fd */
    CIO__FS_READ,     /* fd, buf, len (off < 0: at the file position) */
    CIO__FS_WRITE,    /* fd, buf, len (off < 0: at the file position) */
    CIO__FS_READV,    /* fd, iov, iovcnt (off as above) */
    CIO__FS_WRITEV,   /* fd, iov, iovcnt (off as above) */
    CIO__FS_FSYNC,    /* fd */
    CIO__FS_FDATASYNC,/* fd */
    CIO__FS_FTRUNCATE,/* fd, off */
    CIO__FS_FSTAT,    /* fd, st */
    CIO__FS_STAT,     /* path, st */
    CIO__FS_UNLINK,   /* path */
    CIO__FS_RENAME,   /* path -> path2 */
    CIO__FS_MKDIR,    /* path, mode */
    CIO__FS_RMDIR,    /* path */
    CIO__FS_READDIR,  /* path -> buf (malloc'd entries), len (count) */
    CIO__FS_READFILE, /* path, len (the most bytes allowed, 0: any) ->
                         buf (malloc'd, NUL after), res (its length); a
                         regular file larger than CIO__FS_CHUNK is not
                         read: res is -EFBIG and flags 1 (read it in
                         pieces instead) */
};

/* Bytes one operation moves at most: larger transfers are cut into
 * pieces, so a deadline or a cancel is seen between them. */
#define CIO__FS_CHUNK ((size_t)1 << 20)

struct cio__fsop {
    int op;
    int fd;
    const char *path, *path2;
    int flags;
    mode_t mode;
    void *buf;
    size_t len;
    int64_t off;
    const struct iovec *iov;
    int iovcnt;
    struct stat *st;
    int64_t res; /* >= 0, or a negative errno */
};

/* Runs `op` for the calling task within `deadline`. Returns 0 with the
 * outcome in op->res, or CIO_ETIMEDOUT / CIO_ECANCELED when the deadline
 * passed or a cancel came while the operation was still queued (it was
 * taken back and did not happen), CIO_EAGAIN (no thread to run it),
 * CIO_EPERM (not a task). A running operation is waited for: what the
 * kernel started is finished and reported. */
int cio__fs_run(struct cio__fsop *op, int64_t deadline);

#endif /* CIO_IO_FS_H */
