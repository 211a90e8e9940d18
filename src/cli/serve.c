#include "cli/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/as/as.h"
#include "auth/as/keys.h"
#include "auth/as/users.h"
#include "auth/rs/rs.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/principal.h"
#include "core/util.h"
#include "http/server.h"

struct app {
    struct tn_mcp_server *mcp;
    const struct tn_config *cfg;
    bool auth;             /* false only with AUTH_MODE=none */
    struct tn_rs *rs;      /* set once the listener is bound */
    struct tn_as_keys *keys;
    struct tn_store *store;
    struct tn_as *as;      /* the built-in authorization server (builtin mode) */
    uint8_t secret[32];
    char base_url[512];    /* effective origin (the bound port when PORT=0) */
    char resource[1024];   /* canonical MCP URL */
    char prm_url[1024];
    /* built-in issuer: recently checked accounts (disabled users' tokens stop working,
     * and a changed role's permissions apply, within USER_CHECK_MS, without a store read
     * per request) */
    pthread_mutex_t users_mu;
    struct user_check {
        char id[48];
        int64_t checked_ms;
        int64_t valid_after;
        bool active;
        char role[16];
    } users[256];
};

#define USER_CHECK_MS 5000
/* How often open streams are authorized again (tn_mcp_recheck). */
#define RECHECK_MS 1000

/* The account behind a built-in token as of at most USER_CHECK_MS ago; inactive (and no
 * role) when it does not exist or cannot be read. */
static struct user_check account_of(struct app *app, const char *subject)
{
    uint8_t h = 0;
    for (const char *c = subject; *c; c++)
        h = (uint8_t)(h * 31 + (uint8_t)*c);
    int64_t now = tn_time_now_ms();
    pthread_mutex_lock(&app->users_mu);
    struct user_check *u = &app->users[h];
    bool fresh = !strcmp(u->id, subject) && now - u->checked_ms < USER_CHECK_MS;
    struct user_check copy = *u;
    pthread_mutex_unlock(&app->users_mu);
    if (!fresh) {
        struct tn_user row;
        memset(&copy, 0, sizeof copy);
        tn_strlcpy(copy.id, subject, sizeof copy.id);
        copy.checked_ms = now;
        if (tn_store_user_get(app->store, subject, &row) == TN_OK) {
            copy.active = !row.disabled;
            copy.valid_after = row.tokens_valid_after;
            tn_strlcpy(copy.role, row.role, sizeof copy.role);
        }
        pthread_mutex_lock(&app->users_mu);
        *u = copy;
        pthread_mutex_unlock(&app->users_mu);
    }
    return copy;
}

/* True when the account behind a built-in token still exists, is enabled, and did not
 * have its tokens revoked after this one was issued. */
static bool account_current(const struct user_check *u, const struct tn_principal *p)
{
    return u->active && p->issued_at >= u->valid_after;
}

/* True when every permission the token names is still one of the account's role's: a
 * demoted user's token then grants no more than the new role (an unknown role, none). */
static bool role_covers(const struct user_check *u, const struct tn_principal *p)
{
    const char *allowed = tn_role_permissions(u->role);
    for (size_t i = 0; i < p->permissions.n; i++)
        if (!tn_principal_word_in(allowed, p->permissions.v[i]))
            return false;
    return true;
}

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

/* Authentication, on the headers alone: no body byte of an unauthenticated request is
 * ever read. */
