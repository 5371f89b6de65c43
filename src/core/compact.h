/* Compact tasks (compact.c): frames copied out while a task made with
 * CIO_SPAWN_COMPACT waits long, its stack's pages given back. */
#ifndef CIO_CORE_COMPACT_H
#define CIO_CORE_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fd.h"
#include "core/task.h"

struct cio__worker;

/* A compact task's side: allocated at its first wait that allows it,
 * freed when it ends. Owner-only (its home worker). */
struct cio__compact {
    struct cio__fdwait rec;   /* its descriptor waits' record: wakers
                                 write here, never into its stack; its
                                 `task` is always the owner (set when
                                 made, and by every wait that fills it) */
    struct cio__compact *prev; /* on its worker's list of parked compact */
    struct cio__compact *next; /* tasks, oldest first */
    int64_t parked_at;        /* when its current wait began */
    void *saved;              /* its frames while trimmed, else NULL */
    uint32_t saved_len;       /* their size */
    bool ok;                  /* its current wait allows trimming */
    bool listed;              /* on the list */
};

/* The record a descriptor wait of `t` uses: in the heap for a compact
 * task (NULL otherwise, or without memory: the caller's own then). */
struct cio__fdwait *cio__compact_rec_slow(struct cio__task *t);
static inline struct cio__fdwait *cio__compact_rec(struct cio__task *t)
{
    return cio__task_flags(t) & CIO__T_COMPACT ? cio__compact_rec_slow(t)
                                                : NULL;
}
/* Marks the wait `t` is about to make (or has ended) as one nobody writes
 * into `t`'s stack during: a compact task may then be trimmed. */
void cio__compact_allow(struct cio__task *t, bool on);
/* Scheduler side, on the home worker: `t` committed a park (lists it if
 * its wait allows); `t` is about to run (unlists it, copies its frames
 * back). */
void cio__compact_parked(struct cio__worker *w, struct cio__task *t);
void cio__compact_resume(struct cio__worker *w, struct cio__task *t);
/* Trims the tasks parked longer than the runtime's compact_ns; when the
 * oldest listed one will be due (CIO_NEVER: none). */
void cio__compact_sweep(struct cio__worker *w);
int64_t cio__compact_due(const struct cio__worker *w);
/* At the end of `t`. */
void cio__compact_free(struct cio__task *t);

#endif /* CIO_CORE_COMPACT_H */
