/* errno.c: lwIP's err_t to the kernel's errno. */
#ifndef NC_ERRMAP_H
#define NC_ERRMAP_H

/* The errno (positive; 0 for ERR_OK) a kernel socket call reports where lwIP gives
 * lwip_err. */
int nc__err_to_errno(int lwip_err);

#endif /* NC_ERRMAP_H */
