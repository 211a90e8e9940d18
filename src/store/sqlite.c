/* The SQLite backend: one file, `data_dir`/teamnotes.db, in WAL mode.
 *
 * Durability: synchronous=FULL, so a write is on disk when its call returns.
 *
 * Connections: a small pool (POOL_MAX) guarded by a mutex. A call takes a connection,
 * runs on it and gives it back; each connection keeps its own prepared statements,
 * prepared on first use and reset after each. Connections are opened lazily. List
 * functions call the caller's callback while their statement is still stepping; a
 * callback may call back into the store: a thread that already holds a connection
 * never waits for the pool (it opens a spare connection when none is idle, closed
 * again when returned), so nesting cannot deadlock.
 *
 * Writes: SQLite has one writer at a time. Within the process writers queue on a mutex
 * (`wmu`) instead of spinning in SQLite's busy handler; between processes the 5 s busy
 * timeout applies. Read-modify-write operations (code_take, refresh_rotate, ...) run
 * in BEGIN IMMEDIATE, which takes the write lock up front, so two of them can never
 * both see a code unused or a refresh token current.
 *
 * Notes: every statement on notes is scoped to the owner (user and org), or to the org
 * and visibility 'org' for shared notes; there is no statement that reaches a note by
 * id alone. The full-text index (notes_fts, FTS5 over notes by seq) and note_tags are
 * written by the same transaction as the note itself; see migration 0002 for why not
 * by triggers.
 *
 * Migrations: one SQL script per version, migrations/sqlite/NNNN_*.sql, compiled in at
 * build time (scripts/gen-migrations.py), each applied in its own transaction and
 * recorded in schema_version. A database from a newer binary is refused. */
#include "store/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/migrations.h"

enum {
    POOL_MAX = 8,
    BUSY_TIMEOUT_MS = 5000,
};

/* ---------- migrations ---------- */

/* The scripts of migrations/sqlite/, compiled in by the build (store/migrations.h). */
#define LATEST_VERSION tn_store_sqlite_migrations_count

/* ---------- statements ---------- */

#define ORG_COLS "id, name, created_at"
#define USER_COLS                                                                            \
    "id, email, name, COALESCE(org_id, ''), role, password_hash, disabled, created_at, "     \
    "tokens_valid_after"
#define CLIENT_COLS                                                                          \
    "id, name, redirect_uris, secret_hash, auth_method, grant_types, scope, "                \
    "application_type, metadata, created_at, last_used_at"
#define CODE_COLS                                                                            \
    "hash, client_id, user_id, redirect_uri, scope, resource, challenge, family, expires_at, " \
    "used"
#define REFRESH_COLS                                                                         \
    "hash, family, client_id, user_id, scope, resource, issued_at, expires_at, rotated_at, " \
    "revoked"
#define KEY_COLS "kid, alg, pem, created_at, signs_from, retire_at"
#define STR_(x) #x
#define STR(x) STR_(x)
#define LIST_TEXT STR(TN_NOTE_LIST_TEXT)
#define NOTE_COLS                                                                            \
    "n.id, n.owner, n.org, n.title, n.content, n.tags, n.visibility, n.version, "            \
    "n.created_at, n.updated_at, length(n.content)"
/* Pages and searches carry only the first TN_NOTE_LIST_TEXT characters of the text
 * (substr counts characters of TEXT values, so the cut is on a character boundary), and
 * its length in characters. A text of at most TN_NOTE_LIST_TEXT bytes (so characters)
 * is handed over as it is: its byte length is known without reading it, where substr
 * would copy it and length() count it. Every column is in the index notes_owner (0005),
 * so a page reads no table row. bench_store_ops 3000 5, list of 20, p50 CPU, three runs
 * each: 11-12 us when lists left the text out; 26-41 us with substr on every row read
 * from the table; 20 us from the index; 17 us from the index with this test. */
#define NOTE_LIST_COLS                                                                       \
    "n.id, n.owner, n.org, n.title, CASE WHEN length(CAST(n.content AS BLOB)) <= " LIST_TEXT " " \
    "THEN n.content ELSE substr(n.content, 1, " LIST_TEXT ") END, "                          \
    "n.tags, n.visibility, n.version, n.created_at, n.updated_at, length(n.content)"
#define AUDIT_COLS "at, user_key, org, client_id, tool, note_id, outcome"
#define AUDIT_ROW "(?, ?, ?, ?, ?, ?, ?)"
#define AUDIT_VALUES_4 AUDIT_ROW ", " AUDIT_ROW ", " AUDIT_ROW ", " AUDIT_ROW
#define AUDIT_VALUES_16 AUDIT_VALUES_4 ", " AUDIT_VALUES_4 ", " AUDIT_VALUES_4 ", " AUDIT_VALUES_4
enum { AUDIT_ROWS = 16 };
/* The owner's own note ?1 (user ?2, org ?3). */
#define NOTE_OWN_WHERE "n.id = ?1 AND n.owner = ?2 AND n.org = ?3"
/* Own notes, or notes shared with the (non-empty) org ?3. */
#define NOTE_VISIBLE_WHERE "n.org = ?3 AND (n.owner = ?2 OR (n.visibility = 'org' AND n.org <> ''))"
#define NOTE_TAG_FILTER(p)                                                                   \
    "(" p " IS NULL OR EXISTS (SELECT 1 FROM note_tags AS t WHERE t.note = n.seq AND t.tag = " p "))"

/* Every statement the backend runs, prepared once per connection. Parameters are
 * numbered in the order run() binds them. */
