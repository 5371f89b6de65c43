/* cio error codes.
 *
 * Every fallible cio call returns a negative value from this list. On Linux
 * CIO_Exxx == -Exxx, so a code can be compared with -errno values directly.
 * Conditions that have no errno of their own use values outside errno's range.
 * One X-macro list produces the enum, cio_strerror() and cio_err_name().
 */
#ifndef CIO_ERRNO_H
#define CIO_ERRNO_H

#include <errno.h>

/* cio's own codes start here, below errno's range. (-4095 was CIO_EOF,
 * which nothing returned: end of file is a read of 0.) */
#define CIO__OWN_BASE (-4095)

/* X(name, value, message) */
#define CIO_ERRNO_MAP(X)                                                      \
    X(EPERM, -EPERM, "operation not permitted")                               \
    X(ENOENT, -ENOENT, "no such file or directory")                           \
    X(ESRCH, -ESRCH, "no such task or process")                               \
    X(EINTR, -EINTR, "interrupted system call")                               \
    X(E2BIG, -E2BIG, "argument list too long")                                \
    X(ENOEXEC, -ENOEXEC, "exec format error")                                 \
    X(ECHILD, -ECHILD, "no child process")                                    \
    X(EIO, -EIO, "i/o error")                                                 \
    X(EBADF, -EBADF, "bad file descriptor")                                   \
    X(EAGAIN, -EAGAIN, "resource temporarily unavailable")                    \
    X(ENOMEM, -ENOMEM, "not enough memory")                                   \
    X(EACCES, -EACCES, "permission denied")                                   \
    X(EFAULT, -EFAULT, "bad address")                                         \
    X(EBUSY, -EBUSY, "resource busy")                                         \
    X(EEXIST, -EEXIST, "already exists")                                      \
    X(ETXTBSY, -ETXTBSY, "text file busy")                                    \
    X(EINVAL, -EINVAL, "invalid argument")                                    \
    X(ENFILE, -ENFILE, "file table overflow")                                 \
    X(EMFILE, -EMFILE, "too many open files")                                 \
    X(ENOSPC, -ENOSPC, "no space left")                                       \
    X(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                           \
    X(EFBIG, -EFBIG, "file too large")                                        \
    X(EISDIR, -EISDIR, "is a directory")                                      \
    X(ENOTDIR, -ENOTDIR, "not a directory")                                   \
    X(ENOTEMPTY, -ENOTEMPTY, "directory not empty")                           \
    X(EXDEV, -EXDEV, "cross-device link")                                     \
    X(EROFS, -EROFS, "read-only file system")                                 \
    X(ELOOP, -ELOOP, "too many levels of symbolic links")                     \
    X(ESPIPE, -ESPIPE, "illegal seek")                                        \
    X(EDQUOT, -EDQUOT, "disk quota exceeded")                                 \
    X(EMSGSIZE, -EMSGSIZE, "message too long")                                \
    X(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")            \
    X(ENOTSOCK, -ENOTSOCK, "not a socket")                                    \
    X(EPIPE, -EPIPE, "broken pipe")                                           \
    X(ERANGE, -ERANGE, "result out of range")                                 \
    X(EDEADLK, -EDEADLK, "resource deadlock would occur")                     \
    X(ENOSYS, -ENOSYS, "function unavailable here")                            \
    X(ENOTSUP, -ENOTSUP, "operation not supported")                           \
    X(EADDRINUSE, -EADDRINUSE, "address already in use")                      \
    X(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                 \
    X(ENETUNREACH, -ENETUNREACH, "network is unreachable")                    \
    X(ECONNABORTED, -ECONNABORTED, "connection aborted")                      \
    X(ECONNRESET, -ECONNRESET, "connection reset by peer")                    \
    X(ENOBUFS, -ENOBUFS, "no buffer space available")                         \
    X(EISCONN, -EISCONN, "socket is already connected")                       \
    X(ENOTCONN, -ENOTCONN, "socket is not connected")                         \
    X(ETIMEDOUT, -ETIMEDOUT, "deadline passed")                               \
    X(ECONNREFUSED, -ECONNREFUSED, "connection refused")                      \
    X(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                     \
    X(EALREADY, -EALREADY, "operation already in progress")                   \
    X(EINPROGRESS, -EINPROGRESS, "operation in progress")                     \
    X(ECANCELED, -ECANCELED, "operation canceled")                            \
    X(EOWNERDEAD, -EOWNERDEAD, "previous owner ended holding the lock")       \
    X(ENOHOST, CIO__OWN_BASE + 1, "host name not found")                     \
    X(ECLOSED, CIO__OWN_BASE + 2, "channel closed")

enum {
#define CIO__ERR_ENUM(name, value, msg) CIO_##name = (value),
    CIO_ERRNO_MAP(CIO__ERR_ENUM)
#undef CIO__ERR_ENUM
};

#endif /* CIO_ERRNO_H */
