/* JOSE on OpenSSL 3 EVP, the keys: algorithms and the keys they fit, JWK import, key
 * sets. The rules are in jose.h; the verifier is in jose_verify.c, signing and
 * publishing in jose_sign.c. */
#include "auth/rs/jose_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "core/util.h"

/* ---- algorithms and keys ----------------------------------------------------------- */

const char *const tn_jose_alg_names[] = {
    [ALG_RS256] = TN_JOSE_ALG_RS256,
    [ALG_PS256] = TN_JOSE_ALG_PS256,
    [ALG_ES256] = TN_JOSE_ALG_ES256,
    [ALG_EDDSA] = TN_JOSE_ALG_EDDSA,
};

/* Exact, case-sensitive: "rs256" is not RS256 (RFC 7515 §4.1.1). */
enum alg tn_jose_alg_from_name(const char *s)
{
    for (size_t i = 1; i < sizeof tn_jose_alg_names / sizeof tn_jose_alg_names[0]; i++)
        if (strcmp(s, tn_jose_alg_names[i]) == 0)
            return (enum alg)i;
    return ALG_UNKNOWN;
}

/* The kinds of key we work with; anything else (RSA-PSS restricted keys, other curves,
 * short or huge RSA) is KIND_NONE and never used. */
enum kind tn_jose_key_kind(EVP_PKEY *k)
{
    if (EVP_PKEY_is_a(k, "RSA")) {
        int bits = EVP_PKEY_get_bits(k);
        return bits >= TN_JWK_RSA_MIN_BITS && bits <= TN_JWK_RSA_MAX_BITS ? KIND_RSA : KIND_NONE;
    }
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(k, group, sizeof group, &glen) != 1) {
            ERR_clear_error();
            return KIND_NONE;
        }
        return strcmp(group, SN_X9_62_prime256v1) == 0 || strcmp(group, "P-256") == 0 ? KIND_P256
                                                                                      : KIND_NONE;
    }
    if (EVP_PKEY_is_a(k, "ED25519"))
        return KIND_ED25519;
    return KIND_NONE;
}

static enum alg alg_default(enum kind kd)
{
    static const enum alg def[] = {[KIND_NONE] = ALG_UNKNOWN,
                                   [KIND_RSA] = ALG_RS256,
                                   [KIND_P256] = ALG_ES256,
                                   [KIND_ED25519] = ALG_EDDSA};
    return def[kd];
}

/* Each kind has one algorithm, except RSA, which may be pinned to PS256 instead. */
static bool alg_fits(enum kind kd, enum alg a)
{
    return a != ALG_UNKNOWN && (a == alg_default(kd) || (kd == KIND_RSA && a == ALG_PS256));
}

/* The algorithm to pin for `k`: `name` when it fits the key, the default when NULL. */
enum tn_err tn_jose_resolve_alg(EVP_PKEY *k, const char *name, enum alg *out)
{
    *out = ALG_UNKNOWN;
    if (!k)
        return TN_ERR_BAD_INPUT;
    enum kind kd = tn_jose_key_kind(k);
    enum alg a = name ? tn_jose_alg_from_name(name) : alg_default(kd);
    if (kd == KIND_NONE || !alg_fits(kd, a))
        return TN_ERR_BAD_INPUT;
    *out = a;
    return TN_OK;
}

/* ---- JWK import -------------------------------------------------------------------- */

/* Members that only a private or symmetric JWK has (RFC 7518 §6.3.2, §6.4). A JWKS
 * that publishes them is broken; we refuse to hold such a key at all. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static bool str_is(json_t *v, const char *lit)
{
    return json_is_string(v) && strcmp(json_string_value(v), lit) == 0;
}

/* Decodes base64url member `name` into out[0..cap). Padding is tolerated here (the JWKS
 * comes from our configured issuer over TLS; tokens get the strict alphabet). */
static bool member_bytes(json_t *jwk, const char *name, unsigned char *out, size_t cap, size_t *n)
{
    json_t *v = json_object_get(jwk, name);
    *n = 0;
    if (!json_is_string(v))
        return false;
    return tn_b64url_decode(out, cap, n, json_string_value(v), json_string_length(v)) == TN_OK &&
           *n > 0;
}

