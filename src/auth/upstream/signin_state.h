/* The browser's half of an upstream sign-in (#18): what POST /authorize/oidc puts in the
 * sealed cookie tn_oidc and GET /signin/oidc/callback reads back. Sealed with core/seal.h
 * for purpose "oidc" and TN_OIDC_STATE_TTL_S: unforgeable and expiring, but readable by
 * the browser that holds it (HttpOnly keeps page scripts out). It carries the provider
 * id, the three secrets of tn_oidc_begin and the sealed original authorization request. */
#ifndef TN_AUTH_UPSTREAM_SIGNIN_STATE_H
#define TN_AUTH_UPSTREAM_SIGNIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/upstream/oidc.h"
#include "auth/upstream/providers.h"
#include "core/err.h"

#define TN_OIDC_STATE_COOKIE "tn_oidc"
#define TN_OIDC_STATE_PURPOSE "oidc"
#define TN_OIDC_STATE_TTL_S 600
#define TN_OIDC_STATE_REQ_MAX 8192u /* the sealed authorization request */

struct tn_oidc_signin_state {
    char provider[TN_OIDC_PROVIDER_ID_MAX + 1];
    char state[TN_OIDC_SECRET_LEN + 1];
    char nonce[TN_OIDC_SECRET_LEN + 1];
    char code_verifier[TN_OIDC_SECRET_LEN + 1];
    char req[TN_OIDC_STATE_REQ_MAX + 1];
};

/* The cookie value (caller frees), or NULL (bad arguments, a field too long, no memory). */
char *tn_oidc_state_seal(const uint8_t *key, size_t key_len, const char *provider,
                         const struct tn_oidc_start *start, const char *req);
/* TN_OK fills *out; TN_ERR_BAD_INPUT when the value is missing, forged, expired, of
 * another purpose or malformed (a member missing, of the wrong type or too long). *out
 * is zeroed on failure. Wipe *out after use (explicit_bzero). */
enum tn_err tn_oidc_state_open(const uint8_t *key, size_t key_len, const char *sealed,
                               struct tn_oidc_signin_state *out);

#endif
