/* Which sign-in methods the built-in authorization server offers (SIGNIN_METHODS).
 *
 * The setting is a comma list of words: password, email, oidc, sso. Empty means the default:
 * password, plus email when mail can be delivered (SMTP_URL or the DATA_DIR outbox).
 * A word that is not a method, a method listed twice, an empty list after parsing, or a
 * listed method that cannot work with the rest of the configuration stops the start with
 * a sentence saying what to set: the sign-in page is never empty and never offers a
 * method that fails when used. */
#ifndef TN_AUTH_SIGNIN_METHODS_H
#define TN_AUTH_SIGNIN_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

enum tn_signin_method {
    TN_SIGNIN_PASSWORD = 1u << 0,
    TN_SIGNIN_EMAIL = 1u << 1,
    TN_SIGNIN_OIDC = 1u << 2,
    TN_SIGNIN_SSO = 1u << 3, /* organizations' own providers; needs nothing at start */
};

/* What the rest of the configuration makes possible. */
struct tn_signin_env {
    bool mail; /* a mailer that delivers (SMTP or the outbox; tn_mailer_kind != NONE) */
    bool oidc; /* at least one upstream OpenID Connect provider is configured */
};

/* Parses `list` (SIGNIN_METHODS; NULL or "" for the default) into a set of
 * enum tn_signin_method bits in *out. Words are matched exactly (lower case), separated
 * by commas with optional spaces, at most 256 bytes in all. TN_OK, or TN_ERR_CONFIG with
 * a sentence in `err` (which names the offending word or the setting to add) and *out 0. */
enum tn_err tn_signin_methods_parse(const char *list, const struct tn_signin_env *env,
                                    unsigned *out, struct tn_buf *err);

#endif
