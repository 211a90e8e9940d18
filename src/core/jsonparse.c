/* A JSON parser that builds jansson values: tn_json_parse (core/json.h).
 *
 * It accepts exactly the texts jansson's json_loadb(JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY) accepts and builds the same values (tests/unit/test_jsonparse.c and
 * the fuzz_json target hold it to that), but reads the text in place instead of one
 * callback and one buffer append per character: plain runs of a string are found eight
 * bytes at a time and handed to jansson as they stand. Every MCP request is parsed by it.
 *
 * RFC 8259 with jansson's choices: UTF-8 only (no overlong forms, surrogates or code
 * points past U+10FFFF, raw or escaped as a lone half of a pair), no \u0000, integers
 * that fit in 64 bits (a number without fraction or exponent that does not is refused,
 * not rounded), reals that do not overflow, nesting to 2048, no duplicate member names.
 * Recursive, so bounded by that depth: about 100 bytes of stack a level (2,047 nested
 * objects with escaped keys parse in a 256 KiB thread stack; the blocking pool's threads
 * have 1 MiB, and what they parse has passed JSON_MAX_DEPTH on an HTTP worker first).
 * One difference, on purpose: jansson skips a NUL byte straight after a number or a
 * literal (its reader loses the byte it puts back after such a token); a NUL byte is not
 * JSON text anywhere, and this refuses it. */
#include "core/json.h"
#include "core/jsonmask.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PARSE_MAX_DEPTH = 2048 }; /* jansson's JSON_PARSER_MAX_DEPTH */

struct parser {
    const char *p, *end, *start;
    unsigned depth;
    json_error_t *err;
    char *scratch; /* decoded strings with escapes */
    size_t scratch_cap;
};

