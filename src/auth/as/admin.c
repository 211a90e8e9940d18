/* The admin console (#19): /admin and its pages, for members whose role has the
 * teamnotes:admin permission. Request handling only: the actions are admin_ops.c (the
 * command line calls the same), the templates admin_pages.c.
 *
 * Every request is checked here, on the server, whatever the page showed:
 *   no browser session          GET: 303 to /signin?next=PATH; POST: 401 page
 *   not an enabled admin        403 "You need the admin permission" (a POST is audited)
 *   POST                        Origin must be this issuer's origin and the CSRF token
 *                               must match the browser's cookie: else 403, nothing done
 * A POST answers 303 back to its page with a fixed notice code (?ok= or ?err=), so a
 * reload does not repeat it and no text of the request is reflected. */
#include "auth/as/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "auth/as/admin_ops.h"
#include "auth/as/admin_pages.h"
#include "auth/as/users.h"
#include "core/log.h"

#define AUDIT_PAGE_LIMIT 200
#define CSV_LIMIT TN_AUDIT_QUERY_MAX

/* The notices a POST can leave, by code: only these texts are ever shown. */
static const struct {
    const char *code, *text;
    bool error;
} notices[] = {
    {"role", "The role was changed. Permissions it lacks stop working within seconds.", false},
    {"disabled", "The member was disabled: their sessions and tokens stop within seconds.", false},
    {"enabled", "The member was enabled.", false},
    {"revoked", "The app was revoked: its tokens stop working within seconds.", false},
    {"rotated", "A new signing key is published and takes over after the lead time.", false},
    {"last_admin", "That would leave no enabled administrator.", true},
    {"not_found", "No such member or app (it may have been removed meanwhile).", true},
    {"invalid", "The form was not filled in correctly.", true},
    {"error", "The change could not be saved. Try again.", true},
};

static void notice_of(const struct tn_as_req *req, struct tn_admin_page *p)
{
    const char *ok = req->query(req->ud, "ok"), *err = req->query(req->ud, "err");
    const char *code = ok ? ok : err;
    for (size_t i = 0; code && i < sizeof notices / sizeof notices[0]; i++)
        if (!strcmp(code, notices[i].code) && notices[i].error == (err != NULL)) {
            p->notice = notices[i].text;
            p->notice_error = notices[i].error;
        }
}

static const char *err_code(enum tn_err e)
{
    switch (e) {
    case TN_ERR_CONFLICT:
        return "last_admin";
    case TN_ERR_NOT_FOUND:
        return "not_found";
    case TN_ERR_BAD_INPUT:
        return "invalid";
    default:
        return "error";
    }
}

static void see_other(struct tn_as_resp *r, const char *location)
{
    r->status = 303;
    r->content_type = "text/plain; charset=utf-8";
    tn_buf_reset(&r->body);
    tn_as_resp_header(r, "Location", "%s", location);
    tn_as_resp_header(r, "Cache-Control", "no-store");
}

static bool is_admin(const struct tn_user *u)
{
    const char *perms = tn_role_permissions(u->role);
    return !u->disabled && perms && tn_as_list_has_word(perms, "teamnotes:admin");
}

/* scheme://host[:port] of the issuer, the only origin a console form may come from. */
static bool same_origin(struct tn_as *as, const char *origin)
{
    if (!origin)
        return false;
    const char *host = strstr(as->issuer, "://");
    if (!host)
        return false;
    size_t n = (size_t)(host + 3 - as->issuer) + strcspn(host + 3, "/");
    return strlen(origin) == n && strncasecmp(origin, as->issuer, n) == 0;
}

struct ctx {
    struct tn_as *as;
    const struct tn_as_req *req;
    struct tn_as_resp *r;
    struct tn_user me;
    char key[640]; /* the audit user key: issuer|id, as the admin's tokens carry */
    struct tn_admin_actor actor;
    struct tn_admin_page page;
    char csrf[64];
};

static void render(struct ctx *c, enum tn_err rendered)
{
    c->r->status = 200;
    tn_as_page_headers(c->as, c->r, false, rendered);
}

/* ---------- members ---------- */

struct users {
    struct tn_user *v;
    size_t n, cap;
};

static void add_user(const struct tn_user *u, void *ud)
{
    struct users *l = ud;
    if (l->n < l->cap)
        l->v[l->n++] = *u;
}

