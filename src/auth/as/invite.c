/* Accepting an invitation (#18; auth/signin/invite.h).
 *
 *   GET  /invite?t=TOKEN[&req=]  the invitation: "You are invited to teamnotes as ROLE"
 *                                with the enabled ways to accept. Never consumes (mail
 *                                scanners open links).
 *   POST /invite                 sets a password: the account is created with the
 *                                invitation's email, role and organization, the
 *                                invitation used, the browser signed in.
 *   POST /invite/email           sends a sign-in code to the invited address; the code
 *                                creates the account (tn_invite_claim_for_email).
 *
 * An unknown, used or expired token gets one and the same page. Every form carries the
 * CSRF token (and the server checks Origin). After accepting, a request that came with
 * a sealed authorization request (`req`) continues it; otherwise "You're in" names the
 * MCP URL to connect to. */
#include "auth/as/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/as/pages.h"
#include "auth/as/users.h"
#include "auth/signin/invite.h"
#include "auth/signin/sso.h"
#include "core/log.h"
#include "mail/mail.h"

#define NAME_MAX_BYTES 120

static void invalid(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                    enum tn_err why)
{
    tn_log(TN_LOG_INFO, "invitation refused", "id", req->request_id, "outcome",
           why == TN_ERR_NOT_FOUND ? "unknown" : "used_or_expired", NULL);
    tn_as_message_page(as, r, 400, "This invitation does not work",
                       "The link is unknown, was already used, or has expired. Ask whoever "
                       "invited you for a new invitation.");
}

static void has_account(struct tn_as *as, struct tn_as_resp *r, const char *email)
{
    char msg[400];
    snprintf(msg, sizeof msg,
             "%s already has a teamnotes account. Sign in with it from your MCP client.", email);
    tn_as_message_page(as, r, 409, "You already have an account", msg);
}

static void expired_form(struct tn_as *as, struct tn_as_resp *r)
{
    tn_as_message_page(as, r, 403, "Session expired",
                       "This form is no longer valid (missing or wrong security token). Open "
                       "the invitation link again.");
}

/* The pending invitation of token `t` (hash into `hash`): TN_OK, TN_ERR_NOT_FOUND or
 * TN_ERR_INVALID_GRANT (used or expired), or a store error. */
static enum tn_err load(struct tn_as *as, const char *t, uint8_t hash[32],
                        struct tn_invitation *inv)
{
    memset(inv, 0, sizeof *inv);
    if (!tn_invite_token_hash(t, hash))
        return TN_ERR_NOT_FOUND;
    enum tn_err e = tn_store_invitation_get(as->cfg.store, hash, inv);
    struct tn_user by;
    if (e == TN_OK && !tn_invite_usable(inv, now_s()))
        e = TN_ERR_INVALID_GRANT;
    /* the page as the store's take will decide: dead with its inviter's account */
    else if (e == TN_OK && inv->invited_by[0] &&
             tn_store_user_get(as->cfg.store, inv->invited_by, &by) == TN_OK && by.disabled)
        e = TN_ERR_INVALID_GRANT;
    return e;
}

/* A sealed authorization request is passed on only when it fits its field; whether it is
 * genuine is checked when it is used (tn_as_signin_continue unseals it). */
static const char *req_param(const char *v) { return v && v[0] && strlen(v) < 8192 ? v : NULL; }

static void show(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r, const char *t,
                 const char *sealed, const struct tn_invitation *inv, const char *name,
                 const char *error, int status)
{
    struct tn_org o;
    struct tn_user by;
    char inviter[420] = "", csrf[64];
    bool has_org = inv->org_id[0] && tn_store_org_get(as->cfg.store, inv->org_id, &o) == TN_OK;
    if (inv->invited_by[0] && tn_store_user_get(as->cfg.store, inv->invited_by, &by) == TN_OK)
        snprintf(inviter, sizeof inviter, "%s", by.name[0] ? by.name : by.email);
    /* an address of a domain that signs in with SSO: only SSO makes its account */
    bool sso = tn_signin_sso_required(as->cfg.store, inv->email);
    bool pw = !sso && tn_as_method_on(as, TN_SIGNIN_PASSWORD);
    bool code = !sso && tn_as_method_on(as, TN_SIGNIN_EMAIL) && as->cfg.mailer;
    if (!pw && !code) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "Sign in from your MCP client with %s: your account is created as you sign "
                 "in for the first time.",
                 inv->email);
        tn_as_message_page(as, r, 200, "You are invited to teamnotes", msg);
        return;
    }
    tn_as_csrf_prepare(as, req, r, csrf);
    struct tn_page_invite p = {.token = t,
                               .csrf = csrf,
                               .request_id = req_param(sealed),
                               .email = inv->email,
                               .role = inv->role,
                               .org = has_org ? o.name : NULL,
                               .inviter = inviter,
                               .password_action = pw ? "/invite" : NULL,
                               .email_action = code ? "/invite/email" : NULL,
                               .name = name,
                               .error = error};
    r->status = status;
    tn_buf_reset(&r->body);
    tn_as_page_headers(as, r, true, tn_page_invite(&r->body, &p));
}

void tn_as_invite_done_page(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u)
{
    r->status = 200;
    tn_buf_reset(&r->body);
    tn_as_page_headers(as, r, false, tn_page_invite_done(&r->body, u->email, as->resource));
}

