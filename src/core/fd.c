/* Descriptors: what cio knows of each, the tasks waiting on them, and the
 * reactor's side of waking them.
 *
 * A descriptor is registered with the reactor of every worker whose task
 * has had to wait on it, the first time it does, and stays there until
 * cio_close(): edge-triggered, both directions, so later waits cost no
 * system call. A waiting task's own worker thus always watches the
 * descriptor: no task waits for another, possibly busy, worker to poll.
 * Edges set bits in the descriptor's readiness word and wake the waiters
 * that wanted them; calls clear a bit when the kernel says EAGAIN (see
 * struct cio__fd for why that cannot lose an edge).
 *
 * Closing while others use the descriptor: cio_close() marks it closing,
 * wakes every waiter with CIO__FD_CLOSED, waits until no call is between
 * cio__fd_begin() and cio__fd_end() (calls are short once their waits are
 * woken), and only then close(2)s the number. No call can therefore make a
 * system call on a number that has meanwhile been reused.
 *
 * Descriptors cio did not create are set up at their first call
 * (adopt()). A socket is made non-blocking. A regular file, directory or
 * block device cannot wait on epoll: its reads and writes go to the
 * blocking pool (CIO__FD_FILE, io/rw.c). A terminal is shared with the
 * shell that started the program, and O_NONBLOCK belongs to the open file
 * description they share: setting it would leave the shell with a
 * non-blocking terminal. So cio opens a description of its own on the
 * same device through /proc/self/fd (as libuv does for terminals) and
 * makes only that one non-blocking: calls read and write through it, the
 * reactor watches it, and the program's own descriptor, and stdio on it,
 * stay as they were. Other descriptors (a pipe, a FIFO, or a terminal
 * where that open fails) are made non-blocking, and their flags are put
 * back when cio_close() or cio_fd_forget() gives them up, or the runtime
 * ends: the shell of `prog | less` gets its pipe back as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/compact.h"
#include "core/fd.h"
#include "core/runtime.h"
#include "core/sched.h"
#include "core/task.h"
#include "os/os.h"

/* refs: calls inside the descriptor count in units of REF (cio__fd_end in
 * fd.h subtracts the same 2), the low bit says it is closing. */
#define CLOSING 1u
#define REF 2u

/* ---- the table ------------------------------------------------------------ */

static uint32_t max_fds(void)
{
    /* The kernel's ceiling on descriptor numbers, so a raised RLIMIT_NOFILE
     * later in the process still fits. */
    long n = 0;
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 0;
        fclose(f);
    }
    if (n <= 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
            n = (long)rl.rlim_max;
    }
    if (n <= 0 || n > (1L << 30))
        n = 1L << 20;
    return (uint32_t)n;
}

int cio__fd_table_init(struct cio__runtime *rt)
{
    rt->fd_nchunks = (max_fds() + CIO__FD_CHUNK - 1) / CIO__FD_CHUNK;
    rt->fd_chunks = calloc(rt->fd_nchunks, sizeof *rt->fd_chunks);
    if (!rt->fd_chunks)
        return CIO_ENOMEM;
    pthread_mutex_init(&rt->fd_lock, NULL);
    return 0;
}

/* What cio did to a descriptor it adopted: its own description of the
 * same file (`alias`, or -1), or the flags to put back (`saved_fl`, or -1).
 * Few exist (a program's stdio, a FIFO), so they live in a short list
 * under rt->fd_lock rather than in every entry of the table. */
struct cio__fd_side {
    int fd, alias, saved_fl;
    dev_t dev; /* the file, so flags are never put on a number that was */
    ino_t ino; /* closed behind cio's back and reused */
};

static void side_undo(const struct cio__fd_side *e)
{
    if (e->alias >= 0)
        close(e->alias);
    struct stat sb;
    if (e->saved_fl >= 0 && fstat(e->fd, &sb) == 0 && sb.st_dev == e->dev &&
        sb.st_ino == e->ino)
        fcntl(e->fd, F_SETFL, e->saved_fl);
}

