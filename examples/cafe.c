/* The café: what cio is for, in one run.
 *
 * A café takes orders. Each order is taken (about 2 ms of real CPU work),
 * brewed on the coffee machine (another process, over a Unix socket: it
 * answers after --brew-ms and needs none of the café's CPU), and served
 * (about 1 ms of CPU). Resources are limited and waiting wastes them. The
 * same orders are served four ways:
 *   1. one worker, one order at a time: it waits at the machine;
 *   2. one OS thread per order: more resources thrown at the waiting;
 *   3. cio tasks on one worker: an order that waits stops, and the worker
 *      takes the next (concurrency);
 *   4. cio tasks on every worker: concurrency and parallelism.
 * Each way runs in a process of its own, so its CPU time and peak memory
 * are its own. The café prints a table, draws every way's workers or
 * threads over time in cafe.svg, and writes the trace of ways 3 and 4 to
 * cafe.json (open it in ui.perfetto.dev).
 */
#include <cio.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ORDERS 256
#define MAX_LANES 256
#define TAKE_NS 2000000LL
#define SERVE_NS 1000000LL

static struct {
    int orders;
    int brew_ms;
    int workers; /* way 4; 0: cio's default (the CPU count) */
    const char *out_dir;
    char sock_path[64];
} opt = {.orders = 12, .brew_ms = 50, .out_dir = "."};

/* ---- time and work --------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Real CPU work for `ns` of this thread's CPU time (a preempted thread
 * takes longer in wall time, as real work would). */
static unsigned work(int64_t ns)
{
    unsigned h = 2166136261u;
    int64_t end = thread_cpu_ns() + ns;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 1000; i++)
            h = (h ^ (unsigned)i) * 16777619u;
    return h;
}

/* ---- what each order and each lane did --------------------------------------- */

struct order_rec {
    int64_t take0, take1, brew1, serve1; /* ns since the way began */
    int take_lane, serve_lane;           /* worker or thread */
    unsigned made;                       /* the work's result, kept so the
                                            work is not optimised away */
};

struct lane_rec {
    int64_t busy, idle, waiting; /* ns */
};

struct result {
    int way;
    int ok;
    int64_t wall;
    int threads; /* OS threads that served orders */
    int lanes;
    struct lane_rec lane[MAX_LANES];
    struct order_rec order[MAX_ORDERS];
};

static struct result res;
static int64_t way_start;

/* ---- the coffee machine --------------------------------------------------- */

static struct sockaddr_un machine_addr(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    /* sock_path is shorter than sun_path: the NUL comes along. */
    memcpy(a.sun_path, opt.sock_path, strlen(opt.sock_path) + 1);
    return a;
}

static void *brew_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    for (;;) {
        ssize_t n = cio_read(fd, buf, sizeof buf - 1, CIO_NEVER);
        if (n <= 0)
            break;
        /* The machine works on its own: the café's CPU is not involved. */
        cio_sleep_until(cio_deadline_after((int64_t)opt.brew_ms * 1000000));
        if (cio_write_all(fd, "ready\n", 6, NULL, CIO_NEVER) < 0)
            break;
    }
    cio_close(fd);
    return NULL;
}

static int machine_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = cio_accept(lfd, NULL, CIO_NEVER);
        if (fd < 0)
            continue;
        cio_spawn(NULL, brew_one, (void *)(intptr_t)fd, NULL);
    }
    return 0;
}

