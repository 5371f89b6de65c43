/* Child processes: cio_proc_spawn() and friends.
 *
 * posix_spawn(3) starts the child: glibc clones with CLONE_VM|CLONE_VFORK,
 * so the child runs in the parent's memory until exec and nothing is
 * copied (fork(2) would copy the page tables of a large server), and an
 * exec that fails is reported as the call's error. The calling worker
 * waits for that exec only, as Go's and libuv's spawns do.
 *
 * The end is waited for on a pidfd (Linux 5.3), readable once the child
 * has ended, in the reactor like any descriptor; waitpid(WNOHANG) then
 * collects it. Without pidfds (older kernels, some sandboxes) a wait
 * checks with waitpid(WNOHANG) at growing intervals instead. Signals go
 * through the pidfd, so a signal never reaches a process that reused the
 * child's number; without one, `lock` keeps kill(2) and the collecting
 * waitpid apart, which is enough since the number is only reused after
 * the collection.
 *
 * A child the program no longer wants (cio_proc_free() before it ended)
 * is killed and collected by a job on the blocking pool, which the
 * runtime runs to its end before cio_run returns: no zombie outlives the
 * runtime.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/io.h"

extern char **environ;

struct cio_proc {
    pid_t pid;
    int pidfd;          /* -1 without one */
    int fds[3];         /* the parent's pipe ends, -1 */
    bool group;         /* leads its own process group */
    pthread_mutex_t lock; /* kill(2) vs. the collection; guards `fds` */
    /* Set once collected (release), read without the lock (acquire). */
    _Atomic bool ended;
    int status;         /* valid once `ended` */
};

void cio_proc_opts_init(cio_proc_opts *o)
{
    if (o)
        memset(o, 0, sizeof *o);
}

static int sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
    (void)pidfd, (void)sig;
    errno = ENOSYS;
    return -1;
#endif
}

