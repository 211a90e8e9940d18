/* The PostgreSQL backend's invitations (store.h, #18). */
#include "store/postgres_internal.h"

#include <stdio.h>

static enum tn_err read_invitation(const PGresult *r, int i, struct tn_invitation *v)
{
    bool ok = pg_col_hash(r, i, 0, v->hash) && TEXT(1, v->email) && TEXT(2, v->role) &&
              TEXT(3, v->org_id) && TEXT(4, v->invited_by);
    v->created_at = pg_col_int(r, i, 5);
    v->expires_at = pg_col_int(r, i, 6);
    v->used_at = pg_col_int(r, i, 7);
    return pg_row_result(ok, "invitations");
}

enum tn_err pg_invitation_insert(struct tn_store *s, const struct tn_invitation *v)
{
    WRITE(s, S_INVITATION_INSERT, v->hash, v->email, v->role, v->org_id, v->invited_by,
          v->created_at, v->expires_at, v->used_at);
}

enum tn_err pg_invitation_get(struct tn_store *s, const uint8_t hash[32], struct tn_invitation *out)
{
    READ1(s, out, read_invitation, S_INVITATION_GET, hash);
}

struct take {
    const uint8_t *hash;
    int64_t now;
    struct tn_user *user;
    struct tn_invitation *out;
};

/* In one transaction: the conditional UPDATE ... RETURNING, then the account. Any error
 * the body returns rolls both back (pg_with_conn). */
static enum tn_err take_body(struct call *k, void *arg)
{
    struct take *t = arg;
    struct tn_user *u = t->user;
    PGresult *r = NULL;
    memset(t->out, 0, sizeof *t->out);
    enum tn_err e = pg_run(k, S_INVITATION_TAKE, &r, t->hash, t->now);
    if (e == TN_OK && PQntuples(r) == 1) {
        e = read_invitation(r, 0, t->out);
        PQclear(r);
        r = NULL;
        if (e == TN_OK && u) {
            snprintf(u->email, sizeof u->email, "%s", t->out->email);
            snprintf(u->role, sizeof u->role, "%s", t->out->role);
            snprintf(u->org_id, sizeof u->org_id, "%s", t->out->org_id);
            e = pg_run(k, S_USER_INSERT, NULL, u->id, u->email, u->name, u->org_id, u->role,
                       u->password_hash, (int)u->disabled, u->created_at, u->tokens_valid_after);
        }
        return e;
    }
    PQclear(r);
    r = NULL;
    if (e == TN_OK)
        e = pg_run(k, S_INVITATION_GET, &r, t->hash);
    if (e == TN_OK) /* used or expired: the row says which */
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_invitation(r, 0, t->out);
    PQclear(r);
    return e == TN_OK ? TN_ERR_INVALID_GRANT : e;
}

enum tn_err pg_invitation_take(struct tn_store *s, const uint8_t hash[32], int64_t now,
                               struct tn_user *user, struct tn_invitation *out)
{
    struct take t = {.hash = hash, .now = now, .user = user, .out = out};
    return pg_with_conn(s, true, NULL, take_body, &t);
}

enum tn_err pg_invitation_pending(struct tn_store *s, const char *email, int64_t now,
                                  struct tn_invitation *out)
{
    READ1(s, out, read_invitation, S_INVITATION_PENDING, email, now);
}

enum tn_err pg_invitation_list(struct tn_store *s, int64_t now, tn_store_invitation_cb cb, void *ud)
{
    LIST(s, struct tn_invitation, read_invitation, cb, ud, S_INVITATION_LIST, now);
}

enum tn_err pg_invitation_revoke(struct tn_store *s, const char *email, int64_t *n)
{
    WRITE1(s, n, S_INVITATION_REVOKE, email);
}
