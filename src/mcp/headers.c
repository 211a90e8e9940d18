/* Mcp-* request header values: trimmed, with the `=?base64?…?=` form decoded. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mcp/internal.h"

char *tn_mcp_header_decode(const char *raw)
{
    struct tn_span v = tn_span_trim((struct tn_span){raw, strlen(raw)});
    static const char pre[] = "=?base64?", post[] = "?=";
    /* Only `=?base64?…?=` as a whole is encoded; anything else is taken literally. */
    if (v.len >= sizeof pre - 1 + sizeof post - 1 && memcmp(v.ptr, pre, sizeof pre - 1) == 0 &&
        memcmp(v.ptr + v.len - (sizeof post - 1), post, sizeof post - 1) == 0) {
        const char *b = v.ptr + sizeof pre - 1;
        size_t blen = v.len - (sizeof pre - 1) - (sizeof post - 1);
        char *out = malloc(blen + 1);
        if (!out)
            return NULL;
        size_t n = 0;
        if (tn_b64_decode(out, blen + 1, &n, b, blen) != TN_OK) {
            free(out);
            return NULL;
        }
        out[n] = '\0';
        if (strlen(out) != n) { /* an embedded NUL can never match a body value */
            free(out);
            return NULL;
        }
        return out;
    }
    /* Plain values must be visible ASCII (spaces inside allowed). */
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.ptr[i];
        if (ch < 0x20 || ch > 0x7e)
            return NULL;
    }
    return strndup(v.ptr, v.len);
}

/* Which answers an Accept header allows (a missing header allows both). */
bool tn_mcp_media_is(const char *v, const char *type)
{
    size_t n = strlen(type);
    while (*v == ' ')
        v++;
    return strncasecmp(v, type, n) == 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

struct tn_mcp_accept tn_mcp_parse_accept(const char *h)
{
    struct tn_mcp_accept a = {true, true};
    if (!h || !*h)
        return a;
    a.json = a.sse = false;
    for (const char *p = h; *p;) {
        size_t n = strcspn(p, ",");
        char item[128];
        if (n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
            if (tn_mcp_media_is(item, "application/json") ||
                tn_mcp_media_is(item, "application/*") || tn_mcp_media_is(item, "*/*"))
                a.json = true;
            if (tn_mcp_media_is(item, "text/event-stream") || tn_mcp_media_is(item, "text/*") ||
                tn_mcp_media_is(item, "*/*"))
                a.sse = true;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return a;
}
