/* Mail (mail/mail.h): the address check against hostile forms, header injection through
 * every field, quoted-printable against a strict reference decoder written here, RFC 2047
 * subjects decoded back, the whole message parsed back, the SMTP_* settings, and the
 * outbox. Delivery over a real SMTP server is tests/mail/smtp.sh. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/util.h"
#include "mail/mail.h"

/* ---- reference decoders (strict: anything our encoder must never produce fails) ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes quoted-printable made of CRLF lines. Fails (returns -1) on a line over 76
 * characters, trailing whitespace, a bare CR or LF, lowercase or malformed escapes, or a
 * byte outside printable ASCII and tab. Hard breaks decode to CRLF. */
static long qp_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    while (i < n) {
        const char *crlf = memmem(in + i, n - i, "\r\n", 2);
        size_t end = crlf ? (size_t)(crlf - in) : n;
        if (end - i > 76)
            return -1;
        if (end > i && (in[end - 1] == ' ' || in[end - 1] == '\t'))
            return -1;
        bool soft = end > i && in[end - 1] == '=';
        size_t stop = soft ? end - 1 : end;
        for (size_t j = i; j < stop; j++) {
            char c = in[j];
            if (c == '=') {
                if (j + 2 >= stop || hexval(in[j + 1]) < 0 || hexval(in[j + 2]) < 0)
                    return -1;
                if (o >= cap)
                    return -1;
                out[o++] = (char)(hexval(in[j + 1]) * 16 + hexval(in[j + 2]));
                j += 2;
            } else if ((c >= 0x20 && c <= 0x7e) || c == '\t') {
                if (o >= cap)
                    return -1;
                out[o++] = c;
            } else {
                return -1;
            }
        }
        if (!crlf)
            break;
        if (!soft) {
            if (o + 2 > cap)
                return -1;
            out[o++] = '\r';
            out[o++] = '\n';
        }
        i = end + 2;
    }
    return (long)o;
}

/* Canonical form of a text body: LF and CRLF both become CRLF. */
static size_t canon(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n' && !(i > 0 && in[i - 1] == '\r'))
            out[o++] = '\r';
        out[o++] = in[i];
    }
    return o;
}

static void qp_round_trip(const char *in, size_t n)
{
    struct tn_buf b;
    tn_buf_init(&b, TN_MAIL_MSG_MAX);
    assert_int_equal(tn_mail_qp_encode(&b, in, n), TN_OK);
    char *want = malloc(2 * n + 1), *got = malloc(2 * n + 16);
    size_t wl = canon(in, n, want);
    long gl = qp_decode(b.data ? b.data : "", b.len, got, 2 * n + 16);
    if (gl != (long)wl || memcmp(want, got, wl) != 0) {
        fprintf(stderr, "# qp mismatch for %zu bytes; encoded:\n%s\n", n, b.data ? b.data : "");
        fail();
    }
    /* "." and "From " never start an encoded line */
    for (size_t i = 0; i < b.len; i++) {
        if (i == 0 || b.data[i - 1] == '\n') {
            assert_int_not_equal(b.data[i], '.');
            assert_false(b.len - i >= 5 && !memcmp(b.data + i, "From ", 5));
        }
    }
    free(want);
    free(got);
    tn_buf_deinit(&b);
}

/* Decodes an unstructured header value: plain text, or "=?UTF-8?B?...?=" words separated
 * by CRLF SP (which decoders drop). Returns the length or -1. */
static long header_decode(const char *in, size_t n, char *out, size_t cap)
{
    if (n < 2 || memcmp(in, "=?", 2) != 0) {
        if (n >= cap)
            return -1;
        memcpy(out, in, n);
        return (long)n;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        if (i > 0) {
            if (n - i < 3 || memcmp(in + i, "\r\n ", 3) != 0)
                return -1;
            i += 3;
        }
        if (n - i < 12 || memcmp(in + i, "=?UTF-8?B?", 10) != 0)
            return -1;
        const char *end = memmem(in + i + 10, n - i - 10, "?=", 2);
        if (!end)
            return -1;
        size_t wl = (size_t)(end + 2 - (in + i));
        if (wl > 75)
            return -1;
        size_t got;
        if (tn_b64_decode(out + o, cap - o, &got, in + i + 10, (size_t)(end - in) - i - 10) !=
            TN_OK)
            return -1;
        /* each word holds whole UTF-8 characters */
        if (tn_mail_text_check(out + o, got, 1000) != TN_OK)
            return -1;
        o += got;
        i += wl;
    }
    return (long)o;
}

/* ---- addresses ---- */

struct addr_row {
    const char *in;
    size_t len; /* 0: strlen */
    enum tn_err want;
};

