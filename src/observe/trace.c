/* Traces: what core records in its lanes (core/trace.h), written as
 * Chrome trace-event JSON (the format chrome://tracing and
 * ui.perfetto.dev open).
 *
 * Two modes. Streaming (the default): a thread of observe/'s own drains
 * every lane ten times a second into the file, and the file is closed
 * when cio_run returns. Flight recorder: the lanes are rings that keep
 * the last events; nothing is written until cio_trace_flush(), a stall
 * report or SIGQUIT asks, and then the whole file is written anew.
 *
 * The same batch writer serves both. A batch is every lane's events up
 * to one moment (in streaming, events stamped before the drain began;
 * the lanes are in time order, so a run that is in the batch finds the
 * wake that caused it in the batch or an earlier one). Pass one learns
 * names and wakes; pass two writes slices: a run of a task is a B/E pair
 * on its worker's lane, a pool job one on its thread's lane, and each
 * wake or spawn becomes a flow arrow from where it happened to the run
 * it caused (runs are numbered per task, and a wake says which run it
 * is for). A wake that happened outside any slice (the reactor, a timer,
 * a thread of the program's own) gets a one-nanosecond slice of its own,
 * since a flow must start inside one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime.h"
#include "core/trace.h"
#include "observe/observe.h"
#include "os/os.h"

#define DEFAULT_EVENTS 65536
#define MAX_EVENTS (1u << 24)
#define DRAIN_NS (100 * 1000000LL)

/* ---- a small hash table: (a, b) -> value ------------------------------- */

struct pend {
    int lane;
    int by;          /* CIO__BY_*, or 0 for a spawn */
    int kind;        /* what the woken task waited on */
    uint64_t tick;
    uint64_t arg;    /* the waking (spawning) task, if a task */
};

struct entry {
    uint64_t a, b;
    bool used;
    union {
        struct pend p;
        char name[CIO__NAME_PER_EV * CIO__NAME_EVS + 1];
    } v;
};

struct table {
    struct entry *e;
    size_t cap, n; /* cap: a power of two */
};

static size_t hash(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ h >> 32);
}

static struct entry *find(struct table *t, uint64_t a, uint64_t b)
{
    if (!t->n)
        return NULL;
    for (size_t i = hash(a, b) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        struct entry *e = &t->e[i];
        if (!e->used)
            return NULL;
        if (e->a == a && e->b == b)
            return e;
    }
}

/* The entry for (a, b), made if new; NULL without memory. */
static struct entry *put(struct table *t, uint64_t a, uint64_t b)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct entry *ne = calloc(cap, sizeof *ne);
        if (!ne)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->e[i].used)
                continue;
            size_t j = hash(t->e[i].a, t->e[i].b) & (cap - 1);
            while (ne[j].used)
                j = (j + 1) & (cap - 1);
            ne[j] = t->e[i];
        }
        free(t->e);
        t->e = ne;
        t->cap = cap;
    }
    size_t i = hash(a, b) & (t->cap - 1);
    while (t->e[i].used) {
        if (t->e[i].a == a && t->e[i].b == b)
            return &t->e[i];
        i = (i + 1) & (t->cap - 1);
    }
    t->n++;
    t->e[i] = (struct entry){.a = a, .b = b, .used = true};
    return &t->e[i];
}

/* Removes `e` (linear probing: the entries after it move back into the
 * hole, so no tombstones build up). */
static void del(struct table *t, struct entry *e)
{
    size_t mask = t->cap - 1, i = (size_t)(e - t->e), j = i;
    t->e[i].used = false;
    t->n--;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->e[j].used)
            return;
        size_t k = hash(t->e[j].a, t->e[j].b) & mask;
        /* Leave it if its home lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        t->e[i] = t->e[j];
        t->e[j].used = false;
        i = j;
    }
}

static void table_free(struct table *t)
{
    free(t->e);
    *t = (struct table){0};
}

/* ---- output ------------------------------------------------------------ */

struct out {
    char *p;
    size_t n, cap;
    bool failed;
};

static void need(struct out *o, size_t k)
{
    if (o->n + k <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->n + k)
        cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) {
        o->failed = true; /* what does not fit is left out; reported */
        return;
    }
    o->p = p;
    o->cap = cap;
}

static void s_(struct out *o, const char *s)
{
    size_t k = strlen(s);
    need(o, k);
    if (o->n + k <= o->cap) {
        memcpy(o->p + o->n, s, k);
        o->n += k;
    }
}

