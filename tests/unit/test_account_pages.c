/* The /account page's templates (account_pages.c): hostile names of people, apps and
 * identities escaped everywhere they appear, the forms and their fields, what depends on
 * the account (password set or not, passwords off, no apps), the CSP's style hash, and
 * failures (a missing field, a full buffer) leaving the buffer as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "auth/as/account_pages.h"

#define XSS "<script>alert(1)</script>"
#define XSS_ESC "&lt;script&gt;alert(1)&lt;/script&gt;"

static const struct tn_page_account_app APPS[] = {
    {.client_id = "cli_" XSS,
     .name = "Claude " XSS,
     .where = "loopback",
     .loopback = true,
     .scope = "notes:read notes:write",
     .first_used = "2026-12-01",
     .last_used = "2026-12-06"},
    /* no name: the id (a metadata document URL with a quote) is shown */
    {.client_id = "https://app.example/c.json?a=\"b\"&c=<d>",
     .name = "",
     .where = "app.example\" onmouseover=\"x",
     .scope = "notes:read <b>",
     .first_used = "2026-11-01",
     .last_used = "never"},
    /* a bidirectional override in a name cannot reorder the page */
    {.client_id = "cli_bidi",
     .name = "Evil\xe2\x80\xae"
             "gnp.exe",
     .where = "evil.example",
     .scope = NULL,
     .first_used = "2026-10-01",
     .last_used = "2026-10-02"},
};

static const struct tn_page_account_identity IDS[] = {
    {"https://idp.example/" XSS, "ann'" XSS "@example.com"},
    {"https://accounts.google.com", NULL},
};

static struct tn_page_account page(void)
{
    return (struct tn_page_account){
        .csrf = "c-\"456",
        .name = "Ann " XSS,
        .email = "ann@example.com",
        .org = "Acme & <Co>",
        .role = "editor",
        .role_allows = "read and write your notes",
        .password_method = true,
        .password_set = true,
        .identities = IDS,
        .n_identities = 2,
        .apps = APPS,
        .n_apps = 3,
        .notice = "Done " XSS,
        .error = NULL,
        .password_error = "Wrong " XSS,
    };
}

