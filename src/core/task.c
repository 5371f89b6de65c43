/* Tasks: the descriptor table, the wait/wake protocol, and the task API.
 *
 * Descriptors live in chunks that are never freed while the runtime runs,
 * so any pointer to one stays safe to read. That makes two cheap checks
 * enough for safety across threads:
 *   - a handle carries the descriptor's generation, bumped when it is freed,
 *     so a stale handle is reported as CIO_ESRCH;
 *   - a wake carries the wait's sequence number, so a late wake (a timer
 *     that fired after another source won, a cancel racing with a return)
 *     finds a newer number and does nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/runtime.h"
#include "core/sched.h"
#include "core/compact.h"
#include "core/task.h"
#include "os/os.h"

/* ---- descriptor table --------------------------------------------------- */

#if !defined(CIO_TESTING) && !CIO_HAVE_ASAN && !CIO_HAVE_TSAN
/* Two cache lines: a spawn burst faults in and misses on what it touches,
 * and every byte here is touched by every task (struct cio__task). */
_Static_assert(sizeof(struct cio__task) == 128, "descriptor is 128 bytes");
#endif

static struct cio__task *slot_ptr(struct cio__runtime *rt, uint32_t slot)
{
    uint32_t c = slot / CIO__TASK_CHUNK;
    if (c >= atomic_load_explicit(&rt->nchunks, memory_order_acquire))
        return NULL;
    struct cio__task *chunk =
        atomic_load_explicit(&rt->chunks[c], memory_order_acquire);
    return chunk ? &chunk[slot % CIO__TASK_CHUNK] : NULL;
}

/* Makes the global ring hold at least `need` tasks (table lock held). It
 * grows with the task table so that a push onto it never has to. */
static int grow_global(struct cio__runtime *rt, size_t need)
{
    if (rt->global_cap >= need)
        return 0;
    size_t cap = rt->global_cap ? rt->global_cap * 2 : CIO__TASK_CHUNK;
    while (cap < need)
        cap *= 2;
    struct cio__task **v = malloc(cap * sizeof *v);
    if (!v)
        return CIO_ENOMEM;
    pthread_mutex_lock(&rt->global_lock);
    size_t n = atomic_load_explicit(&rt->global_n, memory_order_relaxed);
    for (size_t i = 0, at = rt->global_head; i < n; i++) {
        v[i] = rt->global[at];
        if (++at == rt->global_cap)
            at = 0;
    }
    free(rt->global);
    rt->global = v;
    rt->global_cap = cap;
    rt->global_head = 0;
    pthread_mutex_unlock(&rt->global_lock);
    return 0;
}

/* Generations go on from one runtime to the next in the process, so a
 * handle kept from an earlier cio_run() never names a task of a later
 * one (until a slot's generation wraps 2^32). */
static _Atomic uint32_t gen_floor = 1;

/* Moves up to `n` descriptors from the head of `from` to the tail of
 * `to`; returns how many moved. */
static uint32_t move_free(struct cio__fifo *to, struct cio__fifo *from,
                          size_t n)
{
    uint32_t k = 0;
    struct cio__snode *node;
    while (k < n && (node = cio__fifo_pop(from))) {
        cio__fifo_push(to, node);
        k++;
    }
    return k;
}

static size_t chunk_bytes(void)
{
    return CIO__TASK_CHUNK * (sizeof(struct cio__task) +
                              sizeof(struct cio__task_fig) +
                              sizeof(struct cio__task_side));
}

static int grow_table(struct cio__worker *w)
{
    struct cio__runtime *rt = w->rt;
    pthread_mutex_lock(&rt->table_lock);
    if (rt->free_shared_n) {
        uint32_t k = move_free(&w->free_tasks, &rt->free_shared,
                               CIO__TASK_FREE_BATCH);
        rt->free_shared_n -= k;
        w->nfree += k;
        pthread_mutex_unlock(&rt->table_lock);
        return 0;
    }
    uint32_t c = atomic_load_explicit(&rt->nchunks, memory_order_relaxed);
    if (c >= CIO__TASK_CHUNKS ||
        grow_global(rt, (size_t)(c + 1) * CIO__TASK_CHUNK) < 0) {
        pthread_mutex_unlock(&rt->table_lock);
        return CIO_ENOMEM;
    }
    /* The descriptors, their figures (cio__fig), their sides
     * (cio__side): mapped, not taken from the heap, so that pages no task
     * writes (most of the sides) are never given by the kernel, and a
     * chunk is never a recycled heap block that calloc would clear. */
    void *mem = mmap(NULL, chunk_bytes(), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        pthread_mutex_unlock(&rt->table_lock);
        return CIO_ENOMEM;
    }
    struct cio__task *chunk = mem;
    /* Under transparent huge pages set to "always", a write would bring
     * in the 2 MiB around it, sides included: small pages only. */
    (void)madvise(mem, chunk_bytes(), MADV_NOHUGEPAGE);
#ifdef MADV_POPULATE_WRITE
    /* Every descriptor and its figures will be written: fault them in
     * with one call rather than one trap a page. */
    (void)madvise(mem, CIO__TASK_CHUNK * (sizeof(struct cio__task) +
                                          sizeof(struct cio__task_fig)),
                  MADV_POPULATE_WRITE);
#endif
    uint64_t gen = atomic_load_explicit(&gen_floor, memory_order_acquire);
    for (uint32_t i = 0; i < CIO__TASK_CHUNK; i++) {
        struct cio__task *t = &chunk[i];
        t->slot = c * CIO__TASK_CHUNK + i;
        atomic_init(&t->ctl, gen << 32);
        t->stack.cls = -1;
        cio__fifo_push(&w->free_tasks, &t->qnode);
    }
    w->nfree += CIO__TASK_CHUNK;
    atomic_store_explicit(&rt->chunks[c], chunk, memory_order_release);
    /* seq_cst, not just release: main's end scans the table after its
     * seq_cst store of `shutdown`, and a spawn into this chunk relies on
     * that scan seeing the chunk whenever the spawn's own seq_cst load of
     * `shutdown` missed the store (cio__task_create). */
    atomic_store_explicit(&rt->nchunks, c + 1, memory_order_seq_cst);
    pthread_mutex_unlock(&rt->table_lock);
    return 0;
}

