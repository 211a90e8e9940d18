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