/* Starts the machine; returns its pid. */
static pid_t start_machine(void)
{
    snprintf(opt.sock_path, sizeof opt.sock_path, "/tmp/cio-cafe-%d.sock",
             (int)getpid());
    unlink(opt.sock_path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = machine_addr();
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(lfd, 1024) != 0) {
        fprintf(stderr, "cafe: coffee machine socket %s: %s\n", opt.sock_path,
                strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        cio_config cfg;
        cio_config_init(&cfg);
        cfg.workers = 1;
        _exit(cio_run(machine_main, (void *)(intptr_t)lfd, &cfg) == 0 ? 0
                                                                     : 1);
    }
    close(lfd);
    return pid;
}

/* ---- ways 1 and 2: threads that wait at the machine ------------------------ */

/* One order on the calling thread, blocking at the machine. */
static int order_blocking(int i, int lane)
{
    struct order_rec *o = &res.order[i];
    o->take0 = now_ns() - way_start;
    o->made = work(TAKE_NS);
    o->take1 = now_ns() - way_start;
    o->take_lane = o->serve_lane = lane;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = machine_addr();
    char buf[16];
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, "brew\n", 5) != 5 || read(fd, buf, sizeof buf) <= 0) {
        fprintf(stderr, "cafe: the coffee machine: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    o->brew1 = now_ns() - way_start;
    o->made += work(SERVE_NS);
    o->serve1 = now_ns() - way_start;
    return 0;
}

static void lane_from_orders(int lane, int i)
{
    struct order_rec *o = &res.order[i];
    res.lane[lane].busy += (o->take1 - o->take0) + (o->serve1 - o->brew1);
    res.lane[lane].waiting += o->brew1 - o->take1;
}

static int way_sequential(void)
{
    res.threads = res.lanes = 1;
    for (int i = 0; i < opt.orders; i++) {
        if (order_blocking(i, 0) < 0)
            return -1;
        lane_from_orders(0, i);
    }
    return 0;
}

static void *thread_order(void *arg)
{
    int i = (int)(intptr_t)arg;
    return (void *)(intptr_t)order_blocking(i, i);
}

static int way_threads(void)
{
    pthread_t th[MAX_ORDERS];
    int started = 0, rc = 0;
    for (int i = 0; i < opt.orders; i++) {
        if (pthread_create(&th[i], NULL, thread_order, (void *)(intptr_t)i)) {
            rc = -1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        void *r;
        pthread_join(th[i], &r);
        if (r)
            rc = -1;
        lane_from_orders(i, i);
    }
    res.threads = res.lanes = started;
    return rc;
}

/* ---- ways 3 and 4: cio tasks ------------------------------------------------ */

static void *task_order(void *arg)
{
    int i = (int)(intptr_t)arg;
    struct order_rec *o = &res.order[i];
    o->take0 = now_ns() - way_start;
    o->take_lane = cio_worker();
    o->made = work(TAKE_NS);
    o->take1 = now_ns() - way_start;
    /* The machine brews; this task stops, its worker takes the next
     * order. */
    int fd = cio_unix_connect(opt.sock_path, CIO_NEVER);
    char buf[16];
    if (fd < 0 || cio_write_all(fd, "brew\n", 5, NULL, CIO_NEVER) < 0 ||
        cio_read(fd, buf, sizeof buf, CIO_NEVER) <= 0) {
        fprintf(stderr, "cafe: the coffee machine: %s\n",
                cio_strerror(fd < 0 ? fd : CIO_EIO));
        if (fd >= 0)
            cio_close(fd);
        return (void *)1;
    }
    cio_close(fd);
    o->brew1 = now_ns() - way_start;
    o->serve_lane = cio_worker();
    o->made += work(SERVE_NS);
    o->serve1 = now_ns() - way_start;
    return NULL;
}

static int cafe_main(void *arg)
{
    (void)arg;
    cio_task t[MAX_ORDERS];
    int spawned = 0, rc = 0;
    for (int i = 0; i < opt.orders; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.name = "order";
        /* Any worker may take the order up again after the machine:
         * the orders spread over the workers. */
        o.flags = CIO_SPAWN_MIGRATE;
        if (cio_spawn(&t[i], task_order, (void *)(intptr_t)i, &o) < 0) {
            rc = 1;
            break;
        }
        spawned++;
    }
    for (int i = 0; i < spawned; i++) {
        void *r;
        if (cio_join(t[i], &r, CIO_NEVER) < 0 || r)
            rc = 1;
    }
    return rc;
}

static int way_cio(int workers, const char *trace)
{
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = workers;
    cfg.trace = trace;
    cfg.stall_ns = -1; /* the orders' CPU work is the point here */
    int rc = cio_run(cafe_main, NULL, &cfg);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "cafe: cio_run: %s\n", cio_strerror(rc));
        return -1;
    }
    res.threads = res.lanes = cio_workers() > 0 ? cio_workers() : workers;
    for (int w = 0; w < MAX_LANES; w++) {
        cio_worker_stats s;
        if (cio_worker_stats_get(w, &s) < 0)
            break;
        res.lanes = w + 1;
        res.lane[w].busy = s.run_ns + s.sched_ns + s.poll_ns;
        res.lane[w].idle = s.park_ns;
    }
    res.threads = res.lanes;
    return 0;
}

