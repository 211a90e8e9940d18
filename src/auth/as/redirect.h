/* Redirect-URI policy of the built-in authorization server (RFC 8252, OAuth 2.1):
 * HTTPS matched exactly, loopback http with the port ignored, private-use schemes
 * matched exactly, and never a fragment, userinfo or a dangerous scheme. */
#ifndef TN_AUTH_AS_REDIRECT_H
#define TN_AUTH_AS_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Checks a URI offered for registration. TN_ERR_BAD_INPUT with a reason in `why`. */
enum tn_err tn_redirect_validate(const char *uri, struct tn_buf *why);
/* True when `requested` may be used for `registered`: the same string, or both loopback
 * http URIs with the same host, path and query (any port, RFC 8252 §7.3). */
bool tn_redirect_matches(const char *registered, const char *requested);
bool tn_redirect_is_loopback(const char *uri);
/* The host (or the scheme, for private-use URIs) to show a person. */
void tn_redirect_host(const char *uri, char *out, size_t cap);

#endif
