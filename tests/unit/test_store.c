/* The store on either backend (PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite):
 * every function, its error codes, durability across reopen, migrations, and the
 * single-use guarantees under concurrency. Each test gets a fresh temporary data
 * directory, or on PostgreSQL a fresh schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/migrations.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_store_XXXXXX"
#include "store_fixture.h"

/* The migrations of src/store/migrations/sqlite/, in order; the latest is the schema
 * version a new store reaches. */
static const char *const migration_files[] = {
    "0001_auth",        "0002_notes",       "0003_search_scope", "0004_list_covering",
    "0005_list_text",   "0006_email_codes", "0007_identities",   "0008_grant_revocations",
    "0009_invitations", "0010_org_sso",     "0011_admin",        "0012_audit_indexes"};
#define LATEST ((int)(sizeof migration_files / sizeof migration_files[0]))

/* The schema version a new store reaches: SQLite's from the list above, PostgreSQL's from
 * its migration files (test_pg_store.c checks their names). */
static int latest(void) { return on_pg() ? tn_store_postgres_migrations_count : LATEST; }

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
    /* the backends differ in name and in how many migrations they have (test_pg_store.c
     * checks the PostgreSQL layout) */
    assert_string_equal(tn_store_backend(f->s), on_pg() ? "postgres" : "sqlite");
    assert_int_equal(tn_store_schema_version(f->s), latest());
    if (on_pg())
        skip(); /* the rest is SQLite's files: modes, WAL */

    /* a nested directory that does not exist yet is created 0700, the file 0600 */
    char nested[160], file[200];
    snprintf(nested, sizeof nested, "%s/x/y", f->dir);
    struct tn_store *s = open_at(nested);
    add_org(s, "o1", "Org", 1); /* makes SQLite create the -wal file */
    struct stat sb;
    assert_int_equal(stat(nested, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    snprintf(file, sizeof file, "%s/teamnotes.db", nested);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(file, sizeof file, "%s/teamnotes.db-wal", nested);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    tn_store_close(s);

    /* the file is in WAL mode */
    snprintf(file, sizeof file, "%s/teamnotes.db", f->data);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    if (on_pg())
        skip(); /* data-directory errors; test_pg_store.c has PostgreSQL's URL errors */
    char file[160];
    snprintf(file, sizeof file, "%s/plain", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    static const struct {
        const char *url;
        int dir; /* 0: the fixture's data dir, 1: NULL, 2: a regular file */
        enum tn_err want;
        const char *msg;
    } cases[] = {
        /* PostgreSQL URLs go to that backend (test_pg_store.c); nothing listens on port 1 */
        {"postgres://tn:hunter2@127.0.0.1:1/tn", 0, TN_ERR_IO, "cannot connect to PostgreSQL"},
        {"postgresql://tn:hunter2@db/tn?hunter2=1", 0, TN_ERR_CONFIG,
         "not a valid PostgreSQL connection URL"},
        {"PostgreSQL://tn:hunter2@127.0.0.1:1/tn", 0, TN_ERR_IO, "cannot connect to PostgreSQL"},
        {"mysql://tn:hunter2@db/tn", 0, TN_ERR_CONFIG, "DATABASE_URL must start with"},
        {"postgres:/db", 0, TN_ERR_CONFIG, "DATABASE_URL must start with"},
        {NULL, 1, TN_ERR_CONFIG, "the data directory is not set"},
        {"", 2, TN_ERR_IO, "cannot create the data directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sentinel;
        struct tn_store *s = (struct tn_store *)&sentinel; /* must be reset to NULL */
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        const char *dir = cases[i].dir == 0 ? f->data : cases[i].dir == 1 ? NULL : file;
        assert_int_equal(tn_store_open(dir, cases[i].url, &s, &err), cases[i].want);
        assert_null(s);
        assert_non_null(err.data);
        assert_non_null(strstr(err.data, cases[i].msg));
        assert_null(strstr(err.data, "hunter2")); /* a URL's password is never echoed */
        tn_buf_deinit(&err);
    }
    /* err may be NULL */
    struct tn_store *s = NULL;
    assert_int_equal(tn_store_open(f->data, "postgres://127.0.0.1:1/db", &s, NULL), TN_ERR_IO);
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

    f->s = reopen(f);
    assert_int_equal(tn_store_schema_version(f->s), latest());
    struct tn_user got;
    assert_int_equal(tn_store_user_by_email(f->s, "ann@example.com", &got), TN_OK);
    assert_string_equal(got.org_id, "o1");
    struct tn_client cl;
    assert_int_equal(tn_store_client_get(f->s, "c1", &cl), TN_OK);
    struct tn_code out;
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_OK);
    tn_store_close(f->s);

    /* the take was durable too */
    f->s = reopen(f);
    assert_int_equal(tn_store_code_take(f->s, c.hash, &out), TN_ERR_CONFLICT);
}

static void exec_on(const char *data, const char *sql)
{
    char file[200];
    snprintf(file, sizeof file, "%s/teamnotes.db", data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    f->s = NULL;
    static const char future[] = "INSERT INTO schema_version (version, name, applied_at) "
                                 "VALUES (42, '0042_future', 0)";
    /* written below the store: with libpq on PostgreSQL, with sqlite3 on the file */
    if (on_pg()) {
        PGconn *c = conn_to(f->url);
        exec_ok(c, future);
        PQfinish(c);
    } else {
        exec_on(f->data, future);
    }
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    assert_int_equal(tn_store_open(on_pg() ? NULL : f->data, on_pg() ? f->url : NULL, &s, &err),
                     TN_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.data, "schema version 42"));
    assert_non_null(strstr(err.data, "newer teamnotes"));
    tn_buf_deinit(&err);
}

/* Every migration recorded in schema_version, in order (test_migrations.c checks that the
 * scripts the binary runs are the .sql files, byte for byte). */
static void test_migrations_recorded(void **state)
{
    struct fx *f = *state;
    if (on_pg())
        skip(); /* SQLite's file; test_pg_store.c checks PostgreSQL's schema_version */
    sqlite3 *db;
    char file[200];
    snprintf(file, sizeof file, "%s/teamnotes.db", f->data);
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT version, name FROM schema_version "
                                        "ORDER BY version",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int i = 0; i < LATEST; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), i + 1);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), migration_files[i]);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Every tool call writes an audit record, so each index on the audit log is paid on the
 * request path; the admin console's query takes its filters as optional and reads by
 * time (0012_audit_indexes). Its one index is audit_at, and the query's plan uses it. */
