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
#include "auth/signin/invite.h"
#include "auth/signin/sso.h"
#include "core/log.h"

#include <jansson.h>
#include <sodium.h>

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
    {"invited", "The invitation was mailed.", false},
    {"invite_revoked", "The invitation was revoked: its link no longer works.", false},
    {"org_created", "The organization was created.", false},
    {"domain_added", "The domain was added.", false},
    {"domain_removed", "The domain was removed.", false},
    {"sso_set", "The SSO connection was saved.", false},
    {"sso_removed", "The SSO connection was removed.", false},
    {"org_exists", "An organization of that name exists.", true},
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

/* ---------- invitations (part of the members page) ---------- */

#define INVITES_MAX 200
#define ORGS_MAX 500

struct invites {
    struct tn_invitation v[INVITES_MAX];
    char org[INVITES_MAX][128];
    const char *org_ptr[INVITES_MAX];
    size_t n;
    struct tn_org orgs[ORGS_MAX];
    size_t norgs;
};

static void add_invite(const struct tn_invitation *v, void *ud)
{
    struct invites *l = ud;
    if (l->n < INVITES_MAX)
        l->v[l->n++] = *v;
}

static void add_org(const struct tn_org *o, void *ud)
{
    struct invites *l = ud;
    if (l->norgs < ORGS_MAX)
        l->orgs[l->norgs++] = *o;
}

static enum tn_err invites_of(struct ctx *c, struct invites *l, struct tn_admin_invites *out)
{
    enum tn_err e = tn_store_invitation_list(c->as->cfg.store, now_s(), add_invite, l);
    if (e == TN_OK)
        e = tn_store_org_list(c->as->cfg.store, add_org, l);
    for (size_t i = 0; e == TN_OK && i < l->n; i++) {
        l->org_ptr[i] = l->org[i];
        for (size_t k = 0; k < l->norgs; k++)
            if (!strcmp(l->orgs[k].id, l->v[i].org_id))
                tn_strlcpy(l->org[i], l->orgs[k].name, sizeof l->org[i]);
    }
    *out = (struct tn_admin_invites){
        .v = l->v, .v_org = l->org_ptr, .n = l->n, .orgs = l->orgs, .norgs = l->norgs};
    return e;
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
    struct invites *il = calloc(1, sizeof *il);
    struct tn_admin_invites inv;
    if (e == TN_OK)
        e = il ? invites_of(c, il, &inv) : TN_ERR_NOMEM;
    if (e == TN_OK) {
        inv.link = c->page.invites ? c->page.invites->link : NULL;
        inv.link_email = c->page.invites ? c->page.invites->link_email : NULL;
        c->page.invites = &inv;
    }
    c->page.section = "members";
    tn_buf_reset(&c->r->body);
    if (e == TN_OK)
        e = tn_admin_page_members(&c->r->body, &c->page, q, l.v, l.n, total, (unsigned)page,
                                  TN_ADMIN_PAGE_SIZE);
    int status = c->r->status;
    render(c, e);
    if (e == TN_OK && status >= 400)
        c->r->status = status; /* a refused form shown again with its reason */
    c->page.invites = NULL;
    free(il);
    free(l.v);
}

/* POST /admin/members/invite: mailed: 303 with a notice; to the outbox: the page with
 * the link (a secret for the invitee: never in a URL); refused: the page with why. */
static void invite_post(struct ctx *c, struct tn_form *f)
{
    struct tn_invite_request in = {.email = tn_form_get(f, "email"),
                                   .role = tn_form_get(f, "role"),
                                   .org = tn_form_get(f, "org"),
                                   .by = c->me.email,
                                   .ttl_s = c->as->cfg.invite_ttl_s,
                                   .via = "admin-page"};
    if (!in.org || !in.org[0])
        in.org = "default";
    struct tn_invite_result *res = calloc(1, sizeof *res);
    struct tn_buf err;
    tn_buf_init(&err, 2048);
    enum tn_err e = !res ? TN_ERR_NOMEM
                    : !in.email || !in.role
                        ? TN_ERR_BAD_INPUT
                        : tn_invite_create(c->as->cfg.store, c->as->cfg.mailer, c->as->issuer, &in,
                                           now_s(), res, &err);
    if (e == TN_OK && !res->outbox) {
        see_other(c->r, "/admin/members?ok=invited");
    } else {
        struct tn_admin_invites shown = {0};
        tn_as_csrf_prepare(c->as, c->req, c->r, c->csrf);
        c->page = (struct tn_admin_page){.csrf = c->csrf, .me = c->me.email, .now = now_s()};
        if (e == TN_OK) {
            shown.link = res->link;
            shown.link_email = res->inv.email;
            c->page.invites = &shown;
            c->page.notice = "The invitation was made.";
        } else {
            c->page.notice = err.data && err.len ? err.data : "The invitation could not be made.";
            c->page.notice_error = true;
            c->r->status = e == TN_ERR_BAD_INPUT   ? 400
                           : e == TN_ERR_NOT_FOUND ? 404
                           : e == TN_ERR_CONFLICT  ? 409
                                                   : 500;
        }
        members_page(c);
        tn_as_resp_header(c->r, "Cache-Control", "no-store");
    }
    if (res)
        sodium_memzero(res->link, sizeof res->link);
    free(res);
    tn_buf_deinit(&err);
}

