/* Compact tasks: the frames of a task made with CIO_SPAWN_COMPACT are
 * copied out to a right-sized heap block while it waits long, and its
 * stack's pages go back to the system.
 *
 * An idle connection served by a task holds the stack pages its task has
 * touched, whole 4 KiB pages, though its live frames are typically a few
 * hundred bytes. A compact task that has waited for a descriptor or a
 * timer for longer than cio_config.compact_after_ns has its live frames,
 * from its saved stack pointer to the top of its stack, copied into a
 * block of exactly that size, and its stack's pages released
 * (MADV_DONTNEED). The slot's addresses stay the task's: before it runs
 * again the frames are copied back to the same addresses, so pointers into
 * its own frames (its locals, a buffer it passed down) stay valid, and
 * nothing of the program changes.
 *
 * What makes it safe is who touches a parked task's stack: the waits that
 * allow it (cio_sleep_until, descriptor waits) keep their wait record in
 * the heap (struct cio__compact), not on the stack, and nothing else
 * writes there while the task waits; waits whose other side writes into
 * the waiter's frames (a channel's hand-off, an io_uring request into a
 * buffer, a join's result) never allow it. A program must not touch a
 * compact task's stack from other tasks while it waits (cio.h says so).
 *
 * Only the task's home worker trims and restores it: compact tasks never
 * migrate, a parked task is listed on its home worker, oldest first, and
 * that worker's scheduler (which runs nothing else meanwhile) sweeps the
 * list, so neither needs an atomic. A task woken while trimmed is simply
 * restored when it is next switched to.
 *
 * Tasks that wait briefly never pay: a park costs one clock read and a
 * list append, and only a wait older than compact_after_ns is copied.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "core/compact.h"
#include "core/runtime.h"
#include "core/stack.h"
#include "os/os.h"

/* Tasks trimmed per sweep at most: a sweep delays the worker's next task
 * by its copies and system calls. */
#define SWEEP_MAX 64

static struct cio__compact *cx_of(struct cio__task *t)
{
    struct cio__compact *cx = cio__side_used(t) ? cio__side(t)->cx : NULL;
    if (cx)
        return cx;
    struct cio__runtime *rt = t->worker->rt;
    /* Relaxed: a hint; a trim attempted after another worker's failure
     * fails the same way and stops too. */
    if (!(cio__task_flags(t) & CIO__T_COMPACT) || rt->compact_ns < 0 ||
        atomic_load_explicit(&rt->compact_off, memory_order_relaxed))
        return NULL;
    /* Without memory the task just stays whole. */
    struct cio__task_side *side = cio__side_w(t);
    side->cx = calloc(1, sizeof *side->cx);
    if (side->cx)
        side->cx->rec.task = t; /* the sweep's way back to the task */
    return side->cx;
}

struct cio__fdwait *cio__compact_rec_slow(struct cio__task *t)
{
    struct cio__compact *cx = cx_of(t);
    return cx ? &cx->rec : NULL;
}

void cio__compact_allow(struct cio__task *t, bool on)
{
    struct cio__compact *cx =
        on ? cx_of(t) : cio__side_used(t) ? cio__side(t)->cx : NULL;
    if (cx)
        cx->ok = on;
}

static void unlink_cx(struct cio__worker *w, struct cio__compact *cx)
{
    if (cx->prev)
        cx->prev->next = cx->next;
    else
        w->cx_head = cx->next;
    if (cx->next)
        cx->next->prev = cx->prev;
    else
        w->cx_tail = cx->prev;
    cx->prev = cx->next = NULL;
    cx->listed = false;
}

void cio__compact_parked(struct cio__worker *w, struct cio__task *t)
{
    struct cio__compact *cx = cio__side(t)->cx;
    /* Relaxed: a hint (see cx_of()). */
    if (!cx->ok || cx->listed ||
        atomic_load_explicit(&w->rt->compact_off, memory_order_relaxed))
        return;
    cx->parked_at = cio__os_now();
    cx->prev = w->cx_tail;
    cx->next = NULL;
    if (w->cx_tail)
        w->cx_tail->next = cx;
    else
        w->cx_head = cx;
    w->cx_tail = cx;
    cx->listed = true;
}

/* Copies words one at a time through a volatile pointer: the compiler may
 * not make it a memcpy call, which ASan would check against the frames'
 * redzones (valid here: these are the task's own frames, moved whole). */
__attribute__((no_sanitize("address", "thread"))) static void
copy_words(void *to, const void *from, size_t len)
{
    volatile uint64_t *d = to;
    const volatile uint64_t *s = from;
    for (size_t i = 0; i < len / 8; i++)
        d[i] = s[i];
}

/* One task of a sweep: its frames copied out, its pages not yet given
 * back. */
struct trim {
    struct cio__task *t;
    char *from, *top; /* the pages to give back */
    void *buf;        /* the copy of [t->sp, top) */
};

