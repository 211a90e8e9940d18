/* A fast compact JSON writer for jansson values.
 *
 * Writes exactly what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes (objects in
 * their insertion order, strings as UTF-8 with only '"', '\\' and control characters
 * escaped, reals with 17 significant digits), but straight into a tn_buf and several
 * times faster: runs of plain characters are copied at once instead of one callback per
 * character. Every answer of the MCP endpoint goes through it. */
#ifndef TN_CORE_JSON_H
#define TN_CORE_JSON_H

#include <jansson.h>

#include "core/buf.h"

/* Appends the JSON text of `v` to `out`. TN_ERR_LIMIT when the buffer's cap would be
 * crossed, TN_ERR_NOMEM, TN_ERR_BAD_INPUT for a NULL value, a non-finite real or
 * nesting deeper than 2048; on failure `out` may hold part of the text. */
enum tn_err tn_json_dump(const json_t *v, struct tn_buf *out);

/* Appends `s` (n bytes of UTF-8) as a JSON string, quotes included. */
enum tn_err tn_json_put_string(struct tn_buf *out, const char *s, size_t n);

/* Appends `s` escaped as tn_json_put_string does, without the quotes: the contents of a
 * JSON string. */
enum tn_err tn_json_put_string_body(struct tn_buf *out, const char *s, size_t n);

/* A JSON text and, beside it, that text escaped as the contents of a JSON string, both
 * written as the value is built: for a tool result whose text block repeats its structured
 * content, so that the answer never escapes the whole text a second time. After any
 * sequence of calls, `text` holds exactly what tn_json_put_string_body(json) would write
 * (tests/unit/test_json.c). The first failure sticks in `err`; later calls do nothing. */
struct tn_json_twin {
    struct tn_buf json, text;
    enum tn_err err;
};
void tn_json_twin_init(struct tn_json_twin *t, size_t cap);
void tn_json_twin_deinit(struct tn_json_twin *t);
/* JSON syntax `j` and its escape `x`, both written by hand (TN_JSON_TWIN_LIT takes two
 * string literals); debug builds check that `x` is the escape of `j`. */
void tn_json_twin_lit_check(const char *j, size_t jn, const char *x, size_t xn);
static inline void tn_json_twin_lit(struct tn_json_twin *t, const char *j, size_t jn, const char *x,
                                    size_t xn)
{
#ifndef NDEBUG
    tn_json_twin_lit_check(j, jn, x, xn);
#endif
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->json, j, jn);
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->text, x, xn);
}
#define TN_JSON_TWIN_LIT(t, j, x) tn_json_twin_lit((t), (j), sizeof(j) - 1, (x), sizeof(x) - 1)
/* A string value (quoted and escaped), a number, a ready JSON text (escaped once for
 * `text`), bytes that need no escape in either (digits, a date), and another twin. */
void tn_json_twin_string(struct tn_json_twin *t, const char *s, size_t n);
void tn_json_twin_int(struct tn_json_twin *t, long long v);
void tn_json_twin_json(struct tn_json_twin *t, const char *j, size_t n);
void tn_json_twin_plain(struct tn_json_twin *t, const char *s, size_t n);
void tn_json_twin_append(struct tn_json_twin *t, const struct tn_json_twin *o);

/* Appends `v` as a JSON number. */
enum tn_err tn_json_put_int(struct tn_buf *out, long long v);

/* A value that tn_json_dump writes as the given JSON text, verbatim: for results built
 * as text on a hot path. The caller vouches that `text` is one valid JSON value. It is
 * an object with one member whose name holds a per-process random key, so no value that
 * came from outside (a client's arguments echoed back) can pass for one. NULL on
 * allocation failure. */
json_t *tn_json_raw(const char *text, size_t len);
/* The text of a tn_json_raw value (and its length in *len), or NULL for any other. */
const char *tn_json_raw_text(const json_t *v, size_t *len);

/* Parses n bytes of JSON text as json_loadb(text, n, JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY, err) does, accepting and refusing the same texts and building the same
 * values, several times faster (src/core/jsonparse.c). On failure NULL, and err (if not
 * NULL) holds a message and the byte position; line and column are -1. */
json_t *tn_json_parse(const char *text, size_t n, json_error_t *err);

#endif
