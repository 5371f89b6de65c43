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

/* A wake or spawn waiting for the run it is for, or a run after a wait
 * whose wake has not been seen yet (it may come in a later batch when the
 * wake was a NOTIFIED one: recorded just after the CAS that let the task
 * run). */
struct pend {
    int lane;
    int by;          /* CIO__BY_*, or 0 for a spawn */
    int kind;        /* what the woken task waited on */
    uint64_t tick;
    uint64_t arg;    /* the waking (spawning) task, if a task */
    uint64_t batch;  /* the batch it was seen in */
};

/* What the writer knows of a task. */
struct tinfo {
    char name[CIO__NAME_PER_EV * CIO__NAME_EVS + 1];
    int last_stop;   /* CIO__STOP_* of its last stop written, 0: none */
};

struct entry {
    uint64_t a, b;
    bool used;
    union {
        struct pend p;
        struct tinfo t;
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

/* The entry for (a, b), made (zeroed) if new; NULL without memory. */
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

/* Removes the entries of a table of pends seen before batch `keep`. */
static void expire(struct table *t, uint64_t keep)
{
    for (size_t i = 0; i < t->cap;) {
        struct entry *e = &t->e[i];
        if (e->used && e->v.p.batch < keep)
            del(t, e); /* an entry may have moved into slot i: look again */
        else
            i++;
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

static void put_bytes(struct out *o, const char *s, size_t k)
{
    need(o, k);
    if (o->n + k <= o->cap) {
        memcpy(o->p + o->n, s, k);
        o->n += k;
    }
}

static void s_(struct out *o, const char *s)
{
    put_bytes(o, s, strlen(s));
}

/* A string literal, its length known at compile time. */
#define S_(o, lit) put_bytes((o), "" lit, sizeof(lit) - 1)

static void u_(struct out *o, uint64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324"
        "25262728293031323334353637383940414243444546474849"
        "50515253545556575859606162636465666768697071727374"
        "75767778798081828384858687888990919293949596979899";
    char b[24];
    int i = sizeof b;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        b[--i] = pairs[d + 1];
        b[--i] = pairs[d];
    }
    if (v >= 10) {
        b[--i] = pairs[v * 2 + 1];
        b[--i] = pairs[v * 2];
    } else {
        b[--i] = (char)('0' + v);
    }
    put_bytes(o, b + i, sizeof b - (size_t)i);
}

/* Bytes of the UTF-8 character at `s` if it is well formed (shortest
 * form, no surrogate, at most U+10FFFF), else 0. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                       : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n <= 1)
        return n;
    unsigned v = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string's contents: quotes, backslashes and control bytes
 * escaped, a byte that is not valid UTF-8 replaced by U+FFFD (names are
 * the program's, and JSON must be UTF-8). */
static void esc(struct out *o, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int n = utf8_len(s);
        if (*s == '"' || *s == '\\') {
            char b[2] = {'\\', (char)*s};
            put_bytes(o, b, 2);
        } else if (*s < 0x20) {
            char b[8];
            snprintf(b, sizeof b, "\\u%04x", *s);
            s_(o, b);
        } else if (n == 0) {
            S_(o, "\\ufffd");
            n = 1;
        } else {
            put_bytes(o, (const char *)s, (size_t)n);
        }
        s += n ? n : 1;
    }
}

/* ---- the writer -------------------------------------------------------- */

struct lane_state {
    uint64_t open;      /* task whose run slice is open (0: none) */
    uint64_t open_run;  /* that run's number */
    uint64_t open_job;  /* 1 + the task of an open job slice (0: none) */
    bool open_poll;     /* a reactor slice is open */
    uint64_t last_tick; /* of its last event written */
    uint64_t dropped;   /* drops already reported */
    char prefix[40];    /* ","pid":P,"tid":T of its events */
    unsigned char prefix_len;
};

struct writer {
    struct cio__runtime *rt;
    struct lane_state *ls;
    int nls;
    struct table pending; /* (task, run) -> the wake or spawn for it */
    struct table orphans; /* (task, run) -> a run after a wait, no wake */
    struct table tasks;   /* (task, 0) -> its name, its last stop */
    uint64_t *gone;       /* tasks that exited in this batch */
    size_t ngone, capgone;
    uint64_t batch;
    uint64_t flows;
    uint64_t events;      /* JSON events written */
    uint64_t lost;        /* JSON events lost to a failed allocation */
    uint64_t base;        /* tick of time 0 */
    double ns_per_tick;   /* 0 until measured; then kept for the trace */
    bool flight;          /* events say their place in the ring ("seq") */
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
    free(wr->gone);
    table_free(&wr->pending);
    table_free(&wr->orphans);
    table_free(&wr->tasks);
    free(wr->o.p);
}

/* The tick rate, measured once per trace (a later measurement would
 * shift every later timestamp a little, and a slice whose two ends fell
 * in different batches could end before it began). */
static void rate(struct writer *wr)
{
    if (wr->ns_per_tick > 0)
        return;
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
    S_(&wr->o, ",\"ts\":");
    u_(&wr->o, ns / 1000);
    char b[4] = {'.', (char)('0' + ns / 100 % 10), (char)('0' + ns / 10 % 10),
                 (char)('0' + ns % 10)};
    put_bytes(&wr->o, b, 4);
}

/* Starts an event: {"ph":"<ph>","pid":P,"tid":<lane>,"ts":... (the
 * part after the phase made once per lane). */
static void ev(struct writer *wr, const char *ph, int lane, uint64_t tick,
               uint64_t plus_ns)
{
    struct lane_state *ls = &wr->ls[lane];
    if (!ls->prefix_len)
        ls->prefix_len = (unsigned char)snprintf(
            ls->prefix, sizeof ls->prefix, "\",\"pid\":%d,\"tid\":%d",
            wr->pid, lane);
    S_(&wr->o, "{\"ph\":\"");
    put_bytes(&wr->o, ph, 1);
    put_bytes(&wr->o, ls->prefix, ls->prefix_len);
    ts(wr, tick, plus_ns);
    wr->events++;
}

static void end_ev(struct writer *wr)
{
    S_(&wr->o, "},\n");
}

static const char *const wait_names[] = {
    "nothing", "timer", "fd",     "join",      "pool",  "chan",  "select",
    "mutex",   "cond",  "rwlock", "sem",       "waitgroup", "event", "group",
    "signal",
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
    struct entry *e = find(&wr->tasks, id, 0);
    if (e && e->v.t.name[0]) {
        esc(&wr->o, e->v.t.name);
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
        S_(&wr->o, "task");
}

static void close_slice(struct writer *wr, int lane, uint64_t tick,
                        const char *why)
{
    struct lane_state *ls = &wr->ls[lane];
    if (ls->open) {
        ev(wr, "E", lane, tick, 0);
        S_(&wr->o, ",\"args\":{\"then\":\"");
        s_(&wr->o, why);
        S_(&wr->o, "\"}");
        end_ev(wr);
        ls->open = 0;
    }
    if (ls->open_job) {
        ev(wr, "E", lane, tick, 0);
        end_ev(wr);
        ls->open_job = 0;
    }
    if (ls->open_poll) {
        ev(wr, "E", lane, tick, 0);
        end_ev(wr);
        ls->open_poll = false;
    }
}

/* The arrow from the wake or spawn `p` into the run that begins at
 * `tick` on `lane`. Events may be written in any order (the
 * viewers sort them), so this works at the wake's batch or the run's. */
static void arrow(struct writer *wr, const struct pend *p, int lane,
                  uint64_t tick)
{
    uint64_t id = ++wr->flows;
    const char *name = p->by ? "wake" : "spawn";
    /* Inside a slice where the waker was a task (its run), a pool thread
     * (its job) or the reactor (its dispatch of a poll's events: one
     * slice for all the wakes of a poll); elsewhere a slice of its own,
     * named for what woke the task. */
    bool own = !(p->by == CIO__BY_TASK || p->by == CIO__BY_POOL ||
                 p->by == CIO__BY_FD || (p->by == 0 && p->arg));
    if (own) {
        /* One nanosecond long: the flow's start lies inside it. */
        ev(wr, "X", p->lane, p->tick, 0);
        S_(&wr->o, ",\"dur\":0.001,\"name\":\"");
        s_(&wr->o, p->by ? by_name(p->by) : "start");
        S_(&wr->o, "\",\"cat\":\"wake\"");
        end_ev(wr);
    }
    ev(wr, "s", p->lane, p->tick, 0);
    S_(&wr->o, ",\"name\":\"");
    s_(&wr->o, name);
    S_(&wr->o, "\",\"cat\":\"flow\",\"id\":");
    u_(&wr->o, id);
    /* Which task and run it is for, the slice it ends on says. */
    S_(&wr->o, ",\"args\":{");
    if (p->by) {
        S_(&wr->o, "\"by\":\"");
        s_(&wr->o, by_name(p->by));
        S_(&wr->o, "\"");
        if (p->by != CIO__BY_FD && p->by != CIO__BY_TIMER) {
            /* (a descriptor's or a timer's wake says what it was on) */
            S_(&wr->o, ",\"on\":\"");
            s_(&wr->o, wait_name(p->kind));
            S_(&wr->o, "\"");
        }
    }
    if (p->arg) {
        if (p->by)
            S_(&wr->o, ",");
        S_(&wr->o, "\"from\":");
        u_(&wr->o, p->arg);
    }
    S_(&wr->o, "}");
    end_ev(wr);
    ev(wr, "f", lane, tick, 0);
    S_(&wr->o, ",\"name\":\"");
    s_(&wr->o, name);
    S_(&wr->o, "\",\"cat\":\"flow\",\"bp\":\"e\",\"id\":");
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
        struct entry *e = put(&wr->tasks, r.task, 0);
        if (!e || part >= CIO__NAME_EVS)
            return;
        char *d = e->v.t.name + part * CIO__NAME_PER_EV;
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
    int sub = (int)(r.meta >> 8 & 0xff);
    struct pend p = {
        .lane = lane,
        .by = kind == CIO__EV_SPAWN ? 0 : sub & 0xf,
        .kind = kind == CIO__EV_SPAWN ? 0 : sub >> 4,
        .tick = r.tick,
        .arg = r.arg,
        .batch = wr->batch,
    };
    /* Its run already written (an earlier batch): the arrow now. */
    struct entry *o = find(&wr->orphans, r.task, run);
    if (o) {
        struct pend run_at = o->v.p;
        del(&wr->orphans, o);
        arrow(wr, &p, run_at.lane, run_at.tick);
        return;
    }
    struct entry *e = put(&wr->pending, r.task, run);
    if (e)
        e->v.p = p;
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
        S_(&wr->o, ",\"name\":\"");
        task_name(wr, r.task);
        S_(&wr->o, "\",\"cat\":\"task\",\"args\":{\"task\":");
        u_(&wr->o, r.task);
        S_(&wr->o, ",\"run\":");
        u_(&wr->o, run);
        if (wr->flight) {
            S_(&wr->o, ",\"seq\":");
            u_(&wr->o, seq);
        }
        S_(&wr->o, "}");
        end_ev(wr);
        ls->open = r.task;
        ls->open_run = run;
        struct entry *e = find(&wr->pending, r.task, run);
        if (e) {
            struct pend p = e->v.p;
            del(&wr->pending, e);
            arrow(wr, &p, lane, r.tick);
        } else if (run > 1) {
            /* After a wait, a wake is due: it may come in a later batch
             * (see struct pend). After a yield, none is. */
            struct entry *t = find(&wr->tasks, r.task, 0);
            if (t && t->v.t.last_stop == CIO__STOP_PARK) {
                struct entry *o = put(&wr->orphans, r.task, run);
                if (o)
                    o->v.p = (struct pend){.lane = lane, .tick = r.tick,
                                           .batch = wr->batch};
            }
        }
        break;
    }
    case CIO__EV_STOP: {
        int why = sub & 0xf, wk = sub >> 4;
        struct entry *t = put(&wr->tasks, r.task, 0);
        if (t)
            t->v.t.last_stop = why;
        if (ls->open != r.task)
            break; /* its begin was lost (or is before the events kept) */
        if (why != CIO__STOP_PARK) {
            /* A wake for the next run that came before this yield or
             * exit was taken by a run that went on (a direct park whose
             * commit found the wake first): it is for no run. */
            struct entry *e = find(&wr->pending, r.task, ls->open_run + 1);
            if (e && e->v.p.tick <= r.tick)
                del(&wr->pending, e);
        }
        ev(wr, "E", lane, r.tick, 0);
        S_(&wr->o, ",\"args\":{\"then\":\"");
        s_(&wr->o, why == CIO__STOP_YIELD  ? "yield"
                   : why == CIO__STOP_PARK ? "wait"
                                           : "exit");
        S_(&wr->o, "\"");
        if (why == CIO__STOP_PARK) {
            S_(&wr->o, ",\"on\":\"");
            s_(&wr->o, wait_name(wk));
            S_(&wr->o, "\"");
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
        S_(&wr->o, "}");
        end_ev(wr);
        ls->open = 0;
        if (why == CIO__STOP_EXIT && wr->ngone < SIZE_MAX / 2) {
            /* Forgotten at the batch's end: its runs on lanes written
             * after this one still need its name. */
            if (wr->ngone == wr->capgone) {
                size_t cap = wr->capgone ? 2 * wr->capgone : 256;
                uint64_t *g = realloc(wr->gone, cap * sizeof *g);
                if (!g)
                    break;
                wr->gone = g;
                wr->capgone = cap;
            }
            wr->gone[wr->ngone++] = r.task;
        }
        break;
    }
    case CIO__EV_JOB:
        close_slice(wr, lane, r.tick, "unknown");
        ev(wr, "B", lane, r.tick, 0);
        S_(&wr->o, ",\"name\":\"job\",\"cat\":\"pool\",\"args\":{\"for\":");
        u_(&wr->o, r.task);
        if (wr->flight) {
            S_(&wr->o, ",\"seq\":");
            u_(&wr->o, seq);
        }
        S_(&wr->o, "}");
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
    case CIO__EV_POLL:
        if (sub) {
            close_slice(wr, lane, r.tick, "unknown");
            ev(wr, "B", lane, r.tick, 0);
            S_(&wr->o, ",\"name\":\"reactor\",\"cat\":\"wake\"");
            end_ev(wr);
            ls->open_poll = true;
        } else if (ls->open_poll) {
            ev(wr, "E", lane, r.tick, 0);
            end_ev(wr);
            ls->open_poll = false;
        }
        break;
    case CIO__EV_STALL:
        ev(wr, "i", lane, r.tick, 0);
        S_(&wr->o, ",\"s\":\"t\",\"name\":\"stall\",\"args\":{\"task\":");
        u_(&wr->o, r.task);
        S_(&wr->o, ",\"ms\":");
        u_(&wr->o, r.arg / 1000000);
        S_(&wr->o, "}");
        end_ev(wr);
        break;
    default:
        break;
    }
}

/* The end of a batch: tasks that exited are forgotten, and wakes and
 * runs that found no partner within a few batches (a wake whose run was
 * dropped, a run whose wake was) are let go. */
static void batch_done(struct writer *wr)
{
    for (size_t i = 0; i < wr->ngone; i++) {
        struct entry *e = find(&wr->tasks, wr->gone[i], 0);
        if (e)
            del(&wr->tasks, e);
    }
    wr->ngone = 0;
    if (wr->batch >= 3) {
        expire(&wr->pending, wr->batch - 3);
        expire(&wr->orphans, wr->batch - 3);
    }
    wr->batch++;
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
            S_(&wr->o, ",\"s\":\"t\",\"name\":\"dropped events\","
                       "\"args\":{\"count\":");
            u_(&wr->o, d - wr->ls[i].dropped);
            S_(&wr->o, "}");
            end_ev(wr);
            wr->ls[i].dropped = d;
        }
    }
    batch_done(wr);
}

