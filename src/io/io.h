/* Shared by the io/ modules: the frame every waiting call on a descriptor
 * runs in. Layering: io uses core (tasks, descriptors, the pool) and os. */
#ifndef CIO_IO_H
#define CIO_IO_H

#include "core/internal.h"

struct cio__call {
    struct cio__task *self;
    struct cio__fd *st;
    int fd;
    uint64_t snap; /* readiness word read before the system call */
};

/* Starts a call: task only, not cancelled, descriptor usable. */
static inline int cio__call_begin(struct cio__call *c, int fd)
{
    c->self = cio__task_current();
    if (!c->self)
        return CIO_EPERM;
    if (fd < 0)
        return CIO_EBADF;
    if (atomic_load_explicit(&c->self->ctl, memory_order_relaxed) &
        CIO__C_CANCELLED)
        return CIO_ECANCELED;
    int rc = cio__fd_begin(c->self->worker->rt, fd, &c->st);
    if (rc < 0)
        return rc;
    c->fd = fd;
    c->snap = atomic_load_explicit(&c->st->rdy, memory_order_acquire);
    return 0;
}

/* Whether the last readiness word read says `bit` may be ready; when not,
 * the call should wait rather than try the system call. */
static inline bool cio__call_ready(const struct cio__call *c, uint64_t bit)
{
    return (c->snap & CIO__RDY_GO(bit)) != 0;
}

/* The system call met EAGAIN for `bit` (or, with `drained`, a stream read
 * or write moved fewer bytes than asked): note that the descriptor is not
 * ready, unless an edge came since the call read the word. */
static inline void cio__call_not_ready(struct cio__call *c, uint64_t bit)
{
    cio__fd_clear(c->st, c->snap, bit);
}

/* Waits, if still needed, for `bit`; then re-reads the word for the next
 * attempt. Returns 0 or an error. */
static inline int cio__call_wait(struct cio__call *c, uint64_t bit,
                                 int64_t deadline)
{
    c->snap = atomic_load_explicit(&c->st->rdy, memory_order_acquire);
    if (!(c->snap & CIO__RDY_GO(bit))) {
        int rc = cio__fd_wait(c->self, c->st, c->fd, (int)bit, deadline);
        if (rc < 0)
            return rc;
        c->snap = atomic_load_explicit(&c->st->rdy, memory_order_acquire);
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

#endif /* CIO_IO_H */
