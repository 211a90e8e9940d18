/* The store's email sign-in codes (store/store.h, "email sign-in codes") on either backend
 * (PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite): single use, the attempt
 * limit counted atomically, expiry, the browser binding, links, cleanup, and one winner
 * among concurrent consumers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_signin_store_XXXXXX"
#include "store_fixture.h"

#define NOW 1000000

static void fill(uint8_t h[32], uint8_t v) { memset(h, v, 32); }

/* A row bound to browser 0xB0 with code hash 0xC0 and link hash 0x10, expiring at NOW+600. */
static struct tn_email_code row(const char *id)
{
    struct tn_email_code c;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.email, sizeof c.email, "alice@example.com");
    fill(c.code_hash, 0xC0);
    fill(c.link_hash, 0x10);
    fill(c.browser_hash, 0xB0);
    snprintf(c.req, sizeof c.req, "sealed-request-%s", id);
    c.expires_at = NOW + 600;
    c.created_at = NOW;
    return c;
}

static uint8_t B[32], C[32], L[32], X[32];

static int init_hashes(void)
{
    fill(B, 0xB0);
    fill(C, 0xC0);
    fill(L, 0x10);
    fill(X, 0xEE);
    return 0;
}

static void test_insert_get(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_ERR_CONFLICT);
    assert_int_equal(tn_store_email_code_get(f->s, "e1", &out), TN_OK);
    assert_string_equal(out.email, "alice@example.com");
    assert_string_equal(out.req, "sealed-request-e1");
    assert_memory_equal(out.code_hash, C, 32);
    assert_memory_equal(out.link_hash, L, 32);
    assert_memory_equal(out.browser_hash, B, 32);
    assert_int_equal(out.attempts, 0);
    assert_int_equal(out.expires_at, NOW + 600);
    assert_int_equal(out.used_at, 0);
    assert_int_equal(out.created_at, NOW);
    assert_int_equal(tn_store_email_code_get(f->s, "nope", &out), TN_ERR_NOT_FOUND);
    assert_string_equal(out.id, "");
    /* malformed arguments */
    struct tn_email_code bad = row("");
    assert_int_equal(tn_store_email_code_insert(f->s, &bad), TN_ERR_BAD_INPUT);
    bad = row("e2");
    bad.req[0] = '\0';
    assert_int_equal(tn_store_email_code_insert(f->s, &bad), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_email_code_use(f->s, "", B, C, false, NOW, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", NULL, C, false, NOW, &out),
                     TN_ERR_BAD_INPUT);
}

static void test_code_single_use(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW + 5, &out), TN_OK);
    assert_int_equal(out.used_at, NOW + 5);
    assert_string_equal(out.req, "sealed-request-e1");
    /* the same code again, and the link after the code */
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW + 6, &out),
                     TN_ERR_CONFLICT);
    assert_string_equal(out.id, "");
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, L, true, NOW + 6, &out),
                     TN_ERR_CONFLICT);
    /* a replay does not count attempts */
    assert_int_equal(tn_store_email_code_get(f->s, "e1", &out), TN_OK);
    assert_int_equal(out.attempts, 0);
}

static void test_wrong_codes_lock(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    for (int i = 1; i <= TN_EMAIL_CODE_ATTEMPTS; i++) {
        assert_int_equal(tn_store_email_code_use(f->s, "e1", B, X, false, NOW, &out),
                         TN_ERR_FORBIDDEN);
        assert_int_equal(out.attempts, i);
        assert_int_equal(out.used_at, 0);
    }
    /* five wrong codes: even the right one is refused, and nothing more is counted */
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW, &out), TN_ERR_LIMIT);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, X, false, NOW, &out), TN_ERR_LIMIT);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, L, true, NOW, &out), TN_ERR_LIMIT);
    assert_int_equal(tn_store_email_code_get(f->s, "e1", &out), TN_OK);
    assert_int_equal(out.attempts, TN_EMAIL_CODE_ATTEMPTS);
    assert_int_equal(out.used_at, 0);
}

static void test_four_wrong_then_right(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    for (int i = 1; i < TN_EMAIL_CODE_ATTEMPTS; i++)
        assert_int_equal(tn_store_email_code_use(f->s, "e1", B, X, false, NOW, &out),
                         TN_ERR_FORBIDDEN);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW, &out), TN_OK);
    assert_int_equal(out.attempts, TN_EMAIL_CODE_ATTEMPTS - 1);
}

static void test_expiry(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    /* expires_at itself is too late */
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW + 600, &out),
                     TN_ERR_INVALID_GRANT);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, X, false, NOW + 600, &out),
                     TN_ERR_INVALID_GRANT);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, L, true, NOW + 601, &out),
                     TN_ERR_INVALID_GRANT);
    assert_int_equal(tn_store_email_code_get(f->s, "e1", &out), TN_OK);
    assert_int_equal(out.attempts, 0);
    assert_int_equal(out.used_at, 0);
    /* a second before: fine */
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW + 599, &out), TN_OK);
}

