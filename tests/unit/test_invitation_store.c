/* Invitations in the store (#18) on either backend (PostgreSQL when TN_TEST_DATABASE_URL
 * is set, else SQLite): insert, get, take (single use, expiry, the account created in the
 * same transaction or not at all), pending by email, list, revoke, their exact errors,
 * concurrent takes, and hostile arguments. */
#include <pthread.h>
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

#define STORE_FIXTURE_DIR "/tmp/tn_invitation_XXXXXX"
#include "store_fixture.h"

static void add_org(struct tn_store *s, const char *id, const char *name)
{
    struct tn_org o = {.created_at = 1};
    snprintf(o.id, sizeof o.id, "%s", id);
    snprintf(o.name, sizeof o.name, "%s", name);
    assert_int_equal(tn_store_org_insert(s, &o), TN_OK);
}

static struct tn_invitation inv(uint8_t tag, const char *email, const char *role, const char *org,
                                int64_t created, int64_t expires)
{
    struct tn_invitation v = {.created_at = created, .expires_at = expires};
    memset(v.hash, tag, sizeof v.hash);
    snprintf(v.email, sizeof v.email, "%s", email);
    snprintf(v.role, sizeof v.role, "%s", role);
    snprintf(v.org_id, sizeof v.org_id, "%s", org);
    snprintf(v.invited_by, sizeof v.invited_by, "usr_admin");
    return v;
}

static struct tn_user new_user(const char *id)
{
    struct tn_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.name, sizeof u.name, "Name of %s", id);
    u.created_at = 50;
    /* what the caller must not be able to choose: the invitation's values win */
    snprintf(u.email, sizeof u.email, "mallory@evil.example");
    snprintf(u.role, sizeof u.role, "admin");
    return u;
}

static void test_insert_get_take(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "org_a", "a");
    struct tn_invitation a = inv(1, "Bob@Example.COM", "editor", "org_a", 100, 200), out;
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_ERR_CONFLICT);
    assert_int_equal(tn_store_invitation_get(f->s, a.hash, &out), TN_OK);
    assert_memory_equal(out.hash, a.hash, 32);
    assert_string_equal(out.email, "bob@example.com"); /* stored lower-case */
    assert_string_equal(out.role, "editor");
    assert_string_equal(out.org_id, "org_a");
    assert_string_equal(out.invited_by, "usr_admin");
    assert_int_equal(out.created_at, 100);
    assert_int_equal(out.expires_at, 200);
    assert_int_equal(out.used_at, 0);

    uint8_t unknown[32];
    memset(unknown, 9, sizeof unknown);
    assert_int_equal(tn_store_invitation_get(f->s, unknown, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_take(f->s, unknown, 150, NULL, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(out.created_at, 0);

    struct tn_user u = new_user("usr_bob");
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 150, &u, &out), TN_OK);
    assert_int_equal(out.used_at, 150);
    assert_string_equal(u.email, "bob@example.com");
    assert_string_equal(u.role, "editor");
    assert_string_equal(u.org_id, "org_a");
    struct tn_user got;
    assert_int_equal(tn_store_user_by_email(f->s, "bob@example.com", &got), TN_OK);
    assert_string_equal(got.id, "usr_bob");
    assert_string_equal(got.role, "editor");
    assert_string_equal(got.org_id, "org_a");
    assert_string_equal(got.name, "Name of usr_bob");
    assert_int_equal(tn_store_user_by_email(f->s, "mallory@evil.example", &got), TN_ERR_NOT_FOUND);

    /* single use: a replay is refused and the row tells why */
    struct tn_user u2 = new_user("usr_bob2");
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 151, &u2, &out), TN_ERR_INVALID_GRANT);
    assert_int_equal(out.used_at, 150);
    assert_int_equal(tn_store_user_get(f->s, "usr_bob2", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_get(f->s, a.hash, &out), TN_OK);
    assert_int_equal(out.used_at, 150);
}

/* An invitation dies with its inviter's account: taken while the inviter is enabled (or
 * unknown to the store, as above), refused once they are disabled, nothing created. */
