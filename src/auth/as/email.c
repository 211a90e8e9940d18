/* Sign-in by email (issue #18): a 6-digit code and a link in one message, both single
 * use, short-lived and bound to the browser that asked (its sealed tn_email cookie holds
 * the row id and a browser secret whose keyed hash is in the row).
 *
 *   POST /authorize/email       the same "Check your email" page and the same work for
 *                               every address: a row is stored either way; mail only to
 *                               an active account, and for others a wait as long as
 *                               sending took lately. Throttled per email and address.
 *   POST /authorize/email/code  the code, in the browser that asked.
 *   GET  /signin/email?id&t     never consumes (mail scanners open links): a button in
 *                               the browser that asked, a hint to use the code elsewhere.
 *   POST /signin/email          consumes the link and continues the request. */
#include "auth/as/internal.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "auth/as/pages.h"
#include "auth/signin/email.h"
#include "auth/signin/invite.h"
#include "auth/signin/sso.h"
#include "core/log.h"
#include "core/seal.h"
#include "mail/mail.h"
#include "ops/metrics.h"

#define COOKIE "tn_email"

static void expired_form(struct tn_as *as, struct tn_as_resp *r)
{
    tn_as_message_page(
        as, r, 403, "Session expired",
        "This form is no longer valid (missing or wrong security token). Go back to your "
        "application and start signing in again.");
}

/* The browser's tn_email cookie: row id and browser secret; false when absent or forged. */
static bool email_cookie(struct tn_as *as, const struct tn_as_req *req, char id[48], char b[64])
{
    char buf[1024];
    json_t *j =
        tn_unseal(as->secret, as->secret_len, "email", tn_as_cookie(req, COOKIE, buf, sizeof buf));
    const char *i = json_string_value(json_object_get(j, "id"));
    const char *s = json_string_value(json_object_get(j, "b"));
    bool ok = i && s && strlen(i) < 48 && strlen(s) < 64;
    if (ok) {
        snprintf(id, 48, "%s", i);
        snprintf(b, 64, "%s", s);
    }
    json_decref(j);
    return ok;
}

