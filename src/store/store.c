/* The store's public API: picks the backend, checks arguments once for every backend,
 * then forwards through the backend's ops table (src/store/backend.h). */
#include "store/store.h"

#include <string.h>
#include <strings.h>

#include "store/backend.h"

/* A string field of a caller's struct must end inside its array; anything else would
 * make the backend read past it. */
#define TERMINATED(p, f) (memchr((p)->f, '\0', sizeof(p)->f) != NULL)
#define NONEMPTY(p, f) (TERMINATED(p, f) && (p)->f[0] != '\0')

static bool has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0;
}

enum tn_err tn_store_open(const char *data_dir, const char *database_url, struct tn_store **out,
                          struct tn_buf *err)
{
    if (!out)
        return TN_ERR_BAD_INPUT;
    *out = NULL;
    if (database_url && database_url[0] != '\0') {
        if (has_scheme(database_url, "postgres://") || has_scheme(database_url, "postgresql://")) {
            if (err)
                tn_buf_puts(err, "PostgreSQL support is not built yet");
            return TN_ERR_CONFIG;
        }
        /* Falling back to SQLite on a mistyped URL would give each instance its own
         * database without a word; refuse instead. The URL may carry a password, so
         * it is not echoed. */
        if (err)
            tn_buf_puts(err, "DATABASE_URL must start with postgres:// or postgresql:// "
                             "(leave it unset to use SQLite under the data directory)");
        return TN_ERR_CONFIG;
    }
    if (!data_dir || data_dir[0] == '\0') {
        if (err)
            tn_buf_puts(err, "the data directory is not set");
        return TN_ERR_CONFIG;
    }
    return tn_store_sqlite_open(data_dir, out, err);
}

void tn_store_close(struct tn_store *s)
{
    if (s)
        s->ops->close(s);
}

const char *tn_store_backend(const struct tn_store *s)
{
    return s ? s->ops->name : "";
}

int tn_store_schema_version(const struct tn_store *s)
{
    return s ? s->schema_version : 0;
}

/* ---------- organizations ---------- */

enum tn_err tn_store_org_insert(struct tn_store *s, const struct tn_org *o)
{
    if (!s || !o || !NONEMPTY(o, id) || !NONEMPTY(o, name))
        return TN_ERR_BAD_INPUT;
    return s->ops->org_insert(s, o);
}

enum tn_err tn_store_org_get(struct tn_store *s, const char *id, struct tn_org *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_get(s, id, out);
}

enum tn_err tn_store_org_by_name(struct tn_store *s, const char *name, struct tn_org *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !name || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_by_name(s, name, out);
}

enum tn_err tn_store_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->org_list(s, cb, ud);
}

/* ---------- users ---------- */

/* ASCII only: the part of an address that is case-insensitive in practice. */
static void lower_ascii(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + ('a' - 'A')) : src[i];
}

/* The email is not part of an update, so only an insert checks it. */
static bool user_valid(const struct tn_user *u)
{
    return NONEMPTY(u, id) && TERMINATED(u, name) && TERMINATED(u, org_id) &&
           NONEMPTY(u, role) && TERMINATED(u, password_hash);
}

enum tn_err tn_store_user_insert(struct tn_store *s, const struct tn_user *u)
{
    if (!s || !u || !user_valid(u) || !NONEMPTY(u, email))
        return TN_ERR_BAD_INPUT;
    struct tn_user copy = *u;
    lower_ascii(copy.email, u->email, strlen(u->email));
    return s->ops->user_insert(s, &copy);
}

enum tn_err tn_store_user_get(struct tn_store *s, const char *id, struct tn_user *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_get(s, id, out);
}

enum tn_err tn_store_user_by_email(struct tn_store *s, const char *email, struct tn_user *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !email || !out)
        return TN_ERR_BAD_INPUT;
    char lower[sizeof out->email];
    size_t n = strlen(email);
    if (n >= sizeof lower)
        return TN_ERR_NOT_FOUND; /* could never have been stored */
    lower_ascii(lower, email, n + 1);
    return s->ops->user_by_email(s, lower, out);
}

enum tn_err tn_store_user_update(struct tn_store *s, const struct tn_user *u)
{
    if (!s || !u || !user_valid(u))
        return TN_ERR_BAD_INPUT;
    return s->ops->user_update(s, u);
}

enum tn_err tn_store_user_count(struct tn_store *s, int64_t *n)
{
    if (n)
        *n = 0;
    if (!s || !n)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_count(s, n);
}

enum tn_err tn_store_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_list(s, cb, ud);
}

/* ---------- OAuth clients ---------- */

