/* SIGNIN_METHODS (auth/signin/methods.h): the default, every word, and each refusal with
 * its exact sentence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth/signin/methods.h"

enum { P = TN_SIGNIN_PASSWORD, E = TN_SIGNIN_EMAIL, O = TN_SIGNIN_OIDC, S = TN_SIGNIN_SSO };

static const struct {
    const char *list;
    bool mail, oidc;
    enum tn_err rc;
    unsigned want;
    const char *msg;
} cases[] = {
    {NULL, true, false, TN_OK, P | E, ""},
    {"", true, false, TN_OK, P | E, ""},
    {"", false, false, TN_OK, P, ""},
    {"", false, true, TN_OK, P, ""},
    {"password", false, false, TN_OK, P, ""},
    {"email", true, false, TN_OK, E, ""},
    {"password,email", true, false, TN_OK, P | E, ""},
    {" email , password ", true, false, TN_OK, P | E, ""},
    {"password,email,oidc", true, true, TN_OK, P | E | O, ""},
    {"oidc", false, true, TN_OK, O, ""},
    {"email", false, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS lists email but no mail can be delivered: set SMTP_URL (and SMTP_FROM), or "
     "DATA_DIR for an outbox, or remove email"},
    {"password,oidc", true, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS lists oidc but no OpenID Connect provider is configured: set OIDC_PROVIDERS, "
     "or remove oidc"},
    {"password,magic", true, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS: 'magic' is not a sign-in method (use password, email, oidc or sso, separated by commas)"},
    {"Password", true, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS: 'Password' is not a sign-in method (use password, email, oidc or sso, separated by commas)"},
    {"password,", true, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS: '' is not a sign-in method (use password, email, oidc or sso, separated by commas)"},
    {",", true, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS: '' is not a sign-in method (use password, email, oidc or sso, separated by commas)"},
    {"password email", true, false, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS: 'password email' is not a sign-in method (use password, email, oidc or sso, separated by commas)"},
    {"email,email", true, false, TN_ERR_CONFIG, 0, "SIGNIN_METHODS lists email twice"},
    /* sso needs nothing at start: organizations configure their own providers */
    {"sso", false, false, TN_OK, S, ""},
    {"password,sso", false, false, TN_OK, P | S, ""},
    {"password, sso,email,oidc", true, true, TN_OK, P | E | O | S, ""},
    {"sso,sso", true, true, TN_ERR_CONFIG, 0, "SIGNIN_METHODS lists sso twice"},
    {"SSO", true, true, TN_ERR_CONFIG, 0,
     "SIGNIN_METHODS: 'SSO' is not a sign-in method (use password, email, oidc or sso, separated by commas)"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        struct tn_signin_env env = {cases[i].mail, cases[i].oidc};
        unsigned got = 12345;
        enum tn_err rc = tn_signin_methods_parse(cases[i].list, &env, &got, &err);
        print_message("case %zu: '%s'\n", i, cases[i].list ? cases[i].list : "(null)");
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(got, cases[i].want);
        assert_string_equal(err.data ? err.data : "", cases[i].msg);
        tn_buf_deinit(&err);
    }
}

static void test_too_long(void **state)
{
    (void)state;
    char list[400];
    memset(list, 'a', sizeof list - 1);
    list[sizeof list - 1] = '\0';
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    struct tn_signin_env env = {true, true};
    unsigned got = 1;
    assert_int_equal(tn_signin_methods_parse(list, &env, &got, &err), TN_ERR_CONFIG);
    assert_int_equal(got, 0);
    assert_string_equal(err.data, "SIGNIN_METHODS is longer than 256 characters");
    tn_buf_deinit(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
