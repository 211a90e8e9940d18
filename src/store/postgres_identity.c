/* The PostgreSQL backend's upstream identities (store.h, #18): one statement per call. */
#include "store/postgres_internal.h"

static enum tn_err read_identity(const PGresult *r, int i, struct tn_identity *id)
{
    bool ok = TEXT(0, id->issuer) && TEXT(1, id->subject) && TEXT(2, id->user_id) &&
              TEXT(3, id->email);
    id->created_at = pg_col_int(r, i, 4);
    id->last_used_at = pg_col_int(r, i, 5);
    return pg_row_result(ok, "identities");
}

enum tn_err pg_identity_get(struct tn_store *s, const char *issuer, const char *subject,
                            struct tn_identity *out)
{
    READ1(s, out, read_identity, S_IDENTITY_GET, issuer, subject);
}

/* Primary key: a second link of the identity is TN_ERR_CONFLICT; foreign key: a link
 * to an unknown user TN_ERR_NOT_FOUND. */
enum tn_err pg_identity_link(struct tn_store *s, const struct tn_identity *id)
{
    WRITE(s, S_IDENTITY_LINK, id->issuer, id->subject, id->user_id, id->email, id->created_at,
          id->last_used_at);
}

enum tn_err pg_identity_touch(struct tn_store *s, const char *issuer, const char *subject,
                              int64_t now)
{
    WRITE_ONE(s, S_IDENTITY_TOUCH, issuer, subject, now);
}

enum tn_err pg_identity_list(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                             void *ud)
{
    LIST(s, struct tn_identity, read_identity, cb, ud, S_IDENTITY_LIST, user_id);
}

enum tn_err pg_identity_delete_user(struct tn_store *s, const char *user_id, int64_t *n)
{
    WRITE1(s, n, S_IDENTITY_DELETE_USER, user_id);
}
