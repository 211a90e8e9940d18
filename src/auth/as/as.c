/* The built-in authorization server's front: the dispatch of its endpoints, its
 * lifecycle and metadata document, and the small helpers every endpoint uses
 * (responses, cookies, scopes). The endpoints themselves are in clients.c, session.c,
 * authorize.c, token.c and setup.c (auth/as/internal.h gives the reading order). */
#include "auth/as/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "auth/as/pages.h"
#include "auth/upstream/providers.h"
#include "auth/upstream/signin_state.h"

/* Fetches of metadata documents tie up a blocking-pool thread each, up to CIMD_FETCH_MS
 * at a host that never answers: a few at a time, two per host; a host that did not
 * answer twice, or failed sixteen URLs, is left alone for the failures' minute. */
static const struct tn_cimd_limits cimd_limits = {
    .entries = 256,
    .fetches = 4,
    .host_fetches = 2,
    .host_faults = 2,
    .host_failures = 16,
    .fail_ttl_s = 60,
    .addr_fetches = 1,
    .stale_s = 86400,
};
/* Fetches that miss the cache, known client or not, per requesting address and hour. */
#define CIMD_FETCHES_PER_HOUR 30

/* ---------- small helpers ---------- */

void tn_as_resp_header(struct tn_as_resp *r, const char *name, const char *fmt, ...)
{
    if (r->n_headers >= TN_AS_MAX_HEADERS)
        return;
    r->headers[r->n_headers].name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->headers[r->n_headers].value, sizeof r->headers[0].value, fmt, ap);
    va_end(ap);
    r->n_headers++;
}

void tn_as_json_resp(struct tn_as_resp *r, int status, json_t *doc)
{
    r->status = status;
    r->content_type = "application/json";
    char *t = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    tn_buf_reset(&r->body);
    tn_buf_puts(&r->body, t ? t : "{}");
    free(t);
}

/* RFC 6749 §5.2 error body, with the status and `error` the error table gives `e`;
 * never internal detail. */
void tn_as_oauth_error(struct tn_as_resp *r, enum tn_err e, const char *desc)
{
    tn_as_json_resp(r, tn_err_http_status(e),
                    json_pack("{s:s, s:s}", "error", tn_err_oauth(e), "error_description", desc));
    tn_as_resp_header(r, "Cache-Control", "no-store");
}

/* Sign-in and consent forms end in a redirect to the client, which browsers check
 * against form-action: those pages use the policy without it. A page that could not be
 * rendered (a size limit) becomes a plain 500. */
void tn_as_page_headers(struct tn_as *as, struct tn_as_resp *r, bool redirects,
                        enum tn_err rendered)
{
    if (rendered != TN_OK) {
        r->status = 500;
        tn_buf_reset(&r->body);
        tn_buf_puts(&r->body, "The page could not be rendered.");
        r->content_type = "text/plain; charset=utf-8";
        return;
    }
    r->content_type = "text/html; charset=utf-8";
    tn_as_resp_header(r, "Content-Security-Policy", "%s",
                      redirects ? tn_pages_csp_authorize() : tn_pages_csp());
    tn_as_resp_header(r, "X-Frame-Options", "DENY");
    /* same-origin: the client's redirect target learns nothing, and form posts keep a
     * real Origin (no-referrer makes browsers send "Origin: null", which the server's
     * Origin check rightly refuses) */
    tn_as_resp_header(r, "Referrer-Policy", "same-origin");
    tn_as_resp_header(r, "Cache-Control", "no-store");
}

void tn_as_message_page(struct tn_as *as, struct tn_as_resp *r, int status, const char *title,
                        const char *msg)
{
    r->status = status;
    tn_buf_reset(&r->body);
    tn_as_page_headers(as, r, false, tn_page_message(&r->body, title, msg, status >= 400));
}

const char *tn_as_cookie(const struct tn_as_req *req, const char *name, char *out, size_t cap)
{
    const char *h = req->header(req->ud, "Cookie");
    size_t nl = strlen(name);
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl >= cap)
                return NULL;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return out;
        }
        p += len;
    }
    return NULL;
}

void tn_as_set_cookie(struct tn_as *as, struct tn_as_resp *r, const char *name, const char *value,
                      const char *path, const char *same_site, int64_t max_age)
{
    tn_as_resp_header(r, "Set-Cookie", "%s=%s; Path=%s; HttpOnly; SameSite=%s; Max-Age=%lld%s",
                      name, value, path, same_site, (long long)max_age,
                      as->secure_cookies ? "; Secure" : "");
}