void cio__fd_table_fini(struct cio__runtime *rt)
{
    if (!rt->fd_chunks)
        return;
    /* Every task has ended: no call uses an alias any more. */
    for (int i = 0; i < rt->fd_nside; i++)
        side_undo(&rt->fd_side[i]);
    free(rt->fd_side);
    rt->fd_side = NULL;
    rt->fd_nside = rt->fd_cside = 0;
    for (uint32_t i = 0; i < rt->fd_nchunks; i++) {
        struct cio__fd *chunk =
            atomic_load_explicit(&rt->fd_chunks[i], memory_order_relaxed);
        for (int k = 0; chunk && k < CIO__FD_CHUNK; k++)
            free(chunk[k].reactors_more);
        free(chunk);
    }
    free((void *)rt->fd_chunks);
    rt->fd_chunks = NULL;
    pthread_mutex_destroy(&rt->fd_lock);
}

static struct cio__fd *fd_get(struct cio__runtime *rt, int fd, bool create)
{
    uint32_t c = (uint32_t)fd / CIO__FD_CHUNK;
    if (fd < 0 || c >= rt->fd_nchunks)
        return NULL;
    struct cio__fd *chunk =
        atomic_load_explicit(&rt->fd_chunks[c], memory_order_acquire);
    if (!chunk && create) {
        pthread_mutex_lock(&rt->fd_lock);
        chunk = atomic_load_explicit(&rt->fd_chunks[c], memory_order_relaxed);
        if (!chunk) {
            chunk = calloc(CIO__FD_CHUNK, sizeof *chunk);
            if (chunk) {
                for (int i = 0; i < CIO__FD_CHUNK; i++) {
                    atomic_init(&chunk[i].rdy, CIO__RDY_READ | CIO__RDY_WRITE);
                    atomic_init(&chunk[i].gen, 1);
                }
                atomic_store_explicit(&rt->fd_chunks[c], chunk,
                                      memory_order_release);
            }
        }
        pthread_mutex_unlock(&rt->fd_lock);
    }
    return chunk ? &chunk[(uint32_t)fd % CIO__FD_CHUNK] : NULL;
}

/* ---- the per-descriptor lock ------------------------------------------------ */

static void fd_lock(struct cio__fd *st)
{
    cio__fd_lock(st);
}

static void fd_unlock(struct cio__fd *st)
{
    cio__fd_unlock(st);
}

/* Flags are written under the lock; a call reads them without it once
 * cio__fd_begin() saw KNOWN (acquire, pairing with the release here,
 * after the descriptor was made non-blocking). */
static inline uint32_t flags_of(struct cio__fd *st)
{
    return atomic_load_explicit(&st->flags, memory_order_acquire);
}

static inline void set_flags(struct cio__fd *st, uint32_t f)
{
    atomic_store_explicit(&st->flags, f, memory_order_release);
}

/* Wakes every waiter (lock held): the descriptor is gone. */
static void wake_all_closed(struct cio__fd *st)
{
    struct cio__fdwait *rec = st->waiters;
    st->waiters = NULL;
    while (rec) {
        struct cio__fdwait *next = rec->next;
        struct cio__task *t = rec->task;
        uint64_t seq = rec->seq;
        rec->got = CIO__FD_CLOSED;
        /* `rec` may be gone once its task runs again: read it first. */
        cio__wake(t, seq, CIO__WAKE_OK);
        rec = next;
    }
}

/* Takes `rec` off the waiters (lock held), unless a waker already did. */
static void unlink_waiter(struct cio__fd *st, struct cio__fdwait *rec)
{
    for (struct cio__fdwait **pp = &st->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == rec) {
            *pp = rec->next;
            break;
        }
    }
}

/* ---- which reactors watch it (lock held) --------------------------------- */

static bool watched_by(const struct cio__fd *st, int i)
{
    if (i < 64)
        return (st->reactors >> i) & 1;
    i -= 64;
    return st->reactors_more && ((st->reactors_more[i / 64] >> (i % 64)) & 1);
}

static int mark_watched(struct cio__runtime *rt, struct cio__fd *st, int i)
{
    if (i < 64) {
        st->reactors |= (uint64_t)1 << i;
        return 0;
    }
    if (!st->reactors_more) {
        st->reactors_more =
            calloc((size_t)(rt->nworkers - 64 + 63) / 64, sizeof(uint64_t));
        if (!st->reactors_more)
            return CIO_ENOMEM;
    }
    i -= 64;
    st->reactors_more[i / 64] |= (uint64_t)1 << (i % 64);
    return 0;
}