static void test_audit_indexes(void **state)
{
    struct fx *f = *state;
    if (on_pg())
        skip(); /* SQLite's file */
    sqlite3 *db;
    char file[200];
    snprintf(file, sizeof file, "%s/teamnotes.db", f->data);
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(name, ',') FROM (SELECT name "
                                        "FROM sqlite_master WHERE type = 'index' AND "
                                        "tbl_name = 'audit' ORDER BY name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "audit_at");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---------- organizations ---------- */

static void see_org(const struct tn_org *o, void *ud) { note(ud, o->name); }

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

static void see_user(const struct tn_user *u, void *ud) { note(ud, u->email); }

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

    /* a full update replaces everything but id, email and created_at (the cutoff: forward) */
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

/* Two writers of one user: a password change working from a copy read before an admin
 * disabled the account and before a sign out everywhere writes its password only; the
 * disable and the cutoff stay. The cutoff never moves back, even by a full update. */
static void test_user_update_fields(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "ann@example.com");
    struct tn_user stale, admin, got;
    assert_int_equal(tn_store_user_get(f->s, "u1", &stale), TN_OK);
    /* meanwhile: sign out everywhere, then an admin's disable from a fresh copy */
    assert_int_equal(tn_store_user_sign_out(f->s, "u1", 500), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &admin), TN_OK);
    admin.disabled = true;
    admin.tokens_valid_after = 600;
    assert_int_equal(tn_store_user_update_fields(f->s, &admin, TN_USER_DISABLED), TN_OK);
    /* the stale copy's password change */
    snprintf(stale.password_hash, sizeof stale.password_hash, "$argon2id$changed");
    assert_int_equal(tn_store_user_update_fields(f->s, &stale, TN_USER_PASSWORD), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.password_hash, "$argon2id$changed");
    assert_true(got.disabled);
    assert_int_equal(got.tokens_valid_after, 600);
    assert_string_equal(got.role, "editor");
    assert_string_equal(got.name, "User u1");
    /* a role change from the stale copy (enabled, old hash, no cutoff): the role only */
    snprintf(stale.role, sizeof stale.role, "viewer");
    snprintf(stale.password_hash, sizeof stale.password_hash, "$argon2id$old");
    snprintf(stale.name, sizeof stale.name, "Someone else");
    assert_int_equal(tn_store_user_update_fields(f->s, &stale, TN_USER_ROLE), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.role, "viewer");
    assert_string_equal(got.password_hash, "$argon2id$changed");
    assert_string_equal(got.name, "User u1");
    assert_true(got.disabled);
    assert_int_equal(got.tokens_valid_after, 600);
    /* a full update writes every field but moves the cutoff forward only */
    assert_int_equal(tn_store_user_update(f->s, &stale), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_false(got.disabled);
    assert_string_equal(got.name, "Someone else");
    assert_string_equal(got.password_hash, "$argon2id$old");
    assert_int_equal(got.tokens_valid_after, 600);
    stale.tokens_valid_after = 900;
    assert_int_equal(tn_store_user_update_fields(f->s, &stale, TN_USER_NAME), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_int_equal(got.tokens_valid_after, 900);
    /* the fields named must be some, and known ones */
    assert_int_equal(tn_store_user_update_fields(f->s, &stale, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_update_fields(f->s, &stale, TN_USER_ALL + 1), TN_ERR_BAD_INPUT);
    struct tn_user ghost = user("ghost", "g@example.com");
    assert_int_equal(tn_store_user_update_fields(f->s, &ghost, TN_USER_PASSWORD), TN_ERR_NOT_FOUND);
}

static void set_admin(struct tn_store *s, const char *id, const char *role, bool disabled)
{
    struct tn_user u;
    assert_int_equal(tn_store_user_get(s, id, &u), TN_OK);
    snprintf(u.role, sizeof u.role, "%s", role);
    u.disabled = disabled;
    assert_int_equal(tn_store_user_update(s, &u), TN_OK);
}

/* TN_USER_KEEP_ADMIN: a role change or a disable that would leave no enabled
 * administrator is refused by the store itself. */
static void test_user_keep_admin(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "a1", "a1@example.com");
    add_user(f->s, "a2", "a2@example.com");
    add_user(f->s, "v1", "v1@example.com");
    set_admin(f->s, "a1", "admin", false);
    set_admin(f->s, "a2", "admin", false);
    struct tn_user u, got;
    assert_int_equal(tn_store_user_get(f->s, "a1", &u), TN_OK);
    snprintf(u.role, sizeof u.role, "viewer");
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_ROLE | TN_USER_KEEP_ADMIN),
                     TN_OK);
    /* a2 is now the last: neither demoted nor disabled */
    assert_int_equal(tn_store_user_get(f->s, "a2", &u), TN_OK);
    snprintf(u.role, sizeof u.role, "editor");
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_ROLE | TN_USER_KEEP_ADMIN),
                     TN_ERR_CONFLICT);
    snprintf(u.role, sizeof u.role, "admin");
    u.disabled = true;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN),
                     TN_ERR_CONFLICT);
    assert_int_equal(tn_store_user_get(f->s, "a2", &got), TN_OK);
    assert_string_equal(got.role, "admin");
    assert_false(got.disabled);
    /* a change that leaves it an enabled admin is fine, and so is one not asking */
    snprintf(u.name, sizeof u.name, "Ada");
    u.disabled = false;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_NAME | TN_USER_KEEP_ADMIN),
                     TN_OK);
    u.disabled = true;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_DISABLED), TN_OK);
    /* with none enabled, what is not an enabled admin changes freely */
    assert_int_equal(tn_store_user_get(f->s, "v1", &u), TN_OK);
    snprintf(u.role, sizeof u.role, "editor");
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_ROLE | TN_USER_KEEP_ADMIN),
                     TN_OK);
    u.disabled = true;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN),
                     TN_OK);
    u.disabled = false;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN),
                     TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "a2", &u), TN_OK); /* the disabled admin */
    snprintf(u.role, sizeof u.role, "viewer");
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_ROLE | TN_USER_KEEP_ADMIN),
                     TN_OK);
    snprintf(u.role, sizeof u.role, "admin");
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_ROLE), TN_OK);
    /* promoting one is allowed; then the other may go */
    assert_int_equal(tn_store_user_get(f->s, "v1", &u), TN_OK);
    snprintf(u.role, sizeof u.role, "admin");
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_ROLE | TN_USER_KEEP_ADMIN),
                     TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "a2", &u), TN_OK);
    u.disabled = false;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN),
                     TN_OK);
    u.disabled = true;
    assert_int_equal(tn_store_user_update_fields(f->s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN),
                     TN_OK);
    struct tn_user ghost = user("ghost", "g@example.com");
    assert_int_equal(tn_store_user_update_fields(f->s, &ghost, TN_USER_ROLE | TN_USER_KEEP_ADMIN),
                     TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_user_update_fields(f->s, &ghost, TN_USER_KEEP_ADMIN),
                     TN_ERR_BAD_INPUT);
}