static void members_page(struct ctx *c)
{
    const char *q = c->req->query(c->req->ud, "q");
    const char *pg = c->req->query(c->req->ud, "page");
    long page = pg ? strtol(pg, NULL, 10) : 0;
    if (page < 0 || page > 100000)
        page = 0;
    if (q && strlen(q) > TN_USER_QUERY_MAX)
        q = NULL;
    struct users l = {.v = calloc(TN_ADMIN_PAGE_SIZE, sizeof(struct tn_user)),
                      .cap = TN_ADMIN_PAGE_SIZE};
    int64_t total = 0;
    enum tn_err e = l.v ? tn_admin_members(c->as->cfg.store, q, (unsigned)page, TN_ADMIN_PAGE_SIZE,
                                           add_user, &l, &total)
                        : TN_ERR_NOMEM;
    c->page.section = "members";
    tn_buf_reset(&c->r->body);
    if (e == TN_OK)
        e = tn_admin_page_members(&c->r->body, &c->page, q, l.v, l.n, total, (unsigned)page,
                                  TN_ADMIN_PAGE_SIZE);
    render(c, e);
    free(l.v);
}

static void members_post(struct ctx *c, struct tn_form *f, bool role)
{
    const char *who = tn_form_get(f, "user");
    enum tn_err e;
    const char *ok;
    if (role) {
        e = tn_admin_set_role(c->as->cfg.store, &c->actor, who, tn_form_get(f, "role"), NULL);
        ok = "role";
    } else {
        const char *d = tn_form_get(f, "disabled");
        bool disable = d && !strcmp(d, "1");
        e = d && (disable || !strcmp(d, "0"))
                ? tn_admin_set_disabled(c->as->cfg.store, &c->actor, who, disable, NULL)
                : TN_ERR_BAD_INPUT;
        ok = disable ? "disabled" : "enabled";
    }
    /* this instance's account cache sees the change at once (others within its age) */
    if (e == TN_OK && who && c->as->cfg.account_changed)
        c->as->cfg.account_changed(c->as->cfg.account_changed_ud, who);
    char loc[64];
    snprintf(loc, sizeof loc, "/admin/members?%s=%s", e == TN_OK ? "ok" : "err",
             e == TN_OK ? ok : err_code(e));
    see_other(c->r, loc);
}

/* ---------- apps ---------- */

struct apps {
    struct tn_admin_app *v;
    size_t n, cap;
};

static void add_app(const struct tn_admin_app *a, void *ud)
{
    struct apps *l = ud;
    if (l->n < l->cap)
        l->v[l->n++] = *a;
}

struct grants {
    struct tn_client_grant v[200];
    size_t n;
};

static void add_grant(const struct tn_client_grant *g, void *ud)
{
    struct grants *l = ud;
    if (l->n < sizeof l->v / sizeof l->v[0])
        l->v[l->n++] = *g;
}

static void apps_page(struct ctx *c)
{
    struct apps l = {.v = calloc(500, sizeof(struct tn_admin_app)), .cap = 500};
    struct grants *g = calloc(1, sizeof *g);
    const char *focus = c->req->query(c->req->ud, "client");
    if (focus && (!focus[0] || strlen(focus) >= sizeof l.v[0].client.id))
        focus = NULL;
    enum tn_err e = l.v && g ? tn_admin_apps(c->as->cfg.store, now_s(), add_app, &l) : TN_ERR_NOMEM;
    if (e == TN_OK && focus)
        e = tn_store_client_grants(c->as->cfg.store, focus, now_s(), add_grant, g);
    c->page.section = "apps";
    tn_buf_reset(&c->r->body);
    if (e == TN_OK)
        e = tn_admin_page_apps(&c->r->body, &c->page, l.v, l.n, focus, g->v, g->n);
    render(c, e);
    free(l.v);
    free(g);
}

static void apps_post(struct ctx *c, struct tn_form *f)
{
    enum tn_err e = tn_admin_app_revoke(c->as->cfg.store, &c->actor, tn_form_get(f, "client"));
    see_other(c->r, e == TN_OK              ? "/admin/apps?ok=revoked"
                    : e == TN_ERR_NOT_FOUND ? "/admin/apps?err=not_found"
                                            : "/admin/apps?err=error");
}

/* ---------- audit ---------- */

struct records {
    struct tn_audit *v;
    size_t n, cap;
    struct tn_buf *csv; /* the CSV export writes rows here instead */
    enum tn_err err;
};

static void add_record(const struct tn_audit *a, void *ud)
{
    struct records *l = ud;
    if (l->csv) {
        if (l->err == TN_OK)
            l->err = tn_admin_csv_row(l->csv, a);
    } else if (l->n < l->cap) {
        l->v[l->n++] = *a;
    }
}