static void unwatch(struct cio__runtime *rt, int i, int fd, bool del)
{
    struct cio__worker *w = &rt->workers[i];
    if (del)
        rt->be->del(w->poller, fd);
    atomic_fetch_sub_explicit(&w->nfds, 1, memory_order_relaxed);
}

/* Forgets every registration; `del`: also take it out of the reactors
 * (not needed when the number was closed behind cio's back: the kernel
 * dropped it). */
static void unwatch_all(struct cio__runtime *rt, struct cio__fd *st, int fd,
                        bool del)
{
    for (uint64_t low = st->reactors; low; low &= low - 1)
        unwatch(rt, __builtin_ctzll(low), fd, del);
    for (int i = 64; st->reactors_more && i < rt->nworkers; i++)
        if (watched_by(st, i))
            unwatch(rt, i, fd, del);
    st->reactors = 0;
    free(st->reactors_more);
    st->reactors_more = NULL;
}

/* Forgets the descriptor's past (lock held, registrations already gone). */
static void reset(struct cio__fd *st, uint32_t flags)
{
    /* Relaxed: lock-free readers of `gen` (cio__fd_event) check it again
     * under the lock. A call that starts after a close's reset sees `rdy`
     * through the release that clears CLOSING (shut_in); after
     * cio__fd_fresh() a stale `rdy` is only a hint (it says "maybe ready",
     * and a wrong "maybe" costs one EAGAIN). */
    atomic_fetch_add_explicit(&st->gen, 1, memory_order_relaxed);
    set_flags(st, flags);
    atomic_store_explicit(&st->rdy, CIO__RDY_READ | CIO__RDY_WRITE,
                          memory_order_relaxed);
}

/* ---- calls --------------------------------------------------------------- */

/* ---- descriptors cio did not create ------------------------------------- */

static int side_add(struct cio__runtime *rt, const struct cio__fd_side *e)
{
    int rc = 0;
    pthread_mutex_lock(&rt->fd_lock);
    if (rt->fd_nside == rt->fd_cside) {
        int c = rt->fd_cside ? 2 * rt->fd_cside : 4;
        struct cio__fd_side *n = realloc(rt->fd_side, (size_t)c * sizeof *n);
        if (n) {
            rt->fd_side = n;
            rt->fd_cside = c;
        } else {
            rc = CIO_ENOMEM;
        }
    }
    if (rc == 0)
        rt->fd_side[rt->fd_nside++] = *e;
    pthread_mutex_unlock(&rt->fd_lock);
    return rc;
}

