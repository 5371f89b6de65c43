/* timers: N tasks each sleeping until start + offset(i), offsets spread
 * over 1 s by the generator shared with every peer (fixed seed), run to
 * completion. Reports the process CPU time (user+sys, all threads) and wall
 * time from the first spawn to the last join, and the peak RSS (VmHWM) of
 * the whole process. Handles are kept and joined in spawn order.
 * Usage: bench_timers [N [WORKERS [SEED]]]
 */
#include <cio.h>

#include "common.h"

static long n_tasks;
static uint64_t seed;
static int64_t start;

static void *sleeper(void *arg)
{
    cio_sleep_until(start + (int64_t)bench_timer_offset_ns(seed, (uintptr_t)arg));
    return NULL;
}

static int bench_main(void *arg)
{
    cio_task *h = calloc((size_t)n_tasks, sizeof *h);
    int64_t cpu0, wall, cpu;
    int rc;

    (void)arg;
    if (h == NULL) {
        fprintf(stderr, "bench_timers: out of memory\n");
        return 1;
    }
    cpu0 = bench_cpu_ns();
    start = cio_now();
    for (long i = 0; i < n_tasks; i++) {
        if ((rc = cio_spawn(&h[i], sleeper, (void *)(uintptr_t)i, NULL)) < 0) {
            fprintf(stderr, "bench_timers: spawn: %s\n", cio_strerror(rc));
            return 1;
        }
    }
    for (long i = 0; i < n_tasks; i++)
        cio_join(h[i], NULL, CIO_NEVER);
    wall = cio_now() - start;
    cpu = bench_cpu_ns() - cpu0;
    bench_result("timers.cpu_ms", (double)cpu / 1e6, "ms");
    bench_result("timers.wall_ms", (double)wall / 1e6, "ms");
    bench_result("timers.rss_bytes",
                 (double)bench_proc_status_bytes("VmHWM"), "B");
    free(h);
    return 0;
}

int main(int argc, char **argv)
{
    cio_config cfg;
    int rc;

    n_tasks = bench_arg_long(argc, argv, 1, 1000000);
    seed = (uint64_t)bench_arg_long(argc, argv, 3, 42);
    cio_config_init(&cfg);
    cfg.workers = (int)bench_arg_long(argc, argv, 2, 1);
    rc = cio_run(bench_main, NULL, &cfg);
    if (rc < 0)
        fprintf(stderr, "bench_timers: cio_run: %s\n", cio_strerror(rc));
    return rc != 0;
}
