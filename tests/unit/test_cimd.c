/* The Client ID Metadata Document cache: host keys, remembered failures, the limits on
 * fetches in flight (in all and per host), the per-host failure caps that defeat query
 * variants, and the bounded size that evicts only what may go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/as/cimd.h"

static const struct tn_cimd_limits lim = {
    .entries = 8,
    .fetches = 3,
    .host_fetches = 2,
    .host_faults = 2,
    .host_failures = 3,
    .fail_ttl_s = 60,
};

static const char *why;
static struct tn_client out;

static enum tn_err get(struct tn_cimd_cache *c, const char *url, int64_t now)
{
    return tn_cimd_cache_get(c, url, now, false, &out, &why);
}

static enum tn_err begin(struct tn_cimd_cache *c, const char *url, int64_t now)
{
    return tn_cimd_cache_get(c, url, now, true, &out, &why);
}

static void ok_doc(struct tn_cimd_cache *c, const char *url, int64_t now, int64_t ttl)
{
    struct tn_client d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", url);
    snprintf(d.name, sizeof d.name, "doc %s", url);
    tn_cimd_cache_end(c, url, now, &d, ttl, NULL, false);
}

static void test_host(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host;
        enum tn_err rc;
    } cases[] = {
        {"https://Example.COM/c.json", "example.com", TN_OK},
        {"https://example.com:8443/c.json", "example.com", TN_OK},
        {"https://example.com./c.json", "example.com", TN_OK},
        {"https://example.com...:1/c", "example.com", TN_OK},
        {"https://user:pw@evil.example:9/c", "evil.example", TN_OK},
        {"https://a@b@evil.example/c", "evil.example", TN_OK},
        {"http://127.0.0.1:4000/c.json?x=1", "127.0.0.1", TN_OK},
        {"http://[::1]:4000/c", "[::1]", TN_OK},
        {"http://[::1]/c", "[::1]", TN_OK},
        {"https://example.com?x=1", "example.com", TN_OK},
        {"https://example.com#f", "example.com", TN_OK},
        {"https://[::1/c", "", TN_ERR_BAD_INPUT},
        {"https:///c.json", "", TN_ERR_BAD_INPUT},
        {"https://:443/c.json", "", TN_ERR_BAD_INPUT},
        {"https://user@/c.json", "", TN_ERR_BAD_INPUT},
        {"https://.../c", "", TN_ERR_BAD_INPUT},
        {"ftp://example.com/c", "", TN_ERR_BAD_INPUT},
        {"example.com/c", "", TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char h[64] = "x";
        enum tn_err rc = tn_cimd_host(cases[i].url, h, sizeof h);
        if (rc != cases[i].rc || strcmp(h, cases[i].host))
            fail_msg("%s: %s '%s', expected %s '%s'", cases[i].url, tn_err_name(rc), h,
                     tn_err_name(cases[i].rc), cases[i].host);
    }
    char small[8];
    assert_int_equal(tn_cimd_host("https://example.com/c", small, sizeof small), TN_ERR_BAD_INPUT);
    assert_string_equal(small, "");
    assert_int_equal(tn_cimd_host("https://example/c", small, sizeof small), TN_OK);
    assert_string_equal(small, "example");
}

static void test_new_refuses_zero_limits(void **state)
{
    (void)state;
    struct tn_cimd_limits l = lim;
    l.host_fetches = 0;
    assert_null(tn_cimd_cache_new(&l));
    l = lim;
    l.fail_ttl_s = 0;
    assert_null(tn_cimd_cache_new(&l));
    tn_cimd_cache_free(NULL);
}

/* A document is kept for its lifetime; a failure for the failure lifetime, with its
 * reason; a fetch in flight makes the same URL wait, not fetch twice. */
