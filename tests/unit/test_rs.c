/* The resource server with local keys: issuers, audiences, the verified-token cache and
 * the exact challenges; with keys fetched from an issuer: how long an outage is survived
 * (AUTH_JWKS_MAX_STALE_S). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "auth/rs/rs.h"
#include "core/fetch.h"
#include "core/util.h"
#include "http/server.h"

static EVP_PKEY *key;
static struct tn_jwks *keys;
static struct tn_rs *rs;
static char kid[44];

static const char *issuers[] = {"https://env.example.com/resources/res_1",
                                "https://env.example.com"};
static const char *auds[] = {"https://notes.example.com/mcp", "res_1"};

static int setup(void **state)
{
    tn_util_init();
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    tn_jwk_thumbprint(key, kid);
    assert_int_equal(tn_jwks_from_pkey(key, kid, "ES256", &keys), TN_OK);
    struct tn_rs_config c = {
        .resource = "https://notes.example.com/mcp",
        .prm_url = "https://notes.example.com/.well-known/oauth-protected-resource/mcp",
        .issuers = issuers,
        .n_issuers = 2,
        .audiences = auds,
        .n_audiences = 2,
        .scopes = "notes:read notes:write",
        .leeway_s = 0,
        .cache_slots = 64,
        .local_keys = keys,
    };
    rs = tn_rs_new(&c);
    return rs ? 0 : 1;
}

static int teardown(void **state)
{
    tn_rs_free(rs);
    tn_jwks_free(keys);
    EVP_PKEY_free(key);
    return 0;
}

static char *token_by(EVP_PKEY *k, const char *k_kid, const char *iss, const char *aud,
                      int64_t exp_delta, const char *sub)
{
    int64_t now = tn_time_now_ms() / 1000;
    json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:s, s:[s]}", "iss", iss, "aud", aud, "exp",
                          (json_int_t)(now + exp_delta), "iat", (json_int_t)now, "scope",
                          "notes:read", "permissions", "notes:read");
    if (sub)
        json_object_set_new(c, "sub", json_string(sub));
    char *t = NULL;
    assert_int_equal(tn_jwt_sign(k, "ES256", k_kid, "at+jwt", c, &t), TN_OK);
    json_decref(c);
    size_t n = strlen(t) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", t);
    free(t);
    return h;
}

static char *token(const char *iss, const char *aud, int64_t exp_delta, const char *sub)
{
    return token_by(key, kid, iss, aud, exp_delta, sub);
}

static void test_verdicts(void **state)
{
    struct {
        const char *iss, *aud;
        int64_t exp;
        const char *sub;
        enum tn_rs_verdict v;
        enum tn_jwt_reason why;
    } cases[] = {
        {issuers[0], auds[0], 60, "u1", TN_RS_OK, TN_JWT_OK},
        {issuers[1], auds[0], 60, "u2", TN_RS_OK, TN_JWT_OK}, /* both issuer forms */
        {issuers[1], "res_1", 60, "u3", TN_RS_OK, TN_JWT_OK}, /* configured audience */
        {"https://evil.example.com", auds[0], 60, "u4", TN_RS_INVALID, TN_JWT_BAD_ISSUER},
        {issuers[0], "https://other.example.com/mcp", 60, "u5", TN_RS_INVALID, TN_JWT_BAD_AUDIENCE},
        {issuers[0], auds[0], -5, "u6", TN_RS_EXPIRED, TN_JWT_EXPIRED},
        {issuers[0], auds[0], 60, NULL, TN_RS_INVALID, TN_JWT_NO_SUBJECT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *h = token(cases[i].iss, cases[i].aud, cases[i].exp, cases[i].sub);
        struct tn_principal *p = NULL;
        enum tn_jwt_reason why;
        enum tn_rs_verdict v = tn_rs_authenticate(rs, h, &p, &why);
        if (v != cases[i].v || why != cases[i].why) {
            print_error("case %zu: verdict %d reason %s\n", i, v, tn_jwt_reason_name(why));
            fail();
        }
        if (v == TN_RS_OK)
            assert_string_equal(p->subject, cases[i].sub);
        tn_principal_release(p);
        free(h);
    }
}

