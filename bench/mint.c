/* Benchmark helper: mints access tokens and publishes the matching JWKS, so that the
 * benchmark can run the server against an external issuer whose documents nginx serves
 * as static files.
 *
 *   tn-mint key  ES256|RS256 KEY.pem            new private key (PEM, mode 0600)
 *   tn-mint jwks KID:ALG:KEY.pem...             the public JWKS document on stdout
 *   tn-mint tokens KEY.pem ALG KID ISS AUD SUB_PREFIX USERS COUNT [TTL_S]
 *       COUNT tokens, one per line, for subjects SUB_PREFIX0..SUB_PREFIX(USERS-1) in turn;
 *       each carries a distinct jti, so every one is a new token to the server's cache. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/rs/jose.h"

static EVP_PKEY *load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "tn-mint: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k)
        fprintf(stderr, "tn-mint: %s: not a PEM private key\n", path);
    return k;
}

static int cmd_key(const char *alg, const char *path)
{
    EVP_PKEY *k = !strcmp(alg, "ES256")   ? EVP_EC_gen("P-256")
                  : !strcmp(alg, "RS256") ? EVP_RSA_gen(2048)
                                          : NULL;
    if (!k) {
        fprintf(stderr, "tn-mint: unknown alg %s (ES256 or RS256)\n", alg);
        return 2;
    }
    mode_t old = umask(077);
    FILE *f = fopen(path, "w");
    umask(old);
    int ok = f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    if (f)
        fclose(f);
    EVP_PKEY_free(k);
    if (!ok) {
        fprintf(stderr, "tn-mint: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int cmd_jwks(int n, char **specs)
{
    json_t *keys = json_array();
    for (int i = 0; i < n; i++) {
        char spec[1024];
        snprintf(spec, sizeof spec, "%s", specs[i]);
        char *kid = spec, *alg = strchr(kid, ':');
        char *path = alg ? strchr(alg + 1, ':') : NULL;
        if (!alg || !path) {
            fprintf(stderr, "tn-mint: expected KID:ALG:KEY.pem, got %s\n", specs[i]);
            return 2;
        }
        *alg++ = '\0';
        *path++ = '\0';
        EVP_PKEY *k = load_key(path);
        json_t *jwk = k ? tn_jwk_public_json(k, kid, alg) : NULL;
        EVP_PKEY_free(k);
        if (!jwk)
            return 1;
        json_array_append_new(keys, jwk);
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    json_dumpf(doc, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(doc);
    return 0;
}

static int cmd_tokens(char **a, int argc)
{
    EVP_PKEY *k = load_key(a[0]);
    if (!k)
        return 1;
    const char *alg = a[1], *kid = a[2], *iss = a[3], *aud = a[4], *prefix = a[5];
    long users = strtol(a[6], NULL, 10), count = strtol(a[7], NULL, 10);
    long ttl = argc > 8 ? strtol(a[8], NULL, 10) : 7200;
    if (users < 1 || count < 1 || ttl < 1) {
        fprintf(stderr, "tn-mint: USERS, COUNT and TTL must be positive\n");
        EVP_PKEY_free(k);
        return 2;
    }
    long now = (long)time(NULL);
    for (long i = 0; i < count; i++) {
        char sub[256], jti[32];
        snprintf(sub, sizeof sub, "%s%ld", prefix, i % users);
        snprintf(jti, sizeof jti, "b%ld-%ld", now, i);
        json_t *c = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:[ss]}", "iss", iss, "aud", aud,
                              "sub", sub, "iat", (json_int_t)now, "exp", (json_int_t)(now + ttl),
                              "jti", jti, "scope", "notes:read notes:write", "permissions",
                              "notes:read", "notes:write");
        char *tok = NULL;
        enum tn_err e = c ? tn_jwt_sign(k, alg, kid, "at+jwt", c, &tok) : TN_ERR_NOMEM;
        json_decref(c);
        if (e != TN_OK) {
            fprintf(stderr, "tn-mint: signing failed (%d)\n", (int)e);
            EVP_PKEY_free(k);
            return 1;
        }
        puts(tok);
        free(tok);
    }
    EVP_PKEY_free(k);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "key"))
        return cmd_key(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "jwks"))
        return cmd_jwks(argc - 2, argv + 2);
    if (argc >= 10 && !strcmp(argv[1], "tokens"))
        return cmd_tokens(argv + 2, argc - 2);
    fprintf(stderr, "usage: tn-mint key ES256|RS256 KEY.pem\n"
                    "       tn-mint jwks KID:ALG:KEY.pem...\n"
                    "       tn-mint tokens KEY.pem ALG KID ISS AUD SUB_PREFIX USERS COUNT [TTL_S]\n");
    return 2;
}