/* Takes `fd`'s side entry out; false when it has none. */
static bool side_take(struct cio__runtime *rt, int fd, struct cio__fd_side *out)
{
    bool found = false;
    pthread_mutex_lock(&rt->fd_lock);
    for (int i = 0; i < rt->fd_nside; i++) {
        if (rt->fd_side[i].fd == fd) {
            *out = rt->fd_side[i];
            rt->fd_side[i] = rt->fd_side[--rt->fd_nside];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&rt->fd_lock);
    return found;
}

/* A copy of `fd`'s side entry (false: it has none). */
static bool side_get(struct cio__runtime *rt, int fd, struct cio__fd_side *out)
{
    bool found = false;
    pthread_mutex_lock(&rt->fd_lock);
    for (int i = 0; i < rt->fd_nside && !found; i++) {
        if (rt->fd_side[i].fd == fd) {
            *out = rt->fd_side[i];
            found = true;
        }
    }
    pthread_mutex_unlock(&rt->fd_lock);
    return found;
}

int cio__fd_io(struct cio__runtime *rt, struct cio__fd *st, int fd)
{
    struct cio__fd_side e;
    if (!cio__fd_is(st, CIO__FD_ALIAS) || !side_get(rt, fd, &e))
        return fd;
    return e.alias;
}

/* A terminal other than a pseudo-terminal's master: opening a master's
 * path again (/dev/ptmx) would make a new pseudo-terminal, and other
 * character devices (tun, fuse, sound) keep state per open, so only
 * these are reopened. */
static bool tty_slave(int fd)
{
    int n;
    return isatty(fd) && ioctl(fd, TIOCGPTN, &n) < 0;
}

/* A non-blocking description of the file `fd` names, cio's own, or -1.
 * Non-blocking also so that a FIFO's write end does not wait for a
 * reader. */
static int reopen(int fd, int fl)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int a = open(path, (fl & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (a < 0)
        return -1;
    /* The same file, not whatever the link's path names now (a FIFO
     * replaced on disk, say). */
    struct stat x, y;
    if (fstat(fd, &x) < 0 || fstat(a, &y) < 0 || x.st_dev != y.st_dev ||
        x.st_ino != y.st_ino) {
        close(a);
        return -1;
    }
    return a;
}

int cio__fd_blocking_copy(struct cio__runtime *rt, int fd)
{
    struct cio__fd_side e;
    if (!side_get(rt, fd, &e) || e.saved_fl < 0 || (e.saved_fl & O_NONBLOCK))
        return -1;
    int c = reopen(fd, e.saved_fl);
    if (c >= 0 && fcntl(c, F_SETFL, e.saved_fl) < 0) { /* blocking now */
        close(c);
        c = -1;
    }
    return c;
}

/* First use of a descriptor cio did not create (lock held): sets it up as
 * the comment at the top says. */
static int adopt(struct cio__runtime *rt, struct cio__fd *st, int fd)
{
    int rc = 0;
    fd_lock(st);
    uint32_t f = flags_of(st);
    if (f & CIO__FD_KNOWN)
        goto out;
    struct stat sb;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fstat(fd, &sb) < 0) {
        rc = -errno;
        goto out;
    }
    f = CIO__FD_KNOWN;
    if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
        f |= CIO__FD_FILE | CIO__FD_NOPOLL;
    } else if (!(fl & O_NONBLOCK)) {
        int alias = -1, saved = -1;
        if (S_ISCHR(sb.st_mode) && tty_slave(fd))
            alias = reopen(fd, fl);
        if (alias < 0) {
            if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                rc = -errno;
                goto out;
            }
            saved = fl;
        }
        /* A socket cio made non-blocking stays so: the program handed
         * it over. Anything else is put back. */
        if (!S_ISSOCK(sb.st_mode)) {
            struct cio__fd_side e = {fd, alias, saved, sb.st_dev, sb.st_ino};
            rc = side_add(rt, &e);
            if (rc < 0) {
                side_undo(&e);
                goto out;
            }
            f |= alias >= 0 ? CIO__FD_ALIAS : CIO__FD_RESTORE;
        }
    }
    if (S_ISSOCK(sb.st_mode))
        f |= CIO__FD_SOCKET;
    /* Release (set_flags): a call that sees KNOWN sees the side entry. */
    set_flags(st, f);
out:
    fd_unlock(st);
    return rc;
}

int cio__fd_begin(struct cio__runtime *rt, int fd, struct cio__fd **out)
{
    struct cio__fd *st = fd_get(rt, fd, true);
    if (!st) {
        /* Past the kernel's largest descriptor number: not open. */
        if (fd < 0 || (uint32_t)fd / CIO__FD_CHUNK >= rt->fd_nchunks)
            return CIO_EBADF;
        return CIO_ENOMEM;
    }
    for (;;) {
        /* Acquire: pairs with the release that clears CLOSING in shut_in(),
         * so a call that starts after a close sees the entry reset. */
        uint32_t r = atomic_fetch_add_explicit(&st->refs, REF,
                                               memory_order_acquire);
        if (!(r & CLOSING))
            break;
        atomic_fetch_sub_explicit(&st->refs, REF, memory_order_release);
        /* A close is under way. Its close(2) and the clearing of CLOSING
         * happen in one hold of the lock, so once this call holds it:
         * either CLOSING is still set, close(2) has not happened, and this
         * call raced the close of its own descriptor (EBADF); or the
         * number was closed and may now name someone else's descriptor,
         * which this call is about: start again. */
        fd_lock(st);
        bool closing = atomic_load_explicit(&st->refs, memory_order_relaxed) &
                       CLOSING;
        fd_unlock(st);
        if (closing)
            return CIO_EBADF;
    }
    if (!(flags_of(st) & CIO__FD_KNOWN)) {
        int rc = adopt(rt, st, fd);
        if (rc < 0) {
            /* Release: pairs with shut_in()'s acquire wait for calls. */
            atomic_fetch_sub_explicit(&st->refs, REF, memory_order_release);
            return rc;
        }
    }
    *out = st;
    return 0;
}

