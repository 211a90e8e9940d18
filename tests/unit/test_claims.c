/* Claim mapping into the principal: the claim shapes of Scalekit, Auth0, Keycloak and
 * oidc-provider, and the fail-closed rule for permissions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth/rs/claims.h"

static struct tn_principal *map(const char *claims_json, const struct tn_claim_map *m,
                                enum tn_err *rc)
{
    json_t *c = json_loads(claims_json, 0, NULL);
    assert_non_null(c);
    struct tn_principal *p = NULL;
    *rc = tn_claims_to_principal(c, m, &p);
    json_decref(c);
    return p;
}

static char *joined(const struct tn_strlist *l, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? "," : "", l->v[i]);
    return buf;
}

static void test_scalekit_shape(void **state)
{
    struct tn_claim_map m = {0};
    enum tn_err rc;
    struct tn_principal *p =
        map("{\"iss\":\"https://env.scalekit.com\",\"sub\":\"usr_1\",\"oid\":\"org_9\","
            "\"aud\":[\"res_1\"],\"client_id\":\"skc_1\",\"exp\":2000000000,\"jti\":\"tkn_1\","
            "\"roles\":[\"member\"],\"permissions\":[\"notes:read\",\"notes:write\"],"
            "\"scopes\":[\"notes:read\"]}",
            &m, &rc);
    char b[256];
    assert_int_equal(rc, TN_OK);
    assert_string_equal(p->subject, "usr_1");
    assert_string_equal(p->org, "org_9");
    assert_string_equal(p->client_id, "skc_1");
    assert_string_equal(p->token_id, "tkn_1");
    assert_string_equal(p->key, "https://env.scalekit.com|usr_1");
    assert_string_equal(joined(&p->scopes, b, sizeof b), "notes:read");
    assert_string_equal(joined(&p->roles, b, sizeof b), "member");
    assert_string_equal(joined(&p->permissions, b, sizeof b), "notes:read,notes:write");
    assert_int_equal(p->expires_at, 2000000000);
    tn_principal_release(p);
}

static void test_string_scope_and_org_id(void **state)
{
    struct tn_claim_map m = {0};
    enum tn_err rc;
    struct tn_principal *p = map(
        "{\"iss\":\"i\",\"sub\":\"s\",\"org_id\":\"org_acme\",\"scope\":\"notes:read  notes:write\","
        "\"perms\":\"notes:read\",\"azp\":\"cli\",\"exp\":1}",
        &m, &rc);
    char b[256];
    assert_int_equal(rc, TN_OK);
    assert_string_equal(p->org, "org_acme");
    assert_string_equal(p->client_id, "cli");
    assert_string_equal(joined(&p->scopes, b, sizeof b), "notes:read,notes:write");
    assert_string_equal(joined(&p->permissions, b, sizeof b), "notes:read");
    assert_true(tn_principal_has_scope(p, "notes:write"));
    tn_principal_release(p);
}

static void test_keycloak_nested_roles(void **state)
{
    struct tn_claim_map m = {.roles = "realm_access.roles",
                             .permissions = "resource_access.teamnotes.roles"};
    enum tn_err rc;
    struct tn_principal *p =
        map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":1,\"realm_access\":{\"roles\":[\"editor\"]},"
            "\"resource_access\":{\"teamnotes\":{\"roles\":[\"notes:write\"]}}}",
            &m, &rc);
    char b[256];
    assert_int_equal(rc, TN_OK);
    assert_string_equal(joined(&p->roles, b, sizeof b), "editor");
    assert_string_equal(joined(&p->permissions, b, sizeof b), "notes:write");
    assert_string_equal(p->org, "");
    tn_principal_release(p);
}

static void test_fail_closed(void **state)
{
    enum tn_err rc;
    char b[256];
    struct tn_claim_map closed = {0};
    struct tn_principal *p =
        map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":1,\"scope\":\"notes:write\"}", &closed, &rc);
    assert_int_equal(rc, TN_OK);
    assert_int_equal(p->permissions.n, 0);
    assert_false(tn_principal_has_permission(p, "notes:read"));
    tn_principal_release(p);
    struct tn_claim_map dflt = {.default_permissions = "notes:read"};
    p = map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":1}", &dflt, &rc);
    assert_string_equal(joined(&p->permissions, b, sizeof b), "notes:read");
    tn_principal_release(p);
    /* an explicit empty claim is the issuer saying "none": defaults do not apply */
    p = map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":1,\"permissions\":[]}", &dflt, &rc);
    assert_int_equal(p->permissions.n, 0);
    tn_principal_release(p);
}

static void test_scope_hierarchy(void **state)
{
    struct tn_claim_map m = {0};
    enum tn_err rc;
    struct tn_principal *p =
        map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":1,\"scope\":\"notes:write\"}", &m, &rc);
    /* the hierarchy is the application's: none until it registers one */
    assert_false(tn_principal_has_scope(p, "notes:read"));
    assert_int_equal(tn_principal_scope_implies("notes:write", "notes:read"), TN_OK);
    assert_true(tn_principal_has_scope(p, "notes:read"));
    tn_principal_release(p);
    p = map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":1,\"scope\":\"notes:read\"}", &m, &rc);
    assert_false(tn_principal_has_scope(p, "notes:write"));
    tn_principal_release(p);
}

static void test_bad_shapes(void **state)
{
    static const char *bad[] = {
        "{\"iss\":\"i\",\"exp\":1}",                               /* no sub */
        "{\"iss\":\"i\",\"sub\":\"\",\"exp\":1}",                  /* empty sub */
        "{\"sub\":\"s\",\"exp\":1}",                               /* no iss */
        "{\"iss\":\"i\",\"sub\":\"s\",\"oid\":5}",                 /* org not a string */
        "{\"iss\":\"i\",\"sub\":\"s\",\"permissions\":[\"a\",1]}", /* mixed array */
        "{\"iss\":\"i\",\"sub\":\"s\",\"roles\":{\"a\":1}}",       /* object */
    };
    struct tn_claim_map m = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum tn_err rc;
        struct tn_principal *p = map(bad[i], &m, &rc);
        assert_int_equal(rc, TN_ERR_BAD_INPUT);
        assert_null(p);
    }
}

static void test_whoami_json(void **state)
{
    struct tn_claim_map m = {0};
    enum tn_err rc;
    struct tn_principal *p =
        map("{\"iss\":\"i\",\"sub\":\"s\",\"exp\":7,\"secret_claim\":\"x\"}", &m, &rc);
    json_t *j = tn_principal_json(p);
    assert_true(json_is_null(json_object_get(j, "organizationId")));
    assert_null(json_object_get(j, "secret_claim"));
    assert_int_equal(json_integer_value(json_object_get(j, "expiresAt")), 7);
    assert_int_equal(json_object_size(j), 8);
    json_decref(j);
    tn_principal_release(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalekit_shape),
        cmocka_unit_test(test_string_scope_and_org_id),
        cmocka_unit_test(test_keycloak_nested_roles),
        cmocka_unit_test(test_fail_closed),
        cmocka_unit_test(test_scope_hierarchy),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_whoami_json),
    };
    return cmocka_run_group_tests_name("claims", tests, NULL, NULL);
}
