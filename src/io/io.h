/* Shared by the io/ modules: the frame every waiting call on a descriptor
 * runs in. Layering: io uses core (tasks, descriptors, the pool) and os. */
#ifndef CIO_IO_H
#define CIO_IO_H

#include <errno.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "core/fd.h"
#include "core/pool.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"

struct cio__call {
    struct cio__task *self;
    struct cio__fd *st;
    int fd;        /* the descriptor system calls use (cio__fd_io) */
    int num;       /* the caller's number: the table entry, the waits */
    uint64_t snap; /* readiness word read before the system call */
    bool asked;    /* the kernel said EAGAIN, or was asked past the deadline */
};

/* Starts a call: task only, not cancelled, descriptor usable. */
static inline int cio__call_begin(struct cio__call *c, int fd)
{
    c->self = cio__task_current();
    if (!c->self)
        return CIO_EPERM;
    if (fd < 0)
        return CIO_EBADF;
    if (cio__cancel_pending(c->self))
        return CIO_ECANCELED;
    int rc = cio__fd_begin(c->self->worker->rt, fd, &c->st);
    if (rc < 0)
        return rc;
    c->num = fd;
    c->fd = cio__fd_is(c->st, CIO__FD_ALIAS)
                ? cio__fd_io(c->self->worker->rt, c->st, fd)
                : fd;
    c->asked = false;
    c->snap = cio__fd_readiness(c->st);
    return 0;
}

/* Whether the last readiness word read says `bit` may be ready; when not,
 * the call should wait rather than try the system call. */
static inline bool cio__call_ready(const struct cio__call *c, uint64_t bit)
{
    return cio__fd_may(c->snap, bit);
}

/* The system call met EAGAIN for `bit`: the descriptor is not ready, and
 * whatever error or hang-up an edge reported is gone too (a UDP socket's
 * ICMP error is reported once; a FIFO gets a new writer), so the sticky
 * CLOSED bit goes with it. Nothing changes if an edge came since the call
 * read the word. */
static inline void cio__call_not_ready(struct cio__call *c, uint64_t bit)
{
    c->asked = true;
    cio__fd_clear(c->st, c->snap, CIO__RDY_GO(bit));
}

/* A stream read or write moved fewer bytes than asked: the socket is
 * drained (or its buffer full), but an end of stream already queued behind
 * the data is still to be read, so the CLOSED bit stays. */
static inline void cio__call_drained(struct cio__call *c, uint64_t bit)
{
    cio__fd_clear(c->st, c->snap, bit);
}

/* Waits, if still needed, for `bit`; then re-reads the word for the next
 * attempt. Returns 0 or an error.
 *
 * A deadline that has passed ends the wait at once, but a clear bit may
 * be stale (an edge since the EAGAIN that cleared it stays in the kernel
 * until this worker next polls), so unless this call has met EAGAIN
 * itself it tries once more before reporting CIO_ETIMEDOUT: a call that
 * must not wait still gets the kernel's answer. Only the timeout path
 * pays: the clock is read by the park, which runs only when the call
 * would wait. */
static inline int cio__call_wait(struct cio__call *c, uint64_t bit,
                                 int64_t deadline)
{
    c->snap = cio__fd_readiness(c->st);
    if (!cio__fd_may(c->snap, bit)) {
        int rc = cio__fd_wait(c->self, c->st, c->num, (int)bit, deadline,
                              false);
        if (rc == CIO_ETIMEDOUT && !c->asked) {
            c->asked = true; /* once: the next timeout is reported */
            rc = 0;
        }
        if (rc < 0)
            return rc;
        c->snap = cio__fd_readiness(c->st);
        c->snap |= bit; /* told it is ready: try even if since cleared */
    }
    return 0;
}

/* Ends a call that completed without waiting for the last part: the
 * descriptor is released first, so a budget yield never holds it. */
