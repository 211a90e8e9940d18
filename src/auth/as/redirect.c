#include "auth/as/redirect.h"

#include <stdio.h>
#include <string.h>

/* Schemes a browser runs, reads locally or sends elsewhere than to an app: never a
 * redirect target. The second group opens a web browser at a URL inside the URI
 * (`microsoft-edge:https://evil.example/cb` on Windows, `x-safari-https://…` on iOS,
 * Android's `intent://…`): the consent page would call it "an app on this device"
 * while the code went to a web host. (Uppercase schemes are refused before this list
 * is consulted.) */
static const char *const banned_schemes[] = {
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "ws",
    "wss",
    "ftp",
    "mailto",
    "tel",
    "filesystem",
    "view-source",
    "microsoft-edge",
    "microsoft-edge-holographic",
    "x-safari-http",
    "x-safari-https",
    "googlechrome",
    "googlechromes",
    "googlechrome-x-callback",
    "firefox",
    "firefox-private",
    "opera-http",
    "opera-https",
    "brave",
    "intent",
    "search-ms",
    "x-web-search",
    "shell",
    "jar",
    "chrome",
    "chrome-extension",
    "moz-extension",
};

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool span_is(struct tn_span s, const char *lit) { return tn_span_eq(s, lit); }

/* RFC 3986 pchar without pct-encoded (checked apart): unreserved, sub-delims, ':', '@'. */
static bool is_pchar(char c)
{
    return is_lower(c) || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           (c && strchr("-._~!$&'()*+,;=:@", c));
}

/* A canonical dotted quad: four decimal numbers 0-255, no leading zeros. */
static bool canonical_ipv4(struct tn_span h)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= h.len || h.ptr[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < h.len && is_digit(h.ptr[i]) && i - start < 3)
            v = v * 10 + (unsigned)(h.ptr[i++] - '0');
        size_t n = i - start;
        if (n == 0 || v > 255 || (n > 1 && h.ptr[start] == '0'))
            return false;
    }
    return i == h.len;
}

/* A lowercase DNS name, in the one form that WHATWG's host parser leaves unchanged and
 * does not read as an IPv4 address. NULL when it is one, else the reason. */
static const char *dns_name_problem(struct tn_span h)
{
    if (h.len > 253)
        return "has a host name longer than 253 characters";
    size_t label = 0; /* length of the current label */
    size_t start = 0; /* where the current label starts */
    for (size_t i = 0; i <= h.len; i++) {
        if (i == h.len || h.ptr[i] == '.') {
            if (label == 0)
                return i == h.len && i > 0 ? "has a host name ending in a dot"
                                           : "has an empty label in its host name";
            if (label > 63)
                return "has a host name label longer than 63 characters";
            if (h.ptr[start] == '-' || h.ptr[i - 1] == '-')
                return "has a host name label that starts or ends with '-'";
            if (i == h.len && !is_lower(h.ptr[start]))
                /* WHATWG reads a host whose last label is a number (127.1, x.0x7f, 1.2.3.4)
                 * as an IPv4 address; a top-level label never starts with a digit */
                return "has a host name whose last label does not start with a letter";
            label = 0;
            start = i + 1;
            continue;
        }
        char c = h.ptr[i];
        if (!(is_lower(c) || is_digit(c) || c == '-'))
            return c >= 'A' && c <= 'Z' ? "has uppercase letters in its host"
                   : c == '%'           ? "has a percent escape in its host"
                                        : "has a character that is not allowed in a host name";
        label++;
    }
    return NULL;
}

/* Host (reg-name, dotted quad or [::1]); NULL when acceptable, else the reason. */
static const char *host_problem(struct tn_span h)
{
    if (h.len == 0)
        return "has no host";
    if (h.ptr[0] == '[')
        return span_is(h, "[::1]") ? NULL : "may use an IPv6 address only as [::1]";
    bool numeric = true;
    for (size_t i = 0; i < h.len; i++)
        numeric &= is_digit(h.ptr[i]) || h.ptr[i] == '.';
    if (numeric)
        return canonical_ipv4(h) ? NULL
                                 : "has an IPv4 address that is not four decimal numbers 0-255 "
                                   "without leading zeros";
    return dns_name_problem(h);
}