static bool mcp_pre(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp, void **value)
{
    struct app *app = ud;
    if (!app->auth)
        return true;
    /* CORS preflights never reach here; GET and DELETE are authenticated too, since
     * clients expect a 401 challenge on any unauthenticated request. */
    enum tn_rs_verdict v = TN_RS_UNAVAILABLE;
    enum tn_jwt_reason why = TN_JWT_OK;
    struct tn_principal *p = NULL;
    if (app->rs)
        v = tn_rs_authenticate(app->rs, tn_http_req_header(req, "Authorization"), &p, &why);
    if (v == TN_RS_OK && app->keys) {
        struct user_check u = account_of(app, p->subject);
        if (!account_current(&u, p)) {
            tn_principal_release(p);
            p = NULL;
            v = TN_RS_INVALID;
            tn_log(TN_LOG_INFO, "token refused", "id", tn_http_req_id(req), "reason",
                   "account disabled or its tokens revoked", NULL);
        } else if (!role_covers(&u, p)) {
            /* The role changed since the token was issued: this request (and whoami) sees
             * only the permissions both allow. */
            struct tn_principal *q = tn_principal_restrict(p, tn_role_permissions(u.role));
            tn_principal_release(p);
            p = q;
        }
    }
    if (v == TN_RS_OK) {
        *value = p;
        return true;
    }
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
            tn_buf_puts(&resp->body, "{\"error\":\"temporarily_unavailable\",\"error_description\":\"Starting\"}");
    }
    tn_buf_deinit(&www);
    if (v != TN_RS_NO_TOKEN || why != TN_JWT_OK)
        tn_log(TN_LOG_INFO, "token refused", "id", tn_http_req_id(req), "reason",
               v == TN_RS_NO_TOKEN ? "no bearer token" : tn_jwt_reason_name(why), NULL);
    return false;
}

static void principal_free(void *p)
{
    tn_principal_release(p);
}

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
    tn_mcp_handle(app->mcp, &in, &out);
    if (out.offload) { /* a write: again on the blocking pool, where it may wait, parsed once */
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

static void health_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    (void)ud, (void)req;
    static const char ok[] = "{\"status\":\"ok\"}";
    tn_http_resp_json(resp, 200, ok, sizeof ok - 1);
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
        static const char nf[] = "{\"error\":\"temporarily_unavailable\"}";
        tn_http_resp_json(resp, 503, nf, sizeof nf - 1);
    }
    free(text);
    json_decref(doc);
}

/* A refused call is audited like any other (who, which client, which tool). */
static void audit_denied(struct app *app, const struct tn_principal *p, const char *tool)
{
    struct tn_audit a;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    snprintf(a.user, sizeof a.user, "%s", p->key);
    snprintf(a.org, sizeof a.org, "%s", p->org);
    snprintf(a.client_id, sizeof a.client_id, "%s", p->client_id);
    snprintf(a.tool, sizeof a.tool, "%s", tool);
    snprintf(a.outcome, sizeof a.outcome, "denied");
    if (app->store)
        tn_store_audit_insert(app->store, &a);
}

/* For a stream that stays open: what could have changed since its request was
 * authenticated. Sets `why` and returns false when the stream must end. */
static bool still_valid(struct app *app, const struct tn_principal *p, const char *perm,
                        struct tn_buf *why)
{
    if (p->expires_at <= tn_time_now_ms() / 1000) {
        if (why)
            tn_buf_puts(why, "the access token expired");
        return false;
    }
    if (!app->keys)
        return true; /* an external issuer's token does not change until it expires */
    struct user_check u = account_of(app, p->subject);
    if (!account_current(&u, p)) {
        if (why)
            tn_buf_puts(why, "the account was disabled or its tokens revoked");
        return false;
    }
    if (perm && !tn_principal_word_in(tn_role_permissions(u.role), perm)) {
        if (why)
            tn_buf_printf(why, "the account's role (%s) no longer has the %s permission",
                          u.role[0] ? u.role : "none", perm);
        return false;
    }
    return true;
}

/* The permission and scope gate of every tool, resource, completion and listen stream
 * (DESIGN §4): scopes are what the client was granted (re-authorizing can add them: 403
 * step-up); permissions are what the user's roles allow (re-authorizing cannot help: an
 * error naming it). */
