/* /account (#19): every signed-in person sees who they are, which apps hold access to
 * their notes, and takes it back; changes or sets their password; signs out here or
 * everywhere. The HTML is account_pages.c's; this file holds the request handling.
 *
 * Every form is a POST carrying the CSRF token of the browser's csrf cookie (session.c)
 * and an Origin equal to the issuer's own (a POST without Origin is refused unless the
 * browser says Sec-Fetch-Site: same-origin), from a browser with a session. Every
 * action is audited (tool "account.*", the acting person, the app concerned). */
#include "auth/as/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "auth/as/account_pages.h"
#include "auth/as/redirect.h"
#include "auth/as/users.h"
#include "core/log.h"

#define MAX_APPS 100
#define MAX_IDENTITIES 16

/* ---------- responses ---------- */

static void page_headers(struct tn_as_resp *r, enum tn_err rendered)
{
    if (rendered != TN_OK) {
        r->status = 500;
        tn_buf_reset(&r->body);
        tn_buf_puts(&r->body, "The page could not be rendered.");
        r->content_type = "text/plain; charset=utf-8";
        return;
    }
    r->content_type = "text/html; charset=utf-8";
    tn_as_resp_header(r, "Content-Security-Policy", "%s", tn_account_pages_csp());
    tn_as_resp_header(r, "X-Frame-Options", "DENY");
    tn_as_resp_header(r, "Referrer-Policy", "same-origin");
    tn_as_resp_header(r, "Cache-Control", "no-store");
}

static void message(struct tn_as_resp *r, int status, const char *title, const char *msg)
{
    r->status = status;
    tn_buf_reset(&r->body);
    page_headers(r, tn_page_account_message(&r->body, title, msg, status >= 400));
}

static void see_other(struct tn_as_resp *r, const char *location)
{
    r->status = 303;
    r->content_type = NULL;
    tn_buf_reset(&r->body);
    tn_as_resp_header(r, "Location", "%s", location);
    tn_as_resp_header(r, "Cache-Control", "no-store");
}

static void audit(struct tn_as *as, const struct tn_user *u, const char *action,
                  const char *client_id, const char *outcome)
{
    struct tn_audit a;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    snprintf(a.user, sizeof a.user, "%s|%s", as->issuer, u->id);
    snprintf(a.org, sizeof a.org, "%s", u->org_id);
    snprintf(a.client_id, sizeof a.client_id, "%s", client_id ? client_id : "");
    snprintf(a.tool, sizeof a.tool, "%s", action);
    snprintf(a.outcome, sizeof a.outcome, "%s", outcome);
    if (tn_store_audit_insert(as->cfg.store, &a) != TN_OK)
        tn_log(TN_LOG_WARN, "account action not audited", "user", u->id, "action", action, NULL);
}

static void account_changed(struct tn_as *as, const char *user_id)
{
    if (as->cfg.account_changed)
        as->cfg.account_changed(as->cfg.account_changed_ud, user_id);
}

/* ---------- the page ---------- */

/* What a role allows, in words. */
static const char *role_words(const char *role)
{
    if (!strcmp(role, "admin"))
        return "read and write your notes, and manage the team's members and apps";
    if (!strcmp(role, "editor"))
        return "read and write your notes";
    if (!strcmp(role, "viewer"))
        return "read your notes and those your organization shares";
    return "nothing (an unknown role)";
}

static void day_of(int64_t s, char out[16])
{
    char t[21];
    if (s <= 0) {
        snprintf(out, 16, "never");
        return;
    }
    tn_time_rfc3339(s * 1000, t);
    snprintf(out, 16, "%.10s", t);
}

struct app_row {
    struct tn_grant g;
    char where[256];
    bool loopback;
    char first[16], last[16];
};

struct gathered {
    struct app_row *apps;
    size_t n_apps;
    struct tn_identity ids[MAX_IDENTITIES];
    size_t n_ids;
};

/* Where an app runs: every redirect URI on this machine (a native app, a CLI), or the
 * host of its first one (a web app). */
