/* Task stacks.
 *
 * A million tasks must fit under the default vm.max_map_count (65530), so a
 * stack cannot be a mapping of its own, and a guard page made with mprotect
 * would split the mapping in two. Stacks are therefore slots carved from
 * large chunks of address space (CIO__STACK_CHUNK each, MAP_NORESERVE: only
 * touched pages cost memory), one size class per power of two from the page
 * size. Smaller requests are rounded up: two stacks sharing a page cannot
 * have a guard between them, and a frame that skipped a canary then wrote
 * into the neighbour's live frames, unreported.
 *
 * Every slot starts with a guard page, and overflow is caught two ways:
 *   - Where the kernel has guard regions (MADV_GUARD_INSTALL, Linux 6.13),
 *     touching the guard faults without it being a VMA of its own; the
 *     SIGSEGV handler names the task. Elsewhere (older kernels, qemu-user)
 *     the page is an untouched gap that keeps an overrun of up to a page
 *     off the neighbouring stack.
 *   - Each switch out of a task checks the stack pointer's distance to the
 *     end. Without working guard regions, stacks also start with a canary
 *     that the switch checks.
 *
 * Freed stacks go to a per-worker cache (no lock, still hot in cache), which
 * spills to and refills from the shared arena in batches.
 *
 * When the number of tasks falls, the arena's free stacks beyond a reserve
 * (a floor plus as many as are in use) give their pages back to the system
 * with MADV_DONTNEED. A spill that leaves too many notes it; a worker with
 * nothing to run releases a batch at a time before it sleeps, looking for
 * work between batches, so the system calls cost no task any time. Only
 * when no worker has been idle for CIO__STACK_RELEASE_DELAY does a spill
 * release a batch itself (still where tasks end, never where they start).
 * The address space stays reserved, so the mapping count does not change
 * and a later wave reuses the same slots; guard regions survive
 * MADV_DONTNEED.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/runtime.h"
#include "core/stack.h"
#include "os/os.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define CANARY_WORD 0x5aa5c10ccafe0ddfULL

struct chunk {
    struct chunk *next;   /* all chunks, for unmapping */
    void *base;           /* mapping start */
    size_t len;           /* mapping length */
};

/* Freed slots are kept in arrays, not linked through the slots: a link
 * written into a stack's lowest page would make that page resident, and a
 * million idle stacks would cost twice the memory. */
struct class_arena {
    char *bump;           /* next uncarved slot */
    char *bump_end;       /* end of the current chunk */
    char **free;          /* freed slots whose pages may be resident */
    size_t nfree;         /* slots in free */
    size_t cap;           /* room in free */
    char **clean;         /* freed slots whose pages went back */
    size_t nclean;        /* slots in clean */
    size_t ccap;          /* room in clean */
    size_t carved;        /* slots carved in all */
    size_t releasing;     /* slots out of both arrays, being released */
};

struct cio__stack_arena {
    struct class_arena cls[CIO__STACK_CLASSES];
    struct chunk *chunks;
    size_t mapped;        /* bytes of address space reserved */
    int guard;            /* 1: guard regions work, 0: not, -1: untested */
    bool no_release;      /* MADV_DONTNEED failed (locked memory): stop */
    unsigned due;         /* classes with stacks to release, a bit each */
    int64_t due_since;    /* when `due` last became non-zero */
};

int cio__stack_class(size_t size)
{
    if (size < CIO_STACK_MIN || size > CIO_STACK_MAX)
        return -1;
    int cls = 0;
    while (cio__stack_class_size(cls) < size)
        cls++;
    return cls < CIO__STACK_CLASSES ? cls : -1;
}

size_t cio__stack_class_size(int cls)
{
    return cio__os_page() << cls;
}

/* Bytes below the usable stack reserved as guard. */
static size_t guard_size(void)
{
    return cio__os_page();
}

static size_t slot_size(int cls)
{
    return cio__stack_class_size(cls) + guard_size();
}

static struct cio__stack_arena *arena_get(struct cio__runtime *rt)
{
    if (!rt->arena) {
        rt->arena = calloc(1, sizeof *rt->arena);
        if (rt->arena)
            rt->arena->guard = -1;
    }
    return rt->arena;
}

/* Whether touching `p` faults. The kernel copies from `p` into a pipe and
 * reports EFAULT instead of crashing us. An emulator (qemu-user) may accept
 * MADV_GUARD_INSTALL and do nothing, so success alone proves nothing. */
