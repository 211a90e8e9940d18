/* JOSE (src/auth/rs/jose.c): hostile tokens each refused with the exact reason, round
 * trips for every algorithm, JWKS import rules, interop with an independent
 * implementation (panva/jose), RFC 7638.
 *
 * Keys are generated once for the group (RSA generation is slow under ASan) and
 * published the way a JWKS endpoint would publish them: tn_jwk_public_json → JSON
 * document → tn_jwks_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/rs/jose.h"
#include "core/util.h"

#define NOW 1700000000
#define ISS "https://as.example.com"
#define AUD "https://notes.example.com/mcp"

static const char *const issuers[] = {ISS};
static const char *const audiences[] = {"https://other.example.com/mcp", AUD};

static struct tn_jwt_policy policy(void)
{
    return (struct tn_jwt_policy){.issuers = issuers,
                                  .n_issuers = 1,
                                  .audiences = audiences,
                                  .n_audiences = 2,
                                  .now = NOW,
                                  .leeway_s = 60,
                                  .max_token_len = 8192};
}

/* ---- fixture ------------------------------------------------------------------------ */

static struct {
    EVP_PKEY *rsa, *ps, *ec, *ed, *ed2, *att; /* att: the attacker's key, never published */
    struct tn_jwks *set;                      /* rsa-1 RS256, ps-1 PS256, ec-1, ed-1, ed-2 */
} fx;

static json_t *jwks_doc(json_t *keys) { return json_pack("{s:o}", "keys", keys); }

static struct tn_jwks *parse_doc(json_t *doc, size_t want_count, size_t want_skipped)
{
    struct tn_jwks *set = NULL;
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    assert_int_equal(tn_jwks_parse(text, strlen(text), &set, NULL), TN_OK);
    assert_non_null(set);
    assert_int_equal(tn_jwks_count(set), want_count);
    assert_int_equal(tn_jwks_skipped(set), want_skipped);
    free(text);
    json_decref(doc);
    return set;
}

static void fixture(void)
{
    if (fx.set)
        return;
    fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ps = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx.att = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    fx.ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_true(fx.rsa && fx.ps && fx.ec && fx.att && fx.ed && fx.ed2);
    /* ec-1 and ed-1 publish no alg: the parser derives ES256 and EdDSA. */
    json_t *ec = tn_jwk_public_json(fx.ec, "ec-1", NULL);
    json_t *ed = tn_jwk_public_json(fx.ed, "ed-1", NULL);
    assert_non_null(ec);
    assert_non_null(ed);
    json_object_del(ec, "alg");
    json_object_del(ed, "alg");
    json_t *keys = json_pack("[o, o, o, o, o]", tn_jwk_public_json(fx.rsa, "rsa-1", "RS256"),
                             tn_jwk_public_json(fx.ps, "ps-1", "PS256"), ec, ed,
                             tn_jwk_public_json(fx.ed2, "ed-2", "EdDSA"));
    assert_non_null(keys);
    fx.set = parse_doc(jwks_doc(keys), 5, 0);
}

static void fixture_free(void)
{
    tn_jwks_free(fx.set);
    EVP_PKEY_free(fx.rsa);
    EVP_PKEY_free(fx.ps);
    EVP_PKEY_free(fx.ec);
    EVP_PKEY_free(fx.att);
    EVP_PKEY_free(fx.ed);
    EVP_PKEY_free(fx.ed2);
    memset(&fx, 0, sizeof fx);
}

/* ---- token surgery ------------------------------------------------------------------ */

static char *b64(const void *p, size_t n)
{
    size_t cap = tn_b64url_encoded_len(n) + 1;
    char *s = malloc(cap);
    assert_non_null(s);
    tn_b64url_encode(s, cap, p, n);
    return s;
}

static unsigned char *unb64(const char *s, size_t n, size_t *len)
{
    unsigned char *b = malloc(n + 1);
    assert_non_null(b);
    assert_int_equal(tn_b64url_decode(b, n + 1, len, s, n), TN_OK);
    return b;
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s.%s.%s", a, b, c);
    return s;
}

/* Splits a compact token into three new strings. */
static void split3(const char *tok, char **h, char **p, char **s)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    *h = strndup(tok, (size_t)(d1 - tok));
    *p = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    *s = strdup(d2 + 1);
}

/* The RSA public key as an attacker would find it: SPKI in PEM or DER. */
static unsigned char *rsa_public_bytes(int pem, size_t *len)
{
    unsigned char *out = NULL;
    if (pem) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *p;
        assert_int_equal(PEM_write_bio_PUBKEY(bio, fx.rsa), 1);
        long n = BIO_get_mem_data(bio, &p);
        out = malloc((size_t)n);
        memcpy(out, p, (size_t)n);
        *len = (size_t)n;
        BIO_free(bio);
    } else {
        int n = i2d_PUBKEY(fx.rsa, &out);
        assert_true(n > 0);
        unsigned char *copy = malloc((size_t)n);
        memcpy(copy, out, (size_t)n);
        OPENSSL_free(out);
        out = copy;
        *len = (size_t)n;
    }
    return out;
}

/* An ES256 signature left in OpenSSL's DER form, as a naive signer would send it. */
static char *es256_der_sig(const char *input)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    size_t n = sizeof der;
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fx.ec), 1);
    assert_int_equal(EVP_DigestSign(md, der, &n, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    assert_int_not_equal(n, 64);
    return b64(der, n);
}

/* An RSASSA-PSS SHA-256 signature with the given salt length. */
static char *pss_sig(EVP_PKEY *k, const char *input, int salt)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    unsigned char sig[512];
    size_t n = sizeof sig;
    assert_int_equal(EVP_DigestSignInit(md, &pc, EVP_sha256(), NULL, k), 1);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) > 0);
    assert_int_equal(EVP_DigestSign(md, sig, &n, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    return b64(sig, n);
}

/* Replaces "@JWK@" in a header template with the attacker's public JWK. */
static char *header_text(const char *tmpl)
{
    const char *at = strstr(tmpl, "@JWK@");
    if (!at)
        return strdup(tmpl);
    json_t *j = tn_jwk_public_json(fx.att, NULL, NULL);
    char *jwk = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(tmpl) + strlen(jwk) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - tmpl), tmpl, jwk, at + 5);
    free(jwk);
    json_decref(j);
    return s;
}

/* ---- the hostile table -------------------------------------------------------------- */

enum signer { K_RSA, K_PS, K_EC, K_ED, K_ED2, K_ATT };

enum sig_mode {
    SIG_KEY,          /* a valid signature by `signer` under `alg` */
    SIG_EMPTY,        /* "h.p."  (the RFC 7519 unsecured form) */
    SIG_JUNK,         /* "h.p.c2ln" */
    SIG_HMAC_PEM,     /* HS256 keyed with the RSA public key, SPKI PEM */
    SIG_HMAC_DER,     /* same, SPKI DER */
    SIG_FLIP_SIG,     /* valid, then one bit of the decoded signature flipped */
    SIG_FLIP_PAYLOAD, /* valid, then one bit of the decoded payload flipped */
    SIG_SHORT,        /* valid, then the last signature byte dropped */
    SIG_LONG,         /* valid, then a zero byte appended to the signature */
    SIG_ES_DER,       /* ES256 signature in DER instead of raw r||s */
    SIG_PSS_SALT0,    /* RSASSA-PSS by `signer` with salt lengths other than 32 */
    SIG_PSS_SALT_MAX,
    SIG_PSS_SALT32, /* a correct PS256 signature, under whatever the header says */
};

enum mangle {
    M_NONE,
    M_FOURTH_PART,
    M_TWO_PARTS,
    M_PAD_SIG,
    M_PAD_HDR,
    M_NEWLINE,
    M_NUL,
    M_PLUS,
    M_EMPTY
};

struct hostile {
    const char *name;
    const char *header;
    const char *payload; /* NULL: GOOD */
    enum signer signer;
    const char *alg; /* for SIG_KEY and friends */
    enum sig_mode sig;
    enum mangle mangle;
    size_t max_len; /* 0: the policy's 8192; or LEN_EXACT / LEN_SHORT */
    enum tn_jwt_reason want;
};

#define LEN_EXACT ((size_t)-1) /* max_token_len = the token's length */
#define LEN_SHORT ((size_t)-2) /* max_token_len = the token's length - 1 */

