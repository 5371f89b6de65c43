/* File operations; see fs.h.
 *
 * On the io_uring backend most operations are requests the kernel runs
 * itself (a read from the page cache at once, one that must wait for the
 * disk in its own workers) while the task is parked: no trip to another
 * thread and back. Elsewhere, and for the few operations io_uring lacks
 * here, regular files cannot wait on epoll (the kernel calls them always
 * ready), so each operation runs on a pool thread while the task is
 * parked and its worker runs other tasks, as libuv's uv_fs_* do. One
 * operation is one job: the system call, retried on EINTR, its result
 * kept as a negative errno. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cio.h"
#include "backend/backend.h"
#include "core/fd.h"
#include "core/pool.h"
#include "core/runtime.h"
#include "core/task.h"
#include "io/fs.h"

static int64_t neg(void)
{
    return -(int64_t)errno;
}

/* All entries of directory `path` but "." and "..", in one block: the
 * array, then the names. */
static int64_t read_dir(struct cio__fsop *op)
{
    DIR *d = opendir(op->path);
    if (!d)
        return neg();
    size_t n = 0, cap = 16, bytes = 0, bcap = 256;
    cio_dirent *ents = malloc(cap * sizeof *ents);
    char *names = malloc(bcap);
    int64_t rc = 0;
    if (!ents || !names) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                rc = neg();
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t len = strlen(e->d_name) + 1;
        if (n == cap) {
            cio_dirent *ne = realloc(ents, 2 * cap * sizeof *ents);
            if (!ne) {
                rc = -ENOMEM;
                break;
            }
            ents = ne;
            cap *= 2;
        }
        if (bytes + len > bcap) {
            while (bytes + len > bcap)
                bcap *= 2;
            char *nn = realloc(names, bcap);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
        }
        memcpy(names + bytes, e->d_name, len);
        /* The name's offset for now: the block moves once more. */
        ents[n].name = (const char *)(uintptr_t)bytes;
        ents[n].type = e->d_type;
        bytes += len;
        n++;
    }
    if (rc == 0) {
        cio_dirent *block = malloc(n * sizeof *block + bytes + 1);
        if (!block) {
            rc = -ENOMEM;
        } else {
            char *at = (char *)(block + n);
            memcpy(at, names, bytes);
            for (size_t i = 0; i < n; i++) {
                block[i].name = at + (uintptr_t)ents[i].name;
                block[i].type = ents[i].type;
            }
            op->buf = block;
            op->len = n;
        }
    }
out:
    free(ents);
    free(names);
    closedir(d);
    return rc;
}

/* A whole file in one operation, when it is small: one trip to the pool
 * instead of one each for open, stat, read, the read that finds the end,
 * and close. */
static int64_t read_file(struct cio__fsop *op)
{
    int fd;
    do
        fd = open(op->path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return neg();
    struct stat st;
    size_t cap = 4096, max = op->len;
    int64_t rc = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > CIO__FS_CHUNK) {
            op->flags = 1; /* in pieces, by the caller */
            close(fd);
            return -EFBIG;
        }
        cap = (size_t)st.st_size + 1;
    }
    if (max && cap > max + 1)
        cap = max + 1;
    char *buf = malloc(cap);
    size_t got = 0;
    while (buf) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = neg();
            break;
        }
        got += (size_t)r;
        if (max && got > max) {
            rc = -EFBIG;
            break;
        }
        if (r == 0)
            break;
        if (got == cap) {
            /* It grew, or it is not a regular file: more room, until
             * a piece's worth, then the caller goes on in pieces. */
            if (cap > CIO__FS_CHUNK) {
                op->flags = 1;
                rc = -EFBIG;
                break;
            }
            size_t ncap = cap * 2;
            if (max && ncap > max + 1)
                ncap = max + 1;
            char *nb = realloc(buf, ncap);
            if (!nb)
                break;
            buf = nb;
            cap = ncap;
        }
    }
    if (!buf && rc == 0)
        rc = -ENOMEM;
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[got] = 0; /* room kept: the last read, of 0, had room left */
    op->buf = buf;
    return (int64_t)got;
}