static void test_header_forms(void **state)
{
    struct tn_principal *p = NULL;
    enum tn_jwt_reason why;
    assert_int_equal(tn_rs_authenticate(rs, NULL, &p, &why), TN_RS_NO_TOKEN);
    assert_int_equal(tn_rs_authenticate(rs, "Basic YTpi", &p, &why), TN_RS_NO_TOKEN);
    assert_int_equal(tn_rs_authenticate(rs, "Bearer", &p, &why), TN_RS_NO_TOKEN);
    assert_int_equal(tn_rs_authenticate(rs, "Bearer a b", &p, &why), TN_RS_INVALID);
    assert_int_equal(tn_rs_authenticate(rs, "Bearer \"quoted\"", &p, &why), TN_RS_INVALID);
    char *big = malloc(9000);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', 8990);
    big[8997] = '\0';
    assert_int_equal(tn_rs_authenticate(rs, big, &p, &why), TN_RS_INVALID);
    assert_int_equal(why, TN_JWT_TOO_LARGE);
    free(big);
    /* not shaped like a JWS (dots, alphabet): refused as malformed without verifying,
     * even right after the token it differs from by a byte was verified and cached */
    char *good = token(issuers[0], auds[0], 60, "shape");
    assert_int_equal(tn_rs_authenticate(rs, good, &p, &why), TN_RS_OK);
    tn_principal_release(p);
    size_t gl = strlen(good);
    char *dotted = malloc(gl + 3);
    snprintf(dotted, gl + 3, "%s.x", good);
    char *bad_char = strdup(good);
    bad_char[gl - 3] = '!';
    const char *const malformed[] = {"Bearer abc",    "Bearer a.b",     "Bearer a.b.c.d",
                                     "Bearer a.b!.c", "Bearer a.b.c=x", dotted,
                                     bad_char};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        struct tn_rs_stats before, after;
        tn_rs_stats(rs, &before);
        why = TN_JWT_OK;
        assert_int_equal(tn_rs_authenticate(rs, malformed[i], &p, &why), TN_RS_INVALID);
        assert_int_equal(why, TN_JWT_MALFORMED);
        assert_null(p);
        tn_rs_stats(rs, &after);
        assert_int_equal(after.verifications, before.verifications);
    }
    free(dotted);
    free(bad_char);
    free(good);
    /* the scheme is case-insensitive */
    char *h = token(issuers[0], auds[0], 60, "case");
    memcpy(h, "bEaReR", 6);
    assert_int_equal(tn_rs_authenticate(rs, h, &p, &why), TN_RS_OK);
    tn_principal_release(p);
    free(h);
}

static void test_cache_skips_verification(void **state)
{
    char *h = token(issuers[0], auds[0], 60, "cached");
    struct tn_rs_stats a, b;
    struct tn_principal *p1 = NULL, *p2 = NULL;
    tn_rs_stats(rs, &a);
    assert_int_equal(tn_rs_authenticate(rs, h, &p1, NULL), TN_RS_OK);
    assert_int_equal(tn_rs_authenticate(rs, h, &p2, NULL), TN_RS_OK);
    tn_rs_stats(rs, &b);
    assert_int_equal(b.verifications - a.verifications, 1);
    assert_int_equal(b.cache_hits - a.cache_hits, 1);
    assert_ptr_equal(p1, p2);
    tn_principal_release(p1);
    tn_principal_release(p2);
    /* a one-byte change is a different token: verified (and refused). The byte is a
     * full base64url digit of the signature, replaced by another valid digit (flipping
     * a bit could give a character outside the alphabet, refused before verifying) */
    char *last = h + strlen(h) - 2, was = *last;
    *last = was == 'A' ? 'B' : 'A';
    struct tn_principal *p3 = NULL;
    assert_int_equal(tn_rs_authenticate(rs, h, &p3, NULL), TN_RS_INVALID);
    tn_rs_cache_clear(rs);
    *last = was;
    assert_int_equal(tn_rs_authenticate(rs, h, &p3, NULL), TN_RS_OK);
    tn_rs_stats(rs, &a);
    assert_int_equal(a.verifications - b.verifications, 2);
    tn_principal_release(p3);
    free(h);
}