#define C_ISS "\"iss\":\"" ISS "\""
#define C_AUD "\"aud\":\"" AUD "\""
#define C_SUB "\"sub\":\"alice\""
#define C_EXP "\"exp\":1700003600"
#define C_IAT "\"iat\":1700000000"
#define GOOD "{" C_ISS "," C_AUD "," C_SUB "," C_EXP "," C_IAT "}"
#define NO_EXP_WITH(x) "{" C_ISS "," C_AUD "," C_SUB "," x "}"
#define NO_AUD_WITH(x) "{" C_ISS "," C_SUB "," C_EXP "," x "}"
#define NO_ISS_WITH(x) "{" C_AUD "," C_SUB "," C_EXP "," x "}"
#define NO_SUB_WITH(x) "{" C_ISS "," C_AUD "," C_EXP "," x "}"
#define WITH(x) "{" C_ISS "," C_AUD "," C_SUB "," C_EXP "," x "}"

#define H_RS "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"at+jwt\"}"
#define H_PS "{\"alg\":\"PS256\",\"kid\":\"ps-1\"}"
#define H_ES "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}"
#define H_ED "{\"alg\":\"EdDSA\",\"kid\":\"ed-1\"}"

static const struct hostile cases[] = {
    /* controls: the same construction, accepted */
    {"control RS256", H_RS, NULL, K_RSA, "RS256", SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"control PS256", H_PS, NULL, K_PS, "PS256", SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"control ES256", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"control EdDSA", H_ED, NULL, K_ED, "EdDSA", SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"control EdDSA second key", "{\"alg\":\"EdDSA\",\"kid\":\"ed-2\"}", NULL, K_ED2, "EdDSA",
     SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"no kid, single ES256 key", "{\"alg\":\"ES256\"}", NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_OK},
    {"no kid, single RS256 key", "{\"alg\":\"RS256\"}", NULL, K_RSA, "RS256", SIG_KEY, M_NONE, 0,
     TN_JWT_OK},
    {"typ JWT", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"JWT\"}", NULL, K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"typ jwt lowercase", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"jwt\"}", NULL, K_EC,
     "ES256", SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"typ AT+JWT", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"AT+JWT\"}", NULL, K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"typ application/at+jwt",
     "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"application/at+jwt\"}", NULL, K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"aud array", H_ES, NO_AUD_WITH("\"aud\":[\"https://x.example\",\"" AUD "\"]"), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"second configured audience", H_ES, NO_AUD_WITH("\"aud\":\"https://other.example.com/mcp\""),
     K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"expired within leeway", H_ES, NO_EXP_WITH("\"exp\":1699999941"), K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_OK},
    {"nbf within leeway", H_ES, WITH("\"nbf\":1700000060"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_OK},
    {"iat within leeway", H_ES, NO_EXP_WITH("\"exp\":1700003600,\"iat\":1700000030"), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_OK},
    {"fractional exp", H_ES, NO_EXP_WITH("\"exp\":1700003600.5"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_OK},
    {"exp far future", H_ES, NO_EXP_WITH("\"exp\":1e300"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_OK},
    {"exactly max length", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_NONE, LEN_EXACT, TN_JWT_OK},

    /* alg none and HMAC confusion */
    {"alg none, empty signature", "{\"alg\":\"none\"}", NULL, K_RSA, NULL, SIG_EMPTY, M_NONE, 0,
     TN_JWT_ALG_NONE},
    {"alg none, with signature", "{\"alg\":\"none\",\"kid\":\"rsa-1\"}", NULL, K_RSA, NULL,
     SIG_JUNK, M_NONE, 0, TN_JWT_ALG_NONE},
    {"alg NoNe", "{\"alg\":\"NoNe\"}", NULL, K_RSA, NULL, SIG_EMPTY, M_NONE, 0, TN_JWT_ALG_NONE},
    {"HS256 keyed with RSA public PEM", "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", NULL, K_RSA, NULL,
     SIG_HMAC_PEM, M_NONE, 0, TN_JWT_ALG_MISMATCH},
    {"HS256 keyed with RSA public DER", "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", NULL, K_RSA, NULL,
     SIG_HMAC_DER, M_NONE, 0, TN_JWT_ALG_MISMATCH},
    {"HS256 PEM, no kid", "{\"alg\":\"HS256\"}", NULL, K_RSA, NULL, SIG_HMAC_PEM, M_NONE, 0,
     TN_JWT_ALG_UNSUPPORTED},
    {"RS512, no kid", "{\"alg\":\"RS512\"}", NULL, K_RSA, NULL, SIG_JUNK, M_NONE, 0,
     TN_JWT_ALG_UNSUPPORTED},
    {"ES256 token, RSA key", "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", NULL, K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_ALG_MISMATCH},
    {"RS256 token, PS256-pinned key", "{\"alg\":\"RS256\",\"kid\":\"ps-1\"}", NULL, K_PS, "RS256",
     SIG_KEY, M_NONE, 0, TN_JWT_ALG_MISMATCH},
    {"PS256 token, RS256-pinned key", "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", NULL, K_RSA, "PS256",
     SIG_KEY, M_NONE, 0, TN_JWT_ALG_MISMATCH},
    {"alg rs256 lowercase", "{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}", NULL, K_RSA, "RS256", SIG_KEY,
     M_NONE, 0, TN_JWT_ALG_MISMATCH},

    /* keys the token brings along */
    {"embedded jwk, signed by it", "{\"alg\":\"ES256\",\"jwk\":@JWK@}", NULL, K_ATT, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_EMBEDDED_KEY},
    {"jku", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"jku\":\"https://evil.example/jwks\"}", NULL,
     K_RSA, "RS256", SIG_KEY, M_NONE, 0, TN_JWT_EMBEDDED_KEY},
    {"x5u", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"x5u\":\"https://evil.example/c.pem\"}", NULL,
     K_RSA, "RS256", SIG_KEY, M_NONE, 0, TN_JWT_EMBEDDED_KEY},
    {"x5c", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"x5c\":[\"MIIBIjANBgkq\"]}", NULL, K_RSA,
     "RS256", SIG_KEY, M_NONE, 0, TN_JWT_EMBEDDED_KEY},

    /* other header rules */
    {"typ JOSE", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"JOSE\"}", NULL, K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_BAD_TYP},
    {"typ number", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":1}", NULL, K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_BAD_TYP},
    {"typ id_token-ish", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"JWT+x\"}", NULL, K_EC,
     "ES256", SIG_KEY, M_NONE, 0, TN_JWT_BAD_TYP},
    {"crit", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"crit\":[\"exp\"],\"exp\":1}", NULL, K_EC,
     "ES256", SIG_KEY, M_NONE, 0, TN_JWT_CRIT},
    {"crit empty", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"crit\":[]}", NULL, K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_CRIT},
    {"unknown kid", "{\"alg\":\"ES256\",\"kid\":\"ec-9\"}", NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_NO_KID_MATCH},
    {"no kid, two EdDSA keys", "{\"alg\":\"EdDSA\"}", NULL, K_ED, "EdDSA", SIG_KEY, M_NONE, 0,
     TN_JWT_NO_KID_MATCH},
    {"kid not a string", "{\"alg\":\"ES256\",\"kid\":7}", NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_MALFORMED},
    {"alg missing", "{\"kid\":\"ec-1\"}", NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_MALFORMED},
    {"alg not a string", "{\"alg\":[\"ES256\"],\"kid\":\"ec-1\"}", NULL, K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_MALFORMED},
    {"duplicate header member", "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"kid\":\"rsa-1\"}", NULL,
     K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_MALFORMED},
    {"header is an array", "[\"ES256\"]", NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_MALFORMED},
    {"header not JSON", "alg=ES256", NULL, K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_MALFORMED},

    /* signatures */
    {"flipped signature RS256", H_RS, NULL, K_RSA, "RS256", SIG_FLIP_SIG, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"flipped signature PS256", H_PS, NULL, K_PS, "PS256", SIG_FLIP_SIG, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"flipped signature ES256", H_ES, NULL, K_EC, "ES256", SIG_FLIP_SIG, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"flipped signature EdDSA", H_ED, NULL, K_ED, "EdDSA", SIG_FLIP_SIG, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"flipped payload RS256", H_RS, NULL, K_RSA, "RS256", SIG_FLIP_PAYLOAD, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"flipped payload ES256", H_ES, NULL, K_EC, "ES256", SIG_FLIP_PAYLOAD, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"flipped payload EdDSA", H_ED, NULL, K_ED, "EdDSA", SIG_FLIP_PAYLOAD, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"signed by the other Ed25519 key", H_ED, NULL, K_ED2, "EdDSA", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"signed by the other RSA key", H_RS, NULL, K_PS, "RS256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"ES256 signature 63 bytes", H_ES, NULL, K_EC, "ES256", SIG_SHORT, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"ES256 signature 65 bytes", H_ES, NULL, K_EC, "ES256", SIG_LONG, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"ES256 signature in DER", H_ES, NULL, K_EC, "ES256", SIG_ES_DER, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"RS256 signature 255 bytes", H_RS, NULL, K_RSA, "RS256", SIG_SHORT, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"RS256 empty signature", H_RS, NULL, K_RSA, NULL, SIG_EMPTY, M_NONE, 0, TN_JWT_BAD_SIGNATURE},
    {"PS256 control, independent signer", H_PS, NULL, K_PS, NULL, SIG_PSS_SALT32, M_NONE, 0,
     TN_JWT_OK},
    {"PS256 salt length 0", H_PS, NULL, K_PS, NULL, SIG_PSS_SALT0, M_NONE, 0, TN_JWT_BAD_SIGNATURE},
    {"PS256 salt length max", H_PS, NULL, K_PS, NULL, SIG_PSS_SALT_MAX, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"RS256 header, PSS signature", H_RS, NULL, K_RSA, NULL, SIG_PSS_SALT32, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"PS256 header, PKCS#1 v1.5 signature", H_PS, NULL, K_PS, "RS256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},
    {"EdDSA signature 65 bytes", H_ED, NULL, K_ED, "EdDSA", SIG_LONG, M_NONE, 0,
     TN_JWT_BAD_SIGNATURE},

    /* shape */
    {"4 parts", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_FOURTH_PART, 0, TN_JWT_MALFORMED},
    {"2 parts", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_TWO_PARTS, 0, TN_JWT_MALFORMED},
    {"padding in signature", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_PAD_SIG, 0, TN_JWT_MALFORMED},
    {"padding in header", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_PAD_HDR, 0, TN_JWT_MALFORMED},
    {"trailing newline", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_NEWLINE, 0, TN_JWT_MALFORMED},
    {"trailing NUL byte", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_NUL, 0, TN_JWT_MALFORMED},
    {"standard base64 '+'", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_PLUS, 0, TN_JWT_MALFORMED},
    {"empty token", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_EMPTY, 0, TN_JWT_MALFORMED},
    {"one byte over max length", H_ES, NULL, K_EC, "ES256", SIG_KEY, M_NONE, LEN_SHORT,
     TN_JWT_TOO_LARGE},
    {"payload duplicate sub", H_ES, "{" C_ISS "," C_AUD "," C_SUB "," C_EXP ",\"sub\":\"root\"}",
     K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_MALFORMED},
    {"payload not JSON", H_ES, "hello", K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_MALFORMED},
    {"payload an array", H_ES, "[" C_ISS "]", K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_MALFORMED},

    /* claims, all validly signed */
    {"wrong issuer", H_ES, NO_ISS_WITH("\"iss\":\"https://evil.example.com\""), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_BAD_ISSUER},
    {"issuer with trailing slash", H_ES, NO_ISS_WITH("\"iss\":\"" ISS "/\""), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_BAD_ISSUER},
    {"issuer a prefix of the trusted one", H_ES, NO_ISS_WITH("\"iss\":\"https://as.example\""),
     K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_BAD_ISSUER},
    {"issuer missing", H_ES, "{" C_AUD "," C_SUB "," C_EXP "}", K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_ISSUER},
    {"issuer as array", H_ES, NO_ISS_WITH("\"iss\":[\"" ISS "\"]"), K_EC, "ES256", SIG_KEY, M_NONE,
     0, TN_JWT_BAD_CLAIM_TYPE},
    {"wrong audience string", H_ES, NO_AUD_WITH("\"aud\":\"https://notes.example.com/other\""),
     K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_BAD_AUDIENCE},
    {"wrong audience array", H_ES, NO_AUD_WITH("\"aud\":[\"https://a.example\",\"b\"]"), K_EC,
     "ES256", SIG_KEY, M_NONE, 0, TN_JWT_BAD_AUDIENCE},
    {"audience empty array", H_ES, NO_AUD_WITH("\"aud\":[]"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_AUDIENCE},
    {"audience missing", H_ES, "{" C_ISS "," C_SUB "," C_EXP "}", K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_AUDIENCE},
    {"audience prefix only", H_ES, NO_AUD_WITH("\"aud\":\"https://notes.example.com\""), K_EC,
     "ES256", SIG_KEY, M_NONE, 0, TN_JWT_BAD_AUDIENCE},
    {"audience array with a number", H_ES, NO_AUD_WITH("\"aud\":[\"" AUD "\",1]"), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_BAD_CLAIM_TYPE},
    {"audience as object", H_ES, NO_AUD_WITH("\"aud\":{\"a\":\"" AUD "\"}"), K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_BAD_CLAIM_TYPE},
    {"expired beyond leeway", H_ES, NO_EXP_WITH("\"exp\":1699999939"), K_EC, "ES256", SIG_KEY,
     M_NONE, 0, TN_JWT_EXPIRED},
    {"expired exactly at now - leeway", H_ES, NO_EXP_WITH("\"exp\":1699999940"), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_EXPIRED},
    {"fractional exp rounds down", H_ES, NO_EXP_WITH("\"exp\":1699999940.9"), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_EXPIRED},
    {"exp negative", H_ES, NO_EXP_WITH("\"exp\":-1"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_EXPIRED},
    {"nbf in the future", H_ES, WITH("\"nbf\":1700000061"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_NOT_YET_VALID},
    {"fractional nbf rounds up", H_ES, WITH("\"nbf\":1700000060.1"), K_EC, "ES256", SIG_KEY, M_NONE,
     0, TN_JWT_NOT_YET_VALID},
    {"iat in the future", H_ES, NO_EXP_WITH("\"exp\":1700003600,\"iat\":1700000061"), K_EC, "ES256",
     SIG_KEY, M_NONE, 0, TN_JWT_NOT_YET_VALID},
    {"missing sub", H_ES, NO_SUB_WITH(C_IAT), K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_NO_SUBJECT},
    {"empty sub", H_ES, NO_SUB_WITH("\"sub\":\"\""), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_NO_SUBJECT},
    {"sub a number", H_ES, NO_SUB_WITH("\"sub\":42"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_CLAIM_TYPE},
    {"missing exp", H_ES, NO_EXP_WITH(C_IAT), K_EC, "ES256", SIG_KEY, M_NONE, 0, TN_JWT_NO_EXPIRY},
    {"exp as string", H_ES, NO_EXP_WITH("\"exp\":\"1700003600\""), K_EC, "ES256", SIG_KEY, M_NONE,
     0, TN_JWT_BAD_CLAIM_TYPE},
    {"exp null", H_ES, NO_EXP_WITH("\"exp\":null"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_CLAIM_TYPE},
    {"exp true", H_ES, NO_EXP_WITH("\"exp\":true"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_CLAIM_TYPE},
    {"nbf as string", H_ES, WITH("\"nbf\":\"0\""), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_CLAIM_TYPE},
    {"iat as object", H_ES, WITH("\"iat\":{}"), K_EC, "ES256", SIG_KEY, M_NONE, 0,
     TN_JWT_BAD_CLAIM_TYPE},
};

static EVP_PKEY *key_of(enum signer s)
{
    EVP_PKEY *k[] = {fx.rsa, fx.ps, fx.ec, fx.ed, fx.ed2, fx.att};
    return k[s];
}

/* Builds the token a row describes; *len may include a byte past the string (M_NUL). */
static char *build(const struct hostile *c, size_t *len)
{
    char *hdr = header_text(c->header);
    const char *pay = c->payload ? c->payload : GOOD;
    char *tok = NULL, *h = NULL, *p = NULL, *s = NULL;
    unsigned char *bytes;
    size_t n;

    if (c->sig == SIG_KEY || c->sig == SIG_FLIP_SIG || c->sig == SIG_FLIP_PAYLOAD ||
        c->sig == SIG_SHORT || c->sig == SIG_LONG) {
        assert_int_equal(tn_jws_sign_compact(key_of(c->signer), c->alg, hdr, strlen(hdr), pay,
                                             strlen(pay), &tok),
                         TN_OK);
        split3(tok, &h, &p, &s);
        free(tok);
        if (c->sig == SIG_FLIP_SIG || c->sig == SIG_SHORT || c->sig == SIG_LONG) {
            bytes = unb64(s, strlen(s), &n);
            bytes = realloc(bytes, n + 1);
            if (c->sig == SIG_FLIP_SIG)
                bytes[n / 2] ^= 0x01;
            else if (c->sig == SIG_SHORT)
                n--;
            else
                bytes[n++] = 0;
            free(s);
            s = b64(bytes, n);
            free(bytes);
        } else if (c->sig == SIG_FLIP_PAYLOAD) {
            bytes = unb64(p, strlen(p), &n);
            bytes[n / 2] ^= 0x01;
            free(p);
            p = b64(bytes, n);
            free(bytes);
        }
    } else {
        h = b64(hdr, strlen(hdr));
        p = b64(pay, strlen(pay));
        char *input = join3(h, p, "");
        input[strlen(input) - 1] = '\0'; /* "h.p" */
        if (c->sig == SIG_EMPTY) {
            s = strdup("");
        } else if (c->sig == SIG_JUNK) {
            s = strdup("c2ln");
        } else if (c->sig == SIG_ES_DER) {
            s = es256_der_sig(input);
        } else if (c->sig == SIG_PSS_SALT0 || c->sig == SIG_PSS_SALT_MAX ||
                   c->sig == SIG_PSS_SALT32) {
            s = pss_sig(key_of(c->signer), input,
                        c->sig == SIG_PSS_SALT0    ? 0
                        : c->sig == SIG_PSS_SALT32 ? 32
                                                   : RSA_PSS_SALTLEN_MAX);
        } else {
            uint8_t mac[32];
            size_t kl;
            unsigned char *key = rsa_public_bytes(c->sig == SIG_HMAC_PEM, &kl);
            tn_hmac_sha256(mac, key, kl, input, strlen(input));
            s = b64(mac, sizeof mac);
            free(key);
        }
        free(input);
    }
    tok = join3(h, p, s);
    free(h);
    free(p);
    free(s);
    free(hdr);

    /* Room for the longest suffix below; never strcat (banned, see STYLE.md). */
    size_t tl = strlen(tok);
    tok = realloc(tok, tl + 8);
    char *dot = strchr(tok, '.');
    *len = tl;
    switch (c->mangle) {
    case M_FOURTH_PART:
        memcpy(tok + tl, ".e30", 5);
        *len += 4;
        break;
    case M_TWO_PARTS:
        *len = (size_t)(strrchr(tok, '.') - tok);
        tok[*len] = '\0';
        break;
    case M_PAD_SIG:
        memcpy(tok + tl, "==", 3);
        *len += 2;
        break;
    case M_PAD_HDR:
        memmove(dot + 1, dot, strlen(dot) + 1);
        *dot = '=';
        *len += 1;
        break;
    case M_NEWLINE:
        memcpy(tok + tl, "\n", 2);
        *len += 1;
        break;
    case M_NUL:
        *len += 1;
        break; /* the terminating NUL becomes part of the token */
    case M_PLUS:
        strrchr(tok, '.')[1] = '+';
        break;
    case M_EMPTY:
        tok[0] = '\0';
        *len = 0;
        break;
    default:
        break;
    }
    return tok;
}

static void test_hostile_table(void **state)
{
    fixture();
    size_t failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct hostile *c = &cases[i];
        size_t len;
        char *tok = build(c, &len);
        struct tn_jwt_policy p = policy();
        if (c->max_len)
            p.max_token_len = c->max_len == LEN_EXACT   ? len
                              : c->max_len == LEN_SHORT ? len - 1
                                                        : c->max_len;
        json_t *claims = (json_t *)1;
        enum tn_jwt_reason why = TN_JWT__COUNT;
        enum tn_err e = tn_jwt_verify(tok, len, fx.set, &p, &claims, &why);
        bool ok = why == c->want &&
                  (c->want == TN_JWT_OK
                       ? e == TN_OK && claims &&
                             strcmp(json_string_value(json_object_get(claims, "sub")), "alice") == 0
                       : e == TN_ERR_BAD_INPUT && claims == NULL);
        if (!ok) {
            print_error("case %zu \"%s\": got %s (%s), want %s; token %zu bytes\n", i, c->name,
                        tn_jwt_reason_name(why), tn_err_name(e), tn_jwt_reason_name(c->want), len);
            failures++;
        }
        if (claims != (json_t *)1)
            json_decref(claims);
        free(tok);
    }
    assert_int_equal(failures, 0);
}

/* ---- round trips through tn_jwt_sign ------------------------------------------------ */

static json_t *good_claims(void)
{
    return json_pack("{s:s, s:[s], s:s, s:I, s:I, s:s}", "iss", ISS, "aud", AUD, "sub", "alice",
                     "exp", (json_int_t)NOW + 3600, "iat", (json_int_t)NOW, "scope",
                     "notes:read notes:write");
}

/* Sign with each algorithm, publish, parse back, verify; and the same key through the
 * one-key set a local authorization server would use. */
static void test_sign_verify_each_alg(void **state)
{
    fixture();
    struct {
        EVP_PKEY *key;
        const char *alg, *kid;
    } rows[] = {{fx.rsa, "RS256", "rsa-1"},
                {fx.ps, "PS256", "ps-1"},
                {fx.ec, "ES256", "ec-1"},
                {fx.ed, "EdDSA", "ed-1"}};
    struct tn_jwt_policy p = policy();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *c = good_claims(), *out = NULL;
        char *tok = NULL;
        enum tn_jwt_reason why;
        assert_int_equal(tn_jwt_sign(rows[i].key, rows[i].alg, rows[i].kid, "at+jwt", c, &tok),
                         TN_OK);
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), fx.set, &p, &out, &why), TN_OK);
        assert_int_equal(why, TN_JWT_OK);
        assert_string_equal(json_string_value(json_object_get(out, "scope")),
                            "notes:read notes:write");
        assert_true(json_equal(out, c));
        json_decref(out);

        const struct tn_jwk *k = tn_jwks_find(fx.set, rows[i].kid);
        assert_non_null(k);
        assert_string_equal(tn_jwk_alg(k), rows[i].alg);

        /* The local one-key set, kid = thumbprint. */
        struct tn_jwks *local = NULL;
        char thumb[44];
        assert_int_equal(tn_jwks_from_pkey(rows[i].key, NULL, rows[i].alg, &local), TN_OK);
        assert_int_equal(tn_jwk_thumbprint(rows[i].key, thumb), TN_OK);
        assert_string_equal(tn_jwk_kid(tn_jwks_key(local, 0)), thumb);
        free(tok);
        assert_int_equal(tn_jwt_sign(rows[i].key, rows[i].alg, thumb, NULL, c, &tok), TN_OK);
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), local, &p, NULL, &why), TN_OK);
        /* ... and the published set does not know that kid. */
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), fx.set, &p, NULL, &why), TN_ERR_BAD_INPUT);
        assert_int_equal(why, TN_JWT_NO_KID_MATCH);
        tn_jwks_free(local);
        free(tok);
        json_decref(c);
    }
}