#define STMTS(X)                                                                             \
    X(BEGIN, "BEGIN IMMEDIATE")                                                              \
    X(COMMIT, "COMMIT")                                                                      \
    X(ROLLBACK, "ROLLBACK")                                                                  \
    X(ORG_INSERT, "INSERT INTO orgs (" ORG_COLS ") VALUES (?1, ?2, ?3)")                     \
    X(ORG_GET, "SELECT " ORG_COLS " FROM orgs WHERE id = ?1")                                \
    X(ORG_BY_NAME, "SELECT " ORG_COLS " FROM orgs WHERE name = ?1")                          \
    X(ORG_LIST, "SELECT " ORG_COLS " FROM orgs ORDER BY created_at, id")                     \
    X(USER_INSERT, "INSERT INTO users (id, email, name, org_id, role, password_hash, "        \
                   "disabled, created_at, tokens_valid_after) "                              \
                   "VALUES (?1, ?2, ?3, NULLIF(?4, ''), ?5, ?6, ?7, ?8, ?9)")                \
    X(USER_GET, "SELECT " USER_COLS " FROM users WHERE id = ?1")                             \
    X(USER_BY_EMAIL, "SELECT " USER_COLS " FROM users WHERE email = ?1")                     \
    X(USER_UPDATE, "UPDATE users SET name = ?2, org_id = NULLIF(?3, ''), role = ?4, "        \
                   "password_hash = ?5, disabled = ?6, tokens_valid_after = ?7 WHERE id = ?1") \
    X(USER_COUNT, "SELECT COUNT(*) FROM users")                                              \
    X(USER_LIST, "SELECT " USER_COLS " FROM users ORDER BY created_at, id")                  \
    X(CLIENT_INSERT, "INSERT INTO clients (" CLIENT_COLS ") "                                \
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                \
    X(CLIENT_GET, "SELECT " CLIENT_COLS " FROM clients WHERE id = ?1")                       \
    X(CLIENT_TOUCH, "UPDATE clients SET last_used_at = MAX(last_used_at, ?2) WHERE id = ?1") \
    X(CLIENT_DELETE, "DELETE FROM clients WHERE id = ?1")                                    \
    X(CLIENT_LIST, "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id")            \
    /* Never used: not touched, and nothing was ever granted to it. */                       \
    X(CLIENT_DELETE_UNUSED,                                                                  \
      "DELETE FROM clients WHERE created_at < ?1 AND last_used_at = 0 "                      \
      "AND NOT EXISTS (SELECT 1 FROM consents WHERE client_id = clients.id) "                \
      "AND NOT EXISTS (SELECT 1 FROM codes WHERE client_id = clients.id) "                   \
      "AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE client_id = clients.id)")          \
    X(CONSENT_GET, "SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2")       \
    X(CONSENT_PUT, "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) " \
                   "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (user_id, client_id) DO UPDATE " \
                   "SET scope = excluded.scope, updated_at = excluded.updated_at")           \
    X(CONSENT_REVOKE, "DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2")          \
    X(CONSENT_REVOKE_ALL, "DELETE FROM consents WHERE user_id = ?1")                         \
    X(CODE_INSERT, "INSERT INTO codes (hash, client_id, user_id, redirect_uri, scope, "      \
                   "resource, challenge, family, expires_at) "                               \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")                            \
    X(CODE_GET, "SELECT " CODE_COLS " FROM codes WHERE hash = ?1")                           \
    X(CODE_USE, "UPDATE codes SET used = 1 WHERE hash = ?1 AND used = 0")                    \
    /* A token born into a revoked family is revoked. */                                     \
    X(REFRESH_INSERT, "INSERT INTO refresh_tokens (" REFRESH_COLS ") "                       \
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 OR EXISTS "           \
                      "(SELECT 1 FROM revoked_families WHERE family = ?2))")                 \
    X(REFRESH_GET, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE hash = ?1")            \
    X(REFRESH_MARK, "UPDATE refresh_tokens SET rotated_at = ?2 "                             \
                    "WHERE hash = ?1 AND rotated_at = 0 AND revoked = 0")                    \
    X(REFRESH_SPEND_GRACE, "UPDATE refresh_tokens SET expires_at = rotated_at "              \
                           "WHERE hash = ?1 AND rotated_at > 0 AND revoked = 0 "             \
                           "AND expires_at > ?2 AND rotated_at >= ?2 - ?3")                  \
    X(FAMILY_REVOKE, "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?1")              \
    X(FAMILY_REMEMBER, "INSERT OR IGNORE INTO revoked_families (family) VALUES (?1)")        \
    X(USER_REVOKE_ALL, "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?1")           \
    X(KEY_INSERT, "INSERT INTO signing_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)") \
    X(KEY_LIST, "SELECT " KEY_COLS " FROM signing_keys ORDER BY created_at, rowid")          \
    X(KEY_DELETE, "DELETE FROM signing_keys WHERE kid = ?1")                                 \
    X(KEY_REPLACE, "UPDATE signing_keys SET pem = ?3 WHERE kid = ?1 AND pem = ?2")           \
    X(NOTE_INSERT, "INSERT INTO notes (id, owner, org, title, content, tags, visibility, "    \
                   "version, created_at, updated_at) "                                       \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                       \
    /* An imported note: its id is derived from its source, so a second import of it   */ \
    /* changes nothing.                                                                */ \
    X(NOTE_IMPORT, "INSERT INTO notes (id, owner, org, title, content, tags, visibility, "    \
                   "version, created_at, updated_at) "                                       \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING") \
    /* The full-text index follows the note's current text: added after an insert or   */ \
    /* update, removed (with the values it was added with) before an update or delete. */ \
    X(NOTE_INDEX, "INSERT INTO notes_fts (rowid, title, content, tags, scope_own, scope_org) " \
                  "SELECT n.seq, n.title, n.content, n.tags, n.scope_own, n.scope_org "      \
                  "FROM notes AS n "                                                         \
                  "WHERE " NOTE_OWN_WHERE)                                                   \
    /* The same for a new note, from the bound values. Inserts write one row per          */ \
    /* statement: a multi-row statement runs under a statement savepoint, and FTS5      */ \
    /* writes out its pending index data at every savepoint of the transaction, so one  */ \
    /* INSERT ... SELECT per note would cost a segment per note (see note_insert_body). */ \
    X(NOTE_INDEX_NEW, "INSERT INTO notes_fts (rowid, title, content, tags, scope_own, "      \
                      "scope_org) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                          \
    X(NOTE_TAG_ADD, "INSERT OR IGNORE INTO note_tags (note, tag) VALUES (?1, ?2)")           \
    X(NOTE_UNINDEX, "INSERT INTO notes_fts (notes_fts, rowid, title, content, tags, "        \
                    "scope_own, scope_org) SELECT 'delete', n.seq, n.title, n.content, "     \
                    "n.tags, n.scope_own, n.scope_org FROM notes AS n "                      \
                    "WHERE " NOTE_OWN_WHERE " AND (?4 = 0 OR n.version = ?4)")               \
    X(NOTE_TAGS_CLEAR, "DELETE FROM note_tags WHERE note IN "                                \
                       "(SELECT n.seq FROM notes AS n WHERE " NOTE_OWN_WHERE ")")            \
    X(NOTE_TAGS_SET, "INSERT INTO note_tags (note, tag) SELECT DISTINCT n.seq, j.value "     \
                     "FROM notes AS n, json_each(n.tags) AS j WHERE " NOTE_OWN_WHERE)        \
    X(NOTE_OWN, "SELECT " NOTE_COLS " FROM notes AS n WHERE " NOTE_OWN_WHERE)                \
    X(NOTE_GET, "SELECT " NOTE_COLS " FROM notes AS n WHERE n.id = ?1 AND "                  \
                NOTE_VISIBLE_WHERE)                                                          \
    /* NULL: unchanged. The version check is what makes concurrent updates safe. */          \
    X(NOTE_UPDATE, "UPDATE notes SET title = COALESCE(?5, title), "                          \
                   "content = COALESCE(?6, content), tags = COALESCE(?7, tags), "            \
                   "visibility = COALESCE(?8, visibility), version = version + 1, "          \
                   "updated_at = MAX(?9, updated_at) "                                       \
                   "WHERE id = ?1 AND owner = ?2 AND org = ?3 AND version = ?4")             \
    X(NOTE_DELETE, "DELETE FROM notes WHERE id = ?1 AND owner = ?2 AND org = ?3 "            \
                   "AND (?4 = 0 OR version = ?4)")                                           \
    /* Pages: newest first, strictly after the cursor; the index notes_owner (or          */ \
    /* notes_shared) gives the order, so a page reads only its own rows.                  */ \
    X(NOTE_LIST, "SELECT " NOTE_LIST_COLS " FROM notes AS n "                                     \
                 "WHERE n.owner = ?1 AND n.org = ?2 AND (n.updated_at, n.id) < (?3, ?4) "    \
                 "AND " NOTE_TAG_FILTER("?5") " "                                            \
                 "ORDER BY n.updated_at DESC, n.id DESC LIMIT ?6")                           \
    X(NOTE_LIST_TEAM, "SELECT " NOTE_LIST_COLS " FROM notes AS n "                                \
                      "WHERE n.org = ?1 AND n.org <> '' AND n.visibility = 'org' "           \
                      "AND (n.updated_at, n.id) < (?2, ?3) AND " NOTE_TAG_FILTER("?4") " "   \
                      "ORDER BY n.updated_at DESC, n.id DESC LIMIT ?5")                      \
    /* ?1 is built by search_match(): the caller's scope tokens AND the words, quoted    */ \
    /* strings only, so the index does the owner filtering (NOTE_VISIBLE_WHERE checks  */ \
    /* again). The scope columns weigh nothing in tn_rank, which is lower-is-better.   */ \
    X(NOTE_SEARCH, "SELECT " NOTE_LIST_COLS ", snippet(notes_fts, -1, '', '', '…', 16), "         \
                   "tn_rank(notes_fts, 5.0, 1.0, 3.0, 0.0, 0.0) AS score "                        \
                   "FROM notes_fts JOIN notes AS n ON n.seq = notes_fts.rowid "              \
                   "WHERE notes_fts MATCH ?1 AND " NOTE_VISIBLE_WHERE " "                    \
                   "ORDER BY score, n.updated_at DESC, n.id DESC LIMIT ?4")                  \
    X(AUDIT_INSERT, "INSERT INTO audit (" AUDIT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)") \
    /* AUDIT_ROWS records per statement (the audit thread writes batches) */                \
    X(AUDIT_INSERT_ROWS, "INSERT INTO audit (" AUDIT_COLS ") VALUES " AUDIT_VALUES_16)          \
    X(AUDIT_LIST, "SELECT " AUDIT_COLS " FROM audit ORDER BY at DESC, seq DESC LIMIT ?1")

enum stmt_id {
#define STMT_ENUM(name, sql) S_##name,
    STMTS(STMT_ENUM)
#undef STMT_ENUM
    S__COUNT
};
static const char *const stmt_sql[] = {
#define STMT_SQL(name, sql) sql,
    STMTS(STMT_SQL)
#undef STMT_SQL
};
static const char *const stmt_name[] = {
#define STMT_NAME(name, sql) #name,
    STMTS(STMT_NAME)
#undef STMT_NAME
};

/* ---------- connections and the pool ---------- */

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[S__COUNT];
    bool lax;          /* synchronous is not FULL (an audit batch in progress) */
    struct conn *next; /* in the idle list */
};

struct sqlite_store {
    struct tn_store base;
    char *path;
    pthread_mutex_t mu; /* guards idle and nopen */
    pthread_cond_t cv;  /* a connection was returned */
    struct conn *idle;
    int nopen;
    pthread_mutex_t wmu; /* one writer at a time in this process */
    /* group commit of note writes (see grouped()) */
    pthread_mutex_t gmu;
    struct gop *gq_head, *gq_tail;
    bool leading;
};

/* Connections held by this thread, in any store: a thread that holds one must never
 * wait for another (a list callback calling back into the store). */
static _Thread_local unsigned held;

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < S__COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c);
}