/* ---- running a way in a process of its own ---------------------------------- */

struct measured {
    struct result r;
    double cpu_ms;
    double peak_mib;
};

static const char *const way_names[] = {
    "",
    "one worker, one order at a time",
    "one OS thread per order",
    "cio tasks on one worker",
    "cio tasks on every worker",
};

static char *out_path(const char *name)
{
    size_t n = strlen(opt.out_dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", opt.out_dir, name);
    return p;
}

static int run_way(int way, struct measured *m)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        memset(&res, 0, sizeof res);
        res.way = way;
        char name[32];
        snprintf(name, sizeof name, "cafe-way%d.json", way);
        char *trace = way >= 3 ? out_path(name) : NULL;
        way_start = now_ns();
        int rc = way == 1   ? way_sequential()
                 : way == 2 ? way_threads()
                 : way == 3 ? way_cio(1, trace)
                            : way_cio(opt.workers, trace);
        res.wall = now_ns() - way_start;
        res.ok = rc == 0;
        const char *b = (const char *)&res;
        size_t left = sizeof res;
        while (left) {
            ssize_t w = write(p[1], b, left);
            if (w <= 0)
                _exit(1);
            b += w;
            left -= (size_t)w;
        }
        _exit(rc == 0 ? 0 : 1);
    }
    close(p[1]);
    char *b = (char *)&m->r;
    size_t got = 0;
    ssize_t n;
    while (got < sizeof m->r && (n = read(p[0], b + got, sizeof m->r - got)) > 0)
        got += (size_t)n;
    close(p[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || got != sizeof m->r ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !m->r.ok)
        return -1;
    m->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    m->peak_mib = (double)ru.ru_maxrss / 1024.0;
    return 0;
}

/* ---- the table ---------------------------------------------------------------- */

static int pct(int64_t part, int64_t whole)
{
    return whole > 0 ? (int)((part * 100 + whole / 2) / whole) : 0;
}

static void print_row(const struct measured *m)
{
    const struct result *r = &m->r;
    printf("%d  %-33s %8.1f %8.1f %8d %9.1f   ", r->way, way_names[r->way],
           (double)r->wall / 1e6, m->cpu_ms, r->threads, m->peak_mib);
    if (r->way == 2) {
        /* A thread per order: their average. */
        int64_t busy = 0, waiting = 0;
        for (int i = 0; i < r->lanes; i++) {
            busy += r->lane[i].busy;
            waiting += r->lane[i].waiting;
        }
        int64_t whole = r->wall * r->lanes;
        printf("each thread (avg) %d/%d/%d", pct(busy, whole),
               pct(whole - busy - waiting, whole), pct(waiting, whole));
    } else {
        for (int i = 0; i < r->lanes; i++) {
            const struct lane_rec *l = &r->lane[i];
            int64_t whole = r->way <= 2 ? r->wall : l->busy + l->idle;
            int b = pct(l->busy, whole), w = pct(l->waiting, whole);
            printf("%s%c%d %d/%d/%d", i ? "  " : "", r->way <= 2 ? 't' : 'w',
                   i, b, 100 - b - w, w);
        }
    }
    printf("\n");
}

/* ---- the picture ---------------------------------------------------------------- */

#define SVG_W 1000
#define LABEL_W 120
#define LANE_H 14
#define PANEL_GAP 40

static void colour(FILE *f, int i, int light)
{
    int hue = (int)((long)i * 360 / (opt.orders > 0 ? opt.orders : 1));
    fprintf(f, "hsl(%d,70%%,%d%%)", hue, light ? 85 : 50);
}

static void rect(FILE *f, double x, double y, double w, double h, int order,
                 int light, const char *title)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
               "fill=\"",
            x, y, w > 0.5 ? w : 0.5, h);
    colour(f, order, light);
    fprintf(f, "\"><title>%s</title></rect>\n", title);
}

