/* The resource server with local keys: issuers, audiences, the verified-token cache and
 * the exact challenges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "auth/rs/rs.h"
#include "core/util.h"

static EVP_PKEY *key;
static struct tn_jwks *keys;
static struct tn_rs *rs;
static char kid[44];

static const char *issuers[] = {"https://env.example.com/resources/res_1", "https://env.example.com"};
static const char *auds[] = {"https://notes.example.com/mcp", "res_1"};

static int setup(void **state)
{
    tn_util_init();
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    tn_jwk_thumbprint(key, kid);
    assert_int_equal(tn_jwks_from_pkey(key, kid, "ES256", &keys), TN_OK);
    struct tn_rs_config c = {
        .resource = "https://notes.example.com/mcp",
        .prm_url = "https://notes.example.com/.well-known/oauth-protected-resource/mcp",
        .issuers = issuers, .n_issuers = 2, .audiences = auds, .n_audiences = 2,
        .scopes = "notes:read notes:write", .leeway_s = 0, .cache_slots = 64,
        .local_keys = keys,
    };
    rs = tn_rs_new(&c);
    return rs ? 0 : 1;
}

static int teardown(void **state)
{
    tn_rs_free(rs);
    tn_jwks_free(keys);
    EVP_PKEY_free(key);
    return 0;
}

static char *token(const char *iss, const char *aud, int64_t exp_delta, const char *sub)
{
    int64_t now = tn_time_now_ms() / 1000;
    json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:s, s:[s]}", "iss", iss, "aud", aud, "exp",
                          (json_int_t)(now + exp_delta), "iat", (json_int_t)now, "scope",
                          "notes:read", "permissions", "notes:read");
    if (sub)
        json_object_set_new(c, "sub", json_string(sub));
    char *t = NULL;
    assert_int_equal(tn_jwt_sign(key, "ES256", kid, "at+jwt", c, &t), TN_OK);
    json_decref(c);
    size_t n = strlen(t) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", t);
    free(t);
    return h;
}

static void test_verdicts(void **state)
{
    struct { const char *iss, *aud; int64_t exp; const char *sub; enum tn_rs_verdict v; enum tn_jwt_reason why; } cases[] = {
        {issuers[0], auds[0], 60, "u1", TN_RS_OK, TN_JWT_OK},
        {issuers[1], auds[0], 60, "u2", TN_RS_OK, TN_JWT_OK},            /* both issuer forms */
        {issuers[1], "res_1", 60, "u3", TN_RS_OK, TN_JWT_OK},            /* configured audience */
        {"https://evil.example.com", auds[0], 60, "u4", TN_RS_INVALID, TN_JWT_BAD_ISSUER},
        {issuers[0], "https://other.example.com/mcp", 60, "u5", TN_RS_INVALID, TN_JWT_BAD_AUDIENCE},
        {issuers[0], auds[0], -5, "u6", TN_RS_EXPIRED, TN_JWT_EXPIRED},
        {issuers[0], auds[0], 60, NULL, TN_RS_INVALID, TN_JWT_NO_SUBJECT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *h = token(cases[i].iss, cases[i].aud, cases[i].exp, cases[i].sub);
        struct tn_principal *p = NULL;
        enum tn_jwt_reason why;
        enum tn_rs_verdict v = tn_rs_authenticate(rs, h, &p, &why);
        if (v != cases[i].v || why != cases[i].why) {
            print_error("case %zu: verdict %d reason %s\n", i, v, tn_jwt_reason_name(why));
            fail();
        }
        if (v == TN_RS_OK)
            assert_string_equal(p->subject, cases[i].sub);
        tn_principal_release(p);
        free(h);
    }
}

