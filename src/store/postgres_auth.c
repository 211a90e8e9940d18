/* The PostgreSQL backend's tables of the authorization server: organizations, users,
 * clients, consent, authorization codes, refresh tokens and signing keys. Each call is
 * one transaction; code_take and refresh_rotate lock what they read (UPDATE ... WHERE NOT
 * used RETURNING, SELECT ... FOR UPDATE), and every write of refresh tokens takes the
 * family's advisory lock first (postgres.c's top comment). */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <string.h>

/* ---------- reading rows ---------- */

static enum tn_err read_org(const PGresult *r, int i, struct tn_org *o)
{
    bool ok = TEXT(0, o->id) && TEXT(1, o->name);
    o->created_at = pg_col_int(r, i, 2);
    return pg_row_result(ok, "orgs");
}

static enum tn_err read_user(const PGresult *r, int i, struct tn_user *u)
{
    bool ok = TEXT(0, u->id) && TEXT(1, u->email) && TEXT(2, u->name) && TEXT(3, u->org_id) &&
              TEXT(4, u->role) && TEXT(5, u->password_hash);
    u->disabled = pg_col_bool(r, i, 6);
    u->created_at = pg_col_int(r, i, 7);
    u->tokens_valid_after = pg_col_int(r, i, 8);
    u->last_signin_at = pg_col_int(r, i, 9);
    return pg_row_result(ok, "users");
}

static enum tn_err read_client(const PGresult *r, int i, struct tn_client *c)
{
    bool ok = TEXT(0, c->id) && TEXT(1, c->name) && TEXT(2, c->redirect_uris) &&
              TEXT(3, c->secret_hash) && TEXT(4, c->auth_method) && TEXT(5, c->grant_types) &&
              TEXT(6, c->scope) && TEXT(7, c->application_type) && TEXT(8, c->metadata);
    c->created_at = pg_col_int(r, i, 9);
    c->last_used_at = pg_col_int(r, i, 10);
    return pg_row_result(ok, "clients");
}

static enum tn_err read_code(const PGresult *r, int i, struct tn_code *c, bool *used)
{
    bool ok = pg_col_hash(r, i, 0, c->hash) && TEXT(1, c->client_id) && TEXT(2, c->user_id) &&
              TEXT(3, c->redirect_uri) && TEXT(4, c->scope) && TEXT(5, c->resource) &&
              TEXT(6, c->challenge) && TEXT(7, c->family);
    c->expires_at = pg_col_int(r, i, 8);
    *used = pg_col_bool(r, i, 9);
    return pg_row_result(ok, "codes");
}

static enum tn_err read_refresh(const PGresult *r, int i, struct tn_refresh *t)
{
    bool ok = pg_col_hash(r, i, 0, t->hash) && TEXT(1, t->family) && TEXT(2, t->client_id) &&
              TEXT(3, t->user_id) && TEXT(4, t->scope) && TEXT(5, t->resource);
    t->issued_at = pg_col_int(r, i, 6);
    t->expires_at = pg_col_int(r, i, 7);
    t->rotated_at = pg_col_int(r, i, 8);
    t->revoked = pg_col_bool(r, i, 9);
    return pg_row_result(ok, "refresh_tokens");
}

static enum tn_err read_key(const PGresult *r, int i, struct tn_signing_key *k)
{
    bool ok = TEXT(0, k->kid) && TEXT(1, k->alg) && TEXT(2, k->pem);
    k->created_at = pg_col_int(r, i, 3);
    k->signs_from = pg_col_int(r, i, 4);
    k->retire_at = pg_col_int(r, i, 5);
    return pg_row_result(ok, "signing_keys");
}

static enum tn_err read_count(const PGresult *r, int i, int64_t *n)
{
    *n = pg_col_int(r, i, 0);
    return TN_OK;
}

/* ---------- organizations ---------- */

enum tn_err pg_org_insert(struct tn_store *s, const struct tn_org *o)
{
    WRITE(s, S_ORG_INSERT, o->id, o->name, o->created_at);
}

enum tn_err pg_org_get(struct tn_store *s, const char *id, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_GET, id);
}

