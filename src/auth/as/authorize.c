/* The authorization endpoint (RFC 6749 §4.1 with PKCE, RFC 9207 iss): the request is
 * checked before anything is redirected, then sign-in, consent, and the code sent back
 * to the client's registered redirect URI. */
#include "auth/as/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/as/pages.h"
#include "auth/as/redirect.h"
#include "auth/as/users.h"
#include "auth/signin/audit.h"
#include "auth/upstream/providers.h"
#include "auth/signin/sso.h"
#include "core/log.h"
#include "core/seal.h"
#include "ops/metrics.h"

#define REQ_TTL_S 900 /* a sign-in may take a quarter of an hour */
#define STATE_MAX 2048

static const struct tn_page_scope scope_text[] = {
    {"notes:read", "Read your notes and the notes your organization shares"},
    {"notes:write", "Create, change and delete your notes"},
};

/* ---------- authorization ---------- */

static bool redirect_allowed(const struct tn_client *c, const char *uri)
{
    json_t *arr = json_loads(c->redirect_uris, 0, NULL);
    bool ok = false;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && tn_redirect_matches(json_string_value(v), uri))
            ok = true;
    }
    json_decref(arr);
    return ok;
}

static const char *only_redirect(const struct tn_client *c, char *out, size_t cap)
{
    json_t *arr = json_loads(c->redirect_uris, 0, NULL);
    const char *r = NULL;
    if (json_array_size(arr) == 1 && json_is_string(json_array_get(arr, 0))) {
        snprintf(out, cap, "%s", json_string_value(json_array_get(arr, 0)));
        r = out;
    }
    json_decref(arr);
    return r;
}

struct authz {
    char client_id[512];
    char client_name[128];
    char redirect_uri[1024];
    char scope[256];
    char state[STATE_MAX + 1];
    char challenge[129];
    bool has_state;
    bool force_consent;
    char to[64];    /* a sign-in for the server's own pages (tn_as_signin_for): where to go
                    once signed in; "" for an OAuth client's request */
    char next[256]; /* a sign-in for the issuer's own pages: where to go after it ("" for
                       an OAuth client's request) */
};

static json_t *authz_json(const struct authz *a)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "c", a->client_id, "n", a->client_name,
                          "r", a->redirect_uri, "s", a->scope, "p", a->challenge, "f",
                          a->force_consent);
    if (a->has_state)
        json_object_set_new(j, "st", json_string(a->state));
    if (a->to[0])
        json_object_set_new(j, "to", json_string(a->to));
    if (a->next[0])
        json_object_set_new(j, "x", json_string(a->next));
    return j;
}

static bool authz_from(json_t *j, struct authz *a)
{
    memset(a, 0, sizeof *a);
    const char *c, *n, *r, *s, *p, *st = NULL, *to = NULL, *x = NULL;
    int f = 0;
    if (!j || json_unpack(j, "{s:s, s:s, s:s, s:s, s:s, s:b, s?s, s?s, s?s}", "c", &c, "n", &n, "r",
                          &r, "s", &s, "p", &p, "f", &f, "st", &st, "to", &to, "x", &x) != 0)
        return false;
    if (to)
        snprintf(a->to, sizeof a->to, "%s", to);
    if (x)
        snprintf(a->next, sizeof a->next, "%s", x);
    snprintf(a->client_id, sizeof a->client_id, "%s", c);
    snprintf(a->client_name, sizeof a->client_name, "%s", n);
    snprintf(a->redirect_uri, sizeof a->redirect_uri, "%s", r);
    snprintf(a->scope, sizeof a->scope, "%s", s);
    snprintf(a->challenge, sizeof a->challenge, "%s", p);
    a->force_consent = f;
    if (st) {
        a->has_state = true;
        snprintf(a->state, sizeof a->state, "%s", st);
    }
    return true;
}

/* 303 to the client's (validated) redirect URI with the given parameters, `state` and
 * RFC 9207 `iss`. */