static void test_address_table(void **state)
{
    static char local65[80], long_domain[300], long_total[300], label64[100];
    memset(local65, 'a', 65);
    strcpy(local65 + 65, "@example.com");
    /* 255 characters of domain: 63-byte labels */
    snprintf(long_domain, sizeof long_domain, "a@%.63s.%.63s.%.63s.%.63s",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
             "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
             "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    /* 254 exactly: 64 local + '@' + 189 domain */
    memset(long_total, 'x', 64);
    long_total[64] = '@';
    for (int i = 0; i < 189; i++)
        long_total[65 + i] = (i % 50 == 49) ? '.' : 'y';
    long_total[65 + 188] = 'z';
    long_total[254] = '\0';
    memset(label64, 'l', 64);
    strcpy(label64 + 64, ".example");
    char label64_addr[120];
    snprintf(label64_addr, sizeof label64_addr, "a@%s", label64);
    char local64[100];
    memset(local64, 'a', 64);
    strcpy(local64 + 64, "@example.com");

    const struct addr_row rows[] = {
        {"alice@example.com", 0, TN_OK},
        {"Alice.Smith@Example.COM", 0, TN_OK},
        {"a+tag@sub.example.co.uk", 0, TN_OK},
        {"o'brien@example.com", 0, TN_OK},
        {"!#$%&'*+-/=?^_`{|}~@example.com", 0, TN_OK},
        {"a@b-c.example", 0, TN_OK},
        {"a@x1.example2", 0, TN_OK},
        {local64, 0, TN_OK},
        {long_total, 0, TN_OK},
        /* header injection and list smuggling */
        {"a@b.example\r\nBcc: x@evil.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.example\nBcc: x@evil.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.example\r", 0, TN_ERR_BAD_INPUT},
        {"a@b.example\0evil", 16, TN_ERR_BAD_INPUT},
        {"a@b.example>,<evil@x", 0, TN_ERR_BAD_INPUT},
        {"a@b.example>, <evil@x.example>", 0, TN_ERR_BAD_INPUT},
        {"<a@b.example>", 0, TN_ERR_BAD_INPUT},
        {"a@b.example,evil@x.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.example;evil@x.example", 0, TN_ERR_BAD_INPUT},
        {"Alice <a@b.example>", 0, TN_ERR_BAD_INPUT},
        {"evil>,<x@b.example", 0, TN_ERR_BAD_INPUT},
        {"a<b@example.com", 0, TN_ERR_BAD_INPUT},
        {"a>b@example.com", 0, TN_ERR_BAD_INPUT},
        {"a,b@example.com", 0, TN_ERR_BAD_INPUT},
        {"a;b@example.com", 0, TN_ERR_BAD_INPUT},
        {"a:b@example.com", 0, TN_ERR_BAD_INPUT},
        {"a[b]@example.com", 0, TN_ERR_BAD_INPUT},
        {"a\\b@example.com", 0, TN_ERR_BAD_INPUT},
        /* quotes, comments, routes, literals */
        {"\"a\"@b.example", 0, TN_ERR_BAD_INPUT},
        {"\"a b\"@b.example", 0, TN_ERR_BAD_INPUT},
        {"a(comment)@b.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.example(comment)", 0, TN_ERR_BAD_INPUT},
        {"@route.example:a@b.example", 0, TN_ERR_BAD_INPUT},
        {"a@[127.0.0.1]", 0, TN_ERR_BAD_INPUT},
        {"a@[IPv6:::1]", 0, TN_ERR_BAD_INPUT},
        {"a@127.0.0.1", 0, TN_ERR_BAD_INPUT},
        {"a\\@b@c.example", 0, TN_ERR_BAD_INPUT},
        /* shape */
        {"a@b@c", 0, TN_ERR_BAD_INPUT},
        {"a@b@c.example", 0, TN_ERR_BAD_INPUT},
        {"", 0, TN_ERR_BAD_INPUT},
        {"@", 0, TN_ERR_BAD_INPUT},
        {"a@", 0, TN_ERR_BAD_INPUT},
        {"@b.example", 0, TN_ERR_BAD_INPUT},
        {"ab.example", 0, TN_ERR_BAD_INPUT},
        {"a @b.example", 0, TN_ERR_BAD_INPUT},
        {" a@b.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.example ", 0, TN_ERR_BAD_INPUT},
        {"a\t@b.example", 0, TN_ERR_BAD_INPUT},
        {".a@b.example", 0, TN_ERR_BAD_INPUT},
        {"a.@b.example", 0, TN_ERR_BAD_INPUT},
        {"a..b@b.example", 0, TN_ERR_BAD_INPUT},
        {"a@localhost", 0, TN_ERR_BAD_INPUT},
        {"a@b.example.", 0, TN_ERR_BAD_INPUT},
        {"a@.b.example", 0, TN_ERR_BAD_INPUT},
        {"a@b..example", 0, TN_ERR_BAD_INPUT},
        {"a@-b.example", 0, TN_ERR_BAD_INPUT},
        {"a@b-.example", 0, TN_ERR_BAD_INPUT},
        {"a@b_c.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.123", 0, TN_ERR_BAD_INPUT},
        {"j\xc3\xb6rg@b.example", 0, TN_ERR_BAD_INPUT},
        {"a@b\xc3\xbc.example", 0, TN_ERR_BAD_INPUT},
        {"a@b.example\x7f", 0, TN_ERR_BAD_INPUT},
        /* lengths: 64 local, 63 label, 254 total */
        {local65, 0, TN_ERR_BAD_INPUT},
        {label64_addr, 0, TN_ERR_BAD_INPUT},
        {long_domain, 0, TN_ERR_BAD_INPUT},
        {long_total, 255, TN_ERR_BAD_INPUT}, /* one byte more is the NUL: refused */
    };
    assert_int_equal(strlen(long_total), 254);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n = rows[i].len ? rows[i].len : strlen(rows[i].in);
        enum tn_err got = tn_mail_addr_check(rows[i].in, n);
        if (got != rows[i].want)
            fprintf(stderr, "# row %zu '%s': got %s\n", i, rows[i].in, tn_err_name(got));
        assert_int_equal(got, rows[i].want);
    }
    /* a 255-character address of valid shape */
    char a255[300];
    memcpy(a255, long_total, 254);
    a255[253] = 'z';
    a255[254] = 'q';
    a255[255] = '\0';
    assert_int_equal(tn_mail_addr_check(a255, 255), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_mail_addr_check(NULL, 0), TN_ERR_BAD_INPUT);
}