static void errf(struct tn_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(struct tn_buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tn_buf_puts(err, msg);
}

/* Runs a PRAGMA and copies the first column of its first row (may be "") into out. */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    out[0] = '\0';
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", v ? v : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---------- search ranking ----------
 *
 * tn_rank(w_title, w_content, w_tags, w_scope_own, w_scope_org): BM25's term-frequency and length
 * normalisation per column, weighted, without the inverse document frequency. FTS5's
 * bm25() computes that frequency by reading each phrase's whole posting list on every
 * query: a common word among 1,000,000 notes cost ~17 ms per search whatever the
 * caller's own notes (bench/scale.sh). Within one person's notes the ranking of a
 * one-word query is the same (IDF is a constant factor); with several words, each
 * weighs the same. Lower is better, as with bm25(). */
enum { RANK_MAX_PHRASES = 64, RANK_MAX_COLS = 8 };

static void tn_rank(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                    int n_args, sqlite3_value **args)
{
    const double k1 = 1.2, b = 0.75;
    int n_cols = api->xColumnCount(fts), n_phrases = api->xPhraseCount(fts);
    if (n_cols > RANK_MAX_COLS || n_phrases > RANK_MAX_PHRASES) {
        sqlite3_result_error(ctx, "tn_rank: too many columns or phrases", -1);
        return;
    }
    double weight[RANK_MAX_COLS], avg_len[RANK_MAX_COLS];
    int len[RANK_MAX_COLS];
    sqlite3_int64 rows = 0;
    if (api->xRowCount(fts, &rows) != SQLITE_OK || rows < 1)
        rows = 1;
    for (int c = 0; c < n_cols; c++) {
        weight[c] = c < n_args ? sqlite3_value_double(args[c]) : 1.0;
        sqlite3_int64 total = 0;
        api->xColumnTotalSize(fts, c, &total);
        avg_len[c] = total > 0 ? (double)total / (double)rows : 1.0;
        if (api->xColumnSize(fts, c, &len[c]) != SQLITE_OK)
            len[c] = 0;
    }
    int tf[RANK_MAX_PHRASES][RANK_MAX_COLS];
    memset(tf, 0, sizeof tf);
    int n_inst = 0;
    if (api->xInstCount(fts, &n_inst) != SQLITE_OK) {
        sqlite3_result_error(ctx, "tn_rank: no match information", -1);
        return;
    }
    for (int i = 0; i < n_inst; i++) {
        int phrase, col, off;
        if (api->xInst(fts, i, &phrase, &col, &off) == SQLITE_OK && phrase >= 0 &&
            phrase < n_phrases && col >= 0 && col < n_cols)
            tf[phrase][col]++;
    }
    double score = 0;
    for (int p = 0; p < n_phrases; p++)
        for (int c = 0; c < n_cols; c++)
            if (tf[p][c] && weight[c] > 0)
                score += weight[c] * tf[p][c] * (k1 + 1) /
                         (tf[p][c] + k1 * (1 - b + b * len[c] / avg_len[c]));
    sqlite3_result_double(ctx, -score);
}

/* Registers tn_rank on a connection (through the fts5_api pointer FTS5 hands out). */
static int register_rank(sqlite3 *db)
{
    fts5_api *fts = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_pointer(st, 1, (void *)&fts, "fts5_api_ptr", NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && (!fts || fts->iVersion < 2))
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = fts->xCreateFunction(fts, "tn_rank", NULL, tn_rank, NULL);
    return rc;
}

/* SQLite keeps memory statistics by default, under one process-wide mutex taken on every
 * allocation and free it makes (about 32 a listed page): every connection of every worker
 * contends on it. Nothing here reads those statistics. Must precede SQLite's
 * initialisation; if something initialised it first the call is refused and the default
 * stays, which only costs speed. */
static void sqlite_global_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static enum tn_err conn_open(const char *path, struct conn **out, struct tn_buf *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_config);
    *out = NULL;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return TN_ERR_NOMEM;
    enum tn_err e = TN_ERR_IO;
    char v[32];
    /* NOMUTEX: a connection is used by one thread at a time (the pool sees to it). */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        errf(err, "cannot open %s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto done;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if ((rc = pragma(c->db, "PRAGMA journal_mode = WAL", v, sizeof v)) != SQLITE_OK ||
        strcmp(v, "wal") != 0) {
        errf(err, "cannot switch %s to WAL mode: %s", path,
             rc != SQLITE_OK ? sqlite3_errmsg(c->db) : v);
        goto done;
    }
    rc = sqlite3_exec(c->db,
                      "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                      "PRAGMA trusted_schema = OFF;",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK && (rc = register_rank(c->db)) != SQLITE_OK) {
        errf(err, "cannot set up full-text ranking on %s: %s", path, sqlite3_errmsg(c->db));
        goto done;
    }
    /* Cascades on client deletion rely on foreign keys; a build without them is refused. */
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA foreign_keys", v, sizeof v);
    if (rc != SQLITE_OK || strcmp(v, "1") != 0) {
        errf(err, "cannot configure %s: %s", path,
             rc != SQLITE_OK ? sqlite3_errmsg(c->db) : "foreign keys are not supported");
        goto done;
    }
    *out = c;
    c = NULL;
    e = TN_OK;
done:
    conn_close(c);
    return e;
}

static enum tn_err pool_get(struct sqlite_store *s, struct conn **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    while (!s->idle && s->nopen >= POOL_MAX && held == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    struct conn *c = s->idle;
    if (c) {
        s->idle = c->next;
        c->next = NULL;
        pthread_mutex_unlock(&s->mu);
    } else {
        s->nopen++;
        pthread_mutex_unlock(&s->mu);
        struct tn_buf err;
        tn_buf_init(&err, 1024);
        enum tn_err e = conn_open(s->path, &c, &err);
        if (e != TN_OK) {
            tn_log(TN_LOG_ERROR, "store: cannot open a database connection", "error",
                   err.data ? err.data : tn_err_message(e), NULL);
            tn_buf_deinit(&err);
            pthread_mutex_lock(&s->mu);
            s->nopen--;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
            return e;
        }
        tn_buf_deinit(&err);
    }
    held++;
    *out = c;
    return TN_OK;
}

/* Returns a connection. One still inside a transaction (its ROLLBACK failed) or beyond
 * the pool's size is closed rather than reused. */
static void pool_put(struct sqlite_store *s, struct conn *c)
{
    held--;
    /* a connection left in a transaction, or not durable (see sq_audit_insert), goes */
    bool drop = !sqlite3_get_autocommit(c->db) || c->lax;
    pthread_mutex_lock(&s->mu);
    if (drop || s->nopen > POOL_MAX) {
        s->nopen--;
    } else {
        c->next = s->idle;
        s->idle = c;
        c = NULL;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
}

/* ---------- running statements ---------- */

/* One store call: the connection it runs on and whether it holds the write mutex. */
struct call {
    struct sqlite_store *s;
    struct conn *c;
    bool writer;
};

static enum tn_err call_begin(struct tn_store *base, struct call *k, bool writer)
{
    k->s = (struct sqlite_store *)base;
    k->writer = false;
    enum tn_err e = pool_get(k->s, &k->c);
    if (e != TN_OK)
        return e;
    if (writer) {
        pthread_mutex_lock(&k->s->wmu);
        k->writer = true;
    }
    return TN_OK;
}

/* Ends the call; a transaction still open (an error path) is rolled back before
 * another writer may start. */
static void call_end(struct call *k)
{
    if (!sqlite3_get_autocommit(k->c->db))
        sqlite3_exec(k->c->db, "ROLLBACK", NULL, NULL, NULL);
    if (k->writer)
        pthread_mutex_unlock(&k->s->wmu);
    pool_put(k->s, k->c);
}

static enum tn_err fail(struct call *k, int rc, enum stmt_id id)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return TN_ERR_CONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return TN_ERR_NOT_FOUND;
    default:
        break;
    }
    enum tn_err e;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return TN_ERR_BAD_INPUT;
    case SQLITE_NOMEM:
        e = TN_ERR_NOMEM;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        e = TN_ERR_BUSY;
        break;
    default:
        e = TN_ERR_IO;
        break;
    }
    tn_log(e == TN_ERR_BUSY ? TN_LOG_WARN : TN_LOG_ERROR, "store: sqlite error", "stmt",
           stmt_name[id], "error", sqlite3_errmsg(k->c->db), NULL);
    return e;
}

static void finish(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Binds the arguments described by `fmt` to ?1, ?2, ... and steps once.
 *   t  const char *   text (NULL    h  const uint8_t *  32-byte hash
 *                     binds NULL)
 *   i  int64_t        integer       b  int (bool)       0 or 1
 * With `row`: TN_OK leaves the statement on its first row in *row (finish() it);
 * TN_ERR_NOT_FOUND when there is none. Without: runs to completion. The bound values
 * are borrowed, so they must outlive the statement's use. */
static enum tn_err run(struct call *k, enum stmt_id id, sqlite3_stmt **row, const char *fmt, ...)
{
    if (row)
        *row = NULL;
    struct conn *c = k->c;
    int rc = SQLITE_OK;
    if (!c->st[id])
        rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id],
                                NULL);
    if (rc != SQLITE_OK)
        return fail(k, rc, id);
    sqlite3_stmt *st = c->st[id];
    if ((int)strlen(fmt) != sqlite3_bind_parameter_count(st))
        rc = SQLITE_MISUSE;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i] && rc == SQLITE_OK; i++) {
        switch (fmt[i]) {
        case 't':
            rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
            break;
        case 'h':
            rc = sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *), 32, SQLITE_STATIC);
            break;
        case 'i':
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'b':
            rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int) ? 1 : 0);
            break;
        default:
            rc = SQLITE_MISUSE;
            break;
        }
    }
    va_end(ap);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && row) {
        *row = st;
        return TN_OK;
    }
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    enum tn_err e = rc == SQLITE_DONE ? (row ? TN_ERR_NOT_FOUND : TN_OK) : fail(k, rc, id);
    finish(st);
    return e;
}

/* Next row of a statement left by run(): TN_OK on a row, TN_ERR_NOT_FOUND at the end. */
static enum tn_err step(struct call *k, sqlite3_stmt *st, enum stmt_id id)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return TN_OK;
    return rc == SQLITE_DONE ? TN_ERR_NOT_FOUND : fail(k, rc, id);
}

static int changes(struct call *k)
{
    return sqlite3_changes(k->c->db);
}

/* ---------- reading rows ---------- */

/* Copies a text column; false when it does not fit (never for rows this store wrote:
 * store.c checks every field against its size on the way in). */
static bool col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    dst[0] = '\0';
    if (!t)
        return sqlite3_column_type(st, i) == SQLITE_NULL;
    if (n >= cap)
        return false;
    memcpy(dst, t, n);
    dst[n] = '\0';
    return true;
}

static bool col_hash(sqlite3_stmt *st, int i, uint8_t dst[32])
{
    const void *p = sqlite3_column_blob(st, i);
    if (!p || sqlite3_column_bytes(st, i) != 32)
        return false;
    memcpy(dst, p, 32);
    return true;
}