static void test_documents_and_failures(void **state)
{
    (void)state;
    struct tn_cimd_cache *c = tn_cimd_cache_new(&lim);
    const char *a = "https://a.example/c.json", *b = "https://b.example/c.json";
    assert_int_equal(get(c, a, 1000), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, a, 1000), TN_ERR_NOT_FOUND); /* a look reserves nothing */
    assert_int_equal(begin(c, a, 1000), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, a, 1000), TN_ERR_BUSY);
    assert_string_equal(why,
                        "The client's metadata document is being fetched; try again in a moment.");
    assert_int_equal(get(c, a, 1000), TN_ERR_BUSY);
    ok_doc(c, a, 1001, 300);
    memset(&out, 0, sizeof out);
    assert_int_equal(get(c, a, 1300), TN_OK);
    assert_string_equal(out.id, a);
    assert_string_equal(out.name, "doc https://a.example/c.json");
    assert_int_equal(begin(c, a, 1300), TN_OK);          /* a hit never reserves */
    assert_int_equal(get(c, a, 1301), TN_ERR_NOT_FOUND); /* expired */

    assert_int_equal(begin(c, b, 1000), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, b, 1005, NULL, 0, "bad document", false);
    assert_int_equal(get(c, b, 1005), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "bad document");
    assert_int_equal(begin(c, b, 1064), TN_ERR_BAD_INPUT); /* remembered 60 s from the end */
    assert_int_equal(begin(c, b, 1065), TN_ERR_NOT_FOUND);
    /* neither document nor failure: forgotten (a fetch that did not happen) */
    tn_cimd_cache_end(c, b, 1065, NULL, 0, NULL, false);
    assert_int_equal(get(c, b, 1065), TN_ERR_NOT_FOUND);
    /* an end without a reservation changes nothing */
    tn_cimd_cache_end(c, b, 1065, NULL, 0, "stray", true);
    assert_int_equal(get(c, b, 1065), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, "https:///x", 1065), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "The client_id is not a URL with a host.");
    char longurl[600];
    memset(longurl, 'a', sizeof longurl - 1);
    longurl[sizeof longurl - 1] = '\0';
    memcpy(longurl, "https://e.example/", 18);
    assert_int_equal(begin(c, longurl, 1065), TN_ERR_BAD_INPUT);
    tn_cimd_cache_free(c);
}

/* Two fetches in flight per host and three in all; beyond, a refusal at once. Other
 * ports and spellings of a host are the same host. */
static void test_fetches_in_flight(void **state)
{
    (void)state;
    struct tn_cimd_cache *c = tn_cimd_cache_new(&lim);
    assert_int_equal(begin(c, "https://h.example/1", 0), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, "https://H.example:444/2", 0), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, "https://h.example./3?x=1", 0), TN_ERR_BUSY);
    assert_string_equal(
        why,
        "Too many client metadata documents are being fetched right now; try again in a moment.");
    assert_int_equal(get(c, "https://h.example/4", 0), TN_ERR_BUSY);
    assert_int_equal(begin(c, "https://i.example/1", 0), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, "https://j.example/1", 0), TN_ERR_BUSY); /* three in all */
    assert_string_equal(
        why,
        "Too many client metadata documents are being fetched right now; try again in a moment.");
    ok_doc(c, "https://i.example/1", 1, 300);
    assert_int_equal(begin(c, "https://j.example/1", 1), TN_ERR_NOT_FOUND);
    ok_doc(c, "https://H.example:444/2", 2, 300);
    assert_int_equal(begin(c, "https://h.example/3", 2), TN_ERR_NOT_FOUND);
    tn_cimd_cache_free(c); /* frees reservations and documents alike */
}

/* A host that did not answer twice gets no new fetch until a failure expires, whatever
 * the URL: query variants of a failing URL gain nothing. Failures of any kind: three. */
