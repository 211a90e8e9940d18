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
 * (one_read_as). In a write, BEGIN and the caller go in one pipeline with its first
 * statement (run_pending), a batch of audit records as one COPY (pg_copy_in),
 * and COMMIT alone, after every other answer came back: a single-statement write is
 * two round trips instead of four.
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
 * rotated. Every insert of a refresh token and every revocation of one family takes a
 * transaction-scoped advisory lock on the family first, so the two are serialized: a
 * token cannot be born unrevoked into a family revoked at the same moment. Revoking an
 * app or signing out everywhere (postgres_grants.c) remembers and revokes its families
 * without those locks: a token a rotation inserts while one runs can be born unrevoked,
 * and is refused at the token endpoint by the revocation's time (token.c user_current,
 * app_current), as its access tokens are by the resource server.
 *
 * Migrations: one script per version, migrations/postgres/NNNN_*.sql, compiled in at
 * build time (scripts/gen-migrations.py), each applied in its own transaction and
 * recorded in schema_version, all while holding a session advisory lock so that
 * instances starting together apply each script once. A database from a newer binary is
 * refused.
 *
 * Files: this one (connections, running statements, open, close), postgres_migrate.c
 * (migrations, the row-level security check), postgres_auth.c (the authorization server's tables), postgres_notes.c (notes, search,
 * audit), postgres_listen.c (the change feed); postgres_internal.h is what they share. */
#include "store/postgres.h"
#include "store/postgres_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---------- statements ---------- */

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

void pg_errf(struct tn_buf *err, const char *fmt, ...)
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

const char *pg_one_line(const char *msg, char *buf, size_t cap)
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
static void quiet(void *arg, const char *message) {}

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
    /* READ COMMITTED whatever the database's default: the advisory locks (a refresh
     * family, the administrators) order writers only if each statement after the lock
     * sees what the one before committed */
    PGresult *r = PQexec(pg, "SET lock_timeout = '" LOCK_TIMEOUT "'; "
                             "SET default_transaction_isolation = 'read committed'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

static PGconn *connect_with(const char *url, bool start)
{
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname",
                                       "client_encoding", NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, "teamnotes", url, "UTF8", NULL};
    PGconn *pg = start ? PQconnectStartParams(keys, vals, 1) : PQconnectdbParams(keys, vals, 1);
    if (pg)
        PQsetNoticeProcessor(pg, quiet, NULL);
    return pg;
}

PGconn *pg_connect(const char *url) { return connect_with(url, false); }

PGconn *pg_connect_start(const char *url) { return connect_with(url, true); }

