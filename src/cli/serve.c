#include "cli/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/accounts.h"
#include "auth/as/as.h"
#include "auth/as/keys.h"
#include "auth/gate.h"
#include "auth/issuer.h"
#include "auth/rs/rs.h"
#include "auth/signin/methods.h"
#include "auth/upstream/providers.h"
#include "cli/serve_internal.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/principal.h"
#include "core/util.h"
#include "http/server.h"
#include "mail/mail.h"
#include "ops/metrics.h"

/* How old a built-in account's status may be when a request uses its token. */
#define ACCOUNT_CHECK_MS 5000
/* How often open streams are authorized again (tn_mcp_recheck). */
#define RECHECK_MS 1000

struct glue {
    const struct tn_http_req *req;
    struct tn_http_resp *resp;
};

static const char *glue_header(void *ud, const char *name)
{
    return tn_http_req_header(((struct glue *)ud)->req, name);
}

static struct tn_sink *glue_stream(void *ud)
{
    return tn_http_resp_stream(((struct glue *)ud)->resp);
}

/* The refusal of an unauthenticated request: 401 with the challenge, or 503 while no
 * keys can be had (or the resource server is not built yet). */
static void refuse(struct app *app, const struct tn_http_req *req, struct tn_http_resp *resp,
                   enum tn_rs_verdict v, enum tn_jwt_reason why)
{
    struct tn_buf www;
    tn_buf_init(&www, 2048);
    int status = app->rs ? tn_rs_challenge(app->rs, v, &www, &resp->body) : 503;
    resp->status = status;
    resp->content_type = "application/json";
    if (www.len)
        tn_http_resp_header(resp, "WWW-Authenticate", www.data);
    if (status == 503) {
        tn_http_resp_header(resp, "Retry-After", "30");
        if (!app->rs)
            tn_buf_printf(&resp->body, "{\"error\":\"%s\",\"error_description\":\"Starting\"}",
                          tn_err_oauth(TN_ERR_UNAVAILABLE));
    }
    tn_buf_deinit(&www);
    if (v != TN_RS_NO_TOKEN || why != TN_JWT_OK)
        tn_log(TN_LOG_INFO, "token refused", "id", tn_http_req_id(req), "reason",
               v == TN_RS_NO_TOKEN ? "no bearer token" : tn_jwt_reason_name(why), NULL);
}

/* Authentication, on the headers alone: no body byte of an unauthenticated request is
 * ever read. */
static bool mcp_pre(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp,
                    void **value)
{
    struct app *app = ud;
    if (!app->auth)
        return true;
    /* CORS preflights never reach here; GET and DELETE are authenticated too, since
     * clients expect a 401 challenge on any unauthenticated request. */
    enum tn_rs_verdict v = TN_RS_UNAVAILABLE;
    enum tn_jwt_reason why = TN_JWT_OK;
    struct tn_principal *p = NULL;
    /* The event loop never waits for the issuer: a token that needs its keys fetched
     * first (a key we do not have, keys expired) is authenticated again on the pool. */
    const char *authz = tn_http_req_header(req, "Authorization");
    if (app->rs && tn_http_req_offloaded(req))
        v = tn_rs_authenticate(app->rs, authz, &p, &why);
    else if (app->rs)
        v = tn_rs_authenticate_now(app->rs, authz, &p, &why);
    if (v == TN_RS_LATER) {
        tn_http_resp_offload(resp);
        return false;
    }
    /* a built-in token: its account as of now (a demoted one's permissions narrowed) */
    if (v == TN_RS_OK && app->accounts &&
        tn_accounts_admit(app->accounts, &p, tn_time_now_ms()) != TN_OK) {
        v = TN_RS_INVALID;
        tn_log(TN_LOG_INFO, "token refused", "id", tn_http_req_id(req), "reason",
               "account disabled or its tokens revoked", NULL);
    }
    if (v == TN_RS_OK) {
        *value = p;
        return true;
    }
    refuse(app, req, resp, v, why);
    return false;
}

static void principal_free(void *p) { tn_principal_release(p); }

static void principal_retain_cb(const struct tn_principal *p)
{
    tn_principal_retain((struct tn_principal *)p);
}

static void principal_release_cb(const struct tn_principal *p)
{
    tn_principal_release((struct tn_principal *)p);
}

