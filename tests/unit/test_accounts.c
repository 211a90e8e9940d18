/* The built-in issuer's account cache (src/auth/accounts.c) over a real SQLite store:
 * what a missing, disabled, revoked or demoted account means for a token, how long a
 * read is trusted (exactly max_age_ms), and two accounts sharing a slot never seeing
 * each other's status. Exact values. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/accounts.h"
#include "core/util.h"

#define AGE 5000

struct fx {
    char dir[64];
    struct tn_store *s;
    struct tn_accounts *a;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void add_client(struct tn_store *s, const char *id)
{
    struct tn_client c = {.created_at = 10};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.name, sizeof c.name, "%s", id);
    snprintf(c.redirect_uris, sizeof c.redirect_uris, "[\"http://127.0.0.1/cb\"]");
    snprintf(c.auth_method, sizeof c.auth_method, "none");
    snprintf(c.grant_types, sizeof c.grant_types, "authorization_code");
    snprintf(c.application_type, sizeof c.application_type, "native");
    snprintf(c.metadata, sizeof c.metadata, "{}");
    assert_int_equal(tn_store_client_insert(s, &c), TN_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tn_accounts_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char data[96];
    snprintf(data, sizeof data, "%s/data", f->dir);
    assert_int_equal(tn_store_open(data, NULL, &f->s, NULL), TN_OK);
    f->a = tn_accounts_new(f->s, AGE);
    assert_non_null(f->a);
    add_client(f->s, "cli"); /* the client the tokens below name */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tn_accounts_free(f->a);
    tn_store_close(f->s);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void add_user(struct tn_store *s, const char *id, const char *role, int64_t valid_after)
{
    struct tn_user u = {.created_at = 100, .tokens_valid_after = valid_after};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s@example.com", id);
    snprintf(u.name, sizeof u.name, "%s", id);
    snprintf(u.role, sizeof u.role, "%s", role);
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static void set_user(struct tn_store *s, const char *id, const char *role, bool disabled,
                     int64_t valid_after)
{
    struct tn_user u;
    assert_int_equal(tn_store_user_get(s, id, &u), TN_OK);
    snprintf(u.role, sizeof u.role, "%s", role);
    u.disabled = disabled;
    u.tokens_valid_after = valid_after;
    assert_int_equal(tn_store_user_update(s, &u), TN_OK);
}

/* A built-in token's principal of client `client`: issued at `iat`, with these
 * permissions. */
static struct tn_principal *token_of(const char *sub, const char *client, int64_t iat,
                                     const char *perms)
{
    struct tn_principal *p =
        tn_principal_new("http://127.0.0.1:8080", sub, "", client, "jti", INT64_MAX / 2);
    p->issued_at = iat;
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:read notes:write"),
                     TN_OK);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, perms), TN_OK);
    return p;
}

static struct tn_principal *token(const char *sub, int64_t iat, const char *perms)
{
    return token_of(sub, "cli", iat, perms);
}

static void test_read(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "usr_editor", "editor", 50);
    struct tn_account u = tn_accounts_get(f->a, "usr_editor", 1000);
    assert_string_equal(u.id, "usr_editor");
    assert_int_equal(u.checked_ms, 1000);
    assert_true(u.active);
    assert_int_equal(u.valid_after, 50);
    assert_string_equal(u.role, "editor");
    /* no such account: inactive, no role */
    u = tn_accounts_get(f->a, "usr_nobody", 1000);
    assert_string_equal(u.id, "usr_nobody");
    assert_false(u.active);
    assert_string_equal(u.role, "");
    assert_int_equal(u.valid_after, 0);
}

/* A change in the store reaches the cache exactly max_age_ms after the last read. */
static void test_expiry(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "usr_ann", "editor", 0);
    assert_true(tn_accounts_get(f->a, "usr_ann", 10000).active);
    set_user(f->s, "usr_ann", "viewer", true, 0);
    struct tn_account u = tn_accounts_get(f->a, "usr_ann", 10000 + AGE - 1);
    assert_true(u.active); /* still the read of 10000 */
    assert_string_equal(u.role, "editor");
    assert_int_equal(u.checked_ms, 10000);
    u = tn_accounts_get(f->a, "usr_ann", 10000 + AGE);
    assert_false(u.active);
    assert_string_equal(u.role, "viewer");
    assert_int_equal(u.checked_ms, 10000 + AGE);
    /* re-enabled: shown once that read is max_age_ms old, not before */
    set_user(f->s, "usr_ann", "viewer", false, 0);
    assert_false(tn_accounts_get(f->a, "usr_ann", 10000 + 2 * AGE - 1).active);
    assert_true(tn_accounts_get(f->a, "usr_ann", 10000 + 2 * AGE).active);
}

