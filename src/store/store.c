/* The store's public API: picks the backend, checks arguments once for every backend,
 * then forwards through the backend's ops table (src/store/backend.h). */
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "store/backend.h"
#include "store/postgres.h"

/* A string field of a caller's struct must end inside its array; anything else would
 * make the backend read past it. */
#define TERMINATED(p, f) (memchr((p)->f, '\0', sizeof(p)->f) != NULL)
#define NONEMPTY(p, f) (TERMINATED(p, f) && (p)->f[0] != '\0')
#define FIELD_SIZE(type, f) sizeof(((type *)0)->f)

static bool has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0;
}

static struct tn_audit_queue *audit_queue_new(struct tn_store *s);
static void audit_queue_free(struct tn_audit_queue *q);

static enum tn_err open_backend(const char *data_dir, const char *database_url,
                                struct tn_store **out, struct tn_buf *err)
{
    if (!out)
        return TN_ERR_BAD_INPUT;
    *out = NULL;
    if (database_url && database_url[0] != '\0') {
        if (has_scheme(database_url, "postgres://") || has_scheme(database_url, "postgresql://"))
            return tn_store_postgres_open(database_url, out, err);
        /* Falling back to SQLite on a mistyped URL would give each instance its own
         * database without a word; refuse instead. The URL may carry a password, so
         * it is not echoed. */
        if (err)
            tn_buf_puts(err, "DATABASE_URL must start with postgres:// or postgresql:// "
                             "(leave it unset to use SQLite under the data directory)");
        return TN_ERR_CONFIG;
    }
    if (!data_dir || data_dir[0] == '\0') {
        if (err)
            tn_buf_puts(err, "the data directory is not set");
        return TN_ERR_CONFIG;
    }
    return tn_store_sqlite_open(data_dir, out, err);
}

enum tn_err tn_store_open(const char *data_dir, const char *database_url, struct tn_store **out,
                          struct tn_buf *err)
{
    enum tn_err e = open_backend(data_dir, database_url, out, err);
    if (e == TN_OK && !((*out)->audit = audit_queue_new(*out))) {
        (*out)->ops->close(*out);
        *out = NULL;
        e = TN_ERR_NOMEM;
    }
    return e;
}

void tn_store_close(struct tn_store *s)
{
    if (!s)
        return;
    audit_queue_free(s->audit); /* writes what is still queued */
    s->audit = NULL;
    s->ops->close(s);
}

const char *tn_store_backend(const struct tn_store *s) { return s ? s->ops->name : ""; }

int tn_store_schema_version(const struct tn_store *s) { return s ? s->schema_version : 0; }

/* ---------- organizations ---------- */

enum tn_err tn_store_org_insert(struct tn_store *s, const struct tn_org *o)
{
    if (!s || !o || !NONEMPTY(o, id) || !NONEMPTY(o, name))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_insert(s, o);
}

enum tn_err tn_store_org_get(struct tn_store *s, const char *id, struct tn_org *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_get(s, id, out);
}

enum tn_err tn_store_org_by_name(struct tn_store *s, const char *name, struct tn_org *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !name || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_by_name(s, name, out);
}

enum tn_err tn_store_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_list(s, cb, ud);
}

/* ---------- users ---------- */

/* ASCII only: the part of an address that is case-insensitive in practice. */
static void lower_ascii(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + ('a' - 'A')) : src[i];
}

/* The email is not part of an update, so only an insert checks it. */
static bool user_valid(const struct tn_user *u)
{
    return NONEMPTY(u, id) && TERMINATED(u, name) && TERMINATED(u, org_id) && NONEMPTY(u, role) &&
           TERMINATED(u, password_hash);
}

enum tn_err tn_store_user_insert(struct tn_store *s, const struct tn_user *u)
{
    if (!s || !u || !user_valid(u) || !NONEMPTY(u, email))
        return TN_ERR_BAD_INPUT;
    struct tn_user copy = *u;
    lower_ascii(copy.email, u->email, strlen(u->email));
    return s->ops->user_insert(s, &copy);
}

enum tn_err tn_store_user_get(struct tn_store *s, const char *id, struct tn_user *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_get(s, id, out);
}

enum tn_err tn_store_user_by_email(struct tn_store *s, const char *email, struct tn_user *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !email || !out)
        return TN_ERR_BAD_INPUT;
    char lower[sizeof out->email];
    size_t n = strlen(email);
    if (n >= sizeof lower)
        return TN_ERR_NOT_FOUND; /* could never have been stored */
    lower_ascii(lower, email, n + 1);
    return s->ops->user_by_email(s, lower, out);
}