/* The filters of the request; false when a time does not parse. */
static bool audit_filters(struct ctx *c, struct tn_admin_audit_form *f,
                          struct tn_admin_audit_query *q, unsigned limit)
{
    const struct tn_as_req *req = c->req;
    f->person = req->query(req->ud, "person");
    f->tool = req->query(req->ud, "tool");
    f->outcome = req->query(req->ud, "outcome");
    f->since = req->query(req->ud, "since");
    f->until = req->query(req->ud, "until");
    memset(q, 0, sizeof *q);
    q->person = f->person;
    q->tool = f->tool;
    q->outcome = f->outcome;
    q->limit = limit;
    return (!f->since || !f->since[0] || tn_admin_parse_time(f->since, &q->since_ms) == TN_OK) &&
           (!f->until || !f->until[0] || tn_admin_parse_time(f->until, &q->until_ms) == TN_OK);
}

static void audit_page(struct ctx *c)
{
    struct tn_admin_audit_form f;
    struct tn_admin_audit_query q;
    struct records l = {.v = calloc(AUDIT_PAGE_LIMIT, sizeof(struct tn_audit)),
                        .cap = AUDIT_PAGE_LIMIT};
    enum tn_err e = l.v ? TN_OK : TN_ERR_NOMEM;
    if (!audit_filters(c, &f, &q, AUDIT_PAGE_LIMIT)) {
        c->page.notice = "A time is not a date like 2026-12-06 or 2026-12-06T17:30 (UTC).";
        c->page.notice_error = true;
    } else if (e == TN_OK) {
        e = tn_admin_audit(c->as->cfg.store, &q, add_record, &l);
        if (e == TN_ERR_BAD_INPUT) { /* a filter longer than its field: nothing matches */
            e = TN_OK;
            l.n = 0;
        }
    }
    c->page.section = "audit";
    tn_buf_reset(&c->r->body);
    if (e == TN_OK)
        e = tn_admin_page_audit(&c->r->body, &c->page, &f, l.v, l.n, AUDIT_PAGE_LIMIT);
    render(c, e);
    free(l.v);
}

static void audit_csv(struct ctx *c)
{
    struct tn_admin_audit_form f;
    struct tn_admin_audit_query q;
    struct tn_as_resp *r = c->r;
    tn_buf_reset(&r->body);
    if (!audit_filters(c, &f, &q, CSV_LIMIT)) {
        tn_as_message_page(c->as, r, 400, "Invalid filter",
                           "A time is not a date like 2026-12-06 or 2026-12-06T17:30 (UTC).");
        return;
    }
    struct records l = {.csv = &r->body};
    l.err = tn_admin_csv_header(&r->body);
    enum tn_err e = l.err == TN_OK ? tn_admin_audit(c->as->cfg.store, &q, add_record, &l) : l.err;
    if (e == TN_ERR_BAD_INPUT)
        e = TN_OK; /* a filter longer than its field: the header alone */
    if (e == TN_OK)
        e = l.err;
    if (e != TN_OK) {
        tn_as_message_page(c->as, r, 500, "Export failed", "The records could not be read.");
        return;
    }
    r->status = 200;
    r->content_type = "text/csv; charset=utf-8";
    tn_as_resp_header(r, "Content-Disposition", "attachment; filename=\"teamnotes-audit.csv\"");
    tn_as_resp_header(r, "Cache-Control", "no-store");
    tn_as_resp_header(r, "X-Content-Type-Options", "nosniff");
    tn_as_resp_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
}

/* ---------- keys ---------- */

struct keys {
    struct tn_admin_key v[16];
    size_t n;
};

static void add_key(const struct tn_admin_key *k, void *ud)
{
    struct keys *l = ud;
    if (l->n < 16)
        l->v[l->n++] = *k;
}

static void keys_page(struct ctx *c)
{
    struct keys *l = calloc(1, sizeof *l);
    enum tn_err e =
        l ? tn_admin_keys(c->as->cfg.store, now_s(), c->as->cfg.access_ttl_s, add_key, l)
          : TN_ERR_NOMEM;
    c->page.section = "keys";
    tn_buf_reset(&c->r->body);
    if (e == TN_OK)
        e = tn_admin_page_keys(&c->r->body, &c->page, l->v, l->n);
    render(c, e);
    free(l);
}

