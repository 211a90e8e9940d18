#include "auth/as/as.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/as/cimd.h"
#include "auth/as/pages.h"
#include "auth/as/redirect.h"
#include "auth/as/users.h"
#include "auth/signin/throttle.h"
#include "core/fetch.h"
#include "core/form.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/util.h"

#define REQ_TTL_S 900          /* a sign-in may take a quarter of an hour */
#define SESSION_TTL_S 43200    /* the browser session at the issuer */
#define DEVICE_TTL_S 15552000  /* a browser that signed in to an account is known 180 days */
#define STATE_MAX 2048
#define CIMD_MAX_BYTES (64 * 1024)
#define CIMD_FETCH_MS 5000

/* Fetches of metadata documents tie up a blocking-pool thread each, up to CIMD_FETCH_MS
 * at a host that never answers: a few at a time, two per host; a host that did not
 * answer twice, or failed sixteen URLs, is left alone for the failures' minute. */
static const struct tn_cimd_limits cimd_limits = {
    .entries = 256, .fetches = 4, .host_fetches = 2, .host_faults = 2, .host_failures = 16, .fail_ttl_s = 60,
    .addr_fetches = 1, .stale_s = 86400,
};
/* Fetches that miss the cache, known client or not, per requesting address and hour. */
#define CIMD_FETCHES_PER_HOUR 30

static const struct tn_page_scope scope_text[] = {
    {"notes:read", "Read your notes and the notes your organization shares"},
    {"notes:write", "Create, change and delete your notes"},
};

struct tn_as {
    struct tn_as_config cfg;
    char *issuer, *resource, *scopes;
    uint8_t secret[64];
    size_t secret_len;
    json_t *metadata;
    struct tn_signin_guard *signin;  /* failed sign-ins: per account, address, browser */
    struct tn_throttle *registrations; /* client registrations per address and hour */
    struct tn_throttle *registrations_net; /* ... and per IPv6 /48 */
    pthread_mutex_t mu; /* setup token */
    struct tn_cimd_cache *cimd; /* its own lock */
    struct tn_throttle *cimd_fetches; /* metadata document fetches per address and hour */
    char setup_token[48];
    char setup_url[600];
    bool secure_cookies;
    int64_t last_cleanup;
};

/* ---------- small helpers ---------- */

static int64_t now_s(void) { return tn_time_now_ms() / 1000; }

