/* The built-in authorization server's signing keys, kept in the store so that every
 * instance signs with the same key and publishes the same set.
 *
 * Rotation: a key signs for `rotate_s`; its successor is created and published
 * `lead_s` before it starts signing (so caches of the JWKS learn it first), and a
 * retired key stays published until the last token it signed has expired. */
#ifndef TN_AUTH_AS_KEYS_H
#define TN_AUTH_AS_KEYS_H

#include <openssl/evp.h>
#include <stdint.h>

#include "auth/rs/jose.h"
#include "core/err.h"
#include "store/store.h"

struct tn_as_keys;

struct tn_as_keys_config {
    struct tn_store *store;
    int64_t rotate_s;    /* how long a key signs */
    int64_t lead_s;      /* published this long before it signs */
    int64_t token_ttl_s; /* longest access-token lifetime: published this long after */
};

/* Loads the keys, creating the first one (ES256) when the store has none. */
enum tn_err tn_as_keys_open(const struct tn_as_keys_config *cfg, struct tn_as_keys **out);
void tn_as_keys_free(struct tn_as_keys *k);
/* Re-reads the store and rotates when due; cheap when called often (at most one store
 * read per 30 s unless forced). Returns true when the published set changed. */
bool tn_as_keys_refresh(struct tn_as_keys *k, int64_t now, bool force);
/* Signs `claims` with the current key as an RFC 9068 access token (typ at+jwt). */
enum tn_err tn_as_keys_sign(struct tn_as_keys *k, json_t *claims, char **out);
/* The published public keys as a JWKS document (new reference). */
json_t *tn_as_keys_jwks_json(struct tn_as_keys *k);
/* A new copy of the published set for the resource server (caller frees). */
struct tn_jwks *tn_as_keys_jwks_copy(struct tn_as_keys *k);

#endif