/* Path or query: pchar, '/', ('?' in the query), and well-formed %XX. */
static const char *chars_problem(struct tn_span s, bool query)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '%') {
            if (i + 2 >= s.len || !is_hex(s.ptr[i + 1]) || !is_hex(s.ptr[i + 2]))
                return "has a malformed percent escape";
            i += 2;
        } else if (!(is_pchar(c) || c == '/' || (query && c == '?'))) {
            return "has a character that must be percent-encoded";
        }
    }
    return NULL;
}

/* "." or "%2e" (any case) at s[i..], advancing *i; the pieces of a dot segment. */
static bool dot_at(struct tn_span s, size_t *i)
{
    if (*i < s.len && s.ptr[*i] == '.') {
        *i += 1;
        return true;
    }
    if (*i + 2 < s.len && s.ptr[*i] == '%' && s.ptr[*i + 1] == '2' &&
        (s.ptr[*i + 2] | 0x20) == 'e') {
        *i += 3;
        return true;
    }
    return false;
}

/* True when a segment of the path is ".", "..", or one of those with %2e for a dot: a
 * browser resolves them, so the path it requests is not the one that was compared. */
static bool has_dot_segment(struct tn_span p)
{
    size_t i = 0;
    while (i <= p.len) {
        size_t end = i;
        while (end < p.len && p.ptr[end] != '/')
            end++;
        struct tn_span seg = {p.ptr + i, end - i};
        size_t j = 0;
        int dots = 0;
        while (dots < 3 && dot_at(seg, &j))
            dots++;
        if (j == seg.len && (dots == 1 || dots == 2))
            return true;
        i = end + 1;
    }
    return false;
}

/* Bytes a browser would read otherwise than we compare them. */
static const char *bytes_problem(const char *uri, size_t len)
{
    if (len == 0 || len > TN_REDIRECT_MAX)
        return "must be 1 to 1000 characters";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c >= 0x7f) {
            /* WHATWG drops tabs and newlines and trims spaces: what we compare would not
             * be what the browser reads */
            return "must not contain spaces, control characters or non-ASCII characters";
        }
    }
    if (memchr(uri, '\\', len)) /* a path separator to a browser in http(s) URLs */
        return "must not contain a backslash";
    if (memchr(uri, '#', len))
        return "must not contain a fragment";
    return NULL;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), lowercase only, none of the
 * banned ones; *scheme is the span before the ':'. */
static const char *scheme_problem(const char *uri, const char *end, struct tn_span *scheme)
{
    const char *p = uri;
    while (p < end && *p != ':')
        p++;
    if (p == end || p == uri || !(is_lower(uri[0]) || (uri[0] >= 'A' && uri[0] <= 'Z')))
        return "is not an absolute URI";
    for (const char *c = uri; c < p; c++) {
        if (*c >= 'A' && *c <= 'Z')
            return "must have a lowercase scheme";
        if (!(is_lower(*c) || is_digit(*c) || *c == '+' || *c == '-' || *c == '.'))
            return "is not an absolute URI";
    }
    *scheme = (struct tn_span){uri, (size_t)(p - uri)};
    for (size_t i = 0; i < sizeof banned_schemes / sizeof banned_schemes[0]; i++)
        if (span_is(*scheme, banned_schemes[i]))
            return "uses a scheme that is never allowed";
    return NULL;
}

/* PORT in d[..e): 1 to 65535 in digits without a leading zero. */
static const char *port_problem(const char *d, const char *e, unsigned *port)
{
    if (d == e)
        return "has an empty port";
    unsigned v = 0;
    for (const char *c = d; c < e; c++) {
        if (!is_digit(*c))
            return "has a port that is not a number";
        if (v <= 65535)
            v = v * 10 + (unsigned)(*c - '0');
    }
    if (*d == '0' || v > 65535)
        return "has a port outside 1-65535 or with a leading zero";
    *port = v;
    return NULL;
}

/* The authority a[..ae): no user information, a host (host_problem), then an optional
 * port; fills u->host and u->port. */
static const char *authority_problem(const char *a, const char *ae, struct tn_redirect_uri *u)
{
    if (memchr(a, '@', (size_t)(ae - a)))
        return "must not contain user information";
    /* the host ends at the port's ':' outside brackets */
    const char *he = a;
    if (he < ae && *he == '[') {
        while (he < ae && *he != ']')
            he++;
        if (he == ae)
            return "has an unclosed '[' in its host";
        he++;
    } else {
        while (he < ae && *he != ':')
            he++;
    }
    u->host = (struct tn_span){a, (size_t)(he - a)};
    const char *reason = host_problem(u->host);
    if (reason || he == ae)
        return reason;
    if (*he != ':')
        return "has characters after its host";
    return port_problem(he + 1, ae, &u->port);
}

