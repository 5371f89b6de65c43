/* What observe/ gives the runtime's entry point (run.c). */
#ifndef CIO_OBSERVE_OBSERVE_H
#define CIO_OBSERVE_OBSERVE_H

#include "core/runtime.h"

/* Starts and stops the stall watchdog (stall.c) with each runtime. */
extern const struct cio__run_hooks cio__observe_hooks;

#endif /* CIO_OBSERVE_OBSERVE_H */