/* EVP_PKEY_fromdata for a public key of type `type` from built parameters. */
static enum tn_err from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **pk)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    if (EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, pk, EVP_PKEY_PUBLIC_KEY, params) == 1)
        rc = TN_OK;
done:
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static enum tn_err rsa_import(json_t *jwk, EVP_PKEY **pk, const char **why)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    unsigned char nb[TN_JWK_RSA_MAX_BITS / 8 + 8], eb[16];
    size_t nl, el;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;

    if (!member_bytes(jwk, "n", nb, sizeof nb, &nl) ||
        !member_bytes(jwk, "e", eb, sizeof eb, &el)) {
        *why = "RSA \"n\" or \"e\" missing, not base64url or too long";
        goto done;
    }
    n = BN_bin2bn(nb, (int)nl, NULL);
    e = BN_bin2bn(eb, (int)el, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!n || !e || !bld) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    if (BN_num_bits(n) < TN_JWK_RSA_MIN_BITS || BN_num_bits(n) > TN_JWK_RSA_MAX_BITS ||
        !BN_is_odd(n)) {
        *why = "RSA modulus not between 2048 and 8192 bits";
        goto done;
    }
    /* A huge public exponent makes every verification slow; real keys use 65537. */
    if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 64) {
        *why = "RSA public exponent not acceptable";
        goto done;
    }
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    rc = from_params("RSA", bld, pk);
    if (rc == TN_ERR_BAD_INPUT)
        *why = "RSA key rejected by OpenSSL";
done:
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

static enum tn_err ec_import(json_t *jwk, EVP_PKEY **pk, const char **why)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    unsigned char pt[65], x[33], y[33];
    size_t xl, yl;
    OSSL_PARAM_BLD *bld = NULL;

    if (!str_is(json_object_get(jwk, "crv"), "P-256")) {
        *why = "EC curve not P-256";
        goto done;
    }
    /* RFC 7518 §6.2.1.2: coordinates are the full 32 bytes, never shortened. */
    if (!member_bytes(jwk, "x", x, sizeof x, &xl) || !member_bytes(jwk, "y", y, sizeof y, &yl) ||
        xl != 32 || yl != 32) {
        *why = "EC \"x\" or \"y\" missing or not 32 bytes";
        goto done;
    }
    pt[0] = 0x04; /* uncompressed point */
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt)) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    /* EVP_PKEY_fromdata refuses a point off the curve (and infinity has no 65-byte
     * form), so no separate public-key check is needed. */
    rc = from_params("EC", bld, pk);
    if (rc == TN_ERR_BAD_INPUT)
        *why = "EC point not on P-256";
done:
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

static enum tn_err okp_import(json_t *jwk, EVP_PKEY **pk, const char **why)
{
    unsigned char x[33];
    size_t xl;
    if (!str_is(json_object_get(jwk, "crv"), "Ed25519")) {
        *why = "OKP curve not Ed25519";
        return TN_ERR_BAD_INPUT;
    }
    if (!member_bytes(jwk, "x", x, sizeof x, &xl) || xl != 32) {
        *why = "OKP \"x\" missing or not 32 bytes";
        return TN_ERR_BAD_INPUT;
    }
    *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
    if (!*pk) {
        *why = "Ed25519 key rejected by OpenSSL";
        return TN_ERR_BAD_INPUT;
    }
    return TN_OK;
}

/* `use` and `key_ops` must allow verification when present (RFC 7517 §4.2, §4.3). */
static bool usable_for_sig(json_t *jwk)
{
    json_t *use = json_object_get(jwk, "use");
    if (use && !str_is(use, "sig"))
        return false;
    json_t *ops = json_object_get(jwk, "key_ops");
    if (!ops)
        return true;
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op) {
        if (str_is(op, "verify"))
            return true;
    }
    return false;
}

/* Imports one JWK into *k. TN_OK; TN_ERR_BAD_INPUT when the key is skipped (*why says
 * why); TN_ERR_NOMEM is fatal for the whole set. */
