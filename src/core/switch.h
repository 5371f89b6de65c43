/* Switching into and out of tasks (switch.c): the glue around the
 * context switch (sanitizer fiber notes, errno, the overflow check at
 * every switch out), a task's first run and its end, and the direct
 * yield that skips the scheduler's context.
 */
#ifndef CIO_CORE_SWITCH_H
#define CIO_CORE_SWITCH_H

#include "core/runtime.h"
#include "core/task.h"

/* Runs `t` on `w` until it switches back, then does what it asked
 * (yield, park, exit). */
void cio__switch_run(struct cio__worker *w, struct cio__task *t);

#endif /* CIO_CORE_SWITCH_H */
