/* application/x-www-form-urlencoded (core/form.h): what the OAuth endpoints and the
 * sign-in forms read. Every row asserts the exact result: the fields, or the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/form.h"

struct row {
    const char *in;
    size_t len; /* 0: strlen(in) */
    enum tn_err want;
    const char *fields; /* "name=value" lines joined by '\n', values decoded */
};

static void render(const struct tn_form *f, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < f->n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", i ? "\n" : "", f->f[i].name,
                              f->f[i].value);
}

static void test_parse_table(void **state)
{
    static const struct row rows[] = {
        {"", 0, TN_OK, ""},
        {"a=1", 0, TN_OK, "a=1"},
        {"grant_type=authorization_code&code=abc", 0, TN_OK,
         "grant_type=authorization_code\ncode=abc"},
        {"a=hello+world", 0, TN_OK, "a=hello world"},
        {"a=%2B%20%26%3D", 0, TN_OK, "a=+ &="},
        {"a=%c3%a9%C3%A9", 0, TN_OK, "a=\xc3\xa9\xc3\xa9"},
        {"a%5Fb=1", 0, TN_OK, "a_b=1"},
        {"a=b=c", 0, TN_OK, "a=b=c"},
        {"flag", 0, TN_OK, "flag="},
        {"a=", 0, TN_OK, "a="},
        {"&&a=1&&b=2&", 0, TN_OK, "a=1\nb=2"},
        {"redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb", 0, TN_OK,
         "redirect_uri=http://127.0.0.1:8080/cb"},
        /* a value may carry bytes that are not UTF-8: the callers judge them */
        {"a=%FF", 0, TN_OK, "a=\xff"},
        /* malformed escapes */
        {"a=%", 0, TN_ERR_BAD_INPUT, ""},
        {"a=%4", 0, TN_ERR_BAD_INPUT, ""},
        {"a=%zz", 0, TN_ERR_BAD_INPUT, ""},
        {"a=%4g", 0, TN_ERR_BAD_INPUT, ""},
        {"a=%g4", 0, TN_ERR_BAD_INPUT, ""},
        {"%=1", 0, TN_ERR_BAD_INPUT, ""},
        /* NUL, raw or encoded, would cut a C string short: refused */
        {"a=%00", 0, TN_ERR_BAD_INPUT, ""},
        {"a%00b=1", 0, TN_ERR_BAD_INPUT, ""},
        {"a=x\0y", 5, TN_ERR_BAD_INPUT, ""},
        /* no name */
        {"=1", 0, TN_ERR_BAD_INPUT, ""},
        {"a=1&=2", 0, TN_ERR_BAD_INPUT, ""},
        /* OAuth forbids repeated parameters, whatever their spelling */
        {"a=1&a=2", 0, TN_ERR_BAD_INPUT, ""},
        {"a=1&%61=2", 0, TN_ERR_BAD_INPUT, ""},
        {"code=1&b=2&code=1", 0, TN_ERR_BAD_INPUT, ""},
        /* names are case-sensitive: two fields */
        {"a=1&A=2", 0, TN_OK, "a=1\nA=2"},
        /* only the given bytes are read: a NUL-less buffer cut mid-escape */
        {"a=%41%42", 5, TN_OK, "a=A"},
        {"a=%41%42", 6, TN_ERR_BAD_INPUT, ""},
    };
    char got[4096];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        size_t len = r->len ? r->len : strlen(r->in);
        char *copy = malloc(len ? len : 1); /* exactly len bytes: ASan catches a read past */
        memcpy(copy, r->in, len);
        struct tn_form f;
        enum tn_err e = tn_form_parse(&f, copy, len);
        render(&f, got, sizeof got);
        if (e != r->want || strcmp(got, r->fields))
            fail_msg("row %zu (%s): got %d [%s], want %d [%s]", i, r->in, e, got, r->want,
                     r->fields);
        tn_form_deinit(&f);
        free(copy);
    }
}

static void test_field_limit(void **state)
{
    char buf[1024];
    size_t o = 0;
    for (int i = 0; i < TN_FORM_MAX_FIELDS; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%sf%d=%d", i ? "&" : "", i, i);
    struct tn_form f;
    assert_int_equal(tn_form_parse(&f, buf, o), TN_OK);
    assert_int_equal(f.n, TN_FORM_MAX_FIELDS);
    assert_string_equal(tn_form_get(&f, "f31"), "31");
    assert_null(tn_form_get(&f, "f32"));
    assert_null(tn_form_get(&f, "F1"));
    tn_form_deinit(&f);
    snprintf(buf + o, sizeof buf - o, "&extra=1");
    assert_int_equal(tn_form_parse(&f, buf, strlen(buf)), TN_ERR_LIMIT);
    assert_int_equal(f.n, 0);
    tn_form_deinit(&f);
}

/* Every byte but the unreserved ones is escaped, and what is escaped parses back. */
static void test_url_encode_round_trip(void **state)
{
    char raw[256];
    for (int i = 1; i < 256; i++)
        raw[i - 1] = (char)i;
    raw[255] = '\0';
    struct tn_buf b;
    tn_buf_init(&b, 4096);
    tn_buf_puts(&b, "v=");
    assert_int_equal(tn_url_encode(&b, raw), TN_OK);
    for (size_t i = 2; i < b.len; i++) {
        char c = b.data[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
        if (!ok)
            fail_msg("unescaped byte 0x%02x in the encoding", (unsigned char)c);
    }
    assert_non_null(strstr(b.data, "%20%21%22"));
    assert_non_null(strstr(b.data, "-.%2F0123"));
    struct tn_form f;
    assert_int_equal(tn_form_parse(&f, b.data, b.len), TN_OK);
    assert_string_equal(tn_form_get(&f, "v"), raw);
    tn_form_deinit(&f);
    tn_buf_deinit(&b);
    /* a buffer with a cap: the encoder says so instead of cutting */
    struct tn_buf small;
    tn_buf_init(&small, 8);
    assert_int_equal(tn_url_encode(&small, "a b c d e"), TN_ERR_LIMIT);
    tn_buf_deinit(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_field_limit),
        cmocka_unit_test(test_url_encode_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
