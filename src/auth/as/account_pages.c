/* The HTML of /account (account_pages.h). */
#include "auth/as/account_pages.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/as/pages.h"

/* The one style block of these pages: the sign-in pages' colours and type, on a wider
 * page of cards. Its exact bytes are hashed into the CSP: inline style="" attributes
 * would be blocked. */
static const char STYLE[] =
    ":root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--fg:#1b1f24;--muted:#5a6270;"
    "--line:#d9dde3;--field:#fff;--accent:#0f766e;--accent-hover:#0b5f58;--on-accent:#fff;"
    "--focus:#0f766e;--soft:#eef7f5;--err-bg:#fdeeee;--err-fg:#9f1d1d;--err-line:#f3c4c4;"
    "--ok-bg:#e9f7ef;--ok-fg:#14532d;--ok-line:#b7e4c7;--danger:#b42318}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#0f1215;--card:#181c21;--fg:#e6e8eb;"
    "--muted:#9aa3ae;--line:#2c323a;--field:#11151a;--accent:#4fbfae;--accent-hover:#6fd3c3;"
    "--on-accent:#062622;--focus:#7fdccd;--soft:#12302c;--err-bg:#3a1717;--err-fg:#fecaca;"
    "--err-line:#6b2626;--ok-bg:#0f2e1c;--ok-fg:#bbf7d0;--ok-line:#1f5f3a;--danger:#fca5a5}}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}\n"
    "header{max-width:760px;margin:0 auto;padding:20px 16px 0;display:flex;flex-wrap:wrap;"
    "align-items:center;justify-content:space-between;gap:8px}\n"
    ".brand{margin:0;font-size:14px;font-weight:600;letter-spacing:.02em;color:var(--accent)}\n"
    "main{max-width:760px;margin:0 auto;padding:8px 16px 40px}\n"
    "h1{margin:8px 0 16px;font-size:26px;line-height:1.25;font-weight:650;overflow-wrap:anywhere}\n"
    "h2{margin:0 0 12px;font-size:18px;font-weight:650}\n"
    "section{background:var(--card);border:1px solid var(--line);border-radius:14px;"
    "padding:20px;margin:0 0 16px}\n"
    "p{margin:0 0 12px}\n"
    "section>:last-child{margin-bottom:0}\n"
    ".muted{color:var(--muted);font-size:14px}\n"
    "code{font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}\n"
    "dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:6px 16px}\n"
    "dt{color:var(--muted);font-size:14px;padding-top:1px}\n"
    "dd{margin:0;overflow-wrap:anywhere}\n"
    "@media (max-width:480px){dl{grid-template-columns:1fr;gap:0}dd{margin-bottom:8px}}\n"
    "ul{list-style:none;margin:0;padding:0}\n"
    "ul.apps>li{border-top:1px solid var(--line);padding:14px 0;display:flex;flex-wrap:wrap;"
    "gap:8px 16px;align-items:flex-start;justify-content:space-between}\n"
    "ul.apps>li:first-child{border-top:0;padding-top:0}\n"
    ".app{flex:1 1 320px;min-width:0}\n"
    ".app strong{display:block;overflow-wrap:anywhere}\n"
    ".app span{display:block;color:var(--muted);font-size:14px;overflow-wrap:anywhere}\n"
    ".tag{display:inline-block;font-size:13px;font-weight:600;padding:1px 8px;border-radius:99px;"
    "background:var(--soft);color:var(--fg);margin:4px 6px 0 0}\n"
    ".note{padding:12px 14px;border-radius:10px;border:1px solid;font-size:15px;margin:0 0 16px}\n"
    ".error{background:var(--err-bg);color:var(--err-fg);border-color:var(--err-line)}\n"
    ".ok{background:var(--ok-bg);color:var(--ok-fg);border-color:var(--ok-line)}\n"
    "label{display:block;margin:0 0 6px;font-size:14px;font-weight:600}\n"
    "input{display:block;width:100%;max-width:420px;margin:0 0 14px;padding:10px 12px;"
    "min-height:44px;font:inherit;color:var(--fg);background:var(--field);"
    "border:1px solid var(--line);border-radius:8px}\n"
    ":focus-visible{outline:3px solid var(--focus);outline-offset:2px}\n"
    "input:focus-visible{outline-offset:0}\n"
    "button{min-height:44px;padding:10px 16px;font:inherit;font-weight:600;border-radius:8px;"
    "cursor:pointer;border:1px solid var(--accent);background:var(--accent);color:var(--on-accent)}\n"
    "button:hover{background:var(--accent-hover);border-color:var(--accent-hover)}\n"
    "button.secondary{background:transparent;color:var(--fg);border-color:var(--line)}\n"
    "button.secondary:hover{background:var(--bg);border-color:var(--muted)}\n"
    "button.danger{background:transparent;color:var(--danger);border-color:var(--danger)}\n"
    "button.danger:hover{background:var(--err-bg)}\n"
    "form.inline{margin:0}\n"
    ".gap{margin-top:20px}\n"
    "[hidden]{display:none!important}\n"
    ".vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);"
    "white-space:nowrap}\n"
    "a{color:var(--accent)}\n";

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp[256];