/* ES256 signatures arrive as raw r‖s and are re-encoded as DER for OpenSSL: each of r
 * and s with its top bit set (a zero byte added), clear, and with leading zero bytes
 * (dropped) must verify; r or s of zero, or r equal to the group order, must not. */
static void test_es256_integer_forms(void **state)
{
    fixture();
    struct tn_jwt_policy p = policy();
    json_t *c = good_claims();
    enum { R_HIGH, R_LOW, R_ZERO_LEAD, S_HIGH, S_LOW, S_ZERO_LEAD, FORMS };
    int seen[FORMS] = {0}, missing = FORMS;
    char *zero_lead = NULL; /* a token whose r or s starts with a zero byte */
    for (int i = 0; i < 6000 && missing > 0; i++) {
        char *tok = NULL;
        enum tn_jwt_reason why;
        assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "ec-1", "at+jwt", c, &tok), TN_OK);
        const char *sig = strrchr(tok, '.') + 1;
        unsigned char raw[64];
        size_t n = 0;
        assert_int_equal(tn_b64url_decode(raw, sizeof raw, &n, sig, strlen(sig)), TN_OK);
        assert_int_equal(n, 64);
        int forms[2] = {raw[0] == 0     ? R_ZERO_LEAD
                        : raw[0] & 0x80 ? R_HIGH
                                        : R_LOW,
                        raw[32] == 0     ? S_ZERO_LEAD
                        : raw[32] & 0x80 ? S_HIGH
                                         : S_LOW};
        bool fresh = false;
        for (int f = 0; f < 2; f++)
            if (!seen[forms[f]]++)
                fresh = true, missing--;
        if (fresh) /* every signature is checked; a new form is what the test needs */
            assert_int_equal(tn_jwt_verify(tok, strlen(tok), fx.set, &p, NULL, &why), TN_OK);
        if (!zero_lead && (forms[0] == R_ZERO_LEAD || forms[1] == S_ZERO_LEAD))
            zero_lead = tok;
        else
            free(tok);
    }
    for (int f = 0; f < FORMS; f++)
        assert_true(seen[f] > 0);

    /* r = 0, s = 0, and r = n (the P-256 order): refused as a bad signature */
    static const unsigned char order[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                            0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    char *dot = strrchr(zero_lead, '.') + 1;
    unsigned char raw[64];
    size_t n = 0;
    assert_int_equal(tn_b64url_decode(raw, sizeof raw, &n, dot, strlen(dot)), TN_OK);
    for (int bad = 0; bad < 3; bad++) {
        unsigned char forged[64];
        memcpy(forged, raw, 64);
        if (bad == 0)
            memset(forged, 0, 32);
        else if (bad == 1)
            memset(forged + 32, 0, 32);
        else
            memcpy(forged, order, 32);
        size_t head = (size_t)(dot - zero_lead);
        char *tok = malloc(head + 90);
        assert_non_null(tok);
        memcpy(tok, zero_lead, head);
        tn_b64url_encode(tok + head, 90, forged, 64);
        enum tn_jwt_reason why;
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), fx.set, &p, NULL, &why), TN_ERR_BAD_INPUT);
        assert_int_equal(why, TN_JWT_BAD_SIGNATURE);
        free(tok);
    }
    free(zero_lead);
    json_decref(c);
}