int cio__fd_fresh(struct cio__runtime *rt, int fd, uint32_t flags)
{
    struct cio__fd *st = fd_get(rt, fd, true);
    if (!st)
        return CIO_ENOMEM;
    /* A receive on the number's old socket still holds that socket. */
    cio__rx_stop(st, false);
    fd_lock(st);
    /* Tasks still waiting on this number waited on a descriptor closed
     * behind cio's back; the kernel already dropped its registration. */
    wake_all_closed(st);
    struct cio__fd_side side;
    if ((flags_of(st) & (CIO__FD_ALIAS | CIO__FD_RESTORE)) &&
        side_take(rt, fd, &side) && side.alias >= 0) {
        /* cio's own description of the old file outlived the number: it
         * is still registered, and still open. */
        unwatch_all(rt, st, side.alias, true);
        close(side.alias);
    } else {
        unwatch_all(rt, st, fd, false);
    }
    reset(st, CIO__FD_KNOWN | flags);
    fd_unlock(st);
    return 0;
}

/* Registers the descriptor with worker `w`'s reactor (lock held). When
 * another reactor watches it already, both report its edges from now on;
 * a duplicate edge only sets bits that the next EAGAIN clears again. */
static int reg(struct cio__fd *st, int fd, struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    /* Relaxed: the lock is held, and only holders write `gen`. */
    uint32_t gen = atomic_load_explicit(&st->gen, memory_order_relaxed);
    uint64_t token = ((uint64_t)gen << 32) | (uint32_t)fd;
    uint32_t f = flags_of(st);
    /* The reactor watches the description calls use; the token names the
     * table entry. */
    int io = cio__fd_io(rt, st, fd);
    int rc = rt->be->add(w->poller, io, token);
    if (rc == -EPERM) {
        set_flags(st, f | CIO__FD_NOPOLL);
        return 0;
    }
    if (rc < 0 && rc != -EEXIST)
        return rc;
    rc = mark_watched(rt, st, w->index);
    if (rc < 0) {
        rt->be->del(w->poller, io);
        return rc;
    }
    atomic_fetch_add_explicit(&w->nfds, 1, memory_order_relaxed);
    set_flags(st, f | CIO__FD_REGISTERED);
    return 0;
}

static inline __attribute__((always_inline)) int
fd_wait_in(struct cio__task *self, struct cio__fd *st, int fd, int want,
           int64_t deadline, bool edge_only, struct cio__fdwait *rec,
           bool own);

/* The record on the waiting task's stack, in a frame of its own: a
 * compact task's record is in the heap (compact.c), and its frames, which
 * a trim copies whole, need no room for this one. */
__attribute__((noinline)) static int
fd_wait_own(struct cio__task *self, struct cio__fd *st, int fd, int want,
            int64_t deadline, bool edge_only)
{
    struct cio__fdwait own;
    return fd_wait_in(self, st, fd, want, deadline, edge_only, &own, true);
}

int cio__fd_wait(struct cio__task *self, struct cio__fd *st, int fd,
                 int want, int64_t deadline, bool edge_only)
{
    struct cio__fdwait *rec = cio__compact_rec(self);
    if (!rec)
        return fd_wait_own(self, st, fd, want, deadline, edge_only);
    return fd_wait_in(self, st, fd, want, deadline, edge_only, rec, false);
}