static void resp_header(struct tn_as_resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void resp_header(struct tn_as_resp *r, const char *name, const char *fmt, ...)
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

static void json_resp(struct tn_as_resp *r, int status, json_t *doc)
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
static void oauth_error(struct tn_as_resp *r, enum tn_err e, const char *desc)
{
    json_resp(r, tn_err_http_status(e),
              json_pack("{s:s, s:s}", "error", tn_err_oauth(e), "error_description", desc));
    resp_header(r, "Cache-Control", "no-store");
}

static void random_token(char *out, size_t cap, size_t bytes)
{
    uint8_t b[64];
    tn_random(b, bytes);
    tn_b64url_encode(out, cap, b, bytes);
}

static void sha256(const char *s, uint8_t out[32])
{
    crypto_hash_sha256(out, (const uint8_t *)s, strlen(s));
}

/* Sign-in and consent forms end in a redirect to the client, which browsers check
 * against form-action: those pages use the policy without it. A page that could not be
 * rendered (a size limit) becomes a plain 500. */
static void page_headers_as(struct tn_as *as, struct tn_as_resp *r, bool redirects, enum tn_err rendered)
{
    if (rendered != TN_OK) {
        r->status = 500;
        tn_buf_reset(&r->body);
        tn_buf_puts(&r->body, "The page could not be rendered.");
        r->content_type = "text/plain; charset=utf-8";
        return;
    }
    r->content_type = "text/html; charset=utf-8";
    resp_header(r, "Content-Security-Policy", "%s", redirects ? tn_pages_csp_authorize() : tn_pages_csp());
    resp_header(r, "X-Frame-Options", "DENY");
    /* same-origin: the client's redirect target learns nothing, and form posts keep a
     * real Origin (no-referrer makes browsers send "Origin: null", which the server's
     * Origin check rightly refuses) */
    resp_header(r, "Referrer-Policy", "same-origin");
    resp_header(r, "Cache-Control", "no-store");
}

static void message_page(struct tn_as *as, struct tn_as_resp *r, int status, const char *title,
                         const char *msg)
{
    r->status = status;
    tn_buf_reset(&r->body);
    page_headers_as(as, r, false, tn_page_message(&r->body, title, msg, status >= 400));
}

static const char *cookie(const struct tn_as_req *req, const char *name, char *out, size_t cap)
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

static void set_cookie(struct tn_as *as, struct tn_as_resp *r, const char *name, const char *value,
                       const char *path, const char *same_site, int64_t max_age)
{
    resp_header(r, "Set-Cookie", "%s=%s; Path=%s; HttpOnly; SameSite=%s; Max-Age=%lld%s", name,
                value, path, same_site, (long long)max_age, as->secure_cookies ? "; Secure" : "");
}

/* ---------- scopes ---------- */

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
static void grant_scope(struct tn_as *as, const char *req, char out[256])
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
static bool scope_subset(const char *want, const char *have)
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

/* ---------- clients ---------- */

static bool list_has_word(const char *list, const char *w)
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

static bool redirect_allowed(const struct tn_client *c, const char *uri)
{
    json_t *arr = json_loads(c->redirect_uris, 0, NULL);
    bool ok = false;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
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

static bool rate_ok(struct tn_as *as, const char *addr);

static bool is_cimd_id(const char *id) { return strncmp(id, "https://", 8) == 0 || strncmp(id, "http://", 7) == 0; }

/* Reads a fetched Client ID Metadata Document into *c, or says why not (no lock held). */
static bool cimd_parse(const char *url, const struct tn_fetch_result *fr, struct tn_client *c, const char **why)
{
    memset(c, 0, sizeof *c);
    bool ok = false;
    json_t *doc = NULL;
    if (fr->status == 200 && fr->body.data)
        doc = json_loadb(fr->body.data, fr->body.len, JSON_REJECT_DUPLICATES, NULL);
    const char *cid = json_string_value(json_object_get(doc, "client_id"));
    const char *name = json_string_value(json_object_get(doc, "client_name"));
    json_t *uris = json_object_get(doc, "redirect_uris");
    const char *am = json_string_value(json_object_get(doc, "token_endpoint_auth_method"));
    json_t *ams = json_object_get(doc, "token_endpoint_auth_methods_supported");
    bool public_ok = !am || !strcmp(am, "none");
    size_t i;
    json_t *v;
    json_array_foreach(ams, i, v) public_ok |= json_is_string(v) && !strcmp(json_string_value(v), "none");
    if (!doc) {
        *why = "The client's metadata document could not be fetched.";
    } else if (!cid || strcmp(cid, url) != 0) {
        *why = "The client's metadata document names another client_id.";
    } else if (!name || !name[0] || strlen(name) >= sizeof c->name) {
        *why = "The client's metadata document has no client_name.";
    } else if (!json_is_array(uris) || json_array_size(uris) == 0 || json_array_size(uris) > 20) {
        *why = "The client's metadata document has no redirect_uris.";
    } else if (!public_ok) {
        *why = "The client's metadata document asks for an authentication method this server does not support.";
    } else {
        ok = true;
        struct tn_buf w;
        tn_buf_init(&w, 256);
        json_array_foreach(uris, i, v)
        {
            if (!json_is_string(v) || tn_redirect_validate(json_string_value(v), &w) != TN_OK)
                ok = false;
        }
        tn_buf_deinit(&w);
        if (!ok)
            *why = "The client's metadata document lists an unacceptable redirect URI.";
    }
    if (ok) {
        snprintf(c->id, sizeof c->id, "%s", url);
        snprintf(c->name, sizeof c->name, "%s", name);
        char *u = json_dumps(uris, JSON_COMPACT);
        snprintf(c->redirect_uris, sizeof c->redirect_uris, "%s", u ? u : "[]");
        free(u);
        snprintf(c->auth_method, sizeof c->auth_method, "none");
        json_t *gt = json_object_get(doc, "grant_types");
        if (json_is_array(gt)) {
            json_array_foreach(gt, i, v) if (json_is_string(v) &&
                                             (!strcmp(json_string_value(v), "authorization_code") ||
                                              !strcmp(json_string_value(v), "refresh_token")))
                snprintf(c->grant_types + strlen(c->grant_types), sizeof c->grant_types - strlen(c->grant_types),
                         "%s%s", c->grant_types[0] ? " " : "", json_string_value(v));
        } else {
            snprintf(c->grant_types, sizeof c->grant_types, "authorization_code refresh_token");
        }
    }
    json_decref(doc);
    return ok;
}

/* The client a Client ID Metadata Document describes, from the cache or fetched.
 *
 * Anyone can name a document URL, at a host that never answers: the fetch (up to
 * CIMD_FETCH_MS) never happens on an HTTP worker. When the request can be offloaded,
 * a fetch that may start sets r->offload and returns TN_ERR_BUSY; the handler runs
 * again on the blocking pool, where the fetch happens, admitted by the cache (a few in
 * flight in all and per host, one per requesting address, none while the host recently
 * failed; beyond, TN_ERR_BUSY at once, never a queue). Every fetch counts against the
 * address's CIMD_FETCHES_PER_HOUR, and a document not yet known to the store (a new
 * client) against its registrations per hour too (TN_ERR_RATE_LIMITED beyond). Failures are
 * remembered for a minute (TN_ERR_BAD_INPUT). A document that cannot be refetched (any
 * of these) is served from its last good fetch for up to a day past its expiry. */
static enum tn_err cimd_client(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                               const char *url, struct tn_client *out, const char **why)
{
    *why = "The client's metadata document could not be fetched or is invalid.";
    size_t ul = strlen(url);
    bool https = strncmp(url, "https://", 8) == 0;
    const char *path = strchr(url + (https ? 8 : 7), '/');
    if (ul >= sizeof out->id || !path || !path[1] || strchr(url, '#') ||
        (!https && !as->cfg.cimd_allow_loopback)) {
        *why = "A URL client_id must be an https URL with a path.";
        return TN_ERR_BAD_INPUT;
    }
    int64_t now = now_s();
    char who[TN_THROTTLE_ADDR_KEY_MAX];
    tn_throttle_addr_key(req->client_addr, who);
    enum tn_err rc = tn_cimd_cache_get_for(as->cimd, url, who, now, !req->can_offload, out, why);
    if (rc == TN_ERR_NOT_FOUND && req->can_offload) {
        r->offload = true; /* fetched on the blocking pool, in this handler's second call */
        return TN_ERR_BUSY;
    }
    if (rc != TN_ERR_NOT_FOUND)
        return rc;

    /* Reserved: this thread fetches, and ends the reservation on every path. */
    struct tn_client *c = calloc(2, sizeof *c), *stored = c ? c + 1 : NULL;
    struct tn_fetch_result fr = {0};
    const char *fail = NULL;
    bool host_fault = false;
    int64_t ttl = 0;
    if (!c) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    if (tn_throttle_take(as->cimd_fetches, who, now) != 0) {
        *why = "Too many client metadata documents fetched for this address; try again later.";
        rc = TN_ERR_RATE_LIMITED;
        goto done;
    }
    bool known = tn_store_client_get(as->cfg.store, url, stored) == TN_OK;
    if (!known && !rate_ok(as, req->client_addr)) {
        *why = "Too many new applications from this address; try again later.";
        rc = TN_ERR_RATE_LIMITED;
        goto done;
    }
    struct tn_fetch_opts o = {CIMD_FETCH_MS, CIMD_MAX_BYTES, as->cfg.cimd_allow_loopback};
    enum tn_err frc = tn_fetch(url, &o, &fr);
    host_fault = frc == TN_ERR_IO; /* no answer: a timeout or a refused connection */
    if (frc != TN_OK || !cimd_parse(url, &fr, c, &fail)) {
        if (!fail)
            fail = "The client's metadata document could not be fetched.";
        *why = fail;
        tn_log(TN_LOG_INFO, "client metadata document refused", "client_id", url, "reason", *why, NULL);
        rc = TN_ERR_BAD_INPUT;
        goto done;
    }
    ttl = fr.max_age_s >= 0 ? fr.max_age_s : 300;
    ttl = ttl < 60 ? 60 : ttl > 86400 ? 86400 : ttl;
    /* Codes, consents and refresh tokens refer to their client in the store: keep a row
     * for the document's client (the document itself stays the authority, re-read when
     * its cache expires). */
    if (!known) {
        c->created_at = now;
        snprintf(c->metadata, sizeof c->metadata, "{\"client_id_metadata_document\":true}");
        if (tn_store_client_insert(as->cfg.store, c) != TN_OK)
            tn_log(TN_LOG_WARN, "cannot record a metadata-document client", "client_id", url, NULL);
    }
    *out = *c;
    rc = TN_OK;
done:
    tn_cimd_cache_end(as->cimd, url, now_s(), rc == TN_OK ? c : NULL, ttl, rc == TN_ERR_BAD_INPUT ? fail : NULL,
                      host_fault);
    /* A client that worked keeps working while its document cannot be refetched (the
     * host fails, or this address used its fetches): its last good document serves. */
    if (rc != TN_OK && rc != TN_ERR_NOMEM && tn_cimd_cache_stale(as->cimd, url, now_s(), out) == TN_OK) {
        tn_log(TN_LOG_INFO, "client metadata document served stale", "client_id", url, "reason", *why, NULL);
        rc = TN_OK;
    }
    tn_buf_deinit(&fr.body);
    free(c);
    return rc;
}

/* The client named by `id`. Besides the store's errors: TN_ERR_BAD_INPUT for a metadata
 * document refused, TN_ERR_BUSY (r->offload set: the handler returns and runs again on
 * the blocking pool; else: try again later) and TN_ERR_RATE_LIMITED for a document
 * past the address's fetches or a new one past its registrations. */
static enum tn_err find_client(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                               const char *id, struct tn_client *out, const char **why)
{
    if (is_cimd_id(id))
        return cimd_client(as, req, r, id, out, why);
    *why = "This application is not registered with this server. Remove it from your MCP client and add it again.";
    if (strlen(id) >= sizeof out->id)
        return TN_ERR_NOT_FOUND;
    return tn_store_client_get(as->cfg.store, id, out);
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
#define EP(key, path)                                           \
    snprintf(u, sizeof u, "%s%s", as->issuer, path);            \
    json_object_set_new(m, key, json_string(u));
    EP("authorization_endpoint", "/authorize")
    EP("token_endpoint", "/token")
    EP("registration_endpoint", "/register")
    EP("revocation_endpoint", "/revoke")
    EP("jwks_uri", "/jwks")
#undef EP
    json_object_set_new(m, "response_types_supported", json_pack("[s]", "code"));
    json_object_set_new(m, "response_modes_supported", json_pack("[s]", "query"));
    json_object_set_new(m, "grant_types_supported", json_pack("[s,s]", "authorization_code", "refresh_token"));
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

/* ---------- DCR ---------- */

/* Counts one registration against the client's address (an IPv6 client by its /64,
 * and its /48 at four times the rate, so that one site's many /64s do not multiply
 * the limit); false once either has used its share of the hour. */
static bool rate_ok(struct tn_as *as, const char *addr)
{
    char key[TN_THROTTLE_ADDR_KEY_MAX], net[TN_THROTTLE_ADDR_KEY_MAX];
    int64_t now = now_s();
    tn_throttle_addr_key(addr, key);
    bool has_net = tn_throttle_net_key(addr, net);
    if (has_net && tn_throttle_wait(as->registrations_net, net, now) > 0)
        return false;
    if (tn_throttle_take(as->registrations, key, now) != 0)
        return false;
    return !has_net || tn_throttle_take(as->registrations_net, net, now) == 0;
}

/* Registrations that never signed anyone in are dropped after a day (DCR sprawl:
 * clients register again per machine, per port, per window). */
static void cleanup_clients(struct tn_as *as)
{
    int64_t now = now_s(), n = 0;
    pthread_mutex_lock(&as->mu);
    bool due = now - as->last_cleanup >= 3600;
    if (due)
        as->last_cleanup = now;
    pthread_mutex_unlock(&as->mu);
    if (due && tn_store_client_delete_unused(as->cfg.store, now - 86400, &n) == TN_OK && n > 0) {
        char c[24];
        snprintf(c, sizeof c, "%lld", (long long)n);
        tn_log(TN_LOG_INFO, "unused client registrations removed", "count", c, NULL);
    }
}

static void handle_register(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    if (strcmp(req->method, "POST")) {
        oauth_error(r, TN_ERR_METHOD_NOT_ALLOWED, "Use POST");
        resp_header(r, "Allow", "POST");
        return;
    }
    cleanup_clients(as);
    if (!rate_ok(as, req->client_addr)) {
        oauth_error(r, TN_ERR_RATE_LIMITED, "Too many registrations from this address; try again later");
        resp_header(r, "Retry-After", "3600");
        return;
    }
    json_t *in = json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA, "The body must be a JSON object");
        return;
    }
    struct tn_client c;
    memset(&c, 0, sizeof c);
    json_t *uris = json_object_get(in, "redirect_uris");
    struct tn_buf why;
    tn_buf_init(&why, 512);
    if (!json_is_array(uris) || json_array_size(uris) == 0 || json_array_size(uris) > 10) {
        oauth_error(r, TN_ERR_INVALID_REDIRECT_URI, "redirect_uris must list 1 to 10 URIs");
        goto done;
    }
    size_t i;
    json_t *v;
    json_array_foreach(uris, i, v)
    {
        tn_buf_reset(&why);
        if (!json_is_string(v) || tn_redirect_validate(json_string_value(v), &why) != TN_OK) {
            json_t *e = json_pack("{s:s, s:s}", "error", tn_err_oauth(TN_ERR_INVALID_REDIRECT_URI),
                                  "error_description", "");
            char d[1400];
            snprintf(d, sizeof d, "redirect_uris[%zu] %s", i, json_is_string(v) ? why.data : "must be a string");
            json_object_set_new(e, "error_description", json_string(d));
            json_resp(r, tn_err_http_status(TN_ERR_INVALID_REDIRECT_URI), e);
            goto done;
        }
    }
    const char *am = json_string_value(json_object_get(in, "token_endpoint_auth_method"));
    if (!am)
        am = "client_secret_basic"; /* RFC 7591's default */
    if (strcmp(am, "none") && strcmp(am, "client_secret_basic") && strcmp(am, "client_secret_post")) {
        oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA,
                    "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post");
        goto done;
    }
    /* Lenient on what clients send: unsupported grant types (device_code, implicit,
     * client_credentials) are dropped, not fatal. */
    json_t *gt = json_object_get(in, "grant_types");
    bool want_refresh = !json_is_array(gt);
    json_array_foreach(gt, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), "refresh_token")) want_refresh = true;
    snprintf(c.grant_types, sizeof c.grant_types, "authorization_code%s", want_refresh ? " refresh_token" : "");
    json_t *rt = json_object_get(in, "response_types");
    bool code_ok = !json_is_array(rt);
    json_array_foreach(rt, i, v) code_ok |= json_is_string(v) && !strcmp(json_string_value(v), "code");
    if (!code_ok) {
        oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA, "response_types must include code");
        goto done;
    }
    const char *name = json_string_value(json_object_get(in, "client_name"));
    if (name && strlen(name) >= sizeof c.name) {
        oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA, "client_name is longer than 127 bytes");
        goto done;
    }
    const char *at = json_string_value(json_object_get(in, "application_type"));
    snprintf(c.application_type, sizeof c.application_type, "%s", at && !strcmp(at, "web") ? "web" : "native");
    char scope[256] = "";
    const char *sc = json_string_value(json_object_get(in, "scope"));
    if (sc)
        grant_scope(as, sc, scope); /* a hint only: unknown scopes never refuse a client */
    random_token(c.id, sizeof c.id, 18);
    snprintf(c.name, sizeof c.name, "%s", name && name[0] ? name : "Unnamed client");
    char *u = json_dumps(uris, JSON_COMPACT);
    snprintf(c.redirect_uris, sizeof c.redirect_uris, "%s", u ? u : "[]");
    free(u);
    snprintf(c.auth_method, sizeof c.auth_method, "%s", am);
    snprintf(c.scope, sizeof c.scope, "%s", scope);
    c.created_at = now_s();
    char secret[64] = "";
    if (strcmp(am, "none")) {
        random_token(secret, sizeof secret, 32);
        uint8_t hs[32];
        sha256(secret, hs);
        sodium_bin2hex(c.secret_hash, sizeof c.secret_hash, hs, sizeof hs);
    }
    json_t *out = json_pack("{s:s, s:I, s:s, s:O, s:[s], s:s, s:s}", "client_id", c.id,
                            "client_id_issued_at", (json_int_t)c.created_at, "client_name", c.name,
                            "redirect_uris", uris, "response_types", "code",
                            "token_endpoint_auth_method", c.auth_method, "application_type",
                            c.application_type);
    json_t *g = json_array();
    json_array_append_new(g, json_string("authorization_code"));
    if (want_refresh)
        json_array_append_new(g, json_string("refresh_token"));
    json_object_set_new(out, "grant_types", g);
    if (scope[0])
        json_object_set_new(out, "scope", json_string(scope));
    char *meta = json_dumps(out, JSON_COMPACT);
    snprintf(c.metadata, sizeof c.metadata, "%s", meta ? meta : "{}");
    free(meta);
    if (tn_store_client_insert(as->cfg.store, &c) != TN_OK) {
        json_decref(out);
        oauth_error(r, TN_ERR_INTERNAL, "The client could not be registered");
        goto done;
    }
    if (secret[0]) {
        /* returned once; only its hash is kept */
        json_object_set_new(out, "client_secret", json_string(secret));
        json_object_set_new(out, "client_secret_expires_at", json_integer(0));
    }
    json_resp(r, 201, out);
    resp_header(r, "Cache-Control", "no-store");
    tn_log(TN_LOG_INFO, "client registered", "client_id", c.id, "auth", c.auth_method, NULL);
