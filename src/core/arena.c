#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TN_ASAN 1
#endif
#endif

#ifdef TN_ASAN
#include <sanitizer/asan_interface.h>
/* Each allocation is preceded by its size (so a release can poison exactly it) and
 * followed by a poisoned gap (so an overflow into the next one is caught). */
#define HEAD 16
#define GAP 16
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define HEAD 0
#define GAP 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16
#define FIRST_HEAP_BLOCK 4096
#define MAX_HEAP_BLOCK (1u << 20)

struct tn_arena_block {
    struct tn_arena_block *next;
    size_t size; /* of data */
    _Alignas(ALIGN) char data[];
};

static char *align_up(char *p)
{
    return (char *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

void tn_arena_init(struct tn_arena *a, void *first, size_t len)
{
    memset(a, 0, sizeof *a);
    if (first && len) {
        a->first = first;
        a->first_end = (char *)first + len;
        a->cur = align_up(first);
        a->end = a->first_end;
        if (a->cur > a->end)
            a->cur = a->end;
        POISON(a->first, len);
    }
    a->next_size = FIRST_HEAP_BLOCK;
}

void tn_arena_deinit(struct tn_arena *a)
{
    struct tn_arena_block *b = a->blocks;
    while (b) {
        struct tn_arena_block *next = b->next;
        POISON(b->data, b->size);   /* freed: any use now is a use after free */
        UNPOISON(b->data, b->size); /* and the allocator gets it back clean */
        free(b);
        b = next;
    }
    if (a->first) /* the caller's storage: theirs again, usable */
        UNPOISON(a->first, (size_t)(a->first_end - a->first));
    memset(a, 0, sizeof *a);
}

/* A new heap block with room for n bytes (and the sanitizer's head and gap). */
static bool grow(struct tn_arena *a, size_t n)
{
    size_t need = n + HEAD + GAP + ALIGN;
    if (need < n)
        return false;
    size_t size = a->next_size ? a->next_size : FIRST_HEAP_BLOCK;
    while (size < need && size < SIZE_MAX / 2)
        size *= 2;
    if (size < need)
        return false;
    struct tn_arena_block *b = malloc(sizeof *b + size);
    if (!b)
        return false;
    b->size = size;
    b->next = a->blocks;
    a->blocks = b;
    a->cur = b->data;
    a->end = b->data + size;
    POISON(b->data, size);
    if (a->next_size < MAX_HEAP_BLOCK)
        a->next_size *= 2;
    return true;
}

void *tn_arena_alloc(struct tn_arena *a, size_t n)
{
    size_t room = (size_t)(a->end - a->cur);
    if (n > SIZE_MAX / 2)
        return NULL;
    if (room < n + HEAD + GAP && !grow(a, n))
        return NULL;
    char *p = a->cur + HEAD;
#ifdef TN_ASAN
    UNPOISON(a->cur, HEAD);
    memcpy(a->cur, &n, sizeof n);
    POISON(a->cur, HEAD);
#endif
    UNPOISON(p, n);
    a->cur = align_up(p + n + GAP);
    if (a->cur > a->end)
        a->cur = a->end;
    a->total += n;
    return p;
}

char *tn_arena_strndup(struct tn_arena *a, const char *s, size_t n)
{
    char *p = tn_arena_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

bool tn_arena_owns(const struct tn_arena *a, const void *p)
{
    const char *c = p;
    if (a->first && c >= a->first && c < a->first_end)
        return true;
    for (const struct tn_arena_block *b = a->blocks; b; b = b->next)
        if (c >= b->data && c < b->data + b->size)
            return true;
    return false;
}

void tn_arena_release(struct tn_arena *a, void *p)
{
    (void)a;
#ifdef TN_ASAN
    size_t n;
    char *head = (char *)p - HEAD;
    UNPOISON(head, HEAD);
    memcpy(&n, head, sizeof n);
    POISON(head, HEAD + n);
#else
    (void)p;
#endif
}