/* A password is written only over the hash it was checked against. */
static void test_user_swap_password(void **state)
{
    struct fx *f = *state;
    add_user(f->s, "u1", "ann@example.com"); /* no password yet: "" */
    struct tn_user got;
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", "", "$argon2id$one"), TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.password_hash, "$argon2id$one");
    /* a second writer that checked the same old hash is refused, and changes nothing */
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", "", "$argon2id$two"), TN_ERR_CONFLICT);
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", "$argon2id$on", "$argon2id$two"),
                     TN_ERR_CONFLICT);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.password_hash, "$argon2id$one");
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", "$argon2id$one", "$argon2id$two"),
                     TN_OK);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.password_hash, "$argon2id$two");
    assert_int_equal(tn_store_user_swap_password(f->s, "ghost", "", "$argon2id$x"),
                     TN_ERR_CONFLICT);
    /* bad input, before the backend */
    char big[200];
    memset(big, 'h', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", "$argon2id$two", big),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", big, "$argon2id$x"), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_swap_password(f->s, "u1", NULL, "$argon2id$x"),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_swap_password(f->s, "", "", "$argon2id$x"), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_swap_password(NULL, "u1", "", "$argon2id$x"), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_user_get(f->s, "u1", &got), TN_OK);
    assert_string_equal(got.password_hash, "$argon2id$two");
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

