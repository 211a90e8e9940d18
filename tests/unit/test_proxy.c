/* TRUSTED_PROXIES parsing and the client address behind proxies (src/core/proxy.c):
 * addresses, CIDR lists, and hostile X-Forwarded-For / Forwarded headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/proxy.h"

static void test_ip_parse(void **state)
{
    static const struct {
        const char *in;
        const char *out; /* NULL: refused */
    } cases[] = {
        {"192.0.2.7", "192.0.2.7"},
        {"0.0.0.0", "0.0.0.0"},
        {"255.255.255.255", "255.255.255.255"},
        {"::1", "::1"},
        {"2001:DB8::1", "2001:db8::1"},
        {"::ffff:192.0.2.7", "192.0.2.7"}, /* IPv4-mapped is the IPv4 address */
        {"::ffff:c000:207", "192.0.2.7"},
        {"::192.0.2.7", "::192.0.2.7"}, /* IPv4-compatible is not */
        {"", NULL},
        {" 192.0.2.7", NULL},
        {"192.0.2.7 ", NULL},
        {"192.0.2", NULL},
        {"192.0.2.7.1", NULL},
        {"192.0.2.256", NULL},
        {"192.0.2.07", NULL}, /* leading zero: octal to some parsers */
        {"0x7f.0.0.1", NULL},
        {"1", NULL},
        {"[::1]", NULL},
        {"fe80::1%eth0", NULL},
        {"::1:80:", NULL},
        {"1:2:3:4:5:6:7:8:9", NULL},
        {"localhost", NULL},
        {"unknown", NULL},
        {"192.0.2.7:80", NULL},
        {"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001", NULL}, /* too long */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_ip ip;
        enum tn_err rc = tn_ip_parse(cases[i].in, strlen(cases[i].in), &ip);
        if (!cases[i].out) {
            if (rc != TN_ERR_BAD_INPUT)
                fail_msg("'%s' accepted", cases[i].in);
            continue;
        }
        if (rc != TN_OK)
            fail_msg("'%s' refused", cases[i].in);
        char text[TN_IP_TEXT_MAX];
        tn_ip_format(&ip, text);
        assert_string_equal(text, cases[i].out);
    }
    /* an embedded NUL is not an address, whatever precedes it */
    struct tn_ip ip;
    assert_int_equal(tn_ip_parse("10.0.0.1\0junk", 13, &ip), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_ip_parse("10.0.0.1\0junk", 8, &ip), TN_OK);
}

static struct tn_proxies list(const char *text)
{
    struct tn_proxies p;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    enum tn_err rc = tn_proxies_parse(text, strlen(text), &p, &err);
    if (rc != TN_OK)
        fail_msg("'%s' refused: %s", text, err.data ? err.data : "");
    tn_buf_deinit(&err);
    return p;
}

static bool match(const struct tn_proxies *p, const char *addr)
{
    struct tn_ip ip;
    assert_int_equal(tn_ip_parse(addr, strlen(addr), &ip), TN_OK);
    return tn_proxies_match(p, &ip);
}

