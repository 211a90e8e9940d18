/* jansson values in an arena (core/arena.h): the process-wide allocation functions that
 * look at the calling thread's arena scope. Apart from arena.c so that the arena itself
 * needs no JSON library. */
#include <jansson.h>
#include <stdlib.h>

#include "core/arena.h"

static _Thread_local struct tn_arena_scope scope;

static void *json_alloc(size_t n)
{
    if (scope.alloc && scope.arena) {
        void *p = tn_arena_alloc(scope.arena, n);
        if (p)
            return p;
    }
    return malloc(n);
}

static void json_free(void *p)
{
    if (p && scope.arena && tn_arena_owns(scope.arena, p)) {
        tn_arena_release(scope.arena, p);
        return;
    }
    free(p);
}

void tn_arena_json_install(void)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (m != json_alloc) /* values made before keep working: json_free frees them */
        json_set_alloc_funcs(json_alloc, json_free);
}

struct tn_arena_scope tn_arena_json_enter(struct tn_arena *a, bool alloc)
{
    struct tn_arena_scope prev = scope;
    scope.arena = a;
    scope.alloc = alloc && a;
    return prev;
}

void tn_arena_json_leave(struct tn_arena_scope previous) { scope = previous; }

struct tn_arena *tn_arena_json_current(void) { return scope.arena; }
