/* Which account an upstream identity signs in to (auth/signin/link.h), on either backend
 * (PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite): one table of cases (known
 * identity, verified email match, unverified email, no account, disabled account, ...)
 * with the exact result, decision, account and what is linked afterwards; and the audit
 * record of a sign-in (auth/signin/audit.h) as the store reads it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/signin/audit.h"
#include "auth/signin/link.h"
#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_signin_link_XXXXXX"
#include "store_fixture.h"

static const char ISS[] = "https://social.example";

static void add_user(struct tn_store *s, const char *id, const char *email, bool disabled)
{
    struct tn_user u = {.created_at = 1, .disabled = disabled};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "User %s", id);
    snprintf(u.role, sizeof u.role, "editor");
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static void link_id(struct tn_store *s, const char *sub, const char *user)
{
    struct tn_identity i = {.created_at = 10, .last_used_at = 10};
    snprintf(i.issuer, sizeof i.issuer, "%s", ISS);
    snprintf(i.subject, sizeof i.subject, "%s", sub);
    snprintf(i.user_id, sizeof i.user_id, "%s", user);
    assert_int_equal(tn_store_identity_link(s, &i), TN_OK);
}

/* The accounts every case starts with: alice and bob active, erin disabled; alice's
 * upstream identity "sub-alice" linked; "sub-erin" linked to erin; "sub-bob-elsewhere"
 * linked to bob. */
static void accounts(struct tn_store *s)
{
    add_user(s, "u_alice", "alice@example.com", false);
    add_user(s, "u_bob", "bob@example.com", false);
    add_user(s, "u_erin", "erin@example.com", true);
    link_id(s, "sub-alice", "u_alice");
    link_id(s, "sub-erin", "u_erin");
    link_id(s, "sub-bob-elsewhere", "u_bob");
}

struct link_case {
    const char *name;
    const char *iss, *sub, *email;
    bool verified;
    enum tn_err rc;
    enum tn_signin_link how;
    const char *user;   /* *out's id afterwards ("" zeroed) */
    const char *linked; /* who (iss, sub) belongs to afterwards ("" nobody) */
};

static const struct link_case cases[] = {
    {"known identity", ISS, "sub-alice", "alice@example.com", true, TN_OK, TN_SIGNIN_LINK_KNOWN,
     "u_alice", "u_alice"},
    {"known identity, email unverified (not needed)", ISS, "sub-alice", NULL, false, TN_OK,
     TN_SIGNIN_LINK_KNOWN, "u_alice", "u_alice"},
    {"known identity wins over the email it asserts", ISS, "sub-bob-elsewhere", "alice@example.com",
     true, TN_OK, TN_SIGNIN_LINK_KNOWN, "u_bob", "u_bob"},
    {"verified email of an account: linked", ISS, "sub-new", "alice@example.com", true, TN_OK,
     TN_SIGNIN_LINK_LINKED, "u_alice", "u_alice"},
    {"verified email in other case: linked", ISS, "sub-new", "ALICE@Example.COM", true, TN_OK,
     TN_SIGNIN_LINK_LINKED, "u_alice", "u_alice"},
    {"unverified email of an account: refused", ISS, "sub-new", "alice@example.com", false,
     TN_ERR_FORBIDDEN, TN_SIGNIN_LINK_UNVERIFIED, "", ""},
    {"verified but no email: refused", ISS, "sub-new", NULL, true, TN_ERR_FORBIDDEN,
     TN_SIGNIN_LINK_UNVERIFIED, "", ""},
    {"verified but empty email: refused", ISS, "sub-new", "", true, TN_ERR_FORBIDDEN,
     TN_SIGNIN_LINK_UNVERIFIED, "", ""},
    {"verified email without an account", ISS, "sub-new", "dave@example.com", true,
     TN_ERR_FORBIDDEN, TN_SIGNIN_LINK_NO_ACCOUNT, "", ""},
    {"unverified email without an account", ISS, "sub-new", "dave@example.com", false,
     TN_ERR_FORBIDDEN, TN_SIGNIN_LINK_UNVERIFIED, "", ""},
    {"verified email of a disabled account: refused, not linked", ISS, "sub-new",
     "erin@example.com", true, TN_ERR_FORBIDDEN, TN_SIGNIN_LINK_DISABLED, "u_erin", ""},
    {"known identity of a disabled account: refused", ISS, "sub-erin", "erin@example.com", true,
     TN_ERR_FORBIDDEN, TN_SIGNIN_LINK_DISABLED, "u_erin", "u_erin"},
    {"the same subject at another issuer is another identity", "https://other.example", "sub-alice",
     "bob@example.com", true, TN_OK, TN_SIGNIN_LINK_LINKED, "u_bob", "u_bob"},
    {"no subject", ISS, "", "alice@example.com", true, TN_ERR_BAD_INPUT, TN_SIGNIN_LINK_NONE, "",
     ""},
    {"no issuer", "", "sub-new", "alice@example.com", true, TN_ERR_BAD_INPUT, TN_SIGNIN_LINK_NONE,
     "", ""},
    {"an issuer too long to store",
     "https://long.example/"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     "sub-new", "alice@example.com", true, TN_ERR_BAD_INPUT, TN_SIGNIN_LINK_NONE, "", ""},
};

