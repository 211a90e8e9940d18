/* The store on PostgreSQL: the behaviours of test_store.c and of the notes store tests,
 * run against the PostgreSQL backend, plus what only it has: row-level security under
 * the application's own checks, reconnection after the database restarts, several
 * instances (store handles) sharing one database, and migrations raced by instances
 * starting together.
 *
 * Needs DATABASE_URL=postgres://... naming a database in which the test may create
 * schemas, as a role that is neither a superuser nor BYPASSRLS (scripts/pg-test-server
 * starts a throwaway server with such a role and prints the variables). Each test gets
 * a fresh schema, chosen through the URL (options=-csearch_path=...), dropped afterwards.
 * The restart test runs `scripts/pg-test-server restart DIR`, with DIR from TN_PG_DIR or
 * else derived from the server's data_directory. Without DATABASE_URL the test says so
 * and exits 0 (skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

/* The migrations of src/store/migrations/postgres/, in order; the latest is the schema
 * version a new store reaches. */
static const char *const migration_files[] = {"0001_auth", "0002_notes", "0003_notify"};
#define LATEST ((int)(sizeof migration_files / sizeof migration_files[0]))

static const char *base_url; /* DATABASE_URL */
static PGconn *admin;        /* creates and drops the per-test schemas */
static unsigned schema_seq;

struct fx {
    char schema[64];
    char url[1024]; /* base_url, with search_path set to schema */
    struct tn_store *s;
};

/* ---------- the database around the tests ---------- */

static void quiet_notices(void *arg, const char *message)
{
}

/* Runs SQL on the admin connection, reconnecting once if the server restarted. */
static PGresult *admin_q(const char *sql, int nparams, const char *const *params)
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

static void admin_exec(const char *sql)
{
    PQclear(admin_q(sql, 0, NULL));
}

static void url_for(const char *schema, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%soptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? "&" : "?", schema);
    assert_true(n > 0 && (size_t)n < cap);
}

static void schema_create(const char *schema)
{
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    admin_exec(sql);
}

static void schema_drop(const char *schema)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    admin_exec(sql);
}

static struct tn_store *open_url(const char *url)
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

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->schema, sizeof f->schema, "tn_test_%d_%u", (int)getpid(), ++schema_seq);
    schema_create(f->schema);
    url_for(f->schema, f->url, sizeof f->url);
    f->s = open_url(f->url);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    schema_drop(f->schema);
    free(f);
    return 0;
}

/* A connection of our own to the test's schema, as the role the store uses. */
static PGconn *conn_to(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

/* The first value of a query's first row, copied into out. */
static void value_of(PGconn *c, const char *sql, char *out, size_t cap)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void exec_ok(PGconn *c, const char *sql)
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
static void as_user(PGconn *c, const char *user, const char *org, const char *sql, char *out,
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

/* ---------- fixtures shared with test_store.c ---------- */

/* ---------- fixtures ---------- */

/* What a list callback saw, as "a;b;c;". */
struct seen {
    int n;
    char s[256];
};

static void note(struct seen *w, const char *item)
{
    size_t used = strlen(w->s);
    snprintf(w->s + used, sizeof w->s - used, "%s;", item);
    w->n++;
}

static void hash_of(uint8_t h[32], int n)
{
    memset(h, 0xab, 32);
    h[0] = (uint8_t)n;
    h[1] = (uint8_t)(n >> 8);
}

static void add_org(struct tn_store *s, const char *id, const char *name, int64_t at)
{
    struct tn_org o = {.created_at = at};
    snprintf(o.id, sizeof o.id, "%s", id);
    snprintf(o.name, sizeof o.name, "%s", name);
    assert_int_equal(tn_store_org_insert(s, &o), TN_OK);
}

static struct tn_user user(const char *id, const char *email)
{
    struct tn_user u = {.created_at = 100, .tokens_valid_after = 0};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "User %s", id);
    snprintf(u.role, sizeof u.role, "editor");
    return u;
}

static void add_user(struct tn_store *s, const char *id, const char *email)
{
    struct tn_user u = user(id, email);
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static struct tn_client client(const char *id, int64_t created, int64_t used)
{
    struct tn_client c = {.created_at = created, .last_used_at = used};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.name, sizeof c.name, "Client %s", id);
    snprintf(c.redirect_uris, sizeof c.redirect_uris, "[\"http://127.0.0.1/cb\"]");
    snprintf(c.auth_method, sizeof c.auth_method, "none");
    snprintf(c.grant_types, sizeof c.grant_types, "authorization_code refresh_token");
    snprintf(c.scope, sizeof c.scope, "notes:read");
    snprintf(c.application_type, sizeof c.application_type, "native");
    snprintf(c.metadata, sizeof c.metadata, "{\"client_name\":\"%s\"}", id);
    return c;
}

static void add_client(struct tn_store *s, const char *id, int64_t created, int64_t used)
{
    struct tn_client c = client(id, created, used);
    assert_int_equal(tn_store_client_insert(s, &c), TN_OK);
}

static struct tn_code code(int n, const char *client_id, const char *user_id, const char *family)
{
    struct tn_code c = {.expires_at = 5000};
    hash_of(c.hash, n);
    snprintf(c.client_id, sizeof c.client_id, "%s", client_id);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.redirect_uri, sizeof c.redirect_uri, "http://127.0.0.1/cb");
    snprintf(c.scope, sizeof c.scope, "notes:read notes:write");
    snprintf(c.resource, sizeof c.resource, "https://notes.example/mcp");
    snprintf(c.challenge, sizeof c.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    snprintf(c.family, sizeof c.family, "%s", family);
    return c;
}

static struct tn_refresh refresh(int n, const char *family, const char *client_id,
                                 const char *user_id)
{
    struct tn_refresh r = {.issued_at = 1000, .expires_at = 9000};
    hash_of(r.hash, n);
    snprintf(r.family, sizeof r.family, "%s", family);
    snprintf(r.client_id, sizeof r.client_id, "%s", client_id);
    snprintf(r.user_id, sizeof r.user_id, "%s", user_id);
    snprintf(r.scope, sizeof r.scope, "notes:read");
    snprintf(r.resource, sizeof r.resource, "https://notes.example/mcp");
    return r;
}

static void add_refresh(struct tn_store *s, int n, const char *family, const char *client_id,
                        const char *user_id)
{
    struct tn_refresh r = refresh(n, family, client_id, user_id);
    assert_int_equal(tn_store_refresh_insert(s, &r), TN_OK);
}

/* user u1 + client c1, the common ground of the OAuth tests */
static void base_grant(struct tn_store *s)
{
    add_user(s, "u1", "one@example.com");
    add_user(s, "u2", "two@example.com");
    add_client(s, "c1", 10, 0);
    add_client(s, "c2", 10, 0);
}

static bool refresh_exists(struct tn_store *s, int n)
{
    uint8_t h[32];
    struct tn_refresh r;
    hash_of(h, n);
    enum tn_err e = tn_store_refresh_get(s, h, &r);
    assert_true(e == TN_OK || e == TN_ERR_NOT_FOUND);
    return e == TN_OK;
}

static bool refresh_revoked(struct tn_store *s, int n)
{
    uint8_t h[32];
    struct tn_refresh r;
    hash_of(h, n);
    assert_int_equal(tn_store_refresh_get(s, h, &r), TN_OK);
    return r.revoked;
}


/* ---------- open, layout, migrations ---------- */

static void test_open_layout(void **state)
{
    struct fx *f = *state;
    assert_string_equal(tn_store_backend(f->s), "postgres");
    assert_int_equal(tn_store_schema_version(f->s), LATEST);

    PGconn *c = conn_to(f->url);
    char v[256];
    /* every migration recorded, in order */
    value_of(c, "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                "FROM schema_version", v, sizeof v);
    assert_string_equal(v, "1:0001_auth,2:0002_notes,3:0003_notify");
    /* the tables are in the test's schema (the URL's search_path reached the store) */
    value_of(c, "SELECT string_agg(table_name, ',' ORDER BY table_name) "
                "FROM information_schema.tables WHERE table_schema = current_schema()",
             v, sizeof v);
    assert_string_equal(v, "audit,clients,codes,consents,notes,orgs,refresh_tokens,"
                           "revoked_families,schema_version,signing_keys,users");
    /* row-level security is on and forced on notes, and nothing else needs it */
    value_of(c, "SELECT string_agg(relname || ':' || relrowsecurity || relforcerowsecurity, "
                "',' ORDER BY relname) FROM pg_class WHERE relnamespace = "
                "current_schema()::regnamespace AND relkind = 'r' AND relrowsecurity",
             v, sizeof v);
    assert_string_equal(v, "notes:truetrue");
    /* the role the tests run as is bound by it (else the RLS test proves nothing) */
    value_of(c, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
             v, sizeof v);
    if (strcmp(v, "f") != 0)
        fail_msg("DATABASE_URL connects as a superuser or BYPASSRLS role: row-level security "
                 "does not apply to it; use an ordinary role (scripts/pg-test-server)");
    PQfinish(c);
}

/* Host, port and user of DATABASE_URL, to build URLs to the same server. */
static void server_of(char *host, char *port, char *user, size_t cap)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(base_url, &perr);
    assert_non_null(opts);
    host[0] = port[0] = user[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            snprintf(host, cap, "%s", o->val);
        else if (strcmp(o->keyword, "port") == 0)
            snprintf(port, cap, "%s", o->val);
        else if (strcmp(o->keyword, "user") == 0)
            snprintf(user, cap, "%s", o->val);
    }
    PQconninfoFree(opts);
    if (!host[0])
        snprintf(host, cap, "localhost");
    if (!port[0])
        snprintf(port, cap, "5432");
    if (!user[0])
        snprintf(user, cap, "teamnotes");
}

static void test_open_errors(void **state)
{
    char host[128], port[128], user[128], nodb[600];
    server_of(host, port, user, sizeof host);
    /* the right server, a database that does not exist (trust auth ignores the password) */
    snprintf(nodb, sizeof nodb, "postgres://%s:hunter2@%s:%s/tn_no_such_db_%d", user,
             strchr(host, '/') ? "localhost" : host, port, (int)getpid());
    const struct {
        const char *url;
        enum tn_err want;
        const char *msg;
    } cases[] = {
        {nodb, TN_ERR_IO, "does not exist"},
        {"postgres://tn:hunter2@127.0.0.1:1/tn", TN_ERR_IO, "cannot connect to PostgreSQL"},
        {"postgresql://tn:hunter2@127.0.0.1/tn?hunter2=1", TN_ERR_CONFIG,
         "not a valid PostgreSQL connection URL"},
        {"postgres://tn:hunter2@127.0.0.1:99999999/tn", TN_ERR_IO, "cannot connect"},
        {"PostgreSQL://tn:hunter2@127.0.0.1:1/tn", TN_ERR_IO, "cannot connect"},
        {"mysql://tn:hunter2@db/tn", TN_ERR_CONFIG, "DATABASE_URL must start with"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sentinel;
        struct tn_store *s = (struct tn_store *)&sentinel; /* must be reset to NULL */
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        enum tn_err e = tn_store_open(NULL, cases[i].url, &s, &err);
        if (e != cases[i].want || !err.data || !strstr(err.data, cases[i].msg))
            fail_msg("case %zu: %s: %s", i, tn_err_name(e), err.data ? err.data : "(none)");
        assert_null(s);
        assert_null(strstr(err.data, "hunter2")); /* a URL's password is never echoed */
        tn_buf_deinit(&err);
    }
    /* err may be NULL */
    struct tn_store *s = NULL;
    assert_int_equal(tn_store_open(NULL, "postgres://x@127.0.0.1:1/x", &s, NULL), TN_ERR_IO);
    assert_null(s);
}

static void test_reopen_keeps_data(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "o1", "Acme", 1);
    struct tn_user u = user("u1", "Ann@Example.com");
    snprintf(u.org_id, sizeof u.org_id, "o1");
    assert_int_equal(tn_store_user_insert(f->s, &u), TN_OK);
    add_client(f->s, "c1", 10, 0);
    struct tn_code c = code(1, "c1", "u1", "fam");
    assert_int_equal(tn_store_code_insert(f->s, &c), TN_OK);
    struct tn_signing_key k = {.kid = "k1", .alg = "ES256", .pem = "PEM", .created_at = 5};
    assert_int_equal(tn_store_key_insert(f->s, &k), TN_OK);
    tn_store_close(f->s);

    f->s = open_url(f->url);
    assert_int_equal(tn_store_schema_version(f->s), LATEST);
    struct tn_user got;
    assert_int_equal(tn_store_user_by_email(f->s, "ann@example.com", &got), TN_OK);
    assert_string_equal(got.org_id, "o1");
    struct tn_client cl;
    assert_int_equal(tn_store_client_get(f->s, "c1", &cl), TN_OK);
    struct tn_code out;
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_OK);
    tn_store_close(f->s);

    /* the take was durable too */
    f->s = open_url(f->url);
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_ERR_CONFLICT);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    f->s = NULL;
    PGconn *c = conn_to(f->url);
    exec_ok(c, "INSERT INTO schema_version (version, name, applied_at) "
               "VALUES (42, '0042_future', 0)");
    PQfinish(c);
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    assert_int_equal(tn_store_open(NULL, f->url, &s, &err), TN_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.data, "schema version 42"));
    assert_non_null(strstr(err.data, "newer teamnotes"));
    tn_buf_deinit(&err);
}

/* A database whose notes table lost its row-level security is refused. */
static void test_rls_off_refused(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    f->s = NULL;
    static const char *const sql[] = {"ALTER TABLE notes NO FORCE ROW LEVEL SECURITY",
                                      "ALTER TABLE notes DISABLE ROW LEVEL SECURITY"};
    for (size_t i = 0; i < 2; i++) {
        PGconn *c = conn_to(f->url);
        exec_ok(c, sql[i]);
        PQfinish(c);
        struct tn_store *s = NULL;
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        assert_int_equal(tn_store_open(NULL, f->url, &s, &err), TN_ERR_CONFIG);
        assert_null(s);
        assert_non_null(strstr(err.data, "FORCE ROW LEVEL SECURITY"));
        tn_buf_deinit(&err);
    }
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    p[n] = '\0';
    fclose(fp);
    return p;
}

/* The source tree: TN_SOURCE_ROOT, or where this file was compiled from. */
static void source_path(const char *rel, char *out, size_t cap)
{
    const char *root = getenv("TN_SOURCE_ROOT");
    if (root) {
        snprintf(out, cap, "%s/%s", root, rel);
    } else {
        const char *me = __FILE__; /* .../tests/unit/test_pg_store.c */
        size_t n = strlen(me) - strlen("tests/unit/test_pg_store.c");
        snprintf(out, cap, "%.*s%s", (int)n, me, rel);
    }
}

/* Everything a schema defines, one line per object, with the schema's name removed:
 * columns, constraints, indexes, policies, triggers, functions and RLS flags. */
static char *describe(const char *schema)
{
    const char *params[] = {schema};
    PGresult *r = admin_q(
        "SELECT string_agg(replace(line, $1 || '.', ''), E'\\n' ORDER BY line) FROM ("
        " SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' ||"
        "  is_nullable || ' ' || coalesce(column_default, '-') || ' ' ||"
        "  coalesce(generation_expression, '-') || ' ' || coalesce(collation_name, '-') ||"
        "  ' ' || is_identity AS line"
        "  FROM information_schema.columns WHERE table_schema = $1"
        " UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes"
        "  WHERE schemaname = $1"
        " UNION ALL SELECT 'constraint ' || t.relname || ' ' || c.conname || ' ' ||"
        "  pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        "  WHERE t.relnamespace = $1::regnamespace"
        " UNION ALL SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' ||"
        "  coalesce(qual, '-') || ' ' || coalesce(with_check, '-') FROM pg_policies"
        "  WHERE schemaname = $1"
        " UNION ALL SELECT 'trigger ' || pg_get_triggerdef(g.oid) FROM pg_trigger g"
        "  JOIN pg_class t ON t.oid = g.tgrelid WHERE t.relnamespace = $1::regnamespace"
        "  AND NOT g.tgisinternal"
        " UNION ALL SELECT 'function ' || proname || ' ' || prosrc FROM pg_proc"
        "  WHERE pronamespace = $1::regnamespace"
        " UNION ALL SELECT 'rls ' || relname || ' ' || relrowsecurity || ' ' ||"
        "  relforcerowsecurity FROM pg_class WHERE relnamespace = $1::regnamespace"
        "  AND relkind = 'r'"
        ") lines WHERE line NOT LIKE '%schema_version%'",
        1, params);
    char *d = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return d;
}