/* The cache's slot choice (a byte hash of the id): used to build two ids that share a
 * slot. If the cache's hash changes, the ids merely stop colliding. */
static uint8_t slot_of(const char *s)
{
    uint8_t h = 0;
    for (; *s; s++)
        h = (uint8_t)(h * 31 + (uint8_t)*s);
    return h;
}

static void test_shared_slot(void **state)
{
    struct fx *f = *state;
    char a[16] = "usr_a0", b[16] = "";
    for (int c = 0; c < 256 && !b[0]; c++) {
        snprintf(b, sizeof b, "usr_b%02x", c);
        if (slot_of(b) != slot_of(a))
            b[0] = '\0';
    }
    assert_string_not_equal(b, "");
    add_user(f->s, a, "admin", 0);
    add_user(f->s, b, "viewer", 0);
    set_user(f->s, b, "viewer", true, 0);
    /* each read evicts the other; neither ever gets the other's status */
    for (int i = 0; i < 3; i++) {
        struct tn_account ua = tn_accounts_get(f->a, a, 1000 + i);
        struct tn_account ub = tn_accounts_get(f->a, b, 1000 + i);
        assert_string_equal(ua.id, a);
        assert_true(ua.active);
        assert_string_equal(ua.role, "admin");
        assert_int_equal(ua.checked_ms, 1000 + i); /* read again: b had the slot */
        assert_string_equal(ub.id, b);
        assert_false(ub.active);
        assert_string_equal(ub.role, "viewer");
    }
}

static void test_current(void **state)
{
    struct tn_principal *p = token("usr_x", 1000, "notes:read");
    static const struct {
        bool active;
        int64_t valid_after;
        bool current;
    } t[] = {
        {true, 0, true},
        {true, 1000, true},  /* issued in the second of the revocation: still valid */
        {true, 1001, false}, /* issued before it */
        {false, 0, false},   /* disabled */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tn_account u = {.active = t[i].active, .valid_after = t[i].valid_after};
        assert_int_equal(tn_account_current(&u, p), t[i].current);
    }
    tn_principal_release(p);
}

static void test_role_covers(void **state)
{
    static const struct {
        const char *role, *perms;
        bool covers;
    } t[] = {
        {"editor", "notes:read notes:write", true},
        {"viewer", "notes:read", true},
        {"viewer", "notes:read notes:write", false},
        {"admin", "notes:read notes:write teamnotes:admin", true},
        {"editor", "teamnotes:admin", false},
        {"editor", "notes:rea", false}, /* a prefix is not the word */
        {"editor", "notes:writex", false},
        {"", "notes:read", false},     /* no role (missing account): nothing */
        {"root", "notes:read", false}, /* unknown role: nothing */
        {"root", "", true},            /* a token naming nothing asks for nothing */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tn_principal *p = token("usr_x", 1, t[i].perms);
        struct tn_account u = {.active = true};
        snprintf(u.role, sizeof u.role, "%s", t[i].role);
        assert_int_equal(tn_account_role_covers(&u, p), t[i].covers);
        tn_principal_release(p);
    }
}

static void test_admit(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "usr_ok", "editor", 0);
    add_user(f->s, "usr_off", "editor", 0);
    set_user(f->s, "usr_off", "editor", true, 0);
    add_user(f->s, "usr_rev", "editor", 500);
    add_user(f->s, "usr_demoted", "viewer", 0);

    /* current and covered: the same principal */
    struct tn_principal *p = token("usr_ok", 100, "notes:read notes:write"), *before = p;
    assert_int_equal(tn_accounts_admit(f->a, &p, 1000), TN_OK);
    assert_ptr_equal(p, before);
    tn_principal_release(p);

    /* disabled, revoked, missing: refused, released, NULL */
    static const char *const refused[] = {"usr_off", "usr_rev", "usr_missing"};
    for (size_t i = 0; i < 3; i++) {
        p = token(refused[i], 100, "notes:read");
        assert_int_equal(tn_accounts_admit(f->a, &p, 1000), TN_ERR_FORBIDDEN);
        assert_null(p);
    }

    /* demoted since issued: the request sees only what both allow; scopes unchanged */
    p = token("usr_demoted", 100, "notes:read notes:write");
    before = p;
    assert_int_equal(tn_accounts_admit(f->a, &p, 1000), TN_OK);
    assert_non_null(p);
    assert_ptr_not_equal(p, before);
    assert_int_equal(p->permissions.n, 1);
    assert_string_equal(p->permissions.v[0], "notes:read");
    assert_int_equal(p->scopes.n, 2);
    assert_string_equal(p->subject, "usr_demoted");
    assert_int_equal(p->issued_at, 100);
    tn_principal_release(p);
}

