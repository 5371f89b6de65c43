/* Receiving ahead on TCP sockets: one multishot receive per connection,
 * into the worker's provided buffers (io_uring).
 *
 * Without it a read that would wait is one request: a receive into the
 * reader's buffer that first waits in the kernel for readiness, made
 * again for every read. With it the first such read makes a multishot
 * receive, which stays: each time bytes arrive, the kernel puts them in a
 * buffer of the worker's ring and posts a completion naming it; the
 * completion queues the buffer on the descriptor (struct cio__rxq) and
 * wakes the readers, which copy the bytes out and give the buffer back.
 * A request/response connection then costs no request per read, and a
 * connection waiting for its next request holds no buffer at all.
 *
 * The receive belongs to the worker whose ring it is in (its owner): only
 * that thread makes, cancels and reaps it. Readers may run anywhere: the
 * queue, and the buffers' bookkeeping (owner->rx_link), are guarded by
 * the descriptor's lock, and giving a buffer back is safe from any thread
 * (backend.h).
 *
 * Order: bytes reach a reader in the order the socket had them because
 * while a receive is in flight no read makes its own system call (it
 * could take bytes behind ones a completion not yet reaped holds), and a
 * new receive is made only when none is in flight and nothing is queued.
 *
 * Bounds: a connection whose reader lags stops its receive once it holds
 * RX_CAP buffers (what the kernel received before it saw the cancel still
 * comes: a bound on the lag, not on the buffers); a read that finds the
 * receive ended for want of buffers (ENOBUFS) reads once as on epoll,
 * waiting for readiness and reading into its own buffer, and the next
 * read that would wait tries again. Neither can make a read wait for ever
 * or spin.
 *
 * Ending: cio_close() stops the receive and waits for its last completion
 * before close(2): the receive holds the socket open in the kernel. Only
 * the owner may cancel, so another thread leaves the request in the
 * owner's inbox (cio__wake_remote_rx). cio_fd_forget() refuses while
 * bytes received ahead are queued, so none is lost.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/compact.h"
#include "core/fd.h"
#include "core/idle.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"
#include "os/os.h"

/* Buffers a connection may hold unread before its receive is stopped: a
 * few requests' worth, enough for a reader to find a whole burst. */
#define RX_CAP 8

enum {
    RX_ARMED = 1,  /* a receive is in flight (until its last completion) */
    RX_CANCEL = 2, /* and its cancel was asked for */
    RX_NOBUFS = 4, /* the last one ended for want of buffers (or the
                      kernel cannot make one): one read reads as before */
    RX_MAILED = 8, /* on the owner's mail list */
    RX_STOP = 16,  /* a stop is under way: no new receive */
};

struct cio__rxlink {
    int32_t next;
    uint32_t len;
};

static uint64_t rx_token(struct cio__fd *st)
{
    return (uint64_t)(uintptr_t)st | 1;
}

void cio__rx_worker_start(struct cio__worker *w)
{
    const struct cio__backend *be = w->rt->be;
    if (!be->bufs)
        return;
    uint32_t size;
    unsigned n = be->bufs(w->poller, &size);
    if (n == 0)
        return;
    /* Without its bookkeeping the worker makes no receive: reads then
     * work as on a backend without buffers. */
    w->rx_link = calloc(n, sizeof *w->rx_link);
    if (w->rx_link)
        w->rx_nbufs = n;
}

void cio__rx_worker_fini(struct cio__worker *w)
{
    free(w->rx_link);
    w->rx_link = NULL;
    w->rx_nbufs = 0;
}

bool cio__rx_ok(const struct cio__task *self)
{
    /* Relaxed: a hint; a receive made just before it was turned off
     * fails and falls back like any other. */
    return self->worker->rx_link && cio__fd_req_ok(self) &&
           !atomic_load_explicit(&self->worker->rt->rx_off,
                                 memory_order_relaxed);
}

/* Gives every queued buffer back (lock held). */
static void drop_queue(struct cio__rxq *q)
{
    struct cio__worker *o = q->owner;
    while (q->nbufs) {
        int32_t id = q->head;
        q->head = o->rx_link[id].next;
        q->nbufs--;
        o->rt->be->buf_put(o->poller, (uint32_t)id);
    }
    q->off = 0;
}

