/* cio: a concurrency runtime for C.
 *
 * Tasks are functions with their own stacks. A task stops whenever it would
 * wait (a timer, another task, later I/O) and is resumed when what it waited
 * for happens; meanwhile its worker, one OS thread per core, runs other tasks.
 *
 * Conventions that hold for the whole API:
 *   - Errors are returned as negative values from <cio/errno.h> (CIO_Exxx,
 *     equal to -Exxx on Linux). cio never reports errors through errno.
 *   - Every call that can wait takes a deadline: an absolute time in
 *     nanoseconds on the monotonic clock (see cio_now()), or CIO_NEVER.
 *     A deadline at or before now means "do not wait".
 *   - Cancellation is delivered at waiting calls: once a task is cancelled,
 *     its current and every later waiting call returns CIO_ECANCELED.
 *   - Functions marked "task only" must be called from inside a task; from
 *     anywhere else they return CIO_EPERM (or the documented neutral value).
 *
 * Where a task runs. C compilers keep the address of a thread-local variable
 * (errno's too: glibc declares __errno_location() const) in a register across
 * calls, so code resumed on another OS thread could use the old thread's
 * errno. cio therefore keeps a started task on the worker where it first ran
 * (its home worker): idle workers take only tasks that have not started yet,
 * and the wake of a started task goes back to its home worker. A task spawned
 * with CIO_SPAWN_MIGRATE opts out of that rule: it may be resumed on any
 * worker, which is safe when its code keeps no thread-local address across a
 * waiting call (code that uses only cio's calls, which return errors as
 * values). CIO_SPAWN_PIN with a worker index fixes a task to one worker.
 * errno is saved and restored per task at every switch on all tasks. Use
 * task-local storage (cio_key_*) instead of thread-locals in task code.
 */
#ifndef CIO_H
#define CIO_H

#include <stddef.h>
#include <stdint.h>

#include <cio/errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CIO_API __attribute__((visibility("default")))
#else
#define CIO_API
#endif

#define CIO_VERSION_MAJOR 0
#define CIO_VERSION_MINOR 1
#define CIO_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Human-readable message for a cio error code (negative) or 0.
 * Never NULL; unknown codes give "unknown error". Thread-safe. */
CIO_API const char *cio_strerror(int err);

/* Symbolic name of a cio error code, such as "ETIMEDOUT"; "OK" for 0 and
 * "UNKNOWN" for codes not in <cio/errno.h>. Thread-safe. */
CIO_API const char *cio_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Time                                                                     */
/* ------------------------------------------------------------------------ */

/* A deadline that never passes. */
#define CIO_NEVER INT64_MAX

/* Nanoseconds on the monotonic clock (CLOCK_MONOTONIC). Thread-safe. */
CIO_API int64_t cio_now(void);

/* The deadline `ns` nanoseconds from now, saturating at CIO_NEVER; a
 * negative `ns` gives a deadline in the past. Thread-safe. */
CIO_API int64_t cio_deadline_after(int64_t ns);

/* Task only. Stops the calling task until `deadline`.
 * Returns 0 once the deadline has passed (at once if it already had),
 * CIO_ECANCELED if the task is cancelled, CIO_EPERM outside a task.
 * The task never resumes before its deadline. */