static int64_t run_op(struct cio__fsop *op)
{
    int64_t r;
    do {
        switch (op->op) {
        case CIO__FS_OPEN:
            r = open(op->path, op->flags | O_CLOEXEC, op->mode);
            break;
        case CIO__FS_CLOSE:
            /* Not retried: after EINTR the descriptor is gone on Linux. */
            r = close(op->fd);
            return r < 0 && errno != EINTR ? neg() : 0;
        case CIO__FS_READ:
            r = op->off < 0 ? read(op->fd, op->buf, op->len)
                            : pread(op->fd, op->buf, op->len, (off_t)op->off);
            break;
        case CIO__FS_WRITE:
            r = op->off < 0 ? write(op->fd, op->buf, op->len)
                            : pwrite(op->fd, op->buf, op->len, (off_t)op->off);
            break;
        case CIO__FS_READV:
            r = op->off < 0 ? readv(op->fd, op->iov, op->iovcnt)
                            : preadv(op->fd, op->iov, op->iovcnt,
                                     (off_t)op->off);
            break;
        case CIO__FS_WRITEV:
            r = op->off < 0 ? writev(op->fd, op->iov, op->iovcnt)
                            : pwritev(op->fd, op->iov, op->iovcnt,
                                      (off_t)op->off);
            break;
        case CIO__FS_FSYNC:
            r = fsync(op->fd);
            break;
        case CIO__FS_FDATASYNC:
            r = fdatasync(op->fd);
            break;
        case CIO__FS_FTRUNCATE:
            r = ftruncate(op->fd, (off_t)op->off);
            break;
        case CIO__FS_FSTAT:
            r = fstat(op->fd, op->st);
            break;
        case CIO__FS_STAT:
            r = stat(op->path, op->st);
            break;
        case CIO__FS_UNLINK:
            r = unlink(op->path);
            break;
        case CIO__FS_RENAME:
            r = rename(op->path, op->path2);
            break;
        case CIO__FS_MKDIR:
            r = mkdir(op->path, op->mode);
            break;
        case CIO__FS_RMDIR:
            r = rmdir(op->path);
            break;
        case CIO__FS_READDIR:
            return read_dir(op);
        case CIO__FS_READFILE:
            return read_file(op);
        default:
            return -EINVAL;
        }
    } while (r < 0 && errno == EINTR);
    return r < 0 ? neg() : r;
}

/* ---- the same operations as io_uring requests --------------------------- */

static void stat_from(struct stat *st, const struct statx *x)
{
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim.tv_sec = x->stx_atime.tv_sec;
    st->st_atim.tv_nsec = x->stx_atime.tv_nsec;
    st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
    st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
    st->st_ctim.tv_sec = x->stx_ctime.tv_sec;
    st->st_ctim.tv_nsec = x->stx_ctime.tv_nsec;
}

/* `op` as a request into `q`; false when the backend has no such
 * request (the pool runs it). */