static const char head[] = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";

/* Closes what is open, names the lanes and ends the JSON: the last
 * event carries no comma, then what the trace says of itself. `n`: the
 * lanes the events came from (a thread may take a lane meanwhile; a
 * flight file's `kept` and `first` have `n` entries). */
static void finish(struct writer *wr, bool flight, const uint64_t *kept,
                   const uint64_t *first, int n)
{
    struct cio__trace *tr = wr->rt->trace;
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
        S_(&wr->o, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":");
        u_(&wr->o, (uint64_t)wr->pid);
        S_(&wr->o, ",\"tid\":");
        u_(&wr->o, (uint64_t)i);
        S_(&wr->o, ",\"args\":{\"name\":\"");
        s_(&wr->o, name);
        S_(&wr->o, "\"}},\n{\"ph\":\"M\",\"name\":\"thread_sort_index\","
                   "\"pid\":");
        u_(&wr->o, (uint64_t)wr->pid);
        S_(&wr->o, ",\"tid\":");
        u_(&wr->o, (uint64_t)i);
        S_(&wr->o, ",\"args\":{\"sort_index\":");
        u_(&wr->o, (uint64_t)i);
        S_(&wr->o, "}},\n");
    }
    S_(&wr->o, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":");
    u_(&wr->o, (uint64_t)wr->pid);
    S_(&wr->o, ",\"tid\":0,\"args\":{\"name\":\"cio\"}}\n],\n"
               "\"otherData\":{\"mode\":\"");
    s_(&wr->o, flight ? "flight" : "stream");
    S_(&wr->o, "\",\"events_per_lane\":");
    u_(&wr->o, tr->slots);
    S_(&wr->o, ",\"dropped_events\":");
    u_(&wr->o, dropped);
    S_(&wr->o, ",\"lost_json_events\":");
    u_(&wr->o, wr->lost);
    S_(&wr->o, ",\"lanes\":[");
    for (int i = 0; i < n; i++) {
        struct cio__lane *l = tr->lanes[i];
        s_(&wr->o, i ? ",{\"tid\":" : "{\"tid\":");
        u_(&wr->o, (uint64_t)i);
        /* A flight file says what the lane had recorded when its ring
         * was copied (the kept events end there); the lane records on
         * while the file is written. */
        S_(&wr->o, ",\"recorded\":");
        u_(&wr->o, kept ? first[i] + kept[i]
                        : atomic_load_explicit(&l->done, memory_order_relaxed));
        S_(&wr->o, ",\"dropped\":");
        u_(&wr->o, atomic_load_explicit(&l->dropped, memory_order_relaxed));
        if (kept) {
            S_(&wr->o, ",\"kept\":");
            u_(&wr->o, kept[i]);
            S_(&wr->o, ",\"first\":");
            u_(&wr->o, first[i]);
        }
        S_(&wr->o, "}");
    }
    S_(&wr->o, "]}}\n");
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
    pthread_t thread;
    bool running;
    _Atomic bool stop;          /* the thread's signal to end */
    bool quit_on;
    struct sigaction old_quit;
} tw = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Requests to the thread ('q': SIGQUIT came; 's': a stall was reported;
 * 'x': stop) through a pipe made once for the process's life, so a
 * SIGQUIT handler running while a runtime ends never writes into a
 * descriptor closed and reused meanwhile. */