static void where_of(const char *uris_json, char *out, size_t cap, bool *loopback)
{
    json_t *arr = json_loads(uris_json, 0, NULL);
    size_t i;
    json_t *v;
    bool all_loop = json_array_size(arr) > 0;
    out[0] = '\0';
    json_array_foreach(arr, i, v) {
        const char *u = json_string_value(v);
        if (!u || !tn_redirect_is_loopback(u))
            all_loop = false;
        if (u && !out[0])
            tn_redirect_host(u, out, cap);
    }
    json_decref(arr);
    *loopback = all_loop;
    if (all_loop)
        snprintf(out, cap, "loopback");
    else if (!out[0])
        snprintf(out, cap, "unknown");
}

static void add_app(const struct tn_grant *g, void *ud)
{
    struct gathered *w = ud;
    if (w->n_apps >= MAX_APPS)
        return;
    struct app_row *a = &w->apps[w->n_apps++];
    a->g = *g;
    where_of(g->redirect_uris, a->where, sizeof a->where, &a->loopback);
    day_of(g->first_at, a->first);
    day_of(g->last_at, a->last);
}

static void add_identity(const struct tn_identity *id, void *ud)
{
    struct gathered *w = ud;
    if (w->n_ids < MAX_IDENTITIES)
        w->ids[w->n_ids++] = *id;
}

static const char *notice_of(const char *done)
{
    if (!done)
        return NULL;
    if (!strcmp(done, "revoked"))
        return "The app's access was revoked. It stops working within seconds.";
    if (!strcmp(done, "password"))
        return "Your password was changed.";
    if (!strcmp(done, "password-set"))
        return "Your password was set.";
    return NULL;
}

static void show_account(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                         const struct tn_user *u, const char *notice, const char *error,
                         const char *password_error, int status)
{
    char csrf[64];
    struct gathered w;
    memset(&w, 0, sizeof w);
    w.apps = calloc(MAX_APPS, sizeof *w.apps);
    struct tn_page_account_app *apps = calloc(MAX_APPS, sizeof *apps);
    struct tn_page_account_identity ids[MAX_IDENTITIES];
    if (!w.apps || !apps) {
        message(r, 500, "Try again", "The page could not be prepared.");
        goto done;
    }
    tn_as_csrf_prepare(as, req, r, csrf);
    if (tn_store_grant_list(as->cfg.store, u->id, now_s(), MAX_APPS, add_app, &w) != TN_OK ||
        tn_store_identity_list(as->cfg.store, u->id, add_identity, &w) != TN_OK) {
        message(r, 503, "Try again", "Your account could not be read just now.");
        goto done;
    }
    for (size_t i = 0; i < w.n_apps; i++)
        apps[i] = (struct tn_page_account_app){
            .client_id = w.apps[i].g.client_id,
            .name = w.apps[i].g.client_name,
            .where = w.apps[i].where,
            .loopback = w.apps[i].loopback,
            .scope = w.apps[i].g.scope,
            .first_used = w.apps[i].first,
            .last_used = w.apps[i].last,
        };
    for (size_t i = 0; i < w.n_ids; i++)
        ids[i] = (struct tn_page_account_identity){w.ids[i].issuer, w.ids[i].email};
    struct tn_org org;
    bool has_org = u->org_id[0] && tn_store_org_get(as->cfg.store, u->org_id, &org) == TN_OK;
    struct tn_page_account p = {
        .csrf = csrf,
        .name = u->name,
        .email = u->email,
        .org = has_org ? org.name : NULL,
        .role = u->role,
        .role_allows = role_words(u->role),
        .password_method = tn_as_method_on(as, TN_SIGNIN_PASSWORD),
        .password_set = u->password_hash[0] != '\0',
        .identities = ids,
        .n_identities = w.n_ids,
        .apps = apps,
        .n_apps = w.n_apps,
        .notice = notice,
        .error = error,
        .password_error = password_error,
    };
    r->status = status;
    tn_buf_reset(&r->body);
    page_headers(r, tn_page_account(&r->body, &p));
done:
    free(w.apps);
    free(apps);
}

/* ---------- forms ---------- */

/* The issuer's origin (scheme://host[:port]) is the only one whose forms are taken. */
static bool origin_ok(struct tn_as *as, const struct tn_as_req *req)
{
    const char *o = req->header(req->ud, "Origin");
    if (!o) {
        const char *site = req->header(req->ud, "Sec-Fetch-Site");
        return site && !strcmp(site, "same-origin");
    }
    const char *host = strstr(as->issuer, "://");
    size_t n = host ? (size_t)(strcspn(host + 3, "/") + (size_t)(host + 3 - as->issuer))
                    : strlen(as->issuer);
    return strlen(o) == n && strncasecmp(o, as->issuer, n) == 0;
}

