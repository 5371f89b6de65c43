/* Intrusive singly linked FIFO. O(1) push at the tail, pop at the head.
 * The node lives inside the queued object; an object is in at most one
 * FIFO at a time through a given node. Not thread-safe: callers lock. */
#ifndef CIO_UTIL_FIFO_H
#define CIO_UTIL_FIFO_H

#include <stddef.h>

struct cio__snode {
    struct cio__snode *next;
};

struct cio__fifo {
    struct cio__snode *head;
    struct cio__snode *tail;
};

#define cio__container_of(ptr, type, member)                                  \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void cio__fifo_init(struct cio__fifo *q)
{
    q->head = q->tail = NULL;
}

static inline int cio__fifo_empty(const struct cio__fifo *q)
{
    return q->head == NULL;
}

static inline void cio__fifo_push(struct cio__fifo *q, struct cio__snode *n)
{
    n->next = NULL;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
}

static inline struct cio__snode *cio__fifo_pop(struct cio__fifo *q)
{
    struct cio__snode *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head)
            q->tail = NULL;
    }
    return n;
}

/* Moves every node of `src` to the tail of `dst`, keeping their order. */
static inline void cio__fifo_concat(struct cio__fifo *dst,
                                    struct cio__fifo *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    src->head = src->tail = NULL;
}

#endif /* CIO_UTIL_FIFO_H */
