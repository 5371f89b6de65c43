/* cio_run(): core's runtime with what observe/ adds around it. It lives
 * here, above both, so that core never calls up into observe/. */
#include "core/runtime.h"
#include "observe/observe.h"

int cio_run(int (*main)(void *arg), void *arg, const cio_config *cfg)
{
    return cio__run(main, arg, cfg, &cio__observe_hooks);
}