enum tn_err pg_org_by_name(struct tn_store *s, const char *name, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_BY_NAME, name);
}

enum tn_err pg_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud)
{
    LIST(s, struct tn_org, read_org, cb, ud, S_ORG_LIST);
}

/* ---------- users ---------- */

enum tn_err pg_user_insert(struct tn_store *s, const struct tn_user *u)
{
    WRITE(s, S_USER_INSERT, u->id, u->email, u->name, u->org_id, u->role, u->password_hash,
          (int)u->disabled, u->created_at, u->tokens_valid_after);
}

enum tn_err pg_user_get(struct tn_store *s, const char *id, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_GET, id);
}

enum tn_err pg_user_by_email(struct tn_store *s, const char *email, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_BY_EMAIL, email);
}

struct user_update_args {
    const struct tn_user *u;
    unsigned fields;
};

static enum tn_err user_update_body(struct call *k, void *arg)
{
    const struct user_update_args *a = arg;
    const struct tn_user *u = a->u;
    PGresult *res = NULL;
    /* READ COMMITTED: the update's own check would see a snapshot from before another
     * such write committed; the lock orders them, and each statement sees the last */
    enum tn_err e = (a->fields & TN_USER_KEEP_ADMIN) ? pg_run(k, S_ADMINS_LOCK, NULL) : TN_OK;
    if (e == TN_OK)
        e = pg_run(k, S_USER_UPDATE, &res, u->id, u->name, u->org_id, u->role, u->password_hash,
                   (int)u->disabled, u->tokens_valid_after, (int64_t)a->fields);
    if (e == TN_OK && pg_changes(res) == 0)
        e = TN_ERR_NOT_FOUND;
    PQclear(res);
    return e;
}

enum tn_err pg_user_update(struct tn_store *s, const struct tn_user *u, unsigned fields)
{
    struct user_update_args a = {u, fields};
    return pg_with_conn(s, (fields & TN_USER_KEEP_ADMIN) != 0, NULL, user_update_body, &a);
}

enum tn_err pg_user_swap_password(struct tn_store *s, const char *id, const char *was,
                                  const char *hash)
{
    WRITE_ONE(s, S_USER_SWAP_PASSWORD, id, was, hash);
}

enum tn_err pg_user_count(struct tn_store *s, int64_t *n) { READ1(s, n, read_count, S_USER_COUNT); }

enum tn_err pg_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud)
{
    LIST(s, struct tn_user, read_user, cb, ud, S_USER_LIST);
}

/* ---------- clients ---------- */

enum tn_err pg_client_insert(struct tn_store *s, const struct tn_client *c)
{
    WRITE(s, S_CLIENT_INSERT, c->id, c->name, c->redirect_uris, c->secret_hash, c->auth_method,
          c->grant_types, c->scope, c->application_type, c->metadata, c->created_at,
          c->last_used_at);
}

enum tn_err pg_client_get(struct tn_store *s, const char *id, struct tn_client *out)
{
    READ1(s, out, read_client, S_CLIENT_GET, id);
}

enum tn_err pg_client_touch(struct tn_store *s, const char *id, int64_t now)
{
    WRITE_ONE(s, S_CLIENT_TOUCH, id, now);
}

/* Consents, codes and refresh tokens go with it: ON DELETE CASCADE, same statement. */
enum tn_err pg_client_delete(struct tn_store *s, const char *id)
{
    WRITE_ONE(s, S_CLIENT_DELETE, id);
}

enum tn_err pg_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud)
{
    LIST(s, struct tn_client, read_client, cb, ud, S_CLIENT_LIST);
}

/* The count is of clients only, not of the rows the cascade removed. */
enum tn_err pg_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n)
{
    WRITE1(s, n, S_CLIENT_DELETE_UNUSED, created_before);
}

/* ---------- consent ---------- */

static enum tn_err read_scope(const PGresult *r, int i, char (*scope)[256])
{
    return pg_row_result(pg_col_text(r, i, 0, *scope, sizeof *scope), "consents");
}

enum tn_err pg_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                           char scope[256])
{
    char(*out)[256] = (char(*)[256])scope;
    READ1(s, out, read_scope, S_CONSENT_GET, user_id, client_id);
}