/* The header tn_jwt_sign writes, byte for byte. */
static void test_sign_header(void **state)
{
    fixture();
    json_t *c = good_claims();
    char *tok = NULL, *h, *p, *s;
    size_t n;
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "ec-1", "at+jwt", c, &tok), TN_OK);
    split3(tok, &h, &p, &s);
    unsigned char *hdr = unb64(h, strlen(h), &n);
    assert_int_equal(n, strlen("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"at+jwt\"}"));
    assert_memory_equal(hdr, "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"at+jwt\"}", n);
    free(hdr);
    unsigned char *sig = unb64(s, strlen(s), &n);
    assert_int_equal(n, 64); /* raw r||s, not DER */
    free(sig);
    free(h);
    free(p);
    free(s);
    free(tok);
    json_decref(c);
}

static void test_sign_refusals(void **state)
{
    fixture();
    json_t *c = good_claims(), *arr = json_array();
    char *tok = (char *)1;
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_int_equal(tn_jwt_sign(fx.rsa, "ES256", NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_null(tok);
    assert_int_equal(tn_jwt_sign(fx.rsa, "HS256", NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(fx.rsa, "none", NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(fx.ed, "ES256", NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", NULL, NULL, arr, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(small, NULL, NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(p384, NULL, NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(NULL, "ES256", NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "bad\xff", NULL, c, &tok), TN_ERR_BAD_INPUT);
    /* a public-only key (as imported from a JWKS) cannot sign */
    EVP_PKEY *pub = tn_jwk_pkey(tn_jwks_find(fx.set, "ec-1"));
    assert_int_equal(tn_jwt_sign(pub, "ES256", NULL, NULL, c, &tok), TN_ERR_BAD_INPUT);
    assert_null(tok);
    assert_null(tn_jwk_public_json(small, NULL, NULL));
    assert_null(tn_jwk_public_json(p384, NULL, NULL));
    assert_null(tn_jwk_public_json(fx.ec, NULL, "RS256"));
    char thumb[44] = "x";
    assert_int_equal(tn_jwk_thumbprint(p384, thumb), TN_ERR_BAD_INPUT);
    assert_string_equal(thumb, "");
    struct tn_jwks *set = (struct tn_jwks *)1;
    assert_int_equal(tn_jwks_from_pkey(fx.ec, "k", "RS256", &set), TN_ERR_BAD_INPUT);
    assert_null(set);
    assert_int_equal(tn_jwks_from_pkey(small, "k", NULL, &set), TN_ERR_BAD_INPUT);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p384);
    json_decref(arr);
    json_decref(c);
}

/* Published JWKs carry public members only, with use and alg. */
static void test_public_json(void **state)
{
    fixture();
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    EVP_PKEY *keys[] = {fx.rsa, fx.ec, fx.ed};
    const char *kty[] = {"RSA", "EC", "OKP"}, *alg[] = {"RS256", "ES256", "EdDSA"};
    size_t members[] = {6, 7, 6}; /* kty n e use alg kid | kty crv x y use alg kid | ... */
    for (size_t i = 0; i < 3; i++) {
        json_t *j = tn_jwk_public_json(keys[i], "kid-x", NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "kty")), kty[i]);
        assert_string_equal(json_string_value(json_object_get(j, "alg")), alg[i]);
        assert_string_equal(json_string_value(json_object_get(j, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(j, "kid")), "kid-x");
        assert_int_equal(json_object_size(j), members[i]);
        for (size_t m = 0; m < sizeof private_members / sizeof private_members[0]; m++)
            assert_null(json_object_get(j, private_members[m]));
        json_decref(j);
    }
    json_t *ec = tn_jwk_public_json(fx.ec, NULL, NULL);
    assert_int_equal(json_string_length(json_object_get(ec, "x")), 43); /* full 32 bytes */
    assert_int_equal(json_string_length(json_object_get(ec, "y")), 43);
    assert_null(json_object_get(ec, "kid"));
    json_decref(ec);
}

/* ---- JWKS import -------------------------------------------------------------------- */

/* An RSA JWK by hand, for sizes tn_jwk_public_json refuses to publish. */
static json_t *rsa_jwk_raw(EVP_PKEY *k, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    unsigned char nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *ns = b64(nb, (size_t)nl), *es = b64(eb, (size_t)el);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "n", ns, "e", es);
    free(ns);
    free(es);
    BN_free(n);
    BN_free(e);
    return j;
}

static json_t *with(json_t *jwk, const char *member, json_t *value)
{
    if (value)
        json_object_set_new(jwk, member, value);
    else
        json_object_del(jwk, member);
    return jwk;
}

/* A P-256 JWK whose y coordinate is changed: the point leaves the curve. */
static json_t *off_curve(void)
{
    json_t *j = tn_jwk_public_json(fx.ec, "off-curve", NULL);
    size_t n;
    const char *y = json_string_value(json_object_get(j, "y"));
    unsigned char *b = unb64(y, strlen(y), &n);
    b[31] ^= 0x01;
    char *s = b64(b, n);
    with(j, "y", json_string(s));
    free(s);
    free(b);
    return j;
}

static void test_jwks_skips(void **state)
{
    fixture();
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *priv_holder = fx.ec;
    BIGNUM *d = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(priv_holder, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    unsigned char db[32];
    BN_bn2binpad(d, db, 32);
    BN_clear_free(d);
    char *ds = b64(db, 32);

    json_t *keys = json_array();
    /* usable: 3 */
    json_array_append_new(keys, tn_jwk_public_json(fx.rsa, "good-rsa", NULL));
    json_array_append_new(keys, with(tn_jwk_public_json(fx.ec, "good-ec", NULL), "alg", NULL));
    json_array_append_new(keys, with(with(tn_jwk_public_json(fx.ed, "good-ed", NULL), "use", NULL),
                                     "key_ops", json_pack("[s]", "verify")));
    /* skipped: each for one reason */
    json_t *skip[] = {
        with(tn_jwk_public_json(fx.ec, "enc", NULL), "use", json_string("enc")),
        with(tn_jwk_public_json(fx.ec, "use-num", NULL), "use", json_integer(1)),
        with(tn_jwk_public_json(fx.ec, "ops-enc", NULL), "key_ops", json_pack("[s]", "encrypt")),
        with(tn_jwk_public_json(fx.ec, "private-d", NULL), "d", json_string(ds)),
        with(tn_jwk_public_json(fx.rsa, "private-p", NULL), "p", json_string("AQAB")),
        rsa_jwk_raw(small, "rsa-1024"),
        with(rsa_jwk_raw(fx.rsa, "rsa-e1"), "e", json_string("AQ")),
        with(rsa_jwk_raw(fx.rsa, "rsa-e-even"), "e", json_string("AQAA")),
        json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "hmac", "k", "c2VjcmV0"),
        json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "oct-no-k", "alg", "HS256"),
        with(tn_jwk_public_json(fx.ec, "p384", NULL), "crv", json_string("P-384")),
        with(tn_jwk_public_json(fx.ed, "ed448", NULL), "crv", json_string("Ed448")),
        with(tn_jwk_public_json(fx.ed, "x25519", NULL), "crv", json_string("X25519")),
        with(tn_jwk_public_json(fx.rsa, "rsa-es256", NULL), "alg", json_string("ES256")),
        with(tn_jwk_public_json(fx.rsa, "rsa-rs384", NULL), "alg", json_string("RS384")),
        with(tn_jwk_public_json(fx.ec, "ec-none", NULL), "alg", json_string("none")),
        with(tn_jwk_public_json(fx.ed, "ed-es256", NULL), "alg", json_string("ES256")),
        off_curve(),
        with(tn_jwk_public_json(fx.ec, "x-short", NULL), "x", json_string("AAAA")),
        with(tn_jwk_public_json(fx.ec, "no-y", NULL), "y", NULL),
        with(tn_jwk_public_json(fx.ed, "x-bad-b64", NULL), "x", json_string("!!!!")),
        with(tn_jwk_public_json(fx.ec, NULL, NULL), "kid", json_integer(5)),
        with(tn_jwk_public_json(fx.ec, NULL, NULL), "kty", NULL),
        json_string("not an object"),
    };
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) {
        assert_non_null(skip[i]);
        json_array_append_new(keys, skip[i]);
    }
    json_t *doc = jwks_doc(keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    struct tn_jwks *set = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 8192);
    assert_int_equal(tn_jwks_parse(text, strlen(text), &set, &err), TN_OK);
    assert_int_equal(tn_jwks_count(set), 3);
    assert_int_equal(tn_jwks_skipped(set), sizeof skip / sizeof skip[0]);
    assert_string_equal(tn_jwk_alg(tn_jwks_find(set, "good-rsa")), "RS256");
    assert_string_equal(tn_jwk_alg(tn_jwks_find(set, "good-ec")), "ES256");
    assert_string_equal(tn_jwk_alg(tn_jwks_find(set, "good-ed")), "EdDSA");
    assert_null(tn_jwks_find(set, "rsa-1024"));
    assert_null(tn_jwks_find(set, "private-d"));
    assert_null(tn_jwks_key(set, 3));
    /* The operator's notes name each skipped key and why. */
    assert_non_null(strstr(err.data, "key 8 (kid \"rsa-1024\") skipped: RSA modulus"));
    assert_non_null(strstr(err.data, "(kid \"private-d\") skipped: carries private"));
    assert_non_null(strstr(err.data, "(kid \"off-curve\") skipped: EC point not on P-256"));
    assert_non_null(strstr(err.data, "(kid \"rsa-es256\") skipped: \"alg\" does not fit"));
    /* Refusals after parsing: the skipped keys are not there to be used. */
    json_t *c = good_claims();
    char *tok = NULL;
    struct tn_jwt_policy p = policy();
    enum tn_jwt_reason why;
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "private-d", NULL, c, &tok), TN_OK);
    assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_NO_KID_MATCH);
    free(tok);
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "good-ec", NULL, c, &tok), TN_OK);
    assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_OK);
    free(tok);
    json_decref(c);
    tn_buf_deinit(&err);
    tn_jwks_free(set);
    free(text);
    json_decref(doc);
    free(ds);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p384);
}

