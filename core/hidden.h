/* The functions netcore gives lwIP under lwIP's own names, and how netcore_start checks that
 * lwIP's calls reach them (each module's nc__*_ours). */
#ifndef NC_HIDDEN_H
#define NC_HIDDEN_H

#include <stdbool.h>

/* For the functions netcore gives lwIP under lwIP's own names (tcp_input, udp_input,
 * etharp_input, memp_free, sys_now): libnetcore.so does not export them, so lwIP's calls bind
 * to netcore's inside the library, and a program that defines the same names (or loads
 * Debian's liblwip, whose calls would otherwise land in netcore's lwIP) keeps its own. */
#define NC_HIDDEN __attribute__((visibility("hidden")))

/* Is the function the name resolves to (the dynamic linker's choice) the one at alias, a
 * local alias of the definition? Through volatile copies: clang folds the comparison of a
 * name with its own alias to "different" at compile time. */
static inline bool nc__same_fn(void *name, void *alias)
{
    void *volatile a = name, *volatile b = alias;
    return a == b;
}

#endif /* NC_HIDDEN_H */