enum tn_err pg_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                           const char *scope, int64_t now)
{
    WRITE(s, S_CONSENT_PUT, user_id, client_id, scope, now);
}

enum tn_err pg_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id)
{
    if (client_id)
        WRITE(s, S_CONSENT_REVOKE, user_id, client_id);
    else
        WRITE(s, S_CONSENT_REVOKE_ALL, user_id);
}

/* ---------- authorization codes ---------- */

enum tn_err pg_code_insert(struct tn_store *s, const struct tn_code *c)
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
    enum tn_err e = pg_run(k, S_CODE_USE, &r, t->hash);
    if (e == TN_OK && PQntuples(r) == 1) {
        e = read_code(r, 0, t->out, &used);
        PQclear(r);
        return e;
    }
    PQclear(r);
    /* Not taken by us: used before (or by a concurrent taker that won), or unknown. */
    if (e == TN_OK)
        e = pg_run(k, S_CODE_GET, &r, t->hash);
    if (e == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_code(r, 0, t->out, &used);
    PQclear(r);
    return e == TN_OK ? TN_ERR_CONFLICT : e;
}

enum tn_err pg_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out)
{
    struct code_take t = {.hash = hash, .out = out};
    enum tn_err e = pg_with_conn(s, true, NULL, code_take_body, &t);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        memset(out, 0, sizeof *out);
    return e;
}

/* ---------- refresh tokens ---------- */

static enum tn_err insert_refresh(struct call *k, const struct tn_refresh *t)
{
    enum tn_err e = pg_run(k, S_FAMILY_LOCK, NULL, t->family);
    if (e == TN_OK)
        e = pg_run(k, S_REFRESH_INSERT, NULL, t->hash, t->family, t->client_id, t->user_id,
                   t->scope, t->resource, t->issued_at, t->expires_at, t->rotated_at,
                   (int)t->revoked);
    return e;
}

static enum tn_err refresh_insert_body(struct call *k, void *arg) { return insert_refresh(k, arg); }

enum tn_err pg_refresh_insert(struct tn_store *s, const struct tn_refresh *t)
{
    return pg_with_conn(s, true, NULL, refresh_insert_body, (void *)t);
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
    enum tn_err e = pg_run(k, S_FAMILY_LOCK, NULL, a->next->family);
    if (e == TN_OK)
        e = pg_run(k, S_REFRESH_LOCK, &r, a->old_hash);
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
    if ((e = pg_run(k, S_REFRESH_MARK, &r, a->old_hash, a->now)) != TN_OK)
        return e;
    /* The row is locked, so this cannot miss; the condition keeps single use if that
     * ever changes. */
    bool marked = pg_changes(r) == 1;
    PQclear(r);
    if (!marked)
        return TN_ERR_CONFLICT;
    return insert_refresh(k, next);
}

enum tn_err pg_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                              const struct tn_refresh *next, int64_t now, struct tn_refresh *old)
{
    struct rotate a = {.old_hash = old_hash, .next = next, .now = now, .old = old};
    enum tn_err e = pg_with_conn(s, true, NULL, rotate_body, &a);
    if (e == TN_OK)
        old->rotated_at = now;
    else if (e != TN_ERR_CONFLICT)
        memset(old, 0, sizeof *old);
    return e;
}

enum tn_err pg_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out)
{
    READ1(s, out, read_refresh, S_REFRESH_GET, hash);
}

enum tn_err pg_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                   int64_t grace_s)
{
    WRITE_ONE(s, S_REFRESH_SPEND_GRACE, hash, now, grace_s);
}

/* Revokes the family's tokens and remembers the family, so that a token inserted into
 * it afterwards is born revoked. Succeeds when the family has no token (yet). */
static enum tn_err family_revoke_body(struct call *k, void *arg)
{
    const char *family = arg;
    enum tn_err e = pg_run(k, S_FAMILY_LOCK, NULL, family);
    if (e == TN_OK)
        e = pg_run(k, S_FAMILY_REVOKE, NULL, family);
    if (e == TN_OK)
        e = pg_run(k, S_FAMILY_REMEMBER, NULL, family);
    return e;
}