/* The .sql files kept for reading are the scripts the binary runs. */
static void test_migration_file_matches(void **state)
{
    struct fx *f = *state;
    char schema[80], url[1100];
    snprintf(schema, sizeof schema, "%s_files", f->schema);
    schema_create(schema);
    url_for(schema, url, sizeof url);
    PGconn *c = conn_to(url);
    for (int i = 0; i < LATEST; i++) {
        char rel[128], path[512];
        snprintf(rel, sizeof rel, "src/store/migrations/postgres/%s.sql", migration_files[i]);
        source_path(rel, path, sizeof path);
        char *sql = slurp(path);
        if (!sql)
            fail_msg("cannot read %s (set TN_SOURCE_ROOT)", path);
        exec_ok(c, sql);
        free(sql);
    }
    PQfinish(c);
    char *want = describe(schema), *got = describe(f->schema);
    assert_non_null(strstr(want, "index notes_search"));
    assert_non_null(strstr(want, "policy notes notes_select SELECT"));
    assert_non_null(strstr(want, "rls notes true true"));
    assert_string_equal(got, want);
    free(want);
    free(got);
    schema_drop(schema);
}

/* Instances starting together on a new database: the advisory lock makes one of them
 * apply the migrations and the others wait and find them applied. */
struct opener {
    const char *url;
    pthread_barrier_t *go;
    struct tn_store *s;
    enum tn_err e;
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    pthread_barrier_wait(o->go);
    o->e = tn_store_open(NULL, o->url, &o->s, NULL);
    return NULL;
}