static void test_text_check(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        enum tn_err want;
    } rows[] = {
        {"Your sign-in code", 0, TN_OK},
        {"Gr\xc3\xbc\xc3\x9f"
         "e \xe2\x9c\x93 \xf0\x9f\x94\x91",
         0, TN_OK},
        {"", 0, TN_OK},
        {"a\r\nBcc: x@evil.example", 0, TN_ERR_BAD_INPUT},
        {"a\nb", 0, TN_ERR_BAD_INPUT},
        {"a\rb", 0, TN_ERR_BAD_INPUT},
        {"a\0b", 3, TN_ERR_BAD_INPUT},
        {"a\tb", 0, TN_ERR_BAD_INPUT},
        {"a\x1b[31mb", 0, TN_ERR_BAD_INPUT},
        {"a\x7f", 0, TN_ERR_BAD_INPUT},
        {"\xc3", 0, TN_ERR_BAD_INPUT},             /* truncated */
        {"\xc0\x8a", 0, TN_ERR_BAD_INPUT},         /* overlong LF */
        {"\xe0\x80\x8a", 0, TN_ERR_BAD_INPUT},     /* overlong LF */
        {"\xed\xa0\x80", 0, TN_ERR_BAD_INPUT},     /* surrogate */
        {"\xf4\x90\x80\x80", 0, TN_ERR_BAD_INPUT}, /* above U+10FFFF */
        {"\xff", 0, TN_ERR_BAD_INPUT},
        {"\x80", 0, TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n = rows[i].len ? rows[i].len : strlen(rows[i].in);
        assert_int_equal(tn_mail_text_check(rows[i].in, n, 100), rows[i].want);
    }
    char big[101];
    memset(big, 'a', sizeof big);
    assert_int_equal(tn_mail_text_check(big, 100, 100), TN_OK);
    assert_int_equal(tn_mail_text_check(big, 101, 100), TN_ERR_LIMIT);
}

/* ---- quoted-printable ---- */

static void test_qp_exact(void **state)
{
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"", ""},
        {"hello", "hello"},
        {"a=b", "a=3Db"},
        {"line1\nline2", "line1\r\nline2"},
        {"line1\r\nline2\r\n", "line1\r\nline2\r\n"},
        {"trailing space \nx", "trailing space=20\r\nx"},
        {"trailing tab\t", "trailing tab=09"},
        {"in the middle\tis fine", "in the middle\tis fine"},
        {"bare\rcr", "bare=0Dcr"},
        {"caf\xc3\xa9", "caf=C3=A9"},
        {".\n.hidden", "=2E\r\n=2Ehidden"},
        {"From me\nFrom: x\nFromage", "=46rom me\r\nFrom: x\r\nFromage"},
        {"a.b", "a.b"},
        {"\x01\x7f", "=01=7F"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct tn_buf b;
        tn_buf_init(&b, 1024);
        assert_int_equal(tn_mail_qp_encode(&b, rows[i].in, strlen(rows[i].in)), TN_OK);
        assert_string_equal(b.data ? b.data : "", rows[i].want);
        tn_buf_deinit(&b);
    }
    /* 76 characters fit a line; 77 need a soft break after 75 */
    char l76[77], l77[78];
    memset(l76, 'x', 76);
    l76[76] = '\0';
    memset(l77, 'x', 77);
    l77[77] = '\0';
    struct tn_buf b;
    tn_buf_init(&b, 1024);
    assert_int_equal(tn_mail_qp_encode(&b, l76, 76), TN_OK);
    assert_string_equal(b.data, l76);
    tn_buf_reset(&b);
    assert_int_equal(tn_mail_qp_encode(&b, l77, 77), TN_OK);
    char want[100];
    snprintf(want, sizeof want, "%.75s=\r\nxx", l77);
    assert_string_equal(b.data, want);
    /* an escape is never split across a soft break */
    tn_buf_reset(&b);
    char esc[80];
    memset(esc, 'x', 74);
    strcpy(esc + 74, "\xc3\xa9yz");
    assert_int_equal(tn_mail_qp_encode(&b, esc, strlen(esc)), TN_OK);
    snprintf(want, sizeof want, "%.74s=\r\n=C3=A9yz", esc);
    assert_string_equal(b.data, want);
    /* a space ending a line at column 76 is encoded, and the escape still fits */
    tn_buf_reset(&b);
    char sp[80];
    memset(sp, 'x', 73);
    strcpy(sp + 73, " ");
    assert_int_equal(tn_mail_qp_encode(&b, sp, 74), TN_OK);
    snprintf(want, sizeof want, "%.73s=20", sp);
    assert_string_equal(b.data, want);
    tn_buf_deinit(&b);
    /* a full buffer fails whole and leaves what was there */
    tn_buf_init(&b, 8);
    tn_buf_puts(&b, "ab");
    assert_int_equal(tn_mail_qp_encode(&b, "0123456789", 10), TN_ERR_LIMIT);
    assert_string_equal(b.data, "ab");
    tn_buf_deinit(&b);
}

