/* The README's example, compiled so it stays true. */
#include <cio.h>
#include <stdio.h>

static void *brew(void *arg)                 /* a task */
{
    int64_t ms = (intptr_t)arg;
    cio_sleep_until(cio_deadline_after(ms * 1000000)); /* waits, worker free */
    return (void *)(intptr_t)(ms * 2);
}

static int main_task(void *arg)
{
    (void)arg;
    cio_task t[3];
    for (int i = 0; i < 3; i++)
        cio_spawn(&t[i], brew, (void *)(intptr_t)(10 * (i + 1)), NULL);
    for (int i = 0; i < 3; i++) {
        void *r;
        if (cio_join(t[i], &r, CIO_NEVER) == 0)
            printf("task %d returned %ld\n", i, (long)(intptr_t)r);
    }
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL); }
