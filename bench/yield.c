/* yield: two tasks yielding to each other on one worker, ns per yield.
 * Usage: bench_yield [N [WORKERS]]   (N yields per task, WORKERS 1)
 */
#include <cio.h>

#include "common.h"

static long n_yields;

static void *yielder(void *arg)
{
    (void)arg;
    for (long i = 0; i < n_yields; i++)
        cio_yield();
    return NULL;
}

static int bench_main(void *arg)
{
    cio_task a, b;
    int64_t t0 = cio_now();
    int rc;

    (void)arg;
    if ((rc = cio_spawn(&a, yielder, NULL, NULL)) < 0 ||
        (rc = cio_spawn(&b, yielder, NULL, NULL)) < 0) {
        fprintf(stderr, "bench_yield: spawn: %s\n", cio_strerror(rc));
        return 1;
    }
    cio_join(a, NULL, CIO_NEVER);
    cio_join(b, NULL, CIO_NEVER);
    bench_result("yield", (double)(cio_now() - t0) / (2.0 * (double)n_yields),
                 "ns");
    return 0;
}

int main(int argc, char **argv)
{
    cio_config cfg;
    int rc;

    n_yields = bench_arg_long(argc, argv, 1, 1000000);
    cio_config_init(&cfg);
    cfg.workers = (int)bench_arg_long(argc, argv, 2, 1);
    rc = cio_run(bench_main, NULL, &cfg);
    if (rc < 0)
        fprintf(stderr, "bench_yield: cio_run: %s\n", cio_strerror(rc));
    return rc != 0;
}