/* A form post of a signed-in browser, checked: *u filled and true, or the refusal sent
 * (405, 403 for a foreign origin or a bad token, 401 without a session). */
static bool form_user(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                      const struct tn_form *f, struct tn_user *u)
{
    if (!origin_ok(as, req)) {
        message(r, 403, "Not allowed",
                "This form was sent from another site. Open your account page and try again.");
        return false;
    }
    if (!tn_as_csrf_ok(as, req, tn_form_get(f, "csrf"))) {
        message(r, 403, "Form expired",
                "This form is no longer valid (missing or wrong security token). Open your "
                "account page and try again.");
        return false;
    }
    if (!tn_as_session_user(as, req, u)) {
        message(r, 401, "Signed out", "Your session ended. Sign in again to manage your account.");
        return false;
    }
    return true;
}

static void revoke_app(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                       const struct tn_user *u, const struct tn_form *f)
{
    const char *client_id = tn_form_get(f, "client_id");
    if (!client_id || !client_id[0] || strlen(client_id) >= sizeof((struct tn_client *)0)->id) {
        audit(as, u, "account.revoke", "", "invalid");
        show_account(as, req, r, u, NULL, "Choose an app to revoke.", NULL, 400);
        return;
    }
    /* now + 1: every token issued so far, this second's included, stops working */
    if (tn_store_grant_revoke(as->cfg.store, u->id, client_id, now_s() + 1) != TN_OK) {
        audit(as, u, "account.revoke", client_id, "error");
        show_account(as, req, r, u, NULL, "The app's access could not be revoked. Try again.", NULL,
                     503);
        return;
    }
    account_changed(as, u->id);
    audit(as, u, "account.revoke", client_id, "ok");
    tn_log(TN_LOG_INFO, "app access revoked", "id", req->request_id, "user", u->id, "client_id",
           client_id, NULL);
    see_other(r, "/account?done=revoked");
}

static void sign_out_everywhere(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                                const struct tn_user *u)
{
    if (tn_store_user_sign_out(as->cfg.store, u->id, now_s() + 1) != TN_OK) {
        audit(as, u, "account.signout_everywhere", "", "error");
        show_account(as, req, r, u, NULL, "You could not be signed out everywhere. Try again.",
                     NULL, 503);
        return;
    }
    account_changed(as, u->id);
    audit(as, u, "account.signout_everywhere", "", "ok");
    tn_log(TN_LOG_INFO, "signed out everywhere", "id", req->request_id, "user", u->id, NULL);
    tn_as_set_cookie(as, r, "tn_session", "", "/", "Lax", 0);
    message(r, 200, "Signed out everywhere",
            "Every app and every browser signed in to your account must sign in again.");
}

