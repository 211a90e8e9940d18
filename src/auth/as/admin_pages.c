#include "auth/as/admin_pages.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/as/pages.h"
#include "auth/as/users.h"

#define put tn_page_put
#define esc tn_page_esc

/* The console's tabs, in order (the invitations are part of Members). */
static const struct {
    const char *id, *href, *label;
} ADMIN_SECTIONS[] = {
    {"members", "/admin/members", "Members"}, {"orgs", "/admin/orgs", "Organizations"},
    {"apps", "/admin/apps", "Apps"},          {"audit", "/admin/audit", "Audit"},
    {"keys", "/admin/keys", "Signing keys"},
};

static void elem(struct tn_page_writer *w, const char *open, const char *v, const char *close)
{
    put(w, open);
    esc(w, v);
    put(w, close);
}

static void when(struct tn_page_writer *w, int64_t s)
{
    if (s <= 0) {
        put(w, "never");
        return;
    }
    char iso[40], human[40];
    time_t tt = (time_t)s;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(human, sizeof human, "%Y-%m-%d %H:%M UTC", &tm);
    put(w, "<time datetime=\"");
    put(w, iso);
    put(w, "\">");
    put(w, human);
    put(w, "</time>");
}

static void hidden(struct tn_page_writer *w, const char *name, const char *value)
{
    put(w, "<input type=\"hidden\" name=\"");
    put(w, name);
    elem(w, "\" value=\"", value, "\">");
}

static bool header(struct tn_page_writer *w, struct tn_buf *out, const struct tn_admin_page *p,
                   const char *title)
{
    if (!p || !p->csrf || !p->section)
        return false;
    tn_page_begin(w, out, title, true);
    put(w, "<nav class=\"tabs\" aria-label=\"Admin\">");
    for (size_t i = 0; i < sizeof ADMIN_SECTIONS / sizeof ADMIN_SECTIONS[0]; i++) {
        put(w, "<a href=\"");
        put(w, ADMIN_SECTIONS[i].href);
        put(w, strcmp(p->section, ADMIN_SECTIONS[i].id) ? "\">" : "\" aria-current=\"page\">");
        put(w, ADMIN_SECTIONS[i].label);
        put(w, "</a>");
    }
    put(w, "</nav>\n");
    elem(w, "<h1>", title, "</h1>\n");
    if (p->me && p->me[0])
        elem(w, "<p class=\"who\">Signed in as <strong>", p->me, "</strong></p>\n");
    if (p->notice && p->notice[0])
        elem(w,
             p->notice_error ? "<p class=\"note error\" role=\"alert\">"
                             : "<p class=\"note warn\" role=\"status\">",
             p->notice, "</p>\n");
    return true;
}

/* A table inside a region that scrolls sideways on a narrow screen; keyboard users can
 * scroll it too (tabindex), and it is named for screen readers. */
static void table_open(struct tn_page_writer *w, const char *label, const char *const *cols,
                       size_t ncols)
{
    elem(w, "<div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"", label,
         "\">\n<table>\n<thead><tr>");
    for (size_t i = 0; i < ncols; i++)
        elem(w, "<th scope=\"col\">", cols[i], "</th>");
    put(w, "</tr></thead>\n<tbody>\n");
}

static void table_close(struct tn_page_writer *w) { put(w, "</tbody>\n</table>\n</div>\n"); }

enum tn_err tn_admin_url_encode(struct tn_buf *out, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    enum tn_err e = TN_OK;
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); e == TN_OK && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            e = tn_buf_append(out, (const char *)p, 1);
        } else {
            char enc[4] = {'%', hex[*p >> 4], hex[*p & 15], 0};
            e = tn_buf_puts(out, enc);
        }
    }
    return e;
}

/* An href "path?k=v&k=v" with the values encoded, then escaped for the attribute. */
static void href(struct tn_page_writer *w, const char *path, const char *const *kv, size_t n)
{
    struct tn_buf u;
    tn_buf_init(&u, 8192);
    enum tn_err e = tn_buf_puts(&u, path);
    bool first = true;
    for (size_t i = 0; e == TN_OK && i + 1 < n * 2; i += 2) {
        if (!kv[i + 1] || !kv[i + 1][0])
            continue;
        if ((e = tn_buf_puts(&u, first ? "?" : "&")) == TN_OK &&
            (e = tn_buf_puts(&u, kv[i])) == TN_OK && (e = tn_buf_puts(&u, "=")) == TN_OK)
            e = tn_admin_url_encode(&u, kv[i + 1]);
        first = false;
    }
    if (e != TN_OK && w->err == TN_OK)
        w->err = e;
    esc(w, u.data ? u.data : path);
    tn_buf_deinit(&u);
}