int cio__task_alloc(struct cio__worker *w, struct cio__task **out)
{
    if (cio__fifo_empty(&w->free_tasks)) {
        int rc = grow_table(w);
        if (rc < 0)
            return rc;
    }
    struct cio__snode *n = cio__fifo_pop(&w->free_tasks);
    w->nfree--;
    *out = cio__container_of(n, struct cio__task, qnode);
    /* The next spawn's descriptor, for writing: reused oldest first, it
     * is cold, and its link is read at once by that spawn's pop (a miss
     * nothing else could overlap). Both of its lines. */
    if (w->free_tasks.head) {
        struct cio__task *next = cio__container_of(w->free_tasks.head,
                                                   struct cio__task, qnode);
        __builtin_prefetch(next, 1);
        __builtin_prefetch((char *)next + 64, 1);
    }
    return 0;
}

bool cio__task_table_ahead(struct cio__worker *w)
{
    /* Only where spawns have outgrown the first chunk: a runtime of a
     * few tasks keeps its one. Relaxed: a hint; grow_table() decides
     * under the table lock. */
    if (w->nfree >= CIO__TASK_FREE_BATCH ||
        atomic_load_explicit(&w->rt->nchunks, memory_order_relaxed) < 2)
        return false;
    return grow_table(w) == 0;
}

void cio__task_free(struct cio__worker *w, struct cio__task *t)
{
    /* Relaxed: the caller owns the task now (joined, or detached and
     * done); nobody else writes its control word. */
    uint32_t gen =
        CIO__CGEN(atomic_load_explicit(&t->ctl, memory_order_relaxed)) + 1;
    if (gen == 0)
        gen = 1; /* generation 0 would make the zero handle valid */
    atomic_store_explicit(&t->ctl, (uint64_t)gen << 32, memory_order_release);
    cio__fifo_push(&w->free_tasks, &t->qnode);
    cio__count(&w->c.freed, 1);
    if (++w->nfree > CIO__TASK_FREE_MAX) {
        /* This worker ends more tasks than it spawns: pass the oldest on
         * to whoever spawns them, or the table grows without bound. */
        struct cio__runtime *rt = w->rt;
        pthread_mutex_lock(&rt->table_lock);
        uint32_t k = move_free(&rt->free_shared, &w->free_tasks,
                               CIO__TASK_FREE_BATCH);
        rt->free_shared_n += k;
        w->nfree -= k;
        pthread_mutex_unlock(&rt->table_lock);
    }
}

cio_task cio__task_handle(const struct cio__task *t)
{
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    return (cio_task){((uint64_t)CIO__CGEN(c) << 32) | t->slot};
}

struct cio__task *cio__task_lookup(struct cio__runtime *rt, cio_task h)
{
    uint32_t gen = (uint32_t)(h.id >> 32);
    if (!rt || gen == 0)
        return NULL;
    struct cio__task *t = slot_ptr(rt, (uint32_t)h.id);
    if (!t)
        return NULL;
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_acquire);
    if (CIO__CGEN(c) != gen || !(c & CIO__C_ALIVE))
        return NULL;
    return t;
}

void cio__task_table_retire(struct cio__runtime *rt)
{
    uint32_t n = atomic_load_explicit(&rt->nchunks, memory_order_relaxed);
    uint32_t floor = atomic_load_explicit(&gen_floor, memory_order_relaxed);
    uint32_t top = floor;
    for (uint32_t c = 0; c < n; c++) {
        struct cio__task *chunk =
            atomic_load_explicit(&rt->chunks[c], memory_order_relaxed);
        for (uint32_t i = 0; chunk && i < CIO__TASK_CHUNK; i++) {
            uint32_t g = CIO__CGEN(atomic_load_explicit(&chunk[i].ctl,
                                                        memory_order_relaxed));
            if (g - floor > top - floor) /* the highest, modulo 2^32 */
                top = g;
        }
    }
    /* Release: pairs with the acquire load in grow_table() of the next
     * runtime (which starts only after this one is unpublished). */
    atomic_store_explicit(&gen_floor, top + 1 ? top + 1 : 1,
                          memory_order_release);
}

void cio__task_table_fini(struct cio__runtime *rt)
{
    uint32_t n = atomic_load_explicit(&rt->nchunks, memory_order_relaxed);
    for (uint32_t c = 0; c < n; c++) {
        struct cio__task *chunk =
            atomic_load_explicit(&rt->chunks[c], memory_order_relaxed);
        for (uint32_t i = 0; chunk && i < CIO__TASK_CHUNK; i++)
            if (cio__side_used(&chunk[i]))
                free(cio__side(&chunk[i])->tls);
        if (chunk)
            munmap(chunk, chunk_bytes());
    }
    free((void *)rt->chunks);
    rt->chunks = NULL;
}

/* ---- figures ------------------------------------------------------------ */

/* A new task: no runs yet, runnable since now. Its run and ready figures
 * are reset at its first run (cio__fig_woken), not here (those of its
 * waits, in the side, by cio__task_create); without timing they are
 * never written and stay 0. Relaxed: the spawn's queueing orders it before the
 * task's first run. */
static void fig_reset(struct cio__worker *w, struct cio__task *t)
{
    uint64_t now = w->timing ? cio__stamp(w) : 0;
    atomic_store_explicit(&t->runs,
                          now ? CIO__RUNS_NEW | (now & CIO__RUNS_STAMP) : 0,
                          memory_order_relaxed);
}

