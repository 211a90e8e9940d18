#include "core/json.h"
#include "core/jsonmask.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

enum { MAX_DEPTH = 2048 };

/* 1 for bytes that need an escape inside a JSON string. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,          1,
    1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ['\\'] = 1,
};

/* The escaped length of s[0..n), quotes not included. */
static size_t escaped_len(const char *s, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool short_esc = c >= 0x20 || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t';
        len += !needs_escape[c] ? 1 : short_esc ? 2 : 6;
    }
    return len;
}

/* The second byte of a two-byte escape ("\n"); 0 where the escape is \u00XX. */
static const char short_escape[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
    ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't',
};

/* Writes the escape of c at w (two or six bytes) and returns the end. */
static inline char *put_escape(char *w, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson */
    w[0] = '\\';
    if (short_escape[c]) {
        w[1] = short_escape[c];
        return w + 2;
    }
    memcpy(w + 1, "u00", 3);
    w[4] = hex[c >> 4];
    w[5] = hex[c & 15];
    return w + 6;
}

/* Room a word with escapes may need beyond its own eight bytes: eight six-byte escapes,
 * and eight bytes for the last store of its tail. */
enum { WORD_SLACK = 8 * 5 + 8 };

/* Escapes the eight bytes of v (m: their escape mask, not 0) at w, returns the end. Each
 * store writes a whole word, of which the bytes up to the next escape are kept. */
static inline char *put_word_escaped(char *w, uint64_t v, uint64_t m)
{
    unsigned pos = 0;
    do {
        unsigned at = (unsigned)__builtin_ctzll(m) >> 3;
        uint64_t tail = v >> (8 * pos);
        memcpy(w, &tail, 8);
        w = put_escape(w + (at - pos), (unsigned char)(v >> (8 * at)));
        pos = at + 1;
        m &= m - 1;
    } while (m);
    if (pos < 8) {
        uint64_t tail = v >> (8 * pos);
        memcpy(w, &tail, 8);
        w += 8 - pos;
    }
    return w;
}

/* tn_json_put_string, with its quotes or (quotes false) without them. */
static enum tn_err put_string_q(struct tn_buf *out, const char *s, size_t n, bool quotes)
{
    if (n > (SIZE_MAX - 2) / 6 - WORD_SLACK)
        return TN_ERR_LIMIT;
    /* Room for the string as it is and its quotes; escapes make more room as they come.
     * (Reserving the worst case, six bytes a byte, made every answer carrying a page of
     * notes as text grow its buffer past 64 KiB, which glibc's free answers by
     * consolidating its whole arena.) Throughout, the room left holds at least the rest
     * of the string unescaped and the closing quote. */
    const size_t start = out->len;
    enum tn_err e = tn_buf_reserve(out, n + 2);
    if (e != TN_OK)
        return e;
    char *w = out->data + out->len;
    if (quotes)
        *w++ = '"';
    size_t i = 0;
    /* Eight bytes at a time while the buffer has room to spare for a word's escapes. */
    while (TN_JSON_WORD_SCAN && n - i >= 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        uint64_t m = tn_json_escape_mask(v);
        if (m == 0) {
            memcpy(w, &v, 8);
            w += 8;
        } else {
            size_t room = out->cap - 1 - (size_t)(w - out->data);
            if (room < (n - i) + 1 + WORD_SLACK) {
                out->len = (size_t)(w - out->data);
                if (tn_buf_reserve(out, (n - i) + 1 + WORD_SLACK + (n - i) / 2) != TN_OK)
                    break; /* near the buffer's cap: the byte loop below measures exactly */
                w = out->data + out->len;
            }
            w = put_word_escaped(w, v, m);
        }
        i += 8;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape[c]) {
            *w++ = (char)c;
            continue;
        }
        /* this escape (at most 6 bytes), the rest unescaped and the closing quote */
        size_t need = 6 + (n - i - 1) + 1;
        size_t room = out->cap - 1 - (size_t)(w - out->data);
        if (room < need) {
            out->len = (size_t)(w - out->data);
            e = tn_buf_reserve(out, need + (n - i) / 2 + 16);
            if (e == TN_ERR_LIMIT) /* near the buffer's cap: exactly what is left */
                e = tn_buf_reserve(out, escaped_len(s + i, n - i) + 1);
            if (e != TN_OK) {
                out->len = start;
                out->data[start] = '\0';
                return e;
            }
            w = out->data + out->len;
        }
        w = put_escape(w, c);
    }
    if (quotes)
        *w++ = '"';
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return TN_OK;
}

