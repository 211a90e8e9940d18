/* The token endpoint (authorization_code with PKCE, refresh_token with rotation and
 * reuse detection) and revocation (RFC 7009), behind client authentication. */
#include "auth/as/internal.h"

#include <stdio.h>
#include <strings.h>

#include "auth/as/users.h"
#include "core/log.h"

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
            tn_as_oauth_error(r, TN_ERR_INVALID_CLIENT, "Malformed client credentials");
            tn_as_resp_header(r, "WWW-Authenticate", "Basic realm=\"teamnotes\"");
            return false;
        }
        dec[n] = '\0';
        char *colon = strchr(dec, ':');
        struct tn_form tmp; /* RFC 6749 §2.3.1: both parts are form-urlencoded */
        if (!colon) {
            tn_as_oauth_error(r, TN_ERR_INVALID_CLIENT, "Malformed client credentials");
            return false;
        }
        *colon = '\0';
        char pair[700];
        snprintf(pair, sizeof pair, "i=%s&s=%s", dec, colon + 1);
        if (tn_form_parse(&tmp, pair, strlen(pair)) == TN_OK) {
            snprintf(id, sizeof id, "%s", tn_form_get(&tmp, "i") ? tn_form_get(&tmp, "i") : "");
            snprintf(secret, sizeof secret, "%s",
                     tn_form_get(&tmp, "s") ? tn_form_get(&tmp, "s") : "");
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
              (frc = tn_as_find_client(as, req, r, id, c, &why)) == TN_OK;
    if (r->offload || frc == TN_ERR_BUSY || frc == TN_ERR_RATE_LIMITED) {
        /* a document not at hand: fetched on the blocking pool, or not now (never
         * invalid_client, on which clients throw their registration away) */
        sodium_memzero(secret, sizeof secret);
        if (!r->offload) {
            tn_as_oauth_error(r, frc, why);
            tn_as_resp_header(r, "Retry-After", "%s", frc == TN_ERR_BUSY ? "10" : "3600");
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
        tn_as_oauth_error(r, TN_ERR_INVALID_CLIENT, "Unknown client or bad client credentials");
        if (basic)
            tn_as_resp_header(r, "WWW-Authenticate", "Basic realm=\"teamnotes\"");
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
 * them) and fills the response. `now` is the grant's time, read before its checks: a
 * revocation committed after them dates after these tokens, and so reaches them. */
static void issue_tokens(struct tn_as *as, struct tn_as_resp *r, const struct tn_client *c,
                         const struct tn_user *u, const char *scope, const char *resource,
                         const char *family, int64_t now)
{
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
        tn_as_oauth_error(r, TN_ERR_INTERNAL, "The token could not be signed");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:I, s:s}", "access_token", at, "token_type", "Bearer",
                            "expires_in", (json_int_t)as->cfg.access_ttl_s, "scope", scope);
    free(at);
    if (tn_as_list_has_word(c->grant_types, "refresh_token")) {
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
    tn_as_json_resp(r, 200, out);
    tn_as_resp_header(r, "Cache-Control", "no-store");
    tn_as_resp_header(r, "Pragma", "no-cache");
}

static bool pkce_ok(const char *verifier, const char *challenge)
{
    if (!verifier || !tn_as_b64url_chars(verifier, 43, 128))
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

/* True when the person has not revoked app `client_id` since `issued_at` (on /account; a
 * code or refresh token made while the revoke ran can escape its transaction, and is
 * refused here as its access tokens are by the resource server). Else the refusal is
 * in r: invalid_grant, or the store's error (fails closed; a code is spent by then, so
 * the answer does not invite a retry with it). */
static bool app_current(struct tn_as *as, const char *uid, const char *client_id, int64_t issued_at,
                        struct tn_as_resp *r)
{
    int64_t revoked_at = 0;
    enum tn_err e = tn_store_grant_revoked_at(as->cfg.store, uid, client_id, &revoked_at);
    if (e != TN_OK)
        tn_as_oauth_error(r, e, "The grant could not be checked");
    else if (issued_at < revoked_at)
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The app's access was revoked");
    return e == TN_OK && issued_at >= revoked_at;
}

static void grant_code(struct tn_as *as, const struct tn_form *f, const struct tn_client *c,
                       struct tn_as_resp *r)
{
    const char *code = tn_form_get(f, "code");
    const char *redirect = tn_form_get(f, "redirect_uri");
    const char *res = tn_form_get(f, "resource");
    if (!code || !tn_form_get(f, "code_verifier")) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST, "code and code_verifier are required");
        return;
    }
    struct tn_code row;
    uint8_t h[32];
    int64_t now = now_s();
    sha256(code, h);
    enum tn_err rc = tn_store_code_take(as->cfg.store, h, &row);
    if (rc == TN_ERR_CONFLICT) {
        /* a replayed code: whatever was issued from it is revoked */
        tn_store_family_revoke(as->cfg.store, row.family);
        tn_log(TN_LOG_WARN, "authorization code replayed; its grant is revoked", "client_id", c->id,
               NULL);
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The authorization code was already used");
        return;
    }
    if (rc != TN_OK || row.expires_at < now || strcmp(row.client_id, c->id)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The authorization code is invalid or expired");
        return;
    }
    if (!redirect || strcmp(redirect, row.redirect_uri)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT,
                          "redirect_uri does not match the authorization request");
        return;
    }
    if (!pkce_ok(tn_form_get(f, "code_verifier"), row.challenge)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT,
                          "code_verifier does not match the code_challenge");
        return;
    }
    if (res && !tn_as_same_resource(res, row.resource)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_TARGET,
                          "resource does not match the authorization request");
        return;
    }
    struct tn_user u;
    /* the code was issued code_ttl_s before it expires: an account re-enabled after a
     * "revoke everything" may sign in and exchange codes again */
    if (!user_current(as, row.user_id, row.expires_at - as->cfg.code_ttl_s, &u)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The account is disabled");
        return;
    }
    if (!app_current(as, row.user_id, c->id, row.expires_at - as->cfg.code_ttl_s, r))
        return;
    issue_tokens(as, r, c, &u, row.scope, row.resource, row.family, now);
}

