/* What a person granted apps, and taking it back (/account, #19), in the store on either
 * backend (PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite): the list of
 * connected apps, revoking one app (its consent, tokens, pending codes; the other app
 * untouched; a racing token born revoked), the revocations the resource server reads,
 * signing out everywhere, and hostile arguments. Exact values. */
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

#define STORE_FIXTURE_DIR "/tmp/tn_grants_XXXXXX"
#include "store_fixture.h"

static void add_user(struct tn_store *s, const char *id, int64_t valid_after)
{
    struct tn_user u = {.created_at = 1, .tokens_valid_after = valid_after};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s@example.com", id);
    snprintf(u.name, sizeof u.name, "User %s", id);
    snprintf(u.role, sizeof u.role, "editor");
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static void add_client(struct tn_store *s, const char *id, const char *name, const char *uris,
                       const char *type)
{
    struct tn_client c = {.created_at = 10};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.redirect_uris, sizeof c.redirect_uris, "%s", uris);
    snprintf(c.auth_method, sizeof c.auth_method, "none");
    snprintf(c.grant_types, sizeof c.grant_types, "authorization_code refresh_token");
    snprintf(c.scope, sizeof c.scope, "notes:read");
    snprintf(c.application_type, sizeof c.application_type, "%s", type);
    snprintf(c.metadata, sizeof c.metadata, "{}");
    assert_int_equal(tn_store_client_insert(s, &c), TN_OK);
}

static struct tn_refresh token(int n, const char *family, const char *client, const char *user,
                               int64_t issued, int64_t expires)
{
    struct tn_refresh r = {.issued_at = issued, .expires_at = expires};
    memset(r.hash, 0xcd, 32);
    r.hash[0] = (uint8_t)n;
    snprintf(r.family, sizeof r.family, "%s", family);
    snprintf(r.client_id, sizeof r.client_id, "%s", client);
    snprintf(r.user_id, sizeof r.user_id, "%s", user);
    snprintf(r.scope, sizeof r.scope, "notes:read notes:write");
    snprintf(r.resource, sizeof r.resource, "https://notes.example/mcp");
    return r;
}

static void put_token(struct tn_store *s, int n, const char *family, const char *client,
                      const char *user, int64_t issued, int64_t expires)
{
    struct tn_refresh r = token(n, family, client, user, issued, expires);
    assert_int_equal(tn_store_refresh_insert(s, &r), TN_OK);
}

