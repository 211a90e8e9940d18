/* JOSE on OpenSSL 3 EVP; the rules are in jose.h.
 *
 * Reading order: algorithms and what keys they fit, JWK import, key sets, the verifier
 * (shape, header, key choice, signature, claims), then signing and publishing. */
#include "auth/rs/jose.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/util.h"

/* ---- algorithms and keys ----------------------------------------------------------- */

enum alg { ALG_UNKNOWN = 0, ALG_RS256, ALG_PS256, ALG_ES256, ALG_EDDSA };

static const char *const alg_names[] = {
    [ALG_RS256] = TN_JOSE_ALG_RS256,
    [ALG_PS256] = TN_JOSE_ALG_PS256,
    [ALG_ES256] = TN_JOSE_ALG_ES256,
    [ALG_EDDSA] = TN_JOSE_ALG_EDDSA,
};

/* Exact, case-sensitive: "rs256" is not RS256 (RFC 7515 §4.1.1). */
static enum alg alg_from_name(const char *s)
{
    for (size_t i = 1; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (strcmp(s, alg_names[i]) == 0)
            return (enum alg)i;
    return ALG_UNKNOWN;
}

enum kind { KIND_NONE = 0, KIND_RSA, KIND_P256, KIND_ED25519 };

/* The kinds of key we work with; anything else (RSA-PSS restricted keys, other curves,
 * short or huge RSA) is KIND_NONE and never used. */
static enum kind key_kind(EVP_PKEY *k)
{
    if (EVP_PKEY_is_a(k, "RSA")) {
        int bits = EVP_PKEY_get_bits(k);
        return bits >= TN_JWK_RSA_MIN_BITS && bits <= TN_JWK_RSA_MAX_BITS ? KIND_RSA
                                                                           : KIND_NONE;
    }
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(k, group, sizeof group, &glen) != 1) {
            ERR_clear_error();
            return KIND_NONE;
        }
        return strcmp(group, SN_X9_62_prime256v1) == 0 || strcmp(group, "P-256") == 0
                   ? KIND_P256
                   : KIND_NONE;
    }
    if (EVP_PKEY_is_a(k, "ED25519"))
        return KIND_ED25519;
    return KIND_NONE;
}

static enum alg alg_default(enum kind kd)
{
    static const enum alg def[] = {[KIND_NONE] = ALG_UNKNOWN, [KIND_RSA] = ALG_RS256,
                                   [KIND_P256] = ALG_ES256, [KIND_ED25519] = ALG_EDDSA};
    return def[kd];
}

/* Each kind has one algorithm, except RSA, which may be pinned to PS256 instead. */
static bool alg_fits(enum kind kd, enum alg a)
{
    return a != ALG_UNKNOWN && (a == alg_default(kd) || (kd == KIND_RSA && a == ALG_PS256));
}

/* The algorithm to pin for `k`: `name` when it fits the key, the default when NULL. */
static enum tn_err resolve_alg(EVP_PKEY *k, const char *name, enum alg *out)
{
    *out = ALG_UNKNOWN;
    if (!k)
        return TN_ERR_BAD_INPUT;
    enum kind kd = key_kind(k);
    enum alg a = name ? alg_from_name(name) : alg_default(kd);
    if (kd == KIND_NONE || !alg_fits(kd, a))
        return TN_ERR_BAD_INPUT;
    *out = a;
    return TN_OK;
}

/* ---- JWK import -------------------------------------------------------------------- */

struct tn_jwk {
    EVP_PKEY *pkey;
    char *kid; /* NULL when the JWK had none */
    enum alg alg;
    /* A verify context set up for this key and alg, copied for each check (NULL: set one
     * up per check). Setting one up looks the algorithm up in OpenSSL's provider tables
     * under locks, which cost ~5 us per check with eight threads verifying; a copy does
     * not (docs/PERFORMANCE.md). Only read once the set is built. */
    EVP_MD_CTX *proto;
};

static EVP_MD_CTX *verify_proto(const struct tn_jwk *k);