void cio__fig_woken(struct cio__worker *w, struct cio__task *t, uint64_t r,
                    uint64_t now)
{
    struct cio__task_fig *f = cio__fig(t);
    uint64_t woken;
    if (r & CIO__RUNS_NEW) {
        /* Its first run: these still hold a former task's (the side's
         * figures were zeroed by the spawn, cio__task_create). */
        woken = r & CIO__RUNS_STAMP;
        atomic_store_explicit(&f->run, 0, memory_order_relaxed);
        atomic_store_explicit(&f->ready, 0, memory_order_relaxed);
    } else {
        /* Woken (CIO__RUNS_WOKEN): it parked, so its side is in use. */
        struct cio__task_side *side = cio__side(t);
        woken = atomic_load_explicit(&side->woken_at, memory_order_relaxed);
        uint64_t parked = atomic_load_explicit(&side->park_at,
                                               memory_order_relaxed);
        /* A wake stamped with its waker's turn start may seem to come
         * before the park: it came after. */
        if (woken < parked)
            woken = parked;
        if (parked)
            cio__count(&side->blocked, woken - parked);
    }
    if (!now)
        return;
    /* Stamps of different threads, or a stamp placed at the start of a
     * turn (cio__stamp): a wake may seem to come after the run. */
    uint64_t d = now > woken ? now - woken : 0;
    cio__count(&f->ready, d);
    cio__count(&w->c.delay_log2[cio__log2_bucket(d)], 1);
}

/* The stamp of a wake of `t` by the calling thread, whose worker is `w`
 * (NULL: a thread that is not one): a plain thread reads the clock, if
 * the runtime measures time. */
static uint64_t wake_stamp(struct cio__worker *w, struct cio__task *t)
{
    if (w) {
        if (!w->timing)
            return 0;
        /* A running task's wake takes its turn's start (cio__stamp); in
         * the scheduler or the reactor the last mark may be long before
         * (a spin, then a deadline found due), so read the clock. */
        if (!w->exact && atomic_load_explicit(&w->c.phase,
                                              memory_order_relaxed) ==
                             CIO__PH_RUN)
            return cio__stamp(w);
        return cio__os_ticks();
    }
    /* `t->worker` was written before the park's commit, which the waker's
     * winning CAS acquired. */
    return t->worker && t->worker->timing ? cio__os_ticks() : 0;
}

uint32_t cio__task_slots(struct cio__runtime *rt)
{
    /* Acquire: pairs with the table's growth (slot_ptr reads the chunk). */
    return atomic_load_explicit(&rt->nchunks, memory_order_acquire) *
           CIO__TASK_CHUNK;
}

/* The stack `t` holds, read while its worker may be giving it one or
 * taking it back: a glance, not instrumented for TSan (it is a race by
 * design, and harmless: a word is read whole, a stale or mixed answer
 * only makes the residency count of observe/ look at the wrong pages,
 * and the caller checks the task's generation after). */
__attribute__((no_sanitize("thread"))) static void
stack_glance(const struct cio__task *t, struct cio__task_figures *out)
{
    int cls = *(volatile const int16_t *)&t->stack.cls;
    out->stack_lo = (uintptr_t) * (char *volatile const *)&t->stack.lo;
    out->stack_size = cls >= 0 ? cio__stack_class_size(cls) : 0;
    if (cls < 0)
        out->stack_lo = 0;
}

int cio__task_figures_get(struct cio__runtime *rt, uint32_t slot, uint32_t gen,
                          struct cio__task_figures *out)
{
    struct cio__task *t = slot_ptr(rt, slot);
    if (!t)
        return CIO_ESRCH;
    /* Read while the task runs on: the control word is read before and
     * after (acquire, pairing with the releases that free and reuse the
     * slot), and a change of generation between them means the fields
     * may be a new task's. */
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_acquire);
    if (!(c & CIO__C_ALIVE) || (gen && CIO__CGEN(c) != gen))
        return CIO_ESRCH;
    out->handle = (cio_task){((uint64_t)CIO__CGEN(c) << 32) | slot};
    struct cio__task_side *side = cio__side(t);
    out->name = __atomic_load_n(&side->name, __ATOMIC_RELAXED);
    out->worker = atomic_load_explicit(&t->last, memory_order_relaxed);
    out->state = CIO_TASK_READY;
    if (c & CIO__C_DONE) {
        out->state = CIO_TASK_DONE;
    } else {
        for (int i = 0; i < rt->nworkers; i++)
            /* Relaxed: a glance; the owner writes it at each switch. */
            if (atomic_load_explicit(&rt->workers[i].cur,
                                     memory_order_relaxed) == t) {
                out->state = CIO_TASK_RUNNING;
                out->worker = i;
            }
        if (out->state != CIO_TASK_RUNNING &&
            CIO__WSTATE(atomic_load_explicit(
                &t->wait, memory_order_relaxed)) == CIO__W_WAITING)
            out->state = CIO_TASK_WAITING;
    }
    /* Acquire: pairs with the release in cio__fig_run_begins(), so a
     * count without NEW comes with this task's sums, not a former one's. */
    uint64_t runs = atomic_load_explicit(&t->runs, memory_order_acquire);
    /* Relaxed: figures, each a whole value (struct cio__task_fig). */
    struct cio__task_fig *f = cio__fig(t);
    out->wait_kind = atomic_load_explicit(&side->wait_kind,
                                          memory_order_relaxed);
    out->wait_obj = atomic_load_explicit(&side->wait_obj, memory_order_relaxed);
    out->park_at = atomic_load_explicit(&side->park_at, memory_order_relaxed);
    out->run = atomic_load_explicit(&f->run, memory_order_relaxed);
    out->ready = atomic_load_explicit(&f->ready, memory_order_relaxed);
    out->blocked = atomic_load_explicit(&side->blocked, memory_order_relaxed);
    out->runs = runs & ~CIO__RUNS_WOKEN;
    if (runs & CIO__RUNS_NEW) /* not run yet: the sums are a former task's */
        out->runs = out->run = out->ready = out->blocked = 0;
    stack_glance(t, out);
    /* Acquire: orders the reads above before this one (a slot freed and
     * reused meanwhile shows a new generation, or none). */
    atomic_thread_fence(memory_order_acquire);
    uint64_t c2 = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    if (CIO__CGEN(c2) != CIO__CGEN(c) || !(c2 & CIO__C_ALIVE))
        return CIO_ESRCH;
    return 0;
}