static void test_challenges(void **state)
{
    struct tn_buf www, body;
    tn_buf_init(&www, 4096);
    tn_buf_init(&body, 4096);
    assert_int_equal(tn_rs_challenge(rs, TN_RS_NO_TOKEN, &www, &body), 401);
    assert_string_equal(
        www.data,
        "Bearer resource_metadata=\"https://notes.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read notes:write\"");
    assert_int_equal(tn_rs_challenge(rs, TN_RS_EXPIRED, &www, &body), 401);
    assert_string_equal(
        www.data,
        "Bearer error=\"invalid_token\", error_description=\"Token has expired\", resource_metadata=\"https://notes.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read notes:write\"");
    assert_string_equal(
        body.data,
        "{\"error\":\"token_expired\",\"error_description\":\"Access token has expired. Please refresh your token.\"}");
    assert_int_equal(tn_rs_challenge(rs, TN_RS_UNAVAILABLE, &www, &body), 503);
    assert_int_equal(www.len, 0);
    tn_rs_insufficient_scope(rs, "notes:write notes:read", &www, &body);
    assert_string_equal(
        www.data,
        "Bearer error=\"insufficient_scope\", scope=\"notes:write notes:read\", resource_metadata=\"https://notes.example.com/.well-known/oauth-protected-resource/mcp\", error_description=\"Additional scope required\"");
    json_t *m = tn_rs_metadata(rs);
    assert_string_equal(json_string_value(json_object_get(m, "resource")),
                        "https://notes.example.com/mcp");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(m, "authorization_servers"), 0)),
        issuers[0]);
    assert_int_equal(json_array_size(json_object_get(m, "scopes_supported")), 2);
    json_decref(m);
    tn_buf_deinit(&www);
    tn_buf_deinit(&body);
}

/* ---------- external keys and an issuer outage ---------- */

static atomic_bool jwks_down;
static atomic_int jwks_delay_ms;
static char *jwks_text;

static void sleep_ms(long ms);