static void test_failing_host(void **state)
{
    (void)state;
    struct tn_cimd_cache *c = tn_cimd_cache_new(&lim);
    assert_int_equal(begin(c, "https://slow.example/c?x=1", 0), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, "https://slow.example/c?x=2", 0), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, "https://slow.example/c?x=1", 5, NULL, 0, "timeout", true);
    assert_int_equal(begin(c, "https://slow.example/c?x=3", 5),
                     TN_ERR_NOT_FOUND); /* one fault so far */
    tn_cimd_cache_end(c, "https://slow.example/c?x=3", 5, NULL, 0, NULL, false);
    tn_cimd_cache_end(c, "https://slow.example/c?x=2", 6, NULL, 0, "refused", true);
    /* two faults (and only two failures, under the three of any kind) */
    assert_int_equal(begin(c, "https://slow.example/c?x=4", 7), TN_ERR_BUSY);
    assert_string_equal(
        why, "The host of the client's metadata document failed recently; try again in a minute.");
    assert_int_equal(begin(c, "https://SLOW.example:1/other", 7), TN_ERR_BUSY);
    assert_int_equal(get(c, "https://slow.example/c?x=1", 7),
                     TN_ERR_BAD_INPUT); /* its own failure */
    assert_string_equal(why, "timeout");
    assert_int_equal(get(c, "https://slow.example/c?x=2", 7), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "refused");
    assert_int_equal(begin(c, "https://fine.example/c", 7),
                     TN_ERR_NOT_FOUND); /* other hosts go on */
    tn_cimd_cache_end(c, "https://fine.example/c", 7, NULL, 0, NULL, false);
    /* the first fault is live until 65 */
    assert_int_equal(begin(c, "https://slow.example/c?x=4", 64), TN_ERR_BUSY);
    assert_int_equal(begin(c, "https://slow.example/c?x=4", 65), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, "https://slow.example/c?x=4", 65, NULL, 0, NULL, false);

    /* answers that are not documents: per URL, and three per host */
    for (int i = 0; i < 3; i++) {
        char u[64];
        snprintf(u, sizeof u, "https://bad.example/c?x=%d", i);
        assert_int_equal(begin(c, u, 100), TN_ERR_NOT_FOUND);
        tn_cimd_cache_end(c, u, 100, NULL, 0, "not a document", false);
    }
    assert_int_equal(begin(c, "https://bad.example/c?x=9", 100), TN_ERR_BUSY);
    assert_string_equal(
        why, "The host of the client's metadata document failed recently; try again in a minute.");
    assert_int_equal(begin(c, "https://bad.example/c?x=9", 160), TN_ERR_NOT_FOUND);
    tn_cimd_cache_free(c);
}

/* Eight entries: expired ones go first, then the least recently used document; live
 * failures and fetches in flight never go, and when only they are left, no fetch. */
static void test_bounded_size(void **state)
{
    (void)state;
    struct tn_cimd_limits l = lim;
    l.fetches = 8;
    l.host_failures = 8;
    struct tn_cimd_cache *c = tn_cimd_cache_new(&l);
    char u[8][64];
    for (int i = 0; i < 8; i++) {
        snprintf(u[i], sizeof u[i], "https://h%d.example/c", i);
        assert_int_equal(begin(c, u[i], 0), TN_ERR_NOT_FOUND);
        if (i < 4)
            ok_doc(c, u[i], 0, 1000 + i);
        else
            tn_cimd_cache_end(c, u[i], 0, NULL, 0, "failed", false);
    }
    assert_int_equal(get(c, u[0], 10), TN_OK); /* u[0] used: u[1] is the least recent */
    assert_int_equal(begin(c, "https://n1.example/c", 10), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, u[1], 10), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, u[0], 10), TN_OK);
    ok_doc(c, "https://n1.example/c", 10, 1000);
    /* the failures expire at 60: then they are the ones to go, before any document */
    assert_int_equal(begin(c, "https://n2.example/c", 60), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, "https://n1.example/c", 60), TN_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(get(c, u[i], 60), i == 1 ? TN_ERR_NOT_FOUND : TN_OK);
    tn_cimd_cache_free(c);

    /* full of live failures and reservations: refused, nothing evicted */
    c = tn_cimd_cache_new(&l);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(begin(c, u[i], 0), TN_ERR_NOT_FOUND);
        if (i % 2)
            tn_cimd_cache_end(c, u[i], 0, NULL, 0, "failed", true);
    }
    assert_int_equal(begin(c, "https://n3.example/c", 1), TN_ERR_BUSY);
    assert_string_equal(
        why, "Too many client metadata documents are in use right now; try again in a minute.");
    for (int i = 0; i < 8; i++)
        assert_int_equal(get(c, u[i], 1), i % 2 ? TN_ERR_BAD_INPUT : TN_ERR_BUSY);
    tn_cimd_cache_end(c, u[0], 1, NULL, 0, NULL, false);
    assert_int_equal(begin(c, "https://n3.example/c", 1), TN_ERR_NOT_FOUND);
    tn_cimd_cache_free(c);
}