static void test_qp_round_trip(void **state)
{
    static const char *texts[] = {
        "Your code is 123456.\n\nIt expires in 10 minutes.\n",
        "Gr\xc3\xbc\xc3\x9f"
        "e aus K\xc3\xb6ln \xe2\x80\x94 \xf0\x9f\x94\x91 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "=\n==\n=3D\n=\r\n",
        " \n\t\n  \n",
        ".\r\n.\r\n..\r\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        qp_round_trip(texts[i], strlen(texts[i]));
    /* long lines of every mix, and random bytes (NUL to 0xff) */
    char buf[4096];
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(round * 13) % sizeof buf;
        tn_random(buf, n);
        if (round % 3 == 0) /* mostly printable with spaces and line ends */
            for (size_t k = 0; k < n; k++)
                buf[k] = " .=Fxa\n\t\xc3"[(unsigned char)buf[k] % 10];
        qp_round_trip(buf, n);
    }
}

/* ---- headers ---- */

static void test_subject_encoding(void **state)
{
    static const struct {
        const char *in;
        const char *want; /* NULL: only checked by decoding */
    } rows[] = {
        {"Your sign-in code", "Your sign-in code"},
        {"caf\xc3\xa9", "=?UTF-8?B?Y2Fmw6k=?="},
        {"=?UTF-8?B?Zm9v?=", "=?UTF-8?B?PT9VVEYtOD9CP1ptOXY/PQ==?="}, /* looks encoded: encoded */
        {" leading space", NULL},
        {"x", "x"},
        {"Gr\xc3\xbc\xc3\x9f"
         "e \xe2\x9c\x93 \xf0\x9f\x94\x91 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
         "Gr\xc3\xbc\xc3\x9f"
         "e \xe2\x9c\x93 \xf0\x9f\x94\x91 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
         "Gr\xc3\xbc\xc3\x9f"
         "e \xe2\x9c\x93 \xf0\x9f\x94\x91 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
         NULL},
        {"A plain ASCII subject that is much longer than one header line may be, so it is encoded",
         NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct tn_buf b;
        tn_buf_init(&b, 4096);
        tn_buf_puts(&b, "Subject: ");
        assert_int_equal(tn_mail_header_encode(&b, rows[i].in, strlen(rows[i].in), 9, false),
                         TN_OK);
        if (rows[i].want)
            assert_string_equal(b.data + 9, rows[i].want);
        char dec[2048];
        long dl = header_decode(b.data + 9, b.len - 9, dec, sizeof dec);
        assert_int_equal(dl, (long)strlen(rows[i].in));
        assert_memory_equal(dec, rows[i].in, (size_t)dl);
        /* every physical line within 76 (encoded) or 78 (plain) characters */
        const char *p = b.data;
        for (const char *e; (e = strstr(p, "\r\n")); p = e + 2)
            assert_true(e - p <= 76);
        assert_true(strlen(p) <= 78);
        tn_buf_deinit(&b);
    }
    /* display names: atoms as is, other ASCII quoted, the rest encoded */
    static const struct {
        const char *in, *want;
    } names[] = {
        {"teamnotes", "teamnotes"},
        {"Team Notes", "Team Notes"},
        {"Notes, Inc.", "\"Notes, Inc.\""},
        {"a \"quoted\" \\ name", "\"a \\\"quoted\\\" \\\\ name\""},
        {"J\xc3\xb6rg", "=?UTF-8?B?SsO2cmc=?="},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct tn_buf b;
        tn_buf_init(&b, 4096);
        assert_int_equal(tn_mail_header_encode(&b, names[i].in, strlen(names[i].in), 6, true),
                         TN_OK);
        assert_string_equal(b.data, names[i].want);
        tn_buf_deinit(&b);
    }
}

/* ---- the whole message ---- */

struct parsed {
    char headers[4096]; /* unfolded header block, lines joined by '\n' */
    char boundary[80];
    char text[8192], html[8192];
    long text_len, html_len;
};

/* Parses a built message the way a strict reader would; fails the test on any structural
 * fault: a line not ending in CRLF, a header line over 78, a bare CR or LF, a boundary
 * that does not match the parts. */
static void parse_back(const char *m, size_t n, struct parsed *p)
{
    memset(p, 0, sizeof *p);
    assert_true(n >= 4 && !memcmp(m + n - 2, "\r\n", 2));
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '\r')
            assert_true(i + 1 < n && m[i + 1] == '\n');
        if (m[i] == '\n')
            assert_true(i > 0 && m[i - 1] == '\r');
        assert_true((unsigned char)m[i] < 0x80 && m[i] != '\0');
    }
    const char *body = memmem(m, n, "\r\n\r\n", 4);
    if (!body)
        fail_msg("no end of the header");
    size_t ho = 0;
    for (const char *l = m; l < body + 2;) {
        const char *e = memmem(l, (size_t)(body + 2 - l), "\r\n", 2);
        assert_true(e - l <= 78);
        if (l != m && (*l == ' ' || *l == '\t')) {
            ho += (size_t)snprintf(p->headers + ho - 1, sizeof p->headers - ho, "%.*s\n",
                                   (int)(e - l), l) -
                  1;
        } else {
            assert_non_null(memchr(l, ':', (size_t)(e - l)));
            ho += (size_t)snprintf(p->headers + ho, sizeof p->headers - ho, "%.*s\n", (int)(e - l),
                                   l);
        }
        l = e + 2;
    }
    const char *b = strstr(p->headers, "boundary=\"");
    assert_non_null(b);
    b += 10;
    size_t bl = strcspn(b, "\"");
    assert_true(bl > 0 && bl < sizeof p->boundary);
    memcpy(p->boundary, b, bl);
    /* exactly three delimiters: two parts and the close */
    char delim[100], close[100];
    snprintf(delim, sizeof delim, "\r\n--%s\r\n", p->boundary);
    snprintf(close, sizeof close, "\r\n--%s--\r\n", p->boundary);
    const char *d1 = memmem(body, n - (size_t)(body - m), delim, strlen(delim));
    assert_ptr_equal(d1, body + 2); /* the body starts with the first delimiter */
    const char *d2 = memmem(d1 + 1, n - (size_t)(d1 + 1 - m), delim, strlen(delim));
    assert_non_null(d2);
    const char *d3 = memmem(d2 + 1, n - (size_t)(d2 + 1 - m), close, strlen(close));
    assert_non_null(d3);
    assert_ptr_equal(d3 + strlen(close), m + n);
    assert_null(memmem(d2 + 1, (size_t)(d3 - d2 - 1), delim, strlen(delim)));
    const struct {
        const char *start, *end, *type;
        char *out;
        long *len;
    } parts[2] = {{d1 + strlen(delim), d2, "text/plain", p->text, &p->text_len},
                  {d2 + strlen(delim), d3, "text/html", p->html, &p->html_len}};
    for (int k = 0; k < 2; k++) {
        char hdr[200];
        snprintf(hdr, sizeof hdr,
                 "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: "
                 "quoted-printable\r\n\r\n",
                 parts[k].type);
        assert_true(!strncmp(parts[k].start, hdr, strlen(hdr)));
        const char *q = parts[k].start + strlen(hdr);
        *parts[k].len = qp_decode(q, (size_t)(parts[k].end - q), parts[k].out, sizeof p->text);
        assert_true(*parts[k].len >= 0);
    }
}