done:
    sodium_memzero(secret, sizeof secret);
    tn_buf_deinit(&why);
    json_decref(in);
}

/* ---------- sessions, known browsers and CSRF ---------- */

/* The signed-in user of this browser, or false. */
static bool session_user(struct tn_as *as, const struct tn_as_req *req, struct tn_user *u)
{
    char buf[2048];
    json_t *s = tn_unseal(as->secret, as->secret_len, "session", cookie(req, "tn_session", buf, sizeof buf));
    const char *uid = json_string_value(json_object_get(s, "uid"));
    json_int_t iat = json_integer_value(json_object_get(s, "iat"));
    bool ok = uid && tn_store_user_get(as->cfg.store, uid, u) == TN_OK && !u->disabled &&
              iat >= u->tokens_valid_after;
    json_decref(s);
    return ok;
}

static void start_session(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u)
{
    json_t *d = json_pack("{s:s, s:I}", "uid", u->id, "iat", (json_int_t)now_s());
    char *s = tn_seal(as->secret, as->secret_len, "session", d, SESSION_TTL_S);
    json_decref(d);
    if (s)
        set_cookie(as, r, "tn_session", s, "/", "Lax", SESSION_TTL_S);
    free(s);
}

/* A browser that signed in to an account carries a device cookie (OWASP's "device
 * cookies"): sealed, bound to the account, with an id of its own. Failed sign-ins from
 * it count against that id only, so someone guessing the account's password elsewhere
 * cannot lock its owner out (auth/signin/throttle.h). */