enum tn_err tn_json_put_string(struct tn_buf *out, const char *s, size_t n)
{
    return put_string_q(out, s, n, true);
}

enum tn_err tn_json_put_string_body(struct tn_buf *out, const char *s, size_t n)
{
    return put_string_q(out, s, n, false);
}

/* ---------- a JSON text and its escape, written together ---------- */

void tn_json_twin_init(struct tn_json_twin *t, size_t cap)
{
    tn_buf_init(&t->json, cap);
    tn_buf_init(&t->text, cap);
    t->err = TN_OK;
}

void tn_json_twin_deinit(struct tn_json_twin *t)
{
    tn_buf_deinit(&t->json);
    tn_buf_deinit(&t->text);
}

void tn_json_twin_lit_check(const char *j, size_t jn, const char *x, size_t xn)
{
    struct tn_buf chk;
    tn_buf_init(&chk, 4096);
    assert(tn_json_put_string_body(&chk, j, jn) == TN_OK && chk.len == xn &&
           memcmp(chk.data, x, xn) == 0);
    tn_buf_deinit(&chk);
    (void)x;
    (void)xn;
}

/* The escape of what was appended to t->json since `from`. */
static void twin_follow(struct tn_json_twin *t, size_t from)
{
    if (t->err == TN_OK)
        t->err = tn_json_put_string_body(&t->text, t->json.data + from, t->json.len - from);
}

void tn_json_twin_string(struct tn_json_twin *t, const char *s, size_t n)
{
    size_t from = t->json.len;
    if (t->err == TN_OK)
        t->err = tn_json_put_string(&t->json, s, n);
    if (t->err != TN_OK)
        return;
    if (t->json.len - from != n + 2) { /* escapes in it: escape those again */
        twin_follow(t, from);
        return;
    }
    /* nothing in s needed an escape (the usual text): only its two quotes do */
    t->err = tn_buf_reserve(&t->text, n + 4);
    if (t->err == TN_OK) {
        char *w = t->text.data + t->text.len;
        memcpy(w, "\\\"", 2);
        memcpy(w + 2, s, n);
        memcpy(w + 2 + n, "\\\"", 2);
        t->text.len += n + 4;
        t->text.data[t->text.len] = '\0';
    }
}

void tn_json_twin_int(struct tn_json_twin *t, long long v)
{
    size_t from = t->json.len;
    if (t->err == TN_OK)
        t->err = tn_json_put_int(&t->json, v);
    if (t->err == TN_OK) /* digits and a sign: nothing to escape */
        t->err = tn_buf_append(&t->text, t->json.data + from, t->json.len - from);
}

void tn_json_twin_json(struct tn_json_twin *t, const char *j, size_t n)
{
    size_t from = t->json.len;
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->json, j, n);
    twin_follow(t, from);
}

void tn_json_twin_plain(struct tn_json_twin *t, const char *s, size_t n)
{
#ifndef NDEBUG
    for (size_t i = 0; i < n; i++)
        assert(!needs_escape[(unsigned char)s[i]]);
#endif
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->json, s, n);
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->text, s, n);
}

void tn_json_twin_append(struct tn_json_twin *t, const struct tn_json_twin *o)
{
    if (t->err == TN_OK)
        t->err = o->err;
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->json, o->json.data, o->json.len);
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->text, o->text.data, o->text.len);
}

