/* Which issuers, audiences and metadata documents the resource server uses for each
 * authentication mode (src/auth/issuer.c): the built-in issuer, a generic OIDC issuer
 * (RFC 8414 §3.1 location with and without a path), Scalekit environments with and
 * without a resource id and with trailing slashes, AUTH_AUDIENCE lists, and settings
 * that give no usable URL. Exact strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "auth/issuer.h"

#define BASE "http://127.0.0.1:8080"
#define RES BASE "/mcp"

struct expect {
    const char *issuers[TN_ISSUER_MAX + 1];             /* NULL-terminated */
    const char *audiences[TN_ISSUER_AUDIENCES_MAX + 1]; /* NULL-terminated */
    const char *metadata[TN_ISSUER_MAX + 1];            /* NULL-terminated */
    const char *jwks, *fallback;
    bool loopback_http;
};

static void check_list(const char *const *want, char (*got)[TN_ISSUER_URL_SIZE], size_t n)
{
    size_t i = 0;
    for (; want[i]; i++) {
        assert_true(i < n);
        assert_string_equal(got[i], want[i]);
    }
    assert_int_equal(n, i);
}

static void check(const struct tn_issuer_settings *in, const struct expect *e)
{
    struct tn_issuer_urls u;
    assert_int_equal(tn_issuer_urls(in, &u), TN_OK);
    check_list(e->issuers, u.issuers, u.n_issuers);
    check_list(e->audiences, u.audiences, u.n_audiences);
    size_t i = 0;
    for (; e->metadata[i]; i++) {
        assert_true(i < u.n_metadata);
        assert_string_equal(u.metadata[i], e->metadata[i]);
    }
    assert_int_equal(u.n_metadata, i);
    assert_string_equal(u.jwks, e->jwks ? e->jwks : "");
    assert_string_equal(u.jwks_fallback, e->fallback ? e->fallback : "");
    assert_int_equal(u.loopback_http, e->loopback_http);
}

/* Settings of `mode` with every URL "" but the base URL and the resource. */
static struct tn_issuer_settings settings(const char *mode)
{
    return (struct tn_issuer_settings){.mode = mode,
                                       .base_url = BASE,
                                       .resource = RES,
                                       .auth_issuer = "",
                                       .scalekit_env = "",
                                       .scalekit_resource_id = "",
                                       .jwks_uri = "",
                                       .audience = ""};
}

static void test_builtin(void **state)
{
    /* the issuer is the effective origin; AUTH_ISSUER and AUTH_JWKS_URI play no part */
    struct tn_issuer_settings in = settings("builtin");
    in.auth_issuer = "https://idp.example.com";
    in.jwks_uri = "https://idp.example.com/jwks";
    check(&in, &(struct expect){.issuers = {BASE}, .audiences = {RES, RES "/"}});
    in.audience = "api://notes";
    check(&in, &(struct expect){.issuers = {BASE}, .audiences = {"api://notes"}});
}

static void test_generic_issuer(void **state)
{
    struct tn_issuer_settings in = settings("external");
    in.auth_issuer = "https://idp.example.com";
    check(&in, &(struct expect){
                   .issuers = {"https://idp.example.com"},
                   .audiences = {RES, RES "/"},
                   .metadata = {"https://idp.example.com/.well-known/oauth-authorization-server",
                                "https://idp.example.com/.well-known/openid-configuration"}});
    /* with a path: RFC 8414 puts the well-known segment before it, OIDC appends; the
     * issuer itself is kept byte for byte, trailing slash included */
    in.auth_issuer = "https://login.example.com/realms/acme/";
    check(&in,
          &(struct expect){
              .issuers = {"https://login.example.com/realms/acme/"},
              .audiences = {RES, RES "/"},
              .metadata = {
                  "https://login.example.com/.well-known/oauth-authorization-server/realms/acme",
                  "https://login.example.com/realms/acme/.well-known/openid-configuration"}});
    /* plain http (config allows it on loopback only), an explicit JWKS location */
    in.auth_issuer = "http://127.0.0.1:9000/oidc";
    in.jwks_uri = "http://127.0.0.1:9000/oidc/jwks";
    check(&in, &(struct expect){
                   .issuers = {"http://127.0.0.1:9000/oidc"},
                   .audiences = {RES, RES "/"},
                   .metadata = {"http://127.0.0.1:9000/.well-known/oauth-authorization-server/oidc",
                                "http://127.0.0.1:9000/oidc/.well-known/openid-configuration"},
                   .jwks = "http://127.0.0.1:9000/oidc/jwks",
                   .loopback_http = true});
    /* AUTH_ISSUER wins over a Scalekit environment; "https" is not "http://" */
    in = settings("external");
    in.auth_issuer = "https://idp.example.com";
    in.scalekit_env = "https://acme.scalekit.dev";
    check(&in, &(struct expect){
                   .issuers = {"https://idp.example.com"},
                   .audiences = {RES, RES "/"},
                   .metadata = {"https://idp.example.com/.well-known/oauth-authorization-server",
                                "https://idp.example.com/.well-known/openid-configuration"}});
}

