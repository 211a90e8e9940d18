/* HTML pages of the authorization server: escaping, form fields, the CSP style hash, and
 * failure on a full buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "auth/as/pages.h"

#define XSS "<script>alert(1)</script>"
#define XSS_ESC "&lt;script&gt;alert(1)&lt;/script&gt;"

static const struct tn_page_scope SCOPES[] = {
    {"notes:read", "Read your notes"},
    {"notes:write", "Create & change <your> notes"},
    {"profile", NULL},
};

static const struct tn_page_signin SIGNIN = {
    .action = "/authorize/login",
    .request_id = "r-123",
    .csrf = "c-456",
    .client_name = "Claude",
    .client_host = "claude.ai",
    .email = "ann@example.com",
    .error = "Wrong email or password.",
};

static const struct tn_page_consent CONSENT = {
    .action = "/authorize/consent",
    .request_id = "r-123",
    .csrf = "c-456",
    .client_name = "Claude",
    .client_id = "https://claude.ai/oauth/mcp-client.json",
    .redirect_host = "claude.ai",
    .host_verified = true,
    .loopback_only = false,
    .scopes = SCOPES,
    .n_scopes = 3,
    .user_email = "ann@example.com",
};

static const struct tn_page_setup SETUP = {
    .action = "/setup",
    .token = "t-789",
    .csrf = "c-456",
    .error = "Passwords do not match.",
};

/* Renders one of the four pages into b. */
enum page { P_SIGNIN, P_CONSENT, P_SETUP, P_MESSAGE, P__COUNT };

static enum tn_err render(struct tn_buf *b, enum page which)
{
    switch (which) {
    case P_SIGNIN:
        return tn_page_signin(b, &SIGNIN);
    case P_CONSENT:
        return tn_page_consent(b, &CONSENT);
    case P_SETUP:
        return tn_page_setup(b, &SETUP);
    default:
        return tn_page_message(b, "Access denied", "You declined " XSS ".", true);
    }
}

static char *render_str(enum page which)
{
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(render(&b, which), TN_OK);
    return tn_buf_take(&b);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_escape(void **state)
{
    static const char *cases[][2] = {
        {"", ""},
        {"plain text", "plain text"},
        {XSS, XSS_ESC},
        {"a&b", "a&amp;b"},
        {"&amp;", "&amp;amp;"},
        {"\"x\" 'y'", "&quot;x&quot; &#39;y&#39;"},
        {"a\tb\nc", "a&#9;b&#10;c"},
        {"a\rb\x01"
         "c\x1b\x7f",
         "a&#xFFFD;b&#xFFFD;c&#xFFFD;&#xFFFD;"},
        {"caf\xc3\xa9 \xe4\xb8\x96", "caf\xc3\xa9 \xe4\xb8\x96"}, /* UTF-8 kept */
        {"x\xc2\x85y", "x&#xFFFD;y"},                             /* C1 NEL */
        {"\xc2\xa0", "\xc2\xa0"},                                 /* NBSP is not C1 */
        {"evil\xe2\x80\xaemoc.iahc", "evil&#xFFFD;moc.iahc"},     /* RLO */
        {"\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\x8f\xd8\x9c", "&#xFFFD;x&#xFFFD;&#xFFFD;&#xFFFD;"},
        {"\xe2\x80\x94", "\xe2\x80\x94"},   /* em dash kept */
        {"trail\xe2\x80", "trail\xe2\x80"}, /* truncated UTF-8: no overread */
        {"trail\xe2", "trail\xe2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_buf b;
        tn_buf_init(&b, 1024);
        assert_int_equal(tn_buf_puts(&b, "["), TN_OK);
        assert_int_equal(tn_html_escape(&b, cases[i][0]), TN_OK);
        assert_int_equal(tn_buf_puts(&b, "]"), TN_OK);
        char want[256];
        snprintf(want, sizeof want, "[%s]", cases[i][1]);
        assert_string_equal(b.data, want);
        tn_buf_deinit(&b);
    }
    struct tn_buf b;
    tn_buf_init(&b, 16);
    assert_int_equal(tn_html_escape(&b, NULL), TN_OK);
    assert_int_equal(b.len, 0);
    /* fits raw (10 bytes) but not escaped: fails whole, buffer untouched */
    assert_int_equal(tn_buf_puts(&b, "ok"), TN_OK);
    assert_int_equal(tn_html_escape(&b, "<<<<<<<<<<"), TN_ERR_LIMIT);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ok");
    tn_buf_deinit(&b);
}

static void test_signin_escapes_client_strings(void **state)
{
    struct tn_page_signin p = SIGNIN;
    p.client_name = XSS;
    p.client_host = "evil.example\"><img src=x onerror=alert(1)>";
    p.email = "a\"b'c&d@example.com";
    p.error = "<b>bad</b> & \"worse\"";
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_signin(&b, &p), TN_OK);
    const char *h = b.data;
    assert_null(strcasestr(h, "<script"));
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "<b>bad"));
    assert_non_null(strstr(h, "to continue to <strong><bdi>" XSS_ESC "</bdi></strong>"));
    assert_non_null(strstr(h, "evil.example&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert_non_null(strstr(h, "value=\"a&quot;b&#39;c&amp;d@example.com\""));
    assert_non_null(strstr(h, "&lt;b&gt;bad&lt;/b&gt; &amp; &quot;worse&quot;"));
    tn_buf_deinit(&b);
}