/* ---------- members ---------- */

static void role_form(struct tn_page_writer *w, const struct tn_admin_page *p,
                      const struct tn_user *u)
{
    put(w, "<form method=\"post\" action=\"/admin/members/role\">");
    hidden(w, "csrf", p->csrf);
    hidden(w, "user", u->id);
    elem(w, "<select name=\"role\" aria-label=\"Role of ", u->email, "\">");
    for (const char *const *r = tn_roles; *r; r++) {
        elem(w, "<option value=\"", *r, "\"");
        if (!strcmp(*r, u->role))
            put(w, " selected");
        elem(w, ">", *r, "</option>");
    }
    put(w, "</select><button type=\"submit\" class=\"small secondary\">Save</button></form>");
}

static void status_form(struct tn_page_writer *w, const struct tn_admin_page *p,
                        const struct tn_user *u)
{
    put(w, "<form method=\"post\" action=\"/admin/members/status\">");
    hidden(w, "csrf", p->csrf);
    hidden(w, "user", u->id);
    hidden(w, "disabled", u->disabled ? "0" : "1");
    put(w, u->disabled ? "<span class=\"muted\">Disabled</span> "
                       : "<span class=\"ok\">Active</span> ");
    elem(w, "<button type=\"submit\" class=\"small secondary\" aria-label=\"",
         u->disabled ? "Enable" : "Disable", " ");
    esc(w, u->email);
    put(w, u->disabled ? "\">Enable</button></form>" : "\">Disable</button></form>");
}

static void role_options(struct tn_page_writer *w, const char *selected)
{
    for (const char *const *r = tn_roles; *r; r++) {
        elem(w, "<option value=\"", *r, "\"");
        if (selected && !strcmp(*r, selected))
            put(w, " selected");
        elem(w, ">", *r, "</option>");
    }
}

/* The invite form and the pending invitations. */
static void invites_block(struct tn_page_writer *w, const struct tn_admin_page *p,
                          const struct tn_admin_invites *inv)
{
    put(w, "<h2 id=\"invite\">Invite someone</h2>\n<p class=\"muted\">The invitation is mailed "
           "and works once, for a limited time; inviting the same address again replaces "
           "it.</p>\n<form method=\"post\" action=\"/admin/members/invite\" class=\"filters\">");
    hidden(w, "csrf", p->csrf);
    put(w, "<div><label for=\"inv-email\">Email</label><input id=\"inv-email\" name=\"email\" "
           "type=\"email\" required maxlength=\"254\" autocomplete=\"off\" "
           "autocapitalize=\"none\" spellcheck=\"false\"></div>"
           "<div><label for=\"inv-role\">Role</label><select id=\"inv-role\" name=\"role\">");
    role_options(w, "viewer");
    put(w, "</select></div><div><label for=\"inv-org\">Organization</label>"
           "<select id=\"inv-org\" name=\"org\"><option value=\"\">default</option>");
    for (size_t i = 0; inv->orgs && i < inv->norgs; i++)
        if (strcmp(inv->orgs[i].name, "default")) {
            elem(w, "<option value=\"", inv->orgs[i].name, "\">");
            elem(w, "", inv->orgs[i].name, "</option>");
        }
    put(w, "</select></div><button type=\"submit\">Invite</button></form>\n");
    put(w, "<h2>Pending invitations</h2>\n");
    static const char *const cols[] = {"Email", "Role", "Organization", "Expires", ""};
    table_open(w, "Pending invitations", cols, 5);
    for (size_t i = 0; inv->v && i < inv->n; i++) {
        const struct tn_invitation *v = &inv->v[i];
        const char *org = inv->v_org && inv->v_org[i] && inv->v_org[i][0] ? inv->v_org[i] : "-";
        elem(w, "<tr><td class=\"wrap\">", v->email, "</td>");
        elem(w, "<td>", v->role, "</td>");
        elem(w, "<td class=\"wrap\"><bdi>", org, "</bdi></td><td>");
        when(w, v->expires_at);
        put(w, "</td><td><form method=\"post\" action=\"/admin/members/invite-revoke\">");
        hidden(w, "csrf", p->csrf);
        hidden(w, "email", v->email);
        elem(w,
             "<button type=\"submit\" class=\"small secondary\" aria-label=\"Revoke the "
             "invitation of ",
             v->email, "\">Revoke</button></form></td></tr>\n");
    }
    if (!inv->n)
        put(w, "<tr><td colspan=\"5\">No pending invitations.</td></tr>\n");
    table_close(w);
}