static void u_(struct out *o, uint64_t v)
{
    char b[24];
    int i = sizeof b;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    need(o, sizeof b - (size_t)i);
    if (o->n + sizeof b - (size_t)i <= o->cap) {
        memcpy(o->p + o->n, b + i, sizeof b - (size_t)i);
        o->n += sizeof b - (size_t)i;
    }
}

/* A JSON string's contents: quotes, backslashes and control bytes
 * escaped; other bytes as they are (names are the program's). */
static void esc(struct out *o, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char b[3] = {'\\', (char)c, 0};
            s_(o, b);
        } else if (c < 0x20) {
            char b[8];
            snprintf(b, sizeof b, "\\u%04x", c);
            s_(o, b);
        } else {
            char b[2] = {(char)c, 0};
            s_(o, b);
        }
    }
}

/* ---- the writer -------------------------------------------------------- */

struct lane_state {
    uint64_t open;      /* task whose run slice is open (0: none) */
    uint64_t open_job;  /* 1 + the task of an open job slice (0: none) */
    uint64_t last_tick; /* of its last event written */
    uint64_t dropped;   /* drops already reported */
};

struct writer {
    struct cio__runtime *rt;
    struct lane_state *ls;
    int nls;
    struct table pending; /* (task, run) -> the wake or spawn for it */
    struct table names;   /* (task, 0) -> its name */
    uint64_t flows;
    uint64_t events;      /* JSON events written */
    uint64_t base;        /* tick of time 0 */
    double ns_per_tick;
    int pid;
    struct out o;
};

static bool writer_init(struct writer *wr, struct cio__runtime *rt)
{
    struct cio__trace *tr = rt->trace;
    *wr = (struct writer){.rt = rt};
    wr->nls = tr->nworkers + 1 + tr->max_pool;
    wr->ls = calloc((size_t)wr->nls, sizeof *wr->ls);
    wr->base = tr->start;
    wr->pid = (int)getpid();
    return wr->ls != NULL;
}

static void writer_fini(struct writer *wr)
{
    free(wr->ls);
    table_free(&wr->pending);
    table_free(&wr->names);
    free(wr->o.p);
}

static void rate(struct writer *wr)
{
    /* A long span, so the conversion's rounding stays below 1 ns. */
    const uint64_t span = (uint64_t)1 << 40;
    wr->ns_per_tick = (double)cio__os_ticks_ns(span) / (double)span;
}

static void ts(struct writer *wr, uint64_t tick, uint64_t plus_ns)
{
    uint64_t ns = tick > wr->base
                      ? (uint64_t)((double)(tick - wr->base) * wr->ns_per_tick)
                      : 0;
    ns += plus_ns;
    s_(&wr->o, ",\"ts\":");
    u_(&wr->o, ns / 1000);
    char b[5] = {'.', (char)('0' + ns / 100 % 10), (char)('0' + ns / 10 % 10),
                 (char)('0' + ns % 10), 0};
    s_(&wr->o, b);
}

/* Starts an event: {"ph":"<ph>","pid":P,"tid":<lane>,"ts":... */
static void ev(struct writer *wr, const char *ph, int lane, uint64_t tick,
               uint64_t plus_ns)
{
    s_(&wr->o, "{\"ph\":\"");
    s_(&wr->o, ph);
    s_(&wr->o, "\",\"pid\":");
    u_(&wr->o, (uint64_t)wr->pid);
    s_(&wr->o, ",\"tid\":");
    u_(&wr->o, (uint64_t)lane);
    ts(wr, tick, plus_ns);
    wr->events++;
}

static void end_ev(struct writer *wr)
{
    s_(&wr->o, "},\n");
}

static const char *const wait_names[] = {
    "nothing", "timer", "fd",     "join",      "pool",  "chan",  "select",
    "mutex",   "cond",  "rwlock", "sem",       "waitgroup", "event", "group",
};

static const char *wait_name(int k)
{
    return k >= 0 && k < (int)(sizeof wait_names / sizeof *wait_names)
               ? wait_names[k]
               : "other";
}

static const char *by_name(int by)
{
    switch (by) {
    case CIO__BY_TASK:
        return "task";
    case CIO__BY_FD:
        return "fd";
    case CIO__BY_TIMER:
        return "timer";
    case CIO__BY_CANCEL:
        return "cancel";
    case CIO__BY_POOL:
        return "pool";
    case CIO__BY_THREAD:
        return "thread";
    case CIO__BY_SCHED:
        return "scheduler";
    default:
        return "spawn";
    }
}

