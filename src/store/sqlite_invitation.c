/* The SQLite backend's invitations (store.h, #18). */
#include "store/sqlite_internal.h"

#include <stdio.h>

static enum tn_err read_invitation(sqlite3_stmt *st, struct tn_invitation *v)
{
    bool ok = sq_col_hash(st, 0, v->hash) && TEXT(1, v->email) && TEXT(2, v->role) &&
              TEXT(3, v->org_id) && TEXT(4, v->invited_by);
    v->created_at = sqlite3_column_int64(st, 5);
    v->expires_at = sqlite3_column_int64(st, 6);
    v->used_at = sqlite3_column_int64(st, 7);
    return sq_row_result(ok, "invitations");
}

enum tn_err sq_invitation_insert(struct tn_store *s, const struct tn_invitation *v)
{
    WRITE1(s, false, S_INVITATION_INSERT, "httttiii", v->hash, v->email, v->role, v->org_id,
           v->invited_by, v->created_at, v->expires_at, v->used_at);
}

enum tn_err sq_invitation_get(struct tn_store *s, const uint8_t hash[32], struct tn_invitation *out)
{
    READ1(s, out, read_invitation, S_INVITATION_GET, "h", hash);
}

static enum tn_err get_row(struct call *k, const uint8_t hash[32], struct tn_invitation *out)
{
    sqlite3_stmt *st;
    enum tn_err e = sq_run(k, S_INVITATION_GET, &st, "h", hash);
    if (e == TN_OK)
        e = read_invitation(st, out);
    sq_finish(st);
    return e;
}

/* In one write transaction: the conditional UPDATE, then the row, then the account. An
 * error before COMMIT rolls everything back (sq_call_end). */
enum tn_err sq_invitation_take(struct tn_store *s, const uint8_t hash[32], int64_t now,
                               struct tn_user *u, struct tn_invitation *out)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_BEGIN, NULL, "")) != TN_OK)
        goto done;
    if ((e = sq_run(&k, S_INVITATION_TAKE, NULL, "hi", hash, now)) != TN_OK)
        goto done;
    bool taken = sq_changes(&k) == 1;
    if ((e = get_row(&k, hash, out)) != TN_OK) /* NOT_FOUND: unknown */
        goto done;
    if (!taken) {
        e = TN_ERR_INVALID_GRANT; /* used or expired: the row says which */
        goto done;
    }
    if (u) {
        snprintf(u->email, sizeof u->email, "%s", out->email);
        snprintf(u->role, sizeof u->role, "%s", out->role);
        snprintf(u->org_id, sizeof u->org_id, "%s", out->org_id);
        if ((e = sq_run(&k, S_USER_INSERT, NULL, "ttttttbii", u->id, u->email, u->name, u->org_id,
                        u->role, u->password_hash, (int)u->disabled, u->created_at,
                        u->tokens_valid_after)) != TN_OK)
            goto done;
    }
    e = sq_run(&k, S_COMMIT, NULL, "");
done:
    sq_call_end(&k);
    return e;
}

enum tn_err sq_invitation_pending(struct tn_store *s, const char *email, int64_t now,
                                  struct tn_invitation *out)
{
    READ1(s, out, read_invitation, S_INVITATION_PENDING, "ti", email, now);
}

enum tn_err sq_invitation_list(struct tn_store *s, int64_t now, tn_store_invitation_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_INVITATION_LIST, &st, "i", now); e == TN_OK;
         e = sq_step(&k, st, S_INVITATION_LIST)) {
        struct tn_invitation item;
        memset(&item, 0, sizeof item);
        if ((e = read_invitation(st, &item)) != TN_OK)
            break;
        cb(&item, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_invitation_revoke(struct tn_store *s, const char *email, int64_t *n)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_INVITATION_REVOKE, NULL, "t", email)) == TN_OK)
        *n = sq_changes(&k);
    sq_call_end(&k);
    return e;
}
