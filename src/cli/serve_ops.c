/* The operator's endpoints of teamnotes serve: /healthz (the process answers), /readyz
 * (it can serve requests now) and /metrics (Prometheus), on the main listener or on the
 * METRICS_LISTEN one made here (docs/OPERATIONS.md). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/as/keys.h"
#include "auth/rs/rs.h"
#include "cli/serve_internal.h"
#include "core/log.h"
#include "ops/metrics.h"

/* /healthz: the process answers. Nothing else is looked at, so that a supervisor does
 * not restart a server whose database is down (that is /readyz's business). */
void tn_serve_health_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    (void)ud, (void)req;
    static const char ok[] = "{\"status\":\"ok\"}";
    tn_http_resp_json(resp, 200, ok, sizeof ok - 1);
    tn_http_resp_header(resp, "Cache-Control", "no-store");
}

/* /readyz: whether this instance can serve requests now: the store answers a query, the
 * built-in issuer's signing keys are loaded, and the verifier has keys (the built-in
 * issuer's, or the external issuer's JWKS, fetched when missing or expired). 200, or
 * 503 naming each check that failed. Runs on the blocking pool: the checks wait. */
void tn_serve_ready_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    struct app *app = ud;
    if (!tn_http_req_offloaded(req)) {
        tn_http_resp_offload(resp);
        return;
    }
    struct check {
        const char *name, *failure;
        bool ok;
    } checks[3];
    size_t n = 0;
    int64_t users = 0;
    checks[n++] = (struct check){"store", "the store does not answer",
                                 app->store && tn_store_user_count(app->store, &users) == TN_OK};
    if (app->auth && !strcmp(tn_config_str(app->cfg, TN_CFG_AUTH_MODE), "builtin")) {
        struct tn_jwks *set = app->keys ? tn_as_keys_jwks_copy(app->keys) : NULL;
        checks[n++] = (struct check){"signing_keys", "no signing key is loaded",
                                     app->as && set && tn_jwks_count(set) > 0};
        tn_jwks_free(set);
    }
    if (app->auth)
        checks[n++] = (struct check){
            "token_keys", "no usable keys to verify tokens (the issuer's JWKS is missing or stale)",
            app->rs && tn_rs_keys_ready(app->rs)};
    bool ready = true;
    struct tn_buf b;
    tn_buf_init(&b, 4096);
    tn_buf_puts(&b, "{\"checks\":{");
    for (size_t i = 0; i < n; i++) {
        tn_buf_printf(&b, "%s\"%s\":\"%s\"", i ? "," : "", checks[i].name,
                      checks[i].ok ? "ok" : checks[i].failure);
        ready = ready && checks[i].ok;
    }
    tn_buf_puts(&b, "},\"failed\":[");
    for (size_t i = 0, k = 0; i < n; i++)
        if (!checks[i].ok)
            tn_buf_printf(&b, "%s\"%s\"", k++ ? "," : "", checks[i].name);
    tn_buf_printf(&b, "],\"status\":\"%s\"}", ready ? "ready" : "not_ready");
    tn_http_resp_json(resp, ready ? 200 : 503, b.data ? b.data : "{}", b.data ? b.len : 2);
    tn_buf_deinit(&b);
    tn_http_resp_header(resp, "Cache-Control", "no-store");
    if (!ready)
        tn_http_resp_header(resp, "Retry-After", "5");
}

/* The scraper's bearer token, when METRICS_TOKEN is set: compared as SHA-256 digests in
 * constant time (neither the token nor its length shows in the timing). */
static bool metrics_authorized(const struct app *app, const struct tn_http_req *req)
{
    if (!app->metrics_token)
        return true;
    const char *h = tn_http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    uint8_t d[32];
    crypto_hash_sha256(d, (const unsigned char *)h + 7, strnlen(h + 7, 4096));
    return sodium_memcmp(d, app->metrics_token_hash, sizeof d) == 0;
}

