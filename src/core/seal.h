/* Integrity-protected tokens for state that travels through the browser (the pending
 * authorization request, the sign-in session): base64url(JSON) "." base64url(HMAC),
 * bound to a purpose and an expiry. Readable by the holder, unforgeable without the key. */
#ifndef TN_CORE_SEAL_H
#define TN_CORE_SEAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Seals `doc` (borrowed) for `purpose`, valid for ttl_s seconds. Caller frees. */
char *tn_seal(const uint8_t *key, size_t key_len, const char *purpose, json_t *doc, int64_t ttl_s);
/* The sealed document (new reference), or NULL when forged, expired or of another
 * purpose. */
json_t *tn_unseal(const uint8_t *key, size_t key_len, const char *purpose, const char *sealed);

#endif
