/* PostgreSQL migrations: one script per version, migrations/postgres/NNNN_*.sql, compiled
 * in at build time (scripts/gen-migrations.py), each applied in its own transaction and
 * recorded in schema_version, all while holding a session advisory lock so that
 * instances starting together apply each script once; a database from a newer binary is
 * refused. And the check that row-level security, the second wall around notes, is on.
 * Run by tn_store_postgres_open (postgres.c) on its first connection. */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/migrations.h"

/* The scripts of migrations/postgres/, compiled in by the build (store/migrations.h). */
#define LATEST_VERSION tn_store_postgres_migrations_count

/* Runs a command on the migration connection; on failure says what failed in err. */
static bool exec_ok(PGconn *pg, const char *sql, const char *what, struct tn_buf *err)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        char line[512];
        pg_errf(err, "cannot migrate the PostgreSQL database (%s): %s", what,
                pg_one_line(PQresultErrorMessage(r), line, sizeof line));
    }
    PQclear(r);
    return ok;
}

static bool current_version(PGconn *pg, int *v, struct tn_buf *err)
{
    PGresult *r = PQexec(pg, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        char *end = NULL;
        long n = strtol(PQgetvalue(r, 0, 0), &end, 10);
        ok = end && *end == '\0' && n >= 0 && n < 100000;
        *v = ok ? (int)n : 0;
    }
    if (!ok) {
        char line[512];
        pg_errf(err, "cannot read the schema version: %s",
                pg_one_line(PQresultErrorMessage(r), line, sizeof line));
    }
    PQclear(r);
    return ok;
}

static bool apply(PGconn *pg, const struct tn_migration *m, struct tn_buf *err)
{
    if (!exec_ok(pg, "BEGIN", m->name, err))
        return false;
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *vals[] = {version, m->name};
    bool ok = exec_ok(pg, m->sql, m->name, err);
    if (ok) {
        PGresult *r = PQexecParams(pg,
                                   "INSERT INTO schema_version (version, name, applied_at) "
                                   "VALUES ($1::integer, $2, "
                                   "floor(extract(epoch FROM now()))::bigint)",
                                   2, NULL, vals, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            char line[512];
            pg_errf(err, "cannot record migration %s: %s", m->name,
                    pg_one_line(PQresultErrorMessage(r), line, sizeof line));
        }
        PQclear(r);
    }
    if (ok)
        ok = exec_ok(pg, "COMMIT", m->name, err);
    if (!ok && PQtransactionStatus(pg) != PQTRANS_IDLE)
        PQclear(PQexec(pg, "ROLLBACK"));
    if (ok)
        tn_log(TN_LOG_INFO, "store: migration applied", "migration", m->name, NULL);
    return ok;
}

/* Applies pending migrations while holding the migration lock: a second instance
 * starting at the same moment waits, then finds them applied. The lock is the
 * session's, released below or when the connection ends. */
enum tn_err pg_migrate(PGconn *pg, int *version, struct tn_buf *err)
{
    if (!exec_ok(pg, "SELECT pg_advisory_lock(" LOCK_MIGRATE ")", "lock", err))
        return TN_ERR_IO;
    enum tn_err e = TN_ERR_IO;
    if (!exec_ok(pg,
                 "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
                 "name text NOT NULL, applied_at bigint NOT NULL)",
                 "schema_version", err))
        goto done;
    for (;;) {
        int v = 0;
        if (!current_version(pg, &v, err))
            goto done;
        if (v > LATEST_VERSION) {
            pg_errf(err,
                    "the PostgreSQL database has schema version %d but this teamnotes knows only "
                    "up to %d: it was written by a newer teamnotes; run that version (or newer)",
                    v, LATEST_VERSION);
            e = TN_ERR_CONFIG;
            goto done;
        }
        if (v == LATEST_VERSION)
            break;
        if (!apply(pg, &tn_store_postgres_migrations[v], err))
            goto done;
    }
    *version = LATEST_VERSION;
    e = TN_OK;
done:
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" LOCK_MIGRATE ")"));
    return e;
}

/* Row-level security is the second wall around notes: refuse a database where it was
 * switched off, and say so when our role walks through it anyway. */
enum tn_err pg_check_rls(PGconn *pg, struct tn_buf *err)
{
    PGresult *r = PQexec(pg, "SELECT c.relrowsecurity AND c.relforcerowsecurity, "
                             "r.rolsuper OR r.rolbypassrls "
                             "FROM pg_class c, pg_roles r "
                             "WHERE c.oid = 'notes'::regclass AND r.rolname = current_user");
    enum tn_err e = TN_OK;
    char line[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        pg_errf(err, "cannot check row-level security on notes: %s",
                pg_one_line(PQresultErrorMessage(r), line, sizeof line));
        e = TN_ERR_IO;
    } else if (PQgetvalue(r, 0, 0)[0] != 't') {
        pg_errf(err, "row-level security is off on table notes; as its owner run: "
                     "ALTER TABLE notes ENABLE ROW LEVEL SECURITY; "
                     "ALTER TABLE notes FORCE ROW LEVEL SECURITY;");
        e = TN_ERR_CONFIG;
    } else if (PQgetvalue(r, 0, 1)[0] == 't') {
        tn_log(TN_LOG_WARN,
               "store: the database role is a superuser or has BYPASSRLS, so row-level "
               "security does not apply to it and notes isolation rests on the application "
               "alone; connect as an ordinary role that owns the tables",
               NULL);
    }
    PQclear(r);
    return e;
}