static void test_jwks_fatal(void **state)
{
    static const struct {
        const char *doc;
        enum tn_err want;
    } rows[] = {
        {"", TN_ERR_PARSE},
        {"not json", TN_ERR_PARSE},
        {"{\"keys\":[]} trailing", TN_ERR_PARSE},
        {"{\"keys\":[],\"keys\":[]}", TN_ERR_PARSE},
        {"[]", TN_ERR_BAD_INPUT},
        {"{}", TN_ERR_BAD_INPUT},
        {"{\"keys\":{}}", TN_ERR_BAD_INPUT},
        {"{\"keys\":\"x\"}", TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct tn_jwks *set = (struct tn_jwks *)1;
        struct tn_buf err;
        tn_buf_init(&err, 1024);
        assert_int_equal(tn_jwks_parse(rows[i].doc, strlen(rows[i].doc), &set, &err), rows[i].want);
        assert_null(set);
        assert_true(err.len > 0);
        tn_buf_deinit(&err);
    }
    /* An empty set is valid; it verifies nothing. */
    struct tn_jwks *set = NULL;
    assert_int_equal(tn_jwks_parse("{\"keys\":[]}", 11, &set, NULL), TN_OK);
    assert_int_equal(tn_jwks_count(set), 0);
    tn_jwks_free(set);
    tn_jwks_free(NULL);

    /* Limits: document size and key count. */
    size_t big = TN_JWKS_MAX_BYTES + 1;
    char *doc = malloc(big + 1);
    memset(doc, ' ', big);
    memcpy(doc, "{\"keys\":[]}", 11);
    doc[big] = '\0';
    set = (struct tn_jwks *)1;
    assert_int_equal(tn_jwks_parse(doc, big, &set, NULL), TN_ERR_LIMIT);
    assert_null(set);
    free(doc);
    json_t *keys = json_array();
    for (unsigned i = 0; i <= TN_JWKS_MAX_KEYS; i++)
        json_array_append_new(keys, json_object());
    json_t *d = jwks_doc(keys);
    char *text = json_dumps(d, JSON_COMPACT);
    assert_int_equal(tn_jwks_parse(text, strlen(text), &set, NULL), TN_ERR_LIMIT);
    assert_null(set);
    free(text);
    json_decref(d);
}

/* Duplicate kids: lookups return the first in document order; verification takes the
 * first key of that kid pinned to the token's alg. */
static void test_jwks_duplicate_kids(void **state)
{
    fixture();
    json_t *keys = json_pack("[o, o, o]", tn_jwk_public_json(fx.ec, "dup", NULL),
                             tn_jwk_public_json(fx.rsa, "dup", NULL),
                             tn_jwk_public_json(fx.ps, "dup", NULL));
    struct tn_jwks *set = parse_doc(jwks_doc(keys), 3, 0);
    const struct tn_jwk *first = tn_jwks_find(set, "dup");
    assert_ptr_equal(first, tn_jwks_key(set, 0));
    assert_ptr_equal(tn_jwks_find(set, "dup"), first);
    assert_string_equal(tn_jwk_alg(first), "ES256");

    json_t *c = good_claims();
    struct tn_jwt_policy p = policy();
    enum tn_jwt_reason why;
    char *tok = NULL;
    assert_int_equal(tn_jwt_sign(fx.rsa, "RS256", "dup", NULL, c, &tok), TN_OK);
    assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_OK);
    free(tok);
    /* RS256 under kid "dup" means the RSA key listed first: the second RSA key's
     * signature does not verify, and no other key is tried. */
    assert_int_equal(tn_jwt_sign(fx.ps, "RS256", "dup", NULL, c, &tok), TN_OK);
    assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_BAD_SIGNATURE);
    free(tok);
    assert_int_equal(tn_jwt_sign(fx.ed, "EdDSA", "dup", NULL, c, &tok), TN_OK);
    assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_ALG_MISMATCH);
    free(tok);
    json_decref(c);
    tn_jwks_free(set);
}