static void mcp_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    struct app *app = ud;
    struct glue g = {req, resp};
    const struct tn_principal *principal = tn_http_req_value(req);
    struct tn_mcp_http_in in = {
        .method = tn_http_req_method(req),
        .header = glue_header,
        .open_stream = glue_stream,
        .ud = &g,
        .body = tn_http_req_body(req),
        .principal = principal,
        .subject = principal ? principal->key : "",
        .request_id = tn_http_req_id(req),
        .can_offload = !tn_http_req_offloaded(req),
        .arena = tn_http_req_arena(req),
        .parked = tn_http_req_offload_state(req),
    };
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 16u << 20); /* larger answers become an internal error */
    tn_buf_reserve(&out.body, 16383);  /* a page at once (growing from 1 KiB copied it 4×) */
    tn_mcp_handle(app->mcp, &in, &out);
    if (out.offload) { /* a write or a search: again on the blocking pool, parsed once */
        tn_http_resp_offload_with(resp, out.parked, tn_mcp_parked_free);
        tn_buf_deinit(&out.body);
        return;
    }
    if (out.step_up_scope[0] && app->rs) {
        /* The token lacks a scope: a step-up challenge the client can act on. */
        struct tn_buf www;
        tn_buf_init(&www, 2048);
        tn_buf_reset(&out.body);
        tn_rs_insufficient_scope(app->rs, out.step_up_scope, &www, &out.body);
        tn_http_resp_header(resp, "WWW-Authenticate", www.data);
        tn_buf_deinit(&www);
        out.status = 403;
        out.content_type = "application/json";
    }
    if (!out.streamed) {
        resp->status = out.status;
        resp->content_type = out.content_type;
        if (out.body.len && !resp->body.len) { /* the answer's buffer becomes the body */
            struct tn_buf empty = resp->body;
            resp->body = out.body;
            out.body = empty;
        } else if (out.body.len) {
            tn_buf_append(&resp->body, out.body.data, out.body.len);
        }
        if (out.allow)
            tn_http_resp_header(resp, "Allow", out.allow);
    }
    tn_buf_deinit(&out.body);
}

static void prm_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    struct app *app = ud;
    json_t *doc = app->rs ? tn_rs_metadata(app->rs) : NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text) {
        tn_http_resp_json(resp, 200, text, strlen(text));
        tn_http_resp_header(resp, "Cache-Control", "public, max-age=300");
    } else {
        char nf[64];
        int n = snprintf(nf, sizeof nf, "{\"error\":\"%s\"}", tn_err_oauth(TN_ERR_UNAVAILABLE));
        tn_http_resp_json(resp, tn_err_http_status(TN_ERR_UNAVAILABLE), nf, (size_t)n);
    }
    free(text);
    json_decref(doc);
}

/* The MCP core asks the gate (src/auth/gate.c) about every use of a tool, resource,
 * completion and listen stream. */
static enum tn_err gate(const struct tn_mcp_ctx *ctx, const struct tn_mcp_access *a,
                        struct tn_buf *why, void *ud)
{
    struct app *app = ud;
    struct tn_gate_request r = {
        .name = a->name,
        .scope = a->required_scope,
        .permission = a->required_permission,
        .ongoing = a->ongoing,
    };
    return tn_gate_check(&app->gate, tn_mcp_ctx_principal(ctx), &r, why);
}

static void not_found_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    (void)ud, (void)req;
    /* Unknown discovery documents are a JSON 404, never a page: clients probe them. */
    static const char nf[] = "{\"error\":\"not_found\",\"error_description\":\"No such document\"}";
    tn_http_resp_json(resp, 404, nf, sizeof nf - 1);
}

/* A token named a key this instance does not know: another instance (or a rotation)
 * created it. Re-read the issuer's keys and hand the published set to the verifier. */
static void keys_changed(void *ud)
{
    struct app *app = ud;
    tn_as_keys_refresh(app->keys, tn_time_now_ms() / 1000, true);
    struct tn_jwks *set = tn_as_keys_jwks_copy(app->keys);
    if (set)
        tn_rs_set_local_keys(app->rs, set);
}

struct as_glue {
    const struct tn_http_req *req;
};

static const char *as_header(void *ud, const char *name)
{
    return tn_http_req_header(((struct as_glue *)ud)->req, name);
}

static const char *as_query(void *ud, const char *name)
{
    return tn_http_req_query(((struct as_glue *)ud)->req, name);
}

