/* Traces: the file is JSON in the trace-event format (every event with
 * the fields the format requires for its phase), every run slice begins
 * and ends on one lane and nests, every wake arrow starts inside a slice
 * and ends at the next run of the task it woke, wakes say what woke them
 * (task, timer, descriptor, pool, foreign thread), the dropped count is
 * exact when the buffer is made small, the flight recorder keeps exactly
 * the last N events of a lane, a stall shows in the trace, and bad
 * settings are refused. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"

#define MS 1000000LL

static char path[64];

static void fresh_path(const char *what)
{
    snprintf(path, sizeof path, "/tmp/cio-trace-%s-%d.json", what,
             (int)getpid());
    unlink(path);
}

/* ---- what a checked trace holds ------------------------------------------ */

struct seen {
    size_t slices;         /* B/E pairs */
    size_t arrows;         /* s/f pairs */
    size_t by[8];          /* arrows by what woke: see by_index */
    size_t stalls;
    size_t unnamed;        /* run slices named "task" */
    uint64_t stall_task;
    double dropped;        /* otherData.dropped_events */
    double dropped_instants; /* sum of "dropped events" counts */
    bool named[8];         /* names[i] seen as a slice name */
};

static const char *const names[] = {"pinger", "ponger", "sleeper", "reader",
                                    "blocker", "listener", NULL};

static int by_index(const char *by)
{
    static const char *const bys[] = {"task", "timer", "fd", "pool",
                                      "thread", "scheduler", "cancel"};
    for (int i = 0; i < 7; i++)
        if (by && strcmp(by, bys[i]) == 0)
            return i;
    return 7;
}

static bool is_num(const struct json *e, const char *k)
{
    struct json *v = json_get(e, k);
    return v && v->type == JSON_NUM;
}

/* A slice as the checks need it. */
struct sl {
    int tid;
    double b, e, task, run;
    bool waited; /* it ended in a wait ("then": "wait") */
    bool entered; /* an arrow ends at its start */
};

struct flow {
    double id, ts, task, run;
    int tid;
    const char *name, *cat, *by;
    bool wake;
};

