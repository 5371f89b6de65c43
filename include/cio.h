/* cio: a concurrency runtime for C.
 *
 * Tasks are functions with their own stacks. A task stops whenever it would
 * wait (a timer, another task, a descriptor, a blocking call handed to the
 * pool) and is resumed when what it waited for happens; meanwhile its
 * worker, one OS thread per core, runs other tasks.
 *
 * Conventions that hold for the whole API:
 *   - Errors are returned as negative values from <cio/errno.h> (CIO_Exxx,
 *     equal to -Exxx on Linux). cio never reports errors through errno.
 *   - Every call that can wait takes a deadline: an absolute time in
 *     nanoseconds on the monotonic clock (see cio_now()), or CIO_NEVER.
 *     A deadline at or before now means "do not wait": the call still
 *     tries once and reports CIO_ETIMEDOUT only if it would have to wait.
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
 *
 * What is asked on day one:
 *   - Two tasks on one descriptor. Any number of tasks may wait on one
 *     descriptor; an edge wakes every task waiting for that direction and
 *     each retries its system call, so the kernel decides who gets what:
 *     nothing is lost or read twice, but two readers of one stream (or two
 *     writers) interleave as two threads would. To keep messages whole,
 *     let one task read and one task write each descriptor. Closing it with
 *     cio_close() wakes them all with CIO_EBADF.
 *   - A pthread mutex in a task is fine around code that does not wait.
 *     Held across a waiting cio call, the task parks holding it while its
 *     worker runs other tasks; one of those that takes the same mutex
 *     blocks the whole worker, and if the holder can only resume on that
 *     worker (its home), nothing ever resumes it. A cio_mutex has no such
 *     trap: waiting for it parks the task, never the worker.
 *   - From a thread that is not a task (a library's callback thread), the
 *     calls marked "thread-safe" may be made: cio_close(), cio_fd_forget(),
 *     cio_stats_get(), cio_workers(), cio_task_name(), cio_socket(),
 *     cio_listen(), the address helpers, cio_now(), cio_deadline_after(),
 *     cio_strerror(), and every call on channels, select, mutexes,
 *     condition variables, rwlocks, semaphores, wait groups and events.
 *     There the waiting ones (send, receive, select, lock, wait, acquire)
 *     block the calling thread until they complete or their deadline
 *     passes; tasks never block a thread. They are safe while a runtime
 *     starts or ends too, and with no runtime at all. Task groups and
 *     shields are for tasks only.
 *     No cio call is async-signal-safe: none may be made from a signal
 *     handler.
 *   - When a task ends, its stack goes back to its worker's cache for the
 *     next task; stacks beyond a reserve (as many as are in use, plus 4 MiB
 *     of each size) return their pages to the system, keeping the address
 *     space until cio_run() returns. Pointers into an ended task's stack
 *     dangle, as with any returned function's frame.
 *   - Signals: cio_run() installs a SIGSEGV handler for its duration, and
 *     an alternate signal stack on each worker thread, so that a stack
 *     overflow is reported with the task's name; faults that are not a
 *     task's overflow go to the handler that was installed before
 *     cio_run() (or to the default action). A program with its own
 *     SIGSEGV handler should install it before cio_run() (with SA_ONSTACK
 *     if it must run when a task's stack is exhausted); one installed
 *     while cio_run() runs replaces cio's, and overflows then reach it as
 *     plain faults.
 */
#ifndef CIO_H
#define CIO_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

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
 * CIO_ECANCELED if the task is cancelled, CIO_ETIMEDOUT if the deadline
 * of a shield it is in (cio_shield_begin) passes first, CIO_EPERM outside
 * a task. Otherwise the task never resumes before its deadline. */
CIO_API int cio_sleep_until(int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Runtime                                                                  */
/* ------------------------------------------------------------------------ */

/* Smallest stack size a task may ask for, in bytes. Every stack size is
 * rounded up to a power of two of at least the page size (4 KiB on x86_64),
 * so the smallest stack is one page: every stack then has a guard page of
 * its own below it, which a smaller stack sharing a page could not have.
 * A stack this small holds a task that calls cio functions and little else.
 *
 * Overflow. A task that runs past the end of its stack stops the process
 * with "cio: stack overflow in task "NAME" (stack of N bytes); stopping the
 * process" on stderr and SIGABRT. Where the kernel has guard regions
 * (Linux 6.13 and later), a write into the guard page stops it at once,
 * before any other task's stack is touched, unless a single frame skips
 * more than a page past the end (a local array of more than a page left
 * partly unused; -fstack-clash-protection rules that out). Elsewhere
 * (older kernels, emulators such as qemu-user) the guard page is only an
 * unprotected gap: an overrun of less than a page lands there, and is
 * caught at the task's next switch (its stack pointer still past the end,
 * or the canary in the stack's lowest 16 bytes changed); an overrun that
 * runs on past the gap may reach the neighbouring stack before that. */
#define CIO_STACK_MIN 2048
/* Default stack size: enough for ordinary C code (printf, getaddrinfo).
 * Only the pages a task touches cost memory.
 *
 * Stack memory. A finished task's stack is kept for the next task. When
 * the number of tasks falls, the pages of kept stacks beyond a reserve
 * (per size class: as many as are in use, plus 4 MiB worth) go back to
 * the system, mostly while workers have nothing to run; a task that later
 * reuses such a stack pays its page faults again. The address space stays
 * reserved until cio_run returns (cio_stats: stacks_cached,
 * stacks_released, stack_bytes_mapped). */
#define CIO_STACK_DEFAULT (64 * 1024)
/* Largest stack a task may ask for. */
#define CIO_STACK_MAX (64 * 1024 * 1024)

/* Runtime settings. Fill with cio_config_init(), then change fields;
 * fields may be appended in later versions. */
typedef struct cio_config {
    int workers;       /* worker threads; 0: $CIO_WORKERS or the CPU count */
    size_t stack_size; /* default task stack; 0: CIO_STACK_DEFAULT */
    int pool_threads;  /* most threads of the blocking pool; 0: 64 */
    int64_t pool_idle_ns; /* a pool thread idle this long exits; 0: 10 s;
                             CIO_NEVER: never */
    int stats;         /* time accounting (cio_worker_stats,
                          cio_task_stats): 1 on, 2 exact per run (a clock
                          read at every switch and wake), -1 off;
                          0: $CIO_STATS ("0", "1" or "2"; any other
                          value is refused), on when unset or empty */
    int64_t stall_ns;  /* a worker that runs one task this long without a
                          switch is reported on stderr (see below);
                          0: $CIO_STALL_MS (0: never) or 100 ms;
                          -1 or CIO_NEVER: never */
    const char *trace; /* trace file (see Traces below); NULL: $CIO_TRACE,
                          no trace when that is unset or empty */
    size_t trace_events; /* events kept per lane; 0: $CIO_TRACE_EVENTS or
                          65536; 16 to 16777216 (rounded up to a power
                          of two) */
    int trace_flight;  /* 1: flight recorder (keep the last trace_events
                          per lane, write only when asked); -1: stream
                          the whole trace; 0: $CIO_TRACE_FLIGHT ("1" or
                          "0"), else stream */
    int sigquit;       /* 1: SIGQUIT prints cio_dump() to stderr and writes
                          the flight recorder's trace; -1: SIGQUIT keeps
                          its action; 0: $CIO_SIGQUIT ("1" or "0"), else
                          as -1 */
    const char *backend; /* how workers meet the kernel (see Backends
                          below): "io_uring", "epoll" or "auto"; NULL or
                          "": $CIO_BACKEND, else "auto" */
    int64_t compact_after_ns; /* a task made with CIO_SPAWN_COMPACT that
                          has waited this long has its frames copied out
                          (see there); 0: 50 ms; -1 or CIO_NEVER: never */
} cio_config;

/* Backends. Each worker meets the kernel through one of two backends,
 * chosen when cio_run starts; a program runs unchanged on either.
 *   - io_uring (Linux 5.19 or later): a ring per worker. Socket reads and
 *     accepts that would wait, socket writes, connects and most file
 *     calls (all but transfers at the file position, ftruncate,
 *     cio_readdir and cio_read_file, which stay on the pool) are handed
 *     to the kernel as requests, batched with the worker's own wait: one
 *     system call hands them over, collects their results and sleeps.
 *     cio_wait_fd, pipes and tasks made with CIO_SPAWN_MIGRATE wait for
 *     readiness through an epoll instance the ring watches. A call whose
 *     wait ends (deadline, cancel, cio_close) while its request is in the
 *     kernel cancels it there and reports exactly one outcome: what the
 *     request did, if it completed, else why the wait ended.
 *     A TCP connection (from cio_connect, cio_accept or cio_socket with
 *     AF_INET or AF_INET6) whose read has had to wait gets one receive
 *     that stays in the kernel: it puts arriving bytes into buffers of
 *     the worker's ring (2 KiB each, up to 1,024 per worker: it starts
 *     with 64 and grows when receives find none free), where reads
 *     (cio_read, cio_readv) take them from, in order, whichever worker
 *     they run on. Bytes are thus read from the socket ahead of the
 *     program's reads: read such a socket through cio only (a recv(2) of
 *     its own would miss them; cio_wait_fd reports them readable, and
 *     cio_fd_forget refuses while any are held, and those still held
 *     when the runtime ends are lost). A connection's receive pauses
 *     once 8 of its buffers wait unread; when the ring has none free, a
 *     read receives into its own buffer as before. Closing the socket
 *     ends its receive first.
 *   - epoll: readiness for every wait; the call is then made directly.
 * "auto" (the default) takes io_uring when a probe at start finds every
 * setup flag and operation cio uses working, else epoll: container
 * runtimes and hardened hosts often refuse io_uring (EPERM). Asking for
 * io_uring where the probe fails makes cio_run fail with the probe's
 * error and a line on stderr saying what failed. The choice and why are
 * in cio_stats (backend, backend_why); CIO_DEBUG=backend prints them at
 * start. */

/* Stall reports. A task that computes for long without a waiting call
 * holds its worker: the other tasks that can only run there wait (tasks
 * not started yet, and those spawned with CIO_SPAWN_MIGRATE, are taken by
 * the other workers meanwhile). A watchdog thread notices a worker that
 * has run one task for cio_config.stall_ns without switching and writes,
 * once per stall, one line naming the task, its worker and how long, and
 * a backtrace of where the task is (glibc's backtrace(), taken on the
 * worker's thread by a SIGURG the watchdog sends it; names of functions
 * the program exports, addresses otherwise), e.g.
 *     cio: stall: task "hog" has run on worker 1 for 100 ms without
 *     waiting; where it is now:
 * The runtime owns SIGURG for its duration when reports are on (the
 * handler before is restored, and SIGURGs not sent by the watchdog go to
 * it). The signal interrupts what the stalled task is doing: a blocking
 * system call it makes (sleep(), a blocking read) may return EINTR or
 * early, as with any signal; errno is kept. A worker without its own
 * signal stack is not reported. */

/* Traces. With cio_config.trace (or CIO_TRACE=out.json), the runtime
 * records what each worker and each blocking-pool thread runs and when,
 * and writes it as Chrome trace-event JSON, which ui.perfetto.dev and
 * chrome://tracing open:
 *   - one lane per worker, per pool thread, and one for the program's
 *     own threads; every run of a task is a slice named after the task
 *     (args: its handle id, the run's number, and at its end what it
 *     went on to do: yield, wait on what, or exit);
 *   - a pool job is a slice on its thread's lane;
 *   - every wake is an arrow from where it happened (inside the waking
 *     task's run, the pool job, the reactor's dispatch of a poll, or a
 *     short slice named "timer", "thread", "scheduler" or "cancel") to
 *     the run it caused, and every
 *     spawn one to the task's first run;
 *   - a stall report (above) is an instant event named "stall".
 * Each lane is a buffer of cio_config.trace_events events that only its
 * thread writes (no lock, no atomic read-modify-write). Streaming (the
 * default), a thread of the runtime's moves them to the file ten times a
 * second; a lane that fills up faster drops events, and the trace says
 * how many ("dropped events" instants, and otherData.dropped_events).
 * The file is complete when cio_run returns. As a flight recorder
 * (cio_config.trace_flight), each lane keeps only its last events, and
 * the file is written, whole and anew (through a temporary file and a
 * rename), only by cio_trace_flush(), after a stall report, and on
 * SIGQUIT when cio_config.sigquit is on; nothing is written at the end.
 * Task names are copied into the trace at spawn (the first 46 bytes).
 * A trace reads the cycle counter at every switch, as cio_config.stats
 * level 2 does (and turns that level on). */

/* Writes the trace now: streaming, what the lanes hold so far goes to
 * the file; as a flight recorder, the file is written with what the
 * rings hold. Returns the number of trace events written (>= 0), or
 * CIO_ENOENT (no trace is on), CIO_ESRCH (no runtime runs), CIO_ENOMEM,
 * or the file's error. From a task, the writing runs on the blocking
 * pool and the task waits for it (the worker runs other tasks); from
 * another thread, on that thread. */
CIO_API int cio_trace_flush(void);

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
 * 1024, or a malformed CIO_WORKERS, pool_threads < 0 or over 4096,
 * pool_idle_ns < 0), CIO_EBUSY (called from inside a
 * runtime), CIO_ENOMEM or CIO_EAGAIN (memory or threads could not be had),
 * or main's start error (CIO_ENOMEM: no stack could be had for it). A bad
 * setting is also named on stderr with its value and what is accepted,
 * e.g. "cio: CIO_WORKERS=abc: expected a whole number of workers from 1
 * to 1024" or "cio: cio_config.pool_threads = 5000: expected 0 (the
 * default) to 4096".
 * Negative main return values therefore overlap with these codes; main
 * should return non-negative values. Not reentrant: one runtime at a time
 * per process. */