static const char *header(const struct parsed *p, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = p->headers; *l;) {
        const char *e = strchr(l, '\n');
        if (!strncmp(l, name, nl) && l[nl] == ':' && l[nl + 1] == ' ') {
            snprintf(out, cap, "%.*s", (int)(e - l - nl - 2), l + nl + 2);
            return out;
        }
        l = e + 1;
    }
    return NULL;
}

static struct tn_mail_msg sample(void)
{
    return (struct tn_mail_msg){
        .from_name = tn_mail_span("teamnotes"),
        .from = tn_mail_span("notes@example.com"),
        .to = tn_mail_span("alice@example.org"),
        .subject = tn_mail_span("Your code: sign in to Team Notes \xe2\x9c\x93"),
        .text = tn_mail_span("Hello,\n\nyour code is 123456. Gr\xc3\xbc\xc3\x9f"
                             "e!\n"),
        .html = tn_mail_span("<p>Hello,</p><p>your code is <b>123456</b>. Gr&uuml;&szlig;e!</p>"),
    };
}

static void test_build_parses_back(void **state)
{
    struct tn_mail_msg m = sample();
    struct tn_buf out;
    tn_buf_init(&out, TN_MAIL_MSG_MAX);
    /* 2026-12-06T10:31:02Z, a Sunday */
    assert_int_equal(tn_mail_build(&m, 1796553062000, &out), TN_OK);
    struct parsed *p = malloc(sizeof *p);
    parse_back(out.data, out.len, p);
    char v[512];
    assert_string_equal(header(p, "Date", v, sizeof v), "Sun, 06 Dec 2026 10:31:02 +0000");
    assert_string_equal(header(p, "From", v, sizeof v), "teamnotes <notes@example.com>");
    assert_string_equal(header(p, "To", v, sizeof v), "alice@example.org");
    assert_string_equal(header(p, "MIME-Version", v, sizeof v), "1.0");
    assert_string_equal(header(p, "Auto-Submitted", v, sizeof v), "auto-generated");
    char want[200];
    snprintf(want, sizeof want, "multipart/alternative; boundary=\"%s\"", p->boundary);
    assert_string_equal(header(p, "Content-Type", v, sizeof v), want);
    assert_int_equal(strncmp(p->boundary, "=_tn_", 5), 0);
    assert_int_equal(strlen(p->boundary), 5 + 24);
    /* Message-ID: 24 random characters at the From domain */
    header(p, "Message-ID", v, sizeof v);
    assert_int_equal(strlen(v), 1 + 24 + 1 + strlen("example.com") + 1);
    assert_string_equal(v + 25, "@example.com>");
    /* subject decodes back */
    header(p, "Subject", v, sizeof v);
    char dec[512];
    long dl = header_decode(v, strlen(v), dec, sizeof dec);
    assert_int_equal(dl, (long)m.subject.len);
    assert_memory_equal(dec, m.subject.ptr, m.subject.len);
    /* both parts decode back (LF became CRLF) */
    char canon_text[512];
    size_t cl = canon(m.text.ptr, m.text.len, canon_text);
    assert_int_equal(p->text_len, (long)cl);
    assert_memory_equal(p->text, canon_text, cl);
    assert_int_equal(p->html_len, (long)m.html.len);
    assert_memory_equal(p->html, m.html.ptr, m.html.len);
    /* two messages differ in boundary and id */
    struct tn_buf out2;
    tn_buf_init(&out2, TN_MAIL_MSG_MAX);
    assert_int_equal(tn_mail_build(&m, 1796553062000, &out2), TN_OK);
    struct parsed *p2 = malloc(sizeof *p2);
    parse_back(out2.data, out2.len, p2);
    assert_string_not_equal(p->boundary, p2->boundary);
    free(p);
    free(p2);
    tn_buf_deinit(&out);
    tn_buf_deinit(&out2);
}