static int status_of(int st)
{
    if (WIFSIGNALED(st))
        return CIO_PROC_SIGNALED + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* ---- spawning ---------------------------------------------------------- */

/* A descriptor numbered 3 or more (a pipe end or a descriptor of the
 * caller's may be 0, 1 or 2, which the child's own dup2s would clobber
 * before using it). Takes `*fd` over when it moves it; `owned` says
 * whether the old number is ours to close. Returns 0 or an error. */
static int above_stdio(int *fd, bool owned)
{
    if (*fd > 2)
        return 0;
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (n < 0)
        return -errno;
    if (owned)
        close(*fd);
    *fd = n;
    return 0;
}

struct plan {
    int child[3];  /* what the child's 0, 1, 2 become, -1: as they are */
    int parent[3]; /* the parent's pipe ends, -1 */
    int extra[3];  /* descriptors made only for the spawn, closed after */
};

static void plan_close(struct plan *pl, bool parent_too)
{
    for (int i = 0; i < 3; i++) {
        if (pl->extra[i] >= 0)
            close(pl->extra[i]);
        if (parent_too && pl->parent[i] >= 0)
            close(pl->parent[i]);
    }
}

/* Makes the descriptors each stream needs. */
static int plan_make(struct plan *pl, const cio_proc_opts *o,
                     struct cio__runtime *rt)
{
    for (int i = 0; i < 3; i++)
        pl->child[i] = pl->parent[i] = pl->extra[i] = -1;
    for (int i = 0; i < 3; i++) {
        int mode = o ? o->stdio[i] : CIO_STDIO_INHERIT;
        switch (mode) {
        case CIO_STDIO_INHERIT: {
            /* A stream cio made non-blocking (its own stdout, a pipe, used
             * with cio_write) goes to the child as a blocking copy. */
            int copy = cio__fd_blocking_copy(rt, i);
            if (copy >= 0) {
                pl->extra[i] = copy;
                int rc = above_stdio(&pl->extra[i], true);
                if (rc < 0)
                    return rc;
                pl->child[i] = pl->extra[i];
            }
            break;
        }
        case CIO_STDIO_PIPE: {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
            /* The child reads its stdin from p[0] and writes the others
             * into p[1]; the parent holds the other end, non-blocking. */
            int mine = i == 0 ? p[1] : p[0], theirs = i == 0 ? p[0] : p[1];
            pl->parent[i] = mine;
            pl->extra[i] = theirs;
            int rc = above_stdio(&pl->extra[i], true);
            if (rc == 0)
                rc = above_stdio(&pl->parent[i], true);
            if (rc == 0 && fcntl(pl->parent[i], F_SETFL, O_NONBLOCK) < 0)
                rc = -errno;
            if (rc < 0)
                return rc;
            pl->child[i] = pl->extra[i];
            break;
        }
        case CIO_STDIO_NULL:
            pl->extra[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (pl->extra[i] < 0)
                return -errno;
            if (above_stdio(&pl->extra[i], true) < 0)
                return -errno;
            pl->child[i] = pl->extra[i];
            break;
        case CIO_STDIO_FD: {
            int fd = o->stdio_fd[i];
            if (fd < 0)
                return CIO_EINVAL;
            if (fcntl(fd, F_GETFD) < 0)
                return CIO_EBADF;
            int copy = cio__fd_blocking_copy(rt, fd);
            if (copy >= 0) {
                pl->extra[i] = fd = copy;
                int rc = above_stdio(&pl->extra[i], true);
                if (rc < 0)
                    return rc;
                fd = pl->extra[i];
            } else if (fd <= 2 && fd != i) { /* may be clobbered: a copy */
                int rc = above_stdio(&fd, false);
                if (rc < 0)
                    return rc;
                pl->extra[i] = fd;
            }
            pl->child[i] = fd;
            break;
        }
        case CIO_STDIO_STDOUT:
            if (i != 2)
                return CIO_EINVAL;
            pl->child[i] = -2; /* dup2(1, 2) once stdout is in place */
            break;
        default:
            return CIO_EINVAL;
        }
    }
    return 0;
}

static int actions_make(posix_spawn_file_actions_t *fa, const struct plan *pl,
                        const cio_proc_opts *o)
{
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (pl->child[i] >= 0)
            /* dup2 onto itself clears close-on-exec too (glibc 2.29+). */
            rc = posix_spawn_file_actions_adddup2(fa, pl->child[i], i);
        else if (pl->child[i] == -2)
            rc = posix_spawn_file_actions_adddup2(fa, 1, 2);
    }
    if (rc == 0 && o && o->cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, o->cwd);
    return -rc;
}

/* The mask cio_run's caller had: a worker holds signals back in some
 * builds (os.h), and a child must not inherit that. */
static void caller_mask(sigset_t *m)
{
    const sigset_t *open = cio__os_signals_open();
    if (open)
        *m = *open;
    else
        pthread_sigmask(SIG_SETMASK, NULL, m);
}

/* The program to start, checked before the spawn: posix_spawn reports an
 * exec that fails only where the kernel runs the child in the parent's
 * memory (an emulator may not), and a missing program is the common case.
 * `file` itself when it has a '/' or `path` is false, else the first
 * executable file of that name in the parent's $PATH (as execvp). */
static int resolve(const char *file, bool path, char *buf, size_t cap,
                   const char **out)
{
    if (!path || strchr(file, '/')) {
        if (access(file, X_OK) < 0)
            return -errno;
        *out = file;
        return 0;
    }
    if (!*file)
        return CIO_ENOENT;
    const char *dirs = getenv("PATH");
    if (!dirs)
        dirs = "/bin:/usr/bin";
    int err = CIO_ENOENT;
    for (const char *d = dirs;; d++) {
        const char *end = strchr(d, ':');
        size_t dl = end ? (size_t)(end - d) : strlen(d);
        int n = dl ? snprintf(buf, cap, "%.*s/%s", (int)dl, d, file)
                   : snprintf(buf, cap, "%s", file);
        if (n > 0 && (size_t)n < cap) {
            struct stat sb;
            if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (access(buf, X_OK) == 0) {
                    *out = buf;
                    return 0;
                }
                err = CIO_EACCES; /* found, not executable: say so */
            }
        }
        if (!end)
            return err;
        d = end;
    }
}