static int req[2] = {-1, -1};
static pthread_once_t req_once = PTHREAD_ONCE_INIT;

static void req_make(void)
{
    if (pipe2(req, O_CLOEXEC | O_NONBLOCK) != 0)
        req[0] = req[1] = -1;
}

static void request(char c)
{
    if (req[1] >= 0) {
        ssize_t r = write(req[1], &c, 1); /* full: the thread is behind on
                                             requests, one more is moot */
        (void)r;
    }
}

/* Writes what the buffer holds; a buffer that could not grow loses its
 * events (counted), not the trace. */
static int write_out(FILE *f, struct writer *wr)
{
    struct out *o = &wr->o;
    int rc = 0;
    if (o->failed) {
        o->n = 0; /* a batch cut short somewhere: none of it */
        o->failed = false;
        return CIO_ENOMEM;
    }
    if (o->n && fwrite(o->p, 1, o->n, f) != o->n)
        rc = errno ? -errno : CIO_EIO;
    o->n = 0;
    return rc;
}

/* Streaming: one drain into the file (tw.lock held). */
static int stream_drain(uint64_t cutoff)
{
    if (!tw.file || !tw.wr_ok)
        return 0;
    uint64_t before = tw.wr.events;
    drain(&tw.wr, cutoff);
    uint64_t made = tw.wr.events - before;
    int rc = write_out(tw.file, &tw.wr);
    if (rc == CIO_ENOMEM)
        tw.wr.lost += made; /* said in otherData.lost_json_events */
    else if (rc < 0 && !tw.err)
        tw.err = rc;
    return rc < 0 ? rc : (int)(made > INT32_MAX ? INT32_MAX : made);
}

