/* Every sign-in, successful or not, in the audit log (#18): which method, whose account
 * (when known), for which client, and the outcome. Never an email typed, a password, a
 * code, a link token, a state, a nonce or a token: only ids and fixed reason words.
 *
 * The record is an ordinary tn_audit row (the audit table's columns and outcome words
 * are fixed): tool "signin:<method>" (password, email, email_link, oidc:<provider id>),
 * user the account's id or "-" when no account is known, outcome "ok", "denied" (refused)
 * or "error" (the server or the provider failed), and in the note_id column the reason
 * code ([a-z0-9_]{1,31}: wrong_password, no_account, id_token_nonce_mismatch, ...; on
 * success "" or "linked" for a first sign-in that linked an upstream identity). */
#ifndef TN_AUTH_SIGNIN_AUDIT_H
#define TN_AUTH_SIGNIN_AUDIT_H

#include "store/store.h"

#define TN_SIGNIN_AUDIT_PREFIX "signin:"
#define TN_SIGNIN_AUDIT_OK "ok"
#define TN_SIGNIN_AUDIT_DENIED "denied"
#define TN_SIGNIN_AUDIT_ERROR "error"
#define TN_SIGNIN_AUDIT_NO_USER "-"

/* Queues one record (tn_store_audit_insert). `method` is required; `user_id`, `org`,
 * `client_id` may be NULL or "" when unknown; `outcome` one of the TN_SIGNIN_AUDIT_*
 * words (NULL: ok); `reason` NULL or a reason code. Values are cut to their columns. A
 * store that cannot take the record only loses it (logged by the store); the sign-in is
 * not affected. */
void tn_signin_audit(struct tn_store *s, const char *method, const char *user_id, const char *org,
                     const char *client_id, const char *outcome, const char *reason);

/* The audit and log word of an upstream refusal: its TN_OIDC_* name without the prefix,
 * lower-case ("id_token_nonce_mismatch"), in out[32]. */
void tn_signin_oidc_reason_code(int reason, char out[32]);

#endif
