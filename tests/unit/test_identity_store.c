/* Upstream identities in the store (#18) on either backend (PostgreSQL when
 * TN_TEST_DATABASE_URL is set, else SQLite): get, link, touch, list, delete, their exact
 * errors, and hostile arguments. */
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

#define STORE_FIXTURE_DIR "/tmp/tn_identity_XXXXXX"
#include "store_fixture.h"

static const char ISS[] = "https://idp.example/";

static void add_user(struct tn_store *s, const char *id, const char *email)
{
    struct tn_user u = {.created_at = 1, .tokens_valid_after = 0};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "User %s", id);
    snprintf(u.role, sizeof u.role, "editor");
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static struct tn_identity ident(const char *iss, const char *sub, const char *user,
                                const char *email, int64_t at)
{
    struct tn_identity i = {.created_at = at, .last_used_at = at};
    snprintf(i.issuer, sizeof i.issuer, "%s", iss);
    snprintf(i.subject, sizeof i.subject, "%s", sub);
    snprintf(i.user_id, sizeof i.user_id, "%s", user);
    snprintf(i.email, sizeof i.email, "%s", email);
    return i;
}

static void test_link_get_touch(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "alice@example.com");
    struct tn_identity out;
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-a", &out), TN_ERR_NOT_FOUND);
    assert_string_equal(out.user_id, ""); /* zeroed on failure */

    struct tn_identity a = ident(ISS, "sub-a", "u1", "Alice@Example.COM", 100);
    assert_int_equal(tn_store_identity_link(f->s, &a), TN_OK);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-a", &out), TN_OK);
    assert_string_equal(out.issuer, ISS);
    assert_string_equal(out.subject, "sub-a");
    assert_string_equal(out.user_id, "u1");
    assert_string_equal(out.email, "alice@example.com"); /* stored lower-case */
    assert_int_equal(out.created_at, 100);
    assert_int_equal(out.last_used_at, 100);

    /* the key is exact: another issuer or a subject differing in case is another identity */
    assert_int_equal(tn_store_identity_get(f->s, "https://idp.example", "sub-a", &out),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "SUB-A", &out), TN_ERR_NOT_FOUND);

    assert_int_equal(tn_store_identity_touch(f->s, ISS, "sub-a", 250), TN_OK);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-a", &out), TN_OK);
    assert_int_equal(out.created_at, 100);
    assert_int_equal(out.last_used_at, 250);
    assert_int_equal(tn_store_identity_touch(f->s, ISS, "nobody", 250), TN_ERR_NOT_FOUND);
}

static void test_link_conflicts(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "alice@example.com");
    add_user(f->s, "u2", "bob@example.com");
    struct tn_identity a = ident(ISS, "sub-a", "u1", "alice@example.com", 1);
    assert_int_equal(tn_store_identity_link(f->s, &a), TN_OK);
    /* the same identity cannot be linked again, to the same user or another */
    assert_int_equal(tn_store_identity_link(f->s, &a), TN_ERR_CONFLICT);
    struct tn_identity steal = ident(ISS, "sub-a", "u2", "bob@example.com", 2);
    assert_int_equal(tn_store_identity_link(f->s, &steal), TN_ERR_CONFLICT);
    struct tn_identity out;
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-a", &out), TN_OK);
    assert_string_equal(out.user_id, "u1");
    /* an unknown user */
    struct tn_identity ghost = ident(ISS, "sub-g", "nope", "", 3);
    assert_int_equal(tn_store_identity_link(f->s, &ghost), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "sub-g", &out), TN_ERR_NOT_FOUND);
}

struct seen {
    int n;
    char subs[4][256];
    char users[4][48];
};

static void collect(const struct tn_identity *id, void *ud)
{
    struct seen *s = ud;
    if (s->n < 4) {
        snprintf(s->subs[s->n], sizeof s->subs[0], "%s", id->subject);
        snprintf(s->users[s->n], sizeof s->users[0], "%s", id->user_id);
    }
    s->n++;
}

static void test_list_and_delete(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "alice@example.com");
    add_user(f->s, "u2", "bob@example.com");
    struct tn_identity v[] = {
        ident(ISS, "late", "u1", "", 30),
        ident("https://other.example", "early", "u1", "a@x", 10),
        ident(ISS, "bob", "u2", "bob@example.com", 20),
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(tn_store_identity_link(f->s, &v[i]), TN_OK);

    struct seen s = {0};
    assert_int_equal(tn_store_identity_list(f->s, "u1", collect, &s), TN_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.subs[0], "early"); /* oldest first */
    assert_string_equal(s.subs[1], "late");
    memset(&s, 0, sizeof s);
    assert_int_equal(tn_store_identity_list(f->s, "nobody", collect, &s), TN_OK);
    assert_int_equal(s.n, 0);

    int64_t n = -1;
    assert_int_equal(tn_store_identity_delete_user(f->s, "u1", &n), TN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tn_store_identity_delete_user(f->s, "u1", &n), TN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tn_store_identity_delete_user(f->s, "u1", NULL), TN_OK);
    memset(&s, 0, sizeof s);
    assert_int_equal(tn_store_identity_list(f->s, "u1", collect, &s), TN_OK);
    assert_int_equal(s.n, 0);
    /* bob's is untouched */
    memset(&s, 0, sizeof s);
    assert_int_equal(tn_store_identity_list(f->s, "u2", collect, &s), TN_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.users[0], "u2");
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "alice@example.com");
    struct tn_identity out;
    assert_int_equal(tn_store_identity_get(NULL, ISS, "s", &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_get(f->s, NULL, "s", &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_get(f->s, ISS, NULL, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "s", NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_get(f->s, "", "s", &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "", &out), TN_ERR_BAD_INPUT);

    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tn_store_identity_get(f->s, big, "s", &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_touch(f->s, ISS, big, 1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_touch(f->s, ISS, "", 1), TN_ERR_BAD_INPUT);

    struct tn_identity a = ident(ISS, "s", "u1", "", 1);
    assert_int_equal(tn_store_identity_link(NULL, &a), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_link(f->s, NULL), TN_ERR_BAD_INPUT);
    struct tn_identity bad = a;
    bad.user_id[0] = '\0';
    assert_int_equal(tn_store_identity_link(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = a;
    memset(bad.subject, 'x', sizeof bad.subject); /* not terminated */
    assert_int_equal(tn_store_identity_link(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = a;
    memset(bad.email, 'x', sizeof bad.email);
    assert_int_equal(tn_store_identity_link(f->s, &bad), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "s", &out), TN_ERR_NOT_FOUND);

    struct seen s = {0};
    assert_int_equal(tn_store_identity_list(f->s, "u1", NULL, &s), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_identity_list(f->s, "", collect, &s), TN_ERR_BAD_INPUT);
    int64_t n = 7;
    assert_int_equal(tn_store_identity_delete_user(f->s, "", &n), TN_ERR_BAD_INPUT);
    assert_int_equal(n, 0);

    /* SQL in the values is data */
    struct tn_identity q = ident(ISS, "x' OR '1'='1", "u1", "", 1);
    assert_int_equal(tn_store_identity_link(f->s, &q), TN_OK);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "x' OR '1'='1", &out), TN_OK);
    assert_int_equal(tn_store_identity_get(f->s, ISS, "x", &out), TN_ERR_NOT_FOUND);
}

int main(void)
{
    /* TN_TEST_DATABASE_URL: run the suite on PostgreSQL, a fresh schema per test */
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_link_get_touch),
        T(test_link_conflicts),
        T(test_list_and_delete),
        T(test_bad_input),
#undef T
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
