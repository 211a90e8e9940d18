/* The store's public API: picks the backend, checks arguments once for every backend,
 * then forwards through the backend's ops table (src/store/backend.h). */
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "store/backend.h"
#include "store/postgres.h"

/* A string field of a caller's struct must end inside its array; anything else would
 * make the backend read past it. */
#define TERMINATED(p, f) (memchr((p)->f, '\0', sizeof(p)->f) != NULL)
#define NONEMPTY(p, f) (TERMINATED(p, f) && (p)->f[0] != '\0')
#define FIELD_SIZE(type, f) sizeof(((type *)0)->f)

static bool has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0;
}

static struct tn_audit_queue *audit_queue_new(struct tn_store *s);
static void audit_queue_free(struct tn_audit_queue *q);

static enum tn_err open_backend(const char *data_dir, const char *database_url,
                                struct tn_store **out, struct tn_buf *err)
{
    if (!out)
        return TN_ERR_BAD_INPUT;
    *out = NULL;
    if (database_url && database_url[0] != '\0') {
        if (has_scheme(database_url, "postgres://") || has_scheme(database_url, "postgresql://"))
            return tn_store_postgres_open(database_url, out, err);
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

enum tn_err tn_store_open(const char *data_dir, const char *database_url, struct tn_store **out,
                          struct tn_buf *err)
{
    enum tn_err e = open_backend(data_dir, database_url, out, err);
    if (e == TN_OK && !((*out)->audit = audit_queue_new(*out))) {
        (*out)->ops->close(*out);
        *out = NULL;
        e = TN_ERR_NOMEM;
    }
    return e;
}

void tn_store_close(struct tn_store *s)
{
    if (!s)
        return;
    audit_queue_free(s->audit); /* writes what is still queued */
    s->audit = NULL;
    s->ops->close(s);
}

const char *tn_store_backend(const struct tn_store *s) { return s ? s->ops->name : ""; }

int tn_store_schema_version(const struct tn_store *s) { return s ? s->schema_version : 0; }

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
    return NONEMPTY(u, id) && TERMINATED(u, name) && TERMINATED(u, org_id) && NONEMPTY(u, role) &&
           TERMINATED(u, password_hash);
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
        !TERMINATED(c, secret_hash) || !TERMINATED(c, auth_method) || !TERMINATED(c, grant_types) ||
        !TERMINATED(c, scope) || !TERMINATED(c, application_type) || !TERMINATED(c, metadata))
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

/* ---------- email sign-in codes ---------- */

enum tn_err tn_store_email_code_insert(struct tn_store *s, const struct tn_email_code *c)
{
    if (!s || !c || !NONEMPTY(c, id) || !NONEMPTY(c, email) || !NONEMPTY(c, req))
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_insert(s, c);
}

enum tn_err tn_store_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !id[0] || strlen(id) >= sizeof out->id || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_get(s, id, out);
}

enum tn_err tn_store_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                                    const uint8_t hash[32], bool link, int64_t now,
                                    struct tn_email_code *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !id || !id[0] || strlen(id) >= sizeof out->id || !browser || !hash || !out)
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_use(s, id, browser, hash, link, now, out);
}

enum tn_err tn_store_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n)
{
    int64_t scratch;
    if (!s)
        return TN_ERR_BAD_INPUT;
    return s->ops->email_code_cleanup(s, now, n ? n : &scratch);
}