static void invite_revoke_post(struct ctx *c, struct tn_form *f)
{
    const char *email = tn_form_get(f, "email");
    int64_t n = 0;
    enum tn_err e = email && email[0] ? tn_invite_revoke(c->as->cfg.store, email, c->me.id, &n)
                                      : TN_ERR_BAD_INPUT;
    see_other(c->r, e != TN_OK ? "/admin/members?err=error"
                    : n == 0   ? "/admin/members?err=not_found"
                               : "/admin/members?ok=invite_revoked");
}

static void members_post(struct ctx *c, struct tn_form *f, bool role)
{
    const char *who = tn_form_get(f, "user");
    enum tn_err e;
    const char *ok;
    struct tn_user changed;
    memset(&changed, 0, sizeof changed);
    if (role) {
        e = tn_admin_set_role(c->as->cfg.store, &c->actor, who, tn_form_get(f, "role"), &changed);
        ok = "role";
    } else {
        const char *d = tn_form_get(f, "disabled");
        bool disable = d && !strcmp(d, "1");
        e = d && (disable || !strcmp(d, "0"))
                ? tn_admin_set_disabled(c->as->cfg.store, &c->actor, who, disable, &changed)
                : TN_ERR_BAD_INPUT;
        ok = disable ? "disabled" : "enabled";
    }
    /* this instance's resource server forgets the account at once (others within their
     * cache's age), so an enabled member's new tokens work without waiting */
    if (e == TN_OK && changed.id[0] && c->as->cfg.account_changed)
        c->as->cfg.account_changed(c->as->cfg.account_changed_ud, changed.id);
    char loc[64];
    snprintf(loc, sizeof loc, "/admin/members?%s=%s", e == TN_OK ? "ok" : "err",
             e == TN_OK ? ok : err_code(e));
    see_other(c->r, loc);
}

/* ---------- organizations ---------- */

static struct tn_sso_admin sso_admin(struct ctx *c)
{
    return (struct tn_sso_admin){.store = c->as->cfg.store,
                                 .secret = c->as->secret,
                                 .secret_len = c->as->secret_len,
                                 .actor = c->key,
                                 .via = "admin-page"};
}

struct org_rows {
    struct tn_admin_org_row v[ORGS_MAX];
    size_t n;
};

static void add_org_row(const struct tn_org *o, void *ud)
{
    struct org_rows *l = ud;
    if (l->n < ORGS_MAX)
        l->v[l->n++].org = *o;
}

static void count_domain(const struct tn_org_domain *d, void *ud)
{
    (void)d;
    (*(size_t *)ud)++;
}

struct domains {
    struct tn_org_domain v[200];
    size_t n;
};

static void add_domain(const struct tn_org_domain *d, void *ud)
{
    struct domains *l = ud;
    if (l->n < sizeof l->v / sizeof l->v[0])
        l->v[l->n++] = *d;
}

/* The stored role map (a JSON object, in order) as the form's "group=role,...". */
static enum tn_err role_map_text(const char *json, struct tn_buf *out)
{
    json_t *m = json_loads(json && json[0] ? json : "{}", 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return TN_ERR_CONFIG;
    }
    const char *k;
    json_t *v;
    enum tn_err e = TN_OK;
    bool first = true;
    json_object_foreach(m, k, v) {
        if (e == TN_OK && json_is_string(v))
            e = tn_buf_printf(out, "%s%s=%s", first ? "" : ",", k, json_string_value(v));
        first = false;
    }
    json_decref(m);
    return e;
}