enum tn_err tn_admin_page_members(struct tn_buf *out, const struct tn_admin_page *p,
                                  const char *query, const struct tn_user *users, size_t n,
                                  int64_t total, unsigned page, unsigned per_page)
{
    struct tn_page_writer w;
    if ((n && !users) || per_page == 0 || !header(&w, out, p, "Members"))
        return TN_ERR_INTERNAL;
    if (p->invites && p->invites->link && p->invites->link_email) {
        elem(&w,
             "<div class=\"note warn\" role=\"status\"><strong>No mail server: the "
             "invitation is in the server's outbox.</strong> Give this link to ",
             p->invites->link_email, " only; it works once:<br><code>");
        esc(&w, p->invites->link);
        put(&w, "</code></div>\n");
    }
    put(&w, "<form method=\"get\" action=\"/admin/members\" class=\"filters\" role=\"search\">"
            "<div><label for=\"q\">Search by email or name</label>"
            "<input id=\"q\" name=\"q\" type=\"search\" maxlength=\"200\"");
    if (query && query[0])
        elem(&w, " value=\"", query, "\"");
    put(&w, "></div><button type=\"submit\" class=\"secondary\">Search</button></form>\n");
    char count[96];
    snprintf(count, sizeof count, "%lld member%s%s", (long long)total, total == 1 ? "" : "s",
             query && query[0] ? " match" : "");
    elem(&w, "<p class=\"muted\">", count, "</p>\n");
    static const char *const cols[] = {"Name", "Email", "Role", "Status", "Last sign-in"};
    table_open(&w, "Members", cols, 5);
    for (size_t i = 0; i < n; i++) {
        const struct tn_user *u = &users[i];
        elem(&w, "<tr><td class=\"wrap\"><bdi>", u->name, "</bdi></td>");
        elem(&w, "<td class=\"wrap\">", u->email, "</td><td>");
        role_form(&w, p, u);
        put(&w, "</td><td>");
        status_form(&w, p, u);
        put(&w, "</td><td>");
        when(&w, u->last_signin_at);
        put(&w, "</td></tr>\n");
    }
    if (!n)
        put(&w, "<tr><td colspan=\"5\">No members found.</td></tr>\n");
    table_close(&w);
    /* pages */
    unsigned pages = (unsigned)((total + per_page - 1) / per_page);
    if (pages > 1) {
        char label[64], num[16];
        put(&w, "<nav class=\"pager\" aria-label=\"Pages\">");
        if (page > 0) {
            snprintf(num, sizeof num, "%u", page - 1);
            const char *kv[] = {"q", query, "page", num};
            put(&w, "<a href=\"");
            href(&w, "/admin/members", kv, 2);
            put(&w, "\">Previous</a>");
        }
        snprintf(label, sizeof label, "Page %u of %u", page + 1, pages);
        elem(&w, "<span>", label, "</span>");
        if (page + 1 < pages) {
            snprintf(num, sizeof num, "%u", page + 1);
            const char *kv[] = {"q", query, "page", num};
            put(&w, "<a href=\"");
            href(&w, "/admin/members", kv, 2);
            put(&w, "\">Next</a>");
        }
        put(&w, "</nav>\n");
    }
    if (p->invites)
        invites_block(&w, p, p->invites);
    return tn_page_finish(&w);
}

/* ---------- apps ---------- */