static int by_tid_b(const void *x, const void *y)
{
    const struct sl *a = x, *b = y;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

static int by_task_b(const void *x, const void *y)
{
    const struct sl *a = x, *b = y;
    if (a->task != b->task)
        return a->task < b->task ? -1 : 1;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    /* Runs may share a tick where the counter is coarse (aarch64). */
    return a->run < b->run ? -1 : a->run > b->run;
}

static int by_id(const void *x, const void *y)
{
    const struct flow *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The first slice in `v` (sorted by tid, then begin) on `tid` beginning
 * after `ts`. */
static size_t upper(const struct sl *v, size_t n, int tid, double ts)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid].tid < tid || (v[mid].tid == tid && v[mid].b <= ts))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Parses and checks the trace at `path`; fails the case on any breach. */
static struct seen check_trace(void)
{
    struct seen s = {0};
    struct json *root = json_parse_file(path);
    CHECK(root && root->type == JSON_OBJ);
    struct json *evs = json_get(root, "traceEvents");
    CHECK(evs && evs->type == JSON_ARR && evs->n > 0);
    /* Per lane: the stack of open slices (begin ts, task, run). */
    enum { LANES = 256, DEPTH = 8 };
    static struct {
        double ts[DEPTH];
        double task[DEPTH], run[DEPTH];
        int depth;
    } open[LANES];
    memset(open, 0, sizeof open);
    size_t nsl = 0, nst = 0, nfi = 0;
    struct sl *sls = calloc(evs->n, sizeof *sls);
    struct flow *st = calloc(evs->n, sizeof *st);
    struct flow *fi = calloc(evs->n, sizeof *fi);
    CHECK(sls && st && fi);
    for (size_t i = 0; i < evs->n; i++) {
        struct json *e = evs->items[i];
        CHECK(e->type == JSON_OBJ);
        const char *ph = json_str(e, "ph");
        CHECK(ph && strlen(ph) == 1);
        /* Required by the format for every event: ph, pid, tid; ts for
         * all but metadata; a name for all but E. */
        CHECK(is_num(e, "pid") && is_num(e, "tid"));
        int tid = (int)json_num(e, "tid", -1);
        CHECK(tid >= 0 && tid < LANES);
        if (*ph != 'M')
            CHECK(is_num(e, "ts") && json_num(e, "ts", -1) >= 0);
        if (*ph != 'E')
            CHECK(json_str(e, "name") != NULL);
        double ts = json_num(e, "ts", 0);
        struct json *args = json_get(e, "args");
        switch (*ph) {
        case 'B': {
            CHECK(open[tid].depth < DEPTH);
            int d = open[tid].depth++;
            open[tid].ts[d] = ts;
            open[tid].task[d] = json_num(args, "task", 0);
            open[tid].run[d] = json_num(args, "run", 0);
            for (int k = 0; names[k]; k++)
                if (strcmp(json_str(e, "name"), names[k]) == 0)
                    s.named[k] = true;
            if (strcmp(json_str(e, "name"), "task") == 0)
                s.unnamed++;
            break;
        }
        case 'E': {
            /* Matched: a slice is open on this lane, and ends after it
             * began. */
            CHECK(open[tid].depth > 0);
            int d = --open[tid].depth;
            CHECK(ts >= open[tid].ts[d]);
            const char *then = json_str(args, "then");
            sls[nsl++] = (struct sl){tid, open[tid].ts[d], ts,
                                     open[tid].task[d], open[tid].run[d],
                                     then && strcmp(then, "wait") == 0,
                                     false};
            s.slices++;
            break;
        }
        case 'X': {
            /* A complete event: a slice with its duration. */
            CHECK(is_num(e, "dur") && json_num(e, "dur", -1) >= 0);
            sls[nsl++] = (struct sl){tid, ts, ts + json_num(e, "dur", 0),
                                     json_num(args, "task", 0),
                                     json_num(args, "run", 0), false, false};
            s.slices++;
            break;
        }
        case 's':
        case 'f': {
            CHECK(is_num(e, "id") && json_str(e, "cat"));
            struct flow f = {
                .id = json_num(e, "id", -1),
                .ts = ts,
                .tid = tid,
                .name = json_str(e, "name"),
                .cat = json_str(e, "cat"),
                .by = json_str(args, "by"),
            };
            if (*ph == 's') {
                f.wake = strcmp(f.name, "wake") == 0;
                st[nst++] = f;
            } else {
                CHECK(json_str(e, "bp") &&
                      strcmp(json_str(e, "bp"), "e") == 0);
                fi[nfi++] = f;
            }
            break;
        }
        case 'i':
            if (strcmp(json_str(e, "name"), "stall") == 0) {
                s.stalls++;
                s.stall_task = (uint64_t)json_num(args, "task", 0);
            } else if (strcmp(json_str(e, "name"), "dropped events") == 0) {
                s.dropped_instants += json_num(args, "count", 0);
            }
            break;
        case 'M':
            break;
        default:
            CHECK(!"an event of an unexpected phase");
        }
    }
    for (int t = 0; t < LANES; t++)
        CHECK_EQ(open[t].depth, 0); /* every begin has its end */
    /* Arrows: each start has one finish with the same id, name and
     * category; it starts inside a slice of its lane, no later than it
     * ends, and ends where a run of a task begins, the first run of that
     * task after the arrow's start. */
    CHECK_EQ(nst, nfi);
    qsort(st, nst, sizeof *st, by_id);
    qsort(fi, nfi, sizeof *fi, by_id);
    qsort(sls, nsl, sizeof *sls, by_tid_b);
    for (size_t i = 0; i < nst; i++) {
        struct flow *a = &st[i], *f = &fi[i];
        CHECK(a->id == f->id && (i == 0 || st[i - 1].id != a->id));
        CHECK(strcmp(a->name, f->name) == 0 && strcmp(a->cat, f->cat) == 0);
        CHECK(a->ts <= f->ts);
        /* Inside: a slice of its lane begun by then and not yet ended
         * (slices on one lane do not overlap but may nest once). */
        size_t k = upper(sls, nsl, a->tid, a->ts);
        bool inside = false;
        for (size_t j = k; j-- > 0 && j + 3 >= k && sls[j].tid == a->tid;)
            inside |= sls[j].b <= a->ts && a->ts <= sls[j].e;
        CHECK(inside);
        /* Lands where a run of a task begins, entering it once. */
        k = upper(sls, nsl, f->tid, f->ts);
        bool lands = false;
        for (size_t j = k; j-- > 0 && sls[j].tid == f->tid && sls[j].b == f->ts;)
            if (sls[j].task != 0 && !lands) {
                lands = true;
                CHECK(!sls[j].entered);
                sls[j].entered = true;
                a->task = sls[j].task;
                a->run = sls[j].run;
            }
        CHECK(lands);
        s.arrows++;
        if (a->wake)
            s.by[by_index(a->by)]++;
    }
    /* Per task in time order: a run after a wait has the arrow of the
     * wake that ended the wait, and that arrow started after the run
     * before it began (no run of the task in between). */
    qsort(sls, nsl, sizeof *sls, by_task_b);
    for (size_t i = 1; i < nsl; i++) {
        if (sls[i].task != sls[i - 1].task || sls[i].task == 0)
            continue;
        if (sls[i - 1].waited && !sls[i].entered)
            cio_test_fail(__FILE__, __LINE__,
                          "task %.0f run %.0f (after a wait, at %.3f us) "
                          "has no wake arrow",
                          sls[i].task, sls[i].run, sls[i].b);
    }
    for (size_t i = 0; i < nst; i++) {
        /* The run it lands on, and the task's run before that: that one
         * began no later than the arrow started (ticks may be equal
         * where the counter is coarse). */
        struct sl key = {.task = st[i].task, .b = fi[i].ts, .run = st[i].run};
        size_t lo = 0, hi = nsl;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (by_task_b(&sls[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        CHECK(lo < nsl && by_task_b(&sls[lo], &key) == 0);
        if (lo > 0 && sls[lo - 1].task == st[i].task)
            CHECK(sls[lo - 1].b <= st[i].ts);
    }
    struct json *other = json_get(root, "otherData");
    CHECK(other);
    s.dropped = json_num(other, "dropped_events", -1);
    free(sls);
    free(st);
    free(fi);
    json_free(root);
    return s;
}

/* ---- a program that wakes tasks every way there is ----------------------- */

struct world {
    cio_chan *ping, *pong, *from_thread;
    int sv[2];
};

static void *pinger(void *arg)
{
    struct world *w = arg;
    for (int i = 0; i < 20; i++) {
        CHECK_OK(cio_chan_send(w->ping, &i, CIO_NEVER));
        int r;
        CHECK_OK(cio_chan_recv(w->pong, &r, CIO_NEVER));
        CHECK_EQ(r, i);
    }
    return NULL;
}

static void *ponger(void *arg)
{
    struct world *w = arg;
    for (int i = 0; i < 20; i++) {
        int v;
        CHECK_OK(cio_chan_recv(w->ping, &v, CIO_NEVER));
        CHECK_OK(cio_chan_send(w->pong, &v, CIO_NEVER));
    }
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    return NULL;
}

static void *reader(void *arg)
{
    struct world *w = arg;
    char c;
    CHECK_EQ(cio_read(w->sv[0], &c, 1, CIO_NEVER), 1);
    return NULL;
}

static void *slow_job(void *arg)
{
    (void)arg;
    usleep(10000);
    return NULL;
}

static void *blocker(void *arg)
{
    (void)arg;
    CHECK_OK(cio_blocking(slow_job, NULL, NULL, CIO_NEVER));
    return NULL;
}

static void *listener(void *arg)
{
    struct world *w = arg;
    int v;
    CHECK_OK(cio_chan_recv(w->from_thread, &v, CIO_NEVER));
    CHECK_EQ(v, 7);
    return NULL;
}

static void *foreign(void *arg)
{
    struct world *w = arg;
    int v = 7;
    CHECK_OK(cio_chan_send(w->from_thread, &v, CIO_NEVER));
    return NULL;
}

static int main_world(void *arg)
{
    (void)arg;
    struct world w;
    CHECK_OK(cio_chan_make(&w.ping, sizeof(int), 0));
    CHECK_OK(cio_chan_make(&w.pong, sizeof(int), 0));
    CHECK_OK(cio_chan_make(&w.from_thread, sizeof(int), 0));
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, w.sv), 0);
    cio_task t[6];
    t[0] = cio_test_spawn_named("pinger", pinger, &w);
    t[1] = cio_test_spawn_named("ponger", ponger, &w);
    t[2] = cio_test_spawn_named("sleeper", sleeper, &w);
    t[3] = cio_test_spawn_named("reader", reader, &w);
    t[4] = cio_test_spawn_named("blocker", blocker, &w);
    t[5] = cio_test_spawn_named("listener", listener, &w);
    /* The reader and the listener wait first (under emulation a task
     * may start late): then the byte and the thread's send wake them. */
    cio_test_until_waiting(t[3], -1);
    cio_test_until_waiting(t[5], -1);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign, &w), 0);
    CHECK_EQ(write(w.sv[1], "x", 1), 1);
    for (int i = 0; i < 6; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    pthread_join(th, NULL);
    CHECK_OK(cio_chan_free(&w.ping));
    CHECK_OK(cio_chan_free(&w.pong));
    CHECK_OK(cio_chan_free(&w.from_thread));
    CHECK_OK(cio_close(w.sv[0]));
    close(w.sv[1]);
    return 0;
}