static void task_name(struct writer *wr, uint64_t id)
{
    struct entry *e = find(&wr->names, id, 0);
    if (e) {
        esc(&wr->o, e->v.name);
        return;
    }
    /* A task named before the events kept (flight recorder): its name,
     * if it still lives (cio_spawn_opts.name outlives the task). */
    struct cio__task_figures f;
    if (cio__task_figures_get(wr->rt, (uint32_t)id, (uint32_t)(id >> 32),
                              &f) == 0 &&
        f.name)
        esc(&wr->o, f.name);
    else
        s_(&wr->o, "task");
}

static void close_slice(struct writer *wr, int lane, uint64_t tick,
                        const char *why)
{
    struct lane_state *ls = &wr->ls[lane];
    if (ls->open) {
        ev(wr, "E", lane, tick, 0);
        s_(&wr->o, ",\"args\":{\"then\":\"");
        s_(&wr->o, why);
        s_(&wr->o, "\"}");
        end_ev(wr);
        ls->open = 0;
    }
    if (ls->open_job) {
        ev(wr, "E", lane, tick, 0);
        end_ev(wr);
        ls->open_job = 0;
    }
}

/* The arrow into run `run` of `task`, which begins at `tick` on `lane`,
 * from the wake or spawn that caused it, if that was seen. */
static void arrow(struct writer *wr, uint64_t task, uint64_t run, int lane,
                  uint64_t tick)
{
    struct entry *e = find(&wr->pending, task, run);
    if (!e)
        return;
    struct pend p = e->v.p;
    del(&wr->pending, e);
    uint64_t id = ++wr->flows;
    const char *name = p.by ? "wake" : "spawn";
    /* Inside a slice where the waker was a task (its run) or a pool
     * thread (its job); elsewhere a slice of its own, named for what
     * woke the task. */
    bool own = !(p.by == CIO__BY_TASK || p.by == CIO__BY_POOL ||
                 (p.by == 0 && p.arg));
    if (own) {
        ev(wr, "B", p.lane, p.tick, 0);
        s_(&wr->o, ",\"name\":\"");
        s_(&wr->o, p.by ? by_name(p.by) : "start");
        s_(&wr->o, "\",\"cat\":\"wake\"");
        end_ev(wr);
    }
    ev(wr, "s", p.lane, p.tick, 0);
    s_(&wr->o, ",\"name\":\"");
    s_(&wr->o, name);
    s_(&wr->o, "\",\"cat\":\"flow\",\"id\":");
    u_(&wr->o, id);
    s_(&wr->o, ",\"args\":{\"task\":");
    u_(&wr->o, task);
    s_(&wr->o, ",\"run\":");
    u_(&wr->o, run);
    if (p.by) {
        s_(&wr->o, ",\"by\":\"");
        s_(&wr->o, by_name(p.by));
        s_(&wr->o, "\",\"on\":\"");
        s_(&wr->o, wait_name(p.kind));
        s_(&wr->o, "\"");
    }
    if (p.arg) {
        s_(&wr->o, ",\"from\":");
        u_(&wr->o, p.arg);
    }
    s_(&wr->o, "}");
    end_ev(wr);
    if (own) {
        ev(wr, "E", p.lane, p.tick, 1);
        end_ev(wr);
    }
    ev(wr, "f", lane, tick, 0);
    s_(&wr->o, ",\"name\":\"");
    s_(&wr->o, name);
    s_(&wr->o, "\",\"cat\":\"flow\",\"bp\":\"e\",\"id\":");
    u_(&wr->o, id);
    end_ev(wr);
}

struct raw {
    uint64_t tick, task, arg, meta;
};

static struct raw raw_at(const struct cio__trace_ev *e)
{
    return (struct raw){
        atomic_load_explicit(&e->tick, memory_order_relaxed),
        atomic_load_explicit(&e->task, memory_order_relaxed),
        atomic_load_explicit(&e->arg, memory_order_relaxed),
        atomic_load_explicit(&e->meta, memory_order_relaxed),
    };
}

/* Pass one, for one event: names, wakes and spawns. */
static void learn(struct writer *wr, int lane, struct raw r)
{
    int kind = (int)(r.meta & 0x1f);
    if (kind == CIO__EV_NAME) {
        int part = (int)(r.meta >> 5 & 7);
        struct entry *e = part == 0 ? put(&wr->names, r.task, 0)
                                    : find(&wr->names, r.task, 0);
        if (!e || part >= CIO__NAME_EVS)
            return;
        char *d = e->v.name + part * CIO__NAME_PER_EV;
        uint64_t w2 = r.meta >> 8;
        memcpy(d, &r.tick, 8);
        memcpy(d + 8, &r.arg, 8);
        memcpy(d + 16, &w2, 7);
        d[CIO__NAME_PER_EV] = 0;
        return;
    }
    if (kind != CIO__EV_WAKE && kind != CIO__EV_SPAWN)
        return;
    uint64_t run = kind == CIO__EV_SPAWN ? 1 : (r.meta >> 16) + 1;
    struct entry *e = put(&wr->pending, r.task, run);
    if (!e)
        return;
    int sub = (int)(r.meta >> 8 & 0xff);
    e->v.p = (struct pend){
        .lane = lane,
        .by = kind == CIO__EV_SPAWN ? 0 : sub & 0xf,
        .kind = kind == CIO__EV_SPAWN ? 0 : sub >> 4,
        .tick = r.tick,
        .arg = r.arg,
    };
}