/* ---- interop and known answers ------------------------------------------------------ */

/* Generated with panva/jose 6.2.18 (tests/interop/node_modules) under Node 20:
 * generateKeyPair per alg, exportJWK + kid/alg/use, SignJWT({scope:"notes:read"}) with
 * {alg,kid,typ:"at+jwt"}, iss/aud[]/sub, iat 1700000000, exp 4102444800, and
 * calculateJwkThumbprint. An independent implementation checking ours. */
static const char jose_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"m8lIT5686-__vnxbAAzdRMSF-x68yetiZAOp5Grov1IEBgPp"
    "flq6dt2LT0qBmeyYUczyQHzGNLGuoB6FYbJzYZ-BPI1YaqbzfMTvlXTRwZuMISyor3CDcXDmlLTcVkDhmlim"
    "elO_b1XdSnu61_Fupb12eaYOnH6x8a_figIZ4_2xkY0nFH8_RSsQvTtHhFNLHPAzt9KRt7ySf2kteSs5aK0j"
    "-sssVCzBvgF3NrXgrb6YHXvfkFx8Im0YmgO0WhTUusK1ZL7-ujIyv-oRDQtUBPG0d0nYmo9XzZY2oo77yxbo"
    "yidLQA_20X61AdOO-jaNx1by9nys_2pTy1Vt51v7Jw\",\"e\":\"AQAB\",\"kid\":\"jose-rs\",\"al"
    "g\":\"RS256\",\"use\":\"sig\"},{\"kty\":\"RSA\",\"n\":\"0DUEPar67hpQddqwRwiDD3-1Rwjb"
    "AcOuUTeLT2BOIlzSD4w0XYePccG_mqYlaswBYlOKCSN-CdTw1GshYparXQ8hFKtYKTQ0D6QKz-npjFhzuxd9"
    "Wog_oP75xTp-3kQAjyy0UX9NdA0eKibzu1_WKPXjDMEGHghYTGNBdqO9MM43IQjXihzIWWac1HWV15HI62Hy"
    "YVIJxeG99cBh8rFgxq6bJDtKcHgJ1nQ6JSGJSYBtncfnQ4z48HvrnCuqFyudjXofeY_O1MKRVqg6RNPV7M6Q"
    "Lse96zKZ9LEwYZGzuJAkWDptHy3-c2WkLnIe2p_VJQ_AKSE3_4h6r2UHFUjnvQ\",\"e\":\"AQAB\",\"ki"
    "d\":\"jose-ps\",\"alg\":\"PS256\",\"use\":\"sig\"},{\"kty\":\"EC\",\"x\":\"x93W570jO"
    "Xz76EqqxAsqMhlJvcMsoLVEiR_PfYcBcyo\",\"y\":\"e3vXQWjwMJ9mDtGCL57gnBWJmoApRLEzzrmq-gu"
    "xWfg\",\"crv\":\"P-256\",\"kid\":\"jose-es\",\"alg\":\"ES256\",\"use\":\"sig\"},{\"c"
    "rv\":\"Ed25519\",\"x\":\"E0sKAe5g5LWT40-n2h37j-wytAa1JEikX-vBO4J35Uk\",\"kty\":\"OKP"
    "\",\"kid\":\"jose-ed\",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}";
