/* Which teamnotes account an upstream OpenID identity signs in to (#18, server-wide
 * "Continue with ..." providers). In this order:
 *   1. the identity (iss, sub) is linked already: that account (last_used_at touched);
 *   2. the provider asserts email_verified = true (the JSON literal) and an account has
 *      that email (compared lower-case): the identity is linked to it;
 *   3. a verified email without an account: tn_signin_oidc_no_account decides (a pending
 *      invitation for that address creates the invited account; else no account);
 * and a disabled account is refused in every case. An unverified or missing email never
 * links anything, whatever accounts exist. */
#ifndef TN_AUTH_SIGNIN_LINK_H
#define TN_AUTH_SIGNIN_LINK_H

#include <stdint.h>

#include "auth/upstream/oidc.h"
#include "core/err.h"
#include "store/store.h"

enum tn_signin_link {
    TN_SIGNIN_LINK_NONE = 0,
    TN_SIGNIN_LINK_KNOWN,      /* signed in: the identity was linked before */
    TN_SIGNIN_LINK_LINKED,     /* signed in: linked now by its verified email */
    TN_SIGNIN_LINK_UNVERIFIED, /* refused: no email, or email_verified is not true */
    TN_SIGNIN_LINK_NO_ACCOUNT, /* refused: a verified email no account has */
    TN_SIGNIN_LINK_DISABLED,   /* refused: the account is disabled */
};

/* Audit and log word of a decision ("known", "linked", "unverified_email", "no_account",
 * "disabled"; "none" otherwise); never NULL. */
const char *tn_signin_link_name(enum tn_signin_link l);

/* Decides and, for TN_SIGNIN_LINK_LINKED, links. TN_OK with *out the account and *how
 * KNOWN or LINKED; TN_ERR_FORBIDDEN with *how UNVERIFIED, NO_ACCOUNT or DISABLED (*out
 * holds the disabled account, for the audit, else is zeroed); TN_ERR_BAD_INPUT for
 * an identity without iss or sub; store errors as they come (*how NONE). */
enum tn_err tn_signin_oidc_link(struct tn_store *s, const struct tn_oidc_identity *id, int64_t now,
                                struct tn_user *out, enum tn_signin_link *how);

/* A verified email that no account has: whether an account can be had for it. A pending
 * invitation for that address creates the invited account and consumes the invitation
 * (TN_OK, *out the new account); none: TN_ERR_NOT_FOUND, *out zeroed. */
enum tn_err tn_signin_oidc_no_account(struct tn_store *s, const struct tn_oidc_identity *id,
                                      const char *email_lower, int64_t now, struct tn_user *out);

#endif
