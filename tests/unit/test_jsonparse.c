/* The request parser (src/core/jsonparse.c) against jansson's json_loadb with the flags
 * it replaces: for every text, both refuse it or both build values that jansson writes
 * out byte for byte the same (member order, integer or real, every string's bytes).
 * Fixed edge cases (numbers, escapes, surrogates, every UTF-8 boundary, nesting depth,
 * duplicates), ten thousand random documents, and a hundred thousand random edits of
 * them. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/json.h"

static const char *show(const char *text, size_t n)
{
    static char out[512];
    size_t w = 0;
    for (size_t i = 0; i < n && w + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)text[i];
        w += (size_t)snprintf(out + w, sizeof out - w, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    out[w] = '\0';
    return out;
}

/* 1 when the text was accepted (by both), 0 when refused (by both). */
static int same(const char *text, size_t n)
{
    json_error_t je, te;
    json_t *a = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    json_t *b = tn_json_parse(text, n, &te);
    if (a && !b && memchr(text, '\0', n)) {
        /* jansson's one laxity, refused here on purpose (see jsonparse.c): a NUL byte
         * straight after a number or a literal is skipped. Without those bytes the text
         * must be accepted, as the same value. */
        char *stripped = malloc(n + 1);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!(text[i] == '\0' && i > 0 &&
                  ((text[i - 1] >= '0' && text[i - 1] <= '9') ||
                   (text[i - 1] >= 'a' && text[i - 1] <= 'z'))))
                stripped[m++] = text[i];
        json_t *c = tn_json_parse(stripped, m, &te);
        if (!c)
            fail_msg("jansson accepts [%s], refused even without its NULs: %s", show(text, n),
                     te.text);
        char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
        char *dc = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(da, dc);
        free(da);
        free(dc);
        free(stripped);
        json_decref(c);
        json_decref(a);
        return 0;
    }
    if (!a || !b) {
        if (a || b)
            fail_msg("jansson %s, tn_json_parse %s: [%s] (%s)", a ? "accepts" : "refuses",
                     b ? "accepts" : "refuses", show(text, n), a ? te.text : je.text);
        json_decref(a);
        json_decref(b);
        assert_true(te.text[0] != '\0');
        assert_true(te.position >= 0 && (size_t)te.position <= n);
        return 0;
    }
    char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(da);
    assert_non_null(db);
    if (strcmp(da, db) != 0)
        fail_msg("different values for [%s]: jansson %s, tn_json_parse %s", show(text, n), da, db);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
    return 1;
}

static int same_s(const char *text) { return same(text, strlen(text)); }

