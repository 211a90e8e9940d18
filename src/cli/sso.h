/* teamnotes org sso | org domain: an organization's single sign-on from the command line
 * (the logic is in auth/signin/sso.h, shared with the /admin page). */
#ifndef TN_CLI_SSO_H
#define TN_CLI_SSO_H

#include "core/config.h"
#include "store/store.h"

extern const char tn_cli_sso_usage[];

/* argv starts after "org": "sso" or "domain" and what follows. Returns the exit status:
 * 0 done, 1 refused or failed, 2 a usage error. */
int tn_cli_org_sso(struct tn_store *s, const struct tn_config *cfg, int argc, char **argv);

#endif
