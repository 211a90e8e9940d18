#include "auth/gate.h"

#include <string.h>

#include "auth/as/users.h"
#include "core/util.h"

/* A refusal is recorded like the notes tools record their calls: who, which
 * organization, which client, which operation, outcome "denied" (no note). */
static void audit_denied(const struct tn_gate *g, const struct tn_principal *p, const char *name)
{
    struct tn_audit a;
    if (!g->audit)
        return;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    tn_strlcpy(a.user, p->key, sizeof a.user);
    tn_strlcpy(a.org, p->org, sizeof a.org);
    tn_strlcpy(a.client_id, p->client_id, sizeof a.client_id);
    tn_strlcpy(a.tool, name, sizeof a.tool);
    tn_strlcpy(a.outcome, "denied", sizeof a.outcome);
    tn_store_audit_insert(g->audit, &a);
}

/* For a stream that stays open: what could have changed since its request was
 * authenticated. Says why in `why` (when given) and returns false when it must end. */
static bool still_valid(const struct tn_gate *g, const struct tn_principal *p, const char *perm,
                        struct tn_buf *why)
{
    if (p->expires_at <= tn_time_now_ms() / 1000) {
        if (why)
            tn_buf_puts(why, "the access token expired");
        return false;
    }
    if (!g->accounts)
        return true; /* an external issuer's token does not change until it expires */
    struct tn_account u = tn_accounts_get(g->accounts, p->subject, tn_time_now_ms());
    if (!tn_account_current(&u, p)) {
        if (why)
            tn_buf_puts(why, "the account was disabled or its tokens revoked");
        return false;
    }
    if (perm && !tn_principal_word_in(tn_role_permissions(u.role), perm)) {
        if (why)
            tn_buf_printf(why, "the account's role (%s) no longer has the %s permission",
                          u.role[0] ? u.role : "none", perm);
        return false;
    }
    return true;
}

/* The step-up challenge's scopes: the one needed, plus those already granted that this
 * server supports, so that re-authorizing does not lose them. */
static void step_up_scopes(const struct tn_gate *g, const struct tn_principal *p,
                           const char *needed, struct tn_buf *why)
{
    tn_buf_puts(why, needed);
    for (size_t i = 0; i < p->scopes.n; i++) {
        const char *s = p->scopes.v[i];
        if (strcmp(s, needed) && tn_principal_word_in(g->scopes, s))
            tn_buf_printf(why, " %s", s);
    }
}

enum tn_err tn_gate_check(const struct tn_gate *g, const struct tn_principal *p,
                          const struct tn_gate_request *r, struct tn_buf *why)
{
    if (!p)
        return g->auth ? TN_ERR_FORBIDDEN : TN_OK;
    enum tn_err rc = TN_OK;
    if (r->scope && !tn_principal_has_scope(p, r->scope)) {
        rc = TN_ERR_INSUFFICIENT_SCOPE;
        if (why)
            step_up_scopes(g, p, r->scope, why);
    } else if (r->permission && !tn_principal_has_permission(p, r->permission)) {
        rc = TN_ERR_FORBIDDEN;
        if (why)
            tn_buf_printf(why,
                          "Permission denied: %s needs the %s permission, which your account "
                          "does not have. Ask an administrator for a role that includes it "
                          "(signing in again will not help).",
                          r->name, r->permission);
    } else if (r->ongoing && !still_valid(g, p, r->permission, why)) {
        rc = TN_ERR_FORBIDDEN;
    }
    if (rc != TN_OK && why)
        audit_denied(g, p, r->name);
    return rc;
}
