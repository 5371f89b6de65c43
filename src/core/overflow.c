/* Stack overflow reports: the check at every switch calls
 * cio__stack_overflow(); a fault in a task's guard region reaches the
 * SIGSEGV handler installed here, which runs on a per-worker alternate
 * signal stack (the task's own stack is exhausted) and names the task.
 * Faults that are not cio's go to the handler that was there before. */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/runtime.h"
#include "core/stack.h"

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction old_segv;

static void say(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

void cio__stack_overflow(const struct cio__task *t)
{
    /* Only async-signal-safe calls: this also runs in the SIGSEGV handler. */
    char num[24];
    size_t n = t->stack.size, i = sizeof num - 1;
    num[i] = 0;
    do {
        num[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n && i > 0);
    say("cio: stack overflow in task \"");
    const char *name = cio__side(t)->name;
    say(name ? name : "task");
    say("\" (stack of ");
    say(&num[i]);
    say(" bytes); stopping the process\n");
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* The stack pointer of the interrupted code. */
static const char *interrupted_sp(void *uctx)
{
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (const char *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const char *)uc->uc_mcontext.sp;
#else
    (void)uc;
    return NULL;
#endif
}

/* The task whose stack overflowed, if the fault at `addr` with the stack
 * pointer at `sp` is an overflow: first a hit in the current task's guard,
 * then one in the guard of the task a direct yield is leaving (switch.c
 * names the next task current before it leaves the yielding one's stack;
 * its stack pointer is then on that stack, or in its guard), and last a
 * current task whose stack pointer ran off the low end of its stack (no
 * guard page: the overflow went on until it met unmapped memory). That
 * last rule has no lower bound, so it must come after the precise ones:
 * a yielding task's stack may lie below the current task's, and a stack
 * pointer on this thread's signal stack (a fault in a signal handler, as
 * the stall report's unwinding) is no task's overflow. */
static const struct cio__task *overflowed(const struct cio__worker *w,
                                          const void *addr, const char *sp)
{
    const struct cio__task *cur =
        atomic_load_explicit(&w->cur, memory_order_relaxed);
    const struct cio__task *leaving = w->leaving;
    if (cur && cio__stack_in_guard(&cur->stack, addr))
        return cur;
    if (leaving && sp && cio__stack_in_guard(&leaving->stack, addr)) {
        const struct cio__stack *st = &leaving->stack;
        if (cio__stack_in_guard(st, sp) ||
            (sp >= st->lo && sp < st->lo + st->size))
            return leaving;
    }
    const char *alt = w->altstack;
    if (alt && sp >= alt && sp < alt + ALTSTACK_SIZE)
        return NULL;
    if (cur && cur->stack.cls >= 0 && sp &&
        sp < cur->stack.lo + CIO__STACK_CANARY)
        return cur;
    return NULL;
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    struct cio__worker *w = cio__tls_worker;
    if (w && w->fault_jmp) /* expected: the code that set it recovers */
        siglongjmp(*(sigjmp_buf *)w->fault_jmp, 1);
    if (w) {
        const struct cio__task *t =
            overflowed(w, info->si_addr, interrupted_sp(uctx));
        if (t)
            cio__stack_overflow(t);
    }
    /* Not ours: hand it to whoever had it before, or let the default
     * action happen when the faulting instruction runs again. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        old_segv.sa_sigaction(sig, info, uctx);
    } else if (old_segv.sa_handler != SIG_DFL &&
               old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
    } else {
        signal(SIGSEGV, SIG_DFL);
    }
}

int cio__overflow_altstack_on(struct cio__worker *w, stack_t *old)
{
    size_t size = ALTSTACK_SIZE;
    w->altstack = malloc(size);
    if (!w->altstack)
        return CIO_ENOMEM;
    stack_t ss = {.ss_sp = w->altstack, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, old) < 0) {
        free(w->altstack);
        w->altstack = NULL;
        return -errno;
    }
    return 0;
}

void cio__overflow_altstack_off(struct cio__worker *w, const stack_t *old)
{
    if (!w->altstack)
        return;
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(old ? old : &off, NULL);
    free(w->altstack);
    w->altstack = NULL;
}

void cio__overflow_catch(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

void cio__overflow_release(void)
{
    sigaction(SIGSEGV, &old_segv, NULL);
}
