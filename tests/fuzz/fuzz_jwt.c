/* Fuzz target: JOSE on the resource server (src/auth/rs/jose.c).
 *
 * The first input byte picks a mode (byte % 3; the seeds use the digits '0'..'2'):
 *
 *   '0' VERIFY  the rest is a compact JWS, verified with tn_jwt_verify against a fixed
 *               JWKS (one RSA key kid "r" pinned to RS256, one P-256 key "e" on ES256,
 *               one Ed25519 key "o" on EdDSA; generated at the first call) and a policy
 *               with issuer "https://i" and audience "https://a". The fuzzer cannot
 *               sign with keys made at run time, so TN_OK here would be a forged token:
 *               it aborts.
 *   '1' JWKS    the rest is given to tn_jwks_parse. Every key it keeps must publish
 *               again (tn_jwk_public_json), re-import to one key with the same pinned
 *               alg, and have a thumbprint; then a token signed by our own RSA key is
 *               checked against the parsed set (it must never verify: the set cannot
 *               hold our key).
 *   '2' SIGN    the next byte picks a signer (RSA/RS256, RSA/PS256, EC/ES256,
 *               Ed25519/EdDSA); the rest is "<header bytes> NUL <payload bytes>", signed
 *               as-is with tn_jws_sign_compact and then verified. This is the only way
 *               the fuzzer reaches the checks after the signature (header rules with a
 *               real signature, payload parsing, every claim). A token that verifies
 *               must satisfy the whole policy, checked here independently.
 *
 * Time is fixed (policy.now) so verdicts are reproducible. FUZZ_JWT_TRACE=1 prints each
 * verdict, to check what a seed reaches. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth/rs/jose.h"
#include "core/buf.h"
#include "core/util.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_jwt: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define NOW 1750000000 /* 2025-06-15 */

static const char *const issuers[] = {"https://i"};
static const char *const audiences[] = {"https://a"};
static const struct tn_jwt_policy policy = {
    .issuers = issuers, .n_issuers = 1, .audiences = audiences, .n_audiences = 1,
    .now = NOW, .leeway_s = 30,
};

static struct {
    EVP_PKEY *rsa, *ec, *ed;
    struct tn_jwks *jwks;
    char *rsa_token; /* a valid token of ours, for mode JWKS */
} fx;

static const struct {
    const char *alg;
    const char *kid; /* of the key in fx.jwks that signs with alg, or NULL */
} signers[] = {{"RS256", "r"}, {"PS256", NULL}, {"ES256", "e"}, {"EdDSA", "o"}};

static bool trace; /* FUZZ_JWT_TRACE=1: print each verdict (to check the seeds) */

static EVP_PKEY *signer_key(size_t i)
{
    return i < 2 ? fx.rsa : i == 2 ? fx.ec : fx.ed;
}

static void setup(void)
{
    CHECK(tn_util_init() == TN_OK);
    trace = getenv("FUZZ_JWT_TRACE") != NULL;
    fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    CHECK(fx.rsa && fx.ec && fx.ed);
    /* Published and read back the way a JWKS endpoint and its client would. */
    json_t *doc = json_pack("{s:[o, o, o]}", "keys", tn_jwk_public_json(fx.rsa, "r", "RS256"),
                            tn_jwk_public_json(fx.ec, "e", "ES256"),
                            tn_jwk_public_json(fx.ed, "o", "EdDSA"));
    CHECK(doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    CHECK(text);
    CHECK(tn_jwks_parse(text, strlen(text), &fx.jwks, NULL) == TN_OK);
    CHECK(tn_jwks_count(fx.jwks) == 3);
    free(text);
    json_decref(doc);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I}", "iss", "https://i", "aud", "https://a",
                               "sub", "u1", "exp", (json_int_t)NOW + 3600);
    CHECK(tn_jwt_sign(fx.rsa, "RS256", "r", "at+jwt", claims, &fx.rsa_token) == TN_OK);
    enum tn_jwt_reason why;
    CHECK(tn_jwt_verify(fx.rsa_token, strlen(fx.rsa_token), fx.jwks, &policy, NULL, &why) ==
          TN_OK);
    json_decref(claims);
}