/* Every header field an attacker might reach, with every way of smuggling a line. */
static void test_header_injection_table(void **state)
{
    static const char *hostile[] = {
        "x\r\nBcc: evil@x.example",   "x\nBcc: evil@x.example", "x\rBcc: evil@x.example",
        "x\r\n\r\n<html>forged body", "x\r\n Bcc: folded",
    };
    for (int field = 0; field < 4; field++) {
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
            struct tn_mail_msg m = sample();
            char addr[100];
            snprintf(addr, sizeof addr, "a@b.example%s", hostile[i] + 1);
            struct tn_span s = tn_mail_span(field < 2 ? addr : hostile[i]);
            if (field == 0)
                m.to = s;
            else if (field == 1)
                m.from = s;
            else if (field == 2)
                m.from_name = s;
            else
                m.subject = s;
            struct tn_buf out;
            tn_buf_init(&out, TN_MAIL_MSG_MAX);
            assert_int_equal(tn_mail_build(&m, 0, &out), TN_ERR_BAD_INPUT);
            assert_int_equal(out.len, 0);
            tn_buf_deinit(&out);
        }
        /* and a NUL inside the span */
        struct tn_mail_msg m = sample();
        struct tn_span nul = {field < 2 ? "a@b.example\0x" : "subject\0x", field < 2 ? 13 : 9};
        if (field == 0)
            m.to = nul;
        else if (field == 1)
            m.from = nul;
        else if (field == 2)
            m.from_name = nul;
        else
            m.subject = nul;
        struct tn_buf out;
        tn_buf_init(&out, TN_MAIL_MSG_MAX);
        assert_int_equal(tn_mail_build(&m, 0, &out), TN_ERR_BAD_INPUT);
        tn_buf_deinit(&out);
    }
    /* a body may hold anything but NUL: line breaks there are content, encoded */
    struct tn_mail_msg m = sample();
    m.text = tn_mail_span("x\r\n--=_tn_\r\nBcc: evil@x.example\r\n\r\n.\r\n");
    struct tn_buf out;
    tn_buf_init(&out, TN_MAIL_MSG_MAX);
    assert_int_equal(tn_mail_build(&m, 0, &out), TN_OK);
    struct parsed *p = malloc(sizeof *p);
    parse_back(out.data, out.len, p);
    char v[64];
    assert_null(header(p, "Bcc", v, sizeof v));
    free(p);
    tn_buf_reset(&out);
    m.html = (struct tn_span){"a\0b", 3};
    assert_int_equal(tn_mail_build(&m, 0, &out), TN_ERR_BAD_INPUT);
    /* limits */
    m = sample();
    char *big = malloc(TN_MAIL_BODY_MAX + 1);
    memset(big, 'a', TN_MAIL_BODY_MAX + 1);
    m.html = (struct tn_span){big, TN_MAIL_BODY_MAX + 1};
    assert_int_equal(tn_mail_build(&m, 0, &out), TN_ERR_LIMIT);
    /* the largest body, all escapes, fits the message limit */
    memset(big, 0xff, TN_MAIL_BODY_MAX);
    m.html = (struct tn_span){big, TN_MAIL_BODY_MAX};
    m.text = (struct tn_span){big, TN_MAIL_BODY_MAX};
    assert_int_equal(tn_mail_build(&m, 0, &out), TN_OK);
    assert_true(out.len <= TN_MAIL_MSG_MAX);
    free(big);
    tn_buf_deinit(&out);
}

/* ---- settings ---- */

static enum tn_err load(struct tn_config *c, const char *const *args, char *err, size_t cap)
{
    char *argv[16];
    int n = 0;
    for (; args[n]; n++)
        argv[n] = (char *)args[n];
    struct tn_buf e;
    tn_buf_init(&e, 4096);
    tn_config_add_check(tn_mail_config_check); /* as main() does */
    enum tn_err rc = tn_config_load(c, n, argv, NULL, &e);
    snprintf(err, cap, "%s", e.data ? e.data : "");
    tn_buf_deinit(&e);
    return rc;
}