static void test_link_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct link_case *c = &cases[i];
        struct fx *f = NULL;
        setup((void **)&f);
        accounts(f->s);
        struct tn_oidc_identity id = {.iss = (char *)c->iss,
                                      .sub = (char *)c->sub,
                                      .email = (char *)c->email,
                                      .email_verified = c->verified};
        struct tn_user u;
        memset(&u, 0x5a, sizeof u);
        enum tn_signin_link how = (enum tn_signin_link)99;
        enum tn_err rc = tn_signin_oidc_link(f->s, &id, 500, &u, &how);
        if (rc != c->rc || how != c->how || strcmp(u.id, c->user))
            print_error("case '%s': got %s, %s, '%s'\n", c->name, tn_err_name(rc),
                        tn_signin_link_name(how), u.id);
        assert_int_equal(rc, c->rc);
        assert_int_equal(how, c->how);
        assert_string_equal(u.id, c->user);
        if (!c->user[0])
            assert_string_equal(u.email, ""); /* zeroed */
        struct tn_identity got;
        enum tn_err g = c->iss[0] && c->sub[0] && strlen(c->iss) < sizeof got.issuer
                            ? tn_store_identity_get(f->s, c->iss, c->sub, &got)
                            : TN_ERR_NOT_FOUND;
        if (c->linked[0]) {
            assert_int_equal(g, TN_OK);
            assert_string_equal(got.user_id, c->linked);
            if (how == TN_SIGNIN_LINK_LINKED) { /* the address linked, lower-case */
                char lower[256];
                snprintf(lower, sizeof lower, "%s", c->email);
                for (char *p = lower; *p; p++)
                    *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
                assert_string_equal(got.email, lower);
                assert_int_equal(got.created_at, 500);
            }
            /* a sign-in touches the identity; a refused one does not */
            assert_int_equal(got.last_used_at, rc == TN_OK ? 500 : 10);
        } else {
            assert_int_equal(g, TN_ERR_NOT_FOUND);
        }
        teardown((void **)&f);
    }
}

/* A second sign-in of a newly linked identity is "known", and the link is not doubled. */
static void test_link_then_known(void **state)
{
    struct fx *f = *state;
    accounts(f->s);
    struct tn_oidc_identity id = {
        .iss = (char *)ISS, .sub = "sub-2", .email = "bob@example.com", .email_verified = true};
    struct tn_user u;
    enum tn_signin_link how;
    assert_int_equal(tn_signin_oidc_link(f->s, &id, 100, &u, &how), TN_OK);
    assert_int_equal(how, TN_SIGNIN_LINK_LINKED);
    /* the address changes upstream, and is no longer verified: the link holds */
    id.email = "someone@else.example";
    id.email_verified = false;
    assert_int_equal(tn_signin_oidc_link(f->s, &id, 200, &u, &how), TN_OK);
    assert_int_equal(how, TN_SIGNIN_LINK_KNOWN);
    assert_string_equal(u.id, "u_bob");
    /* once the account is disabled, the identity no longer signs in */
    u.disabled = true;
    assert_int_equal(tn_store_user_update(f->s, &u), TN_OK);
    assert_int_equal(tn_signin_oidc_link(f->s, &id, 300, &u, &how), TN_ERR_FORBIDDEN);
    assert_int_equal(how, TN_SIGNIN_LINK_DISABLED);
    struct tn_identity got;
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-2", &got), TN_OK);
    assert_int_equal(got.last_used_at, 200);
}

static void test_no_account_hook(void **state)
{
    struct fx *f = *state;
    struct tn_oidc_identity id = {
        .iss = (char *)ISS, .sub = "s", .email = "x@example.com", .email_verified = true};
    struct tn_user u;
    memset(&u, 0x5a, sizeof u);
    assert_int_equal(tn_signin_oidc_no_account(f->s, &id, "x@example.com", 1, &u),
                     TN_ERR_NOT_FOUND);
    assert_string_equal(u.id, "");
    assert_string_equal(tn_signin_link_name(TN_SIGNIN_LINK_NO_ACCOUNT), "no_account");
    assert_string_equal(tn_signin_link_name(TN_SIGNIN_LINK_UNVERIFIED), "unverified_email");
    assert_string_equal(tn_signin_link_name((enum tn_signin_link)42), "none");
}

/* An invited address that an upstream provider vouches for: tn_signin_oidc_link creates
 * the invited account (the invitation's role and organization), links the identity to it,
 * and the invitation is spent: the next identity with that email finds the account, not
 * a second invitation. An unverified email with a pending invitation gets nothing. */
