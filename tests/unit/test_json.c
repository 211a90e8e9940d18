/* The fast JSON writer (src/core/json.c): byte for byte what jansson's
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes, over fixed cases and ten thousand
 * random documents; buffer caps; raw values and why a client cannot forge one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/json.h"

static void same_as_jansson(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(want);
    struct tn_buf b;
    tn_buf_init(&b, 1 << 24);
    assert_int_equal(tn_json_dump(v, &b), TN_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    assert_int_equal(b.data[b.len], '\0');
    tn_buf_deinit(&b);
    free(want);
}

static void test_fixed(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "null",
        "true",
        "false",
        "0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "-0.0",
        "1e300",
        "0.1",
        "123456789.0",
        "\"\"",
        "\"plain\"",
        "\"quote \\\" back \\\\ slash / solidus\"",
        "\"\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\\u007f\"",
        "\"caf\\u00e9 \\u4e16 \\ud83d\\ude00\"",
        "\"\\u2028\\u2029\"",
        "[]",
        "{}",
        "[1,[2,[3,{}]]]",
        "{\"b\":1,\"a\":2,\"\\u0001k\":\"v\",\"nested\":{\"x\":[true,false,null]}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_error_t err;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        assert_non_null(v);
        same_as_jansson(v);
        json_decref(v);
    }
}

static json_t *random_value(unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth > 4 ? 5 : 7);
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rand_r(seed) & 1);
    case 2:
        return json_integer((json_int_t)rand_r(seed) * (rand_r(seed) & 1 ? -1 : 1) * 1000003LL);
    case 3:
        return json_real((double)rand_r(seed) / ((double)rand_r(seed) + 1.0) *
                         (rand_r(seed) & 1 ? -1e-5 : 1e7));
    case 4: {
        char s[64];
        size_t n = (size_t)(rand_r(seed) % 40);
        for (size_t i = 0; i < n; i++) {
            int r = rand_r(seed) % 10;
            s[i] = r == 0   ? (char)(rand_r(seed) % 32)
                   : r == 1 ? '"'
                   : r == 2 ? '\\'
                            : (char)(' ' + rand_r(seed) % 95);
        }
        return json_stringn(s, n);
    }
    case 5: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 5; i > 0; i--) {
            char k[16];
            snprintf(k, sizeof k, "k%d\"%c", rand_r(seed) % 100, 'a' + rand_r(seed) % 26);
            json_object_set_new(o, k, random_value(seed, depth + 1));
        }
        return o;
    }
    }
}

static void test_random(void **state)
{
    (void)state;
    unsigned seed = 20261126;
    for (int i = 0; i < 10000; i++) {
        json_t *v = random_value(&seed, 0);
        same_as_jansson(v);
        json_decref(v);
    }
}

static void test_limits(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s}", "text", "a \"quoted\" line\n");
    struct tn_buf b;
    /* the text is 30 bytes: a cap of 29 refuses it, a cap of 30 takes it exactly */
    tn_buf_init(&b, 29);
    assert_int_equal(tn_json_dump(v, &b), TN_ERR_LIMIT);
    tn_buf_deinit(&b);
    tn_buf_init(&b, 30);
    assert_int_equal(tn_json_dump(v, &b), TN_OK);
    assert_string_equal(b.data, "{\"text\":\"a \\\"quoted\\\" line\\n\"}");
    tn_buf_deinit(&b);
    json_decref(v);
    tn_buf_init(&b, 100);
    assert_int_equal(tn_json_dump(NULL, &b), TN_ERR_BAD_INPUT);
    /* nesting beyond 2048 is refused rather than recursed into */
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 2100; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    tn_buf_deinit(&b);
    tn_buf_init(&b, 1 << 20);
    assert_int_equal(tn_json_dump(deep, &b), TN_ERR_BAD_INPUT);
    tn_buf_deinit(&b);
    json_decref(deep);
}

/* A string written after what a buffer already holds, for every cap around the exact
 * size: written whole and exactly as jansson escapes it when it fits, refused with the
 * buffer left as it was when it does not; strings of only escapes (six bytes each), of
 * none, and mixed, so that the room made for escapes is exercised at every position. */
