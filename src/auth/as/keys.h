/* The built-in authorization server's signing keys.
 *
 * One ES256 key, created on first start in DATA_DIR (mode 0600) and kept across
 * restarts; its public half is what the resource server verifies against. Rotation and
 * storage in the database arrive with the authorization server. */
#ifndef TN_AUTH_AS_KEYS_H
#define TN_AUTH_AS_KEYS_H

#include <openssl/evp.h>

#include "auth/rs/jose.h"
#include "core/err.h"

struct tn_as_keys;

/* Loads `dir`/signing-key.pem, or creates it. */
enum tn_err tn_as_keys_open(const char *dir, struct tn_as_keys **out);
void tn_as_keys_free(struct tn_as_keys *k);
/* The public key set (borrowed, lives as long as the keys). */
const struct tn_jwks *tn_as_keys_jwks(const struct tn_as_keys *k);
/* The current signing key (borrowed) and its kid. */
EVP_PKEY *tn_as_keys_signing(const struct tn_as_keys *k, const char **kid);

#endif
