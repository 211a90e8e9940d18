/* The admin console's pages (#19): templates only, kept apart from the request handling
 * in admin.c. Same rules as pages.h: no JavaScript, one style block pinned by the CSP,
 * every value escaped (tn_html_escape), forms POST with the CSRF token. Each page starts
 * with the console's tabs (Members, Apps, Audit, Signing keys; the organizations and
 * invitations of #18 slot in as further tabs, ADMIN_SECTIONS in admin_pages.c).
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

/* What every console page has. */
struct tn_admin_page {
    const char *section; /* "members", "apps", "audit", "keys": the current tab */
    const char *csrf;    /* the form token; required */
    const char *me;      /* the signed-in administrator's email */
    const char *notice;  /* a line above the content (NULL: none) */
    bool notice_error;
    int64_t now; /* seconds: "in 5 min" and the keys' states */
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

/* Appends `v` percent-encoded for a query string (unreserved characters kept). */
enum tn_err tn_admin_url_encode(struct tn_buf *out, const char *v);

#endif