/* /metrics: the Prometheus text format (ops/metrics.h). */
void tn_serve_metrics_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    struct app *app = ud;
    if (!metrics_authorized(app, req)) {
        char no[160];
        int n = snprintf(no, sizeof no,
                         "{\"error\":\"%s\",\"error_description\":\"This endpoint needs the "
                         "METRICS_TOKEN bearer token\"}",
                         tn_err_oauth(TN_ERR_INVALID_TOKEN));
        tn_http_resp_json(resp, tn_err_http_status(TN_ERR_INVALID_TOKEN), no, (size_t)n);
        tn_http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"metrics\"");
        return;
    }
    struct tn_metrics_extra x = {.version = TN_VERSION, .backend = tn_store_backend(app->store)};
    if (app->rs) {
        struct tn_rs_stats st;
        tn_rs_stats(app->rs, &st);
        x.have_token_cache = true;
        x.token_cache_hits = st.cache_hits;
        x.token_cache_misses = st.verifications;
    }
    if (tn_metrics_render(&resp->body, &x) != TN_OK) {
        tn_buf_reset(&resp->body);
        resp->status = 500;
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    tn_http_resp_header(resp, "Cache-Control", "no-store");
}

/* The listener of METRICS_LISTEN: /metrics, /healthz and /readyz only, one worker, a
 * small blocking pool for /readyz. NULL (logged) when it cannot be made. */
struct tn_http_server *tn_serve_metrics_http(struct app *app)
{
    const struct tn_config *cfg = app->cfg;
    char host[64], base[128];
    uint16_t port;
    if (tn_config_metrics_listen(tn_config_str(cfg, TN_CFG_METRICS_LISTEN), host, sizeof host,
                                 &port) != TN_OK)
        return NULL; /* the configuration checked it */
    snprintf(base, sizeof base, strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
             (unsigned)port);
    struct tn_http_config hc = {
        .host = host,
        .port = port,
        .base_url = base,
        .allowed_origins = "",
        .allowed_hosts = "",
        .trusted_proxies = "",
        .limits =
            {
                .max_body = 1024,
                .max_header_bytes = (size_t)tn_config_int(cfg, TN_CFG_MAX_HEADER_BYTES),
                .max_headers = (unsigned)tn_config_int(cfg, TN_CFG_MAX_HEADERS),
                .conn_memory = (size_t)tn_config_int(cfg, TN_CFG_CONN_MEMORY_BYTES),
                .max_connections = 64,
                .max_per_ip = 0,
                .conn_timeout_s = (unsigned)tn_config_int(cfg, TN_CFG_CONN_TIMEOUT_S),
                .request_timeout_s = (unsigned)tn_config_int(cfg, TN_CFG_REQUEST_TIMEOUT_S),
                .threads = 1,
                .heartbeat_s = (unsigned)tn_config_int(cfg, TN_CFG_SSE_HEARTBEAT_S),
                .blocking_threads = 2,
            },
    };
    struct tn_http_server *m = tn_http_server_new(&hc);
    if (!m)
        return NULL;
    tn_http_route(m, "/metrics", TN_HTTP_EXACT, tn_serve_metrics_route, app);
    tn_http_route(m, "/healthz", TN_HTTP_EXACT, tn_serve_health_route, app);
    tn_http_route(m, "/readyz", TN_HTTP_EXACT, tn_serve_ready_route, app);
    static const char *const paths[] = {"/metrics", "/healthz", "/readyz"};
    for (size_t i = 0; i < 3; i++)
        tn_http_route_body_limit(m, paths[i], 1);
    if (tn_http_server_start(m) != TN_OK) {
        tn_log(TN_LOG_ERROR, "cannot listen on METRICS_LISTEN", "address",
               tn_config_str(cfg, TN_CFG_METRICS_LISTEN), NULL);
        tn_http_server_free(m);
        return NULL;
    }
    return m;
}