static void see_client(const struct tn_client *c, void *ud) { note(ud, c->id); }

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

/* A rotated token's one concurrent-refresh chance is spent once: a second presentation
 * inside the window finds nothing to spend (the old grace minted a sibling each time). */
static void test_refresh_grace_once(void **state)
{
    struct fx *f = *state;
    base_grant(f->s);
    add_refresh(f->s, 1, "fam", "c1", "u1");
    struct tn_refresh r2 = refresh(2, "fam", "c1", "u1"), got;
    assert_int_equal(tn_store_refresh_spend_grace(f->s, r2.hash, 2000, 10),
                     TN_ERR_NOT_FOUND); /* unknown */
    uint8_t h1[32];
    hash_of(h1, 1);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, h1, 2000, 10),
                     TN_ERR_NOT_FOUND); /* current */
    assert_int_equal(tn_store_refresh_rotate(f->s, h1, &r2, 2000, NULL), TN_OK);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, h1, 2005, 10), TN_OK);
    assert_int_equal(tn_store_refresh_get(f->s, h1, &got), TN_OK);
    assert_int_equal(got.expires_at, 2000);
    assert_int_equal(got.rotated_at, 2000);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, h1, 2005, 10), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, h1, 2000, 10), TN_ERR_NOT_FOUND);
    /* past the window, revoked, or a bad call: nothing to spend */
    struct tn_refresh r3 = refresh(3, "fam", "c1", "u1");
    assert_int_equal(tn_store_refresh_rotate(f->s, r2.hash, &r3, 3000, NULL), TN_OK);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, r2.hash, 3011, 10), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, r2.hash, 3010, 10), TN_OK);
    struct tn_refresh r4 = refresh(4, "fam", "c1", "u1");
    assert_int_equal(tn_store_refresh_rotate(f->s, r3.hash, &r4, 4000, NULL), TN_OK);
    assert_int_equal(tn_store_family_revoke(f->s, "fam"), TN_OK);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, r3.hash, 4001, 10), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, r3.hash, 4001, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_refresh_spend_grace(f->s, r3.hash, 0, 10), TN_ERR_BAD_INPUT);
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