static json_t *fail(struct parser *ps, const char *at, const char *msg)
{
    json_error_t *e = ps->err;
    if (e && !e->text[0]) {
        e->line = -1;
        e->column = -1;
        e->position = (int)(at - ps->start);
        snprintf(e->source, sizeof e->source, "<buffer>");
        snprintf(e->text, sizeof e->text, "%s", msg);
    }
    return NULL;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* The length of the UTF-8 sequence at s (at most n bytes), or 0 if it is not one:
 * RFC 3629, so no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Moves q past the bytes of a string that need no attention. */
static inline const char *plain_run(const char *q, const char *end)
{
#if TN_JSON_WORD_SCAN
    while (end - q >= 8) {
        uint64_t v;
        memcpy(&v, q, 8);
        /* an escape, a closing quote, or a byte of a multi-byte sequence (checked alone) */
        uint64_t m = tn_json_escape_mask(v) | (v & 0x8080808080808080ULL);
        if (m)
            return q + (__builtin_ctzll(m) >> 3);
        q += 8;
    }
#endif
    while (q < end) {
        unsigned char c = (unsigned char)*q;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            break;
        q++;
    }
    return q;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static char *put_utf8(char *w, uint32_t cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
}

/* Reads the string whose opening quote is at ps->p. Its bytes are returned in *s (the
 * text itself when it holds no escape, else ps->scratch) and *n; ps->p ends past the
 * closing quote. */
static bool read_string(struct parser *ps, const char **s, size_t *n)
{
    const char *q = ps->p + 1, *end = ps->end;
    const char *run0 = q;
    char *w = NULL; /* into scratch, once an escape was met */
    for (;;) {
        q = plain_run(q, end);
        if (q >= end) {
            fail(ps, q, "premature end of input in a string");
            return false;
        }
        unsigned char c = (unsigned char)*q;
        if (c >= 0x80) {
            size_t len = utf8_len((const unsigned char *)q, (size_t)(end - q));
            if (!len) {
                fail(ps, q, "invalid UTF-8 in a string");
                return false;
            }
            q += len;
            continue;
        }
        if (c < 0x20) {
            fail(ps, q, "control character in a string");
            return false;
        }
        /* a quote or an escape ends the run: bring the run into scratch if escaping */
        if (w || c == '\\') {
            size_t have = w ? (size_t)(w - ps->scratch) : 0;
            size_t need = have + (size_t)(q - run0) + 4; /* an escape writes at most 4 */
            if (need > ps->scratch_cap) {
                size_t cap = ps->scratch_cap ? ps->scratch_cap : 256;
                while (cap < need)
                    cap *= 2;
                char *grown = realloc(ps->scratch, cap);
                if (!grown) {
                    fail(ps, q, "out of memory");
                    return false;
                }
                ps->scratch = grown;
                ps->scratch_cap = cap;
            }
            w = ps->scratch + have;
            memcpy(w, run0, (size_t)(q - run0));
            w += q - run0;
        }
        if (c == '"') {
            if (w) {
                *s = ps->scratch;
                *n = (size_t)(w - ps->scratch);
            } else {
                *s = run0;
                *n = (size_t)(q - run0);
            }
            ps->p = q + 1;
            return true;
        }
        /* an escape */
        if (end - q < 2) {
            fail(ps, q, "premature end of input in a string");
            return false;
        }
        const char *esc = q;
        switch (q[1]) {
        case '"':
            *w++ = '"';
            q += 2;
            break;
        case '\\':
            *w++ = '\\';
            q += 2;
            break;
        case '/':
            *w++ = '/';
            q += 2;
            break;
        case 'b':
            *w++ = '\b';
            q += 2;
            break;
        case 'f':
            *w++ = '\f';
            q += 2;
            break;
        case 'n':
            *w++ = '\n';
            q += 2;
            break;
        case 'r':
            *w++ = '\r';
            q += 2;
            break;
        case 't':
            *w++ = '\t';
            q += 2;
            break;
        case 'u': {
            int cp = end - q >= 6 ? hex4(q + 2) : -1;
            if (cp < 0) {
                fail(ps, esc, "invalid escape");
                return false;
            }
            q += 6;
            uint32_t u = (uint32_t)cp;
            if (u >= 0xd800 && u <= 0xdbff) {
                int lo = end - q >= 6 && q[0] == '\\' && q[1] == 'u' ? hex4(q + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    fail(ps, esc, "invalid Unicode: a high surrogate without its low half");
                    return false;
                }
                q += 6;
                u = 0x10000 + ((u - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
            } else if (u >= 0xdc00 && u <= 0xdfff) {
                fail(ps, esc, "invalid Unicode: a lone low surrogate");
                return false;
            } else if (u == 0) {
                fail(ps, esc, "\\u0000 is not allowed");
                return false;
            }
            w = put_utf8(w, u);
            break;
        }
        default:
            fail(ps, esc, "invalid escape");
            return false;
        }
        run0 = q;
    }
}

static json_t *parse_value(struct parser *ps);

/* Not inlined: its token buffer would otherwise sit in every level of the recursion. */
__attribute__((noinline)) static json_t *parse_number(struct parser *ps)
{
    const char *q = ps->p, *end = ps->end, *start = q;
    bool real = false;
    if (q < end && *q == '-')
        q++;
    if (q >= end || *q < '0' || *q > '9')
        return fail(ps, start, "invalid token");
    if (*q == '0') {
        q++;
        if (q < end && *q >= '0' && *q <= '9')
            return fail(ps, start, "invalid token: a leading zero");
    } else {
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < end && *q == '.') {
        real = true;
        q++;
        if (q >= end || *q < '0' || *q > '9')
            return fail(ps, start, "invalid token");
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || *q < '0' || *q > '9')
            return fail(ps, start, "invalid token");
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    /* strtoll and strtod want a terminated string: the token, copied */
    size_t len = (size_t)(q - start);
    char small[64], *tok = len < sizeof small ? small : malloc(len + 1);
    if (!tok)
        return fail(ps, start, "out of memory");
    memcpy(tok, start, len);
    tok[len] = '\0';
    json_t *v = NULL;
    errno = 0;
    if (!real) {
        long long i = strtoll(tok, NULL, 10);
        if (errno == ERANGE)
            fail(ps, start, i < 0 ? "too big negative integer" : "too big integer");
        else if (!(v = json_integer(i)))
            fail(ps, start, "out of memory");
    } else {
        double d = strtod(tok, NULL);
        if (errno == ERANGE && (d > 1.0 || d < -1.0))
            fail(ps, start, "real number overflow");
        else if (!(v = json_real(d)))
            fail(ps, start, "out of memory");
    }
    if (tok != small)
        free(tok);
    ps->p = q;
    return v;
}

static json_t *parse_literal(struct parser *ps, const char *word, size_t len, json_t *v)
{
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0)
        return fail(ps, ps->p, "invalid token");
    ps->p += len;
    return v;
}

static json_t *parse_array(struct parser *ps)
{
    json_t *a = json_array();
    if (!a)
        return fail(ps, ps->p, "out of memory");
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return a;
    }
    for (;;) {
        json_t *item = parse_value(ps);
        if (!item || json_array_append_new(a, item) != 0) {
            json_decref(a);
            return item ? fail(ps, ps->p, "out of memory") : NULL;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return a;
        }
        json_decref(a);
        return fail(ps, ps->p, "']' expected");
    }
}

static json_t *parse_object(struct parser *ps)
{
    json_t *o = json_object();
    if (!o)
        return fail(ps, ps->p, "out of memory");
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return o;
    }
    for (;;) {
        if (ps->p >= ps->end || *ps->p != '"') {
            json_decref(o);
            return fail(ps, ps->p, "string or '}' expected");
        }
        const char *key_at = ps->p, *k;
        size_t kn;
        if (!read_string(ps, &k, &kn)) {
            json_decref(o);
            return NULL;
        }
        /* a key with escapes was decoded into scratch, which the value's strings reuse:
         * that one is copied (a plain key is read where it stands in the text) */
        char *key = (char *)k;
        if (k == ps->scratch) { /* rare; no buffer on the stack of every level */
            key = malloc(kn ? kn : 1);
            if (!key) {
                json_decref(o);
                return fail(ps, key_at, "out of memory");
            }
            memcpy(key, k, kn);
        }
        json_t *v = NULL;
        if (json_object_getn(o, key, kn)) {
            fail(ps, key_at, "duplicate object key");
        } else {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, ps->p, "':' expected");
            } else {
                ps->p++;
                v = parse_value(ps);
                if (v && json_object_setn_new_nocheck(o, key, kn, v) != 0) {
                    v = NULL; /* the call took the reference and freed it */
                    fail(ps, key_at, "out of memory");
                }
            }
        }
        if (key != k)
            free(key);
        if (!v) {
            json_decref(o);
            return NULL;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return o;
        }
        json_decref(o);
        return fail(ps, ps->p, "'}' expected");
    }
}

