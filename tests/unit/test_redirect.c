/* Redirect URIs (src/auth/as/redirect.c): which requested URIs match a registered one, and
 * which URIs may be registered at all, each judged by the host a browser would visit.
 *
 * The two tables between the "oracle-table" markers are also read by
 * tests/unit/redirect-oracle.mjs, which runs every URI through Node's WHATWG `new URL()`
 * and checks the browser-host column (and the host of every accepted registration). Here
 * the same column is reproduced by tests/fuzz/whatwg_host.h, the fuzz target's oracle, so
 * the three agree. Keep the strings to the escapes C and JSON share (\t \n \\ \"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/as/redirect.h"
#include "core/buf.h"

#include "../fuzz/whatwg_host.h"

#define MATCH true
#define NO false

/* oracle-table-begin registered */
#define R_V4 "http://127.0.0.1/cb"
#define R_V6 "http://[::1]/cb"
#define R_LH "http://localhost/cb"
#define R_WEB "https://app.example.com/cb"
#define R_WEBQ "https://app.example.com/cb?tenant=a"
#define R_APP "cursor://anysphere.cursor-mcp/oauth/callback"
/* oracle-table-end registered */

struct match_case {
    const char *registered;
    const char *requested;
    bool match;
    /* the hostname WHATWG's parser (Node's new URL()) gives `requested`; "!" when it fails */
    const char *browser_host;
};

