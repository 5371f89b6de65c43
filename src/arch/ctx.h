/* Context switch contract.
 *
 * A context is just a saved stack pointer: everything else the ABI says a
 * callee must preserve (callee-saved registers, the floating-point control
 * state) is pushed on the stack being left. So a switch costs a handful of
 * stores and loads and no system call, and the signal mask is not touched:
 * it belongs to the worker thread, not to the task.
 */
#ifndef CIO_ARCH_CTX_H
#define CIO_ARCH_CTX_H

/* Saves the current context on its stack, stores that stack pointer in
 * *save_sp, and resumes the context whose stack pointer is `new_sp`. Returns
 * when some later switch resumes the saved context. */
void cio__ctx_switch(void **save_sp, void *new_sp);

/* The same, for when `new_sp` was saved at the same call site as this call
 * (x86_64: ends in ret, which the return-stack predictor then gets right;
 * elsewhere the same function). */
void cio__ctx_switch_ret(void **save_sp, void *new_sp);

/* Prepares a fresh stack whose highest usable address is `stack_top` so that
 * switching to the returned stack pointer calls entry(arg) on it. `entry`
 * must never return: it ends by switching away for good. */
void *cio__ctx_init(void *stack_top, void (*entry)(void *), void *arg);

#endif /* CIO_ARCH_CTX_H */
