/* The store calls of the admin console (#19, src/store/admin.c and each backend) on either
 * backend (PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite): member search and
 * paging, last sign-in, who holds a grant of a client, moving a key's signing window, and
 * the audit log's filters with the record's detail. Each test gets a fresh store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_admin_store_XXXXXX"
#include "store_fixture.h"

/* What a callback saw, as "a;b;c;". */
struct seen {
    int n;
    char s[2048];
};

static void saw(struct seen *w, const char *item)
{
    size_t used = strlen(w->s);
    snprintf(w->s + used, sizeof w->s - used, "%s;", item);
    w->n++;
}

static void add_user(struct tn_store *s, const char *id, const char *email, const char *name)
{
    struct tn_user u = {.created_at = 100};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.role, sizeof u.role, "editor");
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static void see_email(const struct tn_user *u, void *ud) { saw(ud, u->email); }

/* The emails of one page of q, and the total. */
static enum tn_err search(struct tn_store *s, const char *text, unsigned offset, unsigned limit,
                          struct seen *w, int64_t *total)
{
    memset(w, 0, sizeof *w);
    struct tn_user_query q = {.text = text, .offset = offset, .limit = limit};
    return tn_store_user_search(s, &q, see_email, w, total);
}

/* ---------- members ---------- */

static void test_user_search(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "carol@acme.test", "Carol Smith");
    add_user(f->s, "u2", "alice@acme.test", "Alice Jones");
    add_user(f->s, "u3", "bob@other.test", "Bob ACME-fan");
    add_user(f->s, "u4", "dave@other.test", "Dave 100%_sure");
    struct seen w;
    int64_t total = -1;

    /* everyone, by email */
    assert_int_equal(search(f->s, NULL, 0, 10, &w, &total), TN_OK);
    assert_string_equal(w.s, "alice@acme.test;bob@other.test;carol@acme.test;dave@other.test;");
    assert_int_equal(total, 4);
    assert_int_equal(search(f->s, "", 0, 10, &w, &total), TN_OK);
    assert_int_equal(total, 4);

    /* a substring of the email or the name, in either case */
    assert_int_equal(search(f->s, "AcMe", 0, 10, &w, &total), TN_OK);
    assert_string_equal(w.s, "alice@acme.test;bob@other.test;carol@acme.test;");
    assert_int_equal(total, 3);
    assert_int_equal(search(f->s, "smith", 0, 10, &w, &total), TN_OK);
    assert_string_equal(w.s, "carol@acme.test;");

    /* LIKE wildcards are plain characters */
    assert_int_equal(search(f->s, "%", 0, 10, &w, &total), TN_OK);
    assert_string_equal(w.s, "dave@other.test;");
    assert_int_equal(search(f->s, "0%_s", 0, 10, &w, &total), TN_OK);
    assert_string_equal(w.s, "dave@other.test;");
    assert_int_equal(search(f->s, "_", 0, 10, &w, &total), TN_OK);
    assert_int_equal(total, 1);
    assert_int_equal(search(f->s, "nobody", 0, 10, &w, &total), TN_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(total, 0);

    /* pages: the total is the whole match, the page its slice */
    assert_int_equal(search(f->s, "acme", 1, 1, &w, &total), TN_OK);
    assert_string_equal(w.s, "bob@other.test;");
    assert_int_equal(total, 3);
    assert_int_equal(search(f->s, "acme", 2, 5, &w, &total), TN_OK);
    assert_string_equal(w.s, "carol@acme.test;");
    assert_int_equal(search(f->s, "acme", 3, 5, &w, &total), TN_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(total, 3);

    /* refused */
    char lng[TN_USER_QUERY_MAX + 2];
    memset(lng, 'a', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    assert_int_equal(search(f->s, lng, 0, 10, &w, &total), TN_ERR_BAD_INPUT);
    assert_int_equal(total, 0);
    lng[TN_USER_QUERY_MAX] = '\0'; /* the longest allowed */
    assert_int_equal(search(f->s, lng, 0, 10, &w, &total), TN_OK);
    assert_int_equal(search(f->s, "a", 0, 0, &w, &total), TN_ERR_BAD_INPUT);
    assert_int_equal(search(f->s, "a", 0, 501, &w, &total), TN_ERR_BAD_INPUT);
    struct tn_user_query q = {.limit = 1};
    assert_int_equal(tn_store_user_search(NULL, &q, see_email, &w, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_search(f->s, NULL, see_email, &w, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_search(f->s, &q, NULL, &w, NULL), TN_ERR_BAD_INPUT);
    /* total may be NULL */
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_user_search(f->s, &q, see_email, &w, NULL), TN_OK);
    assert_string_equal(w.s, "alice@acme.test;");
}

static void test_signed_in(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "a@x.test", "A");
    struct tn_user u;
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(u.last_signin_at, 0);
    assert_int_equal(tn_store_user_signed_in(f->s, "u1", 5000), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(u.last_signin_at, 5000);
    /* an older instant (another instance's clock) does not move it back */
    assert_int_equal(tn_store_user_signed_in(f->s, "u1", 4000), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(u.last_signin_at, 5000);
    /* an update of the account keeps it */
    snprintf(u.role, sizeof u.role, "viewer");
    u.last_signin_at = 1;
    assert_int_equal(tn_store_user_update(f->s, &u), TN_OK);
    assert_int_equal(tn_store_user_by_email(f->s, "a@x.test", &u), TN_OK);
    assert_int_equal(u.last_signin_at, 5000);
    assert_string_equal(u.role, "viewer");
    assert_int_equal(tn_store_user_signed_in(f->s, "nobody", 1), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_user_signed_in(f->s, "", 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_signed_in(f->s, "u1", -1), TN_ERR_BAD_INPUT);
}

/* ---------- clients ---------- */

static void add_client(struct tn_store *s, const char *id)
{
    struct tn_client c = {.created_at = 10};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.name, sizeof c.name, "Client %s", id);
    snprintf(c.redirect_uris, sizeof c.redirect_uris, "[\"http://127.0.0.1/cb\"]");
    snprintf(c.auth_method, sizeof c.auth_method, "none");
    snprintf(c.grant_types, sizeof c.grant_types, "authorization_code refresh_token");
    snprintf(c.application_type, sizeof c.application_type, "native");
    snprintf(c.metadata, sizeof c.metadata, "{}");
    assert_int_equal(tn_store_client_insert(s, &c), TN_OK);
}

static void add_refresh(struct tn_store *s, int n, const char *family, const char *client_id,
                        const char *user_id, int64_t issued, int64_t expires)
{
    struct tn_refresh r = {.issued_at = issued, .expires_at = expires};
    memset(r.hash, 0xcd, 32);
    r.hash[0] = (uint8_t)n;
    snprintf(r.family, sizeof r.family, "%s", family);
    snprintf(r.client_id, sizeof r.client_id, "%s", client_id);
    snprintf(r.user_id, sizeof r.user_id, "%s", user_id);
    snprintf(r.scope, sizeof r.scope, "notes:read");
    snprintf(r.resource, sizeof r.resource, "https://notes.example/mcp");
    assert_int_equal(tn_store_refresh_insert(s, &r), TN_OK);
}

static void see_grant(const struct tn_client_grant *g, void *ud)
{
    char line[512];
    snprintf(line, sizeof line, "%s,%s,%s,%lld,%lld,%lld", g->user_id, g->email, g->scope,
             (long long)g->consented_at, (long long)g->families, (long long)g->last_issued_at);
    saw(ud, line);
}

static void see_usage(const char *client_id, int64_t people, void *ud)
{
    char line[600];
    snprintf(line, sizeof line, "%s=%lld", client_id, (long long)people);
    saw(ud, line);
}

static void test_client_grants(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "a@x.test", "A");
    add_user(f->s, "u2", "b@x.test", "B");
    add_user(f->s, "u3", "c@x.test", "C");
    add_user(f->s, "u4", "d@x.test", "D");
    add_client(f->s, "app");
    add_client(f->s, "other");
    add_client(f->s, "idle");
    /* u1: a consent and a current token; u2: two current families, no consent;
     * u3: a revoked family only; u4: an expired token only */
    assert_int_equal(tn_store_consent_put(f->s, "u1", "app", "notes:read notes:write", 700), TN_OK);
    add_refresh(f->s, 1, "fam1", "app", "u1", 800, 9000);
    add_refresh(f->s, 2, "fam2", "app", "u2", 810, 9000);
    add_refresh(f->s, 3, "fam3", "app", "u2", 820, 9000);
    add_refresh(f->s, 4, "fam4", "app", "u3", 830, 9000);
    assert_int_equal(tn_store_family_revoke(f->s, "fam4"), TN_OK);
    add_refresh(f->s, 5, "fam5", "app", "u4", 840, 900);
    /* a rotated token does not count, its successor does */
    struct tn_refresh next = {.issued_at = 850, .expires_at = 9000};
    memset(next.hash, 0xee, 32);
    snprintf(next.family, sizeof next.family, "fam1");
    snprintf(next.client_id, sizeof next.client_id, "app");
    snprintf(next.user_id, sizeof next.user_id, "u1");
    snprintf(next.scope, sizeof next.scope, "notes:read");
    snprintf(next.resource, sizeof next.resource, "https://notes.example/mcp");
    uint8_t old[32];
    memset(old, 0xcd, 32);
    old[0] = 1;
    assert_int_equal(tn_store_refresh_rotate(f->s, old, &next, 850, NULL), TN_OK);
    assert_int_equal(tn_store_consent_put(f->s, "u3", "other", "notes:read", 710), TN_OK);

    struct seen w = {0};
    assert_int_equal(tn_store_client_grants(f->s, "app", 1000, see_grant, &w), TN_OK);
    assert_string_equal(w.s, "u1,a@x.test,notes:read notes:write,700,1,850;"
                             "u2,b@x.test,,0,2,820;");
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_client_usage(f->s, 1000, see_usage, &w), TN_OK);
    /* order is the backend's: check each */
    assert_int_equal(w.n, 2);
    assert_non_null(strstr(w.s, "app=2;"));
    assert_non_null(strstr(w.s, "other=1;"));
    /* at 9000 every token has expired: only the consents remain */
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_client_grants(f->s, "app", 9000, see_grant, &w), TN_OK);
    assert_string_equal(w.s, "u1,a@x.test,notes:read notes:write,700,0,0;");
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_client_grants(f->s, "idle", 1000, see_grant, &w), TN_OK);
    assert_int_equal(w.n, 0);
    /* deleting the client takes its grants with it */
    assert_int_equal(tn_store_client_delete(f->s, "app"), TN_OK);
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_client_grants(f->s, "app", 1000, see_grant, &w), TN_OK);
    assert_int_equal(w.n, 0);
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_client_usage(f->s, 1000, see_usage, &w), TN_OK);
    assert_string_equal(w.s, "other=1;");
    assert_int_equal(tn_store_client_grants(f->s, "", 1, see_grant, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_client_grants(f->s, "app", 1, NULL, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_client_usage(f->s, 1, NULL, &w), TN_ERR_BAD_INPUT);
}

/* ---------- keys ---------- */

static void see_key(const struct tn_signing_key *k, void *ud)
{
    char line[128];
    snprintf(line, sizeof line, "%s:%lld-%lld", k->kid, (long long)k->signs_from,
             (long long)k->retire_at);
    saw(ud, line);
}

static void test_key_schedule(void **state)
{
    struct fx *f = *state;
    struct tn_signing_key k = {.created_at = 1, .signs_from = 10, .retire_at = 100};
    snprintf(k.kid, sizeof k.kid, "k1");
    snprintf(k.alg, sizeof k.alg, "ES256");
    snprintf(k.pem, sizeof k.pem, "tnk1:x");
    assert_int_equal(tn_store_key_insert(f->s, &k), TN_OK);
    assert_int_equal(tn_store_key_schedule(f->s, "k1", 20, 50), TN_OK);
    struct seen w = {0};
    assert_int_equal(tn_store_key_list(f->s, see_key, &w), TN_OK);
    assert_string_equal(w.s, "k1:20-50;");
    assert_int_equal(tn_store_key_schedule(f->s, "k2", 20, 50), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_key_schedule(f->s, "k1", 50, 49), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_key_schedule(f->s, "", 1, 2), TN_ERR_BAD_INPUT);
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_key_list(f->s, see_key, &w), TN_OK);
    assert_string_equal(w.s, "k1:20-50;");
}

