/* The SQLite backend's tables of the authorization server: organizations, users,
 * clients, consent, authorization codes, refresh tokens and signing keys. Each operation
 * is one statement (WRITE1, READ1, LIST), or a BEGIN IMMEDIATE transaction where it reads
 * before it writes (code_take, refresh_rotate), so that two callers never both see a code
 * unused or a refresh token current. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <string.h>

/* ---------- reading rows ---------- */

static enum tn_err read_org(sqlite3_stmt *st, struct tn_org *o)
{
    bool ok = TEXT(0, o->id) && TEXT(1, o->name);
    o->created_at = sqlite3_column_int64(st, 2);
    return sq_row_result(ok, "orgs");
}

static enum tn_err read_user(sqlite3_stmt *st, struct tn_user *u)
{
    bool ok = TEXT(0, u->id) && TEXT(1, u->email) && TEXT(2, u->name) && TEXT(3, u->org_id) &&
              TEXT(4, u->role) && TEXT(5, u->password_hash);
    u->disabled = sqlite3_column_int(st, 6) != 0;
    u->created_at = sqlite3_column_int64(st, 7);
    u->tokens_valid_after = sqlite3_column_int64(st, 8);
    u->last_signin_at = sqlite3_column_int64(st, 9);
    return sq_row_result(ok, "users");
}

static enum tn_err read_client(sqlite3_stmt *st, struct tn_client *c)
{
    bool ok = TEXT(0, c->id) && TEXT(1, c->name) && TEXT(2, c->redirect_uris) &&
              TEXT(3, c->secret_hash) && TEXT(4, c->auth_method) && TEXT(5, c->grant_types) &&
              TEXT(6, c->scope) && TEXT(7, c->application_type) && TEXT(8, c->metadata);
    c->created_at = sqlite3_column_int64(st, 9);
    c->last_used_at = sqlite3_column_int64(st, 10);
    return sq_row_result(ok, "clients");
}

static enum tn_err read_code(sqlite3_stmt *st, struct tn_code *c, bool *used)
{
    bool ok = sq_col_hash(st, 0, c->hash) && TEXT(1, c->client_id) && TEXT(2, c->user_id) &&
              TEXT(3, c->redirect_uri) && TEXT(4, c->scope) && TEXT(5, c->resource) &&
              TEXT(6, c->challenge) && TEXT(7, c->family);
    c->expires_at = sqlite3_column_int64(st, 8);
    *used = sqlite3_column_int(st, 9) != 0;
    return sq_row_result(ok, "codes");
}

static enum tn_err read_refresh(sqlite3_stmt *st, struct tn_refresh *r)
{
    bool ok = sq_col_hash(st, 0, r->hash) && TEXT(1, r->family) && TEXT(2, r->client_id) &&
              TEXT(3, r->user_id) && TEXT(4, r->scope) && TEXT(5, r->resource);
    r->issued_at = sqlite3_column_int64(st, 6);
    r->expires_at = sqlite3_column_int64(st, 7);
    r->rotated_at = sqlite3_column_int64(st, 8);
    r->revoked = sqlite3_column_int(st, 9) != 0;
    return sq_row_result(ok, "refresh_tokens");
}

static enum tn_err read_key(sqlite3_stmt *st, struct tn_signing_key *k)
{
    bool ok = TEXT(0, k->kid) && TEXT(1, k->alg) && TEXT(2, k->pem);
    k->created_at = sqlite3_column_int64(st, 3);
    k->signs_from = sqlite3_column_int64(st, 4);
    k->retire_at = sqlite3_column_int64(st, 5);
    return sq_row_result(ok, "signing_keys");
}

/* ---------- organizations ---------- */

enum tn_err sq_org_insert(struct tn_store *s, const struct tn_org *o)
{
    WRITE1(s, false, S_ORG_INSERT, "tti", o->id, o->name, o->created_at);
}

enum tn_err sq_org_get(struct tn_store *s, const char *id, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_GET, "t", id);
}