/* The saved context's frame (arch/switch_*.S): where the frame pointer
 * and the return address sit above the saved stack pointer. */
#if defined(__x86_64__)
#define CTX_FP 48
#define CTX_PC 56
#elif defined(__aarch64__)
#define CTX_FP 80
#define CTX_PC 88
#endif

/* Follows the frame-pointer chain of a switched-out stack within
 * [lo, hi): every read stays inside the stack, so a chain broken by code
 * built without frame pointers, or a stack that changes meanwhile (the
 * caller then discards the result), ends the walk, never faults. Not
 * instrumented: it reads another task's stack while that task may run. */
__attribute__((no_sanitize("thread"))) __attribute__((no_sanitize("address")))
static int walk_frames(uintptr_t sp, uintptr_t lo, uintptr_t hi,
                       uintptr_t *pcs, int max)
{
#if defined(CTX_FP)
    if (sp < lo || sp > hi - CTX_PC - sizeof(uintptr_t) || sp % 8)
        return 0;
    uintptr_t fp = *(volatile const uintptr_t *)(sp + CTX_FP);
    int n = 0;
    pcs[n++] = *(volatile const uintptr_t *)(sp + CTX_PC);
    while (n < max && fp >= sp && fp <= hi - 2 * sizeof(uintptr_t) &&
           fp % sizeof(uintptr_t) == 0) {
        uintptr_t next = *(volatile const uintptr_t *)fp;
        uintptr_t ret = *(volatile const uintptr_t *)(fp + sizeof(uintptr_t));
        if (!ret)
            break;
        pcs[n++] = ret;
        if (next <= fp)
            break; /* frames only go up the stack */
        fp = next;
    }
    return n;
#else
    (void)sp, (void)lo, (void)hi, (void)pcs, (void)max;
    return 0;
#endif
}

/* `t` is still the task of control word `c` at run count `runs`, not
 * done. */
static bool still(struct cio__task *t, uint64_t c, uint64_t runs)
{
    uint64_t c2 = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    return CIO__CGEN(c2) == CIO__CGEN(c) && !(c2 & CIO__C_DONE) &&
           atomic_load_explicit(&t->runs, memory_order_relaxed) == runs;
}

int cio__task_backtrace(struct cio__runtime *rt, uint32_t slot, uint32_t gen,
                        uintptr_t *pcs, int max)
{
    struct cio__task *t = slot_ptr(rt, slot);
    if (!t)
        return CIO_ESRCH;
    /* As cio__task_figures_get: the generation and the run count read
     * before and after; a task that ran meanwhile (its count moved) may
     * have changed its frames, and the walk is discarded. */
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_acquire);
    /* A compact task whose frames are copied out has nothing to walk. */
    if (!(c & CIO__C_ALIVE) || CIO__CGEN(c) != gen || (c & CIO__C_DONE) ||
        (cio__task_flags(t) & (CIO__T_STARTED | CIO__T_TRIMMED)) !=
            CIO__T_STARTED)
        return 0;
    /* Acquire: pairs with the release in cio__fig_run_begins(). */
    uint64_t runs = atomic_load_explicit(&t->runs, memory_order_acquire);
    for (int i = 0; i < rt->nworkers; i++)
        if (atomic_load_explicit(&rt->workers[i].cur, memory_order_relaxed) ==
            t)
            return 0; /* running: its frames are in a CPU's registers */
    struct cio__task_figures f;
    stack_glance(t, &f);
    uintptr_t sp = (uintptr_t)__atomic_load_n(&t->sp, __ATOMIC_RELAXED);
    /* The stack's bounds are checked to be this task's before they are
     * walked: a slot always holds stacks of one size class at one place
     * (stack.c) and stays mapped while the runtime lives, so bounds read
     * while the task stayed the same (same generation and run count,
     * not done) stay readable even if it ends during the walk. A task
     * caught in the middle of a switch out may show its previous
     * backtrace (its saved stack pointer is written last). */
    atomic_thread_fence(memory_order_acquire);
    if (!f.stack_lo)
        return 0;
    if (!still(t, c, runs))
        return CIO_EAGAIN;
    int n = walk_frames(sp, f.stack_lo, f.stack_lo + f.stack_size, pcs, max);
    /* Acquire: orders the walk's reads before the checks. */
    atomic_thread_fence(memory_order_acquire);
    return still(t, c, runs) ? n : CIO_EAGAIN;
}

/* ---- wait / wake -------------------------------------------------------- */

uint64_t cio__wait_begin(struct cio__task *t)
{
    /* The waker that wins this wait writes the wake's time into the
     * side (cio__wake_queued): the side must be in use by then. Every
     * waiting call says what it waits on first, which does this, but
     * nothing else would make it so. */
    (void)cio__side_w(t);
    uint64_t seq =
        CIO__WSEQ(atomic_load_explicit(&t->wait, memory_order_relaxed)) + 1;
    /* seq_cst: pairs with the seq_cst read-modify-write of the control
     * word in cio__task_cancel(). This store comes before cio__park()'s
     * load of the control word; the cancel's flag comes before its load
     * of this word; so either the canceller sees this seq and wakes it,
     * or cio__park() sees the flag (store buffering, both sides seq_cst). */
    atomic_store_explicit(&t->wait, CIO__WORD(seq, 0, CIO__W_RUNNING),
                          memory_order_seq_cst);
    return seq;
}

