/* The SQLite backend's grants (store.h, /account of #19): the apps a user granted, and
 * taking a grant back. The writes are one BEGIN IMMEDIATE transaction each. */
#include "store/sqlite_internal.h"

static enum tn_err read_grant(sqlite3_stmt *st, struct tn_grant *g)
{
    bool ok = TEXT(0, g->client_id) && TEXT(1, g->client_name) && TEXT(2, g->redirect_uris) &&
              TEXT(3, g->application_type) && TEXT(4, g->scope);
    int64_t consent_at = sqlite3_column_int64(st, 5), renewed_at = sqlite3_column_int64(st, 6);
    int64_t first_token = sqlite3_column_int64(st, 7), last_token = sqlite3_column_int64(st, 8);
    g->live = sqlite3_column_int(st, 9) != 0;
    g->consented = sqlite3_column_int(st, 10) != 0;
    g->first_at = g->consented ? consent_at : first_token;
    if (first_token && first_token < g->first_at)
        g->first_at = first_token;
    g->last_at = renewed_at > last_token ? renewed_at : last_token;
    return sq_row_result(ok, "grants");
}

enum tn_err sq_grant_list(struct tn_store *s, const char *user_id, int64_t now, unsigned limit,
                          tn_store_grant_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_GRANT_LIST, &st, "tii", user_id, now, (int64_t)limit); e == TN_OK;
         e = sq_step(&k, st, S_GRANT_LIST)) {
        struct tn_grant g;
        memset(&g, 0, sizeof g);
        if ((e = read_grant(st, &g)) != TN_OK)
            break;
        cb(&g, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_grant_revoke(struct tn_store *s, const char *user_id, const char *client_id,
                            int64_t revoked_at)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    /* the families first: the statements after it make the rows they read disappear */
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) == TN_OK &&
        (e = sq_run(&k, S_GRANT_REMEMBER_FAMILIES, NULL, "tt", user_id, client_id)) == TN_OK &&
        (e = sq_run(&k, S_GRANT_REVOKE_TOKENS, NULL, "tt", user_id, client_id)) == TN_OK &&
        (e = sq_run(&k, S_GRANT_DROP_CODES, NULL, "tt", user_id, client_id)) == TN_OK &&
        (e = sq_run(&k, S_CONSENT_REVOKE, NULL, "tt", user_id, client_id)) == TN_OK &&
        (e = sq_run(&k, S_GRANT_RECORD, NULL, "tti", user_id, client_id, revoked_at)) == TN_OK)
        e = sq_run(&k, S_COMMIT, NULL, "");
    sq_call_end(&k);
    return e;
}

static enum tn_err read_revoked_at(sqlite3_stmt *st, int64_t *at)
{
    *at = sqlite3_column_int64(st, 0);
    return TN_OK;
}

enum tn_err sq_grant_revoked_at(struct tn_store *s, const char *user_id, const char *client_id,
                                int64_t *at)
{
    READ1(s, at, read_revoked_at, S_GRANT_REVOKED_AT, "tt", user_id, client_id);
}

enum tn_err sq_grant_revocations(struct tn_store *s, const char *user_id, int64_t since,
                                 unsigned limit, tn_store_grant_revocation_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_GRANT_REVOCATIONS, &st, "tii", user_id, since, (int64_t)limit);
         e == TN_OK; e = sq_step(&k, st, S_GRANT_REVOCATIONS)) {
        struct tn_grant_revocation r;
        memset(&r, 0, sizeof r);
        if (!TEXT(0, r.client_id)) {
            e = sq_row_result(false, "grant_revocations");
            break;
        }
        r.revoked_at = sqlite3_column_int64(st, 1);
        cb(&r, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_user_sign_out(struct tn_store *s, const char *user_id, int64_t valid_after)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) == TN_OK &&
        (e = sq_run(&k, S_USER_SIGN_OUT, NULL, "ti", user_id, valid_after)) == TN_OK &&
        (e = sq_changes(&k) ? TN_OK : TN_ERR_NOT_FOUND) == TN_OK &&
        (e = sq_run(&k, S_USER_REMEMBER_FAMILIES, NULL, "t", user_id)) == TN_OK &&
        (e = sq_run(&k, S_USER_REVOKE_ALL, NULL, "t", user_id)) == TN_OK &&
        (e = sq_run(&k, S_USER_DROP_CODES, NULL, "t", user_id)) == TN_OK)
        e = sq_run(&k, S_COMMIT, NULL, "");
    sq_call_end(&k);
    return e;
}