/* Copies `t`'s frames out; false without memory (it stays whole). */
static bool copy_out(struct cio__task *t, struct trim *o)
{
    char *top = t->stack.lo + t->stack.size, *sp = t->sp;
    o->buf = malloc((size_t)(top - sp));
    if (!o->buf)
        return false;
    copy_words(o->buf, sp, (size_t)(top - sp));
    /* Every page of the stack goes, but the one holding a canary (on
     * kernels without guard regions): it would read as zeros, an
     * overflow. */
    o->t = t;
    o->from = t->stack.lo + (t->stack.canary ? cio__os_page() : 0);
    o->top = top;
    return true;
}

static int by_address(const void *a, const void *b)
{
    const struct trim *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

/* Whether `b` is the stack slot right above `a`'s, with only its guard
 * page between them: one madvise can take both (guard regions survive
 * MADV_DONTNEED; without them the guard is a page never touched). */
static bool adjacent(const struct trim *a, const struct trim *b)
{
    return !a->t->stack.canary && !b->t->stack.canary &&
           b->from == a->top + cio__os_page();
}

/* Gives back the pages of trims [i, j), one system call for them all:
 * each MADV_DONTNEED costs a flush of the other CPUs' TLBs, so stacks
 * that sit side by side (tasks spawned together) go together. */
static void give_back(struct cio__worker *w, struct trim *v, int i, int j)
{
    bool ok = v[i].from < v[j - 1].top &&
              cio__os.madvise(v[i].from, (size_t)(v[j - 1].top - v[i].from),
                              MADV_DONTNEED) == 0;
    if (!ok) {
        /* It may have dropped some pages before failing (a locked one
         * further on): the frames go back. A failure (mlockall) would
         * recur for every task: no more trims in this runtime. Relaxed:
         * a hint (see cx_of()). */
        atomic_store_explicit(&w->rt->compact_off, true,
                              memory_order_relaxed);
    }
    for (int k = i; k < j; k++) {
        struct cio__task *t = v[k].t;
        size_t len = (size_t)(v[k].top - (char *)t->sp);
        if (!ok) {
            copy_words(t->sp, v[k].buf, len);
            free(v[k].buf);
            continue;
        }
        struct cio__compact *cx = cio__side(t)->cx;
        cx->saved = v[k].buf;
        cx->saved_len = (uint32_t)len;
        cio__task_flag_set(t, CIO__T_TRIMMED);
        cio__count(&w->c.compacted, 1);
        cio__count(&w->c.compact_bytes, len);
    }
}

void cio__compact_resume(struct cio__worker *w, struct cio__task *t)
{
    struct cio__compact *cx = cio__side(t)->cx;
    if (cx->listed)
        unlink_cx(w, cx);
    if (!cx->saved)
        return;
    copy_words(t->sp, cx->saved, cx->saved_len);
    cio__task_flag_clear(t, CIO__T_TRIMMED);
    free(cx->saved);
    cio__count(&w->c.compacted, -(uint64_t)1);
    cio__count(&w->c.compact_bytes, -(uint64_t)cx->saved_len);
    cx->saved = NULL;
    cx->saved_len = 0;
}

/* When a wait that began at `at` is old enough. Tasks due within a
 * quarter of the age of each other are trimmed together, so an idle
 * worker wakes once for a wave of connections going idle, not once for
 * each. */
static int64_t due_at(const struct cio__worker *w, int64_t at)
{
    return cio__os_add_sat(at, w->rt->compact_ns);
}

int64_t cio__compact_due(const struct cio__worker *w)
{
    if (!w->cx_head)
        return CIO_NEVER;
    return cio__os_add_sat(due_at(w, w->cx_head->parked_at),
                           w->rt->compact_ns / 4);
}

void cio__compact_sweep(struct cio__worker *w)
{
    if (atomic_load_explicit(&w->rt->compact_off, memory_order_relaxed)) {
        while (w->cx_head)
            unlink_cx(w, w->cx_head); /* no trims: no wakes for them */
        return;
    }
    struct trim v[SWEEP_MAX];
    int n = 0;
    int64_t now = cio__os_add_sat(cio__os_now(), w->rt->compact_ns / 4);
    for (int k = 0; k < SWEEP_MAX && w->cx_head; k++) {
        struct cio__compact *cx = w->cx_head;
        if (due_at(w, cx->parked_at) > now)
            break;
        struct cio__task *t = cx->rec.task;
        unlink_cx(w, cx);
        /* Woken already and waiting to run: a trim now would be undone
         * at once. Relaxed: a hint; the wake's own ordering is the
         * queue's. */
        if (CIO__WSTATE(atomic_load_explicit(&t->wait,
                                             memory_order_relaxed)) !=
            CIO__W_WAITING)
            continue;
        if (copy_out(t, &v[n]))
            n++;
    }
    qsort(v, (size_t)n, sizeof *v, by_address);
    for (int i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && adjacent(&v[j - 1], &v[j]); j++)
            ;
        give_back(w, v, i, j);
    }
}

void cio__compact_free(struct cio__task *t)
{
    /* A task ends running: never listed, never trimmed. */
    free(cio__side(t)->cx);
    cio__side(t)->cx = NULL;
}
