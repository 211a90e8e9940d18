/* The HTML of /account (#19): who I am, the apps holding access to my notes, my
 * password, signing out. Templates only: the handler (account.c) gathers the values and
 * these functions render them, escaping every one with tn_html_escape (callers pass raw
 * values: names, client names, hosts, email addresses, dates).
 *
 * The pages carry no JavaScript and load nothing; their one inline <style> block is
 * pinned by hash in tn_account_pages_csp(), which they must be served with. Every form
 * posts to /account/... with the hidden field csrf.
 *
 * Each function appends to `out`; on failure (TN_ERR_LIMIT when the page does not fit
 * the buffer's cap, TN_ERR_NOMEM, TN_ERR_INTERNAL when a required field is NULL) `out` is
 * left exactly as it was. */
#ifndef TN_AUTH_AS_ACCOUNT_PAGES_H
#define TN_AUTH_AS_ACCOUNT_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* One app holding a grant. */
struct tn_page_account_app {
    const char *client_id;  /* required; posted back as client_id to revoke */
    const char *name;       /* may be NULL or "": the client id is shown instead */
    const char *where;      /* required: the web host it returns to, e.g. "claude.ai" */
    bool loopback;          /* it runs on the person's own computer (where is not shown) */
    const char *scope;      /* space-separated; may be NULL or "" */
    const char *first_used; /* required, e.g. "2026-12-06" */
    const char *last_used;  /* required */
};

/* An upstream identity linked to the account. */
struct tn_page_account_identity {
    const char *issuer; /* required */
    const char *email;  /* may be NULL or "" */
};

struct tn_page_account {
    const char *csrf;        /* required */
    const char *name;        /* required */
    const char *email;       /* required */
    const char *org;         /* may be NULL or "": "No organization" */
    const char *role;        /* required */
    const char *role_allows; /* required: what the role allows, in words */
    bool password_method;    /* passwords are a sign-in method of this server */
    bool password_set;
    const struct tn_page_account_identity *identities;
    size_t n_identities;
    const struct tn_page_account_app *apps;
    size_t n_apps;
    const char *notice;         /* a success line at the top; may be NULL */
    const char *error;          /* an error at the top; may be NULL */
    const char *password_error; /* an error at the password form; may be NULL */
};

/* The account page. Forms: POST /account/revoke (csrf, client_id), POST
 * /account/signout-everywhere (csrf), POST /account/password (csrf, current when a
 * password is set, password, password2), POST /account/signout (csrf). */
enum tn_err tn_page_account(struct tn_buf *out, const struct tn_page_account *p);

/* A title and a paragraph, with a link back to the sign-in page (after signing out). */
enum tn_err tn_page_account_message(struct tn_buf *out, const char *title, const char *message,
                                    bool is_error);

/* The Content-Security-Policy of these pages (static, computed once, thread-safe):
 * default-src 'none'; style-src with the hash of the inline style; form-action 'self';
 * frame-ancestors 'none'; base-uri 'none'. */
const char *tn_account_pages_csp(void);

#endif
