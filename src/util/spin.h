/* A spinlock for critical sections of a few dozen instructions that never
 * wait or switch while held (a descriptor's state, a channel's queues).
 * Unlocking is a plain release store, which is what makes it cheaper than
 * a pthread mutex on the paths that take it on every operation. A holder
 * preempted by the kernel makes the others yield their CPU rather than
 * spin for its whole time slice. */
#ifndef CIO_UTIL_SPIN_H
#define CIO_UTIL_SPIN_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "os/os.h"

typedef struct cio__spin {
    _Atomic uint32_t held; /* 0: free (a zeroed lock is a free lock) */
} cio__spin;

static inline void cio__spin_lock(cio__spin *l)
{
    int spins = 0;
    /* Acquire: pairs with the release in cio__spin_unlock(). */
    while (atomic_exchange_explicit(&l->held, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
            if (++spins < 100)
                cio__os_relax();
            else
                sched_yield(); /* the holder was preempted */
        }
    }
}

static inline void cio__spin_unlock(cio__spin *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif /* CIO_UTIL_SPIN_H */
