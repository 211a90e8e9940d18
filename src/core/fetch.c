#include "core/fetch.h"

#include "core/config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tn_err tn_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TN_OK : TN_ERR_INTERNAL;
}

struct ctx {
    struct tn_fetch_result *res;
    bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct ctx *c = ud;
    if (tn_buf_append(&c->res->body, p, size * n) != TN_OK) {
        c->too_big = true;
        return 0;
    }
    return size * n;
}

static int64_t directive(const char *v, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl < len; i++) {
        if (strncasecmp(v + i, name, nl) == 0 && v[i + nl] == '=' &&
            (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',')) {
            char *end = NULL;
            long long x = strtoll(v + i + nl + 1, &end, 10);
            return end != v + i + nl + 1 && x >= 0 ? x : -1;
        }
    }
    return -1;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct ctx *c = ud;
    size_t len = size * n;
    static const char cc[] = "cache-control:";
    if (len > sizeof cc && strncasecmp(p, cc, sizeof cc - 1) == 0) {
        const char *v = p + sizeof cc - 1;
        size_t vl = len - (sizeof cc - 1);
        int64_t s = directive(v, vl, "s-maxage");
        int64_t m = directive(v, vl, "max-age");
        c->res->max_age_s = s >= 0 ? s : m;
        if (memmem(v, vl, "no-store", 8) || memmem(v, vl, "no-cache", 8))
            c->res->no_store = true;
    }
    return len;
}

static bool is_loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

static bool is_private_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 10 || (a >> 24) == 127 || (a >> 24) == 0 ||
               (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168) ||
               (a >> 16) == (169u << 8 | 254) || (a >> 22) == (100u << 2 | 1) || (a >> 28) >= 14;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(x)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, &x->s6_addr[12], 4);
            return is_private_addr((const struct sockaddr *)&v4);
        }
        static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
        bool v4compat = true; /* ::/96 */
        for (int i = 0; i < 12; i++)
            v4compat &= x->s6_addr[i] == 0;
        return IN6_IS_ADDR_LOOPBACK(x) || IN6_IS_ADDR_LINKLOCAL(x) || IN6_IS_ADDR_UNSPECIFIED(x) ||
               IN6_IS_ADDR_SITELOCAL(x) || (x->s6_addr[0] & 0xfe) == 0xfc ||
               IN6_IS_ADDR_MULTICAST(x) || v4compat || memcmp(x->s6_addr, nat64, 12) == 0 ||
               (x->s6_addr[0] == 0x20 && x->s6_addr[1] == 0x02); /* 6to4 */
    }
    return true;
}

/* Decides on the address actually connected to, so DNS answers cannot smuggle a
 * private target past a check on the name. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    const struct tn_fetch_opts *o = ud;
    const struct sockaddr *sa = &a->addr;
    bool ok = o->allow_loopback ? (is_loopback_addr(sa) || !is_private_addr(sa))
                                : !is_private_addr(sa);
    if (!ok)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

/* The one transfer both requests share, so a GET and a POST obey the same policy: the
 * scheme and host rule, the address check at connect time, no redirects, no proxy, the
 * time and size bounds. `form` NULL makes a GET; otherwise a POST of form_len bytes. */
static enum tn_err perform(const char *url, const struct tn_fetch_opts *o,
                           struct tn_fetch_result *res, const char *form, size_t form_len,
                           const char *authorization)
{
    enum tn_err rc = TN_ERR_IO;
    res->status = 0;
    res->max_age_s = -1;
    res->no_store = false;
    tn_buf_init(&res->body, o->max_bytes);
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (!https) {
        /* plain http only to a loopback host, and only when allowed (development) */
        const char *h = strncasecmp(url, "http://", 7) == 0 ? url + 7 : NULL;
        size_t hl = h ? (h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#")) : 0;
        if (!o->allow_loopback || !h || !tn_host_is_loopback(h, hl))
            return TN_ERR_FORBIDDEN;
    }
    CURL *h = curl_easy_init();
    if (!h)
        return TN_ERR_NOMEM;
    struct ctx c = {.res = res};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o->allow_loopback ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, (void *)o);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "teamnotes");
    /* never through a proxy from the environment: the address check must see the target */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    bool ready = true;
    if (form) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
        if (authorization) {
            struct tn_buf a;
            tn_buf_init(&a, 8192);
            if (tn_buf_printf(&a, "Authorization: %s", authorization) == TN_OK)
                hdrs = curl_slist_append(hdrs, a.data);
            else
                ready = false; /* does not fit: send nothing rather than no credentials */
            if (a.data)
                memset(a.data, 0, a.len); /* the client secret */
            tn_buf_deinit(&a);
        }
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cr = ready ? curl_easy_perform(h) : CURLE_OK;
    if (!ready) {
        rc = TN_ERR_LIMIT;
    } else if (c.too_big || cr == CURLE_FILESIZE_EXCEEDED) {
        rc = TN_ERR_LIMIT;
    } else if (cr == CURLE_COULDNT_CONNECT && res->status == 0) {
        rc = TN_ERR_IO;
    } else if (cr == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        rc = TN_OK;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

enum tn_err tn_fetch(const char *url, const struct tn_fetch_opts *o, struct tn_fetch_result *res)
{
    return perform(url, o, res, NULL, 0, NULL);
}

enum tn_err tn_fetch_form(const char *url, const struct tn_fetch_opts *o, const char *authorization,
                          const char *form, size_t form_len, struct tn_fetch_result *res)
{
    return perform(url, o, res, form ? form : "", form ? form_len : 0, authorization);
}
