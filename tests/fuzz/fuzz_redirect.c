/* Fuzz target: redirect URIs (tn_redirect_parse, tn_redirect_validate, tn_redirect_matches,
 * tn_redirect_is_loopback, tn_redirect_host).
 *
 * Input: without a NUL byte, the whole input is a requested redirect_uri, tried against a
 * fixed set of registered URIs (loopback in its three spellings, https with and without a
 * query, private-use schemes). With a NUL, the bytes before it are a URI offered for
 * registration and the bytes after it (to the next NUL) the requested one.
 *
 * The judge is tests/fuzz/whatwg_host.h, an independent reading of the URL the way a
 * browser's WHATWG parser reads it (tabs and newlines dropped, userinfo up to the last '@',
 * '\' as '/', hex/octal/short/decimal IPv4, percent-decoding, lowercasing). Checks:
 *  - if it matched, the host a browser would visit is the registered host: the same
 *    scheme, the WHATWG host of the requested URI equals that of the registered one and
 *    the host redirect.c parsed, no userinfo; a non-loopback match is byte-identical, a
 *    loopback one differs at most in the port (the rest after the authority is identical);
 *    and the path has no segment a browser resolves as "." or "..";
 *  - anything the parser accepts (registered or requested) is read by WHATWG without
 *    failure or IDNA, with no userinfo, the same scheme, the very host and port it
 *    parsed: what was checked is what the browser visits;
 *  - anything accepted is visible ASCII with no '\' or '#', and a (ptr, len) with a NUL
 *    inside is refused;
 *  - tn_redirect_is_loopback agrees with the parse, tn_redirect_host stays in its buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/as/redirect.h"

#include "whatwg_host.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_redirect: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static const char *const registered_set[] = {
    "http://127.0.0.1/cb",
    "http://[::1]/cb",
    "http://localhost/cb",
    "http://127.0.0.1:33418/cb?x=1",
    "https://app.example.com/cb",
    "https://app.example.com/cb?tenant=a",
    "https://203.0.113.5/cb",
    "cursor://anysphere.cursor-mcp/oauth/callback",
    "com.example.app:/oauth2redirect",
};

static bool span_eq_str(struct tn_span s, const char *z)
{
    return s.len == strlen(z) && (s.len == 0 || memcmp(s.ptr, z, s.len) == 0);
}

/* The part after the authority ("//host[:port]"), by a plain scan, not redirect.c's. */
static const char *after_authority(const char *u)
{
    const char *p = strstr(u, "//");
    CHECK(p);
    p += 2;
    return p + strcspn(p, "/?");
}

/* No path segment that WHATWG resolves: ".", "..", with %2e for a dot in any case. */
static bool no_dot_segment(const char *u)
{
    const char *p = strchr(u, ':');
    CHECK(p);
    p = p[1] == '/' && p[2] == '/' ? after_authority(p) : p + 1;
    size_t plen = strcspn(p, "?#");
    size_t i = 0;
    while (i <= plen) {
        size_t e = i;
        while (e < plen && p[e] != '/' && p[e] != '\\')
            e++;
        int dots = 0;
        size_t j = i;
        bool only = true;
        while (j < e) {
            if (p[j] == '.') {
                j++;
            } else if (e - j >= 3 && p[j] == '%' && p[j + 1] == '2' && (p[j + 2] | 0x20) == 'e') {
                j += 3;
            } else {
                only = false;
                break;
            }
            dots++;
        }
        if (only && (dots == 1 || dots == 2))
            return false;
        i = e + 1;
    }
    return true;
}

/* What redirect.c accepted is what the browser reads. */
static void check_accepted(const char *u, size_t len, const struct tn_redirect_uri *r)
{
    for (size_t i = 0; i < len; i++)
        CHECK(u[i] > 0x20 && u[i] < 0x7f && u[i] != '\\' && u[i] != '#');
    struct whatwg_url w;
    enum whatwg_result wr = whatwg_parse(u, len, &w);
    bool idna_label = r->host.len >= 4 && (memmem(r->host.ptr, r->host.len, "xn--", 4) != NULL);
    if (wr == WHATWG_IDNA) {
        /* an ASCII punycode label: IDNA validates it but cannot change it */
        CHECK(idna_label);
        return;
    }
    CHECK(wr == WHATWG_OK);
    CHECK(!w.userinfo);
    CHECK(span_eq_str(r->scheme, w.scheme));
    if (r->host.ptr)
        CHECK(span_eq_str(r->host, w.host));
    else
        CHECK(w.host[0] == '\0');
    if (r->kind == TN_REDIRECT_APP) {
        CHECK(w.port == (r->port ? (long)r->port : -1));
    } else {
        unsigned dflt = r->kind == TN_REDIRECT_HTTPS ? 443 : 80;
        CHECK(w.port == (r->port && r->port != dflt ? (long)r->port : -1));
    }
    CHECK(no_dot_segment(u));
    CHECK(tn_redirect_is_loopback(u) == (r->kind == TN_REDIRECT_LOOPBACK));
    if (r->kind == TN_REDIRECT_LOOPBACK)
        CHECK(span_eq_str(r->host, "127.0.0.1") || span_eq_str(r->host, "[::1]") ||
              span_eq_str(r->host, "localhost"));
    char small[8], big[300];
    tn_redirect_host(u, small, sizeof small);
    CHECK(strlen(small) < sizeof small);
    tn_redirect_host(u, big, sizeof big);
    if (r->kind != TN_REDIRECT_APP && r->host.len < sizeof big)
        CHECK(span_eq_str(r->host, big));
}