static void test_inviter_disabled(void **state)
{
    struct fx *f = *state;
    struct tn_user admin = new_user("usr_admin");
    snprintf(admin.email, sizeof admin.email, "admin@example.com");
    assert_int_equal(tn_store_user_insert(f->s, &admin), TN_OK);
    struct tn_invitation a = inv(1, "bob@example.com", "admin", "", 100, 200), out;
    struct tn_invitation b = inv(2, "carol@example.com", "viewer", "", 100, 200);
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    assert_int_equal(tn_store_invitation_insert(f->s, &b), TN_OK);
    struct tn_user u = new_user("usr_carol");
    assert_int_equal(tn_store_invitation_take(f->s, b.hash, 150, &u, &out), TN_OK);
    admin.disabled = true;
    assert_int_equal(tn_store_user_update_fields(f->s, &admin, TN_USER_DISABLED), TN_OK);
    struct tn_user u2 = new_user("usr_bob"), got;
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 150, &u2, &out), TN_ERR_INVALID_GRANT);
    assert_int_equal(out.used_at, 0);
    assert_int_equal(tn_store_user_get(f->s, "usr_bob", &got), TN_ERR_NOT_FOUND);
    /* nor is it pending for a sign-in by that address */
    assert_int_equal(tn_store_invitation_pending(f->s, "bob@example.com", 150, &out),
                     TN_ERR_NOT_FOUND);
    /* enabled again: the invitation works again (it was never used) */
    admin.disabled = false;
    assert_int_equal(tn_store_user_update_fields(f->s, &admin, TN_USER_DISABLED), TN_OK);
    assert_int_equal(tn_store_invitation_pending(f->s, "bob@example.com", 150, &out), TN_OK);
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 150, &u2, &out), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "usr_bob", &got), TN_OK);
}

static void test_expiry(void **state)
{
    struct fx *f = *state;
    struct tn_invitation a = inv(2, "carol@example.com", "viewer", "", 100, 200), out;
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    /* expires_at is exclusive: at 200 it is expired */
    struct tn_user u = new_user("usr_carol");
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 200, &u, &out), TN_ERR_INVALID_GRANT);
    assert_int_equal(out.used_at, 0);
    assert_int_equal(out.expires_at, 200);
    struct tn_user got;
    assert_int_equal(tn_store_user_get(f->s, "usr_carol", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_pending(f->s, "carol@example.com", 200, &out),
                     TN_ERR_NOT_FOUND);
    /* one second earlier it works, and an account without an organization is made */
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 199, &u, &out), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "usr_carol", &got), TN_OK);
    assert_string_equal(got.org_id, "");
    assert_string_equal(got.role, "viewer");
}

static void test_account_exists_rolls_back(void **state)
{
    struct fx *f = *state;
    struct tn_user d = new_user("usr_dave");
    snprintf(d.email, sizeof d.email, "dave@example.com");
    snprintf(d.role, sizeof d.role, "viewer");
    assert_int_equal(tn_store_user_insert(f->s, &d), TN_OK);
    struct tn_invitation a = inv(3, "dave@example.com", "admin", "", 100, 900), out;
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    struct tn_user u = new_user("usr_dave2");
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 150, &u, &out), TN_ERR_CONFLICT);
    assert_int_equal(out.created_at, 0);
    /* nothing changed: still pending, the existing account untouched */
    assert_int_equal(tn_store_invitation_get(f->s, a.hash, &out), TN_OK);
    assert_int_equal(out.used_at, 0);
    struct tn_user got;
    assert_int_equal(tn_store_user_by_email(f->s, "dave@example.com", &got), TN_OK);
    assert_string_equal(got.id, "usr_dave");
    assert_string_equal(got.role, "viewer");
    /* taking without an account (the caller links one itself) still works */
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 151, NULL, &out), TN_OK);
    assert_int_equal(out.used_at, 151);
}

static void test_unknown_org_rolls_back(void **state)
{
    struct fx *f = *state;
    struct tn_invitation a = inv(4, "erin@example.com", "editor", "org_gone", 100, 900), out;
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    struct tn_user u = new_user("usr_erin");
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 150, &u, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_get(f->s, a.hash, &out), TN_OK);
    assert_int_equal(out.used_at, 0);
}

struct seen {
    int n;
    char emails[8][256];
};

static void collect(const struct tn_invitation *v, void *ud)
{
    struct seen *s = ud;
    if (s->n < 8)
        snprintf(s->emails[s->n], sizeof s->emails[0], "%s", v->email);
    s->n++;
}

