/* Task-local storage: the task counterpart of pthread keys.
 *
 * Keys are process-wide slots with a generation, so a value set under a
 * deleted key is not seen through a new key that reuses the slot. A task
 * gets its value array on its first cio_key_set(); tasks that never use
 * keys pay nothing.
 */
#include <stdlib.h>

#include "core/sched.h"
#include "core/task.h"

/* Destructor passes at task end, as PTHREAD_DESTRUCTOR_ITERATIONS: a
 * destructor may set values again. */
#define DTOR_ROUNDS 4

struct key {
    _Atomic uint32_t gen;           /* odd: live; even: free */
    void (*_Atomic dtor)(void *);   /* destructor or NULL */
};

static struct key keys[CIO_KEYS_MAX];
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

/* A key id is gen * CIO_KEYS_MAX + index + 1; 0 is never a key. */
static int key_index(cio_key k, uint32_t *gen)
{
    if (k.id <= 0)
        return -1;
    int idx = (k.id - 1) % CIO_KEYS_MAX;
    uint32_t g = (uint32_t)((k.id - 1) / CIO_KEYS_MAX);
    /* Acquire: pairs with the release store of the generation in
     * cio_key_create(), which comes after its destructor. */
    if (atomic_load_explicit(&keys[idx].gen, memory_order_acquire) != g ||
        !(g & 1))
        return -1;
    *gen = g;
    return idx;
}

int cio_key_create(cio_key *key, void (*dtor)(void *))
{
    if (!key)
        return CIO_EINVAL;
    pthread_mutex_lock(&keys_lock);
    for (int i = 0; i < CIO_KEYS_MAX; i++) {
        uint32_t g = atomic_load_explicit(&keys[i].gen, memory_order_relaxed);
        /* Generations past INT_MAX / CIO_KEYS_MAX would overflow the id. */
        if ((g & 1) || g + 1 > (uint32_t)(0x7fffffff / CIO_KEYS_MAX) - 1)
            continue;
        /* The destructor first, then the generation that makes the key
         * live (release: pairs with the acquire loads of `gen`). Writers
         * are serialised by keys_lock. */
        atomic_store_explicit(&keys[i].dtor, dtor, memory_order_relaxed);
        atomic_store_explicit(&keys[i].gen, g + 1, memory_order_release);
        pthread_mutex_unlock(&keys_lock);
        key->id = (int)((g + 1) * CIO_KEYS_MAX) + i + 1;
        return 0;
    }
    pthread_mutex_unlock(&keys_lock);
    return CIO_EAGAIN;
}

int cio_key_delete(cio_key key)
{
    pthread_mutex_lock(&keys_lock);
    uint32_t gen;
    int idx = key_index(key, &gen);
    if (idx >= 0) {
        atomic_store_explicit(&keys[idx].dtor, NULL, memory_order_relaxed);
        atomic_store_explicit(&keys[idx].gen, gen + 1, memory_order_release);
    }
    pthread_mutex_unlock(&keys_lock);
    return idx >= 0 ? 0 : CIO_EINVAL;
}

int cio_key_set(cio_key key, void *value)
{
    struct cio__task *t = cio__task_current();
    if (!t)
        return CIO_EPERM;
    uint32_t gen;
    int idx = key_index(key, &gen);
    if (idx < 0)
        return CIO_EINVAL;
    struct cio__task_side *side = cio__side_w(t);
    if (!side->tls) {
        side->tls = calloc(CIO_KEYS_MAX, sizeof *side->tls);
        if (!side->tls)
            return CIO_ENOMEM;
    }
    side->tls[idx].value = value;
    side->tls[idx].gen = gen;
    return 0;
}

void *cio_key_get(cio_key key)
{
    struct cio__task *t = cio__task_current();
    uint32_t gen;
    int idx = key_index(key, &gen);
    if (!t || idx < 0 || !cio__side_used(t))
        return NULL;
    struct cio__tls_slot *tls = cio__side(t)->tls;
    if (!tls || tls[idx].gen != gen)
        return NULL;
    return tls[idx].value;
}

void cio__tls_run_dtors(struct cio__task *t)
{
    if (!cio__side_used(t))
        return; /* never set a value */
    /* A destructor may set values again: each round reads side->tls. */
    struct cio__task_side *side = cio__side(t);
    for (int round = 0; round < DTOR_ROUNDS && side->tls; round++) {
        bool any = false;
        for (int i = 0; i < CIO_KEYS_MAX; i++) {
            void *v = side->tls[i].value;
            if (!v)
                continue;
            side->tls[i].value = NULL;
            /* The generation is read after the destructor (acquire), and
             * it must still be the one the value was set under: a key
             * deleted meanwhile has no destructor for this value. A key
             * deleted concurrently with a task's end is the caller's race,
             * as with pthread keys. */
            void (*dtor)(void *) =
                atomic_load_explicit(&keys[i].dtor, memory_order_acquire);
            if (dtor && atomic_load_explicit(&keys[i].gen,
                                             memory_order_acquire) ==
                            side->tls[i].gen) {
                dtor(v);
                any = true;
            }
        }
        if (!any)
            break;
    }
    free(side->tls);
    side->tls = NULL;
}