static void test_cidr_match(void **state)
{
    struct tn_proxies p = list("10.0.0.0/8, 192.168.1.7\t2001:db8:a::/48 ,, ::1 172.16.0.0/12");
    assert_int_equal(p.n, 5);
    assert_true(match(&p, "10.0.0.0"));
    assert_true(match(&p, "10.255.255.255"));
    assert_true(match(&p, "::ffff:10.1.2.3")); /* the mapped form is the same address */
    assert_false(match(&p, "11.0.0.0"));
    assert_false(match(&p, "9.255.255.255"));
    assert_true(match(&p, "192.168.1.7"));
    assert_false(match(&p, "192.168.1.8"));
    assert_false(match(&p, "192.168.1.6"));
    assert_true(match(&p, "2001:db8:a:ffff::1"));
    assert_false(match(&p, "2001:db8:b::1"));
    assert_true(match(&p, "::1"));
    assert_false(match(&p, "::2"));
    assert_true(match(&p, "172.31.255.255"));
    assert_false(match(&p, "172.32.0.0"));
    assert_false(match(&p, "::a00:1")); /* IPv4-compatible 10.0.0.1 is another address */

    struct tn_proxies odd = list("10.0.0.128/25 2001:db8::/33");
    assert_true(match(&odd, "10.0.0.200"));
    assert_false(match(&odd, "10.0.0.127"));
    assert_true(match(&odd, "2001:db8:7fff::1"));
    assert_false(match(&odd, "2001:db8:8000::1"));

    struct tn_proxies all4 = list("0.0.0.0/0");
    assert_true(match(&all4, "203.0.113.9"));
    assert_false(match(&all4, "2001:db8::1")); /* /0 of IPv4 is every IPv4 address only */
    struct tn_proxies all = list("::/0");
    assert_true(match(&all, "203.0.113.9"));
    assert_true(match(&all, "2001:db8::1"));
    struct tn_proxies none = list("");
    assert_int_equal(none.n, 0);
    assert_false(match(&none, "127.0.0.1"));
    struct tn_proxies spaces = list("  , ");
    assert_int_equal(spaces.n, 0);
    struct tn_proxies hosts = list("192.0.2.1/32 2001:db8::1/128");
    assert_true(match(&hosts, "192.0.2.1"));
    assert_false(match(&hosts, "192.0.2.0"));
    assert_true(match(&hosts, "2001:db8::1"));
}

static void test_cidr_refused(void **state)
{
    static const struct {
        const char *in;
        const char *says;
    } cases[] = {
        {"10.0.0.0/33", "bad prefix length (an IPv4 block takes /0 to /32)"},
        {"::/129", "bad prefix length (an IPv6 block takes /0 to /128)"},
        {"10.0.0.0/", "bad prefix length"},
        {"10.0.0.0/-1", "bad prefix length"},
        {"10.0.0.0/+8", "bad prefix length"},
        {"10.0.0.0/08", "bad prefix length"},
        {"10.0.0.0/8/8", "bad prefix length"},
        {"10.0.0.0/1000", "bad prefix length"},
        {"10.0.0.1/8", "has host bits set; write the block as 10.0.0.0/8"},
        {"2001:db8::1/32", "has host bits set; write the block as 2001:db8::/32"},
        {"10.0.0.0/8, garbage", "'garbage' is not an IPv4 or IPv6 address"},
        {"10.0.0.0/8;192.168.0.0/16", "bad prefix length"},
        {"localhost", "'localhost' is not an IPv4 or IPv6 address"},
        {"*", "is not an IPv4"},
        {"10.0.0.0-10.0.0.255", "is not an IPv4"},
        {"fe80::1%eth0/64", "is not an IPv4"},
        {"[::1]", "is not an IPv4"},
        {"10.0.0.1:80", "is not an IPv4"},
        {"/8", "is not an IPv4"},
        {"10.0/16", "is not an IPv4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_proxies p;
        struct tn_buf err;
        tn_buf_init(&err, 1024);
        enum tn_err rc = tn_proxies_parse(cases[i].in, strlen(cases[i].in), &p, &err);
        if (rc != TN_ERR_CONFIG)
            fail_msg("'%s' accepted", cases[i].in);
        assert_int_equal(p.n, 0);
        if (!err.data || !strstr(err.data, cases[i].says))
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].in, err.data ? err.data : "",
                     cases[i].says);
        assert_non_null(strstr(err.data, "TRUSTED_PROXIES"));
        tn_buf_deinit(&err);
    }
    /* too many entries */
    char many[2048] = "";
    for (int i = 0; i <= TN_PROXIES_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.%d.0/24 ", i);
    struct tn_proxies p;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    assert_int_equal(tn_proxies_parse(many, strlen(many), &p, &err), TN_ERR_CONFIG);
    assert_non_null(strstr(err.data, "more than 64 entries"));
    assert_int_equal(p.n, 0);
    tn_buf_deinit(&err);
}

/* ---------- the walk ---------- */

/* The per-address connection cap counts parties: an IPv6 peer by its /64, an IPv4 (or
 * IPv4-mapped) peer by itself. */
