#include "auth/as/pages.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* The one style block of every page. Its exact bytes are hashed into the CSP, so any
 * change here changes the policy with it; inline style="" attributes would be blocked. */
static const char STYLE[] =
    ":root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--fg:#1b1f24;--muted:#5a6270;"
    "--line:#d9dde3;--field:#fff;--accent:#0f766e;--accent-hover:#0b5f58;--on-accent:#fff;"
    "--focus:#0f766e;--soft:#eef7f5;--err-bg:#fdeeee;--err-fg:#9f1d1d;--err-line:#f3c4c4;"
    "--warn-bg:#fff7e6;--warn-fg:#7a4a00;--warn-line:#f1d59a;--ok:#15803d}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#0f1215;--card:#181c21;--fg:#e6e8eb;"
    "--muted:#9aa3ae;--line:#2c323a;--field:#11151a;--accent:#4fbfae;--accent-hover:#6fd3c3;"
    "--on-accent:#062622;--focus:#7fdccd;--soft:#12302c;--err-bg:#3a1717;--err-fg:#fecaca;"
    "--err-line:#6b2626;--warn-bg:#33260d;--warn-fg:#fde3a7;--warn-line:#6b5119;--ok:#4ade80}}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\n"
    "body{margin:0;min-height:100vh;display:flex;justify-content:center;align-items:flex-start;"
    "padding:max(24px,6vh) 16px 32px;background:var(--bg);color:var(--fg);"
    "font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}\n"
    "main{width:100%;max-width:420px;background:var(--card);border:1px solid var(--line);"
    "border-radius:14px;padding:28px 24px;box-shadow:0 1px 2px rgba(0,0,0,.05),0 10px 30px rgba(0,0,0,.06)}\n"
    ".brand{margin:0 0 20px;font-size:14px;font-weight:600;letter-spacing:.02em;color:var(--accent)}\n"
    "h1{margin:0 0 8px;font-size:24px;line-height:1.25;font-weight:650;overflow-wrap:anywhere}\n"
    "h2{margin:22px 0 8px;font-size:15px;font-weight:600}\n"
    "p{margin:0 0 14px}\n"
    "main>:last-child{margin-bottom:0}\n"
    ".lead{color:var(--muted);margin-bottom:20px;overflow-wrap:anywhere}\n"
    ".lead strong,.who strong{color:var(--fg)}\n"
    "code{font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}\n"
    ".muted,.who{color:var(--muted);font-size:14px}\n"
    ".host{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;margin:0 0 16px;padding:12px 14px;"
    "border-radius:10px;background:var(--soft)}\n"
    ".host code{font-size:16px;font-weight:600;color:var(--fg)}\n"
    ".host .label{flex-basis:100%;font-size:14px;color:var(--muted)}\n"
    ".host .label+code{font-size:18px}\n"
    ".badge{font-size:13px;font-weight:600;color:var(--ok);white-space:nowrap}\n"
    ".note{padding:12px 14px;border-radius:10px;border:1px solid;font-size:14px;margin:0 0 16px}\n"
    ".error{background:var(--err-bg);color:var(--err-fg);border-color:var(--err-line)}\n"
    ".warn{background:var(--warn-bg);color:var(--warn-fg);border-color:var(--warn-line)}\n"
    ".note strong{display:block}\n"
    "ul{list-style:none;margin:0 0 18px;padding:0;border:1px solid var(--line);border-radius:10px}\n"
    "li{padding:10px 14px;border-top:1px solid var(--line)}\n"
    "li:first-child{border-top:0}\n"
    "li span{display:block;color:var(--muted);font-size:14px}\n"
    "label{display:block;margin:0 0 6px;font-size:14px;font-weight:600}\n"
    "input{display:block;width:100%;margin:0 0 16px;padding:10px 12px;min-height:44px;font:inherit;"
    "color:var(--fg);background:var(--field);border:1px solid var(--line);border-radius:8px}\n"
    "input:focus{border-color:var(--focus)}\n"
    ":focus-visible{outline:3px solid var(--focus);outline-offset:2px}\n"
    "input:focus-visible{outline-offset:0}\n"
    ".actions{display:flex;gap:12px;margin-top:8px}\n"
    "button{flex:1;min-height:44px;padding:10px 16px;font:inherit;font-weight:600;border-radius:8px;"
    "cursor:pointer;border:1px solid var(--accent);background:var(--accent);color:var(--on-accent)}\n"
    "button:hover{background:var(--accent-hover);border-color:var(--accent-hover)}\n"
    "button.secondary{background:transparent;color:var(--fg);border-color:var(--line)}\n"
    "button.secondary:hover{background:var(--bg);border-color:var(--muted)}\n"
    "form>button{width:100%;margin-top:4px}\n"
    /* the wide pages of the admin console (#19): tabs, tables, inline forms */
    "main.wide{max-width:1100px}\n"
    "nav.tabs{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0 0 18px;border-bottom:1px solid var(--line)}\n"
    "nav.tabs a{display:inline-block;padding:8px 0;color:var(--muted);font-weight:600;text-decoration:none}\n"
    "nav.tabs a[aria-current=page]{color:var(--fg);border-bottom:3px solid var(--accent)}\n"
    "a{color:var(--accent)}\n"
    ".scroll{overflow-x:auto;margin:0 0 18px;border:1px solid var(--line);border-radius:10px}\n"
    "table{width:100%;border-collapse:collapse;font-size:14px}\n"
    "th,td{text-align:left;padding:8px 10px;border-top:1px solid var(--line);vertical-align:middle}\n"
    "thead th{border-top:0;color:var(--muted);font-weight:600;white-space:nowrap}\n"
    "td.wrap{overflow-wrap:anywhere;min-width:9em}\n"
    "td form{display:flex;gap:6px;align-items:center;margin:0}\n"
    "select{min-height:36px;padding:4px 8px;font:inherit;font-size:14px;color:var(--fg);"
    "background:var(--field);border:1px solid var(--line);border-radius:8px}\n"
    "button.small{flex:0 0 auto;width:auto;min-height:36px;padding:4px 12px;font-size:14px;margin:0}\n"
    ".filters{display:flex;flex-wrap:wrap;gap:0 12px;align-items:flex-end;margin:0 0 8px}\n"
    ".filters>div{flex:1 1 150px}\n"
    ".filters input,.filters select{width:100%;margin:0 0 12px;min-height:44px}\n"
    ".filters button{flex:0 0 auto;width:auto;margin:0 0 12px}\n"
    ".pager{display:flex;gap:16px;align-items:center;margin:0 0 16px;font-size:14px}\n"
    ".ok{color:var(--ok);font-weight:600}\n"
    ".check{display:flex;gap:10px;align-items:center;margin:0 0 12px;font-weight:400}\n"
    ".check input{width:24px;min-height:24px;height:24px;margin:0;flex:0 0 auto}\n"
    ".form{max-width:560px;margin:0 0 24px}\n"
    "h2{font-size:18px;margin:24px 0 10px}\n";

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp_full[256];
static char csp_authorize[256];

