/* Channels and locks, one program per benchmark of the "composing tasks"
 * set; each measures the same work as its Go and Tokio peers.
 *
 * Usage: bench_chan pingpong    [N [WORKERS]]  N round trips; ns per trip
 *        bench_chan mpmc        [N [WORKERS]]  N items, 4 producers and 4
 *                                             consumers, capacity 1024;
 *                                             million items per second
 *        bench_chan mutex       [N [WORKERS]]  8 tasks, N increments each
 *                                             under one mutex; ms
 *        bench_chan skynet_chan [N [WORKERS]]  skynet whose results come
 *                                             back over unbuffered
 *                                             channels (as Go's); ms
 */
#include <cio.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common.h"

static long n;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_chan: %s: %s\n", what, cio_strerror(rc));
    exit(1);
}

/* ---- pingpong ------------------------------------------------------------ */

static cio_chan *ping, *pong;

static void *ponger(void *arg)
{
    (void)arg;
    long v;
    for (long i = 0; i < n; i++) {
        cio_chan_recv(ping, &v, CIO_NEVER);
        cio_chan_send(pong, &v, CIO_NEVER);
    }
    return NULL;
}

static void *pinger(void *arg)
{
    (void)arg;
    for (long i = 0; i < n; i++) {
        long v = i, back;
        cio_chan_send(ping, &v, CIO_NEVER);
        cio_chan_recv(pong, &back, CIO_NEVER);
        if (back != i)
            die("pingpong", CIO_EIO);
    }
    return NULL;
}

static int pingpong(void)
{
    int rc;
    if ((rc = cio_chan_make(&ping, sizeof(long), 0)) < 0 ||
        (rc = cio_chan_make(&pong, sizeof(long), 0)) < 0)
        die("chan", rc);
    cio_task a, b;
    int64_t t0 = cio_now();
    if ((rc = cio_spawn(&a, ponger, NULL, NULL)) < 0 ||
        (rc = cio_spawn(&b, pinger, NULL, NULL)) < 0)
        die("spawn", rc);
    cio_join(b, NULL, CIO_NEVER);
    cio_join(a, NULL, CIO_NEVER);
    bench_result("chan_pingpong", (double)(cio_now() - t0) / (double)n, "ns");
    cio_chan_free(&ping);
    cio_chan_free(&pong);
    return 0;
}

/* ---- mpmc ------------------------------------------------------------------ */

#define PRODUCERS 4
#define CONSUMERS 4

static cio_chan *items;
static atomic_ullong received_sum;

static void *producer(void *arg)
{
    long first = (long)(intptr_t)arg, per = n / PRODUCERS;
    for (long i = first; i < first + per; i++)
        cio_chan_send(items, &i, CIO_NEVER);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    unsigned long long sum = 0;
    long v;
    while (cio_chan_recv(items, &v, CIO_NEVER) == 0)
        sum += (unsigned long long)v;
    atomic_fetch_add(&received_sum, sum);
    return NULL;
}

static int mpmc(void)
{
    int rc;
    n -= n % PRODUCERS;
    if ((rc = cio_chan_make(&items, sizeof(long), 1024)) < 0)
        die("chan", rc);
    cio_task p[PRODUCERS], c[CONSUMERS];
    int64_t t0 = cio_now();
    for (int i = 0; i < CONSUMERS; i++)
        if ((rc = cio_spawn(&c[i], consumer, NULL, NULL)) < 0)
            die("spawn", rc);
    for (int i = 0; i < PRODUCERS; i++)
        if ((rc = cio_spawn(&p[i], producer,
                            (void *)(intptr_t)(i * (n / PRODUCERS)), NULL)) <
            0)
            die("spawn", rc);
    for (int i = 0; i < PRODUCERS; i++)
        cio_join(p[i], NULL, CIO_NEVER);
    cio_chan_close(items);
    for (int i = 0; i < CONSUMERS; i++)
        cio_join(c[i], NULL, CIO_NEVER);
    double s = (double)(cio_now() - t0) / 1e9;
    unsigned long long want = (unsigned long long)n * (unsigned long long)(n - 1) / 2;
    if (atomic_load(&received_sum) != want) {
        fprintf(stderr, "bench_chan: mpmc: wrong sum\n");
        return 1;
    }
    bench_result("chan_mpmc", (double)n / s / 1e6, "Mitems/s");
    cio_chan_free(&items);
    return 0;
}