static void test_fixed(void **state)
{
    (void)state;
    static const char *const accepted[] = {
        "null",
        "true",
        "false",
        " \t\r\n0 \t\r\n",
        "-0",
        "-0.0",
        "0.5",
        "1e3",
        "1E-3",
        "1e+3",
        "-1.25e-7",
        "123456789012",
        "9223372036854775807",
        "-9223372036854775808",
        "1e-400",
        "4.9e-324",
        "1.7976931348623157e308",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u0041\\u00e9\\u00E9\\u4e16\\ud83d\\ude00\\uD83D\\uDE00\"",
        "\"caf\xc3\xa9 \xe4\xb8\x96 \xf0\x9f\x98\x80\"",
        "\"\x7f\"",
        "[]",
        "[ ]",
        "{}",
        "{ }",
        "[1,[2,[3,{}]]]",
        "{\"a\":1,\"b\":{\"c\":[true,false,null]}}",
        "{\"b\":1,\"a\":2}",
        "{\"\\u0061\":1,\"b\":2}",
        "{\"a\":1,\"A\":2}",
        " { \"k\" : [ 1 , 2 ] } ",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"list_my_notes\",\"arguments\":{}}}",
        "\"\\\\u0000\"",
        "[\"\",\"\"]",
    };
    static const char *const refused[] = {
        "",
        " ",
        "nul",
        "nulls",
        "True",
        "[",
        "]",
        "{",
        "}",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{,}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\" 1}",
        "{1:2}",
        "{'a':1}",
        "['a']",
        "01",
        "-01",
        "00",
        "1.",
        ".5",
        "-",
        "+1",
        "1e",
        "1e+",
        "1.e3",
        "0x10",
        "Infinity",
        "NaN",
        "-Infinity",
        "1 2",
        "[1] x",
        "{}{}",
        "9223372036854775808",
        "-9223372036854775809",
        "1e400",
        "-1e400",
        "\"abc",
        "\"\\\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"\\U0041\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\ud800\"",
        "\"\\ud800x\"",
        "\"\\ud800\\\"",
        "\"tab\there\"",
        "\"nl\nhere\"",
        "\"\x01\"",
        "\"\xff\"",
        "\"\xc3\"",
        "\"\xc3\x28\"",
        "\"\xc0\x80\"",
        "\"\xc1\xbf\"",
        "\"\xe0\x80\x80\"",
        "\"\xe0\x9f\xbf\"",
        "\"\xed\xa0\x80\"",
        "\"\xed\xbf\xbf\"",
        "\"\xf0\x8f\xbf\xbf\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"",
        "\"\x80\"",
        "\xef\xbb\xbf{}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"\\u0061\":2}",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "/* c */ 1",
        "[1]//",
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (!same_s(accepted[i]))
            fail_msg("refused: %s", accepted[i]);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (same_s(refused[i]))
            fail_msg("accepted: %s", refused[i]);
    /* a NUL byte: inside a string, between values, after the value */
    assert_int_equal(same("\"a\0b\"", 5), 0);
    assert_int_equal(same("[1,\0 2]", 7), 0);
    assert_int_equal(same("{}\0", 3), 0);
    static const char *const quirks[] = {"12\0", "[true\0]", "{\"a\":null\0}", "[1.5\0,2]"};
    for (size_t i = 0; i < sizeof quirks / sizeof quirks[0]; i++) {
        size_t qn = strlen(quirks[i]) + 1 + strlen(quirks[i] + strlen(quirks[i]) + 1);
        json_t *quirk = json_loadb(quirks[i], qn, JSON_DECODE_ANY, NULL); /* jansson takes it */
        assert_non_null(quirk);
        json_decref(quirk);
        assert_null(tn_json_parse(quirks[i], qn, NULL));
    }
    /* the error says where */
    json_error_t e;
    assert_null(tn_json_parse("{\"a\":1,}", 8, &e));
    assert_int_equal(e.position, 7);
    assert_null(tn_json_parse("[1, 2] x", 8, &e));
    assert_string_equal(e.text, "end of file expected");
    assert_int_equal(e.position, 7);
    assert_null(tn_json_parse("{\"id\":1,\"id\":2}", 15, &e));
    assert_string_equal(e.text, "duplicate object key");
    assert_int_equal(e.position, 8);
    json_t *ok = tn_json_parse("[1]", 3, NULL);
    assert_non_null(ok);
    json_decref(ok);
}

/* Every lead byte with every kind of continuation, at the end of the string and of the
 * text, and every escaped BMP boundary. */
static void test_utf8_and_escapes(void **state)
{
    (void)state;
    static const unsigned char conts[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    char t[16];
    for (int lead = 0x80; lead <= 0xff; lead++) {
        for (size_t a = 0; a < sizeof conts; a++) {
            for (size_t b = 0; b < sizeof conts; b++) {
                /* "<lead><a><b><0x80>" cut after 0 to 3 of the bytes that follow the lead */
                for (size_t len = 3; len <= 6; len++) {
                    const char bytes[] = {'"', (char)lead, (char)conts[a], (char)conts[b],
                                          (char)0x80};
                    memcpy(t, bytes, len - 1);
                    t[len - 1] = '"';
                    same(t, len);
                    same(t, len - 1); /* and the text ends inside the string */
                }
            }
        }
    }
    static const unsigned bounds[] = {0x1,    0x1f,   0x20,   0x7f,   0x80,   0x7ff,  0x800, 0xd7ff,
                                      0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xffff};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        snprintf(t, sizeof t, "\"\\u%04x\"", bounds[i]);
        same_s(t);
        snprintf(t, sizeof t, "\"\\u%04X\"", bounds[i]);
        same_s(t);
        for (size_t j = 0; j < sizeof bounds / sizeof bounds[0]; j++) {
            char pair[32];
            snprintf(pair, sizeof pair, "\"\\u%04x\\u%04x\"", bounds[i], bounds[j]);
            same_s(pair);
        }
    }
    for (int c = 0; c < 256; c++) {
        snprintf(t, sizeof t, "\"\\%c\"", c ? c : '0');
        same(t, 4);
    }
}

static void test_depth(void **state)
{
    (void)state;
    for (size_t depth = 2046; depth <= 2050; depth++) {
        char *t = malloc(2 * depth + 2);
        memset(t, '[', depth);
        memset(t + depth, ']', depth);
        assert_int_equal(same(t, 2 * depth), depth <= 2048);
        /* a scalar inside counts as one more level */
        char *u = malloc(2 * depth + 2);
        memset(u, '[', depth);
        u[depth] = '1';
        memset(u + depth + 1, ']', depth);
        assert_int_equal(same(u, 2 * depth + 1), depth + 1 <= 2048);
        free(u);
        for (size_t i = 0; i < depth; i++) {
            t[i] = '{';
            t[2 * depth - 1 - i] = '}';
        }
        /* {{...}} is not JSON at any depth; {"a":{"a":...}} is */
        assert_int_equal(same(t, 2 * depth), 0);
        free(t);
        struct tn_buf b;
        tn_buf_init(&b, 1 << 20);
        for (size_t i = 0; i < depth; i++)
            tn_buf_puts(&b, "{\"a\":");
        tn_buf_puts(&b, "1");
        for (size_t i = 0; i < depth; i++)
            tn_buf_puts(&b, "}");
        assert_int_equal(same(b.data, b.len), depth + 1 <= 2048);
        tn_buf_deinit(&b);
    }
}

/* The deepest text accepted, objects with escaped keys (the costliest path), parses in
 * a thread with the blocking pool's 1 MiB stack. */
static void *parse_deep(void *arg)
{
    struct tn_buf *b = arg;
    json_error_t e;
    json_t *v = tn_json_parse(b->data, b->len, &e);
    json_decref(v);
    return v ? (void *)1 : NULL;
}

static void test_stack(void **state)
{
    (void)state;
    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    for (int i = 0; i < 2047; i++)
        tn_buf_puts(&b, "{\"\\u0061\":");
    tn_buf_puts(&b, "1");
    for (int i = 0; i < 2047; i++)
        tn_buf_puts(&b, "}");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20);
    pthread_t t;
    assert_int_equal(pthread_create(&t, &attr, parse_deep, &b), 0);
    void *ok = NULL;
    pthread_join(t, &ok);
    pthread_attr_destroy(&attr);
    assert_non_null(ok);
    tn_buf_deinit(&b);
}