#define TEXT(i, field) col_text(st, (i), (field), sizeof(field))

static enum tn_err row_result(bool ok, const char *table)
{
    if (ok)
        return TN_OK;
    tn_log(TN_LOG_ERROR, "store: a stored value does not fit its field", "table", table, NULL);
    return TN_ERR_INTERNAL;
}

static enum tn_err read_org(sqlite3_stmt *st, struct tn_org *o)
{
    bool ok = TEXT(0, o->id) && TEXT(1, o->name);
    o->created_at = sqlite3_column_int64(st, 2);
    return row_result(ok, "orgs");
}

static enum tn_err read_user(sqlite3_stmt *st, struct tn_user *u)
{
    bool ok = TEXT(0, u->id) && TEXT(1, u->email) && TEXT(2, u->name) && TEXT(3, u->org_id) &&
              TEXT(4, u->role) && TEXT(5, u->password_hash);
    u->disabled = sqlite3_column_int(st, 6) != 0;
    u->created_at = sqlite3_column_int64(st, 7);
    u->tokens_valid_after = sqlite3_column_int64(st, 8);
    return row_result(ok, "users");
}

static enum tn_err read_client(sqlite3_stmt *st, struct tn_client *c)
{
    bool ok = TEXT(0, c->id) && TEXT(1, c->name) && TEXT(2, c->redirect_uris) &&
              TEXT(3, c->secret_hash) && TEXT(4, c->auth_method) && TEXT(5, c->grant_types) &&
              TEXT(6, c->scope) && TEXT(7, c->application_type) && TEXT(8, c->metadata);
    c->created_at = sqlite3_column_int64(st, 9);
    c->last_used_at = sqlite3_column_int64(st, 10);
    return row_result(ok, "clients");
}

static enum tn_err read_code(sqlite3_stmt *st, struct tn_code *c, bool *used)
{
    bool ok = col_hash(st, 0, c->hash) && TEXT(1, c->client_id) && TEXT(2, c->user_id) &&
              TEXT(3, c->redirect_uri) && TEXT(4, c->scope) && TEXT(5, c->resource) &&
              TEXT(6, c->challenge) && TEXT(7, c->family);
    c->expires_at = sqlite3_column_int64(st, 8);
    *used = sqlite3_column_int(st, 9) != 0;
    return row_result(ok, "codes");
}

static enum tn_err read_refresh(sqlite3_stmt *st, struct tn_refresh *r)
{
    bool ok = col_hash(st, 0, r->hash) && TEXT(1, r->family) && TEXT(2, r->client_id) &&
              TEXT(3, r->user_id) && TEXT(4, r->scope) && TEXT(5, r->resource);
    r->issued_at = sqlite3_column_int64(st, 6);
    r->expires_at = sqlite3_column_int64(st, 7);
    r->rotated_at = sqlite3_column_int64(st, 8);
    r->revoked = sqlite3_column_int(st, 9) != 0;
    return row_result(ok, "refresh_tokens");
}

static enum tn_err read_key(sqlite3_stmt *st, struct tn_signing_key *k)
{
    bool ok = TEXT(0, k->kid) && TEXT(1, k->alg) && TEXT(2, k->pem);
    k->created_at = sqlite3_column_int64(st, 3);
    k->signs_from = sqlite3_column_int64(st, 4);
    k->retire_at = sqlite3_column_int64(st, 5);
    return row_result(ok, "signing_keys");
}

/* Copies a text column cut to `cap` - 1 bytes at a character boundary (snippets: an
 * excerpt may be longer than its field, and shorter is still an excerpt). */
static void col_text_cut(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && (t[n] & 0xc0) == 0x80) /* t[n] continues a character: back up */
            n--;
    }
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* Columns NOTE_COLS (or NOTE_LIST_COLS), then for searches the snippet and the bm25 score. n->content is a
 * copy the caller frees with tn_note_deinit (also on failure), or with `borrow` the
 * row's own text, valid until the statement's next step, which nobody frees. */
static enum tn_err read_note_cols(sqlite3_stmt *st, struct tn_note *n, bool search, bool borrow)
{
    bool ok = TEXT(0, n->id) && TEXT(1, n->owner) && TEXT(2, n->org) && TEXT(3, n->title) &&
              TEXT(5, n->tags) && TEXT(6, n->visibility);
    const unsigned char *c = sqlite3_column_text(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4);
    if (!c && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
        return TN_ERR_NOMEM;
    if (borrow) {
        n->content = c ? (char *)c : (char *)"";
    } else {
        if (!(n->content = malloc(len + 1)))
            return TN_ERR_NOMEM;
        if (len)
            memcpy(n->content, c, len);
        n->content[len] = '\0';
    }
    n->version = sqlite3_column_int64(st, 7);
    n->created_at = sqlite3_column_int64(st, 8);
    n->updated_at = sqlite3_column_int64(st, 9);
    n->length = sqlite3_column_int64(st, 10);
    if (search) {
        col_text_cut(st, 11, n->snippet, sizeof n->snippet);
        n->rank = -sqlite3_column_double(st, 12); /* the header's rank: higher is better */
    }
    return row_result(ok, "notes");
}

static enum tn_err read_note(sqlite3_stmt *st, struct tn_note *n)
{
    return read_note_cols(st, n, false, false);
}

static enum tn_err read_audit(sqlite3_stmt *st, struct tn_audit *a)
{
    a->at = sqlite3_column_int64(st, 0);
    bool ok = TEXT(1, a->user) && TEXT(2, a->org) && TEXT(3, a->client_id) &&
              TEXT(4, a->tool) && TEXT(5, a->note_id) && TEXT(6, a->outcome);
    return row_result(ok, "audit");
}

/* ---------- generic shapes of a call ---------- */

/* One write statement in its own (implicit) transaction. With `must_change`, no row
 * changed means TN_ERR_NOT_FOUND. */
#define WRITE1(base, must_change, id, ...)                                                   \
    do {                                                                                     \
        struct call k_;                                                                      \
        enum tn_err e_ = call_begin((base), &k_, true);                                      \
        if (e_ != TN_OK)                                                                     \
            return e_;                                                                       \
        e_ = run(&k_, (id), NULL, __VA_ARGS__);                                              \
        if (e_ == TN_OK && (must_change) && changes(&k_) == 0)                               \
            e_ = TN_ERR_NOT_FOUND;                                                           \
        call_end(&k_);                                                                       \
        return e_;                                                                           \
    } while (0)

/* One row read into *out with reader `rd`; *out is zeroed again unless TN_OK. */
#define READ1(base, out, rd, id, ...)                                                        \
    do {                                                                                     \
        struct call k_;                                                                      \
        sqlite3_stmt *st_;                                                                   \
        enum tn_err e_ = call_begin((base), &k_, false);                                     \
        if (e_ != TN_OK)                                                                     \
            return e_;                                                                       \
        e_ = run(&k_, (id), &st_, __VA_ARGS__);                                              \
        if (e_ == TN_OK)                                                                     \
            e_ = rd(st_, (out));                                                             \
        finish(st_);                                                                         \
        call_end(&k_);                                                                       \
        if (e_ != TN_OK)                                                                     \
            memset((out), 0, sizeof *(out));                                                 \
        return e_;                                                                           \
    } while (0)

/* Every row of `id`, read into `type` with `rd` and handed to `cb`. The statement
 * is one read transaction: callbacks see a consistent snapshot. */
#define LIST(base, type, rd, id, cb, ud)                                                     \
    do {                                                                                     \
        struct call k_;                                                                      \
        sqlite3_stmt *st_;                                                                   \
        enum tn_err e_ = call_begin((base), &k_, false);                                     \
        if (e_ != TN_OK)                                                                     \
            return e_;                                                                       \
        for (e_ = run(&k_, (id), &st_, ""); e_ == TN_OK; e_ = step(&k_, st_, (id))) {        \
            type item_;                                                                      \
            memset(&item_, 0, sizeof item_);                                                 \
            if ((e_ = rd(st_, &item_)) != TN_OK)                                             \
                break;                                                                       \
            cb(&item_, (ud));                                                                \
        }                                                                                    \
        finish(st_);                                                                         \
        call_end(&k_);                                                                       \
        return e_ == TN_ERR_NOT_FOUND ? TN_OK : e_;                                          \
    } while (0)

/* ---------- organizations ---------- */

static enum tn_err sq_org_insert(struct tn_store *s, const struct tn_org *o)
{
    WRITE1(s, false, S_ORG_INSERT, "tti", o->id, o->name, o->created_at);
}

static enum tn_err sq_org_get(struct tn_store *s, const char *id, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_GET, "t", id);
}

static enum tn_err sq_org_by_name(struct tn_store *s, const char *name, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_BY_NAME, "t", name);
}

static enum tn_err sq_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud)
{
    LIST(s, struct tn_org, read_org, S_ORG_LIST, cb, ud);
}

/* ---------- users ---------- */

static enum tn_err sq_user_insert(struct tn_store *s, const struct tn_user *u)
{
    WRITE1(s, false, S_USER_INSERT, "ttttttbii", u->id, u->email, u->name, u->org_id, u->role,
           u->password_hash, (int)u->disabled, u->created_at, u->tokens_valid_after);
}

static enum tn_err sq_user_get(struct tn_store *s, const char *id, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_GET, "t", id);
}

static enum tn_err sq_user_by_email(struct tn_store *s, const char *email, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_BY_EMAIL, "t", email);
}