static const char *const jose_tokens[] = {
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Impvc2UtcnMiLCJ0eXAiOiJhdCtqd3QifQ.eyJzY29wZSI6Im5vdGVzO"
    "nJlYWQiLCJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwiYXVkIjpbImh0dHBzOi8vbm90ZXMuZXhhb"
    "XBsZS5jb20vbWNwIl0sInN1YiI6ImFsaWNlIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9."
    "fijAhY7VlDvZSZbSd5pqe3G7dWsj06mTSgPt3-mvPpEiFGq6vQ-Lh_IHoDrPo6txPLFE_nTSvUuranhExC8S"
    "l2aoTUyl9E8jRGZe4Vjg4C0Qpsl2I2vsgEUabslqFitYt2zuMSfoVAEyhoeceKoSCsU72APbZiasoWJKePq_"
    "WPe0Nm1ApsFp28zMOum0KnLGji1OAucDdD-SxIZ0CTYv0Vjb3C3aCc687MiEGsjfCanje36dsHW61T6N4UJs"
    "8-FsyDhs0W5HobRciK4nja8BJF0zIRzljWzR-t_Xb9gV-WyxuYbTVDzsqU5YWGfMHuOnsWDDedD7gtx2GF5M"
    "PzTWTw",
    "eyJhbGciOiJQUzI1NiIsImtpZCI6Impvc2UtcHMiLCJ0eXAiOiJhdCtqd3QifQ.eyJzY29wZSI6Im5vdGVzO"
    "nJlYWQiLCJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwiYXVkIjpbImh0dHBzOi8vbm90ZXMuZXhhb"
    "XBsZS5jb20vbWNwIl0sInN1YiI6ImFsaWNlIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9."
    "XN65T2xxwso2FCpQ9nKr69QMk5diqrSbSHjq-o-1OqEDf4AhwSuLN7C9IyGWd-dfP0tOslQ0S_B1wzRfQ2AF"
    "aSWQi431R1Ep_kFv4Ojr61uCz8IWYLgGt4Q478EYWdXW2i74AfgJvHhwckWHqplhHPVKMkjrlQ1oyce90rih"
    "bjqV40qNgM8WUiBJ9a4Hk52aAljBVibqovgkP3ti2967uIBFWyaIqBuptC-gkqGo4iWlyLToUVQ6Rk5ryIOt"
    "cIVCMoitZGbaRezRx-CTkxxPTvlh0crqe2FQPT7LUYJT0gXv7_TSm1V8xh2uDYq-21SYxAW4PpyIzoMLFmHe"
    "g4wyGQ",
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Impvc2UtZXMiLCJ0eXAiOiJhdCtqd3QifQ.eyJzY29wZSI6Im5vdGVzO"
    "nJlYWQiLCJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwiYXVkIjpbImh0dHBzOi8vbm90ZXMuZXhhb"
    "XBsZS5jb20vbWNwIl0sInN1YiI6ImFsaWNlIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9."
    "JswIE8VZEDHMFq1iCsV1YsTlLy2pd8AAB3Q2yH62TJc1WeBYrgCA6APpbglJai197TB3MKG1CCS4-5csnums"
    "zw",
    "eyJhbGciOiJFZERTQSIsImtpZCI6Impvc2UtZWQiLCJ0eXAiOiJhdCtqd3QifQ.eyJzY29wZSI6Im5vdGVzO"
    "nJlYWQiLCJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwiYXVkIjpbImh0dHBzOi8vbm90ZXMuZXhhb"
    "XBsZS5jb20vbWNwIl0sInN1YiI6ImFsaWNlIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9."
    "T6DKWALNF62fhaSJR2M73qtmvqls-wuqz7LXv0Knk6BfiEv7ws-2HmNYlQStvoAPGVoppMzNHaKzfxf-VCaL"
    "AA",
};
static const char *const jose_kids[] = {"jose-rs", "jose-ps", "jose-es", "jose-ed"};
static const char *const jose_thumbs[] = {
    "pEYEN5_lc0izZv9-5Z-LZLcxgXcY7MCULvH3sfr_UxI",
    "lf2LwdBuYi3rU_VAiugnTqKP3jk3QeZtQ8nxeS3ltAY",
    "MD01QC-wjgyrXqrl2MjIToSpZECKDT5gzDAFB2o5yTc",
    "ouFKPIBh3_69FOVcXG-mpf06TQK-9RDXPYbmNhKUHQk",
};

static void test_interop_panva_jose(void **state)
{
    struct tn_jwks *set = NULL;
    assert_int_equal(tn_jwks_parse(jose_jwks, strlen(jose_jwks), &set, NULL), TN_OK);
    assert_int_equal(tn_jwks_count(set), 4);
    struct tn_jwt_policy p = policy();
    for (size_t i = 0; i < 4; i++) {
        const struct tn_jwk *k = tn_jwks_find(set, jose_kids[i]);
        char thumb[44];
        assert_non_null(k);
        assert_int_equal(tn_jwk_thumbprint(tn_jwk_pkey(k), thumb), TN_OK);
        assert_string_equal(thumb, jose_thumbs[i]);

        json_t *claims = NULL;
        enum tn_jwt_reason why;
        const char *tok = jose_tokens[i];
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, &claims, &why), TN_OK);
        assert_string_equal(json_string_value(json_object_get(claims, "scope")), "notes:read");
        json_decref(claims);
        /* the same token once exp + leeway has passed */
        p.now = 4102444800 + 60;
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_ERR_BAD_INPUT);
        assert_int_equal(why, TN_JWT_EXPIRED);
        p.now = NOW;
        /* one bit of the signature flipped */
        char *t = strdup(tok), *s = strrchr(t, '.') + 1;
        s[5] = s[5] == 'A' ? 'B' : 'A';
        assert_int_equal(tn_jwt_verify(t, strlen(t), set, &p, NULL, &why), TN_ERR_BAD_INPUT);
        assert_int_equal(why, TN_JWT_BAD_SIGNATURE);
        free(t);
    }
    tn_jwks_free(set);
}

