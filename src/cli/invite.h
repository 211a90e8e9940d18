/* teamnotes user invite | invites | invite-revoke (#18): invitations from the command
 * line, through the same function the /admin page calls (auth/signin/invite.h). */
#ifndef TN_CLI_INVITE_H
#define TN_CLI_INVITE_H

#include "core/config.h"
#include "store/store.h"

/* `sub` is "invite", "invites" or "invite-revoke"; argv[0] is `sub`. Returns the exit
 * status: 0 done, 1 refused or failed (the reason on stderr), 2 a usage error. */
int tn_cli_invite(struct tn_store *s, const struct tn_config *cfg, const char *sub, int argc,
                  char **argv);

#endif
