#include "auth/as/redirect.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"

struct parts {
    const char *scheme;
    size_t scheme_len;
    const char *host; /* NULL when there is no authority */
    size_t host_len;
    const char *port;
    size_t port_len;
    const char *rest; /* path and query */
};

static bool split(const char *u, struct parts *p)
{
    memset(p, 0, sizeof *p);
    const char *colon = strchr(u, ':');
    if (!colon || colon == u)
        return false;
    for (const char *c = u; c < colon; c++)
        if (!(isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.') ||
            (c == u && !isalpha((unsigned char)*c)))
            return false;
    p->scheme = u;
    p->scheme_len = (size_t)(colon - u);
    const char *after = colon + 1;
    if (strncmp(after, "//", 2) == 0) {
        const char *a = after + 2;
        size_t alen = strcspn(a, "/?");
        const char *end = a + alen;
        if (a[0] == '[') {
            const char *close = memchr(a, ']', alen);
            if (!close)
                return false;
            p->host = a;
            p->host_len = (size_t)(close - a) + 1;
            if (close + 1 < end && close[1] == ':') {
                p->port = close + 2;
                p->port_len = (size_t)(end - p->port);
            }
        } else {
            const char *pc = memchr(a, ':', alen);
            p->host = a;
            p->host_len = pc ? (size_t)(pc - a) : alen;
            if (pc) {
                p->port = pc + 1;
                p->port_len = (size_t)(end - p->port);
            }
        }
        p->rest = end;
    } else {
        p->rest = after;
    }
    return true;
}

static bool scheme_is(const struct parts *p, const char *s)
{
    return p->scheme_len == strlen(s) && strncasecmp(p->scheme, s, p->scheme_len) == 0;
}

bool tn_redirect_is_loopback(const char *uri)
{
    struct parts p;
    return split(uri, &p) && scheme_is(&p, "http") && p.host &&
           ((p.host_len == 9 && !strncmp(p.host, "127.0.0.1", 9)) ||
            (p.host_len == 5 && !strncmp(p.host, "[::1]", 5)) ||
            (p.host_len == 9 && !strncmp(p.host, "localhost", 9)));
}

enum tn_err tn_redirect_validate(const char *uri, struct tn_buf *why)
{
    size_t n = strlen(uri);
    static const char *const banned[] = {"javascript", "data", "file", "vbscript", "blob",
                                         "about", "ws", "wss", "ftp", "mailto", "tel"};
    struct parts p;
    const char *reason = NULL;
    if (n == 0 || n > 1000)
        reason = "must be 1 to 1000 characters";
    else if (strchr(uri, '#'))
        reason = "must not contain a fragment";
    for (size_t i = 0; !reason && i < n; i++)
        if ((unsigned char)uri[i] <= 0x20 || uri[i] == 0x7f || uri[i] == '\\')
            reason = "must not contain spaces, control characters or backslashes";
    if (!reason && !split(uri, &p))
        reason = "is not an absolute URI";
    if (!reason && p.host && memchr(p.host, '@', (size_t)(p.rest - p.host)))
        reason = "must not contain user information";
    for (size_t i = 0; !reason && i < sizeof banned / sizeof banned[0]; i++)
        if (scheme_is(&p, banned[i]))
            reason = "uses a scheme that is never allowed";
    if (!reason && scheme_is(&p, "http") && !tn_redirect_is_loopback(uri))
        reason = "plain http is allowed only for loopback (127.0.0.1, [::1], localhost)";
    if (!reason && (scheme_is(&p, "http") || scheme_is(&p, "https"))) {
        if (!p.host || p.host_len == 0)
            reason = "has no host";
        for (size_t i = 0; !reason && p.port && i < p.port_len; i++)
            if (!isdigit((unsigned char)p.port[i]))
                reason = "has an invalid port";
    }
    if (reason) {
        tn_buf_puts(why, reason);
        return TN_ERR_BAD_INPUT;
    }
    return TN_OK;
}

bool tn_redirect_matches(const char *registered, const char *requested)
{
    if (strcmp(registered, requested) == 0)
        return true;
    if (!tn_redirect_is_loopback(registered) || !tn_redirect_is_loopback(requested))
        return false;
    struct parts a, b;
    split(registered, &a);
    split(requested, &b);
    /* same host spelling (no localhost/127.0.0.1 cross-matching), any port, same path
     * and query */
    return a.host_len == b.host_len && !strncmp(a.host, b.host, a.host_len) &&
           strcmp(a.rest, b.rest) == 0 && (b.port_len == 0 || b.port_len <= 5);
}

void tn_redirect_host(const char *uri, char *out, size_t cap)
{
    struct parts p;
    if (!split(uri, &p)) {
        snprintf(out, cap, "(invalid)");
        return;
    }
    if (p.host)
        snprintf(out, cap, "%.*s", (int)p.host_len, p.host);
    else
        snprintf(out, cap, "%.*s: (an app on this device)", (int)p.scheme_len, p.scheme);
}