enum tn_err tn_store_email_code_why(const struct tn_email_code *c, const uint8_t browser[32],
                                    int64_t now)
{
    if (!tn_ct_equal(c->browser_hash, browser, 32))
        return TN_ERR_NOT_FOUND;
    if (c->used_at)
        return TN_ERR_CONFLICT;
    if (c->expires_at <= now)
        return TN_ERR_INVALID_GRANT;
    if (c->attempts >= TN_EMAIL_CODE_ATTEMPTS)
        return TN_ERR_LIMIT;
    return TN_ERR_FORBIDDEN;
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

enum tn_err tn_store_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                         int64_t grace_s)
{
    if (!s || !hash || now <= 0 || grace_s <= 0)
        return TN_ERR_BAD_INPUT;
    return s->ops->refresh_spend_grace(s, hash, now, grace_s);
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

enum tn_err tn_store_key_replace(struct tn_store *s, const char *kid, const char *expected,
                                 const char *pem)
{
    if (!s || !kid || !expected || !pem || kid[0] == '\0' || pem[0] == '\0' ||
        strlen(pem) >= FIELD_SIZE(struct tn_signing_key, pem))
        return TN_ERR_BAD_INPUT;
    return s->ops->key_replace(s, kid, expected, pem);
}

/* ---------- notes ---------- */

enum {
    PAGE_MAX = 100,     /* notes per page or search */
    AUDIT_MAX = 1000,   /* audit records per list */
    NOTE_ID_BYTES = 16, /* an id is "n_" and these bytes in base64url (24 characters) */
    NOTE_ID_TIME = 6,   /* of which the first: the creation time in ms, big-endian */
};

/* Strict UTF-8 (RFC 3629): no overlong forms (so no C0 80 smuggling a NUL), no
 * surrogates, nothing above U+10FFFF, and no NUL byte. *cps counts code points. */
static bool utf8_valid(const char *p, size_t n, size_t *cps)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, count = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c == 0) {
            return false;
        } else if (c < 0x80) {
            i++;
            count++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
        count++;
    }
    *cps = count;
    return true;
}

/* A C string of at most `max_bytes` bytes (measured without reading past them) that is
 * valid UTF-8 of at most `max_cps` code points. */
static bool text_ok(const char *t, size_t min_bytes, size_t max_bytes, size_t max_cps)
{
    size_t n = strnlen(t, max_bytes + 1), cps;
    return n >= min_bytes && n <= max_bytes && utf8_valid(t, n, &cps) && cps <= max_cps;
}

static bool owner_ok(const struct tn_owner *o)
{
    const size_t user_max = FIELD_SIZE(struct tn_note, owner) - 1;
    const size_t org_max = FIELD_SIZE(struct tn_note, org) - 1;
    if (!o || !o->user || !o->org)
        return false;
    size_t u = strnlen(o->user, user_max + 1), g = strnlen(o->org, org_max + 1);
    return u > 0 && u <= user_max && g <= org_max;
}

/* "n_" followed by the base64url of NOTE_ID_BYTES bytes: the only ids the store issues.
 * Anything else can never name a note. */
