/* A memory arena: many small allocations, freed at once (h2o's per-request pool).
 *
 * The first block may be the caller's own storage (inside a request struct, or on the
 * stack), so that a small request allocates nothing more; past it, blocks come from
 * malloc and double in size. Allocations are 16-byte aligned and never freed one by
 * one: tn_arena_deinit returns everything. Not thread-safe: one thread at a time uses an
 * arena (a request handed to another thread hands its arena along).
 *
 * Under AddressSanitizer the free space, the gaps between allocations and every block
 * given back with tn_arena_release are poisoned, so an overflow or a use after release
 * is reported as it would be for malloc; so is any use after tn_arena_deinit. */
#ifndef TN_CORE_ARENA_H
#define TN_CORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct tn_arena_block;

struct tn_arena {
    struct tn_arena_block *blocks; /* the heap blocks, newest first */
    char *first, *first_end;       /* the caller's block (may be empty) */
    char *cur, *end;               /* free space of the newest block */
    size_t next_size;              /* size of the next heap block */
    size_t total;                  /* bytes handed out, for tests and limits */
};

/* Prepares an arena whose first allocations come from `first` (len bytes, may be NULL
 * and 0). The storage must outlive the arena and stay unused by anyone else. */
void tn_arena_init(struct tn_arena *a, void *first, size_t len);
/* Frees every heap block and forgets everything allocated; the arena may be initialised
 * again. The caller's first block is handed back (unpoisoned). */
void tn_arena_deinit(struct tn_arena *a);
/* n bytes (16-byte aligned, uninitialised), or NULL when malloc fails. n may be 0. */
void *tn_arena_alloc(struct tn_arena *a, size_t n);
/* A NUL-terminated copy of n bytes of s; NULL when out of memory. */
char *tn_arena_strndup(struct tn_arena *a, const char *s, size_t n);
/* True when p points into memory this arena handed out (or may hand out). */
bool tn_arena_owns(const struct tn_arena *a, const void *p);
/* Says the block at p will not be used again. The memory comes back only with the
 * arena; under AddressSanitizer the block is poisoned at once. */
void tn_arena_release(struct tn_arena *a, void *p);

/* ---------- jansson values in an arena ----------
 *
 * jansson allocates through one pair of process-wide functions. tn_arena_json_install
 * makes them look at the calling thread's arena scope: while a scope with `alloc` is
 * entered, new jansson values come from its arena; while any scope of an arena is
 * entered, freeing a value of that arena is a no-op (the arena frees it). Everything else
 * goes to malloc and free as before, so values made outside a scope are unaffected.
 * A value made in an arena must not outlive it, nor be freed on a thread that has not
 * entered the arena's scope: copy it out (json_deep_copy, outside any alloc scope) to
 * keep it. */
void tn_arena_json_install(void);

struct tn_arena_scope {
    struct tn_arena *arena;
    bool alloc;
};

/* Enters a scope on this thread: `a` (NULL: none) receives jansson's allocations when
 * `alloc` is true, and owns the frees of its values. Returns the scope it replaces, for
 * tn_arena_json_leave. Scopes nest. */
struct tn_arena_scope tn_arena_json_enter(struct tn_arena *a, bool alloc);
void tn_arena_json_leave(struct tn_arena_scope previous);
/* The arena of this thread's scope, or NULL. */
struct tn_arena *tn_arena_json_current(void);

#endif
