/* JOSE for the resource server: JWKS import, JWT verification, JWS signing.
 *
 * A small layer on OpenSSL 3 EVP with one idea at its centre: the algorithm belongs to
 * the KEY. Every key in a struct tn_jwks carries one pinned algorithm (RS256, PS256,
 * ES256 or EdDSA), fixed when the key is imported; a token is verified only when its
 * header `alg` equals the pinned algorithm of the key it names. `none`, HMAC, and keys
 * carried inside the token header (`jwk`, `jku`, `x5u`, `x5c`) are never trusted.
 *
 * Order of checks in tn_jwt_verify, cheapest and least trusting first:
 *   size → shape (three base64url parts, strict alphabet) → header JSON (duplicate
 *   members refused) → `alg` (none) → embedded keys → `crit` → `typ` → key selection by
 *   `kid` → `alg` equals the key's pinned alg → signature → payload JSON → claims
 *   (`iss`, `aud`, `exp`, `nbf`, `iat`, `sub`).
 * No claim is looked at before the signature has been verified.
 *
 * Threads: a struct tn_jwks is immutable once built and may be shared by any number of
 * threads verifying at once. Replacing a set (JWKS refresh) is the caller's business. */
#ifndef TN_AUTH_RS_JOSE_H
#define TN_AUTH_RS_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/buf.h"
#include "core/err.h"

/* Wire strings. */
#define TN_JOSE_ALG_RS256 "RS256"
#define TN_JOSE_ALG_PS256 "PS256"
#define TN_JOSE_ALG_ES256 "ES256"
#define TN_JOSE_ALG_EDDSA "EdDSA"
#define TN_JOSE_TYP_JWT "JWT"
#define TN_JOSE_TYP_AT "at+jwt" /* RFC 9068 access tokens */

#define TN_JWT_CLAIM_ISS "iss"
#define TN_JWT_CLAIM_SUB "sub"
#define TN_JWT_CLAIM_AUD "aud"
#define TN_JWT_CLAIM_EXP "exp"
#define TN_JWT_CLAIM_NBF "nbf"
#define TN_JWT_CLAIM_IAT "iat"

/* Limits. */
#define TN_JWT_DEFAULT_MAX_LEN 8192u /* used when tn_jwt_policy.max_token_len is 0 */
#define TN_JWKS_MAX_BYTES (256u * 1024u)
#define TN_JWKS_MAX_KEYS 64u /* members of "keys"; more is TN_ERR_LIMIT */
#define TN_JWK_MAX_KID 256u  /* longer kids are skipped */
#define TN_JWK_RSA_MIN_BITS 2048
#define TN_JWK_RSA_MAX_BITS 8192 /* bounds the cost of one verification */

/* ---- key sets ---------------------------------------------------------------------- */

struct tn_jwks;
struct tn_jwk;

/* Parses a JWKS document ({"keys":[…]}) of `len` bytes (at most TN_JWKS_MAX_BYTES).
 * Unusable keys are skipped, not fatal: `use` other than "sig", `key_ops` without
 * "verify", private members (d, p, q, dp, dq, qi, oth, k), unsupported kty/crv, RSA
 * outside 2048..8192 bits or with an odd-looking exponent, EC points off the curve, an
 * `alg` that is not allowed for the key (RS256/PS256 for RSA, ES256 for P-256, EdDSA for
 * Ed25519), a non-string or overlong kid. A key without `alg` gets RS256, ES256 or EdDSA.
 * Key order is kept; duplicate kids are allowed (lookups return the first).
 * On success *out is a new set (possibly with zero keys; see tn_jwks_count) and `err`,
 * if not NULL, receives one note per skipped key (best effort, cut at the buffer's
 * limit). On failure *out stays NULL, `err` says why, and the result is TN_ERR_PARSE
 * (not JSON, duplicate members), TN_ERR_BAD_INPUT (no "keys" array), TN_ERR_LIMIT (too
 * large, too many keys) or TN_ERR_NOMEM/TN_ERR_INTERNAL. */
enum tn_err tn_jwks_parse(const char *json, size_t len, struct tn_jwks **out, struct tn_buf *err);