static int write_svg(const struct measured *m, int nways, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int64_t longest = 1;
    int height = 58;
    for (int w = 0; w < nways; w++) {
        if (m[w].r.wall > longest)
            longest = m[w].r.wall;
        height += 30 + m[w].r.lanes * (LANE_H + 2) + PANEL_GAP;
    }
    double scale = (double)(SVG_W - LABEL_W - 20) / (double)longest;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
               "height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"10\" y=\"20\" font-size=\"14\">%d orders, %d ms at "
               "the machine each; one colour per order, one time scale for "
               "all four ways</text>\n"
               "<text x=\"10\" y=\"38\">solid: working on an order (take, "
               "serve); pale: waiting at the machine; white: idle</text>\n",
            SVG_W, height, opt.orders, opt.brew_ms);
    int y = 58;
    for (int w = 0; w < nways; w++) {
        const struct result *r = &m[w].r;
        fprintf(f, "<g class=\"way\" id=\"way%d\">\n"
                   "<text x=\"10\" y=\"%d\" font-size=\"13\">%d. %s: %.0f ms, "
                   "%d %s</text>\n",
                r->way, y + 14, r->way, way_names[r->way],
                (double)r->wall / 1e6, r->threads,
                r->way <= 2 ? (r->threads == 1 ? "thread" : "threads")
                            : (r->threads == 1 ? "worker" : "workers"));
        y += 24;
        for (int l = 0; l < r->lanes; l++) {
            double ly = y + l * (LANE_H + 2);
            fprintf(f, "<g class=\"lane\">\n<text x=\"10\" y=\"%.1f\">%s %d"
                       "</text>\n<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%d\" fill=\"none\" stroke=\"#ccc\"/>\n",
                    ly + LANE_H - 3, r->way <= 2 ? "thread" : "worker", l,
                    LABEL_W, ly, (double)r->wall * scale, LANE_H);
            for (int i = 0; i < opt.orders; i++) {
                const struct order_rec *o = &r->order[i];
                char t[64];
                if (o->take_lane == l) {
                    snprintf(t, sizeof t, "order %d: take", i);
                    rect(f, LABEL_W + (double)o->take0 * scale, ly,
                         (double)(o->take1 - o->take0) * scale, LANE_H, i, 0,
                         t);
                }
                if (r->way <= 2 && o->take_lane == l) {
                    snprintf(t, sizeof t, "order %d: waiting at the machine",
                             i);
                    rect(f, LABEL_W + (double)o->take1 * scale, ly + 3,
                         (double)(o->brew1 - o->take1) * scale, LANE_H - 6, i,
                         1, t);
                }
                if (o->serve_lane == l) {
                    snprintf(t, sizeof t, "order %d: serve", i);
                    rect(f, LABEL_W + (double)o->brew1 * scale, ly,
                         (double)(o->serve1 - o->brew1) * scale, LANE_H, i, 0,
                         t);
                }
            }
            fprintf(f, "</g>\n");
        }
        y += r->lanes * (LANE_H + 2) + PANEL_GAP;
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- the trace of ways 3 and 4, in one file ------------------------------------ */

/* Appends the events of trace file `path` (one per line, as cio writes
 * them) to `out`, naming its process `name`; removes the file. */
static int merge_trace(FILE *out, const char *path, const char *name,
                       int *first)
{
    FILE *in = fopen(path, "r");
    if (!in)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[0] != '{' || strncmp(line, "{\"displayTimeUnit\"", 18) == 0)
            continue;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ','))
            line[--n] = 0;
        if (strstr(line, "\"process_name\"")) {
            char *at = strstr(line, "\"args\":{\"name\":\"cio\"}");
            if (at) {
                *at = 0;
                fprintf(out, "%s%s\"args\":{\"name\":\"%s\"}}", *first ? "" : ",\n",
                        line, name);
                *first = 0;
                continue;
            }
        }
        fprintf(out, "%s%s", *first ? "" : ",\n", line);
        *first = 0;
    }
    free(line);
    fclose(in);
    unlink(path);
    return 0;
}

