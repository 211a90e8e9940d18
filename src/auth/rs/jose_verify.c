/* JOSE on OpenSSL 3 EVP, the verifier: a compact JWS JWT checked in the order jose.h
 * gives, cheapest and least trusting first; no claim is read before the signature. */
#include "auth/rs/jose_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "core/util.h"

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
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
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
    *alg = tn_jose_alg_from_name(json_string_value(a));
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
bool tn_jose_rsa_padding(EVP_PKEY_CTX *pc, enum alg a)
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
           tn_jose_rsa_padding(pc, k->alg);
}

/* k's verify context to copy, or NULL (EdDSA: one-shot only; or OpenSSL refused). */
EVP_MD_CTX *tn_jose_verify_proto(const struct tn_jwk *k)
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
    json_array_foreach(v, i, a) {
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
static enum tn_jwt_reason numeric_date(json_t *c, const char *name, bool round_up, bool *present,
                                       int64_t *out)
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
