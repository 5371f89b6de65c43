/* Stack overflow reports: the check at every switch calls
 * cio__stack_overflow(); a fault in a task's guard region reaches the
 * SIGSEGV handler installed here, which runs on a per-worker alternate
 * signal stack (the task's own stack is exhausted) and names the task.
 * Faults that are not cio's go to the handler that was there before. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/runtime.h"
#include "core/stack.h"

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
    say(t->name ? t->name : "task");
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

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    struct cio__worker *w = cio__tls_worker;
    const char *sp = interrupted_sp(uctx);
    if (w && w->cur) {
        /* Ours when the fault hit the task's guard region, or when the
         * task's stack pointer has left its stack at the low end (no guard
         * page: the overflow ran on until it met unmapped memory). */
        const struct cio__stack *st = &w->cur->stack;
        if (cio__stack_in_guard(st, info->si_addr) ||
            (st->cls >= 0 && sp && sp < st->lo + CIO__STACK_CANARY))
            cio__stack_overflow(w->cur);
    }
    if (w && w->leaving) {
        /* A direct yield names the next task current before it leaves
         * this one's stack (switch.c): a fault in that window is the
         * leaving task's when it hit that task's guard while running on
         * that stack (the stack pointer at most the guard below it). */
        const struct cio__stack *st = &w->leaving->stack;
        if (cio__stack_in_guard(st, info->si_addr) && sp &&
            (cio__stack_in_guard(st, sp) ||
             (sp >= st->lo && sp < st->lo + st->size)))
            cio__stack_overflow(w->leaving);
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
    size_t size = 64 * 1024;
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
