/* file_read, libuv peer: the same N files of 64 KiB read whole at once,
 * each by uv_fs_open, uv_fs_read (into a 64 KiB + 1 buffer, again until
 * end of file) and uv_fs_close on libuv's thread pool, the callbacks on
 * the default loop. The pool's size is libuv's default unless
 * UV_THREADPOOL_SIZE says otherwise.
 * Usage: bench_uv_file_read DIR [N]
 */
#include <fcntl.h>
#include <uv.h>

#include "common.h"

#define SIZE (64 * 1024)

struct file {
    uv_fs_t req;
    uv_file fd;
    size_t got;
    char buf[SIZE + 1];
    uv_buf_t b;
};

static uv_loop_t *loop;
static const char *dir;
static int failed;

static void on_read(uv_fs_t *req);

static void on_close(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
}

static void read_more(struct file *f)
{
    f->b = uv_buf_init(f->buf + f->got, (unsigned)(SIZE + 1 - f->got));
    uv_fs_read(loop, &f->req, f->fd, &f->b, 1, -1, on_read);
}

static void on_read(uv_fs_t *req)
{
    struct file *f = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r > 0 && f->got + (size_t)r <= SIZE) {
        f->got += (size_t)r;
        read_more(f);
        return;
    }
    if (r < 0 || f->got != SIZE)
        failed = 1;
    uv_fs_close(loop, &f->req, f->fd, on_close);
}

static void on_open(uv_fs_t *req)
{
    struct file *f = req->data;
    f->fd = (uv_file)req->result;
    uv_fs_req_cleanup(req);
    if (f->fd < 0) {
        failed = 1;
        return;
    }
    read_more(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_uv_file_read DIR [N]\n");
        return 2;
    }
    dir = argv[1];
    long n = bench_arg_long(argc, argv, 2, 1000);
    struct file *files = calloc((size_t)n, sizeof *files);
    if (!files)
        return 1;
    loop = uv_default_loop();
    int64_t cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/f%ld", dir, i);
        files[i].req.data = &files[i];
        uv_fs_open(loop, &files[i].req, path, O_RDONLY, 0, on_open);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    int64_t wall = bench_now_ns() - t0, cpu = bench_cpu_ns() - cpu0;
    if (failed) {
        fprintf(stderr, "bench_uv_file_read: a read failed or was short\n");
        return 1;
    }
    bench_result("file_read", (double)wall / 1e6, "ms");
    bench_result("file_read.cpu_ms", (double)cpu / 1e6, "ms");
    free(files);
    return 0;
}
