/* What observe/'s parts give each other and the runtime's entry point
 * (run.c). */
#ifndef CIO_OBSERVE_OBSERVE_H
#define CIO_OBSERVE_OBSERVE_H

#include "core/runtime.h"

/* Settings of observe/ for one cio_run (from cio_config and the
 * environment). */
struct cio__observe_settings {
    const char *path; /* trace file, NULL: no trace */
    bool flight;      /* flight recorder: keep the last events, write when
                         asked */
    bool sigquit;     /* SIGQUIT prints a dump (and writes the flight
                         recorder) */
};

/* Reads the settings; fills the hooks' trace fields. CIO_EINVAL (with a
 * line on stderr) for a bad value. */
int cio__observe_settings(const cio_config *cfg,
                          struct cio__observe_settings *set,
                          struct cio__run_hooks *hooks);

/* A task's figures as cio_task_stats (tasks.c). */
void cio__task_stats_fill(const struct cio__task_figures *f,
                          cio_task_stats *out);

/* The stall watchdog (stall.c). */
void cio__stall_started(struct cio__runtime *rt);
void cio__stall_ending(struct cio__runtime *rt);
#ifdef CIO_TESTING
/* When set, a stall report writes there before it unwinds: a test points
 * it at an inaccessible page to fault inside the report. */
extern void *cio__test_report_fault_at;
#endif

/* The trace writer and the SIGQUIT dump (trace.c). */
void cio__trace_started(struct cio__runtime *rt,
                        const struct cio__observe_settings *set);
void cio__trace_stopped(struct cio__runtime *rt);
/* The watchdog reported a stall: the flight recorder writes its file. */
void cio__trace_after_stall(void);

#endif /* CIO_OBSERVE_OBSERVE_H */