enum tn_err tn_admin_page_apps(struct tn_buf *out, const struct tn_admin_page *p,
                               const struct tn_admin_app *apps, size_t n, const char *focus,
                               const struct tn_client_grant *grants, size_t ng)
{
    struct tn_page_writer w;
    if ((n && !apps) || (ng && !grants) || !header(&w, out, p, "Apps"))
        return TN_ERR_INTERNAL;
    put(&w, "<p class=\"lead\">The MCP clients registered with this server (by dynamic "
            "registration or a client metadata document) and who has let each one in. "
            "Revoking an app deletes its registration and grants; its tokens stop working "
            "within seconds.</p>\n");
    if (focus) {
        elem(&w, "<h2>People using <code>", focus, "</code></h2>\n");
        static const char *const gcols[] = {"Email", "Scopes", "Allowed", "Active sessions",
                                            "Last token"};
        table_open(&w, "People using the app", gcols, 5);
        for (size_t i = 0; i < ng; i++) {
            char fam[32];
            snprintf(fam, sizeof fam, "%lld", (long long)grants[i].families);
            elem(&w, "<tr><td class=\"wrap\">", grants[i].email, "</td>");
            elem(&w, "<td class=\"wrap\">", grants[i].scope[0] ? grants[i].scope : "-",
                 "</td><td>");
            when(&w, grants[i].consented_at);
            elem(&w, "</td><td>", fam, "</td><td>");
            when(&w, grants[i].last_issued_at);
            put(&w, "</td></tr>\n");
        }
        if (!ng)
            put(&w, "<tr><td colspan=\"5\">Nobody holds a grant of this app.</td></tr>\n");
        table_close(&w);
    }
    static const char *const cols[] = {"App", "Client ID", "Kind", "People", "Last used", ""};
    table_open(&w, "Apps", cols, 6);
    for (size_t i = 0; i < n; i++) {
        const struct tn_admin_app *a = &apps[i];
        char people[32];
        snprintf(people, sizeof people, "%lld", (long long)a->people);
        elem(&w, "<tr><td class=\"wrap\"><bdi>", a->client.name[0] ? a->client.name : "(no name)",
             "</bdi></td>");
        elem(&w, "<td class=\"wrap\"><code>", a->client.id, "</code></td>");
        put(&w, a->cimd ? "<td>Metadata document</td>" : "<td>Registered</td>");
        const char *kv[] = {"client", a->client.id};
        put(&w, "<td><a href=\"");
        href(&w, "/admin/apps", kv, 1);
        /* the accessible name starts with the visible number (WCAG 2.5.3) */
        elem(&w, "\" aria-label=\"", people, " ");
        elem(&w, a->people == 1 ? "person using " : "people using ",
             a->client.name[0] ? a->client.name : a->client.id, "\">");
        esc(&w, people);
        put(&w, "</a></td><td>");
        when(&w, a->client.last_used_at);
        put(&w, "</td><td><form method=\"post\" action=\"/admin/apps/revoke\">");
        hidden(&w, "csrf", p->csrf);
        hidden(&w, "client", a->client.id);
        elem(&w, "<button type=\"submit\" class=\"small secondary\" aria-label=\"Revoke ",
             a->client.name[0] ? a->client.name : a->client.id,
             "\">Revoke</button></form></td></tr>\n");
    }
    if (!n)
        put(&w, "<tr><td colspan=\"6\">No apps are registered.</td></tr>\n");
    table_close(&w);
    return tn_page_finish(&w);
}

/* ---------- audit ---------- */

static void text_filter(struct tn_page_writer *w, const char *id, const char *label,
                        const char *type, const char *value, const char *extra)
{
    put(w, "<div><label for=\"");
    put(w, id);
    put(w, "\">");
    put(w, label);
    put(w, "</label><input id=\"");
    put(w, id);
    put(w, "\" name=\"");
    put(w, id);
    put(w, "\" type=\"");
    put(w, type);
    put(w, "\" ");
    put(w, extra);
    if (value && value[0])
        elem(w, " value=\"", value, "\"");
    put(w, "></div>");
}