struct tn_jwks {
    struct tn_jwk *keys;
    size_t n;
    size_t skipped;
};

/* Members that only a private or symmetric JWK has (RFC 7518 §6.3.2, §6.4). A JWKS
 * that publishes them is broken; we refuse to hold such a key at all. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static bool str_is(json_t *v, const char *lit)
{
    return json_is_string(v) && strcmp(json_string_value(v), lit) == 0;
}

/* Decodes base64url member `name` into out[0..cap). Padding is tolerated here (the JWKS
 * comes from our configured issuer over TLS; tokens get the strict alphabet). */
static bool member_bytes(json_t *jwk, const char *name, unsigned char *out, size_t cap,
                         size_t *n)
{
    json_t *v = json_object_get(jwk, name);
    *n = 0;
    if (!json_is_string(v))
        return false;
    return tn_b64url_decode(out, cap, n, json_string_value(v), json_string_length(v)) ==
               TN_OK &&
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
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
                                         0) ||
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
    json_array_foreach(ops, i, op)
    {
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
                (a = alg_from_name(json_string_value(alg))) == ALG_UNKNOWN)) {
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
    enum kind kd = key_kind(pk);
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
    k->proto = verify_proto(k);
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
    char *shown = json_is_string(kid) ? json_dumps(kid, JSON_ENCODE_ANY | JSON_ENSURE_ASCII)
                                      : NULL;
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

enum tn_err tn_jwks_parse(const char *json, size_t len, struct tn_jwks **out,
                          struct tn_buf *err)
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
        (void)tn_buf_printf(err, "JWKS is not valid JSON: %s (at byte %d)", je.text,
                            je.position);
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

enum tn_err tn_jwks_from_pkey(EVP_PKEY *key, const char *kid, const char *alg,
                              struct tn_jwks **out)
{
    enum tn_err rc;
    enum alg a;
    char thumb[44];
    struct tn_jwks *s = NULL;

    if (out)
        *out = NULL;
    if (!out)
        return TN_ERR_INTERNAL;
    if ((rc = resolve_alg(key, alg, &a)) != TN_OK)
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
    s->keys[0].proto = verify_proto(&s->keys[0]);
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
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

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
const char *tn_jwk_alg(const struct tn_jwk *k) { return k ? alg_names[k->alg] : NULL; }
EVP_PKEY *tn_jwk_pkey(const struct tn_jwk *k) { return k ? k->pkey : NULL; }

/* ---- reasons ----------------------------------------------------------------------- */

static const char *const reason_texts[] = {
#define TN_JWT_REASON_TEXT(name, text) text,
    TN_JWT_REASON_TABLE(TN_JWT_REASON_TEXT)
#undef TN_JWT_REASON_TEXT
};
static const char *const reason_names[] = {
#define TN_JWT_REASON_NAME(name, text) #name,
    TN_JWT_REASON_TABLE(TN_JWT_REASON_NAME)
#undef TN_JWT_REASON_NAME
};

const char *tn_jwt_reason_text(enum tn_jwt_reason r)
{
    return reason_texts[(unsigned)r < TN_JWT__COUNT ? r : TN_JWT_INTERNAL];
}

const char *tn_jwt_reason_name(enum tn_jwt_reason r)
{
    return reason_names[(unsigned)r < TN_JWT__COUNT ? r : TN_JWT_INTERNAL];
}

/* ---- verification: shape and header ------------------------------------------------ */

struct parts {
    const char *h, *p, *s;
    size_t hl, pl, sl;
};

static bool b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Exactly three parts over the strict alphabet: no padding, no whitespace, no NUL. The
 * signature part may be empty here so that an unsecured token is named as such. */
static bool split(const char *t, size_t n, struct parts *o)
{
    size_t dot[2], nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.') {
            if (nd == 2)
                return false;
            dot[nd++] = i;
        } else if (!b64url_char((unsigned char)t[i])) {
            return false;
        }
    }
    if (nd != 2)
        return false;
    o->h = t;
    o->hl = dot[0];
    o->p = t + dot[0] + 1;
    o->pl = dot[1] - dot[0] - 1;
    o->s = t + dot[1] + 1;
    o->sl = n - dot[1] - 1;
    return o->hl > 0 && o->pl > 0;
}