CIO_TEST(trace_is_json_with_matched_slices_and_arrows)
{
    (void)state;
    fresh_path("world");
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.trace = path;
    cio_test_run_cfg(main_world, NULL, &cfg, 0);
    struct seen s = check_trace();
    CHECK(s.slices >= 40 + 6);
    CHECK(s.arrows >= 40);
    for (int k = 0; names[k]; k++)
        CHECK(s.named[k]);
    /* Each way a task can be woken, as the arrows say. */
    CHECK(s.by[by_index("task")] >= 20);
    CHECK(s.by[by_index("timer")] >= 1);
    CHECK(s.by[by_index("fd")] >= 1);
    CHECK(s.by[by_index("pool")] >= 1);
    CHECK(s.by[by_index("thread")] >= 1);
    CHECK(s.dropped == 0);
    unlink(path);
}

/* ---- many wakes across workers, many named tasks moving ----------------- */

#define ROUNDS 30000
#define MOVERS 300

static void *mover(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS / 2)));
    return NULL;
}

static void *bouncer(void *arg)
{
    cio_chan **ch = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int v;
        CHECK_OK(cio_chan_recv(ch[0], &v, CIO_NEVER));
        CHECK_OK(cio_chan_send(ch[1], &v, CIO_NEVER));
    }
    return NULL;
}