static void redirect_back(struct tn_as *as, struct tn_as_resp *r, const struct authz *a,
                          const char *k1, const char *v1, const char *k2, const char *v2)
{
    struct tn_buf u;
    tn_buf_init(&u, 8192);
    tn_buf_puts(&u, a->redirect_uri);
    tn_buf_puts(&u, strchr(a->redirect_uri, '?') ? "&" : "?");
    tn_buf_printf(&u, "%s=", k1);
    tn_url_encode(&u, v1);
    if (k2) {
        tn_buf_printf(&u, "&%s=", k2);
        tn_url_encode(&u, v2);
    }
    if (a->has_state) {
        tn_buf_puts(&u, "&state=");
        tn_url_encode(&u, a->state);
    }
    tn_buf_puts(&u, "&iss=");
    tn_url_encode(&u, as->issuer);
    r->status = 303;
    r->content_type = NULL;
    tn_buf_reset(&r->body);
    if (u.data && u.len < sizeof r->headers[0].value) {
        tn_as_resp_header(r, "Location", "%s", u.data);
        tn_as_resp_header(r, "Cache-Control", "no-store");
    } else {
        tn_as_message_page(as, r, 400, "Request too large",
                           "The authorization response does not fit in a redirect.");
    }
    tn_buf_deinit(&u);
}

/* An RFC 6749 §4.1.2.1 error response, with the `error` the error table gives `e`. */
static void redirect_error(struct tn_as *as, struct tn_as_resp *r, const struct authz *a,
                           enum tn_err e, const char *desc)
{
    redirect_back(as, r, a, "error", tn_err_oauth(e), "error_description", desc);
}

static void issue_code(struct tn_as *as, struct tn_as_resp *r, const struct authz *a,
                       const struct tn_user *u)
{
    char code[64], family[48];
    random_token(code, sizeof code, 32);
    random_token(family, sizeof family, 16);
    struct tn_code c;
    memset(&c, 0, sizeof c);
    sha256(code, c.hash);
    snprintf(c.client_id, sizeof c.client_id, "%s", a->client_id);
    snprintf(c.user_id, sizeof c.user_id, "%s", u->id);
    snprintf(c.redirect_uri, sizeof c.redirect_uri, "%s", a->redirect_uri);
    snprintf(c.scope, sizeof c.scope, "%s", a->scope);
    snprintf(c.resource, sizeof c.resource, "%s", as->resource);
    snprintf(c.challenge, sizeof c.challenge, "%s", a->challenge);
    snprintf(c.family, sizeof c.family, "%s", family);
    c.expires_at = now_s() + as->cfg.code_ttl_s;
    if (tn_store_code_insert(as->cfg.store, &c) != TN_OK) {
        tn_log(TN_LOG_ERROR, "authorization code could not be stored", "client_id", a->client_id,
               NULL);
        redirect_error(as, r, a, TN_ERR_INTERNAL, "The code could not be stored");
        return;
    }
    tn_store_client_touch(as->cfg.store, a->client_id, now_s());
    redirect_back(as, r, a, "code", code, NULL, NULL);
    sodium_memzero(code, sizeof code);
}

static void host_of(const char *uri, char *out, size_t cap) { tn_redirect_host(uri, out, cap); }

static bool known_host(const char *host)
{
    static const char *const verified[] = {"claude.ai",  "claude.com",          "chatgpt.com",
                                           "vscode.dev", "insiders.vscode.dev", "www.cursor.com"};
    for (size_t i = 0; i < sizeof verified / sizeof verified[0]; i++)
        if (!strcmp(host, verified[i]))
            return true;
    return false;
}

