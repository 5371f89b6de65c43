#include "cio.h"

const char *cio_strerror(int err)
{
    if (err == 0)
        return "success";
    switch (err) {
#define CIO__ERR_MSG(name, value, msg)                                        \
    case (value):                                                             \
        return msg;
        CIO_ERRNO_MAP(CIO__ERR_MSG)
#undef CIO__ERR_MSG
    }
    return "unknown error";
}

const char *cio_err_name(int err)
{
    if (err == 0)
        return "OK";
    switch (err) {
#define CIO__ERR_NAME(name, value, msg)                                       \
    case (value):                                                             \
        return #name;
        CIO_ERRNO_MAP(CIO__ERR_NAME)
#undef CIO__ERR_NAME
    }
    return "UNKNOWN";
}
