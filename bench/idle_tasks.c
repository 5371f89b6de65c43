/* idle_tasks: N tasks asleep at once.
 *
 * Reports idle_tasks.bytes, the peak RSS growth (VmHWM after minus VmHWM
 * before spawning) per task, and idle_tasks.spawn_ns, the time from the
 * first spawn until all N tasks have started and gone to sleep, per task.
 * Stacks are allocated when a task first runs, so the spawner waits until
 * every task has counted itself in before reading VmHWM. The tasks are
 * detached and sleep with no deadline; returning from main cancels them
 * (that release is not timed).
 * Usage: bench_idle_tasks [N [default|min|compact [WORKERS]]]
 *   min: stack_size = CIO_STACK_MIN (rounded up to a page, so an idle task
 *   costs one stack page, as with the default); compact: tasks spawned with
 *   CIO_SPAWN_COMPACT, trimmed after 1 ms asleep, and the figure is the
 *   RSS growth (VmRSS) once every task is trimmed: what N sleepers hold,
 *   where the others' peak is that already (nothing of theirs shrinks);
 *   WORKERS 0 (default): cio's choice, one per CPU, like Go's default
 *   GOMAXPROCS and the Tokio peer.
 */
#include <cio.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common.h"

static long n_tasks;
static size_t stack_size;
static bool compact;
static atomic_long started;

static void *sleeper(void *arg)
{
    atomic_fetch_add_explicit(&started, 1, memory_order_relaxed);
    cio_sleep_until(CIO_NEVER);
    return arg;
}

static int bench_main(void *arg)
{
    cio_spawn_opts opts;
    uint64_t base, hwm;
    int64_t t0, dt;
    int rc;

    (void)arg;
    cio_spawn_opts_init(&opts);
    opts.stack_size = stack_size;
    if (compact)
        opts.flags = CIO_SPAWN_COMPACT;
    base = bench_proc_status_bytes(compact ? "VmRSS" : "VmHWM");
    t0 = cio_now();
    for (long i = 0; i < n_tasks; i++) {
        if ((rc = cio_spawn(NULL, sleeper, NULL, &opts)) < 0) {
            fprintf(stderr, "bench_idle_tasks: spawn: %s\n", cio_strerror(rc));
            return 1;
        }
    }
    /* A short sleep, not a yield: on two workers a yield loop would spin. */
    while (atomic_load_explicit(&started, memory_order_relaxed) < n_tasks)
        cio_sleep_until(cio_deadline_after(200 * 1000));
    dt = cio_now() - t0;
    if (compact) {
        cio_stats st;
        do {
            cio_sleep_until(cio_deadline_after(10 * 1000 * 1000));
            cio_stats_get(&st);
        } while (st.tasks_compacted < (uint64_t)n_tasks);
    }
    hwm = bench_proc_status_bytes(compact ? "VmRSS" : "VmHWM");
    bench_result("idle_tasks.bytes", (double)(hwm - base) / (double)n_tasks, "B");
    bench_result("idle_tasks.spawn_ns", (double)dt / (double)n_tasks, "ns");
    return 0;
}

int main(int argc, char **argv)
{
    cio_config cfg;
    int rc;

    n_tasks = bench_arg_long(argc, argv, 1, 1000000);
    if (argc > 2 && strcmp(argv[2], "min") == 0)
        stack_size = CIO_STACK_MIN;
    else if (argc > 2 && strcmp(argv[2], "compact") == 0)
        compact = true;
    else if (argc > 2 && strcmp(argv[2], "default") != 0) {
        fprintf(stderr,
                "bench_idle_tasks: mode must be default, min or compact\n");
        return 2;
    }
    cio_config_init(&cfg);
    cfg.compact_after_ns = 1000 * 1000;
    cfg.workers = argc > 3 ? (int)bench_arg_long(argc, argv, 3, 1) : 0;
    rc = cio_run(bench_main, NULL, &cfg);
    if (rc < 0)
        fprintf(stderr, "bench_idle_tasks: cio_run: %s\n", cio_strerror(rc));
    return rc != 0;
}
