/* base64, HMAC-protected cursors and requestState, Mcp-* header decoding, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "mcp/internal.h"

static void test_b64(void **state)
{
    char out[64];
    size_t n;
    assert_int_equal(tn_b64_decode(out, sizeof out, &n, "SGVsbG8sIOS4lueVjA==", 20), TN_OK);
    assert_int_equal(n, 13);
    assert_memory_equal(out, "Hello, \xe4\xb8\x96\xe7\x95\x8c", 13);
    /* unpadded standard base64 is refused */
    assert_int_equal(tn_b64_decode(out, sizeof out, &n, "SGVsbG8", 7), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_b64_decode(out, sizeof out, &n, "SGV$bG8=", 8), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_b64url_decode(out, sizeof out, &n, "SGVsbG8", 7), TN_OK);
    assert_int_equal(n, 5);
    char enc[16];
    assert_int_equal(tn_b64url_encode(enc, sizeof enc, "\xfb\xff", 2), 3);
    assert_string_equal(enc, "-_8");
}

static void test_header_decode(void **state)
{
    static const char *cases[][2] = {
        {"echo", "echo"},
        {"  echo  ", "echo"},
        {"=?base64?ZWNobw==?=", "echo"},
        {"=?base64?IHBhZGRlZCA=?=", " padded "},
        {"=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, \xe4\xb8\x96\xe7\x95\x8c"},
        {"=?base64?SGVsbG8?=", NULL},               /* missing padding */
        {"=?base64?ZWNobw==", "=?base64?ZWNobw=="}, /* no terminator: literal */
        {"=?base64?AGE=?=", NULL},                  /* embedded NUL */
        {"caf\xc3\xa9", NULL},                      /* raw non-ASCII */
        {"a\tb", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = tn_mcp_header_decode(cases[i][0]);
        if (cases[i][1]) {
            assert_non_null(d);
            assert_string_equal(d, cases[i][1]);
        } else {
            assert_null(d);
        }
        free(d);
    }
}

static struct tn_mcp_server *srv(const uint8_t *key)
{
    struct tn_mcp_info info = {.name = "t", .version = "1", .secret = key, .secret_len = 32};
    return tn_mcp_server_new(&info);
}

static void test_state_seal(void **state)
{
    uint8_t k1[32] = {1}, k2[32] = {2};
    struct tn_mcp_server *a = srv(k1), *b = srv(k2);
    json_t *st = json_pack("{s:i}", "round", 2);
    char *sealed = tn_mcp_state_seal(a, "alice", "tool", st);
    const char *why = NULL;
    json_t *back = tn_mcp_state_open(a, "alice", "tool", sealed, &why);
    assert_non_null(back);
    assert_int_equal(json_integer_value(json_object_get(back, "round")), 2);
    json_decref(back);
    assert_null(tn_mcp_state_open(a, "bob", "tool", sealed, &why));
    assert_string_equal(why, "requestState belongs to another request");
    assert_null(tn_mcp_state_open(a, "alice", "other", sealed, &why));
    assert_string_equal(why, "requestState belongs to another request");
    assert_null(tn_mcp_state_open(b, "alice", "tool", sealed, &why));
    assert_string_equal(why, "requestState failed its integrity check");
    size_t tl = strlen(sealed) + 10;
    char *t = malloc(tl);
    snprintf(t, tl, "%s-TAMPERED", sealed);
    assert_null(tn_mcp_state_open(a, "alice", "tool", t, &why));
    assert_null(tn_mcp_state_open(a, "alice", "tool", "no-dot", &why));
    assert_string_equal(why, "requestState is malformed");
    free(t);
    free(sealed);
    json_decref(st);
    tn_mcp_server_free(a);
    tn_mcp_server_free(b);
}

static void test_cursor(void **state)
{
    uint8_t k[32] = {7};
    struct tn_mcp_server *s = srv(k);
    char *c = tn_mcp_cursor_make(s, 'T', 50, 3, "inner");
    uint32_t a, b;
    char *inner;
    assert_true(tn_mcp_cursor_read(s, c, 'T', &a, &b, &inner));
    assert_int_equal(a, 50);
    assert_int_equal(b, 3);
    assert_string_equal(inner, "inner");
    free(inner);
    assert_false(tn_mcp_cursor_read(s, c, 'R', &a, &b, NULL)); /* another list's cursor */
    c[2] = c[2] == 'A' ? 'B' : 'A';
    assert_false(tn_mcp_cursor_read(s, c, 'T', &a, &b, NULL));
    assert_false(tn_mcp_cursor_read(s, "", 'T', &a, &b, NULL));
    free(c);
    tn_mcp_server_free(s);
}

/* tn_strlcpy is snprintf(dst, cap, "%s", src): same bytes, same return, for every cap. */
static void test_strlcpy(void **state)
{
    (void)state;
    const char *srcs[] = {"", "a", "abcdef", "n_UE9GhZMCk_EBTMiNCtaCrQ"};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        for (size_t cap = 1; cap <= 30; cap++) {
            char want[32], got[32];
            memset(want, 'x', sizeof want);
            memset(got, 'x', sizeof got);
            int wn = snprintf(want, cap, "%s", srcs[i]);
            size_t gn = tn_strlcpy(got, srcs[i], cap);
            assert_int_equal(gn, (size_t)wn);
            assert_memory_equal(got, want, sizeof want); /* nothing written past cap */
        }
    }
}

