/* timers, libuv floor: N uv_timer_t one-shot callbacks with the same
 * deadlines as the task versions (generator and seed shared via
 * bench/common.h), on one loop. Reports CPU time, wall time from the first
 * uv_timer_start to the loop's end, and the peak RSS.
 * libuv timers count whole milliseconds from the loop's cached time, so a
 * deadline start + off becomes a timeout of ceil(off / 1 ms) from start.
 * Usage: bench_uv_timers [N [SEED]]
 */
#include <uv.h>

#include "common.h"

static void on_timer(uv_timer_t *t)
{
    /* A one-shot timer is inactive after firing; uv_run returns once no
     * timer is left, so there is nothing to count or close. */
    (void)t;
}

int main(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, 1, 1000000);
    uint64_t seed = (uint64_t)bench_arg_long(argc, argv, 2, 42);
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *timers = malloc((size_t)n * sizeof *timers);
    int64_t cpu0, t0, wall, cpu;

    if (timers == NULL) {
        fprintf(stderr, "bench_uv_timers: out of memory\n");
        return 1;
    }
    cpu0 = bench_cpu_ns();
    t0 = bench_now_ns();
    uv_update_time(loop);
    for (long i = 0; i < n; i++) {
        uint64_t off = bench_timer_offset_ns(seed, (uint64_t)i);
        uv_timer_init(loop, &timers[i]);
        uv_timer_start(&timers[i], on_timer, (off + 999999) / 1000000, 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    wall = bench_now_ns() - t0;
    cpu = bench_cpu_ns() - cpu0;
    bench_result("timers.cpu_ms", (double)cpu / 1e6, "ms");
    bench_result("timers.wall_ms", (double)wall / 1e6, "ms");
    bench_result("timers.rss_bytes", (double)bench_proc_status_bytes("VmHWM"), "B");
    return 0;
}