/* Pass two, for one event: the slices. */
static void write_ev(struct writer *wr, int lane, struct raw r, uint64_t seq)
{
    struct lane_state *ls = &wr->ls[lane];
    int kind = (int)(r.meta & 0x1f);
    int sub = (int)(r.meta >> 8 & 0xff);
    if (kind != CIO__EV_NAME)
        ls->last_tick = r.tick;
    switch (kind) {
    case CIO__EV_RUN: {
        close_slice(wr, lane, r.tick, "unknown"); /* its end was lost */
        uint64_t run = r.meta >> 16;
        ev(wr, "B", lane, r.tick, 0);
        s_(&wr->o, ",\"name\":\"");
        task_name(wr, r.task);
        s_(&wr->o, "\",\"cat\":\"task\",\"args\":{\"task\":");
        u_(&wr->o, r.task);
        s_(&wr->o, ",\"run\":");
        u_(&wr->o, run);
        s_(&wr->o, ",\"seq\":");
        u_(&wr->o, seq);
        s_(&wr->o, "}");
        end_ev(wr);
        ls->open = r.task;
        arrow(wr, r.task, run, lane, r.tick);
        break;
    }
    case CIO__EV_STOP: {
        if (ls->open != r.task)
            break; /* its begin was lost (or is before the events kept) */
        int why = sub & 0xf, wk = sub >> 4;
        ev(wr, "E", lane, r.tick, 0);
        s_(&wr->o, ",\"args\":{\"then\":\"");
        s_(&wr->o, why == CIO__STOP_YIELD  ? "yield"
                   : why == CIO__STOP_PARK ? "wait"
                                           : "exit");
        s_(&wr->o, "\"");
        if (why == CIO__STOP_PARK) {
            s_(&wr->o, ",\"on\":\"");
            s_(&wr->o, wait_name(wk));
            s_(&wr->o, "\"");
            if (wk == CIO_WAIT_FD || wk == CIO_WAIT_JOIN) {
                s_(&wr->o, wk == CIO_WAIT_FD ? ",\"fd\":" : ",\"task\":");
                u_(&wr->o, r.arg);
            } else if (r.arg && wk != CIO_WAIT_TIMER) {
                char b[32];
                snprintf(b, sizeof b, ",\"obj\":\"0x%llx\"",
                         (unsigned long long)r.arg);
                s_(&wr->o, b);
            }
        }
        s_(&wr->o, "}");
        end_ev(wr);
        ls->open = 0;
        if (why == CIO__STOP_EXIT) {
            struct entry *e = find(&wr->names, r.task, 0);
            if (e)
                del(&wr->names, e);
        }
        break;
    }
    case CIO__EV_JOB:
        close_slice(wr, lane, r.tick, "unknown");
        ev(wr, "B", lane, r.tick, 0);
        s_(&wr->o, ",\"name\":\"job\",\"cat\":\"pool\",\"args\":{\"for\":");
        u_(&wr->o, r.task);
        s_(&wr->o, ",\"seq\":");
        u_(&wr->o, seq);
        s_(&wr->o, "}");
        end_ev(wr);
        ls->open_job = r.task + 1;
        break;
    case CIO__EV_JOB_END:
        if (ls->open_job != r.task + 1)
            break;
        ev(wr, "E", lane, r.tick, 0);
        end_ev(wr);
        ls->open_job = 0;
        break;
    case CIO__EV_STALL:
        ev(wr, "i", lane, r.tick, 0);
        s_(&wr->o, ",\"s\":\"t\",\"name\":\"stall\",\"args\":{\"task\":");
        u_(&wr->o, r.task);
        s_(&wr->o, ",\"ms\":");
        u_(&wr->o, r.arg / 1000000);
        s_(&wr->o, "}");
        end_ev(wr);
        break;
    default:
        break;
    }
}

static int nlanes(struct cio__runtime *rt)
{
    /* Acquire: pairs with cio__trace_lane_take()'s release. */
    return atomic_load_explicit(&rt->trace->nlanes, memory_order_acquire);
}