/* Decodes one part (already checked against the alphabet) into out[0..n]. Decoding
 * still fails on a length of 4k+1 or non-zero trailing bits (libsodium is strict). */
static bool decode_part(const char *s, size_t n, unsigned char *out, size_t *len)
{
    return tn_b64url_decode(out, n + 1, len, s, n) == TN_OK;
}

/* An object, duplicate members refused (so no two readers can see different values). */
static json_t *parse_object(const unsigned char *b, size_t n)
{
    json_t *v = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static bool typ_ok(json_t *typ)
{
    static const char *const ok[] = {TN_JOSE_TYP_JWT, TN_JOSE_TYP_AT, "application/jwt",
                                     "application/at+jwt"};
    if (!json_is_string(typ))
        return false;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcasecmp(json_string_value(typ), ok[i]) == 0)
            return true;
    return false;
}

/* Header rules that do not need a key. *alg is ALG_UNKNOWN for algorithms we do not
 * implement (HS256 and friends): that is decided against the key in choose_key. */
static enum tn_jwt_reason check_header(json_t *h, enum alg *alg, const char **kid)
{
    static const char *const embedded[] = {"jwk", "jku", "x5u", "x5c"};
    *alg = ALG_UNKNOWN;
    *kid = NULL;
    json_t *a = json_object_get(h, "alg");
    if (!json_is_string(a))
        return TN_JWT_MALFORMED;
    if (strcasecmp(json_string_value(a), "none") == 0)
        return TN_JWT_ALG_NONE;
    for (size_t i = 0; i < sizeof embedded / sizeof embedded[0]; i++)
        if (json_object_get(h, embedded[i]))
            return TN_JWT_EMBEDDED_KEY;
    /* We understand no extension, so any crit must be refused (RFC 7515 §4.1.11). */
    if (json_object_get(h, "crit"))
        return TN_JWT_CRIT;
    json_t *typ = json_object_get(h, "typ");
    if (typ && !typ_ok(typ))
        return TN_JWT_BAD_TYP;
    json_t *k = json_object_get(h, "kid");
    if (k && !json_is_string(k))
        return TN_JWT_MALFORMED;
    *kid = k ? json_string_value(k) : NULL;
    *alg = alg_from_name(json_string_value(a));
    return TN_JWT_OK;
}

/* The one key this token may be checked with. With a kid: the first key of that kid
 * pinned to the header alg. Without: the single key pinned to that alg. Never a loop
 * over candidate keys, so a token costs at most one signature check. */
static enum tn_jwt_reason choose_key(const struct tn_jwks *s, const char *kid, enum alg a,
                                     const struct tn_jwk **out)
{
    *out = NULL;
    if (kid) {
        bool seen = false;
        for (size_t i = 0; i < s->n; i++) {
            if (!s->keys[i].kid || strcmp(s->keys[i].kid, kid) != 0)
                continue;
            seen = true;
            if (a != ALG_UNKNOWN && s->keys[i].alg == a) {
                *out = &s->keys[i];
                return TN_JWT_OK;
            }
        }
        return seen ? TN_JWT_ALG_MISMATCH : TN_JWT_NO_KID_MATCH;
    }
    if (a == ALG_UNKNOWN)
        return TN_JWT_ALG_UNSUPPORTED;
    size_t found = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->keys[i].alg == a) {
            found++;
            *out = &s->keys[i];
        }
    }
    if (found == 1)
        return TN_JWT_OK;
    *out = NULL;
    return TN_JWT_NO_KID_MATCH;
}

/* ---- verification: signature ------------------------------------------------------- */

/* Sets RSA padding for RS256 / PS256 (PSS: MGF1-SHA-256, salt exactly 32 bytes). */
static bool rsa_padding(EVP_PKEY_CTX *pc, enum alg a)
{
    if (a == ALG_RS256)
        return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) > 0;
    if (a == ALG_PS256)
        return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) > 0;
    return true;
}