/* Inlined in both callers: one frame per wait either way. */
static inline __attribute__((always_inline)) int
fd_wait_in(struct cio__task *self, struct cio__fd *st, int fd, int want,
           int64_t deadline, bool edge_only, struct cio__fdwait *rec,
           bool own)
{
    *rec = (struct cio__fdwait){.task = self, .want = want};
    fd_lock(st);
    /* Relaxed: a close that set CLOSING without the lock yet takes it
     * next and wakes every waiter listed by then, this one included. */
    if (atomic_load_explicit(&st->refs, memory_order_relaxed) & CLOSING) {
        fd_unlock(st);
        return CIO_EBADF;
    }
    uint32_t f = flags_of(st);
    if (!(f & CIO__FD_NOPOLL) && !watched_by(st, self->worker->index)) {
        if (edge_only && !(f & CIO__FD_REGISTERED)) {
            /* Under the lock, before the first registration: no edge can
             * have been reported yet, so none is lost. */
            atomic_fetch_and_explicit(&st->rdy, ~(uint64_t)want,
                                      memory_order_relaxed);
        }
        int rc = reg(st, fd, self->worker);
        if (rc < 0) {
            fd_unlock(st);
            return rc;
        }
        f = flags_of(st);
    }
    if (f & CIO__FD_NOPOLL) {
        fd_unlock(st);
        return want;
    }
    /* Under the lock, which every event takes to set bits: an edge not
     * seen here finds this waiter listed. */
    uint64_t r = atomic_load_explicit(&st->rdy, memory_order_relaxed);
    uint64_t go = r & CIO__RDY_GO(want);
    /* Bytes received ahead (rx.c) are readable, though the socket may
     * hold none and no edge may come for them. */
    if ((want & CIO__RDY_READ) && (st->rx.nbufs || st->rx.end))
        go |= CIO__RDY_READ;
    if (go) {
        fd_unlock(st);
        return (int)((go | go >> 2) & (uint64_t)want);
    }
    cio__wait_on(self, CIO_WAIT_FD, (uintptr_t)fd);
    rec->seq = cio__wait_begin(self);
    rec->next = st->waiters;
    st->waiters = rec;
    fd_unlock(st);
    cio__count(&self->worker->c.io_waits, 1);

    if (!own)
        cio__compact_allow(self, true);
    int reason = cio__park(self, deadline);
    if (!own)
        cio__compact_allow(self, false);
    if (reason == CIO__WAKE_OK)
        return rec->got & CIO__FD_CLOSED ? CIO_EBADF : rec->got;
    /* Timed out or cancelled: unlink, unless a waker already did. */
    fd_lock(st);
    unlink_waiter(st, rec);
    fd_unlock(st);
    return cio__wait_error(reason);
}

void cio__fd_event(struct cio__runtime *rt, uint64_t token, uint32_t ev)
{
    struct cio__fd *st = fd_get(rt, (int)(uint32_t)token, false);
    uint32_t gen = (uint32_t)(token >> 32);
    if (!st || atomic_load_explicit(&st->gen, memory_order_relaxed) != gen)
        return; /* an event queued before the descriptor was closed */
    uint64_t bits = 0;
    if (ev & CIO__EV_READ)
        bits |= CIO__RDY_READ;
    if (ev & CIO__EV_WRITE)
        bits |= CIO__RDY_WRITE;
    if (ev & (CIO__EV_RDHUP | CIO__EV_ERR))
        bits |= CIO__RDY_READ | CIO__RDY_RCLOSED;
    if (ev & CIO__EV_ERR)
        bits |= CIO__RDY_WRITE | CIO__RDY_WCLOSED;
    fd_lock(st);
    /* The generation is checked again under the lock, which every reset
     * holds: a late event must not mark the number's next descriptor. */
    if (atomic_load_explicit(&st->gen, memory_order_relaxed) == gen)
        cio__fd_edge(st, bits);
    fd_unlock(st);
}

void cio__fd_edge(struct cio__fd *st, uint64_t bits)
{
    /* Release: pairs with the acquire loads of calls (io.h), which then
     * try the system call the edge says may succeed. */
    uint64_t r = atomic_load_explicit(&st->rdy, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &st->rdy, &r, (r + CIO__RDY_ONE) | bits, memory_order_release,
        memory_order_relaxed))
        ;
    struct cio__fdwait **pp = &st->waiters;
    while (*pp) {
        struct cio__fdwait *rec = *pp;
        if (!(rec->want & (int)bits)) {
            pp = &rec->next;
            continue;
        }
        *pp = rec->next;
        rec->got = rec->want & (int)bits;
        /* `rec` may be gone once its task runs again. */
        cio__wake(rec->task, rec->seq, CIO__WAKE_OK);
    }
}