static void show_signin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                        const char *sealed, const struct authz *a, const char *email,
                        const char *error, int status)
{
    char csrf[64], host[256] = "";
    tn_as_csrf_prepare(as, req, r, csrf);
    if (!a->to[0])
        host_of(a->redirect_uri, host, sizeof host);
    int64_t users = 1;
    tn_store_user_count(as->cfg.store, &users);
    struct tn_page_provider prov[TN_OIDC_PROVIDERS_MAX];
    size_t n_prov = 0;
    if (tn_as_method_on(as, TN_SIGNIN_OIDC))
        for (size_t i = 0;
             i < tn_oidc_providers_count(as->cfg.oidc_providers) && n_prov < TN_OIDC_PROVIDERS_MAX;
             i++, n_prov++) {
            prov[n_prov].id = tn_oidc_providers_id(as->cfg.oidc_providers, i);
            prov[n_prov].name = tn_oidc_providers_name(as->cfg.oidc_providers, i);
        }
    struct tn_page_signin p = {
        .action = "/authorize/login",
        .request_id = sealed,
        .csrf = csrf,
        .client_name = a->to[0] ? NULL : a->client_name,
        .client_host = host,
        .email = email,
        .error = users == 0 ? "No account exists yet: the administrator must first finish the "
                              "setup link printed in the server log."
                            : error,
        .hide_password = !tn_as_method_on(as, TN_SIGNIN_PASSWORD),
        .email_action = tn_as_method_on(as, TN_SIGNIN_EMAIL) ? "/authorize/email" : NULL,
        .providers = prov,
        .n_providers = n_prov,
        .oidc_action = "/authorize/oidc",
        .sso_action = tn_as_sso_offered(as) ? "/authorize/sso" : NULL,
        .sso_email = email,
    };
    r->status = status;
    tn_buf_reset(&r->body);
    tn_as_page_headers(as, r, true, tn_page_signin(&r->body, &p));
}

static void show_consent(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                         const char *sealed, const struct authz *a, const struct tn_user *u)
{
    char csrf[64], host[256];
    tn_as_csrf_prepare(as, req, r, csrf);
    host_of(a->redirect_uri, host, sizeof host);
    struct tn_page_scope scopes[8];
    size_t n = 0;
    for (const char *p = a->scope; *p && n < 8;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        for (size_t i = 0; l && i < sizeof scope_text / sizeof scope_text[0]; i++)
            if (strlen(scope_text[i].name) == l && !strncmp(p, scope_text[i].name, l))
                scopes[n++] = scope_text[i];
        p += l;
    }
    struct tn_page_consent pc = {
        .action = "/authorize/consent",
        .request_id = sealed,
        .csrf = csrf,
        .client_name = a->client_name,
        .client_id = a->client_id,
        .redirect_host = host,
        .host_verified = known_host(host),
        .loopback_only = tn_redirect_is_loopback(a->redirect_uri),
        .scopes = scopes,
        .n_scopes = n,
        .user_email = u->email,
    };
    r->status = 200;
    tn_buf_reset(&r->body);
    tn_as_page_headers(as, r, true, tn_page_consent(&r->body, &pc));
}

/* After sign-in: a remembered consent covering the scope gives a code at once. A
 * sign-in for one of the server's own pages goes back to it (the path was sealed by the
 * server, never taken from the request). */
static void continue_as(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                        const char *sealed, const struct authz *a, const struct tn_user *u)
{
    if (a->to[0]) {
        r->status = 303;
        r->content_type = NULL;
        tn_buf_reset(&r->body);
        tn_as_resp_header(r, "Location", "%s", a->to);
        tn_as_resp_header(r, "Cache-Control", "no-store");
        return;
    }
    char granted[256];
    if (a->next[0]) {
        r->status = 303;
        r->content_type = "text/plain; charset=utf-8";
        tn_buf_reset(&r->body);
        tn_as_resp_header(r, "Location", "%s", a->next);
        tn_as_resp_header(r, "Cache-Control", "no-store");
        return;
    }
    if (!a->force_consent &&
        tn_store_consent_get(as->cfg.store, u->id, a->client_id, granted) == TN_OK &&
        tn_as_scope_subset(a->scope, granted)) {
        issue_code(as, r, a, u);
        return;
    }
    show_consent(as, req, r, sealed, a, u);
}

/* The client of an authorization request and the redirect URI it asks for (its only
 * registered one when none is given). Until the redirect URI is validated, errors are
 * shown here, never redirected: false with the page (or r->offload) set. */
