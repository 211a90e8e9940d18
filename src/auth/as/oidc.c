/* Sign-in with a server-wide upstream OpenID provider ("Continue with NAME", issue #18):
 *
 *   POST /authorize/oidc          req, csrf, provider: the sealed browser state (provider,
 *                                 state, nonce, PKCE verifier, the authorization request)
 *                                 in cookie tn_oidc (Path=/signin/oidc, SameSite=Lax: the
 *                                 callback is a top-level GET from the provider's site),
 *                                 and a 302 to the provider.
 *   GET  /signin/oidc/callback    the cookie opened and cleared (single use), the state
 *                                 compared in constant time, the code redeemed and the ID
 *                                 token verified (auth/upstream/oidc.h), the identity
 *                                 linked to an account (auth/signin/link.h), then the
 *                                 authorization request continues as after a password.
 *
 * Both talk to the provider (discovery, keys, token endpoint): they run on the blocking
 * pool. Every outcome is audited as signin:oidc:<id> (auth/signin/audit.h). */
#include "auth/as/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/signin/audit.h"
#include "auth/signin/link.h"
#include "auth/upstream/oidc.h"
#include "auth/upstream/providers.h"
#include "auth/upstream/signin_state.h"
#include "core/log.h"
#include "ops/metrics.h"

#define COOKIE TN_OIDC_STATE_COOKIE
#define COOKIE_PATH "/signin/oidc"
#define COOKIE_MAX 4096 /* what browsers keep of one cookie */

static void audit_method(char out[64], const char *provider)
{
    snprintf(out, 64, "oidc:%s", provider && provider[0] ? provider : "?");
}

/* A sign-in attempt's audit row and its count in /metrics (method "oidc"). */
static void record(struct tn_as *as, const char *sealed, const struct tn_user *u,
                   const char *method, const char *outcome, const char *reason)
{
    tn_as_audit_signin_as(as, sealed, u, method, outcome, reason);
    tn_metrics_signin("oidc", !strcmp(outcome, TN_SIGNIN_AUDIT_OK)      ? "ok"
                              : !strcmp(outcome, TN_SIGNIN_AUDIT_ERROR) ? "error"
                                                                        : "failed");
}

static void expired_form(struct tn_as *as, struct tn_as_resp *r)
{
    tn_as_message_page(
        as, r, 403, "Session expired",
        "This form is no longer valid (missing or wrong security token). Go back to your "
        "application and start signing in again.");
}

/* POST /authorize/oidc */
void tn_as_handle_oidc_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    struct tn_oidc_start start;
    char *cookie = NULL, method[64], reason[32];
    memset(&start, 0, sizeof start);
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The sign-in form was not sent correctly.");
        return;
    }
    const char *sealed = tn_form_get(&f, "req");
    const char *id = tn_form_get(&f, "provider");
    int i = id ? tn_oidc_providers_find(as->cfg.oidc_providers, id, strlen(id)) : -1;
    audit_method(method, i >= 0 ? id : NULL);
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        expired_form(as, r);
        goto done;
    }
    if (!tn_as_request_ok(as, sealed)) {
        tn_as_signin_page(as, req, r, NULL, NULL, NULL, 400); /* "Sign-in expired" */
        goto done;
    }
    if (i < 0) {
        tn_as_signin_page(as, req, r, sealed, NULL, "Choose one of the sign-in options below.",
                          400);
        goto done;
    }
    const char *name = tn_oidc_providers_name(as->cfg.oidc_providers, (size_t)i);
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why = TN_OIDC_OK;
    if (tn_oidc_providers_get(as->cfg.oidc_providers, (size_t)i, now_s(), &p, &why) != TN_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s cannot be reached right now. Try again in a minute.", name);
        tn_signin_oidc_reason_code(why, reason);
        tn_log(TN_LOG_WARN, "upstream provider unavailable", "id", req->request_id, "provider", id,
               "reason", tn_oidc_reason_name(why), NULL);
        record(as, sealed, NULL, method, TN_SIGNIN_AUDIT_ERROR, reason);
        tn_as_signin_page(as, req, r, sealed, NULL, msg, 503);
        tn_as_resp_header(r, "Retry-After", "%d", TN_OIDC_PROVIDERS_RETRY_S);
        goto done;
    }
    if (tn_oidc_begin(p, NULL, &start) != TN_OK ||
        !(cookie = tn_oidc_state_seal(as->secret, as->secret_len, id, &start, sealed))) {
        tn_as_signin_page(as, req, r, sealed, NULL, "Signing in could not start. Try again.", 503);
        goto done;
    }
    /* a cookie or address cut short would fail later for no visible reason: refuse now */
    if (strlen(cookie) + 128 >= sizeof r->headers[0].value || strlen(cookie) >= COOKIE_MAX ||
        strlen(start.url) >= sizeof r->headers[0].value) {
        tn_as_signin_page(as, req, r, sealed, NULL,
                          "This application's sign-in request is too large to continue with an "
                          "external provider. Use another way to sign in.",
                          400);
        goto done;
    }
    tn_as_set_cookie(as, r, COOKIE, cookie, COOKIE_PATH, "Lax", TN_OIDC_STATE_TTL_S);
    r->status = 302;
    r->content_type = NULL;
    tn_buf_reset(&r->body);
    tn_as_resp_header(r, "Location", "%s", start.url);
    tn_as_resp_header(r, "Cache-Control", "no-store");
    tn_as_resp_header(r, "Referrer-Policy", "no-referrer");
    tn_log(TN_LOG_INFO, "upstream sign-in started", "id", req->request_id, "provider", id, NULL);