/* A drain (streaming): every lane's events before `cutoff` into the
 * buffer, and the lanes given back. */
static void drain(struct writer *wr, uint64_t cutoff)
{
    struct cio__trace *tr = wr->rt->trace;
    int n = nlanes(wr->rt);
    uint64_t from[n], count[n];
    rate(wr);
    for (int i = 0; i < n; i++)
        count[i] = cio__lane_snapshot(tr->lanes[i], NULL, cutoff, &from[i]);
    for (int i = 0; i < n; i++) {
        struct cio__lane *l = tr->lanes[i];
        for (uint64_t k = 0; k < count[i]; k++)
            learn(wr, i, raw_at(&l->ev[(from[i] + k) & l->mask]));
    }
    for (int i = 0; i < n; i++) {
        struct cio__lane *l = tr->lanes[i];
        for (uint64_t k = 0; k < count[i]; k++)
            write_ev(wr, i, raw_at(&l->ev[(from[i] + k) & l->mask]),
                     from[i] + k);
        cio__lane_consume(l, from[i] + count[i]);
        /* Relaxed: a count the writer keeps; a later drain reports the
         * rest. */
        uint64_t d = atomic_load_explicit(&l->dropped, memory_order_relaxed);
        if (d > wr->ls[i].dropped) {
            ev(wr, "i", i, wr->ls[i].last_tick, 0);
            s_(&wr->o, ",\"s\":\"t\",\"name\":\"dropped events\","
                       "\"args\":{\"count\":");
            u_(&wr->o, d - wr->ls[i].dropped);
            s_(&wr->o, "}");
            end_ev(wr);
            wr->ls[i].dropped = d;
        }
    }
}

static const char head[] = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";

/* Closes what is open, names the lanes and ends the JSON: the last
 * event carries no comma, then what the trace says of itself. */
static void finish(struct writer *wr, bool flight, const uint64_t *kept,
                   const uint64_t *first)
{
    struct cio__trace *tr = wr->rt->trace;
    int n = nlanes(wr->rt);
    uint64_t dropped = 0;
    for (int i = 0; i < n; i++) {
        close_slice(wr, i, wr->ls[i].last_tick,
                    flight ? "running" : "unknown");
        dropped += atomic_load_explicit(&tr->lanes[i]->dropped,
                                        memory_order_relaxed);
    }
    for (int i = 0; i < n; i++) {
        struct cio__lane *l = tr->lanes[i];
        char name[48];
        if (l->kind == CIO__LANE_WORKER)
            snprintf(name, sizeof name, "worker %d", l->index);
        else if (l->kind == CIO__LANE_POOL)
            snprintf(name, sizeof name, "pool thread %d", l->index);
        else
            snprintf(name, sizeof name, "other threads");
        s_(&wr->o, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":");
        u_(&wr->o, (uint64_t)wr->pid);
        s_(&wr->o, ",\"tid\":");
        u_(&wr->o, (uint64_t)i);
        s_(&wr->o, ",\"args\":{\"name\":\"");
        s_(&wr->o, name);
        s_(&wr->o, "\"}},\n{\"ph\":\"M\",\"name\":\"thread_sort_index\","
                   "\"pid\":");
        u_(&wr->o, (uint64_t)wr->pid);
        s_(&wr->o, ",\"tid\":");
        u_(&wr->o, (uint64_t)i);
        s_(&wr->o, ",\"args\":{\"sort_index\":");
        u_(&wr->o, (uint64_t)i);
        s_(&wr->o, "}},\n");
    }
    s_(&wr->o, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":");
    u_(&wr->o, (uint64_t)wr->pid);
    s_(&wr->o, ",\"tid\":0,\"args\":{\"name\":\"cio\"}}\n],\n"
               "\"otherData\":{\"mode\":\"");
    s_(&wr->o, flight ? "flight" : "stream");
    s_(&wr->o, "\",\"events_per_lane\":");
    u_(&wr->o, tr->slots);
    s_(&wr->o, ",\"dropped_events\":");
    u_(&wr->o, dropped);
    s_(&wr->o, ",\"lanes\":[");
    for (int i = 0; i < n; i++) {
        struct cio__lane *l = tr->lanes[i];
        s_(&wr->o, i ? ",{\"tid\":" : "{\"tid\":");
        u_(&wr->o, (uint64_t)i);
        s_(&wr->o, ",\"recorded\":");
        u_(&wr->o, atomic_load_explicit(&l->done, memory_order_relaxed));
        s_(&wr->o, ",\"dropped\":");
        u_(&wr->o, atomic_load_explicit(&l->dropped, memory_order_relaxed));
        if (kept) {
            s_(&wr->o, ",\"kept\":");
            u_(&wr->o, kept[i]);
            s_(&wr->o, ",\"first\":");
            u_(&wr->o, first[i]);
        }
        s_(&wr->o, "}");
    }
    s_(&wr->o, "]}}\n");
}