/* One app's access taken back (/account): that app's tokens issued before the
 * revocation are refused, the person's other apps keep working; more revocations than
 * the cache keeps fold into a rule that refuses every older token (fail closed). */
static void test_revoked_app(void **state)
{
    struct tn_account u = {.active = true, .valid_after = 10};
    tn_account_client_hash("app-a", u.revoked[0].client);
    u.revoked[0].after = 1000;
    tn_account_client_hash("https://b.example/client.json", u.revoked[1].client);
    u.revoked[1].after = 2000;
    u.n_revoked = 2;
    static const struct {
        const char *client;
        int64_t iat;
        int64_t all_before;
        bool current;
    } t[] = {
        {"app-a", 999, 0, false},                          /* issued before its revocation */
        {"app-a", 1000, 0, true},                          /* issued in its second: after */
        {"app-a", 5000, 0, true},                          /* re-authorized since */
        {"https://b.example/client.json", 1999, 0, false}, /* the other revoked app */
        {"https://b.example/client.json", 2000, 0, true},
        {"app-c", 500, 0, true}, /* never revoked */
        {"app-A", 500, 0, true}, /* ids are exact */
        {"app-a ", 500, 0, true},
        {"", 500, 0, true},           /* a token naming no client */
        {"app-c", 9, 0, false},       /* before valid_after: all refused */
        {"app-c", 2999, 3000, false}, /* folded revocations */
        {"app-c", 3000, 3000, true},
        {"app-a", 3000, 3000, true},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tn_principal *p = token_of("usr_x", t[i].client, t[i].iat, "notes:read");
        u.all_before = t[i].all_before;
        if (tn_account_current(&u, p) != t[i].current)
            fail_msg("case %zu: %s at %lld", i, t[i].client, (long long)t[i].iat);
        tn_principal_release(p);
    }
}

/* The cache reads the revocations from the store: within max_age_ms (or at once after
 * tn_accounts_forget), that app's old token is refused and the other app's is not. */
static void test_admit_revoked_app(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "usr_r", "editor", 0);
    add_client(f->s, "app-a"); /* registered: a deleted client's tokens are refused too */
    add_client(f->s, "app-b");
    int64_t now_s = 1700000000, now_ms = now_s * 1000;
    struct tn_principal *a = token_of("usr_r", "app-a", now_s - 10, "notes:read");
    struct tn_principal *b = token_of("usr_r", "app-b", now_s - 10, "notes:read");
    struct tn_principal *pa = a, *pb = b;
    tn_principal_retain(a);
    tn_principal_retain(b);
    assert_int_equal(tn_accounts_admit(f->a, &pa, now_ms), TN_OK);
    tn_principal_release(pa);
    assert_int_equal(tn_store_grant_revoke(f->s, "usr_r", "app-a", now_s), TN_OK);
    /* the cached read still admits it until max_age_ms */
    pa = a;
    tn_principal_retain(a);
    assert_int_equal(tn_accounts_admit(f->a, &pa, now_ms + AGE - 1), TN_OK);
    tn_principal_release(pa);
    pa = a;
    tn_principal_retain(a);
    assert_int_equal(tn_accounts_admit(f->a, &pa, now_ms + AGE), TN_ERR_FORBIDDEN);
    assert_null(pa);
    assert_int_equal(tn_accounts_admit(f->a, &pb, now_ms + AGE), TN_OK);
    tn_principal_release(pb);
    /* the revocation as the cache holds it */
    struct tn_account u = tn_accounts_get(f->a, "usr_r", now_ms + AGE);
    assert_int_equal(u.n_revoked, 1);
    assert_int_equal(u.revoked[0].after, now_s);
    assert_int_equal(u.all_before, 0);
    /* forget: the next read is the store's at once */
    assert_int_equal(tn_store_grant_revoke(f->s, "usr_r", "app-b", now_s + 1), TN_OK);
    pb = b;
    tn_principal_retain(b);
    assert_int_equal(tn_accounts_admit(f->a, &pb, now_ms + AGE + 1), TN_OK);
    tn_principal_release(pb);
    tn_accounts_forget(f->a, "usr_r");
    tn_accounts_forget(f->a, "usr_other"); /* another id: nothing */
    pb = b;
    tn_principal_retain(b);
    assert_int_equal(tn_accounts_admit(f->a, &pb, now_ms + AGE + 2), TN_ERR_FORBIDDEN);
    /* revocations past the horizon are not read */
    u = tn_accounts_get(f->a, "usr_r", (now_s + TN_ACCOUNT_REVOCATION_HORIZON_S + 1) * 1000);
    assert_int_equal(u.n_revoked, 0);
    tn_principal_release(a);
    tn_principal_release(b);
}