static enum tn_err gate(const struct tn_mcp_ctx *ctx, const struct tn_mcp_access *a,
                        struct tn_buf *why, void *ud)
{
    struct app *app = ud;
    const struct tn_principal *p = tn_mcp_ctx_principal(ctx);
    if (!p)
        return app->auth ? TN_ERR_FORBIDDEN : TN_OK;
    if (a->required_scope && !tn_principal_has_scope(p, a->required_scope)) {
        if (why) {
            /* every scope the operation needs, plus those already granted that we know,
             * so that re-authorizing does not lose them */
            tn_buf_puts(why, a->required_scope);
            const char *sup = tn_config_str(app->cfg, TN_CFG_AUTH_SCOPES);
            for (size_t i = 0; i < p->scopes.n; i++) {
                const char *s = p->scopes.v[i];
                if (strcmp(s, a->required_scope) && tn_principal_word_in(sup, s))
                    tn_buf_printf(why, " %s", s);
            }
            audit_denied(app, p, a->name);
        }
        return TN_ERR_INSUFFICIENT_SCOPE;
    }
    if (a->required_permission && !tn_principal_has_permission(p, a->required_permission)) {
        if (why) {
            audit_denied(app, p, a->name);
            tn_buf_printf(why,
                          "Permission denied: %s needs the %s permission, which your account "
                          "does not have. Ask an administrator for a role that includes it "
                          "(signing in again will not help).",
                          a->name, a->required_permission);
        }
        return TN_ERR_FORBIDDEN;
    }
    if (a->ongoing && !still_valid(app, p, a->required_permission, why)) {
        if (why)
            audit_denied(app, p, a->name);
        return TN_ERR_FORBIDDEN;
    }
    return TN_OK;
}

static void not_found_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp)
{
    (void)ud, (void)req;
    /* Unknown discovery documents are a JSON 404, never a page: clients probe them. */
    static const char nf[] = "{\"error\":\"not_found\",\"error_description\":\"No such document\"}";
    tn_http_resp_json(resp, 404, nf, sizeof nf - 1);
}

/* The server secret, protecting MRTR state and (through a key derived from it) the
 * signing keys in the store: SECRET_KEY, or 32 random bytes kept in DATA_DIR so that
 * every instance sharing the directory (and a restarted one) accepts the same state.
 * With PostgreSQL the instances share no directory, so SECRET_KEY is required. */
static enum tn_err load_secret(const struct tn_config *cfg, uint8_t *key, size_t *len)
{
    const char *k = tn_config_str(cfg, TN_CFG_SECRET_KEY);
    if (!k[0] && tn_config_str(cfg, TN_CFG_DATABASE_URL)[0]) {
        tn_log(TN_LOG_ERROR, "DATABASE_URL is set but SECRET_KEY is not: give every instance the "
                             "same SECRET_KEY of 32+ random characters (e.g. `openssl rand -hex "
                             "32`); it encrypts the signing keys in the database", NULL);
        return TN_ERR_CONFIG;
    }
    if (k[0]) {
        size_t n = strlen(k);
        tn_hmac_sha256(key, (const uint8_t *)"teamnotes-secret", 16, k, n);
        *len = 32;
        return TN_OK;
    }
    const char *dir = tn_config_str(cfg, TN_CFG_DATA_DIR);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tn_log(TN_LOG_ERROR, "cannot create DATA_DIR", "dir", dir, "error", strerror(errno), NULL);
        return TN_ERR_IO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, key, 32);
        close(fd);
        if (n == 32) {
            *len = 32;
            return TN_OK;
        }
        tn_log(TN_LOG_ERROR, "secret key file is damaged; remove it to create a new one", "path",
               path, NULL);
        return TN_ERR_IO;
    }
    tn_random(key, 32);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, key, 32) != 32 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        tn_log(TN_LOG_ERROR, "cannot write the secret key", "path", path, NULL);
        return TN_ERR_IO;
    }
    close(fd);
    /* link() fails with EEXIST if another instance won the race: then use its key */
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EEXIST) {
            fd = open(path, O_RDONLY | O_CLOEXEC);
            ssize_t n = fd >= 0 ? read(fd, key, 32) : -1;
            if (fd >= 0)
                close(fd);
            if (n == 32) {
                *len = 32;
                return TN_OK;
            }
        }
        tn_log(TN_LOG_ERROR, "cannot store the secret key", "path", path, "error", strerror(e), NULL);
        return TN_ERR_IO;
    }
    unlink(tmp);
    *len = 32;
    return TN_OK;
}