static enum tn_err jwk_import(json_t *jwk, struct tn_jwk *k, const char **why)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    EVP_PKEY *pk = NULL;
    enum alg a = ALG_UNKNOWN;
    memset(k, 0, sizeof *k);
    *why = NULL;

    if (!json_is_object(jwk)) {
        *why = "not a JSON object";
        goto done;
    }
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++) {
        if (json_object_get(jwk, private_members[i])) {
            *why = "carries private or symmetric key material";
            goto done;
        }
    }
    if (!usable_for_sig(jwk)) {
        *why = "\"use\" or \"key_ops\" does not allow signature verification";
        goto done;
    }
    json_t *kid = json_object_get(jwk, "kid");
    if (kid && (!json_is_string(kid) || json_string_length(kid) > TN_JWK_MAX_KID)) {
        *why = "\"kid\" not a string or too long";
        goto done;
    }
    json_t *alg = json_object_get(jwk, "alg");
    if (alg && (!json_is_string(alg) ||
                (a = tn_jose_alg_from_name(json_string_value(alg))) == ALG_UNKNOWN)) {
        *why = "\"alg\" not one of RS256, PS256, ES256, EdDSA";
        goto done;
    }
    json_t *kty = json_object_get(jwk, "kty");
    if (str_is(kty, "RSA")) {
        rc = rsa_import(jwk, &pk, why);
    } else if (str_is(kty, "EC")) {
        rc = ec_import(jwk, &pk, why);
    } else if (str_is(kty, "OKP")) {
        rc = okp_import(jwk, &pk, why);
    } else {
        *why = "\"kty\" not RSA, EC or OKP";
    }
    if (rc != TN_OK)
        goto done;
    rc = TN_ERR_BAD_INPUT;
    enum kind kd = tn_jose_key_kind(pk);
    if (a == ALG_UNKNOWN)
        a = alg_default(kd);
    if (!alg_fits(kd, a)) {
        *why = "\"alg\" does not fit the key type";
        goto done;
    }
    if (kid && !(k->kid = strdup(json_string_value(kid)))) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    k->pkey = pk;
    k->alg = a;
    k->proto = tn_jose_verify_proto(k);
    pk = NULL;
    rc = TN_OK;
done:
    EVP_PKEY_free(pk);
    if (rc != TN_OK)
        ERR_clear_error();
    return rc;
}

/* A note for the operator. The kid is untrusted: jansson escapes it (quotes, control
 * characters, non-ASCII) and it is cut at 64 bytes. */
static void note_skip(struct tn_buf *err, size_t i, json_t *jwk, const char *why)
{
    json_t *kid = json_is_object(jwk) ? json_object_get(jwk, "kid") : NULL;
    char *shown = json_is_string(kid) ? json_dumps(kid, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    /* Best effort: a full buffer just loses the later notes. */
    (void)tn_buf_printf(err, "key %zu%s%.64s%s skipped: %s; ", i, shown ? " (kid " : "",
                        shown ? shown : "", shown ? ")" : "", why);
    free(shown);
}

/* ---- key sets ---------------------------------------------------------------------- */

void tn_jwks_free(struct tn_jwks *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        EVP_PKEY_free(set->keys[i].pkey);
        EVP_MD_CTX_free(set->keys[i].proto);
        free(set->keys[i].kid);
    }
    free(set->keys);
    free(set);
}

static struct tn_jwks *set_new(size_t cap)
{
    struct tn_jwks *s = calloc(1, sizeof *s);
    if (s && !(s->keys = calloc(cap ? cap : 1, sizeof *s->keys))) {
        free(s);
        s = NULL;
    }
    return s;
}

enum tn_err tn_jwks_parse(const char *json, size_t len, struct tn_jwks **out, struct tn_buf *err)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    json_t *doc = NULL;
    struct tn_jwks *s = NULL;
    json_error_t je;
    struct tn_buf sink; /* a zero-limit buffer swallows notes nobody asked for */

    tn_buf_init(&sink, 0);
    if (!err)
        err = &sink;
    if (out)
        *out = NULL;
    if (!out || (!json && len)) {
        rc = TN_ERR_INTERNAL;
        goto done;
    }
    if (len > TN_JWKS_MAX_BYTES) {
        rc = TN_ERR_LIMIT;
        (void)tn_buf_printf(err, "JWKS larger than %u bytes", TN_JWKS_MAX_BYTES);
        goto done;
    }
    if (!(doc = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &je))) {
        rc = TN_ERR_PARSE;
        (void)tn_buf_printf(err, "JWKS is not valid JSON: %s (at byte %d)", je.text, je.position);
        goto done;
    }
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        (void)tn_buf_puts(err, "JWKS has no \"keys\" array");
        goto done;
    }
    size_t n = json_array_size(keys);
    if (n > TN_JWKS_MAX_KEYS) {
        rc = TN_ERR_LIMIT;
        (void)tn_buf_printf(err, "JWKS has more than %u keys", TN_JWKS_MAX_KEYS);
        goto done;
    }
    if (!(s = set_new(n))) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *jwk = json_array_get(keys, i);
        const char *why = NULL;
        enum tn_err e = jwk_import(jwk, &s->keys[s->n], &why);
        if (e == TN_OK) {
            s->n++;
        } else if (e == TN_ERR_BAD_INPUT) {
            s->skipped++;
            note_skip(err, i, jwk, why ? why : "unusable");
        } else {
            rc = e;
            goto done;
        }
    }
    *out = s;
    s = NULL;
    rc = TN_OK;
