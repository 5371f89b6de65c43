/* spawn_proc, libuv peer: N children of /bin/true started at once with
 * uv_spawn on the default loop, stdio inherited, each handle closed in
 * its exit callback. Time per child and the parent's CPU time.
 * Usage: bench_uv_spawn_proc [N]
 */
#include <uv.h>

#include "common.h"

static int failed;

static void on_close(uv_handle_t *h)
{
    (void)h;
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    if (status != 0 || sig != 0)
        failed = 1;
    uv_close((uv_handle_t *)p, on_close);
}

int main(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, 1, 200);
    uv_process_t *procs = calloc((size_t)n, sizeof *procs);
    if (!procs)
        return 1;
    uv_loop_t *loop = uv_default_loop();
    char name[] = "true";
    char *args[] = {name, NULL};
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3; i++) {
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = i;
    }
    uv_process_options_t o = {0};
    o.file = "/bin/true";
    o.args = args;
    o.exit_cb = on_exit_cb;
    o.stdio_count = 3;
    o.stdio = stdio;
    int64_t cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        int rc = uv_spawn(loop, &procs[i], &o);
        if (rc != 0) {
            fprintf(stderr, "bench_uv_spawn_proc: %s\n", uv_strerror(rc));
            return 1;
        }
    }
    uv_run(loop, UV_RUN_DEFAULT);
    int64_t wall = bench_now_ns() - t0, cpu = bench_cpu_ns() - cpu0;
    if (failed) {
        fprintf(stderr, "bench_uv_spawn_proc: a child failed\n");
        return 1;
    }
    bench_result("spawn_proc", (double)wall / 1e3 / (double)n, "us");
    bench_result("spawn_proc.cpu_us", (double)cpu / 1e3 / (double)n, "us");
    free(procs);
    return 0;
}
