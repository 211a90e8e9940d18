/* Enterprise single sign-on per organization (#18): home-realm discovery and the
 * organization's own OpenID Connect provider.
 *
 *   POST /authorize/sso          (req, csrf, email): the email's domain -> the organization
 *                                that owns it -> its connection -> 302 to its provider with
 *                                state, nonce and PKCE kept in the sealed cookie tn_sso
 *                                (Path=/signin/sso, 10 min). A domain without a connection,
 *                                known or not, gets the same sign-in page and message.
 *   GET  /signin/sso/callback    the provider's answer: the ID token verified (upstream/oidc.c),
 *                                then email_verified and the email's domain one of THAT
 *                                organization's; the identity (iss, sub) known -> its user;
 *                                else the organization's member with that email -> linked;
 *                                else a pending invitation of the address into THIS
 *                                organization -> accepted (its role) and linked;
 *                                else, with allow_signup, a member made just in time with the
 *                                role of the groups claim (role_map) or the default role.
 *
 * Both run on the blocking pool (discovery, the token endpoint). Providers are cached per
 * organization and connection version (updated_at); a failed discovery is remembered for
 * SSO_RETRY_S so a provider that is down is not asked on every click. */
#include "auth/as/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/signin/invite.h"
#include "auth/signin/sso.h"
#include "auth/upstream/oidc.h"
#include "core/log.h"
#include "core/seal.h"
#include "mail/mail.h"
#include "ops/metrics.h"

#define COOKIE "tn_sso"
#define COOKIE_PATH "/signin/sso"
#define PURPOSE "sso"
#define STATE_TTL_S 600
#define SSO_CACHE 64
#define SSO_RETRY_S 30
#define NEUTRAL "Single sign-on is not available for that address. Sign in another way."

/* ---------- providers, per organization ---------- */

struct sso_entry {
    char org_id[48];
    int64_t updated_at;
    struct tn_oidc_provider *p; /* NULL: free slot, or a failure remembered */
    int64_t failed_at;
    enum tn_oidc_reason why;
    unsigned refs;
    bool stale; /* replaced: freed when the last user lets go */
};

struct tn_as_sso {
    pthread_mutex_t mu;
    struct sso_entry v[SSO_CACHE];
};