static enum tn_err sq_user_update(struct tn_store *s, const struct tn_user *u)
{
    WRITE1(s, true, S_USER_UPDATE, "tttttbi", u->id, u->name, u->org_id, u->role,
           u->password_hash, (int)u->disabled, u->tokens_valid_after);
}

static enum tn_err read_count(sqlite3_stmt *st, int64_t *n)
{
    *n = sqlite3_column_int64(st, 0);
    return TN_OK;
}

static enum tn_err sq_user_count(struct tn_store *s, int64_t *n)
{
    READ1(s, n, read_count, S_USER_COUNT, "");
}

static enum tn_err sq_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud)
{
    LIST(s, struct tn_user, read_user, S_USER_LIST, cb, ud);
}

/* ---------- clients ---------- */

static enum tn_err sq_client_insert(struct tn_store *s, const struct tn_client *c)
{
    WRITE1(s, false, S_CLIENT_INSERT, "tttttttttii", c->id, c->name, c->redirect_uris,
           c->secret_hash, c->auth_method, c->grant_types, c->scope, c->application_type,
           c->metadata, c->created_at, c->last_used_at);
}

static enum tn_err sq_client_get(struct tn_store *s, const char *id, struct tn_client *out)
{
    READ1(s, out, read_client, S_CLIENT_GET, "t", id);
}

static enum tn_err sq_client_touch(struct tn_store *s, const char *id, int64_t now)
{
    WRITE1(s, true, S_CLIENT_TOUCH, "ti", id, now);
}

/* Consents, codes and refresh tokens go with it: ON DELETE CASCADE, same statement. */
static enum tn_err sq_client_delete(struct tn_store *s, const char *id)
{
    WRITE1(s, true, S_CLIENT_DELETE, "t", id);
}

static enum tn_err sq_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud)
{
    LIST(s, struct tn_client, read_client, S_CLIENT_LIST, cb, ud);
}

static enum tn_err sq_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n)
{
    struct call k;
    enum tn_err e = call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    e = run(&k, S_CLIENT_DELETE_UNUSED, NULL, "i", created_before);
    /* changes() counts the clients only, not the rows the cascade removed. */
    if (e == TN_OK)
        *n = changes(&k);
    call_end(&k);
    return e;
}

/* ---------- consent ---------- */

static enum tn_err sq_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                                  char scope[256])
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = run(&k, S_CONSENT_GET, &st, "tt", user_id, client_id);
    if (e == TN_OK)
        e = row_result(col_text(st, 0, scope, 256), "consents");
    finish(st);
    call_end(&k);
    if (e != TN_OK)
        memset(scope, 0, 256);
    return e;
}

static enum tn_err sq_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                                  const char *scope, int64_t now)
{
    WRITE1(s, false, S_CONSENT_PUT, "ttti", user_id, client_id, scope, now);
}

static enum tn_err sq_consent_revoke(struct tn_store *s, const char *user_id,
                                     const char *client_id)
{
    if (client_id)
        WRITE1(s, false, S_CONSENT_REVOKE, "tt", user_id, client_id);
    else
        WRITE1(s, false, S_CONSENT_REVOKE_ALL, "t", user_id);
}

/* ---------- authorization codes ---------- */

static enum tn_err sq_code_insert(struct tn_store *s, const struct tn_code *c)
{
    WRITE1(s, false, S_CODE_INSERT, "httttttti", c->hash,
           c->client_id, c->user_id, c->redirect_uri, c->scope, c->resource, c->challenge,
           c->family, c->expires_at);
}

static enum tn_err sq_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out)
{
    struct call k;
    sqlite3_stmt *st;
    bool used = false;
    enum tn_err e = call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = run(&k, S_BEGIN, NULL, "")) != TN_OK)
        goto done;
    if ((e = run(&k, S_CODE_GET, &st, "h", hash)) != TN_OK)
        goto done;
    e = read_code(st, out, &used);
    finish(st);
    if (e != TN_OK)
        goto done;
    if (used) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    if ((e = run(&k, S_CODE_USE, NULL, "h", hash)) != TN_OK)
        goto done;
    /* BEGIN IMMEDIATE already excludes a concurrent taker; the condition in CODE_USE
     * (used = 0) makes the single use hold even if that ever changes. */
    if (changes(&k) != 1) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    e = run(&k, S_COMMIT, NULL, "");
done:
    call_end(&k);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        memset(out, 0, sizeof *out);
    return e;
}

/* ---------- refresh tokens ---------- */

static enum tn_err insert_refresh(struct call *k, const struct tn_refresh *r)
{
    return run(k, S_REFRESH_INSERT, NULL, "htttttiiib", r->hash, r->family, r->client_id,
               r->user_id, r->scope, r->resource, r->issued_at, r->expires_at, r->rotated_at,
               (int)r->revoked);
}

static enum tn_err sq_refresh_insert(struct tn_store *s, const struct tn_refresh *r)
{
    struct call k;
    enum tn_err e = call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    e = insert_refresh(&k, r);
    call_end(&k);
    return e;
}

static enum tn_err sq_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                                     const struct tn_refresh *next, int64_t now,
                                     struct tn_refresh *old)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = run(&k, S_BEGIN, NULL, "")) != TN_OK)
        goto done;
    if ((e = run(&k, S_REFRESH_GET, &st, "h", old_hash)) != TN_OK)
        goto done;
    e = read_refresh(st, old);
    finish(st);
    if (e != TN_OK)
        goto done;
    if (old->rotated_at != 0 || old->revoked || old->expires_at <= now) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    /* The successor stays in the grant it replaces; anything else is a caller bug that
     * would move a grant to another client or user. */
    if (strcmp(next->family, old->family) != 0 || strcmp(next->client_id, old->client_id) != 0 ||
        strcmp(next->user_id, old->user_id) != 0) {
        e = TN_ERR_BAD_INPUT;
        goto done;
    }
    if ((e = run(&k, S_REFRESH_MARK, NULL, "hi", old_hash, now)) != TN_OK)
        goto done;
    if (changes(&k) != 1) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    if ((e = insert_refresh(&k, next)) != TN_OK)
        goto done;
    if ((e = run(&k, S_COMMIT, NULL, "")) != TN_OK)
        goto done;
    old->rotated_at = now;
done:
    call_end(&k);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        memset(old, 0, sizeof *old);
    return e;
}

static enum tn_err sq_refresh_get(struct tn_store *s, const uint8_t hash[32],
                                  struct tn_refresh *out)
{
    READ1(s, out, read_refresh, S_REFRESH_GET, "h", hash);
}

static enum tn_err sq_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                          int64_t grace_s)
{
    WRITE1(s, true, S_REFRESH_SPEND_GRACE, "hii", hash, now, grace_s);
}

/* Revokes the family's tokens and remembers the family, so that a token inserted into
 * it afterwards is born revoked. Succeeds when the family has no token (yet). */
static enum tn_err sq_family_revoke(struct tn_store *s, const char *family)
{
    struct call k;
    enum tn_err e = call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = run(&k, S_BEGIN, NULL, "")) == TN_OK &&
        (e = run(&k, S_FAMILY_REVOKE, NULL, "t", family)) == TN_OK &&
        (e = run(&k, S_FAMILY_REMEMBER, NULL, "t", family)) == TN_OK)
        e = run(&k, S_COMMIT, NULL, "");
    call_end(&k);
    return e;
}

static enum tn_err sq_user_revoke_all(struct tn_store *s, const char *user_id)
{
    WRITE1(s, false, S_USER_REVOKE_ALL, "t", user_id);
}

/* ---------- signing keys ---------- */

static enum tn_err sq_key_insert(struct tn_store *s, const struct tn_signing_key *k)
{
    WRITE1(s, false, S_KEY_INSERT, "tttiii", k->kid, k->alg, k->pem, k->created_at,
           k->signs_from, k->retire_at);
}

static enum tn_err sq_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud)
{
    LIST(s, struct tn_signing_key, read_key, S_KEY_LIST, cb, ud);
}

static enum tn_err sq_key_delete(struct tn_store *s, const char *kid)
{
    WRITE1(s, true, S_KEY_DELETE, "t", kid);
}

static enum tn_err sq_key_replace(struct tn_store *s, const char *kid, const char *expected,
                                  const char *pem)
{
    WRITE1(s, true, S_KEY_REPLACE, "ttt", kid, expected, pem);
}

/* ---------- notes ---------- */

/* The owner's own note `id` into *out (TN_ERR_NOT_FOUND when o has no such note). On
 * failure *out holds no allocation. */
static enum tn_err read_own(struct call *k, const struct tn_owner *o, const char *id,
                            struct tn_note *out)
{
    sqlite3_stmt *st;
    enum tn_err e = run(k, S_NOTE_OWN, &st, "ttt", id, o->user, o->org);
    if (e == TN_OK)
        e = read_note(st, out);
    finish(st);
    if (e != TN_OK) {
        tn_note_deinit(out);
        memset(out, 0, sizeof *out);
    }
    return e;
}

/* ---------- group commit ----------
 *
 * Note writes are durable when they return (synchronous=FULL), and a commit costs an
 * fsync. Concurrent writers therefore share commits: each queues its work; one of them
 * (the leader) takes everything queued, runs it in one transaction (see run_group for a
 * piece that fails), commits once, and wakes the others with their results. Work queued
 * meanwhile forms the next group. Alone, a writer is its own group of one: nothing waits
 * for a timer. Writers wait on the HTTP layer's blocking pool (writes are offloaded
 * there), so a group can be as large as the number of writes in flight. */
