/* Passwords (argon2id through libsodium) and roles of the built-in authorization server
 * (auth/as/users.h): length bounds, right and wrong passwords, hashes that must never
 * match, and the rehash signal for hashes made with weaker parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "auth/as/users.h"

static void test_hash_bounds(void **state)
{
    char h[TN_PASSWORD_HASH_MAX];
    assert_int_equal(tn_password_hash("123456789", h), TN_ERR_BAD_INPUT); /* 9 */
    assert_string_equal(h, "");
    assert_int_equal(tn_password_hash("", h), TN_ERR_BAD_INPUT);
    char big[1026];
    memset(big, 'x', 1025);
    big[1025] = '\0';
    assert_int_equal(tn_password_hash(big, h), TN_ERR_BAD_INPUT); /* 1025 */
    big[1024] = '\0';
    assert_int_equal(tn_password_hash(big, h), TN_OK); /* 1024 */
    assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
    assert_int_equal(tn_password_hash("1234567890", h), TN_OK); /* 10 */
}

static void test_verify(void **state)
{
    char h[TN_PASSWORD_HASH_MAX], h2[TN_PASSWORD_HASH_MAX];
    bool rehash = true;
    assert_int_equal(tn_password_hash("correct horse battery", h), TN_OK);
    assert_int_equal(tn_password_verify(h, "correct horse battery", &rehash), TN_OK);
    assert_false(rehash);
    assert_int_equal(tn_password_verify(h, "correct horse battery", NULL), TN_OK);
    static const char *const wrong[] = {"correct horse batter", "correct horse battery ",
                                        "Correct horse battery", "", "correct horse battery\n"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        rehash = true;
        assert_int_equal(tn_password_verify(h, wrong[i], &rehash), TN_ERR_FORBIDDEN);
        assert_false(rehash);
    }
    /* a fresh salt each time: two hashes of one password differ and both verify */
    assert_int_equal(tn_password_hash("correct horse battery", h2), TN_OK);
    assert_string_not_equal(h, h2);
    assert_int_equal(tn_password_verify(h2, "correct horse battery", NULL), TN_OK);
}

/* An account without a password (empty hash), a missing one, a truncated or foreign
 * one, or an overlong password: never a match. */
static void test_never_matches(void **state)
{
    char h[TN_PASSWORD_HASH_MAX];
    assert_int_equal(tn_password_hash("a-long-password", h), TN_OK);
    assert_int_equal(tn_password_verify("", "", NULL), TN_ERR_FORBIDDEN);
    assert_int_equal(tn_password_verify("", "a-long-password", NULL), TN_ERR_FORBIDDEN);
    assert_int_equal(tn_password_verify(NULL, "a-long-password", NULL), TN_ERR_FORBIDDEN);
    char cut[TN_PASSWORD_HASH_MAX];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(h) - 4, h);
    assert_int_equal(tn_password_verify(cut, "a-long-password", NULL), TN_ERR_FORBIDDEN);
    assert_int_equal(
        tn_password_verify("$argon2id$v=19$m=65536,t=2,p=1$garbage", "a-long-password", NULL),
        TN_ERR_FORBIDDEN);
    assert_int_equal(tn_password_verify("plaintext-password", "plaintext-password", NULL),
                     TN_ERR_FORBIDDEN);
    char big[1026];
    memset(big, 'x', 1025);
    big[1025] = '\0';
    assert_int_equal(tn_password_verify(h, big, NULL), TN_ERR_FORBIDDEN);
}

/* A hash made with weaker limits still verifies, and says it should be redone. */
static void test_rehash_signal(void **state)
{
    char weak[crypto_pwhash_STRBYTES];
    const char *pw = "an-older-password";
    assert_int_equal(crypto_pwhash_str_alg(weak, pw, strlen(pw), crypto_pwhash_OPSLIMIT_MIN,
                                           crypto_pwhash_MEMLIMIT_MIN,
                                           crypto_pwhash_ALG_ARGON2ID13),
                     0);
    bool rehash = false;
    assert_int_equal(tn_password_verify(weak, pw, &rehash), TN_OK);
    assert_true(rehash);
    rehash = true;
    assert_int_equal(tn_password_verify(weak, "not-the-password", &rehash), TN_ERR_FORBIDDEN);
    assert_false(rehash);
}

static void test_roles(void **state)
{
    assert_string_equal(tn_role_permissions("viewer"), "notes:read");
    assert_string_equal(tn_role_permissions("editor"), "notes:read notes:write");
    assert_string_equal(tn_role_permissions("admin"), "notes:read notes:write teamnotes:admin");
    static const char *const unknown[] = {"Admin", "admin ", "", "root", "viewer\n"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_null(tn_role_permissions(unknown[i]));
    assert_null(tn_role_permissions(NULL));
    size_t n = 0;
    while (tn_roles[n])
        assert_non_null(tn_role_permissions(tn_roles[n++]));
    assert_int_equal(n, 3);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_bounds),   cmocka_unit_test(test_verify),
        cmocka_unit_test(test_never_matches), cmocka_unit_test(test_rehash_signal),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