static json_t *parse_value(struct parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "premature end of input");
    /* as jansson, every value counts, a scalar inside 2047 arrays is one too many */
    if (ps->depth + 1 > PARSE_MAX_DEPTH)
        return fail(ps, ps->p, "maximum parsing depth reached");
    ps->depth++;
    json_t *v;
    switch (*ps->p) {
    case '{':
        v = parse_object(ps);
        break;
    case '[':
        v = parse_array(ps);
        break;
    case '"': {
        const char *s;
        size_t n;
        v = NULL;
        if (read_string(ps, &s, &n) && !(v = json_stringn_nocheck(s, n)))
            fail(ps, ps->p, "out of memory");
        break;
    }
    case 't':
        v = parse_literal(ps, "true", 4, json_true());
        break;
    case 'f':
        v = parse_literal(ps, "false", 5, json_false());
        break;
    case 'n':
        v = parse_literal(ps, "null", 4, json_null());
        break;
    default:
        v = parse_number(ps);
        break;
    }
    ps->depth--;
    return v;
}

json_t *tn_json_parse(const char *text, size_t n, json_error_t *err)
{
    struct parser ps = {.p = text, .end = text + n, .start = text, .err = err};
    if (err)
        err->text[0] = '\0';
    json_t *v = parse_value(&ps);
    if (v) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            json_decref(v);
            v = fail(&ps, ps.p, "end of file expected");
        }
    }
    free(ps.scratch);
    return v;
}
