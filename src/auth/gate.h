/* The permission and scope gate of every tool, resource, completion and listen stream
 * (DESIGN §4), without knowing MCP: the wiring (cli/serve.c) hands it the principal and
 * what the operation declared at registration.
 *
 * Scopes are what the client was granted: a missing one can be added by re-authorizing
 * (the transport answers 403 with a step-up challenge). Permissions are what the user's
 * role allows: re-authorizing cannot help, so the refusal names the permission. Scopes
 * and permissions are matched as whole words of the principal's lists (a scope may imply
 * another, as the application registered with tn_principal_scope_implies). */
#ifndef TN_AUTH_GATE_H
#define TN_AUTH_GATE_H

#include <stdbool.h>

#include "auth/accounts.h"
#include "core/buf.h"
#include "core/principal.h"
#include "store/store.h"

/* The gate's view of the server (everything borrowed; the caller keeps it alive). */
struct tn_gate {
    bool auth;                    /* false only with AUTH_MODE=none: no principal, no gate */
    const char *scopes;           /* AUTH_SCOPES: the scopes this server supports */
    struct tn_accounts *accounts; /* the built-in issuer's accounts; NULL with an external one */
    struct tn_store *audit;       /* where refusals are recorded; NULL: nowhere */
};

/* One use of an operation. */
struct tn_gate_request {
    const char *name;       /* the tool's name, else the MCP method (for messages and audit) */
    const char *scope;      /* required scope; NULL: none */
    const char *permission; /* required permission; NULL: none */
    /* an open stream asked again: the token may have expired, the account been
     * disabled or lost the permission since the request was authenticated */
    bool ongoing;
};

/* Decides whether `p` (NULL: unauthenticated) may use the operation:
 *   TN_OK                       allowed;
 *   TN_ERR_INSUFFICIENT_SCOPE   the token lacks r->scope: `why` gets the scopes to ask
 *                               for, space-separated (r->scope, then every other scope
 *                               already granted that this server supports, so that
 *                               re-authorizing loses none);
 *   TN_ERR_FORBIDDEN            anything re-authorizing cannot cure (no principal with
 *                               authentication on, a missing permission, an open stream
 *                               whose token expired or whose account lost the right):
 *                               `why` gets a sentence saying what is missing.
 * `why` NULL means the caller only filters a listing: nothing is written or audited.
 * Otherwise every refusal of an authenticated caller is recorded in g->audit (who, org,
 * client, r->name, outcome "denied"). */
enum tn_err tn_gate_check(const struct tn_gate *g, const struct tn_principal *p,
                          const struct tn_gate_request *r, struct tn_buf *why);

#endif
