/* The sealed browser state of an upstream sign-in (src/auth/upstream/signin_state.c):
 * the round trip, and every cookie that must be refused: forged, of another purpose,
 * expired, members missing, of the wrong type or too long, another key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/upstream/signin_state.h"
#include "core/seal.h"
#include "core/util.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER[32] = "fedcba9876543210fedcba9876543210";

static struct tn_oidc_start start(void)
{
    struct tn_oidc_start s;
    memset(&s, 0, sizeof s);
    memset(s.state, 'S', TN_OIDC_SECRET_LEN);
    memset(s.nonce, 'N', TN_OIDC_SECRET_LEN);
    memset(s.code_verifier, 'V', TN_OIDC_SECRET_LEN);
    return s;
}

static void test_round_trip(void **state)
{
    struct tn_oidc_start st = start();
    char *c = tn_oidc_state_seal(KEY, sizeof KEY, "my-idp", &st, "sealed.req");
    assert_non_null(c);
    struct tn_oidc_signin_state o;
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, c, &o), TN_OK);
    assert_string_equal(o.provider, "my-idp");
    assert_string_equal(o.state, st.state);
    assert_string_equal(o.nonce, st.nonce);
    assert_string_equal(o.code_verifier, st.code_verifier);
    assert_string_equal(o.req, "sealed.req");

    /* another key, a flipped character, a cut value, nothing */
    assert_int_equal(tn_oidc_state_open(OTHER, sizeof OTHER, c, &o), TN_ERR_BAD_INPUT);
    assert_string_equal(o.provider, "");
    size_t n = strlen(c);
    c[n / 3] = c[n / 3] == 'A' ? 'B' : 'A';
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, c, &o), TN_ERR_BAD_INPUT);
    c[n / 2] = '\0';
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, c, &o), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, "", &o), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, NULL, &o), TN_ERR_BAD_INPUT);
    free(c);
}

static void test_seal_refusals(void **state)
{
    struct tn_oidc_start st = start();
    assert_null(tn_oidc_state_seal(KEY, sizeof KEY, "", &st, "r"));
    assert_null(tn_oidc_state_seal(KEY, sizeof KEY, "abcdefghijabcdefghijabcdefghijabc", &st, "r"));
    char *big = malloc(TN_OIDC_STATE_REQ_MAX + 2);
    memset(big, 'r', TN_OIDC_STATE_REQ_MAX + 1);
    big[TN_OIDC_STATE_REQ_MAX + 1] = '\0';
    assert_null(tn_oidc_state_seal(KEY, sizeof KEY, "x", &st, big));
    free(big);
}

/* Documents sealed by hand: the right key, the wrong shape. */
static void expect_refused(const char *purpose, json_t *doc, int64_t ttl)
{
    char *c = tn_seal(KEY, sizeof KEY, purpose, doc, ttl);
    assert_non_null(c);
    struct tn_oidc_signin_state o;
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, c, &o), TN_ERR_BAD_INPUT);
    assert_string_equal(o.state, "");
    free(c);
    json_decref(doc);
}

static void test_open_refusals(void **state)
{
    const char *s43 = "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS";
#define DOC(p, s, n, v, r) \
    json_pack("{s:s, s:s, s:s, s:s, s:s}", "p", p, "s", s, "n", n, "v", v, "r", r)
    /* a valid document is accepted, so the refusals below are about what they change */
    json_t *good = DOC("x", s43, s43, s43, "r");
    char *c = tn_seal(KEY, sizeof KEY, TN_OIDC_STATE_PURPOSE, good, 60);
    struct tn_oidc_signin_state o;
    assert_int_equal(tn_oidc_state_open(KEY, sizeof KEY, c, &o), TN_OK);
    free(c);

    expect_refused("authz", json_incref(good), 60);               /* another purpose */
    expect_refused(TN_OIDC_STATE_PURPOSE, json_incref(good), -1); /* expired */
    json_decref(good);
    expect_refused(TN_OIDC_STATE_PURPOSE,
                   json_pack("{s:s, s:s, s:s, s:s}", "p", "x", "s", s43, "n", s43, "v", s43),
                   60);                                                     /* no req */
    expect_refused(TN_OIDC_STATE_PURPOSE, DOC("x", s43, s43, s43, ""), 60); /* empty */
    expect_refused(TN_OIDC_STATE_PURPOSE,
                   DOC("x", s43, "NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN", s43, "r"), 60);
    expect_refused(
        TN_OIDC_STATE_PURPOSE,
        json_pack("{s:s, s:i, s:s, s:s, s:s}", "p", "x", "s", 7, "n", s43, "v", s43, "r", "r"),
        60); /* wrong type */
    expect_refused(TN_OIDC_STATE_PURPOSE, json_string("not an object"), 60);
#undef DOC
}

int main(void)
{
    if (tn_util_init() != TN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_seal_refusals),
        cmocka_unit_test(test_open_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