CIO_API int cio_run(int (*main)(void *arg), void *arg, const cio_config *cfg);

/* Index of the worker running the caller, in [0, workers), or CIO_EPERM
 * when not called from a worker. */
CIO_API int cio_worker(void);

/* Number of workers of the running runtime, or CIO_EPERM when none runs.
 * Thread-safe, also while a runtime starts or ends. */
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
    /* While the task waits long (cio_config.compact_after_ns) in
     * cio_sleep_until(), cio_wait_fd(), a read or write waiting for its
     * descriptor to be ready, or (io_uring) a TCP read waiting for its
     * connection's receive, its frames (from where it waits up to the top of its
     * stack, typically a few hundred bytes) are copied to a heap block of
     * that size and its stack's pages go back to the system; they are
     * copied back, to the same addresses, before it runs again, so its
     * own pointers into its frames stay valid. For tasks that spend most
     * of their life waiting (an idle connection, a sleeper): memory per
     * waiting task near its live frames rather than whole pages. The
     * price: a copy and a system call once a wait is old, a copy and page
     * faults when it ends; short waits cost a clock read. While it waits
     * other tasks must not read or write its stack (a pointer to one of
     * its locals handed to another task): they would see zeros, and
     * their writes would be lost. Waits the other side completes by
     * writing into the task's frames never allow it: io_uring requests
     * (socket writes there, reads of other sockets), channels, joins,
     * pool jobs. Not with CIO_SPAWN_MIGRATE. */
    CIO_SPAWN_COMPACT = 1u << 2,
};