static struct tn_code code(int n, const char *client, const char *user, const char *family)
{
    struct tn_code c = {.expires_at = 5000};
    memset(c.hash, 0xef, 32);
    c.hash[0] = (uint8_t)n;
    snprintf(c.client_id, sizeof c.client_id, "%s", client);
    snprintf(c.user_id, sizeof c.user_id, "%s", user);
    snprintf(c.redirect_uri, sizeof c.redirect_uri, "http://127.0.0.1/cb");
    snprintf(c.scope, sizeof c.scope, "notes:read");
    snprintf(c.resource, sizeof c.resource, "https://notes.example/mcp");
    snprintf(c.challenge, sizeof c.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    snprintf(c.family, sizeof c.family, "%s", family);
    return c;
}

struct grants {
    int n;
    struct tn_grant g[8];
};

static void collect(const struct tn_grant *g, void *ud)
{
    struct grants *w = ud;
    if (w->n < 8)
        w->g[w->n] = *g;
    w->n++;
}

struct revs {
    int n;
    char s[512];
};

static void collect_rev(const struct tn_grant_revocation *r, void *ud)
{
    struct revs *w = ud;
    size_t used = strlen(w->s);
    snprintf(w->s + used, sizeof w->s - used, "%s@%lld;", r->client_id, (long long)r->revoked_at);
    w->n++;
}

static bool token_live(struct tn_store *s, int n)
{
    struct tn_refresh r = token(n, "", "", "", 0, 0), out;
    assert_int_equal(tn_store_refresh_get(s, r.hash, &out), TN_OK);
    return !out.revoked;
}

/* Two users, three apps: consent only, tokens only, both; expired, revoked and rotated
 * tokens do not make a grant. */
static void fixture(struct tn_store *s)
{
    add_user(s, "u1", 0);
    add_user(s, "u2", 0);
    add_client(s, "cli-claude", "Claude <Desktop>", "[\"http://127.0.0.1:3000/cb\"]", "native");
    add_client(s, "https://app.example/client.json", "Web app", "[\"https://app.example/cb\"]",
               "web");
    add_client(s, "cli-old", "Old", "[\"http://127.0.0.1/cb\"]", "native");
    add_client(s, "cli-other", "Other's", "[\"http://127.0.0.1/cb\"]", "native");
    /* u1: Claude consented at 100, renewed 150, tokens issued 120 (rotated) and 400 */
    assert_int_equal(tn_store_consent_put(s, "u1", "cli-claude", "notes:read", 100), TN_OK);
    assert_int_equal(tn_store_consent_put(s, "u1", "cli-claude", "notes:read notes:write", 150),
                     TN_OK);
    put_token(s, 1, "fam-c1", "cli-claude", "u1", 120, 9000);
    struct tn_refresh next = token(2, "fam-c1", "cli-claude", "u1", 400, 9000);
    assert_int_equal(tn_store_refresh_rotate(s, token(1, "", "", "", 0, 0).hash, &next, 400, NULL),
                     TN_OK);
    /* u1: the web app, tokens only (no consent remembered), issued at 50 and 300 */
    put_token(s, 3, "fam-w1", "https://app.example/client.json", "u1", 50, 9000);
    put_token(s, 4, "fam-w2", "https://app.example/client.json", "u1", 300, 9000);
    /* u1: an app whose only token expired at 500 */
    put_token(s, 5, "fam-o", "cli-old", "u1", 200, 500);
    /* u2's own grant */
    assert_int_equal(tn_store_consent_put(s, "u2", "cli-other", "notes:read", 100), TN_OK);
    put_token(s, 6, "fam-x", "cli-other", "u2", 100, 9000);
}

static void test_list(void **state)
{
    struct fx *f = *state;
    fixture(f->s);
    struct grants w = {0};
    assert_int_equal(tn_store_grant_list(f->s, "u1", 1000, 50, collect, &w), TN_OK);
    assert_int_equal(w.n, 2); /* cli-old: its token expired; cli-other: u2's */
    /* most recently used first */
    assert_string_equal(w.g[0].client_id, "cli-claude");
    assert_string_equal(w.g[0].client_name, "Claude <Desktop>");
    assert_string_equal(w.g[0].redirect_uris, "[\"http://127.0.0.1:3000/cb\"]");
    assert_string_equal(w.g[0].application_type, "native");
    assert_string_equal(w.g[0].scope, "notes:read notes:write"); /* the consent's */
    assert_int_equal(w.g[0].first_at, 100);
    assert_int_equal(w.g[0].last_at, 400);
    assert_true(w.g[0].consented);
    assert_true(w.g[0].live);
    assert_string_equal(w.g[1].client_id, "https://app.example/client.json");
    assert_string_equal(w.g[1].scope, "notes:read notes:write"); /* the newest token's */
    assert_int_equal(w.g[1].first_at, 50);
    assert_int_equal(w.g[1].last_at, 300);
    assert_false(w.g[1].consented);
    assert_true(w.g[1].live);
    /* the limit */
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_grant_list(f->s, "u1", 1000, 1, collect, &w), TN_OK);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.g[0].client_id, "cli-claude");
    /* at 9000 every token has expired: only the consent is left */
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_grant_list(f->s, "u1", 9000, 50, collect, &w), TN_OK);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.g[0].client_id, "cli-claude");
    assert_false(w.g[0].live);
    /* nobody */
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_grant_list(f->s, "nobody", 1000, 50, collect, &w), TN_OK);
    assert_int_equal(w.n, 0);
}