enum tn_err tn_store_user_update_fields(struct tn_store *s, const struct tn_user *u,
                                        unsigned fields)
{
    if (!s || !u || !user_valid(u) || !(fields & TN_USER_ALL) ||
        (fields & ~(unsigned)(TN_USER_ALL | TN_USER_KEEP_ADMIN)))
        return TN_ERR_BAD_INPUT;
    enum tn_err e = s->ops->user_update(s, u, fields);
    struct tn_user now;
    /* no row written: no such user, or (with the condition) the last administrator */
    if (e == TN_ERR_NOT_FOUND && (fields & TN_USER_KEEP_ADMIN)) {
        e = s->ops->user_get(s, u->id, &now);
        e = e == TN_OK ? TN_ERR_CONFLICT : e;
    }
    return e;
}

enum tn_err tn_store_user_update(struct tn_store *s, const struct tn_user *u)
{
    return tn_store_user_update_fields(s, u, TN_USER_ALL);
}

enum tn_err tn_store_user_swap_password(struct tn_store *s, const char *id, const char *was,
                                        const char *hash)
{
    struct tn_user *u = NULL;
    size_t id_cap = sizeof u->id, cap = sizeof u->password_hash;
    if (!s || !id || !id[0] || strnlen(id, id_cap) >= id_cap || !was || strnlen(was, cap) >= cap ||
        !hash || strnlen(hash, cap) >= cap)
        return TN_ERR_BAD_INPUT;
    enum tn_err e = s->ops->user_swap_password(s, id, was, hash);
    return e == TN_ERR_NOT_FOUND ? TN_ERR_CONFLICT : e;
}

enum tn_err tn_store_user_count(struct tn_store *s, int64_t *n)
{
    if (n)
        *n = 0;
    if (!s || !n)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_count(s, n);
}

enum tn_err tn_store_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_list(s, cb, ud);
}

/* ---------- OAuth clients ---------- */

enum tn_err tn_store_client_insert(struct tn_store *s, const struct tn_client *c)
{
    if (!s || !c || !NONEMPTY(c, id) || !TERMINATED(c, name) || !TERMINATED(c, redirect_uris) ||
        !TERMINATED(c, secret_hash) || !TERMINATED(c, auth_method) || !TERMINATED(c, grant_types) ||
        !TERMINATED(c, scope) || !TERMINATED(c, application_type) || !TERMINATED(c, metadata))
        return TN_ERR_BAD_INPUT;
    return s->ops->client_insert(s, c);
}

enum tn_err tn_store_client_get(struct tn_store *s, const char *id, struct tn_client *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_get(s, id, out);
}

enum tn_err tn_store_client_touch(struct tn_store *s, const char *id, int64_t now)
{
    if (!s || !id)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_touch(s, id, now);
}

enum tn_err tn_store_client_delete(struct tn_store *s, const char *id)
{
    if (!s || !id)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_delete(s, id);
}

enum tn_err tn_store_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_list(s, cb, ud);
}

enum tn_err tn_store_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n)
{
    if (n)
        *n = 0;
    if (!s || !n)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_delete_unused(s, created_before, n);
}

/* ---------- consent ---------- */

enum tn_err tn_store_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                                 char scope[256])
{
    if (scope)
        memset(scope, 0, 256);
    if (!s || !user_id || !client_id || !scope)
        return TN_ERR_BAD_INPUT;
    return s->ops->consent_get(s, user_id, client_id, scope);
}

enum tn_err tn_store_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                                 const char *scope, int64_t now)
{
    if (!s || !user_id || !client_id || !scope)
        return TN_ERR_BAD_INPUT;
    if (strlen(scope) >= 256) /* consent_get hands it back in char[256] */
        return TN_ERR_LIMIT;
    return s->ops->consent_put(s, user_id, client_id, scope, now);
}

enum tn_err tn_store_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id)
{
    if (!s || !user_id)
        return TN_ERR_BAD_INPUT;
    return s->ops->consent_revoke(s, user_id, client_id);
}

/* ---------- authorization codes ---------- */

enum tn_err tn_store_code_insert(struct tn_store *s, const struct tn_code *c)
{
    if (!s || !c || !NONEMPTY(c, client_id) || !NONEMPTY(c, user_id) ||
        !TERMINATED(c, redirect_uri) || !TERMINATED(c, scope) || !TERMINATED(c, resource) ||
        !TERMINATED(c, challenge) || !NONEMPTY(c, family))
        return TN_ERR_BAD_INPUT;
    return s->ops->code_insert(s, c);
}

enum tn_err tn_store_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->code_take(s, hash, out);
}

