/* Who may talk to the server: the Host allow-list (DNS rebinding), the Origin
 * allow-list, and the CORS headers and preflight answers that go with them. The access
 * handler (server.c) checks both on the headers of every request, before routing. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/util.h"
#include "http/internal.h"

static void split_list(const char *csv, char **out, unsigned *n, bool *star)
{
    *n = 0;
    const char *p = csv;
    while (p && *p && *n < MAX_LIST) {
        size_t len = strcspn(p, ",");
        struct tn_span s = tn_span_trim((struct tn_span){p, len});
        while (s.len && s.ptr[s.len - 1] == '/')
            s.len--;
        if (s.len == 1 && s.ptr[0] == '*' && star)
            *star = true;
        else if (s.len)
            out[(*n)++] = strndup(s.ptr, s.len);
        p += len;
        if (*p == ',')
            p++;
    }
}

/* Splits "host[:port]" or "[v6]:port" into the host part. */
static struct tn_span host_part(const char *hp, size_t len)
{
    if (len && hp[0] == '[') {
        const char *close = memchr(hp, ']', len);
        return (struct tn_span){hp, close ? (size_t)(close - hp) + 1 : len};
    }
    const char *colon = memchr(hp, ':', len);
    return (struct tn_span){hp, colon ? (size_t)(colon - hp) : len};
}

bool tn_http_host_allowed(const struct tn_http_server *s, const char *host)
{
    if (!host)
        return true; /* HTTP/1.1 without Host is refused by MHD itself */
    struct tn_span h = host_part(host, strlen(host));
    if (h.len == 0)
        return false;
    if (tn_host_is_loopback(h.ptr, h.len))
        return true;
    if (tn_span_ieq(h, s->base_host))
        return true;
    for (unsigned i = 0; i < s->n_hosts; i++) {
        if (strcasecmp(host, s->hosts[i]) == 0 || tn_span_ieq(h, s->hosts[i]))
            return true;
    }
    return false;
}

bool tn_http_origin_allowed(const struct tn_http_server *s, const char *origin)
{
    size_t n = strlen(origin);
    while (n && origin[n - 1] == '/')
        n--;
    struct tn_span o = {origin, n};
    if (s->any_origin)
        return true;
    if (tn_span_ieq(o, s->base_origin))
        return true;
    for (unsigned i = 0; i < s->n_origins; i++)
        if (tn_span_ieq(o, s->origins[i]))
            return true;
    /* A loopback deployment accepts browser tools on any loopback port. */
    const char *rest = NULL;
    if (n > 7 && strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (n > 8 && strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    if (!rest || !s->base_loopback)
        return false;
    size_t rl = n - (size_t)(rest - origin);
    if (memchr(rest, '/', rl) || memchr(rest, '@', rl))
        return false;
    struct tn_span h = host_part(rest, rl);
    return tn_host_is_loopback(h.ptr, h.len);
}

void tn_http_policy_init(struct tn_http_server *s, const struct tn_http_config *cfg)
{
    /* base origin = scheme://authority, host lower-cased for comparisons */
    const char *auth = strstr(s->base_url, "://");
    auth = auth ? auth + 3 : s->base_url;
    size_t alen = strcspn(auth, "/?#");
    s->base_origin = strndup(s->base_url, (size_t)(auth - s->base_url) + alen);
    struct tn_span h = host_part(auth, alen);
    s->base_host = strndup(h.ptr, h.len);
    s->base_loopback = tn_host_is_loopback(h.ptr, h.len);
    split_list(cfg->allowed_origins, s->origins, &s->n_origins, &s->any_origin);
    split_list(cfg->allowed_hosts, s->hosts, &s->n_hosts, NULL);
}

void tn_http_policy_free(struct tn_http_server *s)
{
    for (unsigned i = 0; i < s->n_origins; i++)
        free(s->origins[i]);
    for (unsigned i = 0; i < s->n_hosts; i++)
        free(s->hosts[i]);
    free(s->base_origin);
    free(s->base_host);
}

/* ---------- CORS ---------- */

static const char cors_allow_headers[] =
    "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, "
    "Last-Event-ID, Mcp-Method, Mcp-Name";
static const char cors_expose_headers[] =
    "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version, X-Request-Id";

void tn_http_add_cors(const struct tn_http_req *r, struct MHD_Response *mr)
{
    if (!r->origin_ok)
        return;
    MHD_add_response_header(mr, "Access-Control-Allow-Origin", r->origin_ok);
    if (strcmp(r->origin_ok, "*") != 0)
        MHD_add_response_header(mr, "Vary", "Origin");
    MHD_add_response_header(mr, "Access-Control-Expose-Headers", cors_expose_headers);
}

enum MHD_Result tn_http_preflight(struct tn_http_req *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!mr)
        return MHD_NO;
    tn_http_add_cors(r, mr);
    /* Echo requested Mcp-Param-* names (tools annotated with x-mcp-header) next to the
     * fixed list; every other requested header is left to the browser to refuse. */
    char allow[1024];
    snprintf(allow, sizeof allow, "%s", cors_allow_headers);
    const char *req_h =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    for (const char *p = req_h; p && *p;) {
        size_t len = strcspn(p, ",");
        struct tn_span h = tn_span_trim((struct tn_span){p, len});
        if (h.len > 10 && h.len < 100 && strncasecmp(h.ptr, "mcp-param-", 10) == 0) {
            bool clean = true;
            for (size_t i = 0; i < h.len; i++)
                if (!(h.ptr[i] == '-' || (h.ptr[i] >= '0' && h.ptr[i] <= '9') ||
                      ((h.ptr[i] | 32) >= 'a' && (h.ptr[i] | 32) <= 'z')))
                    clean = false;
            size_t cur = strlen(allow);
            if (clean && cur + h.len + 3 < sizeof allow)
                snprintf(allow + cur, sizeof allow - cur, ", %.*s", (int)h.len, h.ptr);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    MHD_add_response_header(mr, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    MHD_add_response_header(mr, "Access-Control-Allow-Headers", allow);
    MHD_add_response_header(mr, "Access-Control-Max-Age", "600");
    MHD_add_response_header(mr, "X-Request-Id", r->id);
    tn_http_close_if_draining(r->srv, mr);
    r->status = 204;
    r->answered = true;
    r->answered_ns = tn_time_mono_ns();
    enum MHD_Result ok = MHD_queue_response(r->conn, 204, mr);
    MHD_destroy_response(mr);
    return ok;
}