CIO_API int cio_sleep_until(int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Runtime                                                                  */
/* ------------------------------------------------------------------------ */

/* Smallest stack a task may ask for, in bytes. Stacks this small hold a task
 * that calls cio functions and little else; they have no guard page (an
 * overflow is caught at the next switch instead). */
#define CIO_STACK_MIN 2048
/* Default stack size: enough for ordinary C code (printf, getaddrinfo).
 * Only the pages a task touches cost memory. */
#define CIO_STACK_DEFAULT (64 * 1024)
/* Largest stack a task may ask for. */
#define CIO_STACK_MAX (64 * 1024 * 1024)

/* Runtime settings. Fill with cio_config_init(), then change fields;
 * fields may be appended in later versions. */
typedef struct cio_config {
    int workers;       /* worker threads; 0: $CIO_WORKERS or the CPU count */
    size_t stack_size; /* default task stack; 0: CIO_STACK_DEFAULT */
} cio_config;

/* Fills `cfg` with the defaults (every field 0, meaning "choose"). */
CIO_API void cio_config_init(cio_config *cfg);

/* Starts the workers, runs `main(arg)` as the first task and returns its
 * return value once it and every other task have finished. When main
 * returns, every task still running is cancelled and cio_run waits for
 * them: nothing cio_run created outlives it. A task that never reaches a
 * waiting call after being cancelled keeps cio_run waiting.
 *
 * `cfg` may be NULL for defaults. CIO_WORKERS in the environment sets the
 * worker count when cfg->workers is 0.
 * Returns main's value, or before running main: CIO_EINVAL (NULL main, a
 * stack size outside [CIO_STACK_MIN, CIO_STACK_MAX], workers < 0 or over
 * 1024, or a malformed CIO_WORKERS), CIO_EBUSY (called from inside a
 * runtime), CIO_ENOMEM or CIO_EAGAIN (memory or threads could not be had).
 * Negative main return values therefore overlap with these codes; main
 * should return non-negative values. Not reentrant: one runtime at a time
 * per process. */
CIO_API int cio_run(int (*main)(void *arg), void *arg, const cio_config *cfg);

/* Index of the worker running the caller, in [0, workers), or CIO_EPERM
 * when not called from a worker. */
CIO_API int cio_worker(void);

/* Number of workers of the running runtime, or CIO_EPERM outside one. */
CIO_API int cio_workers(void);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

/* A handle to a task: a value, cheap to copy. A zero handle names no task.
 * Handles are checked: using one whose task has been joined (or, detached,
 * has finished) is reported as CIO_ESRCH, never undefined behaviour. */
typedef struct cio_task {
    uint64_t id;
} cio_task;

/* A task's body. Its return value is handed to cio_join(). */
typedef void *cio_task_fn(void *arg);

/* Flags for cio_spawn_opts.flags. */
enum {
    /* The task may be resumed on any worker (see the top of this file). */
    CIO_SPAWN_MIGRATE = 1u << 0,
    /* The task runs only on worker `opts.worker`. */
    CIO_SPAWN_PIN = 1u << 1,
};

/* Options for cio_spawn(). Fill with cio_spawn_opts_init(). */
typedef struct cio_spawn_opts {
    const char *name;  /* shown in reports; not copied: must outlive the task
                          (a string literal is typical); NULL: "task" */
    size_t stack_size; /* 0: the runtime's default */
    unsigned flags;    /* CIO_SPAWN_* */
    int worker;        /* with CIO_SPAWN_PIN: the worker index */
} cio_spawn_opts;

/* Fills `opts` with the defaults (no name, default stack, no flags). */
CIO_API void cio_spawn_opts_init(cio_spawn_opts *opts);

/* Task only. Creates a task running `fn(arg)` and makes it runnable; the
 * caller keeps running. If `out` is NULL the task is detached at once (it
 * cannot be joined and frees itself when it finishes); otherwise *out
 * receives its handle, which must be passed to cio_join() or cio_detach()
 * exactly once. `opts` may be NULL for defaults.
 * The task's stack is allocated when it first runs, so a spawned task that
 * has not run yet costs only its small descriptor.
 * Spawned while the runtime is shutting down, the task starts cancelled.
 * Returns 0, CIO_EINVAL (NULL fn, stack size outside [CIO_STACK_MIN,
 * CIO_STACK_MAX], pin to a worker that does not exist, unknown flags),
 * CIO_ENOMEM, or CIO_EPERM outside a task. On error *out is left zero. */
CIO_API int cio_spawn(cio_task *out, cio_task_fn *fn, void *arg,
                      const cio_spawn_opts *opts);

/* Task only. Waits until task `t` finishes, stores its return value in
 * *result (if result is not NULL) and frees the task; `t` is then invalid.
 * Returns 0, CIO_ETIMEDOUT (deadline passed; `t` stays joinable),
 * CIO_ECANCELED (the caller was cancelled; `t` stays joinable),
 * CIO_ENOMEM (`t` never ran: no stack could be had when it was to start;
 * `t` is freed as after a successful join),
 * CIO_ESRCH (no such task: zero, already joined or finished detached),
 * CIO_EINVAL (`t` is detached or another task is joining it),
 * CIO_EDEADLK (`t` is the caller), CIO_EPERM outside a task. */
CIO_API int cio_join(cio_task t, void **result, int64_t deadline);

/* Task only. Lets task `t` free itself when it finishes; `t` may no longer
 * be joined. Returns 0, CIO_ESRCH (no such task), CIO_EINVAL (already
 * detached or being joined), CIO_EPERM outside a task. */
CIO_API int cio_detach(cio_task t);

/* Asks task `t` to stop: its current waiting call, if any, and every later
 * one returns CIO_ECANCELED. The task decides how to clean up and finish;
 * it is not killed. Cancelling twice is harmless. Cancelling the caller
 * itself is allowed. Returns 0, CIO_ESRCH (no such task), CIO_EPERM when
 * not called from one of the runtime's workers (a task, typically). */
CIO_API int cio_cancel(cio_task t);

/* Task only. The calling task's handle (zero outside a task). */
CIO_API cio_task cio_self(void);

/* Task only. Whether the calling task has been cancelled (1) or not (0). */
CIO_API int cio_cancelled(void);

/* Task only. Lets the other runnable tasks of this worker run; the caller
 * runs again after them. Returns 0, CIO_ECANCELED if the task has been
 * cancelled (it still yielded), CIO_EPERM outside a task. */
CIO_API int cio_yield(void);

/* The name given at spawn, or "task"; NULL when `t` names no task. The
 * string belongs to the caller of cio_spawn(). */
CIO_API const char *cio_task_name(cio_task t);

/* ------------------------------------------------------------------------ */
/* Task-local storage                                                       */
/* ------------------------------------------------------------------------ */

/* A key for a per-task value, the task counterpart of pthread_key_t. */
typedef struct cio_key {
    int id;
} cio_key;

/* Maximum number of keys alive at once in a process. */
#define CIO_KEYS_MAX 64

/* Creates a key; every task's value for it starts as NULL. When a task
 * finishes with a non-NULL value and `dtor` is not NULL, dtor(value) runs
 * on that task before it ends. Returns 0, CIO_EAGAIN (CIO_KEYS_MAX keys
 * exist), CIO_EINVAL (NULL key). Thread-safe. */
CIO_API int cio_key_create(cio_key *key, void (*dtor)(void *value));

/* Deletes a key; values still set are not destroyed (as pthread keys).
 * Returns 0 or CIO_EINVAL (not a live key). Thread-safe. */
CIO_API int cio_key_delete(cio_key key);

/* Task only. Sets the calling task's value for `key`.
 * Returns 0, CIO_EINVAL (not a live key), CIO_ENOMEM, CIO_EPERM. */
CIO_API int cio_key_set(cio_key key, void *value);

/* Task only. The calling task's value for `key`; NULL if never set, if the
 * key is not live, or outside a task. */
CIO_API void *cio_key_get(cio_key key);

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

/* Counters of the running runtime, or, outside one, of the last runtime at
 * the moment it ended (all "live" counts are then 0 unless it leaked). */
typedef struct cio_stats {
    int workers;              /* worker threads */
    uint64_t tasks_spawned;   /* tasks created */
    uint64_t tasks_finished;  /* tasks whose function returned */
    uint64_t tasks_live;      /* tasks not yet freed */
    uint64_t switches;        /* switches into tasks */
    uint64_t steals;          /* tasks taken from another worker */
    uint64_t migrations;      /* resumptions on a worker other than the last */
    uint64_t parks;           /* times a worker slept in the kernel */
    uint64_t timers_fired;    /* deadlines that woke a task */
    uint64_t timers_pending;  /* deadlines armed now */
    uint64_t stacks_live;     /* stacks held by tasks now */
    uint64_t stacks_cached;   /* stacks kept for reuse now */
    uint64_t stack_bytes_mapped; /* address space reserved for stacks */
    uint64_t queue_violations;   /* times a task was found queued twice
                                    (always 0; counted as a self-check) */
} cio_stats;

/* Fills `out` (see cio_stats). Thread-safe; counters of a running runtime
 * are read without stopping it, so they may be slightly stale. */
CIO_API void cio_stats_get(cio_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CIO_H */