static size_t count(const char *h, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(h, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *render(const struct tn_page_account *p)
{
    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    assert_int_equal(tn_page_account(&b, p), TN_OK);
    return b.data;
}

static void test_escaping(void **state)
{
    struct tn_page_account p = page();
    char *h = render(&p);
    assert_int_equal(count(h, "<script"), 0);
    assert_null(strstr(h, "onmouseover=\"x"));
    assert_int_equal(count(h, "<b>"), 0);
    assert_int_equal(count(h, "\xe2\x80\xae"), 0);
    /* the person, the notice and the password error */
    assert_int_equal(count(h, "Ann " XSS_ESC), 1);
    assert_int_equal(count(h, "<p class=\"note ok\" role=\"status\">Done " XSS_ESC "</p>"), 1);
    assert_int_equal(count(h, "role=\"alert\">Wrong " XSS_ESC "</p>"), 1);
    assert_int_equal(count(h, "<dd>Acme &amp; &lt;Co&gt;</dd>"), 1);
    /* each app: name in the list and in its button, the id in the hidden field */
    assert_int_equal(count(h, "<strong><bdi>Claude " XSS_ESC "</bdi></strong>"), 1);
    assert_int_equal(count(h, "<span class=\"vh\"> access of Claude " XSS_ESC "</span>"), 1);
    assert_int_equal(count(h, "name=\"client_id\" value=\"cli_" XSS_ESC "\""), 1);
    const char *url = "https://app.example/c.json?a=&quot;b&quot;&amp;c=&lt;d&gt;";
    char want[256];
    snprintf(want, sizeof want, "<strong><bdi>%s</bdi></strong>", url);
    assert_int_equal(count(h, want), 1);
    snprintf(want, sizeof want, "name=\"client_id\" value=\"%s\"", url);
    assert_int_equal(count(h, want), 1);
    assert_int_equal(count(h, "Web: <code>app.example&quot; onmouseover=&quot;x</code>"), 1);
    assert_int_equal(count(h, "<code class=\"tag\">&lt;b&gt;</code>"), 1);
    assert_int_equal(count(h, "Evil&#xFFFD;gnp.exe"), 2);
    /* identities */
    assert_int_equal(count(h, "<code>https://idp.example/" XSS_ESC "</code> as ann&#39;" XSS_ESC
                              "@example.com</li>"),
                     1);
    assert_int_equal(count(h, "<code>https://accounts.google.com</code></li>"), 1);
    /* the token in every form */
    assert_int_equal(count(h, "name=\"csrf\" value=\"c-&quot;456\""), 3 + 3);
    free(h);
}

static void test_forms(void **state)
{
    struct tn_page_account p = page();
    char *h = render(&p);
    assert_int_equal(count(h, "<form method=\"post\" action=\"/account/revoke\" class=\"inline\">"),
                     3);
    assert_int_equal(count(h, "<form method=\"post\" action=\"/account/password\">"), 1);
    assert_int_equal(count(h, "<form method=\"post\" action=\"/account/signout\">"), 1);
    assert_int_equal(count(h, "<form method=\"post\" action=\"/account/signout-everywhere\">"), 1);
    assert_int_equal(count(h, "<form"), 6);
    assert_int_equal(count(h, "name=\"current\""), 1);
    assert_int_equal(count(h, "name=\"password\""), 1);
    assert_int_equal(count(h, "name=\"password2\""), 1);
    assert_int_equal(count(h, "Change your password"), 1);
    assert_int_equal(count(h, "<li>Password: set</li>"), 1);
    assert_int_equal(count(h, "<span>Runs on your computer</span>"), 1);
    assert_int_equal(count(h, "<code>loopback</code>"), 0);
    /* no script, one style block, no style attribute, every input labelled or hidden */
    assert_int_equal(count(h, "<script"), 0);
    assert_int_equal(count(h, "<style"), 1);
    assert_int_equal(count(h, " style="), 0);
    for (const char *l = strstr(h, "<input id=\""); l; l = strstr(l + 1, "<input id=\"")) {
        char id[64], want[96];
        snprintf(id, sizeof id, "%.*s", (int)strcspn(l + 11, "\""), l + 11);
        snprintf(want, sizeof want, "<label for=\"%s\">", id);
        assert_non_null(strstr(h, want));
    }
    free(h);

    /* no password yet: "Set", no current field; passwords off: no form at all */
    p.password_set = false;
    h = render(&p);
    assert_int_equal(count(h, "name=\"current\""), 0);
    assert_int_equal(count(h, "<h2 id=\"pw\">Set a password</h2>"), 1);
    assert_int_equal(count(h, "<li>Password: not set</li>"), 1);
    free(h);
    p.password_method = false;
    h = render(&p);
    assert_int_equal(count(h, "/account/password"), 0);
    free(h);
    /* no apps, no org, no identities */
    p.n_apps = 0;
    p.apps = NULL;
    p.org = NULL;
    p.n_identities = 0;
    h = render(&p);
    assert_int_equal(count(h, "No app holds access to your notes."), 1);
    assert_int_equal(count(h, "/account/revoke"), 0);
    assert_int_equal(count(h, "<dt>Organization</dt><dd>None</dd>"), 1);
    free(h);
}

static void test_required_and_full(void **state)
{
    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    tn_buf_puts(&b, "keep");
    struct tn_page_account p = page();
    struct tn_page_account bad;
    bad = p, bad.csrf = NULL;
    assert_int_equal(tn_page_account(&b, &bad), TN_ERR_INTERNAL);
    bad = p, bad.name = NULL;
    assert_int_equal(tn_page_account(&b, &bad), TN_ERR_INTERNAL);
    bad = p, bad.role_allows = NULL;
    assert_int_equal(tn_page_account(&b, &bad), TN_ERR_INTERNAL);
    bad = p, bad.apps = NULL;
    assert_int_equal(tn_page_account(&b, &bad), TN_ERR_INTERNAL);
    struct tn_page_account_app app = APPS[0];
    app.where = NULL;
    bad = p, bad.apps = &app, bad.n_apps = 1;
    assert_int_equal(tn_page_account(&b, &bad), TN_ERR_INTERNAL);
    assert_int_equal(tn_page_account(&b, NULL), TN_ERR_INTERNAL);
    assert_int_equal(tn_page_account_message(&b, NULL, "x", false), TN_ERR_INTERNAL);
    assert_string_equal(b.data, "keep");
    tn_buf_deinit(&b);
    /* a page that does not fit the cap: TN_ERR_LIMIT, the buffer as it was */
    tn_buf_init(&b, 2048);
    tn_buf_puts(&b, "keep");
    assert_int_equal(tn_page_account(&b, &p), TN_ERR_LIMIT);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    tn_buf_deinit(&b);
}

static void test_message(void **state)
{
    struct tn_buf b;
    tn_buf_init(&b, 1 << 16);
    assert_int_equal(tn_page_account_message(&b, "Signed out " XSS, "Bye " XSS, true), TN_OK);
    assert_int_equal(count(b.data, "<script"), 0);
    assert_int_equal(count(b.data, "<h1>Signed out " XSS_ESC "</h1>"), 1);
    assert_int_equal(count(b.data, "<p class=\"note error\" role=\"alert\">Bye " XSS_ESC "</p>"),
                     1);
    assert_int_equal(count(b.data, "<a href=\"/account\">Sign in again</a>"), 1);
    tn_buf_deinit(&b);
}

static void test_csp(void **state)
{
    const char *csp = tn_account_pages_csp();
    assert_ptr_equal(csp, tn_account_pages_csp());
    struct tn_page_account p = page();
    char *h = render(&p);
    const char *s = strstr(h, "<style>") + strlen("<style>");
    const char *e = strstr(s, "</style>");
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, (const unsigned char *)s, (unsigned long long)(e - s));
    char b64[64], want[256];
    sodium_bin2base64(b64, sizeof b64, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
    snprintf(want, sizeof want,
             "default-src 'none'; style-src 'sha256-%s'; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'",
             b64);
    assert_string_equal(csp, want);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_required_and_full),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_csp),
    };
    return cmocka_run_group_tests_name("account pages", tests, NULL, NULL);
}