static const char *device_of(struct tn_as *as, const struct tn_as_req *req, const char *uid, int64_t valid_after,
                             char *out, size_t cap)
{
    char buf[512];
    const char *id = NULL;
    json_t *d = tn_unseal(as->secret, as->secret_len, "device", cookie(req, "tn_device", buf, sizeof buf));
    const char *bound = json_string_value(json_object_get(d, "uid"));
    const char *dev = json_string_value(json_object_get(d, "dev"));
    json_int_t iat = json_integer_value(json_object_get(d, "iat"));
    /* a cookie from before the account's last "revoke everything" (disable, password
     * change) no longer vouches for the browser */
    if (bound && dev && !strcmp(bound, uid) && iat >= valid_after && strlen(dev) < cap) {
        memcpy(out, dev, strlen(dev) + 1);
        id = out;
    }
    json_decref(d);
    return id;
}

static void remember_device(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u)
{
    char dev[32];
    random_token(dev, sizeof dev, 16);
    json_t *d = json_pack("{s:s, s:s, s:I}", "uid", u->id, "dev", dev, "iat", (json_int_t)now_s());
    char *s = tn_seal(as->secret, as->secret_len, "device", d, DEVICE_TTL_S);
    json_decref(d);
    if (s)
        set_cookie(as, r, "tn_device", s, "/authorize/login", "Strict", DEVICE_TTL_S);
    free(s);
}

/* The CSRF token of a form is bound to the browser's csrf cookie (double submit, with
 * the token an HMAC of the cookie so a planted cookie does not help). */
static void csrf_token(struct tn_as *as, const char *cookie_val, char out[64])
{
    uint8_t m[32];
    char msg[128];
    snprintf(msg, sizeof msg, "csrf|%s", cookie_val);
    tn_hmac_sha256(m, as->secret, as->secret_len, msg, strlen(msg));
    tn_b64url_encode(out, 64, m, 32);
}

/* Ensures the browser has a csrf cookie; returns the form token. */
static void csrf_prepare(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r, char token[64])
{
    char c[64];
    if (!cookie(req, "tn_csrf", c, sizeof c) || strlen(c) < 20) {
        random_token(c, sizeof c, 18);
        set_cookie(as, r, "tn_csrf", c, "/", "Strict", SESSION_TTL_S);
    }
    csrf_token(as, c, token);
}

static bool csrf_ok(struct tn_as *as, const struct tn_as_req *req, const char *sent)
{
    char c[64], want[64];
    if (!sent || !cookie(req, "tn_csrf", c, sizeof c))
        return false;
    csrf_token(as, c, want);
    return strlen(sent) == strlen(want) && tn_ct_equal(sent, want, strlen(want));
}

/* ---------- authorization ---------- */

struct authz {
    char client_id[512];
    char client_name[128];
    char redirect_uri[1024];
    char scope[256];
    char state[STATE_MAX + 1];
    char challenge[129];
    bool has_state;
    bool force_consent;
};

static json_t *authz_json(const struct authz *a)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "c", a->client_id, "n", a->client_name,
                          "r", a->redirect_uri, "s", a->scope, "p", a->challenge, "f", a->force_consent);
    if (a->has_state)
        json_object_set_new(j, "st", json_string(a->state));
    return j;
}

static bool authz_from(json_t *j, struct authz *a)
{
    memset(a, 0, sizeof *a);
    const char *c, *n, *r, *s, *p, *st = NULL;
    int f = 0;
    if (!j || json_unpack(j, "{s:s, s:s, s:s, s:s, s:s, s:b, s?s}", "c", &c, "n", &n, "r", &r, "s", &s,
                          "p", &p, "f", &f, "st", &st) != 0)
        return false;
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
        resp_header(r, "Location", "%s", u.data);
        resp_header(r, "Cache-Control", "no-store");
    } else {
        message_page(as, r, 400, "Request too large", "The authorization response does not fit in a redirect.");
    }
    tn_buf_deinit(&u);
}

/* An RFC 6749 §4.1.2.1 error response, with the `error` the error table gives `e`. */
static void redirect_error(struct tn_as *as, struct tn_as_resp *r, const struct authz *a, enum tn_err e,
                           const char *desc)
{
    redirect_back(as, r, a, "error", tn_err_oauth(e), "error_description", desc);
}

static void issue_code(struct tn_as *as, struct tn_as_resp *r, const struct authz *a, const struct tn_user *u)
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
        tn_log(TN_LOG_ERROR, "authorization code could not be stored", "client_id", a->client_id, NULL);
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
    static const char *const verified[] = {"claude.ai", "claude.com", "chatgpt.com", "vscode.dev",
                                           "insiders.vscode.dev", "www.cursor.com"};
    for (size_t i = 0; i < sizeof verified / sizeof verified[0]; i++)
        if (!strcmp(host, verified[i]))
            return true;
    return false;
}

static void show_signin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                        const char *sealed, const struct authz *a, const char *email,
                        const char *error, int status)
{
    char csrf[64], host[256];
    csrf_prepare(as, req, r, csrf);
    host_of(a->redirect_uri, host, sizeof host);
    int64_t users = 1;
    tn_store_user_count(as->cfg.store, &users);
    struct tn_page_signin p = {
        .action = "/authorize/login", .request_id = sealed, .csrf = csrf,
        .client_name = a->client_name, .client_host = host, .email = email,
        .error = users == 0 ? "No account exists yet: the administrator must first finish the "
                              "setup link printed in the server log."
                            : error,
    };
    r->status = status;
    tn_buf_reset(&r->body);
    page_headers_as(as, r, true, tn_page_signin(&r->body, &p));
}

static void show_consent(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                         const char *sealed, const struct authz *a, const struct tn_user *u)
{
    char csrf[64], host[256];
    csrf_prepare(as, req, r, csrf);
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
        .action = "/authorize/consent", .request_id = sealed, .csrf = csrf,
        .client_name = a->client_name, .client_id = a->client_id, .redirect_host = host,
        .host_verified = known_host(host), .loopback_only = tn_redirect_is_loopback(a->redirect_uri),
        .scopes = scopes, .n_scopes = n, .user_email = u->email,
    };
    r->status = 200;
    tn_buf_reset(&r->body);
    page_headers_as(as, r, true, tn_page_consent(&r->body, &pc));
}

/* After sign-in: a remembered consent covering the scope gives a code at once. */
static void continue_as(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                        const char *sealed, const struct authz *a, const struct tn_user *u)
{
    char granted[256];
    if (!a->force_consent && tn_store_consent_get(as->cfg.store, u->id, a->client_id, granted) == TN_OK &&
        scope_subset(a->scope, granted)) {
        issue_code(as, r, a, u);
        return;
    }
    show_consent(as, req, r, sealed, a, u);
}

