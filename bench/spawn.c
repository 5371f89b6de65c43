/* spawn: spawn N trivial tasks keeping every handle, then join them all in
 * spawn order; ns per task. No batching: all N handles are live at once,
 * as in the Tokio peer (the Go peer uses a WaitGroup, having no handles).
 *
 * With "bursts": 60 bursts of N tasks that each sleep until cancelled,
 * the spawner idle for 5 ms between bursts (a server whose connections
 * come in waves); ns per spawn call, the bursts' spawns only. The table
 * grows with every burst: this is where an idle worker preparing the next
 * descriptors shows.
 * Usage: bench_spawn [N [WORKERS [bursts]]]
 */
#include <string.h>

#include <cio.h>

#include "common.h"

static long n_tasks;

#define BURSTS 60

static void *sleeper(void *arg)
{
    (void)arg;
    cio_sleep_until(CIO_NEVER); /* until cancelled */
    return NULL;
}

static int bench_bursts(void *arg)
{
    cio_task *h = calloc((size_t)n_tasks * BURSTS, sizeof *h);
    int64_t spent = 0;
    int rc;

    (void)arg;
    if (h == NULL) {
        fprintf(stderr, "bench_spawn: out of memory\n");
        return 1;
    }
    for (long b = 0; b < BURSTS; b++) {
        int64_t t0 = cio_now();
        for (long i = 0; i < n_tasks; i++) {
            rc = cio_spawn(&h[b * n_tasks + i], sleeper, NULL, NULL);
            if (rc < 0) {
                fprintf(stderr, "bench_spawn: spawn: %s\n", cio_strerror(rc));
                return 1;
            }
        }
        spent += cio_now() - t0;
        cio_sleep_until(cio_deadline_after(5 * 1000000LL));
    }
    bench_result("spawn_bursts", (double)spent / (double)(n_tasks * BURSTS),
                 "ns");
    for (long i = 0; i < n_tasks * BURSTS; i++)
        cio_cancel(h[i]);
    for (long i = 0; i < n_tasks * BURSTS; i++)
        cio_join(h[i], NULL, CIO_NEVER);
    free(h);
    return 0;
}

static void *trivial(void *arg)
{
    return arg;
}

static int bench_main(void *arg)
{
    /* Allocated (and touched) before timing, as in the Tokio peer. */
    cio_task *h = calloc((size_t)n_tasks, sizeof *h);
    int64_t t0;
    int rc;

    (void)arg;
    if (h == NULL) {
        fprintf(stderr, "bench_spawn: out of memory\n");
        return 1;
    }
    t0 = cio_now();
    for (long i = 0; i < n_tasks; i++) {
        if ((rc = cio_spawn(&h[i], trivial, NULL, NULL)) < 0) {
            fprintf(stderr, "bench_spawn: spawn: %s\n", cio_strerror(rc));
            return 1;
        }
    }
    for (long i = 0; i < n_tasks; i++)
        cio_join(h[i], NULL, CIO_NEVER);
    bench_result("spawn", (double)(cio_now() - t0) / (double)n_tasks, "ns");
    free(h);
    return 0;
}

int main(int argc, char **argv)
{
    cio_config cfg;
    int rc;

    n_tasks = bench_arg_long(argc, argv, 1, 1000000);
    cio_config_init(&cfg);
    cfg.workers = (int)bench_arg_long(argc, argv, 2, 1);
    rc = cio_run(argc > 3 && strcmp(argv[3], "bursts") == 0 ? bench_bursts
                                                           : bench_main,
                 NULL, &cfg);
    if (rc < 0)
        fprintf(stderr, "bench_spawn: cio_run: %s\n", cio_strerror(rc));
    return rc != 0;
}
