/* Channels: a fixed-size element passed from one task to another, either
 * hand to hand (capacity 0: a send meets a receive) or through a ring of
 * `cap` elements.
 *
 * Layering: sync/ uses core's wait/wake protocol (task.h) and nothing of
 * the scheduler's insides; the scheduler knows nothing of channels.
 *
 * One lock per channel guards the ring and two queues of waiters, one for
 * senders and one for receivers. A waiter is a record on the waiting
 * task's stack; whoever completes it (a partner, a close) copies the
 * element, marks the record done and wakes the task, all under the lock.
 * A waiter whose wait ended otherwise (deadline, cancel) takes the lock
 * and either finds its record done (the element moved after all: the
 * call succeeds, so each element has exactly one outcome) or unlinks it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/sched.h"
#include "core/task.h"
#include "os/os.h"
#include "sync/waitq.h"

struct cio_chan {
    cio__spin lock;          /* guards everything below */
    size_t esize;            /* bytes per element */
    size_t cap;              /* ring capacity, 0: unbuffered */
    size_t head;             /* oldest element's slot */
    size_t count;            /* elements in the ring */
    bool closed;
    struct wqueue senders;   /* tasks waiting to send, oldest first */
    struct wqueue receivers; /* tasks waiting to receive, oldest first */
    char *ring;              /* cap * esize bytes */
};

#ifdef CIO_TESTING
void (*cio__test_finish_gap)(void);
#endif

/* Elements larger than this are better passed by pointer. */
#define ELEM_MAX (64u << 10)

/* Copies an element: the common sizes (a pointer, an int, two words)
 * with inline moves rather than a call to memcpy. */
static inline void copy(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
    }
}

/* The i-th element from the oldest (i < cap): a compare instead of a
 * division, which cost a quarter of a buffered send. */
static char *slot(struct cio_chan *ch, size_t i)
{
    size_t k = ch->head + i;
    if (k >= ch->cap)
        k -= ch->cap;
    return ch->ring + k * ch->esize;
}

int cio_chan_make(cio_chan **out, size_t elem_size, size_t capacity)
{
    if (!out)
        return CIO_EINVAL;
    *out = NULL;
    if (elem_size == 0 || elem_size > ELEM_MAX ||
        (capacity && elem_size > SIZE_MAX / capacity))
        return CIO_EINVAL;
    struct cio_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return CIO_ENOMEM;
    if (capacity && !(ch->ring = malloc(capacity * elem_size))) {
        free(ch);
        return CIO_ENOMEM;
    }
    ch->esize = elem_size;
    ch->cap = capacity;
    sync_count(1);
    *out = ch;
    return 0;
}

int cio_chan_free(cio_chan **chp)
{
    if (!chp || !*chp)
        return CIO_EINVAL;
    struct cio_chan *ch = *chp;
    cio__spin_lock(&ch->lock);
    bool busy = ch->senders.head || ch->receivers.head;
    cio__spin_unlock(&ch->lock);
    if (busy)
        return CIO_EBUSY;
    free(ch->ring);
    free(ch);
    sync_count(-1);
    *chp = NULL;
    return 0;
}

int cio_chan_close(cio_chan *ch)
{
    if (!ch)
        return CIO_EINVAL;
    cio__spin_lock(&ch->lock);
    if (ch->closed) {
        cio__spin_unlock(&ch->lock);
        return CIO_ECLOSED;
    }
    ch->closed = true;
    /* Senders still waiting never delivered their element: they learn it.
     * Receivers wait only when nothing is buffered: there is nothing to
     * drain for them. */
    struct waiter *w;
    while ((w = wq_pop(&ch->senders)))
        finish(w, CLOSED);
    while ((w = wq_pop(&ch->receivers)))
        finish(w, CLOSED);
    cio__spin_unlock(&ch->lock);
    return 0;
}

/* One attempt to send (lock held): 1 when the element went, 0 when the
 * caller would have to wait, or CIO_ECLOSED. */
static int try_send_locked(struct cio_chan *ch, const void *elem)
{
    if (ch->closed)
        return CIO_ECLOSED;
    struct waiter *r = wq_pop(&ch->receivers);
    if (r) {
        /* A receiver waits only while the ring is empty: hand it over. */
        copy(r->elem, elem, ch->esize);
        finish(r, DONE);
        return 1;
    }
    if (ch->count < ch->cap) {
        copy(slot(ch, ch->count), elem, ch->esize);
        ch->count++;
        return 1;
    }
    return 0;
}