/* Dates written the same as gmtime + strftime for every day over four centuries and
 * around the edges; parsed back; hostile spellings refused. */
static void test_rfc3339(void **state)
{
    (void)state;
    char got[21], want[32];
    for (int64_t s = -2208988800LL; s < 10413792000LL; s += 86399 * 7 + 13) {
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
        assert_int_equal(tn_time_rfc3339(s * 1000 + 999, got), 20);
        assert_string_equal(got, want);
        int64_t back = 0;
        assert_int_equal(tn_time_parse_rfc3339(got, 20, &back), TN_OK);
        assert_int_equal(back, s * 1000);
    }
    /* the thread's last second and last day (kept between calls): the same second
     * twice, seconds of one day, days interleaved, the millisecond and the day edges */
    int64_t other = 1796553057LL;
    for (int64_t s = 1796515200LL - 3; s < 1796515200LL + 3 * 86400; s += 3607) {
        int64_t seq[] = {s, s, other, s + 1, s, other, other + 86400};
        for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
            time_t t = (time_t)seq[i];
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
            assert_int_equal(tn_time_rfc3339(seq[i] * 1000 + (int64_t)i * 150, got), 20);
            assert_string_equal(got, want);
        }
        other -= 86400 - 61;
    }
    tn_time_rfc3339(1796553057999LL, got);
    tn_time_rfc3339(1796553058000LL, got); /* the next second of the same day */
    assert_string_equal(got, "2026-12-06T10:30:58Z");
    tn_time_rfc3339(1796553057789LL, got);
    assert_string_equal(got, "2026-12-06T10:30:57Z");
    tn_time_rfc3339(-1, got); /* the last second before the epoch, not the epoch */
    assert_string_equal(got, "1969-12-31T23:59:59Z");
    tn_time_rfc3339(INT64_MAX, got);
    assert_string_equal(got, "9999-12-31T23:59:59Z");
    tn_time_rfc3339(INT64_MIN, got);
    assert_string_equal(got, "0000-01-01T00:00:00Z");

    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"2026-12-06T10:30:57.789Z", 1796553057789LL}, /* what JavaScript's toISOString writes */
        {"2026-12-06T10:30:57Z", 1796553057000LL},
        {"2026-12-06t10:30:57.7891234z", 1796553057789LL},
        {"2026-12-06T12:30:57.789+02:00", 1796553057789LL},
        {"2026-12-06T09:00:57.789-01:30", 1796553057789LL},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"1970-01-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int64_t ms = -7;
        assert_int_equal(tn_time_parse_rfc3339(ok[i].in, strlen(ok[i].in), &ms), TN_OK);
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *const bad[] = {
        "",
        "2026-12-06",
        "2026-12-06T09:50:57",
        "2026-12-06 09:50:57Z",
        "2026-13-06T09:50:57Z",
        "2026-00-06T09:50:57Z",
        "2025-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-12-06T24:00:00Z",
        "2026-12-06T09:60:00Z",
        "2026-12-06T09:50:57.Z",
        "2026-12-06T09:50:57ZZ",
        "2026-12-06T09:50:57+0200",
        "2026-12-06T09:50:57+24:00",
        "+2026-12-06T09:50:57Z",
        "2026-1a-06T09:50:57Z",
        "1796553057789",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms = -7;
        assert_int_equal(tn_time_parse_rfc3339(bad[i], strlen(bad[i]), &ms), TN_ERR_BAD_INPUT);
        assert_int_equal(ms, 0);
    }
    /* the length is the caller's: a NUL-free prefix is not accepted as the whole */
    int64_t ms;
    assert_int_equal(tn_time_parse_rfc3339("2026-12-06T09:50:57Zjunk", 24, &ms), TN_ERR_BAD_INPUT);
}