static void test_invited_identity(void **state)
{
    struct fx *f = *state;
    struct tn_org o = {.created_at = 1};
    snprintf(o.id, sizeof o.id, "org_inv");
    snprintf(o.name, sizeof o.name, "Invited Org");
    assert_int_equal(tn_store_org_insert(f->s, &o), TN_OK);
    struct tn_invitation v = {.created_at = 1, .expires_at = 100000};
    memset(v.hash, 0x42, sizeof v.hash);
    snprintf(v.email, sizeof v.email, "new@example.com");
    snprintf(v.role, sizeof v.role, "viewer");
    snprintf(v.org_id, sizeof v.org_id, "org_inv");
    assert_int_equal(tn_store_invitation_insert(f->s, &v), TN_OK);

    struct tn_user u;
    enum tn_signin_link how;
    struct tn_oidc_identity unverified = {
        .iss = (char *)ISS, .sub = "sub-new0", .email = "new@example.com", .email_verified = false};
    assert_int_equal(tn_signin_oidc_link(f->s, &unverified, 50, &u, &how), TN_ERR_FORBIDDEN);
    assert_int_equal(how, TN_SIGNIN_LINK_UNVERIFIED);

    struct tn_oidc_identity id = {
        .iss = (char *)ISS, .sub = "sub-new", .email = "New@Example.com", .email_verified = true};
    assert_int_equal(tn_signin_oidc_link(f->s, &id, 60, &u, &how), TN_OK);
    assert_int_equal(how, TN_SIGNIN_LINK_LINKED);
    assert_string_equal(u.email, "new@example.com");
    assert_string_equal(u.role, "viewer");
    assert_string_equal(u.org_id, "org_inv");
    struct tn_invitation got;
    assert_int_equal(tn_store_invitation_get(f->s, v.hash, &got), TN_OK);
    assert_int_equal(got.used_at, 60);
    struct tn_identity link;
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-new", &link), TN_OK);
    assert_string_equal(link.user_id, u.id);

    /* the same identity again: known, the same account */
    struct tn_user again;
    assert_int_equal(tn_signin_oidc_link(f->s, &id, 70, &again, &how), TN_OK);
    assert_int_equal(how, TN_SIGNIN_LINK_KNOWN);
    assert_string_equal(again.id, u.id);
}

struct rows {
    struct tn_audit a[8];
    size_t n;
};

static void collect(const struct tn_audit *a, void *ud)
{
    struct rows *r = ud;
    if (r->n < 8)
        r->a[r->n++] = *a;
}

static void test_audit_records(void **state)
{
    struct fx *f = *state;
    tn_signin_audit(f->s, "oidc:social", "u_alice", "org_1", "client-1", TN_SIGNIN_AUDIT_OK,
                    "linked");
    tn_signin_audit(f->s, "password", NULL, NULL, NULL, TN_SIGNIN_AUDIT_DENIED, "no_account");
    tn_signin_audit(f->s, "email", "", "", "", NULL, NULL);
    tn_signin_audit(NULL, "email", "u", "", "", NULL, NULL); /* no store: nothing */
    tn_signin_audit(f->s, NULL, "u", "", "", NULL, NULL);    /* no method: nothing */
    assert_int_equal(tn_store_audit_flush(f->s), TN_OK);
    struct rows r = {.n = 0};
    assert_int_equal(tn_store_audit_list(f->s, 10, collect, &r), TN_OK);
    assert_int_equal(r.n, 3);
    /* newest first */
    assert_string_equal(r.a[0].tool, "signin:email");
    assert_string_equal(r.a[0].user, "-");
    assert_string_equal(r.a[0].outcome, "ok");
    assert_string_equal(r.a[0].note_id, "");
    assert_string_equal(r.a[1].tool, "signin:password");
    assert_string_equal(r.a[1].user, "-");
    assert_string_equal(r.a[1].client_id, "");
    assert_string_equal(r.a[1].outcome, "denied");
    assert_string_equal(r.a[1].note_id, "no_account");
    assert_string_equal(r.a[2].tool, "signin:oidc:social");
    assert_string_equal(r.a[2].user, "u_alice");
    assert_string_equal(r.a[2].org, "org_1");
    assert_string_equal(r.a[2].client_id, "client-1");
    assert_string_equal(r.a[2].outcome, "ok");
    assert_string_equal(r.a[2].note_id, "linked");
}

static void test_reason_codes(void **state)
{
    (void)state;
    char out[32];
    tn_signin_oidc_reason_code(TN_OIDC_ID_TOKEN_NONCE_MISMATCH, out);
    assert_string_equal(out, "id_token_nonce_mismatch");
    tn_signin_oidc_reason_code(TN_OIDC_STATE_MISMATCH, out);
    assert_string_equal(out, "state_mismatch");
    /* every reason fits the audit column and is a plain word */
    for (int r = 0; r < TN_OIDC__COUNT; r++) {
        tn_signin_oidc_reason_code(r, out);
        assert_true(strlen(out) > 0 && strlen(out) < 32);
        assert_int_equal(strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen(out));
    }
}

int main(void)
{
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_table), cmocka_unit_test(test_reason_codes),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_link_then_known),           T(test_no_account_hook),
        T(test_invited_identity),          T(test_audit_records),
#undef T
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
