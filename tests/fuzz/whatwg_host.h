/* Which host would a browser visit? A small reading of a URL string as the WHATWG URL
 * Standard's basic URL parser reads it (https://url.spec.whatwg.org/#concept-basic-url-parser,
 * no base URL), written apart from src/auth/as/redirect.c to judge it: the oracle of
 * tests/fuzz/fuzz_redirect.c and tests/unit/test_redirect.c. The unit test's table, whose
 * browser-host column this code must reproduce, is checked against Node's `new URL()` by
 * tests/unit/redirect-oracle.mjs, so this reading is itself tested against a browser-grade
 * implementation.
 *
 * What it follows: leading and trailing C0 controls and spaces trimmed, tabs and newlines
 * removed anywhere; the scheme lowercased; for http and https any run of '/' and '\' after
 * the scheme skipped, the authority ended by '/', '\', '?' or '#', userinfo up to its last
 * '@'; the port all digits up to 65535, the default port dropped; the host percent-decoded,
 * lowercased, checked for forbidden code points, read as IPv4 when its last label is a
 * number (hex, octal, decimal, one to four parts) and serialised, or as IPv6 in brackets
 * (compressed on output). Other schemes get an opaque host (kept as written). It does no
 * IDNA: a host that is not ASCII after decoding, or has an "xn--" label, is reported as
 * WHATWG_IDNA and must be treated as "some host other than any ASCII one we know". Only
 * the pieces needed to name the host are parsed; path, query and fragment are skipped. */
#ifndef TN_TESTS_WHATWG_HOST_H
#define TN_TESTS_WHATWG_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum whatwg_result {
    WHATWG_OK,      /* host[] holds the serialised host ("" when the URL has none) */
    WHATWG_FAILURE, /* the parser returns failure: a browser goes nowhere */
    WHATWG_IDNA,    /* the host needs IDNA processing, which this reading does not do */
};

struct whatwg_url {
    char scheme[1024]; /* longer than any URI redirect.c accepts */
    char host[512];
    long port;     /* -1: none (or the scheme's default) */
    bool userinfo; /* an '@' ended a userinfo part */
};

static bool ww_alpha(int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool ww_digit(int c) { return c >= '0' && c <= '9'; }
static int ww_hexval(int c)
{
    if (ww_digit(c))
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The IPv4 number parser: 0 ok, -1 failure. Saturates at 2^40 (above any valid part). */
static int ww_ipv4_number(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return -1;
    unsigned r = 10;
    if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
        r = 16;
        s += 2;
        n -= 2;
    } else if (n >= 2 && s[0] == '0') {
        r = 8;
        s += 1;
        n -= 1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = ww_hexval((unsigned char)s[i]);
        if (d < 0 || (unsigned)d >= r)
            return -1;
        v = v * r + (unsigned)d;
        if (v > ((uint64_t)1 << 40))
            v = (uint64_t)1 << 40;
    }
    *out = v;
    return 0;
}

/* "ends in a number": the last label (one trailing empty label ignored) is all digits
 * or parses as an IPv4 number (0x forms). */
static bool ww_ends_in_number(const char *h, size_t n)
{
    if (n && h[n - 1] == '.')
        n--; /* the string had a dot, so there were two parts at least */
    size_t s = n;
    while (s > 0 && h[s - 1] != '.')
        s--;
    const char *last = h + s;
    size_t ln = n - s;
    if (ln == 0)
        return false;
    bool digits = true;
    for (size_t i = 0; i < ln; i++)
        digits &= ww_digit((unsigned char)last[i]);
    uint64_t v;
    return digits || ww_ipv4_number(last, ln, &v) == 0;
}

static enum whatwg_result ww_ipv4(const char *h, size_t n, char *out, size_t cap)
{
    size_t starts[300], lens[300], parts = 0;
    size_t s = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || h[i] == '.') {
            if (parts == 300)
                return WHATWG_FAILURE;
            starts[parts] = s;
            lens[parts++] = i - s;
            s = i + 1;
        }
    if (lens[parts - 1] == 0 && parts > 1)
        parts--;
    if (parts > 4)
        return WHATWG_FAILURE;
    uint64_t nums[4];
    for (size_t i = 0; i < parts; i++)
        if (ww_ipv4_number(h + starts[i], lens[i], &nums[i]) != 0)
            return WHATWG_FAILURE;
    for (size_t i = 0; i + 1 < parts; i++)
        if (nums[i] > 255)
            return WHATWG_FAILURE;
    if (nums[parts - 1] >= ((uint64_t)1 << (8 * (5 - parts))))
        return WHATWG_FAILURE;
    uint64_t v = nums[parts - 1];
    for (size_t i = 0; i + 1 < parts; i++)
        v += nums[i] << (8 * (3 - i));
    snprintf(out, cap, "%u.%u.%u.%u", (unsigned)(v >> 24) & 255, (unsigned)(v >> 16) & 255,
             (unsigned)(v >> 8) & 255, (unsigned)v & 255);
    return WHATWG_OK;
}

