/* Claim mapping: verified token claims → principal, for issuers that name or nest their
 * claims differently (Scalekit `oid`, Auth0 `permissions`, Keycloak `realm_access.roles`). */
#ifndef TN_AUTH_CLAIMS_H
#define TN_AUTH_CLAIMS_H

#include <jansson.h>

#include "core/principal.h"

/* Each entry is a comma-separated list of dotted claim paths tried in order. */
struct tn_claim_map {
    const char *org;                 /* default "oid,org_id" */
    const char *scopes;              /* default "scope,scp,scopes" */
    const char *permissions;         /* default "permissions,perms" */
    const char *roles;               /* default "roles" */
    const char *default_permissions; /* space-separated; granted only when the token has no
                                        permissions claim at all. Empty: fail closed. */
};

/* Builds a principal from verified claims (`iss` and `sub` must be strings). Lists may
 * be arrays of strings or one space-separated string. TN_ERR_BAD_INPUT when a mapped
 * claim has the wrong type; *out stays NULL on failure. */
enum tn_err tn_claims_to_principal(json_t *claims, const struct tn_claim_map *map,
                                   struct tn_principal **out);

#endif
