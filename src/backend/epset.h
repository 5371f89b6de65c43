/* The epoll set both backends keep (epoll.c; uring.c watches one from its
 * ring): how a descriptor is added and removed, and what its events
 * mean. Static inline: a few lines each backend calls on its own paths. */
#ifndef CIO_BACKEND_EPSET_H
#define CIO_BACKEND_EPSET_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "backend/backend.h"

/* Both directions at once, edge-triggered: a task that switches from
 * reading to writing never needs another epoll_ctl. */
static inline int cio__epset_add(int epfd, int fd, uint64_t token)
{
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = token,
    };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static inline int cio__epset_del(int epfd, int fd)
{
    struct epoll_event ev = {0}; /* non-NULL for kernels before 2.6.9 */
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev) < 0 ? -errno : 0;
}

/* An epoll event as CIO__EV_* bits. */
static inline uint32_t cio__epset_bits(uint32_t e)
{
    uint32_t bits = 0;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI))
        bits |= CIO__EV_READ;
    if (e & EPOLLOUT)
        bits |= CIO__EV_WRITE;
    if (e & EPOLLRDHUP)
        bits |= CIO__EV_RDHUP;
    if (e & (EPOLLERR | EPOLLHUP))
        bits |= CIO__EV_ERR | CIO__EV_READ | CIO__EV_WRITE;
    return bits;
}

#endif /* CIO_BACKEND_EPSET_H */