static void test_signin_form(void **state)
{
    char *h = render_str(P_SIGNIN);
    assert_non_null(strstr(h, "<html lang=\"en\">"));
    assert_non_null(
        strstr(h, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    assert_non_null(strstr(h, "<title>Sign in — teamnotes</title>"));
    assert_int_equal(count(h, "<form "), 1);
    assert_non_null(strstr(h, "<form method=\"post\" action=\"/authorize/login\">"));
    assert_non_null(strstr(h, "<input type=\"hidden\" name=\"req\" value=\"r-123\">"));
    assert_non_null(strstr(h, "<input type=\"hidden\" name=\"csrf\" value=\"c-456\">"));
    assert_non_null(strstr(h,
                           "<label for=\"email\">Email</label>\n<input id=\"email\" name=\"email\" "
                           "type=\"email\" autocomplete=\"username\""));
    assert_non_null(strstr(h, "value=\"ann@example.com\">"));
    assert_non_null(
        strstr(h, "<label for=\"password\">Password</label>\n<input id=\"password\" "
                  "name=\"password\" type=\"password\" autocomplete=\"current-password\""));
    assert_non_null(strstr(h, "role=\"alert\">Wrong email or password.</p>"));
    assert_non_null(strstr(h, "<code>claude.ai</code>"));
    free(h);

    /* optional fields absent: no error box, no prefill */
    struct tn_page_signin p = {.action = "/a", .request_id = "r", .csrf = "c"};
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_signin(&b, &p), TN_OK);
    assert_null(strstr(b.data, "role=\"alert\""));
    assert_null(strstr(b.data, " value=\"\""));
    assert_null(strstr(b.data, "continue to"));
    tn_buf_deinit(&b);
}

/* #18: one "Continue with NAME" form per upstream provider, after the password form,
 * each with req, csrf and the provider id; names escaped; incomplete input refused. */
static void test_signin_providers(void **state)
{
    static const struct tn_page_provider prov[] = {{"google", "Google"},
                                                   {"my-idp", "<Acme & \"Co\">"}};
    struct tn_page_signin p = {.action = "/authorize/login",
                               .request_id = "r",
                               .csrf = "c",
                               .providers = prov,
                               .n_providers = 2,
                               .oidc_action = "/authorize/oidc"};
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_signin(&b, &p), TN_OK);
    const char *h = b.data;
    assert_int_equal(count(h, "<form "), 3);
    assert_int_equal(count(h, "<form method=\"post\" action=\"/authorize/oidc\">\n"
                              "<input type=\"hidden\" name=\"req\" value=\"r\">\n"
                              "<input type=\"hidden\" name=\"csrf\" value=\"c\">\n"),
                     2);
    const char *g = strstr(h, "<input type=\"hidden\" name=\"provider\" value=\"google\">\n"
                              "<button type=\"submit\" class=\"secondary\">Continue with "
                              "<bdi>Google</bdi></button>\n</form>");
    const char *m = strstr(h, "<input type=\"hidden\" name=\"provider\" value=\"my-idp\">\n"
                              "<button type=\"submit\" class=\"secondary\">Continue with "
                              "<bdi>&lt;Acme &amp; &quot;Co&quot;&gt;</bdi></button>");
    assert_non_null(g);
    assert_non_null(m);
    assert_true(strstr(h, "action=\"/authorize/login\"") < g && g < m); /* password first */
    tn_buf_deinit(&b);

    tn_buf_init(&b, 1 << 16);
    p.oidc_action = NULL;
    assert_int_equal(tn_page_signin(&b, &p), TN_ERR_INTERNAL);
    p.oidc_action = "/authorize/oidc";
    p.providers = NULL;
    assert_int_equal(tn_page_signin(&b, &p), TN_ERR_INTERNAL);
    static const struct tn_page_provider half[] = {{"x", NULL}};
    p.providers = half;
    p.n_providers = 1;
    assert_int_equal(tn_page_signin(&b, &p), TN_ERR_INTERNAL);
    tn_buf_deinit(&b);
}