static bool b64url_chars(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.' || s[i] == '~'))
            return false;
    return true;
}

static bool same_resource(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

static void handle_authorize(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
#define Q(name) req->query(req->ud, name)
    const char *client_id = Q("client_id");
    const char *why = NULL;
    struct tn_client c;
    if (!client_id || !client_id[0]) {
        message_page(as, r, 400, "Invalid request", "The application did not say who it is (client_id is missing).");
        return;
    }
    enum tn_err frc = find_client(as, req, r, client_id, &c, &why);
    if (frc != TN_OK) {
        if (r->offload)
            return;
        bool later = frc == TN_ERR_BUSY || frc == TN_ERR_RATE_LIMITED;
        message_page(as, r, tn_err_http_status(later ? frc : TN_ERR_BAD_INPUT),
                     later ? "Try again later" : "Unknown application", why);
        if (later)
            resp_header(r, "Retry-After", "%s", frc == TN_ERR_BUSY ? "10" : "3600");
        return;
    }
    /* Until the redirect URI is validated, errors are shown here, never redirected. */
    char only[1024];
    const char *redirect = Q("redirect_uri");
    if (!redirect)
        redirect = only_redirect(&c, only, sizeof only);
    if (!redirect) {
        message_page(as, r, 400, "Invalid request", "redirect_uri is required for this application.");
        return;
    }
    if (!redirect_allowed(&c, redirect)) {
        message_page(as, r, 400, "Invalid redirect",
                     "The application asked to send you to an address it did not register. "
                     "For your safety you were not redirected.");
        return;
    }
    struct authz a;
    memset(&a, 0, sizeof a);
    snprintf(a.client_id, sizeof a.client_id, "%s", c.id);
    snprintf(a.client_name, sizeof a.client_name, "%s", c.name);
    snprintf(a.redirect_uri, sizeof a.redirect_uri, "%s", redirect);
    const char *state = Q("state");
    if (state && strlen(state) <= STATE_MAX) {
        a.has_state = true;
        snprintf(a.state, sizeof a.state, "%s", state);
    }
    const char *rt = Q("response_type");
    const char *ch = Q("code_challenge");
    const char *chm = Q("code_challenge_method");
    const char *res = Q("resource");
    const char *prompt = Q("prompt");
    if (state && strlen(state) > STATE_MAX) {
        redirect_error(as, r, &a, TN_ERR_INVALID_REQUEST, "state is too long");
    } else if (!rt || strcmp(rt, "code")) {
        redirect_error(as, r, &a, TN_ERR_UNSUPPORTED_RESPONSE_TYPE, "Only response_type=code is supported");
    } else if (!ch || !chm || strcmp(chm, "S256") || !b64url_chars(ch, 43, 128)) {
        redirect_error(as, r, &a, TN_ERR_INVALID_REQUEST,
                      "PKCE with code_challenge_method=S256 is required");
    } else if (res && !same_resource(res, as->resource)) {
        redirect_error(as, r, &a, TN_ERR_INVALID_TARGET, "This server issues tokens only for its own MCP endpoint");
    } else if (!list_has_word(c.grant_types, "authorization_code")) {
        redirect_error(as, r, &a, TN_ERR_UNAUTHORIZED_CLIENT, "This client may not use the authorization code grant");
    } else {
        grant_scope(as, Q("scope"), a.scope);
        snprintf(a.challenge, sizeof a.challenge, "%s", ch);
        a.force_consent = prompt && strstr(prompt, "consent");
        json_t *j = authz_json(&a);
        char *sealed = tn_seal(as->secret, as->secret_len, "authz", j, REQ_TTL_S);
        json_decref(j);
        struct tn_user u;
        if (prompt && strstr(prompt, "none")) {
            if (session_user(as, req, &u) && !a.force_consent) {
                char granted[256];
                if (tn_store_consent_get(as->cfg.store, u.id, a.client_id, granted) == TN_OK &&
                    scope_subset(a.scope, granted))
                    issue_code(as, r, &a, &u);
                else
                    redirect_error(as, r, &a, TN_ERR_CONSENT_REQUIRED, "Consent is required");
            } else {
                redirect_error(as, r, &a, TN_ERR_LOGIN_REQUIRED, "Sign-in is required");
            }
        } else if (session_user(as, req, &u) && !(prompt && strstr(prompt, "login"))) {
            continue_as(as, req, r, sealed, &a, &u);
        } else {
            show_signin(as, req, r, sealed, &a, NULL, NULL, 200);
        }
        free(sealed);
    }
#undef Q
}

static bool load_authz(struct tn_as *as, const char *sealed, struct authz *a)
{
    json_t *j = tn_unseal(as->secret, as->secret_len, "authz", sealed);
    bool ok = authz_from(j, a);
    json_decref(j);
    return ok;
}

static void handle_login(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    struct authz a;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        message_page(as, r, 400, "Invalid request", "The sign-in form was not sent correctly.");
        return;
    }
    /* A password check takes ~0.2 s of argon2id on purpose: never on an HTTP worker,
     * where a flood of sign-ins would stall every other request. */
    if (req->can_offload) {
        r->offload = true;
        tn_form_deinit(&f);
        return;
    }
    const char *sealed = tn_form_get(&f, "req");
    const char *email = tn_form_get(&f, "email");
    const char *pw = tn_form_get(&f, "password");
    if (!csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        message_page(as, r, 403, "Session expired",
                     "This form is no longer valid (missing or wrong security token). Go back to your "
                     "application and start signing in again.");
        goto done;
    }
    if (!sealed || !load_authz(as, sealed, &a)) {
        message_page(as, r, 400, "Sign-in expired", "This sign-in took too long. Go back to your application and try again.");
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
    struct tn_user u;
    bool found = tn_store_user_by_email(as->cfg.store, lower, &u) == TN_OK;
    char dev[64];
    struct tn_signin_attempt at = {.account = lower, .addr = req->client_addr,
                                   .device = found ? device_of(as, req, u.id, u.tokens_valid_after, dev, sizeof dev) : NULL,
                                   .slot = -1};
    int64_t now = now_s();
    unsigned wait = tn_signin_guard_check(as->signin, &at, now);
    if (wait) {
        char msg[200];
        snprintf(msg, sizeof msg, "Too many failed attempts. Try again in %u minute%s.", (wait + 59) / 60,
                 (wait + 59) / 60 == 1 ? "" : "s");
        show_signin(as, req, r, sealed, &a, email, msg, 429);
        resp_header(r, "Retry-After", "%u", wait);
        goto done;
    }
    enum tn_err admit = tn_signin_guard_enter(as->signin, &at, now);
    if (admit != TN_OK) {
        bool mine = admit == TN_ERR_LIMIT;
        show_signin(as, req, r, sealed, &a, email,
                    mine ? "Another sign-in from your network is being checked. Try again in a moment."
                         : "The server is busy checking other sign-ins. Try again in a few seconds.",
                    mine ? 429 : 503);
        resp_header(r, "Retry-After", "%u", mine ? 1u : 5u);
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
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "trusted_browser", at.device ? "yes" : "no", NULL);
        show_signin(as, req, r, sealed, &a, email,
                    ok && u.disabled ? "This account is disabled." : "Wrong email or password.", 401);
        goto done;
    }
    tn_signin_guard_succeeded(as->signin, &at);
    remember_device(as, r, &u);
    if (rehash && tn_password_hash(pw, u.password_hash) == TN_OK)
        tn_store_user_update(as->cfg.store, &u);
    start_session(as, r, &u);
    tn_log(TN_LOG_INFO, "signed in", "id", req->request_id, "user", u.id, NULL);
    continue_as(as, req, r, sealed, &a, &u);
done:
    tn_form_deinit(&f);
}