static size_t split_csv(const char *csv, char out[][512], size_t max)
{
    size_t n = 0;
    for (const char *p = csv; p && *p && n < max;) {
        size_t len = strcspn(p, ",");
        struct tn_span s = tn_span_trim((struct tn_span){p, len});
        if (s.len && s.len < 512) {
            memcpy(out[n], s.ptr, s.len);
            out[n++][s.len] = '\0';
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
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
        static const char busy[] = "{\"error\":\"temporarily_unavailable\",\"error_description\":\"Starting\"}";
        tn_http_resp_json(resp, 503, busy, sizeof busy - 1);
        tn_http_resp_header(resp, "Retry-After", "1");
        return;
    }
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
    };
    struct tn_as_resp out;
    memset(&out, 0, sizeof out);
    tn_buf_init(&out.body, 1 << 20);
    tn_as_handle(app->as, &in, &out);
    if (out.offload) { /* a client metadata document to fetch: on the blocking pool */
        tn_http_resp_offload(resp);
        tn_buf_deinit(&out.body);
        return;
    }
    resp->status = out.status ? out.status : 500;
    resp->content_type = out.content_type;
    if (out.body.len)
        tn_buf_append(&resp->body, out.body.data, out.body.len);
    for (unsigned i = 0; i < out.n_headers; i++)
        tn_http_resp_header(resp, out.headers[i].name, out.headers[i].value);
    tn_buf_deinit(&out.body);
}

/* Builds the resource server for the configured mode: the built-in issuer's local keys,
 * or an external issuer (generic OIDC, or Scalekit with the xmcp template's variables). */
