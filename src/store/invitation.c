/* The public API of invitations (store.h): argument checks, then the backend. Kept apart
 * from store.c, as identity.c is, so that #18 touches the shared file nowhere. */
#include "store/backend.h"

#include <string.h>

static bool fits(const char *v, size_t cap, bool nonempty)
{
    if (!v)
        return false;
    size_t n = strnlen(v, cap);
    return n < cap && (!nonempty || n > 0);
}

/* ASCII only, as the users' emails: a non-ASCII byte is left as it is. */
static bool lower_into(const char *in, char out[256])
{
    if (!fits(in, 256, true))
        return false;
    size_t i = 0;
    for (; in[i]; i++)
        out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] + ('a' - 'A')) : in[i];
    out[i] = '\0';
    return true;
}

enum tn_err tn_store_invitation_insert(struct tn_store *s, const struct tn_invitation *inv)
{
    if (!s || !inv || !fits(inv->email, sizeof inv->email, true) ||
        !fits(inv->role, sizeof inv->role, true) || !fits(inv->org_id, sizeof inv->org_id, false) ||
        !fits(inv->invited_by, sizeof inv->invited_by, false))
        return TN_ERR_BAD_INPUT;
    struct tn_invitation copy = *inv;
    lower_into(inv->email, copy.email);
    return s->ops->invitation_insert(s, &copy);
}

enum tn_err tn_store_invitation_get(struct tn_store *s, const uint8_t hash[32],
                                    struct tn_invitation *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->invitation_get(s, hash, out);
}

enum tn_err tn_store_invitation_take(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                     struct tn_user *user, struct tn_invitation *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !hash || !out)
        return TN_ERR_BAD_INPUT;
    if (user &&
        (!fits(user->id, sizeof user->id, true) || !fits(user->name, sizeof user->name, false) ||
         !fits(user->password_hash, sizeof user->password_hash, false)))
        return TN_ERR_BAD_INPUT;
    enum tn_err e = s->ops->invitation_take(s, hash, now, user, out);
    if (e != TN_OK && e != TN_ERR_INVALID_GRANT)
        memset(out, 0, sizeof *out);
    return e;
}

enum tn_err tn_store_invitation_pending(struct tn_store *s, const char *email, int64_t now,
                                        struct tn_invitation *out)
{
    char lower[256];
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !out || !lower_into(email, lower))
        return TN_ERR_BAD_INPUT;
    return s->ops->invitation_pending(s, lower, now, out);
}

enum tn_err tn_store_invitation_list(struct tn_store *s, int64_t now, tn_store_invitation_cb cb,
                                     void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->invitation_list(s, now, cb, ud);
}

enum tn_err tn_store_invitation_revoke(struct tn_store *s, const char *email, int64_t *n)
{
    char lower[256];
    int64_t scratch;
    if (!n)
        n = &scratch;
    *n = 0;
    if (!s || !lower_into(email, lower))
        return TN_ERR_BAD_INPUT;
    return s->ops->invitation_revoke(s, lower, n);
}