static bool as_req(struct cio__fsop *op, struct cio__req *q, struct statx *x)
{
    /* Transfers are at most CIO__FS_CHUNK bytes (file.c cuts them). */
    uint32_t len = op->len > UINT32_MAX ? UINT32_MAX : (uint32_t)op->len;
    bool transfer = op->op == CIO__FS_READ || op->op == CIO__FS_WRITE ||
                    op->op == CIO__FS_READV || op->op == CIO__FS_WRITEV;
    /* A transfer at the file position: the kernel's request reads the
     * position when it starts and stores it when it ends, without the
     * lock read(2) and write(2) take, so two at once on one description
     * (two tasks writing to a redirected stdout) would use the same
     * offset. The pool's read(2) and write(2) keep them apart. */
    if (transfer && op->off < 0)
        return false;
    *q = (struct cio__req){.fd = op->fd, .off = op->off};
    switch (op->op) {
    case CIO__FS_OPEN:
        *q = (struct cio__req){.op = CIO__REQ_OPENAT, .fd = AT_FDCWD,
                               .addr = (void *)op->path,
                               .flags = (uint32_t)(op->flags | O_CLOEXEC),
                               .len = op->mode};
        return true;
    case CIO__FS_CLOSE:
        q->op = CIO__REQ_CLOSE;
        return true;
    case CIO__FS_READ:
        q->op = CIO__REQ_READ;
        q->addr = op->buf;
        q->len = len;
        return true;
    case CIO__FS_WRITE:
        q->op = CIO__REQ_WRITE;
        q->addr = op->buf;
        q->len = len;
        return true;
    case CIO__FS_READV:
    case CIO__FS_WRITEV:
        q->op = op->op == CIO__FS_READV ? CIO__REQ_READV : CIO__REQ_WRITEV;
        q->addr = (void *)op->iov;
        q->len = (uint32_t)op->iovcnt;
        return true;
    case CIO__FS_FSYNC:
    case CIO__FS_FDATASYNC:
        q->op = CIO__REQ_FSYNC;
        q->flags = op->op == CIO__FS_FDATASYNC;
        q->off = 0;
        return true;
    case CIO__FS_FSTAT:
    case CIO__FS_STAT:
        *q = (struct cio__req){.op = CIO__REQ_STATX, .addr2 = x,
                               .len = STATX_BASIC_STATS};
        if (op->op == CIO__FS_FSTAT) {
            q->fd = op->fd;
            q->addr = (void *)"";
            q->flags = AT_EMPTY_PATH;
        } else {
            q->fd = AT_FDCWD;
            q->addr = (void *)op->path;
        }
        return true;
    case CIO__FS_UNLINK:
    case CIO__FS_RMDIR:
        *q = (struct cio__req){.op = CIO__REQ_UNLINKAT, .fd = AT_FDCWD,
                               .addr = (void *)op->path,
                               .flags = op->op == CIO__FS_RMDIR
                                            ? AT_REMOVEDIR
                                            : 0};
        return true;
    case CIO__FS_RENAME:
        *q = (struct cio__req){.op = CIO__REQ_RENAMEAT, .fd = AT_FDCWD,
                               .addr = (void *)op->path,
                               .addr2 = (void *)op->path2};
        return true;
    case CIO__FS_MKDIR:
        *q = (struct cio__req){.op = CIO__REQ_MKDIRAT, .fd = AT_FDCWD,
                               .addr = (void *)op->path, .len = op->mode};
        return true;
    default:
        /* ftruncate (a request only since Linux 6.9), and the
         * directory listing and whole-file read, which are several
         * system calls in one trip to the pool. */
        return false;
    }
}

/* Runs `op` as a request: 0 with op->res, a wait error when it did not
 * happen, or CIO__NO_REQ (not a request here: use the pool). */
static int run_req(struct cio__task *self, struct cio__fsop *op,
                   int64_t deadline)
{
    struct cio__req q;
    struct statx x;
    /* A deadline already passed: the pool's path refuses it without
     * running it, as the caller expects of an operation not yet started. */
    if (!cio__fd_req_ok(self) || !as_req(op, &q, &x) ||
        cio__os_passed(deadline))
        return CIO__NO_REQ;
    int32_t res;
    int ended;
    int rc = cio__req_run(self, NULL, op->fd, &q, deadline, &res, &ended);
    if (rc < 0)
        return rc;
    if (res == -EINTR && op->op == CIO__FS_CLOSE)
        res = 0; /* Linux frees the number even then: it is closed */
    else if (res == -EINTR && ended)
        return ended; /* interrupted by the cancel: nothing was moved */
    op->res = res;
    if (res >= 0 && (op->op == CIO__FS_FSTAT || op->op == CIO__FS_STAT)) {
        stat_from(op->st, &x);
        op->res = 0;
    }
    return 0;
}

static void *fs_job(void *arg)
{
    struct cio__fsop *op = arg;
    op->res = run_op(op);
    return NULL;
}

int cio__fs_run(struct cio__fsop *op, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (cio__cancel_pending(self))
        return CIO_ECANCELED;
    int rc = run_req(self, op, deadline);
    if (rc != CIO__NO_REQ)
        return rc;
    /* The job lives on this task's stack: a running one is waited for
     * (not abandoned), so it never outlives the frame. */
    struct cio__job j = {.fn = fs_job, .arg = op};
    op->res = CIO_EIO; /* replaced by the job when it runs */
    return cio__pool_run(self, &j, false, deadline);
}
