/* An LD_PRELOAD allocation counter for tests/http/allocs.sh: counts every call of the
 * malloc family in the process (every thread, every library) into a small file that the
 * test maps and reads between requests, so heap allocations per request can be measured
 * on the real binary. Not for sanitizer builds (AddressSanitizer must own malloc).
 *
 *   TN_ALLOC_COUNTS=/path/file LD_PRELOAD=build/tests/libtn-alloccount.so teamnotes serve
 *
 * The file holds little-endian uint64 counters: malloc (and realloc of NULL), calloc,
 * realloc (of a block), free (of a non-NULL pointer), aligned (posix_memalign, aligned_alloc, memalign, valloc). glibc's
 * own calls (strdup, fopen, ...) go through these symbols too, so they are counted. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_FREE, C_ALIGNED, C_N };

static _Atomic uint64_t early[C_N]; /* before the file is mapped */
static _Atomic uint64_t *counts = early;

__attribute__((constructor)) static void map_counts(void)
{
    const char *path = getenv("TN_ALLOC_COUNTS");
    if (!path)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return;
    if (ftruncate(fd, C_N * sizeof(uint64_t)) == 0) {
        void *m = mmap(NULL, C_N * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED)
            counts = m;
    }
    close(fd);
}

static inline void bump(int k)
{
    atomic_fetch_add_explicit(&counts[k], 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
    bump(C_MALLOC);
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    bump(C_CALLOC);
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    bump(p ? C_REALLOC : C_MALLOC); /* realloc(NULL, n) is a new block, like malloc */
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p)
        bump(C_FREE);
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    bump(C_ALIGNED);
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    bump(C_ALIGNED);
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    bump(C_ALIGNED);
    return __libc_memalign(align, n);
}

void *valloc(size_t n)
{
    bump(C_ALIGNED);
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