/* True (and the refusal in r) when the invited address's domain signs in with SSO only:
 * its account is made by an SSO sign-in, not by a password or an email code. */
static bool sso_only(struct tn_as *as, struct tn_as_resp *r, const char *email)
{
    if (!tn_signin_sso_required(as->cfg.store, email))
        return false;
    tn_as_message_page(as, r, 403, "Sign in with SSO",
                       TN_SSO_REQUIRED_TEXT ": sign in from your MCP client with this address "
                                            "and choose SSO; your account is created then.");
    return true;
}

/* The checks of a name and two passwords; NULL when they pass. */
static const char *form_error(const char *name, const char *pw, const char *pw2)
{
    if (name && name[0] && tn_mail_text_check(name, strlen(name), NAME_MAX_BYTES) != TN_OK)
        return "The name may have at most 120 bytes and no control characters.";
    if (!pw || strlen(pw) < TN_PASSWORD_MIN)
        return "The password needs at least 10 characters.";
    if (strlen(pw) > 1024)
        return "The password may have at most 1024 characters.";
    if (!pw2 || strcmp(pw, pw2))
        return "The two passwords differ.";
    return NULL;
}

static void accept_password(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    char hash_str[TN_PASSWORD_HASH_MAX] = "";
    if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The invitation form was not sent correctly.");
        return;
    }
    if (!tn_as_method_on(as, TN_SIGNIN_PASSWORD)) {
        tn_as_message_page(as, r, 404, "Not available",
                           "Password sign-in is turned off on this server.");
        goto done;
    }
    const char *t = tn_form_get(&f, "t"), *sealed = tn_form_get(&f, "req");
    const char *name = tn_form_get(&f, "name"), *pw = tn_form_get(&f, "password");
    uint8_t hash[32];
    struct tn_invitation inv;
    struct tn_user u;
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        expired_form(as, r);
        goto done;
    }
    enum tn_err e = load(as, t, hash, &inv);
    if (e != TN_OK) {
        invalid(as, req, r, e);
        goto done;
    }
    if (tn_store_user_by_email(as->cfg.store, inv.email, &u) == TN_OK) {
        has_account(as, r, inv.email);
        goto done;
    }
    if (sso_only(as, r, inv.email))
        goto done;
    const char *why = form_error(name, pw, tn_form_get(&f, "password2"));
    if (why) {
        show(as, req, r, t, sealed, &inv, name, why, 400);
        goto done;
    }
    if (tn_password_hash(pw, hash_str) != TN_OK) {
        show(as, req, r, t, sealed, &inv, name, "The account could not be created. Try again.",
             503);
        goto done;
    }
    e = tn_invite_accept(as->cfg.store, hash, name, hash_str, "password", now_s(), &u);
    if (e == TN_ERR_CONFLICT) {
        has_account(as, r, inv.email);
        goto done;
    }
    if (e != TN_OK) {
        invalid(as, req, r, e);
        goto done;
    }
    tn_as_remember_device(as, r, &u);
    tn_as_start_session(as, r, &u);
    tn_log(TN_LOG_INFO, "signed in", "id", req->request_id, "user", u.id, "method", "invite", NULL);
    if (!req_param(sealed) || !tn_as_signin_continue(as, req, r, sealed, &u))
        tn_as_invite_done_page(as, r, &u);
done:
    sodium_memzero(hash_str, sizeof hash_str);
    tn_form_deinit(&f);
}

void tn_as_handle_invite(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    if (!strcmp(req->method, "POST")) {
        accept_password(as, req, r);
        return;
    }
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
        tn_as_message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
        return;
    }
    const char *t = req->query(req->ud, "t");
    uint8_t hash[32];
    struct tn_invitation inv;
    struct tn_user u;
    enum tn_err e = load(as, t, hash, &inv);
    if (e != TN_OK) {
        invalid(as, req, r, e);
        return;
    }
    if (tn_store_user_by_email(as->cfg.store, inv.email, &u) == TN_OK) {
        has_account(as, r, inv.email);
        return;
    }
    show(as, req, r, t, req->query(req->ud, "req"), &inv, NULL, NULL, 200);
}

void tn_as_handle_invite_email(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The invitation form was not sent correctly.");
        return;
    }
    if (!tn_as_method_on(as, TN_SIGNIN_EMAIL) || !as->cfg.mailer) {
        tn_as_message_page(as, r, 404, "Not available",
                           "Sign-in by email is turned off on this server.");
        goto done;
    }
    uint8_t hash[32];
    struct tn_invitation inv;
    struct tn_user u;
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        expired_form(as, r);
        goto done;
    }
    enum tn_err e = load(as, tn_form_get(&f, "t"), hash, &inv);
    if (e != TN_OK) {
        invalid(as, req, r, e);
        goto done;
    }
    if (tn_store_user_by_email(as->cfg.store, inv.email, &u) == TN_OK) {
        has_account(as, r, inv.email);
        goto done;
    }
    if (sso_only(as, r, inv.email))
        goto done;
    tn_as_email_invite_start(as, req, r, inv.email, req_param(tn_form_get(&f, "req")));
done:
    tn_form_deinit(&f);
}