static bool authorize_client(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                             struct tn_client *c, char redirect[1024])
{
    const char *client_id = req->query(req->ud, "client_id");
    const char *why = NULL;
    if (!client_id || !client_id[0]) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The application did not say who it is (client_id is missing).");
        return false;
    }
    enum tn_err frc = tn_as_find_client(as, req, r, client_id, c, &why);
    if (frc != TN_OK) {
        if (r->offload)
            return false;
        bool later = frc == TN_ERR_BUSY || frc == TN_ERR_RATE_LIMITED;
        tn_as_message_page(as, r, tn_err_http_status(later ? frc : TN_ERR_BAD_INPUT),
                           later ? "Try again later" : "Unknown application", why);
        if (later)
            tn_as_resp_header(r, "Retry-After", "%s", frc == TN_ERR_BUSY ? "10" : "3600");
        return false;
    }
    char only[1024];
    const char *uri = req->query(req->ud, "redirect_uri");
    if (!uri)
        uri = only_redirect(c, only, sizeof only);
    if (!uri) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "redirect_uri is required for this application.");
        return false;
    }
    if (!redirect_allowed(c, uri)) {
        tn_as_message_page(as, r, 400, "Invalid redirect",
                           "The application asked to send you to an address it did not register. "
                           "For your safety you were not redirected.");
        return false;
    }
    snprintf(redirect, 1024, "%s", uri);
    return true;
}

/* With a redirect URI to answer at: the rest of the request (RFC 6749 §4.1.1, PKCE,
 * RFC 8707 resource) into *a; false with the error redirected. */
static bool authorize_params(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                             const struct tn_client *c, struct authz *a)
{
#define Q(name) req->query(req->ud, name)
    const char *state = Q("state");
    if (state && strlen(state) <= STATE_MAX) {
        a->has_state = true;
        snprintf(a->state, sizeof a->state, "%s", state);
    }
    const char *rt = Q("response_type");
    const char *ch = Q("code_challenge");
    const char *chm = Q("code_challenge_method");
    const char *res = Q("resource");
    const char *prompt = Q("prompt");
    bool ok = false;
    if (state && strlen(state) > STATE_MAX) {
        redirect_error(as, r, a, TN_ERR_INVALID_REQUEST, "state is too long");
    } else if (!rt || strcmp(rt, "code")) {
        redirect_error(as, r, a, TN_ERR_UNSUPPORTED_RESPONSE_TYPE,
                       "Only response_type=code is supported");
    } else if (!ch || !chm || strcmp(chm, "S256") || !tn_as_b64url_chars(ch, 43, 128)) {
        redirect_error(as, r, a, TN_ERR_INVALID_REQUEST,
                       "PKCE with code_challenge_method=S256 is required");
    } else if (res && !tn_as_same_resource(res, as->resource)) {
        redirect_error(as, r, a, TN_ERR_INVALID_TARGET,
                       "This server issues tokens only for its own MCP endpoint");
    } else if (!tn_as_list_has_word(c->grant_types, "authorization_code")) {
        redirect_error(as, r, a, TN_ERR_UNAUTHORIZED_CLIENT,
                       "This client may not use the authorization code grant");
    } else {
        tn_as_grant_scope(as, Q("scope"), a->scope);
        snprintf(a->challenge, sizeof a->challenge, "%s", ch);
        a->force_consent = prompt && strstr(prompt, "consent");
        ok = true;
    }
    return ok;
#undef Q
}

/* A valid request: a code at once (a signed-in browser whose consent covers the scope),
 * the sign-in or consent page, or with prompt=none the error that says which is missing
 * (OIDC Core §3.1.2.6). */
static void authorize_answer(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                             const struct authz *a, const char *prompt)
{
    json_t *j = authz_json(a);
    char *sealed = tn_seal(as->secret, as->secret_len, "authz", j, REQ_TTL_S);
    json_decref(j);
    struct tn_user u;
    if (prompt && strstr(prompt, "none")) {
        if (tn_as_session_user(as, req, &u) && !a->force_consent) {
            char granted[256];
            if (tn_store_consent_get(as->cfg.store, u.id, a->client_id, granted) == TN_OK &&
                tn_as_scope_subset(a->scope, granted))
                issue_code(as, r, a, &u);
            else
                redirect_error(as, r, a, TN_ERR_CONSENT_REQUIRED, "Consent is required");
        } else {
            redirect_error(as, r, a, TN_ERR_LOGIN_REQUIRED, "Sign-in is required");
        }
    } else if (tn_as_session_user(as, req, &u) && !(prompt && strstr(prompt, "login"))) {
        continue_as(as, req, r, sealed, a, &u);
    } else {
        show_signin(as, req, r, sealed, a, NULL, NULL, 200);
    }
    free(sealed);
}