static bool verify_init(EVP_MD_CTX *md, const struct tn_jwk *k)
{
    EVP_PKEY_CTX *pc = NULL;
    return EVP_DigestVerifyInit(md, &pc, k->alg == ALG_EDDSA ? NULL : EVP_sha256(), NULL,
                                k->pkey) == 1 &&
           rsa_padding(pc, k->alg);
}

/* k's verify context to copy, or NULL (EdDSA: one-shot only; or OpenSSL refused). */
static EVP_MD_CTX *verify_proto(const struct tn_jwk *k)
{
    EVP_MD_CTX *md = k->alg == ALG_EDDSA ? NULL : EVP_MD_CTX_new();
    if (md && !verify_init(md, k)) {
        EVP_MD_CTX_free(md);
        md = NULL;
        ERR_clear_error();
    }
    return md;
}

/* One unsigned big-endian integer as DER: leading zero bytes dropped (one kept for
 * zero), a zero byte added when the top bit is set. Returns the bytes written (≤ 35). */
static size_t der_uint(const unsigned char *v, size_t n, unsigned char *out)
{
    while (n > 1 && v[0] == 0)
        v++, n--;
    size_t pad = (v[0] & 0x80) != 0, w = 0;
    out[w++] = 0x02; /* INTEGER */
    out[w++] = (unsigned char)(n + pad);
    if (pad)
        out[w++] = 0;
    memcpy(out + w, v, n);
    return w + n;
}

/* ES256 signatures are raw r‖s (RFC 7518 §3.4); EVP wants DER: SEQUENCE { INTEGER r,
 * INTEGER s }, at most 72 bytes, so every length fits one byte. Whatever is encoded
 * here, OpenSSL checks the r and s it reads back against the message and the key. */
static size_t es256_to_der(const unsigned char raw[64], unsigned char der[72])
{
    size_t n = der_uint(raw, 32, der + 2);
    n += der_uint(raw + 32, 32, der + 2 + n);
    der[0] = 0x30; /* SEQUENCE */
    der[1] = (unsigned char)n;
    return n + 2;
}

/* TN_OK when `sig` is a valid signature of msg by k under its pinned alg; TN_ERR_BAD_INPUT
 * when it is not; other errors when the check could not run. */
static enum tn_err sig_verify(const struct tn_jwk *k, const void *msg, size_t mlen,
                              const unsigned char *sig, size_t slen)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    EVP_MD_CTX *md = NULL;
    unsigned char der[72];

    /* Lengths are fixed per algorithm; refuse others before OpenSSL sees them. */
    if (k->alg == ALG_ES256 || k->alg == ALG_EDDSA) {
        if (slen != 64)
            goto done;
    } else if (slen != (size_t)EVP_PKEY_get_size(k->pkey)) {
        goto done;
    }
    if (k->alg == ALG_ES256) {
        slen = es256_to_der(sig, der);
        sig = der;
    }
    rc = TN_ERR_NOMEM;
    if (!(md = EVP_MD_CTX_new()))
        goto done;
    rc = TN_ERR_INTERNAL;
    if (k->proto ? EVP_MD_CTX_copy_ex(md, k->proto) != 1 : !verify_init(md, k))
        goto done;
    rc = EVP_DigestVerify(md, sig, slen, msg, mlen) == 1 ? TN_OK : TN_ERR_BAD_INPUT;
done:
    EVP_MD_CTX_free(md);
    if (rc != TN_OK)
        ERR_clear_error();
    return rc;
}

/* ---- verification: claims (only ever after the signature) ------------------------- */

