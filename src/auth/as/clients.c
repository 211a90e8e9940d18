/* Who a client_id names: a client registered here, or a Client ID Metadata Document
 * (fetched on the blocking pool, cached by auth/as/cimd.c); and dynamic client
 * registration (RFC 7591) with its per-address limits. */
#include "auth/as/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/as/redirect.h"
#include "core/fetch.h"
#include "core/log.h"
#include "ops/metrics.h"

#define CIMD_MAX_BYTES (64 * 1024)
#define CIMD_FETCH_MS 5000

/* ---------- clients ---------- */

static bool rate_ok(struct tn_as *as, const char *addr);

static bool is_cimd_id(const char *id)
{
    return strncmp(id, "https://", 8) == 0 || strncmp(id, "http://", 7) == 0;
}

/* Reads a fetched Client ID Metadata Document into *c, or says why not (no lock held). */
static bool cimd_parse(const char *url, const struct tn_fetch_result *fr, struct tn_client *c,
                       const char **why)
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
    json_array_foreach(ams, i, v)
        public_ok |= json_is_string(v) && !strcmp(json_string_value(v), "none");
    if (!doc) {
        *why = "The client's metadata document could not be fetched.";
    } else if (!cid || strcmp(cid, url) != 0) {
        *why = "The client's metadata document names another client_id.";
    } else if (!name || !name[0] || strlen(name) >= sizeof c->name) {
        *why = "The client's metadata document has no client_name.";
    } else if (!json_is_array(uris) || json_array_size(uris) == 0 || json_array_size(uris) > 20) {
        *why = "The client's metadata document has no redirect_uris.";
    } else if (!public_ok) {
        *why =
            "The client's metadata document asks for an authentication method this server does not support.";
    } else {
        ok = true;
        struct tn_buf w;
        tn_buf_init(&w, 256);
        json_array_foreach(uris, i, v) {
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
            json_array_foreach(gt, i, v)
                if (json_is_string(v) && (!strcmp(json_string_value(v), "authorization_code") ||
                                          !strcmp(json_string_value(v), "refresh_token")))
                    snprintf(c->grant_types + strlen(c->grant_types),
                             sizeof c->grant_types - strlen(c->grant_types), "%s%s",
                             c->grant_types[0] ? " " : "", json_string_value(v));
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
        tn_log(TN_LOG_INFO, "client metadata document refused", "client_id", url, "reason", *why,
               NULL);
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
    /* a document fetched (or refused before the fetch): one registration attempt */
    tn_metrics_registration("cimd", rc == TN_OK                 ? "ok"
                                    : rc == TN_ERR_RATE_LIMITED ? "throttled"
                                    : rc == TN_ERR_BAD_INPUT    ? "refused"
                                                                : "error");
    tn_cimd_cache_end(as->cimd, url, now_s(), rc == TN_OK ? c : NULL, ttl,
                      rc == TN_ERR_BAD_INPUT ? fail : NULL, host_fault);
    /* A client that worked keeps working while its document cannot be refetched (the
     * host fails, or this address used its fetches): its last good document serves. */
    if (rc != TN_OK && rc != TN_ERR_NOMEM &&
        tn_cimd_cache_stale(as->cimd, url, now_s(), out) == TN_OK) {
        tn_log(TN_LOG_INFO, "client metadata document served stale", "client_id", url, "reason",
               *why, NULL);
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
enum tn_err tn_as_find_client(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                              const char *id, struct tn_client *out, const char **why)
{
    if (is_cimd_id(id))
        return cimd_client(as, req, r, id, out, why);
    *why =
        "This application is not registered with this server. Remove it from your MCP client and add it again.";
    if (strlen(id) >= sizeof out->id)
        return TN_ERR_NOT_FOUND;
    return tn_store_client_get(as->cfg.store, id, out);
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

/* redirect_uris: 1 to 10 acceptable URIs (auth/as/redirect.h); false with the response
 * filled (invalid_redirect_uri, naming the first bad one). */
static bool redirect_uris_ok(json_t *uris, struct tn_as_resp *r)
{
    bool ok = false;
    struct tn_buf why;
    tn_buf_init(&why, 512);
    if (!json_is_array(uris) || json_array_size(uris) == 0 || json_array_size(uris) > 10) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REDIRECT_URI, "redirect_uris must list 1 to 10 URIs");
        goto done;
    }
    size_t i;
    json_t *v;
    json_array_foreach(uris, i, v) {
        tn_buf_reset(&why);
        if (!json_is_string(v) || tn_redirect_validate(json_string_value(v), &why) != TN_OK) {
            json_t *e = json_pack("{s:s, s:s}", "error", tn_err_oauth(TN_ERR_INVALID_REDIRECT_URI),
                                  "error_description", "");
            char d[1400];
            snprintf(d, sizeof d, "redirect_uris[%zu] %s", i,
                     json_is_string(v) ? why.data : "must be a string");
            json_object_set_new(e, "error_description", json_string(d));
            tn_as_json_resp(r, tn_err_http_status(TN_ERR_INVALID_REDIRECT_URI), e);
            goto done;
        }
    }
    ok = true;
done:
    tn_buf_deinit(&why);
    return ok;
}

/* Reads a registration request's metadata into *c (all but its id, secret and times);
 * false with the response filled (invalid_client_metadata). */
static bool read_metadata(struct tn_as *as, json_t *in, json_t *uris, struct tn_client *c,
                          struct tn_as_resp *r)
{
    size_t i;
    json_t *v;
    const char *am = json_string_value(json_object_get(in, "token_endpoint_auth_method"));
    if (!am)
        am = "client_secret_basic"; /* RFC 7591's default */
    if (strcmp(am, "none") && strcmp(am, "client_secret_basic") &&
        strcmp(am, "client_secret_post")) {
        tn_as_oauth_error(
            r, TN_ERR_INVALID_CLIENT_METADATA,
            "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post");
        return false;
    }
    /* Lenient on what clients send: unsupported grant types (device_code, implicit,
     * client_credentials) are dropped, not fatal. */
    json_t *gt = json_object_get(in, "grant_types");
    bool want_refresh = !json_is_array(gt);
    json_array_foreach(gt, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), "refresh_token"))
            want_refresh = true;
    snprintf(c->grant_types, sizeof c->grant_types, "authorization_code%s",
             want_refresh ? " refresh_token" : "");
    json_t *rt = json_object_get(in, "response_types");
    bool code_ok = !json_is_array(rt);
    json_array_foreach(rt, i, v)
        code_ok |= json_is_string(v) && !strcmp(json_string_value(v), "code");
    if (!code_ok) {
        tn_as_oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA, "response_types must include code");
        return false;
    }
    const char *name = json_string_value(json_object_get(in, "client_name"));
    if (name && strlen(name) >= sizeof c->name) {
        tn_as_oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA,
                          "client_name is longer than 127 bytes");
        return false;
    }
    const char *at = json_string_value(json_object_get(in, "application_type"));
    snprintf(c->application_type, sizeof c->application_type, "%s",
             at && !strcmp(at, "web") ? "web" : "native");
    char scope[256] = "";
    const char *sc = json_string_value(json_object_get(in, "scope"));
    if (sc)
        tn_as_grant_scope(as, sc, scope); /* a hint only: unknown scopes never refuse a client */
    snprintf(c->name, sizeof c->name, "%s", name && name[0] ? name : "Unnamed client");
    char *u = json_dumps(uris, JSON_COMPACT);
    snprintf(c->redirect_uris, sizeof c->redirect_uris, "%s", u ? u : "[]");
    free(u);
    snprintf(c->auth_method, sizeof c->auth_method, "%s", am);
    snprintf(c->scope, sizeof c->scope, "%s", scope);
    return true;
}

