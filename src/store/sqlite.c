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
 * recorded in schema_version. A database from a newer binary is refused.
 *
 * Files: this one (connections, running statements, open, migrate, close),
 * sqlite_auth.c (the authorization server's tables), sqlite_notes.c (notes, search,
 * audit), sqlite_commit.c (group commit); sqlite_internal.h is what they share. */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/migrations.h"

enum {
    POOL_MAX = 8,
    LOOP_RESERVE = 2, /* of POOL_MAX, never taken by threads that may wait (pool_get) */
    BUSY_TIMEOUT_MS = 5000,
};

/* ---------- migrations ---------- */

/* The scripts of migrations/sqlite/, compiled in by the build (store/migrations.h). */
#define LATEST_VERSION tn_store_sqlite_migrations_count

/* ---------- statements ---------- */

const char *const sq_stmt_sql[] = {
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

static void tn_rank(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int n_args,
                    sqlite3_value **args)
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
static void sqlite_global_config(void) { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

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

/* One connection came back (or room to open one): one waiter of each kind is woken
 * and pool_room decides (a waiter woken but not yet running still counts in wait_other,
 * so waking only that kind could leave the limited ones asleep by idle connections).
 * Under s->mu. */
static void pool_wake(struct sqlite_store *s)
{
    if (s->wait_other)
        pthread_cond_signal(&s->cv);
    if (s->wait_limited)
        pthread_cond_signal(&s->cv_limited);
}

/* Whether this thread may take a connection now: one it already holds one, or one
 * holding the write mutex, never waits (the first for itself, the second because the
 * holders may wait for that mutex: either opens one more, closed when returned); a
 * thread that may wait (the blocking pool's: tn_thread_may_wait) leaves LOOP_RESERVE
 * connections to the others, so that searches or waiting writes on the pool never make
 * an event loop wait for a connection. */
static bool pool_room(const struct sqlite_store *s, bool never_wait, bool limited)
{
    if (never_wait)
        return true;
    if (!s->idle && s->nopen >= POOL_MAX)
        return false;
    return !limited || s->nlimited < POOL_MAX - LOOP_RESERVE;
}

static enum tn_err pool_get(struct sqlite_store *s, struct conn **out, bool writer)
{
    *out = NULL;
    bool never_wait = held > 0 || writer;
    bool limited = !never_wait && tn_thread_may_wait();
    pthread_mutex_lock(&s->mu);
    while (!pool_room(s, never_wait, limited)) {
        unsigned *waiting = limited ? &s->wait_limited : &s->wait_other;
        (*waiting)++;
        pthread_cond_wait(limited ? &s->cv_limited : &s->cv, &s->mu);
        (*waiting)--;
    }
    /* a pool thread's writer (which may wait seconds behind another process's lock)
     * counts with the pool threads; past their share it opens one more rather than
     * take one of the loops' */
    bool pool_writer = writer && held == 0 && tn_thread_may_wait();
    bool extra = pool_writer && s->nlimited >= POOL_MAX - LOOP_RESERVE;
    struct conn *c = extra ? NULL : s->idle;
    limited = limited || pool_writer;
    if (limited)
        s->nlimited++;
    if (c) {
        s->idle = c->next;
        c->next = NULL;
        pthread_mutex_unlock(&s->mu);
    } else {
        if (extra) /* outside the pool's count, closed when returned */
            s->nextra++;
        else
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
            if (extra)
                s->nextra--;
            else
                s->nopen--;
            if (limited)
                s->nlimited--;
            pool_wake(s);
            pthread_mutex_unlock(&s->mu);
            return e;
        }
        tn_buf_deinit(&err);
    }
    c->limited = limited;
    c->extra = extra;
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
    if (c->limited)
        s->nlimited--;
    if (c->extra) {
        s->nextra--;
    } else if (drop || s->nopen > POOL_MAX) {
        s->nopen--;
    } else {
        c->next = s->idle;
        s->idle = c;
        c = NULL;
    }
    pool_wake(s);
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
}

/* ---------- running statements ---------- */

enum tn_err sq_call_begin(struct tn_store *base, struct call *k, bool writer)
{
    k->s = (struct sqlite_store *)base;
    k->writer = false;
    /* a writer waits for the write mutex first, holding no connection: writers queued
     * behind another process's write lock (the CLI, a backup) do not hold the pool */
    if (writer)
        pthread_mutex_lock(&k->s->wmu);
    enum tn_err e = pool_get(k->s, &k->c, writer);
    if (e != TN_OK) {
        if (writer)
            pthread_mutex_unlock(&k->s->wmu);
        return e;
    }
    k->writer = writer;
    return TN_OK;
}

/* Ends the call; a transaction still open (an error path) is rolled back before
 * another writer may start. */
void sq_call_end(struct call *k)
{
    if (!sqlite3_get_autocommit(k->c->db))
        sqlite3_exec(k->c->db, "ROLLBACK", NULL, NULL, NULL);
    /* returned before the next writer may start, so that it finds this connection idle
     * instead of opening one more (pool_get) */
    pool_put(k->s, k->c);
    if (k->writer)
        pthread_mutex_unlock(&k->s->wmu);
}

enum tn_err sq_fail(struct call *k, int rc, enum stmt_id id)
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

void sq_finish(sqlite3_stmt *st)
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
 * With `row`: TN_OK leaves the statement on its first row in *row (sq_finish() it);
 * TN_ERR_NOT_FOUND when there is none. Without: runs to completion. The bound values
 * are borrowed, so they must outlive the statement's use. */
enum tn_err sq_run(struct call *k, enum stmt_id id, sqlite3_stmt **row, const char *fmt, ...)
{
    if (row)
        *row = NULL;
    struct conn *c = k->c;
    int rc = SQLITE_OK;
    if (!c->st[id])
        rc = sqlite3_prepare_v3(c->db, sq_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id],
                                NULL);
    if (rc != SQLITE_OK)
        return sq_fail(k, rc, id);
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
    enum tn_err e = rc == SQLITE_DONE ? (row ? TN_ERR_NOT_FOUND : TN_OK) : sq_fail(k, rc, id);
    sq_finish(st);
    return e;
}

