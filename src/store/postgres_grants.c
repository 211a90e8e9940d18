/* The PostgreSQL backend's grants (store.h, /account of #19): the apps a user granted,
 * and taking a grant back. The writes are one transaction each. */
#include "store/postgres_internal.h"

static enum tn_err read_grant(const PGresult *r, int i, struct tn_grant *g)
{
    bool ok = TEXT(0, g->client_id) && TEXT(1, g->client_name) && TEXT(2, g->redirect_uris) &&
              TEXT(3, g->application_type) && TEXT(4, g->scope);
    int64_t consent_at = pg_col_int(r, i, 5), renewed_at = pg_col_int(r, i, 6);
    int64_t first_token = pg_col_int(r, i, 7), last_token = pg_col_int(r, i, 8);
    g->live = pg_col_bool(r, i, 9);
    g->consented = pg_col_bool(r, i, 10);
    g->first_at = g->consented ? consent_at : first_token;
    if (first_token && first_token < g->first_at)
        g->first_at = first_token;
    g->last_at = renewed_at > last_token ? renewed_at : last_token;
    return pg_row_result(ok, "grants");
}

enum tn_err pg_grant_list(struct tn_store *s, const char *user_id, int64_t now, unsigned limit,
                          tn_store_grant_cb cb, void *ud)
{
    LIST(s, struct tn_grant, read_grant, cb, ud, S_GRANT_LIST, user_id, now, (int64_t)limit);
}

struct revoke_args {
    const char *user_id, *client_id;
    int64_t at;
};

static enum tn_err grant_revoke_body(struct call *k, void *arg)
{
    const struct revoke_args *a = arg;
    /* the families first: the statements after it make the rows they read disappear */
    enum tn_err e = pg_run(k, S_GRANT_REMEMBER_FAMILIES, NULL, a->user_id, a->client_id);
    if (e == TN_OK)
        e = pg_run(k, S_GRANT_REVOKE_TOKENS, NULL, a->user_id, a->client_id);
    if (e == TN_OK)
        e = pg_run(k, S_GRANT_DROP_CODES, NULL, a->user_id, a->client_id);
    if (e == TN_OK)
        e = pg_run(k, S_GRANT_DROP_CONSENT, NULL, a->user_id, a->client_id);
    if (e == TN_OK)
        e = pg_run(k, S_GRANT_RECORD, NULL, a->user_id, a->client_id, a->at);
    return e;
}

enum tn_err pg_grant_revoke(struct tn_store *s, const char *user_id, const char *client_id,
                            int64_t revoked_at)
{
    struct revoke_args a = {user_id, client_id, revoked_at};
    return pg_with_conn(s, true, NULL, grant_revoke_body, &a);
}

static enum tn_err read_revocation(const PGresult *r, int i, struct tn_grant_revocation *v)
{
    bool ok = TEXT(0, v->client_id);
    v->revoked_at = pg_col_int(r, i, 1);
    return pg_row_result(ok, "grant_revocations");
}

static enum tn_err read_revoked_at(const PGresult *r, int i, int64_t *at)
{
    *at = pg_col_int(r, i, 0);
    return TN_OK;
}

enum tn_err pg_grant_revoked_at(struct tn_store *s, const char *user_id, const char *client_id,
                                int64_t *at)
{
    READ1(s, at, read_revoked_at, S_GRANT_REVOKED_AT, user_id, client_id);
}

enum tn_err pg_grant_revocations(struct tn_store *s, const char *user_id, int64_t since,
                                 unsigned limit, tn_store_grant_revocation_cb cb, void *ud)
{
    LIST(s, struct tn_grant_revocation, read_revocation, cb, ud, S_GRANT_REVOCATIONS, user_id,
         since, (int64_t)limit);
}

static enum tn_err sign_out_body(struct call *k, void *arg)
{
    const struct revoke_args *a = arg;
    PGresult *res = NULL;
    enum tn_err e = pg_run(k, S_USER_SIGN_OUT, &res, a->user_id, a->at);
    if (e == TN_OK && pg_changes(res) == 0)
        e = TN_ERR_NOT_FOUND;
    PQclear(res);
    if (e == TN_OK)
        e = pg_run(k, S_USER_REMEMBER_FAMILIES, NULL, a->user_id);
    if (e == TN_OK)
        e = pg_run(k, S_USER_REVOKE_ALL, NULL, a->user_id);
    if (e == TN_OK)
        e = pg_run(k, S_USER_DROP_CODES, NULL, a->user_id);
    return e;
}

enum tn_err pg_user_sign_out(struct tn_store *s, const char *user_id, int64_t valid_after)
{
    struct revoke_args a = {user_id, NULL, valid_after};
    return pg_with_conn(s, true, NULL, sign_out_body, &a);
}