static enum tn_err make_rs(struct app *app)
{
    const struct tn_config *cfg = app->cfg;
    const char *mode = tn_config_str(cfg, TN_CFG_AUTH_MODE);
    char iss[4][512], aud[8][512], meta[4][1100], jwks[1100] = "", fallback[1100] = "";
    size_t n_iss = 0, n_aud = 0, n_meta = 0;
    bool loopback_http = false;
    if (!strcmp(mode, "builtin")) {
        snprintf(iss[n_iss++], sizeof iss[0], "%s", app->base_url);
    } else {
        const char *sk = tn_config_str(cfg, TN_CFG_SCALEKIT_ENVIRONMENT_URL);
        const char *ai = tn_config_str(cfg, TN_CFG_AUTH_ISSUER);
        if (ai[0]) {
            snprintf(iss[n_iss++], sizeof iss[0], "%s", ai);
            /* RFC 8414 §3.1: the well-known segment goes between host and path; then the
             * OpenID Connect location, appended. */
            const char *host = strstr(ai, "://") + 3;
            const char *path = host + strcspn(host, "/");
            size_t pl = strlen(path);
            while (pl && path[pl - 1] == '/')
                pl--;
            snprintf(meta[n_meta++], sizeof meta[0], "%.*s/.well-known/oauth-authorization-server%.*s",
                     (int)(path - ai), ai, (int)pl, path);
            size_t al = strlen(ai);
            while (al && ai[al - 1] == '/')
                al--;
            snprintf(meta[n_meta++], sizeof meta[0], "%.*s/.well-known/openid-configuration", (int)al, ai);
            loopback_http = strncmp(ai, "http://", 7) == 0;
        } else {
            /* Scalekit: issuer <env> or <env>/resources/<id> (migration), keys through the
             * resource's authorization-server metadata, else <env>/keys. */
            char env[512];
            snprintf(env, sizeof env, "%s", sk);
            size_t el = strlen(env);
            while (el && env[el - 1] == '/')
                env[--el] = '\0';
            const char *rid = tn_config_str(cfg, TN_CFG_SCALEKIT_RESOURCE_ID);
            if (rid[0]) {
                snprintf(iss[n_iss++], sizeof iss[0], "%s/resources/%s", env, rid);
                snprintf(meta[n_meta++], sizeof meta[0],
                         "%s/.well-known/oauth-authorization-server/resources/%s", env, rid);
            }
            snprintf(iss[n_iss++], sizeof iss[0], "%s", env);
            snprintf(meta[n_meta++], sizeof meta[0], "%s/.well-known/oauth-authorization-server", env);
            snprintf(fallback, sizeof fallback, "%s/keys", env);
            /* the template's audience: the resource id, else the base URL */
            snprintf(aud[n_aud++], sizeof aud[0], "%s", rid[0] ? rid : app->base_url);
            loopback_http = strncmp(env, "http://", 7) == 0;
        }
        snprintf(jwks, sizeof jwks, "%s", tn_config_str(cfg, TN_CFG_AUTH_JWKS_URI));
    }
    const char *aa = tn_config_str(cfg, TN_CFG_AUTH_AUDIENCE);
    if (aa[0]) {
        n_aud = split_csv(aa, aud, 8);
    } else {
        /* the canonical resource, and its /mcp/ spelling since both paths are served */
        snprintf(aud[n_aud++], sizeof aud[0], "%s", app->resource);
        snprintf(aud[n_aud++], sizeof aud[0], "%s/", app->resource);
    }
    const char *iss_p[4], *aud_p[8], *meta_p[4];
    struct tn_jwks *local = app->keys ? tn_as_keys_jwks_copy(app->keys) : NULL;
    if (app->keys && !local)
        return TN_ERR_INTERNAL;
    for (size_t i = 0; i < n_iss; i++)
        iss_p[i] = iss[i];
    for (size_t i = 0; i < n_aud; i++)
        aud_p[i] = aud[i];
    for (size_t i = 0; i < n_meta; i++)
        meta_p[i] = meta[i];
    struct tn_rs_config rc = {
        .resource = app->resource,
        .prm_url = app->prm_url,
        .issuers = iss_p,
        .n_issuers = n_iss,
        .audiences = aud_p,
        .n_audiences = n_aud,
        .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES),
        .resource_name = "Team notes",
        .leeway_s = (int)tn_config_int(cfg, TN_CFG_AUTH_LEEWAY_S),
        .cache_slots = (size_t)tn_config_int(cfg, TN_CFG_TOKEN_CACHE_SIZE),
        .claims = {
            .org = tn_config_str(cfg, TN_CFG_AUTH_ORG_CLAIM),
            .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES_CLAIM),
            .permissions = tn_config_str(cfg, TN_CFG_AUTH_PERMISSIONS_CLAIM),
            .roles = tn_config_str(cfg, TN_CFG_AUTH_ROLES_CLAIM),
            .default_permissions = tn_config_str(cfg, TN_CFG_AUTH_DEFAULT_PERMISSIONS),
        },
        .local_keys = local,
        .on_unknown_kid = app->keys ? keys_changed : NULL,
        .ud = app,
        .metadata_urls = meta_p,
        .n_metadata_urls = jwks[0] ? 0 : n_meta,
        .jwks_uri = jwks[0] ? jwks : NULL,
        .jwks_fallback = fallback[0] ? fallback : NULL,
        .allow_loopback_http = loopback_http,
        .fetch_timeout_ms = (unsigned)tn_config_int(cfg, TN_CFG_AUTH_FETCH_TIMEOUT_MS),
        .refetch_cooldown_s = (unsigned)tn_config_int(cfg, TN_CFG_AUTH_REFETCH_COOLDOWN_S),
        .jwks_max_stale_s = (unsigned)tn_config_int(cfg, TN_CFG_AUTH_JWKS_MAX_STALE_S),
    };
    app->rs = tn_rs_new(&rc);
    if (!app->rs) {
        tn_jwks_free(local);
        return TN_ERR_NOMEM;
    }
    if (local)
        tn_rs_set_local_keys(app->rs, local); /* the server owns it from here */
    char auds[1100] = "";
    for (size_t i = 0; i < n_aud; i++)
        snprintf(auds + strlen(auds), sizeof auds - strlen(auds), "%s%s", i ? "," : "", aud[i]);
    tn_log(TN_LOG_INFO, "authentication", "mode", mode, "issuer", iss[0], "audience", auds, NULL);
    return TN_OK;
}

/* HTTP workers: four per core unless configured (measured faster than one per core for
 * reads, although no worker waits for a commit: writes run on the blocking pool). */
