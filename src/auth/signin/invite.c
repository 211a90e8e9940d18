/* Invitations (auth/signin/invite.h). */
#include "auth/signin/invite.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/as/pages.h"
#include "auth/as/users.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/mail.h"

void tn_invite_token_new(char out[TN_INVITE_TOKEN_LEN + 1], uint8_t hash[32])
{
    uint8_t b[32];
    tn_random(b, sizeof b);
    tn_b64url_encode(out, TN_INVITE_TOKEN_LEN + 1, b, sizeof b);
    crypto_hash_sha256(hash, (const uint8_t *)out, TN_INVITE_TOKEN_LEN);
    sodium_memzero(b, sizeof b);
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool tn_invite_token_hash(const char *token, uint8_t hash[32])
{
    memset(hash, 0, 32);
    if (!token || strnlen(token, TN_INVITE_TOKEN_LEN + 1) != TN_INVITE_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < TN_INVITE_TOKEN_LEN; i++)
        if (!b64url_char(token[i]))
            return false;
    crypto_hash_sha256(hash, (const uint8_t *)token, TN_INVITE_TOKEN_LEN);
    return true;
}

bool tn_invite_usable(const struct tn_invitation *inv, int64_t now)
{
    return inv->used_at == 0 && inv->expires_at > now;
}

/* One audit record: `actor` did `what` (invite_created, invite_accepted, invite_revoked);
 * `detail` is the invitee's email or the method of acceptance. Never a token. */
static void audit(struct tn_store *s, const char *actor, const char *org, const char *what,
                  const char *detail)
{
    struct tn_audit a;
    memset(&a, 0, sizeof a);
    a.at = tn_time_now_ms();
    tn_strlcpy(a.user, actor && actor[0] ? actor : "cli", sizeof a.user);
    tn_strlcpy(a.org, org ? org : "", sizeof a.org);
    tn_strlcpy(a.client_id, detail, sizeof a.client_id);
    tn_strlcpy(a.tool, what, sizeof a.tool);
    tn_strlcpy(a.outcome, "ok", sizeof a.outcome);
    if (tn_store_audit_insert(s, &a) != TN_OK)
        tn_log(TN_LOG_WARN, "invitation audit record not written", "what", what, NULL);
}

static void say(struct tn_buf *err, const char *fmt, const char *a, const char *b)
{
    if (err) {
        tn_buf_reset(err);
        tn_buf_printf(err, fmt, a ? a : "", b ? b : "");
    }
}

static void expiry_text(int64_t at, char out[64])
{
    time_t t = (time_t)at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 64, "%Y-%m-%d %H:%M UTC", &tm);
}

enum tn_err tn_invite_message(const char *inviter, const char *role, const char *org,
                              const char *link, int64_t expires_at, struct tn_buf *text,
                              struct tn_buf *html)
{
    char until[64];
    expiry_text(expires_at, until);
    const char *who = inviter && inviter[0] ? inviter : "An administrator";
    bool has_org = org && org[0];
    enum tn_err rc = tn_buf_printf(text,
                                   "%s invited you to teamnotes as %s%s%s%s.\n\n"
                                   "Accept the invitation here:\n\n%s\n\n"
                                   "The link works once, until %s.\n\n"
                                   "If you did not expect this invitation, ignore this "
                                   "message: nothing happens without the link.\n",
                                   who, role, has_org ? " in the organization " : "",
                                   has_org ? org : "", "", link, until);
    /* the HTML part: every value escaped (a name is whatever its owner typed) */
    if (rc == TN_OK)
        rc = tn_buf_puts(html, "<!doctype html>\n<html><body style=\"font-family:system-ui,"
                               "sans-serif;color:#1b1f24\">\n<p><strong>");
    if (rc == TN_OK)
        rc = tn_html_escape(html, who);
    if (rc == TN_OK)
        rc = tn_buf_puts(html, "</strong> invited you to teamnotes as <strong>");
    if (rc == TN_OK)
        rc = tn_html_escape(html, role);
    if (rc == TN_OK)
        rc = tn_buf_puts(html, "</strong>");
    if (rc == TN_OK && has_org) {
        rc = tn_buf_puts(html, " in the organization <strong>");
        if (rc == TN_OK)
            rc = tn_html_escape(html, org);
        if (rc == TN_OK)
            rc = tn_buf_puts(html, "</strong>");
    }
    if (rc == TN_OK)
        rc = tn_buf_puts(html, ".</p>\n<p><a href=\"");
    if (rc == TN_OK)
        rc = tn_html_escape(html, link);
    if (rc == TN_OK)
        rc = tn_buf_puts(html, "\" style=\"display:inline-block;padding:10px 18px;border-radius:"
                               "8px;background:#0f766e;color:#fff;text-decoration:none;"
                               "font-weight:600\">Accept the invitation</a></p>\n"
                               "<p>The link works once, until ");
    if (rc == TN_OK)
        rc = tn_html_escape(html, until);
    if (rc == TN_OK)
        rc = tn_buf_puts(html, ".</p>\n<p style=\"color:#5a6270;font-size:14px\">If you did "
                               "not expect this invitation, ignore this message: nothing "
                               "happens without the link.</p>\n</body></html>\n");
    return rc;
}