static bool string_in(json_t *v, const char *const *list, size_t n)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    for (size_t i = 0; i < n; i++)
        if (list[i] && strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

static enum tn_jwt_reason check_iss(json_t *c, const struct tn_jwt_policy *p)
{
    json_t *v = json_object_get(c, TN_JWT_CLAIM_ISS);
    if (!v)
        return TN_JWT_BAD_ISSUER;
    if (!json_is_string(v))
        return TN_JWT_BAD_CLAIM_TYPE;
    return string_in(v, p->issuers, p->n_issuers) ? TN_JWT_OK : TN_JWT_BAD_ISSUER;
}

/* RFC 7519 §4.1.3: a string or an array of strings. Every element must be a string,
 * even when another one matches. */
static enum tn_jwt_reason check_aud(json_t *c, const struct tn_jwt_policy *p)
{
    json_t *v = json_object_get(c, TN_JWT_CLAIM_AUD);
    if (!v)
        return TN_JWT_BAD_AUDIENCE;
    if (json_is_string(v))
        return string_in(v, p->audiences, p->n_audiences) ? TN_JWT_OK : TN_JWT_BAD_AUDIENCE;
    if (!json_is_array(v))
        return TN_JWT_BAD_CLAIM_TYPE;
    bool match = false;
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a)
    {
        if (!json_is_string(a))
            return TN_JWT_BAD_CLAIM_TYPE;
        match = match || string_in(a, p->audiences, p->n_audiences);
    }
    return match ? TN_JWT_OK : TN_JWT_BAD_AUDIENCE;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* A NumericDate (RFC 7519 §2): integer or fraction. Fractions are rounded to the side
 * that refuses sooner (down for exp, up for nbf/iat). */
static enum tn_jwt_reason numeric_date(json_t *c, const char *name, bool round_up,
                                       bool *present, int64_t *out)
{
    json_t *v = json_object_get(c, name);
    *present = v != NULL;
    *out = 0;
    if (!v)
        return TN_JWT_OK;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return TN_JWT_OK;
    }
    if (!json_is_real(v))
        return TN_JWT_BAD_CLAIM_TYPE;
    double d = json_real_value(v);
    if (d >= 9.2e18) {
        *out = INT64_MAX;
    } else if (d <= -9.2e18) {
        *out = INT64_MIN;
    } else {
        int64_t t = (int64_t)d;
        if (round_up && (double)t < d)
            t++;
        else if (!round_up && (double)t > d)
            t--;
        *out = t;
    }
    return TN_JWT_OK;
}

static enum tn_jwt_reason check_times(json_t *c, int64_t now, int64_t leeway)
{
    bool has_exp, has_nbf, has_iat;
    int64_t exp, nbf, iat;
    enum tn_jwt_reason r;
    if ((r = numeric_date(c, TN_JWT_CLAIM_EXP, false, &has_exp, &exp)) != TN_JWT_OK ||
        (r = numeric_date(c, TN_JWT_CLAIM_NBF, true, &has_nbf, &nbf)) != TN_JWT_OK ||
        (r = numeric_date(c, TN_JWT_CLAIM_IAT, true, &has_iat, &iat)) != TN_JWT_OK)
        return r;
    if (!has_exp)
        return TN_JWT_NO_EXPIRY;
    /* RFC 7519 §4.1.4: now must be before exp. */
    if (sat_add(now, -leeway) >= exp)
        return TN_JWT_EXPIRED;
    if (has_nbf && sat_add(now, leeway) < nbf)
        return TN_JWT_NOT_YET_VALID;
    if (has_iat && iat > sat_add(now, leeway))
        return TN_JWT_NOT_YET_VALID;
    return TN_JWT_OK;
}

static enum tn_jwt_reason check_sub(json_t *c)
{
    json_t *v = json_object_get(c, TN_JWT_CLAIM_SUB);
    if (!v)
        return TN_JWT_NO_SUBJECT;
    if (!json_is_string(v))
        return TN_JWT_BAD_CLAIM_TYPE;
    return json_string_length(v) > 0 ? TN_JWT_OK : TN_JWT_NO_SUBJECT;
}

static enum tn_jwt_reason check_claims(json_t *c, const struct tn_jwt_policy *p)
{
    int64_t now = p->now ? p->now : tn_time_now_ms() / 1000;
    int64_t leeway = p->leeway_s > 0 ? p->leeway_s : 0;
    enum tn_jwt_reason r;
    if ((r = check_iss(c, p)) != TN_JWT_OK || (r = check_aud(c, p)) != TN_JWT_OK ||
        (r = check_times(c, now, leeway)) != TN_JWT_OK || (r = check_sub(c)) != TN_JWT_OK)
        return r;
    return TN_JWT_OK;
}

