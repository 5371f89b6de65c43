/* Files from tasks: transfers larger than a pool request with every byte
 * checked, 1,000 files read at once, the atomic write under SIGKILL at
 * many points, directories, deadlines and cancels that take back queued
 * requests, and bad input. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static char dir[64];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/cio-file-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* Removes the test directory and what is in it (one level). */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Byte `i` of content number `seed`: contents differ from their first
 * bytes on. */
static unsigned char byte_at(size_t i, unsigned seed)
{
    uint32_t h = (uint32_t)i * 2654435761u + seed * 0x9e3779b9u + seed;
    h ^= h >> 15;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return (unsigned char)h;
}

/* ---- large transfers, every byte ------------------------------------------ */

#define BIG ((size_t)3 * 1024 * 1024 + 12345) /* > 3 pieces of 1 MiB */

static int main_big(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/big", dir);
    unsigned char *out = malloc(BIG), *in = malloc(BIG);
    CHECK(out && in);
    for (size_t i = 0; i < BIG; i++)
        out[i] = byte_at(i, 7);
    int fd = cio_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, CIO_NEVER);
    CHECK(fd >= 0);
    size_t written = 0;
    CHECK_EQ(cio_file_write(fd, out, BIG, &written, CIO_NEVER), BIG);
    CHECK_EQ(written, BIG);
    CHECK_OK(cio_file_sync(fd, CIO_NEVER));
    CHECK_OK(cio_file_datasync(fd, CIO_NEVER));
    struct stat st;
    CHECK_OK(cio_file_stat(fd, &st, CIO_NEVER));
    CHECK_EQ(st.st_size, BIG);
    /* The file position is at the end: a read there finds nothing. */
    CHECK_EQ(cio_file_read(fd, in, 10, CIO_NEVER), 0);
    memset(in, 0, BIG);
    CHECK_EQ(cio_file_pread(fd, in, BIG, 0, CIO_NEVER), BIG);
    CHECK(memcmp(in, out, BIG) == 0);
    /* pread past a piece boundary, from an odd offset. */
    memset(in, 0, BIG);
    CHECK_EQ(cio_file_pread(fd, in, 2 * 1024 * 1024, 1000001, CIO_NEVER),
             2 * 1024 * 1024);
    CHECK(memcmp(in, out + 1000001, 2 * 1024 * 1024) == 0);
    /* Reading more than is there gives what is there. */
    CHECK_EQ(cio_file_pread(fd, in, BIG, BIG - 100, CIO_NEVER), 100);
    /* pwrite in the middle, then the whole file again. */
    unsigned char patch[5000];
    for (size_t i = 0; i < sizeof patch; i++)
        patch[i] = (unsigned char)(255 - i);
    CHECK_EQ(cio_file_pwrite(fd, patch, sizeof patch, 1048570, NULL,
                             CIO_NEVER),
             sizeof patch);
    memcpy(out + 1048570, patch, sizeof patch);
    CHECK_EQ(cio_file_pread(fd, in, BIG, 0, CIO_NEVER), BIG);
    CHECK(memcmp(in, out, BIG) == 0);
    /* The whole-file helper on a file of several pieces. */
    void *whole;
    size_t wlen;
    CHECK_OK(cio_read_file(path, &whole, &wlen, 0, CIO_NEVER));
    CHECK_EQ(wlen, BIG);
    CHECK(memcmp(whole, out, BIG) == 0);
    CHECK_EQ(((char *)whole)[BIG], 0);
    free(whole);
    CHECK_ERR(cio_read_file(path, &whole, &wlen, BIG - 1, CIO_NEVER),
              CIO_EFBIG);
    /* readv and writev, several buffers. */
    CHECK_OK(cio_file_truncate(fd, 0, CIO_NEVER));
    CHECK_OK(cio_file_close(fd));
    fd = cio_file_open(path, O_RDWR, 0, CIO_NEVER);
    CHECK(fd >= 0);
    struct iovec v[3] = {{out, 100000}, {out + 100000, 1}, {out + 100001,
                                                            900000}};
    CHECK_EQ(cio_file_writev(fd, v, 3, &written, CIO_NEVER), 1000001);
    CHECK_EQ(written, 1000001);
    CHECK_EQ(cio_file_stat(fd, &st, CIO_NEVER), 0);
    CHECK_EQ(st.st_size, 1000001);
    memset(in, 0, BIG);
    struct iovec r[2] = {{in, 3}, {in + 3, 999998}};
    CHECK_EQ(cio_file_pread(fd, in, 0, 0, CIO_NEVER), 0);
    int fd2 = cio_file_open(path, O_RDONLY, 0, CIO_NEVER);
    CHECK(fd2 >= 0);
    CHECK_EQ(cio_file_readv(fd2, r, 2, CIO_NEVER), 1000001);
    CHECK(memcmp(in, out, 1000001) == 0);
    CHECK_OK(cio_file_close(fd2));
    CHECK_OK(cio_file_close(fd));
    /* The whole-file helper, on a file larger than a piece. */
    void *data;
    size_t len;
    CHECK_OK(cio_read_file(path, &data, &len, 0, CIO_NEVER));
    CHECK_EQ(len, 1000001);
    CHECK(memcmp(data, out, len) == 0);
    CHECK_EQ(((char *)data)[len], 0);
    free(data);
    CHECK_ERR(cio_read_file(path, &data, &len, 1000000, CIO_NEVER),
              CIO_EFBIG);
    CHECK(data == NULL && len == 0);
    CHECK_OK(cio_read_file(path, &data, &len, 1000001, CIO_NEVER));
    CHECK_EQ(len, 1000001);
    free(data);
    free(out);
    free(in);
    return 0;
}