int cio__park(struct cio__task *t, int64_t deadline)
{
    /* Pairs with cio__task_cancel() (see cio__wait_begin). */
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_seq_cst);
    if ((c & (CIO__C_CANCELLED | CIO__C_SHIELDED)) == CIO__C_CANCELLED)
        return CIO__WAKE_CANCEL;
    deadline = cio__shield_cap(t, deadline);
    bool timed = deadline != CIO_NEVER;
    if (timed) {
        /* The coarse clock answers "surely ahead" for most deadlines; the
         * precise one is read only near the deadline. */
        int64_t now = cio__os_now_coarse();
        if (deadline <= now + cio__os_coarse_res()) {
            now = cio__os_now();
            if (deadline <= now)
                return CIO__WAKE_TIMEOUT;
        }
        struct cio__timer *tm = &cio__side_w(t)->timer;
        /* The entry names its slot's descriptor, so it is written once,
         * at the slot's first timed wait: an entry kept armed in a heap
         * (timer.c) is read by the worker firing it meanwhile. */
        if (!tm->task)
            tm->task = t;
        int rc = cio__timer_wait(
            t->worker, tm, deadline, now,
            CIO__WSEQ(atomic_load_explicit(&t->wait, memory_order_relaxed)));
        if (rc < 0)
            return rc;
    }
    cio__sched_park(t);
    int reason = CIO__WREASON(atomic_load_explicit(&t->wait,
                                                   memory_order_acquire));
    /* The entry stays armed for the next wait (see struct cio__timer),
     * unless the task now runs on another worker, whose waits cannot
     * reuse it; a stale expiry finds an old wait seq and wakes nobody. */
    struct cio__timer *tm = &cio__side(t)->timer;
    if (timed && atomic_load_explicit(&tm->heap, memory_order_relaxed) !=
                     t->worker)
        cio__timer_disarm(tm);
    return reason;
}

int cio__park_uncancellable(struct cio__task *t)
{
    cio__sched_park(t);
    return CIO__WREASON(atomic_load_explicit(&t->wait, memory_order_acquire));
}

bool cio__wake(struct cio__task *t, uint64_t seq, int reason)
{
    return cio__wake_queued(t, seq, reason, reason == CIO__WAKE_OK);
}

bool cio__wake_queued(struct cio__task *t, uint64_t seq, int reason,
                      bool lifo)
{
    /* Relaxed: only a compare-and-swap below acts on what this reads. */
    uint64_t w = atomic_load_explicit(&t->wait, memory_order_relaxed);
    /* Relaxed: a trace starting or ending meanwhile may miss this wake. */
    bool traced = atomic_load_explicit(&cio__tracing, memory_order_relaxed);
    struct cio__wake_note note;
    for (;;) {
        if (CIO__WSEQ(w) != seq)
            return false;
        /* A traced wake is noted before the CAS that may let the task
         * run again at once (NOTIFIED): its stamp and run count are then
         * surely those from before that run, which the CAS confirms. */
        if (traced && (CIO__WSTATE(w) == CIO__W_WAITING ||
                       CIO__WSTATE(w) == CIO__W_RUNNING))
            cio__trace_wake_note(t, &note);
        switch (CIO__WSTATE(w)) {
        case CIO__W_WAITING:
            /* acq_rel: acquire pairs with the scheduler's release commit
             * of the park (commit_park), so the task's saved context is
             * seen by whoever this queues it for; release pairs with the
             * task's acquire load of the reason after it resumes, so what
             * the waker wrote for it (a result, ready bits) is seen. */
            if (atomic_compare_exchange_weak_explicit(
                    &t->wait, &w, CIO__WORD(seq, reason, CIO__W_READY),
                    memory_order_acq_rel, memory_order_relaxed)) {
                struct cio__worker *waker = cio__current_worker();
                if (traced)
                    cio__trace_wake(waker, reason, &note);
                /* Relaxed: the queueing below orders it before the run
                 * that reads it (struct cio__task_fig). */
                uint64_t stamp = wake_stamp(waker, t);
                if (stamp) {
                    /* The side is in use: the task parked (switch.c). */
                    atomic_store_explicit(&cio__side(t)->woken_at, stamp,
                                          memory_order_relaxed);
                    /* The task is parked: no one else writes `runs`. */
                    atomic_store_explicit(
                        &t->runs,
                        atomic_load_explicit(&t->runs, memory_order_relaxed) |
                            CIO__RUNS_WOKEN,
                        memory_order_relaxed);
                }
                cio__sched_ready(waker, t, lifo);
                return true;
            }
            break;
        case CIO__W_RUNNING:
            /* Still switching out: the scheduler's commit will see this
             * and resume the task instead of parking it. */
            /* Release: pairs with the acquire in commit_park()'s failed
             * CAS and the task's load of the reason. */
            if (atomic_compare_exchange_weak_explicit(
                    &t->wait, &w, CIO__WORD(seq, reason, CIO__W_NOTIFIED),
                    memory_order_release, memory_order_relaxed)) {
                if (traced)
                    cio__trace_wake(cio__current_worker(), reason, &note);
                return true;
            }
            break;
        default:
            return false; /* another wake already won */
        }
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Zeroes a side a former task of the slot wrote. Field by field, since
 * observers on other threads read some of them (atomics) meanwhile. */
static void side_clear(struct cio__task_side *s)
{
    __atomic_store_n(&s->name, NULL, __ATOMIC_RELAXED);
    s->start_err = 0;
    s->tls = NULL;
    s->held = NULL;
    s->cx = NULL;
    s->shield_depth = 0;
    s->shield_deadline = 0;
    atomic_store_explicit(&s->blocked, 0, memory_order_relaxed);
    atomic_store_explicit(&s->park_at, 0, memory_order_relaxed);
    atomic_store_explicit(&s->woken_at, 0, memory_order_relaxed);
    atomic_store_explicit(&s->wait_obj, 0, memory_order_relaxed);
    atomic_store_explicit(&s->wait_kind, 0, memory_order_relaxed);
}

int cio__task_create(struct cio__worker *w, struct cio__task **out,
                     cio_task_fn *fn, void *arg, const cio_spawn_opts *o)
{
    struct cio__runtime *rt = w->rt;
    /* The default's class was found once, at the start (runtime.c). */
    int cls = o && o->stack_size ? cio__stack_class(o->stack_size)
                                 : rt->stack_cls;
    unsigned flags = o ? o->flags : 0;
    if (!fn ||
        (flags & ~(unsigned)(CIO_SPAWN_MIGRATE | CIO_SPAWN_PIN |
                             CIO_SPAWN_COMPACT)) ||
        ((flags & CIO_SPAWN_COMPACT) && (flags & CIO_SPAWN_MIGRATE)))
        return CIO_EINVAL;
    if (cls < 0)
        return CIO_EINVAL;
    if ((flags & CIO_SPAWN_PIN) && (o->worker < 0 || o->worker >= rt->nworkers))
        return CIO_EINVAL;

    struct cio__task *t;
    int rc = cio__task_alloc(w, &t);
    if (rc < 0)
        return rc;
    uint32_t tf = flags & CIO_SPAWN_MIGRATE ? CIO__T_MIGRATE : 0;
    if (flags & CIO_SPAWN_COMPACT)
        tf |= CIO__T_COMPACT;
    t->home = -1;
    if (flags & CIO_SPAWN_PIN) {
        tf |= CIO__T_PIN;
        t->home = (int16_t)o->worker;
    }
    if (cio__side_used(t)) {
        /* A former task wrote the side: back to zeros (struct
         * cio__task_side). Its timer was disarmed when it ended, its
         * task-local values, held list and compact side given back. */
        tf |= CIO__T_SIDE;
        side_clear(cio__side(t));
    }
    atomic_store_explicit(&t->flags, tf, memory_order_relaxed);
    atomic_store_explicit(&t->last, -1, memory_order_relaxed);
    fig_reset(w, t);
    t->fn = fn;
    t->arg = arg;
    t->stack_req = (size_t)cls;
    t->saved_errno = 0;
    t->stack.cls = -1;
    atomic_store_explicit(&t->joiner, NULL, memory_order_relaxed);
    if (o && o->name)
        /* Atomic: cio_task_name() and the figures read it from any
         * thread, racing with a reuse of the slot (they check the
         * generation after). */
        __atomic_store_n(&cio__side_w(t)->name, o->name, __ATOMIC_RELAXED);
    cio__count(&w->c.spawned, 1);
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    /* seq_cst store, then seq_cst load: pairs with main's end, which
     * stores `shutdown` and then scans for ALIVE tasks (seq_cst), so
     * either that scan cancels this task or this load sees the flag. */
    atomic_store_explicit(&t->ctl, c | CIO__C_ALIVE, memory_order_seq_cst);
    if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst))
        atomic_fetch_or_explicit(&t->ctl, CIO__C_CANCELLED,
                                 memory_order_seq_cst);
    *out = t;
    return 0;
}