static bool note_id_ok(const char *id)
{
    static const size_t len = 2 + (NOTE_ID_BYTES * 4 + 2) / 3; /* 24 */
    if (strnlen(id, len + 1) != len || id[0] != 'n' || id[1] != '_')
        return false;
    for (size_t i = 2; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool tag_ok(const char *t, size_t n)
{
    size_t cps;
    return n > 0 && utf8_valid(t, n, &cps) && cps <= TN_NOTE_MAX_TAG;
}

/* A JSON array of at most TN_NOTE_MAX_TAGS strings of 1..TN_NOTE_MAX_TAG code points,
 * whose text fits struct tn_note's tags field (it is stored and returned as given). */
static bool tags_ok(const char *t)
{
    const size_t cap = FIELD_SIZE(struct tn_note, tags);
    size_t len = strnlen(t, cap), cps;
    if (len >= cap || !utf8_valid(t, len, &cps))
        return false;
    json_t *a = json_loadb(t, len, 0, NULL);
    bool ok = json_is_array(a) && json_array_size(a) <= TN_NOTE_MAX_TAGS;
    for (size_t i = 0; ok && i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        ok = json_is_string(v) && tag_ok(json_string_value(v), json_string_length(v));
    }
    json_decref(a);
    return ok;
}

/* Shared notes need an organization to be shared with. */
static bool visibility_ok(const char *v, const struct tn_owner *o)
{
    return strcmp(v, "private") == 0 || (strcmp(v, "org") == 0 && o->org[0] != '\0');
}

static bool content_ok(const char *c)
{
    return text_ok(c, 1, TN_NOTE_MAX_CONTENT, TN_NOTE_MAX_CONTENT);
}

static bool title_ok(const char *t)
{
    return text_ok(t, 0, FIELD_SIZE(struct tn_note, title) - 1, TN_NOTE_MAX_TITLE);
}

static bool title_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

size_t tn_note_title_derive(const char *content, size_t len, char *out, size_t cap)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* … */
    const unsigned char *c = (const unsigned char *)content;
    size_t i = 0, start = 0, end = 0;
    if (!out || cap == 0)
        return 0;
    out[0] = '\0';
    if (!content)
        return 0;
    while (i < len && c[i]) {
        size_t eol = i;
        while (eol < len && c[eol] && c[eol] != '\n')
            eol++;
        start = i;
        while (start < eol && title_space(c[start]))
            start++;
        /* a Markdown heading: "#", "##", … then a space */
        size_t h = start;
        while (h < eol && c[h] == '#')
            h++;
        if (h > start && h < eol && title_space(c[h]))
            for (start = h; start < eol && title_space(c[start]); start++)
                ;
        end = eol;
        while (end > start && title_space(c[end - 1]))
            end--;
        if (end > start || eol >= len || c[eol] != '\n')
            break; /* a title, or the end of the text (its length or a NUL) */
        i = eol + 1;
    }
    if (end <= start)
        return 0;
    /* at most TN_NOTE_DERIVED_TITLE characters; a cut line ends in … */
    size_t n = 0, chars = 0;
    while (start + n < end && chars < TN_NOTE_DERIVED_TITLE) {
        n++;
        while (start + n < end && (c[start + n] & 0xc0) == 0x80)
            n++;
        chars++;
    }
    bool cut = start + n < end;
    if (cut && !title_space(c[start + n])) {
        /* not at a word's end: end at a space when there is one in the second half */
        size_t sp = n;
        while (sp > n / 2 && !title_space(c[start + sp - 1]))
            sp--;
        if (sp > n / 2)
            n = sp - 1;
        while (n > 0 && title_space(c[start + n - 1]))
            n--;
    }
    size_t need = n + (cut ? sizeof ellipsis - 1 : 0);
    if (need >= cap) { /* a small buffer: as much of the line as fits, no … */
        cut = false;
        if (n > cap - 1) {
            n = cap - 1;
            while (n > 0 && (c[start + n] & 0xc0) == 0x80)
                n--;
        }
        need = n;
    }
    memcpy(out, c + start, n);
    if (cut)
        memcpy(out + n, ellipsis, sizeof ellipsis - 1);
    out[need] = '\0';
    return need;
}

void tn_note_deinit(struct tn_note *n)
{
    if (!n)
        return;
    free(n->content);
    n->content = NULL;
}

enum tn_err tn_store_note_insert(struct tn_store *s, const struct tn_owner *o, struct tn_note *n)
{
    if (!s || !owner_ok(o) || !n || !n->content || !TERMINATED(n, title) || !TERMINATED(n, tags) ||
        !TERMINATED(n, visibility))
        return TN_ERR_BAD_INPUT;
    struct tn_note copy;
    memset(&copy, 0, sizeof copy);
    memcpy(copy.title, n->title, sizeof copy.title);
    copy.content = n->content;
    /* No tags and no visibility mean none and private: the default never shares. */
    snprintf(copy.tags, sizeof copy.tags, "%s", n->tags[0] ? n->tags : "[]");
    snprintf(copy.visibility, sizeof copy.visibility, "%s",
             n->visibility[0] ? n->visibility : "private");
    if (!title_ok(copy.title) || !content_ok(copy.content) || !tags_ok(copy.tags) ||
        !visibility_ok(copy.visibility, o))
        return TN_ERR_BAD_INPUT;

    /* The id starts with the creation time, then 80 random bits (unguessable still).
     * With random ids each note of a commit group dirtied its own page of the id index
     * (a WAL frame, two writes, per note); ids of the same moment sit side by side. The
     * time says nothing the note's createdAt does not. */
    copy.version = 1;
    copy.created_at = copy.updated_at = tn_time_now_ms();
    uint8_t raw[NOTE_ID_BYTES];
    uint64_t t = (uint64_t)copy.created_at;
    for (int i = NOTE_ID_TIME - 1; i >= 0; i--, t >>= 8)
        raw[i] = (uint8_t)t;
    tn_random(raw + NOTE_ID_TIME, sizeof raw - NOTE_ID_TIME);
    memcpy(copy.id, "n_", 2);
    tn_b64url_encode(copy.id + 2, sizeof copy.id - 2, raw, sizeof raw);
    snprintf(copy.owner, sizeof copy.owner, "%s", o->user);
    snprintf(copy.org, sizeof copy.org, "%s", o->org);

    enum tn_err e = s->ops->note_insert(s, o, &copy);
    if (e != TN_OK)
        return e;
    /* Everything but the caller's content pointer, which stays theirs. */
    copy.content = n->content;
    *n = copy;
    return TN_OK;
}

enum tn_err tn_store_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                              struct tn_note *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !owner_ok(o) || !id || !out)
        return TN_ERR_BAD_INPUT;
    if (!note_id_ok(id))
        return TN_ERR_NOT_FOUND;
    return s->ops->note_get(s, o, id, out);
}