/* ---------- scopes and words ---------- */

static bool scope_supported(struct tn_as *as, const char *s, size_t n)
{
    for (const char *p = as->scopes; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        if (l == n && !strncmp(p, s, n))
            return true;
        p += l;
    }
    return false;
}

/* Keeps the supported scopes of `req` (unknown ones, openid or offline_access, are
 * dropped rather than refused); none left or none asked: the defaults. */
void tn_as_grant_scope(struct tn_as *as, const char *req, char out[256])
{
    out[0] = '\0';
    for (const char *p = req ? req : ""; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        if (l && scope_supported(as, p, l) && strlen(out) + l + 2 < 256) {
            char w[128];
            snprintf(w, sizeof w, "%.*s", (int)l, p);
            if (!strstr(out, w))
                snprintf(out + strlen(out), 256 - strlen(out), "%s%s", out[0] ? " " : "", w);
        }
        p += l;
    }
    if (!out[0])
        snprintf(out, 256, "%s", as->scopes);
}

/* True when every word of `want` is in `have`. */
bool tn_as_scope_subset(const char *want, const char *have)
{
    for (const char *p = want; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        bool found = false;
        for (const char *q = have; l && *q && !found;) {
            q += strspn(q, " ");
            size_t m = strcspn(q, " ");
            found = m == l && !strncmp(p, q, l);
            q += m;
        }
        if (l && !found)
            return false;
        p += l;
    }
    return true;
}

bool tn_as_list_has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        if (l == n && !strncmp(p, w, n))
            return true;
        p += l;
    }
    return false;
}

bool tn_as_b64url_chars(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.' ||
              s[i] == '~'))
            return false;
    return true;
}