/* One organization's page; `test` is what "Test connection" said (NULL: not run). */
static void org_page(struct ctx *c, const char *name, const char *test, bool test_ok, int status)
{
    struct tn_org o;
    struct domains *d = calloc(1, sizeof *d);
    struct tn_org_sso *sso = calloc(1, sizeof *sso);
    struct tn_buf map;
    tn_buf_init(&map, 8192);
    enum tn_err e = d && sso ? tn_store_org_by_name(c->as->cfg.store, name, &o) : TN_ERR_NOMEM;
    if (e == TN_ERR_BAD_INPUT)
        e = TN_ERR_NOT_FOUND;
    if (e == TN_OK)
        e = tn_store_org_domain_list(c->as->cfg.store, o.id, add_domain, d);
    bool have = false;
    if (e == TN_OK) {
        enum tn_err g = tn_store_org_sso_get(c->as->cfg.store, o.id, sso);
        have = g == TN_OK;
        if (g != TN_OK && g != TN_ERR_NOT_FOUND)
            e = g;
        sodium_memzero(sso->client_secret, sizeof sso->client_secret);
    }
    if (e == TN_OK && have)
        e = role_map_text(sso->role_map, &map);
    if (e == TN_ERR_NOT_FOUND) {
        tn_as_message_page(c->as, c->r, 404, "No such organization",
                           "There is no organization of that name.");
        goto done;
    }
    c->page.section = "orgs";
    tn_buf_reset(&c->r->body);
    struct tn_admin_org_view v = {.org = &o,
                                  .domains = d->v,
                                  .nd = d->n,
                                  .sso = have ? sso : NULL,
                                  .role_map = map.data ? map.data : "",
                                  .test_result = test,
                                  .test_ok = test_ok};
    if (e == TN_OK)
        e = tn_admin_page_org(&c->r->body, &c->page, &v);
    render(c, e);
    if (e == TN_OK && status >= 400)
        c->r->status = status;
done:
    tn_buf_deinit(&map);
    free(d);
    free(sso);
}

static void orgs_page(struct ctx *c)
{
    const char *name = c->req->query(c->req->ud, "org");
    if (name) {
        org_page(c, name, NULL, false, 200);
        return;
    }
    struct org_rows *l = calloc(1, sizeof *l);
    enum tn_err e = l ? tn_store_org_list(c->as->cfg.store, add_org_row, l) : TN_ERR_NOMEM;
    for (size_t i = 0; e == TN_OK && i < l->n; i++) {
        struct tn_org_sso *sso = calloc(1, sizeof *sso);
        e = sso ? tn_store_org_domain_list(c->as->cfg.store, l->v[i].org.id, count_domain,
                                           &l->v[i].domains)
                : TN_ERR_NOMEM;
        if (e == TN_OK) {
            enum tn_err g = tn_store_org_sso_get(c->as->cfg.store, l->v[i].org.id, sso);
            l->v[i].sso = g == TN_OK;
            if (g != TN_OK && g != TN_ERR_NOT_FOUND)
                e = g;
            sodium_memzero(sso->client_secret, sizeof sso->client_secret);
        }
        free(sso);
    }
    c->page.section = "orgs";
    tn_buf_reset(&c->r->body);
    if (e == TN_OK)
        e = tn_admin_page_orgs(&c->r->body, &c->page, l->v, l->n);
    render(c, e);
    free(l);
}

/* 303 to the organization's page with a notice code. */
static void org_see_other(struct ctx *c, const char *name, const char *kind, const char *code)
{
    struct tn_buf loc;
    tn_buf_init(&loc, 2048);
    enum tn_err e = tn_buf_puts(&loc, "/admin/orgs?org=");
    if (e == TN_OK)
        e = tn_admin_url_encode(&loc, name);
    if (e == TN_OK)
        e = tn_buf_printf(&loc, "&%s=%s", kind, code);
    see_other(c->r, e == TN_OK ? loc.data : "/admin/orgs?err=error");
    tn_buf_deinit(&loc);
}

/* A refused organization form: its page again, with the sentence of why. */
static void org_refused(struct ctx *c, const char *name, enum tn_err e, const char *why)
{
    tn_as_csrf_prepare(c->as, c->req, c->r, c->csrf);
    c->page = (struct tn_admin_page){.csrf = c->csrf,
                                     .me = c->me.email,
                                     .now = now_s(),
                                     .notice = why && why[0] ? why : tn_err_message(e),
                                     .notice_error = true};
    org_page(c, name ? name : "", NULL, false,
             e == TN_ERR_BAD_INPUT   ? 400
             : e == TN_ERR_NOT_FOUND ? 404
             : e == TN_ERR_CONFLICT  ? 409
                                     : 500);
}