static void test_ip_party(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        {"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
        {"2001:db8:1:2:a:b:c:d", "2001:db8:1:2::", true},
        {"2001:db8:1:2::1", "2001:db8:1:3::1", false},
        {"2001:db8:1:2::1", "2001:db9:1:2::1", false},
        {"::1", "::2", true},
        {"192.0.2.7", "::ffff:192.0.2.7", true},
        {"192.0.2.7", "192.0.2.8", false}, /* IPv4 is never grouped */
        {"10.0.0.1", "10.255.0.1", false},
        {"::ffff:192.0.2.7", "::ffff:192.0.2.8", false},
        {"::192.0.2.7", "::192.0.2.8", true}, /* IPv4-compatible is plain IPv6 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_ip a, b, ka, kb;
        assert_int_equal(tn_ip_parse(cases[i].a, strlen(cases[i].a), &a), TN_OK);
        assert_int_equal(tn_ip_parse(cases[i].b, strlen(cases[i].b), &b), TN_OK);
        tn_ip_party(&a, &ka);
        tn_ip_party(&b, &kb);
        if ((memcmp(&ka, &kb, sizeof ka) == 0) != cases[i].same)
            fail_msg("%s and %s: expected %s", cases[i].a, cases[i].b,
                     cases[i].same ? "one party" : "two parties");
    }
    static const struct {
        const char *in, *key;
    } keys[] = {
        {"2001:db8:1:2:a:b:c:d", "2001:db8:1:2::"},
        {"::ffff:198.51.100.9", "198.51.100.9"},
        {"203.0.113.1", "203.0.113.1"},
        {"fe80::1234:5678", "fe80::"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct tn_ip a, k;
        assert_int_equal(tn_ip_parse(keys[i].in, strlen(keys[i].in), &a), TN_OK);
        tn_ip_party(&a, &k);
        char text[TN_IP_TEXT_MAX];
        tn_ip_format(&k, text);
        assert_string_equal(text, keys[i].key);
    }
}

struct walk_case {
    const char *header; /* lines separated by '\n'; NULL: no header at all */
    const char *peer;
    enum tn_err rc;
    const char *client;
};

static void run_walk(const char *trusted, enum tn_fwd_kind kind, const struct walk_case *cases,
                     size_t n)
{
    struct tn_proxies p = list(trusted);
    for (size_t i = 0; i < n; i++) {
        struct tn_span lines[128];
        size_t nl = 0;
        for (const char *h = cases[i].header; h && nl < 128;) {
            const char *nlc = strchr(h, '\n');
            size_t len = nlc ? (size_t)(nlc - h) : strlen(h);
            lines[nl++] = (struct tn_span){h, len};
            h = nlc ? nlc + 1 : NULL;
        }
        struct tn_ip peer, out;
        assert_int_equal(tn_ip_parse(cases[i].peer, strlen(cases[i].peer), &peer), TN_OK);
        memset(&out, 0xee, sizeof out);
        enum tn_err rc = tn_proxy_client(&p, kind, lines, nl, &peer, &out);
        char text[TN_IP_TEXT_MAX];
        tn_ip_format(&out, text);
        if (rc != cases[i].rc || strcmp(text, cases[i].client) != 0)
            fail_msg("case %zu '%s' from %s: got %s %s, expected %s %s", i,
                     cases[i].header ? cases[i].header : "(none)", cases[i].peer, tn_err_name(rc),
                     text, tn_err_name(cases[i].rc), cases[i].client);
    }
}

#define PROXY "10.0.0.2"
#define EDGE "10.0.0.1"

static void test_xff(void **state)
{
    static const struct walk_case cases[] = {
        /* the plain case: one trusted proxy appended the client */
        {"203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        /* an untrusted peer is the client whatever it says */
        {"203.0.113.7", "198.51.100.1", TN_OK, "198.51.100.1"},
        {"garbage", "198.51.100.1", TN_OK, "198.51.100.1"},
        /* spoofed leftmost entries are never read */
        {"1.1.1.1, 2.2.2.2, 203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"127.0.0.1, 203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        /* ... even when they look like our own proxies or are garbage */
        {"10.9.9.9, 203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"<script>, ;;, 203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        /* two proxies of ours: skip both */
        {"203.0.113.7, 10.0.0.1", PROXY, TN_OK, "203.0.113.7"},
        {"9.9.9.9, 203.0.113.7, 10.0.0.5, 10.0.0.1", PROXY, TN_OK, "203.0.113.7"},
        /* several header lines are one list, in order */
        {"9.9.9.9\n203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"9.9.9.9, 203.0.113.7\n10.0.0.1", PROXY, TN_OK, "203.0.113.7"},
        {"203.0.113.7\n\n10.0.0.1", PROXY, TN_OK, "203.0.113.7"},
        /* ports and brackets (some load balancers write them) */
        {"203.0.113.7:51234", PROXY, TN_OK, "203.0.113.7"},
        {"[2001:db8::7]:443", PROXY, TN_OK, "2001:db8::7"},
        {"[2001:db8::7]", PROXY, TN_OK, "2001:db8::7"},
        {"2001:db8::7", PROXY, TN_OK, "2001:db8::7"},
        {"::ffff:203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"::ffff:10.0.0.9, 203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"203.0.113.7, ::ffff:10.0.0.9", PROXY, TN_OK, "203.0.113.7"}, /* mapped proxy skipped */
        /* whitespace and empty list elements */
        {"  203.0.113.7 ,\t10.0.0.1  ", PROXY, TN_OK, "203.0.113.7"},
        {"203.0.113.7,,, 10.0.0.1,", PROXY, TN_OK, "203.0.113.7"},
        /* no header, an empty one: the peer */
        {NULL, PROXY, TN_OK, PROXY},
        {"", PROXY, TN_OK, PROXY},
        {" , ", PROXY, TN_OK, PROXY},
        /* every hop ours: the leftmost */
        {"10.0.0.9, 10.0.0.1", PROXY, TN_OK, "10.0.0.9"},
        /* garbage where our proxies write: never believed, the peer instead */
        {"203.0.113.7, garbage", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"203.0.113.7, 10.0.0.1 10.0.0.3", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"203.0.113.7:99999", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"203.0.113.7:", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"203.0.113.7:80a", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"[2001:db8::7]443", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"[203.0.113.7]", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"[2001:db8::7", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"_hidden", PROXY, TN_ERR_BAD_INPUT, PROXY}, /* Forwarded's syntax, not XFF's */
        {"203.0.113.7;x", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"\"203.0.113.7\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"fe80::1%eth0", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"203.0.113.7 and some more text that is long enough to be more than sixty-four bytes",
         PROXY, TN_ERR_BAD_INPUT, PROXY},
        /* "unknown" where the client should be: no client known, the peer */
        {"unknown", PROXY, TN_ERR_NOT_FOUND, PROXY},
        {"203.0.113.7, UNKNOWN, 10.0.0.1", PROXY, TN_ERR_NOT_FOUND, PROXY},
        /* but unknown to the left of the client is the client's business */
        {"unknown, 203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
    };
    run_walk("10.0.0.0/8 ::1", TN_FWD_XFF, cases, sizeof cases / sizeof cases[0]);
}

static void test_xff_hops(void **state)
{
    /* 32 hops, all ours: the leftmost */
    char h[4096] = "10.0.0.9";
    for (int i = 0; i < TN_FWD_MAX_HOPS - 1; i++)
        strcat(h, ", 10.0.0.1");
    struct walk_case all_ours[] = {{h, PROXY, TN_OK, "10.0.0.9"}};
    run_walk("10.0.0.0/8", TN_FWD_XFF, all_ours, 1);
    /* the client left of 31 of ours: found */
    char h2[4096] = "203.0.113.7";
    for (int i = 0; i < TN_FWD_MAX_HOPS - 1; i++)
        strcat(h2, ", 10.0.0.1");
    struct walk_case found[] = {{h2, PROXY, TN_OK, "203.0.113.7"}};
    run_walk("10.0.0.0/8", TN_FWD_XFF, found, 1);
    /* left of 32 of ours: more hops than we look at; give up, the peer */
    char h3[4096];
    snprintf(h3, sizeof h3, "%s, 10.0.0.1", h2);
    struct walk_case limit[] = {{h3, PROXY, TN_ERR_LIMIT, PROXY}};
    run_walk("10.0.0.0/8", TN_FWD_XFF, limit, 1);
    /* a long spoofed prefix does not matter: only the right end is read */
    char h4[16384] = "";
    for (int i = 0; i < 500; i++)
        strcat(h4, "6.6.6.6, ");
    strcat(h4, "203.0.113.7, 10.0.0.1");
    struct walk_case longleft[] = {{h4, PROXY, TN_OK, "203.0.113.7"}};
    run_walk("10.0.0.0/8", TN_FWD_XFF, longleft, 1);
    /* nor do many header lines */
    char h5[8192] = "";
    for (int i = 0; i < 100; i++)
        strcat(h5, "6.6.6.6\n");
    strcat(h5, "203.0.113.7");
    struct walk_case lines[] = {{h5, PROXY, TN_OK, "203.0.113.7"}};
    run_walk("10.0.0.0/8", TN_FWD_XFF, lines, 1);
    /* nor, in Forwarded, many lines of garbage left of the client's hop */
    char h6[8192] = "";
    for (int i = 0; i < 100; i++)
        strcat(h6, "for=\"\n");
    strcat(h6, "for=203.0.113.7\nfor=10.0.0.1");
    struct walk_case flines[] = {{h6, PROXY, TN_OK, "203.0.113.7"}};
    run_walk("10.0.0.0/8", TN_FWD_FORWARDED, flines, 1);
}

static void test_forwarded(void **state)
{
    static const struct walk_case cases[] = {
        {"for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"For=203.0.113.7;Proto=https;by=10.0.0.2", PROXY, TN_OK, "203.0.113.7"},
        {"proto=https;for=203.0.113.7;host=notes.example.com", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"203.0.113.7\"", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"203.0.113.7:4711\"", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"[2001:db8:cafe::17]:4711\"", PROXY, TN_OK, "2001:db8:cafe::17"},
        {"for=\"[2001:db8:cafe::17]\"", PROXY, TN_OK, "2001:db8:cafe::17"},
        {"for=\"[::ffff:203.0.113.7]\"", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"203.0.113.7:_port1\"", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"2\\03.0.113.7\"", PROXY, TN_OK, "203.0.113.7"}, /* a quoted-pair */
        /* an untrusted peer: ignored */
        {"for=203.0.113.7", "198.51.100.1", TN_OK, "198.51.100.1"},
        /* spoofed leftmost elements */
        {"for=1.1.1.1, for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"for=10.9.9.9;proto=http, for=203.0.113.7, for=10.0.0.1", PROXY, TN_OK, "203.0.113.7"},
        {"for=unknown, for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"for=_evil, for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"1.1.1.1, for=2.2.2.2\", for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        /* lines */
        {"for=1.1.1.1\nfor=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"for=203.0.113.7\nfor=10.0.0.1;proto=https", PROXY, TN_OK, "203.0.113.7"},
        /* spacing and empty elements and pairs */
        {" for=203.0.113.7 ;proto=https , ,for=10.0.0.1 ", PROXY, TN_OK, "203.0.113.7"},
        {"for=203.0.113.7;;proto=https", PROXY, TN_OK, "203.0.113.7"},
        {"", PROXY, TN_OK, PROXY},
        {NULL, PROXY, TN_OK, PROXY},
        {"for=10.0.0.7", PROXY, TN_OK, "10.0.0.7"},
        /* the hop that would be the client is hidden */
        {"for=unknown", PROXY, TN_ERR_NOT_FOUND, PROXY},
        {"for=\"unknown:80\"", PROXY, TN_ERR_NOT_FOUND, PROXY},
        {"for=\"_hidden:_p\"", PROXY, TN_ERR_NOT_FOUND, PROXY},
        {"for=_hidden", PROXY, TN_ERR_NOT_FOUND, PROXY},
        {"for=_hid.den-1_", PROXY, TN_ERR_NOT_FOUND, PROXY},
        {"for=203.0.113.7, proto=https", PROXY, TN_ERR_NOT_FOUND, PROXY}, /* no for= */
        {"by=10.0.0.2", PROXY, TN_ERR_NOT_FOUND, PROXY},
        /* malformed: the peer */
        {"for=203.0.113.7:80", PROXY, TN_ERR_BAD_INPUT, PROXY},  /* port unquoted */
        {"for=[2001:db8::1]", PROXY, TN_ERR_BAD_INPUT, PROXY},   /* brackets unquoted */
        {"for=\"2001:db8::1\"", PROXY, TN_ERR_BAD_INPUT, PROXY}, /* IPv6 unbracketed */
        {"for=\"[2001:db8::1]:\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"[2001:db8::1]:70000\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"[2001:db8::1]x\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"[203.0.113.7]\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"203.0.113.7", PROXY, TN_ERR_BAD_INPUT, PROXY}, /* unterminated */
        {"for=\"203.0.113.7\\", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for 203.0.113.7", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"=203.0.113.7", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for = 203.0.113.7", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=203.0.113.7;for=198.51.100.1", PROXY, TN_ERR_BAD_INPUT, PROXY}, /* two for= */
        {"for=203.0.113.7 junk", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"203.0.113.7\x01\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=_", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=_a/b", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=\"_a b\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=localhost", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=203.0.113.7, for=garbage", PROXY, TN_ERR_BAD_INPUT, PROXY},
        /* garbage in the hops our proxies appended: the peer */
        {"for=\"203.0.113.7\"\nfor=\"", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=203.0.113.7, for=\"10.0.0.1", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=203.0.113.7, for=\"10.0.0.1\\\"", PROXY, TN_ERR_BAD_INPUT, PROXY}, /* escaped close */
        {"for=203.0.113.7, x=\"a\\\x01\";for=10.0.0.1", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=203.0.113.7, for=10.0.0.1 x", PROXY, TN_ERR_BAD_INPUT, PROXY},
        {"for=1 x, for=10.0.0.1", PROXY, TN_ERR_BAD_INPUT, PROXY}, /* behind a trusted hop */
        /* a syntax error the client wrote left of the client's hop is never read: the
         * walk parses elements from the right and stops at the client */
        {"for=\"1.1.1.1, for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"for=1.1.1.1 x, for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"\"\"\", for=203.0.113.7;proto=https, for=10.0.0.1", PROXY, TN_OK, "203.0.113.7"},
        {"for=\"x\\\"y\", for=203.0.113.7", PROXY, TN_OK, "203.0.113.7"},
        {"garbage\nfor=\"[2001:db8::7]:1\"", PROXY, TN_OK, "2001:db8::7"},
        {"for=\"a, for=\\\"b\\\\\", for=\"203.0.113.7\"", PROXY, TN_OK, "203.0.113.7"},
        {"for=203.0.113.7;x=\"\\\\\"", PROXY, TN_OK, "203.0.113.7"}, /* x="\\" */
        /* a node longer than any address */
        {"for=\"[2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000:0000]:65535\"", PROXY,
         TN_ERR_BAD_INPUT, PROXY},
    };
    run_walk("10.0.0.0/8", TN_FWD_FORWARDED, cases, sizeof cases / sizeof cases[0]);
}

static void test_forwarded_ipv6_proxies(void **state)
{
    static const struct walk_case cases[] = {
        {"for=\"[2001:db8::7]:1\", for=\"[fd00::2]\"", "fd00::1", TN_OK, "2001:db8::7"},
        {"for=203.0.113.7, for=\"[fd00::2]\"", "::ffff:10.1.1.1", TN_OK, "203.0.113.7"},
        {"for=203.0.113.7", "fd01::1", TN_OK, "fd01::1"}, /* fd01:: is not ours */
    };
    run_walk("fd00::/16 10.1.0.0/16", TN_FWD_FORWARDED, cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse),   cmocka_unit_test(test_ip_party),
        cmocka_unit_test(test_cidr_match), cmocka_unit_test(test_cidr_refused),
        cmocka_unit_test(test_xff),        cmocka_unit_test(test_xff_hops),
        cmocka_unit_test(test_forwarded),  cmocka_unit_test(test_forwarded_ipv6_proxies),
    };
    return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
