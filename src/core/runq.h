/* The stealable ring of one worker (Go's runq): its layout. The
 * operations on it are the run queues' (queue.h, queue.c).
 */
#ifndef CIO_CORE_RUNQ_H
#define CIO_CORE_RUNQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct cio__task;

/* Go-style bounded ring of tasks any worker may run. The owner pushes at the
 * tail; the owner and thieves take from the head by CAS. */
struct cio__runq {
    _Atomic uint32_t head;
    _Atomic uint32_t tail;
    struct cio__task *_Atomic buf[CIO__RUNQ_SIZE];
    /* Each slot's queue ticket, written and read by the owner only: kept
     * here rather than in the task, whose descriptor is usually cold when
     * it is queued (a spawn burst refilled from the global queue). */
    uint64_t tix[CIO__RUNQ_SIZE];
};

#endif /* CIO_CORE_RUNQ_H */