/* GET /authorize. */
void tn_as_handle_authorize(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_client c;
    struct authz a;
    memset(&a, 0, sizeof a);
    if (!authorize_client(as, req, r, &c, a.redirect_uri))
        return;
    snprintf(a.client_id, sizeof a.client_id, "%s", c.id);
    snprintf(a.client_name, sizeof a.client_name, "%s", c.name);
    if (authorize_params(as, req, r, &c, &a))
        authorize_answer(as, req, r, &a, req->query(req->ud, "prompt"));
}

static bool load_authz(struct tn_as *as, const char *sealed, struct authz *a)
{
    json_t *j = tn_unseal(as->secret, as->secret_len, "authz", sealed);
    bool ok = authz_from(j, a);
    json_decref(j);
    return ok;
}

void tn_as_handle_login(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    struct authz a;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The sign-in form was not sent correctly.");
        return;
    }
    if (!tn_as_method_on(as, TN_SIGNIN_PASSWORD)) { /* SIGNIN_METHODS without password */
        tn_form_deinit(&f);
        tn_as_message_page(as, r, 404, "Not available",
                           "Password sign-in is turned off on this server.");
        return;
    }
    const char *sealed = tn_form_get(&f, "req");
    const char *email = tn_form_get(&f, "email");
    const char *pw = tn_form_get(&f, "password");
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        tn_as_message_page(
            as, r, 403, "Session expired",
            "This form is no longer valid (missing or wrong security token). Go back to your "
            "application and start signing in again.");
        goto done;
    }
    if (!sealed || !load_authz(as, sealed, &a)) {
        tn_as_message_page(
            as, r, 400, "Sign-in expired",
            "This sign-in took too long. Go back to your application and try again.");
        goto done;
    }
    if (!email || !pw || !email[0] || strlen(email) > 254) {
        show_signin(as, req, r, sealed, &a, email, "Enter your email and password.", 400);
        goto done;
    }
    char lower[256];
    size_t n = strlen(email);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)email[i]);
    /* an organization that signs in with SSO: no password for its domains (the answer
     * depends on the domain alone, so it tells nothing about accounts) */
    if (tn_signin_sso_required(as->cfg.store, lower)) {
        tn_log(TN_LOG_INFO, "sign-in refused", "id", req->request_id, "method", "password",
               "outcome", "sso_required", NULL);
        show_signin(as, req, r, sealed, &a, email, TN_SSO_REQUIRED_TEXT ".", 403);
        goto done;
    }
    struct tn_user u;
    bool found = tn_store_user_by_email(as->cfg.store, lower, &u) == TN_OK;
    char dev[64];
    struct tn_signin_attempt at = {
        .account = lower,
        .addr = req->client_addr,
        .device = found ? tn_as_device_of(as, req, u.id, u.tokens_valid_after, dev, sizeof dev)
                        : NULL,
        .slot = -1};
    int64_t now = now_s();
    unsigned wait = tn_signin_guard_check(as->signin, &at, now);
    if (wait) {
        char msg[200];
        snprintf(msg, sizeof msg, "Too many failed attempts. Try again in %u minute%s.",
                 (wait + 59) / 60, (wait + 59) / 60 == 1 ? "" : "s");
        show_signin(as, req, r, sealed, &a, email, msg, 429);
        tn_as_resp_header(r, "Retry-After", "%u", wait);
        tn_as_audit_signin(as, sealed, found ? &u : NULL, "password", "throttled");
        tn_metrics_signin("password", "throttled");
        goto done;
    }
    enum tn_err admit = tn_signin_guard_enter(as->signin, &at, now);
    if (admit != TN_OK) {
        bool mine = admit == TN_ERR_LIMIT;
        show_signin(
            as, req, r, sealed, &a, email,
            mine ? "Another sign-in from your network is being checked. Try again in a moment."
                 : "The server is busy checking other sign-ins. Try again in a few seconds.",
            mine ? 429 : 503);
        tn_as_resp_header(r, "Retry-After", "%u", mine ? 1u : 5u);
        tn_metrics_signin("password", "throttled");
        goto done;
    }
    bool rehash = false;
    /* the same work whether or not the account exists */
    static const char dummy[] = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                                "8y5zF7y1qmzM6tD0yT6Bq0H9qQm2yW2fK3sJ0p3n7vY";
    bool ok = tn_password_verify(found ? u.password_hash : dummy, pw, &rehash) == TN_OK && found;
    tn_signin_guard_leave(as->signin, &at);
    if (!ok || u.disabled) {
        tn_signin_guard_failed(as->signin, &at, now);
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "trusted_browser",
               at.device ? "yes" : "no", NULL);
        tn_as_audit_signin(as, sealed, found ? &u : NULL, "password",
                           ok && u.disabled ? "disabled"
                           : found          ? "wrong_password"
                                            : "no_account");
        tn_metrics_signin("password", "failed");
        show_signin(as, req, r, sealed, &a, email,
                    ok && u.disabled ? "This account is disabled." : "Wrong email or password.",
                    401);
        goto done;
    }
    tn_signin_guard_succeeded(as->signin, &at);
    tn_as_remember_device(as, r, &u);
    char was[sizeof u.password_hash];
    memcpy(was, u.password_hash, sizeof was);
    /* only if the password is still the one verified: a change made meanwhile stays */
    if (rehash && tn_password_hash(pw, u.password_hash) == TN_OK) {
        enum tn_err re = tn_store_user_swap_password(as->cfg.store, u.id, was, u.password_hash);
        if (re != TN_OK)
            tn_log(re == TN_ERR_CONFLICT ? TN_LOG_INFO : TN_LOG_WARN,
                   re == TN_ERR_CONFLICT ? "password rehash dropped: changed meanwhile"
                                         : "password rehash not saved",
                   "id", req->request_id, "user", u.id, "error", tn_err_name(re), NULL);
    }
    tn_as_start_session(as, r, &u);
    tn_log(TN_LOG_INFO, "signed in", "id", req->request_id, "user", u.id, NULL);
    tn_as_audit_signin(as, sealed, &u, "password", NULL);
    tn_metrics_signin("password", "ok");
    continue_as(as, req, r, sealed, &a, &u);