static void csp_compute(void)
{
    /* Without a hash the pages still work, only unstyled: fail closed to no style-src. */
    static const char tail[] = "frame-ancestors 'none'; base-uri 'none'";
    unsigned char h[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    if (sodium_init() < 0 ||
        crypto_hash_sha256(h, (const unsigned char *)STYLE, sizeof STYLE - 1) != 0) {
        snprintf(csp_full, sizeof csp_full, "default-src 'none'; form-action 'self'; %s", tail);
        snprintf(csp_authorize, sizeof csp_authorize, "default-src 'none'; %s", tail);
        return;
    }
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
    snprintf(csp_full, sizeof csp_full,
             "default-src 'none'; style-src 'sha256-%s'; form-action 'self'; %s", b64, tail);
    snprintf(csp_authorize, sizeof csp_authorize, "default-src 'none'; style-src 'sha256-%s'; %s",
             b64, tail);
}

const char *tn_pages_csp(void)
{
    pthread_once(&csp_once, csp_compute);
    return csp_full;
}

const char *tn_pages_csp_authorize(void)
{
    pthread_once(&csp_once, csp_compute);
    return csp_authorize;
}

/* Bytes to drop from s (0 when s does not start with one): a control character or a
 * bidirectional formatting character, in its UTF-8 form. Each test stops at the first
 * byte that differs, so none reads past the terminating NUL. */
static size_t unsafe_len(const unsigned char *s)
{
    if (s[0] < 0x20 || s[0] == 0x7f)
        return 1;
    if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) /* C1 controls */
        return 2;
    if (s[0] == 0xd8 && s[1] == 0x9c) /* U+061C ARABIC LETTER MARK */
        return 2;
    if (s[0] == 0xe2 && s[1] == 0x80 &&
        (s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xaa && s[2] <= 0xae)))
        return 3; /* U+200E, U+200F, U+202A..U+202E */
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)
        return 3; /* U+2066..U+2069 */
    return 0;
}

