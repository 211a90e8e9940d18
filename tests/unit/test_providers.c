/* Server-wide upstream provider settings (src/auth/upstream/providers.c): every refusal
 * with its exact message, the defaults, the secret file, and lazy creation that
 * remembers a failed discovery and retries after TN_OIDC_PROVIDERS_RETRY_S. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "auth/upstream/providers.h"
#include "core/util.h"

/* A NULL-terminated list of "NAME=value". */
static const char *lookup(const char *name, void *ud)
{
    for (const char *const *v = ud; *v; v++) {
        size_t n = strlen(name);
        if (strncmp(*v, name, n) == 0 && (*v)[n] == '=')
            return *v + n + 1;
    }
    return NULL;
}

#define GOOD_GOOGLE                                                                \
    "OIDC_GOOGLE_ISSUER=https://accounts.google.com", "OIDC_GOOGLE_CLIENT_ID=gid", \
        "OIDC_GOOGLE_CLIENT_SECRET=gsecret"

struct refusal {
    const char *vars[12];
    const char *message;
};

static void test_refusals(void **state)
{
    static const struct refusal cases[] = {
        {{"OIDC_PROVIDERS=Google", NULL},
         "OIDC_PROVIDERS: 'Google' is not a provider id ([a-z0-9-]{1,32})"},
        {{"OIDC_PROVIDERS=google,,x", GOOD_GOOGLE, NULL},
         "OIDC_PROVIDERS: '' is not a provider id ([a-z0-9-]{1,32})"},
        {{"OIDC_PROVIDERS=go_ogle", NULL},
         "OIDC_PROVIDERS: 'go_ogle' is not a provider id ([a-z0-9-]{1,32})"},
        {{"OIDC_PROVIDERS=a b", NULL},
         "OIDC_PROVIDERS: 'a b' is not a provider id ([a-z0-9-]{1,32})"},
        {{"OIDC_PROVIDERS=abcdefghijabcdefghijabcdefghijabc", NULL},
         "OIDC_PROVIDERS: 'abcdefghijabcdefghijabcdefghijabc' is not a provider id ([a-z0-9-]{1,32})"},
        {{"OIDC_PROVIDERS=google,google", GOOD_GOOGLE, NULL},
         "OIDC_PROVIDERS: 'google' is listed twice"},
        {{"OIDC_PROVIDERS=google", NULL},
         "OIDC_GOOGLE_ISSUER is required for provider 'google' (listed in OIDC_PROVIDERS)"},
        {{"OIDC_PROVIDERS=my-idp", "OIDC_MY_IDP_ISSUER=http://idp.example", NULL},
         "OIDC_MY_IDP_ISSUER must be an https URL without user, query or fragment"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://u:p@idp.example", NULL},
         "OIDC_X_ISSUER must be an https URL without user, query or fragment"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", NULL},
         "OIDC_X_CLIENT_ID is required for provider 'x' (printable, at most 512 bytes)"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=a\nb", NULL},
         "OIDC_X_CLIENT_ID is required for provider 'x' (printable, at most 512 bytes)"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=c", NULL},
         "OIDC_X_CLIENT_SECRET or OIDC_X_CLIENT_SECRET_FILE is required for provider 'x'"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=c",
          "OIDC_X_CLIENT_SECRET=s", "OIDC_X_CLIENT_SECRET_FILE=/etc/x", NULL},
         "set OIDC_X_CLIENT_SECRET or OIDC_X_CLIENT_SECRET_FILE for provider 'x', not both"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=c",
          "OIDC_X_CLIENT_SECRET_FILE=/nonexistent/secret", NULL},
         "OIDC_X_CLIENT_SECRET_FILE: cannot read /nonexistent/secret: No such file or directory"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=c",
          "OIDC_X_CLIENT_SECRET=s", "OIDC_X_SCOPES=email profile", NULL},
         "OIDC_X_SCOPES must be space-separated scopes including openid"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=c",
          "OIDC_X_CLIENT_SECRET=s", "OIDC_X_SCOPES=openidx email", NULL},
         "OIDC_X_SCOPES must be space-separated scopes including openid"},
        {{"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example", "OIDC_X_CLIENT_ID=c",
          "OIDC_X_CLIENT_SECRET=s", "OIDC_X_NAME=Evil\x1b[31m", NULL},
         "OIDC_X_NAME must be printable and at most 64 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        struct tn_oidc_providers *ps = (void *)1;
        enum tn_err e = tn_oidc_providers_parse(lookup, (void *)cases[i].vars,
                                                "https://notes.example", false, &ps, &err);
        if (e != TN_ERR_CONFIG || !err.data || strcmp(err.data, cases[i].message) != 0)
            fail_msg("case %zu: %s: got '%s', want '%s'", i, tn_err_name(e),
                     err.data ? err.data : "", cases[i].message);
        assert_null(ps);
        tn_buf_deinit(&err);
    }
}