static int main_busy(void *arg)
{
    (void)arg;
    cio_chan *ch[2];
    CHECK_OK(cio_chan_make(&ch[0], sizeof(int), 0));
    CHECK_OK(cio_chan_make(&ch[1], sizeof(int), 0));
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "bouncer";
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task b;
    CHECK_OK(cio_spawn(&b, bouncer, ch, &o));
    /* Named tasks that any worker may run, ending all over the place
     * (the name must stay with each run, on every lane). A long name is
     * cut where a character begins; a name that is not UTF-8 is made
     * valid in the file. */
    static const char *const odd[] = {
        "mover",
        "a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
        "bad \xff\xfe name",
        "quote \" and \\ and \n",
    };
    for (int i = 0; i < MOVERS; i++) {
        cio_spawn_opts m;
        cio_spawn_opts_init(&m);
        m.name = odd[i % 4];
        m.flags = CIO_SPAWN_MIGRATE;
        CHECK_OK(cio_spawn(NULL, mover, NULL, &m));
    }
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_OK(cio_chan_send(ch[0], &i, CIO_NEVER));
        int v;
        CHECK_OK(cio_chan_recv(ch[1], &v, CIO_NEVER));
    }
    CHECK_OK(cio_join(b, NULL, CIO_NEVER));
    CHECK_OK(cio_sleep_until(cio_deadline_after(20 * MS)));
    CHECK_OK(cio_chan_free(&ch[0]));
    CHECK_OK(cio_chan_free(&ch[1]));
    return 0;
}

CIO_TEST(arrows_and_names_hold_under_cross_worker_wakes)
{
    (void)state;
    fresh_path("busy");
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.trace = path;
    cfg.trace_events = 1 << 20; /* nothing dropped: every arrow is due */
    cio_test_run_cfg(main_busy, NULL, &cfg, 0);
    struct seen s = check_trace();
    CHECK(s.dropped == 0);
    CHECK(s.arrows >= 2 * ROUNDS);
    CHECK_EQ(s.unnamed, 0);
    unlink(path);
}

