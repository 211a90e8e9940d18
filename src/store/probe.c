/* Read-only store inspection (store/probe.h). */
#include "store/probe.h"

#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "store/migrations.h"

static const char version_sql[] = "SELECT COALESCE(MAX(version), 0) FROM schema_version";

/* Writable, or creatable: the nearest existing ancestor of `dir` can be written. */
static bool dir_writable(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return false;
    for (;;) {
        if (access(p, F_OK) == 0)
            return access(p, W_OK | X_OK) == 0;
        char *slash = strrchr(p, '/');
        if (!slash)
            return access(".", W_OK | X_OK) == 0;
        if (slash == p) {
            p[1] = '\0';
            return access(p, W_OK | X_OK) == 0;
        }
        *slash = '\0';
    }
}

static enum tn_err probe_sqlite(const char *data_dir, struct tn_store_probe *out,
                                struct tn_buf *err)
{
    enum tn_err e = TN_ERR_IO;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(out->backend, sizeof out->backend, "sqlite");
    out->latest = tn_store_sqlite_migrations_count;
    if (snprintf(out->where, sizeof out->where, "%s/teamnotes.db", data_dir) >=
        (int)sizeof out->where) {
        tn_buf_puts(err, "the data directory's path is too long");
        return TN_ERR_LIMIT;
    }
    if (access(out->where, F_OK) != 0) {
        out->writable = dir_writable(data_dir);
        return TN_OK;
    }
    out->exists = true;
    /* -wal and -shm live beside the file: the directory must be writable too */
    out->writable = access(out->where, R_OK | W_OK) == 0 && access(data_dir, W_OK | X_OK) == 0;
    int rc = sqlite3_open_v2(out->where, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(db, 5000);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, version_sql, -1, &st, NULL);
        /* a file without the table is a database no teamnotes has migrated yet */
        if (rc == SQLITE_ERROR && strstr(sqlite3_errmsg(db), "no such table")) {
            e = TN_OK;
            goto done;
        }
    }
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->version = sqlite3_column_int(st, 0);
        e = TN_OK;
        goto done;
    }
    tn_buf_printf(err, "cannot read %s: %s", out->where, db ? sqlite3_errmsg(db) : "out of memory");
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return e;
}

/* One value of a one-row query, or NULL (the result is cleared by the caller). */
static PGresult *one(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 1) {
        PQclear(r);
        return NULL;
    }
    return r;
}

static enum tn_err probe_postgres(const char *url, struct tn_store_probe *out, struct tn_buf *err)
{
    enum tn_err e = TN_ERR_IO;
    PGresult *r = NULL;
    snprintf(out->backend, sizeof out->backend, "postgres");
    out->latest = tn_store_postgres_migrations_count;
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"5", "teamnotes-doctor", url, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg)
        return TN_ERR_NOMEM;
    if (PQstatus(pg) != CONNECTION_OK) {
        const char *m = PQerrorMessage(pg);
        tn_buf_printf(err, "cannot connect to PostgreSQL: %.*s", (int)strcspn(m, "\n"), m);
        goto done;
    }
    snprintf(out->where, sizeof out->where, "%s/%s", PQhost(pg) ? PQhost(pg) : "?",
             PQdb(pg) ? PQdb(pg) : "?");
    out->exists = true;
    if (!(r = PQexec(pg, "SELECT to_regclass('schema_version') IS NOT NULL")) ||
        PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        goto query_failed;
    bool has_table = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    r = NULL;
    if (has_table) {
        if (!(r = one(pg, version_sql)))
            goto query_failed;
        /* MAX(version) as text: digits only, bounded; anything else is not our schema */
        const char *v = PQgetvalue(r, 0, 0);
        char *end = NULL;
        errno = 0;
        long n = strtol(v, &end, 10);
        out->version = (errno || end == v || *end || n < 0 || n > 1000000) ? -1 : (int)n;
        PQclear(r);
        r = NULL;
    }
    /* a standby cannot take writes; without the notes table (not migrated yet) the
     * privilege to create it is what serve needs */
    if (!(r = one(
              pg,
              out->version > 0
                  ? "SELECT NOT pg_is_in_recovery() AND has_table_privilege('notes', 'INSERT')"
                  : "SELECT NOT pg_is_in_recovery() AND has_schema_privilege(current_schema(), 'CREATE')")))
        goto query_failed;
    out->writable = PQgetvalue(r, 0, 0)[0] == 't';
    e = TN_OK;
    goto done;
query_failed : {
    const char *m = PQerrorMessage(pg);
    tn_buf_printf(err, "cannot read the PostgreSQL schema: %.*s", (int)strcspn(m, "\n"), m);
}
done:
    PQclear(r);
    PQfinish(pg);
    return e;
}

enum tn_err tn_store_probe(const char *data_dir, const char *database_url,
                           struct tn_store_probe *out, struct tn_buf *err)
{
    memset(out, 0, sizeof *out);
    if (database_url && database_url[0]) {
        if (strncasecmp(database_url, "postgres://", 11) &&
            strncasecmp(database_url, "postgresql://", 13)) {
            tn_buf_puts(err, "DATABASE_URL must start with postgres:// or postgresql://");
            return TN_ERR_CONFIG;
        }
        return probe_postgres(database_url, out, err);
    }
    if (!data_dir || !data_dir[0]) {
        tn_buf_puts(err, "the data directory is not set");
        return TN_ERR_CONFIG;
    }
    return probe_sqlite(data_dir, out, err);
}