static void test_put_string_room(void **state)
{
    (void)state;
    static const char prefix[] = "[1,";
    char strs[4][300];
    size_t lens[4] = {300, 300, 300, 7};
    for (size_t i = 0; i < 300; i++) {
        strs[0][i] = (char)(i % 32);         /* every byte a \u00XX or short escape */
        strs[1][i] = (char)('a' + i % 26);   /* nothing to escape */
        strs[2][i] = "a\"b\\\n\x01c"[i % 7]; /* mixed */
    }
    memcpy(strs[3], "\x1f\x1f\x1f\x1f\x1f\x1f\x1f", 7);
    for (int k = 0; k < 4; k++) {
        json_t *js = json_stringn(strs[k], lens[k]);
        char *want = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t exact = sizeof prefix - 1 + strlen(want);
        for (size_t cap = exact - 12; cap <= exact + 12; cap++) {
            struct tn_buf b;
            tn_buf_init(&b, cap);
            assert_int_equal(tn_buf_append(&b, prefix, sizeof prefix - 1), TN_OK);
            enum tn_err e = tn_json_put_string(&b, strs[k], lens[k]);
            if (cap < exact) {
                assert_int_equal(e, TN_ERR_LIMIT);
                assert_int_equal(b.len, sizeof prefix - 1);
                assert_string_equal(b.data, prefix);
            } else {
                assert_int_equal(e, TN_OK);
                assert_int_equal(b.len, exact);
                assert_memory_equal(b.data, prefix, sizeof prefix - 1);
                assert_memory_equal(b.data + sizeof prefix - 1, want, strlen(want));
                assert_int_equal(b.data[b.len], '\0');
            }
            tn_buf_deinit(&b);
        }
        free(want);
        json_decref(js);
    }
}

/* Strings are scanned eight bytes at a time: every byte that needs an escape, and its
 * neighbours on either side of each boundary that must not (0x1f/0x20, '!'/'"'/'#',
 * '['/'\\'/']', DEL and UTF-8), at every position of strings of 0 to 33 characters,
 * alone and followed one to nine characters later by a second one (a borrow in the word
 * scan runs upward from the first), each written exactly as jansson writes it. */
static void put_units(const char *const *units, size_t n)
{
    char s[160];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = units[i][0] ? strlen(units[i]) : 1; /* "" stands for the NUL byte */
        memcpy(s + len, units[i], l);
        len += l;
    }
    json_t *js = json_stringn_nocheck(s, len);
    same_as_jansson(js);
    json_decref(js);
}

static void test_put_string_every_offset(void **state)
{
    (void)state;
    static const char *const specials[] = {"", "\x01", "\n", "\x1f", "\"", "\\"};
    static const char *const plains[] = {" ", "!",    "#",        "[",
                                         "]", "\x7f", "\xc3\xa9", "\xe2\x82\xac"};
    const size_t ns = sizeof specials / sizeof specials[0], np = sizeof plains / sizeof plains[0];
    const char *u[34];
    for (size_t n = 0; n <= 33; n++) {
        for (size_t f = 0; f < np; f++) {
            for (size_t i = 0; i < n; i++)
                u[i] = plains[f];
            put_units(u, n);
            for (size_t at = 0; at < n; at++) {
                for (size_t k = 0; k < ns; k++) {
                    u[at] = specials[k];
                    put_units(u, n);
                    for (size_t gap = 1; gap <= 9 && at + gap < n; gap++) {
                        u[at + gap] = specials[(k + gap) % ns];
                        put_units(u, n);
                        u[at + gap] = plains[f];
                    }
                }
                u[at] = plains[f];
            }
        }
    }
}

/* Integers are written two digits at a time: every width, both signs, the extremes. */
static void test_put_int(void **state)
{
    (void)state;
    long long v = 1;
    for (int w = 1; w <= 19; w++) {
        long long cases[] = {v - 1, v, v + 1, v * 3 + 7};
        if (w < 19)
            v *= 10;
        for (size_t i = 0; i < 4; i++) {
            for (int sign = -1; sign <= 1; sign += 2) {
                char want[32];
                snprintf(want, sizeof want, "%lld", sign * cases[i]);
                struct tn_buf b;
                tn_buf_init(&b, 64);
                assert_int_equal(tn_json_put_int(&b, sign * cases[i]), TN_OK);
                assert_string_equal(b.data, want);
                tn_buf_deinit(&b);
            }
        }
    }
    for (long long x = -1000; x <= 1000; x++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", x);
        struct tn_buf b;
        tn_buf_init(&b, 64);
        assert_int_equal(tn_json_put_int(&b, x), TN_OK);
        assert_string_equal(b.data, want);
        tn_buf_deinit(&b);
    }
    json_t *ext = json_integer(INT64_MIN);
    same_as_jansson(ext);
    json_decref(ext);
    ext = json_integer(INT64_MAX);
    same_as_jansson(ext);
    json_decref(ext);
}

