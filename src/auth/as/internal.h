/* Internals of the built-in authorization server, shared by its files; not part of
 * the public API (auth/as/as.h).
 *
 * Reading order: as.c (dispatch, lifecycle, the small helpers every endpoint uses),
 * clients.c (who a client_id names: registered clients, Client ID Metadata Documents,
 * registration), session.c (the browser's session, device and CSRF cookies),
 * authorize.c (the authorization endpoint, sign-in and consent), token.c (the token
 * and revocation endpoints), setup.c (the first administrator). */
#ifndef TN_AUTH_AS_INTERNAL_H
#define TN_AUTH_AS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "auth/as/as.h"
#include "auth/as/cimd.h"
#include "auth/signin/methods.h"
#include "auth/signin/throttle.h"
#include "core/err.h"
#include "core/form.h"
#include "core/util.h"
#include "store/store.h"

struct tn_as {
    struct tn_as_config cfg;
    char *issuer, *resource, *scopes;
    uint8_t secret[64];
    size_t secret_len;
    json_t *metadata;
    struct tn_signin_guard *signin;        /* failed sign-ins: per account, address, browser */
    struct tn_throttle *registrations;     /* client registrations per address and hour */
    struct tn_throttle *registrations_net; /* ... and per IPv6 /48 */
    pthread_mutex_t mu;                    /* setup token */
    struct tn_cimd_cache *cimd;            /* its own lock */
    struct tn_throttle *cimd_fetches;      /* metadata document fetches per address and hour */
    char setup_token[48];
    char setup_url[600];
    bool secure_cookies;
    int64_t last_cleanup;
    struct tn_throttle *email_addr;    /* sign-in codes requested per client address */
    struct tn_throttle *email_account; /* ... and per email address */
    _Atomic int64_t mail_ms;           /* how long sending a code took lately (email.c) */
    _Atomic int64_t email_cleanup;     /* when expired email codes were last deleted */
    struct tn_throttle *oidc_used;     /* upstream sign-in states already called back (oidc.c) */
    struct tn_as_sso *sso;             /* organizations' SSO providers (sso.c) */
};

/* True when SIGNIN_METHODS includes `m` (no setting at all: password only). */
static inline bool tn_as_method_on(const struct tn_as *as, unsigned m)
{
    unsigned set = as->cfg.signin_methods ? as->cfg.signin_methods : TN_SIGNIN_PASSWORD;
    return (set & m) != 0;
}

/* ---------- small helpers (the trivial ones here, the rest in as.c) ---------- */

static inline int64_t now_s(void) { return tn_time_now_ms() / 1000; }

static inline void random_token(char *out, size_t cap, size_t bytes)
{
    uint8_t b[64];
    tn_random(b, bytes);
    tn_b64url_encode(out, cap, b, bytes);
}

static inline void sha256(const char *s, uint8_t out[32])
{
    crypto_hash_sha256(out, (const uint8_t *)s, strlen(s));
}

