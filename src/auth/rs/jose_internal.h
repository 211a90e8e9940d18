/* Internals of the JOSE layer shared by its files; not part of the API (auth/rs/jose.h).
 *
 * Reading order: jose.c (algorithms and the keys they fit, JWK import, key sets),
 * jose_verify.c (the verifier: shape, header, key choice, signature, claims),
 * jose_sign.c (signing, and publishing our own keys). */
#ifndef TN_AUTH_RS_JOSE_INTERNAL_H
#define TN_AUTH_RS_JOSE_INTERNAL_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "auth/rs/jose.h"

enum alg { ALG_UNKNOWN = 0, ALG_RS256, ALG_PS256, ALG_ES256, ALG_EDDSA };

/* Indexed by enum alg: the JOSE name (TN_JOSE_ALG_*); NULL for ALG_UNKNOWN. */
extern const char *const tn_jose_alg_names[];

enum kind { KIND_NONE = 0, KIND_RSA, KIND_P256, KIND_ED25519 };

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

struct tn_jwks {
    struct tn_jwk *keys;
    size_t n;
    size_t skipped;
};

/* jose.c: the algorithm named `s` (exact, case-sensitive), or ALG_UNKNOWN. */
enum alg tn_jose_alg_from_name(const char *s);
/* jose.c: the kind of `k`; KIND_NONE for every key we do not use. */
enum kind tn_jose_key_kind(EVP_PKEY *k);
/* jose.c: the algorithm to pin for `k`: `name` when it fits the key, the default when
 * NULL; TN_ERR_BAD_INPUT otherwise (*out = ALG_UNKNOWN). */
enum tn_err tn_jose_resolve_alg(EVP_PKEY *k, const char *name, enum alg *out);
/* jose_verify.c: k's verify context to copy, or NULL. */
EVP_MD_CTX *tn_jose_verify_proto(const struct tn_jwk *k);
/* jose_verify.c: RSA padding for RS256 / PS256 on `pc`; true for other algorithms. */
bool tn_jose_rsa_padding(EVP_PKEY_CTX *pc, enum alg a);

#endif