static void grant_refresh(struct tn_as *as, const struct tn_form *f, const struct tn_client *c,
                          struct tn_as_resp *r)
{
    const char *rt = tn_form_get(f, "refresh_token");
    if (!rt) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST, "refresh_token is required");
        return;
    }
    int64_t now = now_s(); /* before the checks: see issue_tokens */
    uint8_t h[32];
    sha256(rt, h);
    struct tn_refresh old;
    if (tn_store_refresh_get(as->cfg.store, h, &old) != TN_OK || strcmp(old.client_id, c->id)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The refresh token is invalid");
        return;
    }
    const char *scope = tn_form_get(f, "scope");
    const char *res = tn_form_get(f, "resource");
    char granted[256];
    snprintf(granted, sizeof granted, "%s", old.scope);
    if (scope && scope[0]) {
        char want[256];
        tn_as_grant_scope(as, scope, want);
        if (!tn_as_scope_subset(want, old.scope)) {
            tn_as_oauth_error(r, TN_ERR_INVALID_SCOPE, "A refresh cannot widen the granted scope");
            return;
        }
        snprintf(granted, sizeof granted, "%s", want);
    }
    if (res && !tn_as_same_resource(res, old.resource)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_TARGET, "resource does not match the grant");
        return;
    }
    struct tn_user u;
    if (!user_current(as, old.user_id, old.issued_at, &u)) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The grant was revoked");
        return;
    }
    if (!app_current(as, old.user_id, c->id, old.issued_at, r))
        return;
    /* the successor is inserted by the rotation itself; issue_tokens would insert another */
    char next_rt[64];
    random_token(next_rt, sizeof next_rt, 32);
    struct tn_refresh next = old;
    sha256(next_rt, next.hash);
    next.issued_at = now;
    next.expires_at = next.issued_at + as->cfg.refresh_ttl_s;
    next.rotated_at = 0;
    next.revoked = false;
    snprintf(next.scope, sizeof next.scope, "%s", granted);
    struct tn_refresh seen;
    enum tn_err rc = tn_store_refresh_rotate(as->cfg.store, h, &next, now, &seen);
    if (rc == TN_ERR_CONFLICT) {
        /* A client's concurrent refresh: a rotated token is honoured once more within
         * the grace window, and the store spends that one chance atomically; a further
         * presentation is a replay. */
        bool concurrent =
            as->cfg.refresh_grace_s > 0 && seen.rotated_at && !seen.revoked &&
            tn_store_refresh_spend_grace(as->cfg.store, h, now, as->cfg.refresh_grace_s) == TN_OK;
        if (!concurrent || tn_store_refresh_insert(as->cfg.store, &next) != TN_OK) {
            if (seen.rotated_at && !seen.revoked) {
                /* reuse of a rotated token: treat the family as stolen */
                tn_store_family_revoke(as->cfg.store, seen.family);
                tn_log(TN_LOG_WARN, "refresh token reused; its family is revoked", "client_id",
                       c->id, NULL);
            }
            tn_as_oauth_error(r, TN_ERR_INVALID_GRANT,
                              "The refresh token was already used, revoked or expired");
            sodium_memzero(next_rt, sizeof next_rt);
            return;
        }
    } else if (rc != TN_OK) {
        tn_as_oauth_error(r, TN_ERR_INVALID_GRANT, "The refresh token is invalid");
        sodium_memzero(next_rt, sizeof next_rt);
        return;
    }
    /* access token, then hand out the successor refresh token */
    struct tn_client no_refresh = *c;
    snprintf(no_refresh.grant_types, sizeof no_refresh.grant_types, "authorization_code");
    issue_tokens(as, r, &no_refresh, &u, granted, old.resource, old.family, now);
    if (r->status == 200) {
        json_t *doc = json_loadb(r->body.data, r->body.len, 0, NULL);
        json_object_set_new(doc, "refresh_token", json_string(next_rt));
        unsigned nh = r->n_headers;
        tn_as_json_resp(r, 200, doc);
        r->n_headers = nh;
    }
    sodium_memzero(next_rt, sizeof next_rt);
}

