/* Organization domains and SSO connections in the store (#18) on either backend
 * (PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite): add, get, remove, list,
 * put (create and replace), delete, count, their exact errors and hostile arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_sso_store_XXXXXX"
#include "store_fixture.h"

static void add_org(struct tn_store *s, const char *id, const char *name)
{
    struct tn_org o = {.created_at = 1};
    snprintf(o.id, sizeof o.id, "%s", id);
    snprintf(o.name, sizeof o.name, "%s", name);
    assert_int_equal(tn_store_org_insert(s, &o), TN_OK);
}

static struct tn_org_domain dom(const char *domain, const char *org, int64_t at)
{
    struct tn_org_domain d = {.created_at = at};
    snprintf(d.domain, sizeof d.domain, "%s", domain);
    snprintf(d.org_id, sizeof d.org_id, "%s", org);
    return d;
}

static struct tn_org_sso conn(const char *org, const char *iss, int64_t at)
{
    struct tn_org_sso c = {.require_sso = true, .allow_signup = false, .updated_at = at};
    snprintf(c.org_id, sizeof c.org_id, "%s", org);
    snprintf(c.issuer, sizeof c.issuer, "%s", iss);
    snprintf(c.client_id, sizeof c.client_id, "client-%s", org);
    snprintf(c.client_secret, sizeof c.client_secret, "tnk1:sealed");
    snprintf(c.scopes, sizeof c.scopes, "openid email groups");
    snprintf(c.groups_claim, sizeof c.groups_claim, "groups");
    snprintf(c.role_map, sizeof c.role_map, "{\"b\":\"admin\",\"a\":\"editor\"}");
    snprintf(c.default_role, sizeof c.default_role, "viewer");
    return c;
}

struct seen {
    int n;
    char v[4][254];
};

static void collect(const struct tn_org_domain *d, void *ud)
{
    struct seen *s = ud;
    if (s->n < 4)
        snprintf(s->v[s->n], sizeof s->v[0], "%s", d->domain);
    s->n++;
}

static void test_domains(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "org_a", "A");
    add_org(f->s, "org_b", "B");
    struct tn_org_domain out;
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example", &out), TN_ERR_NOT_FOUND);
    assert_string_equal(out.org_id, ""); /* zeroed on failure */

    struct tn_org_domain d = dom("a.example", "org_a", 10);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_OK);
    d = dom("z.a.example", "org_a", 11);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_OK);
    d = dom("b.example", "org_b", 12);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_OK);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example", &out), TN_OK);
    assert_string_equal(out.domain, "a.example");
    assert_string_equal(out.org_id, "org_a");
    assert_int_equal(out.created_at, 10);

    /* one organization per domain: again, or by another, is a conflict */
    d = dom("a.example", "org_a", 13);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_CONFLICT);
    d = dom("a.example", "org_b", 13);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_CONFLICT);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example", &out), TN_OK);
    assert_string_equal(out.org_id, "org_a");
    /* an unknown organization */
    d = dom("c.example", "org_nope", 13);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_NOT_FOUND);

    /* exact match only: no parent, child or suffix */
    assert_int_equal(tn_store_org_domain_get(f->s, "example", &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_domain_get(f->s, "x.a.example", &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example.evil", &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_domain_get(f->s, "aa.example", &out), TN_ERR_NOT_FOUND);

    struct seen s = {0};
    assert_int_equal(tn_store_org_domain_list(f->s, "org_a", collect, &s), TN_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "a.example"); /* byte order */
    assert_string_equal(s.v[1], "z.a.example");
    memset(&s, 0, sizeof s);
    assert_int_equal(tn_store_org_domain_list(f->s, "org_none", collect, &s), TN_OK);
    assert_int_equal(s.n, 0);

    /* removing needs the owner */
    assert_int_equal(tn_store_org_domain_remove(f->s, "org_b", "a.example"), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example", &out), TN_OK);
    assert_int_equal(tn_store_org_domain_remove(f->s, "org_a", "a.example"), TN_OK);
    assert_int_equal(tn_store_org_domain_remove(f->s, "org_a", "a.example"), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example", &out), TN_ERR_NOT_FOUND);
    /* then another organization may take it */
    d = dom("a.example", "org_b", 14);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_OK);
}

static void test_domain_bad_input(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "org_a", "A");
    struct tn_org_domain out, d;
    /* upper case never reaches the table: the store refuses it */
    d = dom("A.example", "org_a", 1);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_get(f->s, "A.example", &out), TN_ERR_BAD_INPUT);
    d = dom("", "org_a", 1);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_BAD_INPUT);
    d = dom("a.example", "", 1);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_BAD_INPUT);
    d = dom("a.example", "org_a", 1);
    memset(d.domain, 'x', sizeof d.domain); /* not terminated */
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_add(NULL, &d), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_add(f->s, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_get(f->s, NULL, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_get(f->s, "a.example", NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_remove(f->s, "", "a.example"), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_remove(f->s, "org_a", NULL), TN_ERR_BAD_INPUT);
    struct seen s = {0};
    assert_int_equal(tn_store_org_domain_list(f->s, "org_a", NULL, &s), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_domain_list(f->s, "", collect, &s), TN_ERR_BAD_INPUT);
    /* SQL in a value is data */
    d = dom("x' or '1'='1", "org_a", 1);
    assert_int_equal(tn_store_org_domain_add(f->s, &d), TN_OK);
    assert_int_equal(tn_store_org_domain_get(f->s, "x", &out), TN_ERR_NOT_FOUND);
}

static void test_connection(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "org_a", "A");
    add_org(f->s, "org_b", "B");
    struct tn_org_sso out;
    int64_t n = -1;
    assert_int_equal(tn_store_org_sso_count(f->s, &n), TN_OK);
    assert_int_equal(n, 0);
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &out), TN_ERR_NOT_FOUND);
    assert_string_equal(out.issuer, "");

    struct tn_org_sso c = conn("org_a", "https://idp.a.example", 100);
    assert_int_equal(tn_store_org_sso_put(f->s, &c), TN_OK);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &out), TN_OK);
    assert_string_equal(out.org_id, "org_a");
    assert_string_equal(out.issuer, "https://idp.a.example");
    assert_string_equal(out.client_id, "client-org_a");
    assert_string_equal(out.client_secret, "tnk1:sealed");
    assert_string_equal(out.scopes, "openid email groups");
    assert_string_equal(out.groups_claim, "groups");
    /* the map's order is kept byte for byte (no JSON reordering) */
    assert_string_equal(out.role_map, "{\"b\":\"admin\",\"a\":\"editor\"}");
    assert_string_equal(out.default_role, "viewer");
    assert_true(out.require_sso);
    assert_false(out.allow_signup);
    assert_int_equal(out.updated_at, 100);

    /* put again replaces */
    c = conn("org_a", "https://other.a.example", 200);
    c.require_sso = false;
    c.allow_signup = true;
    snprintf(c.default_role, sizeof c.default_role, "editor");
    snprintf(c.groups_claim, sizeof c.groups_claim, "%s", "");
    assert_int_equal(tn_store_org_sso_put(f->s, &c), TN_OK);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &out), TN_OK);
    assert_string_equal(out.issuer, "https://other.a.example");
    assert_string_equal(out.default_role, "editor");
    assert_string_equal(out.groups_claim, "");
    assert_false(out.require_sso);
    assert_true(out.allow_signup);
    assert_int_equal(out.updated_at, 200);
    assert_int_equal(tn_store_org_sso_count(f->s, &n), TN_OK);
    assert_int_equal(n, 1);

    c = conn("org_b", "https://idp.b.example", 300);
    assert_int_equal(tn_store_org_sso_put(f->s, &c), TN_OK);
    assert_int_equal(tn_store_org_sso_count(f->s, &n), TN_OK);
    assert_int_equal(n, 2);

    /* an unknown organization, a role the schema refuses */
    c = conn("org_nope", "https://idp.example", 1);
    assert_int_equal(tn_store_org_sso_put(f->s, &c), TN_ERR_NOT_FOUND);
    c = conn("org_a", "https://idp.example", 1);
    snprintf(c.default_role, sizeof c.default_role, "owner");
    assert_int_equal(tn_store_org_sso_put(f->s, &c), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &out), TN_OK);
    assert_string_equal(out.default_role, "editor"); /* unchanged */

    assert_int_equal(tn_store_org_sso_delete(f->s, "org_a"), TN_OK);
    assert_int_equal(tn_store_org_sso_delete(f->s, "org_a"), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_b", &out), TN_OK);
    assert_int_equal(tn_store_org_sso_count(f->s, &n), TN_OK);
    assert_int_equal(n, 1);
}