done:
    if (cookie) {
        sodium_memzero(cookie, strlen(cookie));
        free(cookie);
    }
    tn_oidc_start_deinit(&start);
    tn_form_deinit(&f);
}

/* The page of a refused callback; `status` 4xx/5xx. */
static void refused(struct tn_as *as, struct tn_as_resp *r, int status, const char *title,
                    const char *msg)
{
    tn_as_message_page(as, r, status, title, msg);
}

/* What a person reads for an upstream refusal (never upstream text). */
static void finish_refused(struct tn_as *as, struct tn_as_resp *r, enum tn_err rc,
                           enum tn_oidc_reason why, const char *name)
{
    char msg[300];
    switch (why) {
    case TN_OIDC_UPSTREAM_ERROR:
        snprintf(msg, sizeof msg,
                 "%s did not sign you in. Go back to your application and try again, or choose "
                 "another way to sign in.",
                 name);
        refused(as, r, 403, "Not signed in", msg);
        return;
    case TN_OIDC_CALLBACK_MALFORMED:
    case TN_OIDC_STATE_MISMATCH:
    case TN_OIDC_CALLBACK_ISSUER_MISMATCH:
    case TN_OIDC_NO_CODE:
        snprintf(msg, sizeof msg,
                 "The answer from %s does not belong to the sign-in started in this browser. Go "
                 "back to your application and start again.",
                 name);
        refused(as, r, 400, "Sign-in failed", msg);
        return;
    default:
        break;
    }
    if (rc == TN_ERR_IO || why == TN_OIDC_JWKS_UNAVAILABLE) {
        snprintf(msg, sizeof msg, "%s cannot be reached right now. Try again in a minute.", name);
        refused(as, r, 503, "Try again later", msg);
        return;
    }
    snprintf(msg, sizeof msg,
             "The sign-in from %s could not be verified, so you were not signed in. Go back to "
             "your application and try again.",
             name);
    refused(as, r, 403, "Sign-in refused", msg);
}

/* The page of a verified identity that signs in to no account. */
static void link_refused(struct tn_as *as, struct tn_as_resp *r, enum tn_signin_link how,
                         const struct tn_oidc_identity *who, const char *name)
{
    char msg[600];
    switch (how) {
    case TN_SIGNIN_LINK_NO_ACCOUNT:
        snprintf(msg, sizeof msg,
                 "No teamnotes account for %s. Ask your administrator for an invitation.",
                 who->email);
        refused(as, r, 403, "No account", msg);
        break;
    case TN_SIGNIN_LINK_UNVERIFIED:
        snprintf(msg, sizeof msg,
                 "%s did not confirm that this email address is yours, so it cannot sign in to "
                 "a teamnotes account. Confirm your address with %s, or choose another way to "
                 "sign in.",
                 name, name);
        refused(as, r, 403, "Email not verified", msg);
        break;
    case TN_SIGNIN_LINK_DISABLED:
        refused(as, r, 403, "Account disabled", "This account is disabled.");
        break;
    default:
        refused(as, r, 503, "Try again later", "The sign-in could not be completed. Try again.");
        break;
    }
}

/* A state this server saw called back already (within the cookie's life): refused even
 * with a copy of the cookie. Keyed by a hash, never the state itself. */
static bool state_used_before(struct tn_as *as, const char *state)
{
    uint8_t h[32];
    char key[48];
    crypto_generichash(h, 16, (const uint8_t *)state, strlen(state), as->secret, as->secret_len);
    tn_b64url_encode(key, sizeof key, h, 16);
    return tn_throttle_take(as->oidc_used, key, now_s()) != 0;
}