static const char *entity(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    case '\t':
        return "&#9;";
    case '\n':
        return "&#10;";
    default:
        return NULL;
    }
}

enum tn_err tn_html_escape(struct tn_buf *out, const char *s)
{
    enum tn_err rc = TN_OK;
    size_t start = out->len;
    if (!s)
        return TN_OK;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        const char *rep = entity(*p);
        size_t skip = rep ? 1 : unsafe_len(p);
        if (!skip) {
            p++;
            continue;
        }
        if ((rc = tn_buf_append(out, run, (size_t)(p - run))) != TN_OK ||
            (rc = tn_buf_puts(out, rep ? rep : "&#xFFFD;")) != TN_OK)
            goto done;
        p += skip;
        run = p;
    }
    rc = tn_buf_append(out, run, (size_t)(p - run));
done:
    if (rc != TN_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* A page writer with a sticky error: after the first failure every call is a no-op, so
 * page functions read top to bottom and check once at the end. */
struct writer {
    struct tn_buf *b;
    size_t start;
    enum tn_err err;
};

static void put(struct writer *w, const char *s)
{
    if (w->err == TN_OK)
        w->err = tn_buf_puts(w->b, s);
}

static void esc(struct writer *w, const char *s)
{
    if (w->err == TN_OK)
        w->err = tn_html_escape(w->b, s);
}

static void begin_as(struct writer *w, struct tn_buf *b, const char *title, bool wide)
{
    w->b = b;
    w->start = b->len;
    w->err = TN_OK;
    put(w, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"referrer\" content=\"same-origin\">\n"
           "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>");
    esc(w, title);
    put(w, " — teamnotes</title>\n<style>");
    put(w, STYLE);
    put(w, wide ? "</style>\n</head>\n<body>\n<main class=\"wide\">\n"
                : "</style>\n</head>\n<body>\n<main>\n");
    put(w, "<p class=\"brand\">teamnotes</p>\n");
}

static void begin(struct writer *w, struct tn_buf *b, const char *title)
{
    begin_as(w, b, title, false);
}

static enum tn_err finish(struct writer *w)
{
    put(w, "</main>\n</body>\n</html>\n");
    if (w->err != TN_OK) {
        w->b->len = w->start;
        if (w->b->data)
            w->b->data[w->start] = '\0';
    }
    return w->err;
}

/* "<tag class=...>text</tag>\n" with text escaped. */
static void elem(struct writer *w, const char *open, const char *text, const char *close)
{
    put(w, open);
    esc(w, text);
    put(w, close);
}

static void error_note(struct writer *w, const char *error)
{
    if (error && *error)
        elem(w, "<p class=\"note error\" role=\"alert\">", error, "</p>\n");
}

static void form_open(struct writer *w, const char *action, const char *hidden_name,
                      const char *hidden_value, const char *csrf)
{
    elem(w, "<form method=\"post\" action=\"", action, "\">\n");
    put(w, "<input type=\"hidden\" name=\"");
    put(w, hidden_name);
    elem(w, "\" value=\"", hidden_value, "\">\n");
    elem(w, "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">\n");
}

/* A labelled input whose id equals its name. `extra` holds trusted attributes. */
static void field(struct writer *w, const char *name, const char *label, const char *type,
                  const char *extra, const char *value)
{
    put(w, "<label for=\"");
    put(w, name);
    put(w, "\">");
    put(w, label);
    put(w, "</label>\n<input id=\"");
    put(w, name);
    put(w, "\" name=\"");
    put(w, name);
    put(w, "\" type=\"");
    put(w, type);
    put(w, "\" ");
    put(w, extra);
    if (value)
        elem(w, " value=\"", value, "\"");
    put(w, ">\n");
}

enum tn_err tn_page_signin(struct tn_buf *out, const struct tn_page_signin *p)
{
    if (!p || !p->action || !p->request_id || !p->csrf ||
        (p->n_providers && (!p->providers || !p->oidc_action)))
        return TN_ERR_INTERNAL;
    for (size_t i = 0; i < p->n_providers; i++)
        if (!p->providers[i].id || !p->providers[i].name)
            return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, "Sign in");
    put(&w, "<h1>Sign in</h1>\n");
    if (p->client_name && *p->client_name)
        elem(&w, "<p class=\"lead\">to continue to <strong><bdi>", p->client_name,
             "</bdi></strong></p>\n");
    else
        put(&w, "<p class=\"lead\">with your teamnotes account</p>\n");
    if (p->client_host && *p->client_host)
        elem(&w, "<p class=\"host\"><span class=\"muted\">Returns to</span> <code>", p->client_host,
             "</code></p>\n");
    error_note(&w, p->error);
    if (!p->hide_password) {
        form_open(&w, p->action, "req", p->request_id, p->csrf);
        /* "username" is the token password managers pair with current-password; the field
         * still takes an e-mail address */
        field(&w, "email", "Email", "email",
              "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required"
              " maxlength=\"254\"",
              p->email);
        field(&w, "password", "Password", "password", "autocomplete=\"current-password\" required",
              NULL);
        put(&w, "<button type=\"submit\">Sign in</button>\n</form>\n");
    }
    if (p->email_action) {
        if (!p->hide_password)
            put(&w, "<h2>Or sign in without a password</h2>\n");
        form_open(&w, p->email_action, "req", p->request_id, p->csrf);
        /* its own id: both forms may be on the page */
        put(&w,
            "<label for=\"signin-email\">Email</label>\n<input id=\"signin-email\" name=\"email\" "
            "type=\"email\" autocomplete=\"email\" autocapitalize=\"none\" spellcheck=\"false\" "
            "required maxlength=\"254\"");
        if (p->hide_password && p->email)
            elem(&w, " value=\"", p->email, "\"");
        put(&w, ">\n");
        put(&w, p->hide_password
                    ? "<button type=\"submit\">Email me a sign-in code</button>\n</form>\n"
                    : "<button type=\"submit\" class=\"secondary\">Email me a sign-in code"
                      "</button>\n</form>\n");
    }
    for (size_t i = 0; i < p->n_providers; i++) {
        form_open(&w, p->oidc_action, "req", p->request_id, p->csrf);
        elem(&w, "<input type=\"hidden\" name=\"provider\" value=\"", p->providers[i].id, "\">\n");
        elem(&w, "<button type=\"submit\" class=\"secondary\">Continue with <bdi>",
             p->providers[i].name, "</bdi></button>\n</form>\n");
    }
    if (p->sso_action) {
        put(&w, "<h2>Or use your organization's sign-in</h2>\n");
        form_open(&w, p->sso_action, "req", p->request_id, p->csrf);
        put(&w, "<label for=\"sso-email\">Work email</label>\n<input id=\"sso-email\" "
                "name=\"email\" type=\"email\" autocomplete=\"email\" autocapitalize=\"none\" "
                "spellcheck=\"false\" required maxlength=\"254\"");
        if (p->sso_email && *p->sso_email)
            elem(&w, " value=\"", p->sso_email, "\"");
        put(&w, ">\n<button type=\"submit\" class=\"secondary\">Continue with SSO</button>\n"
                "</form>\n");
    }
    return finish(&w);
}

enum tn_err tn_page_email_sent(struct tn_buf *out, const struct tn_page_email_sent *p)
{
    if (!p || !p->action || !p->request_id || !p->csrf)
        return TN_ERR_INTERNAL;
    char mins[64];
    snprintf(mins, sizeof mins, "The code works once, for %u minutes.", p->minutes);
    struct writer w;
    begin(&w, out, "Check your email");
    put(&w, "<h1>Check your email</h1>\n");
    if (p->email && *p->email)
        elem(&w, "<p class=\"lead\">If <strong>", p->email,
             "</strong> has a teamnotes account, a sign-in code and link are on their way.</p>\n");
    else
        put(&w, "<p class=\"lead\">If the address has a teamnotes account, a sign-in code and link "
                "are on their way.</p>\n");
    /* before the form: a paragraph after the button would touch it (forms have no margin) */
    elem(&w, "<p class=\"muted\">", mins, " Opening the link in this browser works too.</p>\n");
    error_note(&w, p->error);
    form_open(&w, p->action, "req", p->request_id, p->csrf);
    field(&w, "code", "Sign-in code", "text",
          "inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 -]*\" required"
          " maxlength=\"32\"",
          NULL);
    put(&w, "<button type=\"submit\">Sign in</button>\n</form>\n");
    return finish(&w);
}

enum tn_err tn_page_email_link(struct tn_buf *out, const struct tn_page_email_link *p)
{
    if (!p || !p->action || !p->id || !p->token || !p->csrf || !p->email)
        return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, "Sign in");
    put(&w, "<h1>Sign in to teamnotes</h1>\n");
    elem(&w, "<p class=\"lead\">as <strong>", p->email, "</strong></p>\n");
    elem(&w, "<form method=\"post\" action=\"", p->action, "\">\n");
    elem(&w, "<input type=\"hidden\" name=\"id\" value=\"", p->id, "\">\n");
    elem(&w, "<input type=\"hidden\" name=\"t\" value=\"", p->token, "\">\n");
    elem(&w, "<input type=\"hidden\" name=\"csrf\" value=\"", p->csrf, "\">\n");
    put(&w, "<button type=\"submit\">Sign in</button>\n</form>\n");
    return finish(&w);
}