/* The verdict's own consistency: reason, result and claims agree. */
static void check_verdict(enum tn_err rc, enum tn_jwt_reason why, json_t *claims)
{
    if (trace)
        fprintf(stderr, "  verdict: %s (%s)\n", tn_err_name(rc), tn_jwt_reason_name(why));
    if (rc == TN_OK) {
        CHECK(why == TN_JWT_OK && json_is_object(claims));
    } else {
        CHECK(claims == NULL);
        CHECK(why != TN_JWT_OK && why < TN_JWT__COUNT);
        CHECK(rc == TN_ERR_BAD_INPUT || why == TN_JWT_INTERNAL);
    }
}

static void mode_verify(const uint8_t *t, size_t n)
{
    json_t *claims = (json_t *)(uintptr_t)1;
    enum tn_jwt_reason why = TN_JWT__COUNT;
    /* On the heap, exactly sized: the verifier must not read past `n`. */
    char *tok = malloc(n ? n : 1);
    CHECK(tok);
    memcpy(tok, t, n);
    enum tn_err rc = tn_jwt_verify(tok, n, fx.jwks, &policy, &claims, &why);
    check_verdict(rc, why, claims);
    CHECK(rc != TN_OK); /* nobody outside this process can sign for fx.jwks */
    free(tok);
}

static void mode_jwks(const uint8_t *d, size_t n)
{
    struct tn_jwks *set = (struct tn_jwks *)(uintptr_t)1;
    struct tn_buf err;
    tn_buf_init(&err, 512);
    char *json = malloc(n ? n : 1);
    CHECK(json);
    memcpy(json, d, n);
    enum tn_err rc = tn_jwks_parse(json, n, &set, &err);
    if (trace)
        fprintf(stderr, "  jwks: %s, %zu keys, %zu skipped: %s\n", tn_err_name(rc),
                tn_jwks_count(set == (void *)1 ? NULL : set), tn_jwks_skipped(set == (void *)1 ? NULL : set),
                err.data ? err.data : "");
    if (rc != TN_OK) {
        CHECK(set == NULL);
        CHECK(rc == TN_ERR_PARSE || rc == TN_ERR_BAD_INPUT || rc == TN_ERR_LIMIT ||
              rc == TN_ERR_NOMEM);
        goto done;
    }
    CHECK(set != NULL && tn_jwks_count(set) <= TN_JWKS_MAX_KEYS);
    for (size_t i = 0; i < tn_jwks_count(set); i++) {
        const struct tn_jwk *k = tn_jwks_key(set, i);
        CHECK(k && tn_jwk_pkey(k) && tn_jwk_alg(k));
        const char *kid = tn_jwk_kid(k);
        if (kid)
            CHECK(tn_jwks_find(set, kid) != NULL);
        /* Every kept key publishes again and reads back as one key with the same alg. */
        json_t *pub = tn_jwk_public_json(tn_jwk_pkey(k), kid, tn_jwk_alg(k));
        CHECK(pub);
        json_t *doc = json_pack("{s:[o]}", "keys", pub);
        char *text = json_dumps(doc, JSON_COMPACT);
        CHECK(text);
        struct tn_jwks *again = NULL;
        CHECK(tn_jwks_parse(text, strlen(text), &again, NULL) == TN_OK);
        CHECK(tn_jwks_count(again) == 1);
        CHECK(strcmp(tn_jwk_alg(tn_jwks_key(again, 0)), tn_jwk_alg(k)) == 0);
        tn_jwks_free(again);
        free(text);
        json_decref(doc);
        char thumb[44];
        CHECK(tn_jwk_thumbprint(tn_jwk_pkey(k), thumb) == TN_OK && strlen(thumb) == 43);
    }
    /* Key choice over an arbitrary set (duplicate kids, several keys per alg). */
    enum tn_jwt_reason why;
    json_t *claims = NULL;
    enum tn_err vr = tn_jwt_verify(fx.rsa_token, strlen(fx.rsa_token), set, &policy, &claims, &why);
    check_verdict(vr, why, claims);
    CHECK(vr != TN_OK);
    tn_jwks_free(set);
done:
    tn_buf_deinit(&err);
    free(json);
}