enum tn_err sq_org_by_name(struct tn_store *s, const char *name, struct tn_org *out)
{
    READ1(s, out, read_org, S_ORG_BY_NAME, "t", name);
}

enum tn_err sq_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud)
{
    LIST(s, struct tn_org, read_org, S_ORG_LIST, cb, ud);
}

/* ---------- users ---------- */

enum tn_err sq_user_insert(struct tn_store *s, const struct tn_user *u)
{
    WRITE1(s, false, S_USER_INSERT, "ttttttbii", u->id, u->email, u->name, u->org_id, u->role,
           u->password_hash, (int)u->disabled, u->created_at, u->tokens_valid_after);
}

enum tn_err sq_user_get(struct tn_store *s, const char *id, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_GET, "t", id);
}

enum tn_err sq_user_by_email(struct tn_store *s, const char *email, struct tn_user *out)
{
    READ1(s, out, read_user, S_USER_BY_EMAIL, "t", email);
}

enum tn_err sq_user_update(struct tn_store *s, const struct tn_user *u, unsigned fields)
{
    WRITE1(s, true, S_USER_UPDATE, "tttttbii", u->id, u->name, u->org_id, u->role, u->password_hash,
           (int)u->disabled, u->tokens_valid_after, (int64_t)fields);
}

enum tn_err sq_user_swap_password(struct tn_store *s, const char *id, const char *was,
                                  const char *hash)
{
    WRITE1(s, true, S_USER_SWAP_PASSWORD, "ttt", id, was, hash);
}

static enum tn_err read_count(sqlite3_stmt *st, int64_t *n)
{
    *n = sqlite3_column_int64(st, 0);
    return TN_OK;
}

enum tn_err sq_user_count(struct tn_store *s, int64_t *n)
{
    READ1(s, n, read_count, S_USER_COUNT, "");
}

enum tn_err sq_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud)
{
    LIST(s, struct tn_user, read_user, S_USER_LIST, cb, ud);
}

/* ---------- clients ---------- */

enum tn_err sq_client_insert(struct tn_store *s, const struct tn_client *c)
{
    WRITE1(s, false, S_CLIENT_INSERT, "tttttttttii", c->id, c->name, c->redirect_uris,
           c->secret_hash, c->auth_method, c->grant_types, c->scope, c->application_type,
           c->metadata, c->created_at, c->last_used_at);
}

enum tn_err sq_client_get(struct tn_store *s, const char *id, struct tn_client *out)
{
    READ1(s, out, read_client, S_CLIENT_GET, "t", id);
}

enum tn_err sq_client_touch(struct tn_store *s, const char *id, int64_t now)
{
    WRITE1(s, true, S_CLIENT_TOUCH, "ti", id, now);
}

/* Consents, codes and refresh tokens go with it: ON DELETE CASCADE, same statement. */
enum tn_err sq_client_delete(struct tn_store *s, const char *id)
{
    WRITE1(s, true, S_CLIENT_DELETE, "t", id);
}

enum tn_err sq_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud)
{
    LIST(s, struct tn_client, read_client, S_CLIENT_LIST, cb, ud);
}

enum tn_err sq_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    e = sq_run(&k, S_CLIENT_DELETE_UNUSED, NULL, "i", created_before);
    /* sq_changes() counts the clients only, not the rows the cascade removed. */
    if (e == TN_OK)
        *n = sq_changes(&k);
    sq_call_end(&k);
    return e;
}

/* ---------- consent ---------- */

enum tn_err sq_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                           char scope[256])
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = sq_run(&k, S_CONSENT_GET, &st, "tt", user_id, client_id);
    if (e == TN_OK)
        e = sq_row_result(sq_col_text(st, 0, scope, 256), "consents");
    sq_finish(st);
    sq_call_end(&k);
    if (e != TN_OK)
        memset(scope, 0, 256);
    return e;
}