enum tn_err tn_store_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                                 int64_t expected_version, const char *title, const char *content,
                                 const char *tags, const char *visibility, struct tn_note *out)
{
    struct tn_note scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    if (!s || !owner_ok(o) || !id || expected_version < 1)
        return TN_ERR_BAD_INPUT;
    if (!title && !content && !tags && !visibility)
        return TN_ERR_BAD_INPUT; /* nothing to change */
    if (tags && tags[0] == '\0')
        tags = "[]";
    if ((title && !title_ok(title)) || (content && !content_ok(content)) ||
        (tags && !tags_ok(tags)) || (visibility && !visibility_ok(visibility, o)))
        return TN_ERR_BAD_INPUT;
    if (!note_id_ok(id))
        return TN_ERR_NOT_FOUND;
    enum tn_err e = s->ops->note_update(s, o, id, expected_version, title, content, tags,
                                        visibility, tn_time_now_ms(), out);
    if (out == &scratch)
        tn_note_deinit(&scratch);
    return e;
}

enum tn_err tn_store_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                                 int64_t expected_version)
{
    if (!s || !owner_ok(o) || !id || expected_version < 0)
        return TN_ERR_BAD_INPUT;
    if (!note_id_ok(id))
        return TN_ERR_NOT_FOUND;
    return s->ops->note_delete(s, o, id, expected_version);
}

/* Checks a page and hands the backend one where the first page continues after
 * (INT64_MAX, ""): every page is then the same range query. */
static enum tn_err page_norm(const struct tn_note_page *p, struct tn_note_page *out)
{
    memset(out, 0, sizeof *out);
    if (!p || p->limit < 1 || p->limit > PAGE_MAX)
        return TN_ERR_BAD_INPUT;
    if (p->tag && !tag_ok(p->tag, strnlen(p->tag, TN_NOTE_MAX_TAG * 4 + 1)))
        return TN_ERR_BAD_INPUT;
    *out = *p;
    if (!p->after_id || p->after_id[0] == '\0') {
        out->after_updated = INT64_MAX;
        out->after_id = "";
    } else if (!note_id_ok(p->after_id)) {
        return TN_ERR_BAD_INPUT; /* not a cursor this store handed out */
    }
    return TN_OK;
}

enum tn_err tn_store_note_list(struct tn_store *s, const struct tn_owner *o,
                               const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct tn_note_page page;
    if (!s || !owner_ok(o) || !cb || page_norm(p, &page) != TN_OK)
        return TN_ERR_BAD_INPUT;
    return s->ops->note_list(s, o, &page, cb, ud);
}

enum tn_err tn_store_note_list_team(struct tn_store *s, const struct tn_owner *o,
                                    const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct tn_note_page page;
    if (!s || !owner_ok(o) || !cb || page_norm(p, &page) != TN_OK)
        return TN_ERR_BAD_INPUT;
    if (o->org[0] == '\0')
        return TN_OK; /* no organization, no team */
    return s->ops->note_list_team(s, o, &page, cb, ud);
}

enum { IMPORT_MAX = 100000 };