static void test_pending_list_revoke(void **state)
{
    struct fx *f = *state;
    struct tn_invitation old = inv(5, "fay@example.com", "viewer", "", 100, 1000);
    struct tn_invitation newer = inv(6, "fay@example.com", "editor", "", 200, 1000);
    struct tn_invitation gone = inv(7, "gus@example.com", "viewer", "", 50, 300);
    struct tn_invitation used = inv(8, "hal@example.com", "viewer", "", 60, 1000), out;
    assert_int_equal(tn_store_invitation_insert(f->s, &old), TN_OK);
    assert_int_equal(tn_store_invitation_insert(f->s, &newer), TN_OK);
    assert_int_equal(tn_store_invitation_insert(f->s, &gone), TN_OK);
    assert_int_equal(tn_store_invitation_insert(f->s, &used), TN_OK);
    assert_int_equal(tn_store_invitation_take(f->s, used.hash, 250, NULL, &out), TN_OK);

    assert_int_equal(tn_store_invitation_pending(f->s, "FAY@example.com", 400, &out), TN_OK);
    assert_int_equal(out.hash[0], 6); /* the newest */
    assert_string_equal(out.role, "editor");
    assert_int_equal(tn_store_invitation_pending(f->s, "hal@example.com", 400, &out),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_pending(f->s, "gus@example.com", 400, &out),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_pending(f->s, "gus@example.com", 299, &out), TN_OK);

    struct seen s = {0};
    assert_int_equal(tn_store_invitation_list(f->s, 400, collect, &s), TN_OK);
    assert_int_equal(s.n, 2); /* used and expired ones are not pending */
    assert_string_equal(s.emails[0], "fay@example.com");
    assert_string_equal(s.emails[1], "fay@example.com");

    int64_t n = -1;
    assert_int_equal(tn_store_invitation_revoke(f->s, "Fay@Example.com", &n), TN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tn_store_invitation_get(f->s, old.hash, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_invitation_revoke(f->s, "fay@example.com", &n), TN_OK);
    assert_int_equal(n, 0);
    /* a used invitation stays (the record of who joined how); an expired one goes */
    assert_int_equal(tn_store_invitation_revoke(f->s, "hal@example.com", &n), TN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tn_store_invitation_get(f->s, used.hash, &out), TN_OK);
    assert_int_equal(tn_store_invitation_revoke(f->s, "gus@example.com", NULL), TN_OK);
    assert_int_equal(tn_store_invitation_get(f->s, gone.hash, &out), TN_ERR_NOT_FOUND);
    s.n = 0;
    assert_int_equal(tn_store_invitation_list(f->s, 0, collect, &s), TN_OK);
    assert_int_equal(s.n, 0);
}

struct racer {
    struct tn_store *s;
    uint8_t hash[32];
    int id;
    enum tn_err result;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct tn_user u = new_user("usr_x");
    snprintf(u.id, sizeof u.id, "usr_racer%d", r->id);
    struct tn_invitation out;
    r->result = tn_store_invitation_take(r->s, r->hash, 150, &u, &out);
    return NULL;
}

static void test_concurrent_takes(void **state)
{
    struct fx *f = *state;
    struct tn_invitation a = inv(10, "ivy@example.com", "editor", "", 100, 900);
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    enum { N = 6 };
    struct racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.s = f->s, .id = i};
        memcpy(r[i].hash, a.hash, 32);
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += r[i].result == TN_OK;
        refused += r[i].result == TN_ERR_INVALID_GRANT;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(refused, N - 1);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    struct tn_invitation a = inv(11, "", "editor", "", 1, 2), out;
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_ERR_BAD_INPUT);
    a = inv(11, "x@example.com", "root", "", 1, 2); /* no such role: the CHECK */
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_ERR_BAD_INPUT);
    a = inv(11, "x@example.com", "", "", 1, 2);
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_ERR_BAD_INPUT);
    a = inv(11, "x@example.com", "editor", "", 1, 2);
    memset(a.email, 'x', sizeof a.email); /* not terminated */
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_ERR_BAD_INPUT);
    a = inv(11, "x@example.com", "editor", "", 1, 2);
    memset(a.org_id, 'x', sizeof a.org_id);
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_invitation_insert(f->s, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_invitation_get(f->s, NULL, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 1, NULL, NULL), TN_ERR_BAD_INPUT);
    struct tn_user u = new_user("");
    assert_int_equal(tn_store_invitation_take(f->s, a.hash, 1, &u, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_invitation_pending(f->s, "", 1, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_invitation_pending(f->s, NULL, 1, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_invitation_list(f->s, 1, NULL, NULL), TN_ERR_BAD_INPUT);
    int64_t n = 5;
    assert_int_equal(tn_store_invitation_revoke(f->s, "", &n), TN_ERR_BAD_INPUT);
    assert_int_equal(n, 0);

    /* SQL in the values is data */
    a = inv(12, "x'); DROP TABLE invitations;--@example.com", "viewer", "", 1, 99);
    assert_int_equal(tn_store_invitation_insert(f->s, &a), TN_OK);
    assert_int_equal(
        tn_store_invitation_pending(f->s, "x'); DROP TABLE invitations;--@example.com", 5, &out),
        TN_OK);
    assert_int_equal(tn_store_invitation_pending(f->s, "x' OR '1'='1", 5, &out), TN_ERR_NOT_FOUND);
}

int main(void)
{
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_insert_get_take),        T(test_expiry),
        T(test_inviter_disabled),       T(test_account_exists_rolls_back),
        T(test_unknown_org_rolls_back), T(test_pending_list_revoke),
        T(test_concurrent_takes),       T(test_bad_input),
#undef T
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