static bool faults(const void *p)
{
    int fds[2];
    if (pipe(fds) < 0)
        return false;
    bool f = write(fds[1], p, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return f;
}

static void guard_install(struct cio__stack_arena *a, char *slot)
{
    if (a->guard == 0)
        return;
    int rc = cio__os.madvise(slot, guard_size(), MADV_GUARD_INSTALL);
    if (a->guard < 0)
        a->guard = rc == 0 && faults(slot);
}

/* Carves one new slot; the arena lock is held. */
static char *carve(struct cio__stack_arena *a, int cls)
{
    struct class_arena *c = &a->cls[cls];
    size_t slot = slot_size(cls);
    if (!c->bump || c->bump + slot > c->bump_end) {
        size_t len = CIO__STACK_CHUNK;
        if (len < slot * 4)
            len = slot * 4;
        struct chunk *ch = malloc(sizeof *ch);
        if (!ch)
            return NULL;
        void *p = cio__os.mmap(NULL, len, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                                   MAP_STACK,
                               -1, 0);
        if (p == MAP_FAILED) {
            free(ch);
            return NULL;
        }
        ch->base = p;
        ch->len = len;
        ch->next = a->chunks;
        a->chunks = ch;
        a->mapped += len;
        c->bump = p;
        c->bump_end = (char *)p + len;
    }
    char *s = c->bump;
    c->bump += slot;
    c->carved++;
    guard_install(a, s);
    return s + guard_size();
}

/* Moves up to `want` stacks from the arena into the worker's cache. */
static int refill(struct cio__worker *w, int cls, int want)
{
    struct cio__runtime *rt = w->rt;
    struct cio__stack_cache *cache = &w->stacks[cls];
    int got = 0;
    pthread_mutex_lock(&rt->stack_lock);
    struct cio__stack_arena *a = arena_get(rt);
    if (!a) {
        pthread_mutex_unlock(&rt->stack_lock);
        return CIO_ENOMEM;
    }
    struct class_arena *c = &a->cls[cls];
    while (got < want && cache->n < cache->max) {
        char *lo;
        /* Resident stacks first: a released one costs page faults again. */
        if (c->nfree) {
            lo = c->free[--c->nfree];
        } else if (c->nclean) {
            lo = c->clean[--c->nclean];
        } else if (!(lo = carve(a, cls))) {
            break;
        }
        /* Where a guard page protects the stack, no canary is written: it
         * would touch the stack's lowest page, doubling the memory of an
         * idle task whose frames all sit in the top page. */
        bool guarded = a->guard == 1;
        cache->v[cache->n++] = (struct cio__stack){
            .lo = lo, .size = (uint32_t)cio__stack_class_size(cls),
            .cls = (int16_t)cls,
            .canary = !guarded};
        got++;
    }
    cio__count(&w->c.stacks_cached, (uint64_t)got);
    pthread_mutex_unlock(&rt->stack_lock);
    return got ? 0 : CIO_ENOMEM;
}

/* Makes room for `n` slots in the array *v of capacity *cap. */
static bool room(char ***v, size_t *cap, size_t n)
{
    if (n <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 256;
    while (c < n)
        c *= 2;
    char **nv = realloc(*v, c * sizeof *nv);
    if (!nv)
        return false;
    *v = nv;
    *cap = c;
    return true;
}

/* Free stacks of a class that keep their memory: a floor, plus as many
 * as there are stacks in use (by tasks or in worker caches), so a task
 * count that dips and comes back does not pay its page faults again. */
static size_t keep(const struct class_arena *c, int cls)
{
    size_t in_use = c->carved - c->nfree - c->nclean - c->releasing;
    return CIO__STACK_RESERVE_BYTES / cio__stack_class_size(cls) +
           in_use * CIO__STACK_RESERVE_LIVE;
}

/* Records whether class `cls` holds enough free stacks beyond its reserve
 * for a release to be worth a system call; the arena lock is held. After
 * shutdown nothing is due: the chunks are unmapped soon anyway. */
static void note_due(struct cio__runtime *rt, int cls)
{
    struct cio__stack_arena *a = rt->arena;
    const struct class_arena *c = &a->cls[cls];
    bool due = !a->no_release &&
               c->nfree >= keep(c, cls) + CIO__STACK_RELEASE / 4 + 1 &&
               !atomic_load_explicit(&rt->shutdown, memory_order_relaxed);
    unsigned was = a->due;
    if (due)
        a->due |= 1u << cls;
    else
        a->due &= ~(1u << cls);
    if (!was && a->due)
        a->due_since = cio__os_now_coarse();
    if (!was != !a->due)
        atomic_store_explicit(&rt->stack_release_due, a->due != 0,
                              memory_order_relaxed);
}

/* Moves `count` stacks from the worker's cache to the arena; true when
 * the arena has had more free stacks than it should keep for so long that
 * the caller should release some itself. */
static bool spill(struct cio__worker *w, int cls, int count)
{
    struct cio__runtime *rt = w->rt;
    struct cio__stack_cache *cache = &w->stacks[cls];
    if (count > cache->n)
        count = cache->n;
    pthread_mutex_lock(&rt->stack_lock);
    struct class_arena *c = &rt->arena->cls[cls];
    if (!room(&c->free, &c->cap, c->nfree + (size_t)count)) {
        /* Keep them cached; the cache may exceed its bound for now. */
        pthread_mutex_unlock(&rt->stack_lock);
        return false;
    }
    while (count-- > 0) {
        c->free[c->nfree++] = cache->v[--cache->n].lo;
        cio__count(&w->c.stacks_cached, (uint64_t)-1);
    }
    note_due(rt, cls);
    bool overdue = (rt->arena->due & (1u << cls)) &&
                   cio__os_now_coarse() - rt->arena->due_since >
                       CIO__STACK_RELEASE_DELAY;
    pthread_mutex_unlock(&rt->stack_lock);
    return overdue;
}

static int by_address(const void *x, const void *y)
{
    const char *a = *(char *const *)x, *b = *(char *const *)y;
    return (a > b) - (a < b);
}

/* Gives the pages of up to CIO__STACK_RELEASE free stacks beyond the
 * reserve, and at most CIO__STACK_RELEASE_BYTES of them (one stack at
 * least), back to the system: an idle worker doing this does not see its
 * inbox or its deadlines until the batch is done. The slots leave the
 * arena meanwhile, so the system calls run without the lock. Which free
 * stacks go makes no difference to memory; the most recently freed are
 * taken because that end of the array shrinks without moving the rest. */
static void release(struct cio__runtime *rt, int cls)
{
    char *batch[CIO__STACK_RELEASE];
    size_t n = 0;
    pthread_mutex_lock(&rt->stack_lock);
    struct cio__stack_arena *a = rt->arena;
    struct class_arena *c = &a->cls[cls];
    size_t k = keep(c, cls);
    if (a->due & (1u << cls) && c->nfree > k) {
        n = c->nfree - k;
        size_t most = CIO__STACK_RELEASE_BYTES / slot_size(cls);
        if (most > CIO__STACK_RELEASE)
            most = CIO__STACK_RELEASE;
        if (n > most)
            n = most ? most : 1;
        /* Room for every slot in flight, so putting them back cannot
         * fail. */
        if (room(&c->clean, &c->ccap, c->nclean + c->releasing + n)) {
            c->nfree -= n;
            memcpy(batch, c->free + c->nfree, n * sizeof *batch);
            c->releasing += n;
        } else {
            n = 0;
        }
    }
    if (!n) {
        /* Nothing can be done now: do not keep idle workers trying. */
        a->due &= ~(1u << cls);
        if (!a->due)
            atomic_store_explicit(&rt->stack_release_due, false,
                                  memory_order_relaxed);
        pthread_mutex_unlock(&rt->stack_lock);
        return;
    }
    pthread_mutex_unlock(&rt->stack_lock);

    /* Neighbouring slots go in one call, guard pages and all. */
    qsort(batch, n, sizeof *batch, by_address);
    size_t slot = slot_size(cls), g = guard_size(), done = 0;
    while (done < n) {
        size_t end = done + 1;
        while (end < n && batch[end] == batch[end - 1] + slot)
            end++;
        if (cio__os.madvise(batch[done] - g, (end - done) * slot,
                            MADV_DONTNEED) < 0)
            break;
        done = end;
    }

    pthread_mutex_lock(&rt->stack_lock);
    memcpy(c->clean + c->nclean, batch, done * sizeof *batch);
    c->nclean += done;
    c->releasing -= n;
    if (done < n) {
        a->no_release = true;
        /* Back among the resident ones; should that fail, the slots stay
         * out of use (their address space is freed with the runtime). */
        if (room(&c->free, &c->cap, c->nfree + (n - done))) {
            memcpy(c->free + c->nfree, batch + done,
                   (n - done) * sizeof *batch);
            c->nfree += n - done;
        } else {
            c->carved -= n - done;
        }
    }
    note_due(rt, cls);
    pthread_mutex_unlock(&rt->stack_lock);
}

bool cio__stack_release_idle(struct cio__runtime *rt)
{
    if (!atomic_load_explicit(&rt->stack_release_due, memory_order_relaxed))
        return false;
    pthread_mutex_lock(&rt->stack_lock);
    unsigned due = rt->arena ? rt->arena->due : 0;
    pthread_mutex_unlock(&rt->stack_lock);
    if (!due)
        return false;
    release(rt, __builtin_ctz(due));
    return true;
}

int cio__stack_get(struct cio__worker *w, int cls, struct cio__stack *out)
{
    struct cio__stack_cache *cache = &w->stacks[cls];
    if (cache->n == 0) {
        int rc = refill(w, cls, CIO__STACK_BATCH);
        if (rc < 0)
            return rc;
    }
    *out = cache->v[--cache->n];
    cio__count(&w->c.stacks_cached, (uint64_t)-1);
    if (out->canary) {
        uint64_t canary[CIO__STACK_CANARY / 8];
        for (size_t i = 0; i < CIO__STACK_CANARY / 8; i++)
            canary[i] = CANARY_WORD;
        memcpy(out->lo, canary, sizeof canary);
    }
    cio__count(&w->c.stacks_live, 1);
    return 0;
}

void cio__stack_put(struct cio__worker *w, struct cio__stack *s)
{
    if (s->cls < 0)
        return;
    struct cio__stack_cache *cache = &w->stacks[s->cls];
    if (cache->n >= cache->max && spill(w, s->cls, CIO__STACK_BATCH)) {
        /* Two batches, so the excess shrinks even while tasks keep ending
         * a spill's worth at a time. */
        release(w->rt, s->cls);
        release(w->rt, s->cls);
    }
    if (cache->n >= cache->max) {
        /* The arena could not take any: drop the slot (its address space
         * stays reserved until the runtime ends) rather than fail. */
        cio__count(&w->c.stacks_live, (uint64_t)-1);
        s->cls = -1;
        return;
    }
    cache->v[cache->n++] = *s;
    cio__count(&w->c.stacks_cached, 1);
    s->cls = -1;
    s->lo = NULL;
    cio__count(&w->c.stacks_live, -(uint64_t)1);
}

bool cio__stack_canary_intact(const struct cio__stack *s)
{
    uint64_t canary[CIO__STACK_CANARY / 8];
    memcpy(canary, s->lo, sizeof canary);
    for (size_t i = 0; i < CIO__STACK_CANARY / 8; i++)
        if (canary[i] != CANARY_WORD)
            return false;
    return true;
}

bool cio__stack_in_guard(const struct cio__stack *s, const void *addr)
{
    if (s->cls < 0)
        return false;
    /* Anything from a page below the guard up to the canary: a frame that
     * skipped the guard by less than a page still counts as overflow. */
    const char *a = addr;
    return a >= s->lo - 2 * guard_size() &&
           a < s->lo + CIO__STACK_CANARY;
}

/* A worker keeps CIO__STACK_CACHE stacks of a class, but no more than
 * CIO__STACK_CACHE_BYTES of them (at least one): the arena can release
 * what a cache holds only once it spills, and 64 big stacks that were
 * fully used would hold gigabytes. */
void cio__stack_worker_init(struct cio__worker *w)
{
    for (int cls = 0; cls < CIO__STACK_CLASSES; cls++) {
        size_t n = CIO__STACK_CACHE_BYTES / cio__stack_class_size(cls);
        w->stacks[cls].n = 0;
        w->stacks[cls].max = n < 1                  ? 1
                             : n > CIO__STACK_CACHE ? CIO__STACK_CACHE
                                                    : (int)n;
    }
}

void cio__stack_worker_fini(struct cio__worker *w)
{
    if (!w->rt->arena)
        return;
    for (int cls = 0; cls < CIO__STACK_CLASSES; cls++)
        spill(w, cls, CIO__STACK_CACHE);
}

void cio__stack_runtime_fini(struct cio__runtime *rt)
{
    struct cio__stack_arena *a = rt->arena;
    if (!a)
        return;
    for (int cls = 0; cls < CIO__STACK_CLASSES; cls++) {
        free(a->cls[cls].free);
        free(a->cls[cls].clean);
    }
    while (a->chunks) {
        struct chunk *ch = a->chunks;
        a->chunks = ch->next;
        cio__os.munmap(ch->base, ch->len);
        free(ch);
    }
    free(a);
    rt->arena = NULL;
}

size_t cio__stack_mapped(struct cio__runtime *rt)
{
    pthread_mutex_lock(&rt->stack_lock);
    size_t n = rt->arena ? rt->arena->mapped : 0;
    pthread_mutex_unlock(&rt->stack_lock);
    return n;
}

void cio__stack_arena_count(struct cio__runtime *rt, size_t *cached,
                            size_t *released)
{
    *cached = *released = 0;
    pthread_mutex_lock(&rt->stack_lock);
    if (rt->arena) {
        for (int cls = 0; cls < CIO__STACK_CLASSES; cls++) {
            const struct class_arena *c = &rt->arena->cls[cls];
            *cached += c->nfree + c->nclean + c->releasing;
            *released += c->nclean;
        }
    }
    pthread_mutex_unlock(&rt->stack_lock);
}
