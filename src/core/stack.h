/* Task stacks (stack.c) and overflow reports (overflow.c): slots carved
 * from large reservations, per-worker caches, guard regions and canaries,
 * and the fault handler that names the task whose stack overflowed.
 */
#ifndef CIO_CORE_STACK_H
#define CIO_CORE_STACK_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct cio__worker;
struct cio__runtime;
struct cio__task;

/* 16 bytes, as it sits in every task descriptor's hot lines (task.h). */
struct cio__stack {
    char *lo;        /* lowest usable byte (the canary sits here) */
    uint32_t size;   /* usable bytes, from lo up (CIO_STACK_MAX fits) */
    int16_t cls;     /* size class, -1 when no stack is held */
    bool canary;     /* overflow caught by a canary (no guard page) */
};

int cio__stack_class(size_t size);
size_t cio__stack_class_size(int cls);
int cio__stack_get(struct cio__worker *w, int cls, struct cio__stack *out);
void cio__stack_put(struct cio__worker *w, struct cio__stack *s);
void cio__stack_worker_init(struct cio__worker *w);
/* For a worker with nothing to run: gives one batch of free stacks' pages
 * back to the system if any are due; false when none were. */
bool cio__stack_release_idle(struct cio__runtime *rt);
void cio__stack_worker_fini(struct cio__worker *w);
void cio__stack_runtime_fini(struct cio__runtime *rt);
bool cio__stack_canary_intact(const struct cio__stack *s);

/* Checked at every switch out of a task: inline, since it is on the hot
 * path and usually only a compare. */
static inline bool cio__stack_intact(const struct cio__stack *s,
                                     const void *sp)
{
    if (s->canary && !cio__stack_canary_intact(s))
        return false;
    return (const char *)sp >= s->lo + CIO__STACK_CANARY + CIO__STACK_MARGIN;
}
bool cio__stack_in_guard(const struct cio__stack *s, const void *addr);
size_t cio__stack_mapped(struct cio__runtime *rt);
/* Free stacks in the arena, and those of them whose pages went back. */
void cio__stack_arena_count(struct cio__runtime *rt, size_t *cached,
                            size_t *released);

struct cio__stack_cache {
    struct cio__stack v[CIO__STACK_CACHE];
    int n;
    int max;         /* stacks it may hold: fewer for big classes */
};

/* Reports the overflow of `t`'s stack and aborts the process. Only
 * async-signal-safe calls: the fault handler calls it too. */
void cio__stack_overflow(const struct cio__task *t)
    __attribute__((noreturn));
/* The fault handler: installed by cio_run() for its lifetime (the old
 * one is restored by cio__overflow_release()); each worker thread gets an
 * alternate signal stack, so a fault at the end of a task's stack can be
 * reported. */
void cio__overflow_catch(void);
void cio__overflow_release(void);
int cio__overflow_altstack_on(struct cio__worker *w, stack_t *old);
void cio__overflow_altstack_off(struct cio__worker *w, const stack_t *old);

#endif /* CIO_CORE_STACK_H */
