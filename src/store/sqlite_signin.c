/* Email sign-in codes and links on SQLite (store/store.h, "email sign-in codes"). */
#include "store/sqlite_internal.h"

#include <string.h>

static enum tn_err read_email_code(sqlite3_stmt *st, struct tn_email_code *c)
{
    bool ok = TEXT(0, c->id) && TEXT(1, c->email) && sq_col_hash(st, 2, c->code_hash) &&
              sq_col_hash(st, 3, c->link_hash) && sq_col_hash(st, 4, c->browser_hash) &&
              TEXT(5, c->req);
    c->attempts = sqlite3_column_int64(st, 6);
    c->expires_at = sqlite3_column_int64(st, 7);
    c->used_at = sqlite3_column_int64(st, 8);
    c->created_at = sqlite3_column_int64(st, 9);
    return sq_row_result(ok, "email_codes");
}

enum tn_err sq_email_code_insert(struct tn_store *s, const struct tn_email_code *c)
{
    WRITE1(s, false, S_EMAIL_CODE_INSERT, "tthhhtiiii", c->id, c->email, c->code_hash, c->link_hash,
           c->browser_hash, c->req, c->attempts, c->expires_at, c->used_at, c->created_at);
}

enum tn_err sq_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out)
{
    READ1(s, out, read_email_code, S_EMAIL_CODE_GET, "t", id);
}

static enum tn_err get_row(struct call *k, const char *id, struct tn_email_code *out)
{
    sqlite3_stmt *st;
    enum tn_err e = sq_run(k, S_EMAIL_CODE_GET, &st, "t", id);
    if (e == TN_OK)
        e = read_email_code(st, out);
    sq_finish(st);
    return e;
}

/* In one write transaction (BEGIN IMMEDIATE): the consuming UPDATE; when it changed
 * nothing, a wrong code's attempt is counted by a second conditional UPDATE, and the row
 * says why. */
enum tn_err sq_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                              const uint8_t hash[32], bool link, int64_t now,
                              struct tn_email_code *out)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) != TN_OK)
        goto done;
    if ((e = sq_run(&k, link ? S_EMAIL_CODE_USE_LINK : S_EMAIL_CODE_USE_CODE, NULL, "thhii", id,
                    browser, hash, now, (int64_t)TN_EMAIL_CODE_ATTEMPTS)) != TN_OK)
        goto done;
    bool used = sq_changes(&k) == 1, missed = false;
    if (!used && !link) {
        if ((e = sq_run(&k, S_EMAIL_CODE_MISS, NULL, "thii", id, browser, now,
                        (int64_t)TN_EMAIL_CODE_ATTEMPTS)) != TN_OK)
            goto done;
        missed = sq_changes(&k) == 1;
    }
    if ((e = get_row(&k, id, out)) != TN_OK)
        goto done;
    if ((e = sq_run(&k, S_COMMIT, NULL, "")) != TN_OK)
        goto done;
    /* a wrong code is FORBIDDEN even when it was the last attempt (0 left) */
    e = used ? TN_OK : missed ? TN_ERR_FORBIDDEN : tn_store_email_code_why(out, browser, now);
done:
    sq_call_end(&k);
    if (e != TN_OK && e != TN_ERR_FORBIDDEN)
        memset(out, 0, sizeof *out);
    return e;
}

enum tn_err sq_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n)
{
    struct call k;
    *n = 0;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    e = sq_run(&k, S_EMAIL_CODE_CLEANUP, NULL, "i", now);
    if (e == TN_OK)
        *n = sq_changes(&k);
    sq_call_end(&k);
    return e;
}
