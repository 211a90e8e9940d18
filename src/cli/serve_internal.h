/* Private to teamnotes serve (cli/serve.c, serve_ops.c): the running server's parts, and
 * the operator's endpoints serve_ops.c gives the wiring in serve.c. */
#ifndef TN_CLI_SERVE_INTERNAL_H
#define TN_CLI_SERVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/gate.h"
#include "core/config.h"
#include "http/server.h"

struct app {
    struct tn_mcp_server *mcp;
    const struct tn_config *cfg;
    bool auth;        /* false only with AUTH_MODE=none */
    struct tn_rs *rs; /* set once the listener is bound */
    struct tn_as_keys *keys;
    struct tn_store *store;
    struct tn_as *as;               /* the built-in authorization server (builtin mode) */
    struct tn_mailer *mailer;       /* sign-in codes (builtin mode) */
    unsigned signin_methods;        /* enum tn_signin_method bits (builtin mode) */
    struct tn_oidc_providers *oidc; /* server-wide upstream providers (SIGNIN_METHODS oidc) */
    /* built-in issuer: recently checked accounts (disabled users' tokens stop working,
     * and a changed role's permissions apply, within ACCOUNT_CHECK_MS) */
    struct tn_accounts *accounts;
    struct tn_gate gate; /* what every tool, resource and stream passes */
    uint8_t secret[32];
    char base_url[512];  /* effective origin (the bound port when PORT=0) */
    char resource[1024]; /* canonical MCP URL */
    char prm_url[1024];
    uint8_t metrics_token_hash[32]; /* SHA-256 of METRICS_TOKEN (set when metrics_token) */
    bool metrics_token;
};

/* serve_ops.c: /healthz, /readyz (on the blocking pool) and /metrics; ud is the app. */
void tn_serve_health_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp);
void tn_serve_ready_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp);
void tn_serve_metrics_route(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp);
/* The listener of METRICS_LISTEN, started; NULL (logged) when it cannot be made. */
struct tn_http_server *tn_serve_metrics_http(struct app *app);

#endif