static void lower_copy(const char *in, char out[256])
{
    size_t n = strlen(in);
    for (size_t i = 0; i <= n && i < 255; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[255] = '\0';
}

static void sent_page(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                      const char *sealed, const char *email, const char *error, int status)
{
    char csrf[64];
    tn_as_csrf_prepare(as, req, r, csrf);
    struct tn_page_email_sent p = {.action = "/authorize/email/code",
                                   .request_id = sealed,
                                   .csrf = csrf,
                                   .email = email,
                                   .minutes = (unsigned)(as->cfg.email_code_ttl_s / 60),
                                   .error = error};
    r->status = status;
    tn_buf_reset(&r->body);
    tn_as_page_headers(as, r, true, tn_page_email_sent(&r->body, &p));
}

/* Sends the code to an active account; for any other address waits about as long. */
static void deliver(struct tn_as *as, const struct tn_as_req *req, bool send, const char *to,
                    const char *code, const char *link)
{
    int64_t t0 = tn_time_now_ms();
    if (!send) {
        int64_t ms = atomic_load(&as->mail_ms);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    struct tn_buf text, html, err;
    tn_buf_init(&text, 16384);
    tn_buf_init(&html, 16384);
    tn_buf_init(&err, 1024);
    enum tn_err rc =
        tn_email_message(code, link, (unsigned)(as->cfg.email_code_ttl_s / 60), &text, &html);
    if (rc == TN_OK)
        rc = tn_mailer_send(as->cfg.mailer, tn_mail_span(to), tn_mail_span(TN_EMAIL_SUBJECT),
                            (struct tn_span){text.data, text.len},
                            (struct tn_span){html.data, html.len}, NULL, &err);
    if (rc != TN_OK)
        tn_log(TN_LOG_WARN, "sign-in code not sent", "id", req->request_id, "error",
               tn_err_name(rc), "detail", err.data ? err.data : "", NULL);
    /* the wait for unknown addresses follows what sending costs */
    int64_t took = tn_time_now_ms() - t0, prev = atomic_load(&as->mail_ms);
    atomic_store(&as->mail_ms, prev ? (prev * 3 + took) / 4 : took);
    sodium_memzero(text.data, text.cap);
    sodium_memzero(html.data, html.cap);
    tn_buf_deinit(&text);
    tn_buf_deinit(&html);
    tn_buf_deinit(&err);
}

/* Stores the row and sets the browser's cookie; fills code and link. */
static enum tn_err new_row(struct tn_as *as, struct tn_as_resp *r, const char *email,
                           const char *sealed, char code[TN_EMAIL_CODE_LEN + 1], char link[1024])
{
    struct tn_email_code *c = calloc(1, sizeof *c);
    char token[64], b[64];
    enum tn_err rc = TN_ERR_NOMEM;
    if (!c)
        return rc;
    if (strlen(sealed) >= sizeof c->req) {
        rc = TN_ERR_LIMIT;
        goto done;
    }
    random_token(c->id, sizeof c->id, 18);
    random_token(token, sizeof token, 32);
    random_token(b, sizeof b, 32);
    tn_email_code_new(code);
    snprintf(c->email, sizeof c->email, "%s", email);
    snprintf(c->req, sizeof c->req, "%s", sealed);
    tn_email_hash(as->secret, as->secret_len, "code", c->id, code, c->code_hash);
    tn_email_hash(as->secret, as->secret_len, "link", c->id, token, c->link_hash);
    tn_email_hash(as->secret, as->secret_len, "browser", c->id, b, c->browser_hash);
    c->created_at = now_s();
    c->expires_at = c->created_at + as->cfg.email_code_ttl_s;
    if ((rc = tn_store_email_code_insert(as->cfg.store, c)) != TN_OK)
        goto done;
    snprintf(link, 1024, "%s/signin/email?id=%s&t=%s", as->issuer, c->id, token);
    json_t *j = json_pack("{s:s, s:s}", "id", c->id, "b", b);
    char *s = tn_seal(as->secret, as->secret_len, "email", j, as->cfg.email_code_ttl_s);
    json_decref(j);
    if (s)
        tn_as_set_cookie(as, r, COOKIE, s, "/", "Lax", as->cfg.email_code_ttl_s);
    free(s);
    rc = s ? TN_OK : TN_ERR_NOMEM;
done:
    sodium_memzero(token, sizeof token);
    sodium_memzero(b, sizeof b);
    free(c);
    return rc;
}

/* An error of the request for a code: the sign-in page of the request, or (an
 * invitation's code, outside any authorization request) a page of its own. */
static void refuse(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                   const char *sealed, const char *email, const char *msg, int status)
{
    if (sealed && sealed[0] && strcmp(sealed, TN_AS_NO_REQUEST))
        tn_as_signin_page(as, req, r, sealed, email, msg, status);
    else
        tn_as_message_page(as, r, status, "Sign in by email", msg);
}

/* Throttles, stores the row, mails the code when `send` (else waits as long), and shows
 * "Check your email". `lower` is the checked address in lower case, `shown` as typed. */
static void begin_code(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                       const char *lower, const char *shown, const char *sealed, bool send)
{
    char code[TN_EMAIL_CODE_LEN + 1] = "", link[1024] = "";
    char akey[TN_THROTTLE_ADDR_KEY_MAX];
    int64_t now = now_s();
    tn_throttle_addr_key(req->client_addr, akey);
    unsigned wait = tn_throttle_wait(as->email_addr, akey, now);
    if (!wait)
        wait = tn_throttle_take(as->email_account, lower, now);
    if (!wait)
        wait = tn_throttle_take(as->email_addr, akey, now);
    if (wait) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Too many sign-in codes were asked for. Try again in %u minute%s.",
                 (wait + 59) / 60, (wait + 59) / 60 == 1 ? "" : "s");
        refuse(as, req, r, sealed, shown, msg, 429);
        tn_as_resp_header(r, "Retry-After", "%u", wait);
        tn_log(TN_LOG_INFO, "sign-in code refused", "id", req->request_id, "method", "email",
               "outcome", "throttled", NULL);
        tn_as_audit_signin(as, sealed, NULL, "email", "throttled");
        tn_metrics_signin("email", "throttled");
        goto done;
    }
    if (!sealed || new_row(as, r, lower, sealed, code, link) != TN_OK) {
        refuse(as, req, r, sealed, shown, "The code could not be sent. Try again.", 503);
        goto done;
    }
    deliver(as, req, send, lower, code, link);
    /* expired rows go at most once a minute, by whichever request comes */
    int64_t last = atomic_load(&as->email_cleanup);
    if (now - last >= 60 && atomic_compare_exchange_strong(&as->email_cleanup, &last, now))
        tn_store_email_code_cleanup(as->cfg.store, now, NULL);
    tn_log(TN_LOG_INFO, "sign-in code requested", "id", req->request_id, "method", "email", NULL);
    sent_page(as, req, r, sealed, shown, NULL, 200);
done:
    sodium_memzero(code, sizeof code);
    sodium_memzero(link, sizeof link);
}

