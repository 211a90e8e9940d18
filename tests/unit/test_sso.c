/* Enterprise SSO rules (#18, auth/signin/sso.h): domain validation against hostile forms,
 * the role mapping table, the require_sso check, the sealed client secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/signin/sso.h"
#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_sso_XXXXXX"
#include "store_fixture.h"

/* ---------- domains ---------- */

static const struct {
    const char *in;
    enum tn_err rc;
    const char *out; /* on TN_OK */
    const char *why; /* on refusal */
} domains[] = {
    {"a.example", TN_OK, "a.example", NULL},
    {"A.Example", TN_OK, "a.example", NULL}, /* lowered */
    {"MAIL.A-B.EXAMPLE.COM", TN_OK, "mail.a-b.example.com", NULL},
    {"a.example.evil", TN_OK, "a.example.evil", NULL}, /* valid; matches only itself */
    {"xn--bcher-kva.example", TN_OK, "xn--bcher-kva.example", NULL}, /* punycode form */
    {"x1.example9", TN_OK, "x1.example9", NULL},
    {"", TN_ERR_BAD_INPUT, NULL, "the domain is empty"},
    {"a.example.", TN_ERR_BAD_INPUT, NULL,
     "the domain ends with a dot: give it without the trailing dot"},
    {"a.example..", TN_ERR_BAD_INPUT, NULL,
     "the domain ends with a dot: give it without the trailing dot"},
    {".a.example", TN_ERR_BAD_INPUT, NULL,
     "the domain has an empty label (two dots in a row, or a leading dot)"},
    {"a..example", TN_ERR_BAD_INPUT, NULL,
     "the domain has an empty label (two dots in a row, or a leading dot)"},
    {"b\xc3\xbc"
     "cher.example",
     TN_ERR_BAD_INPUT, NULL,
     "the domain is not ASCII: give an internationalized domain in its punycode form (xn--...)"},
    {"a.\xd0\xb5xample", TN_ERR_BAD_INPUT, NULL, /* Cyrillic e: a homograph */
     "the domain is not ASCII: give an internationalized domain in its punycode form (xn--...)"},
    {"127.0.0.1", TN_ERR_BAD_INPUT, NULL, "the domain looks like an IP address: give a DNS name"},
    {"10.1.2.300", TN_ERR_BAD_INPUT, NULL, "the domain looks like an IP address: give a DNS name"},
    {"[::1]", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"::1", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"a.example:443", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"user@a.example", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"a_b.example", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"a.example\n", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"a example", TN_ERR_BAD_INPUT, NULL,
     "the domain may hold only letters, digits, hyphens and dots (no address, port, brackets or "
     "'@')"},
    {"-a.example", TN_ERR_BAD_INPUT, NULL, "a label of the domain starts or ends with a hyphen"},
    {"a-.example", TN_ERR_BAD_INPUT, NULL, "a label of the domain starts or ends with a hyphen"},
    {"ab--c.example", TN_ERR_BAD_INPUT, NULL,
     "a label of the domain has \"--\" in third and fourth place (reserved except for xn--)"},
    {"localhost", TN_ERR_BAD_INPUT, NULL,
     "the domain needs at least two labels (e.g. example.com)"},
    {"com", TN_ERR_BAD_INPUT, NULL, "the domain needs at least two labels (e.g. example.com)"},
    {".", TN_ERR_BAD_INPUT, NULL, "the domain ends with a dot: give it without the trailing dot"},
};

static void test_domain_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
        char out[TN_SSO_DOMAIN_MAX + 1];
        const char *why = "unset";
        print_message("case %zu: '%s'\n", i, domains[i].in);
        assert_int_equal(tn_sso_domain_normalise(domains[i].in, out, &why), domains[i].rc);
        if (domains[i].rc == TN_OK) {
            assert_string_equal(out, domains[i].out);
            assert_string_equal(why, "unset");
        } else {
            assert_string_equal(out, "");
            assert_string_equal(why, domains[i].why);
        }
    }
}