enum tn_err tn_admin_page_audit(struct tn_buf *out, const struct tn_admin_page *p,
                                const struct tn_admin_audit_form *f, const struct tn_audit *rows,
                                size_t n, unsigned limit)
{
    struct tn_page_writer w;
    if (!f || (n && !rows) || !header(&w, out, p, "Audit"))
        return TN_ERR_INTERNAL;
    put(&w, "<p class=\"lead\">Who did what, through which app, to which note: never the notes' "
            "text. Times are UTC.</p>\n");
    put(&w, "<form method=\"get\" action=\"/admin/audit\" class=\"filters\">");
    text_filter(&w, "person", "Person (email or id)", "text", f->person,
                "maxlength=\"254\" autocapitalize=\"none\" spellcheck=\"false\"");
    text_filter(&w, "tool", "Tool", "text", f->tool, "maxlength=\"63\" spellcheck=\"false\"");
    put(&w, "<div><label for=\"outcome\">Outcome</label><select id=\"outcome\" name=\"outcome\">");
    static const char *const outcomes[] = {"",         "ok",      "denied", "not_found",
                                           "conflict", "invalid", "error"};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        elem(&w, "<option value=\"", outcomes[i], "\"");
        if (f->outcome && !strcmp(f->outcome, outcomes[i]))
            put(&w, " selected");
        elem(&w, ">", i ? outcomes[i] : "any", "</option>");
    }
    put(&w, "</select></div>");
    text_filter(&w, "since", "From (UTC)", "text", f->since,
                "placeholder=\"2026-12-01\" maxlength=\"24\" spellcheck=\"false\"");
    text_filter(&w, "until", "Until (UTC)", "text", f->until,
                "placeholder=\"2026-12-31T23:59\" maxlength=\"24\" spellcheck=\"false\"");
    put(&w, "<button type=\"submit\" class=\"secondary\">Filter</button></form>\n");
    const char *kv[] = {"person",   f->person, "tool",   f->tool, "outcome",
                        f->outcome, "since",   f->since, "until", f->until};
    put(&w, "<p><a href=\"");
    href(&w, "/admin/audit.csv", kv, 5);
    put(&w, "\" download>Export these records as CSV</a></p>\n");
    char shown[96];
    snprintf(shown, sizeof shown, "%zu record%s (at most %u, newest first)", n, n == 1 ? "" : "s",
             limit);
    elem(&w, "<p class=\"muted\">", shown, "</p>\n");
    static const char *const cols[] = {"Time", "Person",  "App",   "Tool",
                                       "Note", "Outcome", "Detail"};
    table_open(&w, "Audit records", cols, 7);
    for (size_t i = 0; i < n; i++) {
        const struct tn_audit *a = &rows[i];
        put(&w, "<tr><td>");
        when(&w, a->at / 1000);
        elem(&w, "</td><td class=\"wrap\">", a->user, "</td>");
        elem(&w, "<td class=\"wrap\">", a->client_id[0] ? a->client_id : "-", "</td>");
        elem(&w, "<td>", a->tool, "</td>");
        elem(&w, "<td><code>", a->note_id[0] ? a->note_id : "-", "</code></td>");
        elem(&w, "<td>", a->outcome, "</td>");
        elem(&w, "<td class=\"wrap\">", a->detail, "</td></tr>\n");
    }
    if (!n)
        put(&w, "<tr><td colspan=\"7\">No records match.</td></tr>\n");
    table_close(&w);
    return tn_page_finish(&w);
}

/* ---------- signing keys ---------- */

enum tn_err tn_admin_page_keys(struct tn_buf *out, const struct tn_admin_page *p,
                               const struct tn_admin_key *keys, size_t n)
{
    struct tn_page_writer w;
    if ((n && !keys) || !header(&w, out, p, "Signing keys"))
        return TN_ERR_INTERNAL;
    put(&w, "<p class=\"lead\">The keys that sign access tokens. A new key is published before "
            "it signs; a retired key stays published until the tokens it signed have "
            "expired.</p>\n");
    static const char *const cols[] = {"Key ID",     "State",   "Created",
                                       "Signs from", "Retires", "Published until"};
    table_open(&w, "Signing keys", cols, 6);
    for (size_t i = 0; i < n; i++) {
        const struct tn_admin_key *k = &keys[i];
        elem(&w, "<tr><td class=\"wrap\"><code>", k->key.kid, "</code></td>");
        put(&w, k->state == TN_AS_KEY_CURRENT ? "<td><strong>current</strong></td>"
                : k->state == TN_AS_KEY_NEXT  ? "<td>next</td>"
                                              : "<td>retired</td>");
        put(&w, "<td>");
        when(&w, k->key.created_at);
        put(&w, "</td><td>");
        when(&w, k->key.signs_from);
        put(&w, "</td><td>");
        when(&w, k->key.retire_at);
        put(&w, "</td><td>");
        when(&w, k->published_until);
        put(&w, "</td></tr>\n");
    }
    if (!n)
        put(&w, "<tr><td colspan=\"6\">No keys yet.</td></tr>\n");
    table_close(&w);
    put(&w, "<h2>Rotate now</h2>\n<p>A new key is published at once and takes over once JWKS "
            "caches have seen it; tokens already issued keep working.</p>\n"
            "<form method=\"post\" action=\"/admin/keys/rotate\">");
    hidden(&w, "csrf", p->csrf);
    put(&w, "<button type=\"submit\">Rotate now</button></form>\n");
    return tn_page_finish(&w);
}