enum tn_err tn_json_put_int(struct tn_buf *out, long long v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    char *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    for (; u >= 100; u /= 100) { /* two digits a division: times are 13-digit numbers */
        p -= 2;
        memcpy(p, pairs + 2 * (u % 100), 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    return tn_buf_append(out, p, (size_t)(tmp + sizeof tmp - p));
}

/* As jansson: %.17g, then ".0" when the text would otherwise read as an integer. */
static enum tn_err put_real(struct tn_buf *out, double v)
{
    if (!isfinite(v))
        return TN_ERR_BAD_INPUT;
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp - 2, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof tmp - 2)
        return TN_ERR_INTERNAL;
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',') /* a locale's decimal comma */
            tmp[i] = '.';
    char *e = strchr(tmp, 'e');
    if (!e && !strchr(tmp, '.')) {
        memcpy(tmp + n, ".0", 2);
        n += 2;
    } else if (e) {
        /* as jansson: no '+' and no leading zeros in the exponent ("1e300", "1e-5") */
        char *d = e + 1, *r = d;
        if (*r == '+')
            r++;
        else if (*r == '-')
            *d++ = *r++;
        while (*r == '0' && r[1])
            r++;
        memmove(d, r, strlen(r) + 1);
        n = (int)strlen(tmp);
    }
    return tn_buf_append(out, tmp, (size_t)n);
}

static enum tn_err put_string(struct tn_buf *out, const char *s, size_t n)
{
    return tn_json_put_string(out, s, n);
}

static enum tn_err dump(const json_t *v, struct tn_buf *out, int depth)
{
    if (!v || depth > MAX_DEPTH)
        return TN_ERR_BAD_INPUT;
    enum tn_err e = TN_OK;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return tn_buf_append(out, "null", 4);
    case JSON_TRUE:
        return tn_buf_append(out, "true", 4);
    case JSON_FALSE:
        return tn_buf_append(out, "false", 5);
    case JSON_INTEGER:
        return tn_json_put_int(out, json_integer_value(v));
    case JSON_REAL:
        return put_real(out, json_real_value(v));
    case JSON_STRING:
        return put_string(out, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        e = tn_buf_append(out, "[", 1);
        for (size_t i = 0; i < n && e == TN_OK; i++) {
            if (i)
                e = tn_buf_append(out, ",", 1);
            if (e == TN_OK)
                e = dump(json_array_get(v, i), out, depth + 1);
        }
        return e == TN_OK ? tn_buf_append(out, "]", 1) : e;
    }
    case JSON_OBJECT: {
        size_t rn;
        const char *raw = tn_json_raw_text(v, &rn);
        if (raw)
            return tn_buf_append(out, raw, rn);
        e = tn_buf_append(out, "{", 1);
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it && e == TN_OK;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                e = tn_buf_append(out, ",", 1);
            first = false;
            const char *k = json_object_iter_key(it);
            if (e == TN_OK)
                e = put_string(out, k, json_object_iter_key_len(it));
            if (e == TN_OK)
                e = tn_buf_append(out, ":", 1);
            if (e == TN_OK)
                e = dump(json_object_iter_value(it), out, depth + 1);
        }
        return e == TN_OK ? tn_buf_append(out, "}", 1) : e;
    }
    }
    return TN_ERR_BAD_INPUT;
}

enum tn_err tn_json_dump(const json_t *v, struct tn_buf *out) { return dump(v, out, 0); }

/* The member name that marks a raw value: "\u0001tn-raw-" and 32 random hex digits. */
static char raw_key[48];
static pthread_once_t raw_once = PTHREAD_ONCE_INIT;

static void raw_key_init(void)
{
    unsigned char r[16];
    randombytes_buf(r, sizeof r);
    int n = snprintf(raw_key, sizeof raw_key, "\001tn-raw-");
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(raw_key + n, sizeof raw_key - (size_t)n, "%02x", r[i]);
}

json_t *tn_json_raw(const char *text, size_t len)
{
    pthread_once(&raw_once, raw_key_init);
    json_t *o = json_object();
    json_t *t = json_stringn_nocheck(text, len);
    if (!o || !t || json_object_set_new_nocheck(o, raw_key, t) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

const char *tn_json_raw_text(const json_t *v, size_t *len)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return NULL;
    pthread_once(&raw_once, raw_key_init);
    void *it = json_object_iter((json_t *)v);
    if (!it || strcmp(json_object_iter_key(it), raw_key) != 0)
        return NULL;
    json_t *t = json_object_iter_value(it);
    if (!json_is_string(t))
        return NULL;
    *len = json_string_length(t);
    return json_string_value(t);
}
