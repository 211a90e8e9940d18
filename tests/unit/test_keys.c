/* Signing-key rotation of the built-in issuer: the successor is published before it
 * signs, and the old key stays published while its tokens live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "auth/as/keys.h"
#include "core/util.h"

static char *kid_of(const char *jwt)
{
    const char *dot = strchr(jwt, '.');
    char hdr[512];
    size_t n = 0;
    assert_int_equal(tn_b64url_decode(hdr, sizeof hdr - 1, &n, jwt, (size_t)(dot - jwt)), TN_OK);
    hdr[n] = '\0';
    json_t *h = json_loads(hdr, 0, NULL);
    char *k = strdup(json_string_value(json_object_get(h, "kid")));
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "at+jwt");
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    json_decref(h);
    return k;
}

static char *sign(struct tn_as_keys *k)
{
    json_t *c = json_pack("{s:s}", "sub", "x");
    char *t = NULL;
    assert_int_equal(tn_as_keys_sign(k, c, &t), TN_OK);
    json_decref(c);
    char *kid = kid_of(t);
    free(t);
    return kid;
}

static size_t published(struct tn_as_keys *k)
{
    json_t *j = tn_as_keys_jwks_json(k);
    size_t n = json_array_size(json_object_get(j, "keys"));
    json_decref(j);
    return n;
}

static void test_rotation(void **state)
{
    char dir[] = "/tmp/tn-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    assert_int_equal(tn_store_open(dir, "", &s, &err), TN_OK);
    struct tn_as_keys_config c = {.store = s, .rotate_s = 4, .lead_s = 2, .token_ttl_s = 1};
    struct tn_as_keys *k = NULL;
    assert_int_equal(tn_as_keys_open(&c, &k), TN_OK);
    assert_int_equal(published(k), 1);
    char *first = sign(k);

    /* a second instance on the same store signs with the same key */
    struct tn_as_keys *k2 = NULL;
    assert_int_equal(tn_as_keys_open(&c, &k2), TN_OK);
    char *same = sign(k2);
    assert_string_equal(first, same);

    /* within the lead time of the first key's end: the successor is published but the
     * first key still signs */
    sleep(3);
    assert_true(tn_as_keys_refresh(k, tn_time_now_ms() / 1000, true));
    assert_int_equal(published(k), 2);
    char *still = sign(k);
    assert_string_equal(first, still);
    /* after the first key's end, the successor signs; the first stays published */
    sleep(2);
    tn_as_keys_refresh(k, tn_time_now_ms() / 1000, true);
    char *next = sign(k);
    assert_string_not_equal(first, next);
    assert_int_equal(published(k), 2);
    struct tn_jwks *set = tn_as_keys_jwks_copy(k);
    assert_non_null(tn_jwks_find(set, first));
    assert_non_null(tn_jwks_find(set, next));
    tn_jwks_free(set);

    free(first);
    free(same);
    free(still);
    free(next);
    tn_as_keys_free(k);
    tn_as_keys_free(k2);
    tn_store_close(s);
    tn_buf_deinit(&err);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rotation)};
    return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