static void h_jwks(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    if (atomic_load(&jwks_delay_ms))
        sleep_ms(atomic_load(&jwks_delay_ms));
    if (atomic_load(&jwks_down)) {
        tn_http_resp_json(resp, 503, "{}", 2);
        return;
    }
    tn_http_resp_json(resp, 200, jwks_text, strlen(jwks_text));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static enum tn_rs_verdict auth(struct tn_rs *ext, const char *h)
{
    struct tn_principal *p = NULL;
    enum tn_rs_verdict v = tn_rs_authenticate(ext, h, &p, NULL);
    tn_principal_release(p);
    return v;
}

/* An issuer serving jwks_text (503 while jwks_down) on a port of its own; *c gets a
 * resource server configuration that fetches from it. */
static struct tn_http_server *issuer_up(char *uri, size_t n, struct tn_rs_config *c)
{
    assert_int_equal(tn_fetch_global_init(), TN_OK);
    json_t *jwk = tn_jwk_public_json(key, kid, "ES256");
    json_t *set = json_pack("{s:[o]}", "keys", jwk);
    jwks_text = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    atomic_store(&jwks_down, false);
    atomic_store(&jwks_delay_ms, 0);
    struct tn_http_config hc = {.host = "127.0.0.1",
                                .port = 0,
                                .base_url = "http://127.0.0.1",
                                .allowed_origins = "",
                                .allowed_hosts = "",
                                .limits = {.max_body = 1024,
                                           .max_header_bytes = 8192,
                                           .max_headers = 64,
                                           .conn_memory = 32768,
                                           .max_connections = 64,
                                           .conn_timeout_s = 10,
                                           .threads = 1,
                                           .heartbeat_s = 15}};
    struct tn_http_server *idp = tn_http_server_new(&hc);
    assert_non_null(idp);
    assert_int_equal(tn_http_route(idp, "/jwks", TN_HTTP_EXACT, h_jwks, NULL), TN_OK);
    assert_int_equal(tn_http_server_start(idp), TN_OK);
    snprintf(uri, n, "http://127.0.0.1:%u/jwks", tn_http_server_port(idp));
    *c = (struct tn_rs_config){
        .resource = "https://notes.example.com/mcp",
        .prm_url = "https://notes.example.com/.well-known/oauth-protected-resource/mcp",
        .issuers = issuers,
        .n_issuers = 2,
        .audiences = auds,
        .n_audiences = 2,
        .scopes = "notes:read",
        .cache_slots = 64,
        .jwks_uri = uri,
        .allow_loopback_http = true,
        .fetch_timeout_ms = 2000,
        .refetch_cooldown_s = 1,
        .jwks_max_stale_s = 5, /* room for a loaded machine between the first steps */
    };
    return idp;
}

static void test_jwks_max_stale(void **state)
{
    (void)state;
    char uri[64];
    struct tn_rs_config c;
    struct tn_http_server *idp = issuer_up(uri, sizeof uri, &c);
    struct tn_rs *ext = tn_rs_new(&c);
    assert_non_null(ext);
    char *early = token(issuers[0], auds[0], 60, "early");
    char *during = token(issuers[0], auds[0], 60, "during");
    char *late = token(issuers[0], auds[0], 60, "late");
    struct tn_rs_stats st;

    assert_int_equal(auth(ext, early), TN_RS_OK); /* keys fetched now */
    atomic_store(&jwks_down, true);
    /* the issuer is down, the keys are young: cached keys verify, the cache answers */
    assert_int_equal(auth(ext, during), TN_RS_OK);
    assert_int_equal(auth(ext, early), TN_RS_OK);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 1);
    assert_int_equal(st.cache_hits, 1);

    sleep_ms(5300); /* past the bound: the keys were fetched 5.3 s ago */
    /* a new token: the refresh fails, the keys are too old to use: 503, not 401 */
    assert_int_equal(auth(ext, late), TN_RS_UNAVAILABLE);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 2);
    assert_int_equal(st.key_fetch_failures, 1);
    /* tokens verified with those keys stop too, cache or not */
    unsigned long hits = st.cache_hits;
    assert_int_equal(auth(ext, early), TN_RS_UNAVAILABLE);
    assert_int_equal(auth(ext, during), TN_RS_UNAVAILABLE);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.cache_hits, hits);
    /* what is not a JWT at all is still 401, outage or not */
    assert_int_equal(auth(ext, "Bearer garbage"), TN_RS_INVALID);

    /* the issuer is back: after the cooldown, keys are fetched and everything works */
    atomic_store(&jwks_down, false);
    sleep_ms(1100);
    assert_int_equal(auth(ext, late), TN_RS_OK);
    assert_int_equal(auth(ext, early), TN_RS_OK);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetch_failures, 1);

    free(early);
    free(during);
    free(late);
    tn_rs_free(ext);
    tn_http_server_free(idp);
    free(jwks_text);
}

/* The refresh ahead: nothing while the keys are young or when there are none, a fetch
 * once they have lived three quarters of their time (here 8 s: AUTH_JWKS_MAX_STALE_S),
 * so that tokens never meet expired keys; an issuer that is down leaves the keys in use
 * and is asked again after the cooldown (5 s), not before. */
