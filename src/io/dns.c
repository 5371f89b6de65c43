/* Name resolution on the blocking pool.
 *
 * getaddrinfo() blocks, sometimes for seconds, so it runs on a pool thread.
 * The lookup owns its memory (a copy of the names, the result list), which
 * lets a caller whose deadline passes or who is cancelled leave at once:
 * the pool thread frees the lookup when getaddrinfo() finally returns.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

struct lookup {
    struct cio__job job; /* first: the pool hands back this pointer */
    char *host;
    char *service;
    int family;
    int gai;             /* getaddrinfo's return value */
    int sys;             /* errno with EAI_SYSTEM */
    struct addrinfo *res;
};

static void *lookup_run(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints = {
        .ai_family = l->family,
        .ai_socktype = SOCK_STREAM, /* one entry per address, not per type */
        .ai_flags = AI_ADDRCONFIG,
    };
    l->gai = getaddrinfo(l->host, l->service, &hints, &l->res);
    l->sys = l->gai == EAI_SYSTEM ? errno : 0;
    return NULL;
}

static void lookup_free(struct cio__job *job)
{
    struct lookup *l = (struct lookup *)job;
    if (l->res)
        freeaddrinfo(l->res);
    free(l->host);
    free(l->service);
    free(l);
}

static int lookup_error(int gai, int sys)
{
    switch (gai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return CIO_ENOHOST;
    case EAI_AGAIN:
        return CIO_EAGAIN;
    case EAI_MEMORY:
        return CIO_ENOMEM;
    case EAI_SERVICE:
    case EAI_SOCKTYPE:
    case EAI_BADFLAGS:
        return CIO_EINVAL;
    case EAI_FAMILY:
        return CIO_EAFNOSUPPORT;
    case EAI_SYSTEM:
        return sys ? -sys : CIO_EIO;
    default:
        return CIO_EIO;
    }
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

int cio_resolve(const char *host, const char *service, int family,
                cio_addr *out, int max, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if ((!host && !service) || max < 0 || (max > 0 && !out) ||
        (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
        return CIO_EINVAL;
    if (cio__cancel_pending(self))
        return CIO_ECANCELED;
    struct lookup *l = calloc(1, sizeof *l);
    if (!l)
        return CIO_ENOMEM;
    bool fail = false;
    l->host = dup_or_null(host, &fail);
    l->service = dup_or_null(service, &fail);
    l->family = family;
    l->job.fn = lookup_run;
    l->job.arg = l;
    l->job.release = lookup_free;
    if (fail) {
        lookup_free(&l->job);
        return CIO_ENOMEM;
    }
    int rc = cio__pool_run(self, &l->job, true, deadline);
    if (rc < 0)
        return rc; /* the pool owns and frees the lookup now */
    if (l->gai != 0) {
        rc = lookup_error(l->gai, l->sys);
        lookup_free(&l->job);
        return rc;
    }
    int n = 0;
    for (struct addrinfo *ai = l->res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof out->u)
            continue;
        if (n < max) {
            memset(&out[n], 0, sizeof out[n]);
            memcpy(&out[n].u, ai->ai_addr, ai->ai_addrlen);
            out[n].len = ai->ai_addrlen;
        }
        n++;
    }
    lookup_free(&l->job);
    return n > 0 ? n : CIO_ENOHOST;
}