static void test_header_forms(void **state)
{
    struct tn_principal *p = NULL;
    enum tn_jwt_reason why;
    assert_int_equal(tn_rs_authenticate(rs, NULL, &p, &why), TN_RS_NO_TOKEN);
    assert_int_equal(tn_rs_authenticate(rs, "Basic YTpi", &p, &why), TN_RS_NO_TOKEN);
    assert_int_equal(tn_rs_authenticate(rs, "Bearer", &p, &why), TN_RS_NO_TOKEN);
    assert_int_equal(tn_rs_authenticate(rs, "Bearer a b", &p, &why), TN_RS_INVALID);
    assert_int_equal(tn_rs_authenticate(rs, "Bearer \"quoted\"", &p, &why), TN_RS_INVALID);
    char *big = malloc(9000);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', 8990);
    big[8997] = '\0';
    assert_int_equal(tn_rs_authenticate(rs, big, &p, &why), TN_RS_INVALID);
    assert_int_equal(why, TN_JWT_TOO_LARGE);
    free(big);
    /* not shaped like a JWS (dots, alphabet): refused as malformed without verifying,
     * even right after the token it differs from by a byte was verified and cached */
    char *good = token(issuers[0], auds[0], 60, "shape");
    assert_int_equal(tn_rs_authenticate(rs, good, &p, &why), TN_RS_OK);
    tn_principal_release(p);
    size_t gl = strlen(good);
    char *dotted = malloc(gl + 3);
    snprintf(dotted, gl + 3, "%s.x", good);
    char *bad_char = strdup(good);
    bad_char[gl - 3] = '!';
    const char *const malformed[] = {"Bearer abc", "Bearer a.b", "Bearer a.b.c.d", "Bearer a.b!.c",
                                     "Bearer a.b.c=x", dotted, bad_char};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        struct tn_rs_stats before, after;
        tn_rs_stats(rs, &before);
        why = TN_JWT_OK;
        assert_int_equal(tn_rs_authenticate(rs, malformed[i], &p, &why), TN_RS_INVALID);
        assert_int_equal(why, TN_JWT_MALFORMED);
        assert_null(p);
        tn_rs_stats(rs, &after);
        assert_int_equal(after.verifications, before.verifications);
    }
    free(dotted);
    free(bad_char);
    free(good);
    /* the scheme is case-insensitive */
    char *h = token(issuers[0], auds[0], 60, "case");
    memcpy(h, "bEaReR", 6);
    assert_int_equal(tn_rs_authenticate(rs, h, &p, &why), TN_RS_OK);
    tn_principal_release(p);
    free(h);
}

static void test_cache_skips_verification(void **state)
{
    char *h = token(issuers[0], auds[0], 60, "cached");
    struct tn_rs_stats a, b;
    struct tn_principal *p1 = NULL, *p2 = NULL;
    tn_rs_stats(rs, &a);
    assert_int_equal(tn_rs_authenticate(rs, h, &p1, NULL), TN_RS_OK);
    assert_int_equal(tn_rs_authenticate(rs, h, &p2, NULL), TN_RS_OK);
    tn_rs_stats(rs, &b);
    assert_int_equal(b.verifications - a.verifications, 1);
    assert_int_equal(b.cache_hits - a.cache_hits, 1);
    assert_ptr_equal(p1, p2);
    tn_principal_release(p1);
    tn_principal_release(p2);
    /* a one-byte change is a different token: verified (and refused). The byte is a
     * full base64url digit of the signature, replaced by another valid digit (flipping
     * a bit could give a character outside the alphabet, refused before verifying) */
    char *last = h + strlen(h) - 2, was = *last;
    *last = was == 'A' ? 'B' : 'A';
    struct tn_principal *p3 = NULL;
    assert_int_equal(tn_rs_authenticate(rs, h, &p3, NULL), TN_RS_INVALID);
    tn_rs_cache_clear(rs);
    *last = was;
    assert_int_equal(tn_rs_authenticate(rs, h, &p3, NULL), TN_RS_OK);
    tn_rs_stats(rs, &a);
    assert_int_equal(a.verifications - b.verifications, 2);
    tn_principal_release(p3);
    free(h);
}

static void test_challenges(void **state)
{
    struct tn_buf www, body;
    tn_buf_init(&www, 4096);
    tn_buf_init(&body, 4096);
    assert_int_equal(tn_rs_challenge(rs, TN_RS_NO_TOKEN, &www, &body), 401);
    assert_string_equal(www.data, "Bearer resource_metadata=\"https://notes.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read notes:write\"");
    assert_int_equal(tn_rs_challenge(rs, TN_RS_EXPIRED, &www, &body), 401);
    assert_string_equal(www.data, "Bearer error=\"invalid_token\", error_description=\"Token has expired\", resource_metadata=\"https://notes.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read notes:write\"");
    assert_string_equal(body.data, "{\"error\":\"token_expired\",\"error_description\":\"Access token has expired. Please refresh your token.\"}");
    assert_int_equal(tn_rs_challenge(rs, TN_RS_UNAVAILABLE, &www, &body), 503);
    assert_int_equal(www.len, 0);
    tn_rs_insufficient_scope(rs, "notes:write notes:read", &www, &body);
    assert_string_equal(www.data, "Bearer error=\"insufficient_scope\", scope=\"notes:write notes:read\", resource_metadata=\"https://notes.example.com/.well-known/oauth-protected-resource/mcp\", error_description=\"Additional scope required\"");
    json_t *m = tn_rs_metadata(rs);
    assert_string_equal(json_string_value(json_object_get(m, "resource")), "https://notes.example.com/mcp");
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "authorization_servers"), 0)), issuers[0]);
    assert_int_equal(json_array_size(json_object_get(m, "scopes_supported")), 2);
    json_decref(m);
    tn_buf_deinit(&www);
    tn_buf_deinit(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts), cmocka_unit_test(test_header_forms),
        cmocka_unit_test(test_cache_skips_verification), cmocka_unit_test(test_challenges),
    };
    return cmocka_run_group_tests_name("rs", tests, setup, teardown);
}