enum tn_err tn_store_note_import(struct tn_store *s, const struct tn_note_import *v, size_t n,
                                 size_t *added, size_t *bad)
{
    static const uint8_t key[] = "teamnotes import v1";
    struct tn_note *notes = NULL;
    enum tn_err e = TN_ERR_BAD_INPUT;
    size_t scratch_added, scratch_bad;
    if (!added)
        added = &scratch_added;
    if (!bad)
        bad = &scratch_bad;
    *added = 0;
    *bad = 0;
    if (!s || !v || n < 1 || n > IMPORT_MAX)
        return TN_ERR_BAD_INPUT;
    if (!(notes = calloc(n, sizeof *notes)))
        return TN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct tn_note_import *in = &v[i];
        struct tn_note *out = &notes[i];
        size_t cps;
        *bad = i;
        if (!owner_ok(&in->owner) || !in->source_id || !in->content || !content_ok(in->content) ||
            in->created_at < 0 || in->created_at >= ((int64_t)1 << 48))
            goto done;
        size_t sl = strnlen(in->source_id, 257);
        if (sl < 1 || sl > 256 || !utf8_valid(in->source_id, sl, &cps))
            goto done;
        /* owner, org and source id, each with its length: no two triples share a message */
        size_t ul = strlen(in->owner.user), ol = strlen(in->owner.org);
        uint8_t msg[8 + FIELD_SIZE(struct tn_note, owner) + FIELD_SIZE(struct tn_note, org) + 257];
        size_t m = 0;
        msg[m++] = (uint8_t)(ul >> 8), msg[m++] = (uint8_t)ul;
        memcpy(msg + m, in->owner.user, ul), m += ul;
        msg[m++] = (uint8_t)(ol >> 8), msg[m++] = (uint8_t)ol;
        memcpy(msg + m, in->owner.org, ol), m += ol;
        msg[m++] = (uint8_t)(sl >> 8), msg[m++] = (uint8_t)sl;
        memcpy(msg + m, in->source_id, sl), m += sl;
        uint8_t mac[32], raw[NOTE_ID_BYTES];
        tn_hmac_sha256(mac, key, sizeof key - 1, msg, m);
        uint64_t t = (uint64_t)in->created_at;
        for (int b = NOTE_ID_TIME - 1; b >= 0; b--, t >>= 8)
            raw[b] = (uint8_t)t;
        memcpy(raw + NOTE_ID_TIME, mac, sizeof raw - NOTE_ID_TIME);
        memcpy(out->id, "n_", 2);
        tn_b64url_encode(out->id + 2, sizeof out->id - 2, raw, sizeof raw);
        snprintf(out->owner, sizeof out->owner, "%s", in->owner.user);
        snprintf(out->org, sizeof out->org, "%s", in->owner.org);
        out->content = (char *)in->content; /* borrowed */
        memcpy(out->tags, "[]", 3);
        memcpy(out->visibility, "private", 8);
        out->version = 1;
        out->created_at = out->updated_at = in->created_at;
    }
    *bad = 0;
    e = s->ops->note_import(s, notes, n, added);
    if (e != TN_OK)
        *added = 0;
done:
    free(notes);
    return e;
}

/* Valid UTF-8 of at most TN_STORE_QUERY_MAX_BYTES bytes and TN_STORE_QUERY_MAX_WORDS
 * words, at least one of them searchable. */
static bool query_ok(const char *q)
{
    size_t n = strnlen(q, TN_STORE_QUERY_MAX_BYTES + 1), cps;
    if (n > TN_STORE_QUERY_MAX_BYTES || !utf8_valid(q, n, &cps))
        return false;
    size_t words = 0, searchable = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && tn_store_query_space(q[i]))
            i++;
        size_t start = i;
        while (i < n && !tn_store_query_space(q[i]))
            i++;
        if (i > start) {
            words++;
            searchable += tn_store_word_searchable(q + start, i - start);
        }
    }
    return searchable > 0 && words <= TN_STORE_QUERY_MAX_WORDS;
}

enum tn_err tn_store_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                                 unsigned limit, tn_store_note_cb cb, void *ud)
{
    if (!s || !owner_ok(o) || !query || !cb || limit < 1 || limit > PAGE_MAX || !query_ok(query))
        return TN_ERR_BAD_INPUT;
    return s->ops->note_search(s, o, query, limit, cb, ud);
}

/* ---------- audit ---------- */

static bool outcome_ok(const char *v)
{
    static const char *const outcomes[] = {"ok",       "denied",  "not_found",
                                           "conflict", "invalid", "error"};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        if (strcmp(v, outcomes[i]) == 0)
            return true;
    return false;
}

/* Audit records are queued and written in batches, one transaction each, by a thread of
 * the store: a read then costs no write of its own, and hundreds of records share one
 * commit. A record reaches the database within AUDIT_DELAY_MS of being queued (or when
 * AUDIT_BATCH are waiting), before tn_store_audit_list reads, and before the store
 * closes. When the database fails, the batch is retried; callers wait for room while
 * the queue is full, and give up after AUDIT_WAIT_MS with TN_ERR_BUSY.
 *
 * Batches of AUDIT_BUSY or more (a busy server) commit without waiting for the disk,
 * except one at least every AUDIT_SYNC_MS; a smaller batch (a quiet server), one someone waits
 * for, and the last one at close are synced. A process crash thus loses at most the
 * queue (AUDIT_DELAY_MS of records), a power loss at most about AUDIT_SYNC_MS more;
 * notes are never written this way. The fsync per batch cost requests far more than the
 * batch itself (docs/PERFORMANCE.md). */
