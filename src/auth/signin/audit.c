/* Sign-in records in the audit log (audit.h). */
#include "auth/signin/audit.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth/upstream/oidc.h"
#include "core/util.h"

void tn_signin_audit(struct tn_store *s, const char *method, const char *user_id, const char *org,
                     const char *client_id, const char *outcome, const char *reason)
{
    if (!s || !method)
        return;
    struct tn_audit a;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    snprintf(a.tool, sizeof a.tool, "%s%s", TN_SIGNIN_AUDIT_PREFIX, method);
    tn_strlcpy(a.user, user_id && user_id[0] ? user_id : TN_SIGNIN_AUDIT_NO_USER, sizeof a.user);
    tn_strlcpy(a.org, org ? org : "", sizeof a.org);
    tn_strlcpy(a.client_id, client_id ? client_id : "", sizeof a.client_id);
    tn_strlcpy(a.outcome, outcome ? outcome : TN_SIGNIN_AUDIT_OK, sizeof a.outcome);
    tn_strlcpy(a.note_id, reason ? reason : "", sizeof a.note_id);
    tn_store_audit_insert(s, &a);
}

void tn_signin_oidc_reason_code(int reason, char out[32])
{
    const char *n = tn_oidc_reason_name((enum tn_oidc_reason)reason);
    static const char prefix[] = "TN_OIDC_";
    if (!strncmp(n, prefix, sizeof prefix - 1))
        n += sizeof prefix - 1;
    size_t i = 0;
    for (; n[i] && i < 31; i++)
        out[i] = (char)tolower((unsigned char)n[i]);
    out[i] = '\0';
}