int cio_proc_spawn(cio_proc **out, const char *file, const char *const argv[],
                   const cio_proc_opts *o)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (!out || !file || !argv || !argv[0])
        return CIO_EINVAL;
    if (o && (o->flags & ~(unsigned)(CIO_PROC_PATH | CIO_PROC_NEW_GROUP)))
        return CIO_EINVAL;
    if (cio__cancel_pending(self))
        return CIO_ECANCELED;
    /* The $PATH candidate on the heap: a task's stack may be one page. */
    bool path = o && (o->flags & CIO_PROC_PATH) && !strchr(file, '/');
    char *found = path ? malloc(PATH_MAX) : NULL;
    if (path && !found)
        return CIO_ENOMEM;
    const char *prog = file;
    int rc = resolve(file, path, found, PATH_MAX, &prog);
    if (rc == 0 && o && o->cwd) { /* as for the program: checked first */
        struct stat sb;
        if (stat(o->cwd, &sb) < 0)
            rc = -errno;
        else if (!S_ISDIR(sb.st_mode))
            rc = CIO_ENOTDIR;
        else if (access(o->cwd, X_OK) < 0)
            rc = -errno;
    }
    cio_proc *p = rc < 0 ? NULL : calloc(1, sizeof *p);
    if (rc == 0 && !p)
        rc = CIO_ENOMEM;
    if (rc == 0) {
        rc = -pthread_mutex_init(&p->lock, NULL);
        if (rc < 0) {
            free(p);
            p = NULL;
        }
    }
    if (rc < 0) {
        free(found);
        return rc;
    }
    struct plan pl;
    rc = plan_make(&pl, o, self->worker->rt);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    bool fa_made = false, at_made = false;
    if (rc == 0) {
        rc = -posix_spawn_file_actions_init(&fa);
        fa_made = rc == 0;
    }
    if (rc == 0)
        rc = actions_make(&fa, &pl, o);
    if (rc == 0) {
        rc = -posix_spawnattr_init(&at);
        at_made = rc == 0;
    }
    if (rc == 0) {
        sigset_t m;
        caller_mask(&m);
        short flags = POSIX_SPAWN_SETSIGMASK;
        if (o && (o->flags & CIO_PROC_NEW_GROUP)) {
            flags |= POSIX_SPAWN_SETPGROUP;
            rc = -posix_spawnattr_setpgroup(&at, 0);
        }
        if (rc == 0)
            rc = -posix_spawnattr_setsigmask(&at, &m);
        if (rc == 0)
            rc = -posix_spawnattr_setflags(&at, flags);
    }
    if (rc == 0) {
        char *const *env = o && o->env ? (char *const *)o->env : environ;
        char *const *args = (char *const *)argv;
        pid_t pid;
        rc = -posix_spawn(&pid, prog, &fa, &at, args, env);
        if (rc == 0)
            p->pid = pid;
    }
    free(found);
    if (fa_made)
        posix_spawn_file_actions_destroy(&fa);
    if (at_made)
        posix_spawnattr_destroy(&at);
    plan_close(&pl, rc < 0);
    if (rc < 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return rc;
    }
    struct cio__runtime *rt = self->worker->rt;
    p->group = o && (o->flags & CIO_PROC_NEW_GROUP);
    for (int i = 0; i < 3; i++) {
        p->fds[i] = pl.parent[i];
        /* New numbers: whatever cio knew of them before is gone. */
        if (p->fds[i] >= 0)
            cio__fd_fresh(rt, p->fds[i], 0);
    }
    /* A failure here leaves the child without a pidfd: waits then check
     * at intervals, which is slower but as correct. */
    p->pidfd = sys_pidfd_open(p->pid);
    if (p->pidfd >= 0 && p->pidfd <= 2 && above_stdio(&p->pidfd, true) < 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    if (p->pidfd >= 0) {
        fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
        /* Still this process's child? Only if something collected it
         * (SIGCHLD ignored) could the number name another process by
         * now; then the pidfd is not trusted with signals. */
        siginfo_t si;
        if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si,
                   WEXITED | WNOHANG | WNOWAIT) < 0 &&
            errno == ECHILD) {
            close(p->pidfd);
            p->pidfd = -1;
        } else {
            cio__fd_fresh(rt, p->pidfd, 0);
        }
    }
    *out = p;
    return 0;
}

