/* The PostgreSQL side of the store test fixtures, shared by test_store.c,
 * test_notes_store.c (when TN_TEST_DATABASE_URL is set) and test_pg_store.c: an admin
 * connection that creates and drops one fresh schema per test, and URLs that point the
 * store at that schema through options=-csearch_path=... Include after <cmocka.h>. */
#ifndef TN_TEST_PG_FIXTURE_H
#define TN_TEST_PG_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/util.h"
#include "store/store.h"

static const char *base_url; /* DATABASE_URL */
static PGconn *admin;        /* creates and drops the per-test schemas */
static unsigned schema_seq;

/* ---------- the database around the tests ---------- */

static inline void quiet_notices(void *arg, const char *message) {}

/* Runs SQL on the admin connection, reconnecting once if the server restarted. */
static inline PGresult *admin_q(const char *sql, int nparams, const char *const *params)
{
    PGresult *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (PQstatus(admin) != CONNECTION_OK)
            PQreset(admin);
        PQclear(r);
        r = PQexecParams(admin, sql, nparams, NULL, params, NULL, NULL, 0);
        if (PQstatus(admin) == CONNECTION_OK)
            break;
    }
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("admin: %s: %s", sql, PQresultErrorMessage(r));
    return r;
}

static inline void admin_exec(const char *sql) { PQclear(admin_q(sql, 0, NULL)); }

static inline void url_for(const char *schema, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%soptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? "&" : "?", schema);
    assert_true(n > 0 && (size_t)n < cap);
}

static inline void schema_create(const char *schema)
{
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    admin_exec(sql);
}

static inline void schema_drop(const char *schema)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    admin_exec(sql);
}

static inline struct tn_store *open_url(const char *url)
{
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err e = tn_store_open(NULL, url, &s, &err);
    if (e != TN_OK)
        print_error("open: %s: %s\n", tn_err_name(e), err.data ? err.data : "");
    tn_buf_deinit(&err);
    assert_int_equal(e, TN_OK);
    assert_non_null(s);
    return s;
}

/* A connection of our own to the test's schema, as the role the store uses. */
static inline PGconn *conn_to(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

/* The first value of a query's first row, copied into out. */
static inline void value_of(PGconn *c, const char *sql, char *out, size_t cap)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static inline void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Runs `sql` as user@org in one transaction on c, with nothing but the row-level
 * security policies between it and the rows, then rolls back. out: the first value (a
 * query), the row count (another command), or "error SQLSTATE". */
static inline void as_user(PGconn *c, const char *user, const char *org, const char *sql, char *out,
                           size_t cap)
{
    exec_ok(c, "BEGIN");
    const char *params[] = {user, org};
    PGresult *r = PQexecParams(c,
                               "SELECT set_config('teamnotes.user', $1, true), "
                               "set_config('teamnotes.org', $2, true)",
                               2, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    r = PQexec(c, sql);
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
        snprintf(out, cap, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
        break;
    case PGRES_COMMAND_OK:
        snprintf(out, cap, "%s", PQcmdTuples(r));
        break;
    default:
        snprintf(out, cap, "error %s", PQresultErrorField(r, PG_DIAG_SQLSTATE));
        break;
    }
    PQclear(r);
    exec_ok(c, "ROLLBACK");
}

/* Connects the admin connection to url (the base URL of the tests); false, with a message
 * on stderr, when that fails. */
static inline bool pg_fixture_connect(const char *url)
{
    base_url = url;
    admin = PQconnectdb(base_url);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", "the test database", PQerrorMessage(admin));
        PQfinish(admin);
        admin = NULL;
        return false;
    }
    PQsetNoticeProcessor(admin, quiet_notices, NULL); /* no NOTICE per DROP ... CASCADE */
    return true;
}

static inline void pg_fixture_disconnect(void)
{
    PQfinish(admin);
    admin = NULL;
}

/* A fresh schema for one test: its name in schema, the URL reaching it in url. */
static inline void pg_fixture_schema(char *schema, size_t scap, char *url, size_t ucap)
{
    snprintf(schema, scap, "tn_test_%d_%u", (int)getpid(), ++schema_seq);
    schema_create(schema);
    url_for(schema, url, ucap);
}

#endif
