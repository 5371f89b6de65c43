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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/internal.h"
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

/* Freed slots are kept in an array, not linked through the slots: a link
 * written into a stack's lowest page would make that page resident, and a
 * million idle stacks would cost twice the memory. */
struct class_arena {
    char *bump;           /* next uncarved slot */
    char *bump_end;       /* end of the current chunk */
    char **free;          /* freed slots */
    size_t nfree;         /* slots in free */
    size_t cap;           /* room in free */
};

struct cio__stack_arena {
    struct class_arena cls[CIO__STACK_CLASSES];
    struct chunk *chunks;
    size_t mapped;        /* bytes of address space reserved */
    int guard;            /* 1: guard regions work, 0: not, -1: untested */
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
    while (got < want && cache->n < CIO__STACK_CACHE) {
        char *lo;
        if (c->nfree) {
            lo = c->free[--c->nfree];
        } else if (!(lo = carve(a, cls))) {
            break;
        }
        /* Where a guard page protects the stack, no canary is written: it
         * would touch the stack's lowest page, doubling the memory of an
         * idle task whose frames all sit in the top page. */
        bool guarded = a->guard == 1;
        cache->v[cache->n++] = (struct cio__stack){
            .lo = lo, .size = cio__stack_class_size(cls), .cls = cls,
            .canary = !guarded};
        got++;
    }
    cio__count(&w->c.stacks_cached, (uint64_t)got);
    pthread_mutex_unlock(&rt->stack_lock);
    return got ? 0 : CIO_ENOMEM;
}

static void spill(struct cio__worker *w, int cls, int count)
{
    struct cio__runtime *rt = w->rt;
    struct cio__stack_cache *cache = &w->stacks[cls];
    if (count > cache->n)
        count = cache->n;
    pthread_mutex_lock(&rt->stack_lock);
    struct class_arena *c = &rt->arena->cls[cls];
    if (c->nfree + (size_t)count > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        while (cap < c->nfree + (size_t)count)
            cap *= 2;
        char **v = realloc(c->free, cap * sizeof *v);
        if (!v) {
            /* Keep them cached; the cache may exceed its bound for now. */
            pthread_mutex_unlock(&rt->stack_lock);
            return;
        }
        c->free = v;
        c->cap = cap;
    }
    while (count-- > 0) {
        c->free[c->nfree++] = cache->v[--cache->n].lo;
        cio__count(&w->c.stacks_cached, (uint64_t)-1);
    }
    pthread_mutex_unlock(&rt->stack_lock);
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
    if (cache->n == CIO__STACK_CACHE)
        spill(w, s->cls, CIO__STACK_BATCH);
    if (cache->n == CIO__STACK_CACHE) {
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
    for (int cls = 0; cls < CIO__STACK_CLASSES; cls++)
        free(a->cls[cls].free);
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

size_t cio__stack_free_count(struct cio__runtime *rt)
{
    size_t n = 0;
    pthread_mutex_lock(&rt->stack_lock);
    if (rt->arena)
        for (int cls = 0; cls < CIO__STACK_CLASSES; cls++)
            n += rt->arena->cls[cls].nfree;
    pthread_mutex_unlock(&rt->stack_lock);
    return n;
}
