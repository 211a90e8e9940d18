/* The public API of grants (store.h, /account of #19): argument checks, then the
 * backend. Kept apart from store.c so that the account work touches the shared file
 * nowhere. The checks are store.c's: strings must fit their fields, ids be non-empty. */
#include "store/backend.h"

#include <string.h>

static bool fits(const char *v, size_t cap)
{
    if (!v)
        return false;
    size_t n = strnlen(v, cap);
    return n < cap && n > 0;
}

#define USER_ID_CAP sizeof((struct tn_user *)0)->id
#define CLIENT_ID_CAP sizeof((struct tn_client *)0)->id

enum tn_err tn_store_grant_list(struct tn_store *s, const char *user_id, int64_t now,
                                unsigned limit, tn_store_grant_cb cb, void *ud)
{
    if (!s || !cb || !fits(user_id, USER_ID_CAP) || limit < 1 || limit > 500)
        return TN_ERR_BAD_INPUT;
    return s->ops->grant_list(s, user_id, now, limit, cb, ud);
}

enum tn_err tn_store_grant_revoke(struct tn_store *s, const char *user_id, const char *client_id,
                                  int64_t revoked_at)
{
    if (!s || !fits(user_id, USER_ID_CAP) || !fits(client_id, CLIENT_ID_CAP))
        return TN_ERR_BAD_INPUT;
    return s->ops->grant_revoke(s, user_id, client_id, revoked_at);
}

enum tn_err tn_store_grant_revocations(struct tn_store *s, const char *user_id, int64_t since,
                                       unsigned limit, tn_store_grant_revocation_cb cb, void *ud)
{
    if (!s || !cb || !fits(user_id, USER_ID_CAP) || limit < 1 || limit > 1000)
        return TN_ERR_BAD_INPUT;
    return s->ops->grant_revocations(s, user_id, since, limit, cb, ud);
}

enum tn_err tn_store_grant_revoked_at(struct tn_store *s, const char *user_id,
                                      const char *client_id, int64_t *at)
{
    if (at)
        *at = 0;
    if (!s || !at || !fits(user_id, USER_ID_CAP) || !fits(client_id, CLIENT_ID_CAP))
        return TN_ERR_BAD_INPUT;
    enum tn_err e = s->ops->grant_revoked_at(s, user_id, client_id, at);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e; /* never revoked: 0 */
}

enum tn_err tn_store_user_sign_out(struct tn_store *s, const char *user_id, int64_t valid_after)
{
    if (!s || !fits(user_id, USER_ID_CAP))
        return TN_ERR_BAD_INPUT;
    return s->ops->user_sign_out(s, user_id, valid_after);
}
