/* A task that overflows its stack inside the yield that switches straight
 * to another task is still reported by name, whatever frame meets the
 * guard: the fault handler must blame the task whose stack it is, not the
 * one being switched to. Each attempt runs in a child process. */
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "core/sched.h"
#include "core/task.h"

static size_t leave_room;
/* Which task runs (and so gets a stack) first: stacks come from the
 * arena in address order, so this decides whether the yielding task's
 * stack lies below or above the other's. */
static bool edge_first;

static void *spinner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        cio_yield();
    return NULL;
}

__attribute__((noinline)) static void yield_here(void)
{
    cio_yield();
}

static void *edge_yielder(void *arg)
{
    (void)arg;
    cio_yield(); /* the spinner has started: the next yield is direct */
    char *lo = cio__task_current()->stack.lo;
    char *here = __builtin_frame_address(0);
    size_t drop = (size_t)(here - lo) - leave_room;
    volatile char *gap = __builtin_alloca(drop);
    gap[drop - 1] = 0; /* keeps the alloca; touches only its top */
    yield_here();
    return (void *)(intptr_t)gap[drop - 1];
}

static int main_edge(void *arg)
{
    (void)arg;
    cio_spawn_opts o;
    cio_spawn_opts_init(&o);
    o.name = "edge";
    o.stack_size = 65536;
    cio_task a, b;
    if (edge_first)
        CHECK_OK(cio_spawn(&a, edge_yielder, NULL, &o));
    CHECK_OK(cio_spawn(&b, spinner, NULL, NULL));
    if (!edge_first)
        CHECK_OK(cio_spawn(&a, edge_yielder, NULL, &o));
    cio_join(a, NULL, CIO_NEVER);
    cio_join(b, NULL, CIO_NEVER);
    return 0;
}

static int edge_child(void *arg)
{
    (void)arg;
    cio_config cfg;
    cio_config_init(&cfg);
    cfg.workers = 1;
    return cio_run(main_edge, NULL, &cfg) == 0 ? 0 : 1;
}

/* Runs one attempt with `room` bytes left below the yielding frame;
 * returns whether the child ended with the report naming the task, or
 * ran through (room enough for the whole switch). */
static bool reported_or_fine(size_t room, char *said, size_t cap)
{
    leave_room = room;
    int status = cio_test_in_child(edge_child, NULL, said, cap);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
           strstr(said, "stack overflow in task \"edge\"");
}

CIO_TEST(overflow_in_direct_yield_names_the_task)
{
    (void)state;
    if (cio_test_sanitized())
        CIO_SKIP("sanitizers catch the overflow first, their own way");
    char said[1024];
    for (int order = 0; order < 2; order++) {
        edge_first = order;
        for (size_t room = 0; room <= 768; room += 16) {
            if (!reported_or_fine(room, said, sizeof said))
                fail_msg("%zu bytes left, %s first: not reported as an "
                         "overflow of \"edge\"; child said '%s'",
                         room, edge_first ? "edge" : "spinner", said);
        }
    }
}

CIO_TEST_MAIN(cmocka_unit_test(overflow_in_direct_yield_names_the_task))
