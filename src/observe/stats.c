/* Figures per worker, in the units a person reads (observe/ sits above
 * core: core only counts, in ticks and plain counters, at its transition
 * points; this turns them into nanoseconds and the public struct). */
#include "core/runtime.h"
#include "os/os.h"

/* Log2 buckets of ticks to those of microseconds: a bucket of
 * [2^b, 2^(b+1)) ticks goes where its middle falls in microseconds. */
static void rebucket(const uint64_t ticks[CIO__TURN_LOG2],
                     uint64_t out[CIO_TURN_BUCKETS])
{
    for (int b = 0; b < CIO__TURN_LOG2; b++) {
        if (!ticks[b])
            continue;
        int64_t us = cio__os_ticks_ns(((uint64_t)3 << b) / 2) / 1000;
        int i = us < 2 ? 0 : 63 - __builtin_clzll((uint64_t)us);
        if (i >= CIO_TURN_BUCKETS)
            i = CIO_TURN_BUCKETS - 1;
        out[i] += ticks[b];
    }
}

int cio_worker_stats_get(int worker, cio_worker_stats *out)
{
    if (!out || worker < 0)
        return CIO_EINVAL;
    struct cio__worker_figures f;
    int n = cio__worker_figures_get(worker, &f);
    if (n < 0 || worker >= n)
        return n < 0 ? n : n == 0 ? CIO_ESRCH : CIO_EINVAL;
    const struct cio__worker_figures *w = &f;
    *out = (cio_worker_stats){
        .run_ns = cio__os_ticks_ns(w->ticks[CIO__PH_RUN]),
        .sched_ns = cio__os_ticks_ns(w->ticks[CIO__PH_SCHED]),
        .poll_ns = cio__os_ticks_ns(w->ticks[CIO__PH_POLL]),
        .park_ns = cio__os_ticks_ns(w->ticks[CIO__PH_PARK]),
        .tasks_run = w->tasks_run,
        .steals = w->steals,
        .wakes_received = w->inbox_tasks,
        .queued = w->queued,
    };
    rebucket(w->turn_log2, out->turns);
    rebucket(w->delay_log2, out->delays);
    return 0;
}
