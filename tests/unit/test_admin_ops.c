/* The admin console's pure parts (#19): the CSV cell escaping table (RFC 4180 quoting and
 * the formula prefix), whole CSV rows, the time filters, and the templates with hostile
 * values (every value escaped, forms carry the CSRF token, no script). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "auth/as/admin_ops.h"
#include "auth/as/admin_pages.h"
#include "core/util.h"

static void test_csv_cells(void **state)
{
    static const struct {
        const char *in, *out;
    } t[] = {
        {"", ""},
        {"plain", "plain"},
        {"usr_1", "usr_1"},
        {"=1+1", "'=1+1"},
        {"+SUM(A1)", "'+SUM(A1)"},
        {"-2", "'-2"},
        {"@cmd", "'@cmd"},
        {"\tx", "'\tx"},
        {"\rx", "\"'\rx\""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"line\nbreak", "\"line\nbreak\""},
        {"=HYPERLINK(\"http://e\",\"x\")", "\"'=HYPERLINK(\"\"http://e\"\",\"\"x\"\")\""},
        {"a=1", "a=1"}, /* only a leading sign is a formula */
        {" =1", " =1"},
        {"\"", "\"\"\"\""},
        {NULL, ""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tn_buf b;
        tn_buf_init(&b, 1024);
        assert_int_equal(tn_admin_csv_cell(&b, t[i].in), TN_OK);
        if (strcmp(b.data ? b.data : "", t[i].out))
            fail_msg("case %zu: [%s] -> [%s], want [%s]", i, t[i].in ? t[i].in : "(null)",
                     b.data ? b.data : "", t[i].out);
        tn_buf_deinit(&b);
    }
}

static void test_csv_row(void **state)
{
    struct tn_audit a = {.at = 1765042205123};
    snprintf(a.user, sizeof a.user, "https://n.example|usr_1");
    snprintf(a.client_id, sizeof a.client_id, "admin-page");
    snprintf(a.tool, sizeof a.tool, "admin.set_role");
    snprintf(a.outcome, sizeof a.outcome, "ok");
    snprintf(a.detail, sizeof a.detail, "-x@y: role editor -> viewer, \"now\"");
    struct tn_buf b;
    tn_buf_init(&b, 4096);
    assert_int_equal(tn_admin_csv_header(&b), TN_OK);
    assert_int_equal(tn_admin_csv_row(&b, &a), TN_OK);
    assert_string_equal(b.data,
                        "time,user,organization,client,tool,note,outcome,detail\r\n"
                        "2025-12-06T17:30:05.123Z,https://n.example|usr_1,,admin-page,"
                        "admin.set_role,,ok,\"'-x@y: role editor -> viewer, \"\"now\"\"\"\r\n");
    /* a cap too small: the error, not a cut row */
    struct tn_buf small;
    tn_buf_init(&small, 16);
    assert_int_equal(tn_admin_csv_row(&small, &a), TN_ERR_LIMIT);
    tn_buf_deinit(&small);
    tn_buf_deinit(&b);
}

