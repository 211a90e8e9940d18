/* What an administrator can do (#19), as functions that both the /admin pages
 * (auth/as/admin.c) and the command line (cli/admin.c, cli/keys.c) call: members,
 * apps, the audit log and its CSV export, signing keys. Every change is written to the
 * audit log with the acting administrator (tool "admin.*", detail = what it acted on;
 * never note text), refused or not.
 *
 * Policy that holds whoever calls: the last enabled administrator cannot be demoted or
 * disabled (there would be no one left to undo it). */
#ifndef TN_AUTH_AS_ADMIN_OPS_H
#define TN_AUTH_AS_ADMIN_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/as/keys.h"
#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

/* Who acts: their audit user key (the principal's issuer|subject, or "cli|LOGIN" on the
 * command line), organization, and through what ("admin-page", "cli"): the audit
 * record's client column. */
struct tn_admin_actor {
    const char *user;
    const char *org;
    const char *via;
};

/* ---------- members ---------- */

#define TN_ADMIN_PAGE_SIZE 25
/* Page `page` (from 0) of `per_page` members whose email or name contains `text`. */
enum tn_err tn_admin_members(struct tn_store *s, const char *text, unsigned page, unsigned per_page,
                             tn_store_user_cb cb, void *ud, int64_t *total);
/* The member named by `who`: an email (has '@') or a user id. TN_ERR_NOT_FOUND. */
enum tn_err tn_admin_member(struct tn_store *s, const char *who, struct tn_user *out);
/* Gives `who` the role `role`. TN_ERR_BAD_INPUT for an unknown role, TN_ERR_NOT_FOUND,
 * TN_ERR_CONFLICT when it would demote the last enabled administrator. A role that
 * lacks a permission a live token names narrows that token within seconds (the
 * accounts cache); *out (may be NULL) is the member after the change. */
enum tn_err tn_admin_set_role(struct tn_store *s, const struct tn_admin_actor *a, const char *who,
                              const char *role, struct tn_user *out);
/* Disables (every token issued so far revoked: refresh families at once, access tokens
 * at the resource server's next account check, within seconds) or enables `who`.
 * TN_ERR_CONFLICT when it would disable the last enabled administrator. */
enum tn_err tn_admin_set_disabled(struct tn_store *s, const struct tn_admin_actor *a,
                                  const char *who, bool disabled, struct tn_user *out);

/* ---------- apps (OAuth clients) ---------- */

struct tn_admin_app {
    struct tn_client client;
    bool cimd;      /* a Client ID Metadata Document (its id is its URL), else registered */
    int64_t people; /* holding a consent or a current refresh token */
};
typedef void (*tn_admin_app_cb)(const struct tn_admin_app *app, void *ud);
enum tn_err tn_admin_apps(struct tn_store *s, int64_t now, tn_admin_app_cb cb, void *ud);
/* Deletes client `client_id` with its consents, codes and refresh tokens; its access
 * tokens are refused from the resource server's next check of the client (within
 * seconds). TN_ERR_NOT_FOUND. */
enum tn_err tn_admin_app_revoke(struct tn_store *s, const struct tn_admin_actor *a,
                                const char *client_id);

/* ---------- audit ---------- */

struct tn_admin_audit_query {
    const char *person;  /* an email, a user id or a user key; NULL or "": anyone */
    const char *tool;    /* NULL or "": any */
    const char *outcome; /* NULL or "": any */
    int64_t since_ms, until_ms;
    unsigned limit;
};
/* The records matching q, newest first. A person given by email that has no account
 * matches nothing (TN_OK, no records). */
enum tn_err tn_admin_audit(struct tn_store *s, const struct tn_admin_audit_query *q,
                           tn_store_audit_cb cb, void *ud);
/* Parses "2026-12-06", "2026-12-06T17:30", "2026-12-06T17:30:05" (UTC, optional "Z") or
 * milliseconds since the epoch into *ms. TN_ERR_BAD_INPUT otherwise. */
enum tn_err tn_admin_parse_time(const char *s, int64_t *ms);

/* CSV (RFC 4180) of audit records: the header line, then one line per record, CRLF
 * ended. A cell is quoted when it holds a comma, quote, CR or LF (quotes doubled), and
 * prefixed with ' when it starts with = + - @ TAB or CR, so a spreadsheet never runs it
 * as a formula (OWASP "CSV injection"). */
enum tn_err tn_admin_csv_header(struct tn_buf *out);
enum tn_err tn_admin_csv_row(struct tn_buf *out, const struct tn_audit *a);
/* One cell, escaped as above (for tests and other exports). */
enum tn_err tn_admin_csv_cell(struct tn_buf *out, const char *v);

/* ---------- organizations ---------- */

/* Creates the organization `name` (1..127 bytes, no control characters, no space at
 * either end; *out, may be NULL, is the new one). TN_ERR_BAD_INPUT, TN_ERR_CONFLICT when
 * the name is taken. Its domains and SSO connection are auth/signin/sso.h's. */
enum tn_err tn_admin_org_create(struct tn_store *s, const struct tn_admin_actor *a,
                                const char *name, struct tn_org *out);

/* ---------- signing keys ---------- */

struct tn_admin_key {
    struct tn_signing_key key; /* pem is "" */
    enum tn_as_key_state state;
    int64_t published_until; /* removed from the JWKS after this */
};
typedef void (*tn_admin_key_cb)(const struct tn_admin_key *k, void *ud);
/* The stored keys in creation order, with their state at `now`; reads the store only (no
 * secret needed). `token_ttl_s` is the longest access-token lifetime. */
enum tn_err tn_admin_keys(struct tn_store *s, int64_t now, int64_t token_ttl_s, tn_admin_key_cb cb,
                          void *ud);
/* tn_as_keys_rotate, audited. */
enum tn_err tn_admin_keys_rotate(struct tn_as_keys *k, struct tn_store *s,
                                 const struct tn_admin_actor *a, int64_t now,
                                 struct tn_as_rotation *out);

#endif
