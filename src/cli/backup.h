/* teamnotes backup FILE | restore FILE: a consistent copy of the SQLite store taken while
 * the server serves, and its return once the server is stopped (docs/OPERATIONS.md).
 * PostgreSQL is refused with a pointer to pg_dump. */
#ifndef TN_CLI_BACKUP_H
#define TN_CLI_BACKUP_H

/* Runs `teamnotes backup …` or `teamnotes restore …` (`cmd`); returns the exit status:
 * 0 done, 1 failed (nothing changed), 2 usage or configuration. */
int tn_backup_main(const char *cmd, int argc, char **argv);

#endif
