/* The io_uring backend: one ring per worker, owned by its thread.
 *
 * Requests (reads and writes the kernel performs and completes later) go
 * through the ring: a worker queues them while it runs tasks and hands
 * the whole batch to the kernel in the io_uring_enter that also collects
 * completions and, when the worker has nothing to run, sleeps. The ring
 * is set up for one issuer whose completions are run only when it asks
 * (SINGLE_ISSUER with DEFER_TASKRUN, else COOP_TASKRUN): no interrupt of
 * a running task for the kernel's work, and the kernel flags in the ring
 * when it has work for the owner, so a poll without anything to do costs
 * no system call.
 *
 * Readiness (the rest of the contract: add, del) stays with an epoll
 * instance the ring watches: edges are edges as on the epoll backend, and
 * add and del remain callable from any thread (cio_close runs on any),
 * while a poll request armed on a descriptor would hold its file open
 * until the ring's owner removed it. One multishot poll of the ring on
 * the epoll descriptor says when to collect its events, and one on an
 * eventfd is how other threads wake the owner.
 *
 * Written against the kernel's interface directly (linux/io_uring.h):
 * the few dozen lines of ring handling do not need a library.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/epset.h"
#include "os/os.h"
#include "util/spin.h"

/* Tokens of the backend's own requests; callers' tokens are addresses. */
#define TOKEN_IGNORE 0 /* a cancel's own completion */
#define TOKEN_EPOLL 1  /* the poll of the epoll descriptor */
#define TOKEN_WAKE 2   /* the poll of the eventfd */

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096
/* Epoll events fetched per collection; more stay for the next poll(). */
#define BATCH 256

/* Provided buffers for multishot receives (CIO__REQ_RECV_MULTI): one
 * group per ring, up to RX_BUFS of RX_BUF_SIZE (2 MiB per worker, for
 * many connections each with a request or two in flight). A connection
 * holds one only between the bytes' arrival and its task's read, and a
 * ring that runs dry ends the receives that found it so (ENOBUFS), which
 * then read as before, into the reader's own buffer.
 *
 * The kernel takes buffers in ring order and they come back at the tail,
 * so every buffer ever given ends up touched (resident) even under a
 * light load. So the ring starts with RX_BUFS_FIRST and doubles the
 * buffers it gives each time a receive finds it dry: what stays resident
 * follows the most receives the load ever had in flight at once (an
 * idle server of 10,000 connections that came 64 at a time holds 256 KiB
 * of them, not 2 MiB). */
#define RX_BUFS 1024 /* a power of two, at most 32768 */
#define RX_BUFS_FIRST 64
#define RX_BUF_SIZE 2048
#define RX_GROUP 0

/* The setup flags tried, best first (the first for Linux 6.1 and later,
 * the second for 5.19). Every ring starts disabled: it is made on the
 * thread that starts the runtime, and SINGLE_ISSUER binds it to the
 * thread that enables it (start()), its worker. */
static const unsigned setups[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
        IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
};
#define COMMON_SETUP                                                          \
    (IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED)

/* The opcodes cio uses (all there since Linux 5.15). */
static const unsigned char ops_used[] = {
    IORING_OP_NOP,      IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
    IORING_OP_RECV,     IORING_OP_SEND,     IORING_OP_READV,
    IORING_OP_SENDMSG,  IORING_OP_READ,     IORING_OP_WRITE,
    IORING_OP_WRITEV,   IORING_OP_FSYNC,    IORING_OP_OPENAT,
    IORING_OP_CLOSE,    IORING_OP_STATX,    IORING_OP_UNLINKAT,
    IORING_OP_RENAMEAT, IORING_OP_MKDIRAT,  IORING_OP_ACCEPT,
    IORING_OP_CONNECT,  IORING_OP_RECVMSG,
};

struct ring {
    int fd;
    /* Submission queue: the kernel's head, our tail. */
    _Atomic unsigned *sq_khead, *sq_ktail, *sq_kflags;
    unsigned *sq_array;
    unsigned sq_mask, sq_entries;
    unsigned sq_tail;  /* next entry to fill */
    unsigned pending;  /* entries filled, not yet handed to the kernel */
    struct io_uring_sqe *sqes;
    /* Completion queue: our head, the kernel's tail. */
    _Atomic unsigned *cq_khead, *cq_ktail;
    unsigned cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_map_len, cq_map_len, sqes_len;