/* Flight recorder: the whole file, anew, from what the rings hold. */
static int flight_write(struct cio__runtime *rt)
{
    struct cio__trace *tr = rt->trace;
    int n = nlanes(rt);
    struct writer wr;
    uint64_t *first = calloc((size_t)n, sizeof *first);
    uint64_t *kept = calloc((size_t)n, sizeof *kept);
    struct cio__trace_ev **copy = calloc((size_t)n, sizeof *copy);
    int rc = CIO_ENOMEM;
    if (!first || !kept || !copy || !writer_init(&wr, rt))
        goto out_free;
    wr.flight = true;
    rate(&wr);
    /* Every ring copied first, as close to one moment as may be; each
     * copy only as large as what its ring holds. */
    for (int i = 0; i < n; i++) {
        struct cio__lane *l = tr->lanes[i];
        uint64_t held = atomic_load_explicit(&l->done, memory_order_relaxed);
        if (held > tr->slots)
            held = tr->slots;
        copy[i] = calloc(held + 1, sizeof *copy[i]);
        if (!copy[i])
            goto out;
        kept[i] = cio__lane_snapshot(l, copy[i], UINT64_MAX, &first[i]);
        if (kept[i] > held) /* it wrote meanwhile: copied only `held` */
            kept[i] = held;
    }
    for (int i = 0; i < n; i++)
        for (uint64_t k = 0; k < kept[i]; k++)
            learn(&wr, i, raw_at(&copy[i][k]));
    s_(&wr.o, head);
    for (int i = 0; i < n; i++)
        for (uint64_t k = 0; k < kept[i]; k++)
            write_ev(&wr, i, raw_at(&copy[i][k]), first[i] + k);
    finish(&wr, true, kept, first, n);
    if (wr.o.failed)
        goto out;
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
        rc = write_out(f, &wr);
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
    request('q');
    errno = saved;
}