CIO_TEST(large_transfers_keep_every_byte)
{
    (void)state;
    fresh_dir();
    cio_test_run(main_big, NULL, 2, 0);
    remove_dir();
}

/* ---- 1,000 files at once --------------------------------------------------- */

#define FILES 1000
#define FILE_SIZE (16 * 1024 + 7)

static void *read_one(void *arg)
{
    int i = (int)(intptr_t)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/f%d", dir, i);
    void *data;
    size_t len;
    CHECK_OK(cio_read_file(path, &data, &len, 0, CIO_NEVER));
    CHECK_EQ(len, FILE_SIZE);
    const unsigned char *b = data;
    for (size_t k = 0; k < len; k++)
        if (b[k] != byte_at(k, (unsigned)i))
            cio_test_fail(__FILE__, __LINE__, "file %d byte %zu", i, k);
    free(data);
    return NULL;
}

static void *write_one(void *arg)
{
    int i = (int)(intptr_t)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/f%d", dir, i);
    unsigned char *buf = malloc(FILE_SIZE);
    CHECK(buf);
    for (size_t k = 0; k < FILE_SIZE; k++)
        buf[k] = byte_at(k, (unsigned)i);
    int fd = cio_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600,
                           CIO_NEVER);
    CHECK(fd >= 0);
    CHECK_EQ(cio_file_write(fd, buf, FILE_SIZE, NULL, CIO_NEVER), FILE_SIZE);
    CHECK_OK(cio_file_close(fd));
    free(buf);
    return NULL;
}