/* The IPv6 parser on the text between the brackets, then its serialiser. */
static enum whatwg_result ww_ipv6(const char *in, size_t n, char *out, size_t cap)
{
    unsigned a[8] = {0};
    int piece = 0, compress = -1;
    size_t p = 0;
#define C (p < n ? (unsigned char)in[p] : -1)
    if (C == ':') {
        if (p + 1 >= n || in[p + 1] != ':')
            return WHATWG_FAILURE;
        p += 2;
        compress = ++piece;
    }
    while (C != -1) {
        if (piece == 8)
            return WHATWG_FAILURE;
        if (C == ':') {
            if (compress != -1)
                return WHATWG_FAILURE;
            p++;
            compress = ++piece;
            continue;
        }
        unsigned value = 0;
        int length = 0;
        while (length < 4 && C != -1 && ww_hexval(C) >= 0) {
            value = value * 16 + (unsigned)ww_hexval(C);
            p++;
            length++;
        }
        if (C == '.') {
            if (length == 0)
                return WHATWG_FAILURE;
            p -= (size_t)length;
            if (piece > 6)
                return WHATWG_FAILURE;
            int seen = 0;
            while (C != -1) {
                int v4 = -1;
                if (seen > 0) {
                    if (C == '.' && seen < 4)
                        p++;
                    else
                        return WHATWG_FAILURE;
                }
                if (C == -1 || !ww_digit(C))
                    return WHATWG_FAILURE;
                while (C != -1 && ww_digit(C)) {
                    int d = C - '0';
                    if (v4 == -1)
                        v4 = d;
                    else if (v4 == 0)
                        return WHATWG_FAILURE;
                    else
                        v4 = v4 * 10 + d;
                    if (v4 > 255)
                        return WHATWG_FAILURE;
                    p++;
                }
                a[piece] = a[piece] * 0x100 + (unsigned)v4;
                seen++;
                if (seen == 2 || seen == 4)
                    piece++;
            }
            if (seen != 4)
                return WHATWG_FAILURE;
            break;
        } else if (C == ':') {
            p++;
            if (C == -1)
                return WHATWG_FAILURE;
        } else if (C != -1) {
            return WHATWG_FAILURE;
        }
        a[piece++] = value;
    }
#undef C
    if (compress != -1) {
        int swaps = piece - compress;
        piece = 7;
        while (piece != 0 && swaps > 0) {
            unsigned t = a[piece];
            a[piece] = a[compress + swaps - 1];
            a[compress + swaps - 1] = t;
            piece--;
            swaps--;
        }
    } else if (piece != 8) {
        return WHATWG_FAILURE;
    }
    /* the first longest run of two or more zero pieces is written "::" */
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && a[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    size_t o = 0;
    o += (size_t)snprintf(out + o, cap - o, "[");
    bool ignore0 = false;
    for (int i = 0; i < 8 && o < cap; i++) {
        if (ignore0 && a[i] == 0)
            continue;
        ignore0 = false;
        if (best == i) {
            o += (size_t)snprintf(out + o, cap - o, i == 0 ? "::" : ":");
            ignore0 = true;
            continue;
        }
        o += (size_t)snprintf(out + o, cap - o, "%x%s", a[i], i == 7 ? "" : ":");
    }
    if (o < cap)
        snprintf(out + o, cap - o, "]");
    return WHATWG_OK;
}

static bool ww_forbidden_host(int c)
{
    return c == 0 || c == '\t' || c == '\n' || c == '\r' || c == ' ' || c == '#' || c == '/' ||
           c == ':' || c == '<' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' ||
           c == ']' || c == '^' || c == '|';
}

/* The host parser for a special scheme (not opaque). */
static enum whatwg_result ww_host(const char *h, size_t n, char *out, size_t cap)
{
    if (n && h[0] == '[') {
        if (h[n - 1] != ']')
            return WHATWG_FAILURE;
        return ww_ipv6(h + 1, n - 2, out, cap);
    }
    char d[512];
    size_t dn = 0;
    bool ascii = true;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)h[i];
        if (c == '%' && i + 2 < n && ww_hexval((unsigned char)h[i + 1]) >= 0 &&
            ww_hexval((unsigned char)h[i + 2]) >= 0) {
            c = ww_hexval((unsigned char)h[i + 1]) * 16 + ww_hexval((unsigned char)h[i + 2]);
            i += 2;
        }
        if (dn + 1 >= sizeof d)
            return WHATWG_FAILURE; /* longer than any name we care about */
        if (c >= 0x80)
            ascii = false;
        d[dn++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    d[dn] = '\0';
    if (!ascii)
        return WHATWG_IDNA;
    for (size_t i = 0; i < dn; i++) {
        int c = (unsigned char)d[i];
        if (ww_forbidden_host(c) || c < 0x20 || c == '%' || c == 0x7f)
            return WHATWG_FAILURE;
    }
    if (dn == 0)
        return WHATWG_FAILURE;
    for (size_t i = 0; i < dn; i++)
        if ((i == 0 || d[i - 1] == '.') && dn - i >= 4 && !memcmp(d + i, "xn--", 4))
            return WHATWG_IDNA;
    if (ww_ends_in_number(d, dn))
        return ww_ipv4(d, dn, out, cap);
    snprintf(out, cap, "%s", d);
    return WHATWG_OK;
}

/* Reads in[0..len) and names its host. */
static enum whatwg_result whatwg_parse(const char *in, size_t len, struct whatwg_url *u)
{
    memset(u, 0, sizeof *u);
    u->port = -1;
    /* trim C0 controls and spaces at both ends, drop tabs and newlines everywhere */
    static char s[4096];
    size_t b = 0, e = len, n = 0;
    while (b < e && (unsigned char)in[b] <= 0x20)
        b++;
    while (e > b && (unsigned char)in[e - 1] <= 0x20)
        e--;
    for (size_t i = b; i < e; i++) {
        if (in[i] == '\t' || in[i] == '\n' || in[i] == '\r')
            continue;
        if (n + 1 >= sizeof s)
            return WHATWG_FAILURE;
        s[n++] = in[i];
    }
    s[n] = '\0';
    /* scheme */
    size_t p = 0;
    if (n == 0 || !ww_alpha((unsigned char)s[0]))
        return WHATWG_FAILURE;
    while (p < n && (ww_alpha((unsigned char)s[p]) || ww_digit((unsigned char)s[p]) || s[p] == '+' ||
                     s[p] == '-' || s[p] == '.'))
        p++;
    if (p == n || s[p] != ':' || p >= sizeof u->scheme)
        return WHATWG_FAILURE;
    for (size_t i = 0; i < p; i++)
        u->scheme[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    bool special = !strcmp(u->scheme, "http") || !strcmp(u->scheme, "https");
    p++;
    if (special) {
        while (p < n && (s[p] == '/' || s[p] == '\\'))
            p++;
    } else if (p + 1 < n && s[p] == '/' && s[p + 1] == '/') {
        p += 2;
    } else {
        return WHATWG_OK; /* no authority: no host */
    }
    size_t a = p;
    while (p < n && s[p] != '/' && s[p] != '?' && s[p] != '#' && !(special && s[p] == '\\'))
        p++;
    size_t ae = p, hs = a;
    for (size_t i = a; i < ae; i++)
        if (s[i] == '@') {
            u->userinfo = true;
            hs = i + 1;
        }
    if (u->userinfo && hs == ae)
        return WHATWG_FAILURE;
    /* host, then port after a ':' outside brackets */
    size_t he = hs;
    bool br = false;
    while (he < ae && !(s[he] == ':' && !br)) {
        if (s[he] == '[')
            br = true;
        else if (s[he] == ']')
            br = false;
        he++;
    }
    if (he < ae) {
        if (he == hs)
            return WHATWG_FAILURE;
        long port = -1;
        for (size_t i = he + 1; i < ae; i++) {
            if (!ww_digit((unsigned char)s[i]))
                return WHATWG_FAILURE;
            port = (port < 0 ? 0 : port) * 10 + (s[i] - '0');
            if (port > 65535)
                return WHATWG_FAILURE;
        }
        if ((port == 80 && !strcmp(u->scheme, "http")) || (port == 443 && !strcmp(u->scheme, "https")))
            port = -1;
        u->port = port;
    }
    if (special) {
        if (he == hs)
            return WHATWG_FAILURE;
        return ww_host(s + hs, he - hs, u->host, sizeof u->host);
    }
    if (he > hs && s[hs] == '[') {
        if (s[he - 1] != ']')
            return WHATWG_FAILURE;
        return ww_ipv6(s + hs + 1, he - hs - 2, u->host, sizeof u->host);
    }
    /* an opaque host: forbidden host code points fail, the rest is kept as written
     * (non-ASCII would be percent-encoded: call it IDNA-like, unknown) */
    for (size_t i = hs; i < he; i++) {
        if (ww_forbidden_host((unsigned char)s[i]))
            return WHATWG_FAILURE;
        if ((unsigned char)s[i] >= 0x80)
            return WHATWG_IDNA;
    }
    snprintf(u->host, sizeof u->host, "%.*s", (int)(he - hs), s + hs);
    return WHATWG_OK;
}

#endif