/* ---- verification: the whole --------------------------------------------------------- */

enum tn_err tn_jwt_verify(const char *token, size_t len, const struct tn_jwks *keys,
                          const struct tn_jwt_policy *p, json_t **claims_out,
                          enum tn_jwt_reason *why)
{
    enum tn_err rc = TN_ERR_INTERNAL;
    enum tn_jwt_reason r = TN_JWT_INTERNAL;
    unsigned char *buf = NULL, *hdr, *sig, *pay;
    size_t hdr_len, sig_len, pay_len;
    json_t *header = NULL, *claims = NULL;
    struct parts pt;
    enum alg alg;
    const char *kid;
    const struct tn_jwk *key = NULL;

    if (claims_out)
        *claims_out = NULL;
    if (!keys || !p || (!token && len))
        goto done;
    if (!p->issuers || !p->n_issuers || !p->audiences || !p->n_audiences) {
        rc = TN_ERR_CONFIG; /* no policy means no token can be valid: fail closed */
        goto done;
    }

    rc = TN_ERR_BAD_INPUT; /* from here on every early exit is a refusal */
    if (len > (p->max_token_len ? p->max_token_len : TN_JWT_DEFAULT_MAX_LEN)) {
        r = TN_JWT_TOO_LARGE;
        goto done;
    }
    r = TN_JWT_MALFORMED;
    if (!token || !split(token, len, &pt))
        goto done;
    /* Decoded parts are never longer than encoded ones: one buffer holds all three. */
    if (!(buf = malloc(len + 3))) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    hdr = buf;
    sig = hdr + pt.hl + 1;
    pay = sig + pt.sl + 1;
    if (!decode_part(pt.h, pt.hl, hdr, &hdr_len) || !(header = parse_object(hdr, hdr_len)))
        goto done;
    if ((r = check_header(header, &alg, &kid)) != TN_JWT_OK ||
        (r = choose_key(keys, kid, alg, &key)) != TN_JWT_OK)
        goto done;

    r = TN_JWT_MALFORMED;
    if (!decode_part(pt.s, pt.sl, sig, &sig_len))
        goto done;
    /* The signing input is the ASCII of the first two parts, exactly as received. */
    if ((rc = sig_verify(key, token, pt.hl + 1 + pt.pl, sig, sig_len)) != TN_OK) {
        r = TN_JWT_BAD_SIGNATURE; /* or TN_JWT_INTERNAL, set below from rc */
        goto done;
    }

    /* Signature verified: only now is the payload read at all. */
    rc = TN_ERR_BAD_INPUT;
    if (!decode_part(pt.p, pt.pl, pay, &pay_len) || !(claims = parse_object(pay, pay_len)))
        goto done;
    if ((r = check_claims(claims, p)) != TN_JWT_OK)
        goto done;

    rc = TN_OK;
    if (claims_out) {
        *claims_out = claims;
        claims = NULL;
    }
done:
    if (rc == TN_ERR_NOMEM || rc == TN_ERR_INTERNAL || rc == TN_ERR_CONFIG)
        r = TN_JWT_INTERNAL;
    if (why)
        *why = r;
    free(buf);
    json_decref(header);
    json_decref(claims);
    return rc;
}

/* ---- signing ----------------------------------------------------------------------- */