void tn_as_handle_email_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The sign-in form was not sent correctly.");
        return;
    }
    const char *sealed = tn_form_get(&f, "req");
    const char *email = tn_form_get(&f, "email");
    char lower[256];
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        expired_form(as, r);
        goto done;
    }
    if (!email || !email[0] || strlen(email) > 254 ||
        tn_mail_addr_check(email, strlen(email)) != TN_OK) {
        tn_as_signin_page(as, req, r, sealed, email, "Enter a valid email address.", 400);
        goto done;
    }
    lower_copy(email, lower);
    if (tn_signin_sso_required(as->cfg.store, lower)) {
        tn_log(TN_LOG_INFO, "sign-in code refused", "id", req->request_id, "method", "email",
               "outcome", "sso_required", NULL);
        tn_as_signin_page(as, req, r, sealed, email, TN_SSO_REQUIRED_TEXT ".", 403);
        goto done;
    }
    /* mail goes to an active account, or to an invited address without one (its code
     * creates the account: tn_invite_claim_for_email in finish_signin) */
    struct tn_user u;
    struct tn_invitation inv;
    enum tn_err have = tn_store_user_by_email(as->cfg.store, lower, &u);
    bool send = have == TN_OK
                    ? !u.disabled
                    : have == TN_ERR_NOT_FOUND &&
                          tn_store_invitation_pending(as->cfg.store, lower, now_s(), &inv) == TN_OK;
    begin_code(as, req, r, lower, email, sealed, send);
done:
    tn_form_deinit(&f);
}

void tn_as_email_invite_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                              const char *email, const char *sealed)
{
    char lower[256];
    lower_copy(email, lower);
    begin_code(as, req, r, lower, lower, sealed ? sealed : TN_AS_NO_REQUEST, true);
}

/* A consumed row: the account, its session, and the request it continues. */
static void finish_signin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                          const struct tn_email_code *c, const char *method)
{
    /* "require SSO" switched on after the code was asked for: the code no longer signs in */
    if (tn_signin_sso_required(as->cfg.store, c->email)) {
        tn_log(TN_LOG_INFO, "sign-in refused", "id", req->request_id, "method", method, "outcome",
               "sso_required", NULL);
        tn_metrics_signin(method, "failed");
        refuse(as, req, r, c->req, NULL, TN_SSO_REQUIRED_TEXT ".", 403);
        return;
    }
    struct tn_user u;
    enum tn_err have = tn_store_user_by_email(as->cfg.store, c->email, &u);
    /* an invited address proved it reads its mail: its account is made now */
    if (have == TN_ERR_NOT_FOUND)
        have = tn_invite_claim_for_email_via(as->cfg.store, c->email, now_s(), method, &u);
    if (have != TN_OK || u.disabled) {
        const char *why = have == TN_OK ? "disabled" : "no_account";
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", method, "outcome",
               why, NULL);
        tn_as_audit_signin(as, c->req, have == TN_OK ? &u : NULL, method, why);
        tn_metrics_signin(method, "failed");
        refuse(as, req, r, c->req, NULL, "That code is not valid. Ask for a new one.", 401);
        return;
    }
    tn_as_set_cookie(as, r, COOKIE, "", "/", "Lax", 0);
    tn_as_remember_device(as, r, &u);
    tn_as_start_session(as, r, &u);
    tn_log(TN_LOG_INFO, "signed in", "id", req->request_id, "user", u.id, "method", method, NULL);
    tn_as_audit_signin(as, c->req, &u, method, NULL);
    tn_metrics_signin(method, "ok");
    if (!strcmp(c->req, TN_AS_NO_REQUEST)) /* an invitation's code, outside any request */
        tn_as_invite_done_page(as, r, &u);
    else if (!tn_as_signin_continue(as, req, r, c->req, &u))
        tn_as_message_page(
            as, r, 400, "Sign-in expired",
            "This sign-in took too long. Go back to your application and try again.");
}