/* ---------- email sign-in codes ---------- */

enum tn_err tn_store_email_code_insert(struct tn_store *s, const struct tn_email_code *c)
{
    if (!s || !c || !NONEMPTY(c, id) || !NONEMPTY(c, email) || !NONEMPTY(c, req))
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_insert(s, c);
}

enum tn_err tn_store_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !id[0] || strlen(id) >= sizeof out->id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_get(s, id, out);
}

enum tn_err tn_store_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                                    const uint8_t hash[32], bool link, int64_t now,
                                    struct tn_email_code *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !id[0] || strlen(id) >= sizeof out->id || !browser || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_use(s, id, browser, hash, link, now, out);
}

enum tn_err tn_store_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n)
{
    int64_t scratch;
    if (!s)
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_cleanup(s, now, n ? n : &scratch);
}

enum tn_err tn_store_email_code_why(const struct tn_email_code *c, const uint8_t browser[32],
                                    int64_t now)
{
    if (!tn_ct_equal(c->browser_hash, browser, 32))
        return TN_ERR_NOT_FOUND;
    if (c->used_at)
        return TN_ERR_CONFLICT;
    if (c->expires_at <= now)
        return TN_ERR_INVALID_GRANT;
    if (c->attempts >= TN_EMAIL_CODE_ATTEMPTS)
        return TN_ERR_LIMIT;
    return TN_ERR_FORBIDDEN;
}

/* ---------- refresh tokens ---------- */

static bool refresh_valid(const struct tn_refresh *r)
{
    return NONEMPTY(r, family) && NONEMPTY(r, client_id) && NONEMPTY(r, user_id) &&
           TERMINATED(r, scope) && TERMINATED(r, resource);
}

enum tn_err tn_store_refresh_insert(struct tn_store *s, const struct tn_refresh *r)
{
    if (!s || !r || !refresh_valid(r))
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_insert(s, r);
}

enum tn_err tn_store_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                                    const struct tn_refresh *next, int64_t now,
                                    struct tn_refresh *old_out)
{
    struct tn_refresh scratch;
    if (!old_out)
        old_out = &scratch;
    memset(old_out, 0, sizeof *old_out);
    /* rotated_at = now marks the old token; 0 would leave it current. */
    if (!s || !old_hash || !next || !refresh_valid(next) || now <= 0)
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_rotate(s, old_hash, next, now, old_out);
}

enum tn_err tn_store_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_get(s, hash, out);
}

enum tn_err tn_store_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                         int64_t grace_s)
{
    if (!s || !hash || now <= 0 || grace_s <= 0)
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_spend_grace(s, hash, now, grace_s);
}

enum tn_err tn_store_family_revoke(struct tn_store *s, const char *family)
{
    if (!s || !family || family[0] == '\0')
        return TN_ERR_BAD_INPUT;
    return s->ops->family_revoke(s, family);
}

enum tn_err tn_store_user_revoke_all(struct tn_store *s, const char *user_id)
{
    if (!s || !user_id)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_revoke_all(s, user_id);
}

/* ---------- signing keys ---------- */

enum tn_err tn_store_key_insert(struct tn_store *s, const struct tn_signing_key *k)
{
    if (!s || !k || !NONEMPTY(k, kid) || !NONEMPTY(k, alg) || !NONEMPTY(k, pem))
        return TN_ERR_BAD_INPUT;
    return s->ops->key_insert(s, k);
}

enum tn_err tn_store_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->key_list(s, cb, ud);
}

enum tn_err tn_store_key_delete(struct tn_store *s, const char *kid)
{
    if (!s || !kid)
        return TN_ERR_BAD_INPUT;
    return s->ops->key_delete(s, kid);
}

enum tn_err tn_store_key_replace(struct tn_store *s, const char *kid, const char *expected,
                                 const char *pem)
{
    if (!s || !kid || !expected || !pem || kid[0] == '\0' || pem[0] == '\0' ||
        strlen(pem) >= FIELD_SIZE(struct tn_signing_key, pem))
        return TN_ERR_BAD_INPUT;
    return s->ops->key_replace(s, kid, expected, pem);
}

/* ---------- audit ---------- */

enum { AUDIT_MAX = 1000 }; /* audit records per list */

static bool outcome_ok(const char *v)
{
    static const char *const outcomes[] = {"ok",       "denied",  "not_found",
                                           "conflict", "invalid", "error"};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        if (strcmp(v, outcomes[i]) == 0)
            return true;
    return false;
}

