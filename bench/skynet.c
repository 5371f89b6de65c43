/* skynet: a task of size s spawns 10 children of size s/10 with
 * consecutive numbers and joins them, summing their results; the N leaves
 * return their number. Time in ms; the sum must be N(N-1)/2.
 * Usage: bench_skynet [N [WORKERS]]   (N a power of 10)
 */
#include <cio.h>
#include <stdatomic.h>

#include "common.h"

/* A task's argument packs its first number and log10 of its size into the
 * pointer itself, so no task allocates. */
#define ARG(num, lg) ((void *)(uintptr_t)(((uint64_t)(num) << 8) | (lg)))

static atomic_int failed;

static void *skynet(void *arg)
{
    uint64_t num = (uintptr_t)arg >> 8;
    unsigned lg = (uintptr_t)arg & 0xff;
    uint64_t step = 1, sum = 0;
    cio_task kids[10];
    int rc;

    if (lg == 0)
        return (void *)(uintptr_t)num;
    for (unsigned i = 1; i < lg; i++)
        step *= 10;
    for (int i = 0; i < 10; i++) {
        if ((rc = cio_spawn(&kids[i], skynet, ARG(num + i * step, lg - 1),
                            NULL)) < 0) {
            /* Reported once; the wrong sum then fails the run. */
            if (atomic_exchange(&failed, 1) == 0)
                fprintf(stderr, "bench_skynet: spawn: %s\n", cio_strerror(rc));
        }
    }
    for (int i = 0; i < 10; i++) {
        void *r = NULL;
        if (cio_join(kids[i], &r, CIO_NEVER) == 0)
            sum += (uintptr_t)r;
    }
    return (void *)(uintptr_t)sum;
}

static long n_leaves;

static int bench_main(void *arg)
{
    unsigned lg = 0;
    uint64_t want = (uint64_t)n_leaves * (uint64_t)(n_leaves - 1) / 2;
    void *r = NULL;
    cio_task root;
    int64_t t0;
    int rc;

    (void)arg;
    for (long s = n_leaves; s > 1; s /= 10) {
        if (s % 10 != 0) {
            fprintf(stderr, "bench_skynet: N must be a power of 10\n");
            return 2;
        }
        lg++;
    }
    t0 = cio_now();
    if ((rc = cio_spawn(&root, skynet, ARG(0, lg), NULL)) < 0) {
        fprintf(stderr, "bench_skynet: spawn: %s\n", cio_strerror(rc));
        return 1;
    }
    cio_join(root, &r, CIO_NEVER);
    if ((uint64_t)(uintptr_t)r != want) {
        fprintf(stderr, "bench_skynet: wrong sum %llu (want %llu)\n",
                (unsigned long long)(uintptr_t)r, (unsigned long long)want);
        return 1;
    }
    bench_result("skynet", (double)(cio_now() - t0) / 1e6, "ms");
    return 0;
}

int main(int argc, char **argv)
{
    cio_config cfg;
    int rc;

    n_leaves = bench_arg_long(argc, argv, 1, 1000000);
    cio_config_init(&cfg);
    cfg.workers = (int)bench_arg_long(argc, argv, 2, 1);
    rc = cio_run(bench_main, NULL, &cfg);
    if (rc < 0)
        fprintf(stderr, "bench_skynet: cio_run: %s\n", cio_strerror(rc));
    return rc != 0;
}