    /* Cancels that found the submission queue full: a request waits for
     * its cancel to complete, so none is dropped; queued at the next poll. */
    uint64_t *cancels;
    size_t ncancels, ccancels;

    /* The provided buffers: the ring the kernel takes them from (NULL:
     * none), their memory, and the next slot to give one back in. Any
     * thread gives buffers back (the reader of a connection may run on
     * another worker): under `br_lock`. */
    struct io_uring_buf_ring *br;
    char *rx_mem;
    uint16_t br_tail;
    uint32_t br_given; /* buffers 0 to br_given - 1 are in use */
    bool br_short;     /* a receive found none free since the last poll */
    cio__spin br_lock;

    int epfd, evfd;
    bool ep_armed, ev_armed; /* their multishot polls are armed */
    bool ep_ready;           /* the epoll instance may hold events */
    struct epoll_event buf[BATCH];
};

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags,
                     const void *arg, size_t argsz)
{
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, arg,
                        argsz);
}

static int sys_register(int fd, unsigned op, void *arg, unsigned n)
{
    return (int)syscall(__NR_io_uring_register, fd, op, arg, n);
}

static void ring_unmap(struct ring *r)
{
    if (r->sqes && r->sqes != MAP_FAILED)
        munmap(r->sqes, r->sqes_len);
    if (r->cq_map && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_map_len);
    if (r->sq_map && r->sq_map != MAP_FAILED)
        munmap(r->sq_map, r->sq_map_len);
}

/* Makes the ring; fills `why` on failure. */
static int ring_make(struct ring *r, char *why, size_t n)
{
    memset(r, 0, sizeof *r);
    r->fd = r->epfd = r->evfd = -1;
    struct io_uring_params p;
    int fd = -1, err = 0;
    for (size_t i = 0; i < sizeof setups / sizeof *setups; i++) {
        memset(&p, 0, sizeof p);
        p.flags = setups[i] | COMMON_SETUP;
        p.cq_entries = CQ_ENTRIES;
        fd = sys_setup(SQ_ENTRIES, &p);
        if (fd >= 0)
            break;
        err = errno;
        if (err != EINVAL)
            break; /* not a flag this kernel lacks: EPERM, ENOMEM... */
    }
    if (fd < 0) {
        snprintf(why, n, "io_uring_setup: %s", strerror(err));
        return -err;
    }
    r->fd = fd;
    unsigned need = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP;
    if ((p.features & need) != need) {
        snprintf(why, n, "io_uring lacks %s (Linux 5.11 or later)",
                 p.features & IORING_FEAT_EXT_ARG ? "IORING_FEAT_NODROP"
                                                  : "IORING_FEAT_EXT_ARG");
        return -ENOSYS;
    }
    r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    bool single = p.features & IORING_FEAT_SINGLE_MMAP;
    if (single && r->cq_map_len > r->sq_map_len)
        r->sq_map_len = r->cq_map_len;
    r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED)
        goto map_failed;
    r->cq_map = single ? r->sq_map
                       : mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_POPULATE, fd,
                              IORING_OFF_CQ_RING);
    if (r->cq_map == MAP_FAILED)
        goto map_failed;
    r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED)
        goto map_failed;
    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_khead = (_Atomic unsigned *)(sq + p.sq_off.head);
    r->sq_ktail = (_Atomic unsigned *)(sq + p.sq_off.tail);
    r->sq_kflags = (_Atomic unsigned *)(sq + p.sq_off.flags);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_entries = p.sq_entries;
    r->cq_khead = (_Atomic unsigned *)(cq + p.cq_off.head);
    r->cq_ktail = (_Atomic unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    /* Relaxed: nothing was submitted yet; the ring is ours alone. */
    r->sq_tail = atomic_load_explicit(r->sq_ktail, memory_order_relaxed);
    return 0;

map_failed:
    err = errno;
    snprintf(why, n, "mmap of the io_uring: %s", strerror(err));
    return -err;
}

static void ring_free(struct ring *r)
{
    free(r->cancels);
    /* Receives may still be in flight (a socket the program keeps past
     * the runtime): the kernel lets go of the buffers before they are
     * unmapped, so none is written after. */
    if (r->br) {
        struct io_uring_buf_reg reg = {.bgid = RX_GROUP};
        sys_register(r->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
    }
    ring_unmap(r);
    if (r->fd >= 0)
        close(r->fd);
    if (r->br)
        munmap(r->br, RX_BUFS * sizeof(struct io_uring_buf));
    if (r->rx_mem)
        munmap(r->rx_mem, (size_t)RX_BUFS * RX_BUF_SIZE);
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->evfd >= 0)
        close(r->evfd);
}