static bool is_url(const char *s)
{
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

enum tn_err tn_page_consent(struct tn_buf *out, const struct tn_page_consent *p)
{
    if (!p || !p->action || !p->request_id || !p->csrf || !p->client_id || !p->redirect_host ||
        (p->n_scopes && !p->scopes))
        return TN_ERR_INTERNAL;
    for (size_t i = 0; i < p->n_scopes; i++)
        if (!p->scopes[i].name)
            return TN_ERR_INTERNAL;
    const char *name = p->client_name && *p->client_name ? p->client_name : p->client_id;
    struct writer w;
    begin(&w, out, "Allow access");
    elem(&w, "<h1><bdi>", name, "</bdi> wants to access your teamnotes</h1>\n");
    /* a metadata-document client is named by its URL, the one identity it proves */
    put(&w, "<p class=\"muted\">");
    put(&w, is_url(p->client_id) ? "Client metadata: " : "Client ID: ");
    elem(&w, "<code>", p->client_id, "</code></p>\n");
    elem(&w,
         "<p class=\"host\"><span class=\"label\">teamnotes will then send you back to"
         "</span> <code>",
         p->redirect_host, "</code>");
    if (p->host_verified)
        put(&w, " <span class=\"badge\">✓ Verified</span>");
    put(&w, "</p>\n");
    if (p->loopback_only)
        put(&w, "<div class=\"note warn\" role=\"note\"><strong>This app runs on your own computer."
                "</strong>It receives access on this machine only. Allow it only if you started it "
                "yourself just now.</div>\n");
    else if (!p->host_verified)
        put(&w, "<div class=\"note warn\" role=\"note\"><strong>teamnotes does not know this app."
                "</strong>Allow it only if you recognise the address above.</div>\n");
    put(&w, "<h2>It will be able to</h2>\n<ul>\n");
    for (size_t i = 0; i < p->n_scopes; i++) {
        elem(&w, "<li><code>", p->scopes[i].name, "</code>");
        if (p->scopes[i].description)
            elem(&w, "<span>", p->scopes[i].description, "</span>");
        put(&w, "</li>\n");
    }
    if (!p->n_scopes)
        put(&w, "<li>Basic access to your account</li>\n");
    put(&w, "</ul>\n");
    if (p->user_email && *p->user_email)
        elem(&w, "<p class=\"who\">Signed in as <strong>", p->user_email, "</strong></p>\n");
    form_open(&w, p->action, "req", p->request_id, p->csrf);
    /* Deny first: should the form ever be submitted implicitly, it declines */
    put(&w,
        "<div class=\"actions\">\n"
        "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\n"
        "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
        "</div>\n</form>\n");
    return finish(&w);
}

enum tn_err tn_page_setup(struct tn_buf *out, const struct tn_page_setup *p)
{
    if (!p || !p->action || !p->token || !p->csrf)
        return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, "Create the admin account");
    put(&w, "<h1>Create the admin account</h1>\n"
            "<p class=\"lead\">This is the first account of this teamnotes server. "
            "It can invite and manage everyone else.</p>\n");
    error_note(&w, p->error);
    form_open(&w, p->action, "token", p->token, p->csrf);
    field(&w, "email", "Email", "email",
          "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required"
          " maxlength=\"254\"",
          NULL);
    field(&w, "name", "Name", "text", "autocomplete=\"name\" required maxlength=\"200\"", NULL);
    field(&w, "password", "Password", "password", "autocomplete=\"new-password\" required", NULL);
    field(&w, "password2", "Repeat password", "password", "autocomplete=\"new-password\" required",
          NULL);
    put(&w, "<button type=\"submit\">Create account</button>\n</form>\n");
    return finish(&w);
}

