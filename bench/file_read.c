/* file_read: N files of 64 KiB (made by bench/run.py in DIR as f0..fN-1,
 * already in the page cache) read whole by N tasks at once with
 * cio_read_file, on the default runtime (a worker per CPU, the blocking
 * pool); "seq" reads them one after the other with open/read/close on
 * one thread, the floor of the work. Reports the total time and the CPU
 * time; a short or failed read fails the run.
 * Usage: bench_file_read DIR [N [cio|seq]]
 */
#include <cio.h>
#include <fcntl.h>
#include <unistd.h>

#include "common.h"

#define SIZE (64 * 1024)

static const char *dir;
static long n;

static void *read_one(void *arg)
{
    char path[512];
    snprintf(path, sizeof path, "%s/f%ld", dir, (long)(intptr_t)arg);
    void *data;
    size_t len;
    int rc = cio_read_file(path, &data, &len, 0, CIO_NEVER);
    if (rc < 0 || len != SIZE) {
        fprintf(stderr, "bench_file_read: %s: %s\n", path,
                rc < 0 ? cio_strerror(rc) : "short");
        exit(1);
    }
    free(data);
    return NULL;
}

static int main_task(void *arg)
{
    (void)arg;
    cio_task *t = malloc((size_t)n * sizeof *t);
    if (!t)
        return 1;
    for (long i = 0; i < n; i++)
        if (cio_spawn(&t[i], read_one, (void *)(intptr_t)i, NULL) < 0)
            return 1;
    for (long i = 0; i < n; i++)
        cio_join(t[i], NULL, CIO_NEVER);
    free(t);
    return 0;
}

static int sequential(void)
{
    char *buf = malloc(SIZE + 1);
    for (long i = 0; buf && i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/f%ld", dir, i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t got = 0;
        ssize_t r = 1;
        while (fd >= 0 && r > 0 && got <= SIZE)
            if ((r = read(fd, buf + got, SIZE + 1 - got)) > 0)
                got += (size_t)r;
        if (fd < 0 || r < 0 || got != SIZE) {
            fprintf(stderr, "bench_file_read: %s: bad read\n", path);
            return 1;
        }
        close(fd);
    }
    free(buf);
    return buf ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_file_read DIR [N [cio|seq]]\n");
        return 2;
    }
    dir = argv[1];
    n = bench_arg_long(argc, argv, 2, 1000);
    int seq = argc > 3 && strcmp(argv[3], "seq") == 0;
    int64_t cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
    int rc = seq ? sequential() : cio_run(main_task, NULL, NULL);
    int64_t wall = bench_now_ns() - t0, cpu = bench_cpu_ns() - cpu0;
    if (rc != 0)
        return 1;
    bench_result("file_read", (double)wall / 1e6, "ms");
    bench_result("file_read.cpu_ms", (double)cpu / 1e6, "ms");
    return 0;
}
