/* switch: cio's raw context switch, ns per switch.
 *
 * cio has no public switch API, so this program calls the internal one
 * (src/arch/ctx.h) directly: two contexts ping-pong N round trips (2N
 * switches), no scheduler involved. The peer is Boost.Context's
 * jump_fcontext, the same kind of primitive.
 * Usage: bench_switch [N]
 */
#include "arch/ctx.h"
#include "common.h"

#define STACK_SIZE (64 * 1024)

static void *main_sp;
static void *pong_sp;

/* The other side: switch straight back, forever (entry must not return). */
static void pong(void *arg)
{
    (void)arg;
    for (;;)
        cio__ctx_switch(&pong_sp, main_sp);
}

int main(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, 1, 10000000);
    char *stack = aligned_alloc(64, STACK_SIZE);
    int64_t t0, dt;

    if (stack == NULL) {
        fprintf(stderr, "bench_switch: out of memory\n");
        return 1;
    }
    pong_sp = cio__ctx_init(stack + STACK_SIZE, pong, NULL);
    /* One untimed round trip, so first-touch of the stack is not measured. */
    cio__ctx_switch(&main_sp, pong_sp);
    t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        cio__ctx_switch(&main_sp, pong_sp);
    dt = bench_now_ns() - t0;
    bench_result("switch", (double)dt / (2.0 * (double)n), "ns");
    /* The stack is not freed: pong is parked on it forever. */
    return 0;
}