/* A confidential client's secret: in `secret` to return once, only its hash in *c. */
static void new_secret(struct tn_client *c, char secret[64])
{
    random_token(secret, 64, 32);
    uint8_t hs[32];
    sha256(secret, hs);
    sodium_bin2hex(c->secret_hash, sizeof c->secret_hash, hs, sizeof hs);
}

/* The registration response (RFC 7591 §3.2.1) without the secret: also what the store
 * keeps as the client's metadata. */
static json_t *registration_json(const struct tn_client *c, json_t *uris)
{
    json_t *out = json_pack("{s:s, s:I, s:s, s:O, s:[s], s:s, s:s}", "client_id", c->id,
                            "client_id_issued_at", (json_int_t)c->created_at, "client_name",
                            c->name, "redirect_uris", uris, "response_types", "code",
                            "token_endpoint_auth_method", c->auth_method, "application_type",
                            c->application_type);
    json_t *g = json_array();
    json_array_append_new(g, json_string("authorization_code"));
    if (tn_as_list_has_word(c->grant_types, "refresh_token"))
        json_array_append_new(g, json_string("refresh_token"));
    json_object_set_new(out, "grant_types", g);
    if (c->scope[0])
        json_object_set_new(out, "scope", json_string(c->scope));
    return out;
}