static void test_revoke_one_app(void **state)
{
    struct fx *f = *state;
    fixture(f->s);
    /* a code of the web app not yet exchanged, and one of Claude's */
    struct tn_code cw = code(1, "https://app.example/client.json", "u1", "fam-w3");
    struct tn_code cc = code(2, "cli-claude", "u1", "fam-c2");
    assert_int_equal(tn_store_code_insert(f->s, &cw), TN_OK);
    assert_int_equal(tn_store_code_insert(f->s, &cc), TN_OK);

    assert_int_equal(tn_store_grant_revoke(f->s, "u1", "https://app.example/client.json", 1001),
                     TN_OK);
    /* its tokens are revoked, the others' are not */
    assert_false(token_live(f->s, 3));
    assert_false(token_live(f->s, 4));
    assert_true(token_live(f->s, 2));
    assert_true(token_live(f->s, 6));
    /* its pending code is gone; Claude's is still there */
    struct tn_code out;
    assert_int_equal(tn_store_code_take(f->s, cw.hash, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_code_take(f->s, cc.hash, &out), TN_OK);
    /* a token inserted into its family afterwards (a racing code exchange) is born
     * revoked: the code's family was remembered too */
    put_token(f->s, 7, "fam-w3", "https://app.example/client.json", "u1", 1002, 9000);
    assert_false(token_live(f->s, 7));
    put_token(f->s, 8, "fam-w2", "https://app.example/client.json", "u1", 1002, 9000);
    assert_false(token_live(f->s, 8));
    /* the list no longer shows it */
    struct grants w = {0};
    assert_int_equal(tn_store_grant_list(f->s, "u1", 1000, 50, collect, &w), TN_OK);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.g[0].client_id, "cli-claude");

    /* revoking Claude drops its consent too */
    assert_int_equal(tn_store_grant_revoke(f->s, "u1", "cli-claude", 1005), TN_OK);
    char scope[256];
    assert_int_equal(tn_store_consent_get(f->s, "u1", "cli-claude", scope), TN_ERR_NOT_FOUND);
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_grant_list(f->s, "u1", 1000, 50, collect, &w), TN_OK);
    assert_int_equal(w.n, 0);
    /* u2 keeps everything */
    assert_int_equal(tn_store_consent_get(f->s, "u2", "cli-other", scope), TN_OK);
    memset(&w, 0, sizeof w);
    assert_int_equal(tn_store_grant_list(f->s, "u2", 1000, 50, collect, &w), TN_OK);
    assert_int_equal(w.n, 1);

    /* the revocations, newest first; an earlier time never moves one back */
    assert_int_equal(tn_store_grant_revoke(f->s, "u1", "cli-claude", 900), TN_OK);
    struct revs r = {0};
    assert_int_equal(tn_store_grant_revocations(f->s, "u1", 0, 10, collect_rev, &r), TN_OK);
    assert_string_equal(r.s, "cli-claude@1005;https://app.example/client.json@1001;");
    /* since: strictly after */
    memset(&r, 0, sizeof r);
    assert_int_equal(tn_store_grant_revocations(f->s, "u1", 1001, 10, collect_rev, &r), TN_OK);
    assert_string_equal(r.s, "cli-claude@1005;");
    memset(&r, 0, sizeof r);
    assert_int_equal(tn_store_grant_revocations(f->s, "u1", 0, 1, collect_rev, &r), TN_OK);
    assert_string_equal(r.s, "cli-claude@1005;");
    memset(&r, 0, sizeof r);
    assert_int_equal(tn_store_grant_revocations(f->s, "u2", 0, 10, collect_rev, &r), TN_OK);
    assert_int_equal(r.n, 0);
    /* revoking what was never granted records the time all the same; unknown user */
    assert_int_equal(tn_store_grant_revoke(f->s, "u2", "cli-never", 2000), TN_OK);
    memset(&r, 0, sizeof r);
    assert_int_equal(tn_store_grant_revocations(f->s, "u2", 0, 10, collect_rev, &r), TN_OK);
    assert_string_equal(r.s, "cli-never@2000;");
    assert_int_equal(tn_store_grant_revoke(f->s, "ghost", "cli-claude", 2000), TN_ERR_NOT_FOUND);

    /* one pair's time, for the token endpoint: the latest; 0 for a pair never revoked */
    int64_t at = -1;
    assert_int_equal(tn_store_grant_revoked_at(f->s, "u1", "cli-claude", &at), TN_OK);
    assert_int_equal(at, 1005);
    assert_int_equal(tn_store_grant_revoked_at(f->s, "u1", "https://app.example/client.json", &at),
                     TN_OK);
    assert_int_equal(at, 1001);
    at = -1;
    assert_int_equal(tn_store_grant_revoked_at(f->s, "u2", "cli-other", &at), TN_OK);
    assert_int_equal(at, 0);
    at = -1;
    assert_int_equal(tn_store_grant_revoked_at(f->s, "ghost", "cli-claude", &at), TN_OK);
    assert_int_equal(at, 0);
    assert_int_equal(tn_store_grant_revoked_at(f->s, "", "cli-claude", &at), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revoked_at(f->s, "u1", NULL, &at), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revoked_at(f->s, "u1", "cli-claude", NULL), TN_ERR_BAD_INPUT);
}