static void orgs_post(struct ctx *c, struct tn_form *f, const char *what)
{
    const char *name = tn_form_get(f, "org");
    struct tn_sso_admin a = sso_admin(c);
    struct tn_buf msg;
    tn_buf_init(&msg, 4096);
    enum tn_err e;
    if (!strcmp(what, "create")) {
        name = tn_form_get(f, "name");
        struct tn_org o;
        e = tn_admin_org_create(c->as->cfg.store, &c->actor, name, &o);
        if (e == TN_OK)
            org_see_other(c, o.name, "ok", "org_created");
        else
            see_other(c->r, e == TN_ERR_CONFLICT    ? "/admin/orgs?err=org_exists"
                            : e == TN_ERR_BAD_INPUT ? "/admin/orgs?err=invalid"
                                                    : "/admin/orgs?err=error");
        goto done;
    }
    if (!name || !name[0]) {
        see_other(c->r, "/admin/orgs?err=invalid");
        goto done;
    }
    if (!strcmp(what, "domain-add")) {
        const char *dom = tn_form_get(f, "domain");
        e = tn_sso_domain_add(&a, name, dom ? dom : "", &msg);
        if (e == TN_OK)
            org_see_other(c, name, "ok", "domain_added");
    } else if (!strcmp(what, "domain-remove")) {
        const char *dom = tn_form_get(f, "domain");
        e = tn_sso_domain_remove(&a, name, dom ? dom : "", &msg);
        if (e == TN_OK)
            org_see_other(c, name, "ok", "domain_removed");
    } else if (!strcmp(what, "sso-set")) {
        const char *req = tn_form_get(f, "require_sso"), *up = tn_form_get(f, "allow_signup");
        struct tn_sso_input in = {.issuer = tn_form_get(f, "issuer"),
                                  .client_id = tn_form_get(f, "client_id"),
                                  .client_secret = tn_form_get(f, "client_secret"),
                                  .scopes = tn_form_get(f, "scopes"),
                                  .groups_claim = tn_form_get(f, "groups_claim"),
                                  .role_map = tn_form_get(f, "role_map"),
                                  .default_role = tn_form_get(f, "default_role"),
                                  .require_sso = req && !strcmp(req, "1"),
                                  .allow_signup = up && !strcmp(up, "1"),
                                  .allow_loopback = c->as->cfg.sso_allow_loopback};
        if (!in.issuer || !in.client_id) {
            e = TN_ERR_BAD_INPUT;
            tn_buf_puts(&msg, "The issuer and the client ID are required.");
        } else {
            /* an empty field is "not given", as an absent option on the command line */
            const char **opt[] = {&in.scopes, &in.groups_claim, &in.role_map, &in.default_role};
            for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
                if (*opt[i] && !*opt[i][0])
                    *opt[i] = NULL;
            e = tn_sso_set(&a, name, &in, &msg);
        }
        if (e == TN_OK)
            org_see_other(c, name, "ok", "sso_set");
    } else if (!strcmp(what, "sso-remove")) {
        e = tn_sso_remove(&a, name, &msg);
        if (e == TN_OK)
            org_see_other(c, name, "ok", "sso_removed");
    } else { /* sso-test: changes nothing; the page shows what the test found */
        e = tn_sso_test(&a, name, c->as->cfg.sso_allow_loopback, &msg);
        tn_as_csrf_prepare(c->as, c->req, c->r, c->csrf);
        c->page = (struct tn_admin_page){.csrf = c->csrf, .me = c->me.email, .now = now_s()};
        org_page(c, name, msg.data && msg.len ? msg.data : tn_err_message(e), e == TN_OK, 200);
        tn_as_resp_header(c->r, "Cache-Control", "no-store");
        goto done;
    }
    if (e != TN_OK)
        org_refused(c, name, e, msg.data);
done:
    tn_buf_deinit(&msg);
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
        else if (!strcmp(p, "/admin/members/invite"))
            invite_post(c, &f);
        else if (!strcmp(p, "/admin/members/invite-revoke"))
            invite_revoke_post(c, &f);
        else if (!strncmp(p, "/admin/orgs/", 12) &&
                 (!strcmp(p + 12, "create") || !strcmp(p + 12, "domain-add") ||
                  !strcmp(p + 12, "domain-remove") || !strcmp(p + 12, "sso-set") ||
                  !strcmp(p + 12, "sso-test") || !strcmp(p + 12, "sso-remove")))
            orgs_post(c, &f, p + 12);
        else
            tn_as_message_page(as, r, 405, "Method not allowed", "This page takes no form.");
        goto done;
    }
    tn_as_csrf_prepare(as, req, r, c->csrf);
    c->page = (struct tn_admin_page){.csrf = c->csrf, .me = c->me.email, .now = now_s()};
    notice_of(req, &c->page);
    if (!strcmp(p, "/admin") || !strcmp(p, "/admin/members"))
        members_page(c);
    else if (!strcmp(p, "/admin/orgs"))
        orgs_page(c);
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