static void test_settings(void **state)
{
    static const struct {
        const char *args[6];
        const char *err; /* NULL: accepted */
    } rows[] = {
        {{NULL}, NULL},
        {{"--smtp-url=smtp://mail.example.com:587", "--smtp-from=notes@example.com", NULL}, NULL},
        {{"--smtp-url=smtps://mail.example.com:465/teamnotes.example.com",
          "--smtp-from=notes@example.com", NULL},
         NULL},
        {{"--smtp-url=smtp://[::1]:2525", "--smtp-from=n@example.com", "--smtp-tls=none", NULL},
         NULL},
        {{"--smtp-url=smtp://127.0.0.1:25", "--smtp-from=n@example.com", "--smtp-tls=none", NULL},
         NULL},
        {{"--smtp-url=smtp://mail.example.com:587", NULL},
         "SMTP_URL is set but SMTP_FROM is not: give the sender address mail goes out as (e.g. notes@example.com)"},
        {{"--smtp-url=http://mail.example.com", "--smtp-from=n@example.com", NULL},
         "SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS): 'http://mail.example.com'"},
        {{"--smtp-url=smtp://user:pw@mail.example.com", "--smtp-from=n@example.com", NULL},
         "SMTP_URL must not carry credentials: set SMTP_USERNAME and SMTP_PASSWORD (the password is kept secret there)"},
        {{"--smtp-url=smtp://mail.example.com:0", "--smtp-from=n@example.com", NULL},
         "SMTP_URL has a bad port (1 to 65535): 'smtp://mail.example.com:0'"},
        {{"--smtp-url=smtp://mail.example.com:65536", "--smtp-from=n@example.com", NULL},
         "SMTP_URL has a bad port (1 to 65535): 'smtp://mail.example.com:65536'"},
        {{"--smtp-url=smtp://mail.example.com:", "--smtp-from=n@example.com", NULL},
         "SMTP_URL has a bad port (1 to 65535): 'smtp://mail.example.com:'"},
        {{"--smtp-url=smtp://", "--smtp-from=n@example.com", NULL},
         "SMTP_URL needs a host name or address: 'smtp://'"},
        {{"--smtp-url=smtp://mail.example.com?x=1", "--smtp-from=n@example.com", NULL},
         "SMTP_URL must have no query or fragment: 'smtp://mail.example.com?x=1'"},
        {{"--smtp-url=smtp://mail.example.com/a b", "--smtp-from=n@example.com", NULL},
         "SMTP_URL's path is the name we greet with (EHLO) and must be a host name: 'smtp://mail.example.com/a b'"},
        {{"--smtp-url=smtp://[::1", "--smtp-from=n@example.com", NULL},
         "SMTP_URL has a malformed IPv6 host: 'smtp://[::1'"},
        {{"--smtp-url=smtp://mail.example.com", "--smtp-from=n@example.com", "--smtp-tls=none",
          NULL},
         "SMTP_TLS=none sends mail (sign-in codes, and SMTP passwords) unencrypted: it is allowed only to a "
         "relay on a loopback SMTP_URL host (127.0.0.1, ::1, localhost)"},
        {{"--smtp-url=smtps://127.0.0.1", "--smtp-from=n@example.com", "--smtp-tls=none", NULL},
         "SMTP_TLS=none does not fit SMTP_URL: smtp:// takes starttls (the default) or none, smtps:// takes implicit"},
        {{"--smtp-url=smtp://127.0.0.1", "--smtp-from=n@example.com", "--smtp-tls=off", NULL},
         "SMTP_TLS=off does not fit SMTP_URL: smtp:// takes starttls (the default) or none, smtps:// takes implicit"},
        {{"--smtp-url=smtp://mail.example.com", "--smtp-from=teamnotes <n@example.com>", NULL},
         "SMTP_FROM must be one plain address such as notes@example.com (no name, brackets or spaces; the "
         "name goes in SMTP_FROM_NAME): 'teamnotes <n@example.com>'"},
        {{"--smtp-from=n@example.com\r\nBcc: x@evil.example", NULL},
         "SMTP_FROM must be one plain address such as notes@example.com (no name, brackets or spaces; the "
         "name goes in SMTP_FROM_NAME): 'n@example.com\r\nBcc: x@evil.example'"},
        {{"--smtp-from-name=a\nb", NULL},
         "SMTP_FROM_NAME must be UTF-8 text of at most 200 bytes without control characters"},
        {{"--smtp-password=pw", NULL}, "SMTP_PASSWORD is set but SMTP_USERNAME is not"},
        {{"--smtp-ca-file=/nonexistent/ca.pem", NULL},
         "SMTP_CA_FILE '/nonexistent/ca.pem' cannot be read: No such file or directory"},
        {{"--smtp-timeout-ms=10", NULL},
         "SMTP_TIMEOUT_MS must be an integer from 1000 to 120000 (got '10' from flag)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct tn_config c;
        char err[512];
        enum tn_err rc = load(&c, rows[i].args, err, sizeof err);
        if (!rows[i].err) {
            if (rc != TN_OK)
                fprintf(stderr, "# row %zu: %s\n", i, err);
            assert_int_equal(rc, TN_OK);
            tn_config_deinit(&c);
        } else {
            assert_int_equal(rc, TN_ERR_CONFIG);
            assert_string_equal(err, rows[i].err);
        }
    }
}

static void test_mailer_kinds(void **state)
{
    struct tn_config c;
    char err[512];
    struct tn_mailer *m;
    struct tn_buf e;
    tn_buf_init(&e, 1024);

    const char *smtp[] = {"--smtp-url=smtp://mail.example.com:587", "--smtp-from=notes@example.com",
                          "--smtp-username=u", NULL};
    assert_int_equal(load(&c, smtp, err, sizeof err), TN_OK);
    assert_int_equal(tn_mailer_new(&c, &m, &e), TN_OK);
    assert_int_equal(tn_mailer_kind(m), TN_MAIL_SMTP);
    assert_string_equal(tn_mailer_describe(m),
                        "smtp://mail.example.com:587 (STARTTLS required, AUTH)");
    tn_mailer_free(m);
    tn_config_deinit(&c);

    const char *smtps[] = {"--smtp-url=smtps://mail.example.com", "--smtp-from=notes@example.com",
                           NULL};
    assert_int_equal(load(&c, smtps, err, sizeof err), TN_OK);
    assert_int_equal(tn_mailer_new(&c, &m, &e), TN_OK);
    assert_string_equal(tn_mailer_describe(m), "smtps://mail.example.com (implicit TLS)");
    tn_mailer_free(m);
    tn_config_deinit(&c);

    /* PostgreSQL and the default DATA_DIR: no outbox (instances' disks are not a mailbox) */
    const char *pg[] = {"--database-url=postgres://db.example/teamnotes", NULL};
    assert_int_equal(load(&c, pg, err, sizeof err), TN_OK);
    assert_int_equal(tn_mailer_new(&c, &m, &e), TN_OK);
    assert_int_equal(tn_mailer_kind(m), TN_MAIL_NONE);
    tn_buf_reset(&e);
    assert_int_equal(tn_mailer_send(m, tn_mail_span("a@b.example"), tn_mail_span("s"),
                                    tn_mail_span("t"), tn_mail_span("h"), NULL, &e),
                     TN_ERR_CONFIG);
    assert_string_equal(e.data,
                        "no mail delivery: nowhere (DATABASE_URL without SMTP_URL: set SMTP_URL, "
                        "or DATA_DIR for an outbox)");
    tn_mailer_free(m);
    tn_config_deinit(&c);
    tn_mailer_free(NULL);
    tn_buf_deinit(&e);
}

static void test_outbox(void **state)
{
    char dir[] = "/tmp/tn-mail-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char data[128], flag[160];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(flag, sizeof flag, "--data-dir=%s", data);
    /* an explicit DATA_DIR keeps the outbox even with PostgreSQL */
    const char *args[] = {flag, "--database-url=postgres://db.example/teamnotes", NULL};
    struct tn_config c;
    char err[512];
    assert_int_equal(load(&c, args, err, sizeof err), TN_OK);
    struct tn_mailer *m;
    struct tn_buf e, where;
    tn_buf_init(&e, 1024);
    tn_buf_init(&where, 4200);
    assert_int_equal(tn_mailer_new(&c, &m, &e), TN_OK);
    assert_int_equal(tn_mailer_kind(m), TN_MAIL_OUTBOX);
    struct tn_mail_msg s = sample();
    assert_int_equal(tn_mailer_send(m, s.to, s.subject, s.text, s.html, &where, &e), TN_OK);
    /* DATA_DIR/outbox/<YYYYMMDDTHHMMSSZ>-<12>.eml, 0600 in a 0700 directory */
    char prefix[200];
    snprintf(prefix, sizeof prefix, "%s/outbox/", data);
    assert_int_equal(strncmp(where.data, prefix, strlen(prefix)), 0);
    const char *name = where.data + strlen(prefix);
    assert_int_equal(strlen(name), 16 + 1 + 12 + 4);
    assert_int_equal(name[8], 'T');
    assert_int_equal(name[15], 'Z');
    assert_string_equal(name + 29, ".eml");
    struct stat st;
    assert_int_equal(stat(where.data, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(prefix, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* the file is the message, and nothing else is left in the directory */
    FILE *f = fopen(where.data, "rb");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct parsed *p = malloc(sizeof *p);
    parse_back(buf, n, p);
    char v[200];
    assert_string_equal(header(p, "From", v, sizeof v), "teamnotes <teamnotes@localhost.invalid>");
    assert_string_equal(header(p, "To", v, sizeof v), "alice@example.org");
    free(p);
    DIR *d = opendir(prefix);
    int entries = 0;
    for (struct dirent *de; (de = readdir(d));)
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    /* a refused recipient writes nothing */
    tn_buf_reset(&e);
    assert_int_equal(tn_mailer_send(m, tn_mail_span("a@b.example\r\nBcc: x@evil.example"),
                                    s.subject, s.text, s.html, NULL, &e),
                     TN_ERR_BAD_INPUT);
    assert_string_equal(e.data, "the address, subject or sender name was refused");
    d = opendir(prefix);
    entries = 0;
    for (struct dirent *de; (de = readdir(d));)
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    unlink(where.data);
    rmdir(prefix);
    rmdir(data);
    rmdir(dir);
    tn_mailer_free(m);
    tn_config_deinit(&c);
    tn_buf_deinit(&e);
    tn_buf_deinit(&where);
}

int main(void)
{
    if (tn_util_init() != TN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_table),
        cmocka_unit_test(test_text_check),
        cmocka_unit_test(test_qp_exact),
        cmocka_unit_test(test_qp_round_trip),
        cmocka_unit_test(test_subject_encoding),
        cmocka_unit_test(test_build_parses_back),
        cmocka_unit_test(test_header_injection_table),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_mailer_kinds),
        cmocka_unit_test(test_outbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