/* Hands what was queued to the kernel and, with `wait`, waits up to
 * `timeout_ns` (< 0: no limit) for one completion. Returns 0 or a
 * negative errno (EINTR, ETIME when the wait timed out: not errors). */
static int ring_enter(struct ring *r, bool wait, int64_t timeout_ns)
{
    unsigned flags = IORING_ENTER_GETEVENTS;
    struct io_uring_getevents_arg arg = {0};
    struct __kernel_timespec ts;
    const void *argp = NULL;
    size_t argsz = 0;
    const sigset_t *open = wait ? cio__os_signals_open() : NULL;
    if (wait && (timeout_ns >= 0 || open)) {
        /* A worker that holds signals back lets them in while it sleeps
         * (os.h), as epoll_pwait does on the other backend. */
        if (timeout_ns >= 0) {
            struct timespec t = cio__os_ts(timeout_ns);
            ts.tv_sec = t.tv_sec;
            ts.tv_nsec = t.tv_nsec;
            arg.ts = (uint64_t)(uintptr_t)&ts;
        }
        if (open) {
            arg.sigmask = (uint64_t)(uintptr_t)open;
            arg.sigmask_sz = _NSIG / 8;
        }
        flags |= IORING_ENTER_EXT_ARG;
        argp = &arg;
        argsz = sizeof arg;
    }
    unsigned submit = r->pending;
    int n = sys_enter(r->fd, submit, wait ? 1 : 0, flags, argp, argsz);
    if (n < 0)
        return -errno;
    /* SUBMIT_ALL: every entry was taken unless one could not be read,
     * which would be a bug here; count what was taken either way. */
    r->pending -= (unsigned)n < submit ? (unsigned)n : submit;
    return 0;
}

/* A free submission entry, handing the queue to the kernel first when it
 * is full; NULL when even that leaves no room. */
static struct io_uring_sqe *sqe_get(struct ring *r)
{
    /* Acquire: pairs with the kernel's release of its head once it has
     * read the entries before it. */
    unsigned head = atomic_load_explicit(r->sq_khead, memory_order_acquire);
    if (r->sq_tail - head >= r->sq_entries) {
        if (ring_enter(r, false, 0) < 0)
            return NULL;
        head = atomic_load_explicit(r->sq_khead, memory_order_acquire);
        if (r->sq_tail - head >= r->sq_entries)
            return NULL;
    }
    unsigned i = r->sq_tail & r->sq_mask;
    struct io_uring_sqe *e = &r->sqes[i];
    memset(e, 0, sizeof *e);
    r->sq_array[i] = i;
    return e;
}

static void sqe_push(struct ring *r)
{
    r->sq_tail++;
    r->pending++;
    /* Release: the kernel reads the entry after it sees the tail. */
    atomic_store_explicit(r->sq_ktail, r->sq_tail, memory_order_release);
}

static int arm_poll(struct ring *r, int fd, uint64_t token)
{
    struct io_uring_sqe *e = sqe_get(r);
    if (!e)
        return -EBUSY;
    e->opcode = IORING_OP_POLL_ADD;
    e->fd = fd;
    e->poll32_events = POLLIN;
    e->len = IORING_POLL_ADD_MULTI;
    e->user_data = token;
    sqe_push(r);
    return 0;
}

static int ur_open(void **out)
{
    struct ring *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    char why[128];
    int rc = ring_make(r, why, sizeof why);
    if (rc < 0)
        goto fail;
    r->epfd = cio__os.epoll_create1(EPOLL_CLOEXEC);
    r->evfd = r->epfd < 0 ? -1
                          : cio__os.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->evfd < 0) {
        rc = -errno;
        goto fail;
    }
    *out = r;
    return 0;
fail:
    ring_free(r);
    free(r);
    return rc;
}

/* Puts buffer `id` in the ring's next slot (br_lock held, or no other
 * thread yet). The slot's last field overlaps the ring's tail in the
 * first slot: only the three others are written. */