/* Audit records are queued and written in batches, one transaction each, by a thread of
 * the store: a read then costs no write of its own, and hundreds of records share one
 * commit. A record reaches the database within AUDIT_DELAY_MS of being queued (or when
 * AUDIT_BATCH are waiting), before tn_store_audit_list reads, and before the store
 * closes. When the database fails, the batch is retried; callers wait for room while
 * the queue is full, and give up after AUDIT_WAIT_MS with TN_ERR_BUSY.
 *
 * Batches of AUDIT_BUSY or more (a busy server) commit without waiting for the disk,
 * except one at least every AUDIT_SYNC_MS; a smaller batch (a quiet server), one someone waits
 * for, and the last one at close are synced. A process crash thus loses at most the
 * queue (AUDIT_DELAY_MS of records), a power loss at most about AUDIT_SYNC_MS more;
 * notes are never written this way. The fsync per batch cost requests far more than the
 * batch itself (docs/PERFORMANCE.md). */
enum {
    AUDIT_CAP = 1024, /* records queued at most (two buffers of this many, 1.5 MiB each) */
    /* this many waiting start a write at once. Each audit commit changes the WAL, and
     * every reader connection then drops its page cache at its next read and reads the
     * pages again: after the store has grown (a burst of saves), that cost more than the
     * batch. 384 instead of 128 (docs/PERFORMANCE.md, item 17), 768 instead of 384
     * ("Fewer instructions per page": ~7 % of a list's CPU). */
    AUDIT_BATCH = 768,
    AUDIT_BUSY = 128,    /* a batch this big is a busy server's: committed unsynced */
    AUDIT_DELAY_MS = 50, /* otherwise the first waits at most this long */
    AUDIT_WAIT_MS = 2000,
    AUDIT_SYNC_MS = 1000, /* a synced batch at least this often */
};

struct tn_audit_queue {
    struct tn_store *store;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* records queued, a flush asked for, or stop */
    pthread_cond_t moved; /* a batch written (or given up): room, and flushes may be done */
    struct tn_audit *pend, *spare;
    size_t n;
    uint64_t queued, written; /* records ever queued; records ever written or given up */
    uint64_t want;            /* a flush waits for `written` to reach this */
    bool stop;
    pthread_t thread;
};

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Makes the unsynced audit batches durable (the queue's mutex is held on entry and on
 * return, not during the sync). */
static void flush_unsynced(struct tn_audit_queue *q, bool *unsynced, uint64_t *synced_ns)
{
    pthread_mutex_unlock(&q->mu);
    if (q->store->ops->audit_sync(q->store) == TN_OK) {
        *unsynced = false;
        *synced_ns = tn_time_mono_ns();
    }
    pthread_mutex_lock(&q->mu);
}

static void *audit_main(void *arg)
{
    struct tn_audit_queue *q = arg;
    unsigned retry_ms = 100;
    uint64_t synced_ns = 0;
    bool unsynced = false; /* a batch committed without sync, not flushed since */
    /* background work: when the CPU is short, requests go first (Linux: per thread) */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->n == 0 && !q->stop) {
            if (!unsynced || !q->store->ops->audit_sync) {
                pthread_cond_wait(&q->work, &q->mu);
                continue;
            }
            /* quiet after a busy spell: flush the unsynced batches within AUDIT_SYNC_MS */
            struct timespec until;
            deadline_in(&until, AUDIT_SYNC_MS);
            if (pthread_cond_timedwait(&q->work, &q->mu, &until) == ETIMEDOUT && q->n == 0)
                flush_unsynced(q, &unsynced, &synced_ns);
        }
        if (q->n == 0 && q->stop) {
            if (unsynced && q->store->ops->audit_sync) /* closing: nothing left unsynced */
                flush_unsynced(q, &unsynced, &synced_ns);
            break;
        }
        /* let a batch gather, unless it is big already or someone waits for it */
        struct timespec until;
        deadline_in(&until, AUDIT_DELAY_MS);
        while (q->n < AUDIT_BATCH && !q->stop && q->want <= q->written &&
               pthread_cond_timedwait(&q->work, &q->mu, &until) != ETIMEDOUT)
            ;
        struct tn_audit *batch = q->pend;
        size_t n = q->n;
        uint64_t now = tn_time_mono_ns();
        bool sync = n < AUDIT_BUSY || q->stop || q->want > q->written ||
                    now - synced_ns >= (uint64_t)AUDIT_SYNC_MS * 1000000u;
        q->pend = q->spare;
        q->spare = NULL;
        q->n = 0;
        pthread_mutex_unlock(&q->mu);
        enum tn_err e = q->store->ops->audit_insert(q->store, batch, n, sync);
        for (int attempt = 0; e != TN_OK && attempt < 5; attempt++) {
            tn_log(TN_LOG_WARN, "store: audit records not written yet; retrying", "error",
                   tn_err_message(e), NULL);
            struct timespec ts = {.tv_sec = retry_ms / 1000,
                                  .tv_nsec = (retry_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            retry_ms = retry_ms < 3200 ? retry_ms * 2 : retry_ms;
            sync = true;
            e = q->store->ops->audit_insert(q->store, batch, n, true);
        }
        if (e == TN_OK) {
            retry_ms = 100;
            if (sync)
                synced_ns = now, unsynced = false;
            else
                unsynced = true;
        } else {
            char count[24];
            snprintf(count, sizeof count, "%zu", n);
            tn_log(TN_LOG_ERROR, "store: audit records lost: the database refused them", "records",
                   count, "error", tn_err_message(e), NULL);
        }
        pthread_mutex_lock(&q->mu);
        q->spare = batch;
        q->written += n;
        pthread_cond_broadcast(&q->moved);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static struct tn_audit_queue *audit_queue_new(struct tn_store *s)
{
    struct tn_audit_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->store = s;
    q->pend = malloc(AUDIT_CAP * sizeof *q->pend);
    q->spare = malloc(AUDIT_CAP * sizeof *q->spare);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->moved, NULL);
    if (!q->pend || !q->spare || pthread_create(&q->thread, NULL, audit_main, q) != 0) {
        pthread_cond_destroy(&q->moved);
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->mu);
        free(q->pend);
        free(q->spare);
        free(q);
        return NULL;
    }
    return q;
}