/* One attempt to receive (lock held): 1 when an element came, 0 when the
 * caller would have to wait, or CIO_ECLOSED (closed and drained). */
static int try_recv_locked(struct cio_chan *ch, void *out)
{
    if (ch->count) {
        copy(out, slot(ch, 0), ch->esize);
        if (++ch->head == ch->cap)
            ch->head = 0;
        ch->count--;
        /* A waiting sender takes the freed place, in its arrival order. */
        struct waiter *s = wq_pop(&ch->senders);
        if (s) {
            copy(slot(ch, ch->count), s->elem, ch->esize);
            ch->count++;
            finish(s, DONE);
        }
        return 1;
    }
    struct waiter *s = wq_pop(&ch->senders);
    if (s) {
        copy(out, s->elem, ch->esize);
        finish(s, DONE);
        return 1;
    }
    return ch->closed ? CIO_ECLOSED : 0;
}

static int op(struct cio_chan *ch, void *elem, int64_t deadline, bool send,
              bool never_wait)
{
    if (!ch || !elem)
        return CIO_EINVAL;
    struct cio__task *self = cio__task_at_entry();
    cio__spin_lock(&ch->lock);
    int rc = send ? try_send_locked(ch, elem) : try_recv_locked(ch, elem);
    if (rc != 0) {
        cio__spin_unlock(&ch->lock);
        return rc > 0 ? 0 : rc;
    }
    if (never_wait) {
        cio__spin_unlock(&ch->lock);
        return CIO_EAGAIN;
    }
    if (wait_refused(self)) {
        cio__spin_unlock(&ch->lock);
        return CIO_ECANCELED;
    }
    struct waiter w; /* not zeroed: wq_enqueue sets what a channel reads */
    w.elem = elem;
    int state = wq_wait(&ch->lock, send ? &ch->senders : &ch->receivers, &w,
                        self, CIO_WAIT_CHAN, ch, deadline);
    return state == DONE ? 0 : state == CLOSED ? CIO_ECLOSED : state;
}

int cio_chan_send(cio_chan *ch, const void *elem, int64_t deadline)
{
    return op(ch, (void *)elem, deadline, true, false);
}

int cio_chan_recv(cio_chan *ch, void *out, int64_t deadline)
{
    return op(ch, out, deadline, false, false);
}

int cio_chan_try_send(cio_chan *ch, const void *elem)
{
    return op(ch, (void *)elem, 0, true, true);
}

int cio_chan_try_recv(cio_chan *ch, void *out)
{
    return op(ch, out, 0, false, true);
}

size_t cio_chan_len(cio_chan *ch)
{
    if (!ch)
        return 0;
    cio__spin_lock(&ch->lock);
    size_t n = ch->count;
    cio__spin_unlock(&ch->lock);
    return n;
}

/* ---- select ------------------------------------------------------------- */

/* Selects over at most this many cases; up to SELECT_STACK need no heap. */
#define SELECT_MAX 1024
#define SELECT_STACK 16

/* xorshift per thread: which case wins among ready ones only needs to be
 * fair, not secret. */
static uint32_t select_rand(void)
{
    static _Thread_local uint64_t x;
    if (!x)
        x = (uint64_t)cio__os_now() ^ (uint64_t)(uintptr_t)&x ^ 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)(x >> 32);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(cio_chan *const *)a;
    uintptr_t y = (uintptr_t)*(cio_chan *const *)b;
    return (x > y) - (x < y);
}

/* The distinct channels of `cases`, sorted by address: every select
 * locks them in that one global order, so two selects over the same
 * channels in opposite orders cannot deadlock (partners hold one
 * channel's lock at a time). */
static int lock_order(const cio_case *cases, int n, cio_chan **locks)
{
    for (int i = 0; i < n; i++)
        locks[i] = cases[i].chan;
    qsort(locks, (size_t)n, sizeof *locks, by_address);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (k == 0 || locks[k - 1] != locks[i])
            locks[k++] = locks[i];
    return k;
}

static void lock_all(cio_chan **locks, int k)
{
    for (int i = 0; i < k; i++)
        cio__spin_lock(&locks[i]->lock);
}

static void unlock_all(cio_chan **locks, int k)
{
    for (int i = k - 1; i >= 0; i--)
        cio__spin_unlock(&locks[i]->lock);
}