enum tn_err pg_family_revoke(struct tn_store *s, const char *family)
{
    return pg_with_conn(s, true, NULL, family_revoke_body, (void *)family);
}

enum tn_err pg_user_revoke_all(struct tn_store *s, const char *user_id)
{
    WRITE(s, S_USER_REVOKE_ALL, user_id);
}

/* ---------- signing keys ---------- */

enum tn_err pg_key_insert(struct tn_store *s, const struct tn_signing_key *k)
{
    WRITE(s, S_KEY_INSERT, k->kid, k->alg, k->pem, k->created_at, k->signs_from, k->retire_at);
}

enum tn_err pg_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud)
{
    LIST(s, struct tn_signing_key, read_key, cb, ud, S_KEY_LIST);
}

enum tn_err pg_key_delete(struct tn_store *s, const char *kid) { WRITE_ONE(s, S_KEY_DELETE, kid); }

enum tn_err pg_key_replace(struct tn_store *s, const char *kid, const char *expected,
                           const char *pem)
{
    WRITE_ONE(s, S_KEY_REPLACE, kid, expected, pem);
}

/* ---------- the admin console (#19) ---------- */

enum tn_err pg_user_signed_in(struct tn_store *s, const char *id, int64_t now)
{
    WRITE_ONE(s, S_USER_SIGNED_IN, id, now);
}

struct search {
    const struct tn_user_query *q;
    PGresult *count, *rows;
};

/* The count and the page in one transaction, so that they see the same rows. */
static enum tn_err search_body(struct call *k, void *arg)
{
    struct search *a = arg;
    PQclear(a->count);
    PQclear(a->rows);
    a->count = a->rows = NULL;
    enum tn_err e = pg_run(k, S_USER_SEARCH_COUNT, &a->count, a->q->text);
    if (e == TN_OK)
        e = pg_run(k, S_USER_SEARCH, &a->rows, a->q->text, (int64_t)a->q->offset,
                   (int64_t)a->q->limit);
    return e;
}

enum tn_err pg_user_search(struct tn_store *s, const struct tn_user_query *q, tn_store_user_cb cb,
                           void *ud, int64_t *total)
{
    struct search a = {.q = q};
    enum tn_err e = pg_with_conn(s, true, NULL, search_body, &a);
    if (e == TN_OK && PQntuples(a.count) == 1)
        *total = pg_col_int(a.count, 0, 0);
    for (int i = 0; e == TN_OK && i < PQntuples(a.rows); i++) {
        struct tn_user u;
        memset(&u, 0, sizeof u);
        if ((e = read_user(a.rows, i, &u)) == TN_OK)
            cb(&u, ud);
    }
    PQclear(a.count);
    PQclear(a.rows);
    return e;
}

static enum tn_err read_grant(const PGresult *r, int i, struct tn_client_grant *g)
{
    bool ok = TEXT(0, g->user_id) && TEXT(1, g->email) && TEXT(2, g->scope);
    g->consented_at = pg_col_int(r, i, 3);
    g->families = pg_col_int(r, i, 4);
    g->last_issued_at = pg_col_int(r, i, 5);
    return pg_row_result(ok, "consents");
}

enum tn_err pg_client_grants(struct tn_store *s, const char *client_id, int64_t now,
                             tn_store_client_grant_cb cb, void *ud)
{
    LIST(s, struct tn_client_grant, read_grant, cb, ud, S_CLIENT_GRANTS, client_id, now);
}

enum tn_err pg_client_usage(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud)
{
    PGresult *r;
    enum tn_err e = pg_one(s, NULL, false, S_CLIENT_USAGE, &r, now);
    for (int i = 0; e == TN_OK && i < PQntuples(r); i++) {
        char id[512];
        if (!TEXT(0, id))
            e = pg_row_result(false, "clients");
        else
            cb(id, pg_col_int(r, i, 1), ud);
    }
    PQclear(r);
    return e;
}

enum tn_err pg_key_schedule(struct tn_store *s, const char *kid, int64_t signs_from,
                            int64_t retire_at)
{
    WRITE_ONE(s, S_KEY_SCHEDULE, kid, signs_from, retire_at);
}