static void keys_post(struct ctx *c)
{
    struct tn_as_rotation rot;
    enum tn_err e = c->as->cfg.keys ? tn_admin_keys_rotate(c->as->cfg.keys, c->as->cfg.store,
                                                           &c->actor, now_s(), &rot)
                                    : TN_ERR_CONFIG;
    see_other(c->r, e == TN_OK ? "/admin/keys?ok=rotated" : "/admin/keys?err=error");
}

/* ---------- the checks every request passes ---------- */

static void refuse_post(struct ctx *c, const char *why)
{
    /* recorded like any refused action, with who tried */
    struct tn_audit a;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    tn_strlcpy(a.user, c->key, sizeof a.user);
    tn_strlcpy(a.org, c->me.org_id, sizeof a.org);
    tn_strlcpy(a.client_id, "admin-page", sizeof a.client_id);
    tn_strlcpy(a.tool, "admin.request", sizeof a.tool);
    tn_strlcpy(a.outcome, "denied", sizeof a.outcome);
    snprintf(a.detail, sizeof a.detail, "%s %s", why, c->req->path);
    tn_store_audit_insert(c->as->cfg.store, &a);
    tn_log(TN_LOG_WARN, "admin console: request refused", "id", c->req->request_id, "user",
           c->me.id, "why", why, NULL);
}

void tn_as_handle_admin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct ctx *c = calloc(1, sizeof *c);
    if (!c) {
        tn_as_message_page(as, r, 500, "Error", "Out of memory.");
        return;
    }
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    bool post = !strcmp(req->method, "POST");
    struct tn_form f;
    bool have_form = false;
    c->as = as;
    c->req = req;
    c->r = r;
    if (!get && !post) {
        tn_as_message_page(as, r, 405, "Method not allowed",
                           "Use the links and forms of the page.");
        tn_as_resp_header(r, "Allow", "GET, HEAD, POST");
        goto done;
    }
    if (!tn_as_session_user(as, req, &c->me)) {
        if (post) {
            tn_as_message_page(as, r, 401, "Signed out",
                               "Your session ended. Sign in again and repeat the change.");
        } else {
            char loc[600];
            snprintf(loc, sizeof loc, "/signin?next=%s", p);
            see_other(r, loc);
        }
        goto done;
    }
    snprintf(c->key, sizeof c->key, "%s|%s", as->issuer, c->me.id);
    c->actor = (struct tn_admin_actor){.user = c->key, .org = c->me.org_id, .via = "admin-page"};
    if (!is_admin(&c->me)) {
        if (post)
            refuse_post(c, "not an administrator:");
        tn_as_message_page(as, r, 403, "Not allowed",
                           "You need the admin permission (teamnotes:admin) to use this page.");
        goto done;
    }
    if (post) {
        if (!same_origin(as, req->header(req->ud, "Origin"))) {
            refuse_post(c, "cross-site form:");
            tn_as_message_page(as, r, 403, "Request refused",
                               "This form was not sent from this server's own page.");
            goto done;
        }
        if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
            tn_as_message_page(as, r, 400, "Invalid request", "The form was not sent correctly.");
            goto done;
        }
        have_form = true;
        if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
            refuse_post(c, "bad CSRF token:");
            tn_as_message_page(as, r, 403, "Session expired",
                               "This form is no longer valid (missing or wrong security token). "
                               "Reload the page and try again.");
            goto done;
        }
        if (!strcmp(p, "/admin/members/role"))
            members_post(c, &f, true);
        else if (!strcmp(p, "/admin/members/status"))
            members_post(c, &f, false);
        else if (!strcmp(p, "/admin/apps/revoke"))
            apps_post(c, &f);
        else if (!strcmp(p, "/admin/keys/rotate"))
            keys_post(c);
        else
            tn_as_message_page(as, r, 405, "Method not allowed", "This page takes no form.");
        goto done;
    }
    tn_as_csrf_prepare(as, req, r, c->csrf);
    c->page = (struct tn_admin_page){.csrf = c->csrf, .me = c->me.email, .now = now_s()};
    notice_of(req, &c->page);
    if (!strcmp(p, "/admin") || !strcmp(p, "/admin/members"))
        members_page(c);
    else if (!strcmp(p, "/admin/apps"))
        apps_page(c);
    else if (!strcmp(p, "/admin/audit"))
        audit_page(c);
    else if (!strcmp(p, "/admin/audit.csv"))
        audit_csv(c);
    else if (!strcmp(p, "/admin/keys"))
        keys_page(c);
    else
        tn_as_message_page(as, r, 405, "Method not allowed", "Send this form from its page.");
done:
    if (have_form)
        tn_form_deinit(&f);
    free(c);
}
