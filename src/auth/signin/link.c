/* Linking an upstream identity to an account (link.h). */
#include "auth/signin/link.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth/signin/invite.h"

const char *tn_signin_link_name(enum tn_signin_link l)
{
    switch (l) {
    case TN_SIGNIN_LINK_KNOWN:
        return "known";
    case TN_SIGNIN_LINK_LINKED:
        return "linked";
    case TN_SIGNIN_LINK_UNVERIFIED:
        return "unverified_email";
    case TN_SIGNIN_LINK_NO_ACCOUNT:
        return "no_account";
    case TN_SIGNIN_LINK_DISABLED:
        return "disabled";
    default:
        return "none";
    }
}

enum tn_err tn_signin_oidc_no_account(struct tn_store *s, const struct tn_oidc_identity *id,
                                      const char *email_lower, int64_t now, struct tn_user *out)
{
    (void)id;
    memset(out, 0, sizeof *out);
    /* an invited address whose owner the provider vouches for: the invited account */
    return tn_invite_claim_for_email_via(s, email_lower, now, "oidc", out);
}

/* The account of a linked identity: TN_OK, TN_ERR_NOT_FOUND (not linked), or a store
 * error. */
static enum tn_err known(struct tn_store *s, const struct tn_oidc_identity *id, int64_t now,
                         struct tn_user *out)
{
    struct tn_identity link;
    enum tn_err rc = tn_store_identity_get(s, id->iss, id->sub, &link);
    if (rc != TN_OK)
        return rc;
    /* the identity rows cascade with their user: a row names an existing account */
    if ((rc = tn_store_user_get(s, link.user_id, out)) != TN_OK)
        return rc;
    if (!out->disabled)
        tn_store_identity_touch(s, id->iss, id->sub, now);
    return TN_OK;
}

enum tn_err tn_signin_oidc_link(struct tn_store *s, const struct tn_oidc_identity *id, int64_t now,
                                struct tn_user *out, enum tn_signin_link *how)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    char lower[256];
    memset(out, 0, sizeof *out);
    *how = TN_SIGNIN_LINK_NONE;
    if (!s || !id || !id->iss || !id->sub || !id->iss[0] || !id->sub[0])
        return rc;
    rc = known(s, id, now, out);
    if (rc == TN_OK) {
        *how = out->disabled ? TN_SIGNIN_LINK_DISABLED : TN_SIGNIN_LINK_KNOWN;
        goto done;
    }
    if (rc != TN_ERR_NOT_FOUND)
        goto done;
    /* never by an unverified address: anyone can claim any address at some providers */
    if (!id->email_verified || !id->email || !id->email[0] || strlen(id->email) >= sizeof lower) {
        *how = TN_SIGNIN_LINK_UNVERIFIED;
        rc = TN_ERR_FORBIDDEN;
        goto done;
    }
    size_t n = strlen(id->email);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)id->email[i]);
    rc = tn_store_user_by_email(s, lower, out);
    if (rc == TN_ERR_NOT_FOUND) {
        rc = tn_signin_oidc_no_account(s, id, lower, now, out);
        if (rc == TN_ERR_NOT_FOUND) {
            *how = TN_SIGNIN_LINK_NO_ACCOUNT;
            rc = TN_ERR_FORBIDDEN;
            goto done;
        }
    }
    if (rc != TN_OK)
        goto done;
    if (out->disabled) {
        *how = TN_SIGNIN_LINK_DISABLED;
        rc = TN_ERR_FORBIDDEN;
        goto done;
    }
    struct tn_identity link = {.created_at = now, .last_used_at = now};
    if (strlen(id->iss) >= sizeof link.issuer || strlen(id->sub) >= sizeof link.subject) {
        rc = TN_ERR_BAD_INPUT;
        goto done;
    }
    snprintf(link.issuer, sizeof link.issuer, "%s", id->iss);
    snprintf(link.subject, sizeof link.subject, "%s", id->sub);
    snprintf(link.user_id, sizeof link.user_id, "%s", out->id);
    snprintf(link.email, sizeof link.email, "%s", lower);
    rc = tn_store_identity_link(s, &link);
    if (rc == TN_ERR_CONFLICT) { /* a concurrent callback of the same identity linked it */
        rc = known(s, id, now, out);
        if (rc == TN_OK)
            *how = out->disabled ? TN_SIGNIN_LINK_DISABLED : TN_SIGNIN_LINK_KNOWN;
        goto done;
    }
    if (rc == TN_OK)
        *how = TN_SIGNIN_LINK_LINKED;
done:
    if (*how == TN_SIGNIN_LINK_DISABLED)
        rc = TN_ERR_FORBIDDEN;
    else if (rc != TN_OK) /* nothing of an account that is not signed in to */
        memset(out, 0, sizeof *out);
    return rc;
}