static inline void cio__call_end(struct cio__call *c, bool spent)
{
    cio__fd_end(c->st);
    if (spent)
        cio__io_spent(c->self);
}

static inline bool cio__call_has(const struct cio__call *c, uint32_t flag)
{
    return cio__fd_is(c->st, flag);
}

/* What a call does instead on a regular file (or a directory, a block
 * device): the pool's file calls on `fd`, within `deadline`. */
typedef ssize_t cio__file_op(int fd, void *ctx, int64_t deadline);

/* One attempt of a call's system call: >= 0 when done, or -1 with errno. */
typedef ssize_t cio__attempt(struct cio__call *c, void *ctx);

/* The same call as a backend request (backend.h), into `req`. What the
 * request points to must live in `ctx`, which outlives the call. */
typedef void cio__prep(struct cio__call *c, void *ctx, struct cio__req *req);

/* Instead of waiting for readiness and then making the system call: the
 * call as a backend request, where the backend takes them (io_uring), the
 * descriptor is a socket, and the deadline is ahead (a call whose deadline
 * has passed still gets one direct try: cio__call_wait). Returns the
 * request's outcome, or CIO__NO_REQ when it was not made (wait instead). */
/* Whether this call's descriptor is a socket its task may make requests
 * on (cio__fd_req_ok). */
static inline bool cio__call_by_req(const struct cio__call *c)
{
    return cio__call_has(c, CIO__FD_SOCKET) && cio__fd_req_ok(c->self);
}

static inline ssize_t cio__call_req(struct cio__call *c, void *ctx,
                                    cio__prep *prep, int64_t deadline,
                                    bool not_ready)
{
    if (!prep || !cio__call_by_req(c) || cio__os_passed(deadline))
        return CIO__NO_REQ;
    struct cio__req req = {0};
    prep(c, ctx, &req);
    /* Found not ready (EAGAIN, or the readiness word says so): the
     * kernel waits for readiness before its first try. */
    req.poll_first = not_ready;
    return cio__fd_req(c->self, c->st, c->num, &req, deadline);
}


/* Runs a call on `fd`: tries `attempt` while the descriptor may be ready
 * for `bit`, waits for an edge after EAGAIN, retries after EINTR. On a
 * stream socket a result in (0, want) moved fewer bytes than asked, which
 * drained the socket (or filled its buffer): the bit is cleared so the next
 * call waits for the edge without a system call that would say EAGAIN.
 * With `prep`, a wait on a socket is a backend request where that can be
 * (cio__call_req). With `file`, a regular file gets file(fd, ctx,
 * deadline) instead.
 * Inline, so each caller gets its attempt inlined. */
static inline ssize_t cio__call_go(struct cio__call *c, uint64_t bit,
                                   size_t want, int64_t deadline,
                                   cio__attempt *attempt, cio__prep *prep,
                                   void *ctx)
{
    int rc;
    /* On io_uring a send is a request from the start, batched with the
     * worker's other requests into its next io_uring_enter, rather than a
     * system call of its own (docs/architecture.md has the figures). */
    bool direct = !(prep && bit == CIO__RDY_WRITE && cio__call_by_req(c));
    for (;;) {
        if (direct && cio__call_ready(c, bit)) {
            ssize_t r = attempt(c, ctx);
            if (r >= 0) {
                if (r > 0 && (size_t)r < want &&
                    cio__call_has(c, CIO__FD_STREAM))
                    cio__call_drained(c, bit);
                cio__call_end(c, true);
                return r;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                rc = -errno;
                break;
            }
            cio__call_not_ready(c, bit);
        }
        ssize_t r = cio__call_req(c, ctx, prep, deadline, direct);
        direct = true; /* a request that did not happen: as on epoll */
        if (r >= 0) {
            if ((size_t)r < want && cio__call_has(c, CIO__FD_STREAM))
                cio__call_drained(c, bit);
            cio__call_end(c, false);
            return r;
        }
        if (r != CIO__NO_REQ && r != -EAGAIN && r != -EINTR) {
            rc = (int)r;
            break;
        }
        if (r == CIO__NO_REQ) {
            rc = cio__call_wait(c, bit, deadline);
            if (rc < 0)
                break;
        }
    }
    cio__call_end(c, false);
    return rc;
}