static int main_many(void *arg)
{
    (void)arg;
    static cio_task t[FILES];
    /* Written, then read, all at once. */
    for (int i = 0; i < FILES; i++)
        CHECK_OK(cio_spawn(&t[i], write_one, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < FILES; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    for (int i = 0; i < FILES; i++)
        CHECK_OK(cio_spawn(&t[i], read_one, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < FILES; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    cio_dirent *ents;
    size_t n;
    CHECK_OK(cio_readdir(dir, &ents, &n, CIO_NEVER));
    CHECK_EQ(n, FILES);
    free(ents);
    return 0;
}

CIO_TEST(thousand_files_read_at_once)
{
    (void)state;
    fresh_dir();
    cio_test_run(main_many, NULL, 2, 0);
    remove_dir();
}

/* ---- the atomic write under SIGKILL ----------------------------------------- */

#define ATOMIC_SIZE ((size_t)2 * 1024 * 1024 + 3)

static int main_rewrite(void *arg)
{
    const char *path = arg;
    unsigned char *b = malloc(ATOMIC_SIZE);
    CHECK(b);
    for (unsigned round = 1;; round++) {
        for (size_t k = 0; k < ATOMIC_SIZE; k++)
            b[k] = byte_at(k, round);
        CHECK_OK(cio_write_file_atomic(path, b, ATOMIC_SIZE, 0600,
                                       CIO_NEVER));
    }
    return 0;
}

static int run_rewrite(void *arg)
{
    return cio_run(main_rewrite, arg, NULL);
}

CIO_TEST(atomic_write_is_old_or_new_after_a_kill)
{
    (void)state;
    fresh_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/atomic", dir);
    unsigned char *b = malloc(ATOMIC_SIZE);
    assert_non_null(b);
    for (size_t k = 0; k < ATOMIC_SIZE; k++)
        b[k] = byte_at(k, 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, ATOMIC_SIZE, f), ATOMIC_SIZE);
    fclose(f);
    for (int kill_at = 0; kill_at < 24; kill_at++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(run_rewrite(path));
        /* Kill points spread over a few rewrites. */
        struct timespec d = {0, (long)kill_at * 3 * 1000000 + 500000};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        /* Whole: the size, and every byte from one round. */
        FILE *g = fopen(path, "r");
        assert_non_null(g);
        size_t n = fread(b, 1, ATOMIC_SIZE + 1, g);
        fclose(g);
        assert_int_equal(n, ATOMIC_SIZE);
        /* Which round: the first bytes say (rounds differ there). */
        unsigned round = 0;
        for (unsigned r = 0; r < 100000; r++)
            if (b[0] == byte_at(0, r) && b[1] == byte_at(1, r) &&
                b[2] == byte_at(2, r) && b[3] == byte_at(3, r)) {
                round = r;
                break;
            }
        for (size_t k = 0; k < ATOMIC_SIZE; k++)
            if (b[k] != byte_at(k, round))
                fail_msg("kill %d: byte %zu is not round %u's", kill_at, k,
                         round);
    }
    free(b);
    remove_dir();
}

/* ---- directories ---------------------------------------------------------- */

static int main_dirs(void *arg)
{
    (void)arg;
    char sub[128], a[160], b[160];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(a, sizeof a, "%s/a.txt", sub);
    snprintf(b, sizeof b, "%s/b.txt", sub);
    CHECK_OK(cio_mkdir(sub, 0700, CIO_NEVER));
    CHECK_ERR(cio_mkdir(sub, 0700, CIO_NEVER), CIO_EEXIST);
    CHECK_OK(cio_write_file_atomic(a, "hello", 5, 0644, CIO_NEVER));
    CHECK_OK(cio_mkdir(b, 0700, CIO_NEVER)); /* a directory named b.txt */
    cio_dirent *e;
    size_t n;
    CHECK_OK(cio_readdir(sub, &e, &n, CIO_NEVER));
    CHECK_EQ(n, 2);
    int files = 0, dirs = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(e[i].name, "a.txt"))
            files += e[i].type == DT_REG || e[i].type == DT_UNKNOWN;
        if (!strcmp(e[i].name, "b.txt"))
            dirs += e[i].type == DT_DIR || e[i].type == DT_UNKNOWN;
    }
    CHECK(files == 1 && dirs == 1);
    free(e);
    CHECK_ERR(cio_rmdir(sub, CIO_NEVER), CIO_ENOTEMPTY);
    CHECK_ERR(cio_rename(a, b, CIO_NEVER), CIO_EISDIR);
    CHECK_OK(cio_rmdir(b, CIO_NEVER));
    CHECK_OK(cio_rename(a, b, CIO_NEVER));
    struct stat st;
    CHECK_ERR(cio_stat(a, &st, CIO_NEVER), CIO_ENOENT);
    CHECK_OK(cio_stat(b, &st, CIO_NEVER));
    CHECK_EQ(st.st_size, 5);
    void *data;
    size_t len;
    CHECK_OK(cio_read_file(b, &data, &len, 0, CIO_NEVER));
    CHECK(len == 5 && memcmp(data, "hello", 5) == 0);
    free(data);
    /* Replacing keeps the mode asked for and leaves no temporary file. */
    CHECK_OK(cio_write_file_atomic(b, "bye", 3, 0600, CIO_NEVER));
    CHECK_OK(cio_readdir(sub, &e, &n, CIO_NEVER));
    CHECK_EQ(n, 1);
    free(e);
    CHECK_OK(cio_unlink(b, CIO_NEVER));
    CHECK_ERR(cio_unlink(b, CIO_NEVER), CIO_ENOENT);
    CHECK_OK(cio_rmdir(sub, CIO_NEVER));
    CHECK_OK(cio_readdir(dir, &e, &n, CIO_NEVER));
    CHECK_EQ(n, 0);
    free(e);
    return 0;
}

CIO_TEST(directories_list_rename_and_remove)
{
    (void)state;
    fresh_dir();
    cio_test_run(main_dirs, NULL, 1, 0);
    remove_dir();
}

/* ---- deadlines and cancels take back queued requests --------------------- */

static void *hold_pool(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    return NULL;
}

static void *hold_task(void *arg)
{
    (void)arg;
    CHECK_OK(cio_blocking(hold_pool, NULL, NULL, CIO_NEVER));
    return NULL;
}

static void *read_until_cancelled(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    return (void *)(intptr_t)cio_file_read(fd, &c, 1, CIO_NEVER);
}

static int main_deadline(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/d", dir);
    CHECK_OK(cio_write_file_atomic(path, "abc", 3, 0600, CIO_NEVER));
    int fd = cio_file_open(path, O_RDONLY, 0, CIO_NEVER);
    CHECK(fd >= 0);
    /* The pool's one thread is busy for 300 ms: requests queue. */
    cio_task h;
    CHECK_OK(cio_spawn(&h, hold_task, NULL, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    char c;
    int64_t t0 = cio_now();
    CHECK_ERR(cio_file_read(fd, &c, 1, cio_deadline_after(30 * MS)),
              CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 < 250 * MS); /* not after the holder's job */
    cio_task r;
    CHECK_OK(cio_spawn(&r, read_until_cancelled, (void *)(intptr_t)fd, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(10 * MS)));
    CHECK_OK(cio_cancel(r));
    void *res;
    CHECK_OK(cio_join(r, &res, CIO_NEVER));
    CHECK_EQ((intptr_t)res, CIO_ECANCELED);
    CHECK_OK(cio_join(h, NULL, CIO_NEVER));
    /* Neither read happened: the file position is still at the start. */
    CHECK_EQ(cio_file_read(fd, &c, 1, CIO_NEVER), 1);
    CHECK_EQ(c, 'a');
    CHECK_OK(cio_file_close(fd));
    return 0;
}

CIO_TEST(deadline_and_cancel_take_back_queued_requests)
{
    (void)state;
    fresh_dir();
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.pool_threads = 1;
    /* The pool's queue: on io_uring file reads are requests that do not
     * wait behind the pool (the next case is theirs). */
    cfg.backend = "epoll";
    cio_test_run_cfg(main_deadline, NULL, &cfg, 0);
    remove_dir();
}

/* Writes at the file position from tasks on two workers (what tasks
 * printing to a stdout redirected to a file do): each lands after the
 * last, none on top of another. */
enum { LINES = 2000, LINE = 16 };

static void *write_lines(void *arg)
{
    int fd = (int)(intptr_t)arg >> 1, who = (int)(intptr_t)arg & 1;
    for (int i = 0; i < LINES; i++) {
        char line[LINE + 1];
        snprintf(line, sizeof line, "%c%013d\n", who ? 'b' : 'a', i);
        CHECK_EQ(cio_write(fd, line, LINE, CIO_NEVER), LINE);
    }
    return NULL;
}

static int main_lines(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/lines", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.flags = CIO_SPAWN_PIN;
    cio_task t[2];
    for (int k = 0; k < 2; k++) {
        o.worker = k;
        CHECK_OK(cio_spawn(&t[k], write_lines,
                           (void *)(intptr_t)(fd << 1 | k), &o));
    }
    for (int k = 0; k < 2; k++)
        CHECK_OK(cio_join(t[k], NULL, CIO_NEVER));
    CHECK_OK(cio_close(fd));
    void *data;
    size_t len;
    CHECK_OK(cio_read_file(path, &data, &len, 0, CIO_NEVER));
    CHECK_EQ(len, 2 * LINES * LINE);
    int next[2] = {0, 0};
    for (size_t at = 0; at < len; at += LINE) {
        const char *l = (const char *)data + at;
        CHECK(l[0] == 'a' || l[0] == 'b');
        int who = l[0] == 'b';
        CHECK_EQ(atoi(l + 1), next[who]); /* in order, none lost */
        next[who]++;
    }
    free(data);
    CHECK_OK(cio_unlink(path, CIO_NEVER));
    return 0;
}

CIO_TEST(writes_at_the_file_position_from_two_workers_lose_nothing)
{
    (void)state;
    fresh_dir();
    cio_test_run(main_lines, NULL, 2, 0);
    remove_dir();
}

/* ---- bad input -------------------------------------------------------------- */

static int main_bad(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/none/x", dir);
    CHECK_ERR(cio_file_open(path, O_RDONLY, 0, CIO_NEVER), CIO_ENOENT);
    CHECK_ERR(cio_file_open(NULL, O_RDONLY, 0, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_file_open(dir, O_WRONLY, 0, CIO_NEVER), CIO_EISDIR);
    char c;
    CHECK_ERR(cio_file_read(-1, &c, 1, CIO_NEVER), CIO_EBADF);
    CHECK_ERR(cio_file_read(1000000, &c, 1, CIO_NEVER), CIO_EBADF);
    CHECK_ERR(cio_file_write(-3, "x", 1, NULL, CIO_NEVER), CIO_EBADF);
    CHECK_ERR(cio_file_pread(0, &c, 1, -1, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_file_readv(0, NULL, 1, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_file_truncate(0, -5, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_file_close(-1), CIO_EBADF);
    CHECK_ERR(cio_stat(path, NULL, CIO_NEVER), CIO_EINVAL);
    CHECK_ERR(cio_rename(path, NULL, CIO_NEVER), CIO_EINVAL);
    cio_dirent *e;
    size_t n;
    CHECK_ERR(cio_readdir(path, &e, &n, CIO_NEVER), CIO_ENOENT);
    CHECK(e == NULL && n == 0);
    void *data;
    size_t len;
    CHECK_ERR(cio_read_file(path, &data, &len, 0, CIO_NEVER), CIO_ENOENT);
    CHECK_ERR(cio_read_file(dir, &data, &len, 0, CIO_NEVER), CIO_EISDIR);
    /* An atomic write into a missing directory changes nothing. */
    CHECK_ERR(cio_write_file_atomic(path, "x", 1, 0600, CIO_NEVER),
              CIO_ENOENT);
    return 0;
}

CIO_TEST(bad_input_gets_clear_errors)
{
    (void)state;
    fresh_dir();
    /* Outside a task. */
    char c;
    ASSERT_ERR(cio_file_open("/tmp", O_RDONLY, 0, CIO_NEVER), CIO_EPERM);
    ASSERT_ERR(cio_file_read(0, &c, 1, CIO_NEVER), CIO_EPERM);
    cio_test_run(main_bad, NULL, 1, 0);
    remove_dir();
}

CIO_TEST_MAIN(cmocka_unit_test(large_transfers_keep_every_byte),
              cmocka_unit_test(thousand_files_read_at_once),
              cmocka_unit_test(atomic_write_is_old_or_new_after_a_kill),
              cmocka_unit_test(directories_list_rename_and_remove),
              cmocka_unit_test(deadline_and_cancel_take_back_queued_requests),
              cmocka_unit_test(writes_at_the_file_position_from_two_workers_lose_nothing),
              cmocka_unit_test(bad_input_gets_clear_errors))