#ifdef CIO_TESTING
void (*cio__test_finish_window)(struct cio__task *t);
#endif

void cio__task_finish(struct cio__worker *w, struct cio__task *t)
{
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_acquire);
    struct cio__task *joiner;
    uint64_t jseq;
    do {
        /* Read the joiner before DONE is set: once it is, the joiner may
         * stop waiting, free this task and its slot may be reused. */
        joiner = NULL;
        jseq = 0;
        if (c & CIO__C_JOINWAIT) {
            /* Relaxed: the acquire of `c` (JOINWAIT set by the joiner's
             * CAS after it stored these) orders them; a joiner that gave
             * up and a new one may rewrite them meanwhile, and then the
             * CAS below fails (the new registration changed the join
             * count, task.h) and they are read again. */
            joiner = atomic_load_explicit(&t->joiner, memory_order_relaxed);
            jseq = atomic_load_explicit(&t->joiner_seq, memory_order_relaxed);
        }
#ifdef CIO_TESTING
        if (cio__test_finish_window)
            cio__test_finish_window(t);
#endif
        /* acq_rel: release publishes the result to the joiner's acquire
         * of DONE; acquire (also on failure) pairs with the joiner's
         * release CAS of JOINWAIT, after its joiner fields. */
    } while (!atomic_compare_exchange_weak_explicit(
        &t->ctl, &c, c | CIO__C_DONE, memory_order_acq_rel,
        memory_order_acquire));
    if (c & CIO__C_DETACHED)
        cio__task_free(w, t);
    else if (joiner)
        /* To the back of the queue, not the LIFO slot: a joiner that
         * resumed at once would mostly find its next task not run yet and
         * park again; behind the tasks already queued it finds them done
         * (Tokio's current-thread scheduler behaves the same). */
        cio__wake_queued(joiner, jseq, CIO__WAKE_OK, false);
}

