/* The HTML pages of the built-in authorization server: sign-in, consent, first-admin
 * setup and a plain message page.
 *
 * Pages are rendered on the server into a capped tn_buf. They carry no JavaScript and
 * load nothing: all styling is one inline <style> block whose SHA-256 is part of the
 * Content-Security-Policy returned by tn_pages_csp(), so the pages must be served with
 * that header (or tn_pages_csp_authorize() for sign-in and consent, see there).
 *
 * Every string given to a page is HTML-escaped with tn_html_escape(); callers pass raw
 * values (client names, hosts, e-mail addresses, error texts) and never pre-escape.
 *
 * All page functions append to `out`. On failure they return the error (TN_ERR_LIMIT when
 * the page does not fit the buffer's cap, TN_ERR_NOMEM, TN_ERR_INTERNAL when a required
 * field is NULL) and leave `out` exactly as it was on entry. */
#ifndef TN_AUTH_AS_PAGES_H
#define TN_AUTH_AS_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Appends s with & < > " ' escaped as character references. Control characters
 * (C0 except tab and newline, DEL, C1) and the Unicode bidirectional formatting
 * characters (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) are replaced
 * by U+FFFD, so a client name cannot reorder or hide the text around it. Tab and
 * newline become &#9; and &#10;. Other bytes, including UTF-8, are copied as they
 * are. NULL appends nothing. On failure `out` is unchanged. */
enum tn_err tn_html_escape(struct tn_buf *out, const char *s);

/* A page writer for pages kept in other files (admin_pages.c): begin writes the head
 * with the one style block (its hash is in the CSP) and opens <main> (class "wide" when
 * asked); put appends trusted markup, esc an escaped value; after the first failure
 * every call is a no-op, and finish closes the page, or on failure truncates `out` back
 * to where begin found it and returns the error. */
struct tn_page_writer {
    struct tn_buf *b;
    size_t start;
    enum tn_err err;
};
void tn_page_begin(struct tn_page_writer *w, struct tn_buf *b, const char *title, bool wide);
void tn_page_put(struct tn_page_writer *w, const char *s);
void tn_page_esc(struct tn_page_writer *w, const char *s);
enum tn_err tn_page_finish(struct tn_page_writer *w);

struct tn_page_scope {
    const char *name;        /* e.g. "notes:read"; required */
    const char *description; /* e.g. "Read your notes"; may be NULL */
};

struct tn_page_provider {
    const char *id;   /* [a-z0-9-]{1,32} */
    const char *name; /* the button says "Continue with <name>" */
};

struct tn_page_signin {
    const char *action;       /* form POST target, e.g. "/authorize/login"; required */
    const char *request_id;   /* hidden field "req"; required */
    const char *csrf;         /* hidden field "csrf"; required */
    const char *client_name;  /* "to continue to <client_name>"; may be NULL */
    const char *client_host;  /* the redirect host, shown; may be NULL */
    const char *email;        /* prefill; may be NULL */
    const char *error;        /* e.g. "Wrong email or password."; may be NULL */
    bool hide_password;       /* SIGNIN_METHODS without password: no password form */
    const char *email_action; /* "Email me a sign-in code" form's target; NULL: none */
    /* Server-wide upstream providers (#18): one "Continue with NAME" form each, posting
     * req, csrf and provider=ID to oidc_action (required when n_providers > 0). */
    const struct tn_page_provider *providers;
    size_t n_providers;
    const char *oidc_action;
    /* "Continue with SSO" (#18): a work-email form posting req, csrf and email here;
     * NULL: none. */
    const char *sso_action;
    const char *sso_email; /* its prefill (the address typed, e.g. when SSO is required) */
};

/* "Check your email": the code form (fields req, csrf, code). */
struct tn_page_email_sent {
    const char *action;     /* required */
    const char *request_id; /* hidden field "req"; required */
    const char *csrf;       /* required */
    const char *email;      /* the address typed; may be NULL */
    unsigned minutes;       /* how long the code works */
    const char *error;      /* e.g. "That code is not right. 3 attempts left."; may be NULL */
};