/* Copies queued bytes into `iov` (lock held, something queued or an end
 * recorded). Returns the bytes copied, else the end: 0 for end of stream
 * (which stays), or the error (reported once). */
static ssize_t take(struct cio__rxq *q, const struct iovec *iov, int cnt)
{
    struct cio__worker *o = q->owner;
    const struct cio__backend *be = o->rt->be;
    size_t got = 0, at = 0; /* bytes copied; into iov[i] so far */
    int i = 0;
    while (q->nbufs && i < cnt) {
        struct cio__rxlink *l = &o->rx_link[q->head];
        size_t k = l->len - q->off, room = iov[i].iov_len - at;
        if (k > room)
            k = room;
        memcpy((char *)iov[i].iov_base + at,
               (const char *)be->buf(o->poller, (uint32_t)q->head) + q->off,
               k);
        got += k;
        at += k;
        q->off += (uint32_t)k;
        if (at == iov[i].iov_len) {
            i++;
            at = 0;
        }
        if (q->off == l->len) {
            int32_t id = q->head;
            q->head = l->next;
            q->nbufs--;
            q->off = 0;
            be->buf_put(o->poller, (uint32_t)id);
        }
    }
    if (got)
        return (ssize_t)got;
    if (q->end == 1)
        return 0;
    ssize_t e = q->end;
    q->end = 0;
    return e;
}

/* Makes the receive on worker `w` (lock held, none in flight, nothing
 * queued). False when the backend could not take it. */
static bool arm(struct cio__worker *w, struct cio__fd *st, int fd)
{
    struct cio__req req = {.op = CIO__REQ_RECV_MULTI, .fd = fd};
    if (w->rt->be->submit(w->poller, &req, rx_token(st)) < 0)
        return false;
    st->rx.owner = w;
    st->rx.state |= RX_ARMED;
    w->reqs++;
    cio__count(&w->c.rx_made, 1);
    return true;
}

/* Asks the owner of `st`'s receive to cancel it (lock held, receive in
 * flight). Returns the worker to mail after the lock is dropped (taking
 * the inbox's mutex under a spinlock would make others spin on a thread
 * that may sleep), or NULL when nothing is to be sent. */
static struct cio__worker *ask_cancel(struct cio__fd *st)
{
    struct cio__rxq *q = &st->rx;
    if (q->state & RX_CANCEL)
        return NULL;
    q->state |= RX_CANCEL;
    if (cio__tls_worker == q->owner) {
        q->owner->rt->be->cancel(q->owner->poller, rx_token(st));
        return NULL;
    }
    if (q->state & RX_MAILED)
        return NULL; /* the mail already on its way cancels it */
    q->state |= RX_MAILED;
    return q->owner;
}

/* cio__rx_read with its wait record `rec`: a compact task's (`compact`,
 * in the heap: compact.c) or one on the stack. Inlined in both callers:
 * one frame per read either way. */
