#include "auth/as/admin_ops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/as/users.h"
#include "core/util.h"

/* ---------- the audit record of an action ---------- */

static void audit(struct tn_store *s, const struct tn_admin_actor *a, const char *tool,
                  const char *outcome, const char *detail)
{
    struct tn_audit r;
    memset(&r, 0, sizeof r);
    r.at = tn_time_now_ms();
    tn_strlcpy(r.user, a && a->user && a->user[0] ? a->user : "unknown", sizeof r.user);
    tn_strlcpy(r.org, a && a->org ? a->org : "", sizeof r.org);
    tn_strlcpy(r.client_id, a && a->via ? a->via : "", sizeof r.client_id);
    tn_strlcpy(r.tool, tool, sizeof r.tool);
    tn_strlcpy(r.outcome, outcome, sizeof r.outcome);
    tn_strlcpy(r.detail, detail ? detail : "", sizeof r.detail);
    tn_store_audit_insert(s, &r);
}

static const char *outcome_of(enum tn_err e)
{
    switch (e) {
    case TN_OK:
        return "ok";
    case TN_ERR_NOT_FOUND:
        return "not_found";
    case TN_ERR_CONFLICT:
        return "conflict";
    case TN_ERR_BAD_INPUT:
        return "invalid";
    case TN_ERR_FORBIDDEN:
        return "denied";
    default:
        return "error";
    }
}

/* ---------- members ---------- */

enum tn_err tn_admin_members(struct tn_store *s, const char *text, unsigned page, unsigned per_page,
                             tn_store_user_cb cb, void *ud, int64_t *total)
{
    if (per_page < 1 || per_page > 500 || page > 100000)
        return TN_ERR_BAD_INPUT;
    struct tn_user_query q = {.text = text, .offset = page * per_page, .limit = per_page};
    return tn_store_user_search(s, &q, cb, ud, total);
}

enum tn_err tn_admin_member(struct tn_store *s, const char *who, struct tn_user *out)
{
    memset(out, 0, sizeof *out);
    if (!who || !who[0])
        return TN_ERR_BAD_INPUT;
    return strchr(who, '@') ? tn_store_user_by_email(s, who, out) : tn_store_user_get(s, who, out);
}

struct admins {
    int64_t enabled;
};

static void count_admin(const struct tn_user *u, void *ud)
{
    struct admins *c = ud;
    if (!u->disabled && !strcmp(u->role, "admin"))
        c->enabled++;
}

/* True when `u` is an enabled administrator and no other is. */
static enum tn_err last_admin(struct tn_store *s, const struct tn_user *u, bool *last)
{
    *last = false;
    if (u->disabled || strcmp(u->role, "admin") != 0)
        return TN_OK;
    struct admins c = {0};
    enum tn_err e = tn_store_user_list(s, count_admin, &c);
    *last = e == TN_OK && c.enabled <= 1;
    return e;
}

enum tn_err tn_admin_set_role(struct tn_store *s, const struct tn_admin_actor *a, const char *who,
                              const char *role, struct tn_user *out)
{
    struct tn_user u;
    char detail[256];
    bool last = false;
    snprintf(detail, sizeof detail, "%s: role %s", who ? who : "", role ? role : "");
    enum tn_err e = TN_ERR_BAD_INPUT;
    if (!role || !tn_role_permissions(role))
        goto done;
    if ((e = tn_admin_member(s, who, &u)) != TN_OK)
        goto done;
    snprintf(detail, sizeof detail, "%s: role %s -> %s", u.email, u.role, role);
    if (!strcmp(u.role, role))
        goto done; /* nothing to change; still recorded */
    if ((e = last_admin(s, &u, &last)) != TN_OK)
        goto done;
    if (last && strcmp(role, "admin") != 0) {
        e = TN_ERR_CONFLICT;
        goto done;
    }
    tn_strlcpy(u.role, role, sizeof u.role);
    /* the check above gives the common answer; the store's makes it hold under races */
    e = tn_store_user_update_fields(s, &u, TN_USER_ROLE | TN_USER_KEEP_ADMIN);
done:
    audit(s, a, "admin.set_role", outcome_of(e), detail);
    if (out)
        *out = e == TN_OK ? u : (struct tn_user){0};
    return e;
}

enum tn_err tn_admin_set_disabled(struct tn_store *s, const struct tn_admin_actor *a,
                                  const char *who, bool disabled, struct tn_user *out)
{
    struct tn_user u;
    char detail[256];
    bool last = false;
    const char *tool = disabled ? "admin.disable" : "admin.enable";
    snprintf(detail, sizeof detail, "%s", who ? who : "");
    enum tn_err e = tn_admin_member(s, who, &u);
    if (e != TN_OK)
        goto done;
    snprintf(detail, sizeof detail, "%s", u.email);
    if (disabled && (e = last_admin(s, &u, &last)) == TN_OK && last)
        e = TN_ERR_CONFLICT;
    if (e != TN_OK)
        goto done;
    if (disabled) /* every token issued so far; a new sign-in is refused */
        u.tokens_valid_after = tn_time_now_ms() / 1000 + 1;
    u.disabled = disabled;
    if ((e = tn_store_user_update_fields(s, &u, TN_USER_DISABLED | TN_USER_KEEP_ADMIN)) == TN_OK &&
        disabled)
        e = tn_store_user_revoke_all(s, u.id);
done:
    audit(s, a, tool, outcome_of(e), detail);
    if (out)
        *out = e == TN_OK ? u : (struct tn_user){0};
    return e;
}