static void test_migrations_raced(void **state)
{
    struct fx *f = *state;
    enum { N = 8 };
    for (int round = 0; round < 3; round++) {
        char schema[80], url[1100];
        snprintf(schema, sizeof schema, "%s_race%d", f->schema, round);
        schema_create(schema);
        url_for(schema, url, sizeof url);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        pthread_t th[N];
        struct opener os[N];
        for (int i = 0; i < N; i++) {
            os[i] = (struct opener){.url = url, .go = &go};
            assert_int_equal(pthread_create(&th[i], NULL, open_thread, &os[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < N; i++) {
            if (os[i].e != TN_OK)
                fail_msg("round %d, instance %d: %s", round, i, tn_err_name(os[i].e));
            assert_int_equal(tn_store_schema_version(os[i].s), LATEST);
        }
        /* each script applied once, and every instance works */
        PGconn *c = conn_to(url);
        char v[64];
        value_of(c, "SELECT count(*) || ':' || max(version) FROM schema_version", v, sizeof v);
        assert_string_equal(v, "3:3");
        PQfinish(c);
        for (int i = 0; i < N; i++) {
            char id[16];
            snprintf(id, sizeof id, "o%d", i);
            add_org(os[i].s, id, id, i);
            tn_store_close(os[i].s);
        }
        schema_drop(schema);
    }
}

/* ---------- organizations ---------- */

static void see_org(const struct tn_org *o, void *ud)
{
    note(ud, o->name);
}

static void test_orgs(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "o2", "Beta", 20);
    add_org(f->s, "o1", "Acme", 10);
    struct tn_org o = {.id = "o3", .name = "Acme", .created_at = 30};
    assert_int_equal(tn_store_org_insert(f->s, &o), TN_ERR_CONFLICT); /* name taken */
    struct tn_org o2 = {.id = "o1", .name = "Gamma", .created_at = 30};
    assert_int_equal(tn_store_org_insert(f->s, &o2), TN_ERR_CONFLICT); /* id taken */

    struct tn_org got;
    assert_int_equal(tn_store_org_get(f->s, "o1", &got), TN_OK);
    assert_string_equal(got.name, "Acme");
    assert_int_equal(got.created_at, 10);
    assert_int_equal(tn_store_org_by_name(f->s, "Beta", &got), TN_OK);
    assert_string_equal(got.id, "o2");
    assert_int_equal(tn_store_org_by_name(f->s, "beta", &got), TN_ERR_NOT_FOUND);
    assert_string_equal(got.id, ""); /* reset on failure */
    assert_int_equal(tn_store_org_get(f->s, "nope", &got), TN_ERR_NOT_FOUND);

    struct seen names = {0};
    assert_int_equal(tn_store_org_list(f->s, see_org, &names), TN_OK);
    assert_string_equal(names.s, "Acme;Beta;");
}

/* ---------- users ---------- */

static void see_user(const struct tn_user *u, void *ud)
{
    note(ud, u->email);
}

static void test_users(void **state)
{
    struct fx *f = *state;
    add_org(f->s, "o1", "Acme", 1);
    struct tn_user u = user("u1", "Ann.Smith@Example.COM");
    snprintf(u.org_id, sizeof u.org_id, "o1");
    snprintf(u.role, sizeof u.role, "admin");
    snprintf(u.password_hash, sizeof u.password_hash, "%s",
             "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
    u.disabled = true;
    u.tokens_valid_after = 77;
    assert_int_equal(tn_store_user_insert(f->s, &u), TN_OK);
    add_user(f->s, "u2", "bob@example.com");

    struct tn_user got;
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.email, "ann.smith@example.com"); /* stored lower-case */
    assert_string_equal(got.org_id, "o1");
    assert_string_equal(got.role, "admin");
    assert_string_equal(got.password_hash, u.password_hash);
    assert_true(got.disabled);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.tokens_valid_after, 77);
    assert_int_equal(tn_store_user_by_email(f->s, "ANN.smith@example.com", &got), TN_OK);
    assert_string_equal(got.id, "u1");
    assert_int_equal(tn_store_user_get(f->s, "u2", &got), TN_OK);
    assert_string_equal(got.org_id, ""); /* no org */
    assert_string_equal(got.password_hash, "");
    assert_false(got.disabled);

    /* negative cases */
    struct tn_user dup = user("u3", "BOB@example.com");
    assert_int_equal(tn_store_user_insert(f->s, &dup), TN_ERR_CONFLICT);
    struct tn_user dup_id = user("u1", "other@example.com");
    assert_int_equal(tn_store_user_insert(f->s, &dup_id), TN_ERR_CONFLICT);
    struct tn_user bad_org = user("u4", "x@example.com");
    snprintf(bad_org.org_id, sizeof bad_org.org_id, "nope");
    assert_int_equal(tn_store_user_insert(f->s, &bad_org), TN_ERR_NOT_FOUND);
    struct tn_user bad_role = user("u5", "y@example.com");
    snprintf(bad_role.role, sizeof bad_role.role, "root");
    assert_int_equal(tn_store_user_insert(f->s, &bad_role), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_get(f->s, "nope", &got), TN_ERR_NOT_FOUND);
    assert_string_equal(got.id, "");
    assert_int_equal(tn_store_user_by_email(f->s, "nobody@example.com", &got), TN_ERR_NOT_FOUND);
    char huge[400];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(tn_store_user_by_email(f->s, huge, &got), TN_ERR_NOT_FOUND);

    /* update replaces everything but id, email and created_at */
    struct tn_user up = user("u2", "ignored@example.com");
    snprintf(up.name, sizeof up.name, "Robert");
    snprintf(up.org_id, sizeof up.org_id, "o1");
    snprintf(up.role, sizeof up.role, "viewer");
    snprintf(up.password_hash, sizeof up.password_hash, "$argon2id$new");
    up.disabled = true;
    up.created_at = 999;
    up.tokens_valid_after = 1234;
    assert_int_equal(tn_store_user_update(f->s, &up), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u2", &got), TN_OK);
    assert_string_equal(got.email, "bob@example.com");
    assert_string_equal(got.name, "Robert");
    assert_string_equal(got.org_id, "o1");
    assert_string_equal(got.role, "viewer");
    assert_string_equal(got.password_hash, "$argon2id$new");
    assert_true(got.disabled);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.tokens_valid_after, 1234);
    up.org_id[0] = '\0'; /* back to no org */
    assert_int_equal(tn_store_user_update(f->s, &up), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u2", &got), TN_OK);
    assert_string_equal(got.org_id, "");
    struct tn_user ghost = user("ghost", "g@example.com");
    assert_int_equal(tn_store_user_update(f->s, &ghost), TN_ERR_NOT_FOUND);
    snprintf(up.org_id, sizeof up.org_id, "nope");
    assert_int_equal(tn_store_user_update(f->s, &up), TN_ERR_NOT_FOUND);
    snprintf(up.org_id, sizeof up.org_id, "o1");
    snprintf(up.role, sizeof up.role, "owner");
    assert_int_equal(tn_store_user_update(f->s, &up), TN_ERR_BAD_INPUT);

    int64_t n = -1;
    assert_int_equal(tn_store_user_count(f->s, &n), TN_OK);
    assert_int_equal(n, 2);
    struct seen seen = {0};
    assert_int_equal(tn_store_user_list(f->s, see_user, &seen), TN_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.s, "ann.smith@example.com;bob@example.com;");
}

/* Arguments are checked before any backend sees them. */
static void test_bad_input(void **state)
{
    struct fx *f = *state;
    struct tn_org o;
    memset(&o, 'x', sizeof o); /* no NUL anywhere */
    assert_int_equal(tn_store_org_insert(f->s, &o), TN_ERR_BAD_INPUT);
    struct tn_org empty = {.name = "n"};
    assert_int_equal(tn_store_org_insert(f->s, &empty), TN_ERR_BAD_INPUT);
    struct tn_user u = user("u1", "a@example.com");
    memset(u.password_hash, 'h', sizeof u.password_hash);
    assert_int_equal(tn_store_user_insert(f->s, &u), TN_ERR_BAD_INPUT);
    struct tn_client c = client("c1", 1, 0);
    memset(c.metadata, '{', sizeof c.metadata);
    assert_int_equal(tn_store_client_insert(f->s, &c), TN_ERR_BAD_INPUT);
    struct tn_code code_ = code(1, "c1", "u1", "");
    assert_int_equal(tn_store_code_insert(f->s, &code_), TN_ERR_BAD_INPUT); /* no family */
    struct tn_refresh r = refresh(1, "f", "c1", "u1");
    memset(r.resource, 'r', sizeof r.resource);
    assert_int_equal(tn_store_refresh_insert(f->s, &r), TN_ERR_BAD_INPUT);
    struct tn_signing_key k = {.kid = "k", .alg = "ES256", .pem = ""};
    assert_int_equal(tn_store_key_insert(f->s, &k), TN_ERR_BAD_INPUT);

    char scope[300];
    memset(scope, 's', sizeof scope - 1);
    scope[sizeof scope - 1] = '\0';
    assert_int_equal(tn_store_consent_put(f->s, "u1", "c1", scope, 1), TN_ERR_LIMIT);

    struct tn_user got;
    int64_t n;
    assert_int_equal(tn_store_user_get(NULL, "u1", &got), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_get(f->s, NULL, &got), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_count(f->s, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_client_delete_unused(f->s, 0, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_org_list(f->s, NULL, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_family_revoke(f->s, ""), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_count(f->s, &n), TN_OK);
    assert_int_equal(n, 0);
    tn_store_close(NULL); /* a no-op */
}

/* ---------- clients ---------- */

static void see_client(const struct tn_client *c, void *ud)
{
    note(ud, c->id);
}

static void test_clients(void **state)
{
    struct fx *f = *state;
    struct tn_client c = client("c1", 50, 0);
    snprintf(c.secret_hash, sizeof c.secret_hash, "%064d", 7);
    snprintf(c.auth_method, sizeof c.auth_method, "client_secret_basic");
    memset(c.application_type, 0, sizeof c.application_type); /* compared bytewise below */
    snprintf(c.application_type, sizeof c.application_type, "web");
    memset(c.metadata, 'm', sizeof c.metadata - 1); /* the largest value that fits */
    c.metadata[sizeof c.metadata - 1] = '\0';
    memset(c.redirect_uris, 'r', sizeof c.redirect_uris - 1);
    c.redirect_uris[sizeof c.redirect_uris - 1] = '\0';
    assert_int_equal(tn_store_client_insert(f->s, &c), TN_OK);
    add_client(f->s, "c0", 40, 0);
    struct tn_client dup = client("c1", 60, 0);
    assert_int_equal(tn_store_client_insert(f->s, &dup), TN_ERR_CONFLICT);

    struct tn_client got;
    assert_int_equal(tn_store_client_get(f->s, "c1", &got), TN_OK);
    assert_memory_equal(&got, &c, sizeof c);
    assert_int_equal(tn_store_client_get(f->s, "nope", &got), TN_ERR_NOT_FOUND);
    assert_string_equal(got.id, "");

    assert_int_equal(tn_store_client_touch(f->s, "c1", 500), TN_OK);
    assert_int_equal(tn_store_client_touch(f->s, "c1", 400), TN_OK); /* never goes back */
    assert_int_equal(tn_store_client_get(f->s, "c1", &got), TN_OK);
    assert_int_equal(got.last_used_at, 500);
    assert_int_equal(tn_store_client_touch(f->s, "nope", 500), TN_ERR_NOT_FOUND);

    struct seen ids = {0};
    assert_int_equal(tn_store_client_list(f->s, see_client, &ids), TN_OK);
    assert_string_equal(ids.s, "c0;c1;");

    assert_int_equal(tn_store_client_delete(f->s, "c0"), TN_OK);
    assert_int_equal(tn_store_client_delete(f->s, "c0"), TN_ERR_NOT_FOUND);
    ids = (struct seen){0};
    assert_int_equal(tn_store_client_list(f->s, see_client, &ids), TN_OK);
    assert_string_equal(ids.s, "c1;");
}

static void test_client_delete_cascades(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    assert_int_equal(tn_store_consent_put(f->s, "u1", "c1", "notes:read", 1), TN_OK);
    assert_int_equal(tn_store_consent_put(f->s, "u1", "c2", "notes:read", 1), TN_OK);
    struct tn_code c1 = code(1, "c1", "u1", "f1"), c2 = code(2, "c2", "u1", "f2");
    assert_int_equal(tn_store_code_insert(f->s, &c1), TN_OK);
    assert_int_equal(tn_store_code_insert(f->s, &c2), TN_OK);
    add_refresh(f->s, 1, "f1", "c1", "u1");
    add_refresh(f->s, 2, "f1", "c1", "u2");
    add_refresh(f->s, 3, "f2", "c2", "u1");

    assert_int_equal(tn_store_client_delete(f->s, "c1"), TN_OK);

    char scope[256];
    struct tn_code out;
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c1", scope), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_code_take(f->s, c1.hash, &out), TN_ERR_NOT_FOUND);
    assert_false(refresh_exists(f->s, 1));
    assert_false(refresh_exists(f->s, 2));
    /* the other client is untouched */
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c2", scope), TN_OK);
    assert_true(refresh_exists(f->s, 3));
    assert_int_equal(tn_store_code_take(f->s, c2.hash, &out), TN_OK);
}

static void test_client_delete_unused(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "one@example.com");
    add_client(f->s, "old_unused", 10, 0);
    add_client(f->s, "old_unused2", 99, 0);
    add_client(f->s, "old_used", 10, 50);
    add_client(f->s, "new_unused", 100, 0);
    add_client(f->s, "old_touched", 10, 0);
    assert_int_equal(tn_store_client_touch(f->s, "old_touched", 60), TN_OK);
    add_client(f->s, "old_consented", 10, 0); /* never touched, but a user granted it */
    assert_int_equal(tn_store_consent_put(f->s, "u1", "old_consented", "s", 20), TN_OK);

    int64_t n = -1;
    assert_int_equal(tn_store_client_delete_unused(f->s, 100, &n), TN_OK);
    assert_int_equal(n, 2);
    struct tn_client got;
    assert_int_equal(tn_store_client_get(f->s, "old_unused", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_client_get(f->s, "old_unused2", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_client_get(f->s, "old_used", &got), TN_OK);
    assert_int_equal(tn_store_client_get(f->s, "new_unused", &got), TN_OK);
    assert_int_equal(tn_store_client_get(f->s, "old_touched", &got), TN_OK);
    assert_int_equal(tn_store_client_get(f->s, "old_consented", &got), TN_OK);
    assert_int_equal(tn_store_client_delete_unused(f->s, 100, &n), TN_OK);
    assert_int_equal(n, 0);
}

/* ---------- consent ---------- */

static void test_consents(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    char scope[256];
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c1", scope), TN_ERR_NOT_FOUND);
    assert_string_equal(scope, "");
    assert_int_equal(tn_store_consent_put(f->s, "u1", "c1", "notes:read", 1), TN_OK);
    assert_int_equal(tn_store_consent_put(f->s, "u1", "c2", "notes:read", 1), TN_OK);
    assert_int_equal(tn_store_consent_put(f->s, "u2", "c1", "notes:read", 1), TN_OK);
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c1", scope), TN_OK);
    assert_string_equal(scope, "notes:read");
    /* put again replaces */
    assert_int_equal(tn_store_consent_put(f->s, "u1", "c1", "notes:read notes:write", 2), TN_OK);
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c1", scope), TN_OK);
    assert_string_equal(scope, "notes:read notes:write");
    /* unknown user or client */
    assert_int_equal(tn_store_consent_put(f->s, "u1", "nope", "s", 1), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_consent_put(f->s, "nope", "c1", "s", 1), TN_ERR_NOT_FOUND);

    assert_int_equal(tn_store_consent_revoke(f->s, "u1", "c1"), TN_OK);
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c1", scope), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c2", scope), TN_OK);
    assert_int_equal(tn_store_consent_revoke(f->s, "u1", "c1"), TN_OK); /* idempotent */
    assert_int_equal(tn_store_consent_revoke(f->s, "u1", NULL), TN_OK);
    assert_int_equal(tn_store_consent_get(f->s, "u1", "c2", scope), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_consent_get(f->s, "u2", "c1", scope), TN_OK); /* other user */
}

/* ---------- authorization codes ---------- */

static void test_codes(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    struct tn_code c = code(1, "c1", "u1", "fam1");
    assert_int_equal(tn_store_code_insert(f->s, &c), TN_OK);
    assert_int_equal(tn_store_code_insert(f->s, &c), TN_ERR_CONFLICT);
    struct tn_code orphan = code(2, "nope", "u1", "fam2");
    assert_int_equal(tn_store_code_insert(f->s, &orphan), TN_ERR_NOT_FOUND);

    struct tn_code out;
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_OK);
    assert_memory_equal(&out, &c, sizeof c);
    memset(&out, 0, sizeof out);
    /* a replay: refused, with the row so the caller can revoke the family */
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_ERR_CONFLICT);
    assert_memory_equal(&out, &c, sizeof c);
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_ERR_CONFLICT);

    uint8_t unknown[32];
    hash_of(unknown, 99);
    assert_int_equal(tn_store_code_take(f->s, unknown, &out), TN_ERR_NOT_FOUND);
    assert_string_equal(out.family, "");
    /* expiry is the caller's: an expired code is still taken */
    struct tn_code old = code(3, "c1", "u1", "fam3");
    old.expires_at = 1;
    assert_int_equal(tn_store_code_insert(f->s, &old), TN_OK);
    assert_int_equal(tn_store_code_take(f->s, old.hash, &out), TN_OK);
    assert_int_equal(out.expires_at, 1);
}

/* ---------- refresh tokens ---------- */

static void test_refresh_rotate(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    struct tn_refresh r1 = refresh(1, "fam", "c1", "u1");
    assert_int_equal(tn_store_refresh_insert(f->s, &r1), TN_OK);
    assert_int_equal(tn_store_refresh_insert(f->s, &r1), TN_ERR_CONFLICT);
    struct tn_refresh orphan = refresh(9, "fam", "nope", "u1");
    assert_int_equal(tn_store_refresh_insert(f->s, &orphan), TN_ERR_NOT_FOUND);

    struct tn_refresh got;
    assert_int_equal(tn_store_refresh_get(f->s, r1.hash, &got), TN_OK);
    assert_memory_equal(&got, &r1, sizeof r1);

    struct tn_refresh r2 = refresh(2, "fam", "c1", "u1"), old;
    r2.issued_at = 2000;
    r2.expires_at = 10000;
    assert_int_equal(tn_store_refresh_rotate(f->s, r1.hash, &r2, 2000, &old), TN_OK);
    assert_memory_equal(old.hash, r1.hash, 32);
    assert_int_equal(old.rotated_at, 2000);
    assert_int_equal(tn_store_refresh_get(f->s, r1.hash, &got), TN_OK);
    assert_int_equal(got.rotated_at, 2000);
    assert_false(got.revoked);
    assert_int_equal(tn_store_refresh_get(f->s, r2.hash, &got), TN_OK);
    assert_memory_equal(&got, &r2, sizeof r2);

    /* old_out may be NULL; the chain goes on from the current token */
    struct tn_refresh r3 = refresh(3, "fam", "c1", "u1");
    assert_int_equal(tn_store_refresh_rotate(f->s, r2.hash, &r3, 3000, NULL), TN_OK);

    uint8_t unknown[32];
    hash_of(unknown, 77);
    struct tn_refresh r4 = refresh(4, "fam", "c1", "u1");
    assert_int_equal(tn_store_refresh_rotate(f->s, unknown, &r4, 3000, &old), TN_ERR_NOT_FOUND);
    assert_string_equal(old.family, "");
    assert_int_equal(tn_store_refresh_get(f->s, unknown, &got), TN_ERR_NOT_FOUND);

    /* the successor must stay in the grant */
    static const char *const moved[][3] = {
        {"other", "c1", "u1"}, {"fam", "c2", "u1"}, {"fam", "c1", "u2"}};
    for (size_t i = 0; i < 3; i++) {
        struct tn_refresh bad = refresh(5, moved[i][0], moved[i][1], moved[i][2]);
        assert_int_equal(tn_store_refresh_rotate(f->s, r3.hash, &bad, 3500, &old),
                         TN_ERR_BAD_INPUT);
        assert_false(refresh_exists(f->s, 5));
    }
    assert_int_equal(tn_store_refresh_get(f->s, r3.hash, &got), TN_OK);
    assert_int_equal(got.rotated_at, 0); /* nothing changed */
    assert_int_equal(tn_store_refresh_rotate(f->s, r3.hash, &r4, 0, &old), TN_ERR_BAD_INPUT);
}

/* Rotating a token that is not current: TN_ERR_CONFLICT, old_out says why, and the
 * successor is not stored. */
static void test_refresh_not_current(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    static const struct {
        const char *why;
        int64_t now;
        bool rotate_first, revoke_first;
        int64_t want_rotated;
        bool want_revoked;
    } cases[] = {
        {"rotated", 2000, true, false, 1500, false},
        {"revoked", 2000, false, true, 0, true},
        {"rotated and revoked", 2000, true, true, 1500, true},
        {"expired", 9001, false, false, 0, false},
        {"expires right now", 9000, false, false, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fam[16];
        snprintf(fam, sizeof fam, "fam%zu", i);
        int base = 100 * ((int)i + 1);
        add_refresh(f->s, base, fam, "c1", "u1");
        uint8_t h[32];
        hash_of(h, base);
        if (cases[i].rotate_first) {
            struct tn_refresh n = refresh(base + 1, fam, "c1", "u1");
            assert_int_equal(tn_store_refresh_rotate(f->s, h, &n, 1500, NULL), TN_OK);
        }
        if (cases[i].revoke_first)
            assert_int_equal(tn_store_family_revoke(f->s, fam), TN_OK);
        struct tn_refresh next = refresh(base + 2, fam, "c1", "u1"), old;
        assert_int_equal(tn_store_refresh_rotate(f->s, h, &next, cases[i].now, &old),
                         TN_ERR_CONFLICT);
        assert_memory_equal(old.hash, h, 32);
        assert_string_equal(old.family, fam);
        assert_int_equal(old.rotated_at, cases[i].want_rotated);
        assert_int_equal(old.revoked, cases[i].want_revoked);
        assert_int_equal(old.expires_at, 9000);
        assert_false(refresh_exists(f->s, base + 2));
    }
}

static void test_family_revoke(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    add_refresh(f->s, 1, "famA", "c1", "u1");
    struct tn_refresh a2 = refresh(2, "famA", "c1", "u1");
    uint8_t h1[32];
    hash_of(h1, 1);
    assert_int_equal(tn_store_refresh_rotate(f->s, h1, &a2, 1500, NULL), TN_OK);
    add_refresh(f->s, 3, "famB", "c1", "u1");

    assert_int_equal(tn_store_family_revoke(f->s, "famA"), TN_OK);
    assert_true(refresh_revoked(f->s, 1));
    assert_true(refresh_revoked(f->s, 2));
    assert_false(refresh_revoked(f->s, 3));
    assert_int_equal(tn_store_family_revoke(f->s, "famA"), TN_OK); /* idempotent */

    /* a family revoked before it has any token (a replayed code racing the exchange):
     * its first token is born revoked */
    assert_int_equal(tn_store_family_revoke(f->s, "famC"), TN_OK);
    add_refresh(f->s, 4, "famC", "c1", "u1");
    assert_true(refresh_revoked(f->s, 4));
    uint8_t h4[32];
    hash_of(h4, 4);
    struct tn_refresh c5 = refresh(5, "famC", "c1", "u1"), old;
    assert_int_equal(tn_store_refresh_rotate(f->s, h4, &c5, 1500, &old), TN_ERR_CONFLICT);
    assert_true(old.revoked);
}

static void test_user_revoke_all(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    add_refresh(f->s, 1, "f1", "c1", "u1");
    add_refresh(f->s, 2, "f2", "c2", "u1");
    add_refresh(f->s, 3, "f3", "c1", "u2");
    assert_int_equal(tn_store_user_revoke_all(f->s, "u1"), TN_OK);
    assert_true(refresh_revoked(f->s, 1));
    assert_true(refresh_revoked(f->s, 2));
    assert_false(refresh_revoked(f->s, 3));
    assert_int_equal(tn_store_user_revoke_all(f->s, "nobody"), TN_OK);
    assert_false(refresh_revoked(f->s, 3));
}

/* ---------- signing keys ---------- */

static void see_key(const struct tn_signing_key *k, void *ud)
{
    note(ud, k->kid);
}

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct tn_signing_key k2 = {.kid = "k2", .alg = "ES256", .created_at = 200, .signs_from = 300,
                                .retire_at = 900};
    memset(k2.pem, 'p', sizeof k2.pem - 1);
    struct tn_signing_key k1 = {.kid = "k1", .alg = "RS256", .pem = "-----BEGIN PRIVATE KEY-----",
                                .created_at = 100, .signs_from = 100, .retire_at = 500};
    struct tn_signing_key k3 = {.kid = "k3", .alg = "ES256", .pem = "x", .created_at = 200};
    assert_int_equal(tn_store_key_insert(f->s, &k2), TN_OK);
    assert_int_equal(tn_store_key_insert(f->s, &k1), TN_OK);
    assert_int_equal(tn_store_key_insert(f->s, &k3), TN_OK);
    assert_int_equal(tn_store_key_insert(f->s, &k1), TN_ERR_CONFLICT);

    struct seen kids = {0};
    assert_int_equal(tn_store_key_list(f->s, see_key, &kids), TN_OK);
    assert_string_equal(kids.s, "k1;k2;k3;"); /* creation order; ties by insertion */

    assert_int_equal(tn_store_key_delete(f->s, "k1"), TN_OK);
    assert_int_equal(tn_store_key_delete(f->s, "k1"), TN_ERR_NOT_FOUND);
    kids = (struct seen){0};
    assert_int_equal(tn_store_key_list(f->s, see_key, &kids), TN_OK);
    assert_string_equal(kids.s, "k2;k3;");
    tn_store_close(f->s);
    f->s = open_url(f->url);
    kids = (struct seen){0};
    assert_int_equal(tn_store_key_list(f->s, see_key, &kids), TN_OK);
    assert_string_equal(kids.s, "k2;k3;");
}

/* ---------- callbacks that call back into the store ---------- */

/* Threads other than the test's own must not assert (cmocka longjmps); they count. */
struct reenter {
    struct tn_store *s;
    int seen, ok, calls_ok;
};

static void delete_seen_client(const struct tn_client *c, void *ud)
{
    struct reenter *r = ud;
    r->seen++;
    if (tn_store_client_delete(r->s, c->id) == TN_OK)
        r->ok++;
}

static void get_seen_user(const struct tn_user *u, void *ud)
{
    struct reenter *r = ud;
    struct tn_user again;
    r->seen++;
    if (tn_store_user_get(r->s, u->id, &again) == TN_OK && strcmp(again.email, u->email) == 0)
        r->ok++;
}

static void *list_users_thread(void *arg)
{
    struct reenter *r = arg;
    for (int i = 0; i < 5; i++)
        r->calls_ok += tn_store_user_list(r->s, get_seen_user, r) == TN_OK;
    return NULL;
}

static void test_list_reentrant(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        add_client(f->s, id, i, 0);
    }
    struct reenter r = {.s = f->s};
    assert_int_equal(tn_store_client_list(f->s, delete_seen_client, &r), TN_OK);
    assert_int_equal(r.seen, 5);
    assert_int_equal(r.ok, 5);
    r.seen = 0;
    assert_int_equal(tn_store_client_list(f->s, delete_seen_client, &r), TN_OK);
    assert_int_equal(r.seen, 0);

    /* more threads than pooled connections, each holding one while it asks for another */
    add_user(f->s, "u1", "one@example.com");
    add_user(f->s, "u2", "two@example.com");
    enum { N = 16 };
    pthread_t th[N];
    struct reenter rs[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (struct reenter){.s = f->s};
        assert_int_equal(pthread_create(&th[i], NULL, list_users_thread, &rs[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].calls_ok, 5);
        assert_int_equal(rs[i].seen, 10);
        assert_int_equal(rs[i].ok, 10);
    }
}

/* ---------- concurrency ---------- */

enum { THREADS = 8, ROUNDS = 10 };

struct racer {
    struct tn_store *s;
    pthread_barrier_t *go;
    int round;
    int index;
    enum tn_err result;
    bool out_ok; /* the output the result promises was there */
};

static void *take_code(void *arg)
{
    struct racer *r = arg;
    uint8_t h[32];
    hash_of(h, r->round);
    struct tn_code out;
    pthread_barrier_wait(r->go);
    r->result = tn_store_code_take(r->s, h, &out);
    r->out_ok = strcmp(out.client_id, "c1") == 0 && memcmp(out.hash, h, 32) == 0;
    return NULL;
}

static void *rotate_token(void *arg)
{
    struct racer *r = arg;
    uint8_t h[32];
    hash_of(h, r->round);
    /* each racer proposes its own successor */
    struct tn_refresh next = refresh(1000 + r->round * THREADS + r->index, "fam", "c1", "u1");
    struct tn_refresh old;
    pthread_barrier_wait(r->go);
    r->result = tn_store_refresh_rotate(r->s, h, &next, 2000, &old);
    r->out_ok = old.rotated_at == 2000 && !old.revoked && memcmp(old.hash, h, 32) == 0;
    return NULL;
}

/* THREADS racers on two handles of the same database (two instances, so the
 * database's own locking decides, not anything in one process); returns the index of the single
 * winner after checking everyone else got TN_ERR_CONFLICT. */
static int race(struct fx *f, struct tn_store *other, int round, void *(*fn)(void *))
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    pthread_t th[THREADS];
    struct racer rs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        rs[i] = (struct racer){.s = i % 2 ? other : f->s, .go = &go, .round = round, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, fn, &rs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) /* all of them, before anything can fail */
        pthread_join(th[i], NULL);
    int ok = 0, conflict = 0, winner = -1;
    for (int i = 0; i < THREADS; i++) {
        if (rs[i].result == TN_OK) {
            ok++;
            winner = i;
        } else if (rs[i].result == TN_ERR_CONFLICT) {
            conflict++;
        } else {
            fail_msg("round %d, racer %d: %s", round, i, tn_err_name(rs[i].result));
        }
        assert_true(rs[i].out_ok);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, THREADS - 1);
    return winner;
}