/* A one-key set for a local key (the built-in authorization server's own key). Takes its
 * own reference to `key` (the caller keeps its one). `alg` NULL derives it from the key;
 * `kid` NULL uses the RFC 7638 thumbprint. TN_ERR_BAD_INPUT when the key type, size or
 * alg is not allowed; *out stays NULL on failure. */
enum tn_err tn_jwks_from_pkey(EVP_PKEY *key, const char *kid, const char *alg,
                              struct tn_jwks **out);

/* Same from PEM text: a "PUBLIC KEY" (SubjectPublicKeyInfo) or an unencrypted private
 * key. Encrypted keys are refused (no password prompt ever). */
enum tn_err tn_jwks_from_pem(const char *pem, size_t len, const char *kid, const char *alg,
                             struct tn_jwks **out);

/* Frees the set and its keys; NULL is a no-op. Keys found in it die with it. */
void tn_jwks_free(struct tn_jwks *set);

/* Number of usable keys, and of keys skipped while parsing. */
size_t tn_jwks_count(const struct tn_jwks *set);
size_t tn_jwks_skipped(const struct tn_jwks *set);

/* The i-th usable key in document order, or NULL when i is out of range. */
const struct tn_jwk *tn_jwks_key(const struct tn_jwks *set, size_t i);

/* The first key (document order) whose kid equals `kid`, or NULL. Borrowed. */
const struct tn_jwk *tn_jwks_find(const struct tn_jwks *set, const char *kid);

/* Accessors of a borrowed key: its kid (NULL when it had none), its pinned algorithm
 * (TN_JOSE_ALG_*), and its EVP_PKEY (borrowed: up-ref it to keep it). */
const char *tn_jwk_kid(const struct tn_jwk *k);
const char *tn_jwk_alg(const struct tn_jwk *k);
EVP_PKEY *tn_jwk_pkey(const struct tn_jwk *k);

/* ---- verification ------------------------------------------------------------------ */

/* One value per refusal. TN_JWT_OK on success, TN_JWT_INTERNAL when verification could
 * not run (out of memory, bad arguments, empty issuer or audience list). */
// clang-format off
#define TN_JWT_REASON_TABLE(X)                                                                   \
    X(TN_JWT_OK,               "Token is valid")                                                 \
    X(TN_JWT_MALFORMED,        "Token is malformed")                                             \
    X(TN_JWT_TOO_LARGE,        "Token is too large")                                             \
    X(TN_JWT_ALG_NONE,         "Unsigned tokens are not accepted")                               \
    X(TN_JWT_ALG_UNSUPPORTED,  "Token signing algorithm is not supported")                       \
    X(TN_JWT_ALG_MISMATCH,     "Token signing algorithm does not match the key")                 \
    X(TN_JWT_EMBEDDED_KEY,     "Token header must not carry keys or key URLs")                   \
    X(TN_JWT_BAD_TYP,          "Token type is not accepted")                                     \
    X(TN_JWT_CRIT,             "Token has critical header extensions")                           \
    X(TN_JWT_NO_KID_MATCH,     "Token signing key is unknown")                                   \
    X(TN_JWT_BAD_SIGNATURE,    "Token signature is invalid")                                     \
    X(TN_JWT_BAD_ISSUER,       "Token issuer is not trusted")                                    \
    X(TN_JWT_BAD_AUDIENCE,     "Token is not intended for this resource")                        \
    X(TN_JWT_EXPIRED,          "Token has expired")                                              \
    X(TN_JWT_NOT_YET_VALID,    "Token is not yet valid")                                         \
    X(TN_JWT_NO_SUBJECT,       "Token has no subject")                                           \
    X(TN_JWT_NO_EXPIRY,        "Token has no expiry")                                            \
    X(TN_JWT_BAD_CLAIM_TYPE,   "Token claim has the wrong type")                                 \
    X(TN_JWT_INTERNAL,         "Token verification failed")
// clang-format on

// clang-format off
enum tn_jwt_reason {
#define TN_JWT_REASON_ENUM(name, text) name,
    TN_JWT_REASON_TABLE(TN_JWT_REASON_ENUM)
#undef TN_JWT_REASON_ENUM
    TN_JWT__COUNT
};
// clang-format on