static void check_pair(const char *reg, const char *req)
{
    if (!tn_redirect_matches(reg, req))
        return;
    struct tn_redirect_uri a, b;
    CHECK(tn_redirect_parse(reg, strlen(reg), &a, NULL) == TN_OK);
    CHECK(tn_redirect_parse(req, strlen(req), &b, NULL) == TN_OK);
    struct whatwg_url wa, wb;
    enum whatwg_result ra = whatwg_parse(reg, strlen(reg), &wa);
    enum whatwg_result rb = whatwg_parse(req, strlen(req), &wb);
    CHECK(ra == rb);
    CHECK(rb != WHATWG_FAILURE);
    CHECK(!wb.userinfo);
    CHECK(!strcmp(wa.scheme, wb.scheme));
    if (rb == WHATWG_OK) {
        CHECK(!strcmp(wa.host, wb.host));
        if (a.host.ptr)
            CHECK(span_eq_str(a.host, wb.host));
    } else {
        CHECK(!strcmp(reg, req)); /* punycode: only the very same bytes */
    }
    if (a.kind == TN_REDIRECT_LOOPBACK) {
        CHECK(b.kind == TN_REDIRECT_LOOPBACK);
        CHECK(!strcmp(after_authority(reg), after_authority(req)));
        /* the authorities differ at most by ":port" after the same host */
        const char *ha = reg + 7, *hb = req + 7;
        size_t la = (size_t)(after_authority(reg) - ha), lb = (size_t)(after_authority(req) - hb);
        size_t hl = a.host.len;
        CHECK(la >= hl && lb >= hl && !memcmp(ha, hb, hl));
        for (size_t i = hl; i < lb; i++)
            CHECK(i == hl ? hb[i] == ':' : (hb[i] >= '0' && hb[i] <= '9'));
    } else {
        CHECK(!strcmp(reg, req));
    }
    CHECK(no_dot_segment(req));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4000)
        return 0;
    const uint8_t *nul = memchr(data, 0, size);
    char *req = NULL, *reg = NULL;
    struct tn_redirect_uri r;
    /* (ptr, len) with the NUL inside: never accepted */
    if (nul)
        CHECK(tn_redirect_parse((const char *)data, size, &r, NULL) == TN_ERR_BAD_INPUT);
    if (nul) {
        size_t rn = (size_t)(nul - data);
        reg = malloc(rn + 1);
        CHECK(reg);
        memcpy(reg, data, rn);
        reg[rn] = '\0';
        const uint8_t *q = nul + 1;
        size_t qn = size - rn - 1;
        const uint8_t *nul2 = memchr(q, 0, qn);
        if (nul2)
            qn = (size_t)(nul2 - q);
        req = malloc(qn + 1);
        CHECK(req);
        memcpy(req, q, qn);
        req[qn] = '\0';
    } else {
        req = malloc(size + 1);
        CHECK(req);
        memcpy(req, data, size);
        req[size] = '\0';
    }
    /* the parser on heap copies of exactly len bytes, so reading past is caught */
    char *exact = malloc(strlen(req) ? strlen(req) : 1);
    CHECK(exact);
    memcpy(exact, req, strlen(req));
    const char *why = "unset";
    if (tn_redirect_parse(exact, strlen(req), &r, &why) == TN_OK) {
        CHECK(why == NULL);
        check_accepted(req, strlen(req), &r);
    } else {
        CHECK(why && why[0]);
        CHECK(!tn_redirect_is_loopback(req));
    }
    free(exact);
    if (reg) {
        struct tn_buf b;
        tn_buf_init(&b, 1024);
        if (tn_redirect_validate(reg, &b) == TN_OK) {
            CHECK(b.len == 0);
            CHECK(tn_redirect_parse(reg, strlen(reg), &r, NULL) == TN_OK);
            check_accepted(reg, strlen(reg), &r);
            CHECK(tn_redirect_matches(reg, reg));
            check_pair(reg, req);
        } else {
            CHECK(b.len > 0);
            CHECK(!tn_redirect_matches(reg, req));
        }
        tn_buf_deinit(&b);
    } else {
        for (size_t i = 0; i < sizeof registered_set / sizeof registered_set[0]; i++)
            check_pair(registered_set[i], req);
    }
    free(req);
    free(reg);
    return 0;
}