/* The work of one write. It may run more than once (see run_group), so it must reset
 * its outputs at the start. */
typedef enum tn_err (*body_fn)(struct call *k, void *arg);

struct gop {
    body_fn body;
    void *arg;
    enum tn_err result;
    bool done;  /* failed and taken out of the group (leader's use) */
    atomic_bool woken; /* the group finished: result is final */
    /* Its writer sleeps here, woken alone: to lead the next group, or when its group
     * finished (woken set first). Posted without gmu held, so that a woken writer does
     * not at once block on the mutex its waker holds. */
    sem_t sem;
    struct gop *next;
};

/* Runs the group's work in one transaction. A piece that fails is taken out, the
 * transaction rolled back and the rest run again without it (the bodies start from
 * scratch each time); failures are rare (a stale version), and a SAVEPOINT per piece
 * would cost more: FTS5 writes its pending index data at every savepoint. */
static void run_group(struct sqlite_store *s, struct gop *g)
{
    struct call k;
    enum tn_err e = call_begin(&s->base, &k, true);
    bool again = true;
    while (e == TN_OK && again) {
        again = false;
        e = run(&k, S_BEGIN, NULL, "");
        for (struct gop *op = g; op && e == TN_OK; op = op->next) {
            if (op->done)
                continue; /* failed in an earlier round */
            enum tn_err r = op->body(&k, op->arg);
            if (r != TN_OK) {
                op->result = r;
                op->done = true;
                again = true;
                break;
            }
            op->result = TN_OK;
        }
        if (e == TN_OK && again)
            e = sqlite3_exec(k.c->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK
                    ? TN_OK
                    : fail(&k, sqlite3_extended_errcode(k.c->db), S_BEGIN);
    }
    if (e == TN_OK)
        e = run(&k, S_COMMIT, NULL, "");
    if (k.c)
        call_end(&k); /* rolls back when the commit did not happen */
    /* nothing of the group is on disk unless the commit succeeded */
    for (struct gop *op = g; op; op = op->next)
        if (e != TN_OK && !(op->done && op->result != TN_OK))
            op->result = e;
}

static enum tn_err grouped(struct tn_store *base, body_fn body, void *arg)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct gop me = {.body = body, .arg = arg, .result = TN_ERR_INTERNAL};
    atomic_init(&me.woken, false);
    sem_init(&me.sem, 0, 0);
    pthread_mutex_lock(&s->gmu);
    if (s->gq_tail)
        s->gq_tail->next = &me;
    else
        s->gq_head = &me;
    s->gq_tail = &me;
    if (s->leading) {
        pthread_mutex_unlock(&s->gmu);
        while (sem_wait(&me.sem) != 0) /* EINTR */
            ;
        if (atomic_load(&me.woken)) { /* another writer's group carried mine */
            sem_destroy(&me.sem);
            return me.result;
        }
        pthread_mutex_lock(&s->gmu); /* the lead was handed to me; my work is queued */
    }
    s->leading = true;
    struct gop *g = s->gq_head;
    s->gq_head = s->gq_tail = NULL;
    pthread_mutex_unlock(&s->gmu);
    run_group(s, g);
    for (struct gop *op = g, *next; op; op = next) {
        next = op->next; /* read first: a woken writer's gop goes away */
        if (op != &me) {
            atomic_store(&op->woken, true);
            sem_post(&op->sem);
        }
    }
    /* Writers that queued meanwhile: the first of them leads their group (the lead
     * passes straight to it, so no newcomer can take that group over and each writer is
     * posted exactly once). */
    pthread_mutex_lock(&s->gmu);
    struct gop *head = s->gq_head;
    if (!head)
        s->leading = false;
    pthread_mutex_unlock(&s->gmu);
    if (head)
        sem_post(&head->sem);
    sem_destroy(&me.sem);
    return me.result;
}

/* Appends "<prefix>HEX(s)" as SQLite's hex() writes it (upper case), for scope tokens. */
static enum tn_err hex_token(struct tn_buf *b, const char *prefix, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    enum tn_err e = tn_buf_puts(b, prefix);
    for (const unsigned char *p = (const unsigned char *)s; *p && e == TN_OK; p++) {
        char two[2] = {digits[*p >> 4], digits[*p & 15]};
        e = tn_buf_append(b, two, 2);
    }
    return e;
}

/* A note's scope_own and scope_org (what migration 0003's generated columns compute). */
static enum tn_err scope_of(const struct tn_owner *o, const char *visibility, struct tn_buf *own,
                            struct tn_buf *org)
{
    enum tn_err e = hex_token(own, "u", o->user);
    if (e == TN_OK)
        e = hex_token(own, "x", o->org);
    if (e == TN_OK)
        e = !strcmp(visibility, "org") && o->org[0] ? hex_token(org, "s", o->org)
                                                     : tn_buf_puts(org, "");
    return e;
}

struct note_insert {
    const struct tn_owner *o;
    const struct tn_note *n;
};

static enum tn_err note_insert_body(struct call *k, void *arg)
{
    const struct note_insert *a = arg;
    const struct tn_owner *o = a->o;
    const struct tn_note *n = a->n;
    enum tn_err e = run(k, S_NOTE_INSERT, NULL, "tttttttiii", n->id, o->user, o->org, n->title,
                        n->content, n->tags, n->visibility, n->version, n->created_at,
                        n->updated_at);
    if (e != TN_OK)
        return e;
    int64_t seq = sqlite3_last_insert_rowid(k->c->db);
    /* one single-row statement per tag (no statement savepoint; see NOTE_INDEX_NEW) */
    json_t *tags = json_loads(n->tags, 0, NULL);
    if (!json_is_array(tags)) {
        json_decref(tags);
        return TN_ERR_BAD_INPUT;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (e == TN_OK)
            e = json_is_string(t) ? run(k, S_NOTE_TAG_ADD, NULL, "it", seq, json_string_value(t))
                                  : TN_ERR_BAD_INPUT;
    }
    json_decref(tags);
    struct tn_buf own, org;
    tn_buf_init(&own, 4096);
    tn_buf_init(&org, 4096);
    if (e == TN_OK)
        e = scope_of(o, n->visibility, &own, &org);
    if (e == TN_OK)
        e = run(k, S_NOTE_INDEX_NEW, NULL, "ittttt", seq, n->title, n->content, n->tags,
                own.data, org.data ? org.data : "");
    tn_buf_deinit(&own);
    tn_buf_deinit(&org);
    return e;
}

static enum tn_err sq_note_insert(struct tn_store *s, const struct tn_owner *o,
                                  const struct tn_note *n)
{
    struct note_insert a = {.o = o, .n = n};
    return grouped(s, note_insert_body, &a);
}

struct note_import {
    const struct tn_note *v;
    size_t n, added;
};

/* Indexed like an insert (note_insert_body), for the notes the import adds. */
static enum tn_err note_import_body(struct call *k, void *arg)
{
    struct note_import *a = arg;
    enum tn_err e = TN_OK;
    struct tn_buf own, org;
    tn_buf_init(&own, 4096);
    tn_buf_init(&org, 4096);
    a->added = 0; /* a body may run again: start clean */
    for (size_t i = 0; i < a->n && e == TN_OK; i++) {
        const struct tn_note *n = &a->v[i];
        struct tn_owner o = {.user = n->owner, .org = n->org};
        e = run(k, S_NOTE_IMPORT, NULL, "tttttttiii", n->id, n->owner, n->org, n->title,
                n->content, n->tags, n->visibility, n->version, n->created_at, n->updated_at);
        if (e != TN_OK || changes(k) != 1)
            continue; /* imported before */
        int64_t seq = sqlite3_last_insert_rowid(k->c->db);
        tn_buf_reset(&own);
        tn_buf_reset(&org);
        if ((e = scope_of(&o, n->visibility, &own, &org)) == TN_OK)
            e = run(k, S_NOTE_INDEX_NEW, NULL, "ittttt", seq, n->title, n->content, n->tags,
                    own.data, org.data ? org.data : "");
        a->added++;
    }
    tn_buf_deinit(&own);
    tn_buf_deinit(&org);
    return e;
}

static enum tn_err sq_note_import(struct tn_store *s, const struct tn_note *v, size_t n,
                                  size_t *added)
{
    struct note_import a = {.v = v, .n = n};
    enum tn_err e = grouped(s, note_import_body, &a);
    *added = e == TN_OK ? a.added : 0;
    return e;
}

static enum tn_err sq_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                               struct tn_note *out)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = run(&k, S_NOTE_GET, &st, "ttt", id, o->user, o->org);
    if (e == TN_OK)
        e = read_note(st, out);
    finish(st);
    call_end(&k);
    if (e != TN_OK) {
        tn_note_deinit(out);
        memset(out, 0, sizeof *out);
    }
    return e;
}

/* Optimistic concurrency: the UPDATE names the expected version, and when it changes
 * nothing a second read, scoped to the owner like the update, tells a stale version
 * (TN_ERR_CONFLICT, *out = the current note) from a note o does not have. */
struct note_update {
    const struct tn_owner *o;
    const char *id;
    int64_t expected_version;
    const char *title, *content, *tags, *visibility;
    int64_t now;
    struct tn_note *out;
};