static void test_other_browser(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    /* the right code or link from another browser: as if there were no such row, and
     * no attempt is spent (another browser cannot lock the owner's code) */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tn_store_email_code_use(f->s, "e1", X, C, false, NOW, &out),
                         TN_ERR_NOT_FOUND);
        assert_int_equal(tn_store_email_code_use(f->s, "e1", X, X, false, NOW, &out),
                         TN_ERR_NOT_FOUND);
    }
    assert_int_equal(tn_store_email_code_use(f->s, "e1", X, L, true, NOW, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_email_code_use(f->s, "nope", B, C, false, NOW, &out),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_email_code_get(f->s, "e1", &out), TN_OK);
    assert_int_equal(out.attempts, 0);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW, &out), TN_OK);
}

static void test_link(void **state)
{
    struct fx *f = *state;
    struct tn_email_code c = row("e1"), out;
    assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
    /* a wrong link token is refused and not counted; the code hash is not a link */
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, X, true, NOW, &out), TN_ERR_FORBIDDEN);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, true, NOW, &out), TN_ERR_FORBIDDEN);
    assert_int_equal(out.attempts, 0);
    /* nor is the link hash a code */
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, L, false, NOW, &out), TN_ERR_FORBIDDEN);
    assert_int_equal(out.attempts, 1);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, L, true, NOW + 1, &out), TN_OK);
    assert_int_equal(out.used_at, NOW + 1);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, L, true, NOW + 2, &out),
                     TN_ERR_CONFLICT);
    assert_int_equal(tn_store_email_code_use(f->s, "e1", B, C, false, NOW + 2, &out),
                     TN_ERR_CONFLICT);
}

static void test_cleanup(void **state)
{
    struct fx *f = *state;
    struct tn_email_code a = row("a"), b = row("b"), out;
    b.expires_at = NOW + 60;
    assert_int_equal(tn_store_email_code_insert(f->s, &a), TN_OK);
    assert_int_equal(tn_store_email_code_insert(f->s, &b), TN_OK);
    int64_t n = -1;
    assert_int_equal(tn_store_email_code_cleanup(f->s, NOW + 59, &n), TN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tn_store_email_code_cleanup(f->s, NOW + 60, &n), TN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tn_store_email_code_get(f->s, "b", &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_email_code_get(f->s, "a", &out), TN_OK);
    assert_int_equal(tn_store_email_code_cleanup(f->s, NOW + 600, NULL), TN_OK);
    assert_int_equal(tn_store_email_code_get(f->s, "a", &out), TN_ERR_NOT_FOUND);
}

#define THREADS 8

struct racer {
    struct tn_store *s;
    pthread_barrier_t *go;
    const uint8_t *hash;
    bool link;
    enum tn_err result;
};

static void *consume(void *arg)
{
    struct racer *r = arg;
    struct tn_email_code out;
    pthread_barrier_wait(r->go);
    r->result = tn_store_email_code_use(r->s, "e1", B, r->hash, r->link, NOW, &out);
    return NULL;
}

/* THREADS consumers on two handles, half with the code and half with the link: one wins. */
static void test_concurrent_single_winner(void **state)
{
    struct fx *f = *state;
    struct tn_store *other = reopen(f);
    for (int round = 0; round < 5; round++) {
        struct tn_email_code c = row("e1");
        tn_store_email_code_cleanup(f->s, NOW + 10000, NULL);
        assert_int_equal(tn_store_email_code_insert(f->s, &c), TN_OK);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, THREADS);
        pthread_t th[THREADS];
        struct racer rs[THREADS];
        for (int i = 0; i < THREADS; i++) {
            rs[i] = (struct racer){.s = i % 2 ? other : f->s,
                                   .go = &go,
                                   .hash = i % 4 < 2 ? C : L,
                                   .link = i % 4 >= 2};
            assert_int_equal(pthread_create(&th[i], NULL, consume, &rs[i]), 0);
        }
        int ok = 0, conflict = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            ok += rs[i].result == TN_OK;
            conflict += rs[i].result == TN_ERR_CONFLICT;
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(ok, 1);
        assert_int_equal(conflict, THREADS - 1);
    }
    tn_store_close(other);
}

int main(void)
{
    if (tn_util_init() != TN_OK || !store_fixture_connect() || init_hashes() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_insert_get),
        T(test_code_single_use),
        T(test_wrong_codes_lock),
        T(test_four_wrong_then_right),
        T(test_expiry),
        T(test_other_browser),
        T(test_link),
        T(test_cleanup),
        T(test_concurrent_single_winner),
#undef T
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
