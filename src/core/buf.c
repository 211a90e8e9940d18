#include "core/buf.h"

#include "core/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void tn_buf_init(struct tn_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    b->arena = NULL;
}

void tn_buf_init_arena(struct tn_buf *b, size_t limit, struct tn_arena *a)
{
    tn_buf_init(b, limit);
    b->arena = a;
}

void tn_buf_deinit(struct tn_buf *b)
{
    if (b->arena && b->data)
        tn_arena_release(b->arena, b->data);
    else
        free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void tn_buf_reset(struct tn_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum tn_err reserve(struct tn_buf *b, size_t extra)
{
    if (extra > b->limit - b->len || b->len > b->limit)
        return TN_ERR_LIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return TN_OK;
    /* 1 KiB first: most answers (a JSON-RPC error, server/discover) fit in one block */
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > b->limit + 1)
        cap = b->limit + 1;
    char *p;
    if (b->arena) {
        if (!(p = tn_arena_alloc(b->arena, cap)))
            return TN_ERR_NOMEM;
        if (b->data) {
            memcpy(p, b->data, b->len + 1);
            tn_arena_release(b->arena, b->data);
        }
    } else if (!(p = realloc(b->data, cap))) {
        return TN_ERR_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return TN_OK;
}

enum tn_err tn_buf_reserve_grow(struct tn_buf *b, size_t extra) { return reserve(b, extra); }

enum tn_err tn_buf_append_grow(struct tn_buf *b, const void *p, size_t n)
{
    enum tn_err e = reserve(b, n);
    if (e != TN_OK)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TN_OK;
}

enum tn_err tn_buf_printf(struct tn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TN_ERR_INTERNAL;
    if ((size_t)n < sizeof small)
        return tn_buf_append(b, small, (size_t)n);
    enum tn_err e = reserve(b, (size_t)n);
    if (e != TN_OK)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TN_OK;
}

char *tn_buf_take(struct tn_buf *b)
{
    char *p = b->data;
    if (b->arena) {
        p = malloc(b->len + 1);
        if (p) {
            if (b->len)
                memcpy(p, b->data, b->len);
            p[b->len] = '\0';
        }
        if (b->data)
            tn_arena_release(b->arena, b->data);
    } else if (!p) {
        p = calloc(1, 1);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

bool tn_span_eq(struct tn_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

bool tn_span_ieq(struct tn_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || strncasecmp(s.ptr, lit, n) == 0);
}

struct tn_span tn_span_trim(struct tn_span s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}