static struct wqueue *queue_of(const cio_case *c)
{
    return c->op == CIO_SEND ? &c->chan->senders : &c->chan->receivers;
}

/* Tries every case once, in a random order (all locks held): the index
 * of the first that completed, or -1. A uniformly random order makes
 * each of several ready cases equally likely to be chosen. */
static int select_try(cio_case *cases, int n, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(select_rand() % (uint32_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < n; k++) {
        cio_case *c = &cases[order[k]];
        int rc = c->op == CIO_SEND ? try_send_locked(c->chan, c->elem)
                                   : try_recv_locked(c->chan, c->elem);
        if (rc != 0) {
            c->result = rc > 0 ? 0 : rc;
            return order[k];
        }
    }
    return -1;
}

/* Takes the select's records out of every channel but the winner's
 * (`won`, whose partner unlinked it; -1: none won). Each such record is
 * still queued, so its channel cannot have been freed; nothing else of
 * the winner's channel is touched, so its partner may free it. */
static void select_unlink(cio_case *cases, int n, struct waiter *w, int won)
{
    for (int i = 0; i < n; i++) {
        if (i == won)
            continue;
        cio__spin_lock(&cases[i].chan->lock);
        wq_unlink(queue_of(&cases[i]), &w[i]);
        cio__spin_unlock(&cases[i].chan->lock);
    }
}

/* Queues a record on every case's channel and parks (all locks held on
 * entry, none on return). Returns the case that completed, or an error. */
static int select_wait(cio_case *cases, int n, cio_chan **locks, int k,
                       struct waiter *w, struct cio__task *self,
                       int64_t deadline)
{
    struct select_state st;
    atomic_init(&st.winner, -1);
    sleeper_init(&st.who, self, CIO_WAIT_SELECT, NULL);
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){.elem = cases[i].elem, .state = PENDING,
                               .sel = &st, .index = i};
        wq_push(queue_of(&cases[i]), &w[i]);
    }
    unlock_all(locks, k);
    int reason = sleeper_park(&st.who, deadline);
    if (reason != CIO__WAKE_OK) {
        /* Close the select unless a partner claimed it first (acq_rel:
         * pairs with claim()). */
        int open = -1;
        if (atomic_compare_exchange_strong_explicit(
                &st.winner, &open, -2, memory_order_acq_rel,
                memory_order_acquire)) {
            select_unlink(cases, n, w, -1);
            return cio__wait_error(reason);
        }
        sleeper_settle(&st.who); /* the partner finishes its copy */
    }
    /* Acquire: the winner's index, written by its claim. */
    int won = atomic_load_explicit(&st.winner, memory_order_acquire);
    select_unlink(cases, n, w, won);
    cases[won].result = w[won].state == CLOSED ? CIO_ECLOSED : 0;
    return won;
}

int cio_select(cio_case *cases, int n, int64_t deadline)
{
    if (!cases || n <= 0 || n > SELECT_MAX)
        return CIO_EINVAL;
    for (int i = 0; i < n; i++) {
        if (!cases[i].chan || !cases[i].elem ||
            (cases[i].op != CIO_SEND && cases[i].op != CIO_RECV))
            return CIO_EINVAL;
        cases[i].result = 0;
    }
    struct cio__task *self = cio__task_at_entry();
    struct waiter wbuf[SELECT_STACK];
    cio_chan *lbuf[SELECT_STACK];
    int obuf[SELECT_STACK];
    struct waiter *w = wbuf;
    cio_chan **locks = lbuf;
    int *order = obuf;
    void *heap = NULL;
    if (n > SELECT_STACK) {
        heap = malloc((size_t)n * (sizeof *w + sizeof *locks + sizeof *order));
        if (!heap)
            return CIO_ENOMEM;
        w = heap;
        locks = (cio_chan **)(w + n);
        order = (int *)(locks + n);
    }
    int k = lock_order(cases, n, locks);
    lock_all(locks, k);
    int rc = select_try(cases, n, order);
    if (rc < 0) {
        if (wait_refused(self))
            rc = CIO_ECANCELED;
        else if (deadline != CIO_NEVER && deadline <= cio__os_now())
            rc = CIO_ETIMEDOUT;
    }
    if (rc >= 0 || rc == CIO_ECANCELED || rc == CIO_ETIMEDOUT) {
        unlock_all(locks, k);
        free(heap);
        return rc;
    }
    rc = select_wait(cases, n, locks, k, w, self, deadline);
    free(heap);
    return rc;
}