static int write_trace(const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    fprintf(out, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    int first = 1, rc = 0;
    for (int way = 3; way <= 4; way++) {
        char name[32], label[64];
        snprintf(name, sizeof name, "cafe-way%d.json", way);
        snprintf(label, sizeof label, "way %d: %s", way, way_names[way]);
        char *p = out_path(name);
        if (!p || merge_trace(out, p, label, &first) < 0)
            rc = -1;
        free(p);
    }
    fprintf(out, "\n]}\n");
    return fclose(out) == 0 ? rc : -1;
}

/* ---- options ------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cafe [--orders N] [--brew-ms MS] [--workers N] "
            "[--out-dir DIR]\n"
            "\n"
            "Serves N orders four ways and shows where the time went. An\n"
            "order is taken (2 ms of CPU), brewed on the coffee machine (a\n"
            "separate process that answers after MS milliseconds and uses\n"
            "none of the cafe's CPU) and served (1 ms of CPU).\n"
            "\n"
            "  --orders N     orders to serve, 1 to %d (default 12)\n"
            "  --brew-ms MS   the machine's time per order, 1 to 10000\n"
            "                 (default 50)\n"
            "  --workers N    workers for way 4, 1 to 256 (default: one per\n"
            "                 CPU, or $CIO_WORKERS)\n"
            "  --out-dir DIR  where cafe.svg and cafe.json go (default .)\n"
            "  --help         this text\n"
            "\n"
            "The table gives, per way, the wall time, the CPU time, the OS\n"
            "threads that served orders, the peak memory, and each worker's\n"
            "(or thread's) share of the time busy / idle / waiting. cafe.svg\n"
            "draws each way's workers or threads over time; cafe.json is the\n"
            "trace of ways 3 and 4 (open it in https://ui.perfetto.dev).\n",
            MAX_ORDERS);
}

static int number(const char *what, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "cafe: %s %s: expected a whole number from %d to %d\n",
                what, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse(int argc, char **argv)
{
    static const struct option longs[] = {
        {"orders", required_argument, NULL, 'o'},
        {"brew-ms", required_argument, NULL, 'b'},
        {"workers", required_argument, NULL, 'w'},
        {"out-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'o':
            rc = number("--orders", optarg, 1, MAX_ORDERS, &opt.orders);
            break;
        case 'b':
            rc = number("--brew-ms", optarg, 1, 10000, &opt.brew_ms);
            break;
        case 'w':
            rc = number("--workers", optarg, 1, MAX_LANES, &opt.workers);
            break;
        case 'd':
            opt.out_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "cafe: %s: unknown option or missing value\n",
                    argv[optind - 1]);
            usage(stderr);
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "cafe: %s: unexpected argument\n", argv[optind]);
        return -1;
    }
    struct stat st;
    if (stat(opt.out_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "cafe: --out-dir %s: not a directory\n", opt.out_dir);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) < 0)
        return 2;
    pid_t machine = start_machine();
    if (machine < 0)
        return 1;
    static struct measured m[4];
    int rc = 0;
    printf("%d orders; each: take 2 ms of CPU, brew %d ms at the machine, "
           "serve 1 ms of CPU\n\n",
           opt.orders, opt.brew_ms);
    printf("way                                    wall ms   CPU ms  threads"
           "  peak MiB   busy/idle/waiting %% per worker (w) or thread (t)\n");
    for (int way = 1; way <= 4 && rc == 0; way++) {
        if (run_way(way, &m[way - 1]) < 0) {
            fprintf(stderr, "cafe: way %d failed\n", way);
            rc = 1;
            break;
        }
        print_row(&m[way - 1]);
    }
    kill(machine, SIGTERM);
    waitpid(machine, NULL, 0);
    unlink(opt.sock_path);
    if (rc)
        return rc;
    char *svg = out_path("cafe.svg"), *json = out_path("cafe.json");
    if (!svg || !json || write_svg(m, 4, svg) < 0 || write_trace(json) < 0) {
        fprintf(stderr, "cafe: writing to %s: %s\n", opt.out_dir,
                strerror(errno));
        return 1;
    }
    const struct measured *one = &m[0], *three = &m[2];
    printf("\nWay 3 served the same orders %.1fx faster than way 1 on the same "
           "one thread:\nits worker took the next order while the machine "
           "brewed. Way 2 needed %d threads\nto do about as well. Way 4 adds "
           "workers: parallelism on top of concurrency.\n",
           (double)one->r.wall / (double)(three->r.wall > 0 ? three->r.wall : 1),
           m[1].r.threads);
    printf("\nPicture: %s (open it in a web browser)\n"
           "Trace of ways 3 and 4: %s (open it in https://ui.perfetto.dev)\n",
           svg, json);
    free(svg);
    free(json);
    return 0;
}