static void test_concurrent_code_take(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    struct tn_store *other = open_url(f->url);
    for (int round = 1; round <= ROUNDS; round++) {
        struct tn_code c = code(round, "c1", "u1", "fam");
        assert_int_equal(tn_store_code_insert(f->s, &c), TN_OK);
        race(f, other, round, take_code);
    }
    tn_store_close(other);
}

static void test_concurrent_refresh_rotate(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    struct tn_store *other = open_url(f->url);
    for (int round = 1; round <= ROUNDS; round++) {
        add_refresh(f->s, round, "fam", "c1", "u1");
        int winner = race(f, other, round, rotate_token);
        /* only the winner's successor exists */
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(refresh_exists(f->s, 1000 + round * THREADS + i), i == winner);
    }
    tn_store_close(other);
}


/* ---------- notes (the behaviours of test_notes_store.c) ---------- */

/* ---------- owners ---------- */

static const struct tn_owner alice = {"https://issuer.example|alice", "o1"};
static const struct tn_owner bob = {"https://issuer.example|bob", "o1"};
static const struct tn_owner carol = {"https://issuer.example|carol", "o2"};
static const struct tn_owner dave = {"https://issuer.example|dave", ""}; /* no organization */
/* The same person as alice, signed in to another organization: another owner. */
static const struct tn_owner alice_o2 = {"https://issuer.example|alice", "o2"};

/* ---------- notes and collections ---------- */

static struct tn_note mk(const char *title, const char *content, const char *tags,
                         const char *visibility)
{
    struct tn_note n;
    memset(&n, 0, sizeof n);
    snprintf(n.title, sizeof n.title, "%s", title);
    n.content = (char *)content; /* borrowed: never tn_note_deinit'ed */
    snprintf(n.tags, sizeof n.tags, "%s", tags);
    snprintf(n.visibility, sizeof n.visibility, "%s", visibility);
    return n;
}

/* Inserts a note and returns it (the content pointer is the caller's). */
static struct tn_note add(struct tn_store *s, const struct tn_owner *o, const char *title,
                          const char *content, const char *tags, const char *visibility)
{
    struct tn_note n = mk(title, content, tags, visibility);
    enum tn_err e = tn_store_note_insert(s, o, &n);
    if (e != TN_OK)
        fail_msg("insert %s: %s", title, tn_err_name(e));
    return n;
}

struct item {
    char id[32];
    char owner[512];
    char org[128];
    char visibility[8];
    char tags[256];
    char snippet[512];
    int64_t version, updated_at;
    double rank;
};

struct coll {
    size_t n, cap;
    struct item *v;
};

static struct item *coll_push(struct coll *c)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        assert_non_null(c->v);
    }
    struct item *it = &c->v[c->n++];
    memset(it, 0, sizeof *it);
    return it;
}

static void collect_item(struct coll *c, const struct item *it)
{
    *coll_push(c) = *it;
}

static void collect(const struct tn_note *n, void *ud)
{
    struct item *it = coll_push(ud);
    snprintf(it->id, sizeof it->id, "%s", n->id);
    snprintf(it->owner, sizeof it->owner, "%s", n->owner);
    snprintf(it->org, sizeof it->org, "%s", n->org);
    snprintf(it->visibility, sizeof it->visibility, "%s", n->visibility);
    snprintf(it->tags, sizeof it->tags, "%s", n->tags);
    snprintf(it->snippet, sizeof it->snippet, "%s", n->snippet);
    it->version = n->version;
    it->updated_at = n->updated_at;
    it->rank = n->rank;
    assert_non_null(n->content);
}

static void coll_free(struct coll *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static bool coll_has(const struct coll *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].id, id) == 0)
            return true;
    return false;
}

/* (updated_at, id) of a strictly before b in newest-first order. */
static bool newer(const struct item *a, const struct item *b)
{
    return a->updated_at > b->updated_at ||
           (a->updated_at == b->updated_at && strcmp(a->id, b->id) > 0);
}

/* Every note of o's list (or team list), page by page with `limit`, asserting that the
 * pages run in strictly decreasing (updated_at, id) order and each is at most `limit`. */
static void page_all(struct tn_store *s, const struct tn_owner *o, bool team, const char *tag,
                     unsigned limit, struct coll *out)
{
    struct tn_note_page p = {.limit = limit, .tag = tag, .after_id = ""};
    char after[32] = "";
    for (int guard = 0;; guard++) {
        assert_true(guard < 100000);
        struct coll page = {0};
        enum tn_err e = team ? tn_store_note_list_team(s, o, &p, collect, &page)
                             : tn_store_note_list(s, o, &p, collect, &page);
        assert_int_equal(e, TN_OK);
        assert_true(page.n <= limit);
        for (size_t i = 0; i < page.n; i++) {
            if (out->n > 0)
                assert_true(newer(&out->v[out->n - 1], &page.v[i]));
            collect_item(out, &page.v[i]);
        }
        bool last = page.n < limit;
        if (page.n > 0) {
            snprintf(after, sizeof after, "%s", page.v[page.n - 1].id);
            p.after_updated = page.v[page.n - 1].updated_at;
            p.after_id = after;
        }
        coll_free(&page);
        if (last)
            break;
    }
}

/* ---------- insert and get ---------- */

static void test_insert_get(void **state)
{
    struct fx *f = *state;
    int64_t before = tn_time_now_ms();
    struct tn_note n = mk("Groceries", "milk, eggs", "[\"home\", \"list\"]", "");
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_OK);
    int64_t after = tn_time_now_ms();
    /* the store filled in the rest */
    assert_int_equal(strlen(n.id), 24);
    assert_memory_equal(n.id, "n_", 2);
    assert_string_equal(n.owner, alice.user);
    assert_string_equal(n.org, "o1");
    assert_string_equal(n.visibility, "private"); /* the default never shares */
    assert_int_equal(n.version, 1);
    assert_true(n.created_at >= before && n.created_at <= after);
    assert_int_equal(n.updated_at, n.created_at);
    assert_string_equal(n.content, "milk, eggs");

    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.id, n.id);
    assert_string_equal(got.owner, alice.user);
    assert_string_equal(got.org, "o1");
    assert_string_equal(got.title, "Groceries");
    assert_string_equal(got.content, "milk, eggs");
    assert_string_equal(got.tags, "[\"home\", \"list\"]"); /* as given, spacing and all */
    assert_string_equal(got.visibility, "private");
    assert_int_equal(got.version, 1);
    assert_int_equal(got.created_at, n.created_at);
    assert_int_equal(got.updated_at, n.updated_at);
    assert_string_equal(got.snippet, "");
    assert_ptr_not_equal(got.content, n.content); /* the store's own copy */
    tn_note_deinit(&got);
    assert_null(got.content);
    tn_note_deinit(&got); /* twice is harmless */
    tn_note_deinit(NULL);

    /* empty tags mean none; ids are unique */
    struct tn_note m = add(f->s, &alice, "", "x", "", "org");
    assert_string_equal(m.tags, "[]");
    assert_string_equal(m.visibility, "org");
    assert_string_not_equal(m.id, n.id);

    /* durable: there after a reopen */
    tn_store_close(f->s);
    f->s = open_url(f->url);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.content, "milk, eggs");
    tn_note_deinit(&got);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "eggs", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    coll_free(&c);

    /* unknown or malformed ids: not found, and *out reset */
    memset(&got, 0x5a, sizeof got);
    assert_int_equal(tn_store_note_get(f->s, &alice, "n_AAAAAAAAAAAAAAAAAAAAAA", &got),
                     TN_ERR_NOT_FOUND);
    assert_null(got.content);
    assert_string_equal(got.id, "");
    assert_int_equal(tn_store_note_get(f->s, &alice, "", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_get(f->s, &alice, "' OR 1=1 --", &got), TN_ERR_NOT_FOUND);
}

/* ---------- validation, table-driven ---------- */

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *p = malloc(n * times + 1);
    assert_non_null(p);
    for (size_t i = 0; i < times; i++)
        memcpy(p + i * n, unit, n);
    p[n * times] = '\0';
    return p;
}

/* A JSON array of `count` copies of a tag built from `unit` repeated `len` times. */
static void tags_of(char *out, size_t cap, size_t count, const char *unit, size_t len)
{
    char *tag = repeat(unit, len);
    size_t used = snprintf(out, cap, "[");
    for (size_t i = 0; i < count; i++)
        used += snprintf(out + used, cap - used, "%s\"%s\"", i ? "," : "", tag);
    snprintf(out + used, cap - used, "]");
    free(tag);
}

static int64_t count_own(struct tn_store *s, const struct tn_owner *o)
{
    struct coll c = {0};
    page_all(s, o, false, NULL, 100, &c);
    int64_t n = (int64_t)c.n;
    coll_free(&c);
    return n;
}

static void test_insert_validation(void **state)
{
    struct fx *f = *state;
    char *c64k = repeat("a", TN_NOTE_MAX_CONTENT);
    char *c64k1 = repeat("a", TN_NOTE_MAX_CONTENT + 1);
    char *c65k = repeat("a", 65 * 1024);
    char *t200 = repeat("\xf0\x9f\x98\x80", 200); /* 200 code points, 800 bytes */
    char *t201 = repeat("a", 201);
    char tags16[4096], tags17[4096], tag32[4096], tag33[4096], tags16x32[4096];
    tags_of(tags16, sizeof tags16, 16, "t", 1);
    tags_of(tags17, sizeof tags17, 17, "t", 1);
    tags_of(tag32, sizeof tag32, 1, "\xc3\xa9", 32);
    tags_of(tag33, sizeof tag33, 1, "a", 33);
    tags_of(tags16x32, sizeof tags16x32, 16, "\xf0\x9f\x98\x80", 32); /* the largest */
    struct tn_owner no_user = {"", "o1"}, null_user = {NULL, "o1"}, null_org = {"u", NULL};
    char long_user[600], long_org[200];
    memset(long_user, 'u', 512);
    long_user[512] = '\0';
    memset(long_org, 'o', 128);
    long_org[128] = '\0';
    struct tn_owner big_user = {long_user, "o1"}, big_org = {"u", long_org};
    char max_user[600], max_org[200];
    memset(max_user, 'u', 511);
    max_user[511] = '\0';
    memset(max_org, 'o', 127);
    max_org[127] = '\0';
    struct tn_owner max_owner = {max_user, max_org};

    static const struct tn_owner *const A = &alice;
    const struct {
        const struct tn_owner *o;
        const char *title, *content, *tags, *vis;
        enum tn_err want;
    } cases[] = {
        {A, "t", "c", "[]", "private", TN_OK},
        {A, "t", c64k, "[]", "private", TN_OK},
        {A, "t", c64k1, "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", c65k, "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", NULL, "[]", "private", TN_ERR_BAD_INPUT},
        /* invalid UTF-8: a stray byte, an overlong NUL, a surrogate, a cut sequence,
         * an overlong slash, beyond U+10FFFF */
        {A, "t", "ok \xff", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "a\xc0\x80" "b", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "\xed\xa0\x80", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "cut \xe2\x82", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "\xe0\x80\xaf", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "\xf4\x90\x80\x80", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "\xff", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "caf\xc3\xa9 \xf0\x9f\x98\x80", "[]", "private", TN_OK},
        {A, t200, "c", "[]", "private", TN_OK},
        {A, t201, "c", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "", "c", "[]", "private", TN_OK},
        /* tags */
        {A, "t", "c", tags16, "private", TN_OK},
        {A, "t", "c", tags17, "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", tag32, "private", TN_OK},
        {A, "t", "c", tag33, "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", tags16x32, "private", TN_OK},
        {A, "t", "c", "[\"\"]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\", 1]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[[\"a\"]]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "{\"a\": \"b\"}", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "\"a\"", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\"", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\"] x", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\\u0000b\"]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"\xff\"]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\",\"a\"]", "private", TN_OK}, /* a repeat is the same tag */
        /* visibility */
        {A, "t", "c", "[]", "org", TN_OK},
        {A, "t", "c", "[]", "public", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[]", "ORG", TN_ERR_BAD_INPUT},
        {&dave, "t", "c", "[]", "org", TN_ERR_BAD_INPUT}, /* nobody to share with */
        {&dave, "t", "c", "[]", "private", TN_OK},
        /* owners */
        {NULL, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&no_user, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&null_user, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&null_org, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&big_user, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&big_org, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&max_owner, "t", "c", "[]", "org", TN_OK},
    };
    int64_t stored = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_note n = mk(cases[i].title, cases[i].content, cases[i].tags, cases[i].vis);
        enum tn_err e = tn_store_note_insert(f->s, cases[i].o, &n);
        if (e != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, tn_err_name(e), tn_err_name(cases[i].want));
        if (e == TN_OK) {
            struct tn_note got;
            assert_int_equal(tn_store_note_get(f->s, cases[i].o, n.id, &got), TN_OK);
            assert_string_equal(got.content, cases[i].content);
            assert_string_equal(got.title, cases[i].title);
            assert_string_equal(got.tags, cases[i].tags);
            tn_note_deinit(&got);
            if (cases[i].o == A)
                stored++;
        } else {
            assert_string_equal(n.id, ""); /* nothing filled in on failure */
        }
    }
    /* a failed insert stored nothing */
    assert_int_equal(count_own(f->s, &alice), stored);

    /* NULL arguments; a field that overruns its array */
    struct tn_note n = mk("t", "c", "[]", "private");
    assert_int_equal(tn_store_note_insert(NULL, &alice, &n), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_insert(f->s, &alice, NULL), TN_ERR_BAD_INPUT);
    memset(n.title, 'x', sizeof n.title);
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_ERR_BAD_INPUT);
    n = mk("t", "c", "[]", "private");
    memset(n.tags, '[', sizeof n.tags);
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_ERR_BAD_INPUT);
    n = mk("t", "c", "[]", "private");
    memset(n.visibility, 'p', sizeof n.visibility);
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_ERR_BAD_INPUT);
    assert_int_equal(count_own(f->s, &alice), stored);

    free(c64k);
    free(c64k1);
    free(c65k);
    free(t200);
    free(t201);
}

static void noop_cb(const struct tn_note *n, void *ud)
{
    (*(int *)ud)++;
}

