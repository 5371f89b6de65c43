/* Context switch for x86_64, System V ABI.
 *
 * Saved: rbp rbx r12-r15 (callee-saved), MXCSR and the x87 control word
 * (the ABI makes their control bits callee-saved). The frame, from the saved
 * stack pointer upward:
 *     +0  mxcsr (4 bytes)  +4 x87 control word (2 bytes, padded)
 *     +8  r15  +16 r14  +24 r13  +32 r12  +40 rbx  +48 rbp  +56 return address
 *
 * The switch ends with pop + indirect jmp instead of ret: the return-stack
 * predictor always guesses wrong across stacks (the ret would go to a caller
 * on another stack), while the indirect-branch predictor learns the target.
 */
    .text

/* Saves this context's registers on its stack, stores the stack pointer at
 * (%rdi), switches to the stack at %rsi and restores that context's
 * registers, leaving its resume address on top. */
.macro SWAP_STACKS
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
.endm

    .globl cio__ctx_switch
    .hidden cio__ctx_switch
    .type cio__ctx_switch, @function
    .p2align 4
cio__ctx_switch:
    .cfi_startproc
    SWAP_STACKS
    popq %rcx
    jmpq *%rcx
    .cfi_endproc
    .size cio__ctx_switch, .-cio__ctx_switch

/* The same switch ending in ret, for a switch between two contexts saved
 * at the same call site (task to task, both inside the one task-side
 * switch helper). The return-stack predictor then guesses right, since the
 * address it pushed at the call is the one the other context resumes at,
 * and it stays aligned: with pop + jmp the call's entry is never popped,
 * so every later ret up the resumed task's frames would mispredict. */
    .globl cio__ctx_switch_ret
    .hidden cio__ctx_switch_ret
    .type cio__ctx_switch_ret, @function
    .p2align 4
cio__ctx_switch_ret:
    .cfi_startproc
    SWAP_STACKS
    ret
    .cfi_endproc
    .size cio__ctx_switch_ret, .-cio__ctx_switch_ret

/* First code run on a fresh stack: rbx holds entry, r12 its argument. The
 * stack pointer is 16-byte aligned here, so the call leaves it as the ABI
 * expects at a function's first instruction. entry never returns. */
    .globl cio__ctx_start
    .hidden cio__ctx_start
    .type cio__ctx_start, @function
    .p2align 4
cio__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r12, %rdi
    callq *%rbx
    ud2
    .cfi_endproc
    .size cio__ctx_start, .-cio__ctx_start

/* void *cio__ctx_init(void *stack_top, void (*entry)(void *), void *arg) */
    .globl cio__ctx_init
    .hidden cio__ctx_init
    .type cio__ctx_init, @function
    .p2align 4
cio__ctx_init:
    .cfi_startproc
    movq %rdi, %rax
    andq $-16, %rax
    subq $64, %rax
    stmxcsr (%rax)                  /* the creator's MXCSR and x87 control */
    fnstcw 4(%rax)                  /* word, as on aarch64 (FPCR) */
    movq $0, 8(%rax)                /* r15 */
    movq $0, 16(%rax)               /* r14 */
    movq $0, 24(%rax)               /* r13 */
    movq %rdx, 32(%rax)             /* r12 = arg */
    movq %rsi, 40(%rax)             /* rbx = entry */
    movq $0, 48(%rax)               /* rbp */
    leaq cio__ctx_start(%rip), %rcx
    movq %rcx, 56(%rax)             /* return address */
    ret
    .cfi_endproc
    .size cio__ctx_init, .-cio__ctx_init

    .section .note.GNU-stack,"",@progbits