/* ---------- apps ---------- */

#define MAX_USAGE 4096

struct usage {
    struct {
        char id[512];
        int64_t n;
    } * v;
    size_t n;
};

static void collect_usage(const char *client_id, int64_t people, void *ud)
{
    struct usage *u = ud;
    if (u->n < MAX_USAGE) {
        tn_strlcpy(u->v[u->n].id, client_id, sizeof u->v[0].id);
        u->v[u->n++].n = people;
    }
}

struct apps {
    struct usage *usage;
    tn_admin_app_cb cb;
    void *ud;
};

static void each_client(const struct tn_client *c, void *ud)
{
    struct apps *a = ud;
    struct tn_admin_app app;
    memset(&app, 0, sizeof app);
    app.client = *c;
    app.cimd = strncmp(c->id, "https://", 8) == 0 || strncmp(c->id, "http://", 7) == 0;
    for (size_t i = 0; i < a->usage->n; i++)
        if (!strcmp(a->usage->v[i].id, c->id))
            app.people = a->usage->v[i].n;
    a->cb(&app, a->ud);
}

enum tn_err tn_admin_apps(struct tn_store *s, int64_t now, tn_admin_app_cb cb, void *ud)
{
    struct usage u = {.v = calloc(MAX_USAGE, sizeof *u.v)};
    if (!u.v)
        return TN_ERR_NOMEM;
    enum tn_err e = tn_store_client_usage(s, now, collect_usage, &u);
    if (e == TN_OK) {
        struct apps a = {.usage = &u, .cb = cb, .ud = ud};
        e = tn_store_client_list(s, each_client, &a);
    }
    free(u.v);
    return e;
}

enum tn_err tn_admin_app_revoke(struct tn_store *s, const struct tn_admin_actor *a,
                                const char *client_id)
{
    enum tn_err e = client_id && client_id[0] ? tn_store_client_delete(s, client_id)
                                              : TN_ERR_BAD_INPUT;
    audit(s, a, "admin.revoke_app", outcome_of(e), client_id);
    return e;
}

/* ---------- audit ---------- */

enum tn_err tn_admin_audit(struct tn_store *s, const struct tn_admin_audit_query *q,
                           tn_store_audit_cb cb, void *ud)
{
    const char *user = q->person;
    struct tn_user u;
    if (user && strchr(user, '@') && !strchr(user, '|')) {
        enum tn_err e = tn_store_user_by_email(s, user, &u);
        if (e == TN_ERR_NOT_FOUND)
            return TN_OK; /* no such person: nothing they did */
        if (e != TN_OK)
            return e;
        user = u.id;
    }
    struct tn_audit_filter f = {.user = user,
                                .tool = q->tool,
                                .outcome = q->outcome,
                                .since_ms = q->since_ms,
                                .until_ms = q->until_ms,
                                .limit = q->limit};
    return tn_store_audit_query(s, &f, cb, ud);
}