/* ---- mutex ------------------------------------------------------------------ */

#define LOCKERS 8

static cio_mutex *lock;
static long counter;

static void *locker(void *arg)
{
    (void)arg;
    for (long i = 0; i < n; i++) {
        cio_mutex_lock(lock, CIO_NEVER);
        counter++;
        cio_mutex_unlock(lock);
    }
    return NULL;
}

static int mutex(void)
{
    int rc;
    if ((rc = cio_mutex_make(&lock)) < 0)
        die("mutex", rc);
    cio_task t[LOCKERS];
    int64_t t0 = cio_now();
    for (int i = 0; i < LOCKERS; i++)
        if ((rc = cio_spawn(&t[i], locker, NULL, NULL)) < 0)
            die("spawn", rc);
    for (int i = 0; i < LOCKERS; i++)
        cio_join(t[i], NULL, CIO_NEVER);
    double ms = (double)(cio_now() - t0) / 1e6;
    if (counter != LOCKERS * n) {
        fprintf(stderr, "bench_chan: mutex: counter %ld, want %ld\n", counter,
                LOCKERS * n);
        return 1;
    }
    bench_result("mutex", ms, "ms");
    cio_mutex_free(&lock);
    return 0;
}

/* ---- skynet over channels ---------------------------------------------------- */

struct node {
    cio_chan *up; /* where this node's sum goes */
    long num, size;
};

static void *skynet(void *arg)
{
    struct node *me = arg;
    long sum = 0;
    if (me->size == 1) {
        sum = me->num;
    } else {
        cio_chan *c;
        int rc = cio_chan_make(&c, sizeof(long), 0);
        if (rc < 0)
            die("chan", rc);
        long step = me->size / 10;
        struct node kids[10];
        for (int i = 0; i < 10; i++) {
            kids[i] = (struct node){c, me->num + i * step, step};
            if ((rc = cio_spawn(NULL, skynet, &kids[i], NULL)) < 0)
                die("spawn", rc);
        }
        for (int i = 0; i < 10; i++) {
            long v;
            cio_chan_recv(c, &v, CIO_NEVER);
            sum += v;
        }
        cio_chan_free(&c);
    }
    cio_chan_send(me->up, &sum, CIO_NEVER);
    return NULL;
}

static int skynet_chan(void)
{
    for (long s = n; s > 1; s /= 10)
        if (s % 10) {
            fprintf(stderr, "bench_chan: N must be a power of 10\n");
            return 2;
        }
    cio_chan *top;
    int rc = cio_chan_make(&top, sizeof(long), 0);
    if (rc < 0)
        die("chan", rc);
    struct node root = {top, 0, n};
    int64_t t0 = cio_now();
    if ((rc = cio_spawn(NULL, skynet, &root, NULL)) < 0)
        die("spawn", rc);
    long sum = 0;
    cio_chan_recv(top, &sum, CIO_NEVER);
    double ms = (double)(cio_now() - t0) / 1e6;
    if (sum != n * (n - 1) / 2) {
        fprintf(stderr, "bench_chan: skynet_chan: wrong sum %ld\n", sum);
        return 1;
    }
    bench_result("skynet_chan", ms, "ms");
    cio_chan_free(&top);
    return 0;
}

/* ------------------------------------------------------------------------------ */

static const char *mode;

static int bench_main(void *arg)
{
    (void)arg;
    if (!strcmp(mode, "pingpong"))
        return pingpong();
    if (!strcmp(mode, "mpmc"))
        return mpmc();
    if (!strcmp(mode, "mutex"))
        return mutex();
    if (!strcmp(mode, "skynet_chan"))
        return skynet_chan();
    fprintf(stderr, "bench_chan: unknown benchmark '%s'\n", mode);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_chan pingpong|mpmc|mutex|skynet_chan "
                        "[N [WORKERS]]\n");
        return 2;
    }
    mode = argv[1];
    n = bench_arg_long(argc, argv, 2, 1000000);
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = (int)bench_arg_long(argc, argv, 3, 1);
    int rc = cio_run(bench_main, NULL, &cfg);
    if (rc < 0)
        fprintf(stderr, "bench_chan: cio_run: %s\n", cio_strerror(rc));
    return rc != 0;
}