static enum tn_err note_update_body(struct call *k, void *arg)
{
    struct note_update *a = arg;
    const struct tn_owner *o = a->o;
    /* a body may run again (its group rolled back for another's failure): start clean */
    tn_note_deinit(a->out);
    /* the visibility is in the index too (the scope tokens) */
    bool reindex = a->title || a->content || a->tags || a->visibility;
    enum tn_err e;
    /* The index entry must be removed with the text it was added with, so before the
     * update; when the update then changes nothing, the rollback restores it. */
    if (reindex && (e = run(k, S_NOTE_UNINDEX, NULL, "ttti", a->id, o->user, o->org,
                            a->expected_version)) != TN_OK)
        return e;
    if ((e = run(k, S_NOTE_UPDATE, NULL, "tttitttti", a->id, o->user, o->org,
                 a->expected_version, a->title, a->content, a->tags, a->visibility, a->now)) !=
        TN_OK)
        return e;
    if (changes(k) != 1) {
        e = read_own(k, o, a->id, a->out);
        return e == TN_OK ? TN_ERR_CONFLICT : e;
    }
    if (reindex && (e = run(k, S_NOTE_INDEX, NULL, "ttt", a->id, o->user, o->org)) != TN_OK)
        return e;
    if (a->tags && ((e = run(k, S_NOTE_TAGS_CLEAR, NULL, "ttt", a->id, o->user, o->org)) != TN_OK ||
                    (e = run(k, S_NOTE_TAGS_SET, NULL, "ttt", a->id, o->user, o->org)) != TN_OK))
        return e;
    return read_own(k, o, a->id, a->out);
}

static enum tn_err sq_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                                  int64_t expected_version, const char *title,
                                  const char *content, const char *tags, const char *visibility,
                                  int64_t now, struct tn_note *out)
{
    struct note_update a = {.o = o, .id = id, .expected_version = expected_version,
                            .title = title, .content = content, .tags = tags,
                            .visibility = visibility, .now = now, .out = out};
    enum tn_err e = grouped(s, note_update_body, &a);
    if (e != TN_OK && e != TN_ERR_CONFLICT) {
        tn_note_deinit(out);
        memset(out, 0, sizeof *out);
    }
    return e;
}

struct note_delete {
    const struct tn_owner *o;
    const char *id;
    int64_t expected_version;
};

static enum tn_err note_delete_body(struct call *k, void *arg)
{
    const struct note_delete *a = arg;
    const struct tn_owner *o = a->o;
    enum tn_err e;
    if ((e = run(k, S_NOTE_UNINDEX, NULL, "ttti", a->id, o->user, o->org, a->expected_version)) !=
        TN_OK)
        return e;
    /* note_tags rows go with it (ON DELETE CASCADE). */
    if ((e = run(k, S_NOTE_DELETE, NULL, "ttti", a->id, o->user, o->org, a->expected_version)) !=
        TN_OK)
        return e;
    if (changes(k) == 1)
        return TN_OK;
    struct tn_note cur;
    memset(&cur, 0, sizeof cur);
    e = read_own(k, o, a->id, &cur);
    tn_note_deinit(&cur);
    return e == TN_OK ? TN_ERR_CONFLICT : e;
}

static enum tn_err sq_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                                  int64_t expected_version)
{
    struct note_delete a = {.o = o, .id = id, .expected_version = expected_version};
    return grouped(s, note_delete_body, &a);
}

/* Hands every row of a note query, started by run() with result `e`, to `cb`. The
 * note and its content (the row's own, not a copy) live only during the callback. */
static enum tn_err each_note(struct call *k, enum stmt_id id, sqlite3_stmt *st, enum tn_err e,
                             bool search, tn_store_note_cb cb, void *ud)
{
    /* one note reused for every row: read_note_cols sets every member it reads, and
     * clearing the whole (several KiB) per row would cost more than the row */
    struct tn_note n;
    n.content = NULL;
    n.snippet[0] = '\0';
    n.rank = 0;
    for (; e == TN_OK; e = step(k, st, id)) {
        e = read_note_cols(st, &n, search, true);
        if (e == TN_OK)
            cb(&n, ud);
        if (e != TN_OK)
            break;
    }
    finish(st);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

static enum tn_err sq_note_list(struct tn_store *s, const struct tn_owner *o,
                                const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = run(&k, S_NOTE_LIST, &st, "ttitti", o->user, o->org, p->after_updated, p->after_id,
            p->tag, (int64_t)p->limit);
    e = each_note(&k, S_NOTE_LIST, st, e, false, cb, ud);
    call_end(&k);
    return e;
}

static enum tn_err sq_note_list_team(struct tn_store *s, const struct tn_owner *o,
                                     const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = run(&k, S_NOTE_LIST_TEAM, &st, "titti", o->org, p->after_updated, p->after_id, p->tag,
            (int64_t)p->limit);
    e = each_note(&k, S_NOTE_LIST_TEAM, st, e, false, cb, ud);
    call_end(&k);
    return e;
}

/* The FTS5 expression for plain words: each searchable word becomes one string ("..."
 * with every " doubled), and strings side by side must all match. Inside a string FTS5
 * sees no syntax: AND, OR, NOT, NEAR, *, ^, :, ( and ) are text to tokenize. */
static enum tn_err fts_query(const char *q, struct tn_buf *out)
{
    enum tn_err e = TN_OK;
    for (size_t i = 0; q[i] && e == TN_OK;) {
        while (q[i] && tn_store_query_space(q[i]))
            i++;
        size_t start = i;
        while (q[i] && !tn_store_query_space(q[i]))
            i++;
        if (i == start || !tn_store_word_searchable(q + start, i - start))
            continue;
        if (out->len)
            e = tn_buf_append(out, " ", 1);
        if (e == TN_OK)
            e = tn_buf_append(out, "\"", 1);
        for (size_t j = start; j < i && e == TN_OK; j++)
            e = tn_buf_append(out, q[j] == '"' ? "\"\"" : &q[j], q[j] == '"' ? 2 : 1);
        if (e == TN_OK)
            e = tn_buf_append(out, "\"", 1);
    }
    if (e == TN_OK && out->len == 0)
        e = TN_ERR_BAD_INPUT;
    return e;
}

/* The MATCH expression of a search by `o`: their scope tokens (their own notes; the
 * notes shared in their organization) AND the words, each part limited to its
 * columns. Only quoted strings reach FTS5 (see fts_query). */
static enum tn_err search_match(const struct tn_owner *o, const char *query, struct tn_buf *out)
{
    enum tn_err e = tn_buf_puts(out, "({scope_own}: \"");
    if (e == TN_OK)
        e = hex_token(out, "u", o->user);
    if (e == TN_OK)
        e = hex_token(out, "x", o->org);
    if (e == TN_OK && o->org[0]) {
        e = tn_buf_puts(out, "\" OR {scope_org}: \"");
        if (e == TN_OK)
            e = hex_token(out, "s", o->org);
    }
    if (e == TN_OK)
        e = tn_buf_puts(out, "\") AND {title content tags}: (");
    struct tn_buf words;
    tn_buf_init(&words, 2 * TN_STORE_QUERY_MAX_BYTES + 3 * TN_STORE_QUERY_MAX_WORDS);
    if (e == TN_OK)
        e = fts_query(query, &words);
    if (e == TN_OK)
        e = tn_buf_append(out, words.data, words.len);
    if (e == TN_OK)
        e = tn_buf_puts(out, ")");
    tn_buf_deinit(&words);
    return e;
}

static enum tn_err sq_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                                  unsigned limit, tn_store_note_cb cb, void *ud)
{
    struct tn_buf match;
    /* the words (each byte at most doubled, quotes and spaces) and the scope tokens */
    tn_buf_init(&match, 2 * TN_STORE_QUERY_MAX_BYTES + 3 * TN_STORE_QUERY_MAX_WORDS + 4096);
    enum tn_err e = search_match(o, query, &match);
    if (e != TN_OK) {
        tn_buf_deinit(&match);
        return e;
    }
    struct call k;
    sqlite3_stmt *st;
    if ((e = call_begin(s, &k, false)) == TN_OK) {
        e = run(&k, S_NOTE_SEARCH, &st, "ttti", match.data, o->user, o->org, (int64_t)limit);
        e = each_note(&k, S_NOTE_SEARCH, st, e, true, cb, ud);
        call_end(&k);
    }
    tn_buf_deinit(&match);
    return e;
}

/* ---------- audit ---------- */

