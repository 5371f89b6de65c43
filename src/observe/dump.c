/* cio_dump(): every task, what it does or waits on, and where each
 * switched-out task stands in its code.
 *
 * Backtraces follow the frame-pointer chain from each task's saved
 * context (core's cio__task_backtrace): the switch saves the frame
 * pointer with the other callee-saved registers, so the chain is there
 * without stopping anyone, and a walk is a few loads per frame that
 * stay within the task's stack. DWARF unwinding (libunwind) would also
 * see through code built without frame pointers, but it starts only from
 * a context of the calling thread or from a crafted one and reads memory
 * it is not told the bounds of; the library and its examples are built
 * with frame pointers, so the walk reaches the program's own frames when
 * it is built with them too (-fno-omit-frame-pointer; without them the
 * chain may stop at the first such frame). Addresses are named as
 * glibc's backtrace_symbols() names them: exported functions by name,
 * the rest as module+offset (addr2line -e module offset gives the
 * line).
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/runtime.h"
#include "observe/observe.h"

#define FRAMES 32

static const char *const state_names[] = {"ready", "running", "waiting",
                                          "done"};

static const char *const wait_names[] = {
    "nothing", "a timer", "a descriptor", "a task to end", "a pool job",
    "a channel", "a select", "a mutex", "a condition", "a rwlock",
    "a semaphore", "a wait group", "an event", "a task group", "a signal",
};

static void ms(FILE *f, const char *what, int64_t ns)
{
    fprintf(f, "%s %lld.%03lld ms", what, (long long)(ns / 1000000),
            (long long)(ns / 1000 % 1000));
}

static void one(FILE *f, struct cio__runtime *rt, const cio_task_stats *s)
{
    fprintf(f, "task %llu \"%s\" %s", (unsigned long long)s->task.id,
            s->name,
            s->state >= 0 && s->state <= CIO_TASK_DONE
                ? state_names[s->state]
                : "?");
    if (s->state == CIO_TASK_RUNNING)
        fprintf(f, " on worker %d", s->worker);
    if (s->state == CIO_TASK_WAITING) {
        int k = s->wait_on;
        fprintf(f, " on %s",
                k >= 0 && k < (int)(sizeof wait_names / sizeof *wait_names)
                    ? wait_names[k]
                    : "something");
        if (k == CIO_WAIT_FD)
            fprintf(f, " (fd %d)", s->wait_fd);
        else if (k == CIO_WAIT_JOIN)
            fprintf(f, " (task %llu)", (unsigned long long)s->wait_task.id);
        else if (s->wait_obj)
            fprintf(f, " (%p)", s->wait_obj);
        ms(f, " for", s->wait_ns);
    }
    if (s->state != CIO_TASK_RUNNING && s->worker >= 0)
        fprintf(f, ", last on worker %d", s->worker);
    fprintf(f, "; %llu runs,", (unsigned long long)s->runs);
    ms(f, " ran", s->run_ns);
    ms(f, ", ready", s->ready_ns);
    ms(f, ", blocked", s->blocked_ns);
    if (s->stack_size)
        fprintf(f, "; stack %zu of %zu KiB", (s->stack_used + 1023) / 1024,
                s->stack_size / 1024);
    fputc('\n', f);
    if (s->state != CIO_TASK_WAITING && s->state != CIO_TASK_READY)
        return;
    uintptr_t pcs[FRAMES];
    int n = CIO_EAGAIN;
    for (int tries = 0; tries < 3 && n == CIO_EAGAIN; tries++)
        n = cio__task_backtrace(rt, (uint32_t)s->task.id,
                                (uint32_t)(s->task.id >> 32), pcs, FRAMES);
    if (n == CIO_EAGAIN) {
        fprintf(f, "    (it ran while its stack was read)\n");
        return;
    }
    if (n <= 0)
        return;
    char **names = backtrace_symbols((void *const *)pcs, n);
    for (int i = 0; i < n; i++) {
        if (names)
            fprintf(f, "    #%d %s\n", i, names[i]);
        else
            fprintf(f, "    #%d [%p]\n", i, (void *)pcs[i]);
    }
    free(names);
}

int cio_dump(FILE *f)
{
    if (!f)
        return CIO_EINVAL;
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    if (!rt)
        return CIO_ESRCH;
    uint32_t slots = cio__task_slots(rt);
    int listed = 0;
    fprintf(f, "cio: tasks of the runtime (%d workers):\n", rt->nworkers);
    for (uint32_t i = 0; i < slots; i++) {
        struct cio__task_figures fig;
        if (cio__task_figures_get(rt, i, 0, &fig) < 0)
            continue;
        cio_task_stats s;
        cio__task_stats_fill(&fig, &s);
        one(f, rt, &s);
        listed++;
    }
    fprintf(f, "cio: %d tasks\n", listed);
    fflush(f);
    cio__rt_leave(rt, pinned);
    return listed;
}