bool cio__fd_closing(const struct cio__fd *st)
{
    /* Relaxed: called with the lock held; a close sets CLOSING and then
     * takes the lock to wake the waiters listed by then. */
    return atomic_load_explicit(&st->refs, memory_order_relaxed) & CLOSING;
}

void cio__fd_unlink_waiter(struct cio__fd *st, struct cio__fdwait *rec)
{
    unlink_waiter(st, rec);
}

/* ---- requests ----------------------------------------------------------- */

/* A request in flight, on its task's stack; `token` is its address. Only
 * the worker owning the backend instance touches it after submission
 * (its completion and its task both run there): no atomics. */
struct cio__fdreq {
    struct cio__task *task;
    uint64_t seq;  /* the wait the completion ends */
    int32_t res;
    bool done;
};

bool cio__fd_req_ok(const struct cio__task *self)
{
    /* A task that may migrate could be resumed elsewhere while its
     * request is in flight, where it could neither cancel nor reap it. */
    return self->worker->rt->be->submit &&
           !(cio__task_flags(self) & CIO__T_MIGRATE);
}

int cio__req_run(struct cio__task *self, struct cio__fd *st, int fd,
                 const struct cio__req *req, int64_t deadline, int32_t *res,
                 int *ended)
{
    struct cio__worker *w = self->worker;
    const struct cio__backend *be = w->rt->be;
    struct cio__fdreq rq = {.task = self};
    /* Listed among the descriptor's waiters (wanting no edge), so that a
     * close wakes it like any other. */
    struct cio__fdwait rec = {.task = self, .want = 0};
    uint64_t token = (uint64_t)(uintptr_t)&rq;
    if (st) {
        fd_lock(st);
        /* Relaxed: as in cio__fd_wait(), a close that set CLOSING takes
         * the lock next and finds this waiter listed. */
        if (atomic_load_explicit(&st->refs, memory_order_relaxed) &
            CLOSING) {
            fd_unlock(st);
            return CIO_EBADF;
        }
    }
    cio__wait_on(self, st ? CIO_WAIT_FD : CIO_WAIT_POOL, (uintptr_t)fd);
    rec.seq = rq.seq = cio__wait_begin(self);
    if (st) {
        rec.next = st->waiters;
        st->waiters = &rec;
        fd_unlock(st);
    }
    /* After the listing: the call's hold on the descriptor keeps close(2)
     * from happening before the request completes, and the kernel sees
     * the request only at this worker's next poll. */
    int rc = be->submit(w->poller, req, token);
    if (rc < 0) {
        if (st) {
            fd_lock(st);
            unlink_waiter(st, &rec);
            fd_unlock(st);
        }
        return CIO__NO_REQ;
    }
    w->reqs++;
    cio__count(&w->c.io_waits, 1);
    cio__count(&w->c.io_reqs, 1);
    int reason = cio__park(self, deadline);
    if (!rq.done) {
        /* The wait ended first (deadline, cancel, close): the kernel is
         * asked to cancel, and the request's memory stays its own until
         * the completion says it is done. */
        be->cancel(w->poller, token);
        while (!rq.done) {
            rq.seq = cio__wait_begin(self);
            cio__park_uncancellable(self);
        }
    }
    bool closed = false;
    if (st) {
        fd_lock(st);
        unlink_waiter(st, &rec);
        closed = rec.got & CIO__FD_CLOSED;
        fd_unlock(st);
    }
    *res = rq.res;
    int early = closed ? CIO_EBADF
                : reason != CIO__WAKE_OK ? cio__wait_error(reason)
                                         : 0;
    if (ended)
        *ended = early;
    if (rq.res >= 0)
        return 0; /* it happened: its result stands */
    if (early && (closed || rq.res == -ECANCELED))
        return early; /* it did not happen (or the descriptor is gone) */
    /* It failed by itself, or the cancel interrupted it where the kernel's
     * worker blocked in it (-EINTR): the caller knows what that undid. */
    return 0;
}