/* Opens one connection (pg_connect) for the pool. */
static enum tn_err conn_open(const char *url, bool setup, struct conn **out, struct tn_buf *err)
{
    *out = NULL;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return TN_ERR_NOMEM;
    c->pg = pg_connect(url);
    if (!c->pg) {
        free(c);
        return TN_ERR_NOMEM;
    }
    char line[512];
    if (PQstatus(c->pg) != CONNECTION_OK) {
        pg_errf(err, "cannot connect to PostgreSQL: %s",
                pg_one_line(PQerrorMessage(c->pg), line, sizeof line));
        conn_close(c);
        return TN_ERR_IO;
    }
    if (setup && !session_setup(c->pg)) {
        pg_errf(err, "cannot configure the PostgreSQL session: %s",
                pg_one_line(PQerrorMessage(c->pg), line, sizeof line));
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
    bool drop = PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE;
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
    if (PQstatus(k->c->pg) != CONNECTION_OK || state_is(state, "08") || state_is(state, "57P")) {
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
    tn_log(e == TN_ERR_BUSY ? TN_LOG_WARN : TN_LOG_ERROR, "store: postgres error", "stmt", what,
           "sqlstate", state ? state : "", "error",
           pg_one_line(msg ? msg : PQerrorMessage(k->c->pg), line, sizeof line), NULL);
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

/* One statement of a pipeline: prepared statement `id` with the values `p`, or `sql`, a
 * statement without parameters. `res` (when not NULL) receives its result. */
struct piece {
    enum stmt_id id;
    const char *sql;
    const struct params *p;
    PGresult **res;
};

static enum tn_err pipeline(struct call *k, const struct piece *v, size_t n);

/* A transaction's BEGIN (and the caller, for a notes call) not sent yet goes in front
 * of its first statement, as one pipeline: one round trip instead of three. BEGIN is
 * explicit, so the pipeline's Sync commits nothing; a connection lost there is retried
 * like one lost at BEGIN. */
static enum tn_err run_pending(struct call *k, const struct piece *first)
{
    struct params who = {.n = 2, .v = {NULL, NULL}};
    struct piece v[3];
    size_t n = 0;
    v[n++] = (struct piece){.sql = "BEGIN"};
    if (k->as) {
        who.v[0] = k->as->user;
        who.v[1] = k->as->org;
        v[n++] = (struct piece){.id = S_NOTE_AS, .p = &who};
    }
    if (first) /* none before a COPY, which cannot be pipelined (pg_copy_in) */
        v[n++] = *first;
    k->pending = false;
    return pipeline(k, v, n);
}

/* Runs statement `id` with bound values. TN_OK: *res (when not NULL) holds the result,
 * to PQclear. */
static enum tn_err run_p(struct call *k, enum stmt_id id, const struct params *p, PGresult **res)
{
    if (res)
        *res = NULL;
    if (k->pending)
        return run_pending(k, &(struct piece){.id = id, .p = p, .res = res});
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
enum tn_err pg_run(struct call *k, enum stmt_id id, PGresult **res, ...)
{
    struct params p;
    va_list ap;
    va_start(ap, res);
    bindv(&p, id, ap);
    va_end(ap);
    return run_p(k, id, &p, res);
}

/* A statement without parameters or result: BEGIN, COMMIT, ROLLBACK. */
enum tn_err pg_simple(struct call *k, const char *sql)
{
    if (k->pending)
        return run_pending(k, &(struct piece){.sql = sql});
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

/* COPY ... FROM STDIN (`sql`) with `data`, the rows in the format `sql` names: one
 * statement for a batch of rows, which the server parses, plans and executes once
 * instead of once per row (the audit log's batches). A pending BEGIN (and caller) is
 * sent first, on its own: COPY cannot be pipelined. */
enum tn_err pg_copy_in(struct call *k, const char *sql, const char *data, size_t len)
{
    enum tn_err e = k->pending ? run_pending(k, NULL) : TN_OK;
    if (e != TN_OK)
        return e;
    PGconn *pg = k->c->pg;
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        e = fail(k, r, sql);
        PQclear(r);
        return e;
    }
    PQclear(r);
    /* libpq takes at most INT_MAX bytes at a time */
    for (size_t off = 0; off < len && !k->lost;) {
        int n = len - off > (size_t)1 << 30 ? 1 << 30 : (int)(len - off);
        if (PQputCopyData(pg, data + off, n) != 1)
            k->lost = true;
        off += (size_t)n;
    }
    if (!k->lost && PQputCopyEnd(pg, NULL) != 1)
        k->lost = true;
    if (k->lost) /* with_conn resets the connection and logs the loss */
        return TN_ERR_IO;
    r = PQgetResult(pg);
    e = PQresultStatus(r) == PGRES_COMMAND_OK ? TN_OK : fail(k, r, sql);
    PQclear(r);
    while ((r = PQgetResult(pg))) {               /* the NULL that ends the statement's results */
        if (PQresultStatus(r) == PGRES_COPY_IN) { /* cannot happen: the data was ended */
            k->lost = true;
            PQclear(r);
            return TN_ERR_IO;
        }
        PQclear(r);
    }
    return e;
}

/* Rows a command changed. */
int64_t pg_changes(const PGresult *r)
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

/* Tells every instance (postgres_listen.c) that k->announce's notes changed, after the
 * write committed, when this store does not watch the feed (a command of the CLI); a
 * watching store hands the owner to its feed thread instead (pg_feed_announce), which
 * announces many writes in one transaction. NOTIFY takes a database-wide lock at its
 * transaction's commit and holds it until the commit is on disk, so inside the write it
 * made every note write wait for the previous one's WAL flush. Here it is a transaction
 * of its own that does not wait for the disk (a notification does not outlive a crash
 * anyway). The write has committed whatever happens here: a failure is logged, never the
 * call's result. */
static void announce(struct call *k)
{
    PGresult *r = NULL;
    bool lost = k->lost;
    if (pg_run(k, S_NOTE_ANNOUNCE, &r, k->announce) != TN_OK)
        tn_log(TN_LOG_WARN, "store: a note change was not announced to other instances", NULL);
    PQclear(r);
    k->lost = lost || k->lost;
}

/* Runs `body` on a pooled connection: inside BEGIN ... COMMIT when `tx` or `as` (a
 * notes call, whose caller is set for the row-level security policies first),
 * otherwise as a single statement's own transaction. BEGIN and the caller wait for the
 * body's first statement and go with it (run_pending); a body that ran nothing has
 * nothing to commit. COMMIT goes alone, after every answer of the body has come back.
 * Anything but TN_OK rolls back. A lost connection is reset and the call run again
 * once, unless the loss hit the COMMIT (it may have committed). */
enum tn_err pg_with_conn(struct tn_store *base, bool tx, const struct tn_owner *as, body_fn body,
                         void *arg)
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
        k.pending = false;
        k.as = NULL;
        k.announce = NULL;
        e = conn_ready(&k, attempt > 0);
        if (e == TN_OK && tx) {
            k.pending = true;
            k.as = as;
        }
        if (e == TN_OK)
            e = body(&k, arg);
        if (e == TN_OK && tx && !k.pending) {
            committing = true;
            e = pg_simple(&k, "COMMIT");
        }
        k.pending = false;
        if (e != TN_OK && !k.lost && PQtransactionStatus(k.c->pg) != PQTRANS_IDLE) {
            PGresult *r = PQexec(k.c->pg, "ROLLBACK");
            PQclear(r);
        }
        if (e == TN_OK || !k.lost || committing || attempt > 0)
            break;
        tn_log(TN_LOG_WARN, "store: the database connection was lost; reconnecting", NULL);
    }
    if (e == TN_OK && k.announce && !pg_feed_announce(s, k.announce))
        announce(&k);
    if (k.lost) {
        char line[512];
        tn_log(TN_LOG_ERROR, "store: the database connection was lost", "error",
               pg_one_line(PQerrorMessage(k.c->pg), line, sizeof line), NULL);
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
enum tn_err pg_one(struct tn_store *s, const struct tn_owner *as, bool tx, enum stmt_id id,
                   PGresult **res, ...)
{
    struct one o = {.id = id, .res = NULL};
    va_list ap;
    va_start(ap, res);
    bindv(&o.p, id, ap);
    va_end(ap);
    enum tn_err e = pg_with_conn(s, tx, as, one_body, &o);
    if (e != TN_OK) {
        PQclear(o.res);
        o.res = NULL;
    }
    *res = o.res;
    return e;
}

/* The results of one pipelined statement: TN_OK with *res (to PQclear) when it ran;
 * otherwise the failure, or TN_ERR_IO with the call marked lost when the connection
 * went. `e` is the pipeline's result so far: after a failure the rest is skipped. */
static enum tn_err piped_result(struct call *k, const char *what, enum tn_err e, PGresult **res)
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
        e = fail(k, r, what);
    PQclear(r);
    while ((r = PQgetResult(k->c->pg))) /* the NULL that ends this statement's results */
        PQclear(r);
    return e;
}

/* Sends v[0..n) as one pipeline ending in one Sync and reads their results in order:
 * one round trip. Outside BEGIN the server runs them as one implicit transaction that
 * ends (commits) at the Sync. The first failure is the result; the server skips the
 * rest up to the Sync. A connection that breaks is marked lost. On failure no *res is
 * left set. */
static enum tn_err pipeline(struct call *k, const struct piece *v, size_t n)
{
    PGconn *pg = k->c->pg;
    enum tn_err e = TN_OK;
    for (size_t i = 0; i < n; i++) {
        if (v[i].res)
            *v[i].res = NULL;
        if (!v[i].sql && e == TN_OK)
            e = prepare(k, v[i].id);
    }
    if (e != TN_OK)
        return e;
    bool sent = PQenterPipelineMode(pg) == 1;
    for (size_t i = 0; sent && i < n; i++) {
        const struct params *p = v[i].p;
        sent = v[i].sql ? PQsendQueryParams(pg, v[i].sql, 0, NULL, NULL, NULL, NULL, 0) == 1
                        : PQsendQueryPrepared(pg, stmt_name[v[i].id], p->n, p->v, p->len, p->fmt,
                                              0) == 1;
    }
    if (!sent || PQpipelineSync(pg) != 1) {
        e = fail(k, NULL, "pipeline"); /* a connection that cannot take it is lost */
        k->lost = true;
        PQexitPipelineMode(pg);
        return e;
    }
    for (size_t i = 0; i < n && !k->lost; i++)
        e = piped_result(k, v[i].sql ? v[i].sql : stmt_name[v[i].id], e, v[i].res);
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
    if (e != TN_OK)
        for (size_t i = 0; i < n; i++)
            if (v[i].res) {
                PQclear(*v[i].res);
                *v[i].res = NULL;
            }
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
    enum stmt_id as_id; /* NOTE_AS, or NOTE_AS_PAGE before a page */
    struct one o;
};

static enum tn_err piped_body(struct call *k, void *arg)
{
    struct piped *pp = arg;
    PQclear(pp->o.res);
    pp->o.res = NULL;
    struct params who = {.n = 2, .v = {pp->as->user, pp->as->org}};
    const struct piece v[2] = {{.id = pp->as_id, .p = &who},
                               {.id = pp->o.id, .p = &pp->o.p, .res = &pp->o.res}};
    return pipeline(k, v, 2);
}

/* pg_one() for the notes reads: the caller and the statement in one round trip. A page
 * of notes (NOTE_LIST*) goes after NOTE_AS_PAGE, everything else after NOTE_AS. */
enum tn_err pg_one_read_as(struct tn_store *s, const struct tn_owner *as, enum stmt_id id,
                           PGresult **res, ...)
{
    bool page = id == S_NOTE_LIST || id == S_NOTE_LIST_TAG || id == S_NOTE_LIST_TEAM ||
                id == S_NOTE_LIST_TEAM_TAG;
    struct piped pp = {
        .as = as, .as_id = page ? S_NOTE_AS_PAGE : S_NOTE_AS, .o = {.id = id, .res = NULL}};
    va_list ap;
    va_start(ap, res);
    bindv(&pp.o.p, id, ap);
    va_end(ap);
    enum tn_err e = pg_with_conn(s, false, NULL, piped_body, &pp);
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
bool pg_col_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    dst[0] = '\0';
    if (n >= cap)
        return false;
    memcpy(dst, PQgetvalue(r, row, col), n);
    dst[n] = '\0';
    return true;
}

int64_t pg_col_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_col_bool(const PGresult *r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

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
bool pg_col_hash(const PGresult *r, int row, int col, uint8_t dst[32])
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

enum tn_err pg_row_result(bool ok, const char *table)
{
    if (ok)
        return TN_OK;
    tn_log(TN_LOG_ERROR, "store: a stored value does not fit its field", "table", table, NULL);
    return TN_ERR_INTERNAL;
}

/* ---------- open, migrate, close ---------- */

static void pg_close(struct tn_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    if (!s)
        return;
    pg_feed_stop(s);
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
    .user_swap_password = pg_user_swap_password,
    .user_count = pg_user_count,
    .user_list = pg_user_list,
    .client_insert = pg_client_insert,
    .client_get = pg_client_get,
    .client_touch = pg_client_touch,
    .client_delete = pg_client_delete,
    .client_list = pg_client_list,
    .client_delete_unused = pg_client_delete_unused,
    .identity_get = pg_identity_get,
    .identity_link = pg_identity_link,
    .identity_touch = pg_identity_touch,
    .identity_list = pg_identity_list,
    .identity_delete_user = pg_identity_delete_user,
    .grant_list = pg_grant_list,
    .grant_revoke = pg_grant_revoke,
    .grant_revocations = pg_grant_revocations,
    .grant_revoked_at = pg_grant_revoked_at,
    .user_sign_out = pg_user_sign_out,
    .invitation_insert = pg_invitation_insert,
    .invitation_get = pg_invitation_get,
    .invitation_take = pg_invitation_take,
    .invitation_pending = pg_invitation_pending,
    .invitation_list = pg_invitation_list,
    .invitation_revoke = pg_invitation_revoke,
    .org_domain_add = pg_org_domain_add,
    .org_domain_get = pg_org_domain_get,
    .org_domain_remove = pg_org_domain_remove,
    .org_domain_list = pg_org_domain_list,
    .org_sso_put = pg_org_sso_put,
    .org_sso_get = pg_org_sso_get,
    .org_sso_delete = pg_org_sso_delete,
    .org_sso_count = pg_org_sso_count,
    .consent_get = pg_consent_get,
    .consent_put = pg_consent_put,
    .consent_revoke = pg_consent_revoke,
    .code_insert = pg_code_insert,
    .code_take = pg_code_take,
    .email_code_insert = pg_email_code_insert,
    .email_code_get = pg_email_code_get,
    .email_code_use = pg_email_code_use,
    .email_code_cleanup = pg_email_code_cleanup,
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
    .user_signed_in = pg_user_signed_in,
    .user_search = pg_user_search,
    .client_grants = pg_client_grants,
    .client_usage = pg_client_usage,
    .key_schedule = pg_key_schedule,
    .audit_query = pg_audit_query,
};

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
        pg_errf(err, "DATABASE_URL is not a valid PostgreSQL connection URL "
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
    if ((e = pg_migrate(c->pg, &s->base.schema_version, err)) != TN_OK ||
        (e = pg_check_rls(c->pg, err)) != TN_OK)
        goto done;
    if (!session_setup(c->pg)) {
        char line[512];
        pg_errf(err, "cannot configure the PostgreSQL session: %s",
                pg_one_line(PQerrorMessage(c->pg), line, sizeof line));
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
