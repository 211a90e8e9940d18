/* Email sign-in codes (auth/signin/email.h): codes are 6 digits and vary, typed codes are
 * normalised or refused, keyed hashes depend on every input, and the message carries the
 * code, the link and the lifetime but its subject carries no secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth/signin/email.h"
#include "core/util.h"

static void test_code_new(void **state)
{
    (void)state;
    int seen[10] = {0};
    char first[TN_EMAIL_CODE_LEN + 1], c[TN_EMAIL_CODE_LEN + 1];
    tn_email_code_new(first);
    bool differs = false;
    for (int i = 0; i < 2000; i++) {
        tn_email_code_new(c);
        assert_int_equal(strlen(c), TN_EMAIL_CODE_LEN);
        for (int j = 0; j < TN_EMAIL_CODE_LEN; j++) {
            assert_true(c[j] >= '0' && c[j] <= '9');
            seen[c[j] - '0']++;
        }
        differs |= strcmp(c, first) != 0;
    }
    assert_true(differs);
    for (int d = 0; d < 10; d++) /* 12,000 digits: each about 1,200 times */
        assert_in_range(seen[d], 900, 1500);
}

static void test_normalise(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"123456", "123456"},  {"123 456", "123456"},
        {"123-456", "123456"}, {" 0 0 0 0 0 1 ", "000001"},
        {"12345", ""},         {"1234567", ""},
        {"12345a", ""},        {"", ""},
        {"１２３４５６", ""},  {"123456\n", ""},
        {"+123456", ""},       {"                              123456", ""},
    };
    char out[TN_EMAIL_CODE_LEN + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case %zu\n", i);
        assert_int_equal(tn_email_code_normalise(cases[i].in, out), cases[i].want[0] != '\0');
        assert_string_equal(out, cases[i].want);
    }
    assert_false(tn_email_code_normalise(NULL, out));
    assert_string_equal(out, "");
}

static void test_hash(void **state)
{
    (void)state;
    const uint8_t k1[32] = {1}, k2[32] = {2};
    uint8_t a[32], b[32];
    tn_email_hash(k1, 32, "code", "id1", "123456", a);
    tn_email_hash(k1, 32, "code", "id1", "123456", b);
    assert_memory_equal(a, b, 32);
    tn_email_hash(k2, 32, "code", "id1", "123456", b); /* another secret */
    assert_memory_not_equal(a, b, 32);
    tn_email_hash(k1, 32, "code", "id2", "123456", b); /* another row */
    assert_memory_not_equal(a, b, 32);
    tn_email_hash(k1, 32, "link", "id1", "123456", b); /* another purpose */
    assert_memory_not_equal(a, b, 32);
    tn_email_hash(k1, 32, "code", "id1", "123457", b);
    assert_memory_not_equal(a, b, 32);
}

static void test_message(void **state)
{
    (void)state;
    struct tn_buf t, h;
    tn_buf_init(&t, 16384);
    tn_buf_init(&h, 16384);
    assert_int_equal(
        tn_email_message("042917", "https://notes.example.com/signin/email?id=A&t=B", 10, &t, &h),
        TN_OK);
    assert_non_null(strstr(t.data, "\n    042917\n"));
    assert_non_null(strstr(t.data, "https://notes.example.com/signin/email?id=A&t=B"));
    assert_non_null(strstr(t.data, "for 10 minutes"));
    assert_non_null(strstr(h.data, ">042917</p>"));
    assert_non_null(strstr(h.data, "href=\"https://notes.example.com/signin/email?id=A&t=B\""));
    assert_null(strpbrk(TN_EMAIL_SUBJECT, "0123456789"));
    tn_buf_deinit(&t);
    tn_buf_deinit(&h);
    /* a full buffer is an error, not a cut message */
    tn_buf_init(&t, 64);
    tn_buf_init(&h, 16384);
    assert_int_equal(tn_email_message("042917", "https://x.example/l", 10, &t, &h), TN_ERR_LIMIT);
    tn_buf_deinit(&t);
    tn_buf_deinit(&h);
}

int main(void)
{
    if (tn_util_init() != TN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_new),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
