/* teamnotes import: notes from another system into the store the server uses. */
#ifndef TN_CLI_IMPORT_H
#define TN_CLI_IMPORT_H

/* Runs `teamnotes import …`; returns the process exit status (0 done, 1 the store
 * failed, 2 a usage error or a file refused). */
int tn_import_main(int argc, char **argv);

#endif
