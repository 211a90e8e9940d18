/* JOSE on OpenSSL 3 EVP, signing (the built-in authorization server's tokens) and
 * publishing public keys (its JWKS, RFC 7638 thumbprints). */
#include "auth/rs/jose_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "core/util.h"

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
        !tn_jose_rsa_padding(pc, a) || EVP_DigestSign(md, NULL, &len, msg, mlen) != 1)
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
    if ((rc = tn_jose_resolve_alg(key, alg, &a)) != TN_OK)
        goto done;
    if ((rc = append_b64(&b, header, header_len)) != TN_OK ||
        (rc = tn_buf_append(&b, ".", 1)) != TN_OK ||
        (rc = append_b64(&b, payload, payload_len)) != TN_OK ||
        (rc = sig_create(key, a, b.data, b.len, &sig, &sig_len)) != TN_OK ||
        (rc = tn_buf_append(&b, ".", 1)) != TN_OK || (rc = append_b64(&b, sig, sig_len)) != TN_OK)
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
    if (!json_is_object(claims) || tn_jose_resolve_alg(key, alg, &a) != TN_OK)
        goto done;
    /* json_string refuses invalid UTF-8, which makes json_object_set_new fail. */
    if (!(h = json_object()) || json_object_set_new(h, "alg", json_string(tn_jose_alg_names[a])) ||
        (kid && json_object_set_new(h, "kid", json_string(kid))) ||
        (typ && json_object_set_new(h, "typ", json_string(typ))))
        goto done;
    rc = TN_ERR_NOMEM;
    if (!(hs = json_dumps(h, JSON_COMPACT)) || !(ps = json_dumps(claims, JSON_COMPACT)))
        goto done;
    rc = tn_jws_sign_compact(key, tn_jose_alg_names[a], hs, strlen(hs), ps, strlen(ps), out);
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
    switch (k ? tn_jose_key_kind(k) : KIND_NONE) {
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
    if (tn_jose_resolve_alg(key, alg, &a) != TN_OK || !(j = required_members(key)))
        return NULL;
    if (json_object_set_new(j, "use", json_string("sig")) ||
        json_object_set_new(j, "alg", json_string(tn_jose_alg_names[a])) ||
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
