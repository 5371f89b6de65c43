/* Context switch for aarch64, AAPCS64.
 *
 * Saved: x19-x28, x29 (frame pointer), x30 (link register), d8-d15 (the low
 * halves of v8-v15 are callee-saved) and FPCR (rounding mode and traps). The
 * frame, from the saved stack pointer upward:
 *     +0 x19 x20  +16 x21 x22  +32 x23 x24  +48 x25 x26  +64 x27 x28
 *     +80 x29 x30  +96 d8 d9  +112 d10 d11  +128 d12 d13  +144 d14 d15
 *     +160 fpcr  +168 padding (keeps sp 16-byte aligned)
 *
 * FPCR is written only when it differs: a write can be slow on some cores
 * and the value almost never changes between tasks.
 */
    .text

    .globl cio__ctx_switch_ret
    .hidden cio__ctx_switch_ret
    .set cio__ctx_switch_ret, cio__ctx_switch
    .globl cio__ctx_switch
    .hidden cio__ctx_switch
    .type cio__ctx_switch, %function
    .p2align 4
cio__ctx_switch:
    .cfi_startproc
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x10, sp
    str x10, [x0]
    mov sp, x1
    ldr x10, [sp, #160]
    cmp x9, x10
    b.eq 1f
    msr fpcr, x10
1:
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .cfi_endproc
    .size cio__ctx_switch, .-cio__ctx_switch

/* First code run on a fresh stack: x19 holds entry, x20 its argument. */
    .globl cio__ctx_start
    .hidden cio__ctx_start
    .type cio__ctx_start, %function
    .p2align 4
cio__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size cio__ctx_start, .-cio__ctx_start

/* void *cio__ctx_init(void *stack_top, void (*entry)(void *), void *arg) */
    .globl cio__ctx_init
    .hidden cio__ctx_init
    .type cio__ctx_init, %function
    .p2align 4
cio__ctx_init:
    .cfi_startproc
    and x0, x0, #~15
    sub x0, x0, #176
    mov x9, x0
    mov x10, #22
1:  str xzr, [x9], #8
    subs x10, x10, #1
    b.ne 1b
    str x1, [x0, #0]                /* x19 = entry */
    str x2, [x0, #8]                /* x20 = arg */
    adr x9, cio__ctx_start
    str x9, [x0, #88]               /* x30 = start */
    mrs x9, fpcr
    str x9, [x0, #160]
    ret
    .cfi_endproc
    .size cio__ctx_init, .-cio__ctx_init

    .section .note.GNU-stack,"",@progbits