/* Options for cio_spawn(). Fill with cio_spawn_opts_init(). */
typedef struct cio_spawn_opts {
    const char *name;  /* shown in reports; not copied: must outlive the task
                          (a string literal is typical); NULL: "task" */
    size_t stack_size; /* 0: the runtime's default; rounded up (see
                          CIO_STACK_MIN) */
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

/* Asks task `t` to stop. The task decides how to clean up and finish; it
 * is not killed. Cancelling twice is harmless; cancelling the caller itself
 * is allowed. Returns 0, CIO_ESRCH (no such task), CIO_EPERM when not
 * called from one of the runtime's workers (a task, typically).
 *
 * Which calls see a cancel, and when. A cancel is a flag on the task,
 * never cleared. Outside a shield (below), the calls that can wait return
 * CIO_ECANCELED when the flag is set while they wait, and when it is
 * already set at a moment they would have to wait: cio_join(), the
 * channel, select, lock, wait and acquire calls of the sync objects,
 * cio_group_wait() and a cio_group_spawn() that would wait for room.
 * These complete without a wait if they can (an element is there, a lock
 * is free, the task is done). cio_sleep_until(), cio_wait_fd(), the socket
 * calls that can wait (accept, connect, read, write and their v- and
 * all- forms), cio_blocking() and cio_resolve() refuse at entry once the
 * flag is set. cio_yield() yields and then reports the flag. Calls that
 * never wait (try- forms, close, spawn, unlock, release, set) ignore it.
 * A call completed just as the cancel came reports what happened: an
 * element received or a lock taken is the caller's (0), bytes moved are
 * counted; a call that returns CIO_ECANCELED did nothing. A condition
 * wait relocks its mutex even when cancelled. */
CIO_API int cio_cancel(cio_task t);

/* A shield: a scope in which a cancel of the task is held back (its waits
 * are neither woken nor refused because of it) until the scope ends, so a
 * cancelled task can still say goodbye to a client, flush a file or join
 * its children. The scope has its own deadline: every wait inside it
 * returns CIO_ETIMEDOUT once that passes (also a wait with a later or no
 * deadline of its own), so cleanup cannot hang; the one exception is the
 * relock at the end of cio_cond_wait(), which waits for the mutex however
 * long it takes. Shields nest: an inner shield's deadline is capped by the
 * outer one's. After the outermost shield ends, a cancel that came
 * meanwhile applies to the next wait. */
typedef struct cio_shield {
    int64_t saved; /* private */
    int depth;     /* private */
} cio_shield;

/* Task only. Begins a shield in `s` (kept by the caller until
 * cio_shield_end) with deadline `deadline` (CIO_NEVER: none of its own).
 * Returns 0, CIO_EINVAL (NULL), CIO_EPERM outside a task. */
CIO_API int cio_shield_begin(cio_shield *s, int64_t deadline);

/* Task only. Ends the innermost shield, `s`. Returns 0, CIO_EINVAL (NULL,
 * not begun, already ended, or not the innermost), CIO_EPERM. */
CIO_API int cio_shield_end(cio_shield *s);

/* Task only. The calling task's handle (zero outside a task). */
CIO_API cio_task cio_self(void);

/* Task only. Whether the calling task has been cancelled (1) or not (0),
 * also inside a shield (so cleanup code can tell why it runs). */
CIO_API int cio_cancelled(void);

/* Task only. Lets the other runnable tasks of this worker run; the caller
 * runs again after them. Returns 0, CIO_ECANCELED if the task has been
 * cancelled (it still yielded), CIO_EPERM outside a task. */
CIO_API int cio_yield(void);

/* The name given at spawn, or "task"; NULL when `t` names no live task
 * (also when no runtime runs, and for a handle from an earlier runtime).
 * The string belongs to the caller of cio_spawn(). Thread-safe, also
 * while a runtime starts or ends. */
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
/* Waiting for descriptors                                                  */
/* ------------------------------------------------------------------------ */

/* How cio watches descriptors. Each worker has a reactor (epoll). A
 * descriptor is registered once, edge-triggered, with the reactor of the
 * worker whose task first has to wait on it, and stays registered until
 * cio_close() or cio_fd_forget(); a wait costs no system call of its own.
 * cio remembers per descriptor number what it has seen, so a descriptor
 * that cio has waited on must be closed with cio_close() (or released with
 * cio_fd_forget() before close(2)); otherwise a later descriptor with the
 * same number may inherit stale state. Descriptors cio does not create are
 * set up the first time a cio call uses them: a socket, pipe or FIFO is
 * switched to O_NONBLOCK (a pipe or FIFO gets its flags back when
 * cio_close() or cio_fd_forget() gives it up, or cio_run returns, so the
 * shell of `prog | less` is not left with a non-blocking pipe, and a
 * child started with cio_proc_spawn() gets it blocking); a terminal
 * (not a pseudo-terminal's master) is read and written through a
 * description cio opens on the same device, so neither the program's
 * descriptor nor the shell's terminal ever becomes non-blocking; a
 * regular file, directory or block
 * device cannot wait in the reactor, so cio_read(), cio_write() and their
 * vector forms on it run on the blocking pool (as cio_file_read() and
 * cio_file_write() do). So a task reads its own stdin and writes its
 * stdout and stderr, whatever they are, without holding its worker.
 *
 * Calls that complete without waiting consume a per-task budget; when it is
 * used up the task yields, so a descriptor that is always ready cannot keep
 * the other tasks of its worker from running.
 *
 * Closing a descriptor with cio_close() while other tasks wait on it wakes
 * them: their calls return CIO_EBADF. */

/* Events for cio_wait_fd(). */
enum {
    CIO_READABLE = 1, /* data, a connection to accept, end of file, error */
    CIO_WRITABLE = 2, /* room to write, a connect finished, error */
};

/* Task only. Waits until `fd` is readable and/or writable (`events`, a
 * mask of CIO_READABLE and CIO_WRITABLE) as seen by an edge since the last
 * wait; use it after a call on `fd` failed with EAGAIN. Errors and hang-ups
 * count as both. Returns the ready subset of `events` (> 0), CIO_ETIMEDOUT,
 * CIO_ECANCELED, CIO_EBADF (fd < 0, or closed by cio_close() meanwhile),
 * CIO_EINVAL (events has no known bit), CIO_ENOMEM, CIO_EPERM outside a
 * task. Descriptors epoll cannot watch (regular files) are always ready.
 * When the deadline has passed, the descriptor's current state is asked
 * of the kernel (poll(2), no wait) before CIO_ETIMEDOUT is reported. */
CIO_API int cio_wait_fd(int fd, int events, int64_t deadline);

/* Closes `fd`: wakes every task waiting on it (they get CIO_EBADF), waits
 * for calls on it in other tasks to leave the descriptor, unregisters it
 * and close(2)s it. Callable from any thread, inside a runtime or not,
 * also while one starts or ends. A call on `fd` that starts while the
 * close is under way gets CIO_EBADF, unless the number has been closed
 * and reused meanwhile (by another thread's open(2), say): then it acts on
 * the new descriptor. A
 * socket with CIO_SO_LINGER set to a positive time makes close(2), and so
 * the calling worker, wait up to that time for unsent data (Linux does so
 * even for non-blocking sockets).
 * Returns 0, CIO_EBADF (fd < 0 or not open), or close(2)'s error. */
CIO_API int cio_close(int fd);

/* Like cio_close() without the close(2): cio forgets `fd` and wakes its
 * waiters with CIO_EBADF; the caller still owns the descriptor. Returns 0,
 * CIO_EBADF (fd < 0, or a close of it is under way) or CIO_EBUSY: cio
 * holds bytes it received ahead on this TCP socket (io_uring: see
 * Backends) that no read took yet; read them with cio_read() and forget
 * it again (nothing is forgotten meanwhile). Thread-safe as cio_close(). */
CIO_API int cio_fd_forget(int fd);

/* ------------------------------------------------------------------------ */
/* Reading and writing                                                      */
/* ------------------------------------------------------------------------ */

/* Task only, each of them. They work on any descriptor (sockets, pipes,
 * ttys, eventfd...) and wait, within `deadline`, when it is not ready.
 * Common errors: CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EBADF (also: closed by
 * cio_close() while waiting), CIO_EPERM outside a task, and whatever the
 * system call reports (CIO_ECONNRESET, CIO_EPIPE, ...). SIGPIPE is never
 * raised by cio's socket writes; a closed peer gives CIO_EPIPE. With a
 * deadline that has passed (0, say) they make the system call once and
 * report CIO_ETIMEDOUT only if it would block. Asked for 0 bytes (n, or
 * the iovecs' total length, is 0) they return 0 at once without touching
 * the descriptor (CIO_EBADF for fd < 0, CIO_EPERM outside a task). */

/* Reads at most `n` bytes. Returns the count read (> 0), 0 at end of file
 * (or when n is 0), or an error. */
CIO_API ssize_t cio_read(int fd, void *buf, size_t n, int64_t deadline);

/* Writes at most `n` bytes; returns the count written (> 0; fewer than n
 * when the kernel took fewer), 0 when n is 0, or an error. */
CIO_API ssize_t cio_write(int fd, const void *buf, size_t n, int64_t deadline);

/* Scatter/gather forms of cio_read() and cio_write(); iovcnt in
 * [0, IOV_MAX] and the lengths' total at most SSIZE_MAX, otherwise
 * CIO_EINVAL (checked before anything else). */
CIO_API ssize_t cio_readv(int fd, const struct iovec *iov, int iovcnt,
                          int64_t deadline);
CIO_API ssize_t cio_writev(int fd, const struct iovec *iov, int iovcnt,
                           int64_t deadline);

/* Writes all `n` bytes, waiting as often as needed within one deadline.
 * Returns n, or an error; either way *written (if not NULL) receives the
 * count the kernel took, so a caller can tell how much reached the peer's
 * side before the error. */
CIO_API ssize_t cio_write_all(int fd, const void *buf, size_t n,
                              size_t *written, int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */
/* ------------------------------------------------------------------------ */

/* A socket address of any family cio supports (IPv4, IPv6, Unix). */
typedef struct cio_addr {
    socklen_t len; /* bytes of `u` in use */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
        struct sockaddr_storage ss;
    } u;
} cio_addr;

/* Longest text cio_addr_format() writes, with its terminating NUL. */
#define CIO_ADDR_STRLEN 112

/* Fills `out` from a numeric IPv4 or IPv6 address ("127.0.0.1", "::1",
 * "fe80::1%lo") and a port in [0, 65535]. `ip` NULL or "" means all IPv4
 * addresses (0.0.0.0). No name resolution (see cio_resolve()). Returns 0,
 * CIO_EINVAL (not a numeric address, bad port, NULL out). Thread-safe. */
CIO_API int cio_addr_ip(cio_addr *out, const char *ip, int port);

/* Fills `out` with a Unix socket path; a path starting with '@' names an
 * abstract socket. Returns 0, CIO_ENAMETOOLONG (longer than sun_path),
 * CIO_EINVAL (NULL or empty). Thread-safe. */
CIO_API int cio_addr_unix(cio_addr *out, const char *path);

/* The port of an IPv4/IPv6 address, or CIO_EINVAL for other families. */
CIO_API int cio_addr_port(const cio_addr *a);

/* Sets the port of an IPv4/IPv6 address. Returns 0, or CIO_EINVAL (NULL,
 * another family, or a port outside [0, 65535]). */
CIO_API int cio_addr_set_port(cio_addr *a, int port);

/* Writes "1.2.3.4:80", "[::1]:80" or the Unix path ("@name" for an
 * abstract one) into buf. Returns the length written (without the NUL),
 * CIO_ENOSPC when `size` is too small (nothing is truncated silently: buf
 * is then ""), CIO_EINVAL (NULL, size 0, an unknown family, or a `len`
 * beyond the family's structure; buf is then "" too). */
CIO_API int cio_addr_format(const cio_addr *a, char *buf, size_t size);

/* The local / remote address of socket `fd`. Returns 0 or an error. */
CIO_API int cio_sock_name(int fd, cio_addr *out);
CIO_API int cio_peer_name(int fd, cio_addr *out);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                  */
/* ------------------------------------------------------------------------ */

/* Flags for cio_listen(), cio_tcp_listen() and cio_udp_bind(). */
enum {
    CIO_LISTEN_REUSEPORT = 1u << 0, /* SO_REUSEPORT: several sockets may
                                       share the address (load spreading) */
    CIO_LISTEN_V6ONLY = 1u << 1,    /* IPv6 socket takes no IPv4 traffic */
};

/* Creates a non-blocking, close-on-exec socket (socket(2) arguments)
 * known to cio. Returns the descriptor or an error. Thread-safe. */
CIO_API int cio_socket(int family, int type);

/* Creates a listening stream socket on `addr` (IPv4, IPv6 or Unix) with
 * `backlog` (<= 0: SOMAXCONN). TCP sockets get SO_REUSEADDR. Returns the
 * descriptor, or CIO_EADDRINUSE, CIO_EACCES, CIO_EINVAL, CIO_EMFILE...
 * Thread-safe. */
CIO_API int cio_listen(const cio_addr *addr, int backlog, unsigned flags);

/* Task only. cio_listen() on `host`:`port`. `host` is a numeric address,
 * NULL or "" for every address (IPv6 "::", which also takes IPv4 unless
 * CIO_LISTEN_V6ONLY; IPv4 0.0.0.0 where IPv6 is unavailable), or a name,
 * resolved with cio_resolve() (the first address is used). Port 0 picks a
 * free port: read it back with cio_sock_name(). */
CIO_API int cio_tcp_listen(const char *host, int port, int backlog,
                           unsigned flags);

/* cio_listen() on a Unix socket path. An existing file at `path` is not
 * removed: CIO_EADDRINUSE. Thread-safe. */
CIO_API int cio_unix_listen(const char *path, int backlog);

/* Task only. Accepts a connection on listening socket `lfd`, waiting
 * within `deadline`. The new descriptor is non-blocking and close-on-exec;
 * *peer (if not NULL) receives the peer's address. Connections the peer
 * aborted before they were accepted are skipped. Returns the descriptor,
 * CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EBADF, CIO_EMFILE / CIO_ENFILE (out of
 * descriptors: the connection stays queued; back off, e.g. sleep, and try
 * again, the listener keeps working), CIO_ENOBUFS, CIO_ENOMEM, CIO_EPERM. */
CIO_API int cio_accept(int lfd, cio_addr *peer, int64_t deadline);

/* Task only. Connects socket `fd` (from cio_socket()) to `addr` within
 * `deadline`. Returns 0, CIO_ECONNREFUSED, CIO_ETIMEDOUT, CIO_ECANCELED,
 * CIO_EBADF (also: closed by cio_close() while connecting),
 * CIO_ENETUNREACH, CIO_EHOSTUNREACH, CIO_EAGAIN (Unix socket backlog
 * full), CIO_EPERM... After an error the socket must be closed. */
CIO_API int cio_connect(int fd, const cio_addr *addr, int64_t deadline);

/* Task only. Creates a socket and connects it to `addr`; returns the
 * descriptor or cio_connect()'s errors (the socket is closed then). */
CIO_API int cio_connect_addr(const cio_addr *addr, int64_t deadline);

/* Task only. Connects to `host`:`port` over TCP. A name is resolved with
 * cio_resolve() and each address is tried in turn until one connects, all
 * within the one deadline (each attempt gets a share of the time left).
 * Returns the descriptor, or the last attempt's error, or the resolver's
 * (CIO_ENOHOST...). */
CIO_API int cio_tcp_connect(const char *host, int port, int64_t deadline);

/* Task only. Connects to the Unix stream socket at `path`. */
CIO_API int cio_unix_connect(const char *path, int64_t deadline);

/* shutdown(2): `how` is SHUT_RD, SHUT_WR or SHUT_RDWR. Returns 0 or an
 * error (CIO_ENOTCONN, CIO_EBADF, CIO_EINVAL). Thread-safe. */
CIO_API int cio_shutdown(int fd, int how);

/* Socket options for cio_sockopt_set() / cio_sockopt_get(). */
enum {
    CIO_SO_NODELAY = 1,   /* TCP_NODELAY: 0 or 1 */
    CIO_SO_KEEPALIVE,     /* SO_KEEPALIVE: 0 or 1 */
    CIO_SO_KEEPIDLE,      /* TCP_KEEPIDLE: seconds idle before probes */
    CIO_SO_RCVBUF,        /* SO_RCVBUF: bytes (the kernel doubles it) */
    CIO_SO_SNDBUF,        /* SO_SNDBUF: bytes (the kernel doubles it) */
    CIO_SO_REUSEADDR,     /* SO_REUSEADDR: 0 or 1 */
    CIO_SO_REUSEPORT,     /* SO_REUSEPORT: 0 or 1 */
    CIO_SO_LINGER,        /* SO_LINGER: seconds, or -1 for off; 0 resets the
                             connection at close */
    CIO_SO_BROADCAST,     /* SO_BROADCAST (UDP): 0 or 1 */
    CIO_SO_ERROR,         /* SO_ERROR (get only): pending error, negative */
};

/* Sets / reads a socket option. Returns 0, CIO_EINVAL (unknown option or
 * value), or setsockopt(2)'s error. Thread-safe. */
CIO_API int cio_sockopt_set(int fd, int opt, int value);
CIO_API int cio_sockopt_get(int fd, int opt, int *value);

/* Creates a UDP socket bound to `addr` (port 0: any free port). Flags:
 * CIO_LISTEN_REUSEPORT, CIO_LISTEN_V6ONLY. Returns the descriptor or an
 * error. Thread-safe. */
CIO_API int cio_udp_bind(const cio_addr *addr, unsigned flags);

/* Task only. Sends one datagram to `to` (NULL: the connected peer).
 * Returns the bytes sent, or an error (CIO_EMSGSIZE when too large). */
CIO_API ssize_t cio_sendto(int fd, const void *buf, size_t n,
                           const cio_addr *to, int64_t deadline);

/* Task only. Receives one datagram; bytes beyond `n` are discarded and
 * reported: the return value is then the datagram's full length (> n), as
 * with MSG_TRUNC. *from (if not NULL) receives the sender's address.
 * Returns the datagram's length or an error (CIO_EINVAL on a stream
 * socket cio made: use cio_read). */
CIO_API ssize_t cio_recvfrom(int fd, void *buf, size_t n, cio_addr *from,
                             int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

/* Regular files cannot be waited on (the kernel calls them always ready,
 * and a read may still wait for the disk), so every call here runs its
 * system calls on the blocking pool, or on the io_uring backend mostly as
 * requests the kernel runs itself (see Backends), while the calling task
 * is stopped and its worker runs other tasks; the calls and results are
 * the same either way. All are task only (CIO_EPERM elsewhere) and take
 * a deadline, and cancellation applies, as for cio_blocking(): a request
 * still waiting for a pool thread, or not yet started by the kernel, is
 * taken back and does not happen (CIO_ETIMEDOUT, CIO_ECANCELED); one the
 * kernel is running is waited for and its outcome reported (a read that
 * started returns its data). Transfers larger than 1 MiB are made in
 * 1 MiB pieces, each a request of its own, so a deadline or cancel is
 * seen between pieces. Errors are negative errno values as the system
 * calls give them (CIO_ENOENT, CIO_EACCES, CIO_EISDIR, CIO_EBADF, ...),
 * CIO_EINVAL for a NULL pointer or a negative offset or length. A file
 * descriptor from cio_file_open() is a plain descriptor: close it with
 * cio_file_close() (or close(2) outside tasks); it is not for cio_read()
 * and the socket calls. */

/* open(2) of `path` with `flags` (O_CLOEXEC is always added) and `mode`
 * (for O_CREAT). Returns the descriptor or an error. */
CIO_API int cio_file_open(const char *path, int flags, int mode,
                          int64_t deadline);
/* Closes `fd`. Always closes (no deadline; a cancel pending makes it
 * close on the calling thread). Returns 0 or close(2)'s error. */
CIO_API int cio_file_close(int fd);
/* Reads up to `n` bytes at the file position (cio_file_pread: at `off`,
 * leaving the position). Returns the count, fewer than `n` only at end
 * of file (0 there) or where the file gives less (a pipe, a device), or
 * an error (an error after some bytes were read returns the count; the
 * next call reports it). */
CIO_API ssize_t cio_file_read(int fd, void *buf, size_t n, int64_t deadline);
CIO_API ssize_t cio_file_pread(int fd, void *buf, size_t n, int64_t off,
                               int64_t deadline);
/* Writes all `n` bytes at the file position (cio_file_pwrite: at `off`),
 * retrying short writes. Returns n, or an error; either way *written (if
 * not NULL) receives the count written, so nothing is lost silently. */
CIO_API ssize_t cio_file_write(int fd, const void *buf, size_t n,
                               size_t *written, int64_t deadline);
CIO_API ssize_t cio_file_pwrite(int fd, const void *buf, size_t n,
                                int64_t off, size_t *written,
                                int64_t deadline);
/* readv(2) as one request: the count, or an error. */
CIO_API ssize_t cio_file_readv(int fd, const struct iovec *iov, int iovcnt,
                               int64_t deadline);
/* writev(2) of all the buffers, retrying short writes from where they
 * stopped (the caller's array is not changed). Returns the total, or an
 * error with *written as in cio_file_write(). */
CIO_API ssize_t cio_file_writev(int fd, const struct iovec *iov, int iovcnt,
                                size_t *written, int64_t deadline);
/* fsync(2), fdatasync(2), ftruncate(2), fstat(2). */
CIO_API int cio_file_sync(int fd, int64_t deadline);
CIO_API int cio_file_datasync(int fd, int64_t deadline);
CIO_API int cio_file_truncate(int fd, int64_t len, int64_t deadline);
CIO_API int cio_file_stat(int fd, struct stat *st, int64_t deadline);
/* stat(2), unlink(2), rename(2), mkdir(2), rmdir(2) of paths. */
CIO_API int cio_stat(const char *path, struct stat *st, int64_t deadline);
CIO_API int cio_unlink(const char *path, int64_t deadline);
CIO_API int cio_rename(const char *from, const char *to, int64_t deadline);
CIO_API int cio_mkdir(const char *path, int mode, int64_t deadline);
CIO_API int cio_rmdir(const char *path, int64_t deadline);

/* An entry of a directory listing. */
typedef struct cio_dirent {
    const char *name;   /* in the listing's own memory */
    unsigned char type; /* DT_REG, DT_DIR... from <dirent.h>; DT_UNKNOWN
                           when the file system does not say */
} cio_dirent;

/* Lists directory `path` (without "." and ".."), in the order the file
 * system gives. *entries receives an array of *n entries in one block
 * that the caller frees with free(). Returns 0 or an error (CIO_ENOTDIR,
 * CIO_ENOENT, CIO_ENOMEM...). */
CIO_API int cio_readdir(const char *path, cio_dirent **entries, size_t *n,
                        int64_t deadline);

/* Reads all of file `path` into a buffer the caller frees with free()
 * (*data; a NUL follows the *len bytes, so text can be used as a
 * string). `max` > 0 bounds the size: a larger file gives CIO_EFBIG and
 * no data. Returns 0 or an error. */
CIO_API int cio_read_file(const char *path, void **data, size_t *len,
                          size_t max, int64_t deadline);
/* Replaces file `path` with `len` bytes of `data` so that, whatever
 * happens (a crash, a kill, a full disk), the file is either the old one
 * or the new one, whole: a temporary file beside it, written and
 * fsync'ed, renamed over `path`, then the directory fsync'ed so the
 * rename itself is durable. `mode` is the new file's mode (before the
 * umask). On error the old file is untouched and the temporary file
 * removed. Returns 0 or an error. */
CIO_API int cio_write_file_atomic(const char *path, const void *data,
                                  size_t len, int mode, int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Signals                                                                  */
/* ------------------------------------------------------------------------ */

/* Task only. Waits for one of the signals in `set` while the other tasks
 * run on, and returns its number. The first wait for a signal in a
 * cio_run installs the runtime's handler for it (on every thread: no
 * signal mask needs changing, and threads of the program's own may
 * receive it too); from then until cio_run returns, when the action
 * before is put back, the signal no longer has its default effect (a
 * SIGINT no longer ends the program): it is handed to every task waiting
 * for it when it comes, or, when none is, kept (once, as the kernel keeps
 * a standard signal) for the next wait that includes it. Signals that
 * come faster than they are handed over may be merged into one. Returns
 * the signal, or CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EINVAL (NULL or empty
 * set, or a signal no task may wait for: SIGKILL and SIGSTOP, which
 * cannot be caught; SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGSYS,
 * which belong to the thread that faulted; SIGURG, which the stall
 * reports use), CIO_EPERM. With cio_config.sigquit on, do not wait for
 * SIGQUIT (the dump handles it). A wait whose deadline has passed (0)
 * takes the signals from then on and returns at once (CIO_ETIMEDOUT, or
 * a signal already kept): a server does that before it says it is ready,
 * so a stop signal sent just after is handed to it rather than ending
 * the process. */
CIO_API int cio_signal_wait(const sigset_t *set, int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Child processes                                                          */
/* ------------------------------------------------------------------------ */

/* A child process started by cio_proc_spawn(), owned by the handle until
 * cio_proc_free(). The handle may be used from any task (one cio_proc_free
 * at the end, after every other call on it has returned). */
typedef struct cio_proc cio_proc;

/* What a child's stdin, stdout or stderr is (cio_proc_opts.stdio[i]). */
enum {
    CIO_STDIO_INHERIT = 0, /* the parent's descriptor 0, 1 or 2 */
    CIO_STDIO_PIPE,        /* a pipe; the parent's end is cio_proc_fd() */
    CIO_STDIO_NULL,        /* /dev/null */
    CIO_STDIO_FD,          /* the parent's descriptor stdio_fd[i] */
    CIO_STDIO_STDOUT,      /* stderr only: whatever the child's stdout is */
};

/* cio_proc_opts.flags. */
enum {
    CIO_PROC_PATH = 1,      /* a file name without '/' is looked up in the
                               parent's $PATH, as execvp(3) does */
    CIO_PROC_NEW_GROUP = 2, /* the child leads a new process group: a
                               terminal's Ctrl-C reaches the parent only,
                               which may forward it (cio_proc_kill) */
};

typedef struct cio_proc_opts {
    const char *const *env; /* "NAME=value" strings, NULL-terminated;
                               NULL: the parent's environment */
    const char *cwd;        /* working directory; NULL: the parent's */
    int stdio[3];           /* CIO_STDIO_* for stdin, stdout, stderr */
    int stdio_fd[3];        /* the descriptors for CIO_STDIO_FD */
    unsigned flags;         /* CIO_PROC_* */
} cio_proc_opts;

/* All inherited, no flags. */
CIO_API void cio_proc_opts_init(cio_proc_opts *o);

/* The status cio_proc_wait() returns: an exit code in [0, 255], or
 * CIO_PROC_SIGNALED + the signal that ended the child. */
#define CIO_PROC_SIGNALED 256
#define CIO_PROC_TERMSIG(status)                                              \
    ((status) >= CIO_PROC_SIGNALED ? (status) - CIO_PROC_SIGNALED : 0)

/* Task only. Starts `file` (a path, or with CIO_PROC_PATH a name to look
 * up) with the arguments `argv` (NULL-terminated; argv[0] is the name the
 * child sees) and options `o` (NULL: all inherited). The child gets the
 * signal mask cio_run's caller had and the signal actions the program
 * set, except those cio installed (put back to the default by exec); no
 * descriptor cio made crosses into it (all are close-on-exec). A stream
 * it inherits that cio made non-blocking (a pipe the program used with
 * cio_write) reaches it as a blocking description of the same pipe. The
 * parent's ends of pipes are non-blocking and close-on-exec, for
 * cio_read() and cio_write() from any task. The program is looked up
 * and checked before the start, so a missing or non-executable one is an
 * error here, not a child that exits 127. The start (posix_spawn(3): the
 * child shares the parent's memory until exec, so it costs no copy) runs
 * on the calling worker. Returns 0 and *p, or the error of the start:
 * CIO_ENOENT (no such program), CIO_EACCES, CIO_ENOEXEC, CIO_E2BIG,
 * CIO_ETXTBSY, CIO_ENOMEM, CIO_EMFILE, CIO_EAGAIN (process limit),
 * CIO_EBADF (a stdio_fd that is not open), CIO_EINVAL (NULL p, file or
 * argv, unknown flags, an unknown stdio mode, a negative stdio_fd,
 * CIO_STDIO_STDOUT for stdin or stdout), CIO_ECANCELED, CIO_EPERM outside
 * a task. Nothing is left behind on an error. */
CIO_API int cio_proc_spawn(cio_proc **p, const char *file,
                           const char *const argv[], const cio_proc_opts *o);

/* The child's process id (still valid until cio_proc_free; after the
 * child was waited for, the number may name another process). */
CIO_API int cio_proc_pid(const cio_proc *p);

/* The parent's end of the pipe to the child's stream `i` (0 stdin, 1
 * stdout, 2 stderr), or CIO_EBADF when that stream is not a pipe or its
 * end was closed. The descriptor belongs to the handle: close it with
 * cio_proc_close_fd(), not cio_close(). */
CIO_API int cio_proc_fd(const cio_proc *p, int i);

/* Closes the parent's end of the pipe to stream `i` (the child reads end
 * of file on its stdin; a task waiting on it gets CIO_EBADF). Returns 0
 * or CIO_EBADF. */
CIO_API int cio_proc_close_fd(cio_proc *p, int i);

/* Task only. Waits until the child ends and returns its status (see
 * CIO_PROC_SIGNALED); after it ended, every call returns the same status
 * at once. Waits on a pidfd in the reactor (Linux 5.3), else checks at
 * growing intervals (1 to 50 ms). Returns the status, CIO_ETIMEDOUT,
 * CIO_ECANCELED (the child runs on: cio_proc_kill() or cio_proc_free()
 * ends it), CIO_ECHILD (someone else collected the child: SIGCHLD set to
 * SIG_IGN, or a waitpid(-1) elsewhere in the program), CIO_EINVAL,
 * CIO_EPERM. */
CIO_API int cio_proc_wait(cio_proc *p, int64_t deadline);

/* Sends `sig` to the child (through its pidfd where there is one, so never
 * to a process that reused its number). With CIO_PROC_NEW_GROUP, to its
 * whole group when `group` is non-zero (to the child alone if it has
 * left that group). Several tasks may wait for one child: each gets its
 * status. Returns 0, CIO_ESRCH (it has ended and was waited for),
 * CIO_EINVAL (a bad signal), CIO_EPERM (not ours to signal: it changed
 * its user). */
CIO_API int cio_proc_kill(cio_proc *p, int sig, int group);

/* Frees the handle, closes the parent's pipe ends and sets *p to NULL. A
 * child not yet waited for is killed (SIGKILL; with CIO_PROC_NEW_GROUP,
 * its group) and collected on the blocking pool (outside a task: by the
 * calling thread, which waits for it), so no zombie stays behind: wait
 * for a child that must finish its work. A child the program may not
 * signal (CIO_EPERM from cio_proc_kill) is left running, since waiting
 * for it could hold the runtime's end for ever; the system collects it
 * when this process ends. Callable by a task whose cancel is pending,
 * and from any thread. Returns 0 or CIO_EINVAL (NULL). */
CIO_API int cio_proc_free(cio_proc **p);

/* ------------------------------------------------------------------------ */
/* The blocking pool and name resolution                                    */
/* ------------------------------------------------------------------------ */

/* Work for the blocking pool: anything that would hold a worker (file
 * system calls, DNS, CPU-heavy work, a library that blocks). */
typedef void *cio_job_fn(void *arg);

/* Task only. Runs fn(arg) on a thread of the blocking pool while the
 * calling task is stopped and its worker runs other tasks; *result (if not
 * NULL) receives fn's return value. The pool starts threads on demand up
 * to cio_config.pool_threads and lets them exit after pool_idle_ns idle.
 * fn runs on a plain thread: the task-only cio calls return CIO_EPERM
 * there. The deadline and cancellation apply while the job waits for a
 * thread: then it is taken back and never runs (CIO_ETIMEDOUT,
 * CIO_ECANCELED). Once it runs, the caller waits for it to finish, however
 * long it takes, because fn may use the caller's memory; the cancellation
 * is then seen by the caller's next waiting call.
 * Returns 0, CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EINVAL (NULL fn), CIO_EAGAIN
 * (no pool thread could be started and none exists), CIO_EPERM. */
CIO_API int cio_blocking(cio_job_fn *fn, void *arg, void **result,
                         int64_t deadline);

/* Task only. Resolves `host` (a name or a numeric address; NULL means the
 * local host) and `service` (a port number or a service name; may be
 * NULL) with getaddrinfo() on the blocking pool. `family` is AF_UNSPEC,
 * AF_INET or AF_INET6. Up to `max` addresses are stored in `out`, in the
 * order the system prefers. Returns the number of addresses found (which
 * may exceed `max`: only the first `max` are stored), or CIO_ENOHOST (no
 * such name, or no address of that family), CIO_EAGAIN (temporary
 * failure: try again later), CIO_EINVAL (bad argument, unknown service),
 * CIO_ETIMEDOUT, CIO_ECANCELED (the lookup may finish in the background;
 * its result is dropped), CIO_ENOMEM, CIO_EIO (resolver failure), CIO_EPERM.
 */
CIO_API int cio_resolve(const char *host, const char *service, int family,
                        cio_addr *out, int max, int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Channels                                                                 */
/* ------------------------------------------------------------------------ */

/* A channel moves elements of one fixed size from senders to receivers,
 * in order, each element to exactly one receiver. Unbuffered (capacity 0)
 * a send waits for a receive and hands the element over; buffered, sends
 * wait only while the ring of `capacity` elements is full. Any number of
 * tasks on any workers may send and receive. Elements are copied in and
 * out: pass a pointer as the element to move bigger things. */
typedef struct cio_chan cio_chan;

/* Creates a channel for elements of `elem_size` bytes (1 to 65536) and
 * `capacity` buffered elements (0: unbuffered). Returns 0 and the channel
 * in *out, or CIO_EINVAL (NULL out, a size out of range), CIO_ENOMEM.
 * Thread-safe. */
CIO_API int cio_chan_make(cio_chan **out, size_t elem_size, size_t capacity);

/* Task only. Sends the element at `elem` (elem_size bytes, copied).
 * Returns 0 once a receiver has it or it is buffered; CIO_ECLOSED (the
 * channel is closed: the element was not sent), CIO_ETIMEDOUT,
 * CIO_ECANCELED (not sent either), CIO_EINVAL (NULL), CIO_EPERM. Each call
 * has exactly one outcome: when a deadline or a cancel comes just as a
 * receiver takes the element, the call returns 0. */
CIO_API int cio_chan_send(cio_chan *ch, const void *elem, int64_t deadline);

/* Task only. Receives the oldest element into `out` (elem_size bytes).
 * Returns 0, CIO_ECLOSED once the channel is closed and drained (every
 * element sent before the close is received first), CIO_ETIMEDOUT,
 * CIO_ECANCELED (nothing was taken), CIO_EINVAL, CIO_EPERM. */
CIO_API int cio_chan_recv(cio_chan *ch, void *out, int64_t deadline);

/* Never wait: 0 when the element moved, CIO_EAGAIN when the call would
 * have to wait, or cio_chan_send()'s / cio_chan_recv()'s other errors.
 * Thread-safe: a plain thread may call them too. */
CIO_API int cio_chan_try_send(cio_chan *ch, const void *elem);
CIO_API int cio_chan_try_recv(cio_chan *ch, void *out);

/* Closes the channel: waiting senders return CIO_ECLOSED (their elements
 * were not sent), receivers drain what is buffered and then get
 * CIO_ECLOSED, and so do later sends and receives. Returns 0, CIO_ECLOSED
 * (already closed) or CIO_EINVAL. Thread-safe. */
CIO_API int cio_chan_close(cio_chan *ch);

/* Frees the channel and sets *ch to NULL. Returns 0, CIO_EBUSY while a
 * task or thread is inside a waiting call on it (waiting, or leaving
 * after its deadline, a cancel, or another case of its select won;
 * nothing is freed), or CIO_EINVAL (NULL, or already freed through this
 * pointer). A call whose element has been taken or delivered no longer
 * touches the channel: a receiver that got the last element may free it
 * at once, while the sender is still returning. Elements still buffered
 * are dropped. Thread-safe, but no call on the channel may start
 * concurrently with a free that succeeds. */
CIO_API int cio_chan_free(cio_chan **ch);

/* Elements buffered now (a snapshot). */
CIO_API size_t cio_chan_len(cio_chan *ch);

/* One case of cio_select(). */
enum { CIO_SEND = 1, CIO_RECV = 2 };
typedef struct cio_case {
    cio_chan *chan;   /* the channel */
    int op;           /* CIO_SEND or CIO_RECV */
    void *elem;       /* the element to send, or where to receive one */
    int result;       /* set by cio_select: 0, or CIO_ECLOSED */
} cio_case;

/* Task only. Waits until one of the `n` cases (1 to 1024; any mix of
 * sends and receives, on any channels, the same channel more than once
 * allowed) can proceed, performs that one alone, and returns its index.
 * When several can, each is chosen with equal probability, so no case
 * starves. A case on a closed channel can proceed: it is chosen like the
 * others and its `result` is CIO_ECLOSED (a send: nothing was sent; a
 * receive: the channel is drained). Returns the index, or CIO_ETIMEDOUT,
 * CIO_ECANCELED (no case proceeded), CIO_EINVAL (NULL, n out of range, a
 * case without channel or element, an unknown op), CIO_ENOMEM (more than
 * 16 cases need memory), CIO_EPERM. Two tasks selecting over the same
 * channels in any order do not deadlock: channels are locked in one
 * global order. */
CIO_API int cio_select(cio_case *cases, int n, int64_t deadline);

/* ------------------------------------------------------------------------ */
/* Wait groups and events                                                   */
/* ------------------------------------------------------------------------ */

/* A wait group counts work still to finish (Go's sync.WaitGroup): add
 * before starting it, done when each part ends, wait until none is left.
 * Waiting holds no worker: the task parks. */
typedef struct cio_wg cio_wg;

/* Creates a wait group with a count of 0. Returns 0, CIO_EINVAL (NULL),
 * CIO_ENOMEM. Thread-safe. */
CIO_API int cio_wg_make(cio_wg **out);

/* Adds `delta` (may be negative) to the count; when it reaches 0 every
 * waiter is woken. Returns 0, or CIO_EINVAL (NULL, or a count that would
 * go below 0: nothing changes). Thread-safe: plain threads may add and
 * finish work too. */
CIO_API int cio_wg_add(cio_wg *wg, long delta);

/* cio_wg_add(wg, -1). */
CIO_API int cio_wg_done(cio_wg *wg);

/* Task only. Returns 0 once the count is 0 (at once if it is), or
 * CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EINVAL, CIO_EPERM. */
CIO_API int cio_wg_wait(cio_wg *wg, int64_t deadline);

/* Frees the group and sets *wg to NULL. Returns 0, CIO_EBUSY while a task
 * waits on it (nothing is freed), CIO_EINVAL (NULL or already freed
 * through this pointer). Thread-safe. */
CIO_API int cio_wg_free(cio_wg **wg);

/* A one-shot event: once set, every waiter and every later wait returns
 * at once. */
typedef struct cio_event cio_event;

/* Creates an event, not set. Returns 0, CIO_EINVAL, CIO_ENOMEM.
 * Thread-safe. */
CIO_API int cio_event_make(cio_event **out);

/* Sets the event and wakes every waiter. Returns 0, CIO_EALREADY (it was
 * set: nothing changes), CIO_EINVAL. Thread-safe. */
CIO_API int cio_event_set(cio_event *e);

/* 1 when set, 0 when not, CIO_EINVAL. Thread-safe. */
CIO_API int cio_event_is_set(cio_event *e);

/* Task only. Returns 0 once the event is set, or CIO_ETIMEDOUT,
 * CIO_ECANCELED, CIO_EINVAL, CIO_EPERM. */
CIO_API int cio_event_wait(cio_event *e, int64_t deadline);

/* As cio_wg_free(). */
CIO_API int cio_event_free(cio_event **e);

/* ------------------------------------------------------------------------ */
/* Semaphores                                                               */
/* ------------------------------------------------------------------------ */

/* A counting semaphore: `permits` tasks may hold one at a time (a bounded
 * fan-out, a pool of connections). Waiters are served in arrival order: a
 * released permit goes to the oldest waiter, never to a later arrival. */
typedef struct cio_sem cio_sem;

/* Creates a semaphore with `permits` (>= 0) free permits. Returns 0,
 * CIO_EINVAL (NULL out, permits < 0), CIO_ENOMEM. Thread-safe. */
CIO_API int cio_sem_make(cio_sem **out, long permits);

/* Task only. Takes a permit, waiting for one. Returns 0, or
 * CIO_ETIMEDOUT, CIO_ECANCELED (no permit was taken), CIO_EINVAL,
 * CIO_EPERM. A permit handed over just as the deadline or a cancel came is
 * taken: the call returns 0. */
CIO_API int cio_sem_acquire(cio_sem *s, int64_t deadline);

/* Takes a permit if one is free now: 0, or CIO_EAGAIN. Thread-safe. */
CIO_API int cio_sem_try_acquire(cio_sem *s);

/* Gives a permit back (to the oldest waiter, if any). Returns 0, or
 * CIO_EINVAL (NULL, or LONG_MAX permits already free). Thread-safe. */
CIO_API int cio_sem_release(cio_sem *s);

/* As cio_wg_free(). */
CIO_API int cio_sem_free(cio_sem **s);

/* ------------------------------------------------------------------------ */
/* Mutexes, condition variables, reader-writer locks                        */
/* ------------------------------------------------------------------------ */

/* A mutex for tasks: waiting for it parks the task, never its worker, so
 * it may be held across waiting calls (unlike a pthread mutex in a task).
 * Locking a free mutex is one atomic operation. Fairness: waiters queue in
 * arrival order and the oldest is woken at each unlock; a task arriving
 * just then may still take the free lock first (which keeps a busy lock
 * from costing a task switch per hand-over). A woken waiter that loses
 * keeps its place at the head, and once it has waited 1 ms every unlock
 * hands the lock straight to the oldest waiter, until the waiters are
 * served quickly again: no stream of newcomers starves a waiter.
 * If a task ends while holding a mutex, the mutex is released for it and
 * the next task to lock it gets CIO_EOWNERDEAD: it holds the lock, and
 * the data the lock guards may be half-updated (repair or discard it).
 * A plain thread may lock and unlock too (it blocks while it waits); a
 * thread that ends holding one is not detected. */
typedef struct cio_mutex cio_mutex;

/* Creates an unlocked mutex. Returns 0, CIO_EINVAL (NULL), CIO_ENOMEM.
 * Thread-safe. */
CIO_API int cio_mutex_make(cio_mutex **out);

/* Locks `m`, waiting until `deadline`. Returns 0; CIO_EOWNERDEAD (locked,
 * but the last holder ended without unlocking); CIO_ETIMEDOUT or
 * CIO_ECANCELED (not locked); CIO_EDEADLK (the caller holds it already);
 * CIO_EINVAL (NULL). Thread-safe: a plain thread blocks. */
CIO_API int cio_mutex_lock(cio_mutex *m, int64_t deadline);

/* Locks `m` if it is free now: 0, CIO_EOWNERDEAD (as above), CIO_EAGAIN,
 * CIO_EDEADLK, CIO_EINVAL. Thread-safe. */
CIO_API int cio_mutex_try_lock(cio_mutex *m);

/* Unlocks `m`. Returns 0, CIO_EPERM (the caller does not hold it: nothing
 * changes), CIO_EINVAL. Thread-safe. */
CIO_API int cio_mutex_unlock(cio_mutex *m);

/* Frees `m` and sets *m to NULL. Returns 0, CIO_EBUSY (locked, or waited
 * for: nothing is freed), CIO_EINVAL. */
CIO_API int cio_mutex_free(cio_mutex **m);

/* A condition variable for tasks, used with a cio_mutex. */
typedef struct cio_cond cio_cond;

/* Creates a condition variable. Returns 0, CIO_EINVAL, CIO_ENOMEM.
 * Thread-safe. */
CIO_API int cio_cond_make(cio_cond **out);

/* Unlocks `m` (held by the caller), waits for a signal or broadcast, then
 * locks `m` again, in every case, even when cancelled or past the
 * deadline (relocking is not cut short). Returns 0 when signalled,
 * CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EOWNERDEAD (as cio_mutex_lock; it may
 * come with any outcome), CIO_EPERM (the caller does not hold `m`: nothing
 * happened), CIO_EINVAL. Waiters are signalled oldest first and never
 * wake without a signal, but another task may change the state between
 * the signal and the relock: check the condition in a loop. Thread-safe. */
CIO_API int cio_cond_wait(cio_cond *c, cio_mutex *m, int64_t deadline);

/* Wakes the oldest waiter / every waiter. Returns 0, CIO_EINVAL.
 * Thread-safe; holding the mutex is not required. */
CIO_API int cio_cond_signal(cio_cond *c);
CIO_API int cio_cond_broadcast(cio_cond *c);

/* Frees `c`; CIO_EBUSY while something waits on it. As cio_mutex_free. */
CIO_API int cio_cond_free(cio_cond **c);

/* A reader-writer lock: many readers or one writer. Served strictly in
 * arrival order: a reader arriving while a writer waits queues behind
 * it, so a stream of readers never starves a writer, and the readers
 * queued behind a writer all enter together once it is done. */
typedef struct cio_rwlock cio_rwlock;

/* Creates a free lock. Returns 0, CIO_EINVAL, CIO_ENOMEM. Thread-safe. */
CIO_API int cio_rwlock_make(cio_rwlock **out);

/* Locks for reading / for writing, waiting until `deadline`. Returns 0,
 * CIO_ETIMEDOUT, CIO_ECANCELED (not locked), CIO_EDEADLK (the caller holds
 * the write lock), CIO_EINVAL. Thread-safe: a plain thread blocks. */
CIO_API int cio_rwlock_rdlock(cio_rwlock *l, int64_t deadline);
CIO_API int cio_rwlock_wrlock(cio_rwlock *l, int64_t deadline);

/* Releases the caller's write lock, or one read lock. Returns 0,
 * CIO_EPERM (a write lock the caller does not hold, or no lock held at
 * all: nothing changes), CIO_EINVAL. Readers are counted, not named: a
 * read unlock by a task that holds no read lock is not detected. A task
 * that ends holding an rwlock leaves it held (only cio_mutex reports an
 * ending holder). */
CIO_API int cio_rwlock_unlock(cio_rwlock *l);

/* Frees `l`; CIO_EBUSY while held or waited for. As cio_mutex_free. */
CIO_API int cio_rwlock_free(cio_rwlock **l);

/* ------------------------------------------------------------------------ */
/* Task groups                                                              */
/* ------------------------------------------------------------------------ */

/* A group owns the tasks spawned into it: waiting on the group waits for
 * all of them, cancelling it cancels all of them, and it cannot be freed
 * while one lives. Options: the first failure cancels the rest
 * (CIO_GROUP_FAIL_FAST, Go's errgroup), a deadline for the whole group (it
 * is cancelled as the deadline passes), and a limit on how many of its
 * tasks live at once (spawning beyond it waits for room: a bounded
 * fan-out). A task of a group returns 0 or a negative error. */
typedef struct cio_group cio_group;
typedef int cio_group_fn(void *arg);

enum {
    /* The first task to return an error cancels the others. */
    CIO_GROUP_FAIL_FAST = 1u << 0,
};

typedef struct cio_group_opts {
    unsigned flags;   /* CIO_GROUP_* */
    int64_t deadline; /* the group is cancelled when it passes, and its
                         error is then CIO_ETIMEDOUT; CIO_NEVER: none */
    int limit;        /* most tasks alive at once; 0: no limit */
} cio_group_opts;

/* Fills `o` with the defaults: no flags, no deadline, no limit. */
CIO_API void cio_group_opts_init(cio_group_opts *o);

/* Creates a group (`opts` NULL: the defaults). Returns 0, CIO_EINVAL
 * (NULL out, unknown flags, limit < 0), CIO_ENOMEM, CIO_EPERM (a deadline
 * outside a task: it needs a task to keep it). */
CIO_API int cio_group_make(cio_group **out, const cio_group_opts *opts);

/* Task only. Spawns a task of the group running fn(arg) (`opts` as for
 * cio_spawn, may be NULL). At the limit, waits until a task of the group
 * ends and its place is handed over (oldest spawner first). Returns 0;
 * the group's error, or CIO_ECANCELED, once the group is cancelled
 * (nothing is spawned); CIO_ECANCELED or CIO_ETIMEDOUT when the caller is
 * cancelled, or a shield's deadline passes, while it waits for room
 * (nothing is spawned; a place handed over at that same moment is used
 * and the call returns 0); cio_spawn()'s errors (the place goes on to the
 * next spawner). */
CIO_API int cio_group_spawn(cio_group *g, cio_group_fn *fn, void *arg,
                            const cio_spawn_opts *opts);

/* Task only. Cancels every task of the group and refuses later spawns;
 * the group's error becomes CIO_ECANCELED unless a task failed first.
 * Returns 0, CIO_EINVAL, CIO_EPERM. */
CIO_API int cio_group_cancel(cio_group *g);

/* Task only. Waits until every task of the group has ended (a spawn that
 * was given room meanwhile counts as one). Returns 0; the group's error
 * (the first error a task returned, or CIO_ECANCELED / CIO_ETIMEDOUT after
 * a cancel / the group's deadline); CIO_ETIMEDOUT when `deadline` passes
 * first (the tasks run on); CIO_EINVAL; CIO_EPERM. If the caller is
 * cancelled, it cancels the group and still waits for its tasks to end,
 * then returns CIO_ECANCELED, so no task outlives the wait; only
 * `deadline` cuts that short (CIO_ETIMEDOUT: the cancelled tasks are still
 * finishing; wait again before freeing the group). */
CIO_API int cio_group_wait(cio_group *g, int64_t deadline);

/* Task only. A server's graceful stop: waits for the group as
 * cio_group_wait() does, and when one of the signals in `set` (NULL:
 * SIGINT and SIGTERM) comes first, cancels the group and goes on waiting
 * for its tasks to end (each sees the cancel at its next waiting call,
 * and may say goodbye inside a shield). Signals are taken as by
 * cio_signal_wait(), from the moment of the call. Returns the signal
 * that stopped the group (> 0), or cio_group_wait()'s result when the
 * group ended first or the deadline passed (CIO_ETIMEDOUT: its tasks run
 * on), or CIO_EINVAL (NULL group, or a set cio_signal_wait() refuses),
 * CIO_EPERM, CIO_ECANCELED. */
CIO_API int cio_group_wait_signals(cio_group *g, const sigset_t *set,
                                   int64_t deadline);

/* Tasks of the group alive now, or CIO_EINVAL. Thread-safe. */
CIO_API long cio_group_live(cio_group *g);

/* Frees the group and sets *g to NULL. Returns 0, CIO_EBUSY while a task
 * of the group lives or someone waits on it (nothing is freed), or
 * CIO_EINVAL. */
CIO_API int cio_group_free(cio_group **g);

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
    uint64_t io_waits;        /* times a task waited for a descriptor */
    uint64_t io_polls;        /* reactor polls (blocking or not) */
    uint64_t io_events;       /* descriptor events the reactors delivered */
    uint64_t fds_registered;  /* reactor registrations now: a descriptor
                                 waited on from several workers counts
                                 once per worker whose reactor has it */
    uint64_t budget_yields;   /* yields forced by the I/O budget */
    uint64_t pool_threads;    /* blocking-pool threads alive now */
    uint64_t pool_jobs;       /* jobs the pool has run */
    uint64_t stacks_released; /* of stacks_cached, those whose memory went
                                 back to the system: they keep address
                                 space only (see CIO_STACK_DEFAULT) */
    uint64_t pool_busy;       /* of pool_threads, those running a job */
    uint64_t pool_queued;     /* jobs waiting for a pool thread now */
    uint64_t sync_objects;    /* channels, locks, wait groups, events,
                                 semaphores and task groups made and not
                                 yet freed, in the whole process, now (also
                                 outside a runtime): a leak check */
    uint64_t io_requests;     /* of io_waits, those made as io_uring
                                 requests (see Backends) */
    uint64_t io_receives;     /* multishot receives made on TCP sockets
                                 (io_uring: see Backends): each serves
                                 the reads of its connection until it ends */
    uint64_t io_receives_nobufs; /* of those, ended because every buffer
                                 was taken (the read then went on into its
                                 own buffer) */
    uint64_t tasks_compacted; /* tasks made with CIO_SPAWN_COMPACT whose
                                 frames are copied out now */
    uint64_t compact_bytes;   /* the bytes those copies hold */
    const char *backend;      /* "io_uring" or "epoll" (see Backends), NULL
                                 before any runtime */
    const char *backend_why;  /* why that one, e.g. "probe passed" or
                                 "io_uring unusable: io_uring_setup:
                                 Operation not permitted" (valid until the
                                 next runtime after this one starts) */
} cio_stats;

/* Fills `out` (see cio_stats). Thread-safe, also while a runtime starts
 * or ends (a thread that is not a worker holds the runtime for the call;
 * cio_run() frees it only after such calls left). Counters of a running
 * runtime are read without stopping it, so they may be slightly stale;
 * when none runs, the last runtime's final counters (zeros before any). */
CIO_API void cio_stats_get(cio_stats *out);

/* One worker's figures. Its thread is always in one of four states, and
 * the four times add up to the time the worker has existed (within the
 * clock's rounding): running tasks, between tasks (choosing the next,
 * queues, deadlines, stealing), in the reactor without sleeping (polling,
 * dispatching events), and asleep (nothing to run). Busy is the first
 * three. The times come from the CPU's cycle counter (TSC on x86-64, the
 * virtual counter on aarch64) read at each of these transitions, about
 * 7 ns a read; a task switching straight to another (a yield, a channel
 * hand-off) is no transition. */
/* Buckets of cio_worker_stats.turns. */
#define CIO_TURN_BUCKETS 24

typedef struct cio_worker_stats {
    int64_t run_ns;          /* running tasks */
    int64_t sched_ns;        /* between tasks */
    int64_t poll_ns;         /* in the reactor, not asleep */
    int64_t park_ns;         /* asleep: nothing to run */
    uint64_t tasks_run;      /* times a task was resumed on it */
    uint64_t steals;         /* tasks it took from other workers */
    uint64_t wakes_received; /* tasks other threads woke onto it */
    uint64_t queued;         /* runnable tasks queued on it now */
    /* Turns by length: a turn is the worker running tasks from leaving
     * its scheduler to coming back (one task's run until it waits or
     * yields, or several that hand the worker straight to each other).
     * turns[0] counts turns under 2 us, turns[i] those of 2^i to
     * 2^(i+1) us, the last also longer ones (log2 buckets, within the
     * clock's rate: a turn near a boundary may land in its neighbour).
     * The long tail is where a worker was held. 0 with stats off. */
    uint64_t turns[CIO_TURN_BUCKETS];
    /* Scheduling delays of the tasks it ran: from a task's wake (or
     * spawn) to the start of its run, in the buckets of `turns`. A long
     * tail means tasks were ready and waited for this worker: add
     * workers, or find what holds it (turns, stall reports). How exact:
     * see cio_task_stats. 0 with stats off. */
    uint64_t delays[CIO_TURN_BUCKETS];
} cio_worker_stats;

/* Fills `out` with worker `worker`'s figures (0 to cio_workers() - 1) in
 * the running runtime or, when none runs, in the last one at its end.
 * Returns 0, CIO_EINVAL (NULL, no such worker), CIO_ESRCH (no runtime has
 * run yet), CIO_ENOMEM. With cio_config.stats off the times are 0.
 * Thread-safe, also while a runtime starts or ends; figures of a running
 * runtime are read without stopping it. */
CIO_API int cio_worker_stats_get(int worker, cio_worker_stats *out);

/* What a waiting task waits on (cio_task_stats.wait_on). */
typedef enum cio_wait_on {
    CIO_WAIT_NOTHING = 0, /* not waiting */
    CIO_WAIT_TIMER,       /* cio_sleep_until() */
    CIO_WAIT_FD,          /* a descriptor (wait_fd): cio_wait_fd(), the
                             socket calls */
    CIO_WAIT_JOIN,        /* another task to end (wait_task) */
    CIO_WAIT_POOL,        /* a blocking-pool job: cio_blocking(),
                             cio_resolve(); or a file call (on the pool,
                             or an io_uring request: see Backends) */
    CIO_WAIT_CHAN,        /* a channel send or receive (wait_obj: the
                             cio_chan) */
    CIO_WAIT_SELECT,      /* cio_select() over several channels */
    CIO_WAIT_MUTEX,       /* wait_obj: the cio_mutex */
    CIO_WAIT_COND,        /* wait_obj: the cio_cond */
    CIO_WAIT_RWLOCK,      /* wait_obj: the cio_rwlock */
    CIO_WAIT_SEM,         /* wait_obj: the cio_sem */
    CIO_WAIT_WAITGROUP,   /* wait_obj: the cio_wg */
    CIO_WAIT_EVENT,       /* wait_obj: the cio_event */
    CIO_WAIT_GROUP,       /* a task group: its end, or room to spawn in it
                             (wait_obj: the cio_group) */
    CIO_WAIT_SIGNAL,      /* cio_signal_wait() */
} cio_wait_on;

/* A task's state (cio_task_stats.state). */
typedef enum cio_task_state {
    CIO_TASK_READY,   /* runnable: spawned, woken or yielded, waiting for
                         a worker */
    CIO_TASK_RUNNING, /* a worker runs it now */
    CIO_TASK_WAITING, /* parked until what it waits on happens */
    CIO_TASK_DONE,    /* its function returned; not yet joined */
} cio_task_state;

/* One task's figures.
 *
 * How exact the times are depends on cio_config.stats. On (the default),
 * a worker reads the clock where it already does for its own figures
 * (entering and leaving a task from its scheduler, the reactor) and for
 * wakes that come from its scheduler, its reactor, or a thread that is
 * not a worker. A wake by a running task is placed at the start of that
 * task's turn, and a run that hands the worker straight to another task
 * (a cio_yield to another started task of the worker, a park right after
 * waking one: "direct hand-offs") makes no clock read, so the runs of
 * such a chain are counted with the run that ends it, and a park inside
 * it is placed at the chain's start (the turn histogram,
 * cio_worker_stats.turns, bounds these errors). A wake that comes while
 * the task is still switching out (before it parked) is not counted as
 * a delay. At level 2 (CIO_STATS=2) every switch and wake reads the
 * clock: every run exact, at a cost measured in docs/benchmarks.md. Off,
 * the times are 0. */
typedef struct cio_task_stats {
    cio_task task;        /* its handle */
    const char *name;     /* as given at spawn, or "task" */
    int state;            /* cio_task_state */
    int worker;           /* running it, or the last that ran it; -1
                             before its first run */
    int wait_on;          /* while CIO_TASK_WAITING: cio_wait_on */
    int wait_fd;          /* CIO_WAIT_FD: the descriptor; else -1 */
    const void *wait_obj; /* the sync object waited on, or NULL */
    cio_task wait_task;   /* CIO_WAIT_JOIN: the task it joins */
    int64_t wait_ns;      /* while waiting: for how long so far */
    int64_t run_ns;       /* time it ran */
    int64_t ready_ns;     /* time runnable after a wake or its spawn until
                             it ran (its scheduling delay, summed; the
                             wait of a task that yielded is not counted) */
    int64_t blocked_ns;   /* time parked until woken, summed (a wait in
                             progress is in wait_ns, not here) */
    uint64_t runs;        /* times it was resumed (switches into it) */
    size_t stack_size;    /* its stack (0 before its first run, and once
                             done: the stack goes back then) */
    size_t stack_used;    /* bytes of its stack in memory, from the top to
                             the deepest page touched (page-granular, read
                             from the kernel's page residency; the stack's
                             lowest page is not looked at): on a stack
                             reused from an ended task, also what that one
                             touched, so an upper bound; a stack whose pages
                             went back to the system starts afresh. For
                             sizing stacks from evidence. */
} cio_task_stats;

/* Fills `out` with the figures of task `t`. Returns 0, CIO_EINVAL (NULL
 * out), CIO_ESRCH (`t` names no live task: zero, joined, or from another
 * runtime). Thread-safe (a task, or any thread while a runtime runs);
 * read without stopping the task, so the fields are a near-instant, not
 * an atomic snapshot. */
CIO_API int cio_task_stats_get(cio_task t, cio_task_stats *out);

/* Calls fn(stats, arg) for every live task (spawned and not yet freed: a
 * task that is done but not joined is listed as CIO_TASK_DONE) of the
 * running runtime, in no particular order, until fn returns non-zero.
 * Tasks spawned or freed meanwhile may or may not be listed. Returns
 * fn's non-zero value, or 0 once every task was visited, or CIO_EINVAL
 * (NULL fn), CIO_ESRCH (no runtime runs). fn may call any cio function
 * the calling thread may call (no lock is held). Thread-safe. */
CIO_API int cio_task_each(int (*fn)(const cio_task_stats *s, void *arg),
                          void *arg);

/* Writes every live task of the running runtime to `f`: its handle id,
 * name and state; the worker running it, or what it waits on (the
 * descriptor, the task, the object) and for how long; its runs, run,
 * ready and blocked times; its stack use. Under each task that is
 * switched out (waiting or ready), a backtrace of where it stands,
 * innermost first, from the frame pointers its saved context holds
 * (glibc's backtrace_symbols() names: exported functions by name, others
 * as module+offset for addr2line; a chain stops at code built without
 * frame pointers, so build the program with -fno-omit-frame-pointer to
 * see its own frames; cio itself keeps them unless built with
 * CIO_FRAME_POINTERS=OFF). Running tasks get no backtrace (a stall report
 * gives one). Tasks are read while they run on, so the dump is a
 * near-instant, not a snapshot. With cio_config.sigquit on, SIGQUIT
 * writes it to stderr. Returns the number of tasks listed, or
 * CIO_EINVAL (NULL f), CIO_ESRCH (no runtime runs). Thread-safe; the
 * writing happens on the calling thread (from a task it holds the
 * worker for as long as `f` takes). */
CIO_API int cio_dump(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* CIO_H */