/* ---------- organizations ---------- */

enum tn_err tn_admin_page_orgs(struct tn_buf *out, const struct tn_admin_page *p,
                               const struct tn_admin_org_row *rows, size_t n)
{
    struct tn_page_writer w;
    if ((n && !rows) || !header(&w, out, p, "Organizations"))
        return TN_ERR_INTERNAL;
    put(&w, "<p class=\"lead\">An organization owns email domains; people of those domains "
            "sign in through its own SSO connection when it has one.</p>\n"
            "<form method=\"post\" action=\"/admin/orgs/create\" class=\"filters\">");
    hidden(&w, "csrf", p->csrf);
    put(&w, "<div><label for=\"org-name\">New organization</label><input id=\"org-name\" "
            "name=\"name\" required maxlength=\"127\" spellcheck=\"false\"></div>"
            "<button type=\"submit\">Create</button></form>\n");
    static const char *const cols[] = {"Organization", "Domains", "SSO", "Created"};
    table_open(&w, "Organizations", cols, 4);
    for (size_t i = 0; i < n; i++) {
        const struct tn_admin_org_row *o = &rows[i];
        char nd[32];
        snprintf(nd, sizeof nd, "%zu", o->domains);
        const char *kv[] = {"org", o->org.name};
        put(&w, "<tr><td class=\"wrap\"><a href=\"");
        href(&w, "/admin/orgs", kv, 1);
        elem(&w, "\"><bdi>", o->org.name, "</bdi></a></td>");
        elem(&w, "<td>", nd, "</td>");
        put(&w, o->sso ? "<td><span class=\"ok\">Connected</span></td><td>"
                       : "<td><span class=\"muted\">None</span></td><td>");
        when(&w, o->org.created_at);
        put(&w, "</td></tr>\n");
    }
    if (!n)
        put(&w, "<tr><td colspan=\"4\">No organizations yet.</td></tr>\n");
    table_close(&w);
    return tn_page_finish(&w);
}

/* A labelled text field of the SSO form; `value` escaped, `extra` trusted. */
static void sso_field(struct tn_page_writer *w, const char *id, const char *label, const char *type,
                      const char *value, const char *extra)
{
    put(w, "<label for=\"");
    put(w, id);
    put(w, "\">");
    put(w, label);
    put(w, "</label><input id=\"");
    put(w, id);
    put(w, "\" name=\"");
    put(w, id);
    put(w, "\" type=\"");
    put(w, type);
    put(w, "\" ");
    put(w, extra);
    if (value && value[0])
        elem(w, " value=\"", value, "\"");
    put(w, ">");
}

static void check_box(struct tn_page_writer *w, const char *id, const char *label, bool on)
{
    put(w, "<label class=\"check\"><input type=\"checkbox\" name=\"");
    put(w, id);
    put(w, on ? "\" value=\"1\" checked>" : "\" value=\"1\">");
    put(w, label);
    put(w, "</label>");
}

static void org_form(struct tn_page_writer *w, const struct tn_admin_page *p, const char *action,
                     const char *org)
{
    put(w, "<form method=\"post\" action=\"");
    put(w, action);
    put(w, "\">");
    hidden(w, "csrf", p->csrf);
    hidden(w, "org", org);
}

