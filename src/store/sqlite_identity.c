/* The SQLite backend's upstream identities (store.h, #18): one statement per call. */
#include "store/sqlite_internal.h"

static enum tn_err read_identity(sqlite3_stmt *st, struct tn_identity *id)
{
    bool ok = TEXT(0, id->issuer) && TEXT(1, id->subject) && TEXT(2, id->user_id) &&
              TEXT(3, id->email);
    id->created_at = sqlite3_column_int64(st, 4);
    id->last_used_at = sqlite3_column_int64(st, 5);
    return sq_row_result(ok, "identities");
}

enum tn_err sq_identity_get(struct tn_store *s, const char *issuer, const char *subject,
                            struct tn_identity *out)
{
    READ1(s, out, read_identity, S_IDENTITY_GET, "tt", issuer, subject);
}

/* The primary key makes a second link of the same identity TN_ERR_CONFLICT; the
 * foreign key makes a link to an unknown user TN_ERR_NOT_FOUND. */
enum tn_err sq_identity_link(struct tn_store *s, const struct tn_identity *id)
{
    WRITE1(s, false, S_IDENTITY_LINK, "ttttii", id->issuer, id->subject, id->user_id, id->email,
           id->created_at, id->last_used_at);
}

enum tn_err sq_identity_touch(struct tn_store *s, const char *issuer, const char *subject,
                              int64_t now)
{
    WRITE1(s, true, S_IDENTITY_TOUCH, "tti", issuer, subject, now);
}

enum tn_err sq_identity_list(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                             void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_IDENTITY_LIST, &st, "t", user_id); e == TN_OK;
         e = sq_step(&k, st, S_IDENTITY_LIST)) {
        struct tn_identity item;
        memset(&item, 0, sizeof item);
        if ((e = read_identity(st, &item)) != TN_OK)
            break;
        cb(&item, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_identity_delete_user(struct tn_store *s, const char *user_id, int64_t *n)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    if ((e = sq_run(&k, S_IDENTITY_DELETE_USER, NULL, "t", user_id)) == TN_OK)
        *n = sq_changes(&k);
    sq_call_end(&k);
    return e;
}