static void as_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    struct app *app = ud;
    struct as_glue g = {req};
    if (!app->as) { /* the listener is up a moment before the issuer is configured */
        char busy[96];
        int n = snprintf(busy, sizeof busy, "{\"error\":\"%s\",\"error_description\":\"Starting\"}",
                         tn_err_oauth(TN_ERR_UNAVAILABLE));
        tn_http_resp_json(resp, tn_err_http_status(TN_ERR_UNAVAILABLE), busy, (size_t)n);
        tn_http_resp_header(resp, "Retry-After", "1");
        return;
    }
    struct tn_buf query;
    tn_buf_init(&query, 8192);
    /* the upstream callback's parser takes the whole query (a repeated parameter is
     * refused there); a query that does not fit is left out and so refused */
    bool whole = !strcmp(tn_http_req_path(req), TN_OIDC_CALLBACK_PATH) &&
                 tn_http_req_query_string(req, &query) == TN_OK;
    struct tn_as_req in = {
        .method = tn_http_req_method(req),
        .path = tn_http_req_path(req),
        .header = as_header,
        .query = as_query,
        .ud = &g,
        .body = tn_http_req_body(req),
        .client_addr = tn_http_req_client_addr(req),
        .request_id = tn_http_req_id(req),
        .can_offload = !tn_http_req_offloaded(req),
        .query_string = whole ? (query.data ? query.data : "") : NULL,
    };
    struct tn_as_resp out;
    memset(&out, 0, sizeof out);
    tn_buf_init(&out.body, 1 << 20);
    tn_as_handle(app->as, &in, &out);
    if (out.offload) { /* anything but the documents: again on the blocking pool */
        tn_http_resp_offload(resp);
        tn_buf_deinit(&out.body);
        tn_buf_deinit(&query);
        return;
    }
    resp->status = out.status ? out.status : 500;
    resp->content_type = out.content_type;
    if (out.body.len)
        tn_buf_append(&resp->body, out.body.data, out.body.len);
    for (unsigned i = 0; i < out.n_headers; i++)
        tn_http_resp_header(resp, out.headers[i].name, out.headers[i].value);
    tn_buf_deinit(&out.body);
    if (query.data)
        explicit_bzero(query.data, query.cap); /* an authorization code */
    tn_buf_deinit(&query);
}

/* Builds the resource server for the configured mode: the built-in issuer's local keys,
 * or an external issuer (generic OIDC, or Scalekit with the xmcp template's variables);
 * which issuers, audiences and documents follow from the settings is src/auth/issuer.c's. */
static enum tn_err make_rs(struct app *app)
{
    const struct tn_config *cfg = app->cfg;
    const char *mode = tn_config_str(cfg, TN_CFG_AUTH_MODE);
    enum tn_err rc = TN_OK;
    struct tn_jwks *local = NULL;
    struct tn_issuer_settings in = {
        .mode = mode,
        .base_url = app->base_url,
        .resource = app->resource,
        .auth_issuer = tn_config_str(cfg, TN_CFG_AUTH_ISSUER),
        .scalekit_env = tn_config_str(cfg, TN_CFG_SCALEKIT_ENVIRONMENT_URL),
        .scalekit_resource_id = tn_config_str(cfg, TN_CFG_SCALEKIT_RESOURCE_ID),
        .jwks_uri = tn_config_str(cfg, TN_CFG_AUTH_JWKS_URI),
        .audience = tn_config_str(cfg, TN_CFG_AUTH_AUDIENCE),
    };
    struct tn_issuer_urls u;
    if ((rc = tn_issuer_urls(&in, &u)) != TN_OK) {
        tn_log(TN_LOG_ERROR, "the issuer settings give no usable URL", "error", tn_err_name(rc),
               NULL);
        goto done;
    }
    const char *iss[TN_ISSUER_MAX], *aud[TN_ISSUER_AUDIENCES_MAX], *meta[TN_ISSUER_MAX];
    for (size_t i = 0; i < u.n_issuers; i++)
        iss[i] = u.issuers[i];
    for (size_t i = 0; i < u.n_audiences; i++)
        aud[i] = u.audiences[i];
    for (size_t i = 0; i < u.n_metadata; i++)
        meta[i] = u.metadata[i];
    if (app->keys && !(local = tn_as_keys_jwks_copy(app->keys))) {
        rc = TN_ERR_INTERNAL;
        goto done;
    }
    struct tn_rs_config rc_ = {
        .resource = app->resource,
        .prm_url = app->prm_url,
        .issuers = iss,
        .n_issuers = u.n_issuers,
        .audiences = aud,
        .n_audiences = u.n_audiences,
        .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES),
        .resource_name = "Team notes",
        .leeway_s = (int)tn_config_int(cfg, TN_CFG_AUTH_LEEWAY_S),
        .cache_slots = (size_t)tn_config_int(cfg, TN_CFG_TOKEN_CACHE_SIZE),
        .claims =
            {
                .org = tn_config_str(cfg, TN_CFG_AUTH_ORG_CLAIM),
                .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES_CLAIM),
                .permissions = tn_config_str(cfg, TN_CFG_AUTH_PERMISSIONS_CLAIM),
                .roles = tn_config_str(cfg, TN_CFG_AUTH_ROLES_CLAIM),
                .default_permissions = tn_config_str(cfg, TN_CFG_AUTH_DEFAULT_PERMISSIONS),
            },
        .local_keys = local,
        .on_unknown_kid = app->keys ? keys_changed : NULL,
        .ud = app,
        .metadata_urls = meta,
        .n_metadata_urls = u.jwks[0] ? 0 : u.n_metadata,
        .jwks_uri = u.jwks[0] ? u.jwks : NULL,
        .jwks_fallback = u.jwks_fallback[0] ? u.jwks_fallback : NULL,
        .allow_loopback_http = u.loopback_http,
        .fetch_timeout_ms = (unsigned)tn_config_int(cfg, TN_CFG_AUTH_FETCH_TIMEOUT_MS),
        .refetch_cooldown_s = (unsigned)tn_config_int(cfg, TN_CFG_AUTH_REFETCH_COOLDOWN_S),
        .jwks_max_stale_s = (unsigned)tn_config_int(cfg, TN_CFG_AUTH_JWKS_MAX_STALE_S),
    };
    if (!(app->rs = tn_rs_new(&rc_))) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    if (local)
        tn_rs_set_local_keys(app->rs, local); /* the server owns it from here */
    local = NULL;
    char auds[1100] = "";
    for (size_t i = 0; i < u.n_audiences; i++)
        snprintf(auds + strlen(auds), sizeof auds - strlen(auds), "%s%s", i ? "," : "", aud[i]);
    tn_log(TN_LOG_INFO, "authentication", "mode", mode, "issuer", iss[0], "audience", auds, NULL);