/* Short English text for a reason, safe to show to clients (never echoes token content);
 * never NULL. */
const char *tn_jwt_reason_text(enum tn_jwt_reason r);
/* Symbolic name ("TN_JWT_EXPIRED") for logs and tests; never NULL. */
const char *tn_jwt_reason_name(enum tn_jwt_reason r);

struct tn_jwt_policy {
    const char *const *issuers; /* `iss` must equal one of these exactly */
    size_t n_issuers;
    const char *const *audiences; /* `aud` (string or array) must contain one of these */
    size_t n_audiences;
    int64_t now;          /* Unix seconds; 0 means the current time */
    int leeway_s;         /* clock skew allowed on exp/nbf/iat; negative means 0 */
    size_t max_token_len; /* 0 means TN_JWT_DEFAULT_MAX_LEN */
};

/* Verifies a compact JWS JWT of `len` bytes (no NUL needed) against `keys` and `p`.
 * Key choice: with a `kid`, the first key with that kid whose pinned alg equals the
 * header alg (kid known but no such alg: ALG_MISMATCH); without a `kid`, the one key
 * pinned to the header alg, only when exactly one exists. One signature check per call.
 * Claims: `iss` and `sub` (non-empty) strings, `aud` string or array of strings, `exp`
 * required, `nbf`/`iat` optional; times are JSON numbers (fractions allowed).
 * Returns TN_OK, *why = TN_JWT_OK and *claims_out = the payload object (new reference).
 * Every refusal returns TN_ERR_BAD_INPUT with *why set (never map that to 400: a refused
 * bearer token is 401 invalid_token). TN_ERR_CONFIG for a policy with no issuer or
 * audience, TN_ERR_NOMEM/TN_ERR_INTERNAL otherwise (*why = TN_JWT_INTERNAL).
 * *claims_out is NULL on every failure. `claims_out` may be NULL when only the verdict
 * is wanted; `why` may be NULL too. */
enum tn_err tn_jwt_verify(const char *token, size_t len, const struct tn_jwks *keys,
                          const struct tn_jwt_policy *p, json_t **claims_out,
                          enum tn_jwt_reason *why);

/* ---- signing and publishing -------------------------------------------------------- */

/* Signs `claims` (an object, borrowed) into a compact JWS with header
 * {"alg":alg,"typ":typ,"kid":kid} (typ and kid omitted when NULL). `alg` must be allowed
 * for `key` (RS256/PS256: RSA ≥ 2048 bits; ES256: P-256; EdDSA: Ed25519); NULL derives
 * it. On success *out is a NUL-terminated string the caller frees with free(); NULL on
 * failure (TN_ERR_BAD_INPUT for key/alg/claims problems, TN_ERR_NOMEM, TN_ERR_INTERNAL). */
enum tn_err tn_jwt_sign(EVP_PKEY *key, const char *alg, const char *kid, const char *typ,
                        json_t *claims, char **out);

/* Low level, for tests and tools: signs exactly BASE64URL(header) "." BASE64URL(payload)
 * with `alg`, whatever the header bytes say. Nothing is checked about the header or the
 * payload. Same ownership and errors as tn_jwt_sign, plus TN_ERR_LIMIT when header and
 * payload together exceed 1 MiB. */
enum tn_err tn_jws_sign_compact(EVP_PKEY *key, const char *alg, const void *header,
                                size_t header_len, const void *payload, size_t payload_len,
                                char **out);

/* The public JWK of `key` as a new JSON object (for a JWKS endpoint): kty and public
 * members, "use":"sig", "alg" (given or derived) and "kid" when not NULL. NULL when the
 * key type, size or alg is not allowed, or on allocation failure. Never private parts. */
json_t *tn_jwk_public_json(EVP_PKEY *key, const char *kid, const char *alg);

/* RFC 7638 thumbprint (SHA-256, base64url, 43 characters + NUL) of the public key.
 * TN_ERR_BAD_INPUT for unsupported keys; out[0] = '\0' on failure. */
enum tn_err tn_jwk_thumbprint(EVP_PKEY *key, char out[44]);

#endif