/* A magic link opened in the browser that asked: one POST button (fields id, t, csrf). */
struct tn_page_email_link {
    const char *action; /* required */
    const char *id;     /* required */
    const char *token;  /* required */
    const char *csrf;   /* required */
    const char *email;  /* required: "Sign in as <email>" */
};

struct tn_page_consent {
    const char *action;        /* required */
    const char *request_id;    /* hidden field "req"; required */
    const char *csrf;          /* hidden field "csrf"; required */
    const char *client_name;   /* may be NULL: the client id is shown instead */
    const char *client_id;     /* required; a URL for metadata-document clients */
    const char *redirect_host; /* required: "will send you back to <host>" */
    bool host_verified;        /* a known client host: shows a "Verified" mark */
    bool loopback_only;        /* every redirect URI is on this machine: say so */
    const struct tn_page_scope *scopes;
    size_t n_scopes;
    const char *user_email; /* "Signed in as …"; may be NULL */
};

struct tn_page_setup {
    const char *action; /* required */
    const char *token;  /* hidden field "token" (the one-time setup token); required */
    const char *csrf;   /* hidden field "csrf"; required */
    const char *error;  /* may be NULL */
};

/* Sign-in form: fields req, csrf, email, password. */
enum tn_err tn_page_signin(struct tn_buf *out, const struct tn_page_signin *p);
enum tn_err tn_page_email_sent(struct tn_buf *out, const struct tn_page_email_sent *p);
enum tn_err tn_page_email_link(struct tn_buf *out, const struct tn_page_email_link *p);
/* Consent form: fields req, csrf and a button named "decision" valued "allow" or "deny". */
enum tn_err tn_page_consent(struct tn_buf *out, const struct tn_page_consent *p);
/* First admin account: fields token, csrf, email, name, password, password2. */
enum tn_err tn_page_setup(struct tn_buf *out, const struct tn_page_setup *p);
/* A title and one paragraph, e.g. "Access denied"; both required. */
enum tn_err tn_page_message(struct tn_buf *out, const char *title, const char *message,
                            bool is_error);

/* The Content-Security-Policy for these pages (a static string, computed once, safe to
 * call from any thread): default-src 'none'; style-src with the hash of the inline
 * style; form-action 'self'; frame-ancestors 'none'; base-uri 'none'. */
const char *tn_pages_csp(void);
/* The same policy without form-action, for the sign-in and consent pages: their form
 * POST may be answered with a redirect to the client (consent, or sign-in when consent
 * is remembered). Chrome and Safari check form-action against every redirect that
 * follows a form submission (w3c/webappsec-csp#8), so under form-action 'self' that
 * 302 to the redirect_uri (and onward, e.g. claude.ai to a claude: URL) is blocked and
 * the flow stalls. The forms still post only to `action`; base-uri 'none', no script
 * and the escaping of every value keep an injected form or <base> out. */
const char *tn_pages_csp_authorize(void);

/* An invitation (#18): "You are invited to teamnotes as ROLE (ORG)" with the enabled ways
 * to accept. The password form posts t, csrf, req, name, password, password2 to
 * password_action; the email-code form posts t, csrf, req to email_action. */
struct tn_page_invite {
    const char *token;           /* hidden field "t"; required */
    const char *csrf;            /* required */
    const char *request_id;      /* hidden field "req"; may be NULL (none) */
    const char *email;           /* the invited address; required */
    const char *role;            /* required */
    const char *org;             /* the organization's name; may be NULL */
    const char *inviter;         /* "Invited by ..."; may be NULL */
    const char *password_action; /* NULL: no password form */
    const char *email_action;    /* NULL: no email-code form */
    const char *name;            /* prefill; may be NULL */
    const char *error;           /* may be NULL */
};
enum tn_err tn_page_invite(struct tn_buf *out, const struct tn_page_invite *p);
/* "You're in": signed in as `email`; connect an MCP client to `mcp_url`. Both required. */
enum tn_err tn_page_invite_done(struct tn_buf *out, const char *email, const char *mcp_url);

#endif