static void audit_queue_free(struct tn_audit_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->moved);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    free(q->pend);
    free(q->spare);
    free(q);
}

enum tn_err tn_store_audit_insert(struct tn_store *s, const struct tn_audit *a)
{
    if (!s || !a || a->at <= 0 || !NONEMPTY(a, user) || !TERMINATED(a, org) ||
        !TERMINATED(a, client_id) || !NONEMPTY(a, tool) || !TERMINATED(a, note_id) ||
        !TERMINATED(a, outcome) || !outcome_ok(a->outcome) || !TERMINATED(a, detail))
        return TN_ERR_BAD_INPUT;
    struct tn_audit_queue *q = s->audit;
    if (!q)
        return s->ops->audit_insert(s, a, 1, true);
    struct timespec until;
    deadline_in(&until, AUDIT_WAIT_MS);
    pthread_mutex_lock(&q->mu);
    while ((q->n == AUDIT_CAP || !q->pend) && !q->stop)
        if (pthread_cond_timedwait(&q->moved, &q->mu, &until) == ETIMEDOUT)
            break;
    enum tn_err e = TN_ERR_BUSY;
    if (q->n < AUDIT_CAP && q->pend && !q->stop) {
        q->pend[q->n++] = *a;
        q->queued++;
        if (q->n == 1 || q->n == AUDIT_BATCH)
            pthread_cond_signal(&q->work);
        e = TN_OK;
    }
    pthread_mutex_unlock(&q->mu);
    if (e != TN_OK)
        tn_log(TN_LOG_ERROR, "store: audit record dropped: the queue stayed full", "tool", a->tool,
               NULL);
    return e;
}

enum tn_err tn_store_audit_flush(struct tn_store *s)
{
    if (!s)
        return TN_ERR_BAD_INPUT;
    struct tn_audit_queue *q = s->audit;
    if (!q)
        return TN_OK;
    struct timespec until;
    deadline_in(&until, 30000);
    enum tn_err e = TN_OK;
    pthread_mutex_lock(&q->mu);
    uint64_t target = q->queued;
    if (q->want < target)
        q->want = target;
    pthread_cond_signal(&q->work);
    while (q->written < target)
        if (pthread_cond_timedwait(&q->moved, &q->mu, &until) == ETIMEDOUT) {
            e = TN_ERR_BUSY;
            break;
        }
    pthread_mutex_unlock(&q->mu);
    return e;
}

enum tn_err tn_store_watch_notes(struct tn_store *s, void (*fn)(const char *owner, void *ud),
                                 void *ud)
{
    if (!s || !fn)
        return TN_ERR_BAD_INPUT;
    return s->ops->watch_notes ? s->ops->watch_notes(s, fn, ud) : TN_ERR_CONFIG;
}

enum tn_err tn_store_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud)
{
    if (!s || !cb || limit < 1 || limit > AUDIT_MAX)
        return TN_ERR_BAD_INPUT;
    enum tn_err e = tn_store_audit_flush(s);
    return e == TN_OK ? s->ops->audit_list(s, limit, cb, ud) : e;
}