done:
    tn_jwks_free(local);
    return rc;
}

/* HTTP workers unless THREADS says: one per core on SQLite, so that each core runs one
 * event loop and a request waits for no other worker's turn (at 64 connections on 2
 * cores: p99 -37 %, CPU per server/discover -10 % against four per core, docs/
 * PERFORMANCE.md T1). What may wait runs on the blocking pool instead: note writes and
 * searches, and every page and endpoint of the authorization server but its documents
 * (commits, password hashing, mail, fetches). Four per core on PostgreSQL, where every
 * call waits on its worker for the database's round trip. */
static unsigned http_workers(const struct tn_config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = (unsigned)tn_config_int(cfg, TN_CFG_THREADS);
    if (threads)
        return threads;
    unsigned per_core = tn_config_str(cfg, TN_CFG_DATABASE_URL)[0] ? 4 : 1;
    return cores > 0 && cores < 512 ? per_core * (unsigned)cores : 8;
}

/* glibc gives threads up to eight malloc arenas per core, and each arena keeps its own
 * free memory: with the blocking pool's 64 threads writing, ~7 MiB more RSS after a
 * burst of writes. Two per core (the first limit) put four HTTP workers on each arena,
 * and their malloc and free then queued on its lock: 0.6 futex calls per warm list
 * request, ~9 % of its CPU (docs/PERFORMANCE.md). One arena per HTTP worker, and one each
 * for the main thread and the audit writer: 0.2 futex calls per request, ~1.7 MiB more
 * RSS at rest after writes (the pool's threads share the arenas). Unless the operator
 * chose (MALLOC_ARENA_MAX, GLIBC_TUNABLES). */
enum { TRIM_EVERY_S = 10 };

static void limit_malloc_arenas(unsigned workers)
{
    const char *tun = getenv("GLIBC_TUNABLES");
    if (getenv("MALLOC_ARENA_MAX") || (tun && strstr(tun, "arena_max")))
        return;
    mallopt(M_ARENA_MAX, (int)(workers < 1024 ? workers + 2 : 1026));
}

/* Signals are taken synchronously by the main thread (wait_for_signal); every other
 * thread inherits the blocked mask. */
static void block_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The MCP server, its gate, and whether requests are authenticated at all. */
static enum tn_err make_mcp(struct app *app, const struct tn_serve_opts *opts)
{
    const struct tn_config *cfg = app->cfg;
    struct tn_mcp_info info = {
        .name = opts->name,
        .title = opts->title,
        .version = opts->version,
        .instructions = opts->instructions,
        .secret = app->secret,
        .secret_len = sizeof app->secret,
        .max_listen = (unsigned)tn_config_int(cfg, TN_CFG_MAX_LISTEN_STREAMS),
        .max_streams_per_subject = (unsigned)tn_config_int(cfg, TN_CFG_MAX_STREAMS_PER_USER),
        .json_max_depth = (unsigned)tn_config_int(cfg, TN_CFG_JSON_MAX_DEPTH),
        .json_max_string = (size_t)tn_config_int(cfg, TN_CFG_JSON_MAX_STRING),
        .principal_retain = principal_retain_cb,
        .principal_release = principal_release_cb,
    };
    app->mcp = tn_mcp_server_new(&info);
    if (!app->mcp)
        return TN_ERR_NOMEM;
    app->auth = strcmp(tn_config_str(cfg, TN_CFG_AUTH_MODE), "none") != 0;
    /* the account cache and the audit store join once they exist (open_store,
     * open_issuer_keys), before the first request */
    app->gate =
        (struct tn_gate){.auth = app->auth, .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES)};
    tn_mcp_gate_set(app->mcp, gate, app);
    if (!app->auth)
        tn_log(TN_LOG_WARN,
               "AUTH_MODE=none: the MCP endpoint runs WITHOUT authentication "
               "(development only, loopback only)",
               NULL);
    return TN_OK;
}