static json_t *random_value(unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth > 4 ? 6 : 8);
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
    case 4:
    case 5: {
        static const char *const pieces[] = {"a",
                                             "Z",
                                             " ",
                                             "\"",
                                             "\\",
                                             "/",
                                             "\n",
                                             "\x01",
                                             "\x1f",
                                             "\x7f",
                                             "\xc3\xa9",
                                             "\xe4\xb8\x96",
                                             "\xf0\x9f\x98\x80",
                                             "note"};
        char s[128];
        size_t n = 0;
        for (int i = rand_r(seed) % 24; i > 0; i--) {
            const char *p = pieces[rand_r(seed) % (sizeof pieces / sizeof pieces[0])];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        }
        return json_stringn(s, n);
    }
    case 6: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 5; i > 0; i--) {
            char k[16];
            snprintf(k, sizeof k, rand_r(seed) & 1 ? "k%d" : "k\\%d\xc3\xa9", rand_r(seed) % 20);
            json_object_set_new(o, k, random_value(seed, depth + 1));
        }
        return o;
    }
    }
}

/* Random documents as jansson writes them (compact, indented, escaped to ASCII), then
 * random edits of each: bytes deleted, doubled, replaced by JSON's own punctuation. */
static void test_random(void **state)
{
    (void)state;
    static const char edits[] = "{}[],:\"\\ -+.0123456789eEtrufalsn\x00\x01\x80\xc3\xa9\xff\xed";
    unsigned seed = 20261126;
    int accepted = 0, refused = 0;
    for (int i = 0; i < 10000; i++) {
        json_t *v = random_value(&seed, 0);
        size_t flags = JSON_ENCODE_ANY | (i % 3 == 0   ? JSON_COMPACT
                                          : i % 3 == 1 ? JSON_INDENT(2)
                                                       : JSON_ENSURE_ASCII);
        char *text = json_dumps(v, flags);
        assert_non_null(text);
        size_t n = strlen(text);
        assert_int_equal(same(text, n), 1);
        char buf[4096];
        for (int k = 0; k < 10 && n > 0 && n < sizeof buf - 8; k++) {
            memcpy(buf, text, n);
            size_t m = n;
            for (int edits_n = 1 + rand_r(&seed) % 3; edits_n > 0 && m > 0; edits_n--) {
                size_t at = (size_t)rand_r(&seed) % m;
                switch (rand_r(&seed) % 3) {
                case 0: /* delete */
                    memmove(buf + at, buf + at + 1, m - at - 1);
                    m--;
                    break;
                case 1: /* insert */
                    memmove(buf + at + 1, buf + at, m - at);
                    buf[at] = edits[rand_r(&seed) % (sizeof edits - 1)];
                    m++;
                    break;
                default: /* replace */
                    buf[at] = edits[rand_r(&seed) % (sizeof edits - 1)];
                    break;
                }
            }
            if (same(buf, m))
                accepted++;
            else
                refused++;
        }
        free(text);
        json_decref(v);
    }
    /* both kinds were met in numbers (a generator that only made errors would pass) */
    assert_true(accepted > 5000);
    assert_true(refused > 50000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),  cmocka_unit_test(test_utf8_and_escapes),
        cmocka_unit_test(test_depth),  cmocka_unit_test(test_stack),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