done:
    tn_form_deinit(&f);
}

void tn_as_handle_consent(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    struct authz a;
    struct tn_user u;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The consent form was not sent correctly.");
        return;
    }
    const char *decision = tn_form_get(&f, "decision");
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        tn_as_message_page(
            as, r, 403, "Session expired",
            "This form is no longer valid (missing or wrong security token). Go back to your "
            "application and start signing in again.");
    } else if (!load_authz(as, tn_form_get(&f, "req"), &a)) {
        tn_as_message_page(
            as, r, 400, "Sign-in expired",
            "This sign-in took too long. Go back to your application and try again.");
    } else if (!tn_as_session_user(as, req, &u)) {
        tn_as_message_page(as, r, 401, "Signed out",
                           "Your session ended. Go back to your application and sign in again.");
    } else if (a.to[0] || a.next[0]) { /* a sign-in for our own pages grants no client anything */
        tn_as_message_page(as, r, 400, "Invalid request", "There is nothing to allow here.");
    } else if (decision && !strcmp(decision, "allow")) {
        if (tn_store_consent_put(as->cfg.store, u.id, a.client_id, a.scope, now_s()) != TN_OK)
            tn_log(TN_LOG_WARN, "consent could not be remembered", "client_id", a.client_id, NULL);
        issue_code(as, r, &a, &u);
    } else {
        redirect_error(as, r, &a, TN_ERR_FORBIDDEN, "The user declined");
    }
    tn_form_deinit(&f);
}