/* https on a loopback listener: a proxy or tunnel on this host forwards every request
 * from loopback. Without TRUSTED_PROXIES all users share its address (one throttle for
 * everyone) and it is capped at MAX_CONNECTIONS_PER_IP. */
static void warn_local_proxy(const struct tn_config *cfg)
{
    const char *h = tn_config_str(cfg, TN_CFG_HOST);
    if (!strncmp(tn_config_str(cfg, TN_CFG_BASE_URL), "https://", 8) &&
        tn_host_is_loopback(h, strlen(h)) && !tn_config_str(cfg, TN_CFG_TRUSTED_PROXIES)[0])
        tn_log(TN_LOG_WARN,
               "BASE_URL is https and HOST is loopback, so a local proxy forwards "
               "every request; set TRUSTED_PROXIES (e.g. 127.0.0.1/32,::1/128) so "
               "that clients are told apart and the proxy is not limited to "
               "MAX_CONNECTIONS_PER_IP",
               NULL);
}

static enum tn_err open_store(struct app *app)
{
    struct tn_buf err;
    tn_buf_init(&err, 2048);
    enum tn_err rc = tn_store_open(tn_config_str(app->cfg, TN_CFG_DATA_DIR),
                                   tn_config_str(app->cfg, TN_CFG_DATABASE_URL), &app->store, &err);
    if (rc != TN_OK)
        tn_log(TN_LOG_ERROR, "cannot open the store", "detail", err.data ? err.data : "", NULL);
    else
        app->gate.audit = app->store;
    tn_buf_deinit(&err);
    return rc;
}

/* The built-in issuer's signing keys, and the cache of its accounts' status. */
static enum tn_err open_issuer_keys(struct app *app)
{
    const struct tn_config *cfg = app->cfg;
    struct tn_as_keys_config kc = {
        .store = app->store,
        .secret = app->secret,
        .secret_len = sizeof app->secret,
        .rotate_s = tn_config_int(cfg, TN_CFG_KEY_ROTATION_DAYS) * 86400,
        .lead_s = tn_config_int(cfg, TN_CFG_KEY_PUBLISH_LEAD_S),
        .token_ttl_s = tn_config_int(cfg, TN_CFG_ACCESS_TOKEN_TTL_S),
    };
    if (tn_as_keys_open(&kc, &app->keys) != TN_OK) {
        tn_log(TN_LOG_ERROR, "cannot load or create the signing keys", NULL);
        return TN_ERR_CONFIG;
    }
    app->accounts = tn_accounts_new(app->store, ACCOUNT_CHECK_MS);
    if (!app->accounts)
        return TN_ERR_NOMEM;
    app->gate.accounts = app->accounts;
    return TN_OK;
}

/* The built-in issuer's mailer and its sign-in methods: SIGNIN_METHODS checked against
 * what the mail settings make possible, so a method that cannot work stops the start. */
/* The server-wide OpenID providers (OIDC_PROVIDERS) with the redirect URI under
 * `base_url`; http issuers on loopback only when BASE_URL itself is http (development
 * and tests on one machine). */
static enum tn_err parse_providers(struct app *app, const char *base_url,
                                   struct tn_oidc_providers **out, struct tn_buf *err)
{
    bool dev = !strncmp(tn_config_str(app->cfg, TN_CFG_BASE_URL), "http://", 7);
    return tn_oidc_providers_parse(tn_oidc_lookup_env, NULL, base_url, dev, out, err);
}

static enum tn_err open_signin(struct app *app)
{
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err rc = tn_mailer_new(app->cfg, &app->mailer, &err);
    /* checked now, so that a wrong setting stops the start; made again once the port is
     * known (make_as), for the redirect URI */
    struct tn_oidc_providers *ps = NULL;
    if (rc == TN_OK)
        rc = parse_providers(app, tn_config_str(app->cfg, TN_CFG_BASE_URL), &ps, &err);
    if (rc == TN_OK) {
        struct tn_signin_env env = {.mail = tn_mailer_kind(app->mailer) != TN_MAIL_NONE,
                                    .oidc = tn_oidc_providers_count(ps) > 0};
        rc = tn_signin_methods_parse(tn_config_str(app->cfg, TN_CFG_SIGNIN_METHODS), &env,
                                     &app->signin_methods, &err);
    }
    if (rc != TN_OK)
        tn_log(TN_LOG_ERROR, "cannot offer sign-in", "detail", err.data ? err.data : "", NULL);
    tn_oidc_providers_free(ps);
    tn_buf_deinit(&err);
    return rc;
}

