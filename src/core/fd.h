/* Descriptors (fd.c): the one owner of what cio knows of each descriptor
 * number: the readiness word, the calls in flight, the tasks waiting, the
 * reactors watching it, and close. io/ uses the calls declared here.
 */
#ifndef CIO_CORE_FD_H
#define CIO_CORE_FD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/config.h"
#include "util/spin.h"

struct cio__worker;
struct cio__runtime;
struct cio__task;

/* One task waiting on a descriptor; lives on the waiting task's stack and
 * is linked into the descriptor's list only while the fd's lock says so. */
struct cio__fdwait {
    struct cio__fdwait *next;
    struct cio__task *task;
    uint64_t seq;                 /* the task's wait this belongs to */
    int want;                     /* CIO_READABLE | CIO_WRITABLE */
    int got;                      /* set by the waker: ready bits, or CLOSED */
};

/* Bytes a TCP socket's multishot receive put in its worker's provided
 * buffers ahead of the reads that take them (io_uring; core/rx.c). Lives
 * in the descriptor's entry, guarded by its lock. */
struct cio__rxq {
    struct cio__worker *owner;  /* whose ring holds the receive and the
                                   queued buffers; NULL: never used */
    struct cio__fd *mail_next;  /* on the owner's list of receives that
                                   other threads asked it to cancel */
    int32_t head, tail;         /* queued buffer ids, linked through
                                   owner->rx_link (while nbufs > 0) */
    uint32_t off;               /* bytes of `head` already read */
    int32_t end;                /* after the queued bytes: 0, 1 (end of
                                   stream, for good) or an error (once) */
    uint16_t nbufs;             /* buffers queued */
    uint8_t state;              /* CIO__RX_* */
};

/* What cio knows of one descriptor number. Lives in a table indexed by the
 * number, in chunks never freed while the runtime runs, so a reactor event
 * or a late wake for a closed descriptor reads valid memory; `gen` tells
 * whether it is still about the same descriptor.
 *
 * Readiness is a word, count << 4 | WCLOSED | RCLOSED | WRITE | READ: the
 * reactor sets bits and bumps the count at every edge; a call that meets
 * EAGAIN clears its bit only if the word is unchanged since it read it
 * before the system call, so an edge that arrives in between is never
 * lost. The CLOSED bits (end of file, hang-up, error) survive a short
 * read, which does not consume a queued end of stream; only EAGAIN clears
 * them (the condition is gone: a UDP error is reported once). */
struct cio__fd {
    _Atomic uint64_t rdy;         /* readiness word, see above */
    _Atomic uint32_t refs;        /* calls using the descriptor << 1 | CLOSING */
    cio__spin lock;               /* guards the fields below */
    _Atomic uint32_t gen;         /* bumped when the number is closed */
    _Atomic uint32_t flags;       /* CIO__FD_*: written under the lock */
    uint64_t reactors;            /* workers 0-63 whose reactor watches it */
    uint64_t *reactors_more;      /* the same for workers 64 and up */
    struct cio__fdwait *waiters;  /* tasks waiting on it */
    struct cio__rxq rx;           /* bytes received ahead (core/rx.c) */
};

enum {
    CIO__FD_KNOWN = 1,       /* set up for cio (non-blocking) */
    CIO__FD_REGISTERED = 2,  /* added to at least one worker's reactor */
    CIO__FD_STREAM = 4,      /* a stream socket: a short read drained it */
    CIO__FD_NOPOLL = 8,      /* the reactor cannot watch it: always ready */
    CIO__FD_SOCKET = 16,     /* a socket: writes use MSG_NOSIGNAL */
    CIO__FD_ALIAS = 32,      /* calls use cio's own open file description
                                of it (cio__fd_io) */
    CIO__FD_RESTORE = 64,    /* cio made it non-blocking: flags to put back */
    CIO__FD_FILE = 128,      /* a regular file, directory or block device:
                                reads and writes go to the blocking pool */
    CIO__FD_TCP = 256,       /* a TCP connection (no ancillary data to
                                lose): reads may receive ahead (rx.c) */
};
enum {
    CIO__RDY_READ = 1,
    CIO__RDY_WRITE = 2,
    CIO__RDY_RCLOSED = 4,    /* READ << 2: reads return at once, for good */
    CIO__RDY_WCLOSED = 8,    /* WRITE << 2: writes fail at once, for good */
    CIO__RDY_ONE = 16,       /* one edge in the count */
};
/* The bits that make a call waiting for `bit` (READ or WRITE) go ahead. */
#define CIO__RDY_GO(bit) ((uint64_t)(bit) | ((uint64_t)(bit) << 2))
#define CIO__FD_CLOSED 0x100 /* fdwait.got: the descriptor was closed */