static unsigned http_workers(const struct tn_config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = (unsigned)tn_config_int(cfg, TN_CFG_THREADS);
    return threads ? threads : (unsigned)(cores > 0 && cores < 512 ? 4 * cores : 8);
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

int tn_serve(const struct tn_config *cfg, const struct tn_serve_opts *opts)
{
    int status = 1;
    struct tn_http_server *http = NULL;
    static struct app app; /* large (the account cache); one server per process */
    memset(&app, 0, sizeof app);
    app.cfg = cfg;
    pthread_mutex_init(&app.users_mu, NULL);
    uint8_t secret[32];
    size_t secret_len = 0;
    uint64_t t0 = tn_time_mono_ns();
    limit_malloc_arenas(http_workers(cfg));

    /* Signals are taken synchronously by this thread; every other thread inherits the
     * blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (load_secret(cfg, secret, &secret_len) != TN_OK)
        goto done;
    struct tn_mcp_info info = {
        .name = opts->name,
        .title = opts->title,
        .version = opts->version,
        .instructions = opts->instructions,
        .secret = secret,
        .secret_len = secret_len,
        .max_listen = (unsigned)tn_config_int(cfg, TN_CFG_MAX_LISTEN_STREAMS),
        .max_streams_per_subject = (unsigned)tn_config_int(cfg, TN_CFG_MAX_STREAMS_PER_USER),
        .json_max_depth = (unsigned)tn_config_int(cfg, TN_CFG_JSON_MAX_DEPTH),
        .json_max_string = (size_t)tn_config_int(cfg, TN_CFG_JSON_MAX_STRING),
        .principal_retain = principal_retain_cb,
        .principal_release = principal_release_cb,
    };
    app.mcp = tn_mcp_server_new(&info);
    if (!app.mcp)
        goto done;
    tn_mcp_gate_set(app.mcp, gate, &app);
    app.auth = strcmp(tn_config_str(cfg, TN_CFG_AUTH_MODE), "none") != 0;
    if (!app.auth)
        tn_log(TN_LOG_WARN, "AUTH_MODE=none: the MCP endpoint runs WITHOUT authentication "
                            "(development only, loopback only)", NULL);
    {
        /* https on a loopback listener: a proxy or tunnel on this host forwards every
         * request from loopback. Without TRUSTED_PROXIES all users share its address (one
         * throttle for everyone) and it is capped at MAX_CONNECTIONS_PER_IP. */
        const char *h = tn_config_str(cfg, TN_CFG_HOST);
        if (!strncmp(tn_config_str(cfg, TN_CFG_BASE_URL), "https://", 8) &&
            tn_host_is_loopback(h, strlen(h)) && !tn_config_str(cfg, TN_CFG_TRUSTED_PROXIES)[0])
            tn_log(TN_LOG_WARN, "BASE_URL is https and HOST is loopback, so a local proxy forwards "
                                "every request; set TRUSTED_PROXIES (e.g. 127.0.0.1/32,::1/128) so "
                                "that clients are told apart and the proxy is not limited to "
                                "MAX_CONNECTIONS_PER_IP", NULL);
    }
    memcpy(app.secret, secret, sizeof app.secret);
    {
        struct tn_buf err;
        tn_buf_init(&err, 2048);
        if (tn_store_open(tn_config_str(cfg, TN_CFG_DATA_DIR), tn_config_str(cfg, TN_CFG_DATABASE_URL),
                          &app.store, &err) != TN_OK) {
            tn_log(TN_LOG_ERROR, "cannot open the store", "detail", err.data ? err.data : "", NULL);
            tn_buf_deinit(&err);
            goto done;
        }
        tn_buf_deinit(&err);
    }
    if (opts->setup && opts->setup(app.mcp, app.store, opts->ud) != TN_OK)
        goto done;
    if (!strcmp(tn_config_str(cfg, TN_CFG_AUTH_MODE), "builtin")) {
        struct tn_as_keys_config kc = {
            .store = app.store,
            .secret = app.secret,
            .secret_len = sizeof app.secret,
            .rotate_s = tn_config_int(cfg, TN_CFG_KEY_ROTATION_DAYS) * 86400,
            .lead_s = 900,
            .token_ttl_s = tn_config_int(cfg, TN_CFG_ACCESS_TOKEN_TTL_S),
        };
        if (tn_as_keys_open(&kc, &app.keys) != TN_OK) {
            tn_log(TN_LOG_ERROR, "cannot load or create the signing keys", NULL);
            goto done;
        }
    }
    if (tn_fetch_global_init() != TN_OK)
        goto done;

    struct tn_http_config hc = {
        .host = tn_config_str(cfg, TN_CFG_HOST),
        .port = (uint16_t)tn_config_int(cfg, TN_CFG_PORT),
        .base_url = tn_config_str(cfg, TN_CFG_BASE_URL),
        .allowed_origins = tn_config_str(cfg, TN_CFG_ALLOWED_ORIGINS),
        .allowed_hosts = tn_config_str(cfg, TN_CFG_ALLOWED_HOSTS),
        .trusted_proxies = tn_config_str(cfg, TN_CFG_TRUSTED_PROXIES),
        .proxy_forwarded = !strcasecmp(tn_config_str(cfg, TN_CFG_TRUSTED_PROXY_HEADER), "forwarded"),
        .limits = {
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
    http = tn_http_server_new(&hc);
    if (!http)
        goto done;
    const char *mp = tn_config_str(cfg, TN_CFG_MCP_PATH);
    char slash[512];
    snprintf(slash, sizeof slash, "%s/", mp);
    /* /mcp and /mcp/ are the same endpoint, answered directly (no redirect). */
    tn_http_route(http, mp, TN_HTTP_EXACT, mcp_route, &app);
    tn_http_route(http, slash, TN_HTTP_EXACT, mcp_route, &app);
    tn_http_route(http, "/healthz", TN_HTTP_EXACT, health_route, &app);
    tn_http_route(http, "/readyz", TN_HTTP_EXACT, health_route, &app);
    char prm_path[600];
    snprintf(prm_path, sizeof prm_path, "/.well-known/oauth-protected-resource%s", mp);
    if (app.auth) {
        tn_http_route_pre(http, mp, mcp_pre, principal_free, &app);
        tn_http_route_pre(http, slash, mcp_pre, principal_free, &app);
        /* RFC 9728 metadata at the path-suffixed and the root location */
        tn_http_route(http, prm_path, TN_HTTP_EXACT, prm_route, &app);
        tn_http_route(http, "/.well-known/oauth-protected-resource", TN_HTTP_EXACT, prm_route, &app);
    }
    static const char *const as_paths[] = {
        "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/jwks",
        "/register", "/authorize", "/authorize/login", "/authorize/consent", "/token", "/revoke",
        "/setup"};
    if (!strcmp(tn_config_str(cfg, TN_CFG_AUTH_MODE), "builtin")) {
        for (size_t i = 0; i < sizeof as_paths / sizeof as_paths[0]; i++) {
            tn_http_route(http, as_paths[i], TN_HTTP_EXACT, as_route, &app);
            /* machine endpoints are readable cross-origin; the browser pages are not */
            if (i < 4 || !strcmp(as_paths[i], "/token") || !strcmp(as_paths[i], "/revoke"))
                tn_http_route_public(http, as_paths[i]);
        }
    }
    tn_http_route(http, "/.well-known/", TN_HTTP_PREFIX, not_found_route, &app);
    /* Only the MCP endpoint takes large bodies, and only once authenticated; the
     * sign-in forms, registration and token requests are small. */
    static const char *const small[] = {"/healthz", "/readyz", "/.well-known/",
                                        "/.well-known/oauth-protected-resource"};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        tn_http_route_body_limit(http, small[i], 1);
    tn_http_route_body_limit(http, prm_path, 1);
    for (size_t i = 0; i < sizeof as_paths / sizeof as_paths[0]; i++)
        tn_http_route_body_limit(http, as_paths[i], 64 * 1024);
    tn_http_route_public(http, prm_path);
    tn_http_route_public(http, "/.well-known/oauth-protected-resource");
    tn_http_route_public(http, "/.well-known/");
    tn_http_route_public(http, "/healthz");
    tn_http_route_public(http, "/readyz");
    if (tn_http_server_start(http) != TN_OK)
        goto done;
    /* The canonical URLs, known once the port is (PORT=0 picks one). */
    const char *base = tn_config_str(cfg, TN_CFG_BASE_URL);
    if (tn_config_int(cfg, TN_CFG_PORT) == 0 && !strcmp(cfg->source[TN_CFG_BASE_URL], "derived"))
        snprintf(app.base_url, sizeof app.base_url, "%.*s:%u",
                 (int)(strrchr(base, ':') - base), base, tn_http_server_port(http));
    else
        snprintf(app.base_url, sizeof app.base_url, "%s", base);
    snprintf(app.resource, sizeof app.resource, "%s%s", app.base_url, mp);
    snprintf(app.prm_url, sizeof app.prm_url, "%s%s", app.base_url, prm_path);
    if (app.auth) {
        if (make_rs(&app) != TN_OK)
            goto done;
        tn_rs_prefetch(app.rs);
    }
    if (app.keys) {
        struct tn_as_config ac = {
            .issuer = app.base_url,
            .resource = app.resource,
            .scopes = tn_config_str(cfg, TN_CFG_AUTH_SCOPES),
            .store = app.store,
            .keys = app.keys,
            .secret = app.secret,
            .secret_len = sizeof app.secret,
            .access_ttl_s = tn_config_int(cfg, TN_CFG_ACCESS_TOKEN_TTL_S),
            .refresh_ttl_s = tn_config_int(cfg, TN_CFG_REFRESH_TOKEN_TTL_S),
            .code_ttl_s = tn_config_int(cfg, TN_CFG_CODE_TTL_S),
            .refresh_grace_s = tn_config_int(cfg, TN_CFG_REFRESH_REUSE_GRACE_S),
            .dcr_per_hour = (unsigned)tn_config_int(cfg, TN_CFG_DCR_PER_HOUR),
            .cimd_allow_loopback = tn_config_int(cfg, TN_CFG_CIMD_ALLOW_LOOPBACK) != 0,
        };
        app.as = tn_as_new(&ac);
        if (!app.as)
            goto done;
        if (tn_as_setup_url(app.as))
            tn_log(TN_LOG_WARN, "no accounts yet: open this one-time link to create the first "
                                "administrator", "url", tn_as_setup_url(app.as), NULL);
    }

    char port[8], ms[32], url[600];
    snprintf(port, sizeof port, "%u", tn_http_server_port(http));
    snprintf(ms, sizeof ms, "%.1f", (double)(tn_time_mono_ns() - t0) / 1e6);
    snprintf(url, sizeof url, "%s", app.resource);
    tn_log(TN_LOG_INFO, "ready", "mcp", url, "listen", tn_config_str(cfg, TN_CFG_HOST), "port",
           port, "startup_ms", ms, NULL);

    /* While waiting for the signal: every RECHECK_MS, end the streams whose token
     * expired or whose account lost the right to them; every TRIM_EVERY_S, hand the
     * memory that bursts (writes, cold tokens) left free in malloc's arenas back to the
     * system. */
    int sig = -1;
    int64_t trimmed_ms = tn_time_now_ms();
    while (sig < 0) {
        struct timespec every = {RECHECK_MS / 1000, (RECHECK_MS % 1000) * 1000000L};
        sig = sigtimedwait(&sigs, NULL, &every);
        if (sig >= 0)
            break;
        if (app.auth)
            tn_mcp_recheck(app.mcp);
        if (tn_time_now_ms() - trimmed_ms >= TRIM_EVERY_S * 1000) {
            malloc_trim(0);
            trimmed_ms = tn_time_now_ms();
        }
    }
    tn_log(TN_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    /* No new connections; listen streams end with their final result; in-flight calls
     * get the grace period. */
    tn_http_server_quiesce(http);
    tn_mcp_close_listens(app.mcp);
    tn_http_server_shutdown(http, (unsigned)tn_config_int(cfg, TN_CFG_SHUTDOWN_GRACE_S) * 1000u);
    /* Calls on worker threads use the server, the gate and the store: let them end. */
    if (tn_mcp_drain(app.mcp, 5000) > 0) {
        tn_log(TN_LOG_ERROR, "streamed calls did not end; exiting without freeing", NULL);
        _exit(1);
    }
    tn_log(TN_LOG_INFO, "stopped", NULL);
    status = 0;
done:
    tn_http_server_free(http);
    tn_rs_free(app.rs);
    tn_as_free(app.as);
    tn_as_keys_free(app.keys);
    tn_store_close(app.store);
    memset(app.secret, 0, sizeof app.secret);
    tn_mcp_server_free(app.mcp);
    memset(secret, 0, sizeof secret);
    return status;
}