static struct tn_http_server *make_http(const struct tn_config *cfg)
{
    struct tn_http_config hc = {
        .host = tn_config_str(cfg, TN_CFG_HOST),
        .port = (uint16_t)tn_config_int(cfg, TN_CFG_PORT),
        .base_url = tn_config_str(cfg, TN_CFG_BASE_URL),
        .allowed_origins = tn_config_str(cfg, TN_CFG_ALLOWED_ORIGINS),
        .allowed_hosts = tn_config_str(cfg, TN_CFG_ALLOWED_HOSTS),
        .trusted_proxies = tn_config_str(cfg, TN_CFG_TRUSTED_PROXIES),
        .proxy_forwarded =
            !strcasecmp(tn_config_str(cfg, TN_CFG_TRUSTED_PROXY_HEADER), "forwarded"),
        .limits =
            {
                .max_body = (size_t)tn_config_int(cfg, TN_CFG_MAX_BODY_BYTES),
                .max_header_bytes = (size_t)tn_config_int(cfg, TN_CFG_MAX_HEADER_BYTES),
                .max_headers = (unsigned)tn_config_int(cfg, TN_CFG_MAX_HEADERS),
                .conn_memory = (size_t)tn_config_int(cfg, TN_CFG_CONN_MEMORY_BYTES),
                .max_connections = (unsigned)tn_config_int(cfg, TN_CFG_MAX_CONNECTIONS),
                .max_per_ip = (unsigned)tn_config_int(cfg, TN_CFG_MAX_CONNECTIONS_PER_IP),
                .conn_timeout_s = (unsigned)tn_config_int(cfg, TN_CFG_CONN_TIMEOUT_S),
                .request_timeout_s = (unsigned)tn_config_int(cfg, TN_CFG_REQUEST_TIMEOUT_S),
                .threads = http_workers(cfg),
                .heartbeat_s = (unsigned)tn_config_int(cfg, TN_CFG_SSE_HEARTBEAT_S),
                .blocking_threads = (unsigned)tn_config_int(cfg, TN_CFG_BLOCKING_THREADS),
            },
    };
    return tn_http_server_new(&hc);
}

/* Every route, its body limit and whether other origins may read it. prm_path is the
 * path-suffixed protected-resource metadata location. */
static void add_routes(struct tn_http_server *http, struct app *app, const char *prm_path)
{
    const char *mp = tn_config_str(app->cfg, TN_CFG_MCP_PATH);
    char slash[512];
    snprintf(slash, sizeof slash, "%s/", mp);
    size_t n_as;
    const char *const *as_paths = tn_as_paths(&n_as); /* the issuer's own list: one place */
    /* /mcp and /mcp/ are the same endpoint, answered directly (no redirect). */
    tn_http_route(http, mp, TN_HTTP_EXACT, mcp_route, app);
    tn_http_route(http, slash, TN_HTTP_EXACT, mcp_route, app);
    tn_http_route(http, "/healthz", TN_HTTP_EXACT, tn_serve_health_route, app);
    tn_http_route(http, "/readyz", TN_HTTP_EXACT, tn_serve_ready_route, app);
    /* on the main listener only with a token, and only when there is no listener of its
     * own (docs/OPERATIONS.md: metrics) */
    if (app->metrics_token && !tn_config_str(app->cfg, TN_CFG_METRICS_LISTEN)[0]) {
        tn_http_route(http, "/metrics", TN_HTTP_EXACT, tn_serve_metrics_route, app);
        tn_http_route_body_limit(http, "/metrics", 1);
    }
    if (app->auth) {
        tn_http_route_pre(http, mp, mcp_pre, principal_free, app);
        tn_http_route_pre(http, slash, mcp_pre, principal_free, app);
        /* RFC 9728 metadata at the path-suffixed and the root location */
        tn_http_route(http, prm_path, TN_HTTP_EXACT, prm_route, app);
        tn_http_route(http, "/.well-known/oauth-protected-resource", TN_HTTP_EXACT, prm_route, app);
    }
    if (!strcmp(tn_config_str(app->cfg, TN_CFG_AUTH_MODE), "builtin")) {
        for (size_t i = 0; i < n_as; i++) {
            tn_http_route(http, as_paths[i], TN_HTTP_EXACT, as_route, app);
            /* machine endpoints are readable cross-origin; the browser pages are not */
            if (i < 4 || !strcmp(as_paths[i], "/token") || !strcmp(as_paths[i], "/revoke"))
                tn_http_route_public(http, as_paths[i]);
        }
    }
    tn_http_route(http, "/.well-known/", TN_HTTP_PREFIX, not_found_route, app);
    /* Only the MCP endpoint takes large bodies, and only once authenticated; the
     * sign-in forms, registration and token requests are small. */
    static const char *const small[] = {"/healthz", "/readyz", "/.well-known/",
                                        "/.well-known/oauth-protected-resource"};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        tn_http_route_body_limit(http, small[i], 1);
    tn_http_route_body_limit(http, prm_path, 1);
    for (size_t i = 0; i < n_as; i++)
        tn_http_route_body_limit(http, as_paths[i], 64 * 1024);
    tn_http_route_public(http, prm_path);
    tn_http_route_public(http, "/.well-known/oauth-protected-resource");
    tn_http_route_public(http, "/.well-known/");
    tn_http_route_public(http, "/healthz");
    tn_http_route_public(http, "/readyz");
}