/* Signs msg with `key` under `a`; *sig is a new buffer in JWS form (raw r‖s for ES256). */
static enum tn_err sig_create(EVP_PKEY *key, enum alg a, const void *msg, size_t mlen,
                              unsigned char **sig, size_t *slen)
{
    enum tn_err rc = TN_ERR_NOMEM;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    unsigned char *buf = NULL, *raw = NULL;
    size_t len = 0;
    ECDSA_SIG *es = NULL;

    *sig = NULL;
    *slen = 0;
    if (!md)
        goto done;
    /* A key that cannot sign is the caller's mistake. A public-only key (say, one taken
     * from a JWKS) passes init and sizing and fails only at the real signing call. */
    rc = TN_ERR_BAD_INPUT;
    if (EVP_DigestSignInit(md, &pc, a == ALG_EDDSA ? NULL : EVP_sha256(), NULL, key) != 1 ||
        !rsa_padding(pc, a) || EVP_DigestSign(md, NULL, &len, msg, mlen) != 1)
        goto done;
    rc = TN_ERR_NOMEM;
    if (!(buf = malloc(len)))
        goto done;
    rc = TN_ERR_BAD_INPUT;
    if (EVP_DigestSign(md, buf, &len, msg, mlen) != 1)
        goto done;
    rc = TN_ERR_INTERNAL;
    if (a == ALG_ES256) {
        const unsigned char *p = buf;
        const BIGNUM *r, *s;
        if (!(es = d2i_ECDSA_SIG(NULL, &p, (long)len)))
            goto done;
        ECDSA_SIG_get0(es, &r, &s);
        rc = TN_ERR_NOMEM;
        if (!(raw = malloc(64)))
            goto done;
        rc = TN_ERR_INTERNAL;
        if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
            goto done;
        free(buf);
        buf = raw;
        raw = NULL;
        len = 64;
    }
    *sig = buf;
    *slen = len;
    buf = NULL;
    rc = TN_OK;
done:
    free(buf);
    free(raw);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    if (rc != TN_OK)
        ERR_clear_error();
    return rc;
}

static enum tn_err append_b64(struct tn_buf *b, const void *p, size_t n)
{
    size_t cap = tn_b64url_encoded_len(n) + 1;
    char *tmp = malloc(cap);
    if (!tmp)
        return TN_ERR_NOMEM;
    size_t w = tn_b64url_encode(tmp, cap, p, n);
    enum tn_err e = tn_buf_append(b, tmp, w);
    free(tmp);
    return e;
}

#define JWS_MAX_INPUT (1u << 20) /* header + payload handed to the signer */

enum tn_err tn_jws_sign_compact(EVP_PKEY *key, const char *alg, const void *header,
                                size_t header_len, const void *payload, size_t payload_len,
                                char **out)
{
    enum tn_err rc;
    enum alg a;
    struct tn_buf b;
    unsigned char *sig = NULL;
    size_t sig_len = 0;

    tn_buf_init(&b, 2 * JWS_MAX_INPUT + 4096);
    if (out)
        *out = NULL;
    if (!out || !header || !payload)
        return TN_ERR_INTERNAL;
    if (header_len + payload_len > JWS_MAX_INPUT)
        return TN_ERR_LIMIT;
    if ((rc = resolve_alg(key, alg, &a)) != TN_OK)
        goto done;
    if ((rc = append_b64(&b, header, header_len)) != TN_OK ||
        (rc = tn_buf_append(&b, ".", 1)) != TN_OK ||
        (rc = append_b64(&b, payload, payload_len)) != TN_OK ||
        (rc = sig_create(key, a, b.data, b.len, &sig, &sig_len)) != TN_OK ||
        (rc = tn_buf_append(&b, ".", 1)) != TN_OK ||
        (rc = append_b64(&b, sig, sig_len)) != TN_OK)
        goto done;
    *out = tn_buf_take(&b);
    rc = *out ? TN_OK : TN_ERR_NOMEM;
done:
    free(sig);
    tn_buf_deinit(&b);
    return rc;
}

enum tn_err tn_jwt_sign(EVP_PKEY *key, const char *alg, const char *kid, const char *typ,
                        json_t *claims, char **out)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    enum alg a;
    json_t *h = NULL;
    char *hs = NULL, *ps = NULL;

    if (out)
        *out = NULL;
    if (!out)
        return TN_ERR_INTERNAL;
    if (!json_is_object(claims) || resolve_alg(key, alg, &a) != TN_OK)
        goto done;
    /* json_string refuses invalid UTF-8, which makes json_object_set_new fail. */
    if (!(h = json_object()) || json_object_set_new(h, "alg", json_string(alg_names[a])) ||
        (kid && json_object_set_new(h, "kid", json_string(kid))) ||
        (typ && json_object_set_new(h, "typ", json_string(typ))))
        goto done;
    rc = TN_ERR_NOMEM;
    if (!(hs = json_dumps(h, JSON_COMPACT)) || !(ps = json_dumps(claims, JSON_COMPACT)))
        goto done;
    rc = tn_jws_sign_compact(key, alg_names[a], hs, strlen(hs), ps, strlen(ps), out);