/* Why a code or link did not sign in, for people. */
static const char *refusal(enum tn_err e)
{
    switch (e) {
    case TN_ERR_CONFLICT:
        return "That code was already used. Ask for a new one.";
    case TN_ERR_INVALID_GRANT:
        return "That code has expired. Ask for a new one.";
    case TN_ERR_LIMIT:
        return "Too many wrong codes. Ask for a new one.";
    default:
        return "This browser did not ask for that code. Ask for a new one here.";
    }
}

static const char *outcome(enum tn_err e)
{
    switch (e) {
    case TN_ERR_CONFLICT:
        return "used";
    case TN_ERR_INVALID_GRANT:
        return "expired";
    case TN_ERR_LIMIT:
        return "locked";
    case TN_ERR_FORBIDDEN:
        return "wrong";
    default:
        return "unknown";
    }
}

/* The sign-in metric's outcome (ops/metrics.h) of a code or link that did not work. */
static const char *metric_outcome(enum tn_err e)
{
    return e == TN_ERR_INVALID_GRANT ? "expired" : e == TN_ERR_LIMIT ? "throttled" : "failed";
}

void tn_as_handle_email_code(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The sign-in form was not sent correctly.");
        return;
    }
    const char *sealed = tn_form_get(&f, "req");
    char id[48], b[64], code[TN_EMAIL_CODE_LEN + 1];
    uint8_t bh[32], ch[32];
    struct tn_email_code *c = calloc(1, sizeof *c);
    if (!c) {
        tn_as_message_page(as, r, 503, "Try again later", "The server is short of memory.");
        goto done;
    }
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        expired_form(as, r);
        goto done;
    }
    if (!email_cookie(as, req, id, b)) {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "email", "outcome",
               "no_cookie", NULL);
        tn_as_audit_signin(as, sealed, NULL, "email", "no_cookie");
        refuse(as, req, r, sealed, NULL, refusal(TN_ERR_NOT_FOUND), 400);
        goto done;
    }
    if (!tn_email_code_normalise(tn_form_get(&f, "code"), code)) {
        sent_page(as, req, r, sealed, NULL, "Enter the 6-digit code from the email.", 400);
        goto done;
    }
    tn_email_hash(as->secret, as->secret_len, "browser", id, b, bh);
    tn_email_hash(as->secret, as->secret_len, "code", id, code, ch);
    enum tn_err e = tn_store_email_code_use(as->cfg.store, id, bh, ch, false, now_s(), c);
    if (e == TN_OK) {
        finish_signin(as, req, r, c, "email");
    } else if (e == TN_ERR_FORBIDDEN && c->attempts < TN_EMAIL_CODE_ATTEMPTS) {
        char msg[120];
        int left = (int)(TN_EMAIL_CODE_ATTEMPTS - c->attempts);
        snprintf(msg, sizeof msg, "That code is not right. %d attempt%s left.", left,
                 left == 1 ? "" : "s");
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "email", "outcome",
               "wrong", NULL);
        tn_as_audit_signin(as, sealed, NULL, "email", "wrong_code");
        tn_metrics_signin("email", "failed");
        sent_page(as, req, r, sealed, NULL, msg, 401);
    } else {
        if (e == TN_ERR_FORBIDDEN)
            e = TN_ERR_LIMIT; /* the last attempt was wrong */
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "email", "outcome",
               outcome(e), NULL);
        tn_as_audit_signin(as, sealed, NULL, "email", outcome(e));
        tn_metrics_signin("email", metric_outcome(e));
        refuse(as, req, r, sealed, NULL, refusal(e), e == TN_ERR_LIMIT ? 429 : 400);
    }