/* ---------- audit ---------- */

static void add_audit(struct tn_store *s, int64_t at, const char *user, const char *tool,
                      const char *outcome, const char *detail)
{
    struct tn_audit a = {.at = at};
    snprintf(a.user, sizeof a.user, "%s", user);
    snprintf(a.tool, sizeof a.tool, "%s", tool);
    snprintf(a.outcome, sizeof a.outcome, "%s", outcome);
    snprintf(a.detail, sizeof a.detail, "%s", detail);
    snprintf(a.client_id, sizeof a.client_id, "c");
    assert_int_equal(tn_store_audit_insert(s, &a), TN_OK);
}

static void see_audit(const struct tn_audit *a, void *ud)
{
    char line[512];
    snprintf(line, sizeof line, "%lld:%s:%s:%s:%s", (long long)a->at, a->user, a->tool, a->outcome,
             a->detail);
    saw(ud, line);
}

static enum tn_err query(struct tn_store *s, const struct tn_audit_filter *f, struct seen *w)
{
    memset(w, 0, sizeof *w);
    return tn_store_audit_query(s, f, see_audit, w);
}

static void test_audit_query(void **state)
{
    struct fx *f = *state;
    add_audit(f->s, 1000, "https://i|usr_a", "save_note", "ok", "");
    add_audit(f->s, 2000, "https://i|usr_ab", "save_note", "denied", "");
    add_audit(f->s, 3000, "https://i|usr_a", "admin.set_role", "ok", "b@x.test: editor -> viewer");
    add_audit(f->s, 4000, "other|usr_a", "get_note", "not_found", "");
    add_audit(f->s, 5000, "https://i|usr_b", "save_note", "ok", "");
    struct seen w;

    struct tn_audit_filter all = {.limit = 100};
    assert_int_equal(query(f->s, &all, &w), TN_OK);
    assert_int_equal(w.n, 5);
    assert_string_equal(w.s, "5000:https://i|usr_b:save_note:ok:;"
                             "4000:other|usr_a:get_note:not_found:;"
                             "3000:https://i|usr_a:admin.set_role:ok:b@x.test: editor -> viewer;"
                             "2000:https://i|usr_ab:save_note:denied:;"
                             "1000:https://i|usr_a:save_note:ok:;");
    /* a user id matches the keys ending in |id (of any issuer), never a longer id */
    struct tn_audit_filter by_id = {.user = "usr_a", .limit = 100};
    assert_int_equal(query(f->s, &by_id, &w), TN_OK);
    assert_string_equal(w.s, "4000:other|usr_a:get_note:not_found:;"
                             "3000:https://i|usr_a:admin.set_role:ok:b@x.test: editor -> viewer;"
                             "1000:https://i|usr_a:save_note:ok:;");
    struct tn_audit_filter part = {.user = "sr_a", .limit = 100};
    assert_int_equal(query(f->s, &part, &w), TN_OK);
    assert_int_equal(w.n, 0);
    /* a whole key matches itself only */
    struct tn_audit_filter by_key = {.user = "https://i|usr_a", .limit = 100};
    assert_int_equal(query(f->s, &by_key, &w), TN_OK);
    assert_int_equal(w.n, 2);
    /* tool, outcome, both */
    struct tn_audit_filter tool = {.tool = "save_note", .limit = 100};
    assert_int_equal(query(f->s, &tool, &w), TN_OK);
    assert_int_equal(w.n, 3);
    struct tn_audit_filter both = {.tool = "save_note", .outcome = "ok", .limit = 100};
    assert_int_equal(query(f->s, &both, &w), TN_OK);
    assert_string_equal(w.s,
                        "5000:https://i|usr_b:save_note:ok:;1000:https://i|usr_a:save_note:ok:;");
    /* time: since inclusive, until exclusive */
    struct tn_audit_filter span = {.since_ms = 2000, .until_ms = 4000, .limit = 100};
    assert_int_equal(query(f->s, &span, &w), TN_OK);
    assert_string_equal(w.s, "3000:https://i|usr_a:admin.set_role:ok:b@x.test: editor -> viewer;"
                             "2000:https://i|usr_ab:save_note:denied:;");
    /* the newest `limit` */
    struct tn_audit_filter two = {.limit = 2};
    assert_int_equal(query(f->s, &two, &w), TN_OK);
    assert_string_equal(w.s, "5000:https://i|usr_b:save_note:ok:;"
                             "4000:other|usr_a:get_note:not_found:;");
    /* empty strings are no filter */
    struct tn_audit_filter empty = {.user = "", .tool = "", .outcome = "", .limit = 100};
    assert_int_equal(query(f->s, &empty, &w), TN_OK);
    assert_int_equal(w.n, 5);
    /* refused */
    struct tn_audit_filter bad = {.limit = 0};
    assert_int_equal(query(f->s, &bad, &w), TN_ERR_BAD_INPUT);
    bad.limit = TN_AUDIT_QUERY_MAX + 1;
    assert_int_equal(query(f->s, &bad, &w), TN_ERR_BAD_INPUT);
    char lng[80];
    memset(lng, 't', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    struct tn_audit_filter long_tool = {.tool = lng, .limit = 1};
    assert_int_equal(query(f->s, &long_tool, &w), TN_ERR_BAD_INPUT);
    struct tn_audit_filter neg = {.since_ms = -1, .limit = 1};
    assert_int_equal(query(f->s, &neg, &w), TN_ERR_BAD_INPUT);
    /* a detail that does not end inside its field is refused on the way in */
    struct tn_audit a = {.at = 1};
    snprintf(a.user, sizeof a.user, "u");
    snprintf(a.tool, sizeof a.tool, "t");
    snprintf(a.outcome, sizeof a.outcome, "ok");
    memset(a.detail, 'x', sizeof a.detail);
    assert_int_equal(tn_store_audit_insert(f->s, &a), TN_ERR_BAD_INPUT);
}

int main(void)
{
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_user_search),  T(test_signed_in),   T(test_client_grants),
        T(test_key_schedule), T(test_audit_query),
#undef T
    };
    tn_log_setup(TN_LOG_WARN, false);
    int rc = cmocka_run_group_tests_name(base_url ? "admin store (postgres)" : "admin store", tests,
                                         NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
