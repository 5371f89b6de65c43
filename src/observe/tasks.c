/* Figures per task, in the units a person reads: core keeps ticks,
 * counts and what a task waits on (struct cio__task_fig); this reads them
 * for one task or walks the task table, and measures stack use from the
 * kernel's page residency. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/runtime.h"
#include "observe/observe.h"
#include "os/os.h"

/* Bytes of [lo, lo + size) in memory, from the top down to the deepest
 * resident page. 0 when it cannot be told (mincore refused). */
static size_t stack_resident(uintptr_t lo, size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t top = lo + size;
    /* The page holding the stack's lowest bytes is left out: without
     * guard regions a canary is written there at every start, so it is
     * always in memory (a task that reached it has overflowed anyway). */
    uintptr_t first = (lo + (uintptr_t)page) & ~(uintptr_t)(page - 1);
    if (first >= top)
        first = lo & ~(uintptr_t)(page - 1); /* a stack within one page */
    size_t pages = (top - first + (size_t)page - 1) / (size_t)page;
    unsigned char vec[256];
    /* From the lowest page up, a chunk at a time: the first resident page
     * is the deepest the stack reached. */
    for (size_t done = 0; done < pages;) {
        size_t n = pages - done < sizeof vec ? pages - done : sizeof vec;
        uintptr_t at = first + done * (size_t)page;
        int rc;
        while ((rc = mincore((void *)at, n * (size_t)page, vec)) < 0 &&
               errno == EAGAIN)
            ; /* the kernel was short of memory for a moment */
        if (rc < 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (vec[i] & 1) {
                uintptr_t p = at + i * (size_t)page;
                return top - (p > lo ? p : lo);
            }
        done += n;
    }
    return 0;
}

void cio__task_stats_fill(const struct cio__task_figures *f,
                          cio_task_stats *out)
{
    int64_t wait_ns = 0;
    if (f->state == CIO_TASK_WAITING && f->park_at) {
        uint64_t now = cio__os_ticks();
        if (now > f->park_at)
            wait_ns = cio__os_ticks_ns(now - f->park_at);
    }
    bool waiting = f->state == CIO_TASK_WAITING;
    int kind = waiting ? f->wait_kind : CIO_WAIT_NOTHING;
    *out = (cio_task_stats){
        .task = f->handle,
        .name = f->name ? f->name : "task",
        .state = f->state,
        .worker = f->worker,
        .wait_on = kind,
        .wait_fd = kind == CIO_WAIT_FD ? (int)f->wait_obj : -1,
        .wait_obj = kind >= CIO_WAIT_CHAN && kind != CIO_WAIT_SELECT
                        ? (const void *)f->wait_obj
                        : NULL,
        .wait_task = {kind == CIO_WAIT_JOIN ? (uint64_t)f->wait_obj : 0},
        .wait_ns = wait_ns,
        .run_ns = cio__os_ticks_ns(f->run),
        .ready_ns = cio__os_ticks_ns(f->ready),
        .blocked_ns = cio__os_ticks_ns(f->blocked),
        .runs = f->runs,
        .stack_size = f->stack_lo ? f->stack_size : 0,
        .stack_used = f->stack_lo ? stack_resident(f->stack_lo, f->stack_size)
                                  : 0,
    };
}

int cio_task_stats_get(cio_task t, cio_task_stats *out)
{
    if (!out)
        return CIO_EINVAL;
    uint32_t gen = (uint32_t)(t.id >> 32);
    if (!gen)
        return CIO_ESRCH;
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    if (!rt)
        return CIO_ESRCH;
    struct cio__task_figures f;
    int rc = cio__task_figures_get(rt, (uint32_t)t.id, gen, &f);
    cio__rt_leave(rt, pinned);
    if (rc == 0)
        cio__task_stats_fill(&f, out);
    return rc;
}

int cio_task_each(int (*fn)(const cio_task_stats *s, void *arg), void *arg)
{
    if (!fn)
        return CIO_EINVAL;
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    if (!rt)
        return CIO_ESRCH;
    int rc = 0;
    uint32_t slots = cio__task_slots(rt);
    for (uint32_t i = 0; i < slots && !rc; i++) {
        struct cio__task_figures f;
        if (cio__task_figures_get(rt, i, 0, &f) < 0)
            continue;
        cio_task_stats s;
        cio__task_stats_fill(&f, &s);
        rc = fn(&s, arg);
    }
    cio__rt_leave(rt, pinned);
    return rc;
}