static void test_sign_out(void **state)
{
    struct fx *f = *state;
    fixture(f->s);
    struct tn_code cc = code(2, "cli-claude", "u1", "fam-c2");
    assert_int_equal(tn_store_code_insert(f->s, &cc), TN_OK);
    assert_int_equal(tn_store_user_sign_out(f->s, "u1", 1001), TN_OK);
    struct tn_user u;
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(u.tokens_valid_after, 1001);
    assert_false(token_live(f->s, 2));
    assert_false(token_live(f->s, 3));
    assert_false(token_live(f->s, 4));
    assert_true(token_live(f->s, 6)); /* u2's */
    struct tn_code out;
    assert_int_equal(tn_store_code_take(f->s, cc.hash, &out), TN_ERR_NOT_FOUND);
    put_token(f->s, 7, "fam-c2", "cli-claude", "u1", 1002, 9000);
    assert_false(token_live(f->s, 7));
    /* consents stay: the apps ask the person to sign in again, not to allow again */
    char scope[256];
    assert_int_equal(tn_store_consent_get(f->s, "u1", "cli-claude", scope), TN_OK);
    /* never moved back */
    assert_int_equal(tn_store_user_sign_out(f->s, "u1", 500), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(u.tokens_valid_after, 1001);
    assert_int_equal(tn_store_user_get(f->s, "u2", &u), TN_OK);
    assert_int_equal(u.tokens_valid_after, 0);
    assert_int_equal(tn_store_user_sign_out(f->s, "ghost", 1001), TN_ERR_NOT_FOUND);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    fixture(f->s);
    struct grants w = {0};
    struct revs r = {0};
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tn_store_grant_list(NULL, "u1", 0, 10, collect, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_list(f->s, NULL, 0, 10, collect, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_list(f->s, "", 0, 10, collect, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_list(f->s, big, 0, 10, collect, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_list(f->s, "u1", 0, 0, collect, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_list(f->s, "u1", 0, 501, collect, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_list(f->s, "u1", 0, 10, NULL, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revoke(f->s, "u1", "", 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revoke(f->s, "u1", NULL, 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revoke(f->s, "u1", big, 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revoke(f->s, "", "cli-claude", 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revocations(f->s, "u1", 0, 0, collect_rev, &r),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revocations(f->s, "u1", 0, 1001, collect_rev, &r),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_grant_revocations(f->s, "u1", 0, 1, NULL, &r), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_sign_out(f->s, "", 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_sign_out(NULL, "u1", 1), TN_ERR_BAD_INPUT);
    /* quotes are data */
    assert_int_equal(tn_store_grant_revoke(f->s, "u1", "x' OR '1'='1", 5), TN_OK);
    assert_true(token_live(f->s, 2));
    assert_true(token_live(f->s, 3));
    assert_int_equal(tn_store_grant_list(f->s, "u1' OR '1'='1", 0, 10, collect, &w), TN_OK);
    assert_int_equal(w.n, 0);
}

int main(void)
{
    /* TN_TEST_DATABASE_URL: run the suite on PostgreSQL, a fresh schema per test */
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_list),
        T(test_revoke_one_app),
        T(test_sign_out),
        T(test_bad_input),
#undef T
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