/* More revocations than fit: the newest TN_ACCOUNT_REVOCATIONS are kept, the newest of
 * the rest becomes all_before. */
static void test_many_revocations(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "usr_m", "editor", 0);
    int64_t now_s = 1700000000;
    for (int i = 0; i < TN_ACCOUNT_REVOCATIONS + 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "app-%02d", i);
        assert_int_equal(tn_store_grant_revoke(f->s, "usr_m", id, now_s - 100 + i), TN_OK);
    }
    struct tn_account u = tn_accounts_get(f->a, "usr_m", now_s * 1000);
    assert_true(u.active);
    assert_int_equal(u.n_revoked, TN_ACCOUNT_REVOCATIONS);
    assert_int_equal(u.revoked[0].after, now_s - 100 + TN_ACCOUNT_REVOCATIONS + 2);
    assert_int_equal(u.all_before, now_s - 100 + 2); /* app-02: the newest left out */
    struct tn_principal *p = token_of("usr_m", "app-99", now_s - 100 + 1, "notes:read");
    assert_false(tn_account_current(&u, p)); /* older than a folded revocation */
    tn_principal_release(p);
    p = token_of("usr_m", "app-99", now_s - 100 + 2, "notes:read");
    assert_true(tn_account_current(&u, p));
    tn_principal_release(p);
}

/* An administrator revoked (deleted) the token's client: its tokens are refused from the
 * next read of the client, within the cache's age (#19). */
static void test_client_revoked(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "usr_ok", "editor", 0);
    add_client(f->s, "app");
    struct tn_principal *p =
        tn_principal_new("http://127.0.0.1:8080", "usr_ok", "", "app", "jti", INT64_MAX / 2);
    p->issued_at = 100;
    assert_int_equal(tn_accounts_admit(f->a, &p, 1000), TN_OK);
    assert_non_null(p);
    assert_int_equal(tn_store_client_delete(f->s, "app"), TN_OK);
    /* read less than AGE ago: still admitted */
    assert_int_equal(tn_accounts_admit(f->a, &p, 1000 + AGE - 1), TN_OK);
    assert_non_null(p);
    assert_false(tn_accounts_client_exists(f->a, "app", 1000 + AGE));
    assert_int_equal(tn_accounts_admit(f->a, &p, 1000 + AGE), TN_ERR_FORBIDDEN);
    assert_null(p);
    /* another client, and a token naming none, are not affected */
    assert_true(tn_accounts_client_exists(f->a, "cli", 5000));
    assert_true(tn_accounts_client_exists(f->a, "", 5000));
    p = tn_principal_new("http://127.0.0.1:8080", "usr_ok", "", "cli", "jti", INT64_MAX / 2);
    assert_int_equal(tn_accounts_admit(f->a, &p, 5000), TN_OK);
    tn_principal_release(p);
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_slot, setup, teardown),
        cmocka_unit_test(test_current),
        cmocka_unit_test(test_role_covers),
        cmocka_unit_test_setup_teardown(test_admit, setup, teardown),
        cmocka_unit_test(test_revoked_app),
        cmocka_unit_test_setup_teardown(test_admit_revoked_app, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_revocations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_revoked, setup, teardown),
    };
    return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