enum tn_err tn_page_message(struct tn_buf *out, const char *title, const char *message,
                            bool is_error)
{
    if (!title || !message)
        return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, title);
    elem(&w, "<h1>", title, "</h1>\n");
    elem(&w, is_error ? "<p class=\"note error\" role=\"alert\">" : "<p class=\"lead\">", message,
         "</p>\n");
    return finish(&w);
}

enum tn_err tn_page_invite(struct tn_buf *out, const struct tn_page_invite *p)
{
    if (!p || !p->token || !p->csrf || !p->email || !p->role ||
        (!p->password_action && !p->email_action))
        return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, "You are invited");
    put(&w, "<h1>You are invited to teamnotes</h1>\n");
    elem(&w, "<p class=\"lead\">as <strong>", p->role, "</strong>");
    if (p->org && *p->org)
        elem(&w, " (<bdi>", p->org, "</bdi>)");
    elem(&w, " for <strong>", p->email, "</strong></p>\n");
    if (p->inviter && *p->inviter)
        elem(&w, "<p class=\"muted\">Invited by <bdi>", p->inviter, "</bdi></p>\n");
    error_note(&w, p->error);
    if (p->password_action) {
        form_open(&w, p->password_action, "t", p->token, p->csrf);
        if (p->request_id)
            elem(&w, "<input type=\"hidden\" name=\"req\" value=\"", p->request_id, "\">\n");
        /* the address, for password managers: it is the invitation's, not editable */
        field(&w, "email", "Email", "email", "autocomplete=\"username\" readonly", p->email);
        field(&w, "name", "Your name", "text", "autocomplete=\"name\" maxlength=\"120\"", p->name);
        field(&w, "password", "Choose a password", "password",
              "autocomplete=\"new-password\" required minlength=\"10\" maxlength=\"1024\"", NULL);
        field(&w, "password2", "Repeat the password", "password",
              "autocomplete=\"new-password\" required minlength=\"10\" maxlength=\"1024\"", NULL);
        put(&w, "<p class=\"muted\">At least 10 characters.</p>\n"
                "<button type=\"submit\">Create account</button>\n</form>\n");
    }
    if (p->email_action) {
        if (p->password_action)
            put(&w, "<h2>Or sign in without a password</h2>\n");
        form_open(&w, p->email_action, "t", p->token, p->csrf);
        if (p->request_id)
            elem(&w, "<input type=\"hidden\" name=\"req\" value=\"", p->request_id, "\">\n");
        elem(&w, "<p class=\"muted\">We send a sign-in code to <strong>", p->email,
             "</strong>.</p>\n");
        put(&w, p->password_action
                    ? "<button type=\"submit\" class=\"secondary\">Email me a sign-in code"
                      "</button>\n</form>\n"
                    : "<button type=\"submit\">Email me a sign-in code</button>\n</form>\n");
    }
    return finish(&w);
}