int cio__fd_req(struct cio__task *self, struct cio__fd *st, int fd,
                const struct cio__req *req, int64_t deadline)
{
    int32_t res;
    int ended;
    int rc = cio__req_run(self, st, fd, req, deadline, &res, &ended);
    if (rc < 0)
        return rc;
    /* Interrupted by the cancel: a socket call moved nothing then. */
    return res == -EINTR && ended ? ended : res;
}

void cio__fd_req_done(struct cio__worker *w, uint64_t token, int32_t res)
{
    struct cio__fdreq *rq = (struct cio__fdreq *)(uintptr_t)token;
    struct cio__task *t = rq->task;
    uint64_t seq = rq->seq;
    rq->res = res;
    rq->done = true;
    w->reqs--;
    cio__wake(t, seq, CIO__WAKE_OK);
}

void cio__io_budget_yield(struct cio__task *self)
{
    cio__count(&self->worker->c.budget_yields, 1);
    cio__sched_yield(self);
}

/* ---- closing ------------------------------------------------------------ */

static int shut_in(struct cio__runtime *rt, int fd, bool do_close)
{
    struct cio__fd *st = rt ? fd_get(rt, fd, false) : NULL;
    if (!st) {
        /* cio never saw this number: nothing to wake or unregister. */
        if (do_close && cio__os.close(fd) < 0 && errno != EINTR)
            return -errno;
        return 0;
    }
    /* Bytes cio received ahead belong to the program: a descriptor it
     * takes back must not have lost any. */
    if (!do_close && cio__rx_stop(st, true))
        return CIO_EBUSY;
    /* One read-modify-write order on `refs`: each call's increment either
     * comes before this (the wait below counts it) or sees CLOSING. */
    if (atomic_fetch_or_explicit(&st->refs, CLOSING, memory_order_acq_rel) &
        CLOSING)
        return CIO_EBADF; /* another close is under way */
    fd_lock(st);
    wake_all_closed(st);
    fd_unlock(st);
    /* Calls still inside the descriptor leave soon: their waits were just
     * woken, and a system call on a non-blocking descriptor is short. */
    /* Acquire: pairs with the release in cio__fd_end(), so every call's
     * system call is over before close(2). */
    while (atomic_load_explicit(&st->refs, memory_order_acquire) >> 1) {
        struct cio__task *self = cio__task_current();
        if (self)
            cio__sched_yield(self);
        else
            sched_yield();
    }
    /* A receive in flight holds the socket open in the kernel (the peer
     * would see no close) and writes into buffers: ended first. No read
     * can make another now (CLOSING). A forget that finds bytes received
     * since its first look gives the descriptor back to cio's calls. */
    if (cio__rx_stop(st, !do_close)) {
        atomic_fetch_and_explicit(&st->refs, ~CLOSING, memory_order_release);
        return CIO_EBUSY;
    }
    int rc = 0;
    fd_lock(st);
    unwatch_all(rt, st, cio__fd_io(rt, st, fd), true);
    /* cio's own description closed, or the flags it changed put back
     * before the caller (or the kernel) has the descriptor again. */
    struct cio__fd_side side;
    if ((flags_of(st) & (CIO__FD_ALIAS | CIO__FD_RESTORE)) &&
        side_take(rt, fd, &side))
        side_undo(&side);
    if (do_close && cio__os.close(fd) < 0 && errno != EINTR)
        rc = -errno; /* Linux frees the number even on EINTR */
    reset(st, 0);
    /* Only the closing bit: a call that saw it may still be about to take
     * its count back, and a plain store would make that count wrap.
     * Release: pairs with the acquire in cio__fd_begin(). */
    atomic_fetch_and_explicit(&st->refs, ~CLOSING, memory_order_release);
    fd_unlock(st);
    return rc;
}

static int shut(int fd, bool do_close)
{
    if (fd < 0)
        return CIO_EBADF;
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    int rc = shut_in(rt, fd, do_close);
    cio__rt_leave(rt, pinned);
    return rc;
}

int cio_close(int fd)
{
    return shut(fd, true);
}

int cio_fd_forget(int fd)
{
    return shut(fd, false);
}
