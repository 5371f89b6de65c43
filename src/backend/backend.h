/* The reactor contract: how the scheduler asks the kernel which descriptors
 * became ready, and how it sleeps until something happens.
 *
 * A backend is a small table of operations over an opaque instance; the
 * runtime opens one instance per worker. Descriptors are added once and
 * report edges (a change to readable or writable), not levels, so waiting
 * again costs nothing.
 *
 * A backend may also take requests (io_uring): a read, a write or another
 * operation the kernel performs and completes later. Requests are made,
 * cancelled and completed on the instance's owner thread only; each
 * completes exactly once, as a CIO__EV_DONE event carrying its result,
 * cancelled or not. A backend without them leaves `submit` NULL.
 *
 * Layering: a backend uses os/ only. It knows nothing of tasks: it hands
 * back (token, events) pairs and the caller decides whom to wake.
 */
#ifndef CIO_BACKEND_H
#define CIO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event bits a backend reports. */
enum {
    CIO__EV_READ = 1,  /* readable, end of stream, or a pending connection */
    CIO__EV_WRITE = 2, /* writable, or a connect finished */
    CIO__EV_ERR = 4,   /* error or hang-up: both directions are done */
    CIO__EV_RDHUP = 8, /* the peer closed its side: reads see end of file */
    CIO__EV_DONE = 16, /* a request completed: `res` is its result */
    CIO__EV_MORE = 32, /* with DONE: the request goes on (multishot) */
    CIO__EV_BUF = 64,  /* with DONE: `buf` names the provided buffer the
                          result's bytes are in */
};

struct cio__event {
    uint64_t token;  /* what add() or submit() was given */
    uint32_t events; /* CIO__EV_* */
    int32_t res;     /* CIO__EV_DONE: bytes or a negative errno */
    uint32_t buf;    /* CIO__EV_BUF: the buffer's id */
};

/* Request operations (struct cio__req.op): the system call each does.
 * `off` < 0 means the file position (read, write, readv, writev). */
enum {
    CIO__REQ_RECV,     /* recv(fd, addr, len, flags) */
    CIO__REQ_SEND,     /* send(fd, addr, len, flags) */
    CIO__REQ_READV,    /* preadv(fd, addr as iovec, len vectors, off) */
    CIO__REQ_SENDMSG,  /* sendmsg(fd, addr as msghdr, flags) */
    CIO__REQ_RECVMSG,  /* recvmsg(fd, addr as msghdr, flags) */
    CIO__REQ_READ,     /* pread(fd, addr, len, off) */
    CIO__REQ_WRITE,    /* pwrite(fd, addr, len, off) */
    CIO__REQ_WRITEV,   /* pwritev(fd, addr as iovec, len vectors, off) */
    CIO__REQ_FSYNC,    /* fsync(fd); flags 1: fdatasync */
    CIO__REQ_OPENAT,   /* openat(fd, addr as path, flags, len as mode) */
    CIO__REQ_CLOSE,    /* close(fd) */
    CIO__REQ_STATX,    /* statx(fd, addr as path, flags, len as mask,
                          addr2 as struct statx) */
    CIO__REQ_UNLINKAT, /* unlinkat(fd, addr as path, flags) */
    CIO__REQ_RENAMEAT, /* renameat(fd, addr, fd, addr2) */
    CIO__REQ_MKDIRAT,  /* mkdirat(fd, addr as path, len as mode) */
    CIO__REQ_ACCEPT,   /* accept4(fd, addr, addr2 as socklen_t *, flags) */
    CIO__REQ_CONNECT,  /* connect(fd, addr, len as its length) */
    CIO__REQ_RECV_MULTI, /* recv(fd) again and again, each time into one
                          of the instance's provided buffers, as bytes
                          arrive: every completion but the last carries
                          CIO__EV_MORE, every one with bytes CIO__EV_BUF.
                          It ends at end of stream (0), at an error, when
                          cancelled, or with -ENOBUFS when no buffer was
                          free; the kernel may also end it after bytes
                          (no CIO__EV_MORE), to be made again. */
    CIO__REQ_COUNT
};

/* One request, as the caller describes it. What `addr` and `addr2` point
 * to must stay valid until the request's completion. */
struct cio__req {
    int op;          /* CIO__REQ_* */
    int fd;
    void *addr;
    void *addr2;
    uint32_t len;
    uint32_t flags;  /* MSG_* for recv and send, O_* for open, AT_* */
    int64_t off;
    bool poll_first; /* the descriptor was just found not ready: wait for
                        readiness before the first attempt */
};

struct cio__backend {
    const char *name;
    /* Creates an instance; returns 0 or a negative errno. */
    int (*open)(void **out);
    /* Frees an instance. Descriptors still added are simply dropped. */
    void (*close)(void *inst);
    /* Watches `fd` for both directions, edge-triggered, reporting `token`.
     * Returns 0, or a negative errno (-EPERM: the descriptor cannot be
     * watched, e.g. a regular file; it is then always ready). */
    int (*add)(void *inst, int fd, uint64_t token);
    /* Stops watching `fd`. Returns 0 or a negative errno. */
    int (*del)(void *inst, int fd);
    /* Collects up to `max` events, waiting at most `timeout_ns` (0: do not
     * wait; negative: no limit). A wake() from any thread ends the wait.
     * Returns the number of events (0 on timeout or wake), or a negative
     * errno. Only the instance's owner calls it. */
    int (*poll)(void *inst, struct cio__event *ev, int max,
                int64_t timeout_ns);
    /* Makes a current or the next poll() return promptly. Any thread. */
    void (*wake)(void *inst);
    /* Called once by the owner thread before its first poll() (NULL:
     * nothing to do). Returns 0 or a negative errno. */
    int (*start)(void *inst);
    /* Requests (NULL: none). Owner thread only. submit() queues `req`,
     * which is handed to the kernel at the latest by the next poll(), and
     * completes with an event carrying `token` (never 0, 1 or 2: those
     * name the backend's own requests); 0, or a negative errno when it
     * could not be queued (nothing will complete then). */
    int (*submit)(void *inst, const struct cio__req *req, uint64_t token);
    /* Asks the kernel to cancel the request `token`; it still completes,
     * with -ECANCELED or with what it did before the cancel reached it. */
    void (*cancel)(void *inst, uint64_t token);
    /* Provided buffers, for CIO__REQ_RECV_MULTI (NULL: none). After
     * start(), bufs() says how many the instance has (0: none; the
     * request then fails with -EOPNOTSUPP) and of what size; buf() is
     * the address of buffer `id`; buf_put() gives a buffer a completion
     * carried back for the kernel to fill again. buf() and buf_put() may
     * be called from any thread while the instance lives. */
    unsigned (*bufs)(void *inst, uint32_t *size);
    void *(*buf)(void *inst, uint32_t id);
    void (*buf_put)(void *inst, uint32_t id);
    /* A receive ended for want of a free buffer (-ENOBUFS): the instance
     * may give the kernel more before its next poll (NULL: it never
     * does). The instance's own thread, from its completions. */
    void (*bufs_short)(void *inst);
};

extern const struct cio__backend cio__backend_epoll;
extern const struct cio__backend cio__backend_uring;

/* Whether io_uring works here with everything cio uses of it (setup
 * flags, opcodes, submitting and waiting): 0, or a negative errno with
 * `why` (NUL-terminated, at most `n` bytes) saying what failed. */
int cio__uring_probe(char *why, size_t n);

#endif /* CIO_BACKEND_H */