/* Adds a response header (dropped when TN_AS_MAX_HEADERS are set). */
void tn_as_resp_header(struct tn_as_resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON response of `doc` (the reference is taken). */
void tn_as_json_resp(struct tn_as_resp *r, int status, json_t *doc);
/* An RFC 6749 §5.2 error response: status and `error` from the error table. */
void tn_as_oauth_error(struct tn_as_resp *r, enum tn_err e, const char *desc);
/* The headers of an HTML page (or a plain 500 when `rendered` failed). */
void tn_as_page_headers(struct tn_as *as, struct tn_as_resp *r, bool redirects,
                        enum tn_err rendered);
/* A page with a title and a message. */
void tn_as_message_page(struct tn_as *as, struct tn_as_resp *r, int status, const char *title,
                        const char *msg);
/* The value of the request's cookie `name` in `out`, or NULL (absent or too long). */
const char *tn_as_cookie(const struct tn_as_req *req, const char *name, char *out, size_t cap);
void tn_as_set_cookie(struct tn_as *as, struct tn_as_resp *r, const char *name, const char *value,
                      const char *path, const char *same_site, int64_t max_age);

/* ---------- scopes and words (as.c) ---------- */

void tn_as_grant_scope(struct tn_as *as, const char *req, char out[256]);
bool tn_as_scope_subset(const char *want, const char *have);
bool tn_as_list_has_word(const char *list, const char *w);
bool tn_as_b64url_chars(const char *s, size_t min, size_t max);
bool tn_as_same_resource(const char *a, const char *b);

/* ---------- clients (clients.c) ---------- */

enum tn_err tn_as_find_client(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                              const char *id, struct tn_client *out, const char **why);
void tn_as_handle_register(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);

/* ---------- sessions, known browsers and CSRF (session.c) ---------- */

bool tn_as_session_user(struct tn_as *as, const struct tn_as_req *req, struct tn_user *u);
void tn_as_start_session(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u);
const char *tn_as_device_of(struct tn_as *as, const struct tn_as_req *req, const char *uid,
                            int64_t valid_after, char *out, size_t cap);
void tn_as_remember_device(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u);
void tn_as_csrf_prepare(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                        char token[64]);
bool tn_as_csrf_ok(struct tn_as *as, const struct tn_as_req *req, const char *sent);

/* ---------- endpoints ---------- */

/* authorize.c */
void tn_as_handle_authorize(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_login(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_consent(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* The sign-in page of the sealed request (or "Sign-in expired"), with an error. */
void tn_as_signin_page(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                       const char *sealed, const char *email, const char *error, int status);
/* After a sign-in by another method: consent or the code for the sealed request; false
 * (nothing filled) when it no longer unseals. */
bool tn_as_signin_continue(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                           const char *sealed, const struct tn_user *u);
/* Records a sign-in attempt (auth/signin/audit.h) for the client of the sealed request
 * (NULL or expired: no client): method, account (u NULL: unknown), and `reason`: NULL
 * for a success, else the reason code of a refusal (outcome "denied"). */
void tn_as_audit_signin(struct tn_as *as, const char *sealed, const struct tn_user *u,
                        const char *method, const char *reason);
/* The same with the outcome given (TN_SIGNIN_AUDIT_ERROR, or "ok" with reason "linked"). */
void tn_as_audit_signin_as(struct tn_as *as, const char *sealed, const struct tn_user *u,
                           const char *method, const char *outcome, const char *reason);
/* True when the sealed authorization request still unseals. */
bool tn_as_request_ok(struct tn_as *as, const char *sealed);
/* oidc.c: POST /authorize/oidc, GET /signin/oidc/callback */
void tn_as_handle_oidc_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_oidc_callback(struct tn_as *as, const struct tn_as_req *req,
                                struct tn_as_resp *r);
/* The sign-in page, with every enabled method, for one of the server's own pages: once
 * signed in (by any method), the browser goes to `to`, a constant local path such as
 * "/account" (sealed into the form: never taken from the request). */
void tn_as_signin_for(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                      const char *to);
/* account.c: GET /account, GET /account/signin, POST /account/{revoke,signout,
 * signout-everywhere,password} */
void tn_as_handle_account(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* email.c: POST /authorize/email, POST /authorize/email/code, GET and POST /signin/email */
void tn_as_handle_email_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_email_code(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_email_link(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* The `req` of an email code asked for outside any authorization request (an
 * invitation's): it never unseals, and its sign-in ends on the "You're in" page. */
#define TN_AS_NO_REQUEST "-"
/* email.c: sends a sign-in code to an invited `email` (no account yet) and shows "Check
 * your email"; `sealed` the authorization request it continues, NULL for none. */
void tn_as_email_invite_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r,
                              const char *email, const char *sealed);
/* invite.c: GET and POST /invite, POST /invite/email (#18) */
void tn_as_handle_invite(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_invite_email(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* The "You're in" page of a person signed in outside any authorization request. */
void tn_as_invite_done_page(struct tn_as *as, struct tn_as_resp *r, const struct tn_user *u);
/* sso.c: POST /authorize/sso, GET /signin/sso/callback */
struct tn_as_sso *tn_as_sso_new(void);
void tn_as_sso_free(struct tn_as_sso *c);
/* SIGNIN_METHODS has sso and at least one organization has a connection. */
bool tn_as_sso_offered(struct tn_as *as);
void tn_as_handle_sso_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_sso_callback(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* token.c */
void tn_as_handle_token(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
void tn_as_handle_revoke(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* setup.c */
void tn_as_handle_setup(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* admin.c: /admin and its pages (#19) */
void tn_as_handle_admin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);
/* authorize.c: GET /signin?next=PATH, the sign-in page for the issuer's own pages
 * (/admin, /account): after sign-in the browser is sent back to PATH */
void tn_as_handle_signin(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r);

#endif