static void test_jwks_refresh_ahead(void **state)
{
    (void)state;
    char uri[64];
    struct tn_rs_config c;
    struct tn_http_server *idp = issuer_up(uri, sizeof uri, &c);
    c.jwks_max_stale_s = 8;
    c.refetch_cooldown_s = 5;
    struct tn_rs_stats st;
    struct tn_rs *none = tn_rs_new(&c);
    assert_non_null(none);
    tn_rs_refresh_ahead(none); /* no keys yet: the requests fetch, not this */
    tn_rs_stats(none, &st);
    assert_int_equal(st.key_fetches, 0);
    tn_rs_free(none);

    struct tn_rs *ext = tn_rs_new(&c);
    assert_non_null(ext);
    char *tok = token(issuers[0], auds[0], 60, "ahead");
    assert_int_equal(auth(ext, tok), TN_RS_OK); /* fetched now */
    tn_rs_refresh_ahead(ext);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 1);
    sleep_ms(6200); /* 6.2 s of 8: due */
    tn_rs_refresh_ahead(ext);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 2);
    assert_int_equal(st.key_fetch_failures, 0);
    tn_rs_refresh_ahead(ext); /* just fetched: nothing */
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 2);
    sleep_ms(3000); /* the first keys expired a second ago; these are 3 s old */
    assert_int_equal(auth(ext, tok), TN_RS_OK);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 2); /* the request did not fetch */

    /* the issuer down: the due refresh fails, is not tried again within the cooldown,
     * and the keys still serve */
    sleep_ms(3000);
    atomic_store(&jwks_down, true);
    tn_rs_refresh_ahead(ext);
    tn_rs_refresh_ahead(ext);
    tn_rs_stats(ext, &st);
    assert_int_equal(st.key_fetches, 3);
    assert_int_equal(st.key_fetch_failures, 1);
    assert_int_equal(auth(ext, tok), TN_RS_OK);

    free(tok);
    tn_rs_free(ext);
    tn_http_server_free(idp);
    free(jwks_text);
}

static enum tn_rs_verdict auth_now(struct tn_rs *ext, const char *h)
{
    struct tn_principal *p = NULL;
    enum tn_jwt_reason why = TN_JWT_INTERNAL;
    enum tn_rs_verdict v = tn_rs_authenticate_now(ext, h, &p, &why);
    if (v == TN_RS_LATER) { /* nothing done, nothing to release, no reason given */
        assert_null(p);
        assert_int_equal(why, TN_JWT_OK);
    }
    tn_principal_release(p);
    return v;
}

static unsigned long fetches(struct tn_rs *ext)
{
    struct tn_rs_stats st;
    tn_rs_stats(ext, &st);
    return st.key_fetches;
}

static unsigned long verifications(struct tn_rs *ext)
{
    struct tn_rs_stats st;
    tn_rs_stats(ext, &st);
    return st.verifications;
}

/* Waits (up to 3 s) until n fetches have begun. */
static void wait_fetches(struct tn_rs *ext, unsigned long n)
{
    for (int i = 0; i < 300 && fetches(ext) < n; i++)
        sleep_ms(10);
    assert_int_equal(fetches(ext), n);
}

struct bg_auth {
    struct tn_rs *rs;
    const char *tok;
    enum tn_rs_verdict v;
};

static void *bg_auth_main(void *arg)
{
    struct bg_auth *b = arg;
    b->v = auth(b->rs, b->tok);
    return NULL;
}

/* tn_rs_authenticate_now (an event loop's) never fetches or waits for a fetch: it says
 * TN_RS_LATER exactly where tn_rs_authenticate would go to the network, and gives every
 * other verdict as that would, at once. */