static inline __attribute__((always_inline)) ssize_t
rx_read_in(struct cio__task *self, struct cio__fd *st, int fd,
           const struct iovec *iov, int cnt, int64_t deadline, int mode,
           bool *waited, struct cio__fdwait *rec, bool compact)
{
    struct cio__worker *w = self->worker;
    struct cio__rxq *q = &st->rx;
    bool last = false; /* the deadline passed: one more look, then out */
    *waited = false;
    for (;;) {
        cio__fd_lock(st);
        if (cio__fd_closing(st)) {
            cio__fd_unlock(st);
            return CIO_EBADF;
        }
        if (q->nbufs || q->end) {
            ssize_t r = take(q, iov, cnt);
            cio__fd_unlock(st);
            return r;
        }
        struct cio__worker *mail = NULL;
        if (q->state & RX_ARMED) {
            if (last) {
                cio__fd_unlock(st);
                return CIO_ETIMEDOUT;
            }
            /* Another worker's receive would make this read wait for that
             * worker to poll, which a busy one does late: it is asked to
             * give the receive up, and this read makes its own once the
             * last completion is in (fd.c's rule: a task waits on its own
             * worker's reactor). */
            if (q->owner != w)
                mail = ask_cancel(st);
        } else {
            if (q->state & RX_NOBUFS) {
                q->state &= (uint8_t)~RX_NOBUFS;
                cio__fd_unlock(st);
                return CIO__NO_REQ;
            }
            if (mode == CIO__RX_LOOK) {
                cio__fd_unlock(st);
                return CIO__RX_TRY;
            }
            /* Past the deadline (the caller's one try is still due, in
             * the path without a receive), no receive allowed now, or
             * none could be made: read as without one. */
            if (mode == CIO__RX_NOARM || last || (q->state & RX_STOP) ||
                cio__os_passed(deadline) || !arm(w, st, fd)) {
                cio__fd_unlock(st);
                return CIO__NO_REQ;
            }
        }
        /* Under the lock, which every completion takes to queue bytes:
         * one not seen here finds this waiter listed. */
        *rec = (struct cio__fdwait){.task = self, .want = CIO__RDY_READ};
        cio__wait_on(self, CIO_WAIT_FD, (uintptr_t)fd);
        rec->seq = cio__wait_begin(self);
        rec->next = st->waiters;
        st->waiters = rec;
        cio__fd_unlock(st);
        if (mail)
            cio__wake_remote_rx(mail, st);
        cio__count(&w->c.io_waits, 1);
        *waited = true;
        if (compact)
            cio__compact_allow(self, true);
        int reason = cio__park(self, deadline);
        if (compact)
            cio__compact_allow(self, false);
        if (reason == CIO__WAKE_OK) {
            if (rec->got & CIO__FD_CLOSED)
                return CIO_EBADF;
            continue;
        }
        cio__fd_lock(st);
        cio__fd_unlink_waiter(st, rec);
        cio__fd_unlock(st);
        if (reason != CIO__WAKE_TIMEOUT)
            return cio__wait_error(reason);
        /* Bytes that came with the deadline are still this read's. */
        last = true;
    }
}

/* The record on the reader's stack, in a frame of its own, so that a
 * compact task's frames (copied whole when trimmed) hold no room for it. */
__attribute__((noinline)) static ssize_t
rx_read_own(struct cio__task *self, struct cio__fd *st, int fd,
            const struct iovec *iov, int cnt, int64_t deadline, int mode,
            bool *waited)
{
    struct cio__fdwait own;
    return rx_read_in(self, st, fd, iov, cnt, deadline, mode, waited, &own,
                      false);
}

ssize_t cio__rx_read(struct cio__task *self, struct cio__fd *st, int fd,
                     const struct iovec *iov, int cnt, int64_t deadline,
                     int mode, bool *waited)
{
    /* Taken before the lock (it may allocate). */
    struct cio__fdwait *rec = cio__compact_rec(self);
    if (!rec)
        return rx_read_own(self, st, fd, iov, cnt, deadline, mode, waited);
    return rx_read_in(self, st, fd, iov, cnt, deadline, mode, waited, rec,
                      true);
}

bool cio__rx_pending(struct cio__fd *st)
{
    cio__fd_lock(st);
    bool r = st->rx.nbufs || st->rx.end;
    cio__fd_unlock(st);
    return r;
}