static void test_argument_errors(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "t", "c", "[]", "private");
    struct tn_note out;
    int calls = 0;
    /* get */
    assert_int_equal(tn_store_note_get(NULL, &alice, n.id, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_get(f->s, NULL, n.id, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_get(f->s, &alice, NULL, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, NULL), TN_ERR_BAD_INPUT);
    /* update */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 0, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, -1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT); /* nothing to change */
    assert_int_equal(tn_store_note_update(f->s, &alice, NULL, 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, NULL, n.id, 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, "", NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, "\xc0\x80", NULL, NULL,
                                          NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "\xff", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, NULL, "[1]", NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, NULL, NULL, "all", NULL),
                     TN_ERR_BAD_INPUT);
    struct tn_note d = add(f->s, &dave, "t", "c", "[]", "private");
    assert_int_equal(tn_store_note_update(f->s, &dave, d.id, 1, NULL, NULL, NULL, "org", NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, "bogus", 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_NOT_FOUND);
    /* none of that changed the note */
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_OK);
    assert_int_equal(out.version, 1);
    tn_note_deinit(&out);
    /* delete */
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, -1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(f->s, &alice, NULL, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(f->s, NULL, n.id, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(NULL, &alice, n.id, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(f->s, &alice, "bogus", 0), TN_ERR_NOT_FOUND);
    /* list and list_team: the page */
    char tag33[64];
    memset(tag33, 'a', 33);
    tag33[33] = '\0';
    const struct {
        struct tn_note_page p;
        enum tn_err want;
    } pages[] = {
        {{.limit = 1}, TN_OK},
        {{.limit = 100}, TN_OK},
        {{.limit = 0}, TN_ERR_BAD_INPUT},
        {{.limit = 101}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .tag = ""}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .tag = tag33}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .tag = "\xff"}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "n_short", .after_updated = 5}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "'); DROP TABLE notes;--"}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "n_AAAAAAAAAAAAAAAAAAAA!A"}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "n_AAAAAAAAAAAAAAAAAAAAAA", .after_updated = 1}, TN_OK},
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        enum tn_err e1 = tn_store_note_list(f->s, &alice, &pages[i].p, noop_cb, &calls);
        enum tn_err e2 = tn_store_note_list_team(f->s, &alice, &pages[i].p, noop_cb, &calls);
        if (e1 != pages[i].want || e2 != pages[i].want)
            fail_msg("page %zu: list %s, team %s, want %s", i, tn_err_name(e1), tn_err_name(e2),
                     tn_err_name(pages[i].want));
    }
    struct tn_note_page p = {.limit = 10};
    assert_int_equal(tn_store_note_list(f->s, &alice, NULL, noop_cb, &calls), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, NULL, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(f->s, NULL, &p, noop_cb, &calls), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(NULL, &alice, &p, noop_cb, &calls), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list_team(f->s, &alice, NULL, noop_cb, &calls),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list_team(f->s, &dave, &p, NULL, NULL), TN_ERR_BAD_INPUT);
    /* search */
    char *long_q = repeat("a", 1025);
    char *many_words = repeat("w ", 33);
    char *max_words = repeat("w ", 32);
    const struct {
        const char *q;
        unsigned limit;
        enum tn_err want;
    } searches[] = {
        {"c", 1, TN_OK},
        {"c", 100, TN_OK},
        {"c", 0, TN_ERR_BAD_INPUT},
        {"c", 101, TN_ERR_BAD_INPUT},
        {"", 10, TN_ERR_BAD_INPUT},
        {" \t\n ", 10, TN_ERR_BAD_INPUT},
        {"* -- ( ) \"", 10, TN_ERR_BAD_INPUT}, /* no word to search for */
        {"\xff", 10, TN_ERR_BAD_INPUT},
        {long_q, 10, TN_ERR_BAD_INPUT},
        {many_words, 10, TN_ERR_BAD_INPUT},
        {max_words, 10, TN_OK},
        {NULL, 10, TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof searches / sizeof searches[0]; i++) {
        enum tn_err e =
            tn_store_note_search(f->s, &alice, searches[i].q, searches[i].limit, noop_cb, &calls);
        if (e != searches[i].want)
            fail_msg("search %zu: %s, want %s", i, tn_err_name(e), tn_err_name(searches[i].want));
    }
    assert_int_equal(tn_store_note_search(f->s, &alice, "c", 10, NULL, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_search(f->s, NULL, "c", 10, noop_cb, &calls),
                     TN_ERR_BAD_INPUT);
    free(long_q);
    free(many_words);
    free(max_words);
}

/* ---------- update and delete ---------- */

static void test_update(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "Plan", "launch on monday", "[\"work\"]", "private");
    usleep(2000);
    struct tn_note out;
    /* title only: everything else stays */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "Plan B", NULL, NULL, NULL,
                                          &out),
                     TN_OK);
    assert_int_equal(out.version, 2);
    assert_string_equal(out.title, "Plan B");
    assert_string_equal(out.content, "launch on monday");
    assert_string_equal(out.tags, "[\"work\"]");
    assert_string_equal(out.visibility, "private");
    assert_int_equal(out.created_at, n.created_at);
    assert_true(out.updated_at > n.updated_at);
    tn_note_deinit(&out);

    /* content, tags and visibility; the index follows the text */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 2, NULL, "launch on friday",
                                          "[\"urgent\"]", "org", &out),
                     TN_OK);
    assert_int_equal(out.version, 3);
    assert_string_equal(out.content, "launch on friday");
    assert_string_equal(out.tags, "[\"urgent\"]");
    assert_string_equal(out.visibility, "org");
    tn_note_deinit(&out);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "monday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(tn_store_note_search(f->s, &alice, "friday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(tn_store_note_search(f->s, &bob, "friday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 2); /* shared with o1 now */
    coll_free(&c);
    page_all(f->s, &alice, false, "work", 10, &c);
    assert_int_equal(c.n, 0);
    coll_free(&c);
    page_all(f->s, &alice, false, "urgent", 10, &c);
    assert_int_equal(c.n, 1);
    coll_free(&c);

    /* a stale version: conflict, and out holds the current note */
    memset(&out, 0, sizeof out);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 2, "stale", NULL, NULL, NULL, &out),
                     TN_ERR_CONFLICT);
    assert_int_equal(out.version, 3);
    assert_string_equal(out.title, "Plan B");
    assert_string_equal(out.content, "launch on friday");
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 4, "future", NULL, NULL, NULL,
                                          &out),
                     TN_ERR_CONFLICT);
    tn_note_deinit(&out);
    /* the failed updates left the index alone */
    assert_int_equal(tn_store_note_search(f->s, &alice, "friday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    coll_free(&c);

    /* not o's: not found, and out stays empty */
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tn_store_note_update(f->s, &bob, n.id, 3, "mine", NULL, NULL, NULL, &out),
                     TN_ERR_NOT_FOUND);
    assert_null(out.content);
    assert_string_equal(out.id, "");
    assert_int_equal(tn_store_note_update(f->s, &alice, "n_AAAAAAAAAAAAAAAAAAAAAA", 1, "x", NULL,
                                          NULL, NULL, &out),
                     TN_ERR_NOT_FOUND);

    /* out may be NULL; "" tags clear them; "" title is allowed */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 3, "", NULL, "", "private", NULL),
                     TN_OK);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_OK);
    assert_int_equal(out.version, 4);
    assert_string_equal(out.tags, "[]");
    assert_string_equal(out.title, "");
    assert_string_equal(out.visibility, "private");
    tn_note_deinit(&out);
    page_all(f->s, &alice, false, "urgent", 10, &c);
    assert_int_equal(c.n, 0);
    coll_free(&c);
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "Doomed", "ephemeral words", "[\"gone\"]", "org");
    struct tn_note keep = add(f->s, &alice, "Keep", "ephemeral too", "[\"gone\"]", "private");
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "Doomed 2", NULL, NULL, NULL,
                                          NULL),
                     TN_OK);
    /* not the owner: not found, even for a shared note bob can read */
    struct tn_note out;
    assert_int_equal(tn_store_note_get(f->s, &bob, n.id, &out), TN_OK);
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_delete(f->s, &bob, n.id, 0), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &bob, n.id, 2), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice_o2, n.id, 0), TN_ERR_NOT_FOUND);
    /* stale version */
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 1), TN_ERR_CONFLICT);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_OK);
    tn_note_deinit(&out);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "ephemeral", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 2); /* the failed delete left the index alone */
    coll_free(&c);
    /* the right version */
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 2), TN_OK);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 0), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 2), TN_ERR_NOT_FOUND);
    /* gone from the index, the tags and the lists */
    assert_int_equal(tn_store_note_search(f->s, &alice, "ephemeral", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].id, keep.id);
    coll_free(&c);
    page_all(f->s, &alice, false, "gone", 10, &c);
    assert_int_equal(c.n, 1);
    coll_free(&c);
    page_all(f->s, &bob, true, NULL, 10, &c);
    assert_int_equal(c.n, 0);
    coll_free(&c);
    /* any version */
    assert_int_equal(tn_store_note_delete(f->s, &alice, keep.id, 0), TN_OK);
    assert_int_equal(count_own(f->s, &alice), 0);
}

/* ---------- isolation ---------- */

static void expect_ids(const struct coll *c, const char *const *ids, size_t n)
{
    if (c->n != n)
        fail_msg("%zu notes, want %zu", c->n, n);
    for (size_t i = 0; i < n; i++)
        if (!coll_has(c, ids[i]))
            fail_msg("missing %s", ids[i]);
}

static void test_isolation(void **state)
{
    struct fx *f = *state;
    struct tn_note a1 = add(f->s, &alice, "a1", "common alpha", "[\"t\"]", "private");
    struct tn_note a2 = add(f->s, &alice, "a2", "common alpha shared", "[\"t\"]", "org");
    struct tn_note b1 = add(f->s, &bob, "b1", "common bravo", "[\"t\"]", "private");
    struct tn_note b2 = add(f->s, &bob, "b2", "common bravo shared", "[\"t\"]", "org");
    struct tn_note c1 = add(f->s, &carol, "c1", "common charlie", "[\"t\"]", "private");
    struct tn_note c2 = add(f->s, &carol, "c2", "common charlie shared", "[\"t\"]", "org");
    struct tn_note d1 = add(f->s, &dave, "d1", "common delta", "[\"t\"]", "private");

    /* get: own, or shared within the same organization */
    const struct {
        const struct tn_owner *o;
        const struct tn_note *n;
        enum tn_err want;
    } gets[] = {
        {&alice, &a1, TN_OK},           {&alice, &a2, TN_OK},
        {&alice, &b2, TN_OK},           {&alice, &b1, TN_ERR_NOT_FOUND},
        {&alice, &c1, TN_ERR_NOT_FOUND}, {&alice, &c2, TN_ERR_NOT_FOUND},
        {&alice, &d1, TN_ERR_NOT_FOUND}, {&bob, &a2, TN_OK},
        {&bob, &a1, TN_ERR_NOT_FOUND},  {&carol, &c2, TN_OK},
        {&carol, &a2, TN_ERR_NOT_FOUND}, {&carol, &b2, TN_ERR_NOT_FOUND},
        {&dave, &d1, TN_OK},            {&dave, &a2, TN_ERR_NOT_FOUND},
        {&dave, &c2, TN_ERR_NOT_FOUND},
        /* alice signed in to o2 is another owner: o2's shared notes, none of o1's */
        {&alice_o2, &a1, TN_ERR_NOT_FOUND}, {&alice_o2, &a2, TN_ERR_NOT_FOUND},
        {&alice_o2, &c2, TN_OK},        {&alice_o2, &c1, TN_ERR_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
        struct tn_note out;
        enum tn_err e = tn_store_note_get(f->s, gets[i].o, gets[i].n->id, &out);
        if (e != gets[i].want)
            fail_msg("get %zu (%s): %s, want %s", i, gets[i].n->title, tn_err_name(e),
                     tn_err_name(gets[i].want));
        if (e == TN_OK) {
            assert_string_equal(out.content, gets[i].n->content);
            /* own, or shared in the reader's organization */
            assert_true((strcmp(out.owner, gets[i].o->user) == 0 &&
                         strcmp(out.org, gets[i].o->org) == 0) ||
                        (strcmp(out.visibility, "org") == 0 &&
                         strcmp(out.org, gets[i].o->org) == 0 && out.org[0] != '\0'));
        }
        tn_note_deinit(&out);
    }

    /* update and delete of anything not one's own: not found, and nothing changed */
    const struct tn_note *others[] = {&b1, &b2, &c1, &c2, &d1};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct tn_note out;
        assert_int_equal(tn_store_note_update(f->s, &alice, others[i]->id, 1, "pwned", "pwned",
                                              "[]", "private", &out),
                         TN_ERR_NOT_FOUND);
        assert_null(out.content);
        assert_int_equal(tn_store_note_delete(f->s, &alice, others[i]->id, 0), TN_ERR_NOT_FOUND);
        assert_int_equal(tn_store_note_delete(f->s, &alice, others[i]->id, 1), TN_ERR_NOT_FOUND);
    }
    assert_int_equal(tn_store_note_update(f->s, &alice_o2, a1.id, 1, "x", NULL, NULL, NULL,
                                          NULL),
                     TN_ERR_NOT_FOUND);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "pwned", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    const struct tn_owner *owners[] = {&bob, &bob, &carol, &carol, &dave};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct tn_note out;
        assert_int_equal(tn_store_note_get(f->s, owners[i], others[i]->id, &out), TN_OK);
        assert_int_equal(out.version, 1);
        assert_string_equal(out.title, others[i]->title);
        tn_note_deinit(&out);
    }

    /* lists */
    page_all(f->s, &alice, false, NULL, 100, &c);
    expect_ids(&c, (const char *[]){a1.id, a2.id}, 2);
    coll_free(&c);
    page_all(f->s, &alice, true, NULL, 100, &c);
    expect_ids(&c, (const char *[]){a2.id, b2.id}, 2);
    coll_free(&c);
    page_all(f->s, &alice, false, "t", 1, &c);
    expect_ids(&c, (const char *[]){a1.id, a2.id}, 2);
    coll_free(&c);
    page_all(f->s, &carol, true, "t", 100, &c);
    expect_ids(&c, (const char *[]){c2.id}, 1);
    coll_free(&c);
    page_all(f->s, &dave, true, NULL, 100, &c);
    assert_int_equal(c.n, 0); /* no organization, no team */
    page_all(f->s, &alice_o2, false, NULL, 100, &c);
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice_o2, true, NULL, 100, &c);
    expect_ids(&c, (const char *[]){c2.id}, 1);
    coll_free(&c);

    /* a cursor naming someone else's note only positions alice's own list */
    struct tn_note_page p = {.limit = 100, .after_id = b1.id, .after_updated = INT64_MAX};
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect, &c), TN_OK);
    for (size_t i = 0; i < c.n; i++)
        assert_string_equal(c.v[i].owner, alice.user);
    coll_free(&c);

    /* search */
    assert_int_equal(tn_store_note_search(f->s, &alice, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){a1.id, a2.id, b2.id}, 3);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "bravo", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){b2.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "charlie", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(tn_store_note_search(f->s, &carol, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){c1.id, c2.id}, 2);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &dave, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){d1.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice_o2, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){c2.id}, 1);
    coll_free(&c);

    /* unsharing takes it out of the team's view at once */
    assert_int_equal(tn_store_note_update(f->s, &bob, b2.id, 1, NULL, NULL, NULL, "private",
                                          NULL),
                     TN_OK);
    struct tn_note out;
    assert_int_equal(tn_store_note_get(f->s, &alice, b2.id, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_search(f->s, &alice, "bravo", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice, true, NULL, 100, &c);
    expect_ids(&c, (const char *[]){a2.id}, 1);
    coll_free(&c);
}

/* ---------- concurrency ---------- */

enum { INSERTS = 50 }; /* THREADS as above */

struct worker {
    struct tn_store *s;
    pthread_barrier_t *go;
    int index;
    const char *id;
    enum tn_err result;
    int failures;
};

static void *insert_many(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->go);
    for (int i = 0; i < INSERTS; i++) {
        char content[64];
        snprintf(content, sizeof content, "writer%c note %d", 'a' + w->index, i);
        struct tn_note n = mk("t", content, "[\"bulk\"]", i % 2 ? "org" : "private");
        if (tn_store_note_insert(w->s, &alice, &n) != TN_OK)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_inserts(void **state)
{
    struct fx *f = *state;
    /* half the threads through a second handle: another pool, as another process */
    struct tn_store *other = open_url(f->url);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    pthread_t th[THREADS];
    struct worker ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct worker){.s = i % 2 ? other : f->s, .go = &go, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, insert_many, &ws[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ws[i].failures, 0);
    }
    pthread_barrier_destroy(&go);
    tn_store_close(other);

    struct coll c = {0};
    page_all(f->s, &alice, false, NULL, 100, &c);
    assert_int_equal(c.n, THREADS * INSERTS);
    for (size_t i = 1; i < c.n; i++) /* strictly ordered, so no id twice */
        assert_true(newer(&c.v[i - 1], &c.v[i]));
    coll_free(&c);
    page_all(f->s, &alice, false, "bulk", 37, &c);
    assert_int_equal(c.n, THREADS * INSERTS);
    coll_free(&c);
    page_all(f->s, &bob, true, NULL, 100, &c);
    assert_int_equal(c.n, THREADS * INSERTS / 2);
    coll_free(&c);
    /* every one is in the index: each thread's 50 notes match its number */
    for (int t = 0; t < THREADS; t++) {
        char q[32];
        snprintf(q, sizeof q, "writer%c", 'a' + t);
        assert_int_equal(tn_store_note_search(f->s, &alice, q, 100, collect, &c), TN_OK);
        assert_int_equal(c.n, INSERTS);
        coll_free(&c);
    }
    /* and durable */
    tn_store_close(f->s);
    f->s = open_url(f->url);
    assert_int_equal(count_own(f->s, &alice), THREADS * INSERTS);
}

static void *update_once(void *arg)
{
    struct worker *w = arg;
    char title[32];
    snprintf(title, sizeof title, "winner %d", w->index);
    pthread_barrier_wait(w->go);
    struct tn_note out;
    w->result = tn_store_note_update(w->s, &alice, w->id, 1, title, NULL, NULL, NULL, &out);
    if (w->result == TN_OK || w->result == TN_ERR_CONFLICT) {
        if (out.version != 2 || !out.content)
            w->failures++;
    }
    tn_note_deinit(&out);
    return NULL;
}

static void test_concurrent_update(void **state)
{
    struct fx *f = *state;
    struct tn_store *other = open_url(f->url);
    for (int round = 0; round < 5; round++) {
        struct tn_note n = add(f->s, &alice, "race", "contended", "[]", "private");
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, THREADS);
        pthread_t th[THREADS];
        struct worker ws[THREADS];
        for (int i = 0; i < THREADS; i++) {
            ws[i] = (struct worker){.s = i % 2 ? other : f->s, .go = &go, .index = i, .id = n.id};
            assert_int_equal(pthread_create(&th[i], NULL, update_once, &ws[i]), 0);
        }
        int ok = 0, conflict = 0, winner = -1;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(ws[i].failures, 0);
            if (ws[i].result == TN_OK) {
                ok++;
                winner = i;
            } else if (ws[i].result == TN_ERR_CONFLICT) {
                conflict++;
            } else {
                fail_msg("round %d, racer %d: %s", round, i, tn_err_name(ws[i].result));
            }
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(ok, 1);
        assert_int_equal(conflict, THREADS - 1);
        struct tn_note got;
        assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
        assert_int_equal(got.version, 2);
        char want[32];
        snprintf(want, sizeof want, "winner %d", winner);
        assert_string_equal(got.title, want);
        tn_note_deinit(&got);
    }
    tn_store_close(other);
}

