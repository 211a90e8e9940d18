/* teamnotes user | role | org | client: administration from the command line, on the
 * same store the server uses (DATA_DIR or DATABASE_URL). */
#ifndef TN_CLI_ADMIN_H
#define TN_CLI_ADMIN_H

/* Runs `teamnotes <cmd> …`; returns the process exit status. */
int tn_admin_main(const char *cmd, int argc, char **argv);

#endif
