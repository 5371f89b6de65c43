/* Helpers shared by the cio benchmark programs (and the libuv peer).
 *
 * Every program prints one line per metric, "result NAME VALUE UNIT", and
 * nothing else on stdout; bench/run.py collects those lines. The programs
 * measure and report: they never assert (a wrong skynet sum is reported on
 * stderr with a failing exit status so the runner drops the sample).
 */
#ifndef CIO_BENCH_COMMON_H
#define CIO_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Monotonic time in ns; same clock as cio_now(), usable outside a runtime. */
static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* User + system CPU time of the whole process (every thread), in ns. */
static inline int64_t bench_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* A field of /proc/self/status ("VmHWM", "VmRSS") in bytes, 0 if absent. */
static inline uint64_t bench_proc_status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t len = strlen(field);
    uint64_t kb = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtoull(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

/* Positional argument `i` as a count, or `def` when absent. */
static inline long bench_arg_long(int argc, char **argv, int i, long def)
{
    if (argc > i) {
        char *end;
        long v = strtol(argv[i], &end, 10);
        if (*end == '\0' && v > 0)
            return v;
        fprintf(stderr, "%s: bad number '%s'\n", argv[0], argv[i]);
        exit(2);
    }
    return def;
}

static inline void bench_result(const char *name, double value, const char *unit)
{
    printf("result %s %.3f %s\n", name, value, unit);
    fflush(stdout);
}

/* The timers benchmark's deadline generator, identical in the Go and Tokio
 * peers: splitmix64 of (seed + i * golden ratio), reduced to [0, 1 s). Being
 * a pure function of i, it needs no table that would count in the RSS. */
static inline uint64_t bench_timer_offset_ns(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z % 1000000000ull;
}

#endif /* CIO_BENCH_COMMON_H */