static void handle_consent(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    struct authz a;
    struct tn_user u;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        message_page(as, r, 400, "Invalid request", "The consent form was not sent correctly.");
        return;
    }
    const char *decision = tn_form_get(&f, "decision");
    if (!csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        message_page(as, r, 403, "Session expired",
                     "This form is no longer valid (missing or wrong security token). Go back to your "
                     "application and start signing in again.");
    } else if (!load_authz(as, tn_form_get(&f, "req"), &a)) {
        message_page(as, r, 400, "Sign-in expired", "This sign-in took too long. Go back to your application and try again.");
    } else if (!session_user(as, req, &u)) {
        message_page(as, r, 401, "Signed out", "Your session ended. Go back to your application and sign in again.");
    } else if (decision && !strcmp(decision, "allow")) {
        if (tn_store_consent_put(as->cfg.store, u.id, a.client_id, a.scope, now_s()) != TN_OK)
            tn_log(TN_LOG_WARN, "consent could not be remembered", "client_id", a.client_id, NULL);
        issue_code(as, r, &a, &u);
    } else {
        redirect_error(as, r, &a, TN_ERR_FORBIDDEN, "The user declined");
    }
    tn_form_deinit(&f);
}

/* ---------- token endpoint ---------- */

/* Authenticates the client of a token or revocation request. On failure the response
 * is already filled (401 invalid_client). */
static bool client_auth(struct tn_as *as, const struct tn_as_req *req, const struct tn_form *f,
                        struct tn_as_resp *r, struct tn_client *c)
{
    const char *authz = req->header(req->ud, "Authorization");
    char id[512] = "", secret[256] = "";
    bool basic = authz && strncasecmp(authz, "Basic ", 6) == 0;
    if (basic) {
        char dec[600];
        size_t n = 0;
        const char *b = authz + 6;
        while (*b == ' ')
            b++;
        if (tn_b64_decode(dec, sizeof dec - 1, &n, b, strlen(b)) != TN_OK) {
            oauth_error(r, TN_ERR_INVALID_CLIENT, "Malformed client credentials");
            resp_header(r, "WWW-Authenticate", "Basic realm=\"teamnotes\"");
            return false;
        }
        dec[n] = '\0';
        char *colon = strchr(dec, ':');
        struct tn_form tmp; /* RFC 6749 §2.3.1: both parts are form-urlencoded */
        if (!colon) {
            oauth_error(r, TN_ERR_INVALID_CLIENT, "Malformed client credentials");
            return false;
        }
        *colon = '\0';
        char pair[700];
        snprintf(pair, sizeof pair, "i=%s&s=%s", dec, colon + 1);
        if (tn_form_parse(&tmp, pair, strlen(pair)) == TN_OK) {
            snprintf(id, sizeof id, "%s", tn_form_get(&tmp, "i") ? tn_form_get(&tmp, "i") : "");
            snprintf(secret, sizeof secret, "%s", tn_form_get(&tmp, "s") ? tn_form_get(&tmp, "s") : "");
            tn_form_deinit(&tmp);
        }
        sodium_memzero(dec, sizeof dec);
    } else {
        const char *i = tn_form_get(f, "client_id");
        const char *s = tn_form_get(f, "client_secret");
        snprintf(id, sizeof id, "%s", i ? i : "");
        snprintf(secret, sizeof secret, "%s", s ? s : "");
    }
    const char *body_id = tn_form_get(f, "client_id");
    const char *why;
    enum tn_err frc = TN_ERR_NOT_FOUND;
    bool ok = id[0] && !(basic && body_id && strcmp(body_id, id)) &&
              (frc = find_client(as, req, r, id, c, &why)) == TN_OK;
    if (r->offload || frc == TN_ERR_BUSY || frc == TN_ERR_RATE_LIMITED) {
        /* a document not at hand: fetched on the blocking pool, or not now (never
         * invalid_client, on which clients throw their registration away) */
        sodium_memzero(secret, sizeof secret);
        if (!r->offload) {
            oauth_error(r, frc, why);
            resp_header(r, "Retry-After", "%s", frc == TN_ERR_BUSY ? "10" : "3600");
        }
        return false;
    }
    /* A public client proves itself with PKCE (a stray secret is ignored); a confidential
     * one with its secret, by Basic or in the body (lenient on which of the two). */
    if (ok && strcmp(c->auth_method, "none")) {
        uint8_t h[32];
        char hex[65];
        sha256(secret, h);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        ok = secret[0] && strlen(c->secret_hash) == 64 && tn_ct_equal(hex, c->secret_hash, 64);
    }
    sodium_memzero(secret, sizeof secret);
    if (!ok) {
        /* 401 invalid_client: clients re-register on it */
        oauth_error(r, TN_ERR_INVALID_CLIENT, "Unknown client or bad client credentials");
        if (basic)
            resp_header(r, "WWW-Authenticate", "Basic realm=\"teamnotes\"");
        return false;
    }
    return true;
}

static void add_words(json_t *arr, const char *words)
{
    for (const char *p = words; p && *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, " ");
        if (l)
            json_array_append_new(arr, json_stringn(p, l));
        p += l;
    }
}

/* Issues the access token (and a refresh token in `family` when the client may use
 * them) and fills the response. */
static void issue_tokens(struct tn_as *as, struct tn_as_resp *r, const struct tn_client *c,
                         const struct tn_user *u, const char *scope, const char *resource,
                         const char *family)
{
    int64_t now = now_s();
    char jti[32];
    random_token(jti, sizeof jti, 16);
    json_t *roles = json_array(), *perms = json_array();
    json_array_append_new(roles, json_string(u->role));
    add_words(perms, tn_role_permissions(u->role));
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:o, s:o}", "iss",
                               as->issuer, "sub", u->id, "aud", resource, "exp",
                               (json_int_t)(now + as->cfg.access_ttl_s), "iat", (json_int_t)now,
                               "nbf", (json_int_t)now, "jti", jti, "client_id", c->id, "scope",
                               scope, "roles", roles, "permissions", perms);
    if (u->org_id[0])
        json_object_set_new(claims, "oid", json_string(u->org_id));
    char *at = NULL;
    enum tn_err rc = tn_as_keys_sign(as->cfg.keys, claims, &at);
    json_decref(claims);
    if (rc != TN_OK) {
        oauth_error(r, TN_ERR_INTERNAL, "The token could not be signed");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:I, s:s}", "access_token", at, "token_type", "Bearer",
                            "expires_in", (json_int_t)as->cfg.access_ttl_s, "scope", scope);
    free(at);
    if (list_has_word(c->grant_types, "refresh_token")) {
        char rt[64];
        random_token(rt, sizeof rt, 32);
        struct tn_refresh row;
        memset(&row, 0, sizeof row);
        sha256(rt, row.hash);
        snprintf(row.family, sizeof row.family, "%s", family);
        snprintf(row.client_id, sizeof row.client_id, "%s", c->id);
        snprintf(row.user_id, sizeof row.user_id, "%s", u->id);
        snprintf(row.scope, sizeof row.scope, "%s", scope);
        snprintf(row.resource, sizeof row.resource, "%s", resource);
        row.issued_at = now;
        row.expires_at = now + as->cfg.refresh_ttl_s;
        if (tn_store_refresh_insert(as->cfg.store, &row) == TN_OK)
            json_object_set_new(out, "refresh_token", json_string(rt));
        sodium_memzero(rt, sizeof rt);
    }
    json_resp(r, 200, out);
    resp_header(r, "Cache-Control", "no-store");
    resp_header(r, "Pragma", "no-cache");
}