enum tn_err tn_admin_page_org(struct tn_buf *out, const struct tn_admin_page *p,
                              const struct tn_admin_org_view *v)
{
    struct tn_page_writer w;
    if (!v || !v->org || (v->nd && !v->domains) || !header(&w, out, p, v->org->name))
        return TN_ERR_INTERNAL;
    const char *name = v->org->name;
    put(&w, "<p><a href=\"/admin/orgs\">All organizations</a></p>\n");
    /* domains */
    put(&w, "<h2>Email domains</h2>\n<p class=\"muted\">Addresses of these domains are sent "
            "to this organization's SSO. Adding a domain is its verification: add only domains "
            "the organization owns.</p>\n");
    static const char *const cols[] = {"Domain", "Added", ""};
    table_open(&w, "Email domains", cols, 3);
    for (size_t i = 0; i < v->nd; i++) {
        elem(&w, "<tr><td class=\"wrap\"><code>", v->domains[i].domain, "</code></td><td>");
        when(&w, v->domains[i].created_at);
        put(&w, "</td><td>");
        org_form(&w, p, "/admin/orgs/domain-remove", name);
        hidden(&w, "domain", v->domains[i].domain);
        elem(&w, "<button type=\"submit\" class=\"small secondary\" aria-label=\"Remove ",
             v->domains[i].domain, "\">Remove</button></form></td></tr>\n");
    }
    if (!v->nd)
        put(&w, "<tr><td colspan=\"3\">No domains.</td></tr>\n");
    table_close(&w);
    put(&w, "<form method=\"post\" action=\"/admin/orgs/domain-add\" class=\"filters\">");
    hidden(&w, "csrf", p->csrf);
    hidden(&w, "org", name);
    put(&w, "<div><label for=\"domain\">Add a domain</label><input id=\"domain\" "
            "name=\"domain\" required maxlength=\"253\" placeholder=\"example.com\" "
            "autocapitalize=\"none\" spellcheck=\"false\"></div>"
            "<button type=\"submit\" class=\"secondary\">Add</button></form>\n");
    /* SSO */
    const struct tn_org_sso *c = v->sso;
    put(&w, "<h2>SSO connection</h2>\n");
    if (v->test_result)
        elem(&w,
             v->test_ok ? "<p class=\"note warn\" role=\"status\"><strong>Test passed</strong>"
                        : "<p class=\"note error\" role=\"alert\"><strong>Test failed</strong>",
             v->test_result, "</p>\n");
    if (c) {
        put(&w, "<p>Connected to <code>");
        esc(&w, c->issuer);
        put(&w, "</code>, updated ");
        when(&w, c->updated_at);
        put(&w, ".</p>\n<div class=\"actions\">");
        org_form(&w, p, "/admin/orgs/sso-test", name);
        put(&w, "<button type=\"submit\" class=\"secondary\">Test connection</button></form>");
        org_form(&w, p, "/admin/orgs/sso-remove", name);
        put(&w, "<button type=\"submit\" class=\"secondary\">Remove connection</button>"
                "</form></div>\n");
    } else {
        put(&w, "<p class=\"muted\">No connection: people of this organization sign in like "
                "everyone else.</p>\n");
    }
    put(&w, "<form method=\"post\" action=\"/admin/orgs/sso-set\" class=\"form\">");
    hidden(&w, "csrf", p->csrf);
    hidden(&w, "org", name);
    sso_field(&w, "issuer", "Issuer URL", "url", c ? c->issuer : NULL,
              "required maxlength=\"500\" placeholder=\"https://login.example.com\" "
              "spellcheck=\"false\"");
    sso_field(&w, "client_id", "Client ID", "text", c ? c->client_id : NULL,
              "required maxlength=\"255\" spellcheck=\"false\"");
    /* write-only: never filled in, whatever is stored */
    sso_field(&w, "client_secret",
              c ? "Client secret (stored sealed, not shown: give it again to save)"
                : "Client secret",
              "password", NULL, "required maxlength=\"512\" autocomplete=\"off\"");
    sso_field(&w, "scopes", "Scopes (empty: the default)", "text", c ? c->scopes : NULL,
              "maxlength=\"255\" spellcheck=\"false\"");
    sso_field(&w, "groups_claim", "Groups claim (empty: groups are not read)", "text",
              c ? c->groups_claim : NULL, "maxlength=\"63\" spellcheck=\"false\"");
    sso_field(&w, "role_map", "Role map (group=role, comma-separated)", "text", v->role_map,
              "maxlength=\"2000\" placeholder=\"eng=editor,it=admin\" spellcheck=\"false\"");
    put(&w, "<label for=\"default_role\">Default role</label><select id=\"default_role\" "
            "name=\"default_role\">");
    role_options(&w, c ? c->default_role : "viewer");
    put(&w, "</select><p></p>");
    check_box(&w, "require_sso", "Require SSO (no password or email code for these domains)",
              c && c->require_sso);
    check_box(&w, "allow_signup", "Allow sign-up (a first SSO sign-in creates the member)",
              c && c->allow_signup);
    put(&w, c ? "<button type=\"submit\">Save connection</button></form>\n"
              : "<button type=\"submit\">Connect</button></form>\n");
    return tn_page_finish(&w);
}