bool tn_as_same_resource(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* ---------- metadata and JWKS ---------- */

static json_t *build_metadata(struct tn_as *as)
{
    char u[1024];
    json_t *scopes = json_array();
    for (const char *p = as->scopes; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        if (l)
            json_array_append_new(scopes, json_stringn(p, l));
        p += l;
    }
    json_t *m = json_pack("{s:s}", "issuer", as->issuer);
#define EP(key, path)                                \
    snprintf(u, sizeof u, "%s%s", as->issuer, path); \
    json_object_set_new(m, key, json_string(u));
    EP("authorization_endpoint", "/authorize")
    EP("token_endpoint", "/token")
    EP("registration_endpoint", "/register")
    EP("revocation_endpoint", "/revoke")
    EP("jwks_uri", "/jwks")
#undef EP
    json_object_set_new(m, "response_types_supported", json_pack("[s]", "code"));
    json_object_set_new(m, "response_modes_supported", json_pack("[s]", "query"));
    json_object_set_new(m, "grant_types_supported",
                        json_pack("[s,s]", "authorization_code", "refresh_token"));
    json_object_set_new(m, "code_challenge_methods_supported", json_pack("[s]", "S256"));
    json_object_set_new(m, "token_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "none", "client_secret_basic", "client_secret_post"));
    json_object_set_new(m, "revocation_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "none", "client_secret_basic", "client_secret_post"));
    json_object_set_new(m, "scopes_supported", scopes);
    json_object_set_new(m, "client_id_metadata_document_supported", json_true());
    json_object_set_new(m, "authorization_response_iss_parameter_supported", json_true());
    /* what OpenID Connect discovery requires of the document */
    json_object_set_new(m, "subject_types_supported", json_pack("[s]", "public"));
    json_object_set_new(m, "id_token_signing_alg_values_supported", json_pack("[s]", "ES256"));
    return m;
}

/* ---------- dispatch ---------- */

static const char *const owned[] = {
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/jwks",
    "/register",
    "/authorize",
    "/authorize/login",
    "/authorize/consent",
    "/token",
    "/revoke",
    "/setup",
    "/authorize/email",
    "/authorize/email/code",
    "/signin/email",
    "/authorize/oidc",
    TN_OIDC_CALLBACK_PATH,
    "/account",
    "/account/signin",
    "/account/revoke",
    "/account/signout",
    "/account/signout-everywhere",
    "/account/password",
    "/invite",
    "/invite/email",
    "/authorize/sso",
    "/signin/sso/callback",
    "/signin",
    "/admin",
    "/admin/members",
    "/admin/members/role",
    "/admin/members/status",
    "/admin/apps",
    "/admin/apps/revoke",
    "/admin/audit",
    "/admin/audit.csv",
    "/admin/keys",
    "/admin/keys/rotate",
    "/admin/members/invite",
    "/admin/members/invite-revoke",
    "/admin/orgs",
    "/admin/orgs/create",
    "/admin/orgs/domain-add",
    "/admin/orgs/domain-remove",
    "/admin/orgs/sso-set",
    "/admin/orgs/sso-test",
    "/admin/orgs/sso-remove",
};

const char *const *tn_as_paths(size_t *n)
{
    *n = sizeof owned / sizeof owned[0];
    return owned;
}

bool tn_as_owns(const char *path)
{
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (!strcmp(path, owned[i]))
            return true;
    return false;
}

void tn_as_handle(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    bool documents = !strcmp(p, "/.well-known/oauth-authorization-server") ||
                     !strcmp(p, "/.well-known/openid-configuration") || !strcmp(p, "/jwks");
    /* Everything else may write and wait for its commit (a code, a grant, a session, a
     * registration), hash a password, send mail, fetch, or export the audit log: on the
     * blocking pool, never on an HTTP worker, which serves every other connection of
     * its event loop (one per core). Sign-ins are people's pace; the hop costs nothing
     * that matters there. */
    if (req->can_offload && !documents) {
        r->offload = true;
        return;
    }
    if (!strcmp(p, "/.well-known/oauth-authorization-server") ||
        !strcmp(p, "/.well-known/openid-configuration")) {
        tn_as_json_resp(r, 200, json_incref(as->metadata));
        tn_as_resp_header(r, "Cache-Control", "public, max-age=300");
    } else if (!strcmp(p, "/jwks")) {
        tn_as_json_resp(r, 200, tn_as_keys_jwks_json(as->cfg.keys));
        tn_as_resp_header(r, "Cache-Control", "public, max-age=300");
    } else if (!strcmp(p, "/register")) {
        tn_as_handle_register(as, req, r);
    } else if (!strcmp(p, "/authorize")) {
        if (get)
            tn_as_handle_authorize(as, req, r);
        else
            tn_as_message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
    } else if (!strcmp(p, "/authorize/login")) {
        tn_as_handle_login(as, req, r);
    } else if (!strcmp(p, "/authorize/email") || !strcmp(p, "/authorize/email/code") ||
               !strcmp(p, "/signin/email")) {
        if (!tn_as_method_on(as, TN_SIGNIN_EMAIL))
            tn_as_message_page(as, r, 404, "Not available",
                               "Sign-in by email is turned off on this server.");
        else if (!strcmp(p, "/authorize/email"))
            tn_as_handle_email_start(as, req, r);
        else if (!strcmp(p, "/authorize/email/code"))
            tn_as_handle_email_code(as, req, r);
        else
            tn_as_handle_email_link(as, req, r);
    } else if (!strcmp(p, "/authorize/oidc") || !strcmp(p, TN_OIDC_CALLBACK_PATH)) {
        if (!tn_as_method_on(as, TN_SIGNIN_OIDC) ||
            !tn_oidc_providers_count(as->cfg.oidc_providers))
            tn_as_message_page(as, r, 404, "Not available",
                               "Sign-in with an external provider is turned off on this server.");
        else if (!strcmp(p, "/authorize/oidc"))
            tn_as_handle_oidc_start(as, req, r);
        else
            tn_as_handle_oidc_callback(as, req, r);
    } else if (!strcmp(p, "/authorize/sso") || !strcmp(p, "/signin/sso/callback")) {
        if (!tn_as_method_on(as, TN_SIGNIN_SSO))
            tn_as_message_page(as, r, 404, "Not available",
                               "Single sign-on is turned off on this server.");
        else if (!strcmp(p, "/authorize/sso"))
            tn_as_handle_sso_start(as, req, r);
        else
            tn_as_handle_sso_callback(as, req, r);
    } else if (!strcmp(p, "/authorize/consent")) {
        tn_as_handle_consent(as, req, r);
    } else if (!strcmp(p, "/token")) {
        tn_as_handle_token(as, req, r);
    } else if (!strcmp(p, "/revoke")) {
        tn_as_handle_revoke(as, req, r);
    } else if (!strcmp(p, "/setup")) {
        tn_as_handle_setup(as, req, r);
    } else if (!strncmp(p, "/account", 8)) {
        tn_as_handle_account(as, req, r);
    } else if (!strcmp(p, "/invite")) {
        tn_as_handle_invite(as, req, r);
    } else if (!strcmp(p, "/invite/email")) {
        tn_as_handle_invite_email(as, req, r);
    } else if (!strcmp(p, "/signin")) {
        tn_as_handle_signin(as, req, r);
    } else if (!strcmp(p, "/admin") || !strncmp(p, "/admin/", 7)) {
        tn_as_handle_admin(as, req, r);
    } else { /* not reached: the server routes only tn_as_owns() paths here */
        tn_as_oauth_error(r, TN_ERR_NOT_FOUND, "No such endpoint");
    }
}

/* ---------- lifecycle ---------- */

struct tn_as *tn_as_new(const struct tn_as_config *cfg)
{
    struct tn_as *as = calloc(1, sizeof *as);
    if (!as)
        return NULL;
    as->cfg = *cfg;
    as->issuer = strdup(cfg->issuer);
    as->resource = strdup(cfg->resource);
    as->scopes = strdup(cfg->scopes);
    as->secret_len = cfg->secret_len < sizeof as->secret ? cfg->secret_len : sizeof as->secret;
    memcpy(as->secret, cfg->secret, as->secret_len);
    as->cfg.secret = NULL;
    as->secure_cookies = strncmp(cfg->issuer, "https://", 8) == 0;
    pthread_mutex_init(&as->mu, NULL);
    as->signin = tn_signin_guard_new(NULL);
    struct tn_throttle_rule dcr = {cfg->dcr_per_hour, 3600, 0, 3600};
    struct tn_throttle_rule dcr_net = {cfg->dcr_per_hour * 4, 3600, 0, 3600};
    as->registrations = tn_throttle_new(&dcr, 65536);
    as->registrations_net = tn_throttle_new(&dcr_net, 65536);
    as->cimd = tn_cimd_cache_new(&cimd_limits);
    struct tn_throttle_rule fetches = {CIMD_FETCHES_PER_HOUR, 3600, 0, 3600};
    as->cimd_fetches = tn_throttle_new(&fetches, 65536);
    /* codes requested: 5 per email and 20 per address in a quarter of an hour */
    struct tn_throttle_rule email_account = {5, 900, 0, 900}, email_addr = {20, 900, 0, 900};
    as->email_account = tn_throttle_new(&email_account, 65536);
    as->email_addr = tn_throttle_new(&email_addr, 65536);
    /* upstream sign-in states called back: each once while its cookie lives */
    struct tn_throttle_rule once = {1, TN_OIDC_STATE_TTL_S, 0, TN_OIDC_STATE_TTL_S};
    as->oidc_used = tn_throttle_new(&once, 65536);
    as->sso = tn_as_sso_new();
    if (!as->sso || !as->signin || !as->registrations || !as->registrations_net || !as->cimd ||
        !as->cimd_fetches || !as->email_account || !as->email_addr || !as->oidc_used) {
        tn_as_free(as);
        return NULL;
    }
    as->metadata = build_metadata(as);
    int64_t users = 0;
    if (tn_store_user_count(cfg->store, &users) == TN_OK && users == 0) {
        random_token(as->setup_token, sizeof as->setup_token, 24);
        snprintf(as->setup_url, sizeof as->setup_url, "%s/setup?token=%s", as->issuer,
                 as->setup_token);
    }
    if (!as->cimd) {
        tn_as_free(as);
        return NULL;
    }
    return as;
}

const char *tn_as_setup_url(struct tn_as *as) { return as->setup_url[0] ? as->setup_url : NULL; }

void tn_as_free(struct tn_as *as)
{
    if (!as)
        return;
    json_decref(as->metadata);
    tn_signin_guard_free(as->signin);
    tn_throttle_free(as->registrations);
    tn_throttle_free(as->registrations_net);
    tn_throttle_free(as->cimd_fetches);
    tn_throttle_free(as->email_account);
    tn_throttle_free(as->email_addr);
    tn_throttle_free(as->oidc_used);
    tn_cimd_cache_free(as->cimd);
    tn_as_sso_free(as->sso);
    pthread_mutex_destroy(&as->mu);
    sodium_memzero(as->secret, sizeof as->secret);
    free(as->issuer);
    free(as->resource);
    free(as->scopes);
    free(as);
}