done:
    json_decref(h);
    free(hs);
    free(ps);
    return rc;
}

/* ---- publishing -------------------------------------------------------------------- */

/* base64url of a BIGNUM parameter, left-padded to `pad` bytes when pad > 0. */
static bool bn_member(EVP_PKEY *k, const char *param, int pad, char *out, size_t cap)
{
    BIGNUM *bn = NULL;
    unsigned char buf[TN_JWK_RSA_MAX_BITS / 8 + 8];
    bool ok = EVP_PKEY_get_bn_param(k, param, &bn) == 1;
    int n = ok ? (pad ? pad : BN_num_bytes(bn)) : 0;
    ok = ok && n > 0 && (size_t)n <= sizeof buf && BN_bn2binpad(bn, buf, n) == n &&
         tn_b64url_encode(out, cap, buf, (size_t)n) > 0;
    BN_free(bn);
    return ok;
}

/* The members RFC 7638 §3.2 requires for the key, as a new object; NULL for keys we do
 * not support. Public parts only, whatever `k` holds. */
static json_t *required_members(EVP_PKEY *k)
{
    char a[TN_JWK_RSA_MAX_BITS / 6 + 8], b[64];
    unsigned char raw[32];
    size_t rl = sizeof raw;
    json_t *j = NULL;
    switch (k ? key_kind(k) : KIND_NONE) {
    case KIND_RSA:
        if (bn_member(k, OSSL_PKEY_PARAM_RSA_N, 0, a, sizeof a) &&
            bn_member(k, OSSL_PKEY_PARAM_RSA_E, 0, b, sizeof b))
            j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", a, "e", b);
        break;
    case KIND_P256: /* coordinates always the full 32 bytes (RFC 7518 §6.2.1.2) */
        if (bn_member(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, a, sizeof a) &&
            bn_member(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b, sizeof b))
            j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", a, "y", b);
        break;
    case KIND_ED25519:
        if (EVP_PKEY_get_raw_public_key(k, raw, &rl) == 1 && rl == 32 &&
            tn_b64url_encode(a, sizeof a, raw, rl) > 0)
            j = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", a);
        break;
    default:
        break;
    }
    ERR_clear_error();
    return j;
}

json_t *tn_jwk_public_json(EVP_PKEY *key, const char *kid, const char *alg)
{
    enum alg a;
    json_t *j = NULL;
    if (resolve_alg(key, alg, &a) != TN_OK || !(j = required_members(key)))
        return NULL;
    if (json_object_set_new(j, "use", json_string("sig")) ||
        json_object_set_new(j, "alg", json_string(alg_names[a])) ||
        (kid && json_object_set_new(j, "kid", json_string(kid)))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

enum tn_err tn_jwk_thumbprint(EVP_PKEY *key, char out[44])
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    unsigned char digest[32];
    unsigned int dl = 0;
    char *text = NULL;
    json_t *j = required_members(key);

    out[0] = '\0';
    if (!j)
        goto done;
    /* RFC 7638 §3.3: sorted members, no whitespace; base64url needs no escaping, so
     * jansson's compact sorted form is the canonical form. */
    rc = TN_ERR_NOMEM;
    if (!(text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)))
        goto done;
    rc = TN_ERR_INTERNAL;
    if (EVP_Digest(text, strlen(text), digest, &dl, EVP_sha256(), NULL) != 1 || dl != 32)
        goto done;
    tn_b64url_encode(out, 44, digest, 32);
    rc = TN_OK;
done:
    free(text);
    json_decref(j);
    return rc;
}