static bool has_string(json_t *v, const char *s)
{
    return json_is_string(v) && strlen(s) == json_string_length(v) &&
           memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

/* What a verified token must be, restated from jose.h without the verifier's code. */
static void check_accepted(const uint8_t *hdr, size_t hl, size_t signer, json_t *claims)
{
    json_t *h = json_loadb((const char *)hdr, hl, JSON_REJECT_DUPLICATES, NULL);
    CHECK(json_is_object(h));
    CHECK(has_string(json_object_get(h, "alg"), signers[signer].alg));
    CHECK(signers[signer].kid != NULL); /* PS256 is pinned to no key of ours */
    json_t *kid = json_object_get(h, "kid");
    CHECK(!kid || has_string(kid, signers[signer].kid));
    static const char *const forbidden[] = {"jwk", "jku", "x5u", "x5c", "crit"};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        CHECK(json_object_get(h, forbidden[i]) == NULL);
    json_decref(h);

    CHECK(has_string(json_object_get(claims, "iss"), "https://i"));
    json_t *aud = json_object_get(claims, "aud");
    bool aud_ok = has_string(aud, "https://a");
    for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
        CHECK(json_is_string(json_array_get(aud, i)));
        aud_ok = aud_ok || has_string(json_array_get(aud, i), "https://a");
    }
    CHECK(aud_ok);
    json_t *sub = json_object_get(claims, "sub");
    CHECK(json_is_string(sub) && json_string_length(sub) > 0);
    json_t *exp = json_object_get(claims, "exp");
    CHECK(json_is_number(exp) && json_number_value(exp) > NOW - policy.leeway_s);
    json_t *nbf = json_object_get(claims, "nbf");
    CHECK(!nbf || (json_is_number(nbf) && json_number_value(nbf) <= NOW + policy.leeway_s));
    json_t *iat = json_object_get(claims, "iat");
    CHECK(!iat || (json_is_number(iat) && json_number_value(iat) <= NOW + policy.leeway_s));
}

static void mode_sign(const uint8_t *d, size_t n)
{
    if (n < 1)
        return;
    size_t signer = d[0] % 4;
    d++, n--;
    const uint8_t *nul = memchr(d, 0, n);
    size_t hl = nul ? (size_t)(nul - d) : n;
    const uint8_t *pay = nul ? nul + 1 : (const uint8_t *)"";
    size_t pl = nul ? n - hl - 1 : 0;
    char *tok = NULL;
    enum tn_err rc = tn_jws_sign_compact(signer_key(signer), signers[signer].alg, d, hl, pay, pl,
                                         &tok);
    CHECK(rc == TN_OK && tok);
    json_t *claims = NULL;
    enum tn_jwt_reason why = TN_JWT__COUNT;
    rc = tn_jwt_verify(tok, strlen(tok), fx.jwks, &policy, &claims, &why);
    check_verdict(rc, why, claims);
    if (rc == TN_OK)
        check_accepted(d, hl, signer, claims);
    json_decref(claims);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fx.jwks)
        setup();
    if (size < 1 || size > 64 * 1024)
        return 0;
    switch (data[0] % 3) {
    case 0: mode_verify(data + 1, size - 1); break;
    case 1: mode_jwks(data + 1, size - 1); break;
    default: mode_sign(data + 1, size - 1); break;
    }
    return 0;
}