static void test_none_and_defaults(void **state)
{
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    const char *none[] = {NULL};
    struct tn_oidc_providers *ps = (void *)1;
    assert_int_equal(
        tn_oidc_providers_parse(lookup, (void *)none, "https://n.example", false, &ps, &err),
        TN_OK);
    assert_null(ps);
    assert_int_equal(tn_oidc_providers_count(NULL), 0);

    const char *two[] = {
        "OIDC_PROVIDERS= google , my-idp", GOOD_GOOGLE,
        "OIDC_GOOGLE_NAME=Google",         "OIDC_MY_IDP_ISSUER=https://idp.example/realms/x",
        "OIDC_MY_IDP_CLIENT_ID=c2",        "OIDC_MY_IDP_CLIENT_SECRET=s2",
        "OIDC_MY_IDP_SCOPES=openid email", NULL};
    assert_int_equal(
        tn_oidc_providers_parse(lookup, (void *)two, "https://n.example/", false, &ps, &err),
        TN_OK);
    assert_non_null(ps);
    assert_int_equal(tn_oidc_providers_count(ps), 2);
    assert_string_equal(tn_oidc_providers_id(ps, 0), "google");
    assert_string_equal(tn_oidc_providers_name(ps, 0), "Google");
    assert_string_equal(tn_oidc_providers_id(ps, 1), "my-idp");
    assert_string_equal(tn_oidc_providers_name(ps, 1), "my-idp"); /* default: the id */
    assert_null(tn_oidc_providers_id(ps, 2));
    assert_int_equal(tn_oidc_providers_find(ps, "my-idp", 6), 1);
    assert_int_equal(tn_oidc_providers_find(ps, "my-id", 5), -1);
    assert_int_equal(tn_oidc_providers_find(ps, "GOOGLE", 6), -1);
    tn_oidc_providers_free(ps);
    tn_buf_deinit(&err);
}

static void test_secret_file(void **state)
{
    char path[] = "/tmp/tn_oidc_secret_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    char var[128];
    snprintf(var, sizeof var, "OIDC_X_CLIENT_SECRET_FILE=%s", path);
    const char *vars[] = {"OIDC_PROVIDERS=x", "OIDC_X_ISSUER=https://idp.example",
                          "OIDC_X_CLIENT_ID=c", var, NULL};
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    struct tn_oidc_providers *ps = NULL;
    assert_int_equal(
        tn_oidc_providers_parse(lookup, (void *)vars, "https://n.example", false, &ps, &err),
        TN_OK);
    assert_int_equal(tn_oidc_providers_count(ps), 1);
    tn_oidc_providers_free(ps);

    /* an empty file is refused */
    assert_int_equal(truncate(path, 0), 0);
    ps = NULL;
    assert_int_equal(
        tn_oidc_providers_parse(lookup, (void *)vars, "https://n.example", false, &ps, &err),
        TN_ERR_CONFIG);
    char want[256];
    snprintf(want, sizeof want,
             "OIDC_X_CLIENT_SECRET_FILE: %s is empty or holds control characters", path);
    assert_string_equal(err.data, want);
    assert_null(ps);
    unlink(path);
    tn_buf_deinit(&err);
}

/* Discovery against a closed port fails; the failure is remembered (the second call
 * within the retry window fetches nothing and gives the same reason) and forgotten after. */
static void test_lazy_unreachable(void **state)
{
    const char *vars[] = {"OIDC_PROVIDERS=down", "OIDC_DOWN_ISSUER=http://127.0.0.1:9",
                          "OIDC_DOWN_CLIENT_ID=c", "OIDC_DOWN_CLIENT_SECRET=s", NULL};
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    struct tn_oidc_providers *ps = NULL;
    /* http on loopback only when allowed */
    assert_int_equal(
        tn_oidc_providers_parse(lookup, (void *)vars, "http://127.0.0.1:1", false, &ps, &err),
        TN_ERR_CONFIG);
    assert_int_equal(
        tn_oidc_providers_parse(lookup, (void *)vars, "http://127.0.0.1:1", true, &ps, &err),
        TN_OK);
    struct tn_oidc_provider *p = (void *)1;
    enum tn_oidc_reason why = TN_OIDC_OK;
    assert_int_equal(tn_oidc_providers_get(ps, 0, 1000, &p, &why), TN_ERR_IO);
    assert_null(p);
    assert_int_equal(why, TN_OIDC_DISCOVERY_UNREACHABLE);
    why = TN_OIDC_OK;
    assert_int_equal(tn_oidc_providers_get(ps, 0, 1000 + TN_OIDC_PROVIDERS_RETRY_S - 1, &p, &why),
                     TN_ERR_IO);
    assert_int_equal(why, TN_OIDC_DISCOVERY_UNREACHABLE);
    assert_int_equal(tn_oidc_providers_get(ps, 0, 1000 + TN_OIDC_PROVIDERS_RETRY_S, &p, &why),
                     TN_ERR_IO); /* tried again, still down */
    assert_int_equal(tn_oidc_providers_get(ps, 1, 1000, &p, &why), TN_ERR_BAD_INPUT);
    tn_oidc_providers_free(ps);
    tn_buf_deinit(&err);
}

int main(void)
{
    if (tn_util_init() != TN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_none_and_defaults),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_lazy_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