static const struct match_case match_cases[] = {
    /* oracle-table-begin match */
    /* userinfo in front of every loopback spelling: the browser goes to what follows '@' */
    {R_V6, "http://[::1]@evil.example/cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1:@3.99/cb", NO, "3.0.0.99"},
    {R_V4, "http://127.0.0.1@evil.example/cb", NO, "evil.example"},
    {R_LH, "http://localhost@evil.example/cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1:5555@evil.example/cb", NO, "evil.example"},
    {R_V6, "http://[::1]:80@evil.example/cb", NO, "evil.example"},
    {R_V6, "http://[::1]:@evil.example/cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1:x@evil.example/cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1:80:@evil.example/cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1@127.0.0.1@evil.example/cb", NO, "evil.example"},
    {R_WEB, "https://app.example.com@evil.example/cb", NO, "evil.example"},
    {R_WEB, "https://app.example.com:443@evil.example/cb", NO, "evil.example"},
    {R_APP, "cursor://anysphere.cursor-mcp@evil.example/oauth/callback", NO, "evil.example"},
    /* empty and non-digit ports */
    {R_V4, "http://127.0.0.1:/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:abc/cb", NO, "!"},
    {R_V4, "http://127.0.0.1:+80/cb", NO, "!"},
    {R_V4, "http://127.0.0.1:0x50/cb", NO, "!"},
    {R_V4, "http://127.0.0.1:65536/cb", NO, "!"},
    {R_V4, "http://127.0.0.1:0080/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:0/cb", NO, "127.0.0.1"},
    /* percent-encoded '@', '/' and '.' */
    {R_V4, "http://127.0.0.1%40evil.example/cb", NO, "!"},
    {R_V4, "http://127.0.0.1%2F@evil.example/cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1%2f.evil.example/cb", NO, "!"},
    {R_V4, "http://127.0.0.1%2eevil.example/cb", NO, "127.0.0.1.evil.example"},
    {R_V4, "http://127.0.0.1:5555/cb%2F..%2F..%2Fevil", NO, "127.0.0.1"},
    {R_LH, "http://%6cocalhost/cb", NO, "localhost"},
    /* backslash: a path separator to a browser */
    {R_V4, "http://127.0.0.1\\@evil.example/cb", NO, "127.0.0.1"},
    {R_V4, "http://evil.example\\@127.0.0.1/cb", NO, "evil.example"},
    {R_V4, "http:\\\\evil.example\\cb", NO, "evil.example"},
    {R_V4, "http://127.0.0.1:5555\\cb", NO, "127.0.0.1"},
    /* missing or extra slashes after the scheme */
    {R_V4, "http:127.0.0.1/cb", NO, "127.0.0.1"},
    {R_V4, "http:/evil.example/cb", NO, "evil.example"},
    {R_V4, "http:///evil.example/cb", NO, "evil.example"},
    /* dot segments: the browser resolves them */
    {R_V4, "http://127.0.0.1/cb/../evil", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1/cb/%2e%2E/evil", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1/./cb", NO, "127.0.0.1"},
    /* an extra, missing or different query; the path compared exactly */
    {R_V4, "http://127.0.0.1/cb?x=1", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:5555/cb?", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:5555?@evil.example/cb", NO, "127.0.0.1"},
    {R_WEBQ, "https://app.example.com/cb?tenant=a&tenant=b", NO, "app.example.com"},
    {R_WEBQ, "https://app.example.com/cb", NO, "app.example.com"},
    {R_WEBQ, "https://app.example.com/cb?tenant=b", NO, "app.example.com"},
    {R_V4, "http://127.0.0.1:5555/cb/", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:5555/CB", NO, "127.0.0.1"},
    {R_WEB, "https://app.example.com/cb/evil", NO, "app.example.com"},
    /* fragments */
    {R_V4, "http://127.0.0.1/cb#x", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1/cb#@evil.example", NO, "127.0.0.1"},
    {R_WEB, "https://app.example.com/cb#", NO, "app.example.com"},
    /* suffix and prefix domains */
    {R_V4, "http://127.0.0.1.evil.example/cb", NO, "127.0.0.1.evil.example"},
    {R_LH, "http://localhost.evil.example/cb", NO, "localhost.evil.example"},
    {R_WEB, "https://app.example.com.evil.example/cb", NO, "app.example.com.evil.example"},
    {R_WEB, "https://evilapp.example.com/cb", NO, "evilapp.example.com"},
    /* IPv4 in hex, octal, decimal and short forms: some are loopback to a browser, some not */
    {R_V4, "http://0x7f.0.0.1/cb", NO, "127.0.0.1"},
    {R_V4, "http://0x7f000001/cb", NO, "127.0.0.1"},
    {R_V4, "http://2130706433/cb", NO, "127.0.0.1"},
    {R_V4, "http://0177.0.0.1/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.1/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.1/cb", NO, "127.0.0.1"},
    {R_V4, "http://3.99/cb", NO, "3.0.0.99"},
    {R_V4, "http://127.0.0.1./cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.01/cb", NO, "127.0.0.1"},
    {R_V4, "http://0x7f.1/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.0x1/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.256/cb", NO, "!"},
    {R_V4, "http://1.2.3.4.5/cb", NO, "!"},
    {R_WEB, "https://app.example.0x1/cb", NO, "!"},
    /* IPv6 spellings of loopback and of IPv4 */
    {R_V6, "http://[0:0:0:0:0:0:0:1]/cb", NO, "[::1]"},
    {R_V6, "http://[::0:1]/cb", NO, "[::1]"},
    {R_V6, "http://[::ffff:127.0.0.1]/cb", NO, "[::ffff:7f00:1]"},
    {R_V6, "http://[::1]evil.example/cb", NO, "!"},
    {R_V6, "http://[::1%25eth0]/cb", NO, "!"},
    /* the three loopback spellings never stand in for each other */
    {R_V4, "http://localhost/cb", NO, "localhost"},
    {R_V4, "http://[::1]/cb", NO, "[::1]"},
    {R_V6, "http://127.0.0.1:5555/cb", NO, "127.0.0.1"},
    {R_LH, "http://127.0.0.1/cb", NO, "127.0.0.1"},
    {R_LH, "http://[::1]:8080/cb", NO, "[::1]"},
    /* case, trailing dot, whitespace and non-ASCII that a browser normalises away */
    {R_LH, "http://LOCALHOST/cb", NO, "localhost"},
    {R_LH, "http://localhost./cb", NO, "localhost."},
    {R_V4, "HTTP://127.0.0.1/cb", NO, "127.0.0.1"},
    {R_WEB, "https://APP.example.com/cb", NO, "app.example.com"},
    {R_WEB, "https://app.example.com./cb", NO, "app.example.com."},
    {R_V4, "http://127.0.0.1\t/cb", NO, "127.0.0.1"},
    {R_V4, "http://127.0.0.1/c\nb", NO, "127.0.0.1"},
    {R_V4, " http://127.0.0.1/cb", NO, "127.0.0.1"},
    {R_V4, "http://１２７.０.０.１/cb", NO, "127.0.0.1"},
    /* scheme, port of https, private-use schemes: exact only */
    {R_V4, "https://127.0.0.1/cb", NO, "127.0.0.1"},
    {R_WEB, "http://app.example.com/cb", NO, "app.example.com"},
    {R_WEB, "https://app.example.com:443/cb", NO, "app.example.com"},
    {R_WEB, "https://app.example.com:8443/cb", NO, "app.example.com"},
    {R_APP, "Cursor://anysphere.cursor-mcp/oauth/callback", NO, "anysphere.cursor-mcp"},
    {R_APP, "cursor://anysphere.cursor-mcp:1/oauth/callback", NO, "anysphere.cursor-mcp"},
    /* what must keep working: exact matches, and another port on loopback */
    {R_V4, "http://127.0.0.1/cb", MATCH, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:5555/cb", MATCH, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:1/cb", MATCH, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:65535/cb", MATCH, "127.0.0.1"},
    {R_V4, "http://127.0.0.1:80/cb", MATCH, "127.0.0.1"},
    {R_V6, "http://[::1]:49152/cb", MATCH, "[::1]"},
    {R_LH, "http://localhost:8080/cb", MATCH, "localhost"},
    {R_WEB, "https://app.example.com/cb", MATCH, "app.example.com"},
    {R_WEBQ, "https://app.example.com/cb?tenant=a", MATCH, "app.example.com"},
    {R_APP, "cursor://anysphere.cursor-mcp/oauth/callback", MATCH, "anysphere.cursor-mcp"},
    {"http://127.0.0.1:33418/cb?x=1", "http://127.0.0.1:40000/cb?x=1", MATCH, "127.0.0.1"},
    /* oracle-table-end match */
};

struct reg_case {
    const char *uri;
    const char *reason; /* NULL: accepted */
    const char *host;   /* accepted: the host parsed, which is the browser's hostname */
};

static const struct reg_case reg_cases[] = {
    /* oracle-table-begin register */
    {"http://127.0.0.1/cb", NULL, "127.0.0.1"},
    {"http://127.0.0.1:33418/callback", NULL, "127.0.0.1"},
    {"http://[::1]/cb", NULL, "[::1]"},
    {"http://localhost:8080/cb", NULL, "localhost"},
    {"https://app.example.com/oauth/cb?x=1&y=%2F", NULL, "app.example.com"},
    {"https://app.example.com", NULL, "app.example.com"},
    {"https://203.0.113.5:8443/cb", NULL, "203.0.113.5"},
    {"https://0.0.0.0/cb", NULL, "0.0.0.0"},
    {"https://a-b.c0.example/.well-known/cb/.../x", NULL, "a-b.c0.example"},
    {"https://127.0.0.1.evil.example/cb", NULL, "127.0.0.1.evil.example"},
    {"https://app.example.com/cb@x:y;z=1", NULL, "app.example.com"},
    {"cursor://anysphere.cursor-mcp/oauth/callback", NULL, "anysphere.cursor-mcp"},
    {"com.example.app:/oauth2redirect", NULL, ""},
    {"", "must be 1 to 1000 characters", NULL},
    {"http://127.0.0.1/c b", "must not contain spaces, control characters or non-ASCII characters",
     NULL},
    {"http://127.0.0.1/cb\t", "must not contain spaces, control characters or non-ASCII characters",
     NULL},
    {"http://127.0.0.1\n/cb", "must not contain spaces, control characters or non-ASCII characters",
     NULL},
    {"https://bücher.example/cb",
     "must not contain spaces, control characters or non-ASCII characters", NULL},
    {"http://127.0.0.1\\cb", "must not contain a backslash", NULL},
    {"https://app.example.com/cb#x", "must not contain a fragment", NULL},
    {"https://app.example.com/cb#", "must not contain a fragment", NULL},
    {"//app.example.com/cb", "is not an absolute URI", NULL},
    {"127.0.0.1/cb", "is not an absolute URI", NULL},
    {"1app://cb", "is not an absolute URI", NULL},
    {"my_app://cb", "is not an absolute URI", NULL},
    {"HTTPS://app.example.com/cb", "must have a lowercase scheme", NULL},
    {"javascript:alert(1)", "uses a scheme that is never allowed", NULL},
    {"data:text/html,x", "uses a scheme that is never allowed", NULL},
    {"file:///etc/passwd", "uses a scheme that is never allowed", NULL},
    {"view-source:https://app.example.com/", "uses a scheme that is never allowed", NULL},
    /* schemes that open a web browser at the URL inside them */
    {"microsoft-edge:https://evil.example/cb", "uses a scheme that is never allowed", NULL},
    {"x-safari-https://evil.example/cb", "uses a scheme that is never allowed", NULL},
    {"googlechromes://evil.example/cb", "uses a scheme that is never allowed", NULL},
    {"intent://evil.example/cb", "uses a scheme that is never allowed", NULL},
    {"firefox:https://evil.example/cb", "uses a scheme that is never allowed", NULL},
    {"http://[::1]@evil.example/cb", "must not contain user information", NULL},
    {"http://127.0.0.1:@3.99/cb", "must not contain user information", NULL},
    {"https://user:pw@app.example.com/cb", "must not contain user information", NULL},
    {"https://@app.example.com/cb", "must not contain user information", NULL},
    {"cursor://me@anysphere.cursor-mcp/cb", "must not contain user information", NULL},
    {"https:///cb", "has no host", NULL},
    {"https:app.example.com/cb", "has no host", NULL},
    {"http:/127.0.0.1/cb", "has no host", NULL},
    {"https://:443/cb", "has no host", NULL},
    {"myapp://", "has no host", NULL},
    {"myapp:", "has no path", NULL},
    {"myapp:?x", "has no path", NULL},
    {"http://127.0.0.1:/cb", "has an empty port", NULL},
    {"http://127.0.0.1:8o/cb", "has a port that is not a number", NULL},
    {"http://[::1]:-1/cb", "has a port that is not a number", NULL},
    {"http://127.0.0.1:0/cb", "has a port outside 1-65535 or with a leading zero", NULL},
    {"http://127.0.0.1:65536/cb", "has a port outside 1-65535 or with a leading zero", NULL},
    {"http://127.0.0.1:080/cb", "has a port outside 1-65535 or with a leading zero", NULL},
    {"http://127.0.0.1:99999999999999999999/cb",
     "has a port outside 1-65535 or with a leading zero", NULL},
    {"http://evil.example/cb", "may use plain http only for loopback (127.0.0.1, [::1], localhost)",
     NULL},
    {"http://127.0.0.2/cb", "may use plain http only for loopback (127.0.0.1, [::1], localhost)",
     NULL},
    {"http://localhost.evil.example/cb",
     "may use plain http only for loopback (127.0.0.1, [::1], localhost)", NULL},
    {"http://2130706433/cb",
     "has an IPv4 address that is not four decimal numbers 0-255 without leading zeros", NULL},
    {"http://127.1/cb",
     "has an IPv4 address that is not four decimal numbers 0-255 without leading zeros", NULL},
    {"http://0177.0.0.1/cb",
     "has an IPv4 address that is not four decimal numbers 0-255 without leading zeros", NULL},
    {"http://127.0.0.1./cb",
     "has an IPv4 address that is not four decimal numbers 0-255 without leading zeros", NULL},
    {"https://256.0.0.1/cb",
     "has an IPv4 address that is not four decimal numbers 0-255 without leading zeros", NULL},
    {"http://0x7f.0.0.1/cb", "has a host name whose last label does not start with a letter", NULL},
    {"https://app.example.123/cb", "has a host name whose last label does not start with a letter",
     NULL},
    {"https://app.example.0x1/cb", "has a host name whose last label does not start with a letter",
     NULL},
    {"http://LOCALHOST/cb", "has uppercase letters in its host", NULL},
    {"https://App.example.com/cb", "has uppercase letters in its host", NULL},
    {"http://localhost./cb", "has a host name ending in a dot", NULL},
    {"https://app..example.com/cb", "has an empty label in its host name", NULL},
    {"https://.app.example.com/cb", "has an empty label in its host name", NULL},
    {"https://-app.example.com/cb", "has a host name label that starts or ends with '-'", NULL},
    {"https://app-.example.com/cb", "has a host name label that starts or ends with '-'", NULL},
    {"https://app%2eexample.com/cb", "has a percent escape in its host", NULL},
    {"http://%6cocalhost/cb", "has a percent escape in its host", NULL},
    {"https://app_x.example.com/cb", "has a character that is not allowed in a host name", NULL},
    {"https://app.example.com;x/cb", "has a character that is not allowed in a host name", NULL},
    {"https://[2001:db8::1]/cb", "may use an IPv6 address only as [::1]", NULL},
    {"http://[0:0:0:0:0:0:0:1]/cb", "may use an IPv6 address only as [::1]", NULL},
    {"http://[::1/cb", "has an unclosed '[' in its host", NULL},
    {"http://[::1]x/cb", "has characters after its host", NULL},
    {"http://127.0.0.1/cb/../evil", "must not contain dot segments (. or ..)", NULL},
    {"http://127.0.0.1/cb/%2e%2E/evil", "must not contain dot segments (. or ..)", NULL},
    {"http://127.0.0.1/cb/.%2e", "must not contain dot segments (. or ..)", NULL},
    {"https://app.example.com/./cb", "must not contain dot segments (. or ..)", NULL},
    {"https://app.example.com/cb/.", "must not contain dot segments (. or ..)", NULL},
    {"https://app.example.com/cb/..?x=1", "must not contain dot segments (. or ..)", NULL},
    {"com.example.app:..", "must not contain dot segments (. or ..)", NULL},
    {"http://127.0.0.1/c%zz", "has a malformed percent escape", NULL},
    {"http://127.0.0.1/c%4", "has a malformed percent escape", NULL},
    {"https://app.example.com/cb?x=%", "has a malformed percent escape", NULL},
    {"http://127.0.0.1/c<b", "has a character that must be percent-encoded", NULL},
    {"https://app.example.com/cb?a=\"x\"", "has a character that must be percent-encoded", NULL},
    {"https://app.example.com/cb?a=[1]", "has a character that must be percent-encoded", NULL},
    /* oracle-table-end register */
};

static void test_match_table(void **state)
{
    size_t n = sizeof match_cases / sizeof match_cases[0], hostile = 0;
    for (size_t i = 0; i < n; i++) {
        const struct match_case *c = &match_cases[i];
        bool got = tn_redirect_matches(c->registered, c->requested);
        if (got != c->match)
            fail_msg("row %zu: %s for %s: expected %s", i, c->requested, c->registered,
                     c->match ? "a match" : "no match");
        hostile += !c->match;
        /* a match sends the browser to the registered host, by the column Node checks */
        if (c->match) {
            struct tn_redirect_uri r;
            assert_int_equal(tn_redirect_parse(c->registered, strlen(c->registered), &r, NULL),
                             TN_OK);
            char host[256];
            snprintf(host, sizeof host, "%.*s", (int)r.host.len, r.host.ptr);
            assert_string_equal(c->browser_host, host);
        }
        /* the fuzz oracle reads every row as Node does (or says it cannot: IDNA) */
        struct whatwg_url w;
        enum whatwg_result wr = whatwg_parse(c->requested, strlen(c->requested), &w);
        if (wr == WHATWG_IDNA) {
            bool non_ascii = false;
            for (const char *p = c->requested; *p; p++)
                non_ascii |= (unsigned char)*p >= 0x80;
            if (!non_ascii)
                fail_msg("row %zu: %s: the oracle gave up on an ASCII host", i, c->requested);
            continue;
        }
        const char *got_host = wr == WHATWG_FAILURE ? "!" : w.host;
        if (strcmp(got_host, c->browser_host))
            fail_msg("row %zu: %s: whatwg_host.h reads host '%s', the table says '%s'", i,
                     c->requested, got_host, c->browser_host);
    }
    assert_true(hostile >= 30);
}

static void test_register_table(void **state)
{
    for (size_t i = 0; i < sizeof reg_cases / sizeof reg_cases[0]; i++) {
        const struct reg_case *c = &reg_cases[i];
        struct tn_buf why;
        tn_buf_init(&why, 1024);
        enum tn_err rc = tn_redirect_validate(c->uri, &why);
        if (c->reason) {
            if (rc != TN_ERR_BAD_INPUT || !why.data || strcmp(why.data, c->reason))
                fail_msg("row %zu: %s: expected '%s', got %d '%s'", i, c->uri, c->reason, rc,
                         why.data ? why.data : "");
            /* the parser resets its output on failure */
            struct tn_redirect_uri u;
            memset(&u, 0x5a, sizeof u);
            const char *w = "unset";
            assert_int_equal(tn_redirect_parse(c->uri, strlen(c->uri), &u, &w), TN_ERR_BAD_INPUT);
            assert_string_equal(w, c->reason);
            assert_null(u.host.ptr);
            assert_int_equal(u.port, 0);
        } else {
            if (rc != TN_OK)
                fail_msg("row %zu: %s: refused: %s", i, c->uri, why.data ? why.data : "");
            struct tn_redirect_uri u;
            const char *w = "unset";
            assert_int_equal(tn_redirect_parse(c->uri, strlen(c->uri), &u, &w), TN_OK);
            assert_null(w);
            char host[256];
            snprintf(host, sizeof host, "%.*s", (int)u.host.len, u.host.ptr ? u.host.ptr : "");
            assert_string_equal(host, c->host);
            /* what was accepted matches itself, and the browser visits the parsed host */
            assert_true(tn_redirect_matches(c->uri, c->uri));
            struct whatwg_url ww;
            assert_int_equal(whatwg_parse(c->uri, strlen(c->uri), &ww), WHATWG_OK);
            assert_false(ww.userinfo);
            assert_string_equal(ww.host, c->host);
        }
        tn_buf_deinit(&why);
    }
}

static void test_length_limit(void **state)
{
    char uri[1100];
    memset(uri, 0, sizeof uri);
    strcpy(uri, "https://app.example.com/");
    size_t n = strlen(uri);
    memset(uri + n, 'a', TN_REDIRECT_MAX - n);
    struct tn_buf why;
    tn_buf_init(&why, 1024);
    assert_int_equal(tn_redirect_validate(uri, &why), TN_OK); /* exactly 1000 */
    uri[TN_REDIRECT_MAX] = 'a';
    assert_int_equal(tn_redirect_validate(uri, &why), TN_ERR_BAD_INPUT);
    assert_string_equal(why.data, "must be 1 to 1000 characters");
    tn_buf_deinit(&why);
    /* a 64-character label is one too many, 254 characters of host too */
    char h[400];
    snprintf(h, sizeof h, "https://%0*d.example/cb", 64, 0);
    memset(h + 8, 'a', 64);
    const char *w = NULL;
    struct tn_redirect_uri u;
    assert_int_equal(tn_redirect_parse(h, strlen(h), &u, &w), TN_ERR_BAD_INPUT);
    assert_string_equal(w, "has a host name label longer than 63 characters");
    h[8] = '.';
    memmove(h + 8, h + 9, strlen(h + 9) + 1); /* 63 'a': fine */
    assert_int_equal(tn_redirect_parse(h, strlen(h), &u, &w), TN_OK);
    char big[300] = "https://";
    for (int i = 0; i < 4; i++)
        strcat(big, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."); /* 63 */
    strcat(big, "ab/cb"); /* 254 characters of host */
    assert_int_equal(tn_redirect_parse(big, strlen(big), &u, &w), TN_ERR_BAD_INPUT);
    assert_string_equal(w, "has a host name longer than 253 characters");
    /* the parser reads only its (ptr, len): a valid prefix of a longer buffer */
    const char *buf = "http://127.0.0.1/cb@evil.example";
    assert_int_equal(tn_redirect_parse(buf, 19, &u, &w), TN_OK);
    assert_int_equal(u.path.len, 3);
}

static void test_parts(void **state)
{
    struct tn_redirect_uri u;
    const char *s = "http://[::1]:49152/a/b?x=1&y=2";
    assert_int_equal(tn_redirect_parse(s, strlen(s), &u, NULL), TN_OK);
    assert_int_equal(u.kind, TN_REDIRECT_LOOPBACK);
    assert_true(tn_span_eq(u.scheme, "http"));
    assert_true(tn_span_eq(u.host, "[::1]"));
    assert_int_equal(u.port, 49152);
    assert_true(tn_span_eq(u.path, "/a/b"));
    assert_true(tn_span_eq(u.query, "x=1&y=2"));
    s = "https://app.example.com";
    assert_int_equal(tn_redirect_parse(s, strlen(s), &u, NULL), TN_OK);
    assert_int_equal(u.kind, TN_REDIRECT_HTTPS);
    assert_int_equal(u.port, 0);
    assert_int_equal(u.path.len, 0);
    assert_null(u.query.ptr);
    s = "com.example.app:/cb?";
    assert_int_equal(tn_redirect_parse(s, strlen(s), &u, NULL), TN_OK);
    assert_int_equal(u.kind, TN_REDIRECT_APP);
    assert_null(u.host.ptr);
    assert_true(tn_span_eq(u.path, "/cb"));
    assert_non_null(u.query.ptr);
    assert_int_equal(u.query.len, 0);
}

static void test_loopback_and_host(void **state)
{
    assert_true(tn_redirect_is_loopback("http://127.0.0.1:5555/cb"));
    assert_true(tn_redirect_is_loopback("http://[::1]/cb"));
    assert_true(tn_redirect_is_loopback("http://localhost/cb"));
    /* the forms that fooled the old check, and look-alikes */
    assert_false(tn_redirect_is_loopback("http://[::1]@evil.example/cb"));
    assert_false(tn_redirect_is_loopback("http://127.0.0.1:@3.99/cb"));
    assert_false(tn_redirect_is_loopback("http://127.0.0.1\\@evil.example/cb"));
    assert_false(tn_redirect_is_loopback("https://127.0.0.1/cb"));
    assert_false(tn_redirect_is_loopback("myapp://127.0.0.1/cb"));

    char h[128];
    tn_redirect_host("http://127.0.0.1:5555/cb", h, sizeof h);
    assert_string_equal(h, "127.0.0.1");
    tn_redirect_host("https://claude.ai:8443/cb", h, sizeof h);
    assert_string_equal(h, "claude.ai");
    /* a private-use URI's authority is not a web host: never shown as one (it would earn
     * a "Verified" badge for claude.ai) */
    tn_redirect_host("evilapp://claude.ai/cb", h, sizeof h);
    assert_string_equal(h, "evilapp: (an app on this device)");
    tn_redirect_host("com.example.app:/cb", h, sizeof h);
    assert_string_equal(h, "com.example.app: (an app on this device)");
    tn_redirect_host("http://[::1]@evil.example/cb", h, sizeof h);
    assert_string_equal(h, "(invalid)");
    tn_redirect_host("https://app.example.com/cb", h, 4);
    assert_string_equal(h, "app");
}

static void test_stored_before_the_rules(void **state)
{
    /* a URI stored under the old, looser rules matches nothing, not even itself */
    assert_false(tn_redirect_matches("http://127.0.0.1:/cb", "http://127.0.0.1:/cb"));
    assert_false(tn_redirect_matches("http://LOCALHOST/cb", "http://LOCALHOST/cb"));
    assert_false(tn_redirect_matches("https://App.example.com/cb", "https://App.example.com/cb"));
    assert_false(tn_redirect_matches("http://127.0.0.1/cb/../x", "http://127.0.0.1:9/cb/../x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),       cmocka_unit_test(test_register_table),
        cmocka_unit_test(test_length_limit),      cmocka_unit_test(test_parts),
        cmocka_unit_test(test_loopback_and_host), cmocka_unit_test(test_stored_before_the_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