enum tn_err sq_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                           const char *scope, int64_t now)
{
    WRITE1(s, false, S_CONSENT_PUT, "ttti", user_id, client_id, scope, now);
}

enum tn_err sq_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id)
{
    if (client_id)
        WRITE1(s, false, S_CONSENT_REVOKE, "tt", user_id, client_id);
    else
        WRITE1(s, false, S_CONSENT_REVOKE_ALL, "t", user_id);
}

/* ---------- authorization codes ---------- */

enum tn_err sq_code_insert(struct tn_store *s, const struct tn_code *c)
{
    WRITE1(s, false, S_CODE_INSERT, "httttttti", c->hash, c->client_id, c->user_id, c->redirect_uri,
           c->scope, c->resource, c->challenge, c->family, c->expires_at);
}

enum tn_err sq_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out)
{
    struct call k;
    sqlite3_stmt *st;
    bool used = false;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) != TN_OK)
        goto done;
    if ((e = sq_run(&k, S_CODE_GET, &st, "h", hash)) != TN_OK)
        goto done;
    e = read_code(st, out, &used);
    sq_finish(st);
    if (e != TN_OK)
        goto done;
    if (used) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    if ((e = sq_run(&k, S_CODE_USE, NULL, "h", hash)) != TN_OK)
        goto done;
    /* BEGIN IMMEDIATE already excludes a concurrent taker; the condition in CODE_USE
     * (used = 0) makes the single use hold even if that ever changes. */
    if (sq_changes(&k) != 1) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    e = sq_run(&k, S_COMMIT, NULL, "");
done:
    sq_call_end(&k);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        memset(out, 0, sizeof *out);
    return e;
}

/* ---------- refresh tokens ---------- */

static enum tn_err insert_refresh(struct call *k, const struct tn_refresh *r)
{
    return sq_run(k, S_REFRESH_INSERT, NULL, "htttttiiib", r->hash, r->family, r->client_id,
                  r->user_id, r->scope, r->resource, r->issued_at, r->expires_at, r->rotated_at,
                  (int)r->revoked);
}

enum tn_err sq_refresh_insert(struct tn_store *s, const struct tn_refresh *r)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    e = insert_refresh(&k, r);
    sq_call_end(&k);
    return e;
}

enum tn_err sq_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                              const struct tn_refresh *next, int64_t now, struct tn_refresh *old)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) != TN_OK)
        goto done;
    if ((e = sq_run(&k, S_REFRESH_GET, &st, "h", old_hash)) != TN_OK)
        goto done;
    e = read_refresh(st, old);
    sq_finish(st);
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
    if ((e = sq_run(&k, S_REFRESH_MARK, NULL, "hi", old_hash, now)) != TN_OK)
        goto done;
    if (sq_changes(&k) != 1) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    if ((e = insert_refresh(&k, next)) != TN_OK)
        goto done;
    if ((e = sq_run(&k, S_COMMIT, NULL, "")) != TN_OK)
        goto done;
    old->rotated_at = now;
done:
    sq_call_end(&k);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        memset(old, 0, sizeof *old);
    return e;
}

enum tn_err sq_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out)
{
    READ1(s, out, read_refresh, S_REFRESH_GET, "h", hash);
}

enum tn_err sq_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                   int64_t grace_s)
{
    WRITE1(s, true, S_REFRESH_SPEND_GRACE, "hii", hash, now, grace_s);
}

/* Revokes the family's tokens and remembers the family, so that a token inserted into
 * it afterwards is born revoked. Succeeds when the family has no token (yet). */
enum tn_err sq_family_revoke(struct tn_store *s, const char *family)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) == TN_OK &&
        (e = sq_run(&k, S_FAMILY_REVOKE, NULL, "t", family)) == TN_OK &&
        (e = sq_run(&k, S_FAMILY_REMEMBER, NULL, "t", family)) == TN_OK)
        e = sq_run(&k, S_COMMIT, NULL, "");
    sq_call_end(&k);
    return e;
}