enum tn_err tn_page_invite_done(struct tn_buf *out, const char *email, const char *mcp_url)
{
    if (!email || !mcp_url)
        return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, "You're in");
    put(&w, "<h1>You’re in</h1>\n");
    elem(&w, "<p class=\"lead\">Your teamnotes account is ready: <strong>", email,
         "</strong></p>\n");
    elem(&w, "<p class=\"host\"><span class=\"label\">Connect your MCP client to</span> <code>",
         mcp_url, "</code></p>\n");
    put(&w, "<p class=\"muted\">Add this address as a remote MCP server in your client "
            "(Claude, VS Code, Cursor, …). It will send you here to sign in.</p>\n");
    return finish(&w);
}

/* ---------- the writer, for the pages of other files (admin_pages.c) ---------- */

void tn_page_begin(struct tn_page_writer *w, struct tn_buf *b, const char *title, bool wide)
{
    struct writer in;
    begin_as(&in, b, title, wide);
    w->b = in.b;
    w->start = in.start;
    w->err = in.err;
}

void tn_page_put(struct tn_page_writer *w, const char *s)
{
    if (w->err == TN_OK)
        w->err = tn_buf_puts(w->b, s);
}

void tn_page_esc(struct tn_page_writer *w, const char *s)
{
    if (w->err == TN_OK)
        w->err = tn_html_escape(w->b, s);
}

enum tn_err tn_page_finish(struct tn_page_writer *w)
{
    struct writer in = {.b = w->b, .start = w->start, .err = w->err};
    return finish(&in);
}
