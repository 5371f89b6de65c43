/* The reactor contract: how the scheduler asks the kernel which descriptors
 * became ready, and how it sleeps until something happens.
 *
 * A backend is a small table of operations over an opaque instance; the
 * runtime opens one instance per worker. Descriptors are added once and
 * report edges (a change to readable or writable), not levels, so waiting
 * again costs nothing. An io_uring backend can implement the same table.
 *
 * Layering: a backend uses os/ only. It knows nothing of tasks: it hands
 * back (token, events) pairs and the caller decides whom to wake.
 */
#ifndef CIO_BACKEND_H
#define CIO_BACKEND_H

#include <stdint.h>

/* Event bits a backend reports. */
enum {
    CIO__EV_READ = 1,  /* readable, end of stream, or a pending connection */
    CIO__EV_WRITE = 2, /* writable, or a connect finished */
    CIO__EV_ERR = 4,   /* error or hang-up: both directions are done */
    CIO__EV_RDHUP = 8, /* the peer closed its side: reads see end of file */
};

struct cio__event {
    uint64_t token; /* what add() was given */
    uint32_t events; /* CIO__EV_* */
};

struct cio__backend {
    const char *name;
    /* Creates an instance; returns 0 or a negative errno. */
    int (*open)(void **out);
    /* Frees an instance. Descriptors still added are simply dropped. */
    void (*close)(void *inst);
    /* Watches `fd` for both directions, edge-triggered, reporting `token`.
     * Returns 0, or a negative errno (-EPERM: the descriptor cannot be
     * watched, e.g. a regular file; it is then always ready). */
    int (*add)(void *inst, int fd, uint64_t token);
    /* Stops watching `fd`. Returns 0 or a negative errno. */
    int (*del)(void *inst, int fd);
    /* Collects up to `max` events, waiting at most `timeout_ns` (0: do not
     * wait; negative: no limit). A wake() from any thread ends the wait.
     * Returns the number of events (0 on timeout or wake), or a negative
     * errno. Only the instance's owner calls it. */
    int (*poll)(void *inst, struct cio__event *ev, int max,
                int64_t timeout_ns);
    /* Makes a current or the next poll() return promptly. Any thread. */
    void (*wake)(void *inst);
};

extern const struct cio__backend cio__backend_epoll;

#endif /* CIO_BACKEND_H */
