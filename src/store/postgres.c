/* The PostgreSQL backend (DATABASE_URL=postgres://...), for teams that run several
 * stateless teamnotes instances against one database. Everything shared lives in the
 * database; nothing in one process's memory is needed by another.
 *
 * Connections: a pool of up to POOL_SIZE libpq connections, opened on demand and
 * guarded by a mutex and a condition variable. A call takes a connection, runs and
 * gives it back. List functions keep the whole result (PGresult), give the connection
 * back, and only then call the caller's callback, so a callback may call into the store
 * again without holding a connection. Each connection prepares a statement (PQprepare)
 * the first time it runs it; every value is bound as a parameter (PQexecPrepared).
 *
 * Transactions: every call is one transaction. A read of one statement is that
 * statement's own transaction; every write and every notes call runs between BEGIN and
 * COMMIT, so that a call that failed never half-happened, except the notes reads: the
 * caller's set_config and the statement go as one pipeline, one implicit transaction
 * (one_read_as).
 *
 * Reconnection: after the database restarted (or a proxy cut an idle connection), the
 * next use of a pooled connection fails and libpq reports CONNECTION_BAD. The call then
 * resets the connection (PQreset) and runs again from the start, once. A write is
 * retried only when the connection was lost before its COMMIT was sent: nothing was
 * committed then. A lost COMMIT may have committed, so that call fails with TN_ERR_IO
 * rather than risk applying it twice.
 *
 * Notes: every statement names the owner (user AND org, or org and visibility 'org' for
 * shared notes), and row-level security checks the same a second time
 * (migrations/postgres/0002_notes.sql): each notes transaction starts with NOTE_AS, which
 * sets teamnotes.user and teamnotes.org for that transaction only, and the ENABLEd and
 * FORCEd policies admit only that caller's rows, even to the table's owner. A superuser
 * or BYPASSRLS role skips policies; open() warns when it connects as one, and refuses
 * a database where the policies were switched off.
 *
 * Single use: code_take flips `used` with UPDATE ... WHERE NOT used RETURNING, so of
 * concurrent takers exactly one gets the row. refresh_rotate locks the old token with
 * SELECT ... FOR UPDATE before checking it; a concurrent rotation waits and then sees it
 * rotated. Every write of refresh tokens takes a transaction-scoped advisory lock on
 * the family first, so a revocation and an insert into the same family are serialized:
 * a token cannot be born unrevoked into a family revoked at the same moment.
 *
 * Migrations: one script per version, migrations/postgres/NNNN_*.sql, compiled in at
 * build time (scripts/gen-migrations.py), each applied in its own transaction and
 * recorded in schema_version, all while holding a session advisory lock so that
 * instances starting together apply each script once. A database from a newer binary is
 * refused. */
#include "store/postgres.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/backend.h"
#include "store/migrations.h"

enum {
    POOL_SIZE = 8,
    MAX_PARAMS = 12,
};

/* Seconds libpq waits for a connection; the lock timeout turns a long wait for a row or
 * advisory lock into TN_ERR_BUSY, like SQLite's busy timeout. */
#define CONNECT_TIMEOUT_S "10"
#define LOCK_TIMEOUT "5s"

/* Advisory locks use the two-key form: the first key says what kind of lock it is (an
 * arbitrary constant, "tn" in its high bytes), the second which object. */
#define LOCK_MIGRATE "1953366017, 0" /* 0x746e0001 */
#define LOCK_FAMILY "1953366018"     /* 0x746e0002, hashtext(family) */

/* Type OIDs of the parameters (fixed by PostgreSQL's catalog, pg_type.dat). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_TEXT = 25,
};

/* ---------- migrations ---------- */

/* The scripts of migrations/postgres/, compiled in by the build (store/migrations.h). */
#define LATEST_VERSION tn_store_postgres_migrations_count

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
#define NOTE_COLS                                                                            \
    "id, owner, org, title, content, tags, visibility, version, created_at, updated_at"
/* A note as read: the columns and the text's length in characters. */
#define NOTE_READ_COLS NOTE_COLS ", char_length(content)"
/* Pages and searches read only the first TN_NOTE_LIST_TEXT characters of the text
 * (substr counts characters, so the cut is on a character boundary). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define NOTE_LIST_COLS                                                                       \
    "id, owner, org, title, substr(content, 1, " STR(TN_NOTE_LIST_TEXT) "), tags, "         \
    "visibility, version, created_at, updated_at, char_length(content)"
#define AUDIT_COLS "at, user_key, org, client_id, tool, note_id, outcome"

/* Snippets: up to two fragments of at most 16 words around the matches, unmarked, as
 * the SQLite backend's; read_hit cuts them to the field at a character boundary. */
#define HEADLINE_OPTS                                                                        \
    "'StartSel=\"\", StopSel=\"\", MinWords=8, MaxWords=16, ShortWord=0, MaxFragments=2, "   \
    "FragmentDelimiter=\" … \"'"

/* Every statement the backend runs: its name, the types of its parameters ($1, $2, ...
 * in order: t text (NULL allowed), i int64, b bool, h 32-byte hash) and its SQL.
 * Prepared once per connection, with those types. */