/* Next row of a statement left by sq_run(): TN_OK on a row, TN_ERR_NOT_FOUND at the end. */
enum tn_err sq_step(struct call *k, sqlite3_stmt *st, enum stmt_id id)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return TN_OK;
    return rc == SQLITE_DONE ? TN_ERR_NOT_FOUND : sq_fail(k, rc, id);
}

int sq_changes(struct call *k) { return sqlite3_changes(k->c->db); }

/* ---------- reading rows ---------- */

/* Copies a text column; false when it does not fit (never for rows this store wrote:
 * store.c checks every field against its size on the way in). */
bool sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
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

bool sq_col_hash(sqlite3_stmt *st, int i, uint8_t dst[32])
{
    const void *p = sqlite3_column_blob(st, i);
    if (!p || sqlite3_column_bytes(st, i) != 32)
        return false;
    memcpy(dst, p, 32);
    return true;
}

enum tn_err sq_row_result(bool ok, const char *table)
{
    if (ok)
        return TN_OK;
    tn_log(TN_LOG_ERROR, "store: a stored value does not fit its field", "table", table, NULL);
    return TN_ERR_INTERNAL;
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
    pthread_cond_destroy(&s->cv_limited);
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
    .user_swap_password = sq_user_swap_password,
    .user_count = sq_user_count,
    .user_list = sq_user_list,
    .client_insert = sq_client_insert,
    .client_get = sq_client_get,
    .client_touch = sq_client_touch,
    .client_delete = sq_client_delete,
    .client_list = sq_client_list,
    .client_delete_unused = sq_client_delete_unused,
    .identity_get = sq_identity_get,
    .identity_link = sq_identity_link,
    .identity_touch = sq_identity_touch,
    .identity_list = sq_identity_list,
    .identity_delete_user = sq_identity_delete_user,
    .grant_list = sq_grant_list,
    .grant_revoke = sq_grant_revoke,
    .grant_revocations = sq_grant_revocations,
    .grant_revoked_at = sq_grant_revoked_at,
    .user_sign_out = sq_user_sign_out,
    .invitation_insert = sq_invitation_insert,
    .invitation_get = sq_invitation_get,
    .invitation_take = sq_invitation_take,
    .invitation_pending = sq_invitation_pending,
    .invitation_list = sq_invitation_list,
    .invitation_revoke = sq_invitation_revoke,
    .org_domain_add = sq_org_domain_add,
    .org_domain_get = sq_org_domain_get,
    .org_domain_remove = sq_org_domain_remove,
    .org_domain_list = sq_org_domain_list,
    .org_sso_put = sq_org_sso_put,
    .org_sso_get = sq_org_sso_get,
    .org_sso_delete = sq_org_sso_delete,
    .org_sso_count = sq_org_sso_count,
    .consent_get = sq_consent_get,
    .consent_put = sq_consent_put,
    .consent_revoke = sq_consent_revoke,
    .code_insert = sq_code_insert,
    .code_take = sq_code_take,
    .email_code_insert = sq_email_code_insert,
    .email_code_get = sq_email_code_get,
    .email_code_use = sq_email_code_use,
    .email_code_cleanup = sq_email_code_cleanup,
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
    .user_signed_in = sq_user_signed_in,
    .user_search = sq_user_search,
    .client_grants = sq_client_grants,
    .client_usage = sq_client_usage,
    .key_schedule = sq_key_schedule,
    .audit_query = sq_audit_query,
};

static int current_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &st,
                                NULL);
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
    pthread_cond_init(&s->cv_limited, NULL);
    pthread_mutex_init(&s->gmu, NULL);
    s->gnext = 1; /* group 1 waits for gdone[1] (0) to reach 1 */
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