/* ---- the dropped count --------------------------------------------------- */

#define YIELDS 20000

static int main_yields(void *arg)
{
    (void)arg;
    for (int i = 0; i < YIELDS; i++)
        CHECK_OK(cio_yield());
    return 0;
}

CIO_TEST(dropped_count_is_exact_with_a_small_buffer)
{
    (void)state;
    fresh_path("drops");
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 1;
    cfg.trace = path;
    cfg.trace_events = 16;
    cio_test_run_cfg(main_yields, NULL, &cfg, 0);
    struct seen s = check_trace();
    struct json *root = json_parse_file(path);
    struct json *lanes = json_get(json_get(root, "otherData"), "lanes");
    CHECK(lanes && lanes->n >= 1);
    struct json *w0 = lanes->items[0];
    double recorded = json_num(w0, "recorded", -1);
    double dropped = json_num(w0, "dropped", -1);
    /* Worker 0's lane saw: main's spawn and name, its first run, a stop
     * and a run per yield, its exit. */
    CHECK_EQ((long long)(recorded + dropped), 2 + 1 + 2 * YIELDS + 1);
    CHECK(dropped > 0);
    CHECK(s.dropped == dropped);
    CHECK(s.dropped_instants == dropped); /* and where they were lost */
    /* What was kept is in the file: every kept run is a slice. */
    CHECK(s.slices >= 1);
    json_free(root);
    unlink(path);
}

/* ---- the flight recorder ------------------------------------------------- */

#define KEEP 64

static int main_flight(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        CHECK_OK(cio_yield());
    /* Nothing is written before it is asked for. */
    CHECK(access(path, F_OK) != 0);
    int n = cio_trace_flush();
    CHECK(n > 0);
    CHECK(access(path, F_OK) == 0);
    return 0;
}

CIO_TEST(flight_recorder_keeps_exactly_the_last_n)
{
    (void)state;
    fresh_path("flight");
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 1;
    cfg.trace = path;
    cfg.trace_events = KEEP;
    cfg.trace_flight = 1;
    cio_test_run_cfg(main_flight, NULL, &cfg, 0);
    struct seen s = check_trace();
    (void)s;
    struct json *root = json_parse_file(path);
    struct json *other = json_get(root, "otherData");
    CHECK(strcmp(json_str(other, "mode"), "flight") == 0);
    struct json *w0 = json_get(other, "lanes")->items[0];
    /* What the file kept is what worker 0's lane held when main asked
     * (nothing was written at the end): of the events recorded by then,
     * exactly the last KEEP. */
    double kept = json_num(w0, "kept", -1), first = json_num(w0, "first", -1);
    double recorded = json_num(w0, "recorded", -1);
    CHECK_EQ((long long)kept, KEEP);
    CHECK(recorded > 2000);
    CHECK_EQ((long long)first, (long long)(recorded - KEEP));
    /* The slices on worker 0 are the runs among them: stops and runs
     * alternate, so KEEP / 2 runs, numbered in order, the oldest being
     * the first event kept or the one after it (the pool thread may take
     * the snapshot before main's last stop is recorded). */
    struct json *evs = json_get(root, "traceEvents");
    double min_seq = 1e18, max_seq = -1, min_run = 1e18, max_run = -1;
    int runs = 0;
    for (size_t i = 0; i < evs->n; i++) {
        struct json *e = evs->items[i];
        if (strcmp(json_str(e, "ph"), "B") || json_num(e, "tid", -1) != 0 ||
            strcmp(json_str(e, "cat"), "task"))
            continue;
        struct json *a = json_get(e, "args");
        double seq = json_num(a, "seq", -1), run = json_num(a, "run", -1);
        min_seq = seq < min_seq ? seq : min_seq;
        max_seq = seq > max_seq ? seq : max_seq;
        min_run = run < min_run ? run : min_run;
        max_run = run > max_run ? run : max_run;
        runs++;
    }
    CHECK_EQ(runs, KEEP / 2);
    CHECK(min_seq == first || min_seq == first + 1);
    CHECK(max_seq == min_seq + KEEP - 2);
    CHECK_EQ((long long)(max_run - min_run + 1), KEEP / 2);
    json_free(root);
    unlink(path);
}

