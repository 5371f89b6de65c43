/* spawn_proc: N children of /bin/true spawned and waited for at once, by
 * N tasks on the default runtime (a worker per CPU), stdio inherited.
 * Reports the time per child (total time / N) and the CPU time of the
 * parent; a failed spawn or a non-zero status fails the run.
 * Usage: bench_spawn_proc [N]
 */
#include <cio.h>

#include "common.h"

static void *one(void *arg)
{
    (void)arg;
    const char *const argv[] = {"true", NULL};
    cio_proc *p;
    int rc = cio_proc_spawn(&p, "/bin/true", argv, NULL);
    if (rc == 0) {
        rc = cio_proc_wait(p, CIO_NEVER);
        cio_proc_free(&p);
    }
    if (rc != 0) {
        fprintf(stderr, "bench_spawn_proc: %s\n",
                rc < 0 ? cio_strerror(rc) : "non-zero status");
        exit(1);
    }
    return NULL;
}

static long n;

static int main_task(void *arg)
{
    (void)arg;
    cio_task *t = malloc((size_t)n * sizeof *t);
    if (!t)
        return 1;
    for (long i = 0; i < n; i++)
        if (cio_spawn(&t[i], one, NULL, NULL) < 0)
            return 1;
    for (long i = 0; i < n; i++)
        cio_join(t[i], NULL, CIO_NEVER);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg_long(argc, argv, 1, 200);
    int64_t cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
    int rc = cio_run(main_task, NULL, NULL);
    int64_t wall = bench_now_ns() - t0, cpu = bench_cpu_ns() - cpu0;
    if (rc != 0)
        return 1;
    bench_result("spawn_proc", (double)wall / 1e3 / (double)n, "us");
    bench_result("spawn_proc.cpu_us", (double)cpu / 1e3 / (double)n, "us");
    return 0;
}