void tn_as_handle_token(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    const char *ct = req->header(req->ud, "Content-Type");
    if (strcmp(req->method, "POST")) {
        tn_as_oauth_error(r, TN_ERR_METHOD_NOT_ALLOWED, "Use POST");
        tn_as_resp_header(r, "Allow", "POST");
        return;
    }
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST,
                          "The body must be application/x-www-form-urlencoded");
        return;
    }
    if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST, "Malformed or repeated parameters");
        return;
    }
    struct tn_client c;
    const char *gt = tn_form_get(&f, "grant_type");
    if (!gt) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST, "grant_type is required");
    } else if (strcmp(gt, "authorization_code") && strcmp(gt, "refresh_token")) {
        tn_as_oauth_error(r, TN_ERR_UNSUPPORTED_GRANT_TYPE,
                          "Only authorization_code and refresh_token are supported");
    } else if (client_auth(as, req, &f, r, &c)) {
        if (!tn_as_list_has_word(c.grant_types, gt))
            tn_as_oauth_error(r, TN_ERR_UNAUTHORIZED_CLIENT,
                              "This client may not use this grant type");
        else if (!strcmp(gt, "authorization_code"))
            grant_code(as, &f, &c, r);
        else
            grant_refresh(as, &f, &c, r);
        if (r->status == 200)
            tn_store_client_touch(as->cfg.store, c.id, now_s());
    }
    tn_form_deinit(&f);
}

void tn_as_handle_revoke(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST, "POST a form with the token");
        return;
    }
    struct tn_client c;
    const char *tok = tn_form_get(&f, "token");
    if (!tok) {
        tn_as_oauth_error(r, TN_ERR_INVALID_REQUEST, "token is required");
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
        tn_as_resp_header(r, "Cache-Control", "no-store");
    }
    tn_form_deinit(&f);
}