/* ---------- for the other sign-in methods (email.c) ---------- */

void tn_as_signin_page(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                       const char *sealed, const char *email, const char *error, int status)
{
    struct authz a;
    if (!sealed || !load_authz(as, sealed, &a)) {
        tn_as_message_page(
            as, r, 400, "Sign-in expired",
            "This sign-in took too long. Go back to your application and try again.");
        return;
    }
    show_signin(as, req, r, sealed, &a, email, error, status);
}

bool tn_as_signin_continue(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                           const char *sealed, const struct tn_user *u)
{
    struct authz a;
    if (!sealed || !load_authz(as, sealed, &a))
        return false;
    continue_as(as, req, r, sealed, &a, u);
    return true;
}

bool tn_as_request_ok(struct tn_as *as, const char *sealed)
{
    struct authz a;
    return sealed && load_authz(as, sealed, &a);
}

void tn_as_audit_signin_as(struct tn_as *as, const char *sealed, const struct tn_user *u,
                           const char *method, const char *outcome, const char *reason)
{
    struct authz a;
    bool have = sealed && load_authz(as, sealed, &a);
    tn_signin_audit(as->cfg.store, method, u ? u->id : NULL, u ? u->org_id : NULL,
                    have ? a.client_id : NULL, outcome, reason);
}

void tn_as_audit_signin(struct tn_as *as, const char *sealed, const struct tn_user *u,
                        const char *method, const char *reason)
{
    tn_as_audit_signin_as(as, sealed, u, method,
                          reason ? TN_SIGNIN_AUDIT_DENIED : TN_SIGNIN_AUDIT_OK, reason);
}

/* ---------- sign-in for the server's own pages (/account) ---------- */

void tn_as_signin_for(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                      const char *to)
{
    struct authz a;
    memset(&a, 0, sizeof a);
    snprintf(a.to, sizeof a.to, "%s", to);
    json_t *j = authz_json(&a);
    char *sealed = tn_seal(as->secret, as->secret_len, "authz", j, REQ_TTL_S);
    json_decref(j);
    if (!sealed) {
        tn_as_message_page(as, r, 500, "Try again", "The sign-in page could not be prepared.");
        return;
    }
    show_signin(as, req, r, sealed, &a, NULL, NULL, 200);
    free(sealed);
}

/* ---------- sign-in for the issuer's own pages ---------- */

/* Where a sign-in may lead back to: the console's and the account's pages, a plain path
 * (no scheme, no "//", no backslash), so it is never an open redirect. */
static bool local_next_ok(const char *n)
{
    static const char *const roots[] = {"/admin", "/account"};
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len >= sizeof((struct authz *)0)->next)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)n[i]) || strchr("/-_.", n[i])))
            return false;
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        size_t rl = strlen(roots[i]);
        if (!strncmp(n, roots[i], rl) && (n[rl] == '\0' || n[rl] == '/') && !strstr(n, "//") &&
            !strstr(n, ".."))
            return true;
    }
    return false;
}

void tn_as_handle_signin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_user u;
    const char *next = req->query(req->ud, "next");
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
        tn_as_message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
        return;
    }
    if (!local_next_ok(next))
        next = "/admin";
    if (tn_as_session_user(as, req, &u)) { /* already signed in */
        struct authz a;
        memset(&a, 0, sizeof a);
        snprintf(a.next, sizeof a.next, "%s", next);
        continue_as(as, req, r, NULL, &a, &u);
        return;
    }
    struct authz a;
    memset(&a, 0, sizeof a);
    snprintf(a.next, sizeof a.next, "%s", next);
    json_t *j = authz_json(&a);
    char *sealed = tn_seal(as->secret, as->secret_len, "authz", j, REQ_TTL_S);
    json_decref(j);
    if (!sealed) {
        tn_as_message_page(as, r, 500, "Try again", "The sign-in page could not be prepared.");
        return;
    }
    show_signin(as, req, r, sealed, &a, NULL, NULL, 200);
    free(sealed);
}