/* The organization named or with id `org`. */
static enum tn_err find_org(struct tn_store *s, const char *org, struct tn_org *o)
{
    enum tn_err e = tn_store_org_by_name(s, org, o);
    if (e == TN_ERR_NOT_FOUND)
        e = tn_store_org_get(s, org, o);
    return e;
}

static enum tn_err send_invitation(struct tn_mailer *m, const char *to, const char *inviter,
                                   struct tn_invite_result *out, struct tn_buf *err)
{
    struct tn_buf text, html, where, why;
    tn_buf_init(&text, 16384);
    tn_buf_init(&html, 16384);
    tn_buf_init(&where, sizeof out->where);
    tn_buf_init(&why, 1024);
    enum tn_err rc = tn_invite_message(inviter, out->inv.role, out->org_name, out->link,
                                       out->inv.expires_at, &text, &html);
    if (rc == TN_OK)
        rc = tn_mailer_send(m, tn_mail_span(to), tn_mail_span(TN_INVITE_SUBJECT),
                            (struct tn_span){text.data, text.len},
                            (struct tn_span){html.data, html.len}, &where, &why);
    if (rc == TN_OK) {
        tn_strlcpy(out->where, where.data ? where.data : "", sizeof out->where);
        out->outbox = tn_mailer_kind(m) == TN_MAIL_OUTBOX;
    } else {
        say(err, "the invitation mail was not delivered: %s%s",
            why.data && why.len ? why.data : tn_err_message(rc), "");
    }
    sodium_memzero(text.data, text.cap);
    sodium_memzero(html.data, html.cap);
    tn_buf_deinit(&text);
    tn_buf_deinit(&html);
    tn_buf_deinit(&where);
    tn_buf_deinit(&why);
    return rc;
}