/* The value of exactly k digits at s (checked by digits() first): no reading past them. */
static int num(const char *s, size_t k)
{
    int v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

enum tn_err tn_admin_parse_time(const char *s, int64_t *ms)
{
    *ms = 0;
    if (!s || !s[0])
        return TN_ERR_BAD_INPUT;
    size_t n = strlen(s);
    if (n <= 15 && digits(s, n)) {
        *ms = strtoll(s, NULL, 10);
        return TN_OK;
    }
    if (n > 0 && (s[n - 1] == 'Z' || s[n - 1] == 'z'))
        n--;
    /* YYYY-MM-DD[THH:MM[:SS]] */
    if (!(n == 10 || n == 16 || n == 19) || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2))
        return TN_ERR_BAD_INPUT;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 5, 2) - 1;
    tm.tm_mday = num(s + 8, 2);
    if (n >= 16) {
        if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2) || s[13] != ':' ||
            !digits(s + 14, 2))
            return TN_ERR_BAD_INPUT;
        tm.tm_hour = num(s + 11, 2);
        tm.tm_min = num(s + 14, 2);
    }
    if (n == 19) {
        if (s[16] != ':' || !digits(s + 17, 2))
            return TN_ERR_BAD_INPUT;
        tm.tm_sec = num(s + 17, 2);
    }
    if (tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return TN_ERR_BAD_INPUT;
    struct tm check = tm;
    time_t t = timegm(&tm);
    /* timegm normalises 2026-02-31 into March: such a date is refused */
    if (t < 0 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
        return TN_ERR_BAD_INPUT;
    *ms = (int64_t)t * 1000;
    return TN_OK;
}

enum tn_err tn_admin_csv_cell(struct tn_buf *out, const char *v)
{
    enum tn_err e = TN_OK;
    if (!v)
        v = "";
    bool formula = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' ||
                   v[0] == '\r';
    bool quote = strpbrk(v, ",\"\r\n") != NULL;
    if (quote)
        e = tn_buf_puts(out, "\"");
    if (e == TN_OK && formula)
        e = tn_buf_puts(out, "'");
    for (const char *p = v; e == TN_OK && *p; p++) {
        size_t run = strcspn(p, "\"");
        if (run && (e = tn_buf_append(out, p, run)) != TN_OK)
            break;
        p += run;
        if (!*p)
            break;
        e = tn_buf_puts(out, "\"\"");
    }
    if (e == TN_OK && quote)
        e = tn_buf_puts(out, "\"");
    return e;
}

enum tn_err tn_admin_csv_header(struct tn_buf *out)
{
    return tn_buf_puts(out, "time,user,organization,client,tool,note,outcome,detail\r\n");
}

enum tn_err tn_admin_csv_row(struct tn_buf *out, const struct tn_audit *a)
{
    char when[40];
    time_t t = (time_t)(a->at / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(a->at % 1000));
    const char *cells[] = {when,    a->user,    a->org,     a->client_id,
                           a->tool, a->note_id, a->outcome, a->detail};
    enum tn_err e = TN_OK;
    for (size_t i = 0; e == TN_OK && i < sizeof cells / sizeof cells[0]; i++) {
        if (i && (e = tn_buf_puts(out, ",")) != TN_OK)
            break;
        e = tn_admin_csv_cell(out, cells[i]);
    }
    if (e == TN_OK)
        e = tn_buf_puts(out, "\r\n");
    return e;
}

/* ---------- signing keys ---------- */

struct key_rows {
    struct tn_signing_key v[16];
    size_t n;
};

static void collect_key(const struct tn_signing_key *k, void *ud)
{
    struct key_rows *r = ud;
    if (r->n < 16) {
        r->v[r->n] = *k;
        memset(r->v[r->n].pem, 0, sizeof r->v[r->n].pem); /* sealed, but no one's business */
        r->n++;
    }
}

enum tn_err tn_admin_keys(struct tn_store *s, int64_t now, int64_t token_ttl_s, tn_admin_key_cb cb,
                          void *ud)
{
    struct key_rows *r = calloc(1, sizeof *r);
    if (!r)
        return TN_ERR_NOMEM;
    enum tn_err e = tn_store_key_list(s, collect_key, r);
    if (e == TN_OK) {
        enum tn_as_key_state st[16];
        tn_as_keys_classify(r->v, r->n, now, st);
        for (size_t i = 0; i < r->n; i++) {
            struct tn_admin_key k = {.key = r->v[i],
                                     .state = st[i],
                                     /* when keys.c deletes it */
                                     .published_until = r->v[i].retire_at + token_ttl_s + 300};
            cb(&k, ud);
        }
    }
    free(r);
    return e;
}

enum tn_err tn_admin_keys_rotate(struct tn_as_keys *k, struct tn_store *s,
                                 const struct tn_admin_actor *a, int64_t now,
                                 struct tn_as_rotation *out)
{
    enum tn_err e = tn_as_keys_rotate(k, now, out);
    char detail[256];
    snprintf(detail, sizeof detail, "%s -> %s from %lld%s", out->old_kid, out->kid,
             (long long)out->signs_from, out->created ? "" : " (already published)");
    audit(s, a, "admin.rotate_keys", outcome_of(e), e == TN_OK ? detail : "");
    return e;
}

/* ---------- organizations ---------- */

enum tn_err tn_admin_org_create(struct tn_store *s, const struct tn_admin_actor *a,
                                const char *name, struct tn_org *out)
{
    struct tn_org o;
    memset(&o, 0, sizeof o);
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n < sizeof o.name && name[0] != ' ' && name[n - 1] != ' ';
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            ok = false;
    enum tn_err e = ok ? TN_OK : TN_ERR_BAD_INPUT;
    if (e == TN_OK) {
        uint8_t b[12];
        tn_random(b, sizeof b);
        size_t k = (size_t)snprintf(o.id, sizeof o.id, "org_");
        tn_b64url_encode(o.id + k, sizeof o.id - k, b, sizeof b);
        memcpy(o.name, name, n + 1);
        o.created_at = tn_time_now_ms() / 1000;
        e = tn_store_org_insert(s, &o);
    }
    char detail[160];
    snprintf(detail, sizeof detail, "%.127s", name ? name : "");
    audit(s, a, "admin.create_org", outcome_of(e), detail);
    if (e == TN_OK && out)
        *out = o;
    return e;
}