static void csp_compute(void)
{
    /* Without a hash the page still works, only unstyled: fail closed to no style-src. */
    static const char tail[] = "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    unsigned char h[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    if (sodium_init() < 0 ||
        crypto_hash_sha256(h, (const unsigned char *)STYLE, sizeof STYLE - 1) != 0) {
        snprintf(csp, sizeof csp, "default-src 'none'; %s", tail);
        return;
    }
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
    snprintf(csp, sizeof csp, "default-src 'none'; style-src 'sha256-%s'; %s", b64, tail);
}

const char *tn_account_pages_csp(void)
{
    pthread_once(&csp_once, csp_compute);
    return csp;
}

/* A page writer with a sticky error: after the first failure every call is a no-op. */
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

/* open, the escaped text, close */
static void elem(struct writer *w, const char *open, const char *text, const char *close)
{
    put(w, open);
    esc(w, text);
    put(w, close);
}

static void begin(struct writer *w, struct tn_buf *b, const char *title, const char *who)
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
    put(w, "</style>\n</head>\n<body>\n<header>\n<p class=\"brand\">teamnotes</p>\n");
    if (who)
        elem(w, "<p class=\"muted\">Signed in as <strong>", who, "</strong></p>\n");
    put(w, "</header>\n<main>\n");
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