/* #18: "Continue with SSO" is a work-email form posting req, csrf and email, last on the
 * page; the address typed comes back (escaped) only when it is the page's one form. */
static void test_signin_sso(void **state)
{
    struct tn_page_signin p = {.action = "/authorize/login",
                               .request_id = "r",
                               .csrf = "c",
                               .email = "ann@a.example\"><b>",
                               .sso_action = "/authorize/sso"};
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_signin(&b, &p), TN_OK);
    const char *h = b.data;
    assert_int_equal(count(h, "<form "), 2);
    const char *s = strstr(h,
                           "<h2>Or use your organization's sign-in</h2>\n"
                           "<form method=\"post\" action=\"/authorize/sso\">\n"
                           "<input type=\"hidden\" name=\"req\" value=\"r\">\n"
                           "<input type=\"hidden\" name=\"csrf\" value=\"c\">\n"
                           "<label for=\"sso-email\">Work email</label>\n<input id=\"sso-email\" "
                           "name=\"email\" type=\"email\" autocomplete=\"email\" "
                           "autocapitalize=\"none\" spellcheck=\"false\" required "
                           "maxlength=\"254\">\n<button type=\"submit\" class=\"secondary\">"
                           "Continue with SSO</button>\n</form>");
    assert_non_null(s);
    assert_true(strstr(h, "action=\"/authorize/login\"") < s); /* password first */
    assert_null(strstr(h, "<b>"));
    tn_buf_deinit(&b);

    /* prefilled with the address typed (escaped), e.g. after "signs in with SSO" */
    p.sso_email = p.email;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_signin(&b, &p), TN_OK);
    assert_int_equal(count(b.data, "<form "), 2);
    assert_non_null(strstr(b.data, "id=\"sso-email\" name=\"email\" type=\"email\" "
                                   "autocomplete=\"email\" autocapitalize=\"none\" "
                                   "spellcheck=\"false\" required maxlength=\"254\" "
                                   "value=\"ann@a.example&quot;&gt;&lt;b&gt;\">\n"));
    tn_buf_deinit(&b);

    /* without sso_action: no SSO form */
    p.sso_action = NULL;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_signin(&b, &p), TN_OK);
    assert_null(strstr(b.data, "sso"));
    tn_buf_deinit(&b);
}

static void test_consent(void **state)
{
    char *h = render_str(P_CONSENT);
    assert_non_null(strstr(h, "<h1><bdi>Claude</bdi> wants to access your teamnotes</h1>"));
    assert_non_null(
        strstr(h, "Client metadata: <code>https://claude.ai/oauth/mcp-client.json</code>"));
    assert_non_null(strstr(h, "will then send you back to</span> <code>claude.ai</code> "
                              "<span class=\"badge\">✓ Verified</span>"));
    assert_null(strstr(h, "own computer"));
    assert_null(strstr(h, "does not know this app"));
    assert_non_null(strstr(h, "<li><code>notes:read</code><span>Read your notes</span></li>"));
    assert_non_null(strstr(
        h, "<li><code>notes:write</code><span>Create &amp; change &lt;your&gt; notes</span></li>"));
    assert_non_null(strstr(h, "<li><code>profile</code></li>"));
    assert_non_null(strstr(h, "Signed in as <strong>ann@example.com</strong>"));
    assert_non_null(strstr(h, "<form method=\"post\" action=\"/authorize/consent\">"));
    assert_non_null(strstr(h, "<input type=\"hidden\" name=\"req\" value=\"r-123\">"));
    assert_non_null(strstr(h, "<input type=\"hidden\" name=\"csrf\" value=\"c-456\">"));
    const char *deny = strstr(h, "<button type=\"submit\" name=\"decision\" value=\"deny\"");
    const char *allow = strstr(h, "<button type=\"submit\" name=\"decision\" value=\"allow\"");
    assert_non_null(deny);
    assert_non_null(allow);
    assert_true(deny < allow);
    free(h);

    /* hostile, unverified, loopback client with a plain client id */
    struct tn_page_consent p = CONSENT;
    p.client_name = XSS;
    p.client_id = "abc\"'&<>";
    p.redirect_host = "127.0.0.1\"><script>x</script>";
    p.host_verified = false;
    p.loopback_only = true;
    p.user_email = "<i>me</i>";
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_consent(&b, &p), TN_OK);
    h = b.data;
    assert_null(strcasestr(h, "<script"));
    assert_null(strstr(h, "<i>me"));
    assert_non_null(strstr(h, "<h1><bdi>" XSS_ESC "</bdi>"));
    assert_non_null(strstr(h, "Client ID: <code>abc&quot;&#39;&amp;&lt;&gt;</code>"));
    assert_non_null(strstr(h, "<code>127.0.0.1&quot;&gt;&lt;script&gt;x&lt;/script&gt;</code>"));
    assert_null(strstr(h, "Verified"));
    assert_non_null(strstr(h, "This app runs on your own computer."));
    assert_non_null(strstr(h, "Signed in as <strong>&lt;i&gt;me&lt;/i&gt;</strong>"));

    /* unverified remote host gets the caution note; no name falls back to the client id */
    p.loopback_only = false;
    p.client_name = NULL;
    tn_buf_reset(&b);
    assert_int_equal(tn_page_consent(&b, &p), TN_OK);
    assert_non_null(strstr(b.data, "teamnotes does not know this app."));
    assert_non_null(strstr(b.data, "<h1><bdi>abc&quot;&#39;&amp;&lt;&gt;</bdi>"));
    tn_buf_deinit(&b);
}