static void test_scalekit(void **state)
{
    /* no resource id: issuer ENV (trailing slashes gone), audience the base URL (the
     * template's rule) before the resource's spellings */
    struct tn_issuer_settings in = settings("external");
    in.scalekit_env = "https://acme.scalekit.dev//";
    check(&in, &(struct expect){
                   .issuers = {"https://acme.scalekit.dev"},
                   .audiences = {BASE, RES, RES "/"},
                   .metadata = {"https://acme.scalekit.dev/.well-known/oauth-authorization-server"},
                   .fallback = "https://acme.scalekit.dev/keys"});
    /* a resource id: its issuer first (migration), its metadata first, audience the id */
    in.scalekit_resource_id = "res_123";
    check(
        &in,
        &(struct expect){
            .issuers = {"https://acme.scalekit.dev/resources/res_123", "https://acme.scalekit.dev"},
            .audiences = {"res_123", RES, RES "/"},
            .metadata =
                {"https://acme.scalekit.dev/.well-known/oauth-authorization-server/resources/res_123",
                 "https://acme.scalekit.dev/.well-known/oauth-authorization-server"},
            .fallback = "https://acme.scalekit.dev/keys"});
    /* AUTH_AUDIENCE replaces every default audience, Scalekit's too */
    in.audience = "res_123";
    check(
        &in,
        &(struct expect){
            .issuers = {"https://acme.scalekit.dev/resources/res_123", "https://acme.scalekit.dev"},
            .audiences = {"res_123"},
            .metadata =
                {"https://acme.scalekit.dev/.well-known/oauth-authorization-server/resources/res_123",
                 "https://acme.scalekit.dev/.well-known/oauth-authorization-server"},
            .fallback = "https://acme.scalekit.dev/keys"});
    /* a local environment over http */
    in = settings("external");
    in.scalekit_env = "http://localhost:7000/";
    check(&in, &(struct expect){
                   .issuers = {"http://localhost:7000"},
                   .audiences = {BASE, RES, RES "/"},
                   .metadata = {"http://localhost:7000/.well-known/oauth-authorization-server"},
                   .fallback = "http://localhost:7000/keys",
                   .loopback_http = true});
}

static void test_audience_list(void **state)
{
    struct tn_issuer_settings in = settings("builtin");
    /* trimmed; empty entries dropped */
    in.audience = " a ,, \tb\t,c,";
    check(&in, &(struct expect){.issuers = {BASE}, .audiences = {"a", "b", "c"}});
    /* only blanks: no audience at all (every token is then refused), never the defaults */
    in.audience = " , ";
    check(&in, &(struct expect){.issuers = {BASE}, .audiences = {NULL}});
    /* at most eight; an entry of 512 bytes or more is dropped, not cut */
    char big[700];
    memset(big, 'x', 512);
    snprintf(big + 512, sizeof big - 512, ",keep");
    in.audience = big;
    check(&in, &(struct expect){.issuers = {BASE}, .audiences = {"keep"}});
    memset(big, 'x', 511);
    big[511] = '\0';
    in.audience = big;
    struct tn_issuer_urls u;
    assert_int_equal(tn_issuer_urls(&in, &u), TN_OK);
    assert_int_equal(u.n_audiences, 1);
    assert_int_equal(strlen(u.audiences[0]), 511);
    in.audience = "1,2,3,4,5,6,7,8,9,10";
    check(&in, &(struct expect){.issuers = {BASE},
                                .audiences = {"1", "2", "3", "4", "5", "6", "7", "8"}});
}