void cio__rx_done(struct cio__worker *w, uint64_t token, int32_t res,
                  uint32_t events, uint32_t buf)
{
    struct cio__fd *st = (struct cio__fd *)(uintptr_t)(token & ~(uint64_t)1);
    struct cio__rxq *q = &st->rx;
    const struct cio__backend *be = w->rt->be;
    bool more = events & CIO__EV_MORE;
    uint64_t bits = 0;
    cio__fd_lock(st);
    if (events & CIO__EV_BUF) {
        if (res > 0 && buf < w->rx_nbufs) {
            /* The queue is this worker's: nothing else is queued unless
             * this receive queued it (arm() needs an empty queue). */
            w->rx_link[buf] = (struct cio__rxlink){.next = -1,
                                                   .len = (uint32_t)res};
            if (q->nbufs)
                w->rx_link[q->tail].next = (int32_t)buf;
            else
                q->head = (int32_t)buf;
            q->tail = (int32_t)buf;
            q->nbufs++;
            bits = CIO__RDY_READ;
            /* Relaxed: a hint for the EINVAL test below (any thread). */
            if (!atomic_load_explicit(&w->rt->rx_worked, memory_order_relaxed))
                atomic_store_explicit(&w->rt->rx_worked, true,
                                      memory_order_relaxed);
        } else if (buf < w->rx_nbufs) {
            be->buf_put(w->poller, buf);
        }
    }
    if (!more) {
        q->state &= (uint8_t)~(RX_ARMED | RX_CANCEL);
        w->reqs--;
        if (res == 0) {
            q->end = 1;
        } else if (res == -ENOBUFS) {
            q->state |= RX_NOBUFS;
            cio__count(&w->c.rx_nobufs, 1);
            if (be->bufs_short)
                be->bufs_short(w->poller);
        } else if (res == -EINVAL && !(events & CIO__EV_BUF) &&
                   !atomic_load_explicit(&w->rt->rx_worked,
                                         memory_order_relaxed)) {
            /* A kernel without multishot receives (before 6.0) refuses
             * the request itself; recv(2) has no EINVAL on a connected
             * TCP socket, and none has worked in this runtime yet.
             * Relaxed: a hint read by cio__rx_ok(). */
            atomic_store_explicit(&w->rt->rx_off, true, memory_order_relaxed);
            q->state |= RX_NOBUFS;
        } else if (res < 0 && res != -ECANCELED && res != -EINTR &&
                   res != -EAGAIN && q->end == 0) {
            /* An error of the connection, read after the bytes. The
             * others only end the receive: its readers decide again. */
            q->end = res;
        }
        /* Whatever ended it, its readers decide again. */
        bits = CIO__RDY_READ;
    } else if (q->nbufs >= RX_CAP && !(q->state & RX_CANCEL)) {
        /* The reader lags: stop taking buffers for it. (What the kernel
         * received before it sees the cancel still comes: a bound on the
         * lag, not on the buffers one connection can hold.) */
        q->state |= RX_CANCEL;
        be->cancel(w->poller, token);
    }
    if (bits)
        cio__fd_edge(st, bits);
    cio__fd_unlock(st);
}

void cio__rx_mail_run(struct cio__worker *w, struct cio__fd *list)
{
    while (list) {
        struct cio__fd *st = list;
        cio__fd_lock(st);
        list = st->rx.mail_next;
        st->rx.mail_next = NULL;
        /* Still in flight: cancel it; else it ended meanwhile. Either way
         * the closer waits for the flag to go. */
        if ((st->rx.state & RX_ARMED) && st->rx.owner == w)
            w->rt->be->cancel(w->poller, rx_token(st));
        st->rx.state &= (uint8_t)~RX_MAILED;
        cio__fd_unlock(st);
    }
}

size_t cio__rx_stop(struct cio__fd *st, bool keep)
{
    struct cio__rxq *q = &st->rx;
    cio__fd_lock(st);
    if (!q->owner) {
        cio__fd_unlock(st);
        return 0;
    }
    /* No read makes a new receive until this is over. */
    q->state |= RX_STOP;
    /* The last completion comes at the owner's next poll; the mail is
     * read before it sleeps. A task lets its worker get there (it may be
     * the owner); a plain thread waits as for calls in shut_in(). A
     * worker whose loop has ended (the runtime is ending) polls no more:
     * its ring's close ends the receive. */
    while ((q->state & (RX_ARMED | RX_MAILED)) &&
           /* Acquire: pairs with the release at the end of the owner's
            * loop (sched.c): its last look at the mail is over. */
           !atomic_load_explicit(&q->owner->loop_done, memory_order_acquire)) {
        struct cio__worker *mail =
            (q->state & RX_ARMED) ? ask_cancel(st) : NULL;
        cio__fd_unlock(st);
        if (mail)
            cio__wake_remote_rx(mail, st);
        struct cio__task *self = cio__task_current();
        if (self)
            cio__sched_yield(self);
        else
            sched_yield();
        cio__fd_lock(st);
    }
    size_t queued = 0;
    if (keep) {
        uint32_t id = (uint32_t)q->head;
        for (uint16_t i = 0; i < q->nbufs; i++) {
            queued += q->owner->rx_link[id].len;
            id = (uint32_t)q->owner->rx_link[id].next;
        }
        queued -= q->off;
    }
    if (queued) {
        q->state &= (uint8_t)~RX_STOP;
    } else {
        drop_queue(q);
        q->end = 0;
        q->state = 0;
        q->owner = NULL;
    }
    cio__fd_unlock(st);
    return queued;
}