/* ---- the runtime's trace ------------------------------------------------ */

/* One runtime runs at a time (cio_run refuses a second), so one trace. */
static struct {
    pthread_mutex_t lock;       /* the writer: drains, flushes, the end */
    struct cio__runtime *_Atomic rt; /* while it runs (cio_trace_flush) */
    struct cio__observe_settings set;
    FILE *file;                 /* streaming */
    struct writer wr;           /* streaming */
    bool wr_ok;
    int err;                    /* first write error (negative errno) */
    int pipe[2];                /* requests to the thread */
    pthread_t thread;
    bool running;
    bool quit_on;
    struct sigaction old_quit;
} tw = {.lock = PTHREAD_MUTEX_INITIALIZER, .pipe = {-1, -1}};

static int write_out(FILE *f, struct out *o)
{
    if (o->failed)
        return CIO_ENOMEM;
    if (o->n && fwrite(o->p, 1, o->n, f) != o->n)
        return errno ? -errno : CIO_EIO;
    o->n = 0;
    return 0;
}

/* Streaming: one drain into the file (tw.lock held). */
static int stream_drain(uint64_t cutoff)
{
    if (!tw.file || !tw.wr_ok)
        return 0;
    uint64_t before = tw.wr.events;
    drain(&tw.wr, cutoff);
    int rc = write_out(tw.file, &tw.wr.o);
    if (rc < 0 && !tw.err)
        tw.err = rc;
    return rc < 0 ? rc : (int)(tw.wr.events - before > INT32_MAX
                                   ? INT32_MAX
                                   : tw.wr.events - before);
}

/* Flight recorder: the whole file, anew, from what the rings hold. */
static int flight_write(struct cio__runtime *rt)
{
    struct cio__trace *tr = rt->trace;
    int n = nlanes(rt);
    struct writer wr;
    struct cio__trace_ev *buf = calloc(tr->slots, sizeof *buf);
    uint64_t *first = calloc((size_t)n, sizeof *first);
    uint64_t *kept = calloc((size_t)n, sizeof *kept);
    struct cio__trace_ev **copy = calloc((size_t)n, sizeof *copy);
    int rc = CIO_ENOMEM;
    if (!buf || !first || !kept || !copy || !writer_init(&wr, rt))
        goto out_free;
    rate(&wr);
    /* Every ring copied first, as close to one moment as may be. */
    for (int i = 0; i < n; i++) {
        copy[i] = calloc(tr->slots, sizeof *copy[i]);
        if (!copy[i])
            goto out;
        kept[i] = cio__lane_snapshot(tr->lanes[i], copy[i], UINT64_MAX,
                                     &first[i]);
    }
    for (int i = 0; i < n; i++)
        for (uint64_t k = 0; k < kept[i]; k++)
            learn(&wr, i, raw_at(&copy[i][k]));
    s_(&wr.o, head);
    for (int i = 0; i < n; i++)
        for (uint64_t k = 0; k < kept[i]; k++)
            write_ev(&wr, i, raw_at(&copy[i][k]), first[i] + k);
    finish(&wr, true, kept, first);
    size_t plen = strlen(tw.set.path);
    char *tmp = malloc(plen + 8);
    if (!tmp)
        goto out;
    memcpy(tmp, tw.set.path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        rc = -errno;
    } else {
        rc = write_out(f, &wr.o);
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, tw.set.path) != 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
        else
            rc = wr.events > INT32_MAX ? INT32_MAX : (int)wr.events;
    }
    free(tmp);
out:
    writer_fini(&wr);
    for (int i = 0; i < n; i++)
        free(copy[i]);
out_free:
    free(copy);
    free(buf);
    free(first);
    free(kept);
    return rc;
}

static int flush_locked(struct cio__runtime *rt)
{
    if (tw.set.flight)
        return flight_write(rt);
    int rc = stream_drain(cio__os_ticks());
    if (rc >= 0 && tw.file && fflush(tw.file) != 0)
        rc = -errno;
    return rc;
}

/* ---- the thread: drains, SIGQUIT, flushes after stalls ----------------- */

static void on_quit(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 'q';
    ssize_t r = write(tw.pipe[1], &c, 1);
    (void)r;
    errno = saved;
}