enum tn_err sq_user_revoke_all(struct tn_store *s, const char *user_id)
{
    WRITE1(s, false, S_USER_REVOKE_ALL, "t", user_id);
}

/* ---------- signing keys ---------- */

enum tn_err sq_key_insert(struct tn_store *s, const struct tn_signing_key *k)
{
    WRITE1(s, false, S_KEY_INSERT, "tttiii", k->kid, k->alg, k->pem, k->created_at, k->signs_from,
           k->retire_at);
}

enum tn_err sq_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud)
{
    LIST(s, struct tn_signing_key, read_key, S_KEY_LIST, cb, ud);
}

enum tn_err sq_key_delete(struct tn_store *s, const char *kid)
{
    WRITE1(s, true, S_KEY_DELETE, "t", kid);
}

enum tn_err sq_key_replace(struct tn_store *s, const char *kid, const char *expected,
                           const char *pem)
{
    WRITE1(s, true, S_KEY_REPLACE, "ttt", kid, expected, pem);
}

/* ---------- the admin console (#19) ---------- */

enum tn_err sq_user_signed_in(struct tn_store *s, const char *id, int64_t now)
{
    WRITE1(s, true, S_USER_SIGNED_IN, "ti", id, now);
}

enum tn_err sq_user_search(struct tn_store *s, const struct tn_user_query *q, tn_store_user_cb cb,
                           void *ud, int64_t *total)
{
    struct call k;
    sqlite3_stmt *st = NULL;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    /* one read transaction: the count and the page see the same rows */
    if ((e = sq_run(&k, S_BEGIN_READ, NULL, "")) != TN_OK)
        goto done;
    if ((e = sq_run(&k, S_USER_SEARCH_COUNT, &st, "t", q->text)) != TN_OK)
        goto done;
    *total = sqlite3_column_int64(st, 0);
    sq_finish(st);
    for (e = sq_run(&k, S_USER_SEARCH, &st, "tii", q->text, (int64_t)q->offset, (int64_t)q->limit);
         e == TN_OK; e = sq_step(&k, st, S_USER_SEARCH)) {
        struct tn_user u;
        memset(&u, 0, sizeof u);
        if ((e = read_user(st, &u)) != TN_OK)
            break;
        cb(&u, ud);
    }
    sq_finish(st);
    if (e == TN_ERR_NOT_FOUND)
        e = TN_OK;
done:
    sq_run(&k, S_COMMIT, NULL, "");
    sq_call_end(&k);
    return e;
}

static enum tn_err read_grant(sqlite3_stmt *st, struct tn_client_grant *g)
{
    bool ok = TEXT(0, g->user_id) && TEXT(1, g->email) && TEXT(2, g->scope);
    g->consented_at = sqlite3_column_int64(st, 3);
    g->families = sqlite3_column_int64(st, 4);
    g->last_issued_at = sqlite3_column_int64(st, 5);
    return sq_row_result(ok, "consents");
}

enum tn_err sq_client_grants(struct tn_store *s, const char *client_id, int64_t now,
                             tn_store_client_grant_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_CLIENT_GRANTS, &st, "ti", client_id, now); e == TN_OK;
         e = sq_step(&k, st, S_CLIENT_GRANTS)) {
        struct tn_client_grant g;
        memset(&g, 0, sizeof g);
        if ((e = read_grant(st, &g)) != TN_OK)
            break;
        cb(&g, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_client_usage(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_CLIENT_USAGE, &st, "i", now); e == TN_OK;
         e = sq_step(&k, st, S_CLIENT_USAGE)) {
        char id[512];
        if (!TEXT(0, id)) {
            e = sq_row_result(false, "clients");
            break;
        }
        cb(id, sqlite3_column_int64(st, 1), ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_key_schedule(struct tn_store *s, const char *kid, int64_t signs_from,
                            int64_t retire_at)
{
    WRITE1(s, true, S_KEY_SCHEDULE, "tii", kid, signs_from, retire_at);
}