/* ---------- pagination ---------- */

static int by_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_pagination(void **state)
{
    struct fx *f = *state;
    enum { N = 250 };
    static char ids[N][32];
    for (int i = 0; i < N; i++) {
        char content[32];
        snprintf(content, sizeof content, "note %d", i);
        struct tn_note n = add(f->s, &alice, "p", content, i % 3 ? "[\"odd\"]" : "[\"even\"]",
                               i % 5 ? "private" : "org");
        snprintf(ids[i], sizeof ids[i], "%s", n.id);
        /* bob's notes in between must never show up */
        if (i % 10 == 0)
            add(f->s, &bob, "b", "bob's", "[\"odd\"]", "private");
    }
    qsort(ids, N, sizeof ids[0], by_id);
    const unsigned limits[] = {1, 7, 100, 33};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        struct coll c = {0};
        page_all(f->s, &alice, false, NULL, limits[l], &c); /* order checked inside */
        assert_int_equal(c.n, N);
        char (*seen)[32] = calloc(N, sizeof *seen);
        assert_non_null(seen);
        for (size_t i = 0; i < c.n; i++)
            snprintf(seen[i], sizeof seen[i], "%s", c.v[i].id);
        qsort(seen, N, sizeof seen[0], by_id);
        for (int i = 0; i < N; i++)
            assert_string_equal(seen[i], ids[i]); /* each exactly once */
        free(seen);
        coll_free(&c);
    }
    /* tag filter across pages */
    struct coll c = {0};
    page_all(f->s, &alice, false, "even", 9, &c);
    assert_int_equal(c.n, (N + 2) / 3);
    coll_free(&c);
    page_all(f->s, &alice, false, "odd", 9, &c);
    assert_int_equal(c.n, N - (N + 2) / 3);
    coll_free(&c);
    /* the team list pages the same way */
    page_all(f->s, &bob, true, NULL, 11, &c);
    assert_int_equal(c.n, N / 5);
    coll_free(&c);
    /* an exact last page is followed by an empty one */
    page_all(f->s, &alice, false, NULL, 50, &c);
    assert_int_equal(c.n, N);
    struct tn_note_page p = {.limit = 50, .after_id = c.v[N - 1].id,
                             .after_updated = c.v[N - 1].updated_at};
    struct coll rest = {0};
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect, &rest), TN_OK);
    assert_int_equal(rest.n, 0);
    coll_free(&c);
}

/* ---------- tags ---------- */

static void test_tags(void **state)
{
    struct fx *f = *state;
    struct tn_note n1 = add(f->s, &alice, "1", "x", "[\"work\", \"urgent\"]", "private");
    struct tn_note n2 = add(f->s, &alice, "2", "x", "[\"work\"]", "org");
    struct tn_note n3 = add(f->s, &alice, "3", "x", "[\"home\",\"home\"]", "private");
    struct tn_note n4 = add(f->s, &alice, "4", "x",
                            "[\"caf\xc3\xa9\", \"a b\", \"\\u00e9t\\u00e9\"]", "private");
    add(f->s, &bob, "5", "x", "[\"work\"]", "private");
    struct tn_note n6 = add(f->s, &bob, "6", "x", "[\"work\"]", "org");
    add(f->s, &carol, "7", "x", "[\"work\"]", "org");
    struct coll c = {0};
    page_all(f->s, &alice, false, "work", 100, &c);
    expect_ids(&c, (const char *[]){n1.id, n2.id}, 2);
    coll_free(&c);
    page_all(f->s, &alice, false, "urgent", 100, &c);
    expect_ids(&c, (const char *[]){n1.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "home", 100, &c);
    expect_ids(&c, (const char *[]){n3.id}, 1);
    assert_string_equal(c.v[0].tags, "[\"home\",\"home\"]"); /* stored as given */
    coll_free(&c);
    page_all(f->s, &alice, false, "caf\xc3\xa9", 100, &c);
    expect_ids(&c, (const char *[]){n4.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "a b", 100, &c);
    expect_ids(&c, (const char *[]){n4.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "\xc3\xa9t\xc3\xa9", 100, &c); /* escapes decoded */
    expect_ids(&c, (const char *[]){n4.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "Work", 100, &c); /* exact match */
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice, false, "wor", 100, &c);
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice, true, "work", 100, &c);
    expect_ids(&c, (const char *[]){n2.id, n6.id}, 2);
    coll_free(&c);
    /* tags are searchable text too */
    assert_int_equal(tn_store_note_search(f->s, &alice, "urgent", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){n1.id}, 1);
    coll_free(&c);
}

/* ---------- search ---------- */

static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
                                : (*p & 0xf8) == 0xf0 ? 4 : 0;
        if (!len)
            return false;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

static void test_search(void **state)
{
    struct fx *f = *state;
    struct tn_note in_title = add(f->s, &alice, "Zebra crossing", "a note about roads", "[]",
                                  "private");
    struct tn_note in_body = add(f->s, &alice, "Animals",
                                 "long text about many things and then one zebra appears "
                                 "somewhere in the middle of it all",
                                 "[]", "private");
    add(f->s, &alice, "Other", "nothing relevant", "[]", "private");
    struct tn_note accent = add(f->s, &alice, "Caf\xc3\xa9", "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e",
                                "[]", "private");
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 2);
    /* best first: a title match outranks a passing mention */
    assert_string_equal(c.v[0].id, in_title.id);
    assert_string_equal(c.v[1].id, in_body.id);
    assert_true(c.v[0].rank > c.v[1].rank);
    assert_true(c.v[1].rank > 0);
    assert_non_null(strstr(c.v[1].snippet, "zebra"));
    assert_true(strlen(c.v[1].snippet) < strlen(in_body.content));
    coll_free(&c);
    /* case and diacritics do not matter; all words must match */
    assert_int_equal(tn_store_note_search(f->s, &alice, "ZEBRA Roads", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){in_title.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "creme brulee cafe", 100, collect, &c),
                     TN_OK);
    expect_ids(&c, (const char *[]){accent.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra unicorn", 100, collect, &c),
                     TN_OK);
    assert_int_equal(c.n, 0);
    /* limit */
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra", 1, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){in_title.id}, 1);
    coll_free(&c);
    /* punctuation-only words are skipped rather than failing the search */
    assert_int_equal(tn_store_note_search(f->s, &alice, "* zebra --", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 2);
    coll_free(&c);

    /* a snippet is cut to its field at a character boundary */
    char *big = repeat("\xc3\xa9", 400);
    char content[1024];
    snprintf(content, sizeof content, "needle %s", big);
    add(f->s, &alice, "long", content, "[]", "private");
    assert_int_equal(tn_store_note_search(f->s, &alice, "needle", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    assert_true(strlen(c.v[0].snippet) > 400 && strlen(c.v[0].snippet) < 512);
    assert_true(utf8_ok(c.v[0].snippet));
    coll_free(&c);
    free(big);
}

/* ---------- hostile input ---------- */

static void test_hostile(void **state)
{
    struct fx *f = *state;
    static const char sql[] = "'); DROP TABLE notes;--";
    static const char fts[] = "NEAR(a b) OR \"x` * AND";
    struct tn_note h1 = add(f->s, &alice, sql, sql, "[\"'); DROP TABLE notes;--\"]", "private");
    struct tn_note h2 = add(f->s, &alice, fts, fts, "[\"NEAR(a b)\", \"\\\"x`\"]", "org");
    struct tn_note h3 = add(f->s, &alice, "quotes", "it's \"quoted\" \\ back\\slash %s %n", "[]",
                            "private");
    /* every token of the FTS-syntax text, but not "near a" side by side */
    struct tn_note plain = add(f->s, &alice, "plain", "a near b or x and", "[]", "private");
    add(f->s, &bob, "bob", "x NEAR a", "[]", "private");

    /* stored verbatim */
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, h1.id, &got), TN_OK);
    assert_string_equal(got.title, sql);
    assert_string_equal(got.content, sql);
    assert_string_equal(got.tags, "[\"'); DROP TABLE notes;--\"]");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_get(f->s, &alice, h2.id, &got), TN_OK);
    assert_string_equal(got.content, fts);
    assert_string_equal(got.tags, "[\"NEAR(a b)\", \"\\\"x`\"]");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_get(f->s, &alice, h3.id, &got), TN_OK);
    assert_string_equal(got.content, "it's \"quoted\" \\ back\\slash %s %n");
    tn_note_deinit(&got);

    /* searchable as plain text, and nothing else matches by accident */
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, sql, 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){h1.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, fts, 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){h2.id}, 1); /* not `plain`: "near a" is a phrase */
    coll_free(&c);
    const char *const queries[] = {
        "\"", "x\" OR \"y", "title:zebra", "content : x", "a*", "^x", "NOT x", "x AND",
        "(((", "\"\"\"", "NEAR(", "{title content}: x", "- x", "x + y", "'", "%", "\\",
        "'); DROP TABLE notes_fts;--", "\x01 x",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        enum tn_err e = tn_store_note_search(f->s, &alice, queries[i], 100, collect, &c);
        if (e != TN_OK && e != TN_ERR_BAD_INPUT)
            fail_msg("query %zu (%s): %s", i, queries[i], tn_err_name(e));
        for (size_t j = 0; j < c.n; j++)
            assert_string_equal(c.v[j].owner, alice.user);
        coll_free(&c);
    }
    /* "title:zebra" is the phrase "title zebra", not zebra in the title column */
    struct tn_note col = add(f->s, &alice, "other", "title zebra", "[]", "private");
    assert_int_equal(tn_store_note_search(f->s, &alice, "title:zebra", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){col.id}, 1);
    coll_free(&c);
    /* a trailing * is not a prefix query */
    assert_int_equal(tn_store_note_search(f->s, &alice, "zeb*", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    /* the tag with SQL in it is a tag like any other */
    page_all(f->s, &alice, false, "'); DROP TABLE notes;--", 100, &c);
    expect_ids(&c, (const char *[]){h1.id}, 1);
    coll_free(&c);
    /* everything is still there */
    assert_int_equal(count_own(f->s, &alice), 5);
    assert_int_equal(tn_store_note_get(f->s, &alice, plain.id, &got), TN_OK);
    tn_note_deinit(&got);
    /* (no index to check: the search vector is a generated column of the row) */
}

/* ---------- audit ---------- */

struct audits {
    int n;
    struct tn_audit v[16];
};

static void see_audit(const struct tn_audit *a, void *ud)
{
    struct audits *w = ud;
    if (w->n < 16)
        w->v[w->n] = *a;
    w->n++;
}

static struct tn_audit audit(int64_t at, const char *tool, const char *note_id,
                             const char *outcome)
{
    struct tn_audit a = {.at = at};
    snprintf(a.user, sizeof a.user, "%s", alice.user);
    snprintf(a.org, sizeof a.org, "%s", alice.org);
    snprintf(a.client_id, sizeof a.client_id, "client-1");
    snprintf(a.tool, sizeof a.tool, "%s", tool);
    snprintf(a.note_id, sizeof a.note_id, "%s", note_id);
    snprintf(a.outcome, sizeof a.outcome, "%s", outcome);
    return a;
}

static void test_audit(void **state)
{
    struct fx *f = *state;
    static const char *const outcomes[] = {"ok", "denied", "not_found", "conflict", "invalid",
                                           "error"};
    for (int i = 0; i < 6; i++) {
        struct tn_audit a = audit(1000 + i, "notes_update", i ? "n_x" : "", outcomes[i]);
        assert_int_equal(tn_store_audit_insert(f->s, &a), TN_OK);
    }
    struct tn_audit same = audit(1005, "notes_delete", "n_y", "ok"); /* same instant */
    assert_int_equal(tn_store_audit_insert(f->s, &same), TN_OK);
    struct tn_audit old = audit(10, "notes_get", "", "ok"); /* written late, happened early */
    assert_int_equal(tn_store_audit_insert(f->s, &old), TN_OK);

    struct audits w = {0};
    assert_int_equal(tn_store_audit_list(f->s, 3, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.v[0].tool, "notes_delete"); /* newest first, later insert first */
    assert_int_equal(w.v[0].at, 1005);
    assert_string_equal(w.v[1].outcome, "error");
    assert_int_equal(w.v[2].at, 1004);
    assert_string_equal(w.v[0].user, alice.user);
    assert_string_equal(w.v[0].org, "o1");
    assert_string_equal(w.v[0].client_id, "client-1");
    assert_string_equal(w.v[0].note_id, "n_y");
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 8);
    assert_int_equal(w.v[7].at, 10);

    /* bad records */
    struct tn_audit bad[8];
    bad[0] = audit(0, "t", "", "ok");
    bad[1] = audit(1, "t", "", "maybe");
    bad[2] = audit(1, "", "", "ok");
    bad[3] = audit(1, "t", "", "");
    bad[4] = audit(1, "t", "", "ok");
    bad[4].user[0] = '\0';
    bad[5] = audit(1, "t", "", "ok");
    memset(bad[5].note_id, 'n', sizeof bad[5].note_id);
    bad[6] = audit(1, "t", "", "ok");
    memset(bad[6].client_id, 'c', sizeof bad[6].client_id);
    bad[7] = audit(-5, "t", "", "ok");
    for (int i = 0; i < 8; i++)
        if (tn_store_audit_insert(f->s, &bad[i]) != TN_ERR_BAD_INPUT)
            fail_msg("bad audit record %d accepted", i);
    assert_int_equal(tn_store_audit_insert(f->s, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_insert(NULL, &old), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_list(f->s, 0, see_audit, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_list(f->s, 1001, see_audit, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_list(f->s, 10, NULL, NULL), TN_ERR_BAD_INPUT);
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 8);

    /* append-only below the API too, even for the store's own role, and no column could
     * hold note text */
    PGconn *c = conn_to(f->url);
    static const char *const writes[] = {"UPDATE audit SET outcome = 'ok'", "DELETE FROM audit",
                                         "TRUNCATE audit"};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        PGresult *r = PQexec(c, writes[i]);
        if (PQresultStatus(r) != PGRES_FATAL_ERROR ||
            !strstr(PQresultErrorMessage(r), "append-only"))
            fail_msg("allowed: %s", writes[i]);
        PQclear(r);
    }
    char cols[256];
    value_of(c, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                "information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'audit'",
             cols, sizeof cols);
    assert_string_equal(cols, "seq,at,user_key,org,client_id,tool,note_id,outcome");
    PQfinish(c);
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 8);
}

/* Below the API: a note cannot change owner or id even by direct SQL, even when the
 * row-level security policies let the statement see it (the owner's own session). */
static void test_schema_guards(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "t", "c", "[]", "private");
    PGconn *c = conn_to(f->url);
    const char *const stmts[] = {
        "UPDATE notes SET owner = 'x'",
        "UPDATE notes SET org = 'o2'",
        "UPDATE notes SET id = 'n_other'",
        "UPDATE notes SET visibility = 'public'",
        "UPDATE notes SET content = ''",
        "UPDATE notes SET version = 0",
        "UPDATE notes SET created_at = 0",
        "UPDATE notes SET tags = '{}'",
    };
    char v[64];
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        as_user(c, alice.user, alice.org, stmts[i], v, sizeof v);
        if (strncmp(v, "error ", 6) != 0)
            fail_msg("allowed: %s (%s rows)", stmts[i], v);
    }
    /* and the policies did let alice's session reach her note: a harmless update works */
    as_user(c, alice.user, alice.org, "UPDATE notes SET title = 'ok'", v, sizeof v);
    assert_string_equal(v, "1");
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.owner, alice.user);
    assert_string_equal(got.title, "t"); /* as_user rolled back */
    tn_note_deinit(&got);
    /* and dave's (no org) note cannot be shared by direct SQL */
    struct tn_note d = add(f->s, &dave, "t", "c", "[]", "private");
    as_user(c, dave.user, dave.org, "UPDATE notes SET visibility = 'org' WHERE org = ''", v,
            sizeof v);
    assert_string_equal(v, "error 23514");
    PQfinish(c);
    assert_int_equal(tn_store_note_get(f->s, &dave, d.id, &got), TN_OK);
    assert_string_equal(got.visibility, "private");
    tn_note_deinit(&got);
}

