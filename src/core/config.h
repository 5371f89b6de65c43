/* Every compile-time knob of the runtime, in one place.
 *
 * CIO_TESTING shrinks the sizes so that wrap-around, overflow and refill
 * paths run in ordinary tests instead of only under heavy load.
 */
#ifndef CIO_CORE_CONFIG_H
#define CIO_CORE_CONFIG_H

#ifdef CIO_TESTING
#define CIO__RUNQ_SIZE 8          /* slots in a worker's stealable ring */
#define CIO__STACK_CACHE 2        /* stacks a worker keeps per size class */
#define CIO__STACK_BATCH 1        /* stacks moved per cache refill/spill */
#define CIO__STACK_RELEASE 4      /* free stacks released per batch, at most */
#define CIO__STACK_RESERVE_BYTES (256u << 10) /* free stacks kept resident */
#define CIO__TIMER_BATCH 2        /* expired timers taken per lock hold */
#else
#define CIO__RUNQ_SIZE 256
#define CIO__STACK_CACHE 64
#define CIO__STACK_BATCH 32
#define CIO__STACK_RELEASE 32
#define CIO__STACK_RESERVE_BYTES (4u << 20)
#define CIO__TIMER_BATCH 64
#endif

/* Every this many scheduling decisions the global queue is served first,
 * so tasks there cannot be starved by a busy local queue (Go uses 61). */
#define CIO__GLOBAL_INTERVAL 61
/* Consecutive runs from the LIFO slot before it yields to the queue, so two
 * tasks waking each other cannot starve the rest (Tokio uses 3). */
#define CIO__LIFO_MAX 3
/* Rounds an idle worker looks for work before sleeping in the kernel. */
#define CIO__SPIN_ROUNDS 64

/* Stack size classes: page << k, up to CIO_STACK_MAX (64 MiB: k = 14 with
 * 4 KiB pages, fewer with larger pages). */
#define CIO__STACK_CLASSES 15
/* Bytes of stacks of one class a worker's cache holds at most (it holds
 * CIO__STACK_CACHE small ones). */
#define CIO__STACK_CACHE_BYTES (4u << 20)
/* The arena keeps free stacks of a class resident up to
 * CIO__STACK_RESERVE_BYTES of them plus this many times the stacks in use;
 * beyond that their pages go back to the system. As Go's heap with
 * GOGC=100 may be twice the live heap: a task count that halves and comes
 * back (a tree of tasks, a burst of connections) costs no page faults. */
#define CIO__STACK_RESERVE_LIVE 1
/* Stacks due for release are released by idle workers; when none has been
 * idle for this long, by the worker spilling stacks (nanoseconds). */
#define CIO__STACK_RELEASE_DELAY (100 * 1000000LL)
/* Stack memory one release batch covers at most (at least one stack):
 * bounds how long an idle worker is busy giving pages back. */
#define CIO__STACK_RELEASE_BYTES (2u << 20)
/* Address space reserved at once for stacks of one class. */
#define CIO__STACK_CHUNK (32u << 20)
/* Bytes at the low end of every stack holding a known pattern; a changed
 * pattern at a switch means the task overflowed its stack. */
#define CIO__STACK_CANARY 16
/* A switch with less than this much stack left is reported as overflow:
 * the next call would likely have gone past the end. */
#define CIO__STACK_MARGIN 128

/* Task descriptors are allocated in chunks of this many; the directory of
 * chunks bounds the number of tasks alive at once (CHUNK * CHUNKS = 16 M). */
#define CIO__TASK_CHUNK 1024
#define CIO__TASK_CHUNKS 16384

/* A worker's list of free descriptors holds at most this many; past it, a
 * batch moves to the runtime's shared list, and a worker with none takes
 * a batch from there before growing the table (Go's gfree lists). */
#define CIO__TASK_FREE_MAX 256
#define CIO__TASK_FREE_BATCH 128

#define CIO__WORKERS_MAX 1024

/* Descriptor table: chunks of this many entries, allocated on first use of
 * a number in their range. */
#define CIO__FD_CHUNK 1024
/* Every this many scheduling decisions a busy worker polls its reactor
 * without waiting, so I/O keeps flowing under a long run queue (Tokio's
 * event_interval is 61 too). */
#define CIO__POLL_INTERVAL 61
/* Reactor events taken per poll (libuv asks for 1024). */
#define CIO__POLL_EVENTS 256
/* I/O calls that complete at once before the task yields (Tokio: 128). */
#define CIO__IO_BUDGET 128
/* Blocking pool defaults: thread limit and idle time before exiting. */
#define CIO__POOL_THREADS 64
#define CIO__POOL_THREADS_MAX 4096
#define CIO__POOL_IDLE_NS (10 * 1000000000LL)
/* No job taken or finished for this long while jobs wait: the pool's
 * threads are blocked, start another (Go's sysmon takes a P back from a
 * system call after 20 us; a pool thread's job is a hand-off, so a
 * little more). */
#define CIO__POOL_STUCK_NS 50000
/* A task run this long without a switch is reported (cio_config.stall_ns). */
#define CIO__STALL_NS (100 * 1000000LL)

/* Sanitizer builds: the runtime tells them about every stack switch. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CIO_HAVE_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define CIO_HAVE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CIO_HAVE_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CIO_HAVE_TSAN 1
#endif
#ifndef CIO_HAVE_ASAN
#define CIO_HAVE_ASAN 0
#endif
#ifndef CIO_HAVE_TSAN
#define CIO_HAVE_TSAN 0
#endif

/* How long a task made with CIO_SPAWN_COMPACT waits before its frames
 * are copied out (cio_config.compact_after_ns = 0): long enough that a
 * connection between two requests of a busy client never pays for it. */
#define CIO__COMPACT_NS (50 * 1000000LL)

#endif /* CIO_CORE_CONFIG_H */