int cio__task_cancel(struct cio__task *t, uint32_t gen)
{
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    /* seq_cst, then the seq_cst load of the wait word: pairs with
     * cio__wait_begin() and cio__park() (see there). */
    do {
        if (CIO__CGEN(c) != gen || !(c & CIO__C_ALIVE))
            return CIO_ESRCH;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->ctl, &c, c | CIO__C_CANCELLED, memory_order_seq_cst,
        memory_order_relaxed));
    uint64_t w = atomic_load_explicit(&t->wait, memory_order_seq_cst);
    /* The word read above belongs to this task only if the generation has
     * not moved since; otherwise the task is gone and there is no one to
     * wake (and waking the slot's next task would be wrong). A new owner's
     * word is stored after the free's release of the new generation, so
     * having read it, this load sees that generation.
     * A shielded task is not woken. seq_cst: pairs with the task's seq_cst
     * set of SHIELDED (cio__shield_enter) before its next wait_begin: if
     * this load does not see the flag, the wait word read above was read
     * before the shield began, so its seq belongs to a wait that is not
     * shielded (or is over, and the wake is stale). */
    c = atomic_load_explicit(&t->ctl, memory_order_seq_cst);
    if (CIO__CGEN(c) == gen && !(c & CIO__C_SHIELDED))
        cio__wake(t, CIO__WSEQ(w), CIO__WAKE_CANCEL);
    return 0;
}

void cio__task_cancel_all(struct cio__runtime *rt)
{
    /* seq_cst: pairs with grow_table() (see there). */
    uint32_t n = atomic_load_explicit(&rt->nchunks, memory_order_seq_cst);
    for (uint32_t ch = 0; ch < n; ch++) {
        /* Acquire: pairs with grow_table()'s release of the chunk. */
        struct cio__task *chunk =
            atomic_load_explicit(&rt->chunks[ch], memory_order_acquire);
        for (uint32_t i = 0; i < CIO__TASK_CHUNK; i++) {
            struct cio__task *t = &chunk[i];
            /* seq_cst: pairs with cio__task_create() (see there). */
            uint64_t c = atomic_load_explicit(&t->ctl, memory_order_seq_cst);
            if ((c & CIO__C_ALIVE) && !(c & (CIO__C_DONE | CIO__C_CANCELLED)))
                cio__task_cancel(t, CIO__CGEN(c));
        }
    }
}

/* ---- public API --------------------------------------------------------- */

void cio_spawn_opts_init(cio_spawn_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int cio_spawn(cio_task *out, cio_task_fn *fn, void *arg,
              const cio_spawn_opts *opts)
{
    if (out)
        out->id = 0;
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    struct cio__worker *w = self->worker;
    struct cio__task *t;
    int rc = cio__task_create(w, &t, fn, arg, opts);
    if (rc < 0)
        return rc;
    if (w->lane)
        cio__trace_spawn(w, self, t);
    if (out)
        *out = cio__task_handle(t);
    else /* relaxed: not yet queued, the queue push publishes it */
        atomic_fetch_or_explicit(&t->ctl, CIO__C_DETACHED,
                                 memory_order_relaxed);
    cio__sched_spawned(w, t);
    return 0;
}

/* Waits for `t`, whose join the caller has claimed; `c` is the control word
 * after the claim. Returns 0 when `t` is done, or the reason it is not. */
static int join_wait(struct cio__task *self, struct cio__task *t, uint64_t c,
                     int64_t deadline)
{
    if (c & CIO__C_DONE)
        return 0; /* the common case when joining late: no wait at all */
    /* A join that would end at once (cancelled, deadline passed) gives
     * the claim back without registering: registrations are counted in
     * the control word (mod 2^24, task.h), and a loop of such joins could
     * otherwise wrap the count within one finishing task's window. */
    int reason = -1;
    if (cio__cancel_pending(self))
        reason = CIO__WAKE_CANCEL;
    else if (deadline != CIO_NEVER && deadline <= cio__os_now())
        reason = CIO__WAKE_TIMEOUT;
    if (reason >= 0)
        goto give_back;
    cio__wait_on(self, CIO_WAIT_JOIN, (uintptr_t)cio__task_handle(t).id);
    uint64_t seq = cio__wait_begin(self);
    /* Relaxed: published by the CAS that sets JOINWAIT below. */
    atomic_store_explicit(&t->joiner, self, memory_order_relaxed);
    atomic_store_explicit(&t->joiner_seq, seq, memory_order_relaxed);
    do {
        if (c & CIO__C_DONE)
            return 0;
        /* acq_rel: release publishes the joiner fields to the finishing
         * task's acquire; acquire (also on failure) sees DONE's result. */
    } while (!atomic_compare_exchange_weak_explicit(
        &t->ctl, &c, cio__ctl_join_registered(c), memory_order_acq_rel,
        memory_order_acquire));
    reason = cio__park(self, deadline);
    if (reason == CIO__WAKE_OK)
        return 0;
give_back:
    /* Timed out, cancelled or out of memory: give the join back, unless
     * the task finished meanwhile, in which case the join completes
     * (acquire: pairs with the release of DONE, for the result). */
    c = atomic_load_explicit(&t->ctl, memory_order_acquire);
    do {
        if (c & CIO__C_DONE)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->ctl, &c, c & ~(uint64_t)(CIO__C_CLAIMED | CIO__C_JOINWAIT),
        memory_order_acq_rel, memory_order_acquire));
    return cio__wait_error(reason);
}

int cio_join(cio_task h, void **result, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    struct cio__task *t = cio__task_lookup(self->worker->rt, h);
    if (!t)
        return CIO_ESRCH;
    if (t == self)
        return CIO_EDEADLK;
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    /* acq_rel: acquire pairs with the release of DONE (the result may be
     * read at once); release orders the claim before the joiner fields. */
    do {
        if (CIO__CGEN(c) != (uint32_t)(h.id >> 32) || !(c & CIO__C_ALIVE))
            return CIO_ESRCH;
        if (c & (CIO__C_DETACHED | CIO__C_CLAIMED))
            return CIO_EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->ctl, &c, c | CIO__C_CLAIMED, memory_order_acq_rel,
        memory_order_relaxed));
    c |= CIO__C_CLAIMED;
    int rc = join_wait(self, t, c, deadline);
    if (rc < 0)
        return rc;
    if (result)
        *result = t->result;
    rc = cio__side_used(t) ? cio__side(t)->start_err : 0;
    cio__task_free(self->worker, t);
    return rc;
}

