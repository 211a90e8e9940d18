/* The public API of the admin console's store calls (store.h, #19): argument checks and
 * normalisation, then the backend. Kept apart from store.c, as identity.c is, so that the
 * work of #19 touches the shared file nowhere but the audit record's new field. */
#include "store/backend.h"

#include <stdint.h>
#include <string.h>

static bool fits(const char *v, size_t cap, bool nonempty)
{
    if (!v)
        return false;
    size_t n = strnlen(v, cap);
    return n < cap && (!nonempty || n > 0);
}

/* NULL for NULL or "", else v when it fits `cap`; *ok false when it does not. */
static const char *optional(const char *v, size_t cap, bool *ok)
{
    if (!v || !v[0])
        return NULL;
    if (!fits(v, cap, true))
        *ok = false;
    return v;
}

enum tn_err tn_store_user_signed_in(struct tn_store *s, const char *id, int64_t now)
{
    if (!s || !fits(id, sizeof((struct tn_user *)0)->id, true) || now < 0)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_signed_in(s, id, now);
}

enum tn_err tn_store_user_search(struct tn_store *s, const struct tn_user_query *q,
                                 tn_store_user_cb cb, void *ud, int64_t *total)
{
    int64_t scratch;
    if (!total)
        total = &scratch;
    *total = 0;
    if (!s || !q || !cb || q->limit < 1 || q->limit > 500)
        return TN_ERR_BAD_INPUT;
    char text[TN_USER_QUERY_MAX + 1];
    const char *t = NULL;
    if (q->text && q->text[0]) {
        size_t n = strnlen(q->text, TN_USER_QUERY_MAX + 1);
        if (n > TN_USER_QUERY_MAX)
            return TN_ERR_BAD_INPUT;
        /* emails are stored lower-case; names are compared lower-cased (ASCII) */
        for (size_t i = 0; i <= n; i++) {
            char c = q->text[i];
            text[i] = c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
        }
        t = text;
    }
    struct tn_user_query norm = {.text = t, .offset = q->offset, .limit = q->limit};
    return s->ops->user_search(s, &norm, cb, ud, total);
}

enum tn_err tn_store_client_grants(struct tn_store *s, const char *client_id, int64_t now,
                                   tn_store_client_grant_cb cb, void *ud)
{
    if (!s || !cb || !fits(client_id, sizeof((struct tn_client *)0)->id, true))
        return TN_ERR_BAD_INPUT;
    return s->ops->client_grants(s, client_id, now, cb, ud);
}

enum tn_err tn_store_client_usage(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_usage(s, now, cb, ud);
}

enum tn_err tn_store_key_schedule(struct tn_store *s, const char *kid, int64_t signs_from,
                                  int64_t retire_at)
{
    if (!s || !fits(kid, sizeof((struct tn_signing_key *)0)->kid, true) || retire_at < signs_from)
        return TN_ERR_BAD_INPUT;
    return s->ops->key_schedule(s, kid, signs_from, retire_at);
}

enum tn_err tn_store_audit_query(struct tn_store *s, const struct tn_audit_filter *f,
                                 tn_store_audit_cb cb, void *ud)
{
    if (!s || !f || !cb || f->limit < 1 || f->limit > TN_AUDIT_QUERY_MAX || f->since_ms < 0 ||
        f->until_ms < 0)
        return TN_ERR_BAD_INPUT;
    bool ok = true;
    struct tn_audit_filter n = {
        .user = optional(f->user, sizeof((struct tn_audit *)0)->user, &ok),
        .tool = optional(f->tool, sizeof((struct tn_audit *)0)->tool, &ok),
        .outcome = optional(f->outcome, sizeof((struct tn_audit *)0)->outcome, &ok),
        .since_ms = f->since_ms,
        .until_ms = f->until_ms ? f->until_ms : INT64_MAX,
        .limit = f->limit,
    };
    if (!ok)
        return TN_ERR_BAD_INPUT;
    /* the records written so far are in the database before they are read */
    enum tn_err e = tn_store_audit_flush(s);
    if (e != TN_OK)
        return e;
    return s->ops->audit_query(s, &n, cb, ud);
}