void cio__trace_after_stall(void)
{
    if (tw.set.flight)
        request('s');
}

static void flight_now(struct cio__runtime *rt)
{
    pthread_mutex_lock(&tw.lock);
    int rc = flight_write(rt);
    pthread_mutex_unlock(&tw.lock);
    if (rc < 0)
        fprintf(stderr, "cio: trace: %s: %s\n", tw.set.path,
                cio_strerror(rc));
    else
        fprintf(stderr, "cio: trace written to %s\n", tw.set.path);
}

static void *observer(void *arg)
{
    struct cio__runtime *rt = arg;
    cio__os_thread_name("cio-observe");
    int64_t next = cio__os_now() + DRAIN_NS;
    /* Acquire: pairs with the release in cio__trace_stopped; the 'x' it
     * sends only makes this look sooner. */
    while (!atomic_load_explicit(&tw.stop, memory_order_acquire)) {
        int64_t left = next - cio__os_now();
        int timeout = left > 0 ? (int)(left / 1000000) + 1 : 0;
        struct pollfd p = {.fd = req[0], .events = POLLIN};
        if (poll(&p, 1, timeout) > 0) {
            char c[16];
            ssize_t got = read(req[0], c, sizeof c);
            bool quit = false, stall = false;
            for (ssize_t i = 0; i < got; i++) {
                quit |= c[i] == 'q';
                stall |= c[i] == 's';
            }
            if (quit) {
                cio_dump(stderr);
                if (tw.set.flight)
                    flight_now(rt);
            } else if (stall) {
                /* The stalled worker records the stall in its signal
                 * handler: give it a moment to. */
                struct timespec d = {0, 10 * 1000000};
                nanosleep(&d, NULL);
                flight_now(rt);
            }
        }
        if (cio__os_now() >= next) {
            if (tw.file) {
                pthread_mutex_lock(&tw.lock);
                stream_drain(cio__os_ticks());
                pthread_mutex_unlock(&tw.lock);
            }
            next = cio__os_now() + DRAIN_NS;
        }
    }
    return NULL;
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
    if (tracing) {
        atomic_store_explicit(&cio__tracing, 1, memory_order_relaxed);
        if (!set->flight) {
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
    }
    /* Release: pairs with the acquire in flush_job. */
    atomic_store_explicit(&tw.rt, rt, memory_order_release);
    pthread_once(&req_once, req_make);
    if (req[0] < 0) {
        fprintf(stderr, "cio: trace: no pipe for the observer thread: %s; "
                        "the trace keeps only what fits its lanes\n",
                strerror(errno));
        return;
    }
    char c[64];
    while (read(req[0], c, sizeof c) > 0)
        ; /* a former runtime's leftovers */
    atomic_store_explicit(&tw.stop, false, memory_order_relaxed);
    /* The observer takes no signals meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    tw.running = cio__os.pthread_create(&tw.thread, NULL, observer, rt) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!tw.running)
        fprintf(stderr, "cio: trace: no observer thread; the trace keeps "
                        "only what fits its lanes\n");
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
    (void)rt;
    if (tw.quit_on) {
        sigaction(SIGQUIT, &tw.old_quit, NULL);
        tw.quit_on = false;
    }
    if (tw.running) {
        /* Release: pairs with the observer's acquire. */
        atomic_store_explicit(&tw.stop, true, memory_order_release);
        request('x');
        pthread_join(tw.thread, NULL);
        tw.running = false;
    }
    atomic_store_explicit(&cio__tracing, 0, memory_order_relaxed);
    pthread_mutex_lock(&tw.lock);
    atomic_store_explicit(&tw.rt, NULL, memory_order_relaxed);
    if (tw.file) {
        if (tw.wr_ok) {
            stream_drain(UINT64_MAX);
            finish(&tw.wr, false, NULL, NULL, nlanes(tw.wr.rt));
            int rc = write_out(tw.file, &tw.wr);
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