/* A document that cannot be refetched is served from its last good fetch for stale_s
 * past its expiry: while refetched, after a failed refetch, when no fetch may start;
 * never beyond, and never a document the URL never had. */
static void test_stale_document(void **state)
{
    (void)state;
    struct tn_cimd_limits l = lim;
    l.stale_s = 1000;
    struct tn_cimd_cache *c = tn_cimd_cache_new(&l);
    const char *a = "https://a.example/c", *n = "https://n.example/c";
    assert_int_equal(begin(c, a, 0), TN_ERR_NOT_FOUND);
    ok_doc(c, a, 0, 100);
    /* expired: a fetch may start; while it is in flight, the stale document serves */
    assert_int_equal(get(c, a, 100), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, a, 100), TN_ERR_NOT_FOUND);
    memset(&out, 0, sizeof out);
    assert_int_equal(get(c, a, 101), TN_OK);
    assert_string_equal(out.name, "doc https://a.example/c");
    /* the refetch fails: the failure is remembered, the stale document still serves */
    tn_cimd_cache_end(c, a, 105, NULL, 0, "timeout", true);
    memset(&out, 0, sizeof out);
    assert_int_equal(tn_cimd_cache_stale(c, a, 105, &out), TN_OK);
    assert_string_equal(out.id, a);
    memset(&out, 0, sizeof out);
    assert_int_equal(get(c, a, 106), TN_OK);
    assert_string_equal(out.id, a);
    assert_string_equal(why, "timeout");
    /* no fetch may start (all slots busy): stale, with the reason; a new URL: busy */
    assert_int_equal(begin(c, "https://x.example/1", 170), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, "https://y.example/1", 170), TN_ERR_NOT_FOUND);
    assert_int_equal(begin(c, "https://z.example/1", 170), TN_ERR_NOT_FOUND);
    memset(&out, 0, sizeof out);
    assert_int_equal(get(c, a, 170), TN_OK);
    assert_string_equal(out.id, a);
    assert_string_equal(
        why,
        "Too many client metadata documents are being fetched right now; try again in a moment.");
    assert_int_equal(get(c, n, 170), TN_ERR_BUSY);
    assert_int_equal(tn_cimd_cache_stale(c, n, 170, &out), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, "https://x.example/1", 171, NULL, 0, NULL, false);
    /* a fetch that did not happen keeps the stale document */
    assert_int_equal(begin(c, a, 172), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, a, 172, NULL, 0, NULL, false);
    assert_int_equal(tn_cimd_cache_stale(c, a, 172, &out), TN_OK);
    /* a good refetch replaces it and starts a new stale window */
    assert_int_equal(begin(c, a, 173), TN_ERR_NOT_FOUND);
    struct tn_client d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", a);
    snprintf(d.name, sizeof d.name, "second");
    tn_cimd_cache_end(c, a, 173, &d, 100, NULL, false);
    assert_int_equal(get(c, a, 200), TN_OK);
    assert_string_equal(out.name, "second");
    assert_int_equal(tn_cimd_cache_stale(c, a, 1272, &out), TN_OK);
    assert_string_equal(out.name, "second");
    /* past expiry + stale_s: gone */
    assert_int_equal(tn_cimd_cache_stale(c, a, 1273, &out), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, "https://y.example/1", 1273, NULL, 0, NULL, false);
    tn_cimd_cache_end(c, "https://z.example/1", 1273, NULL, 0, NULL, false);
    assert_int_equal(begin(c, a, 1273), TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, a, 1274, NULL, 0, "timeout", true);
    assert_int_equal(get(c, a, 1274), TN_ERR_BAD_INPUT);
    /* a host that answers without a valid document has withdrawn it: nothing stale */
    const char *b = "https://b.example/c";
    assert_int_equal(begin(c, b, 2000), TN_ERR_NOT_FOUND);
    ok_doc(c, b, 2000, 100);
    assert_int_equal(begin(c, b, 2100), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, b, 2100), TN_OK);
    tn_cimd_cache_end(c, b, 2101, NULL, 0, "not a document", false);
    assert_int_equal(get(c, b, 2101), TN_ERR_BAD_INPUT);
    assert_string_equal(why, "not a document");
    assert_int_equal(tn_cimd_cache_stale(c, b, 2101, &out), TN_ERR_NOT_FOUND);
    tn_cimd_cache_free(c);

    /* stale_s 0: a failed refetch is a failure */
    c = tn_cimd_cache_new(&lim);
    assert_int_equal(begin(c, a, 0), TN_ERR_NOT_FOUND);
    ok_doc(c, a, 0, 100);
    assert_int_equal(begin(c, a, 100), TN_ERR_NOT_FOUND);
    assert_int_equal(get(c, a, 100), TN_ERR_BUSY);
    tn_cimd_cache_end(c, a, 101, NULL, 0, "timeout", true);
    assert_int_equal(get(c, a, 101), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_cimd_cache_stale(c, a, 101, &out), TN_ERR_NOT_FOUND);
    tn_cimd_cache_free(c);
}