/* Runs on the blocking pool: argon2id takes ~0.2 s on purpose. */
static void change_password(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                            struct tn_user *u, const struct tn_form *f)
{
    const char *cur = tn_form_get(f, "current"), *pw = tn_form_get(f, "password");
    const char *pw2 = tn_form_get(f, "password2");
    const char *err = NULL;
    bool had = u->password_hash[0] != '\0';
    if (had && (!cur || !cur[0]))
        err = "Enter your current password.";
    else if (!pw || strlen(pw) < TN_PASSWORD_MIN)
        err = "The new password needs at least 10 characters.";
    else if (strlen(pw) > 1024)
        err = "The new password is too long (at most 1024 characters).";
    else if (!pw2 || strcmp(pw, pw2))
        err = "The two new passwords differ.";
    if (err) {
        audit(as, u, "account.password", "", "invalid");
        show_account(as, req, r, u, NULL, NULL, err, 400);
        return;
    }
    if (had) {
        /* the sign-in throttle guards this check too: a stolen session must not become
         * a way to guess the password */
        char dev[64];
        struct tn_signin_attempt at = {
            .account = u->email,
            .addr = req->client_addr,
            .device = tn_as_device_of(as, req, u->id, u->tokens_valid_after, dev, sizeof dev),
            .slot = -1};
        int64_t now = now_s();
        unsigned wait = tn_signin_guard_check(as->signin, &at, now);
        if (wait || tn_signin_guard_enter(as->signin, &at, now) != TN_OK) {
            audit(as, u, "account.password", "", "denied");
            show_account(as, req, r, u, NULL, NULL,
                         "Too many attempts. Try again in a few minutes.", 429);
            tn_as_resp_header(r, "Retry-After", "%u", wait ? wait : 5u);
            return;
        }
        bool ok = tn_password_verify(u->password_hash, cur, NULL) == TN_OK;
        tn_signin_guard_leave(as->signin, &at);
        if (!ok) {
            tn_signin_guard_failed(as->signin, &at, now);
            audit(as, u, "account.password", "", "denied");
            show_account(as, req, r, u, NULL, NULL, "Your current password is not right.", 403);
            return;
        }
        tn_signin_guard_succeeded(as->signin, &at);
    }
    /* written only over the hash verified above (or none): a change or a rehash made
     * meanwhile is not overwritten unseen */
    char was[sizeof u->password_hash];
    memcpy(was, u->password_hash, sizeof was);
    enum tn_err e = tn_password_hash(pw, u->password_hash) == TN_OK
                        ? tn_store_user_swap_password(as->cfg.store, u->id, was, u->password_hash)
                        : TN_ERR_INTERNAL;
    if (e == TN_ERR_CONFLICT) {
        /* the page as the account is now (a password may have been set meanwhile) */
        struct tn_user now;
        if (tn_store_user_get(as->cfg.store, u->id, &now) == TN_OK)
            *u = now;
        else
            memcpy(u->password_hash, was, sizeof was);
        audit(as, u, "account.password", "", "conflict");
        show_account(as, req, r, u, NULL, NULL,
                     "Your password was changed elsewhere in the meantime. Enter the current "
                     "password and try again.",
                     409);
        return;
    }
    if (e != TN_OK) {
        audit(as, u, "account.password", "", "error");
        show_account(as, req, r, u, NULL, NULL, "The password could not be saved. Try again.", 503);
        return;
    }
    audit(as, u, "account.password", "", "ok");
    tn_log(TN_LOG_INFO, had ? "password changed" : "password set", "id", req->request_id, "user",
           u->id, NULL);
    see_other(r, had ? "/account?done=password" : "/account?done=password-set");
}

static void sign_out(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u)
{
    audit(as, u, "account.signout", "", "ok");
    tn_as_set_cookie(as, r, "tn_session", "", "/", "Lax", 0);
    message(r, 200, "Signed out", "This browser is signed out of teamnotes.");
}

/* ---------- routing ---------- */

void tn_as_handle_account(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    struct tn_user u;
    if (!strcmp(p, "/account") || !strcmp(p, "/account/signin")) {
        if (!get) {
            message(r, 405, "Method not allowed", "Open this address with GET.");
            tn_as_resp_header(r, "Allow", "GET");
        } else if (tn_as_session_user(as, req, &u)) {
            if (!strcmp(p, "/account"))
                show_account(as, req, r, &u, notice_of(req->query(req->ud, "done")), NULL, NULL,
                             200);
            else
                see_other(r, "/account");
        } else if (!strcmp(p, "/account")) {
            see_other(r, "/account/signin");
        } else {
            tn_as_signin_for(as, req, r, "/account");
        }
        return;
    }
    if (strcmp(req->method, "POST")) {
        message(r, 405, "Method not allowed", "This address takes a form (POST).");
        tn_as_resp_header(r, "Allow", "POST");
        return;
    }
    bool password = !strcmp(p, "/account/password");
    if (password && !tn_as_method_on(as, TN_SIGNIN_PASSWORD)) {
        message(r, 404, "Not available", "Passwords are turned off on this server.");
        return;
    }
    struct tn_form f;
    if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        message(r, 400, "Invalid request", "The form was not sent correctly.");
        return;
    }
    if (form_user(as, req, r, &f, &u)) {
        if (!strcmp(p, "/account/revoke"))
            revoke_app(as, req, r, &u, &f);
        else if (!strcmp(p, "/account/signout-everywhere"))
            sign_out_everywhere(as, req, r, &u);
        else if (password)
            change_password(as, req, r, &u, &f);
        else if (!strcmp(p, "/account/signout"))
            sign_out(as, r, &u);
        else
            message(r, 404, "Not found", "There is no such page.");
    }
    tn_form_deinit(&f);
}