done:
    sodium_memzero(code, sizeof code);
    sodium_memzero(b, sizeof b);
    free(c);
    tn_form_deinit(&f);
}

/* GET shows, POST consumes. */
void tn_as_handle_email_link(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    bool post = !strcmp(req->method, "POST");
    struct tn_form f;
    bool have_form = false;
    char id[48], b[64];
    uint8_t bh[32], lh[32];
    struct tn_email_code *c = calloc(1, sizeof *c);
    const char *qid, *qt;
    if (!c) {
        tn_as_message_page(as, r, 503, "Try again later", "The server is short of memory.");
        return;
    }
    if (post) {
        if (tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
            tn_as_message_page(as, r, 400, "Invalid request",
                               "The sign-in form was not sent correctly.");
            goto done;
        }
        have_form = true;
        if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
            expired_form(as, r);
            goto done;
        }
        qid = tn_form_get(&f, "id");
        qt = tn_form_get(&f, "t");
    } else if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")) {
        qid = req->query(req->ud, "id");
        qt = req->query(req->ud, "t");
    } else {
        tn_as_message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
        goto done;
    }
    if (!qid || !qt || !tn_as_b64url_chars(qid, 1, 47) || !tn_as_b64url_chars(qt, 1, 63) ||
        !email_cookie(as, req, id, b) || strcmp(id, qid)) {
        tn_log(TN_LOG_INFO, "sign-in link opened elsewhere", "id", req->request_id, "method",
               "email", NULL);
        tn_as_message_page(
            as, r, 400, "Use the code instead",
            "This link signs in only the browser where you asked for it. Enter the code from "
            "the email in the window where you started signing in.");
        goto done;
    }
    tn_email_hash(as->secret, as->secret_len, "browser", id, b, bh);
    tn_email_hash(as->secret, as->secret_len, "link", id, qt, lh);
    if (!post) {
        enum tn_err e = tn_store_email_code_get(as->cfg.store, id, c);
        if (e == TN_OK)
            e = tn_ct_equal(c->link_hash, lh, 32) ? TN_OK : TN_ERR_FORBIDDEN;
        /* what consuming it now would say, without consuming it */
        if (e == TN_OK && !tn_ct_equal(c->browser_hash, bh, 32))
            e = TN_ERR_NOT_FOUND;
        else if (e == TN_OK && c->used_at)
            e = TN_ERR_CONFLICT;
        else if (e == TN_OK && c->expires_at <= now_s())
            e = TN_ERR_INVALID_GRANT;
        else if (e == TN_OK && c->attempts >= TN_EMAIL_CODE_ATTEMPTS)
            e = TN_ERR_LIMIT;
        if (e != TN_OK) {
            tn_as_message_page(as, r, 400, "This link does not work", refusal(e));
            goto done;
        }
        char csrf[64];
        tn_as_csrf_prepare(as, req, r, csrf);
        struct tn_page_email_link p = {
            .action = "/signin/email", .id = id, .token = qt, .csrf = csrf, .email = c->email};
        r->status = 200;
        tn_buf_reset(&r->body);
        tn_as_page_headers(as, r, true, tn_page_email_link(&r->body, &p));
        goto done;
    }
    enum tn_err e = tn_store_email_code_use(as->cfg.store, id, bh, lh, true, now_s(), c);
    if (e == TN_OK) {
        finish_signin(as, req, r, c, "email_link");
    } else {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "email_link",
               "outcome", outcome(e), NULL);
        tn_as_audit_signin(as, NULL, NULL, "email_link", outcome(e));
        tn_metrics_signin("email_link", metric_outcome(e));
        tn_as_message_page(as, r, 400, "This link does not work", refusal(e));
    }
done:
    sodium_memzero(b, sizeof b);
    free(c);
    if (have_form)
        tn_form_deinit(&f);
}