/* One address holds at most addr_fetches of the fetches in flight, whatever the hosts. */
static void test_fetches_per_address(void **state)
{
    (void)state;
    struct tn_cimd_limits l = lim;
    l.addr_fetches = 1;
    struct tn_cimd_cache *c = tn_cimd_cache_new(&l);
    assert_int_equal(
        tn_cimd_cache_get_for(c, "https://h1.example/c", "10.0.0.1", 0, true, &out, &why),
        TN_ERR_NOT_FOUND);
    assert_int_equal(
        tn_cimd_cache_get_for(c, "https://h2.example/c", "10.0.0.1", 0, false, &out, &why),
        TN_ERR_BUSY);
    assert_string_equal(
        why, "This address has a client metadata document being fetched; try again in a moment.");
    assert_int_equal(
        tn_cimd_cache_get_for(c, "https://h2.example/c", "10.0.0.1", 0, true, &out, &why),
        TN_ERR_BUSY);
    assert_int_equal(
        tn_cimd_cache_get_for(c, "https://h2.example/c", "10.0.0.2", 0, true, &out, &why),
        TN_ERR_NOT_FOUND);
    assert_int_equal(tn_cimd_cache_get_for(c, "https://h3.example/c", NULL, 0, true, &out, &why),
                     TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, "https://h1.example/c", 1, NULL, 0, "timeout", true);
    assert_int_equal(
        tn_cimd_cache_get_for(c, "https://h4.example/c", "10.0.0.1", 1, false, &out, &why),
        TN_ERR_NOT_FOUND);
    tn_cimd_cache_end(c, "https://h2.example/c", 1, NULL, 0, NULL, false);
    tn_cimd_cache_end(c, "https://h3.example/c", 1, NULL, 0, NULL, false);
    tn_cimd_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_new_refuses_zero_limits),
        cmocka_unit_test(test_documents_and_failures),
        cmocka_unit_test(test_fetches_in_flight),
        cmocka_unit_test(test_failing_host),
        cmocka_unit_test(test_bounded_size),
        cmocka_unit_test(test_stale_document),
        cmocka_unit_test(test_fetches_per_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