/* ---- a stall shows in the trace ----------------------------------------- */

static void *hog(void *arg)
{
    (void)arg;
    int64_t end = cio_now() + 300 * MS;
    while (cio_now() < end)
        ; /* never waits */
    return NULL;
}

static int main_stall(void *arg)
{
    uint64_t *id = arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "hog";
    o.flags = CIO_SPAWN_PIN;
    o.worker = 1;
    cio_task t;
    CHECK_OK(cio_spawn(&t, hog, NULL, &o));
    *id = t.id;
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(stall_is_an_instant_in_the_trace)
{
    (void)state;
    fresh_path("stall");
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.trace = path;
    cfg.stall_ns = 100 * MS;
    uint64_t id = 0;
    cio_test_run_cfg(main_stall, &id, &cfg, 0);
    struct seen s = check_trace();
    CHECK_EQ(s.stalls, 1);
    CHECK_EQ(s.stall_task, id);
    unlink(path);
}

CIO_TEST(flight_recorder_is_written_after_a_stall)
{
    (void)state;
    fresh_path("stallflight");
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 2;
    cfg.trace = path;
    cfg.trace_flight = 1;
    cfg.stall_ns = 100 * MS;
    uint64_t id = 0;
    cio_test_run_cfg(main_stall, &id, &cfg, 0);
    /* Nobody flushed: the stall report wrote the file, with the stall. */
    struct seen s = check_trace();
    CHECK_EQ(s.stalls, 1);
    CHECK_EQ(s.stall_task, id);
    unlink(path);
}

/* ---- bad settings and calls without a trace ----------------------------- */

static int main_nothing(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_trace_flush(), CIO_ENOENT);
    return 0;
}

static int main_unreachable(void *arg)
{
    (void)arg;
    return 0;
}

CIO_TEST(bad_settings_are_refused_and_a_bad_file_loses_nothing)
{
    (void)state;
    ASSERT_ERR(cio_trace_flush(), CIO_ESRCH);
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.trace = "";
    ASSERT_ERR(cio_run(main_unreachable, NULL, &cfg), CIO_EINVAL);
    cio_config_init(&cfg);
    cfg.trace = "/tmp/x.json";
    cfg.trace_events = (size_t)1 << 30;
    ASSERT_ERR(cio_run(main_unreachable, NULL, &cfg), CIO_EINVAL);
    cio_config_init(&cfg);
    cfg.trace_flight = 2;
    ASSERT_ERR(cio_run(main_unreachable, NULL, &cfg), CIO_EINVAL);
    cio_config_init(&cfg);
    cfg.sigquit = -2;
    ASSERT_ERR(cio_run(main_unreachable, NULL, &cfg), CIO_EINVAL);
    setenv("CIO_TRACE_EVENTS", "lots", 1);
    setenv("CIO_TRACE", "/tmp/x.json", 1);
    ASSERT_ERR(cio_run(main_unreachable, NULL, NULL), CIO_EINVAL);
    unsetenv("CIO_TRACE_EVENTS");
    setenv("CIO_TRACE_FLIGHT", "yes", 1);
    ASSERT_ERR(cio_run(main_unreachable, NULL, NULL), CIO_EINVAL);
    unsetenv("CIO_TRACE_FLIGHT");
    unsetenv("CIO_TRACE");
    /* No trace: flushing says so. */
    cio_test_run(main_nothing, NULL, 1, 0);
    /* A file that cannot be made: the program runs all the same. */
    cio_config_init(&cfg);
    cfg.trace = "/nonexistent-dir/trace.json";
    cio_test_run_cfg(main_world, NULL, &cfg, 0);
}

CIO_TEST_MAIN(
    cmocka_unit_test(trace_is_json_with_matched_slices_and_arrows),
    cmocka_unit_test(arrows_and_names_hold_under_cross_worker_wakes),
    cmocka_unit_test(dropped_count_is_exact_with_a_small_buffer),
    cmocka_unit_test(flight_recorder_keeps_exactly_the_last_n),
    cmocka_unit_test(stall_is_an_instant_in_the_trace),
    cmocka_unit_test(flight_recorder_is_written_after_a_stall),
    cmocka_unit_test(bad_settings_are_refused_and_a_bad_file_loses_nothing))
