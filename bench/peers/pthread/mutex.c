/* The pthread peer of the mutex benchmark: 8 OS threads, N increments
 * each of one counter under one pthread mutex (glibc's default kind).
 * Usage: bench_pthread_mutex [N]; prints the time in ms.
 */
#include <pthread.h>

#include "common.h"

#define THREADS 8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter, n;

static void *adder(void *arg)
{
    (void)arg;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    n = bench_arg_long(argc, argv, 1, 1000000);
    pthread_t t[THREADS];
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, adder, NULL) != 0) {
            fprintf(stderr, "bench_pthread_mutex: pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    double ms = (double)(bench_now_ns() - t0) / 1e6;
    if (counter != THREADS * n) {
        fprintf(stderr, "bench_pthread_mutex: counter %ld, want %ld\n",
                counter, THREADS * n);
        return 1;
    }
    bench_result("mutex", ms, "ms");
    return 0;
}
