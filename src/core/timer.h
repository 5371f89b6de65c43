/* Deadlines (timer.c): one binary min-heap per worker, entries inside the
 * tasks, lazily re-armed.
 */
#ifndef CIO_CORE_TIMER_H
#define CIO_CORE_TIMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct cio__worker;
struct cio__task;

/* One deadline of one task. It lives inside the task; the heap holds
 * pointers to it. `w` and `idx` change only under the owning heap's lock.
 *
 * Timers are re-armed lazily: a wait whose deadline is a little later than
 * the one still armed from an earlier wait keeps that heap entry and only
 * records `want`; when the entry expires before `want`, it is moved to
 * `want` instead of waking the task. A connection that waits with "now +
 * idle timeout" before every request thus touches the heap about once per
 * quarter of its timeout, not once per request (nginx's lazy timers). */
struct cio__timer {
    int64_t deadline;          /* absolute monotonic ns: the heap key */
    int64_t want;              /* the current wait's deadline (>= deadline) */
    uint64_t order;            /* arming order: equal deadlines fire FIFO */
    uint64_t wait_seq;         /* the wait this deadline belongs to */
    struct cio__task *task;    /* task to wake */
    struct cio__worker *_Atomic heap; /* worker whose heap holds it, or NULL */
    uint32_t idx;              /* position in that heap */
};

struct cio__timer_heap {
    pthread_mutex_t lock;      /* taken by the owner and by remote disarms */
    struct cio__timer **v;     /* binary min-heap on (deadline, order) */
    size_t cap;                /* slots in v */
    _Atomic size_t n;          /* armed timers; read without the lock */
    _Atomic int64_t min;       /* earliest key, CIO_NEVER when empty */
    uint64_t order;            /* next arming order number */
};

int cio__timer_heap_init(struct cio__timer_heap *h);
void cio__timer_heap_fini(struct cio__timer_heap *h);
int cio__timer_arm(struct cio__worker *w, struct cio__timer *t);
void cio__timer_disarm(struct cio__timer *t);
/* Arms `t` for the wait `seq` until `deadline` (`now`: the current time,
 * coarse is enough), reusing a lazily armed entry when it can. */
int cio__timer_wait(struct cio__worker *w, struct cio__timer *t,
                    int64_t deadline, int64_t now, uint64_t seq);
int64_t cio__timer_next(struct cio__worker *w);
size_t cio__timer_fire(struct cio__worker *w, int64_t now);

#endif /* CIO_CORE_TIMER_H */
