/*
 * sanitize: only in a sanitizer build (configure --enable-sanitize).
 *
 * libasan preloaded into a program that was not built with it initializes itself lazily, at
 * the first malloc. In curl that malloc comes from libp11-kit's constructor inside
 * newlocale(), which holds glibc's setlocale lock for writing. ASan's late initialization
 * then looks up the optional symbol swift_demangle with dlsym(RTLD_DEFAULT) and clears the
 * failure with dlerror(), which translates the message through gettext, which takes the same
 * lock for reading: the lock's reader count wraps and the program's next setlocale() waits
 * forever. Plain `LD_PRELOAD=libasan.so curl` does the same, netcore or not.
 *
 * With the symbol present the lookup succeeds, dlerror() has nothing to translate and the
 * lock is never touched. ASan calls it only to demangle Swift names, which C programs do not
 * have; returning NULL means "not demangled".
 */
#include <stddef.h>

#ifdef NETCORE_SANITIZE
char *swift_demangle(const char *mangled, size_t mangled_len, char *out, size_t *out_len,
                     unsigned flags);

char *swift_demangle(const char *mangled, size_t mangled_len, char *out, size_t *out_len,
                     unsigned flags)
{
    (void)mangled;
    (void)mangled_len;
    (void)out;
    (void)out_len;
    (void)flags;
    return NULL;
}
#endif