static void test_parse_time(void **state)
{
    static const struct {
        const char *in;
        enum tn_err rc;
        int64_t ms;
    } t[] = {
        {"2026-12-06", TN_OK, 1796515200000},
        {"2026-12-06T17:30", TN_OK, 1796578200000},
        {"2026-12-06T17:30:05", TN_OK, 1796578205000},
        {"2026-12-06T17:30:05Z", TN_OK, 1796578205000},
        {"2026-12-06 17:30", TN_OK, 1796578200000},
        {"1796578205000", TN_OK, 1796578205000},
        {"0", TN_OK, 0},
        {"", TN_ERR_BAD_INPUT, 0},
        {"yesterday", TN_ERR_BAD_INPUT, 0},
        {"2026-02-31", TN_ERR_BAD_INPUT, 0},
        {"2026-13-01", TN_ERR_BAD_INPUT, 0},
        {"2026-12-06T24:00", TN_ERR_BAD_INPUT, 0},
        {"2026-12-06T17", TN_ERR_BAD_INPUT, 0},
        {"2026-12-06X17:30", TN_ERR_BAD_INPUT, 0},
        {"1969-12-31", TN_ERR_BAD_INPUT, 0},
        {"-5", TN_ERR_BAD_INPUT, 0},
        {"12345678901234567890", TN_ERR_BAD_INPUT, 0},
        {"2026-12-06T17:30:05+02:00", TN_ERR_BAD_INPUT, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t ms = -1;
        enum tn_err rc = tn_admin_parse_time(t[i].in, &ms);
        if (rc != t[i].rc || ms != t[i].ms)
            fail_msg("case %zu [%s]: %s %lld, want %s %lld", i, t[i].in, tn_err_name(rc),
                     (long long)ms, tn_err_name(t[i].rc), (long long)t[i].ms);
    }
}

static const char hostile[] = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;";

static void no_raw_markup(const char *page)
{
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<img"));
    assert_null(strstr(page, "onerror=alert(2)>"));
    assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img"));
    assert_non_null(strstr(page, "&amp;amp;"));
}

static struct tn_admin_page base(const char *section)
{
    return (struct tn_admin_page){.section = section,
                                  .csrf = "CSRF\"tok",
                                  .me = hostile,
                                  .notice = hostile,
                                  .notice_error = true,
                                  .now = 1000};
}

static void test_templates_escape(void **state)
{
    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    struct tn_admin_page p = base("members");
    struct tn_user u = {.created_at = 1, .last_signin_at = 1765042205};
    snprintf(u.id, sizeof u.id, "usr_%s", "\"x");
    snprintf(u.email, sizeof u.email, "%s", hostile);
    snprintf(u.name, sizeof u.name, "%s", hostile);
    snprintf(u.role, sizeof u.role, "viewer");
    assert_int_equal(tn_admin_page_members(&b, &p, hostile, &u, 1, 60, 1, 25), TN_OK);
    no_raw_markup(b.data);
    assert_non_null(strstr(b.data, "name=\"csrf\" value=\"CSRF&quot;tok\""));
    assert_non_null(strstr(b.data, "<option value=\"viewer\" selected>"));
    assert_non_null(strstr(b.data, "Page 2 of 3"));
    /* the pager's links carry the query percent-encoded, then escaped */
    assert_non_null(strstr(b.data, "href=\"/admin/members?q=%3Cscript%3Ealert%281%29"));
    assert_non_null(strstr(b.data, "aria-current=\"page\">Members<"));

    tn_buf_reset(&b);
    p = base("apps");
    struct tn_admin_app app = {.people = 2};
    snprintf(app.client.id, sizeof app.client.id, "https://evil.example/%s", hostile);
    snprintf(app.client.name, sizeof app.client.name, "%s", hostile);
    app.cimd = true;
    struct tn_client_grant g = {.families = 1};
    snprintf(g.email, sizeof g.email, "%s", hostile);
    snprintf(g.scope, sizeof g.scope, "%s", hostile);
    assert_int_equal(tn_admin_page_apps(&b, &p, &app, 1, hostile, &g, 1), TN_OK);
    no_raw_markup(b.data);
    assert_non_null(strstr(b.data, "<td>Metadata document</td>"));

    tn_buf_reset(&b);
    p = base("audit");
    struct tn_audit a = {.at = 1765042205000};
    snprintf(a.user, sizeof a.user, "%s", hostile);
    snprintf(a.tool, sizeof a.tool, "<b>x</b>");
    snprintf(a.detail, sizeof a.detail, "%s", hostile);
    snprintf(a.outcome, sizeof a.outcome, "ok");
    struct tn_admin_audit_form f = {.person = hostile, .tool = "t&x", .outcome = "ok"};
    assert_int_equal(tn_admin_page_audit(&b, &p, &f, &a, 1, 200), TN_OK);
    no_raw_markup(b.data);
    assert_null(strstr(b.data, "<b>x</b>"));
    assert_non_null(strstr(b.data, "href=\"/admin/audit.csv?person=%3Cscript"));
    assert_non_null(strstr(b.data, "&amp;tool=t%26x&amp;outcome=ok\""));
    assert_non_null(strstr(b.data, "<option value=\"ok\" selected>"));

    tn_buf_reset(&b);
    p = base("keys");
    struct tn_admin_key k = {.state = TN_AS_KEY_NEXT};
    snprintf(k.key.kid, sizeof k.key.kid, "<kid>");
    assert_int_equal(tn_admin_page_keys(&b, &p, &k, 1), TN_OK);
    assert_non_null(strstr(b.data, "<code>&lt;kid&gt;</code>"));
    assert_non_null(strstr(b.data, "action=\"/admin/keys/rotate\""));
    no_raw_markup(b.data);

    /* a missing token renders nothing */
    size_t len = b.len;
    p.csrf = NULL;
    assert_int_equal(tn_admin_page_keys(&b, &p, &k, 1), TN_ERR_INTERNAL);
    assert_int_equal(b.len, len);
    /* a page that does not fit: the error, and the buffer as it was */
    struct tn_buf small;
    tn_buf_init(&small, 512);
    p = base("keys");
    assert_int_equal(tn_admin_page_keys(&small, &p, &k, 1), TN_ERR_LIMIT);
    assert_int_equal(small.len, 0);
    tn_buf_deinit(&small);
    tn_buf_deinit(&b);
}

/* The organizations' pages and the invitations: every name, domain and value escaped;
 * the stored client secret never reaches the page (its field is always empty). */
static void test_org_templates_escape(void **state)
{
    (void)state;
    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    struct tn_admin_page p = base("orgs");
    struct tn_admin_org_row row = {.domains = 2, .sso = true};
    snprintf(row.org.name, sizeof row.org.name, "%.120s", hostile);
    snprintf(row.org.id, sizeof row.org.id, "org_x");
    assert_int_equal(tn_admin_page_orgs(&b, &p, &row, 1), TN_OK);
    no_raw_markup(b.data);
    assert_non_null(strstr(b.data, "aria-current=\"page\">Organizations<"));
    /* the link to it: percent-encoded, then escaped */
    assert_non_null(strstr(b.data, "href=\"/admin/orgs?org=%3Cscript%3Ealert%281%29"));
    assert_non_null(strstr(b.data, "<td>2</td><td><span class=\"ok\">Connected</span>"));
    assert_non_null(strstr(b.data, "action=\"/admin/orgs/create\""));

    tn_buf_reset(&b);
    struct tn_org_domain d = {.created_at = 1765042205};
    snprintf(d.domain, sizeof d.domain, "%.200s", hostile);
    struct tn_org_sso c = {.require_sso = true, .updated_at = 1765042205};
    snprintf(c.issuer, sizeof c.issuer, "https://idp.example/%s", hostile);
    snprintf(c.client_id, sizeof c.client_id, "%s", hostile);
    snprintf(c.client_secret, sizeof c.client_secret, "tnk1:SEALED-SECRET-MUST-NOT-SHOW");
    snprintf(c.groups_claim, sizeof c.groups_claim, "<g>");
    snprintf(c.default_role, sizeof c.default_role, "editor");
    struct tn_admin_org_view v = {.org = &row.org,
                                  .domains = &d,
                                  .nd = 1,
                                  .sso = &c,
                                  .role_map = hostile,
                                  .test_result = hostile,
                                  .test_ok = false};
    assert_int_equal(tn_admin_page_org(&b, &p, &v), TN_OK);
    no_raw_markup(b.data);
    assert_null(strstr(b.data, "SEALED-SECRET"));
    assert_non_null(strstr(b.data, "<input id=\"client_secret\" name=\"client_secret\" "
                                   "type=\"password\" required maxlength=\"512\" "
                                   "autocomplete=\"off\">"));
    assert_non_null(strstr(b.data, "value=\"&lt;g&gt;\""));
    assert_non_null(strstr(b.data, "<option value=\"editor\" selected>"));
    assert_non_null(strstr(b.data, "name=\"require_sso\" value=\"1\" checked>"));
    assert_null(strstr(b.data, "name=\"allow_signup\" value=\"1\" checked>"));
    assert_non_null(strstr(b.data, "<strong>Test failed</strong>&lt;script&gt;"));
    assert_non_null(strstr(b.data, "action=\"/admin/orgs/sso-test\""));
    /* every form names the organization in a hidden field, escaped */
    assert_non_null(strstr(b.data, "name=\"org\" value=\"&lt;script&gt;"));
    /* no connection: no test or remove button, the form says Connect */
    tn_buf_reset(&b);
    v.sso = NULL;
    v.test_result = NULL;
    assert_int_equal(tn_admin_page_org(&b, &p, &v), TN_OK);
    assert_null(strstr(b.data, "/admin/orgs/sso-test"));
    assert_null(strstr(b.data, "/admin/orgs/sso-remove"));
    assert_non_null(strstr(b.data, ">Connect</button>"));
    size_t len = b.len;
    v.org = NULL;
    assert_int_equal(tn_admin_page_org(&b, &p, &v), TN_ERR_INTERNAL);
    assert_int_equal(b.len, len);

    /* the invitations on the members page */
    tn_buf_reset(&b);
    p = base("members");
    struct tn_invitation inv = {.expires_at = 1765042205};
    snprintf(inv.email, sizeof inv.email, "%s", hostile);
    snprintf(inv.role, sizeof inv.role, "editor");
    const char *names[] = {hostile};
    struct tn_admin_invites iv = {.v = &inv,
                                  .v_org = names,
                                  .n = 1,
                                  .orgs = &row.org,
                                  .norgs = 1,
                                  .link = "https://tn.example/invite?t=a&b<c",
                                  .link_email = hostile};
    p.invites = &iv;
    assert_int_equal(tn_admin_page_members(&b, &p, NULL, NULL, 0, 0, 0, 25), TN_OK);
    no_raw_markup(b.data);
    assert_non_null(strstr(b.data, "<code>https://tn.example/invite?t=a&amp;b&lt;c</code>"));
    assert_non_null(strstr(b.data, "action=\"/admin/members/invite-revoke\""));
    assert_non_null(strstr(b.data, "name=\"email\" value=\"&lt;script&gt;"));
    assert_non_null(strstr(b.data, "<td>editor</td>"));
    /* without a link there is no outbox notice */
    tn_buf_reset(&b);
    iv.link = NULL;
    iv.n = 0;
    assert_int_equal(tn_admin_page_members(&b, &p, NULL, NULL, 0, 0, 0, 25), TN_OK);
    assert_null(strstr(b.data, "outbox"));
    assert_non_null(strstr(b.data, "No pending invitations."));
    tn_buf_deinit(&b);
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_cells),
        cmocka_unit_test(test_csv_row),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_templates_escape),
        cmocka_unit_test(test_org_templates_escape),
    };
    return cmocka_run_group_tests_name("admin ops", tests, NULL, NULL);
}