/* The canonical URLs, known once the port is (PORT=0 picks one). */
static void set_urls(struct app *app, const struct tn_http_server *http, const char *prm_path)
{
    const struct tn_config *cfg = app->cfg;
    const char *base = tn_config_str(cfg, TN_CFG_BASE_URL);
    if (tn_config_int(cfg, TN_CFG_PORT) == 0 && !strcmp(cfg->source[TN_CFG_BASE_URL], "derived"))
        snprintf(app->base_url, sizeof app->base_url, "%.*s:%u", (int)(strrchr(base, ':') - base),
                 base, tn_http_server_port(http));
    else
        snprintf(app->base_url, sizeof app->base_url, "%s", base);
    snprintf(app->resource, sizeof app->resource, "%s%s", app->base_url,
             tn_config_str(cfg, TN_CFG_MCP_PATH));
    snprintf(app->prm_url, sizeof app->prm_url, "%s%s", app->base_url, prm_path);
}

/* A person's access changed on /account: this instance's account cache reads it again. */
static void account_changed(void *ud, const char *user_id)
{
    tn_accounts_forget(((struct app *)ud)->accounts, user_id);
}

/* The built-in authorization server, at the effective origin. */
static enum tn_err make_as(struct app *app)
{
    const struct tn_config *cfg = app->cfg;
    if (app->signin_methods & TN_SIGNIN_OIDC) {
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        enum tn_err rc = parse_providers(app, app->base_url, &app->oidc, &err);
        if (rc != TN_OK)
            tn_log(TN_LOG_ERROR, "cannot offer sign-in", "detail", err.data ? err.data : "", NULL);
        tn_buf_deinit(&err);
        if (rc != TN_OK)
            return rc;
    }
    struct tn_as_config ac = {
        .issuer = app->base_url,
        .resource = app->resource,
        .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES),
        .store = app->store,
        .keys = app->keys,
        .secret = app->secret,
        .secret_len = sizeof app->secret,
        .access_ttl_s = tn_config_int(cfg, TN_CFG_ACCESS_TOKEN_TTL_S),
        .refresh_ttl_s = tn_config_int(cfg, TN_CFG_REFRESH_TOKEN_TTL_S),
        .code_ttl_s = tn_config_int(cfg, TN_CFG_CODE_TTL_S),
        .refresh_grace_s = tn_config_int(cfg, TN_CFG_REFRESH_REUSE_GRACE_S),
        .dcr_per_hour = (unsigned)tn_config_int(cfg, TN_CFG_DCR_PER_HOUR),
        .cimd_allow_loopback = tn_config_int(cfg, TN_CFG_CIMD_ALLOW_LOOPBACK) != 0,
        .mailer = app->mailer,
        .signin_methods = app->signin_methods,
        .sso_allow_loopback = tn_config_int(cfg, TN_CFG_SSO_ALLOW_LOOPBACK) != 0,
        .invite_ttl_s = tn_config_int(cfg, TN_CFG_INVITE_TTL_S),
        .email_code_ttl_s = tn_config_int(cfg, TN_CFG_EMAIL_CODE_TTL_S),
        .oidc_providers = app->oidc,
        .account_changed = account_changed,
        .account_changed_ud = app,
    };
    app->as = tn_as_new(&ac);
    if (!app->as)
        return TN_ERR_NOMEM;
    if (tn_as_setup_url(app->as))
        tn_log(TN_LOG_WARN,
               "no accounts yet: open this one-time link to create the first "
               "administrator",
               "url", tn_as_setup_url(app->as), NULL);
    return TN_OK;
}

static void log_ready(const struct app *app, const struct tn_http_server *http,
                      const struct tn_http_server *mhttp, uint64_t t0)
{
    char port[8], mport[8] = "", ms[32], url[600], workers[16];
    snprintf(port, sizeof port, "%u", tn_http_server_port(http));
    snprintf(workers, sizeof workers, "%u", http_workers(app->cfg));
    if (mhttp)
        snprintf(mport, sizeof mport, "%u", tn_http_server_port(mhttp));
    snprintf(ms, sizeof ms, "%.1f", (double)(tn_time_mono_ns() - t0) / 1e6);
    snprintf(url, sizeof url, "%s", app->resource);
    tn_log(TN_LOG_INFO, "ready", "mcp", url, "listen", tn_config_str(app->cfg, TN_CFG_HOST), "port",
           port, "http_workers", workers, "startup_ms", ms, mhttp ? "metrics_port" : NULL, mport,
           NULL);
}

