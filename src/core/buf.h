/* Growable byte buffers with a hard cap, and borrowed spans.
 *
 * A tn_buf never grows past the cap given at init: an append that would cross it fails
 * with TN_ERR_LIMIT and leaves the buffer as it was. The content is always followed by
 * a NUL byte (not counted in len) so it can be handed to APIs that want a C string. */
#ifndef TN_CORE_BUF_H
#define TN_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/err.h"

struct tn_span {
    const char *ptr;
    size_t len;
};

#define TN_SPAN_LIT(s) ((struct tn_span){(s), sizeof(s) - 1})

struct tn_arena;

struct tn_buf {
    char *data;
    size_t len;
    size_t cap;             /* allocated bytes */
    size_t limit;           /* hard maximum of len */
    struct tn_arena *arena; /* where the storage comes from (NULL: malloc) */
};

/* Prepares an empty buffer that may hold up to `limit` bytes. Allocates nothing yet. */
void tn_buf_init(struct tn_buf *b, size_t limit);
/* The same, with storage from an arena (core/arena.h), which must outlive the buffer:
 * growing copies into a new block, deinit gives nothing back before the arena goes. */
void tn_buf_init_arena(struct tn_buf *b, size_t limit, struct tn_arena *a);
/* Frees the storage; the buffer may be initialised again. */
void tn_buf_deinit(struct tn_buf *b);
/* Empties the buffer, keeping its storage. */
void tn_buf_reset(struct tn_buf *b);
/* Appends n bytes (and keeps a NUL after them). The common case, room already there,
 * is inline: answers are written a few bytes at a time. */
enum tn_err tn_buf_append_grow(struct tn_buf *b, const void *p, size_t n);
static inline enum tn_err tn_buf_append(struct tn_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len > n) { /* cap is 0 until allocated, and never above limit + 1 */
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return TN_OK;
    }
    return tn_buf_append_grow(b, p, n);
}
/* Makes room for `extra` more bytes (and the NUL) without changing the content, so a
 * caller may write them at data + len and then advance len; TN_ERR_LIMIT past the cap.
 * Inline when the room is there (a page's writers ask before every string). */
enum tn_err tn_buf_reserve_grow(struct tn_buf *b, size_t extra);
static inline enum tn_err tn_buf_reserve(struct tn_buf *b, size_t extra)
{
    if (b->cap - b->len > extra) /* as in tn_buf_append: then also len + extra <= limit */
        return TN_OK;
    return tn_buf_reserve_grow(b, extra);
}
static inline enum tn_err tn_buf_puts(struct tn_buf *b, const char *s)
{
    return tn_buf_append(b, s, strlen(s));
}
enum tn_err tn_buf_printf(struct tn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Moves the bytes out: the caller owns the returned NUL-terminated string, to free()
 * (an arena buffer's bytes are copied to the heap). NULL when out of memory. */
char *tn_buf_take(struct tn_buf *b);

/* True when span equals the C string exactly. */
bool tn_span_eq(struct tn_span s, const char *lit);
/* Case-insensitive ASCII comparison. */
bool tn_span_ieq(struct tn_span s, const char *lit);
/* Span with leading and trailing spaces and tabs removed. */
struct tn_span tn_span_trim(struct tn_span s);

#endif