int cio_detach(cio_task h)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    struct cio__task *t = cio__task_lookup(self->worker->rt, h);
    if (!t)
        return CIO_ESRCH;
    uint64_t c = atomic_load_explicit(&t->ctl, memory_order_relaxed);
    /* acq_rel: pairs with the finishing task's CAS of DONE, so exactly one
     * of the two sees the other's flag and frees the task. */
    do {
        if (CIO__CGEN(c) != (uint32_t)(h.id >> 32) || !(c & CIO__C_ALIVE))
            return CIO_ESRCH;
        if (c & (CIO__C_DETACHED | CIO__C_CLAIMED))
            return CIO_EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->ctl, &c, c | CIO__C_DETACHED, memory_order_acq_rel,
        memory_order_relaxed));
    if (c & CIO__C_DONE)
        cio__task_free(self->worker, t);
    return 0;
}

int cio_cancel(cio_task h)
{
    struct cio__worker *w = cio__current_worker();
    if (!w)
        return CIO_EPERM;
    struct cio__task *t = cio__task_lookup(w->rt, h);
    if (!t)
        return CIO_ESRCH;
    return cio__task_cancel(t, (uint32_t)(h.id >> 32));
}

cio_task cio_self(void)
{
    struct cio__task *self = cio__task_current();
    return self ? cio__task_handle(self) : (cio_task){0};
}

int cio_cancelled(void)
{
    struct cio__task *self = cio__task_current();
    /* Relaxed: a cancel is a request; seeing it a little late is fine. */
    return self && (atomic_load_explicit(&self->ctl, memory_order_relaxed) &
                    CIO__C_CANCELLED)
               ? 1
               : 0;
}

int cio_yield(void)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    cio__sched_yield(self);
    return cio__cancel_pending(self) ? CIO_ECANCELED : 0;
}

int cio_sleep_until(int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (cio__cancel_pending(self))
        return CIO_ECANCELED;
    for (;;) {
        cio__wait_on(self, CIO_WAIT_TIMER, 0);
        cio__wait_begin(self);
        /* Nothing writes into a sleeper's stack (compact.c). */
        bool compact = cio__task_flags(self) & CIO__T_COMPACT;
        if (compact)
            cio__compact_allow(self, true);
        int reason = cio__park(self, deadline);
        if (compact)
            cio__compact_allow(self, false);
        if (reason == CIO__WAKE_CANCEL)
            return CIO_ECANCELED;
        if (reason < 0)
            return reason;
        /* A timeout before `deadline` is a shield's deadline (cio__park
         * caps waits with it): the sleep did not complete. */
        if (reason == CIO__WAKE_TIMEOUT)
            return deadline != CIO_NEVER && cio__os_now() >= deadline
                       ? 0
                       : CIO_ETIMEDOUT;
    }
}

/* ---- shields and what a task holds -------------------------------------- */

void cio__shield_enter(struct cio__task *t, int64_t deadline,
                       struct cio__shield_save *save)
{
    struct cio__task_side *side = cio__side_w(t);
    save->deadline = side->shield_deadline;
    side->shield_deadline = deadline;
    if (side->shield_depth++ == 0)
        /* seq_cst: pairs with cio__task_cancel()'s load of the control
         * word after it read the wait word (see there); comes before this
         * task's next cio__wait_begin(). */
        atomic_fetch_or_explicit(&t->ctl, CIO__C_SHIELDED,
                                 memory_order_seq_cst);
}

void cio__shield_leave(struct cio__task *t,
                       const struct cio__shield_save *save)
{
    struct cio__task_side *side = cio__side(t);
    side->shield_deadline = save->deadline;
    if (--side->shield_depth == 0)
        /* seq_cst: a cancel that came while shielded did not wake this
         * task; the next cio__park()'s seq_cst load sees its flag now. */
        atomic_fetch_and_explicit(&t->ctl, ~(uint64_t)CIO__C_SHIELDED,
                                  memory_order_seq_cst);
}

int cio_shield_begin(cio_shield *s, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (!s)
        return CIO_EINVAL;
    struct cio__shield_save save;
    cio__shield_enter(self, cio__shield_cap(self, deadline), &save);
    s->saved = save.deadline;
    s->depth = cio__side(self)->shield_depth;
    return 0;
}

int cio_shield_end(cio_shield *s)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    /* Shields end innermost first: any other order is a misuse that
     * would leave a scope without its deadline. */
    if (!s || s->depth != cio__side(self)->shield_depth || s->depth <= 0)
        return CIO_EINVAL;
    struct cio__shield_save save = {.deadline = s->saved};
    cio__shield_leave(self, &save);
    s->depth = 0;
    return 0;
}

void cio__held_abandon_all(struct cio__task *t)
{
    if (!cio__side_used(t))
        return; /* never held anything */
    struct cio__held *h;
    while ((h = cio__side(t)->held)) {
        cio__held_remove(t, h);
        h->abandon(h);
    }
}

const char *cio_task_name(cio_task h)
{
    bool pinned;
    struct cio__runtime *rt = cio__rt_enter(&pinned);
    struct cio__task *t = cio__task_lookup(rt, h);
    const char *name =
        t ? __atomic_load_n(&cio__side(t)->name, __ATOMIC_RELAXED) : NULL;
    if (t && !name)
        name = "task";
    cio__rt_leave(rt, pinned);
    return name;
}

int64_t cio_now(void)
{
    return cio__os_now();
}

int64_t cio_deadline_after(int64_t ns)
{
    /* The precise clock: the coarse one can lag by more than its
     * resolution (a CPU back from idle updates it late), which would make
     * the deadline early (test_time's deadline_after_never_early). */
    int64_t now = cio__os_now();
    if (ns > 0 && now > CIO_NEVER - ns)
        return CIO_NEVER;
    return now + ns;
}