enum tn_err tn_redirect_parse(const char *uri, size_t len, struct tn_redirect_uri *out,
                              const char **why)
{
    struct tn_redirect_uri u;
    memset(&u, 0, sizeof u);
    memset(out, 0, sizeof *out);
    const char *end = uri + len;

    const char *reason = bytes_problem(uri, len);
    if (reason || (reason = scheme_problem(uri, end, &u.scheme)))
        goto done;
    bool https = span_is(u.scheme, "https"), http = span_is(u.scheme, "http");
    u.kind = https ? TN_REDIRECT_HTTPS : http ? TN_REDIRECT_LOOPBACK : TN_REDIRECT_APP;
    const char *p = u.scheme.ptr + u.scheme.len + 1; /* past ':' */

    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        const char *a = p + 2, *ae = a;
        while (ae < end && *ae != '/' && *ae != '?')
            ae++;
        if ((reason = authority_problem(a, ae, &u)))
            goto done;
        p = ae;
    } else if (https || http) {
        reason = "has no host";
        goto done;
    }

    const char *q = p;
    while (q < end && *q != '?')
        q++;
    u.path = (struct tn_span){p, (size_t)(q - p)};
    if (q < end)
        u.query = (struct tn_span){q + 1, (size_t)(end - q - 1)};
    if (!u.host.ptr && u.path.len == 0) {
        reason = "has no path";
        goto done;
    }
    if (http && !(span_is(u.host, "127.0.0.1") || span_is(u.host, "[::1]") ||
                  span_is(u.host, "localhost"))) {
        reason = "may use plain http only for loopback (127.0.0.1, [::1], localhost)";
        goto done;
    }
    if ((reason = chars_problem(u.path, false)) ||
        (u.query.ptr && (reason = chars_problem(u.query, true))))
        goto done;
    if (has_dot_segment(u.path)) {
        reason = "must not contain dot segments (. or ..)";
        goto done;
    }
    *out = u;
done:
    if (why)
        *why = reason;
    return reason ? TN_ERR_BAD_INPUT : TN_OK;
}

enum tn_err tn_redirect_validate(const char *uri, struct tn_buf *why)
{
    struct tn_redirect_uri u;
    const char *reason = NULL;
    enum tn_err rc = tn_redirect_parse(uri, strlen(uri), &u, &reason);
    if (rc != TN_OK)
        tn_buf_puts(why, reason);
    return rc;
}

static bool spans_equal(struct tn_span a, struct tn_span b)
{
    return (a.ptr == NULL) == (b.ptr == NULL) && a.len == b.len &&
           (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len));
}

bool tn_redirect_matches(const char *registered, const char *requested)
{
    struct tn_redirect_uri a, b;
    if (tn_redirect_parse(registered, strlen(registered), &a, NULL) != TN_OK ||
        tn_redirect_parse(requested, strlen(requested), &b, NULL) != TN_OK)
        return false;
    if (strcmp(registered, requested) == 0)
        return true;
    /* RFC 8252 §7.3: a native app listens on a port it gets at run time. The host stays
     * spelled as registered: 127.0.0.1, [::1] and localhost never stand in for each other. */
    return a.kind == TN_REDIRECT_LOOPBACK && b.kind == TN_REDIRECT_LOOPBACK &&
           spans_equal(a.host, b.host) && spans_equal(a.path, b.path) &&
           spans_equal(a.query, b.query);
}

bool tn_redirect_is_loopback(const char *uri)
{
    struct tn_redirect_uri u;
    return tn_redirect_parse(uri, strlen(uri), &u, NULL) == TN_OK && u.kind == TN_REDIRECT_LOOPBACK;
}

void tn_redirect_host(const char *uri, char *out, size_t cap)
{
    struct tn_redirect_uri u;
    if (tn_redirect_parse(uri, strlen(uri), &u, NULL) != TN_OK)
        snprintf(out, cap, "(invalid)");
    else if (u.kind == TN_REDIRECT_APP)
        snprintf(out, cap, "%.*s: (an app on this device)", (int)u.scheme.len, u.scheme.ptr);
    else
        snprintf(out, cap, "%.*s", (int)u.host.len, u.host.ptr);
}