/* POST /register (RFC 7591): lenient on fields, strict on redirect URIs, limited per
 * address and hour. */
void tn_as_handle_register(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    json_t *in = NULL, *uris = NULL, *out = NULL;
    struct tn_client c;
    char secret[64] = "";
    memset(&c, 0, sizeof c);
    if (strcmp(req->method, "POST")) {
        tn_as_oauth_error(r, TN_ERR_METHOD_NOT_ALLOWED, "Use POST");
        tn_as_resp_header(r, "Allow", "POST");
        goto done;
    }
    cleanup_clients(as);
    if (!rate_ok(as, req->client_addr)) {
        tn_as_oauth_error(r, TN_ERR_RATE_LIMITED,
                          "Too many registrations from this address; try again later");
        tn_as_resp_header(r, "Retry-After", "3600");
        goto done;
    }
    in = json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(in)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_CLIENT_METADATA, "The body must be a JSON object");
        goto done;
    }
    uris = json_object_get(in, "redirect_uris");
    if (!redirect_uris_ok(uris, r) || !read_metadata(as, in, uris, &c, r))
        goto done;
    random_token(c.id, sizeof c.id, 18);
    c.created_at = now_s();
    if (strcmp(c.auth_method, "none"))
        new_secret(&c, secret);
    out = registration_json(&c, uris);
    char *meta = json_dumps(out, JSON_COMPACT);
    snprintf(c.metadata, sizeof c.metadata, "%s", meta ? meta : "{}");
    free(meta);
    if (tn_store_client_insert(as->cfg.store, &c) != TN_OK) {
        tn_as_oauth_error(r, TN_ERR_INTERNAL, "The client could not be registered");
        goto done;
    }
    if (secret[0]) {
        /* returned once; only its hash is kept */
        json_object_set_new(out, "client_secret", json_string(secret));
        json_object_set_new(out, "client_secret_expires_at", json_integer(0));
    }
    tn_as_json_resp(r, 201, out);
    out = NULL; /* the response took it */
    tn_as_resp_header(r, "Cache-Control", "no-store");
    tn_log(TN_LOG_INFO, "client registered", "client_id", c.id, "auth", c.auth_method, NULL);
done:
    if (!strcmp(req->method, "POST"))
        tn_metrics_registration("dcr", r->status == 201   ? "ok"
                                       : r->status == 429 ? "throttled"
                                       : r->status >= 500 ? "error"
                                                          : "refused");
    json_decref(out);
    sodium_memzero(secret, sizeof secret);
    json_decref(in);
}