void cio__trace_after_stall(void)
{
    if (!tw.set.flight || tw.pipe[1] < 0)
        return;
    char c = 's';
    ssize_t r = write(tw.pipe[1], &c, 1);
    (void)r;
}

static void *observer(void *arg)
{
    struct cio__runtime *rt = arg;
    cio__os_thread_name("cio-observe");
    int64_t next = cio__os_now() + DRAIN_NS;
    for (;;) {
        int timeout = -1;
        if (tw.file) {
            int64_t left = next - cio__os_now();
            timeout = left > 0 ? (int)(left / 1000000) + 1 : 0;
        }
        struct pollfd p = {.fd = tw.pipe[0], .events = POLLIN};
        int k = poll(&p, 1, timeout);
        if (k > 0) {
            char c[16];
            ssize_t got = read(tw.pipe[0], c, sizeof c);
            for (ssize_t i = 0; i < got; i++) {
                if (c[i] == 'x')
                    return NULL;
                if (c[i] == 'q') {
                    cio_dump(stderr);
                    if (tw.set.flight) {
                        pthread_mutex_lock(&tw.lock);
                        int rc = flight_write(rt);
                        pthread_mutex_unlock(&tw.lock);
                        if (rc < 0)
                            fprintf(stderr, "cio: trace: %s: %s\n",
                                    tw.set.path, cio_strerror(rc));
                        else
                            fprintf(stderr, "cio: trace written to %s\n",
                                    tw.set.path);
                    }
                } else if (c[i] == 's') {
                    /* The stalled worker records the stall in its signal
                     * handler: give it a moment to. */
                    struct timespec d = {0, 10 * 1000000};
                    nanosleep(&d, NULL);
                    pthread_mutex_lock(&tw.lock);
                    int rc = flight_write(rt);
                    pthread_mutex_unlock(&tw.lock);
                    if (rc >= 0)
                        fprintf(stderr, "cio: trace written to %s\n",
                                tw.set.path);
                }
            }
        }
        if (tw.file && cio__os_now() >= next) {
            pthread_mutex_lock(&tw.lock);
            stream_drain(cio__os_ticks());
            pthread_mutex_unlock(&tw.lock);
            next = cio__os_now() + DRAIN_NS;
        }
    }
}

/* ---- settings ----------------------------------------------------------- */

static int refuse(const char *what, const char *value, const char *accepted)
{
    const char *eq = strncmp(what, "CIO_", 4) == 0 ? "=" : " = ";
    fprintf(stderr, "cio: %s%s%s: expected %s\n", what, eq, value, accepted);
    return CIO_EINVAL;
}

static int flag(int field, const char *field_name, const char *env_name,
                bool *out)
{
    if (field < -1 || field > 1) {
        char b[16];
        snprintf(b, sizeof b, "%d", field);
        return refuse(field_name, b, "0 (the default), 1 (on) or -1 (off)");
    }
    if (field) {
        *out = field > 0;
        return 0;
    }
    const char *env = getenv(env_name);
    *out = false;
    if (env && *env) {
        if (strcmp(env, "0") && strcmp(env, "1"))
            return refuse(env_name, env, "0 (off) or 1 (on)");
        *out = *env == '1';
    }
    return 0;
}

int cio__observe_settings(const cio_config *cfg,
                          struct cio__observe_settings *set,
                          struct cio__run_hooks *hooks)
{
    *set = (struct cio__observe_settings){0};
    const char *path = cfg && cfg->trace ? cfg->trace : getenv("CIO_TRACE");
    if (cfg && cfg->trace && !*cfg->trace)
        return refuse("cio_config.trace", "\"\"",
                      "NULL (no trace, or $CIO_TRACE) or a file name");
    int rc = flag(cfg ? cfg->trace_flight : 0, "cio_config.trace_flight",
                  "CIO_TRACE_FLIGHT", &set->flight);
    if (rc == 0)
        rc = flag(cfg ? cfg->sigquit : 0, "cio_config.sigquit",
                  "CIO_SIGQUIT", &set->sigquit);
    if (rc < 0)
        return rc;
    uint64_t events = cfg ? cfg->trace_events : 0;
    if (events > MAX_EVENTS) {
        char b[24];
        snprintf(b, sizeof b, "%llu", (unsigned long long)events);
        return refuse("cio_config.trace_events", b,
                      "0 (the default) or 16 to 16777216 events");
    }
    if (!events) {
        events = DEFAULT_EVENTS;
        const char *env = getenv("CIO_TRACE_EVENTS");
        if (env && *env) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(env, &end, 10);
            if (errno || *end || v < 16 || v > MAX_EVENTS || *env == '-')
                return refuse("CIO_TRACE_EVENTS", env,
                              "a whole number of events per lane from 16 "
                              "to 16777216");
            events = v;
        }
    }
    if (events < 16)
        events = 16;
    if (path && *path) {
        set->path = path;
        hooks->trace_slots = events;
        hooks->trace_ring = set->flight;
    }
    return 0;
}