static void test_setup(void **state)
{
    char *h = render_str(P_SETUP);
    assert_non_null(strstr(h, "<form method=\"post\" action=\"/setup\">"));
    assert_non_null(strstr(h, "<input type=\"hidden\" name=\"token\" value=\"t-789\">"));
    assert_non_null(strstr(h, "<input type=\"hidden\" name=\"csrf\" value=\"c-456\">"));
    static const char *fields[][2] = {
        {"email", "username"},
        {"name", "name"},
        {"password", "new-password"},
        {"password2", "new-password"},
    };
    for (size_t i = 0; i < 4; i++) {
        char want[256];
        snprintf(want, sizeof want, "<input id=\"%s\" name=\"%s\" ", fields[i][0], fields[i][0]);
        const char *in = strstr(h, want);
        assert_non_null(in);
        snprintf(want, sizeof want, "autocomplete=\"%s\"", fields[i][1]);
        const char *ac = strstr(in, want);
        assert_non_null(ac);
        assert_true(ac < strchr(in, '>'));
        snprintf(want, sizeof want, "<label for=\"%s\">", fields[i][0]);
        assert_non_null(strstr(h, want));
    }
    assert_non_null(strstr(h, "role=\"alert\">Passwords do not match.</p>"));
    free(h);
}

static void test_message(void **state)
{
    char *h = render_str(P_MESSAGE);
    assert_non_null(strstr(h, "<title>Access denied — teamnotes</title>"));
    assert_non_null(
        strstr(h, "<p class=\"note error\" role=\"alert\">You declined " XSS_ESC ".</p>"));
    assert_null(strstr(h, "<form"));
    free(h);
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_message(&b, "<Done>", "All set.", false), TN_OK);
    assert_non_null(strstr(b.data, "<title>&lt;Done&gt; — teamnotes</title>"));
    assert_non_null(strstr(b.data, "<p class=\"lead\">All set.</p>"));
    assert_null(strstr(b.data, "role=\"alert\""));
    tn_buf_deinit(&b);
}

/* An on*= attribute anywhere, e.g. " onerror=". */
static bool has_event_attr(const char *h)
{
    for (const char *p = h; (p = strcasestr(p, " on")) != NULL; p++) {
        size_t n = 3;
        while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))
            n++;
        if (n > 3 && p[n] == '=')
            return true;
    }
    return false;
}

/* Every page: no script, exactly one style block and no style attribute, every label
 * bound to an input of that id. */
static void test_markup_rules(void **state)
{
    for (enum page i = 0; i < P__COUNT; i++) {
        char *h = render_str(i);
        assert_null(strcasestr(h, "<script"));
        assert_null(strcasestr(h, "javascript:"));
        assert_false(has_event_attr(h));
        assert_null(strcasestr(h, " style="));
        assert_int_equal(count(h, "<style"), 1);
        assert_int_equal(count(h, "</style>"), 1);
        for (const char *l = h; (l = strstr(l, "<label for=\"")) != NULL;) {
            l += strlen("<label for=\"");
            char id[64];
            size_t n = strcspn(l, "\"");
            assert_true(n < sizeof id - 8);
            snprintf(id, sizeof id, "id=\"%.*s\"", (int)n, l);
            assert_int_equal(count(h, id), 1);
        }
        free(h);
    }
}