enum tn_err tn_invite_create(struct tn_store *s, struct tn_mailer *m, const char *base_url,
                             const struct tn_invite_request *in, int64_t now,
                             struct tn_invite_result *out, struct tn_buf *err)
{
    char token[TN_INVITE_TOKEN_LEN + 1] = "", inviter[512] = "";
    enum tn_err rc = TN_ERR_BAD_INPUT;
    struct tn_user u;
    memset(out, 0, sizeof *out);
    struct tn_invitation *v = &out->inv;
    if (!s || !in || !base_url) {
        rc = TN_ERR_INTERNAL;
        goto done;
    }
    const char *email = in->email ? in->email : "";
    size_t el = strnlen(email, 300);
    if (el == 0 || el > TN_MAIL_ADDR_MAX || tn_mail_addr_check(email, el) != TN_OK) {
        say(err, "'%s' is not a plain email address such as alice@example.com%s", email, "");
        goto done;
    }
    for (size_t i = 0; i <= el; i++)
        v->email[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
    if (!in->role || !tn_role_permissions(in->role)) {
        say(err, "unknown role '%s' (one of viewer, editor, admin)%s", in->role, "");
        goto done;
    }
    tn_strlcpy(v->role, in->role, sizeof v->role);
    if (in->org && in->org[0]) {
        struct tn_org o;
        if ((rc = find_org(s, in->org, &o)) != TN_OK) {
            if (rc == TN_ERR_NOT_FOUND)
                say(err, "no organization '%s' (see `teamnotes org list`)%s", in->org, "");
            else
                say(err, "cannot read the organizations: %s%s", tn_err_message(rc), "");
            goto done;
        }
        tn_strlcpy(v->org_id, o.id, sizeof v->org_id);
        tn_strlcpy(out->org_name, o.name, sizeof out->org_name);
    }
    if (in->by && in->by[0]) {
        if (tn_store_user_by_email(s, in->by, &u) != TN_OK || u.disabled) {
            rc = TN_ERR_NOT_FOUND;
            say(err, "no active account for the inviter %s%s", in->by, "");
            goto done;
        }
        tn_strlcpy(v->invited_by, u.id, sizeof v->invited_by);
        if (strcmp(u.name, u.email))
            snprintf(inviter, sizeof inviter, "%s (%s)", u.name, u.email);
        else
            snprintf(inviter, sizeof inviter, "%s", u.email);
    }
    rc = tn_store_user_by_email(s, v->email, &u);
    if (rc == TN_OK) {
        rc = TN_ERR_CONFLICT;
        say(err,
            u.disabled ? "%s already has an account, which is disabled (`teamnotes user enable "
                         "%s` turns it back on)"
                       : "%s already has an account: they can sign in with it%s",
            v->email, u.disabled ? v->email : "");
        goto done;
    }
    if (rc != TN_ERR_NOT_FOUND) {
        say(err, "cannot read the accounts: %s%s", tn_err_message(rc), "");
        goto done;
    }
    if (!m || tn_mailer_kind(m) == TN_MAIL_NONE) {
        rc = TN_ERR_CONFIG;
        say(err, "no mail delivery: set SMTP_URL, or DATA_DIR for the outbox%s%s", "", "");
        goto done;
    }
    tn_invite_token_new(token, v->hash);
    v->created_at = now;
    v->expires_at = now + (in->ttl_s > 0 ? in->ttl_s : TN_INVITE_TTL_S);
    snprintf(out->link, sizeof out->link, "%s/invite?t=%s", base_url, token);
    /* inviting again replaces what is pending for the address */
    int64_t replaced = 0;
    if ((rc = tn_store_invitation_revoke(s, v->email, &replaced)) != TN_OK ||
        (rc = tn_store_invitation_insert(s, v)) != TN_OK) {
        say(err, "cannot store the invitation: %s%s", tn_err_message(rc), "");
        goto done;
    }
    if ((rc = send_invitation(m, v->email, inviter, out, err)) != TN_OK) {
        tn_store_invitation_revoke(s, v->email, NULL); /* nothing stays that nobody got */
        goto done;
    }
    char detail[300];
    snprintf(detail, sizeof detail, "invitee:%s", v->email);
    audit(s, v->invited_by[0] ? v->invited_by : in->via, v->org_id, "invite_created", detail);
    tn_log(TN_LOG_INFO, "invitation created", "email", v->email, "role", v->role, "by",
           v->invited_by[0] ? v->invited_by : (in->via ? in->via : "cli"), NULL);
done:
    sodium_memzero(token, sizeof token);
    if (rc != TN_OK) {
        sodium_memzero(out->link, sizeof out->link);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

enum tn_err tn_invite_revoke(struct tn_store *s, const char *email, const char *via, int64_t *n)
{
    int64_t scratch;
    if (!n)
        n = &scratch;
    enum tn_err rc = tn_store_invitation_revoke(s, email, n);
    if (rc == TN_OK && *n > 0) {
        char detail[300];
        snprintf(detail, sizeof detail, "invitee:%s", email);
        for (char *p = detail; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        audit(s, via, "", "invite_revoked", detail);
    }
    return rc;
}

static void new_user(struct tn_user *u, const char *name, const char *password_hash, int64_t now)
{
    uint8_t b[12];
    memset(u, 0, sizeof *u);
    tn_random(b, sizeof b);
    size_t n = (size_t)snprintf(u->id, sizeof u->id, "usr_");
    tn_b64url_encode(u->id + n, sizeof u->id - n, b, sizeof b);
    tn_strlcpy(u->name, name ? name : "", sizeof u->name);
    tn_strlcpy(u->password_hash, password_hash ? password_hash : "", sizeof u->password_hash);
    u->created_at = now;
}

enum tn_err tn_invite_accept(struct tn_store *s, const uint8_t hash[32], const char *name,
                             const char *password_hash, const char *method, int64_t now,
                             struct tn_user *created)
{
    struct tn_invitation inv;
    new_user(created, name, password_hash, now);
    /* without a name the account is called by its address until its owner says otherwise */
    if (!created->name[0] && tn_store_invitation_get(s, hash, &inv) == TN_OK)
        tn_strlcpy(created->name, inv.email, sizeof created->name);
    enum tn_err rc = tn_store_invitation_take(s, hash, now, created, &inv);
    if (rc == TN_OK) {
        char detail[64];
        snprintf(detail, sizeof detail, "method:%s", method ? method : "signin");
        audit(s, created->id, created->org_id, "invite_accepted", detail);
        tn_log(TN_LOG_INFO, "invitation accepted", "user", created->id, "method",
               method ? method : "signin", NULL);
    } else {
        memset(created, 0, sizeof *created);
    }
    return rc;
}

enum tn_err tn_invite_claim_for_email_via(struct tn_store *s, const char *email, int64_t now,
                                          const char *method, struct tn_user *created)
{
    struct tn_invitation inv;
    memset(created, 0, sizeof *created);
    enum tn_err rc = tn_store_invitation_pending(s, email, now, &inv);
    if (rc != TN_OK)
        return rc;
    return tn_invite_accept(s, inv.hash, "", "", method, now, created);
}

enum tn_err tn_invite_claim_for_email(struct tn_store *s, const char *email, int64_t now,
                                      struct tn_user *created)
{
    return tn_invite_claim_for_email_via(s, email, now, "signin", created);
}