/* A database left by the previous release (schema 1) gains the notes on open and keeps
 * what it had. */
static void test_upgrade_from_v1(void **state)
{
    struct fx *f = *state;
    char schema[80], url[1100], path[512];
    snprintf(schema, sizeof schema, "%s_v1", f->schema);
    schema_create(schema);
    url_for(schema, url, sizeof url);
    source_path("src/store/migrations/postgres/0001_auth.sql", path, sizeof path);
    char *sql = slurp(path);
    if (!sql)
        fail_msg("cannot read %s (set TN_SOURCE_ROOT)", path);
    PGconn *c = conn_to(url);
    exec_ok(c, sql);
    exec_ok(c, "CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL, "
               "applied_at bigint NOT NULL);"
               "INSERT INTO schema_version VALUES (1, '0001_auth', 0);"
               "INSERT INTO orgs VALUES ('o1', 'Acme', 1);");
    PQfinish(c);
    free(sql);

    struct tn_store *s = open_url(url);
    assert_int_equal(tn_store_schema_version(s), 3);
    struct tn_org org;
    assert_int_equal(tn_store_org_get(s, "o1", &org), TN_OK);
    assert_string_equal(org.name, "Acme");
    struct tn_note n = add(s, &alice, "t", "upgraded fine", "[\"x\"]", "org");
    struct coll cl = {0};
    assert_int_equal(tn_store_note_search(s, &bob, "upgraded", 10, collect, &cl), TN_OK);
    expect_ids(&cl, (const char *[]){n.id}, 1);
    coll_free(&cl);
    tn_store_close(s);
    schema_drop(schema);
}

/* ---------- randomized, against a model ---------- */

enum { USERS = 6, OPS = 2000, MODEL_MAX = OPS, VOCAB = 10 };

static const char *const vocab[VOCAB] = {"alpha", "bravo", "charlie", "delta", "echo",
                                         "foxtrot", "golf", "hotel", "india", "juliet"};
static const char *const colors[3] = {"red", "green", "blue"};

struct mnote {
    char id[32];
    int owner;
    bool shared, live;
    int64_t version;
    char content[64];
    int words[3];
    int tags; /* bit i: colors[i] */
};

struct model {
    struct mnote v[MODEL_MAX];
    int n;
    char users[USERS][32];
    struct tn_owner owners[USERS];
    uint64_t rng;
};

static uint64_t rnd(struct model *m)
{
    /* splitmix64 */
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int pick(struct model *m, int n)
{
    return (int)(rnd(m) % (uint64_t)n);
}

static const char *org_of(int u)
{
    return u < USERS / 2 ? "o1" : "o2";
}

static bool visible(const struct model *m, int u, const struct mnote *n)
{
    return n->live && (n->owner == u || (n->shared && strcmp(org_of(n->owner), org_of(u)) == 0));
}

static bool has_word(const struct mnote *n, int w)
{
    return n->words[0] == w || n->words[1] == w || n->words[2] == w;
}

static void make_text(struct model *m, struct mnote *n, char tags[64])
{
    for (int i = 0; i < 3; i++)
        n->words[i] = pick(m, VOCAB);
    snprintf(n->content, sizeof n->content, "%s %s %s", vocab[n->words[0]], vocab[n->words[1]],
             vocab[n->words[2]]);
    n->tags = pick(m, 8);
    size_t used = snprintf(tags, 64, "[");
    for (int i = 0; i < 3; i++)
        if (n->tags & (1 << i))
            used += snprintf(tags + used, 64 - used, "%s\"%s\"", used > 1 ? "," : "", colors[i]);
    snprintf(tags + used, 64 - used, "]");
}

static const struct mnote *find(const struct model *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->v[i].id, id) == 0)
            return &m->v[i];
    return NULL;
}

/* A note to act on: mostly one of u's own live notes, sometimes any note ever made
 * (someone else's, or deleted). NULL when there is none yet. */
static struct mnote *target(struct model *m, int u)
{
    if (m->n == 0)
        return NULL;
    if (pick(m, 10) < 7) {
        int own[MODEL_MAX], k = 0;
        for (int i = 0; i < m->n; i++)
            if (m->v[i].live && m->v[i].owner == u)
                own[k++] = i;
        if (k)
            return &m->v[own[pick(m, k)]];
    }
    return &m->v[pick(m, m->n)];
}

/* The store's view of every user matches the model: own lists, team lists, and each
 * note seen is the reader's own or shared in the reader's organization. */
static void check_views(struct tn_store *s, struct model *m, int op)
{
    static const unsigned limits[] = {1, 3, 10, 100};
    for (int u = 0; u < USERS; u++) {
        const struct tn_owner *o = &m->owners[u];
        for (int team = 0; team < 2; team++) {
            struct coll c = {0};
            int tag = pick(m, 4); /* 3: no filter */
            page_all(s, o, team, tag < 3 ? colors[tag] : NULL, limits[pick(m, 4)], &c);
            int want = 0;
            for (int i = 0; i < m->n; i++) {
                const struct mnote *n = &m->v[i];
                bool in = team ? (visible(m, u, n) && n->shared) : (n->live && n->owner == u);
                if (in && tag < 3 && !(n->tags & (1 << tag)))
                    in = false;
                want += in;
            }
            if ((int)c.n != want)
                fail_msg("op %d user %d %s: %zu notes, model has %d", op, u,
                         team ? "team" : "own", c.n, want);
            for (size_t i = 0; i < c.n; i++) {
                const struct item *it = &c.v[i];
                bool own = strcmp(it->owner, o->user) == 0 && strcmp(it->org, o->org) == 0;
                bool shared = strcmp(it->visibility, "org") == 0 && strcmp(it->org, o->org) == 0;
                assert_true(team ? shared : own);
                const struct mnote *n = find(m, it->id);
                if (!n || !visible(m, u, n))
                    fail_msg("op %d user %d sees %s, which the model does not", op, u, it->id);
                assert_int_equal(it->version, n->version);
            }
            coll_free(&c);
        }
    }
}

static void test_randomized(void **state)
{
    struct fx *f = *state;
    struct model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    const char *seed = getenv("TN_TEST_SEED");
    m->rng = seed ? strtoull(seed, NULL, 10) : 20240611;
    print_message("# randomized: seed %llu (set TN_TEST_SEED to replay)\n",
                  (unsigned long long)m->rng);
    for (int u = 0; u < USERS; u++) {
        snprintf(m->users[u], sizeof m->users[u], "https://issuer.example|u%d", u);
        m->owners[u] = (struct tn_owner){m->users[u], org_of(u)};
    }
    int counts[6] = {0};
    for (int op = 0; op < OPS; op++) {
        int u = pick(m, USERS), kind = pick(m, 100);
        const struct tn_owner *o = &m->owners[u];
        char tags[64];
        if (kind < 30 || m->n == 0) { /* insert */
            struct mnote *n = &m->v[m->n];
            make_text(m, n, tags);
            n->owner = u;
            n->shared = pick(m, 2);
            n->live = true;
            n->version = 1;
            struct tn_note t = mk("note", n->content, tags, n->shared ? "org" : "private");
            assert_int_equal(tn_store_note_insert(f->s, o, &t), TN_OK);
            snprintf(n->id, sizeof n->id, "%s", t.id);
            m->n++;
            counts[0]++;
        } else if (kind < 55) { /* update, sometimes stale, sometimes not o's */
            struct mnote *n = target(m, u);
            int64_t expected = n->version + (pick(m, 4) == 0 ? (pick(m, 2) ? 1 : -1) : 0);
            if (expected < 1)
                expected = 2;
            struct mnote next = *n;
            make_text(m, &next, tags);
            bool share = pick(m, 2);
            struct tn_note out;
            enum tn_err e = tn_store_note_update(f->s, o, n->id, expected, NULL, next.content,
                                                 tags, share ? "org" : "private", &out);
            enum tn_err want = !(n->live && n->owner == u) ? TN_ERR_NOT_FOUND
                               : expected != n->version    ? TN_ERR_CONFLICT
                                                           : TN_OK;
            if (e != want)
                fail_msg("op %d update: %s, want %s", op, tn_err_name(e), tn_err_name(want));
            if (e == TN_OK) {
                n->version++;
                memcpy(n->content, next.content, sizeof n->content);
                memcpy(n->words, next.words, sizeof n->words);
                n->tags = next.tags;
                n->shared = share;
            }
            if (e == TN_OK || e == TN_ERR_CONFLICT) {
                assert_int_equal(out.version, n->version);
                assert_string_equal(out.content, n->content);
            } else {
                assert_null(out.content);
            }
            tn_note_deinit(&out);
            counts[1]++;
        } else if (kind < 75) { /* delete */
            struct mnote *n = target(m, u);
            int64_t expected = pick(m, 3) == 0 ? 0 : n->version + (pick(m, 4) == 0);
            enum tn_err e = tn_store_note_delete(f->s, o, n->id, expected);
            enum tn_err want = !(n->live && n->owner == u)             ? TN_ERR_NOT_FOUND
                               : expected && expected != n->version ? TN_ERR_CONFLICT
                                                                       : TN_OK;
            if (e != want)
                fail_msg("op %d delete: %s, want %s", op, tn_err_name(e), tn_err_name(want));
            if (e == TN_OK)
                n->live = false;
            counts[2]++;
        } else if (kind < 90) { /* get, of anything */
            struct mnote *n = &m->v[pick(m, m->n)];
            struct tn_note out;
            enum tn_err e = tn_store_note_get(f->s, o, n->id, &out);
            enum tn_err want = visible(m, u, n) ? TN_OK : TN_ERR_NOT_FOUND;
            if (e != want)
                fail_msg("op %d get: %s, want %s", op, tn_err_name(e), tn_err_name(want));
            if (e == TN_OK) {
                assert_string_equal(out.content, n->content);
                assert_int_equal(out.version, n->version);
                assert_string_equal(out.owner, m->users[n->owner]);
            }
            tn_note_deinit(&out);
            counts[3]++;
        } else { /* search one word */
            int w = pick(m, VOCAB);
            struct coll c = {0};
            assert_int_equal(tn_store_note_search(f->s, o, vocab[w], 100, collect, &c), TN_OK);
            int want = 0;
            for (int i = 0; i < m->n; i++)
                want += visible(m, u, &m->v[i]) && has_word(&m->v[i], w);
            assert_true(want <= 100);
            if ((int)c.n != want)
                fail_msg("op %d search %s: %zu, want %d", op, vocab[w], c.n, want);
            for (size_t i = 0; i < c.n; i++) {
                const struct mnote *n = find(m, c.v[i].id);
                assert_non_null(n);
                assert_true(visible(m, u, n) && has_word(n, w));
                assert_non_null(strstr(c.v[i].snippet, vocab[w]));
            }
            coll_free(&c);
            counts[4]++;
        }
        check_views(f->s, m, op);
    }
    print_message("# randomized: %d inserts, %d updates, %d deletes, %d gets, %d searches\n",
                  counts[0], counts[1], counts[2], counts[3], counts[4]);
    free(m);
}

/* ---------- PostgreSQL only: tsquery syntax is inert ---------- */

/* Each of these would change the result if the engine saw it as tsquery syntax (|, !,
 * :*, <->, &): it must not. */
