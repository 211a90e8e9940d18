/* The built-in authorization server's signing keys, kept in the store so that every
 * instance signs with the same key and publishes the same set.
 *
 * Rotation: a key signs for `rotate_s`; its successor is created and published
 * `lead_s` before it starts signing (so caches of the JWKS learn it first), and a
 * retired key stays published until the last token it signed has expired.
 *
 * At rest: the private keys are never stored in plain text. Each is sealed with
 * XChaCha20-Poly1305 (libsodium's IETF AEAD) under a key derived from the server secret
 * (SECRET_KEY, or DATA_DIR/secret.key without it) for this one purpose, with a random
 * nonce per key and the key's kid as associated data, and stored as
 * "tnk1:" base64url(nonce || ciphertext || tag). A dump of the store without the secret
 * yields no private key, and a row moved to another kid or altered does not open.
 * Rows a previous version stored in plain text (PEM) are sealed in place when read.
 * A row that does not open fails the load: no new key is made in its place, which would
 * invalidate every token already issued. */
#ifndef TN_AUTH_AS_KEYS_H
#define TN_AUTH_AS_KEYS_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/rs/jose.h"
#include "core/err.h"
#include "store/store.h"

struct tn_as_keys;

struct tn_as_keys_config {
    struct tn_store *store;
    const uint8_t *secret; /* the server secret (borrowed; 16 to 64 bytes), see above */
    size_t secret_len;
    int64_t rotate_s;    /* how long a key signs */
    int64_t lead_s;      /* published this long before it signs */
    int64_t token_ttl_s; /* longest access-token lifetime: published this long after */
};

/* Loads the keys, creating the first one (ES256) when the store has none, and seals any
 * stored in plain text. TN_ERR_CONFIG without a usable secret, or when a stored key does
 * not open with it (another secret, or an altered row); TN_ERR_BAD_INPUT when a row is
 * in no known format; both are logged with what to do. The store is left as it was
 * then: no key is created or replaced. */
enum tn_err tn_as_keys_open(const struct tn_as_keys_config *cfg, struct tn_as_keys **out);
void tn_as_keys_free(struct tn_as_keys *k);
/* Re-reads the store and rotates when due; cheap when called often (at most one store
 * read per 30 s unless forced). Returns true when the published set changed. When the
 * store cannot be read, or a key in it does not open, the keys already loaded stay. */
bool tn_as_keys_refresh(struct tn_as_keys *k, int64_t now, bool force);
/* Signs `claims` with the current key as an RFC 9068 access token (typ at+jwt). */
enum tn_err tn_as_keys_sign(struct tn_as_keys *k, json_t *claims, char **out);
/* The published public keys as a JWKS document (new reference). */
json_t *tn_as_keys_jwks_json(struct tn_as_keys *k);
/* A new copy of the published set for the resource server (caller frees). */
struct tn_jwks *tn_as_keys_jwks_copy(struct tn_as_keys *k);

/* ---- rotation on demand and the keys' states (the admin console and `teamnotes keys`) ---- */

enum tn_as_key_state {
    TN_AS_KEY_NEXT,    /* published, not signing yet */
    TN_AS_KEY_CURRENT, /* the key that signs now */
    TN_AS_KEY_RETIRED, /* no longer signs; published while tokens it signed may live */
};
/* The state of each of rows[0..n) at `now`, into states[0..n): the current key is the one
 * tn_as_keys_sign uses (the latest-starting key within its window; failing that, the
 * latest started), a key not yet started is next, every other one retired. */
void tn_as_keys_classify(const struct tn_signing_key *rows, size_t n, int64_t now,
                         enum tn_as_key_state *states);

struct tn_as_rotation {
    char kid[48];       /* the key that takes over */
    int64_t signs_from; /* when it starts signing */
    char old_kid[48];   /* the key it replaces ("" when none signed) */
    bool created;       /* a new key was made (else the published next key was brought forward) */
};
/* Rotates now, safely: the key that takes over is published before it signs. A next key
 * already published is brought forward to max(now, its creation + lead_s); otherwise a
 * new key is created, published at once and signing from now + lead_s. The current key
 * retires when its successor starts, and stays published until the tokens it signed
 * have expired (retire_at + token TTL). Calling it again before the successor starts
 * changes nothing. Works on the store (another instance, or `teamnotes keys rotate`
 * while a server runs: servers re-read the keys within 30 s, before lead_s is over). */
enum tn_err tn_as_keys_rotate(struct tn_as_keys *k, int64_t now, struct tn_as_rotation *out);

/* ---- the sealed form, for tests and tools ---- */

#define TN_AS_KEY_SEALED_PREFIX "tnk1:"

/* The key that seals private keys, derived from the server secret (16 to 64 bytes) for
 * this purpose alone: BLAKE2b-256 keyed with the secret over "teamnotes signing keys v1".
 * TN_ERR_CONFIG when the secret is missing or of another length; out is zeroed then. */
enum tn_err tn_as_keys_kek(uint8_t out[32], const uint8_t *secret, size_t secret_len);
/* Seals `pem` (NUL-terminated) for key `kid` into out[0..cap) as a NUL-terminated
 * TN_AS_KEY_SEALED_PREFIX string. TN_ERR_BAD_INPUT for an empty pem or kid,
 * TN_ERR_LIMIT when the result does not fit in cap or in a store row (2048 bytes with
 * its NUL); out is "" on failure. */
enum tn_err tn_as_key_seal(const uint8_t kek[32], const char *kid, const char *pem, char *out,
                           size_t cap);
/* Opens what tn_as_key_seal made for the same kek and kid into pem[0..cap), NUL-terminated
 * (wipe it after use). TN_ERR_BAD_INPUT when `sealed` is not of that form (prefix,
 * base64url, length), TN_ERR_LIMIT when the key does not fit, TN_ERR_CONFIG when it
 * does not open: another kek or kid, or an altered byte. pem is zeroed on failure. */
enum tn_err tn_as_key_unseal(const uint8_t kek[32], const char *kid, const char *sealed, char *pem,
                             size_t cap);

#endif