static void test_connection_bad_input(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "org_a", "A");
    struct tn_org_sso out, c = conn("org_a", "https://idp.example", 1), bad;
    assert_int_equal(tn_store_org_sso_put(NULL, &c), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_sso_put(f->s, NULL), TN_ERR_BAD_INPUT);
    bad = c;
    bad.issuer[0] = '\0';
    assert_int_equal(tn_store_org_sso_put(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = c;
    bad.client_id[0] = '\0';
    assert_int_equal(tn_store_org_sso_put(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = c;
    bad.default_role[0] = '\0';
    assert_int_equal(tn_store_org_sso_put(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = c;
    bad.role_map[0] = '\0';
    assert_int_equal(tn_store_org_sso_put(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = c;
    memset(bad.client_secret, 'x', sizeof bad.client_secret); /* not terminated */
    assert_int_equal(tn_store_org_sso_put(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = c;
    memset(bad.org_id, 'x', sizeof bad.org_id);
    assert_int_equal(tn_store_org_sso_put(f->s, &bad), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_org_sso_get(f->s, "", &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_sso_delete(f->s, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_sso_count(f->s, NULL), TN_ERR_BAD_INPUT);
    int64_t n = 5;
    assert_int_equal(tn_store_org_sso_count(NULL, &n), TN_ERR_BAD_INPUT);
    assert_int_equal(n, 0);
}

int main(void)
{
    /* TN_TEST_DATABASE_URL: run the suite on PostgreSQL, a fresh schema per test */
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_domains),
        T(test_domain_bad_input),
        T(test_connection),
        T(test_connection_bad_input),
#undef T
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