static bool pkce_ok(const char *verifier, const char *challenge)
{
    if (!verifier || !b64url_chars(verifier, 43, 128))
        return false;
    uint8_t h[32];
    char enc[48];
    sha256(verifier, h);
    tn_b64url_encode(enc, sizeof enc, h, sizeof h);
    return strlen(enc) == strlen(challenge) && tn_ct_equal(enc, challenge, strlen(enc));
}

static bool user_current(struct tn_as *as, const char *uid, int64_t issued_at, struct tn_user *u)
{
    return tn_store_user_get(as->cfg.store, uid, u) == TN_OK && !u->disabled &&
           issued_at >= u->tokens_valid_after;
}

static void grant_code(struct tn_as *as, const struct tn_form *f, const struct tn_client *c,
                       struct tn_as_resp *r)
{
    const char *code = tn_form_get(f, "code");
    const char *redirect = tn_form_get(f, "redirect_uri");
    const char *res = tn_form_get(f, "resource");
    if (!code || !tn_form_get(f, "code_verifier")) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "code and code_verifier are required");
        return;
    }
    struct tn_code row;
    uint8_t h[32];
    sha256(code, h);
    enum tn_err rc = tn_store_code_take(as->cfg.store, h, &row);
    if (rc == TN_ERR_CONFLICT) {
        /* a replayed code: whatever was issued from it is revoked */
        tn_store_family_revoke(as->cfg.store, row.family);
        tn_log(TN_LOG_WARN, "authorization code replayed; its grant is revoked", "client_id", c->id, NULL);
        oauth_error(r, TN_ERR_INVALID_GRANT, "The authorization code was already used");
        return;
    }
    if (rc != TN_OK || row.expires_at < now_s() || strcmp(row.client_id, c->id)) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "The authorization code is invalid or expired");
        return;
    }
    if (!redirect || strcmp(redirect, row.redirect_uri)) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "redirect_uri does not match the authorization request");
        return;
    }
    if (!pkce_ok(tn_form_get(f, "code_verifier"), row.challenge)) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "code_verifier does not match the code_challenge");
        return;
    }
    if (res && !same_resource(res, row.resource)) {
        oauth_error(r, TN_ERR_INVALID_TARGET, "resource does not match the authorization request");
        return;
    }
    struct tn_user u;
    if (!user_current(as, row.user_id, 0, &u)) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "The account is disabled");
        return;
    }
    issue_tokens(as, r, c, &u, row.scope, row.resource, row.family);
}

static void grant_refresh(struct tn_as *as, const struct tn_form *f, const struct tn_client *c,
                          struct tn_as_resp *r)
{
    const char *rt = tn_form_get(f, "refresh_token");
    if (!rt) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "refresh_token is required");
        return;
    }
    uint8_t h[32];
    sha256(rt, h);
    struct tn_refresh old;
    if (tn_store_refresh_get(as->cfg.store, h, &old) != TN_OK || strcmp(old.client_id, c->id)) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "The refresh token is invalid");
        return;
    }
    const char *scope = tn_form_get(f, "scope");
    const char *res = tn_form_get(f, "resource");
    char granted[256];
    snprintf(granted, sizeof granted, "%s", old.scope);
    if (scope && scope[0]) {
        char want[256];
        grant_scope(as, scope, want);
        if (!scope_subset(want, old.scope)) {
            oauth_error(r, TN_ERR_INVALID_SCOPE, "A refresh cannot widen the granted scope");
            return;
        }
        snprintf(granted, sizeof granted, "%s", want);
    }
    if (res && !same_resource(res, old.resource)) {
        oauth_error(r, TN_ERR_INVALID_TARGET, "resource does not match the grant");
        return;
    }
    struct tn_user u;
    if (!user_current(as, old.user_id, old.issued_at, &u)) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "The grant was revoked");
        return;
    }
    /* the successor is inserted by the rotation itself; issue_tokens would insert another */
    char next_rt[64];
    random_token(next_rt, sizeof next_rt, 32);
    struct tn_refresh next = old;
    sha256(next_rt, next.hash);
    next.issued_at = now_s();
    next.expires_at = next.issued_at + as->cfg.refresh_ttl_s;
    next.rotated_at = 0;
    next.revoked = false;
    snprintf(next.scope, sizeof next.scope, "%s", granted);
    struct tn_refresh seen;
    enum tn_err rc = tn_store_refresh_rotate(as->cfg.store, h, &next, now_s(), &seen);
    if (rc == TN_ERR_CONFLICT) {
        /* A client's concurrent refresh: a rotated token is honoured once more within
         * the grace window, and the store spends that one chance atomically; a further
         * presentation is a replay. */
        bool concurrent = as->cfg.refresh_grace_s > 0 && seen.rotated_at && !seen.revoked &&
                          tn_store_refresh_spend_grace(as->cfg.store, h, now_s(), as->cfg.refresh_grace_s) == TN_OK;
        if (!concurrent || tn_store_refresh_insert(as->cfg.store, &next) != TN_OK) {
            if (seen.rotated_at && !seen.revoked) {
                /* reuse of a rotated token: treat the family as stolen */
                tn_store_family_revoke(as->cfg.store, seen.family);
                tn_log(TN_LOG_WARN, "refresh token reused; its family is revoked", "client_id", c->id, NULL);
            }
            oauth_error(r, TN_ERR_INVALID_GRANT, "The refresh token was already used, revoked or expired");
            sodium_memzero(next_rt, sizeof next_rt);
            return;
        }
    } else if (rc != TN_OK) {
        oauth_error(r, TN_ERR_INVALID_GRANT, "The refresh token is invalid");
        sodium_memzero(next_rt, sizeof next_rt);
        return;
    }
    /* access token, then hand out the successor refresh token */
    struct tn_client no_refresh = *c;
    snprintf(no_refresh.grant_types, sizeof no_refresh.grant_types, "authorization_code");
    issue_tokens(as, r, &no_refresh, &u, granted, old.resource, old.family);
    if (r->status == 200) {
        json_t *doc = json_loadb(r->body.data, r->body.len, 0, NULL);
        json_object_set_new(doc, "refresh_token", json_string(next_rt));
        unsigned nh = r->n_headers;
        json_resp(r, 200, doc);
        r->n_headers = nh;
    }
    sodium_memzero(next_rt, sizeof next_rt);
}

static void handle_token(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    const char *ct = req->header(req->ud, "Content-Type");
    if (strcmp(req->method, "POST")) {
        oauth_error(r, TN_ERR_METHOD_NOT_ALLOWED, "Use POST");
        resp_header(r, "Allow", "POST");
        return;
    }
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "The body must be application/x-www-form-urlencoded");
        return;
    }
    if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "Malformed or repeated parameters");
        return;
    }
    struct tn_client c;
    const char *gt = tn_form_get(&f, "grant_type");
    if (!gt) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "grant_type is required");
    } else if (strcmp(gt, "authorization_code") && strcmp(gt, "refresh_token")) {
        oauth_error(r, TN_ERR_UNSUPPORTED_GRANT_TYPE, "Only authorization_code and refresh_token are supported");
    } else if (client_auth(as, req, &f, r, &c)) {
        if (!list_has_word(c.grant_types, gt))
            oauth_error(r, TN_ERR_UNAUTHORIZED_CLIENT, "This client may not use this grant type");
        else if (!strcmp(gt, "authorization_code"))
            grant_code(as, &f, &c, r);
        else
            grant_refresh(as, &f, &c, r);
        if (r->status == 200)
            tn_store_client_touch(as->cfg.store, c.id, now_s());
    }
    tn_form_deinit(&f);
}