/* AUDIT_ROWS records with one statement (a batch's per-statement work shared). */
static enum tn_err audit_rows(struct call *k, const struct tn_audit *a)
{
    struct conn *c = k->c;
    int rc = SQLITE_OK;
    if (!c->st[S_AUDIT_INSERT_ROWS])
        rc = sqlite3_prepare_v3(c->db, stmt_sql[S_AUDIT_INSERT_ROWS], -1,
                                SQLITE_PREPARE_PERSISTENT, &c->st[S_AUDIT_INSERT_ROWS], NULL);
    sqlite3_stmt *st = c->st[S_AUDIT_INSERT_ROWS];
    for (int r = 0; r < AUDIT_ROWS && rc == SQLITE_OK; r++) {
        int b = r * 7;
        const char *text[6] = {a[r].user, a[r].org, a[r].client_id, a[r].tool, a[r].note_id,
                               a[r].outcome};
        rc = sqlite3_bind_int64(st, b + 1, a[r].at);
        for (int i = 0; i < 6 && rc == SQLITE_OK; i++)
            rc = sqlite3_bind_text(st, b + 2 + i, text[i], -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    enum tn_err e = rc == SQLITE_DONE ? TN_OK : fail(k, rc, S_AUDIT_INSERT_ROWS);
    finish(st);
    return e;
}

static enum tn_err sq_audit_insert(struct tn_store *s, const struct tn_audit *a, size_t n,
                                   bool sync)
{
    struct call k;
    enum tn_err e = call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    /* In WAL mode, synchronous=NORMAL commits without an fsync; the frames reach the disk
     * with the next synced commit or checkpoint. The connection goes back to FULL below
     * (note writes share these connections). */
    if (!sync) {
        k.c->lax = true; /* until FULL is back: pool_put drops it otherwise */
        if (sqlite3_exec(k.c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
            sync = true;
    }
    e = run(&k, S_BEGIN, NULL, "");
    size_t i = 0;
    /* Writing a batch is ~0.4 ms of CPU at nice 10, and the scheduler lets a running thread
     * keep the core for its slice while a request's worker that wakes on the same core
     * waits: the request arriving then waited for the whole batch (that was the p99 at one
     * connection). Giving the core up between statements bounds the wait to one statement
     * (docs/PERFORMANCE.md); with nothing else to run it returns at once. */
    for (; i + AUDIT_ROWS <= n && e == TN_OK; i += AUDIT_ROWS) {
        e = audit_rows(&k, a + i);
        sched_yield();
    }
    for (; i < n && e == TN_OK; i++)
        e = run(&k, S_AUDIT_INSERT, NULL, "itttttt", a[i].at, a[i].user, a[i].org,
                a[i].client_id, a[i].tool, a[i].note_id, a[i].outcome);
    if (e == TN_OK)
        e = run(&k, S_COMMIT, NULL, "");
    if (k.c->lax && sqlite3_exec(k.c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) == SQLITE_OK)
        k.c->lax = false;
    call_end(&k);
    return e;
}

/* The frames of unsynced audit commits are in the WAL file: flushing that file is what
 * the next synced commit would have done. No WAL file: nothing is pending. */
static enum tn_err sq_audit_sync(struct tn_store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    char wal[PATH_MAX];
    if (snprintf(wal, sizeof wal, "%s-wal", s->path) >= (int)sizeof wal)
        return TN_ERR_LIMIT;
    int fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? TN_OK : TN_ERR_IO;
    enum tn_err e = fdatasync(fd) == 0 ? TN_OK : TN_ERR_IO;
    close(fd);
    return e;
}

static enum tn_err sq_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb,
                                 void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = run(&k, S_AUDIT_LIST, &st, "i", (int64_t)limit); e == TN_OK;
         e = step(&k, st, S_AUDIT_LIST)) {
        struct tn_audit a;
        memset(&a, 0, sizeof a);
        if ((e = read_audit(st, &a)) != TN_OK)
            break;
        cb(&a, ud);
    }
    finish(st);
    call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

/* ---------- open, migrate, close ---------- */

static void sq_close(struct tn_store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (!s)
        return;
    int n = 0;
    for (struct conn *c = s->idle, *nx; c; c = nx) {
        nx = c->next;
        conn_close(c);
        n++;
    }
    if (n != s->nopen)
        tn_log(TN_LOG_ERROR, "store: closed while calls were in flight", NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->gmu);
    pthread_mutex_destroy(&s->wmu);
    free(s->path);
    free(s);
}

static const struct tn_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .org_insert = sq_org_insert,
    .org_get = sq_org_get,
    .org_by_name = sq_org_by_name,
    .org_list = sq_org_list,
    .user_insert = sq_user_insert,
    .user_get = sq_user_get,
    .user_by_email = sq_user_by_email,
    .user_update = sq_user_update,
    .user_count = sq_user_count,
    .user_list = sq_user_list,
    .client_insert = sq_client_insert,
    .client_get = sq_client_get,
    .client_touch = sq_client_touch,
    .client_delete = sq_client_delete,
    .client_list = sq_client_list,
    .client_delete_unused = sq_client_delete_unused,
    .consent_get = sq_consent_get,
    .consent_put = sq_consent_put,
    .consent_revoke = sq_consent_revoke,
    .code_insert = sq_code_insert,
    .code_take = sq_code_take,
    .refresh_insert = sq_refresh_insert,
    .refresh_rotate = sq_refresh_rotate,
    .refresh_get = sq_refresh_get,
    .refresh_spend_grace = sq_refresh_spend_grace,
    .family_revoke = sq_family_revoke,
    .user_revoke_all = sq_user_revoke_all,
    .key_insert = sq_key_insert,
    .key_list = sq_key_list,
    .key_delete = sq_key_delete,
    .key_replace = sq_key_replace,
    .note_insert = sq_note_insert,
    .note_import = sq_note_import,
    .note_get = sq_note_get,
    .note_update = sq_note_update,
    .note_delete = sq_note_delete,
    .note_list = sq_note_list,
    .note_list_team = sq_note_list_team,
    .note_search = sq_note_search,
    .audit_insert = sq_audit_insert,
    .audit_sync = sq_audit_sync,
    .audit_list = sq_audit_list,
};

static int current_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1,
                                &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int record_version(sqlite3 *db, const struct tn_migration *m)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO schema_version (version, name, applied_at) "
                                "VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_bind_int(st, 1, m->version)) == SQLITE_OK &&
        (rc = sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC)) == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Applies pending migrations, one transaction each. The version is read again inside
 * each transaction, so two processes starting together apply each script once. */
static enum tn_err migrate(sqlite3 *db, const char *path, int *version, struct tn_buf *err)
{
    for (;;) {
        int v = 0;
        const char *what = "begin";
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            what = "schema_version";
            rc = sqlite3_exec(db,
                              "CREATE TABLE IF NOT EXISTS schema_version ("
                              "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                              "applied_at INTEGER NOT NULL)",
                              NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK)
            rc = current_version(db, &v);
        if (rc == SQLITE_OK && v > LATEST_VERSION) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            errf(err,
                 "%s has schema version %d but this teamnotes knows only up to %d: "
                 "it was written by a newer teamnotes; run that version (or newer)",
                 path, v, LATEST_VERSION);
            return TN_ERR_CONFIG;
        }
        if (rc == SQLITE_OK && v == LATEST_VERSION) {
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            if (rc == SQLITE_OK) {
                *version = v;
                return TN_OK;
            }
        }
        if (rc == SQLITE_OK) {
            const struct tn_migration *m = &tn_store_sqlite_migrations[v];
            what = m->name;
            rc = sqlite3_exec(db, m->sql, NULL, NULL, NULL);
            if (rc == SQLITE_OK)
                rc = record_version(db, m);
            if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            if (rc == SQLITE_OK)
                tn_log(TN_LOG_INFO, "store: migration applied", "migration", m->name, NULL);
        }
        if (rc != SQLITE_OK) {
            errf(err, "cannot migrate %s (%s): %s", path, what, sqlite3_errmsg(db));
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return (rc & 0xff) == SQLITE_BUSY ? TN_ERR_BUSY : TN_ERR_IO;
        }
    }
}

/* mkdir -p with mode 0700 for every directory it creates. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return ENOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = errno;
            break;
        }
        *q = c;
        if (c == '\0')
            break;
    }
    free(p);
    struct stat sb;
    if (rc == 0 && stat(dir, &sb) != 0)
        rc = errno;
    else if (rc == 0 && !S_ISDIR(sb.st_mode))
        rc = ENOTDIR;
    return rc;
}

/* Creates the database file 0600 (SQLite would use 0644 & ~umask; the -wal and -shm
 * files copy the database's mode) and tightens an existing one that others can read. */
static enum tn_err prepare_file(const char *path, struct tn_buf *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        errf(err, "cannot create %s: %s", path, strerror(errno));
        return TN_ERR_IO;
    }
    struct stat sb;
    enum tn_err e = TN_OK;
    if (fstat(fd, &sb) != 0) {
        errf(err, "cannot stat %s: %s", path, strerror(errno));
        e = TN_ERR_IO;
    } else if ((sb.st_mode & 077) != 0) {
        if (fchmod(fd, sb.st_mode & 0700) != 0) {
            errf(err, "cannot make %s private (chmod 600): %s", path, strerror(errno));
            e = TN_ERR_IO;
        } else {
            tn_log(TN_LOG_WARN, "store: database file was readable by others; now 0600", "path",
                   path, NULL);
        }
    }
    close(fd);
    return e;
}

enum tn_err tn_store_sqlite_open(const char *data_dir, struct tn_store **out, struct tn_buf *err)
{
    *out = NULL;
    struct sqlite_store *s = NULL;
    struct conn *c = NULL;
    enum tn_err e = TN_ERR_CONFIG;
    if (!sqlite3_threadsafe()) {
        errf(err, "this SQLite library was built without thread support");
        goto done;
    }
    int rc = make_dirs(data_dir);
    if (rc != 0) {
        errf(err, "cannot create the data directory %s: %s", data_dir, strerror(rc));
        e = TN_ERR_IO;
        goto done;
    }
    e = TN_ERR_NOMEM;
    if (!(s = calloc(1, sizeof *s)))
        goto done;
    s->base.ops = &sqlite_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->gmu, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    size_t n = strlen(data_dir) + sizeof "/teamnotes.db";
    if (!(s->path = malloc(n)))
        goto done;
    snprintf(s->path, n, "%s/teamnotes.db", data_dir);
    if ((e = prepare_file(s->path, err)) != TN_OK)
        goto done;
    if ((e = conn_open(s->path, &c, err)) != TN_OK)
        goto done;
    s->nopen = 1;
    if ((e = migrate(c->db, s->path, &s->base.schema_version, err)) != TN_OK)
        goto done;
    s->idle = c;
    c = NULL;
    *out = &s->base;
    s = NULL;
done:
    if (c) {
        conn_close(c);
        s->nopen = 0;
    }
    if (s)
        sq_close(&s->base);
    return e;
}