/* The descriptor's lock: a spinlock, held for a few dozen instructions
 * and never across a wait or a switch. */
static inline void cio__fd_lock(struct cio__fd *st)
{
    cio__spin_lock(&st->lock);
}

static inline void cio__fd_unlock(struct cio__fd *st)
{
    cio__spin_unlock(&st->lock);
}

int cio__fd_table_init(struct cio__runtime *rt);
void cio__fd_table_fini(struct cio__runtime *rt);
/* Starts a call on `fd`: the descriptor cannot be closed under it until
 * cio__fd_end(). Sets up descriptors cio has not seen. */
int cio__fd_begin(struct cio__runtime *rt, int fd, struct cio__fd **out);
static inline void cio__fd_end(struct cio__fd *st)
{
    atomic_fetch_sub_explicit(&st->refs, 2, memory_order_release);
}
/* A descriptor cio just created: forget what the number meant before. */
int cio__fd_fresh(struct cio__runtime *rt, int fd, uint32_t flags);
/* Waits until one of `want` is ready; returns the ready bits or an error.
 * `edge_only`: when this call registers the descriptor, forget the "maybe
 * ready" bits first (registering reports the current state as an edge). */
int cio__fd_wait(struct cio__task *self, struct cio__fd *st, int fd,
                 int want, int64_t deadline, bool edge_only);
/* The readiness word, for a call about to try its system call. Acquire:
 * pairs with the release of the edge that set a bit (cio__fd_event). */
static inline uint64_t cio__fd_readiness(const struct cio__fd *st)
{
    return atomic_load_explicit(&st->rdy, memory_order_acquire);
}
/* Whether readiness word `r` lets a call waiting for `bit` (READ or
 * WRITE) try: the bit, or its sticky CLOSED partner, is set. */
static inline bool cio__fd_may(uint64_t r, uint64_t bit)
{
    return (r & CIO__RDY_GO(bit)) != 0;
}
/* Whether the descriptor has property `flag` (CIO__FD_STREAM, _SOCKET):
 * fixed while a call holds it (flags change only at adoption and reset). */
static inline bool cio__fd_is(const struct cio__fd *st, uint32_t flag)
{
    return atomic_load_explicit(&st->flags, memory_order_relaxed) & flag;
}
/* After EAGAIN (or a short read): clears `bit` unless an edge came since
 * `snap` was read. */
static inline void cio__fd_clear(struct cio__fd *st, uint64_t snap,
                                 uint64_t bit)
{
    /* Relaxed: the compare is the point; an edge since `snap` changed
     * the word (its count), and then nothing is cleared. */
    atomic_compare_exchange_strong_explicit(&st->rdy, &snap, snap & ~bit,
                                            memory_order_relaxed,
                                            memory_order_relaxed);
}
/* The descriptor calls on `fd` use: `fd` itself, or with CIO__FD_ALIAS
 * the one cio opened on the same file (fd.c says why). */
int cio__fd_io(struct cio__runtime *rt, struct cio__fd *st, int fd);
/* For a child that inherits `fd`: when cio made it non-blocking (a pipe
 * or FIFO it adopted), a new blocking description of the same file, which
 * the caller closes; else -1 (inherit `fd` as it is). A child must not
 * get a non-blocking stdout it never asked for. */
int cio__fd_blocking_copy(struct cio__runtime *rt, int fd);
/* Reactor side: an edge on the descriptor named by `token`. */
void cio__fd_event(struct cio__runtime *rt, uint64_t token, uint32_t ev);

struct cio__req;
/* "No request was made" (the backend takes none here, could not queue
 * it, or the call should wait for readiness instead): outside the range
 * of errno values, so no request's own result can be taken for it. */
#define CIO__NO_REQ (-0x10000)
/* Whether the calls of `self` on descriptors may be backend requests:
 * the backend takes them, and the task always runs on the worker whose
 * backend instance (the one thread that may touch it) holds the request. */
bool cio__fd_req_ok(const struct cio__task *self);
/* Hands `req` on `fd` (table entry `st`, held by the caller's call) to the
 * backend of the task's worker and waits for its completion. Exactly one
 * outcome: the request's result (bytes, or a negative errno) when it
 * completed, else, when it was cancelled in the kernel because the wait
 * ended first, CIO_ETIMEDOUT, CIO_ECANCELED or CIO_EBADF (the descriptor
 * was closed). The request's memory is the kernel's until it completes,
 * so this waits for that, cancelled or not. CIO__NO_REQ: the backend
 * could not queue it (nothing happened; wait for readiness instead). */