static void handle_revoke(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "POST a form with the token");
        return;
    }
    struct tn_client c;
    const char *tok = tn_form_get(&f, "token");
    if (!tok) {
        oauth_error(r, TN_ERR_INVALID_REQUEST, "token is required");
    } else if (client_auth(as, req, &f, r, &c)) {
        uint8_t h[32];
        struct tn_refresh row;
        sha256(tok, h);
        if (tn_store_refresh_get(as->cfg.store, h, &row) == TN_OK && !strcmp(row.client_id, c.id))
            tn_store_family_revoke(as->cfg.store, row.family);
        /* RFC 7009: 200 whether or not the token was known */
        r->status = 200;
        r->content_type = NULL;
        tn_buf_reset(&r->body);
        resp_header(r, "Cache-Control", "no-store");
    }
    tn_form_deinit(&f);
}

/* ---------- first administrator ---------- */

static void handle_setup(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    int64_t users = 0;
    tn_store_user_count(as->cfg.store, &users);
    pthread_mutex_lock(&as->mu);
    char token[48];
    snprintf(token, sizeof token, "%s", as->setup_token);
    pthread_mutex_unlock(&as->mu);
    if (users > 0 || !token[0]) {
        message_page(as, r, 404, "Setup is done", "This server already has an administrator.");
        return;
    }
    char csrf[64];
    if (!strcmp(req->method, "GET")) {
        const char *t = req->query(req->ud, "token");
        if (!t || strlen(t) != strlen(token) || !tn_ct_equal(t, token, strlen(token))) {
            message_page(as, r, 403, "Invalid setup link", "Use the setup link printed in the server log.");
            return;
        }
        csrf_prepare(as, req, r, csrf);
        struct tn_page_setup p = {.action = "/setup", .token = t, .csrf = csrf};
        r->status = 200;
        page_headers_as(as, r, false, tn_page_setup(&r->body, &p));
        return;
    }
    struct tn_form f;
    if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        message_page(as, r, 400, "Invalid request", "The setup form was not sent correctly.");
        return;
    }
    const char *t = tn_form_get(&f, "token"), *email = tn_form_get(&f, "email");
    const char *name = tn_form_get(&f, "name"), *pw = tn_form_get(&f, "password");
    const char *pw2 = tn_form_get(&f, "password2");
    const char *err = NULL;
    if (!t || strlen(t) != strlen(token) || !tn_ct_equal(t, token, strlen(token))) {
        message_page(as, r, 403, "Invalid setup link", "Use the setup link printed in the server log.");
        goto done;
    }
    if (!csrf_ok(as, req, tn_form_get(&f, "csrf")))
        err = "The form expired; reload the setup link.";
    else if (!email || !strchr(email, '@') || strlen(email) > 254)
        err = "Enter a valid email address.";
    else if (!pw || strlen(pw) < TN_PASSWORD_MIN)
        err = "The password needs at least 10 characters.";
    else if (!pw2 || strcmp(pw, pw2))
        err = "The two passwords differ.";
    if (!err) {
        struct tn_user u;
        memset(&u, 0, sizeof u);
        snprintf(u.id, sizeof u.id, "usr_");
        random_token(u.id + 4, sizeof u.id - 4, 12);
        for (size_t i = 0; email[i] && i < sizeof u.email - 1; i++)
            u.email[i] = (char)tolower((unsigned char)email[i]);
        snprintf(u.name, sizeof u.name, "%s", name && name[0] ? name : email);
        snprintf(u.role, sizeof u.role, "admin");
        struct tn_org o;
        if (tn_store_org_by_name(as->cfg.store, "default", &o) != TN_OK) {
            memset(&o, 0, sizeof o);
            snprintf(o.id, sizeof o.id, "org_");
            random_token(o.id + 4, sizeof o.id - 4, 12);
            snprintf(o.name, sizeof o.name, "default");
            o.created_at = now_s();
            tn_store_org_insert(as->cfg.store, &o);
        }
        snprintf(u.org_id, sizeof u.org_id, "%s", o.id);
        u.created_at = now_s();
        if (tn_password_hash(pw, u.password_hash) != TN_OK || tn_store_user_insert(as->cfg.store, &u) != TN_OK) {
            err = "The account could not be created.";
        } else {
            pthread_mutex_lock(&as->mu);
            as->setup_token[0] = '\0';
            pthread_mutex_unlock(&as->mu);
            tn_log(TN_LOG_INFO, "first administrator created", "user", u.id, NULL);
            message_page(as, r, 200, "You are the administrator",
                         "Your account is ready. Add this server's /mcp URL to your MCP client and sign in "
                         "there; add your team with `teamnotes user add`.");
            goto done;
        }
    }
    csrf_prepare(as, req, r, csrf);
    struct tn_page_setup p = {.action = "/setup", .token = t, .csrf = csrf, .error = err};
    r->status = 400;
    page_headers_as(as, r, false, tn_page_setup(&r->body, &p));
done:
    tn_form_deinit(&f);
}

/* ---------- dispatch ---------- */

static const char *const owned[] = {
    "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/jwks",
    "/register", "/authorize", "/authorize/login", "/authorize/consent", "/token", "/revoke",
    "/setup",
};

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
    if (!strcmp(p, "/.well-known/oauth-authorization-server") || !strcmp(p, "/.well-known/openid-configuration")) {
        json_resp(r, 200, json_incref(as->metadata));
        resp_header(r, "Cache-Control", "public, max-age=300");
    } else if (!strcmp(p, "/jwks")) {
        json_resp(r, 200, tn_as_keys_jwks_json(as->cfg.keys));
        resp_header(r, "Cache-Control", "public, max-age=300");
    } else if (!strcmp(p, "/register")) {
        handle_register(as, req, r);
    } else if (!strcmp(p, "/authorize")) {
        if (get)
            handle_authorize(as, req, r);
        else
            message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
    } else if (!strcmp(p, "/authorize/login")) {
        handle_login(as, req, r);
    } else if (!strcmp(p, "/authorize/consent")) {
        handle_consent(as, req, r);
    } else if (!strcmp(p, "/token")) {
        handle_token(as, req, r);
    } else if (!strcmp(p, "/revoke")) {
        handle_revoke(as, req, r);
    } else if (!strcmp(p, "/setup")) {
        handle_setup(as, req, r);
    } else { /* not reached: the server routes only tn_as_owns() paths here */
        oauth_error(r, TN_ERR_NOT_FOUND, "No such endpoint");
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
    if (!as->signin || !as->registrations || !as->registrations_net || !as->cimd || !as->cimd_fetches) {
        tn_as_free(as);
        return NULL;
    }
    as->metadata = build_metadata(as);
    int64_t users = 0;
    if (tn_store_user_count(cfg->store, &users) == TN_OK && users == 0) {
        random_token(as->setup_token, sizeof as->setup_token, 24);
        snprintf(as->setup_url, sizeof as->setup_url, "%s/setup?token=%s", as->issuer, as->setup_token);
    }
    if (!as->cimd) {
        tn_as_free(as);
        return NULL;
    }
    return as;
}

const char *tn_as_setup_url(struct tn_as *as)
{
    return as->setup_url[0] ? as->setup_url : NULL;
}

void tn_as_free(struct tn_as *as)
{
    if (!as)
        return;
    json_decref(as->metadata);
    tn_signin_guard_free(as->signin);
    tn_throttle_free(as->registrations);
    tn_throttle_free(as->registrations_net);
    tn_throttle_free(as->cimd_fetches);
    tn_cimd_cache_free(as->cimd);
    pthread_mutex_destroy(&as->mu);
    sodium_memzero(as->secret, sizeof as->secret);
    free(as->issuer);
    free(as->resource);
    free(as->scopes);
    free(as);
}