static void test_buf_limit(void **state)
{
    struct tn_buf b;
    tn_buf_init(&b, 8);
    assert_int_equal(tn_buf_puts(&b, "12345678"), TN_OK);
    assert_int_equal(tn_buf_puts(&b, "9"), TN_ERR_LIMIT);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    tn_buf_reset(&b);
    assert_int_equal(tn_buf_printf(&b, "%d-%s", 42, "x"), TN_OK);
    assert_string_equal(b.data, "42-x");
    tn_buf_deinit(&b);

    /* reserve: room without content, never past the limit, inline when the room is
     * there (the answer is the same either way) */
    tn_buf_init(&b, 100);
    assert_int_equal(tn_buf_reserve(&b, 101), TN_ERR_LIMIT);
    assert_null(b.data);
    assert_int_equal(tn_buf_reserve(&b, 100), TN_OK);
    assert_int_equal(b.len, 0);
    assert_true(b.cap >= 101 && b.cap <= 101);        /* the limit and the NUL: no more */
    assert_int_equal(tn_buf_reserve(&b, 100), TN_OK); /* the room is there: inline */
    assert_int_equal(tn_buf_reserve(&b, 101), TN_ERR_LIMIT);
    assert_int_equal(tn_buf_puts(&b, "abc"), TN_OK);
    assert_int_equal(tn_buf_reserve(&b, 97), TN_OK);
    assert_int_equal(tn_buf_reserve(&b, 98), TN_ERR_LIMIT);
    assert_string_equal(b.data, "abc");
    tn_buf_deinit(&b);
    tn_buf_init(&b, 1u << 20);
    assert_int_equal(tn_buf_reserve(&b, 10), TN_OK);
    assert_int_equal(b.cap, 1024); /* the first block */
    char *first = b.data;
    assert_int_equal(tn_buf_reserve(&b, 1023), TN_OK);
    assert_ptr_equal(b.data, first); /* 1023 bytes and the NUL fit: nothing moved */
    assert_int_equal(tn_buf_reserve(&b, 1024), TN_OK);
    assert_int_equal(b.cap, 2048);
    assert_int_equal(tn_buf_reserve(&b, SIZE_MAX), TN_ERR_LIMIT);
    assert_int_equal(b.cap, 2048);
    tn_buf_deinit(&b);
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64),        cmocka_unit_test(test_header_decode),
        cmocka_unit_test(test_state_seal), cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_buf_limit),  cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