static void see_key(const struct tn_signing_key *k, void *ud) { note(ud, k->kid); }

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct tn_signing_key k2 = {
        .kid = "k2", .alg = "ES256", .created_at = 200, .signs_from = 300, .retire_at = 900};
    memset(k2.pem, 'p', sizeof k2.pem - 1);
    struct tn_signing_key k1 = {.kid = "k1",
                                .alg = "RS256",
                                .pem = "-----BEGIN PRIVATE KEY-----",
                                .created_at = 100,
                                .signs_from = 100,
                                .retire_at = 500};
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
    f->s = reopen(f);
    kids = (struct seen){0};
    assert_int_equal(tn_store_key_list(f->s, see_key, &kids), TN_OK);
    assert_string_equal(kids.s, "k2;k3;");
}

struct pems {
    int n;
    char k1[16];
    size_t k2_len;
};

static void see_pem(const struct tn_signing_key *k, void *ud)
{
    struct pems *p = ud;
    p->n++;
    if (!strcmp(k->kid, "k1"))
        snprintf(p->k1, sizeof p->k1, "%s", k->pem);
    else
        p->k2_len = strlen(k->pem);
}

/* Replacing a key's stored text is a compare and set. */
static void test_key_replace(void **state)
{
    struct fx *f = *state;
    struct tn_signing_key k1 = {.kid = "k1", .alg = "ES256", .pem = "plain", .created_at = 1};
    struct tn_signing_key k2 = {.kid = "k2", .alg = "ES256", .pem = "plain", .created_at = 2};
    assert_int_equal(tn_store_key_insert(f->s, &k1), TN_OK);
    assert_int_equal(tn_store_key_insert(f->s, &k2), TN_OK);
    assert_int_equal(tn_store_key_replace(f->s, "k1", "plain", "sealed"), TN_OK);
    /* a second replacer expecting the old text changes nothing */
    assert_int_equal(tn_store_key_replace(f->s, "k1", "plain", "other"), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_key_replace(f->s, "k9", "plain", "other"), TN_ERR_NOT_FOUND);
    char too_long[2049];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const struct {
        const char *kid, *expected, *pem;
    } bad[] = {
        {NULL, "plain", "x"}, {"k2", NULL, "x"},   {"k2", "plain", NULL},
        {"", "plain", "x"},   {"k2", "plain", ""}, {"k2", "plain", too_long},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tn_store_key_replace(f->s, bad[i].kid, bad[i].expected, bad[i].pem),
                         TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_key_replace(NULL, "k2", "plain", "x"), TN_ERR_BAD_INPUT);
    too_long[2047] = '\0'; /* the longest a row holds */
    assert_int_equal(tn_store_key_replace(f->s, "k2", "plain", too_long), TN_OK);
    tn_store_close(f->s);
    f->s = reopen(f);
    struct pems p = {0};
    assert_int_equal(tn_store_key_list(f->s, see_pem, &p), TN_OK);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.k1, "sealed");
    assert_int_equal(p.k2_len, 2047);
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