#define STMTS(X)                                                                             \
    X(ORG_INSERT, "tti", "INSERT INTO orgs (" ORG_COLS ") VALUES ($1, $2, $3)")              \
    X(ORG_GET, "t", "SELECT " ORG_COLS " FROM orgs WHERE id = $1")                           \
    X(ORG_BY_NAME, "t", "SELECT " ORG_COLS " FROM orgs WHERE name = $1")                     \
    X(ORG_LIST, "", "SELECT " ORG_COLS " FROM orgs ORDER BY created_at, id")                 \
    X(USER_INSERT, "ttttttbii",                                                              \
      "INSERT INTO users (id, email, name, org_id, role, password_hash, disabled, "          \
      "created_at, tokens_valid_after) VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9)") \
    X(USER_GET, "t", "SELECT " USER_COLS " FROM users WHERE id = $1")                        \
    X(USER_BY_EMAIL, "t", "SELECT " USER_COLS " FROM users WHERE email = $1")                \
    X(USER_UPDATE, "tttttbi",                                                                \
      "UPDATE users SET name = $2, org_id = NULLIF($3, ''), role = $4, password_hash = $5, " \
      "disabled = $6, tokens_valid_after = $7 WHERE id = $1")                                \
    X(USER_COUNT, "", "SELECT count(*) FROM users")                                          \
    X(USER_LIST, "", "SELECT " USER_COLS " FROM users ORDER BY created_at, id")              \
    X(CLIENT_INSERT, "tttttttttii",                                                          \
      "INSERT INTO clients (" CLIENT_COLS ") "                                               \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")                               \
    X(CLIENT_GET, "t", "SELECT " CLIENT_COLS " FROM clients WHERE id = $1")                  \
    X(CLIENT_TOUCH, "ti",                                                                    \
      "UPDATE clients SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1")          \
    X(CLIENT_DELETE, "t", "DELETE FROM clients WHERE id = $1")                               \
    X(CLIENT_LIST, "", "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id")        \
    /* Never used: not touched, and nothing was ever granted to it. */                       \
    X(CLIENT_DELETE_UNUSED, "i",                                                             \
      "DELETE FROM clients WHERE created_at < $1 AND last_used_at = 0 "                      \
      "AND NOT EXISTS (SELECT 1 FROM consents WHERE client_id = clients.id) "                \
      "AND NOT EXISTS (SELECT 1 FROM codes WHERE client_id = clients.id) "                   \
      "AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE client_id = clients.id)")          \
    X(CONSENT_GET, "tt", "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2") \
    X(CONSENT_PUT, "ttti",                                                                   \
      "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) "            \
      "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, client_id) DO UPDATE "              \
      "SET scope = excluded.scope, updated_at = excluded.updated_at")                        \
    X(CONSENT_REVOKE, "tt", "DELETE FROM consents WHERE user_id = $1 AND client_id = $2")    \
    X(CONSENT_REVOKE_ALL, "t", "DELETE FROM consents WHERE user_id = $1")                    \
    X(CODE_INSERT, "httttttti",                                                              \
      "INSERT INTO codes (hash, client_id, user_id, redirect_uri, scope, resource, "         \
      "challenge, family, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")          \
    /* Of concurrent takers, one updates the row; the others wait for it, re-check       */  \
    /* `NOT used` against the committed row and update nothing. */                           \
    X(CODE_USE, "h",                                                                         \
      "UPDATE codes SET used = true WHERE hash = $1 AND NOT used RETURNING " CODE_COLS)      \
    X(CODE_GET, "h", "SELECT " CODE_COLS " FROM codes WHERE hash = $1")                      \
    X(FAMILY_LOCK, "t", "SELECT pg_advisory_xact_lock(" LOCK_FAMILY ", hashtext($1))")       \
    /* A token born into a revoked family is revoked. */                                     \
    X(REFRESH_INSERT, "htttttiiib",                                                          \
      "INSERT INTO refresh_tokens (" REFRESH_COLS ") "                                       \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10 OR EXISTS "                           \
      "(SELECT 1 FROM revoked_families WHERE family = $2))")                                 \
    X(REFRESH_GET, "h", "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE hash = $1")       \
    X(REFRESH_LOCK, "h",                                                                     \
      "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE hash = $1 FOR UPDATE")              \
    X(REFRESH_MARK, "hi",                                                                    \
      "UPDATE refresh_tokens SET rotated_at = $2 "                                           \
      "WHERE hash = $1 AND rotated_at = 0 AND NOT revoked")                                  \
    X(REFRESH_SPEND_GRACE, "hii",                                                            \
      "UPDATE refresh_tokens SET expires_at = rotated_at "                                   \
      "WHERE hash = $1 AND rotated_at > 0 AND NOT revoked "                                  \
      "AND expires_at > $2 AND rotated_at >= $2 - $3")                                       \
    X(FAMILY_REVOKE, "t", "UPDATE refresh_tokens SET revoked = true WHERE family = $1")      \
    X(FAMILY_REMEMBER, "t",                                                                  \
      "INSERT INTO revoked_families (family) VALUES ($1) ON CONFLICT DO NOTHING")            \
    X(USER_REVOKE_ALL, "t", "UPDATE refresh_tokens SET revoked = true WHERE user_id = $1")   \
    X(KEY_INSERT, "tttiii",                                                                  \
      "INSERT INTO signing_keys (" KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6)")             \
    X(KEY_LIST, "", "SELECT " KEY_COLS " FROM signing_keys ORDER BY created_at, seq")        \
    X(KEY_DELETE, "t", "DELETE FROM signing_keys WHERE kid = $1")                            \
    /* A concurrent replacer waits for the row, re-checks `pem = $2` against the         */  \
    /* committed row and changes nothing. */                                                 \
    X(KEY_REPLACE, "ttt", "UPDATE signing_keys SET pem = $3 WHERE kid = $1 AND pem = $2")    \
    /* The caller of this notes transaction, for the row-level security policies; */         \
    /* is_local = true: the settings end with the transaction. */                            \
    X(NOTE_AS, "tt",                                                                         \
      "SELECT set_config('teamnotes.user', $1, true), set_config('teamnotes.org', $2, true)") \
    X(NOTE_INSERT, "tttttttiii",                                                             \
      "INSERT INTO notes (" NOTE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")  \
    /* An imported note: its id is derived from its source, so a second import of it   */   \
    /* changes nothing.                                                                */   \
    X(NOTE_IMPORT, "tttttttiii",                                                             \
      "INSERT INTO notes (" NOTE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "  \
      "ON CONFLICT (id) DO NOTHING")                                                         \
    X(NOTE_GET, "ttt",                                                                       \
      "SELECT " NOTE_READ_COLS " FROM notes WHERE id = $1 AND org = $3 "                          \
      "AND (owner = $2 OR (visibility = 'org' AND org <> ''))")                              \
    X(NOTE_GET_OWN, "ttt",                                                                   \
      "SELECT " NOTE_READ_COLS " FROM notes WHERE id = $1 AND owner = $2 AND org = $3")           \
    /* NULL: unchanged. */                                                                   \
    X(NOTE_UPDATE, "tttitttti",                                                              \
      "UPDATE notes SET title = COALESCE($5, title), content = COALESCE($6, content), "      \
      "tags = COALESCE($7, tags), visibility = COALESCE($8, visibility), "                   \
      "version = version + 1, updated_at = GREATEST($9, updated_at) "                        \
      "WHERE id = $1 AND owner = $2 AND org = $3 AND version = $4 RETURNING " NOTE_READ_COLS)     \
    /* expected version 0: any. */                                                           \
    X(NOTE_DELETE, "ttti",                                                                   \
      "DELETE FROM notes WHERE id = $1 AND owner = $2 AND org = $3 "                         \
      "AND ($4 = 0 OR version = $4)")                                                        \
    /* The first page arrives as after (INT64_MAX, ""), so every page is this range. */      \
    X(NOTE_LIST, "ttitti",                                                                   \
      "SELECT " NOTE_LIST_COLS " FROM notes WHERE owner = $1 AND org = $2 "                       \
      "AND (updated_at, id) < ($3, $4) "                                                     \
      "AND ($5::text IS NULL OR tag_set @> jsonb_build_array($5::text)) "                    \
      "ORDER BY updated_at DESC, id DESC LIMIT $6")                                          \
    X(NOTE_LIST_TEAM, "titti",                                                               \
      "SELECT " NOTE_LIST_COLS " FROM notes WHERE org = $1 AND visibility = 'org' AND org <> '' " \
      "AND (updated_at, id) < ($2, $3) "                                                     \
      "AND ($4::text IS NULL OR tag_set @> jsonb_build_array($4::text)) "                    \
      "ORDER BY updated_at DESC, id DESC LIMIT $5")                                          \
    /* Each word of the query is a phrase of plain terms (phraseto_tsquery: "e-mail",   */   \
    /* "NEAR(a" match only their tokens side by side, as on SQLite), all words must     */   \
    /* match, and no query syntax of the user's reaches the parser. A word without     */    \
    /* terms ("*", "--") is skipped. Snippets are made for the rows returned only.      */   \
    X(NOTE_SEARCH, "ttti",                                                                   \
      "WITH q AS (SELECT notes_all_words(w.q) AS q FROM "                                    \
      "(SELECT phraseto_tsquery('simple', notes_fold(word)) AS q "                           \
      "FROM regexp_split_to_table($3, '[ \\t\\n\\r\\v\\f]+') AS word) AS w "                 \
      "WHERE numnode(w.q) > 0), "                                                            \
      "hits AS (SELECT " NOTE_COLS ", ts_rank(search, q.q) AS rank FROM notes, q "           \
      "WHERE search @@ q.q AND org = $2 "                                                    \
      "AND (owner = $1 OR (visibility = 'org' AND org <> '')) "                              \
      "ORDER BY rank DESC, updated_at DESC, id DESC LIMIT $4) "                              \
      "SELECT " NOTE_LIST_COLS ", ts_headline('simple', content, q.q, " HEADLINE_OPTS "), rank "  \
      "FROM hits, q ORDER BY rank DESC, updated_at DESC, id DESC")                           \
    X(AUDIT_INSERT, "itttttt",                                                               \
      "INSERT INTO audit (" AUDIT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7)")              \
    X(AUDIT_LIST, "i", "SELECT " AUDIT_COLS " FROM audit ORDER BY at DESC, seq DESC LIMIT $1")

enum stmt_id {
#define STMT_ENUM(name, types, sql) S_##name,
    STMTS(STMT_ENUM)
#undef STMT_ENUM
    S__COUNT
};
static const char *const stmt_sql[] = {
#define STMT_SQL(name, types, sql) sql,
    STMTS(STMT_SQL)
#undef STMT_SQL
};
/* Also the name of the prepared statement on the server. */
static const char *const stmt_name[] = {
#define STMT_NAME(name, types, sql) "tn_" #name,
    STMTS(STMT_NAME)
#undef STMT_NAME
};
static const char *const stmt_types[] = {
#define STMT_TYPES(name, types, sql) types,
    STMTS(STMT_TYPES)
#undef STMT_TYPES
};

/* ---------- connections and the pool ---------- */

struct conn {
    PGconn *pg;
    bool prepared[S__COUNT]; /* on this server session; a reset forgets them */
    struct conn *next;       /* in the idle list */
};

struct pg_store {
    struct tn_store base;
    char *url;
    pthread_mutex_t mu; /* guards idle and nopen */
    pthread_cond_t cv;  /* a connection was returned */
    struct conn *idle;
    int nopen;
    /* the notes change feed (LISTEN teamnotes_notes on a connection of its own) */
    pthread_t watcher;
    bool watching;
    atomic_bool stop_watch;
    void (*watch_fn)(const char *owner, void *ud);
    void *watch_ud;
};

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

/* libpq's messages end in a newline and may span lines; one line for logs. */
static const char *one_line(const char *msg, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", msg ? msg : "");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return buf;
}

/* Server notices ("text-search query doesn't contain lexemes", ...) would go to stderr. */
static void quiet(void *arg, const char *message)
{
}

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

/* Per-session settings, set again after every reset. */
static bool session_setup(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SET lock_timeout = '" LOCK_TIMEOUT "'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Opens one connection. The URL's own parameters win over our defaults, except the
 * client encoding: every string the store handles is UTF-8. */
static enum tn_err conn_open(const char *url, bool setup, struct conn **out, struct tn_buf *err)
{
    *out = NULL;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return TN_ERR_NOMEM;
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname",
                                       "client_encoding", NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, "teamnotes", url, "UTF8", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        free(c);
        return TN_ERR_NOMEM;
    }
    char line[512];
    if (PQstatus(c->pg) != CONNECTION_OK) {
        errf(err, "cannot connect to PostgreSQL: %s",
             one_line(PQerrorMessage(c->pg), line, sizeof line));
        conn_close(c);
        return TN_ERR_IO;
    }
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    if (setup && !session_setup(c->pg)) {
        errf(err, "cannot configure the PostgreSQL session: %s",
             one_line(PQerrorMessage(c->pg), line, sizeof line));
        conn_close(c);
        return TN_ERR_IO;
    }
    *out = c;
    return TN_OK;
}

/* A connection for one call: an idle one, a new one while fewer than POOL_SIZE are
 * open, or else the next one returned. Waiting cannot deadlock: no call holds a
 * connection while it asks for another (list callbacks run after it is returned). */
static enum tn_err pool_get(struct pg_store *s, struct conn **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    while (!s->idle && s->nopen >= POOL_SIZE)
        pthread_cond_wait(&s->cv, &s->mu);
    struct conn *c = s->idle;
    if (c) {
        s->idle = c->next;
        c->next = NULL;
        pthread_mutex_unlock(&s->mu);
        *out = c;
        return TN_OK;
    }
    s->nopen++;
    pthread_mutex_unlock(&s->mu);
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    enum tn_err e = conn_open(s->url, true, &c, &err);
    if (e != TN_OK) {
        tn_log(TN_LOG_ERROR, "store: cannot open a database connection", "error",
               err.data ? err.data : tn_err_message(e), NULL);
        pthread_mutex_lock(&s->mu);
        s->nopen--;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    tn_buf_deinit(&err);
    *out = c;
    return e;
}

/* Returns a connection. One that is broken or still inside a transaction (its ROLLBACK
 * failed) is closed instead: the next call opens a fresh one. */
static void pool_put(struct pg_store *s, struct conn *c)
{
    bool drop = PQstatus(c->pg) != CONNECTION_OK ||
                PQtransactionStatus(c->pg) != PQTRANS_IDLE;
    pthread_mutex_lock(&s->mu);
    if (drop) {
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

/* One attempt of one store call. */
struct call {
    struct conn *c;
    bool lost; /* the connection broke during this attempt */
};

/* Values bound to $1, $2, ...: text format except hashes (bytea, binary). */
struct params {
    int n;
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

/* Reads the arguments stmt_types[id] describes:
 *   t  const char *      text, NULL for SQL NULL    i  int64_t  integer
 *   b  int (bool)        boolean                    h  const uint8_t *  32-byte hash
 * The values are borrowed: they must outlive the call. */
static void bindv(struct params *p, enum stmt_id id, va_list ap)
{
    p->n = 0;
    for (const char *t = stmt_types[id]; *t; t++) {
        if (p->n == MAX_PARAMS)
            abort(); /* a statement table bug, caught by any test that runs it */
        int i = p->n++;
        p->len[i] = 0;
        p->fmt[i] = 0;
        switch (*t) {
        case 't':
            p->v[i] = va_arg(ap, const char *);
            break;
        case 'i':
            snprintf(p->num[i], sizeof p->num[i], "%" PRId64, va_arg(ap, int64_t));
            p->v[i] = p->num[i];
            break;
        case 'b':
            p->v[i] = va_arg(ap, int) ? "t" : "f";
            break;
        case 'h':
            p->v[i] = (const char *)va_arg(ap, const uint8_t *);
            p->len[i] = 32;
            p->fmt[i] = 1;
            break;
        default:
            abort();
        }
    }
}

static bool state_is(const char *state, const char *prefix)
{
    return state && strncmp(state, prefix, strlen(prefix)) == 0;
}

/* Maps a failed command to enum tn_err (backend.h's table). A broken connection, or
 * the server saying it is going away, marks the call's connection lost so that the
 * call may be retried on a fresh one. */
static enum tn_err fail(struct call *k, const PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(k->c->pg) != CONNECTION_OK || state_is(state, "08") ||
        state_is(state, "57P")) {
        k->lost = true;
        return TN_ERR_IO; /* with_conn logs it if it is not retried */
    }
    if (state_is(state, "23505"))
        return TN_ERR_CONFLICT;
    if (state_is(state, "23503"))
        return TN_ERR_NOT_FOUND;
    /* integrity (CHECK, NOT NULL, the triggers) and data (bad UTF-8, bad JSON) errors */
    if (state_is(state, "23") || state_is(state, "22"))
        return TN_ERR_BAD_INPUT;
    enum tn_err e = TN_ERR_IO;
    if (state_is(state, "55P03") || state_is(state, "40") || state_is(state, "53") ||
        state_is(state, "57014"))
        e = TN_ERR_BUSY; /* lock timeout, serialization, deadlock, overload, cancel */
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[512];
    tn_log(e == TN_ERR_BUSY ? TN_LOG_WARN : TN_LOG_ERROR, "store: postgres error", "stmt",
           what, "sqlstate", state ? state : "", "error",
           one_line(msg ? msg : PQerrorMessage(k->c->pg), line, sizeof line), NULL);
    return e;
}

static enum tn_err prepare(struct call *k, enum stmt_id id)
{
    if (k->c->prepared[id])
        return TN_OK;
    Oid types[MAX_PARAMS];
    int n = 0;
    for (const char *t = stmt_types[id]; *t && n < MAX_PARAMS; t++)
        types[n++] = *t == 't' ? OID_TEXT : *t == 'i' ? OID_INT8 : *t == 'b' ? OID_BOOL : OID_BYTEA;
    PGresult *r = PQprepare(k->c->pg, stmt_name[id], stmt_sql[id], n, types);
    enum tn_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? TN_OK : fail(k, r, stmt_name[id]);
    PQclear(r);
    if (e == TN_OK)
        k->c->prepared[id] = true;
    return e;
}

/* Runs statement `id` with bound values. TN_OK: *res (when not NULL) holds the result,
 * to PQclear. */
static enum tn_err run_p(struct call *k, enum stmt_id id, const struct params *p,
                         PGresult **res)
{
    if (res)
        *res = NULL;
    enum tn_err e = prepare(k, id);
    if (e != TN_OK)
        return e;
    PGresult *r = PQexecPrepared(k->c->pg, stmt_name[id], p->n, p->v, p->len, p->fmt, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return TN_OK;
    }
    e = fail(k, r, stmt_name[id]);
    PQclear(r);
    return e;
}

/* run_p with the values given as arguments, as stmt_types[id] describes. */
static enum tn_err run(struct call *k, enum stmt_id id, PGresult **res, ...)
{
    struct params p;
    va_list ap;
    va_start(ap, res);
    bindv(&p, id, ap);
    va_end(ap);
    return run_p(k, id, &p, res);
}

/* A statement without parameters or result: BEGIN, COMMIT, ROLLBACK. */
static enum tn_err simple(struct call *k, const char *sql)
{
    PGresult *r = PQexec(k->c->pg, sql);
    enum tn_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? TN_OK : fail(k, r, sql);
    /* COMMIT of a transaction that had failed answers ROLLBACK, not an error. */
    if (e == TN_OK && strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        tn_log(TN_LOG_ERROR, "store: postgres rolled back a transaction", NULL);
        e = TN_ERR_IO;
    }
    PQclear(r);
    return e;
}

/* Rows a command changed. */
static int64_t changes(const PGresult *r)
{
    const char *n = PQcmdTuples((PGresult *)r);
    return n && *n ? strtoll(n, NULL, 10) : 0;
}

/* A connection a previous call left broken is reset before use; so is one the server
 * said it was closing (`force`), which libpq may still report as fine. */
static enum tn_err conn_ready(struct call *k, bool force)
{
    if (PQstatus(k->c->pg) == CONNECTION_OK && !force)
        return TN_OK;
    memset(k->c->prepared, 0, sizeof k->c->prepared);
    PQreset(k->c->pg);
    if (PQstatus(k->c->pg) != CONNECTION_OK || !session_setup(k->c->pg)) {
        k->lost = true;
        return TN_ERR_IO;
    }
    return TN_OK;
}

/* The work of one call, run by with_conn; it may run twice (a retry after a lost
 * connection), so it must reset its outputs at the start. */
typedef enum tn_err (*body_fn)(struct call *k, void *arg);

/* Runs `body` on a pooled connection: inside BEGIN ... COMMIT when `tx` or `as` (a
 * notes call, whose caller is set for the row-level security policies first),
 * otherwise as a single statement's own transaction. Anything but TN_OK rolls back.
 * A lost connection is reset and the call run again once, unless the loss hit the
 * COMMIT (it may have committed). */
static enum tn_err with_conn(struct tn_store *base, bool tx, const struct tn_owner *as,
                             body_fn body, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    struct call k = {.lost = false};
    enum tn_err e = pool_get(s, &k.c);
    if (e != TN_OK)
        return e;
    tx = tx || as;
    for (int attempt = 0;; attempt++) {
        bool committing = false;
        k.lost = false;
        e = conn_ready(&k, attempt > 0);
        if (e == TN_OK && tx)
            e = simple(&k, "BEGIN");
        if (e == TN_OK && as)
            e = run(&k, S_NOTE_AS, NULL, as->user, as->org);
        if (e == TN_OK)
            e = body(&k, arg);
        if (e == TN_OK && tx) {
            committing = true;
            e = simple(&k, "COMMIT");
        }
        if (e != TN_OK && !k.lost && PQtransactionStatus(k.c->pg) != PQTRANS_IDLE) {
            PGresult *r = PQexec(k.c->pg, "ROLLBACK");
            PQclear(r);
        }
        if (e == TN_OK || !k.lost || committing || attempt > 0)
            break;
        tn_log(TN_LOG_WARN, "store: the database connection was lost; reconnecting", NULL);
    }
    if (k.lost) {
        char line[512];
        tn_log(TN_LOG_ERROR, "store: the database connection was lost", "error",
               one_line(PQerrorMessage(k.c->pg), line, sizeof line), NULL);
    }
    pool_put(s, k.c);
    return e;
}

/* ---------- one statement per call ---------- */

struct one {
    enum stmt_id id;
    struct params p;
    PGresult *res;
};

static enum tn_err one_body(struct call *k, void *arg)
{
    struct one *o = arg;
    PQclear(o->res);
    o->res = NULL;
    return run_p(k, o->id, &o->p, &o->res);
}

/* Runs statement `id` as a whole call (in BEGIN/COMMIT when `tx` or `as`). TN_OK:
 * *res holds the result, to PQclear; otherwise *res is NULL. */
static enum tn_err one(struct tn_store *s, const struct tn_owner *as, bool tx, enum stmt_id id,
                       PGresult **res, ...)
{
    struct one o = {.id = id, .res = NULL};
    va_list ap;
    va_start(ap, res);
    bindv(&o.p, id, ap);
    va_end(ap);
    enum tn_err e = with_conn(s, tx, as, one_body, &o);
    if (e != TN_OK) {
        PQclear(o.res);
        o.res = NULL;
    }
    *res = o.res;
    return e;
}

/* A notes read in one round trip instead of four (BEGIN, the caller, the statement,
 * COMMIT): the caller's set_config and the statement are sent as one pipeline, which
 * the server runs as one implicit transaction ending at the pipeline's Sync, so the
 * caller (set with is_local) holds for the statement and ends with it, as in BEGIN ...
 * COMMIT. Reads only: a write whose answer was lost may have committed at the Sync,
 * and with_conn would run it again. */
struct piped {
    const struct tn_owner *as;
    struct one o;
};

/* The results of one pipelined statement: TN_OK with *res (to PQclear) when it ran;
 * otherwise the failure, or TN_ERR_IO with the call marked lost when the connection
 * went. `e` is the pipeline's result so far: after a failure the rest is skipped. */
static enum tn_err piped_result(struct call *k, enum stmt_id id, enum tn_err e, PGresult **res)
{
    PGresult *r = PQgetResult(k->c->pg);
    if (!r) {
        k->lost = true; /* libpq ends a statement's results with NULL, never starts with it */
        return e == TN_OK ? TN_ERR_IO : e;
    }
    ExecStatusType st = PQresultStatus(r);
    if (e == TN_OK && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) && res)
        *res = r, r = NULL;
    else if (e == TN_OK && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        e = fail(k, r, stmt_name[id]);
    PQclear(r);
    while ((r = PQgetResult(k->c->pg))) /* the NULL that ends this statement's results */
        PQclear(r);
    return e;
}

static enum tn_err piped_body(struct call *k, void *arg)
{
    struct piped *pp = arg;
    PGconn *pg = k->c->pg;
    PQclear(pp->o.res);
    pp->o.res = NULL;
    enum tn_err e = prepare(k, S_NOTE_AS);
    if (e == TN_OK)
        e = prepare(k, pp->o.id);
    if (e != TN_OK)
        return e;
    const char *who[2] = {pp->as->user, pp->as->org};
    const struct params *p = &pp->o.p;
    if (PQenterPipelineMode(pg) != 1 ||
        PQsendQueryPrepared(pg, stmt_name[S_NOTE_AS], 2, who, NULL, NULL, 0) != 1 ||
        PQsendQueryPrepared(pg, stmt_name[pp->o.id], p->n, p->v, p->len, p->fmt, 0) != 1 ||
        PQpipelineSync(pg) != 1) {
        e = fail(k, NULL, "pipeline"); /* a connection that cannot take it is lost */
        k->lost = true;
        PQexitPipelineMode(pg);
        return e;
    }
    e = piped_result(k, S_NOTE_AS, e, NULL);
    if (!k->lost)
        e = piped_result(k, pp->o.id, e, &pp->o.res);
    if (!k->lost) {
        PGresult *r = PQgetResult(pg);
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
            k->lost = true;
        PQclear(r);
    }
    if (PQexitPipelineMode(pg) != 1)
        k->lost = true; /* results left over: the connection is in an unknown state */
    if (k->lost && e == TN_OK)
        e = TN_ERR_IO;
    if (e != TN_OK) {
        PQclear(pp->o.res);
        pp->o.res = NULL;
    }
    return e;
}

/* one() for the notes reads: the caller and the statement in one round trip. */
static enum tn_err one_read_as(struct tn_store *s, const struct tn_owner *as, enum stmt_id id,
                               PGresult **res, ...)
{
    struct piped pp = {.as = as, .o = {.id = id, .res = NULL}};
    va_list ap;
    va_start(ap, res);
    bindv(&pp.o.p, id, ap);
    va_end(ap);
    enum tn_err e = with_conn(s, false, NULL, piped_body, &pp);
    if (e != TN_OK) {
        PQclear(pp.o.res);
        pp.o.res = NULL;
    }
    *res = pp.o.res;
    return e;
}

/* ---------- reading rows ---------- */

/* Copies a text column; false when it does not fit (never for rows this store wrote:
 * store.c checks every field against its size on the way in). NULL reads as "". */
static bool col_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    dst[0] = '\0';
    if (n >= cap)
        return false;
    memcpy(dst, PQgetvalue(r, row, col), n);
    dst[n] = '\0';
    return true;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* bytea in text format is "\x" and two hex digits per byte. */
static bool col_hash(const PGresult *r, int row, int col, uint8_t dst[32])
{
    const char *v = PQgetvalue(r, row, col);
    if (PQgetlength(r, row, col) != 2 + 64 || v[0] != '\\' || v[1] != 'x')
        return false;
    for (int i = 0; i < 32; i++) {
        int hi = hex_digit(v[2 + 2 * i]), lo = hex_digit(v[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        dst[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

#define TEXT(c, field) col_text(r, i, (c), (field), sizeof(field))

static enum tn_err row_result(bool ok, const char *table)
{
    if (ok)
        return TN_OK;
    tn_log(TN_LOG_ERROR, "store: a stored value does not fit its field", "table", table, NULL);
    return TN_ERR_INTERNAL;
}

static enum tn_err read_org(const PGresult *r, int i, struct tn_org *o)
{
    bool ok = TEXT(0, o->id) && TEXT(1, o->name);
    o->created_at = col_int(r, i, 2);
    return row_result(ok, "orgs");
}

static enum tn_err read_user(const PGresult *r, int i, struct tn_user *u)
{
    bool ok = TEXT(0, u->id) && TEXT(1, u->email) && TEXT(2, u->name) && TEXT(3, u->org_id) &&
              TEXT(4, u->role) && TEXT(5, u->password_hash);
    u->disabled = col_bool(r, i, 6);
    u->created_at = col_int(r, i, 7);
    u->tokens_valid_after = col_int(r, i, 8);
    return row_result(ok, "users");
}

static enum tn_err read_client(const PGresult *r, int i, struct tn_client *c)
{
    bool ok = TEXT(0, c->id) && TEXT(1, c->name) && TEXT(2, c->redirect_uris) &&
              TEXT(3, c->secret_hash) && TEXT(4, c->auth_method) && TEXT(5, c->grant_types) &&
              TEXT(6, c->scope) && TEXT(7, c->application_type) && TEXT(8, c->metadata);
    c->created_at = col_int(r, i, 9);
    c->last_used_at = col_int(r, i, 10);
    return row_result(ok, "clients");
}

static enum tn_err read_code(const PGresult *r, int i, struct tn_code *c, bool *used)
{
    bool ok = col_hash(r, i, 0, c->hash) && TEXT(1, c->client_id) && TEXT(2, c->user_id) &&
              TEXT(3, c->redirect_uri) && TEXT(4, c->scope) && TEXT(5, c->resource) &&
              TEXT(6, c->challenge) && TEXT(7, c->family);
    c->expires_at = col_int(r, i, 8);
    *used = col_bool(r, i, 9);
    return row_result(ok, "codes");
}

static enum tn_err read_refresh(const PGresult *r, int i, struct tn_refresh *t)
{
    bool ok = col_hash(r, i, 0, t->hash) && TEXT(1, t->family) && TEXT(2, t->client_id) &&
              TEXT(3, t->user_id) && TEXT(4, t->scope) && TEXT(5, t->resource);
    t->issued_at = col_int(r, i, 6);
    t->expires_at = col_int(r, i, 7);
    t->rotated_at = col_int(r, i, 8);
    t->revoked = col_bool(r, i, 9);
    return row_result(ok, "refresh_tokens");
}

static enum tn_err read_key(const PGresult *r, int i, struct tn_signing_key *k)
{
    bool ok = TEXT(0, k->kid) && TEXT(1, k->alg) && TEXT(2, k->pem);
    k->created_at = col_int(r, i, 3);
    k->signs_from = col_int(r, i, 4);
    k->retire_at = col_int(r, i, 5);
    return row_result(ok, "signing_keys");
}

static enum tn_err read_count(const PGresult *r, int i, int64_t *n)
{
    *n = col_int(r, i, 0);
    return TN_OK;
}

static enum tn_err read_audit(const PGresult *r, int i, struct tn_audit *a)
{
    a->at = col_int(r, i, 0);
    bool ok = TEXT(1, a->user) && TEXT(2, a->org) && TEXT(3, a->client_id) && TEXT(4, a->tool) &&
              TEXT(5, a->note_id) && TEXT(6, a->outcome);
    return row_result(ok, "audit");
}

/* A note row (NOTE_READ_COLS or NOTE_LIST_COLS). With `borrow`, n->content points into the result (valid until
 * PQclear: for callbacks); otherwise it is a heap copy for the caller. */
static enum tn_err read_note(const PGresult *r, int i, struct tn_note *n, bool borrow)
{
    bool ok = TEXT(0, n->id) && TEXT(1, n->owner) && TEXT(2, n->org) && TEXT(3, n->title) &&
              TEXT(5, n->tags) && TEXT(6, n->visibility);
    n->version = col_int(r, i, 7);
    n->created_at = col_int(r, i, 8);
    n->updated_at = col_int(r, i, 9);
    n->length = col_int(r, i, 10);
    if (!ok)
        return row_result(false, "notes");
    if (borrow) {
        n->content = PQgetvalue(r, i, 4);
    } else {
        size_t len = (size_t)PQgetlength(r, i, 4);
        if (!(n->content = malloc(len + 1)))
            return TN_ERR_NOMEM;
        memcpy(n->content, PQgetvalue(r, i, 4), len + 1);
    }
    return TN_OK;
}

/* A search hit: the note (borrowed content), its snippet and rank. The snippet is cut to
 * the field at a UTF-8 character boundary. */
static enum tn_err read_hit(const PGresult *r, int i, struct tn_note *n)
{
    enum tn_err e = read_note(r, i, n, true);
    if (e != TN_OK)
        return e;
    const char *snip = PQgetvalue(r, i, 11);
    size_t len = (size_t)PQgetlength(r, i, 11);
    if (len >= sizeof n->snippet) {
        len = sizeof n->snippet - 1;
        while (len > 0 && ((unsigned char)snip[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(n->snippet, snip, len);
    n->snippet[len] = '\0';
    n->rank = strtod(PQgetvalue(r, i, 12), NULL);
    return TN_OK;
}

/* Frees a note read with read_note(..., false) after an error. */
static void note_clear(struct tn_note *n)
{
    free(n->content);
    memset(n, 0, sizeof *n);
}

/* ---------- generic shapes of a call ---------- */

/* One write statement in its own transaction; *n_ = rows changed. */
#define WRITE1(base, n_, id, ...)                                                            \
    do {                                                                                     \
        PGresult *r_;                                                                        \
        enum tn_err e_ = one((base), NULL, true, (id), &r_, __VA_ARGS__);                    \
        *(n_) = e_ == TN_OK ? changes(r_) : 0;                                               \
        PQclear(r_);                                                                         \
        return e_;                                                                           \
    } while (0)

/* A write that must change a row: none changed is TN_ERR_NOT_FOUND. */
#define WRITE_ONE(base, id, ...)                                                             \
    do {                                                                                     \
        PGresult *r_;                                                                        \
        enum tn_err e_ = one((base), NULL, true, (id), &r_, __VA_ARGS__);                    \
        if (e_ == TN_OK && changes(r_) == 0)                                                 \
            e_ = TN_ERR_NOT_FOUND;                                                           \
        PQclear(r_);                                                                         \
        return e_;                                                                           \
    } while (0)

/* A write whose row count does not matter. */
#define WRITE(base, id, ...)                                                                 \
    do {                                                                                     \
        PGresult *r_;                                                                        \
        enum tn_err e_ = one((base), NULL, true, (id), &r_, __VA_ARGS__);                    \
        PQclear(r_);                                                                         \
        return e_;                                                                           \
    } while (0)

/* One row read into *out with reader `rd`; *out is zeroed again unless TN_OK. */
#define READ1(base, out, rd, id, ...)                                                        \
    do {                                                                                     \
        PGresult *r_;                                                                        \
        enum tn_err e_ = one((base), NULL, false, (id), &r_, ##__VA_ARGS__);                 \
        if (e_ == TN_OK)                                                                     \
            e_ = PQntuples(r_) > 0 ? rd(r_, 0, (out)) : TN_ERR_NOT_FOUND;                    \
        PQclear(r_);                                                                         \
        if (e_ != TN_OK)                                                                     \
            memset((out), 0, sizeof *(out));                                                 \
        return e_;                                                                           \
    } while (0)

/* Every row of `id`, read into `type` with `rd` and handed to `cb` after the
 * connection is back in the pool. The rows are one statement's consistent snapshot. */
#define LIST(base, type, rd, cb, ud, id, ...)                                                \
    do {                                                                                     \
        PGresult *r_;                                                                        \
        enum tn_err e_ = one((base), NULL, false, (id), &r_, ##__VA_ARGS__);                 \
        for (int i_ = 0; e_ == TN_OK && i_ < PQntuples(r_); i_++) {                          \
            type item_;                                                                      \
            memset(&item_, 0, sizeof item_);                                                 \
            if ((e_ = rd(r_, i_, &item_)) == TN_OK)                                          \
                cb(&item_, (ud));                                                            \
        }                                                                                    \
        PQclear(r_);                                                                         \
        return e_;                                                                           \
    } while (0)

/* ---------- organizations ---------- */

static enum tn_err pg_org_insert(struct tn_store *s, const struct tn_org *o)
{
    WRITE(s, S_ORG_INSERT, o->id, o->name, o->created_at);
}

static enum tn_err pg_org_get(struct tn_store *s, const char *id, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_GET, id);
}

static enum tn_err pg_org_by_name(struct tn_store *s, const char *name, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_BY_NAME, name);
}

static enum tn_err pg_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud)
{
    LIST(s, struct tn_org, read_org, cb, ud, S_ORG_LIST);
}

/* ---------- users ---------- */

static enum tn_err pg_user_insert(struct tn_store *s, const struct tn_user *u)
{
    WRITE(s, S_USER_INSERT, u->id, u->email, u->name, u->org_id, u->role, u->password_hash,
          (int)u->disabled, u->created_at, u->tokens_valid_after);
}

static enum tn_err pg_user_get(struct tn_store *s, const char *id, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_GET, id);
}

static enum tn_err pg_user_by_email(struct tn_store *s, const char *email, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_BY_EMAIL, email);
}

static enum tn_err pg_user_update(struct tn_store *s, const struct tn_user *u)
{
    WRITE_ONE(s, S_USER_UPDATE, u->id, u->name, u->org_id, u->role, u->password_hash,
              (int)u->disabled, u->tokens_valid_after);
}

static enum tn_err pg_user_count(struct tn_store *s, int64_t *n)
{
    READ1(s, n, read_count, S_USER_COUNT);
}

static enum tn_err pg_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud)
{
    LIST(s, struct tn_user, read_user, cb, ud, S_USER_LIST);
}

/* ---------- clients ---------- */

static enum tn_err pg_client_insert(struct tn_store *s, const struct tn_client *c)
{
    WRITE(s, S_CLIENT_INSERT, c->id, c->name, c->redirect_uris, c->secret_hash, c->auth_method,
          c->grant_types, c->scope, c->application_type, c->metadata, c->created_at,
          c->last_used_at);
}

static enum tn_err pg_client_get(struct tn_store *s, const char *id, struct tn_client *out)
{
    READ1(s, out, read_client, S_CLIENT_GET, id);
}

static enum tn_err pg_client_touch(struct tn_store *s, const char *id, int64_t now)
{
    WRITE_ONE(s, S_CLIENT_TOUCH, id, now);
}

/* Consents, codes and refresh tokens go with it: ON DELETE CASCADE, same statement. */
static enum tn_err pg_client_delete(struct tn_store *s, const char *id)
{
    WRITE_ONE(s, S_CLIENT_DELETE, id);
}

static enum tn_err pg_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud)
{
    LIST(s, struct tn_client, read_client, cb, ud, S_CLIENT_LIST);
}

/* The count is of clients only, not of the rows the cascade removed. */
static enum tn_err pg_client_delete_unused(struct tn_store *s, int64_t created_before,
                                           int64_t *n)
{
    WRITE1(s, n, S_CLIENT_DELETE_UNUSED, created_before);
}

/* ---------- consent ---------- */

static enum tn_err read_scope(const PGresult *r, int i, char (*scope)[256])
{
    return row_result(col_text(r, i, 0, *scope, sizeof *scope), "consents");
}

static enum tn_err pg_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                                  char scope[256])
{
    char(*out)[256] = (char(*)[256])scope;
    READ1(s, out, read_scope, S_CONSENT_GET, user_id, client_id);
}

static enum tn_err pg_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                                  const char *scope, int64_t now)
{
    WRITE(s, S_CONSENT_PUT, user_id, client_id, scope, now);
}

static enum tn_err pg_consent_revoke(struct tn_store *s, const char *user_id,
                                     const char *client_id)
{
    if (client_id)
        WRITE(s, S_CONSENT_REVOKE, user_id, client_id);
    else
        WRITE(s, S_CONSENT_REVOKE_ALL, user_id);
}

/* ---------- authorization codes ---------- */

static enum tn_err pg_code_insert(struct tn_store *s, const struct tn_code *c)
{
    WRITE(s, S_CODE_INSERT, c->hash, c->client_id, c->user_id, c->redirect_uri, c->scope,
          c->resource, c->challenge, c->family, c->expires_at);
}

struct code_take {
    const uint8_t *hash;
    struct tn_code *out;
};

static enum tn_err code_take_body(struct call *k, void *arg)
{
    struct code_take *t = arg;
    PGresult *r = NULL;
    bool used;
    memset(t->out, 0, sizeof *t->out);
    enum tn_err e = run(k, S_CODE_USE, &r, t->hash);
    if (e == TN_OK && PQntuples(r) == 1) {
        e = read_code(r, 0, t->out, &used);
        PQclear(r);
        return e;
    }
    PQclear(r);
    /* Not taken by us: used before (or by a concurrent taker that won), or unknown. */
    if (e == TN_OK)
        e = run(k, S_CODE_GET, &r, t->hash);
    if (e == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_code(r, 0, t->out, &used);
    PQclear(r);
    return e == TN_OK ? TN_ERR_CONFLICT : e;
}

static enum tn_err pg_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out)
{
    struct code_take t = {.hash = hash, .out = out};
    enum tn_err e = with_conn(s, true, NULL, code_take_body, &t);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        memset(out, 0, sizeof *out);
    return e;
}

/* ---------- refresh tokens ---------- */

static enum tn_err insert_refresh(struct call *k, const struct tn_refresh *t)
{
    enum tn_err e = run(k, S_FAMILY_LOCK, NULL, t->family);
    if (e == TN_OK)
        e = run(k, S_REFRESH_INSERT, NULL, t->hash, t->family, t->client_id, t->user_id,
                t->scope, t->resource, t->issued_at, t->expires_at, t->rotated_at,
                (int)t->revoked);
    return e;
}

static enum tn_err refresh_insert_body(struct call *k, void *arg)
{
    return insert_refresh(k, arg);
}

static enum tn_err pg_refresh_insert(struct tn_store *s, const struct tn_refresh *t)
{
    return with_conn(s, true, NULL, refresh_insert_body, (void *)t);
}

struct rotate {
    const uint8_t *old_hash;
    const struct tn_refresh *next;
    int64_t now;
    struct tn_refresh *old;
};

static enum tn_err rotate_body(struct call *k, void *arg)
{
    struct rotate *a = arg;
    PGresult *r = NULL;
    memset(a->old, 0, sizeof *a->old);
    /* The family first, as every refresh-token write takes it: then the row. */
    enum tn_err e = run(k, S_FAMILY_LOCK, NULL, a->next->family);
    if (e == TN_OK)
        e = run(k, S_REFRESH_LOCK, &r, a->old_hash);
    if (e == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_refresh(r, 0, a->old);
    PQclear(r);
    if (e != TN_OK)
        return e;
    const struct tn_refresh *old = a->old, *next = a->next;
    if (old->rotated_at != 0 || old->revoked || old->expires_at <= a->now)
        return TN_ERR_CONFLICT;
    /* The successor stays in the grant it replaces; anything else is a caller bug that
     * would move a grant to another client or user. */
    if (strcmp(next->family, old->family) != 0 || strcmp(next->client_id, old->client_id) != 0 ||
        strcmp(next->user_id, old->user_id) != 0)
        return TN_ERR_BAD_INPUT;
    if ((e = run(k, S_REFRESH_MARK, &r, a->old_hash, a->now)) != TN_OK)
        return e;
    /* The row is locked, so this cannot miss; the condition keeps single use if that
     * ever changes. */
    bool marked = changes(r) == 1;
    PQclear(r);
    if (!marked)
        return TN_ERR_CONFLICT;
    return insert_refresh(k, next);
}

static enum tn_err pg_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                                     const struct tn_refresh *next, int64_t now,
                                     struct tn_refresh *old)
{
    struct rotate a = {.old_hash = old_hash, .next = next, .now = now, .old = old};
    enum tn_err e = with_conn(s, true, NULL, rotate_body, &a);
    if (e == TN_OK)
        old->rotated_at = now;
    else if (e != TN_ERR_CONFLICT)
        memset(old, 0, sizeof *old);
    return e;
}

static enum tn_err pg_refresh_get(struct tn_store *s, const uint8_t hash[32],
                                  struct tn_refresh *out)
{
    READ1(s, out, read_refresh, S_REFRESH_GET, hash);
}

static enum tn_err pg_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                          int64_t grace_s)
{
    WRITE_ONE(s, S_REFRESH_SPEND_GRACE, hash, now, grace_s);
}

/* Revokes the family's tokens and remembers the family, so that a token inserted into
 * it afterwards is born revoked. Succeeds when the family has no token (yet). */
static enum tn_err family_revoke_body(struct call *k, void *arg)
{
    const char *family = arg;
    enum tn_err e = run(k, S_FAMILY_LOCK, NULL, family);
    if (e == TN_OK)
        e = run(k, S_FAMILY_REVOKE, NULL, family);
    if (e == TN_OK)
        e = run(k, S_FAMILY_REMEMBER, NULL, family);
    return e;
}

static enum tn_err pg_family_revoke(struct tn_store *s, const char *family)
{
    return with_conn(s, true, NULL, family_revoke_body, (void *)family);
}

static enum tn_err pg_user_revoke_all(struct tn_store *s, const char *user_id)
{
    WRITE(s, S_USER_REVOKE_ALL, user_id);
}

/* ---------- signing keys ---------- */

static enum tn_err pg_key_insert(struct tn_store *s, const struct tn_signing_key *k)
{
    WRITE(s, S_KEY_INSERT, k->kid, k->alg, k->pem, k->created_at, k->signs_from, k->retire_at);
}

static enum tn_err pg_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud)
{
    LIST(s, struct tn_signing_key, read_key, cb, ud, S_KEY_LIST);
}

static enum tn_err pg_key_delete(struct tn_store *s, const char *kid)
{
    WRITE_ONE(s, S_KEY_DELETE, kid);
}

static enum tn_err pg_key_replace(struct tn_store *s, const char *kid, const char *expected,
                                  const char *pem)
{
    WRITE_ONE(s, S_KEY_REPLACE, kid, expected, pem);
}

/* ---------- notes ---------- */

/* store.c has filled every field (id, owner, org, version, timestamps). */
static enum tn_err pg_note_insert(struct tn_store *s, const struct tn_owner *o,
                                  const struct tn_note *n)
{
    PGresult *r;
    enum tn_err e = one(s, o, true, S_NOTE_INSERT, &r, n->id, o->user, o->org, n->title,
                        n->content, n->tags, n->visibility, n->version, n->created_at,
                        n->updated_at);
    PQclear(r);
    return e;
}

struct note_import {
    const struct tn_note *v;
    size_t n, added;
};

/* One transaction; each note is written as its owner (the row-level security policies
 * check every row against teamnotes.user and teamnotes.org). */
static enum tn_err note_import_body(struct call *k, void *arg)
{
    struct note_import *a = arg;
    enum tn_err e = TN_OK;
    a->added = 0; /* the body runs again after a lost connection: start clean */
    for (size_t i = 0; i < a->n && e == TN_OK; i++) {
        const struct tn_note *n = &a->v[i];
        PGresult *r = NULL;
        if (i == 0 || strcmp(n->owner, a->v[i - 1].owner) || strcmp(n->org, a->v[i - 1].org))
            e = run(k, S_NOTE_AS, &r, n->owner, n->org);
        PQclear(r);
        r = NULL;
        if (e == TN_OK)
            e = run(k, S_NOTE_IMPORT, &r, n->id, n->owner, n->org, n->title, n->content,
                    n->tags, n->visibility, n->version, n->created_at, n->updated_at);
        if (e == TN_OK && changes(r) == 1)
            a->added++;
        PQclear(r);
    }
    return e;
}

static enum tn_err pg_note_import(struct tn_store *s, const struct tn_note *v, size_t n,
                                  size_t *added)
{
    struct note_import a = {.v = v, .n = n};
    enum tn_err e = with_conn(s, true, NULL, note_import_body, &a);
    *added = e == TN_OK ? a.added : 0;
    return e;
}

static enum tn_err pg_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                               struct tn_note *out)
{
    PGresult *r;
    enum tn_err e = one_read_as(s, o, S_NOTE_GET, &r, id, o->user, o->org);
    if (e == TN_OK)
        e = PQntuples(r) > 0 ? read_note(r, 0, out, false) : TN_ERR_NOT_FOUND;
    PQclear(r);
    if (e != TN_OK)
        note_clear(out);
    return e;
}

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
    PGresult *r = NULL;
    note_clear(a->out);
    enum tn_err e = run(k, S_NOTE_UPDATE, &r, a->id, a->o->user, a->o->org, a->expected_version,
                        a->title, a->content, a->tags, a->visibility, a->now);
    if (e == TN_OK && PQntuples(r) == 1) {
        e = read_note(r, 0, a->out, false);
        PQclear(r);
        return e;
    }
    PQclear(r);
    /* Nothing updated: another version, or not a note of theirs. */
    if (e == TN_OK)
        e = run(k, S_NOTE_GET_OWN, &r, a->id, a->o->user, a->o->org);
    if (e == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_note(r, 0, a->out, false);
    PQclear(r);
    return e == TN_OK ? TN_ERR_CONFLICT : e;
}

static enum tn_err pg_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                                  int64_t expected_version, const char *title,
                                  const char *content, const char *tags, const char *visibility,
                                  int64_t now, struct tn_note *out)
{
    struct note_update a = {.o = o, .id = id, .expected_version = expected_version,
                            .title = title, .content = content, .tags = tags,
                            .visibility = visibility, .now = now, .out = out};
    enum tn_err e = with_conn(s, false, o, note_update_body, &a);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        note_clear(out);
    return e;
}

struct note_delete {
    const struct tn_owner *o;
    const char *id;
    int64_t expected_version;
};

static enum tn_err note_delete_body(struct call *k, void *arg)
{
    struct note_delete *a = arg;
    PGresult *r = NULL;
    enum tn_err e = run(k, S_NOTE_DELETE, &r, a->id, a->o->user, a->o->org, a->expected_version);
    bool deleted = e == TN_OK && changes(r) == 1;
    PQclear(r);
    if (e != TN_OK || deleted)
        return e;
    if ((e = run(k, S_NOTE_GET_OWN, &r, a->id, a->o->user, a->o->org)) == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : TN_ERR_CONFLICT;
    PQclear(r);
    return e;
}

static enum tn_err pg_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                                  int64_t expected_version)
{
    struct note_delete a = {.o = o, .id = id, .expected_version = expected_version};
    return with_conn(s, false, o, note_delete_body, &a);
}

/* Hands each row of a notes result to `cb` (the connection is already back). */
static enum tn_err each_note(PGresult *r, bool hits, tn_store_note_cb cb, void *ud)
{
    enum tn_err e = TN_OK;
    for (int i = 0; e == TN_OK && i < PQntuples(r); i++) {
        struct tn_note n;
        memset(&n, 0, sizeof n);
        if ((e = hits ? read_hit(r, i, &n) : read_note(r, i, &n, true)) == TN_OK)
            cb(&n, ud);
    }
    return e;
}

static enum tn_err pg_note_list(struct tn_store *s, const struct tn_owner *o,
                                const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    PGresult *r;
    enum tn_err e = one_read_as(s, o, S_NOTE_LIST, &r, o->user, o->org, p->after_updated,
                                p->after_id, p->tag, (int64_t)p->limit);
    if (e == TN_OK)
        e = each_note(r, false, cb, ud);
    PQclear(r);
    return e;
}

static enum tn_err pg_note_list_team(struct tn_store *s, const struct tn_owner *o,
                                     const struct tn_note_page *p, tn_store_note_cb cb,
                                     void *ud)
{
    PGresult *r;
    enum tn_err e = one_read_as(s, o, S_NOTE_LIST_TEAM, &r, o->org, p->after_updated,
                                p->after_id, p->tag, (int64_t)p->limit);
    if (e == TN_OK)
        e = each_note(r, false, cb, ud);
    PQclear(r);
    return e;
}

static enum tn_err pg_note_search(struct tn_store *s, const struct tn_owner *o,
                                  const char *query, unsigned limit, tn_store_note_cb cb,
                                  void *ud)
{
    PGresult *r;
    enum tn_err e =
        one_read_as(s, o, S_NOTE_SEARCH, &r, o->user, o->org, query, (int64_t)limit);
    if (e == TN_OK)
        e = each_note(r, true, cb, ud);
    PQclear(r);
    return e;
}

/* ---------- audit ---------- */

struct audit_batch {
    const struct tn_audit *a;
    size_t n;
    bool sync;
};

static enum tn_err audit_batch_body(struct call *k, void *arg)
{
    const struct audit_batch *b = arg;
    /* an asynchronous commit: PostgreSQL's WAL writer flushes it within a moment */
    enum tn_err e = b->sync ? TN_OK : simple(k, "SET LOCAL synchronous_commit = off");
    for (size_t i = 0; i < b->n && e == TN_OK; i++) {
        const struct tn_audit *a = &b->a[i];
        e = run(k, S_AUDIT_INSERT, NULL, a->at, a->user, a->org, a->client_id, a->tool,
                a->note_id, a->outcome);
    }
    return e;
}

static enum tn_err pg_audit_insert(struct tn_store *s, const struct tn_audit *a, size_t n,
                                   bool sync)
{
    struct audit_batch b = {.a = a, .n = n, .sync = sync};
    return with_conn(s, true, NULL, audit_batch_body, &b);
}

static enum tn_err pg_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb,
                                 void *ud)
{
    LIST(s, struct tn_audit, read_audit, cb, ud, S_AUDIT_LIST, (int64_t)limit);
}

/* ---------- open, migrate, close ---------- */

static void *watch_main(void *arg)
{
    struct pg_store *s = arg;
    PGconn *pg = NULL;
    unsigned backoff_ms = 200;
    while (!atomic_load(&s->stop_watch)) {
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            if (pg)
                PQfinish(pg);
            pg = PQconnectdb(s->url);
            PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN teamnotes_notes") : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                /* the database is away: try again, a little later each time */
                struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
                continue;
            }
            backoff_ms = 200;
        }
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        int n = poll(&pfd, 1, 500);
        if (n < 0 || (n > 0 && !PQconsumeInput(pg))) {
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        PGnotify *note;
        while ((note = PQnotifies(pg)) != NULL) {
            if (note->extra && s->watch_fn)
                s->watch_fn(note->extra, s->watch_ud);
            PQfreemem(note);
        }
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

static enum tn_err pg_watch_notes(struct tn_store *base, void (*fn)(const char *owner, void *ud), void *ud)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->watching)
        return TN_ERR_CONFLICT;
    s->watch_fn = fn;
    s->watch_ud = ud;
    atomic_init(&s->stop_watch, false);
    if (pthread_create(&s->watcher, NULL, watch_main, s) != 0)
        return TN_ERR_NOMEM;
    s->watching = true;
    return TN_OK;
}

static void pg_close(struct tn_store *base)
{
    struct pg_store *ws = (struct pg_store *)base;
    if (ws->watching) {
        atomic_store(&ws->stop_watch, true);
        pthread_join(ws->watcher, NULL);
        ws->watching = false;
    }
    struct pg_store *s = (struct pg_store *)base;
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
    free(s->url);
    free(s);
}

static const struct tn_store_ops postgres_ops = {
    .name = "postgres",
    .close = pg_close,
    .watch_notes = pg_watch_notes,
    .org_insert = pg_org_insert,
    .org_get = pg_org_get,
    .org_by_name = pg_org_by_name,
    .org_list = pg_org_list,
    .user_insert = pg_user_insert,
    .user_get = pg_user_get,
    .user_by_email = pg_user_by_email,
    .user_update = pg_user_update,
    .user_count = pg_user_count,
    .user_list = pg_user_list,
    .client_insert = pg_client_insert,
    .client_get = pg_client_get,
    .client_touch = pg_client_touch,
    .client_delete = pg_client_delete,
    .client_list = pg_client_list,
    .client_delete_unused = pg_client_delete_unused,
    .consent_get = pg_consent_get,
    .consent_put = pg_consent_put,
    .consent_revoke = pg_consent_revoke,
    .code_insert = pg_code_insert,
    .code_take = pg_code_take,
    .refresh_insert = pg_refresh_insert,
    .refresh_rotate = pg_refresh_rotate,
    .refresh_get = pg_refresh_get,
    .refresh_spend_grace = pg_refresh_spend_grace,
    .family_revoke = pg_family_revoke,
    .user_revoke_all = pg_user_revoke_all,
    .key_insert = pg_key_insert,
    .key_list = pg_key_list,
    .key_delete = pg_key_delete,
    .key_replace = pg_key_replace,
    .note_insert = pg_note_insert,
    .note_import = pg_note_import,
    .note_get = pg_note_get,
    .note_update = pg_note_update,
    .note_delete = pg_note_delete,
    .note_list = pg_note_list,
    .note_list_team = pg_note_list_team,
    .note_search = pg_note_search,
    .audit_insert = pg_audit_insert,
    .audit_list = pg_audit_list,
};

/* Runs a command on the migration connection; on failure says what failed in err. */
static bool exec_ok(PGconn *pg, const char *sql, const char *what, struct tn_buf *err)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        char line[512];
        errf(err, "cannot migrate the PostgreSQL database (%s): %s", what,
             one_line(PQresultErrorMessage(r), line, sizeof line));
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
        errf(err, "cannot read the schema version: %s",
             one_line(PQresultErrorMessage(r), line, sizeof line));
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
            errf(err, "cannot record migration %s: %s", m->name,
                 one_line(PQresultErrorMessage(r), line, sizeof line));
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
static enum tn_err migrate(PGconn *pg, int *version, struct tn_buf *err)
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
            errf(err,
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
static enum tn_err check_rls(PGconn *pg, struct tn_buf *err)
{
    PGresult *r = PQexec(pg,
                         "SELECT c.relrowsecurity AND c.relforcerowsecurity, "
                         "r.rolsuper OR r.rolbypassrls "
                         "FROM pg_class c, pg_roles r "
                         "WHERE c.oid = 'notes'::regclass AND r.rolname = current_user");
    enum tn_err e = TN_OK;
    char line[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        errf(err, "cannot check row-level security on notes: %s",
             one_line(PQresultErrorMessage(r), line, sizeof line));
        e = TN_ERR_IO;
    } else if (PQgetvalue(r, 0, 0)[0] != 't') {
        errf(err, "row-level security is off on table notes; as its owner run: "
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

enum tn_err tn_store_postgres_open(const char *url, struct tn_store **out, struct tn_buf *err)
{
    *out = NULL;
    struct pg_store *s = NULL;
    struct conn *c = NULL;
    enum tn_err e = TN_ERR_NOMEM;
    if (!(s = calloc(1, sizeof *s)) || !(s->url = strdup(url))) {
        free(s);
        return TN_ERR_NOMEM;
    }
    /* libpq knows the scheme in lower case only; store.c accepts any case. */
    for (char *p = s->url; *p && *p != ':'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + ('a' - 'A'));
    /* The URL may carry a password: neither it nor libpq's parse error (which may quote
     * part of it) is repeated. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(s->url, &perr);
    PQconninfoFree(opts);
    PQfreemem(perr);
    if (!opts) {
        errf(err, "DATABASE_URL is not a valid PostgreSQL connection URL "
                  "(postgres://user:password@host:port/database?param=value)");
        e = TN_ERR_CONFIG;
        free(s->url);
        free(s);
        return e;
    }
    s->base.ops = &postgres_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* Migrations run without the lock timeout: waiting for another instance's
     * migrations is expected. The connection then joins the pool. */
    if ((e = conn_open(s->url, false, &c, err)) != TN_OK)
        goto done;
    s->nopen = 1;
    if ((e = migrate(c->pg, &s->base.schema_version, err)) != TN_OK ||
        (e = check_rls(c->pg, err)) != TN_OK)
        goto done;
    if (!session_setup(c->pg)) {
        char line[512];
        errf(err, "cannot configure the PostgreSQL session: %s",
             one_line(PQerrorMessage(c->pg), line, sizeof line));
        e = TN_ERR_IO;
        goto done;
    }
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
        pg_close(&s->base);
    return e;
}
