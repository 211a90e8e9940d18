/* Email sign-in codes and links on PostgreSQL (store/store.h, "email sign-in codes"). */
#include "store/postgres_internal.h"

#include <string.h>

static enum tn_err read_email_code(const PGresult *r, int i, struct tn_email_code *c)
{
    bool ok = TEXT(0, c->id) && TEXT(1, c->email) && pg_col_hash(r, i, 2, c->code_hash) &&
              pg_col_hash(r, i, 3, c->link_hash) && pg_col_hash(r, i, 4, c->browser_hash) &&
              TEXT(5, c->req);
    c->attempts = pg_col_int(r, i, 6);
    c->expires_at = pg_col_int(r, i, 7);
    c->used_at = pg_col_int(r, i, 8);
    c->created_at = pg_col_int(r, i, 9);
    return pg_row_result(ok, "email_codes");
}

enum tn_err pg_email_code_insert(struct tn_store *s, const struct tn_email_code *c)
{
    WRITE(s, S_EMAIL_CODE_INSERT, c->id, c->email, c->code_hash, c->link_hash, c->browser_hash,
          c->req, c->attempts, c->expires_at, c->used_at, c->created_at);
}

enum tn_err pg_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out)
{
    READ1(s, out, read_email_code, S_EMAIL_CODE_GET, id);
}

struct use {
    const char *id;
    const uint8_t *browser, *hash;
    bool link;
    int64_t now;
    struct tn_email_code *out;
    enum tn_err verdict; /* the body returns TN_OK so that its attempt count commits */
};

/* In one transaction: the consuming UPDATE; when it changed nothing, a wrong code's
 * attempt is counted by a second conditional UPDATE, and the row says why. */
static enum tn_err judge(struct call *k, struct use *u)
{
    PGresult *r = NULL;
    int64_t max = TN_EMAIL_CODE_ATTEMPTS;
    memset(u->out, 0, sizeof *u->out);
    enum tn_err e = pg_run(k, u->link ? S_EMAIL_CODE_USE_LINK : S_EMAIL_CODE_USE_CODE, &r, u->id,
                           u->browser, u->hash, u->now, max);
    if (e == TN_OK && PQntuples(r) == 1) {
        e = read_email_code(r, 0, u->out);
        PQclear(r);
        return e;
    }
    PQclear(r);
    r = NULL;
    if (e == TN_OK && !u->link) {
        e = pg_run(k, S_EMAIL_CODE_MISS, &r, u->id, u->browser, u->now, max);
        if (e == TN_OK && PQntuples(r) == 1) {
            /* a wrong code is FORBIDDEN even when it was the last attempt (0 left) */
            e = read_email_code(r, 0, u->out);
            PQclear(r);
            return e == TN_OK ? TN_ERR_FORBIDDEN : e;
        }
        PQclear(r);
        r = NULL;
    }
    if (e == TN_OK)
        e = pg_run(k, S_EMAIL_CODE_GET, &r, u->id);
    if (e == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_email_code(r, 0, u->out);
    PQclear(r);
    return e == TN_OK ? tn_store_email_code_why(u->out, u->browser, u->now) : e;
}

static enum tn_err use_body(struct call *k, void *arg)
{
    struct use *u = arg;
    enum tn_err e = judge(k, u);
    /* a verdict about the row is not a failure of the transaction */
    bool verdict = e == TN_ERR_FORBIDDEN || e == TN_ERR_NOT_FOUND || e == TN_ERR_CONFLICT ||
                   e == TN_ERR_INVALID_GRANT || e == TN_ERR_LIMIT;
    u->verdict = e;
    return verdict ? TN_OK : e;
}

enum tn_err pg_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                              const uint8_t hash[32], bool link, int64_t now,
                              struct tn_email_code *out)
{
    struct use u = {
        .id = id, .browser = browser, .hash = hash, .link = link, .now = now, .out = out};
    enum tn_err e = pg_with_conn(s, true, NULL, use_body, &u);
    if (e == TN_OK)
        e = u.verdict;
    if (e != TN_OK && e != TN_ERR_FORBIDDEN)
        memset(out, 0, sizeof *out);
    return e;
}

enum tn_err pg_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n)
{
    WRITE1(s, n, S_EMAIL_CODE_CLEANUP, now);
}
