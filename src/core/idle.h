/* Parking and waking workers (idle.c): a worker with nothing to run
 * sleeps in its reactor; the one path by which a thread that will not run
 * a task makes it runnable (wake_remote); notifying idle workers of new
 * stealable work; stopping every worker at the end.
 */
#ifndef CIO_CORE_IDLE_H
#define CIO_CORE_IDLE_H

#include "core/runtime.h"
#include "core/task.h"

void cio__notify_idle_slow(struct cio__runtime *rt);

/* After a worker queued stealable work on itself: another worker may
 * take it. With one worker the pusher is the one to run it, so the fence
 * is skipped. */
static inline void cio__notify_idle(struct cio__runtime *rt)
{
    if (rt->nworkers > 1)
        cio__notify_idle_slow(rt);
}

void cio__wake_remote(struct cio__runtime *rt, struct cio__task *t);
/* The same path for work that is not a task: another thread asks worker
 * `home` to cancel the receive of descriptor `st` (rx.c), which only the
 * owner of the ring it is in may do. */
struct cio__fd;
void cio__wake_remote_rx(struct cio__worker *home, struct cio__fd *st);
/* Sleeps in the reactor until there may be work (the caller found none). */
void cio__worker_park(struct cio__worker *w);

#endif /* CIO_CORE_IDLE_H */