/* ---- start and stop ------------------------------------------------------ */

void cio__trace_started(struct cio__runtime *rt,
                        const struct cio__observe_settings *set)
{
    tw.set = *set;
    tw.err = 0;
    tw.file = NULL;
    tw.wr_ok = false;
    bool tracing = rt->trace != NULL;
    if (!tracing && !set->sigquit)
        return;
    if (tracing && !set->flight) {
        tw.file = fopen(set->path, "we");
        if (!tw.file) {
            /* The program runs on without its trace, and says so. */
            fprintf(stderr, "cio: trace: %s: %s\n", set->path,
                    strerror(errno));
        } else {
            tw.wr_ok = writer_init(&tw.wr, rt);
            fputs(head, tw.file);
        }
    }
    if (pipe2(tw.pipe, O_CLOEXEC) != 0) {
        tw.pipe[0] = tw.pipe[1] = -1;
        return;
    }
    fcntl(tw.pipe[1], F_SETFL, O_NONBLOCK);
    atomic_store_explicit(&tw.rt, rt, memory_order_release);
    if (tracing)
        atomic_store_explicit(&cio__tracing, 1, memory_order_relaxed);
    /* The observer takes no signals meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    tw.running = cio__os.pthread_create(&tw.thread, NULL, observer, rt) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (tw.running && set->sigquit) {
        struct sigaction sa = {0};
        sa.sa_handler = on_quit;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        tw.quit_on = sigaction(SIGQUIT, &sa, &tw.old_quit) == 0;
    }
}

void cio__trace_stopped(struct cio__runtime *rt)
{
    if (tw.quit_on) {
        sigaction(SIGQUIT, &tw.old_quit, NULL);
        tw.quit_on = false;
    }
    if (tw.running) {
        char c = 'x';
        while (write(tw.pipe[1], &c, 1) < 0 && errno == EINTR)
            ;
        pthread_join(tw.thread, NULL);
        tw.running = false;
    }
    atomic_store_explicit(&cio__tracing, 0, memory_order_relaxed);
    pthread_mutex_lock(&tw.lock);
    atomic_store_explicit(&tw.rt, NULL, memory_order_relaxed);
    if (tw.file) {
        if (tw.wr_ok) {
            stream_drain(UINT64_MAX);
            finish(&tw.wr, false, NULL, NULL);
            int rc = write_out(tw.file, &tw.wr.o);
            if (rc < 0 && !tw.err)
                tw.err = rc;
            writer_fini(&tw.wr);
            tw.wr_ok = false;
        }
        if (fclose(tw.file) != 0 && !tw.err)
            tw.err = -errno;
        if (tw.err)
            fprintf(stderr, "cio: trace: %s: %s\n", tw.set.path,
                    cio_strerror(tw.err));
        tw.file = NULL;
    }
    pthread_mutex_unlock(&tw.lock);
    for (int i = 0; i < 2; i++) {
        if (tw.pipe[i] >= 0)
            close(tw.pipe[i]);
        tw.pipe[i] = -1;
    }
    (void)rt;
}

/* ---- cio_trace_flush ----------------------------------------------------- */

static void *flush_job(void *arg)
{
    struct cio__runtime *rt = arg;
    pthread_mutex_lock(&tw.lock);
    /* Acquire: pairs with the release in cio__trace_started. */
    int rc = atomic_load_explicit(&tw.rt, memory_order_acquire) == rt
                 ? flush_locked(rt)
                 : CIO_ESRCH;
    pthread_mutex_unlock(&tw.lock);
    return (void *)(intptr_t)rc;
}

int cio_trace_flush(void)
{
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    if (!rt)
        return CIO_ESRCH;
    int rc;
    if (!rt->trace) {
        rc = CIO_ENOENT;
    } else if (cio_self().id) {
        /* From a task: the file is written on the blocking pool, so the
         * worker runs other tasks meanwhile. */
        void *res = NULL;
        rc = cio_blocking(flush_job, rt, &res, CIO_NEVER);
        if (rc == 0)
            rc = (int)(intptr_t)res;
    } else {
        rc = (int)(intptr_t)flush_job(rt);
    }
    cio__rt_leave(rt, pinned);
    return rc;
}