done:
    tn_jwks_free(s);
    json_decref(doc);
    tn_buf_deinit(&sink);
    return rc;
}

enum tn_err tn_jwks_from_pkey(EVP_PKEY *key, const char *kid, const char *alg, struct tn_jwks **out)
{
    enum tn_err rc;
    enum alg a;
    char thumb[44];
    struct tn_jwks *s = NULL;

    if (out)
        *out = NULL;
    if (!out)
        return TN_ERR_INTERNAL;
    if ((rc = tn_jose_resolve_alg(key, alg, &a)) != TN_OK)
        goto done;
    if (!kid) {
        if ((rc = tn_jwk_thumbprint(key, thumb)) != TN_OK)
            goto done;
        kid = thumb;
    }
    if (strlen(kid) > TN_JWK_MAX_KID) {
        rc = TN_ERR_BAD_INPUT;
        goto done;
    }
    rc = TN_ERR_NOMEM;
    if (!(s = set_new(1)) || EVP_PKEY_up_ref(key) != 1)
        goto done;
    s->keys[0] = (struct tn_jwk){.pkey = key, .alg = a};
    s->keys[0].proto = tn_jose_verify_proto(&s->keys[0]);
    s->n = 1; /* from here tn_jwks_free releases the reference */
    if (!(s->keys[0].kid = strdup(kid)))
        goto done;
    *out = s;
    s = NULL;
    rc = TN_OK;
done:
    tn_jwks_free(s);
    return rc;
}

/* Never prompt for a password: an encrypted key simply fails to load. */
static int no_password(char *buf, int size, int rwflag, void *u) { return -1; }

enum tn_err tn_jwks_from_pem(const char *pem, size_t len, const char *kid, const char *alg,
                             struct tn_jwks **out)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    EVP_PKEY *k = NULL;

    if (out)
        *out = NULL;
    if (!out || !pem)
        return TN_ERR_INTERNAL;
    if (len > 64 * 1024)
        return TN_ERR_LIMIT;
    /* A public key first, then an unencrypted private key. */
    for (int i = 0; i < 2 && !k && rc == TN_ERR_BAD_INPUT; i++) {
        BIO *bio = BIO_new_mem_buf(pem, (int)len);
        if (!bio)
            rc = TN_ERR_NOMEM;
        else if (i == 0)
            k = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
        else
            k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
        BIO_free(bio);
    }
    if (k)
        rc = tn_jwks_from_pkey(k, kid, alg, out);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

size_t tn_jwks_count(const struct tn_jwks *set) { return set ? set->n : 0; }
size_t tn_jwks_skipped(const struct tn_jwks *set) { return set ? set->skipped : 0; }

const struct tn_jwk *tn_jwks_key(const struct tn_jwks *set, size_t i)
{
    return set && i < set->n ? &set->keys[i] : NULL;
}

const struct tn_jwk *tn_jwks_find(const struct tn_jwks *set, const char *kid)
{
    if (!set || !kid)
        return NULL;
    for (size_t i = 0; i < set->n; i++)
        if (set->keys[i].kid && strcmp(set->keys[i].kid, kid) == 0)
            return &set->keys[i];
    return NULL;
}

const char *tn_jwk_kid(const struct tn_jwk *k) { return k ? k->kid : NULL; }
const char *tn_jwk_alg(const struct tn_jwk *k) { return k ? tn_jose_alg_names[k->alg] : NULL; }
EVP_PKEY *tn_jwk_pkey(const struct tn_jwk *k) { return k ? k->pkey : NULL; }
