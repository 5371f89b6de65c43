/* Tasks interleaving on workers: each "order" is a task that waits for its
 * coffee (a sleep) without holding a worker, so a handful of workers serve
 * every order at once. Run with CIO_WORKERS=1 to see one worker do it all. */
#include <cio.h>
#include <stdio.h>

#define ORDERS 8

static void *order(void *arg)
{
    int n = (int)(intptr_t)arg;
    int64_t start = cio_now();
    printf("order %d taken  on worker %d\n", n, cio_worker());
    /* The coffee machine works; this task waits, its worker serves others. */
    cio_sleep_until(cio_deadline_after((int64_t)(50 + 10 * n) * 1000000));
    printf("order %d served on worker %d after %3lld ms\n", n, cio_worker(),
           (long long)((cio_now() - start) / 1000000));
    return (void *)(intptr_t)(n * n);
}

static int serve(void *arg)
{
    (void)arg;
    cio_task t[ORDERS];
    int64_t start = cio_now();
    for (int i = 0; i < ORDERS; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.name = "order";
        int rc = cio_spawn(&t[i], order, (void *)(intptr_t)i, &o);
        if (rc < 0) {
            fprintf(stderr, "spawn: %s\n", cio_strerror(rc));
            return 1;
        }
    }
    long sum = 0;
    for (int i = 0; i < ORDERS; i++) {
        void *r;
        if (cio_join(t[i], &r, CIO_NEVER) == 0)
            sum += (long)(intptr_t)r;
    }
    printf("%d orders served in %lld ms on %d workers (sum of squares %ld)\n",
           ORDERS, (long long)((cio_now() - start) / 1000000), cio_workers(),
           sum);
    return 0;
}

int main(void)
{
    int rc = cio_run(serve, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "cio_run: %s\n", cio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
