/* cio_run(): core's runtime with what observe/ adds around it. It lives
 * here, above both, so that core never calls up into observe/. */
#include "core/runtime.h"
#include "io/io.h"
#include "observe/observe.h"

static void started(struct cio__runtime *rt, void *ctx)
{
    cio__trace_started(rt, ctx);
    cio__stall_started(rt);
}

static void ending(struct cio__runtime *rt, void *ctx)
{
    (void)ctx;
    cio__stall_ending(rt);
}

static void stopped(struct cio__runtime *rt, void *ctx)
{
    (void)ctx;
    cio__trace_stopped(rt);
    cio__signals_reset();
}

int cio_run(int (*main)(void *arg), void *arg, const cio_config *cfg)
{
    struct cio__run_hooks hooks = {
        .started = started,
        .ending = ending,
        .stopped = stopped,
    };
    struct cio__observe_settings set;
    int rc = cio__observe_settings(cfg, &set, &hooks);
    if (rc < 0)
        return rc;
    hooks.ctx = &set;
    return cio__run(main, arg, cfg, &hooks);
}