static void test_search_operators_inert(void **state)
{
    struct fx *f = *state;
    struct tn_note n1 = add(f->s, &alice, "Quarterly budget",
                            "The budget for Q3 was approved by the board.", "[\"finance\"]",
                            "private");
    struct tn_note n2 = add(f->s, &alice, "Lunch", "We talked about the budget over lunch.",
                            "[]", "private");
    add(f->s, &alice, "Garden", "Tomatoes and basil", "[]", "private");
    static const struct {
        const char *q;
        int want; /* 0: none, 1: n1, 3: n1 and n2 */
    } cases[] = {
        {"budget | tomatoes", 0}, /* not OR */
        {"!budget", 3},           /* not NOT */
        {"budget & !board", 1},   /* "budget" and "board" */
        {"budg:*", 0},            /* not a prefix */
        {"budget:*", 3},
        {"budget:A", 0},          /* "budget a": no weight restriction */
        {"(budget <-> board)", 1},
        {"budget<->board", 0},    /* one word: the phrase "budget board" */
        {"'budget' 'board'", 1},
        {"\\budget", 3},
        {"budget) | (1=1", 0},
        {"' OR ''='", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct coll c = {0};
        enum tn_err e = tn_store_note_search(f->s, &alice, cases[i].q, 100, collect, &c);
        if (e != TN_OK)
            fail_msg("search %zu (%s): %s", i, cases[i].q, tn_err_name(e));
        size_t want = cases[i].want == 3 ? 2 : (size_t)cases[i].want;
        if (c.n != want)
            fail_msg("search %zu (%s): %zu hits, want %zu", i, cases[i].q, c.n, want);
        if (cases[i].want >= 1)
            assert_true(coll_has(&c, n1.id));
        if (cases[i].want == 3)
            assert_true(coll_has(&c, n2.id));
        coll_free(&c);
    }
}

/* ---------- PostgreSQL only: two instances on one database ---------- */

/* Whatever one instance writes, the other reads; single use holds across them. */
static void test_two_instances(void **state)
{
    struct fx *f = *state;
    struct tn_store *a = f->s, *b = open_url(f->url);
    base_grant(a);
    struct tn_user u;
    assert_int_equal(tn_store_user_get(b, "u1", &u), TN_OK);
    u.disabled = true;
    u.tokens_valid_after = 4242;
    assert_int_equal(tn_store_user_update(b, &u), TN_OK);
    assert_int_equal(tn_store_user_get(a, "u1", &u), TN_OK);
    assert_true(u.disabled);
    assert_int_equal(u.tokens_valid_after, 4242);

    struct tn_code c = code(1, "c1", "u1", "fam");
    struct tn_code out;
    assert_int_equal(tn_store_code_insert(a, &c), TN_OK);
    assert_int_equal(tn_store_code_take(b, c.hash, &out), TN_OK);
    assert_int_equal(tn_store_code_take(a, c.hash, &out), TN_ERR_CONFLICT);

    add_refresh(b, 1, "fam", "c1", "u1");
    assert_int_equal(tn_store_family_revoke(a, "fam"), TN_OK);
    assert_true(refresh_revoked(b, 1));

    struct tn_signing_key k = {.kid = "k1", .alg = "ES256", .pem = "PEM", .created_at = 1};
    assert_int_equal(tn_store_key_insert(b, &k), TN_OK);
    struct seen kids = {0};
    assert_int_equal(tn_store_key_list(a, see_key, &kids), TN_OK);
    assert_string_equal(kids.s, "k1;");

    struct tn_note n = add(a, &alice, "shared", "across instances", "[]", "org");
    struct tn_note got;
    assert_int_equal(tn_store_note_get(b, &bob, n.id, &got), TN_OK);
    assert_string_equal(got.content, "across instances");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_update(b, &alice, n.id, 1, "v2", NULL, NULL, NULL, NULL), TN_OK);
    assert_int_equal(tn_store_note_update(a, &alice, n.id, 1, "stale", NULL, NULL, NULL, &got),
                     TN_ERR_CONFLICT);
    assert_string_equal(got.title, "v2");
    tn_note_deinit(&got);
    struct audits w = {0};
    struct tn_audit rec = audit(5, "notes_get", n.id, "ok");
    assert_int_equal(tn_store_audit_insert(b, &rec), TN_OK);
    assert_int_equal(tn_store_audit_list(a, 10, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 1);
    tn_store_close(b);
}

/* ---------- PostgreSQL only: row-level security under the application ---------- */

/* A raw connection as the store's own role (the table's owner), with no owner
 * predicate in any statement: the policies alone decide what it sees and changes. */
static void test_rls_enforced(void **state)
{
    struct fx *f = *state;
    add(f->s, &alice, "a1", "alice private", "[]", "private");
    add(f->s, &alice, "a2", "alice private 2", "[]", "private");
    add(f->s, &alice, "a3", "alice shared", "[]", "org");
    add(f->s, &alice_o2, "a4", "alice in o2", "[]", "private");
    add(f->s, &bob, "b1", "bob private", "[]", "private");
    add(f->s, &bob, "b2", "bob shared", "[]", "org");
    add(f->s, &carol, "c1", "carol shared", "[]", "org");

    PGconn *c = conn_to(f->url);
    char v[128];
    value_of(c, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", v,
             sizeof v);
    if (strcmp(v, "f") != 0)
        fail_msg("DATABASE_URL connects as a superuser or BYPASSRLS role, which row-level "
                 "security does not bind; use an ordinary role (scripts/pg-test-server)");
    value_of(c, "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'notes' "
                "AND schemaname = current_schema()",
             v, sizeof v);
    assert_string_equal(v, "t"); /* the owner: FORCE is what binds it */

    /* no caller set: nothing at all */
    value_of(c, "SELECT count(*) FROM notes", v, sizeof v);
    assert_string_equal(v, "0");

    const char *B = bob.user, *M = "https://issuer.example|mallory";
    const struct {
        const char *user, *org, *sql, *want;
    } cases[] = {
        /* reading: own notes plus the organization's shared ones */
        {B, "o1", "SELECT count(*) FROM notes", "3"},
        {B, "o1", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "a3,b1,b2"},
        {alice.user, "o1", "SELECT string_agg(title, ',' ORDER BY title) FROM notes",
         "a1,a2,a3,b2"},
        {alice.user, "o2", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "a4,c1"},
        {carol.user, "o2", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "c1"},
        {M, "o1", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "a3,b2"},
        {M, "", "SELECT count(*) FROM notes", "0"},
        {"", "", "SELECT count(*) FROM notes", "0"},
        {B, "o1", "SELECT count(*) FROM notes WHERE visibility = 'private' AND title LIKE 'a%'",
         "0"},
        /* writing without a WHERE clause touches only bob's own rows */
        {B, "o1", "UPDATE notes SET title = 'pwned'", "2"},
        {B, "o1", "DELETE FROM notes", "2"},
        {B, "o1", "UPDATE notes SET title = 'x' WHERE title = 'a3'", "0"},
        {B, "o1", "DELETE FROM notes WHERE title LIKE 'a%'", "0"},
        {B, "o1", "UPDATE notes SET visibility = 'private' WHERE title = 'a3'", "0"},
        {alice.user, "o2", "DELETE FROM notes", "1"}, /* a4 only, not her o1 notes */
        /* rows for someone else cannot be created */
        {B, "o1",
         "INSERT INTO notes (id, owner, org, title, content, tags, visibility, version, "
         "created_at, updated_at) VALUES ('n_forged', 'https://issuer.example|alice', 'o1', "
         "'f', 'f', '[]', 'private', 1, 1, 1)",
         "error 42501"},
        {B, "o1",
         "INSERT INTO notes (id, owner, org, title, content, tags, visibility, version, "
         "created_at, updated_at) VALUES ('n_forged', 'https://issuer.example|bob', 'o2', "
         "'f', 'f', '[]', 'org', 1, 1, 1)",
         "error 42501"},
        {B, "o1",
         "INSERT INTO notes (id, owner, org, title, content, tags, visibility, version, "
         "created_at, updated_at) VALUES ('n_mine', 'https://issuer.example|bob', 'o1', "
         "'f', 'f', '[]', 'private', 1, 1, 1)",
         "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        as_user(c, cases[i].user, cases[i].org, cases[i].sql, v, sizeof v);
        if (strcmp(v, cases[i].want) != 0)
            fail_msg("case %zu (%s as %s in %s): got %s, want %s", i, cases[i].sql,
                     cases[i].user, cases[i].org, v, cases[i].want);
    }
    /* moving one's own note to someone else: refused (by the trigger or the policy) */
    as_user(c, B, "o1",
            "UPDATE notes SET owner = 'https://issuer.example|alice' WHERE title = 'b1'", v,
            sizeof v);
    assert_true(strcmp(v, "error 42501") == 0 || strcmp(v, "error 23514") == 0);

    /* the settings end with their transaction (SET LOCAL), on the same connection */
    exec_ok(c, "BEGIN");
    exec_ok(c, "SELECT set_config('teamnotes.user', 'https://issuer.example|bob', true), "
               "set_config('teamnotes.org', 'o1', true)");
    value_of(c, "SELECT count(*) FROM notes", v, sizeof v);
    assert_string_equal(v, "3");
    exec_ok(c, "COMMIT");
    value_of(c, "SELECT count(*) FROM notes", v, sizeof v);
    assert_string_equal(v, "0");
    PQfinish(c);

    /* nothing above changed anything (each case ran in a rolled-back transaction) */
    struct coll l = {0};
    page_all(f->s, &bob, false, NULL, 100, &l);
    assert_int_equal(l.n, 2);
    coll_free(&l);
    /* the store's pooled connections carry no caller from one call to the next */
    page_all(f->s, &dave, false, NULL, 100, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(tn_store_note_search(f->s, &dave, "shared", 100, collect, &l), TN_OK);
    assert_int_equal(l.n, 0);
}

/* ---------- PostgreSQL only: the database restarts under running instances ---------- */

/* The directory scripts/pg-test-server made: TN_PG_DIR, or the parent of the server's
 * data directory. */
static void server_dir(char *out, size_t cap)
{
    const char *env = getenv("TN_PG_DIR");
    if (env && env[0]) {
        snprintf(out, cap, "%s", env);
        return;
    }
    PGresult *r = admin_q("SELECT current_setting('data_directory')", 0, NULL);
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char *slash = strrchr(out, '/');
    if (!slash || strcmp(slash, "/data") != 0)
        fail_msg("cannot tell how to restart the server (data directory %s); set TN_PG_DIR to "
                 "the directory scripts/pg-test-server printed",
                 out);
    *slash = '\0';
}

static void start_time(char *out, size_t cap)
{
    PGresult *r = admin_q("SELECT pg_postmaster_start_time()::text", 0, NULL);
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void restart_server(void)
{
    char dir[512], script[600], cmd[1400], before[64], after[64];
    server_dir(dir, sizeof dir);
    source_path("scripts/pg-test-server", script, sizeof script);
    start_time(before, sizeof before);
    snprintf(cmd, sizeof cmd, "'%s' restart '%s'", script, dir);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
    start_time(after, sizeof after);
    assert_string_not_equal(before, after); /* it really restarted */
}

/* Threads other than the test's own must not assert (cmocka longjmps); they count. */
struct caller {
    struct tn_store *s;
    int index;
    int calls, ok;
    enum tn_err first_error;
};

/* A mix of reads and writes, notes and the rest: every kind of call. */
static void *call_everything(void *arg)
{
    struct caller *w = arg;
    for (int i = 0; i < 5; i++) {
        enum tn_err e[6];
        struct tn_note n = mk("t", "after restart", "[\"r\"]", "org"), got;
        struct tn_user u;
        int seen = 0;
        struct tn_note_page p = {.after_id = "", .limit = 10};
        e[0] = tn_store_note_insert(w->s, &alice, &n);
        e[1] = tn_store_note_get(w->s, &bob, n.id, &got);
        tn_note_deinit(&got);
        e[2] = tn_store_note_list_team(w->s, &bob, &p, noop_cb, &seen);
        e[3] = tn_store_note_search(w->s, &alice, "restart", 5, noop_cb, &seen);
        e[4] = tn_store_user_get(w->s, "u1", &u);
        e[5] = tn_store_client_touch(w->s, "c1", 100 + w->index);
        for (int j = 0; j < 6; j++) {
            w->calls++;
            if (e[j] == TN_OK)
                w->ok++;
            else if (w->first_error == TN_OK)
                w->first_error = e[j];
        }
    }
    return NULL;
}

/* THREADS callers, half on each instance; every call must succeed. */
static void call_from_threads(struct tn_store *a, struct tn_store *b, const char *when)
{
    pthread_t th[THREADS];
    struct caller ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct caller){.s = i % 2 ? b : a, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, call_everything, &ws[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        if (ws[i].ok != ws[i].calls)
            fail_msg("%s: caller %d: %d of %d calls failed, the first with %s", when, i,
                     ws[i].calls - ws[i].ok, ws[i].calls, tn_err_name(ws[i].first_error));
}

static void test_restart(void **state)
{
    struct fx *f = *state;
    struct tn_store *other = open_url(f->url);
    base_grant(f->s);
    /* fill both pools with connections */
    call_from_threads(f->s, other, "before the restart");

    restart_server();

    /* every pooled connection is now dead; each call finds out, reconnects and succeeds:
     * single calls first, of each kind, then everything at once */
    struct tn_user u;
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(tn_store_client_touch(other, "c1", 7), TN_OK);
    struct tn_note n = add(f->s, &alice, "first", "the first write after the restart", "[]",
                           "private");
    struct tn_note got;
    assert_int_equal(tn_store_note_get(other, &alice, n.id, &got), TN_OK);
    tn_note_deinit(&got);
    call_from_threads(f->s, other, "after the restart");

    /* and again */
    restart_server();
    call_from_threads(f->s, other, "after the second restart");

    /* nothing lost or doubled: 3 rounds of THREADS x 5 notes, plus "first" */
    struct coll c = {0};
    page_all(f->s, &alice, false, NULL, 100, &c);
    assert_int_equal(c.n, 3 * THREADS * 5 + 1);
    coll_free(&c);
    tn_store_close(other);
}

int main(void)
{
    base_url = getenv("DATABASE_URL");
    if (!base_url || !base_url[0]) {
        printf("# test_pg_store: DATABASE_URL is not set, so the PostgreSQL store tests are "
               "skipped; start a server with scripts/pg-test-server and export what it "
               "prints\n");
        return 0;
    }
    if (tn_util_init() != TN_OK)
        return 1;
    admin = PQconnectdb(base_url);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "test_pg_store: cannot connect to DATABASE_URL: %s", PQerrorMessage(admin));
        PQfinish(admin);
        return 1;
    }
    PQsetNoticeProcessor(admin, quiet_notices, NULL); /* no NOTICE per DROP ... CASCADE */
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_open_layout),
        T(test_open_errors),
        T(test_reopen_keeps_data),
        T(test_newer_schema_refused),
        T(test_rls_off_refused),
        T(test_migration_file_matches),
        T(test_migrations_raced),
        T(test_orgs),
        T(test_users),
        T(test_bad_input),
        T(test_clients),
        T(test_client_delete_cascades),
        T(test_client_delete_unused),
        T(test_consents),
        T(test_codes),
        T(test_refresh_rotate),
        T(test_refresh_not_current),
        T(test_family_revoke),
        T(test_user_revoke_all),
        T(test_keys),
        T(test_list_reentrant),
        T(test_concurrent_code_take),
        T(test_concurrent_refresh_rotate),
        /* the notes tests of test_notes_store.c */
        T(test_insert_get),
        T(test_insert_validation),
        T(test_argument_errors),
        T(test_update),
        T(test_delete),
        T(test_isolation),
        T(test_concurrent_inserts),
        T(test_concurrent_update),
        T(test_pagination),
        T(test_tags),
        T(test_search),
        T(test_hostile),
        T(test_audit),
        T(test_schema_guards),
        T(test_upgrade_from_v1),
        T(test_randomized),
        /* PostgreSQL only */
        T(test_search_operators_inert),
        T(test_two_instances),
        T(test_rls_enforced),
        T(test_restart),
#undef T
    };
    tn_log_setup(TN_LOG_WARN, false); /* no "migration applied" line per test */
    int rc = cmocka_run_group_tests_name("pg_store", tests, NULL, NULL);
    PQfinish(admin);
    return rc;
}