/* Starts a call and hands a regular file to `file`; true when that
 * happened (*out holds the result, the call is over). */
static inline bool cio__call_file(struct cio__call *c, int64_t deadline,
                                  cio__file_op *file, void *ctx,
                                  ssize_t *out)
{
    if (!file || !cio__call_has(c, CIO__FD_FILE))
        return false;
    /* Held across the pool's work: cio_close() waits for it, so no piece
     * lands on a number closed and reused meanwhile. */
    *out = file(c->num, ctx, deadline);
    cio__call_end(c, false);
    return true;
}

/* Begins a call on `fd`; true when it is already over (it could not
 * start, or a regular file went to `file`), with its result in *out. */
static inline bool cio__call_open(struct cio__call *c, int fd,
                                  int64_t deadline, cio__file_op *file,
                                  void *ctx, ssize_t *out)
{
    int rc = cio__call_begin(c, fd);
    if (rc < 0) {
        *out = rc;
        return true;
    }
    return cio__call_file(c, deadline, file, ctx, out);
}

static inline ssize_t cio__call_run(int fd, uint64_t bit, size_t want,
                                    int64_t deadline, cio__attempt *attempt,
                                    cio__prep *prep, void *ctx,
                                    cio__file_op *file)
{
    struct cio__call c;
    ssize_t r;
    if (cio__call_open(&c, fd, deadline, file, ctx, &r))
        return r;
    return cio__call_go(&c, bit, want, deadline, attempt, prep, ctx);
}

/* A read of `iov` (`want` bytes in all) on a TCP socket where the
 * backend may receive ahead (core/rx.c): bytes already received are
 * copied out, a receive in flight is waited for, and only when neither is
 * there does the call try the socket itself and, finding it empty, make
 * the receive (a task that may).
 * Returns as cio__call_run, or CIO__NO_REQ when the read should go on as
 * without receiving ahead (the call is then still open). */
static inline ssize_t cio__call_rx(struct cio__call *c,
                                   const struct iovec *iov, int cnt,
                                   size_t want, int64_t deadline,
                                   cio__attempt *attempt, void *ctx)
{
    int mode = !cio__rx_ok(c->self)                  ? CIO__RX_NOARM
               : cio__call_ready(c, CIO__RDY_READ) ? CIO__RX_LOOK
                                                     : CIO__RX_ARM;
    bool waited;
    for (;;) {
        ssize_t r = cio__rx_read(c->self, c->st, c->fd, iov, cnt, deadline,
                                 mode, &waited);
        if (r == CIO__NO_REQ)
            return r;
        if (r != CIO__RX_TRY) {
            cio__call_end(c, !waited);
            return r;
        }
        r = attempt(c, ctx);
        if (r >= 0) {
            if (r > 0 && (size_t)r < want)
                cio__call_drained(c, CIO__RDY_READ);
            cio__call_end(c, true);
            return r;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            cio__call_end(c, false);
            return -errno;
        }
        cio__call_not_ready(c, CIO__RDY_READ);
        mode = CIO__RX_ARM;
    }
}

/* Whether reads of call `c` go through cio__call_rx: on a TCP socket
 * where the backend may receive ahead. Every read there does, also one
 * that may not make a receive itself (a migrating task): bytes another
 * read's receive queued come before the socket's. */
static inline bool cio__call_rx_ok(const struct cio__call *c)
{
    return cio__call_has(c, CIO__FD_TCP) && c->self->worker->rt->be->bufs;
}

/* Puts back the actions of the signals cio_signal_wait() took, at the end
 * of a runtime (signal.c). */
void cio__signals_reset(void);

#endif /* CIO_IO_H */