enum {
    AUDIT_CAP = 512, /* records queued at most (two buffers of this many) */
    /* this many waiting start a write at once. Each audit commit changes the WAL, and
     * every reader connection then drops its page cache at its next read and reads the
     * pages again: after the store has grown (a burst of saves), that cost more than the
     * batch. 384 instead of 128 (docs/PERFORMANCE.md, item 17). */
    AUDIT_BATCH = 384,
    AUDIT_BUSY = 128,    /* a batch this big is a busy server's: committed unsynced */
    AUDIT_DELAY_MS = 50, /* otherwise the first waits at most this long */
    AUDIT_WAIT_MS = 2000,
    AUDIT_SYNC_MS = 1000, /* a synced batch at least this often */
};

struct tn_audit_queue {
    struct tn_store *store;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* records queued, a flush asked for, or stop */
    pthread_cond_t moved; /* a batch written (or given up): room, and flushes may be done */
    struct tn_audit *pend, *spare;
    size_t n;
    uint64_t queued, written; /* records ever queued; records ever written or given up */
    uint64_t want;            /* a flush waits for `written` to reach this */
    bool stop;
    pthread_t thread;
};

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Makes the unsynced audit batches durable (the queue's mutex is held on entry and on
 * return, not during the sync). */
static void flush_unsynced(struct tn_audit_queue *q, bool *unsynced, uint64_t *synced_ns)
{
    pthread_mutex_unlock(&q->mu);
    if (q->store->ops->audit_sync(q->store) == TN_OK) {
        *unsynced = false;
        *synced_ns = tn_time_mono_ns();
    }
    pthread_mutex_lock(&q->mu);
}

static void *audit_main(void *arg)
{
    struct tn_audit_queue *q = arg;
    unsigned retry_ms = 100;
    uint64_t synced_ns = 0;
    bool unsynced = false; /* a batch committed without sync, not flushed since */
    /* background work: when the CPU is short, requests go first (Linux: per thread) */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->n == 0 && !q->stop) {
            if (!unsynced || !q->store->ops->audit_sync) {
                pthread_cond_wait(&q->work, &q->mu);
                continue;
            }
            /* quiet after a busy spell: flush the unsynced batches within AUDIT_SYNC_MS */
            struct timespec until;
            deadline_in(&until, AUDIT_SYNC_MS);
            if (pthread_cond_timedwait(&q->work, &q->mu, &until) == ETIMEDOUT && q->n == 0)
                flush_unsynced(q, &unsynced, &synced_ns);
        }
        if (q->n == 0 && q->stop) {
            if (unsynced && q->store->ops->audit_sync) /* closing: nothing left unsynced */
                flush_unsynced(q, &unsynced, &synced_ns);
            break;
        }
        /* let a batch gather, unless it is big already or someone waits for it */
        struct timespec until;
        deadline_in(&until, AUDIT_DELAY_MS);
        while (q->n < AUDIT_BATCH && !q->stop && q->want <= q->written &&
               pthread_cond_timedwait(&q->work, &q->mu, &until) != ETIMEDOUT)
            ;
        struct tn_audit *batch = q->pend;
        size_t n = q->n;
        uint64_t now = tn_time_mono_ns();
        bool sync = n < AUDIT_BUSY || q->stop || q->want > q->written ||
                    now - synced_ns >= (uint64_t)AUDIT_SYNC_MS * 1000000u;
        q->pend = q->spare;
        q->spare = NULL;
        q->n = 0;
        pthread_mutex_unlock(&q->mu);
        enum tn_err e = q->store->ops->audit_insert(q->store, batch, n, sync);
        for (int attempt = 0; e != TN_OK && attempt < 5; attempt++) {
            tn_log(TN_LOG_WARN, "store: audit records not written yet; retrying", "error",
                   tn_err_message(e), NULL);
            struct timespec ts = {.tv_sec = retry_ms / 1000,
                                  .tv_nsec = (retry_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            retry_ms = retry_ms < 3200 ? retry_ms * 2 : retry_ms;
            sync = true;
            e = q->store->ops->audit_insert(q->store, batch, n, true);
        }
        if (e == TN_OK) {
            retry_ms = 100;
            if (sync)
                synced_ns = now, unsynced = false;
            else
                unsynced = true;
        } else {
            char count[24];
            snprintf(count, sizeof count, "%zu", n);
            tn_log(TN_LOG_ERROR, "store: audit records lost: the database refused them", "records",
                   count, "error", tn_err_message(e), NULL);
        }
        pthread_mutex_lock(&q->mu);
        q->spare = batch;
        q->written += n;
        pthread_cond_broadcast(&q->moved);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static struct tn_audit_queue *audit_queue_new(struct tn_store *s)
{
    struct tn_audit_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->store = s;
    q->pend = malloc(AUDIT_CAP * sizeof *q->pend);
    q->spare = malloc(AUDIT_CAP * sizeof *q->spare);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->moved, NULL);
    if (!q->pend || !q->spare || pthread_create(&q->thread, NULL, audit_main, q) != 0) {
        pthread_cond_destroy(&q->moved);
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->mu);
        free(q->pend);
        free(q->spare);
        free(q);
        return NULL;
    }
    return q;
}