static void form_open(struct writer *w, const char *action, const char *csrf, const char *cls)
{
    put(w, "<form method=\"post\" action=\"");
    put(w, action); /* the handler's own constant paths */
    put(w, "\"");
    if (cls) {
        put(w, " class=\"");
        put(w, cls);
        put(w, "\"");
    }
    put(w, ">\n");
    elem(w, "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">\n");
}

static bool app_ok(const struct tn_page_account_app *a)
{
    return a->client_id && a->where && a->first_used && a->last_used;
}

static void who_section(struct writer *w, const struct tn_page_account *p)
{
    put(w, "<section aria-labelledby=\"you\">\n<h2 id=\"you\">You</h2>\n<dl>\n");
    elem(w, "<dt>Name</dt><dd>", p->name, "</dd>\n");
    elem(w, "<dt>Email</dt><dd>", p->email, "</dd>\n");
    if (p->org && *p->org)
        elem(w, "<dt>Organization</dt><dd>", p->org, "</dd>\n");
    else
        put(w, "<dt>Organization</dt><dd>None</dd>\n");
    elem(w, "<dt>Role</dt><dd><strong>", p->role, "</strong>");
    elem(w, "<span class=\"muted\"> — ", p->role_allows, "</span></dd>\n");
    put(w, "</dl>\n</section>\n");

    put(w,
        "<section aria-labelledby=\"methods\">\n<h2 id=\"methods\">How you sign in</h2>\n<ul>\n");
    if (p->password_set)
        put(w, "<li>Password: set</li>\n");
    else
        put(w, "<li>Password: not set</li>\n");
    for (size_t i = 0; i < p->n_identities; i++) {
        elem(w, "<li>Linked identity at <code>", p->identities[i].issuer, "</code>");
        if (p->identities[i].email && *p->identities[i].email)
            elem(w, " as ", p->identities[i].email, "");
        put(w, "</li>\n");
    }
    put(w, "</ul>\n</section>\n");
}

static void apps_section(struct writer *w, const struct tn_page_account *p)
{
    put(w, "<section aria-labelledby=\"apps\">\n<h2 id=\"apps\">Connected apps</h2>\n");
    if (!p->n_apps) {
        put(w, "<p class=\"muted\">No app holds access to your notes.</p>\n");
    } else {
        put(w, "<p class=\"muted\">These apps can use your notes until you revoke them. "
               "Revoking stops an app within seconds; it has to ask you again.</p>\n"
               "<ul class=\"apps\">\n");
        for (size_t i = 0; i < p->n_apps; i++) {
            const struct tn_page_account_app *a = &p->apps[i];
            const char *name = a->name && *a->name ? a->name : a->client_id;
            put(w, "<li>\n<div class=\"app\">\n");
            elem(w, "<strong><bdi>", name, "</bdi></strong>\n");
            if (a->loopback) /* its address is this machine's: nothing more to show */
                put(w, "<span>Runs on your computer</span>\n");
            else
                elem(w, "<span>Web: <code>", a->where, "</code></span>\n");
            put(w, "<span>");
            elem(w, "First used ", a->first_used, "");
            elem(w, " · last used ", a->last_used, "</span>\n");
            for (const char *s = a->scope ? a->scope : ""; *s;) {
                s += strspn(s, " ");
                size_t l = strcspn(s, " ");
                if (l) {
                    char word[128];
                    snprintf(word, sizeof word, "%.*s", (int)(l < 127 ? l : 127), s);
                    elem(w, "<code class=\"tag\">", word, "</code>");
                }
                s += l;
            }
            put(w, "\n</div>\n");
            form_open(w, "/account/revoke", p->csrf, "inline");
            elem(w, "<input type=\"hidden\" name=\"client_id\" value=\"", a->client_id, "\">\n");
            elem(w, "<button type=\"submit\" class=\"danger\">Revoke<span class=\"vh\"> access of ",
                 name, "</span></button>\n</form>\n</li>\n");
        }
        put(w, "</ul>\n");
    }
    put(w, "</section>\n");
}

static void password_section(struct writer *w, const struct tn_page_account *p)
{
    if (!p->password_method)
        return;
    put(w, "<section aria-labelledby=\"pw\">\n");
    put(w, p->password_set ? "<h2 id=\"pw\">Change your password</h2>\n"
                           : "<h2 id=\"pw\">Set a password</h2>\n");
    if (p->password_error && *p->password_error)
        elem(w, "<p class=\"note error\" role=\"alert\">", p->password_error, "</p>\n");
    form_open(w, "/account/password", p->csrf, NULL);
    /* a hidden username lets password managers file the new password under the account */
    elem(w,
         "<input type=\"email\" name=\"username\" autocomplete=\"username\" hidden "
         "aria-hidden=\"true\" tabindex=\"-1\" value=\"",
         p->email, "\">\n");
    if (p->password_set)
        put(w, "<label for=\"current\">Current password</label>\n"
               "<input id=\"current\" name=\"current\" type=\"password\" "
               "autocomplete=\"current-password\" required>\n");
    put(w,
        "<label for=\"password\">New password <span class=\"muted\">(at least 10 characters)"
        "</span></label>\n"
        "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" "
        "minlength=\"10\" maxlength=\"1024\" required>\n"
        "<label for=\"password2\">Repeat the new password</label>\n"
        "<input id=\"password2\" name=\"password2\" type=\"password\" "
        "autocomplete=\"new-password\" minlength=\"10\" maxlength=\"1024\" required>\n");
    put(w, p->password_set ? "<button type=\"submit\">Change password</button>\n</form>\n"
                           : "<button type=\"submit\">Set password</button>\n</form>\n");
    put(w, "</section>\n");
}

static void sessions_section(struct writer *w, const struct tn_page_account *p)
{
    put(w, "<section aria-labelledby=\"sessions\">\n<h2 id=\"sessions\">Sessions</h2>\n"
           "<p>Sign out of this browser only.</p>\n");
    form_open(w, "/account/signout", p->csrf, NULL);
    put(w, "<button type=\"submit\" class=\"secondary\">Sign out</button>\n</form>\n");
    put(w,
        "<p class=\"gap\">Lost a device? Sign out everywhere: every app and every browser, this one "
        "included, must sign in again. Apps you allowed keep your permission.</p>\n");
    form_open(w, "/account/signout-everywhere", p->csrf, NULL);
    put(w, "<button type=\"submit\" class=\"danger\">Sign out everywhere</button>\n</form>\n"
           "</section>\n");
}

enum tn_err tn_page_account(struct tn_buf *out, const struct tn_page_account *p)
{
    if (!p || !p->csrf || !p->name || !p->email || !p->role || !p->role_allows ||
        (p->n_apps && !p->apps) || (p->n_identities && !p->identities))
        return TN_ERR_INTERNAL;
    for (size_t i = 0; i < p->n_apps; i++)
        if (!app_ok(&p->apps[i]))
            return TN_ERR_INTERNAL;
    for (size_t i = 0; i < p->n_identities; i++)
        if (!p->identities[i].issuer)
            return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, "Your account", p->email);
    put(&w, "<h1>Your account</h1>\n");
    if (p->notice && *p->notice)
        elem(&w, "<p class=\"note ok\" role=\"status\">", p->notice, "</p>\n");
    if (p->error && *p->error)
        elem(&w, "<p class=\"note error\" role=\"alert\">", p->error, "</p>\n");
    who_section(&w, p);
    apps_section(&w, p);
    password_section(&w, p);
    sessions_section(&w, p);
    return finish(&w);
}

enum tn_err tn_page_account_message(struct tn_buf *out, const char *title, const char *message,
                                    bool is_error)
{
    if (!title || !message)
        return TN_ERR_INTERNAL;
    struct writer w;
    begin(&w, out, title, NULL);
    elem(&w, "<h1>", title, "</h1>\n<section>\n");
    elem(&w, is_error ? "<p class=\"note error\" role=\"alert\">" : "<p>", message, "</p>\n");
    put(&w, "<p><a href=\"/account\">Sign in again</a></p>\n</section>\n");
    return finish(&w);
}