struct tn_as_sso *tn_as_sso_new(void)
{
    struct tn_as_sso *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

void tn_as_sso_free(struct tn_as_sso *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < SSO_CACHE; i++)
        tn_oidc_provider_free(c->v[i].p);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void release(struct tn_as_sso *c, struct tn_oidc_provider *p)
{
    bool cached = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < SSO_CACHE; i++) {
        struct sso_entry *e = &c->v[i];
        if (e->p != p)
            continue;
        cached = true;
        if (--e->refs == 0 && e->stale) {
            tn_oidc_provider_free(e->p);
            memset(e, 0, sizeof *e);
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
    if (!cached)
        tn_oidc_provider_free(p);
}

/* The provider of connection `c` (hold it until release()); network on a miss. */
static enum tn_err provider_get(struct tn_as *as, const struct tn_org_sso *c,
                                struct tn_oidc_provider **out, enum tn_oidc_reason *why)
{
    struct tn_as_sso *cache = as->sso;
    int64_t now = now_s();
    *out = NULL;
    *why = TN_OIDC_INTERNAL;
    pthread_mutex_lock(&cache->mu);
    for (size_t i = 0; i < SSO_CACHE; i++) {
        struct sso_entry *e = &cache->v[i];
        if (e->stale || strcmp(e->org_id, c->org_id) || e->updated_at != c->updated_at)
            continue;
        if (e->p) {
            e->refs++;
            *out = e->p;
            pthread_mutex_unlock(&cache->mu);
            return TN_OK;
        }
        if (now - e->failed_at < SSO_RETRY_S) {
            *why = e->why;
            pthread_mutex_unlock(&cache->mu);
            return TN_ERR_IO;
        }
    }
    pthread_mutex_unlock(&cache->mu);

    char secret[TN_SSO_SECRET_MAX + 1] = "", redirect[1100];
    enum tn_err rc = tn_sso_secret_open(as->secret, as->secret_len, c->org_id, c->client_secret,
                                        secret, sizeof secret);
    struct tn_oidc_provider *p = NULL;
    if (rc != TN_OK) {
        tn_log(TN_LOG_ERROR, "an organization's SSO client secret does not open", "org", c->org_id,
               NULL);
        *why = TN_OIDC_BAD_CONFIG;
    } else {
        snprintf(redirect, sizeof redirect, "%s%s", as->issuer, TN_SSO_CALLBACK_PATH);
        struct tn_oidc_config oc = {
            .issuer = c->issuer,
            .client_id = c->client_id,
            .client_secret = secret,
            .scopes = c->scopes[0] ? c->scopes : NULL,
            .redirect_uri = redirect,
            .groups_claim = c->groups_claim[0] ? c->groups_claim : NULL,
            .allow_loopback = as->cfg.sso_allow_loopback,
        };
        rc = tn_oidc_provider_new(&oc, &p, why);
    }
    sodium_memzero(secret, sizeof secret);

    pthread_mutex_lock(&cache->mu);
    struct sso_entry *slot = NULL;
    for (size_t i = 0; i < SSO_CACHE; i++) {
        struct sso_entry *e = &cache->v[i];
        if (!e->org_id[0] && !slot)
            slot = e;
        if (e->stale || strcmp(e->org_id, c->org_id))
            continue;
        /* the organization's older connection, or a failure: this one replaces it */
        if (e->refs) {
            e->stale = true;
        } else {
            tn_oidc_provider_free(e->p);
            memset(e, 0, sizeof *e);
            if (!slot)
                slot = e;
        }
    }
    /* full: the first entry no request holds makes room */
    for (size_t i = 0; !slot && i < SSO_CACHE; i++) {
        struct sso_entry *e = &cache->v[i];
        if (!e->refs) {
            tn_oidc_provider_free(e->p);
            memset(e, 0, sizeof *e);
            slot = e;
        }
    }
    if (slot) {
        snprintf(slot->org_id, sizeof slot->org_id, "%s", c->org_id);
        slot->updated_at = c->updated_at;
        slot->p = p;
        slot->refs = p ? 1 : 0;
        slot->failed_at = p ? 0 : now;
        slot->why = *why;
    }
    pthread_mutex_unlock(&cache->mu);
    *out = p; /* uncached when no slot was free: release() frees it */
    return rc == TN_OK ? TN_OK : TN_ERR_IO;
}

/* ---------- the pages ---------- */

bool tn_as_sso_offered(struct tn_as *as)
{
    int64_t n = 0;
    return tn_as_method_on(as, TN_SIGNIN_SSO) &&
           tn_store_org_sso_count(as->cfg.store, &n) == TN_OK && n > 0;
}

/* An SSO sign-in in the audit log: method "sso:<org name>", outcome ok, denied (the
 * reason, e.g. unverified_email, in the record's note column until the log has a column of
 * its own for sign-ins) or error; the user's id, else the address asserted, else "-". */
static void audit_signin(struct tn_as *as, const char *user, const struct tn_org *o,
                         const char *reason)
{
    struct tn_audit a;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    tn_strlcpy(a.user, user && user[0] ? user : "-", sizeof a.user);
    tn_strlcpy(a.org, o->id, sizeof a.org);
    snprintf(a.tool, sizeof a.tool, "sso:%.59s", o->name);
    bool ok = !strcmp(reason, "ok");
    tn_strlcpy(a.outcome,
               ok                         ? "ok"
               : !strcmp(reason, "error") ? "error"
                                          : "denied",
               sizeof a.outcome);
    if (!ok)
        tn_strlcpy(a.note_id, reason, sizeof a.note_id);
    if (tn_store_audit_insert(as->cfg.store, &a) != TN_OK)
        tn_log(TN_LOG_WARN, "sso: sign-in not audited", "org", o->id, NULL);
    tn_metrics_signin("sso", ok ? "ok" : !strcmp(reason, "error") ? "error" : "failed");
}

static void expired(struct tn_as *as, struct tn_as_resp *r)
{
    tn_as_message_page(as, r, 400, "Sign-in expired",
                       "This sign-in was already used or took too long. Go back to your "
                       "application and start signing in again.");
}

/* ---------- POST /authorize/sso ---------- */

void tn_as_handle_sso_start(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    struct tn_form f;
    if (strcmp(req->method, "POST") || tn_form_parse(&f, req->body.ptr, req->body.len) != TN_OK) {
        tn_as_message_page(as, r, 400, "Invalid request",
                           "The sign-in form was not sent correctly.");
        return;
    }
    const char *sealed = tn_form_get(&f, "req");
    const char *email = tn_form_get(&f, "email");
    char domain[TN_SSO_DOMAIN_MAX + 1];
    struct tn_org_domain d;
    struct tn_org_sso *c = calloc(1, sizeof *c);
    struct tn_oidc_provider *p = NULL;
    struct tn_oidc_start st;
    memset(&st, 0, sizeof st);
    if (!c) {
        tn_as_message_page(as, r, 503, "Try again later", "The server is short of memory.");
        goto done;
    }
    if (!tn_as_csrf_ok(as, req, tn_form_get(&f, "csrf"))) {
        tn_as_message_page(
            as, r, 403, "Session expired",
            "This form is no longer valid (missing or wrong security token). Go back to your "
            "application and start signing in again.");
        goto done;
    }
    json_t *authz = sealed ? tn_unseal(as->secret, as->secret_len, "authz", sealed) : NULL;
    if (!authz) {
        expired(as, r);
        goto done;
    }
    json_decref(authz);
    if (!email || !email[0] || strlen(email) > 254 ||
        tn_mail_addr_check(email, strlen(email)) != TN_OK ||
        tn_sso_email_domain(email, domain) != TN_OK) {
        tn_as_signin_page(as, req, r, sealed, email, "Enter your work email address.", 400);
        goto done;
    }
    /* an unknown domain and a domain whose organization has no connection look the same */
    if (tn_store_org_domain_get(as->cfg.store, domain, &d) != TN_OK ||
        tn_store_org_sso_get(as->cfg.store, d.org_id, c) != TN_OK) {
        tn_log(TN_LOG_INFO, "sso: no connection for the domain", "id", req->request_id, NULL);
        tn_as_signin_page(as, req, r, sealed, email, NEUTRAL, 400);
        goto done;
    }
    enum tn_oidc_reason why;
    if (provider_get(as, c, &p, &why) != TN_OK) {
        tn_log(TN_LOG_WARN, "sso: the organization's provider is unavailable", "id",
               req->request_id, "org", c->org_id, "reason", tn_oidc_reason_name(why), NULL);
        tn_as_signin_page(as, req, r, sealed, email,
                          "Your organization's sign-in service cannot be reached. Try again "
                          "in a minute.",
                          503);
        goto done;
    }
    char hint[256];
    snprintf(hint, sizeof hint, "%s", email);
    if (tn_oidc_begin(p, hint, &st) != TN_OK) {
        tn_as_signin_page(as, req, r, sealed, email, "Single sign-on could not start. Try again.",
                          503);
        goto done;
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "o", c->org_id, "s", st.state, "n", st.nonce,
                          "v", st.code_verifier, "r", sealed);
    char *cookie = j ? tn_seal(as->secret, as->secret_len, PURPOSE, j, STATE_TTL_S) : NULL;
    json_decref(j);
    if (!cookie || strlen(st.url) >= sizeof r->headers[0].value) {
        free(cookie);
        tn_as_signin_page(as, req, r, sealed, email, "Single sign-on could not start. Try again.",
                          503);
        goto done;
    }
    r->status = 302;
    r->content_type = NULL;
    tn_buf_reset(&r->body);
    tn_as_resp_header(r, "Location", "%s", st.url);
    tn_as_resp_header(r, "Cache-Control", "no-store");
    tn_as_set_cookie(as, r, COOKIE, cookie, COOKIE_PATH, "Lax", STATE_TTL_S);
    sodium_memzero(cookie, strlen(cookie));
    free(cookie);
    tn_log(TN_LOG_INFO, "sso: sent to the organization's provider", "id", req->request_id, "org",
           c->org_id, NULL);
done:
    tn_oidc_start_deinit(&st);
    if (p)
        release(as->sso, p);
    if (c)
        sodium_memzero(c, sizeof *c);
    free(c);
    tn_form_deinit(&f);
}

/* ---------- GET /signin/sso/callback ---------- */

struct pending {
    char org_id[48];
    char state[TN_OIDC_SECRET_LEN + 1];
    char nonce[TN_OIDC_SECRET_LEN + 1];
    char verifier[TN_OIDC_SECRET_LEN + 1];
    char *req; /* the sealed authorization request */
};

static bool pending_open(struct tn_as *as, const struct tn_as_req *req, struct pending *pd)
{
    char *buf = malloc(16384);
    json_t *j =
        buf ? tn_unseal(as->secret, as->secret_len, PURPOSE, tn_as_cookie(req, COOKIE, buf, 16384))
            : NULL;
    const char *o = NULL, *s = NULL, *n = NULL, *v = NULL, *rq = NULL;
    bool ok = j &&
              json_unpack(j, "{s:s, s:s, s:s, s:s, s:s}", "o", &o, "s", &s, "n", &n, "v", &v, "r",
                          &rq) == 0 &&
              strlen(o) < sizeof pd->org_id && strlen(s) < sizeof pd->state &&
              strlen(n) < sizeof pd->nonce && strlen(v) < sizeof pd->verifier;
    if (ok) {
        snprintf(pd->org_id, sizeof pd->org_id, "%s", o);
        snprintf(pd->state, sizeof pd->state, "%s", s);
        snprintf(pd->nonce, sizeof pd->nonce, "%s", n);
        snprintf(pd->verifier, sizeof pd->verifier, "%s", v);
        pd->req = strdup(rq);
        ok = pd->req != NULL;
    }
    json_decref(j);
    if (buf)
        sodium_memzero(buf, 16384);
    free(buf);
    return ok;
}

/* The callback's query, from the parameters the relying party reads (the request gives
 * parameters, not the raw string): code, state, iss, error, error_description. */
static enum tn_err callback_query(const struct tn_as_req *req, struct tn_buf *q)
{
    static const char *const names[] = {"code", "state", "iss", "error", "error_description"};
    enum tn_err rc = TN_OK;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && rc == TN_OK; i++) {
        const char *v = req->query(req->ud, names[i]);
        if (!v)
            continue;
        if (q->len)
            rc = tn_buf_puts(q, "&");
        if (rc == TN_OK)
            rc = tn_buf_printf(q, "%s=", names[i]);
        if (rc == TN_OK)
            rc = tn_url_encode(q, v);
    }
    return rc;
}

/* The pending invitation of `email`, accepted for this sign-in: 1 (the account is in *u),
 * 0 (none: just-in-time rules apply) or -1 (refused: *outcome, *msg). An invitation into
 * another organization stays pending: this provider does not speak for that one. */
static int invited(struct tn_as *as, const struct tn_org *o, const struct tn_oidc_identity *id,
                   const char *email, int64_t now, struct tn_user *u, const char **outcome,
                   const char **msg)
{
    struct tn_invitation inv;
    enum tn_err e = tn_store_invitation_pending(as->cfg.store, email, now, &inv);
    int got = -1;
    *outcome = "error";
    *msg = "Your account could not be created. Try again.";
    if (e == TN_ERR_NOT_FOUND) {
        got = 0;
    } else if (e != TN_OK) {
        goto done;
    } else if (strcmp(inv.org_id, o->id)) {
        *outcome = "invited_elsewhere";
        *msg = "Your invitation is for another organization. Accept it with the link in the "
               "invitation email.";
    } else {
        /* that very invitation, by its hash: one replaced meanwhile is not taken instead */
        e = tn_invite_accept(as->cfg.store, inv.hash, id->name ? id->name : "", "", "sso", now, u);
        if (e == TN_OK) {
            got = 1;
            tn_log(TN_LOG_INFO, "sso: invitation accepted", "user", u->id, "org", o->id, "role",
                   u->role, NULL);
        } else if (e != TN_ERR_CONFLICT) {
            *outcome = "no_account";
            *msg = "Your invitation was used or has expired. Ask your administrator for a new "
                   "one.";
        }
    }
done:
    sodium_memzero(&inv, sizeof inv);
    return got;
}

/* A member made just in time (the connection allows sign-up), with the role of the
 * groups claim or the default role; false with *outcome and *msg otherwise. */
static bool just_in_time(struct tn_as *as, const struct tn_org *o, const struct tn_org_sso *c,
                         const struct tn_oidc_identity *id, const char *email, int64_t now,
                         struct tn_user *u, const char **outcome, const char **msg)
{
    char role[16];
    const char *groups[TN_OIDC_MAX_GROUPS];
    for (size_t i = 0; i < id->n_groups && i < TN_OIDC_MAX_GROUPS; i++)
        groups[i] = id->groups[i];
    if (!c->allow_signup) {
        *outcome = "no_account";
        *msg = "No teamnotes account exists for this address. Ask your administrator for "
               "an invitation.";
        return false;
    }
    if (tn_sso_role_for(c->role_map, groups, id->n_groups, c->default_role, role) != TN_OK) {
        *outcome = "bad_role";
        *msg = "Your organization's single sign-on is misconfigured (no valid role).";
        return false;
    }
    memset(u, 0, sizeof *u);
    uint8_t b[12];
    tn_random(b, sizeof b);
    memcpy(u->id, "usr_", 4);
    tn_b64url_encode(u->id + 4, sizeof u->id - 4, b, sizeof b);
    tn_strlcpy(u->email, email, sizeof u->email);
    tn_strlcpy(u->name, id->name && id->name[0] ? id->name : email, sizeof u->name);
    tn_strlcpy(u->org_id, o->id, sizeof u->org_id);
    tn_strlcpy(u->role, role, sizeof u->role);
    u->created_at = now;
    if (tn_store_user_insert(as->cfg.store, u) != TN_OK) {
        *outcome = "error";
        *msg = "Your account could not be created. Try again.";
        return false;
    }
    tn_log(TN_LOG_INFO, "sso: account created just in time", "user", u->id, "org", o->id, "role",
           u->role, NULL);
    return true;
}

/* The account of a verified identity, per the rules at the top; *outcome names a refusal
 * and *msg says it to the person. */
static bool account_for(struct tn_as *as, const struct tn_org *o, const struct tn_org_sso *c,
                        const struct tn_oidc_identity *id, const char *email, struct tn_user *u,
                        const char **outcome, const char **msg)
{
    struct tn_identity link;
    int64_t now = now_s();
    if (tn_store_identity_get(as->cfg.store, id->iss, id->sub, &link) == TN_OK) {
        if (tn_store_user_get(as->cfg.store, link.user_id, u) != TN_OK) {
            *outcome = "no_account";
            *msg = "No teamnotes account is linked to this sign-in.";
            return false;
        }
        /* moved to another organization since: this provider no longer speaks for it */
        if (strcmp(u->org_id, o->id)) {
            *outcome = "other_org";
            *msg = "Your teamnotes account belongs to another organization. Ask your "
                   "administrator.";
            return false;
        }
        tn_store_identity_touch(as->cfg.store, id->iss, id->sub, now);
        return true;
    }
    memset(&link, 0, sizeof link);
    tn_strlcpy(link.issuer, id->iss, sizeof link.issuer);
    tn_strlcpy(link.subject, id->sub, sizeof link.subject);
    tn_strlcpy(link.email, email, sizeof link.email);
    link.created_at = link.last_used_at = now;
    if (strlen(id->iss) >= sizeof link.issuer || strlen(id->sub) >= sizeof link.subject) {
        *outcome = "bad_identity";
        *msg = "Your organization's sign-in sent an identity teamnotes cannot keep.";
        return false;
    }
    if (tn_store_user_by_email(as->cfg.store, email, u) == TN_OK) {
        /* an account of another organization is not this provider's to sign in */
        if (strcmp(u->org_id, o->id)) {
            *outcome = "other_org";
            *msg = "That address has a teamnotes account outside your organization. Ask your "
                   "administrator.";
            return false;
        }
    } else {
        /* an invitation for the address wins: its role and organization */
        int got = invited(as, o, id, email, now, u, outcome, msg);
        if (got < 0 || (got == 0 && !just_in_time(as, o, c, id, email, now, u, outcome, msg)))
            return false;
    }
    tn_strlcpy(link.user_id, u->id, sizeof link.user_id);
    enum tn_err e = tn_store_identity_link(as->cfg.store, &link);
    if (e != TN_OK && e != TN_ERR_CONFLICT) {
        *outcome = "error";
        *msg = "Your sign-in could not be recorded. Try again.";
        return false;
    }
    return true;
}

void tn_as_handle_sso_callback(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *r)
{
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
        tn_as_message_page(as, r, 405, "Method not allowed", "Open this address with GET.");
        return;
    }
    struct pending pd;
    struct tn_org o;
    struct tn_org_sso *c = calloc(1, sizeof *c);
    struct tn_oidc_provider *p = NULL;
    struct tn_oidc_identity id;
    struct tn_buf q, detail;
    const char *outcome = "refused", *msg = NULL;
    char email[256] = "", domain[TN_SSO_DOMAIN_MAX + 1];
    struct tn_user u;
    /* the state is single use: gone whatever happens */
    tn_as_set_cookie(as, r, COOKIE, "-", COOKIE_PATH, "Lax", 0);
    memset(&pd, 0, sizeof pd);
    memset(&id, 0, sizeof id);
    memset(&o, 0, sizeof o);
    tn_buf_init(&q, 8192);
    tn_buf_init(&detail, 512);
    if (!c) {
        tn_as_message_page(as, r, 503, "Try again later", "The server is short of memory.");
        goto done;
    }
    if (!pending_open(as, req, &pd)) {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "sso", "outcome",
               "no_state", NULL);
        expired(as, r);
        goto done;
    }
    if (tn_store_org_get(as->cfg.store, pd.org_id, &o) != TN_OK ||
        tn_store_org_sso_get(as->cfg.store, pd.org_id, c) != TN_OK) {
        expired(as, r);
        goto done;
    }
    enum tn_oidc_reason why = TN_OIDC_INTERNAL;
    if (provider_get(as, c, &p, &why) != TN_OK) {
        tn_log(TN_LOG_WARN, "sso: the organization's provider is unavailable", "id",
               req->request_id, "org", o.id, "reason", tn_oidc_reason_name(why), NULL);
        tn_as_message_page(as, r, 503, "Try again later",
                           "Your organization's sign-in service cannot be reached.");
        goto done;
    }
    struct tn_oidc_pending pend = {pd.state, pd.nonce, pd.verifier};
    enum tn_err e = callback_query(req, &q);
    if (e == TN_OK)
        e = tn_oidc_finish(p, q.data ? q.data : "", q.len, &pend, &id, &why, &detail);
    if (e != TN_OK) {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "sso", "org", o.id,
               "outcome", "refused", "reason", tn_oidc_reason_name(why), "detail",
               detail.data ? detail.data : "", NULL);
        char reason[32]; /* TN_OIDC_ID_TOKEN_BAD_SIGNATURE -> id_token_bad_signature */
        const char *name = tn_oidc_reason_name(why);
        snprintf(reason, sizeof reason, "%s", name + (strncmp(name, "TN_OIDC_", 8) ? 0 : 8));
        for (char *x = reason; *x; x++)
            if (*x >= 'A' && *x <= 'Z')
                *x = (char)(*x + ('a' - 'A'));
        audit_signin(as, "", &o, reason);
        char text[300];
        snprintf(text, sizeof text, "Your organization's sign-in did not complete: %s.",
                 tn_oidc_reason_text(why));
        tn_as_message_page(as, r, 401, "Sign-in failed", text);
        goto done;
    }
    /* the address must be verified, and of a domain of THIS organization */
    if (!id.email || strlen(id.email) >= sizeof email) {
        outcome = "no_email";
        msg = "Your organization's sign-in did not give an email address.";
    } else {
        for (size_t i = 0; id.email[i]; i++)
            email[i] =
                (char)(id.email[i] >= 'A' && id.email[i] <= 'Z' ? id.email[i] + 32 : id.email[i]);
        struct tn_org_domain d;
        if (!id.email_verified) {
            outcome = "unverified_email";
            msg = "Your organization's sign-in did not confirm your email address.";
        } else if (tn_mail_addr_check(email, strlen(email)) != TN_OK ||
                   tn_sso_email_domain(email, domain) != TN_OK ||
                   tn_store_org_domain_get(as->cfg.store, domain, &d) != TN_OK ||
                   strcmp(d.org_id, o.id)) {
            outcome = "foreign_domain";
            msg = "That address is not of your organization's domains.";
        } else if (account_for(as, &o, c, &id, email, &u, &outcome, &msg)) {
            if (u.disabled) {
                outcome = "disabled";
                msg = "This account is disabled.";
            } else {
                outcome = "ok";
            }
        }
    }
    if (strcmp(outcome, "ok")) {
        tn_log(TN_LOG_INFO, "sign-in failed", "id", req->request_id, "method", "sso", "org", o.id,
               "outcome", outcome, NULL);
        audit_signin(as, email, &o, outcome);
        tn_as_message_page(as, r, 403, "Sign-in refused", msg);
        goto done;
    }
    tn_as_remember_device(as, r, &u);
    tn_as_start_session(as, r, &u);
    tn_log(TN_LOG_INFO, "signed in", "id", req->request_id, "user", u.id, "method", "sso", "org",
           o.id, NULL);
    audit_signin(as, u.id, &o, "ok");
    if (!tn_as_signin_continue(as, req, r, pd.req, &u))
        expired(as, r);
done:
    tn_oidc_identity_deinit(&id);
    if (p)
        release(as->sso, p);
    if (c)
        sodium_memzero(c, sizeof *c);
    free(c);
    free(pd.req);
    sodium_memzero(&pd, sizeof pd);
    tn_buf_deinit(&q);
    tn_buf_deinit(&detail);
}
