/* lwIP err_t to errno, following lwIP's own socket layer and the kernel's choices. */
#include "errmap.h"

#include <errno.h>

#include <lwip/err.h>

int nc__err_to_errno(int lwip_err)
{
    switch (lwip_err) {
    case ERR_OK:         return 0;
    case ERR_MEM:        return ENOMEM;
    case ERR_BUF:        return ENOBUFS;
    case ERR_TIMEOUT:    return ETIMEDOUT;
    case ERR_RTE:        return EHOSTUNREACH;
    case ERR_INPROGRESS: return EINPROGRESS;
    case ERR_VAL:        return EINVAL;
    case ERR_WOULDBLOCK: return EWOULDBLOCK;
    case ERR_USE:        return EADDRINUSE;
    case ERR_ALREADY:    return EALREADY;
    case ERR_ISCONN:     return EISCONN;
    case ERR_CONN:       return ENOTCONN;
    case ERR_IF:         return ENETDOWN;
    case ERR_ABRT:       return ECONNABORTED;
    case ERR_RST:        return ECONNRESET;
    case ERR_CLSD:       return ENOTCONN;
    case ERR_ARG:        return EINVAL;
    default:             return EIO;
    }
}