int cio__fd_req(struct cio__task *self, struct cio__fd *st, int fd,
                const struct cio__req *req, int64_t deadline);
/* The same, with the outcome apart: 0 when the request completed (its
 * result, bytes or a negative errno, in *res; *ended, if not NULL, says
 * why the wait ended before the completion, or 0), else why it did not
 * happen (CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EBADF) or CIO__NO_REQ. A
 * result of -EINTR with *ended set is the cancel interrupting the operation
 * where the kernel's worker blocked in it: the caller knows whether that
 * undid it (a read) or not (a close). `st` may be NULL (a path, or a file
 * cio_close does not manage): nothing then wakes the wait but the
 * completion, the deadline and a cancel. */
int cio__req_run(struct cio__task *self, struct cio__fd *st, int fd,
                 const struct cio__req *req, int64_t deadline, int32_t *res,
                 int *ended);
/* Reactor side: request `token` completed with `res`. */
void cio__fd_req_done(struct cio__worker *w, uint64_t token, int32_t res);

/* For rx.c (lock held): whether a close is under way; takes `rec` off the
 * waiters unless a waker did; marks `bits` ready as an edge would and
 * wakes the waiters that wanted them. */
bool cio__fd_closing(const struct cio__fd *st);
void cio__fd_unlink_waiter(struct cio__fd *st, struct cio__fdwait *rec);
void cio__fd_edge(struct cio__fd *st, uint64_t bits);

/* ---- receiving ahead (rx.c) ----
 *
 * On a TCP socket, a read that would wait makes one multishot receive,
 * which from then on puts bytes into the worker's provided buffers as
 * they arrive; reads copy them out. A read then costs no request and no
 * readiness wait in the kernel; see docs/architecture.md for the figures
 * and for what it costs. */

/* "Nothing is queued and no receive is in flight: try the socket." */
#define CIO__RX_TRY (-0x10001)
/* What cio__rx_read does when nothing is queued and no receive is in
 * flight. */
enum {
    CIO__RX_LOOK,  /* returns CIO__RX_TRY: the caller tries the socket */
    CIO__RX_ARM,   /* makes the receive (the socket said EAGAIN) */
    CIO__RX_NOARM, /* returns CIO__NO_REQ: this task may make none */
};
/* Whether `self`'s reads on a TCP socket may make receives. */
bool cio__rx_ok(const struct cio__task *self);
/* A read of `iov` (total > 0) on `st` for task `self`, `fd` being the
 * descriptor system calls use: bytes queued are taken, a receive in
 * flight is waited for (on another worker, that worker is asked to give
 * it up first), else as `mode` says. Returns the bytes read, 0 at end of
 * stream, an error (CIO_EBADF when closed, CIO_ETIMEDOUT, CIO_ECANCELED,
 * an error the receive met), CIO__RX_TRY, or CIO__NO_REQ: nothing is
 * queued or in flight and no receive is to be made now; read as without
 * one. *waited: whether it parked. */
ssize_t cio__rx_read(struct cio__task *self, struct cio__fd *st, int fd,
                     const struct iovec *iov, int cnt, int64_t deadline,
                     int mode, bool *waited);
/* Whether bytes or an end are queued (takes the lock). */
bool cio__rx_pending(struct cio__fd *st);
/* Stops `st`'s receive, if one is in flight, and waits for its last
 * completion (any thread; a task yields meanwhile), no read making a new
 * one meanwhile. With `keep`, queued bytes stay for later reads and the
 * count of queued bytes is returned (non-zero: the caller must not give
 * the descriptor up); without, they are dropped and 0 returned. */
size_t cio__rx_stop(struct cio__fd *st, bool keep);
/* Reactor side: a completion of the receive `token` (see cio__rx_token). */
void cio__rx_done(struct cio__worker *w, uint64_t token, int32_t res,
                  uint32_t events, uint32_t buf);
/* Whether a completion's token names a receive (odd: entries are
 * aligned) rather than a request on a task's stack. */
static inline bool cio__rx_token(uint64_t token)
{
    return token & 1;
}
/* The worker's side: its buffers' bookkeeping, made once its backend
 * started (owner thread), freed with the worker; and the receives other
 * threads asked it to cancel (taken with its inbox). */
void cio__rx_worker_start(struct cio__worker *w);
void cio__rx_worker_fini(struct cio__worker *w);
void cio__rx_mail_run(struct cio__worker *w, struct cio__fd *list);

#endif /* CIO_CORE_FD_H */
