/* teamnotes oidc try: a sign-in with an upstream OpenID Connect provider from the command
 * line, to check a provider's configuration (and for the integration tests). */
#ifndef TN_CLI_OIDC_H
#define TN_CLI_OIDC_H

/* Runs `teamnotes oidc …` (argv after "oidc"); returns the process exit status. */
int tn_oidc_cli_main(int argc, char **argv);

#endif