static void test_csp(void **state)
{
    assert_true(sodium_init() >= 0);
    const char *csp = tn_pages_csp();
    assert_ptr_equal(csp, tn_pages_csp()); /* computed once */
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "form-action 'self'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_non_null(strstr(csp, "base-uri 'none'"));
    assert_null(strstr(csp, "unsafe"));
    const char *consent = tn_pages_csp_authorize();
    assert_null(strstr(consent, "form-action"));
    assert_non_null(strstr(consent, "default-src 'none'"));

    for (enum page i = 0; i < P__COUNT; i++) {
        char *h = render_str(i);
        const char *s = strstr(h, "<style>");
        assert_non_null(s);
        s += strlen("<style>");
        const char *e = strstr(s, "</style>");
        assert_non_null(e);
        unsigned char d[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(d, (const unsigned char *)s, (unsigned long long)(e - s));
        char b64[64], want[96];
        sodium_bin2base64(b64, sizeof b64, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
        snprintf(want, sizeof want, "style-src 'sha256-%s';", b64);
        assert_non_null(strstr(csp, want));
        assert_non_null(strstr(consent, want));
        free(h);
    }
}

/* Every cap below the page's size fails with TN_ERR_LIMIT and leaves what was already in
 * the buffer as it was; the exact size succeeds. */
static void test_limits(void **state)
{
    for (enum page i = 0; i < P__COUNT; i++) {
        char *full = render_str(i);
        size_t n = strlen(full);
        for (size_t cap = 3; cap < n + 3; cap++) {
            struct tn_buf b;
            tn_buf_init(&b, cap);
            assert_int_equal(tn_buf_puts(&b, "pre"), TN_OK);
            assert_int_equal(render(&b, i), TN_ERR_LIMIT);
            assert_int_equal(b.len, 3);
            assert_string_equal(b.data, "pre");
            tn_buf_deinit(&b);
        }
        struct tn_buf b;
        tn_buf_init(&b, n + 3);
        assert_int_equal(tn_buf_puts(&b, "pre"), TN_OK);
        assert_int_equal(render(&b, i), TN_OK);
        assert_string_equal(b.data + 3, full);
        tn_buf_deinit(&b);
        free(full);
    }
    struct tn_buf b;
    tn_buf_init(&b, 16);
    assert_int_equal(tn_page_signin(&b, &SIGNIN), TN_ERR_LIMIT);
    assert_int_equal(tn_page_message(&b, "x", "y", false), TN_ERR_LIMIT);
    assert_int_equal(b.len, 0);
    tn_buf_deinit(&b);
}

static void test_required_fields(void **state)
{
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    struct tn_page_signin s = SIGNIN;
    s.csrf = NULL;
    assert_int_equal(tn_page_signin(&b, &s), TN_ERR_INTERNAL);
    assert_int_equal(tn_page_signin(&b, NULL), TN_ERR_INTERNAL);
    struct tn_page_consent c = CONSENT;
    c.request_id = NULL;
    assert_int_equal(tn_page_consent(&b, &c), TN_ERR_INTERNAL);
    c = CONSENT;
    c.redirect_host = NULL;
    assert_int_equal(tn_page_consent(&b, &c), TN_ERR_INTERNAL);
    c = CONSENT;
    c.scopes = NULL;
    assert_int_equal(tn_page_consent(&b, &c), TN_ERR_INTERNAL);
    struct tn_page_scope bad[] = {{NULL, "x"}};
    c.scopes = bad;
    c.n_scopes = 1;
    assert_int_equal(tn_page_consent(&b, &c), TN_ERR_INTERNAL);
    struct tn_page_setup u = SETUP;
    u.token = NULL;
    assert_int_equal(tn_page_setup(&b, &u), TN_ERR_INTERNAL);
    assert_int_equal(tn_page_message(&b, NULL, "m", true), TN_ERR_INTERNAL);
    assert_int_equal(b.len, 0);
    tn_buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_signin_escapes_client_strings),
        cmocka_unit_test(test_signin_form),  cmocka_unit_test(test_signin_providers),
        cmocka_unit_test(test_signin_sso),   cmocka_unit_test(test_consent),
        cmocka_unit_test(test_setup),        cmocka_unit_test(test_message),
        cmocka_unit_test(test_markup_rules), cmocka_unit_test(test_csp),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_required_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
