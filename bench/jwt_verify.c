/* Micro benchmark: full tn_jwt_verify (split, base64url, header JSON, kid lookup,
 * signature, payload JSON, claims) per algorithm, in thread CPU time so that other
 * load on a shared machine does not count.
 *
 * Build and run (optimised, no sanitizers):
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Isrc src/auth/rs/jose.c src/core/buf.c src/core/err.c \
 *       src/core/util.c bench/jwt_verify.c -ljansson -lcrypto -lsodium -o /tmp/jwt_verify
 *   /tmp/jwt_verify [iterations]      (default 2000 per algorithm)
 *
 * Keys are generated at start and published the way a JWKS endpoint would publish them
 * (tn_jwk_public_json → JWKS document → tn_jwks_parse), with five keys in the set so that
 * the kid lookup is not trivially the first entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/rs/jose.h"
#include "core/util.h"

static double thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    if (iterations <= 0 || tn_util_init() != TN_OK) {
        fprintf(stderr, "usage: %s [iterations > 0]\n", argv[0]);
        return 2;
    }
    static const struct {
        const char *alg, *type, *kid;
        int rsa_bits;
        const char *curve;
    } algs[] = {
        {"RS256", "RSA", "k-rs", 2048, NULL},
        {"PS256", "RSA", "k-ps", 2048, NULL},
        {"ES256", "EC", "k-es", 0, "P-256"},
        {"EdDSA", "ED25519", "k-ed", 0, NULL},
    };
    enum { N_ALGS = sizeof algs / sizeof algs[0] };
    EVP_PKEY *keys[N_ALGS + 1] = {0};
    char *tokens[N_ALGS] = {0};
    json_t *jwks = json_array();
    int rc = 1;

    for (size_t i = 0; i < N_ALGS; i++) {
        keys[i] = algs[i].rsa_bits
                      ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)algs[i].rsa_bits)
                  : algs[i].curve ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", algs[i].curve)
                                  : EVP_PKEY_Q_keygen(NULL, NULL, algs[i].type);
        if (!keys[i] ||
            json_array_append_new(jwks, tn_jwk_public_json(keys[i], algs[i].kid, algs[i].alg)))
            goto done;
    }
    /* a decoy listed first */
    keys[N_ALGS] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!keys[N_ALGS] || json_array_insert_new(jwks, 0, tn_jwk_public_json(keys[N_ALGS], "decoy",
                                                                           NULL)))
        goto done;

    json_t *doc = json_pack("{s:o}", "keys", jwks);
    jwks = NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct tn_jwks *set = NULL;
    if (!text || tn_jwks_parse(text, strlen(text), &set, NULL) != TN_OK) {
        free(text);
        goto done;
    }
    free(text);

    int64_t now = tn_time_now_ms() / 1000;
    static const char *const iss[] = {"https://as.example.com"};
    static const char *const aud[] = {"https://notes.example.com/mcp"};
    struct tn_jwt_policy p = {iss, 1, aud, 1, now, 60, 0};
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", iss[0], "aud",
                               aud[0], "sub", "alice", "iat", (json_int_t)now, "exp",
                               (json_int_t)now + 3600, "scope", "notes:read notes:write",
                               "client_id", "bench");

    printf("jwt_verify: %ld verifications per algorithm, thread CPU time, %zu keys in set\n",
           iterations, tn_jwks_count(set));
    for (size_t i = 0; i < N_ALGS; i++) {
        if (tn_jwt_sign(keys[i], algs[i].alg, algs[i].kid, "at+jwt", claims, &tokens[i]) !=
            TN_OK)
            goto out;
        size_t len = strlen(tokens[i]);
        enum tn_jwt_reason why;
        for (int w = 0; w < 50; w++) /* warm caches and lazy OpenSSL initialisation */
            if (tn_jwt_verify(tokens[i], len, set, &p, NULL, &why) != TN_OK)
                goto out;
        double t0 = thread_cpu_us();
        for (long n = 0; n < iterations; n++) {
            json_t *c = NULL;
            if (tn_jwt_verify(tokens[i], len, set, &p, &c, &why) != TN_OK) {
                fprintf(stderr, "%s: refused: %s\n", algs[i].alg, tn_jwt_reason_name(why));
                goto out;
            }
            json_decref(c);
        }
        double us = (thread_cpu_us() - t0) / (double)iterations;
        printf("%-6s %8.1f us/verify  %8.0f verifies/s per core  (token %zu bytes)\n",
               algs[i].alg, us, 1e6 / us, len);
    }

    /* the cheapest refusal, for comparison: a token whose kid is unknown */
    {
        char *tok = NULL;
        if (tn_jwt_sign(keys[0], "RS256", "nope", NULL, claims, &tok) != TN_OK)
            goto out;
        size_t len = strlen(tok);
        enum tn_jwt_reason why;
        double t0 = thread_cpu_us();
        for (long n = 0; n < iterations; n++)
            (void)tn_jwt_verify(tok, len, set, &p, NULL, &why);
        double us = (thread_cpu_us() - t0) / (double)iterations;
        printf("%-6s %8.1f us/refusal (unknown kid, no signature check)\n", "-", us);
        free(tok);
    }
    rc = 0;
out:
    json_decref(claims);
    tn_jwks_free(set);
done:
    json_decref(jwks);
    for (size_t i = 0; i < N_ALGS; i++)
        free(tokens[i]);
    for (size_t i = 0; i <= N_ALGS; i++)
        EVP_PKEY_free(keys[i]);
    if (rc)
        fprintf(stderr, "jwt_verify: setup or verification failed\n");
    return rc;
}