static void audit_queue_free(struct tn_audit_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->moved);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    free(q->pend);
    free(q->spare);
    free(q);
}

enum tn_err tn_store_audit_insert(struct tn_store *s, const struct tn_audit *a)
{
    if (!s || !a || a->at <= 0 || !NONEMPTY(a, user) || !TERMINATED(a, org) ||
        !TERMINATED(a, client_id) || !NONEMPTY(a, tool) || !TERMINATED(a, note_id) ||
        !TERMINATED(a, outcome) || !outcome_ok(a->outcome))
        return TN_ERR_BAD_INPUT;
    struct tn_audit_queue *q = s->audit;
    if (!q)
        return s->ops->audit_insert(s, a, 1, true);
    struct timespec until;
    deadline_in(&until, AUDIT_WAIT_MS);
    pthread_mutex_lock(&q->mu);
    while ((q->n == AUDIT_CAP || !q->pend) && !q->stop)
        if (pthread_cond_timedwait(&q->moved, &q->mu, &until) == ETIMEDOUT)
            break;
    enum tn_err e = TN_ERR_BUSY;
    if (q->n < AUDIT_CAP && q->pend && !q->stop) {
        q->pend[q->n++] = *a;
        q->queued++;
        if (q->n == 1 || q->n == AUDIT_BATCH)
            pthread_cond_signal(&q->work);
        e = TN_OK;
    }
    pthread_mutex_unlock(&q->mu);
    if (e != TN_OK)
        tn_log(TN_LOG_ERROR, "store: audit record dropped: the queue stayed full", "tool", a->tool,
               NULL);
    return e;
}

enum tn_err tn_store_audit_flush(struct tn_store *s)
{
    if (!s)
        return TN_ERR_BAD_INPUT;
    struct tn_audit_queue *q = s->audit;
    if (!q)
        return TN_OK;
    struct timespec until;
    deadline_in(&until, 30000);
    enum tn_err e = TN_OK;
    pthread_mutex_lock(&q->mu);
    uint64_t target = q->queued;
    if (q->want < target)
        q->want = target;
    pthread_cond_signal(&q->work);
    while (q->written < target)
        if (pthread_cond_timedwait(&q->moved, &q->mu, &until) == ETIMEDOUT) {
            e = TN_ERR_BUSY;
            break;
        }
    pthread_mutex_unlock(&q->mu);
    return e;
}

enum tn_err tn_store_watch_notes(struct tn_store *s, void (*fn)(const char *owner, void *ud),
                                 void *ud)
{
    if (!s || !fn)
        return TN_ERR_BAD_INPUT;
    return s->ops->watch_notes ? s->ops->watch_notes(s, fn, ud) : TN_ERR_CONFIG;
}

enum tn_err tn_store_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud)
{
    if (!s || !cb || limit < 1 || limit > AUDIT_MAX)
        return TN_ERR_BAD_INPUT;
    enum tn_err e = tn_store_audit_flush(s);
    return e == TN_OK ? s->ops->audit_list(s, limit, cb, ud) : e;
}