int cio_proc_pid(const cio_proc *p)
{
    return p ? p->pid : CIO_EINVAL;
}

int cio_proc_fd(const cio_proc *p, int i)
{
    if (!p || i < 0 || i > 2)
        return CIO_EINVAL;
    cio_proc *q = (cio_proc *)p; /* the lock, not the handle, changes */
    pthread_mutex_lock(&q->lock);
    int fd = q->fds[i];
    pthread_mutex_unlock(&q->lock);
    return fd >= 0 ? fd : CIO_EBADF;
}

int cio_proc_close_fd(cio_proc *p, int i)
{
    if (!p || i < 0 || i > 2)
        return CIO_EINVAL;
    pthread_mutex_lock(&p->lock);
    int fd = p->fds[i];
    p->fds[i] = -1;
    pthread_mutex_unlock(&p->lock);
    if (fd < 0)
        return CIO_EBADF;
    cio_close(fd);
    return 0;
}

/* ---- the end ------------------------------------------------------------ */

/* Collects the child if it has ended: true when it has (now or before). */
static bool collect(cio_proc *p, int *err)
{
    /* Acquire: pairs with the release below, for `status`. */
    if (atomic_load_explicit(&p->ended, memory_order_acquire))
        return true;
    pthread_mutex_lock(&p->lock);
    /* Relaxed: under the lock, which every store of `ended` holds. */
    bool done = atomic_load_explicit(&p->ended, memory_order_relaxed);
    if (!done) {
        int st;
        pid_t r;
        while ((r = waitpid(p->pid, &st, WNOHANG)) < 0 && errno == EINTR)
            ;
        if (r == p->pid) {
            p->status = status_of(st);
            /* Release: pairs with the acquire above and in kill. */
            atomic_store_explicit(&p->ended, true, memory_order_release);
            done = true;
        } else if (r < 0) {
            *err = -errno; /* ECHILD: collected by someone else */
        }
    }
    pthread_mutex_unlock(&p->lock);
    return done;
}

/* Waits on the pidfd, which stays readable once the child has ended.
 * The readiness word is read before each look at the child and its READ
 * bit cleared only if no edge came since (cio__call_not_ready), so an end
 * that comes between the look and the wait is never missed, and several
 * tasks may wait for one child: no waiter consumes the edge the others
 * need. */
static int wait_pidfd(cio_proc *p, int64_t deadline)
{
    struct cio__call c;
    int rc = cio__call_begin(&c, p->pidfd);
    if (rc < 0)
        return rc;
    for (;;) {
        int err = 0;
        c.snap = cio__fd_readiness(c.st);
        if (collect(p, &err)) {
            rc = p->status;
            break;
        }
        if (err < 0) {
            rc = err;
            break;
        }
        cio__call_not_ready(&c, CIO__RDY_READ);
        rc = cio__call_wait(&c, CIO__RDY_READ, deadline);
        if (rc < 0) {
            /* The end may have come with the deadline: report it. */
            if (rc == CIO_ETIMEDOUT && collect(p, &err))
                rc = p->status;
            break;
        }
    }
    cio__call_end(&c, false);
    return rc;
}