enum tn_err tn_store_client_insert(struct tn_store *s, const struct tn_client *c)
{
    if (!s || !c || !NONEMPTY(c, id) || !TERMINATED(c, name) || !TERMINATED(c, redirect_uris) ||
        !TERMINATED(c, secret_hash) || !TERMINATED(c, auth_method) ||
        !TERMINATED(c, grant_types) || !TERMINATED(c, scope) ||
        !TERMINATED(c, application_type) || !TERMINATED(c, metadata))
        return TN_ERR_BAD_INPUT;
    return s->ops->client_insert(s, c);
}

enum tn_err tn_store_client_get(struct tn_store *s, const char *id, struct tn_client *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_get(s, id, out);
}

enum tn_err tn_store_client_touch(struct tn_store *s, const char *id, int64_t now)
{
    if (!s || !id)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_touch(s, id, now);
}

enum tn_err tn_store_client_delete(struct tn_store *s, const char *id)
{
    if (!s || !id)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_delete(s, id);
}

enum tn_err tn_store_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_list(s, cb, ud);
}

enum tn_err tn_store_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n)
{
    if (n)
        *n = 0;
    if (!s || !n)
        return TN_ERR_BAD_INPUT;
    return s->ops->client_delete_unused(s, created_before, n);
}

/* ---------- consent ---------- */

enum tn_err tn_store_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                                 char scope[256])
{
    if (scope)
        memset(scope, 0, 256);
    if (!s || !user_id || !client_id || !scope)
        return TN_ERR_BAD_INPUT;
    return s->ops->consent_get(s, user_id, client_id, scope);
}

enum tn_err tn_store_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                                 const char *scope, int64_t now)
{
    if (!s || !user_id || !client_id || !scope)
        return TN_ERR_BAD_INPUT;
    if (strlen(scope) >= 256) /* consent_get hands it back in char[256] */
        return TN_ERR_LIMIT;
    return s->ops->consent_put(s, user_id, client_id, scope, now);
}

enum tn_err tn_store_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id)
{
    if (!s || !user_id)
        return TN_ERR_BAD_INPUT;
    return s->ops->consent_revoke(s, user_id, client_id);
}

/* ---------- authorization codes ---------- */

enum tn_err tn_store_code_insert(struct tn_store *s, const struct tn_code *c)
{
    if (!s || !c || !NONEMPTY(c, client_id) || !NONEMPTY(c, user_id) ||
        !TERMINATED(c, redirect_uri) || !TERMINATED(c, scope) || !TERMINATED(c, resource) ||
        !TERMINATED(c, challenge) || !NONEMPTY(c, family))
        return TN_ERR_BAD_INPUT;
    return s->ops->code_insert(s, c);
}

enum tn_err tn_store_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->code_take(s, hash, out);
}

/* ---------- refresh tokens ---------- */

static bool refresh_valid(const struct tn_refresh *r)
{
    return NONEMPTY(r, family) && NONEMPTY(r, client_id) && NONEMPTY(r, user_id) &&
           TERMINATED(r, scope) && TERMINATED(r, resource);
}

enum tn_err tn_store_refresh_insert(struct tn_store *s, const struct tn_refresh *r)
{
    if (!s || !r || !refresh_valid(r))
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_insert(s, r);
}

enum tn_err tn_store_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                                    const struct tn_refresh *next, int64_t now,
                                    struct tn_refresh *old_out)
{
    struct tn_refresh scratch;
    if (!old_out)
        old_out = &scratch;
    memset(old_out, 0, sizeof *old_out);
    /* rotated_at = now marks the old token; 0 would leave it current. */
    if (!s || !old_hash || !next || !refresh_valid(next) || now <= 0)
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_rotate(s, old_hash, next, now, old_out);
}

enum tn_err tn_store_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_get(s, hash, out);
}

enum tn_err tn_store_family_revoke(struct tn_store *s, const char *family)
{
    if (!s || !family || family[0] == '\0')
        return TN_ERR_BAD_INPUT;
    return s->ops->family_revoke(s, family);
}

enum tn_err tn_store_user_revoke_all(struct tn_store *s, const char *user_id)
{
    if (!s || !user_id)
        return TN_ERR_BAD_INPUT;
    return s->ops->user_revoke_all(s, user_id);
}

/* ---------- signing keys ---------- */

enum tn_err tn_store_key_insert(struct tn_store *s, const struct tn_signing_key *k)
{
    if (!s || !k || !NONEMPTY(k, kid) || !NONEMPTY(k, alg) || !NONEMPTY(k, pem))
        return TN_ERR_BAD_INPUT;
    return s->ops->key_insert(s, k);
}

enum tn_err tn_store_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud)
{
    if (!s || !cb)
        return TN_ERR_BAD_INPUT;
    return s->ops->key_list(s, cb, ud);
}

enum tn_err tn_store_key_delete(struct tn_store *s, const char *kid)
{
    if (!s || !kid)
        return TN_ERR_BAD_INPUT;
    return s->ops->key_delete(s, kid);
}
