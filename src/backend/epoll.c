/* The epoll backend: one epoll instance and one eventfd per worker.
 *
 * Descriptors are added with EPOLLET for both directions at once
 * (epset.h). The eventfd is how other threads wake a worker asleep in
 * epoll_pwait2; its events are consumed here and never reported.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/epset.h"
#include "os/os.h"

/* Token of the eventfd: no descriptor token has all bits set. */
#define WAKE_TOKEN UINT64_MAX
/* Events fetched per epoll_pwait2 call; more stay queued for the next. */
#define BATCH 256

struct ep {
    int epfd;
    int evfd;
    struct epoll_event buf[BATCH];
};

static int ep_open(void **out)
{
    struct ep *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->epfd = cio__os.epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int rc = -errno;
        free(p);
        return rc;
    }
    p->evfd = cio__os.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->evfd < 0) {
        int rc = -errno;
        close(p->epfd);
        free(p);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TOKEN};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) < 0) {
        int rc = -errno;
        close(p->evfd);
        close(p->epfd);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void ep_close(void *inst)
{
    struct ep *p = inst;
    close(p->evfd);
    close(p->epfd);
    free(p);
}

static int ep_add(void *inst, int fd, uint64_t token)
{
    struct ep *p = inst;
    return cio__epset_add(p->epfd, fd, token);
}

static int ep_del(void *inst, int fd)
{
    struct ep *p = inst;
    return cio__epset_del(p->epfd, fd);
}

/* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; older kernels and
 * emulators without it get epoll_wait with the timeout rounded up to whole
 * milliseconds, so a wait never ends before a deadline. A worker that
 * holds signals back (ThreadSanitizer builds, os.h) sleeps in epoll_pwait,
 * which that sanitizer knows to block, with its signals let in. */
static _Atomic int no_pwait2;

static int wait_events(struct ep *p, int max, int64_t timeout_ns)
{
    /* A worker that holds signals back lets them in here (os.h). */
    const sigset_t *open = cio__os_signals_open();
    if (!open && !atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = cio__os_ts(timeout_ns >= 0 ? timeout_ns : 0);
        struct timespec *tsp = timeout_ns >= 0 ? &ts : NULL;
        int n = epoll_pwait2(p->epfd, p->buf, max, tsp, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed);
    }
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t m = cio__os_add_sat(timeout_ns, 999999) / 1000000;
        ms = m > INT_MAX ? INT_MAX : (int)m;
    }
    if (open)
        return epoll_pwait(p->epfd, p->buf, max, ms, open);
    return epoll_wait(p->epfd, p->buf, max, ms);
}

static int ep_poll(void *inst, struct cio__event *out, int max,
                   int64_t timeout_ns)
{
    struct ep *p = inst;
    if (max > BATCH)
        max = BATCH;
    int n = wait_events(p, max, timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint32_t e = p->buf[i].events;
        if (p->buf[i].data.u64 == WAKE_TOKEN) {
            uint64_t v;
            ssize_t r = read(p->evfd, &v, sizeof v);
            (void)r; /* EAGAIN: another poll drained it first */
            continue;
        }
        out[k].token = p->buf[i].data.u64;
        out[k].events = cio__epset_bits(e);
        out[k].res = 0;
        k++;
    }
    return k;
}

static void ep_wake(void *inst)
{
    struct ep *p = inst;
    uint64_t one = 1;
    ssize_t r = write(p->evfd, &one, sizeof one);
    (void)r; /* EAGAIN only when the counter is full: a wake is pending */
}

const struct cio__backend cio__backend_epoll = {
    .name = "epoll",
    .open = ep_open,
    .close = ep_close,
    .add = ep_add,
    .del = ep_del,
    .poll = ep_poll,
    .wake = ep_wake,
};