int cio_proc_wait(cio_proc *p, int64_t deadline)
{
    struct cio__task *self = cio__task_current();
    if (!self)
        return CIO_EPERM;
    if (!p)
        return CIO_EINVAL;
    if (p->pidfd >= 0)
        return wait_pidfd(p, deadline);
    int64_t pause = 1000000; /* without a pidfd: 1 ms, doubling to 50 */
    for (;;) {
        int err = 0;
        if (collect(p, &err))
            return p->status;
        if (err < 0)
            return err;
        int64_t until = cio_deadline_after(pause);
        int rc = cio_sleep_until(until < deadline ? until : deadline);
        if (rc == 0 && until >= deadline)
            rc = CIO_ETIMEDOUT;
        pause = pause < 25000000 ? pause * 2 : 50000000;
        if (rc < 0) {
            if (rc == CIO_ETIMEDOUT && collect(p, &err))
                return p->status;
            return rc;
        }
    }
}

int cio_proc_kill(cio_proc *p, int sig, int group)
{
    if (!p || sig < 0 || sig >= NSIG)
        return CIO_EINVAL;
    /* Acquire: pairs with the release in collect(). */
    if (atomic_load_explicit(&p->ended, memory_order_acquire))
        return CIO_ESRCH;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    /* Relaxed: under the lock, which every store of `ended` holds. */
    if (atomic_load_explicit(&p->ended, memory_order_relaxed)) {
        rc = CIO_ESRCH;
    } else {
        /* The child is not collected (the lock), so its number, and the
         * number of the group it leads, are still its own. */
        if (group && p->group && kill(-p->pid, sig) < 0)
            rc = -errno; /* it left its group (setpgid): the child alone */
        if (!(group && p->group) || rc < 0) {
            rc = 0;
            if (p->pidfd >= 0 ? sys_pidfd_send_signal(p->pidfd, sig) < 0
                              : kill(p->pid, sig) < 0)
                rc = -errno;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Collects a killed child on a pool thread, then frees its handle. */
struct reap_job {
    struct cio__job job;
    cio_proc *p;
};

static void destroy(cio_proc *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void reap_wait(cio_proc *p)
{
    int st;
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
        ;
}

static void *reap_run(void *arg)
{
    reap_wait(arg);
    return NULL;
}

static void reap_release(struct cio__job *job)
{
    struct reap_job *r = (struct reap_job *)job;
    destroy(r->p);
    free(r);
}

int cio_proc_free(cio_proc **pp)
{
    if (!pp || !*pp)
        return CIO_EINVAL;
    cio_proc *p = *pp;
    *pp = NULL;
    for (int i = 0; i < 3; i++)
        if (p->fds[i] >= 0)
            cio_close(p->fds[i]);
    if (p->pidfd >= 0)
        cio_fd_forget(p->pidfd); /* a wait on it gave up, or never was */
    int err = 0;
    if (collect(p, &err) || err < 0) {
        destroy(p);
        return 0;
    }
    if (cio_proc_kill(p, SIGKILL, 1) < 0 && !collect(p, &err)) {
        /* Not ours to kill (it changed its user, say): waiting for it
         * could hold the runtime's end for ever. It runs on; the system
         * collects it once this process has ended. */
        destroy(p);
        return 0;
    }
    struct cio__task *self = cio__task_current();
    if (self) {
        struct reap_job *r = calloc(1, sizeof *r);
        if (r) {
            r->job.fn = reap_run;
            r->job.arg = p;
            r->job.release = reap_release;
            r->p = p;
            if (cio__pool_post(&self->worker->rt->pool, &r->job) == 0)
                return 0;
            free(r);
        }
    }
    /* A plain thread, or no pool: wait here (SIGKILL ends it soon). */
    reap_wait(p);
    destroy(p);
    return 0;
}
