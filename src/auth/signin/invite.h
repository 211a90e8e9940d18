/* Invitations (#18): an administrator invites an email address with a role (and an
 * organization); the person accepts through BASE_URL/invite?t=TOKEN by setting a
 * password or signing in with an email code, or through any other sign-in method whose
 * verified email is the invited one (tn_invite_claim_for_email).
 *
 * The token carries 256 random bits and is stored only as its SHA-256 (a copy of the
 * database accepts nothing). An invitation works once and for TN_INVITE_TTL_S unless the
 * caller says otherwise; inviting an address again replaces its pending invitation.
 * Every creation, acceptance and revocation is written to the audit log (never the token).
 *
 * This is what `teamnotes user invite` and the /admin page call. */
#ifndef TN_AUTH_SIGNIN_INVITE_H
#define TN_AUTH_SIGNIN_INVITE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

struct tn_mailer;

#define TN_INVITE_TTL_S (7 * 24 * 3600)
#define TN_INVITE_TOKEN_LEN 43 /* base64url of 32 bytes */
#define TN_INVITE_SUBJECT "You are invited to teamnotes"

/* A fresh token (TN_INVITE_TOKEN_LEN characters, NUL-terminated) and its hash. */
void tn_invite_token_new(char out[TN_INVITE_TOKEN_LEN + 1], uint8_t hash[32]);
/* The hash of a token as it arrived (a query or form value): false, and `hash` zeroed,
 * unless it is exactly TN_INVITE_TOKEN_LEN base64url characters. Reads at most
 * TN_INVITE_TOKEN_LEN + 1 bytes. */
bool tn_invite_token_hash(const char *token, uint8_t hash[32]);
/* Whether `inv` can be accepted at `now`: pending (unused) and unexpired. */
bool tn_invite_usable(const struct tn_invitation *inv, int64_t now);

struct tn_invite_request {
    const char *email; /* as typed; checked with tn_mail_addr_check, stored lower-case */
    const char *role;  /* viewer | editor | admin */
    const char *org;   /* an organization's name or id; NULL or "": none */
    const char *by;    /* the inviter's email; NULL or "": the command line */
    int64_t ttl_s;     /* 0: TN_INVITE_TTL_S */
    const char *via;   /* who asks, for the audit log: "cli", "admin page" */
};

struct tn_invite_result {
    struct tn_invitation inv; /* as stored */
    char org_name[128];       /* "" when none */
    char link[1200];          /* BASE_URL/invite?t=TOKEN */
    bool outbox;              /* the mail went to DATA_DIR/outbox (print the link) */
    char where[1024];         /* the outbox file or the SMTP server */
};

/* Creates an invitation and mails it (text and HTML: who invited, the role, the link,
 * the expiry) through `m`. `base_url` is the server's public origin. On failure nothing
 * stays stored and `err` (may be NULL) holds one sentence for people:
 *   TN_ERR_BAD_INPUT   the email is not a plain address, or the role is unknown
 *   TN_ERR_NOT_FOUND   no such organization, or `by` names no active account
 *   TN_ERR_CONFLICT    the email already has an account (active or disabled)
 *   TN_ERR_CONFIG      no mail delivery configured
 *   other              the store or the mail failed (err says which)
 * On TN_OK *out says what was done; the link in it is a secret for the invitee. */
enum tn_err tn_invite_create(struct tn_store *s, struct tn_mailer *m, const char *base_url,
                             const struct tn_invite_request *in, int64_t now,
                             struct tn_invite_result *out, struct tn_buf *err);

/* Deletes the unused invitations of `email` (any case); *n how many. Audited. */
enum tn_err tn_invite_revoke(struct tn_store *s, const char *email, const char *via, int64_t *n);

/* The message of an invitation: subject TN_INVITE_SUBJECT, text and HTML parts. Every
 * value is escaped in the HTML part. `inviter` may be "" (an administrator). */
enum tn_err tn_invite_message(const char *inviter, const char *role, const char *org,
                              const char *link, int64_t expires_at, struct tn_buf *text,
                              struct tn_buf *html);

/* Accepts the invitation of hash `hash` for a new account: name (may be ""), password
 * hash ("" for none). The account gets the invitation's email, role and organization
 * and is in *created. `method` is audited ("password", "email", "oidc", "sso").
 * TN_ERR_NOT_FOUND / TN_ERR_INVALID_GRANT (unknown, used or expired: the same to
 * people) / TN_ERR_CONFLICT (the email has an account) as tn_store_invitation_take. */
enum tn_err tn_invite_accept(struct tn_store *s, const uint8_t hash[32], const char *name,
                             const char *password_hash, const char *method, int64_t now,
                             struct tn_user *created);

/* For a sign-in method that verified `email` and found no account for it (an upstream
 * OpenID provider, an email code): when a pending invitation for that email exists, it
 * creates the account (no password; the invitation's role and organization), consumes
 * the invitation and returns TN_OK with *created filled. TN_ERR_NOT_FOUND when there is
 * no pending invitation (then nobody gets an account); TN_ERR_CONFLICT when an account
 * appeared meanwhile. Audited as accepted with method "signin". */
enum tn_err tn_invite_claim_for_email(struct tn_store *s, const char *email, int64_t now,
                                      struct tn_user *created);
/* The same, naming the method for the audit log. */
enum tn_err tn_invite_claim_for_email_via(struct tn_store *s, const char *email, int64_t now,
                                          const char *method, struct tn_user *created);

#endif