static void test_raw(void **state)
{
    (void)state;
    const char *text = "{\"count\":2,\"notes\":[1,2]}";
    json_t *raw = tn_json_raw(text, strlen(text));
    assert_non_null(raw);
    size_t n = 0;
    assert_string_equal(tn_json_raw_text(raw, &n), text);
    assert_int_equal(n, strlen(text));
    json_t *doc = json_pack("{s:o,s:i}", "structured", raw, "id", 7);
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_json_dump(doc, &b), TN_OK);
    assert_string_equal(b.data, "{\"structured\":{\"count\":2,\"notes\":[1,2]},\"id\":7}");
    tn_buf_deinit(&b);
    json_decref(doc);
    /* an object from outside with a look-alike member is just an object */
    json_t *forged =
        json_loads("{\"\\u0001tn-raw-00000000000000000000000000000000\":\"]}\"}", 0, NULL);
    assert_non_null(forged);
    assert_null(tn_json_raw_text(forged, &n));
    same_as_jansson(forged);
    json_decref(forged);
}

/* A twin's text is its JSON escaped as a JSON string's contents after any sequence of
 * writes (strings with every byte that needs an escape, numbers, ready JSON, literals,
 * another twin), and the body writer is tn_json_put_string without its quotes. */
static void test_twin(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        struct tn_json_twin t, inner;
        tn_json_twin_init(&t, 1 << 20);
        tn_json_twin_init(&inner, 1 << 20);
        int ops = 1 + (int)(rand_r(&seed) % 12);
        for (int i = 0; i < ops; i++) {
            char s[40];
            size_t n = (size_t)(rand_r(&seed) % sizeof s);
            for (size_t k = 0; k < n; k++) { /* weighted to quotes, backslashes, controls */
                unsigned r = (unsigned)rand_r(&seed) % 8;
                s[k] = r == 0   ? '"'
                       : r == 1 ? '\\'
                       : r == 2 ? (char)(rand_r(&seed) % 32)
                       : r == 3 ? (char)(0x80 + rand_r(&seed) % 64)
                                : (char)('a' + r);
            }
            struct tn_json_twin *w = rand_r(&seed) % 3 ? &t : &inner;
            switch (rand_r(&seed) % 6) {
            case 0:
                tn_json_twin_string(w, s, n);
                break;
            case 1:
                tn_json_twin_int(w, (long long)rand_r(&seed) - RAND_MAX / 2);
                break;
            case 2:
                tn_json_twin_json(w, "[\"a\\\"b\",\"\\\\\"]", 14);
                break;
            case 3:
                TN_JSON_TWIN_LIT(w, "{\"k\":", "{\\\"k\\\":");
                break;
            case 4:
                tn_json_twin_plain(w, "2026-12-06T10:30:57Z", 20);
                break;
            default:
                tn_json_twin_append(&t, &inner);
                break;
            }
        }
        tn_json_twin_append(&t, &inner);
        assert_int_equal(t.err, TN_OK);
        struct tn_buf esc;
        tn_buf_init(&esc, 1 << 22);
        assert_int_equal(tn_json_put_string_body(&esc, t.json.data, t.json.len), TN_OK);
        assert_int_equal(t.text.len, esc.len);
        assert_memory_equal(t.text.data, esc.data, esc.len);
        /* and the body writer is the string writer less its two quotes */
        struct tn_buf q;
        tn_buf_init(&q, 1 << 22);
        assert_int_equal(tn_json_put_string(&q, t.json.data, t.json.len), TN_OK);
        assert_int_equal(q.len, esc.len + 2);
        assert_memory_equal(q.data + 1, esc.data, esc.len);
        tn_buf_deinit(&q);
        tn_buf_deinit(&esc);
        tn_json_twin_deinit(&inner);
        tn_json_twin_deinit(&t);
    }
    /* a failure sticks: a twin over its cap writes nothing more */
    struct tn_json_twin small;
    tn_json_twin_init(&small, 8);
    tn_json_twin_string(&small, "0123456789", 10);
    assert_int_equal(small.err, TN_ERR_LIMIT);
    size_t jl = small.json.len, tl = small.text.len;
    tn_json_twin_int(&small, 1);
    TN_JSON_TWIN_LIT(&small, "1", "1");
    assert_int_equal(small.json.len, jl);
    assert_int_equal(small.text.len, tl);
    tn_json_twin_deinit(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_put_string_room),
        cmocka_unit_test(test_put_string_every_offset),
        cmocka_unit_test(test_put_int),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_twin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