/* THREADS racers on two handles of the same database (so the database's own locking is
 * exercised, not only the in-process writer mutex); returns the index of the single
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
    struct tn_store *other = reopen(f);
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
    struct tn_store *other = reopen(f);
    for (int round = 1; round <= ROUNDS; round++) {
        add_refresh(f->s, round, "fam", "c1", "u1");
        int winner = race(f, other, round, rotate_token);
        /* only the winner's successor exists */
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(refresh_exists(f->s, 1000 + round * THREADS + i), i == winner);
    }
    tn_store_close(other);
}

static void *disable_admin(void *arg)
{
    struct racer *r = arg;
    struct tn_user u;
    char id[16];
    snprintf(id, sizeof id, "a%d", r->index);
    r->out_ok = tn_store_user_get(r->s, id, &u) == TN_OK;
    u.disabled = true;
    pthread_barrier_wait(r->go);
    r->result = tn_store_user_update_fields(r->s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN);
    return NULL;
}

struct admins_seen {
    int enabled;
};

static void count_enabled_admin(const struct tn_user *u, void *ud)
{
    ((struct admins_seen *)ud)->enabled += !u->disabled && !strcmp(u->role, "admin");
}

/* THREADS administrators each disabled at once, on two handles: all but one go. */
static void test_concurrent_keep_admin(void **state)
{
    struct fx *f = *state;
    struct tn_store *other = reopen(f);
    for (int i = 0; i < THREADS; i++) {
        char id[16], email[32];
        snprintf(id, sizeof id, "a%d", i);
        snprintf(email, sizeof email, "a%d@example.com", i);
        add_user(f->s, id, email);
    }
    for (int round = 1; round <= ROUNDS; round++) {
        for (int i = 0; i < THREADS; i++) {
            char id[16];
            snprintf(id, sizeof id, "a%d", i);
            set_admin(f->s, id, "admin", false);
        }
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, THREADS);
        pthread_t th[THREADS];
        struct racer rs[THREADS];
        for (int i = 0; i < THREADS; i++) {
            rs[i] =
                (struct racer){.s = i % 2 ? other : f->s, .go = &go, .round = round, .index = i};
            assert_int_equal(pthread_create(&th[i], NULL, disable_admin, &rs[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        int ok = 0, conflict = 0;
        for (int i = 0; i < THREADS; i++) {
            assert_true(rs[i].out_ok);
            if (rs[i].result == TN_OK)
                ok++;
            else if (rs[i].result == TN_ERR_CONFLICT)
                conflict++;
            else
                fail_msg("round %d, racer %d: %s", round, i, tn_err_name(rs[i].result));
        }
        struct admins_seen seen = {0};
        assert_int_equal(tn_store_user_list(f->s, count_enabled_admin, &seen), TN_OK);
        assert_int_equal(seen.enabled, 1);
        assert_int_equal(ok, THREADS - 1);
        assert_int_equal(conflict, 1);
    }
    tn_store_close(other);
}

int main(void)
{
    /* TN_TEST_DATABASE_URL: run the suite on PostgreSQL, a fresh schema per test */
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_open_layout),
        T(test_open_errors),
        T(test_reopen_keeps_data),
        T(test_newer_schema_refused),
        T(test_migrations_recorded),
        T(test_audit_indexes),
        T(test_orgs),
        T(test_users),
        T(test_user_update_fields),
        T(test_user_swap_password),
        T(test_user_keep_admin),
        T(test_bad_input),
        T(test_clients),
        T(test_client_delete_cascades),
        T(test_client_delete_unused),
        T(test_consents),
        T(test_codes),
        T(test_refresh_rotate),
        T(test_refresh_not_current),
        T(test_refresh_grace_once),
        T(test_family_revoke),
        T(test_user_revoke_all),
        T(test_keys),
        T(test_key_replace),
        T(test_list_reentrant),
        T(test_concurrent_code_take),
        T(test_concurrent_refresh_rotate),
        T(test_concurrent_keep_admin),
#undef T
    };
    tn_log_setup(TN_LOG_WARN, false); /* no "migration applied" line per test */
    int rc =
        cmocka_run_group_tests_name(base_url ? "store (postgres)" : "store", tests, NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