/* RFC 7638 §3.1. */
static void test_thumbprint_rfc7638(void **state)
{
    static const char doc[] =
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"
        "cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXA"
        "rwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL"
        "5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF"
        "44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}]}";
    struct tn_jwks *set = NULL;
    char thumb[44];
    assert_int_equal(tn_jwks_parse(doc, strlen(doc), &set, NULL), TN_OK);
    assert_int_equal(tn_jwks_count(set), 1);
    assert_int_equal(tn_jwk_thumbprint(tn_jwk_pkey(tn_jwks_find(set, "2011-04-29")), thumb), TN_OK);
    assert_string_equal(thumb, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    tn_jwks_free(set);
}

/* ---- local keys from PEM ------------------------------------------------------------ */

static char *pem_of(EVP_PKEY *k, int private, const char *password)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    if (!private)
        assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
    else if (!password)
        assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), NULL, 0, NULL,
                                                       (void *)password),
                         1);
    long n = BIO_get_mem_data(bio, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(bio);
    return s;
}

static void test_from_pem(void **state)
{
    fixture();
    json_t *c = good_claims();
    struct tn_jwt_policy p = policy();
    enum tn_jwt_reason why;
    char thumb[44], *tok = NULL;
    assert_int_equal(tn_jwk_thumbprint(fx.ec, thumb), TN_OK);
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", thumb, "at+jwt", c, &tok), TN_OK);
    for (int priv = 0; priv < 2; priv++) {
        char *pem = pem_of(fx.ec, priv, NULL);
        struct tn_jwks *set = NULL;
        assert_int_equal(tn_jwks_from_pem(pem, strlen(pem), NULL, NULL, &set), TN_OK);
        assert_string_equal(tn_jwk_kid(tn_jwks_key(set, 0)), thumb);
        assert_string_equal(tn_jwk_alg(tn_jwks_key(set, 0)), "ES256");
        assert_int_equal(tn_jwt_verify(tok, strlen(tok), set, &p, NULL, &why), TN_OK);
        tn_jwks_free(set);
        free(pem);
    }
    /* PS256 pinned on an RSA PEM, with an explicit kid */
    char *pem = pem_of(fx.ps, 0, NULL);
    struct tn_jwks *set = NULL;
    assert_int_equal(tn_jwks_from_pem(pem, strlen(pem), "as-2024", "PS256", &set), TN_OK);
    assert_ptr_equal(tn_jwks_find(set, "as-2024"), tn_jwks_key(set, 0));
    assert_string_equal(tn_jwk_alg(tn_jwks_key(set, 0)), "PS256");
    tn_jwks_free(set);
    free(pem);
    /* encrypted keys are refused without any prompt; garbage too */
    pem = pem_of(fx.ec, 1, "secret");
    set = (struct tn_jwks *)1;
    assert_int_equal(tn_jwks_from_pem(pem, strlen(pem), NULL, NULL, &set), TN_ERR_BAD_INPUT);
    assert_null(set);
    free(pem);
    assert_int_equal(tn_jwks_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n", 32, NULL, NULL, &set),
                     TN_ERR_BAD_INPUT);
    assert_null(set);
    assert_int_equal(ERR_peek_error(), 0); /* no OpenSSL errors left behind */
    free(tok);
    json_decref(c);
}

/* ---- the API's edges ---------------------------------------------------------------- */

static void test_policy_and_arguments(void **state)
{
    fixture();
    json_t *c = good_claims(), *claims = (json_t *)1;
    char *tok = NULL;
    enum tn_jwt_reason why = TN_JWT_OK;
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "ec-1", NULL, c, &tok), TN_OK);
    size_t n = strlen(tok);

    /* No issuer or audience configured: nothing can be valid. */
    struct tn_jwt_policy p = policy();
    p.n_issuers = 0;
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, &claims, &why), TN_ERR_CONFIG);
    assert_null(claims);
    assert_int_equal(why, TN_JWT_INTERNAL);
    p = policy();
    p.audiences = NULL;
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, NULL, &why), TN_ERR_CONFIG);
    p = policy();
    assert_int_equal(tn_jwt_verify(tok, n, NULL, &p, NULL, &why), TN_ERR_INTERNAL);
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, NULL, NULL, &why), TN_ERR_INTERNAL);
    assert_int_equal(tn_jwt_verify(NULL, 5, fx.set, &p, NULL, &why), TN_ERR_INTERNAL);
    assert_int_equal(tn_jwt_verify(NULL, 0, fx.set, &p, NULL, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_MALFORMED);
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, NULL, NULL), TN_OK);

    /* max_token_len 0 means the default. */
    p.max_token_len = 0;
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, NULL, &why), TN_OK);
    char *big = malloc(TN_JWT_DEFAULT_MAX_LEN + 1);
    memset(big, 'A', TN_JWT_DEFAULT_MAX_LEN + 1);
    assert_int_equal(tn_jwt_verify(big, TN_JWT_DEFAULT_MAX_LEN + 1, fx.set, &p, NULL, &why),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_TOO_LARGE);
    free(big);

    /* Negative leeway is zero leeway. */
    p = policy();
    p.leeway_s = -100;
    p.now = NOW + 3599;
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, NULL, &why), TN_OK);
    p.now = NOW + 3600;
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, NULL, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_EXPIRED);

    /* now = 0 reads the clock: this 2023 token has long expired. */
    p = policy();
    p.now = 0;
    assert_int_equal(tn_jwt_verify(tok, n, fx.set, &p, NULL, &why), TN_ERR_BAD_INPUT);
    assert_int_equal(why, TN_JWT_EXPIRED);
    free(tok);
    json_object_set_new(c, "exp", json_integer(tn_time_now_ms() / 1000 + 600));
    json_object_set_new(c, "iat", json_integer(tn_time_now_ms() / 1000));
    assert_int_equal(tn_jwt_sign(fx.ec, "ES256", "ec-1", NULL, c, &tok), TN_OK);
    assert_int_equal(tn_jwt_verify(tok, strlen(tok), fx.set, &p, NULL, &why), TN_OK);
    free(tok);
    json_decref(c);
}

static void test_reason_texts(void **state)
{
    for (int r = 0; r < TN_JWT__COUNT; r++) {
        assert_true(strlen(tn_jwt_reason_text((enum tn_jwt_reason)r)) > 0);
        assert_true(strncmp(tn_jwt_reason_name((enum tn_jwt_reason)r), "TN_JWT_", 7) == 0);
    }
    assert_string_equal(tn_jwt_reason_text(TN_JWT_EXPIRED), "Token has expired");
    assert_string_equal(tn_jwt_reason_name(TN_JWT_ALG_MISMATCH), "TN_JWT_ALG_MISMATCH");
    assert_string_equal(tn_jwt_reason_text((enum tn_jwt_reason)999),
                        tn_jwt_reason_text(TN_JWT_INTERNAL));
}

int main(void)
{
    if (tn_util_init() != TN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_table),        cmocka_unit_test(test_sign_verify_each_alg),
        cmocka_unit_test(test_es256_integer_forms),  cmocka_unit_test(test_sign_header),
        cmocka_unit_test(test_sign_refusals),        cmocka_unit_test(test_public_json),
        cmocka_unit_test(test_jwks_skips),           cmocka_unit_test(test_jwks_fatal),
        cmocka_unit_test(test_jwks_duplicate_kids),  cmocka_unit_test(test_interop_panva_jose),
        cmocka_unit_test(test_thumbprint_rfc7638),   cmocka_unit_test(test_from_pem),
        cmocka_unit_test(test_policy_and_arguments), cmocka_unit_test(test_reason_texts),
    };
    int rc = cmocka_run_group_tests_name("jose", tests, NULL, NULL);
    fixture_free();
    return rc;
}