/* Waits for SIGTERM or SIGINT and returns it. Meanwhile, every RECHECK_MS, ends the
 * streams whose token expired or whose account lost the right to them; every
 * TRIM_EVERY_S, hands the memory that bursts (writes, cold tokens) left free in
 * malloc's arenas back to the system. */
static int wait_for_signal(struct app *app, const sigset_t *sigs)
{
    int sig = -1;
    int64_t trimmed_ms = tn_time_now_ms();
    while (sig < 0) {
        struct timespec every = {RECHECK_MS / 1000, (RECHECK_MS % 1000) * 1000000L};
        sig = sigtimedwait(sigs, NULL, &every);
        if (sig >= 0)
            break;
        if (app->auth)
            tn_mcp_recheck(app->mcp);
        if (tn_time_now_ms() - trimmed_ms >= TRIM_EVERY_S * 1000) {
            malloc_trim(0);
            trimmed_ms = tn_time_now_ms();
        }
    }
    return sig;
}

/* No new connections; listen streams end with their final result; in-flight calls get
 * the grace period. Exits the process when streamed calls do not end. */
static void shut_down(struct app *app, struct tn_http_server *http, int sig)
{
    tn_log(TN_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    tn_http_server_quiesce(http);
    tn_mcp_close_listens(app->mcp);
    tn_http_server_shutdown(http,
                            (unsigned)tn_config_int(app->cfg, TN_CFG_SHUTDOWN_GRACE_S) * 1000u);
    /* Calls on worker threads use the server, the gate and the store: let them end. */
    if (tn_mcp_drain(app->mcp, 5000) > 0) {
        tn_log(TN_LOG_ERROR, "streamed calls did not end; exiting without freeing", NULL);
        _exit(1);
    }
    tn_log(TN_LOG_INFO, "stopped", NULL);
}

int tn_serve(const struct tn_config *cfg, const struct tn_serve_opts *opts)
{
    int status = 1;
    struct tn_http_server *http = NULL, *mhttp = NULL;
    static struct app app; /* one server per process; every handler's `ud` */
    memset(&app, 0, sizeof app);
    app.cfg = cfg;
    const char *mt = tn_config_str(cfg, TN_CFG_METRICS_TOKEN);
    if (mt[0]) {
        crypto_hash_sha256(app.metrics_token_hash, (const unsigned char *)mt, strlen(mt));
        app.metrics_token = true;
    }
    size_t secret_len = 0;
    uint64_t t0 = tn_time_mono_ns();
    sigset_t sigs;
    char prm_path[600];
    snprintf(prm_path, sizeof prm_path, "/.well-known/oauth-protected-resource%s",
             tn_config_str(cfg, TN_CFG_MCP_PATH));
    limit_malloc_arenas(http_workers(cfg));
    block_signals(&sigs);

    if (tn_serve_secret(cfg, app.secret, &secret_len) != TN_OK || make_mcp(&app, opts) != TN_OK)
        goto done;
    warn_local_proxy(cfg);
    /* before anything is opened: a sign-in method that cannot work stops the start */
    if (!strcmp(tn_config_str(cfg, TN_CFG_AUTH_MODE), "builtin") && open_signin(&app) != TN_OK)
        goto done;
    if (open_store(&app) != TN_OK)
        goto done;
    if (opts->setup && opts->setup(app.mcp, app.store, opts->ud) != TN_OK)
        goto done;
    if (!strcmp(tn_config_str(cfg, TN_CFG_AUTH_MODE), "builtin") && open_issuer_keys(&app) != TN_OK)
        goto done;
    if (tn_fetch_global_init() != TN_OK || !(http = make_http(cfg)))
        goto done;
    add_routes(http, &app, prm_path);
    if (tn_http_server_start(http) != TN_OK)
        goto done;
    set_urls(&app, http, prm_path);
    if (app.auth) {
        if (make_rs(&app) != TN_OK)
            goto done;
        tn_rs_prefetch(app.rs);
        tn_rs_start_ahead(app.rs); /* an external issuer's keys, fetched before they expire */
    }
    if (app.keys && make_as(&app) != TN_OK)
        goto done;
    if (tn_config_str(cfg, TN_CFG_METRICS_LISTEN)[0] && !(mhttp = tn_serve_metrics_http(&app)))
        goto done;
    log_ready(&app, http, mhttp, t0);
    shut_down(&app, http, wait_for_signal(&app, &sigs));
    status = 0;
done:
    tn_http_server_free(mhttp);
    tn_http_server_free(http);
    tn_rs_free(app.rs);
    tn_as_free(app.as);
    tn_oidc_providers_free(app.oidc);
    tn_mailer_free(app.mailer);
    tn_as_keys_free(app.keys);
    tn_store_close(app.store);
    tn_mcp_server_free(app.mcp);
    tn_accounts_free(app.accounts);
    memset(app.secret, 0, sizeof app.secret);
    return status;
}
