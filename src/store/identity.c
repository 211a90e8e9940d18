/* The public API of upstream identities (store.h): argument checks, then the backend.
 * Kept apart from store.c so that the sign-in work of #18 touches the shared file
 * nowhere. The checks are store.c's: strings must fit their fields, ids be non-empty. */
#include "store/backend.h"

#include <string.h>

static bool fits(const char *v, size_t cap, bool nonempty)
{
    if (!v)
        return false;
    size_t n = strnlen(v, cap);
    return n < cap && (!nonempty || n > 0);
}

static bool key_ok(const char *issuer, const char *subject)
{
    return fits(issuer, sizeof((struct tn_identity *)0)->issuer, true) &&
           fits(subject, sizeof((struct tn_identity *)0)->subject, true);
}

enum tn_err tn_store_identity_get(struct tn_store *s, const char *issuer, const char *subject,
                                  struct tn_identity *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !out || !key_ok(issuer, subject))
        return TN_ERR_BAD_INPUT;
    return s->ops->identity_get(s, issuer, subject, out);
}

enum tn_err tn_store_identity_link(struct tn_store *s, const struct tn_identity *id)
{
    if (!s || !id || !key_ok(id->issuer, id->subject) ||
        !fits(id->user_id, sizeof id->user_id, true) || !fits(id->email, sizeof id->email, false))
        return TN_ERR_BAD_INPUT;
    struct tn_identity copy = *id;
    for (char *p = copy.email; *p; p++) /* ASCII only, as the users' emails */
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + ('a' - 'A'));
    return s->ops->identity_link(s, &copy);
}

enum tn_err tn_store_identity_touch(struct tn_store *s, const char *issuer, const char *subject,
                                    int64_t now)
{
    if (!s || !key_ok(issuer, subject))
        return TN_ERR_BAD_INPUT;
    return s->ops->identity_touch(s, issuer, subject, now);
}

enum tn_err tn_store_identity_list(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                                   void *ud)
{
    if (!s || !cb || !fits(user_id, sizeof((struct tn_identity *)0)->user_id, true))
        return TN_ERR_BAD_INPUT;
    return s->ops->identity_list(s, user_id, cb, ud);
}

enum tn_err tn_store_identity_delete_user(struct tn_store *s, const char *user_id, int64_t *n)
{
    int64_t scratch;
    if (!n)
        n = &scratch;
    *n = 0;
    if (!s || !fits(user_id, sizeof((struct tn_identity *)0)->user_id, true))
        return TN_ERR_BAD_INPUT;
    return s->ops->identity_delete_user(s, user_id, n);
}