/* GET /signin/oidc/callback */
void tn_as_handle_oidc_callback(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    char buf[COOKIE_MAX + 1], method[64] = "oidc:?", reason[32];
    struct tn_oidc_signin_state st;
    struct tn_oidc_identity who;
    struct tn_buf detail;
    memset(&st, 0, sizeof st);
    memset(&who, 0, sizeof who);
    tn_buf_init(&detail, 512);
    if (strcmp(req->method, "GET")) {
        tn_as_message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
        goto done;
    }
    const char *q = req->query_string ? req->query_string : "";
    /* single use from here: whatever happens, this browser's state is spent */
    tn_as_set_cookie(as, r, COOKIE, "", COOKIE_PATH, "Lax", 0);
    int i = -1;
    if (tn_oidc_state_open(as->secret, as->secret_len, tn_as_cookie(req, COOKIE, buf, sizeof buf),
                           &st) == TN_OK)
        i = tn_oidc_providers_find(as->cfg.oidc_providers, st.provider, strlen(st.provider));
    if (i < 0) {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "oidc", "outcome",
               "no_state", NULL);
        record(as, NULL, NULL, method, TN_SIGNIN_AUDIT_DENIED, "no_state");
        refused(as, r, 400, "Sign-in expired",
                "This sign-in is no longer valid in this browser: it expired, was already "
                "used, or was started in another browser. Go back to your application and "
                "start again.");
        goto done;
    }
    audit_method(method, st.provider);
    /* a copy of the cookie sent again (the browser's own was cleared above) */
    if (state_used_before(as, st.state)) {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", method, "outcome",
               "replayed", NULL);
        record(as, st.req, NULL, method, TN_SIGNIN_AUDIT_DENIED, "replayed");
        refused(as, r, 400, "Sign-in expired",
                "This sign-in is no longer valid in this browser: it expired, was already "
                "used, or was started in another browser. Go back to your application and "
                "start again.");
        goto done;
    }
    const char *name = tn_oidc_providers_name(as->cfg.oidc_providers, (size_t)i);
    struct tn_oidc_provider *p = NULL;
    enum tn_oidc_reason why = TN_OIDC_OK;
    enum tn_err rc = tn_oidc_providers_get(as->cfg.oidc_providers, (size_t)i, now_s(), &p, &why);
    if (rc == TN_OK) {
        struct tn_oidc_pending pend = {st.state, st.nonce, st.code_verifier};
        rc = tn_oidc_finish(p, q, strlen(q), &pend, &who, &why, &detail);
    }
    if (rc != TN_OK) {
        tn_signin_oidc_reason_code(why, reason);
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", method, "outcome",
               reason, "detail", detail.data ? detail.data : "", NULL);
        bool failed = rc == TN_ERR_IO || rc == TN_ERR_NOMEM || why == TN_OIDC_JWKS_UNAVAILABLE;
        record(as, st.req, NULL, method, failed ? TN_SIGNIN_AUDIT_ERROR : TN_SIGNIN_AUDIT_DENIED,
               reason);
        finish_refused(as, r, rc, why, name);
        goto done;
    }
    struct tn_user u;
    enum tn_signin_link how = TN_SIGNIN_LINK_NONE;
    rc = tn_signin_oidc_link(as->cfg.store, &who, now_s(), &u, &how);
    if (rc != TN_OK) {
        const char *word = how == TN_SIGNIN_LINK_NONE ? "store_error" : tn_signin_link_name(how);
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", method, "outcome",
               word, NULL);
        record(as, st.req, how == TN_SIGNIN_LINK_DISABLED ? &u : NULL, method,
               how == TN_SIGNIN_LINK_NONE ? TN_SIGNIN_AUDIT_ERROR : TN_SIGNIN_AUDIT_DENIED, word);
        link_refused(as, r, how, &who, name);
        goto done;
    }
    if (how == TN_SIGNIN_LINK_LINKED)
        tn_log(TN_LOG_INFO, "identity linked", "id", req->request_id, "user", u.id, "provider",
               st.provider, NULL);
    tn_as_remember_device(as, r, &u);
    tn_as_start_session(as, r, &u);
    tn_log(TN_LOG_INFO, "signed in", "id", req->request_id, "user", u.id, "method", method, NULL);
    record(as, st.req, &u, method, TN_SIGNIN_AUDIT_OK,
           how == TN_SIGNIN_LINK_LINKED ? "linked" : NULL);
    if (!tn_as_signin_continue(as, req, r, st.req, &u))
        refused(as, r, 400, "Sign-in expired",
                "This sign-in took too long. Go back to your application and try again.");
done:
    tn_oidc_identity_deinit(&who);
    explicit_bzero(&st, sizeof st);
    explicit_bzero(buf, sizeof buf);
    tn_buf_deinit(&detail);
}