static void test_jwks_no_wait(void **state)
{
    (void)state;
    char uri[64];
    struct tn_rs_config c;
    struct tn_http_server *idp = issuer_up(uri, sizeof uri, &c);
    c.jwks_max_stale_s = 600;
    c.refetch_cooldown_s = 2;
    c.fetch_timeout_ms = 5000;
    struct tn_rs *ext = tn_rs_new(&c);
    assert_non_null(ext);
    char *t1 = token(issuers[0], auds[0], 60, "one");
    char *t2 = token(issuers[0], auds[0], 60, "two");

    /* no keys yet */
    assert_int_equal(auth_now(ext, t1), TN_RS_LATER);
    assert_int_equal(fetches(ext), 0);
    assert_int_equal(auth(ext, t1), TN_RS_OK); /* where waiting is allowed: fetched */
    assert_int_equal(fetches(ext), 1);
    assert_int_equal(auth_now(ext, t1), TN_RS_OK); /* the cache */
    assert_int_equal(auth_now(ext, t2), TN_RS_OK); /* verified with the keys in hand */
    /* what needs no keys is answered as ever */
    assert_int_equal(auth_now(ext, "Bearer garbage"), TN_RS_INVALID);
    assert_int_equal(auth_now(ext, NULL), TN_RS_NO_TOKEN);
    char *expired = token(issuers[0], auds[0], -60, "old");
    assert_int_equal(auth_now(ext, expired), TN_RS_EXPIRED);

    /* a key we do not have: past the cooldown, later; within it, refused at once */
    EVP_PKEY *key2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char kid2[44];
    tn_jwk_thumbprint(key2, kid2);
    char *other = token_by(key2, kid2, issuers[0], auds[0], 60, "rotated");
    sleep_ms(2100);
    unsigned long v0 = verifications(ext);
    assert_int_equal(auth_now(ext, other), TN_RS_LATER);
    assert_int_equal(fetches(ext), 1);
    assert_int_equal(verifications(ext), v0);          /* counted where it is decided, once */
    assert_int_equal(auth(ext, other), TN_RS_INVALID); /* fetched: the issuer lacks it too */
    assert_int_equal(fetches(ext), 2);
    assert_int_equal(verifications(ext), v0 + 1);
    assert_int_equal(auth_now(ext, other), TN_RS_INVALID);
    assert_int_equal(fetches(ext), 2);

    /* the issuer rotates to the new key: later, then verified where waiting is allowed */
    json_t *set = json_pack("{s:[o,o]}", "keys", tn_jwk_public_json(key, kid, "ES256"),
                            tn_jwk_public_json(key2, kid2, "ES256"));
    assert_non_null(set);
    free(jwks_text);
    jwks_text = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    sleep_ms(2100);
    assert_int_equal(auth_now(ext, other), TN_RS_LATER);
    assert_int_equal(auth(ext, other), TN_RS_OK);
    assert_int_equal(fetches(ext), 3);
    assert_int_equal(auth_now(ext, other), TN_RS_OK);
    tn_rs_free(ext);

    /* a fetch under way on another thread (the issuer takes 1.5 s) is not waited for:
     * with no keys in hand, later; with keys, a token is verified with them at once */
    atomic_store(&jwks_delay_ms, 1500);
    ext = tn_rs_new(&c);
    assert_non_null(ext);
    struct bg_auth bg = {ext, t1, TN_RS_INVALID};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_auth_main, &bg), 0);
    wait_fetches(ext, 1); /* counted as the fetch begins */
    int64_t t0 = tn_time_now_ms();
    assert_int_equal(auth_now(ext, t2), TN_RS_LATER);
    assert_true(tn_time_now_ms() - t0 < 500);
    pthread_join(th, NULL);
    assert_int_equal(bg.v, TN_RS_OK);
    assert_int_equal(fetches(ext), 1);
    assert_int_equal(auth_now(ext, t2), TN_RS_OK);

    EVP_PKEY *key3 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char kid3[44];
    tn_jwk_thumbprint(key3, kid3);
    char *third = token_by(key3, kid3, issuers[0], auds[0], 60, "nobody's");
    char *t3 = token(issuers[0], auds[0], 60, "three");
    sleep_ms(2100); /* past the cooldown: the unknown key fetches */
    bg = (struct bg_auth){ext, third, TN_RS_OK};
    assert_int_equal(pthread_create(&th, NULL, bg_auth_main, &bg), 0);
    wait_fetches(ext, 2);
    t0 = tn_time_now_ms();
    assert_int_equal(auth_now(ext, t3), TN_RS_OK);
    assert_true(tn_time_now_ms() - t0 < 500);
    pthread_join(th, NULL);
    assert_int_equal(bg.v, TN_RS_INVALID);
    free(third);
    free(t3);
    EVP_PKEY_free(key3);

    free(t1);
    free(t2);
    free(expired);
    free(other);
    EVP_PKEY_free(key2);
    tn_rs_free(ext);
    tn_http_server_free(idp);
    free(jwks_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_header_forms),
        cmocka_unit_test(test_cache_skips_verification),
        cmocka_unit_test(test_challenges),
        cmocka_unit_test(test_jwks_max_stale),
        cmocka_unit_test(test_jwks_refresh_ahead),
        cmocka_unit_test(test_jwks_no_wait),
    };
    return cmocka_run_group_tests_name("rs", tests, setup, teardown);
}