/* Settings that give no usable URL: refused, and the output stays reset. */
static void test_refused(void **state)
{
    static const struct {
        const char *auth_issuer, *scalekit_env, *base_url;
        const char *mode;
        enum tn_err rc;
    } t[] = {
        {"", "", BASE, "external", TN_ERR_CONFIG},                /* no issuer at all */
        {"idp.example.com", "", BASE, "external", TN_ERR_CONFIG}, /* not absolute */
        {"://idp.example.com", "", BASE, "external", TN_ERR_CONFIG},
        {"", "", NULL, "builtin", TN_ERR_LIMIT}, /* base URL too long */
    };
    char long_base[600];
    memset(long_base, 'h', sizeof long_base - 1);
    long_base[sizeof long_base - 1] = '\0';
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tn_issuer_settings in = settings(t[i].mode);
        in.auth_issuer = t[i].auth_issuer;
        in.scalekit_env = t[i].scalekit_env;
        in.base_url = t[i].base_url ? t[i].base_url : long_base;
        struct tn_issuer_urls u;
        memset(&u, 0x55, sizeof u);
        assert_int_equal(tn_issuer_urls(&in, &u), t[i].rc);
        assert_int_equal(u.n_issuers, 0);
        assert_int_equal(u.n_audiences, 0);
        assert_int_equal(u.n_metadata, 0);
        assert_string_equal(u.issuers[0], "");
        assert_string_equal(u.jwks_fallback, "");
    }
    /* a resource too long for its buffer is refused, not cut */
    char long_res[TN_ISSUER_URL_SIZE];
    memset(long_res, 'r', sizeof long_res - 1);
    long_res[sizeof long_res - 1] = '\0';
    struct tn_issuer_settings in = settings("builtin");
    in.resource = long_res;
    struct tn_issuer_urls u;
    assert_int_equal(tn_issuer_urls(&in, &u), TN_ERR_LIMIT);
    assert_int_equal(u.n_audiences, 0);
}

static void test_external_issuer(void **state)
{
    char out[64];
    assert_int_equal(tn_issuer_external("https://idp.example.com/", "https://x", out, sizeof out),
                     TN_OK);
    assert_string_equal(out, "https://idp.example.com/"); /* byte for byte */
    assert_int_equal(tn_issuer_external("", "https://acme.scalekit.dev///", out, sizeof out),
                     TN_OK);
    assert_string_equal(out, "https://acme.scalekit.dev");
    assert_int_equal(tn_issuer_external("", "///", out, sizeof out), TN_OK);
    assert_string_equal(out, "");
    strcpy(out, "stale");
    assert_int_equal(tn_issuer_external("", "", out, sizeof out), TN_ERR_CONFIG);
    assert_string_equal(out, "");
    strcpy(out, "stale");
    assert_int_equal(tn_issuer_external("https://idp.example.com", "", out, 10), TN_ERR_LIMIT);
    assert_string_equal(out, "");
    assert_int_equal(tn_issuer_external("https://idp.example.com", "", out, 24),
                     TN_OK); /* 23 + NUL */
    assert_string_equal(out, "https://idp.example.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),  cmocka_unit_test(test_generic_issuer),
        cmocka_unit_test(test_scalekit), cmocka_unit_test(test_audience_list),
        cmocka_unit_test(test_refused),  cmocka_unit_test(test_external_issuer),
    };
    return cmocka_run_group_tests_name("issuer", tests, NULL, NULL);
}