static void br_add(struct ring *r, uint32_t id)
{
    struct io_uring_buf *b = &r->br->bufs[r->br_tail & (RX_BUFS - 1)];
    b->addr = (uint64_t)(uintptr_t)(r->rx_mem + (size_t)id * RX_BUF_SIZE);
    b->len = RX_BUF_SIZE;
    b->bid = (uint16_t)id;
    r->br_tail++;
}

static void br_publish(struct ring *r)
{
    /* Release: pairs with the kernel's acquire of the tail before it
     * reads the slots below it. */
    atomic_store_explicit((_Atomic uint16_t *)&r->br->tail, r->br_tail,
                          memory_order_release);
}

/* Sets up the provided buffers; without them (an old kernel, no memory)
 * receives are made one at a time into the reader's buffer, as before. */
static void br_make(struct ring *r)
{
    size_t ring_len = RX_BUFS * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *mem = mmap(NULL, (size_t)RX_BUFS * RX_BUF_SIZE,
                     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0);
    if (br == MAP_FAILED || mem == MAP_FAILED)
        goto fail;
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                   .ring_entries = RX_BUFS,
                                   .bgid = RX_GROUP};
    if (sys_register(r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
        goto fail;
    r->br = br;
    r->rx_mem = mem;
    r->br_tail = 0;
    for (uint32_t i = 0; i < RX_BUFS_FIRST; i++)
        br_add(r, i);
    r->br_given = RX_BUFS_FIRST;
    br_publish(r);
    return;
fail:
    if (br != MAP_FAILED)
        munmap(br, ring_len);
    if (mem != MAP_FAILED)
        munmap(mem, (size_t)RX_BUFS * RX_BUF_SIZE);
}

/* Receives found the ring dry: give the kernel as many new buffers as
 * it has (up to RX_BUFS in all), once for all the receives of one poll's
 * batch. The ring's owner; buffers come back from any thread meanwhile,
 * hence the lock. */
static void br_grow(struct ring *r)
{
    r->br_short = false;
    cio__spin_lock(&r->br_lock);
    uint32_t n = r->br_given;
    if (n > RX_BUFS - r->br_given)
        n = RX_BUFS - r->br_given;
    for (uint32_t i = 0; i < n; i++)
        br_add(r, r->br_given + i);
    r->br_given += n;
    if (n)
        br_publish(r);
    cio__spin_unlock(&r->br_lock);
}

static int ur_start(void *inst)
{
    struct ring *r = inst;
    if (sys_register(r->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    br_make(r);
    int rc = arm_poll(r, r->evfd, TOKEN_WAKE);
    if (rc == 0)
        rc = arm_poll(r, r->epfd, TOKEN_EPOLL);
    r->ev_armed = r->ep_armed = rc == 0;
    return rc;
}

static void ur_close(void *inst)
{
    struct ring *r = inst;
    ring_free(r);
    free(r);
}

static int ur_add(void *inst, int fd, uint64_t token)
{
    struct ring *r = inst;
    return cio__epset_add(r->epfd, fd, token);
}

static int ur_del(void *inst, int fd)
{
    struct ring *r = inst;
    return cio__epset_del(r->epfd, fd);
}

/* Collects the epoll instance's events, without waiting. */
static int collect_epoll(struct ring *r, struct cio__event *out, int max)
{
    if (max > BATCH)
        max = BATCH;
    int n = epoll_wait(r->epfd, r->buf, max, 0);
    if (n < 0)
        return 0; /* EINTR: the next poll looks again */
    /* Fewer than asked: none left, and the ring's poll reports the next. */
    r->ep_ready = n == max;
    for (int i = 0; i < n; i++) {
        out[i].token = r->buf[i].data.u64;
        out[i].events = cio__epset_bits(r->buf[i].events);
        out[i].res = 0;
    }
    return n;
}

/* A cancel still waiting for room whose request has completed must not
 * be queued: the token (an address on the caller's stack) may name the
 * caller's next request by then. */
static void cancel_forget(struct ring *r, uint64_t token)
{
    for (size_t i = 0; i < r->ncancels; i++) {
        if (r->cancels[i] == token) {
            r->cancels[i] = r->cancels[--r->ncancels];
            return;
        }
    }
}

/* The kernel's internal restart codes (ERESTARTSYS and its kin, 512 to
 * 516) can reach a completion when a cancel interrupts an operation its
 * worker blocked in; to a caller they are an interruption. */
static int32_t restart_code(int32_t res)
{
    return res <= -512 && res >= -516 ? -EINTR : res;
}

/* Moves completions to `out`; notes the backend's own. */
static int reap(struct ring *r, struct cio__event *out, int max)
{
    int k = 0;
    /* Relaxed: only this thread writes the head. */
    unsigned head = atomic_load_explicit(r->cq_khead, memory_order_relaxed);
    /* Acquire: pairs with the kernel's release of the tail after it
     * wrote the entries. */
    unsigned tail = atomic_load_explicit(r->cq_ktail, memory_order_acquire);
    for (; head != tail && k < max; head++) {
        const struct io_uring_cqe *c = &r->cqes[head & r->cq_mask];
        switch (c->user_data) {
        case TOKEN_IGNORE:
            break;
        case TOKEN_EPOLL:
            r->ep_ready = true;
            if (!(c->flags & IORING_CQE_F_MORE))
                r->ep_armed = false;
            break;
        case TOKEN_WAKE: {
            uint64_t v;
            ssize_t rd = read(r->evfd, &v, sizeof v);
            (void)rd; /* EAGAIN: drained already */
            if (!(c->flags & IORING_CQE_F_MORE))
                r->ev_armed = false;
            break;
        }
        default: {
            bool more = c->flags & IORING_CQE_F_MORE;
            if (r->ncancels && !more)
                cancel_forget(r, c->user_data);
            out[k].token = c->user_data;
            out[k].events = CIO__EV_DONE | (more ? CIO__EV_MORE : 0);
            out[k].res = restart_code(c->res);
            out[k].buf = 0;
            if (c->flags & IORING_CQE_F_BUFFER) {
                out[k].events |= CIO__EV_BUF;
                out[k].buf = c->flags >> IORING_CQE_BUFFER_SHIFT;
            }
            k++;
        }
        }
    }
    /* Release: the kernel may reuse the entries once it sees the head. */
    atomic_store_explicit(r->cq_khead, head, memory_order_release);
    return k;
}

static bool cq_empty(struct ring *r)
{
    return atomic_load_explicit(r->cq_khead, memory_order_relaxed) ==
           atomic_load_explicit(r->cq_ktail, memory_order_acquire);
}

/* Whether the kernel has work for the owner: completions to post (task
 * work deferred to us) or overflowed completions to flush. */
static bool kernel_waits(struct ring *r)
{
    /* Relaxed: a hint; a flag set just after this read comes with a
     * wake of the next wait, or is seen by the next poll. */
    return atomic_load_explicit(r->sq_kflags, memory_order_relaxed) &
           (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

static void cancels_flush(struct ring *r);

static int ur_poll(void *inst, struct cio__event *out, int max,
                   int64_t timeout_ns)
{
    struct ring *r = inst;
    /* A poll that stopped reporting (an error, or the kernel ended the
     * multishot) is armed again before anything else. */
    if (!r->ev_armed && arm_poll(r, r->evfd, TOKEN_WAKE) == 0)
        r->ev_armed = true;
    if (!r->ep_armed && arm_poll(r, r->epfd, TOKEN_EPOLL) == 0) {
        r->ep_armed = true;
        r->ep_ready = true; /* edges may have come while it was not */
    }
    if (r->ncancels)
        cancels_flush(r);
    if (r->br_short)
        br_grow(r);
    bool wait = timeout_ns != 0 && !r->ep_ready && cq_empty(r);
    /* A poll that could not be armed again (no room even after handing
     * the queue over) would leave the sleep deaf to other threads' wakes
     * or to epoll: sleep in short slices until it is. */
    if (wait && (!r->ev_armed || !r->ep_armed) &&
        (timeout_ns < 0 || timeout_ns > 1000000))
        timeout_ns = 1000000;
    if (wait || r->pending || kernel_waits(r)) {
        int rc = ring_enter(r, wait, timeout_ns);
        if (rc == -EBADR) {
            /* A completion was dropped (the kernel could not keep an
             * overflowed one): its task would wait for ever. */
            fprintf(stderr, "cio: io_uring dropped a completion (out of "
                            "kernel memory); stopping the process\n");
            abort();
        }
    }
    int k = reap(r, out, max);
    if (r->ep_ready && k < max)
        k += collect_epoll(r, out + k, max - k);
    return k;
}

static void ur_wake(void *inst)
{
    struct ring *r = inst;
    uint64_t one = 1;
    ssize_t w = write(r->evfd, &one, sizeof one);
    (void)w; /* EAGAIN only when the counter is full: a wake is pending */
}

static int ur_submit(void *inst, const struct cio__req *q, uint64_t token)
{
    struct ring *r = inst;
    if (q->op == CIO__REQ_RECV_MULTI && !r->br)
        return -EOPNOTSUPP; /* no provided buffers here */
    struct io_uring_sqe *e = sqe_get(r);
    if (!e)
        return -EBUSY;
    e->fd = q->fd;
    e->addr = (uint64_t)(uintptr_t)q->addr;
    e->len = q->len;
    e->user_data = token;
    /* -1 (all bits set) is "the file position" to the kernel, which is
     * what a negative `off` means here. */
    uint64_t pos = q->off < 0 ? (uint64_t)-1 : (uint64_t)q->off;
    switch (q->op) {
    case CIO__REQ_RECV:
        e->opcode = IORING_OP_RECV;
        e->msg_flags = q->flags;
        break;
    case CIO__REQ_SEND:
        e->opcode = IORING_OP_SEND;
        e->msg_flags = q->flags;
        break;
    case CIO__REQ_SENDMSG:
        e->opcode = IORING_OP_SENDMSG;
        e->len = 1;
        e->msg_flags = q->flags;
        break;
    case CIO__REQ_RECVMSG:
        e->opcode = IORING_OP_RECVMSG;
        e->len = 1;
        e->msg_flags = q->flags;
        break;
    case CIO__REQ_READV:
        e->opcode = IORING_OP_READV;
        e->off = pos;
        break;
    case CIO__REQ_READ:
        e->opcode = IORING_OP_READ;
        e->off = pos;
        break;
    case CIO__REQ_WRITE:
        e->opcode = IORING_OP_WRITE;
        e->off = pos;
        break;
    case CIO__REQ_WRITEV:
        e->opcode = IORING_OP_WRITEV;
        e->off = pos;
        break;
    case CIO__REQ_FSYNC:
        e->opcode = IORING_OP_FSYNC;
        e->fsync_flags = q->flags ? IORING_FSYNC_DATASYNC : 0;
        break;
    case CIO__REQ_OPENAT:
        e->opcode = IORING_OP_OPENAT;
        e->open_flags = q->flags;
        break;
    case CIO__REQ_CLOSE:
        e->opcode = IORING_OP_CLOSE;
        break;
    case CIO__REQ_STATX:
        e->opcode = IORING_OP_STATX;
        e->statx_flags = q->flags;
        e->off = (uint64_t)(uintptr_t)q->addr2;
        break;
    case CIO__REQ_UNLINKAT:
        e->opcode = IORING_OP_UNLINKAT;
        e->unlink_flags = q->flags;
        break;
    case CIO__REQ_RENAMEAT:
        e->opcode = IORING_OP_RENAMEAT;
        e->len = (uint32_t)q->fd; /* the new path's directory: the same */
        e->off = (uint64_t)(uintptr_t)q->addr2;
        break;
    case CIO__REQ_MKDIRAT:
        e->opcode = IORING_OP_MKDIRAT;
        break;
    case CIO__REQ_ACCEPT:
        e->opcode = IORING_OP_ACCEPT;
        e->accept_flags = q->flags;
        e->off = (uint64_t)(uintptr_t)q->addr2;
        e->len = 0;
        break;
    case CIO__REQ_CONNECT:
        e->opcode = IORING_OP_CONNECT;
        e->off = q->len; /* the address's length, by value */
        e->len = 0;
        break;
    case CIO__REQ_RECV_MULTI:
        e->opcode = IORING_OP_RECV;
        e->addr = 0;
        e->len = 0;
        e->flags = IOSQE_BUFFER_SELECT;
        e->buf_group = RX_GROUP;
        e->ioprio = IORING_RECV_MULTISHOT;
        break;
    default:
        return -EINVAL;
    }
    if (q->poll_first &&
        (q->op == CIO__REQ_RECV || q->op == CIO__REQ_SEND ||
         q->op == CIO__REQ_SENDMSG || q->op == CIO__REQ_RECVMSG))
        e->ioprio = IORING_RECVSEND_POLL_FIRST;
    sqe_push(r);
    return 0;
}

static bool cancel_now(struct ring *r, uint64_t token)
{
    struct io_uring_sqe *e = sqe_get(r);
    if (!e)
        return false;
    e->opcode = IORING_OP_ASYNC_CANCEL;
    e->fd = -1;
    e->addr = token;
    e->user_data = TOKEN_IGNORE;
    sqe_push(r);
    return true;
}

static void ur_cancel(void *inst, uint64_t token)
{
    struct ring *r = inst;
    if (r->ncancels == 0 && cancel_now(r, token))
        return;
    if (r->ncancels == r->ccancels) {
        size_t c = r->ccancels ? 2 * r->ccancels : 16;
        uint64_t *n = realloc(r->cancels, c * sizeof *n);
        if (!n) {
            /* No memory and no room: hand the queue over until there is. */
            while (!cancel_now(r, token))
                ring_enter(r, false, 0);
            return;
        }
        r->cancels = n;
        r->ccancels = c;
    }
    r->cancels[r->ncancels++] = token;
}

/* Queues the cancels that waited for room. */
static void cancels_flush(struct ring *r)
{
    size_t i = 0;
    while (i < r->ncancels && cancel_now(r, r->cancels[i]))
        i++;
    memmove(r->cancels, r->cancels + i,
            (r->ncancels - i) * sizeof *r->cancels);
    r->ncancels -= i;
}

static unsigned ur_bufs(void *inst, uint32_t *size)
{
    struct ring *r = inst;
    *size = RX_BUF_SIZE;
    return r->br ? RX_BUFS : 0;
}

static void *ur_buf(void *inst, uint32_t id)
{
    struct ring *r = inst;
    return r->rx_mem + (size_t)id * RX_BUF_SIZE;
}

static void ur_bufs_short(void *inst)
{
    struct ring *r = inst;
    r->br_short = r->br && r->br_given < RX_BUFS;
}

static void ur_buf_put(void *inst, uint32_t id)
{
    struct ring *r = inst;
    cio__spin_lock(&r->br_lock);
    br_add(r, id);
    br_publish(r);
    cio__spin_unlock(&r->br_lock);
}

const struct cio__backend cio__backend_uring = {
    .name = "io_uring",
    .open = ur_open,
    .close = ur_close,
    .add = ur_add,
    .del = ur_del,
    .poll = ur_poll,
    .wake = ur_wake,
    .start = ur_start,
    .submit = ur_submit,
    .cancel = ur_cancel,
    .bufs = ur_bufs,
    .buf = ur_buf,
    .buf_put = ur_buf_put,
    .bufs_short = ur_bufs_short,
};

int cio__uring_probe(char *why, size_t n)
{
    struct ring r;
    int rc = ring_make(&r, why, n);
    if (rc < 0) {
        ring_free(&r);
        return rc;
    }
    size_t sz = sizeof(struct io_uring_probe) +
                256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *pr = calloc(1, sz);
    if (!pr) {
        ring_free(&r);
        snprintf(why, n, "out of memory");
        return -ENOMEM;
    }
    if (sys_register(r.fd, IORING_REGISTER_PROBE, pr, 256) < 0) {
        rc = -errno;
        snprintf(why, n, "IORING_REGISTER_PROBE: %s", strerror(-rc));
        goto out;
    }
    for (size_t i = 0; i < sizeof ops_used; i++) {
        unsigned op = ops_used[i];
        if (op > pr->last_op || !(pr->ops[op].flags & IO_URING_OP_SUPPORTED)) {
            rc = -ENOSYS;
            snprintf(why, n, "io_uring opcode %u not supported", op);
            goto out;
        }
    }
    /* The whole path once, on this thread: enable, submit, wait. A
     * filter that lets setup through but not io_uring_enter shows here. */
    if (sys_register(r.fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
        rc = -errno;
        snprintf(why, n, "IORING_REGISTER_ENABLE_RINGS: %s", strerror(-rc));
        goto out;
    }
    struct io_uring_sqe *e = sqe_get(&r);
    e->opcode = IORING_OP_NOP;
    e->user_data = 42;
    sqe_push(&r);
    rc = ring_enter(&r, true, 1000000000);
    struct cio__event ev;
    if (rc == 0 && (reap(&r, &ev, 1) != 1 || ev.token != 42))
        rc = -EIO;
    if (rc < 0)
        snprintf(why, n, "io_uring_enter: %s", strerror(-rc));
out:
    free(pr);
    ring_free(&r);
    return rc;
}
