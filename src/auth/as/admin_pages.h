/* The admin console's pages (#19): templates only, kept apart from the request handling
 * in admin.c. Same rules as pages.h: no JavaScript, one style block pinned by the CSP,
 * every value escaped (tn_html_escape), forms POST with the CSRF token. Each page starts
 * with the console's tabs (Members with its invitations, Organizations, Apps, Audit,
 * Signing keys: ADMIN_SECTIONS in admin_pages.c).
 *
 * All functions append to `out` and, on failure, leave it as it was and return the
 * error (TN_ERR_INTERNAL for a missing required field). */
#ifndef TN_AUTH_AS_ADMIN_PAGES_H
#define TN_AUTH_AS_ADMIN_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/as/admin_ops.h"
#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

struct tn_admin_invites;

/* What every console page has. */
struct tn_admin_page {
    const char *section; /* "members", "apps", "audit", "keys": the current tab */
    const char *csrf;    /* the form token; required */
    const char *me;      /* the signed-in administrator's email */
    const char *notice;  /* a line above the content (NULL: none) */
    bool notice_error;
    int64_t now; /* seconds: "in 5 min" and the keys' states */
    /* members: the invite form and the pending invitations (NULL: not shown) */
    const struct tn_admin_invites *invites;
};

/* The invitations part of the Members page. */
struct tn_admin_invites {
    const struct tn_invitation *v; /* pending */
    const char *const *v_org;      /* organization name of each (n entries; "" none) */
    size_t n;
    const struct tn_org *orgs; /* for the form's organization choice */
    size_t norgs;
    /* the invitation just made, when its mail went to the outbox: its link (a secret
     * for the invitee, shown once) and email; NULL otherwise */
    const char *link, *link_email;
};

enum tn_err tn_admin_page_members(struct tn_buf *out, const struct tn_admin_page *p,
                                  const char *query, const struct tn_user *users, size_t n,
                                  int64_t total, unsigned page, unsigned per_page);

enum tn_err tn_admin_page_apps(struct tn_buf *out, const struct tn_admin_page *p,
                               const struct tn_admin_app *apps, size_t n,
                               const char *focus /* a client whose people are listed, or NULL */,
                               const struct tn_client_grant *grants, size_t ng);

/* The filters as given (shown back in the form and in the CSV link). */
struct tn_admin_audit_form {
    const char *person, *tool, *outcome, *since, *until;
};
enum tn_err tn_admin_page_audit(struct tn_buf *out, const struct tn_admin_page *p,
                                const struct tn_admin_audit_form *f, const struct tn_audit *rows,
                                size_t n, unsigned limit);

enum tn_err tn_admin_page_keys(struct tn_buf *out, const struct tn_admin_page *p,
                               const struct tn_admin_key *keys, size_t n);

/* Organizations: the list with the number of domains and whether SSO is set. */
struct tn_admin_org_row {
    struct tn_org org;
    size_t domains;
    bool sso;
};
enum tn_err tn_admin_page_orgs(struct tn_buf *out, const struct tn_admin_page *p,
                               const struct tn_admin_org_row *rows, size_t n);

/* One organization: its domains and its SSO connection. The connection's client secret
 * is never read: the form's secret field is always empty (write-only). */
struct tn_admin_org_view {
    const struct tn_org *org;
    const struct tn_org_domain *domains;
    size_t nd;
    const struct tn_org_sso *sso; /* NULL: no connection */
    const char *role_map;         /* the connection's role map as "group=role,..." */
    const char *test_result;      /* "Test connection" just ran: what it said; NULL */
    bool test_ok;
};
enum tn_err tn_admin_page_org(struct tn_buf *out, const struct tn_admin_page *p,
                              const struct tn_admin_org_view *v);

/* Appends `v` percent-encoded for a query string (unreserved characters kept). */
enum tn_err tn_admin_url_encode(struct tn_buf *out, const char *v);

#endif
