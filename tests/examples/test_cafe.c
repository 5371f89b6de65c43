/* The café (`make demo`): its four ways come out as the model predicts,
 * judged on counts and CPU time rather than tight timings (way 3 far
 * faster than way 1 on one thread, way 2 a thread per order, way 4's
 * orders on every worker, no way wasting CPU); cafe.svg is well-formed
 * XML with a lane per thread or worker; cafe.json is a trace of ways 3
 * and 4; bad options get a message and a non-zero exit. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"
#include "server_proc.h"

#define ORDERS 8
#define WORKERS 2

static const char *cafe = CIO_EXAMPLES_DIR "/cafe";

/* Runs the café with `args`; its stdout and stderr in `out`; returns the
 * exit status (-1 when it did not exit). */
static int run(const char *const *args, char *out, size_t cap)
{
    int fd;
    pid_t pid = start_captured(cafe, args, &fd);
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(fd);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct row {
    double wall, cpu, peak;
    int threads;
    char rest[256];
};

/* The table's row for `way`. */
static struct row row_of(const char *out, int way)
{
    char key[8];
    snprintf(key, sizeof key, "\n%d  ", way);
    const char *at = strstr(out, key);
    if (!at)
        fail_msg("no row for way %d in:\n%s", way, out);
    at += 1;
    struct row r = {0};
    /* The way's name is a fixed 33 columns after "N  ". */
    int n = sscanf(at + 3 + 33, "%lf %lf %d %lf %255[^\n]", &r.wall, &r.cpu,
                   &r.threads, &r.peak, r.rest);
    if (n != 5)
        fail_msg("way %d: unreadable row in:\n%s", way, out);
    return r;
}

/* ---- a small XML well-formedness check -------------------------------------- */

struct svg_seen {
    int lanes[5];       /* lanes per way panel */
    int worker1_orders; /* order rects on way 4's worker 1 */
};

/* Checks that `text` is well-formed XML as the café writes it (a
 * declaration, elements with quoted attributes, text without '<' or a
 * bare '&'), and counts the lanes of each way's panel. */
static struct svg_seen check_xml(const char *text)
{
    struct svg_seen s = {0};
    char stack[32][16];
    int depth = 0, way = 0, lane = -1, roots = 0;
    const char *p = text;
    if (strncmp(p, "<?xml ", 6) == 0) {
        p = strstr(p, "?>");
        assert_non_null(p);
        p += 2;
    }
    while (*p) {
        if (*p != '<') {
            if (*p == '&')
                assert_true(strncmp(p, "&amp;", 5) == 0 ||
                            strncmp(p, "&lt;", 4) == 0 ||
                            strncmp(p, "&gt;", 4) == 0);
            assert_true(depth > 0 || *p == '\n' || *p == ' ');
            p++;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyz");
        assert_true(len > 0 && len < 16);
        const char *end = name + len;
        /* Attributes: name="value" pairs. */
        while (*end == ' ') {
            end++;
            size_t an = strspn(end, "abcdefghijklmnopqrstuvwxyz-");
            assert_true(an > 0);
            assert_true(end[an] == '=' && end[an + 1] == '"');
            const char *q = strchr(end + an + 2, '"');
            assert_non_null(q);
            assert_null(memchr(end + an + 2, '<', (size_t)(q - end - an - 2)));
            if (strncmp(end, "id=\"way", 7) == 0)
                way = end[7] - '0';
            if (strncmp(end, "class=\"lane\"", 12) == 0 && way >= 1 &&
                way <= 4) {
                s.lanes[way]++;
                lane = s.lanes[way] - 1;
            }
            end = q + 1;
        }
        bool self = *end == '/';
        assert_true(*(end + self) == '>');
        if (closing) {
            assert_true(depth > 0);
            depth--;
            assert_true(strlen(stack[depth]) == len &&
                        strncmp(stack[depth], name, len) == 0);
        } else if (!self) {
            assert_true(depth < 32);
            if (depth == 0)
                roots++;
            memcpy(stack[depth], name, len);
            stack[depth][len] = 0;
            depth++;
        }
        if (!closing && strncmp(name, "title", 5) == 0 && way == 4 &&
            lane == 1 && strncmp(end + 1, "order ", 6) == 0)
            s.worker1_orders++;
        p = end + self + 1;
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
    return s;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

CIO_TEST(four_ways_come_out_as_the_model_predicts)
{
    (void)state;
    char dir[] = "/tmp/cio-cafe-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static char out[16384];
    const char *args[] = {"--orders", "8", "--brew-ms", "40", "--workers",
                          "2", "--out-dir", dir, NULL};
    int rc = run(args, out, sizeof out);
    fprintf(stderr, "%s", out); /* shown when the case fails */
    assert_int_equal(rc, 0);
    struct row w1 = row_of(out, 1), w2 = row_of(out, 2), w3 = row_of(out, 3),
               w4 = row_of(out, 4);
    /* Threads: one; one per order; one; one per worker. */
    assert_int_equal(w1.threads, 1);
    assert_int_equal(w2.threads, ORDERS);
    assert_int_equal(w3.threads, 1);
    assert_int_equal(w4.threads, WORKERS);
    /* Way 1 waits for every brew in turn (at least 8 x 40 ms); way 3
     * overlaps them on its one thread. */
    assert_true(w1.wall >= ORDERS * 40);
    assert_true(w3.wall * 2 < w1.wall);
    /* Every way does the same real work (3 ms of CPU per order) and none
     * wastes much beyond it: waiting costs no CPU. */
    struct row all[] = {w1, w2, w3, w4};
    for (int i = 0; i < 4; i++) {
        assert_true(all[i].cpu >= ORDERS * 3 * 0.95);
        assert_true(all[i].cpu < ORDERS * 3 * 4 + 50);
    }
    /* Way 1's thread waits most of the time: its waiting share is the
     * last figure of "t0 busy/idle/waiting". */
    int b, i, wt;
    assert_int_equal(sscanf(w1.rest, "t0 %d/%d/%d", &b, &i, &wt), 3);
    assert_true(wt > 50);
    /* cio's workers never wait at the machine. */
    assert_int_equal(sscanf(w3.rest, "w0 %d/%d/%d", &b, &i, &wt), 3);
    assert_int_equal(wt, 0);

    char path[128];
    snprintf(path, sizeof path, "%s/cafe.svg", dir);
    struct svg_seen s = check_xml(slurp(path));
    assert_int_equal(s.lanes[1], 1);
    assert_int_equal(s.lanes[2], ORDERS);
    assert_int_equal(s.lanes[3], 1);
    assert_int_equal(s.lanes[4], WORKERS);
    /* The orders really spread over the workers. */
    assert_true(s.worker1_orders >= 1);
    unlink(path);

    snprintf(path, sizeof path, "%s/cafe.json", dir);
    struct json *j = json_parse_file(path);
    assert_non_null(j);
    struct json *evs = json_get(j, "traceEvents");
    assert_non_null(evs);
    int procs = 0, slices = 0;
    for (size_t k = 0; k < evs->n; k++) {
        const char *name = json_str(evs->items[k], "name");
        const char *ph = json_str(evs->items[k], "ph");
        if (name && strcmp(name, "process_name") == 0)
            procs++;
        if (ph && strcmp(ph, "B") == 0 && name && strcmp(name, "order") == 0)
            slices++;
    }
    assert_int_equal(procs, 2);
    assert_true(slices >= 2 * ORDERS * 2); /* two runs per order, twice */
    json_free(j);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

CIO_TEST(bad_options_get_a_message_and_a_non_zero_exit)
{
    (void)state;
    static char out[8192];
    const char *help[] = {"--help", NULL};
    assert_int_equal(run(help, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: cafe"));
    const char *const bad[][3] = {
        {"--orders", "0", NULL},     {"--orders", "lots", NULL},
        {"--brew-ms", "-5", NULL},   {"--workers", "100000", NULL},
        {"--out-dir", "/nonexistent-dir", NULL},
        {"--bogus", NULL, NULL},     {"extra", NULL, NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(run(bad[k], out, sizeof out), 2);
        assert_non_null(strstr(out, "cafe: "));
    }
}

CIO_TEST_MAIN(cmocka_unit_test(four_ways_come_out_as_the_model_predicts),
              cmocka_unit_test(bad_options_get_a_message_and_a_non_zero_exit))