static void test_domain_lengths(void **state)
{
    (void)state;
    char in[400], out[TN_SSO_DOMAIN_MAX + 1];
    const char *why = NULL;
    /* a label of 63 is fine, of 64 not */
    snprintf(in, sizeof in, "%.63s.example",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(tn_sso_domain_normalise(in, out, &why), TN_OK);
    snprintf(in, sizeof in, "%.64s.example",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(tn_sso_domain_normalise(in, out, &why), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "a label of the domain is longer than 63 characters");
    /* 253 in all is fine, 254 not: labels "a." repeated */
    size_t n = 0;
    while (n + 2 <= 251) {
        in[n++] = 'a';
        in[n++] = '.';
    }
    memcpy(in + n, "com", 4); /* 250 + 3 = 253 */
    assert_int_equal(strlen(in), 253);
    assert_int_equal(tn_sso_domain_normalise(in, out, &why), TN_OK);
    assert_string_equal(out, in);
    memcpy(in + n, "comx", 5);
    assert_int_equal(strlen(in), 254);
    assert_int_equal(tn_sso_domain_normalise(in, out, &why), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "the domain is longer than 253 characters");
    assert_string_equal(out, "");
    assert_int_equal(tn_sso_domain_normalise(NULL, out, &why), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "the domain is empty");
    assert_int_equal(tn_sso_domain_normalise("a.example.", out, NULL), TN_ERR_BAD_INPUT);
}

static void test_email_domain(void **state)
{
    (void)state;
    char out[TN_SSO_DOMAIN_MAX + 1];
    assert_int_equal(tn_sso_email_domain("Alice@A.Example", out), TN_OK);
    assert_string_equal(out, "a.example");
    /* the last '@' decides: a quoted local part cannot smuggle a domain */
    assert_int_equal(tn_sso_email_domain("\"x@a.example\"@b.example", out), TN_OK);
    assert_string_equal(out, "b.example");
    assert_int_equal(tn_sso_email_domain("alice@a.example.", out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_sso_email_domain("alice@[127.0.0.1]", out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_sso_email_domain("alice", out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_sso_email_domain("@a.example", out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_sso_email_domain("alice@", out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_sso_email_domain(NULL, out), TN_ERR_BAD_INPUT);
    assert_string_equal(out, "");
}

/* ---------- role mapping ---------- */

static const struct {
    const char *spec;
    const char *json; /* NULL: refused with why */
    const char *why;
} maps[] = {
    {"", "{}", NULL},
    {"admins=admin", "{\"admins\":\"admin\"}", NULL},
    {"staff=viewer,admins=admin,dev=editor",
     "{\"staff\":\"viewer\",\"admins\":\"admin\",\"dev\":\"editor\"}", NULL}, /* order kept */
    {"Team Leads=editor", "{\"Team Leads\":\"editor\"}", NULL},
    {"cn=x,ou=y", NULL, "--role-map: a role is not one of viewer, editor, admin"},
    {"admins=owner", NULL, "--role-map: a role is not one of viewer, editor, admin"},
    {"admins=Admin", NULL, "--role-map: a role is not one of viewer, editor, admin"},
    {"admins=", NULL, "--role-map: a role is not one of viewer, editor, admin"},
    {"=admin", NULL, "--role-map: a group name is empty, too long or has control characters"},
    {"admins", NULL, "--role-map takes group=role pairs separated by commas"},
    {"a=admin,,b=viewer", NULL, "--role-map takes group=role pairs separated by commas"},
    {"a=admin,", NULL, "--role-map ends with a comma"},
    {"a=admin,a=viewer", NULL, "--role-map names a group twice"},
    {"a\tb=admin", NULL, "--role-map: a group name is empty, too long or has control characters"},
};

static void test_role_map_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        const char *why = "unset";
        print_message("case %zu: '%s'\n", i, maps[i].spec);
        char *j = tn_sso_role_map_parse(maps[i].spec, &why);
        if (maps[i].json) {
            assert_non_null(j);
            assert_string_equal(j, maps[i].json);
            assert_string_equal(why, "unset");
        } else {
            assert_null(j);
            assert_string_equal(why, maps[i].why);
        }
        free(j);
    }
    /* 32 entries are fine, 33 not */
    char spec[1024] = "";
    for (int i = 0; i < 33; i++)
        snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%sg%d=viewer", i ? "," : "", i);
    const char *why = NULL;
    assert_null(tn_sso_role_map_parse(spec, &why));
    assert_string_equal(why, "--role-map has more than 32 entries");
    *strrchr(spec, ',') = '\0';
    char *j = tn_sso_role_map_parse(spec, &why);
    assert_non_null(j);
    free(j);
    char big[300];
    memset(big, 'g', 200);
    memcpy(big + 200, "=admin", 7);
    assert_null(tn_sso_role_map_parse(big, &why));
    assert_string_equal(why,
                        "--role-map: a group name is empty, too long or has control characters");
}

static const char MAP[] = "{\"staff\":\"viewer\",\"admins\":\"admin\",\"dev\":\"editor\"}";

static const struct {
    const char *map;
    const char *groups[4];
    size_t n;
    const char *def;
    enum tn_err rc;
    const char *role;
} roles[] = {
    {MAP, {"admins"}, 1, "viewer", TN_OK, "admin"},
    {MAP, {"dev", "admins"}, 2, "viewer", TN_OK, "admin"},    /* the map's order decides */
    {MAP, {"admins", "staff"}, 2, "editor", TN_OK, "viewer"}, /* staff is first in the map */
    {MAP, {"unknown", "dev"}, 2, "viewer", TN_OK, "editor"},  /* unknown groups ignored */
    {MAP, {"Admins"}, 1, "viewer", TN_OK, "viewer"},          /* exact, case-sensitive */
    {MAP, {"admins "}, 1, "editor", TN_OK, "editor"},
    {MAP, {0}, 0, "editor", TN_OK, "editor"},
    {"{}", {"admins"}, 1, "viewer", TN_OK, "viewer"},
    {"", {"admins"}, 1, "viewer", TN_OK, "viewer"},
    {MAP, {0}, 0, "owner", TN_ERR_CONFIG, ""}, /* an invalid default */
    {MAP, {0}, 0, NULL, TN_ERR_CONFIG, ""},
    {"{\"x\":\"root\"}", {"x"}, 1, "viewer", TN_ERR_CONFIG, ""}, /* an invalid mapped role */
    {"{\"x\":1}", {"x"}, 1, "viewer", TN_ERR_CONFIG, ""},
    {"[\"x\"]", {"x"}, 1, "viewer", TN_ERR_CONFIG, ""},
    {"{not json", {"x"}, 1, "viewer", TN_ERR_CONFIG, ""},
};

static void test_role_for(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        char out[16] = "junk";
        print_message("case %zu\n", i);
        assert_int_equal(
            tn_sso_role_for(roles[i].map, roles[i].groups, roles[i].n, roles[i].def, out),
            roles[i].rc);
        assert_string_equal(out, roles[i].role);
    }
}

/* ---------- require_sso, on a real store ---------- */

static void put(struct tn_store *s, const char *org, const char *name, const char *domain, bool sso,
                bool require)
{
    struct tn_org o = {.created_at = 1};
    snprintf(o.id, sizeof o.id, "%s", org);
    snprintf(o.name, sizeof o.name, "%s", name);
    assert_int_equal(tn_store_org_insert(s, &o), TN_OK);
    struct tn_org_domain d = {.created_at = 1};
    snprintf(d.domain, sizeof d.domain, "%s", domain);
    snprintf(d.org_id, sizeof d.org_id, "%s", org);
    assert_int_equal(tn_store_org_domain_add(s, &d), TN_OK);
    if (!sso)
        return;
    struct tn_org_sso c = {.require_sso = require, .updated_at = 1};
    snprintf(c.org_id, sizeof c.org_id, "%s", org);
    snprintf(c.issuer, sizeof c.issuer, "https://idp.%s", domain);
    snprintf(c.client_id, sizeof c.client_id, "teamnotes");
    snprintf(c.client_secret, sizeof c.client_secret, "tnk1:x");
    snprintf(c.role_map, sizeof c.role_map, "{}");
    snprintf(c.default_role, sizeof c.default_role, "viewer");
    assert_int_equal(tn_store_org_sso_put(s, &c), TN_OK);
}

static void test_sso_required(void **state)
{
    struct fx *f = *state;
    put(f->s, "org_a", "A", "a.example", true, true);   /* requires SSO */
    put(f->s, "org_b", "B", "b.example", true, false);  /* SSO, not required */
    put(f->s, "org_c", "C", "c.example", false, false); /* a domain, no connection */
    assert_true(tn_signin_sso_required(f->s, "alice@a.example"));
    assert_true(tn_signin_sso_required(f->s, "Nobody@A.EXAMPLE")); /* no account needed */
    assert_false(tn_signin_sso_required(f->s, "bob@b.example"));
    assert_false(tn_signin_sso_required(f->s, "carol@c.example"));
    assert_false(tn_signin_sso_required(f->s, "dave@d.example"));
    /* only the domain itself: no child, parent or look-alike */
    assert_false(tn_signin_sso_required(f->s, "x@sub.a.example"));
    assert_false(tn_signin_sso_required(f->s, "x@a.example.evil"));
    assert_false(tn_signin_sso_required(f->s, "x@aa.example"));
    assert_false(tn_signin_sso_required(f->s, "x@a.example."));
    assert_false(tn_signin_sso_required(f->s, "a.example"));
    assert_false(tn_signin_sso_required(f->s, ""));
    assert_false(tn_signin_sso_required(f->s, NULL));
    /* the requirement follows the settings */
    struct tn_org_sso c;
    assert_int_equal(tn_store_org_sso_get(f->s, "org_a", &c), TN_OK);
    c.require_sso = false;
    assert_int_equal(tn_store_org_sso_put(f->s, &c), TN_OK);
    assert_false(tn_signin_sso_required(f->s, "alice@a.example"));
}

/* ---------- the sealed client secret ---------- */

static void test_secret_sealing(void **state)
{
    (void)state;
    uint8_t k1[32], k2[32];
    memset(k1, 1, sizeof k1);
    memset(k2, 2, sizeof k2);
    char sealed[1024], clear[600];
    assert_int_equal(tn_sso_secret_seal(k1, 32, "org_a", "s3cret value", sealed, sizeof sealed),
                     TN_OK);
    assert_int_equal(strncmp(sealed, "tnk1:", 5), 0);
    assert_null(strstr(sealed, "s3cret"));
    assert_int_equal(tn_sso_secret_open(k1, 32, "org_a", sealed, clear, sizeof clear), TN_OK);
    assert_string_equal(clear, "s3cret value");
    /* another server secret, or the row moved to another organization: does not open */
    assert_int_equal(tn_sso_secret_open(k2, 32, "org_a", sealed, clear, sizeof clear),
                     TN_ERR_CONFIG);
    assert_int_equal(tn_sso_secret_open(k1, 32, "org_b", sealed, clear, sizeof clear),
                     TN_ERR_CONFIG);
    assert_string_equal(clear, "");
    assert_int_equal(tn_sso_secret_open(k1, 32, "org_a", "plain", clear, sizeof clear),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_sso_secret_seal(k1, 32, "org_a", "", sealed, sizeof sealed),
                     TN_ERR_BAD_INPUT);
}

int main(void)
{
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_table),
        cmocka_unit_test(test_domain_lengths),
        cmocka_unit_test(test_email_domain),
        cmocka_unit_test(test_role_map_parse),
        cmocka_unit_test(test_role_for),
        cmocka_unit_test_setup_teardown(test_sso_required, setup, teardown),
        cmocka_unit_test(test_secret_sealing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
