/* Client addresses behind reverse proxies (see proxy.h).
 *
 * The walk is the usual rule (nginx's real_ip_recursive, RFC 7239 §7.4): a proxy appends
 * the address it received the request from, so reading from the right and skipping the
 * hops we trust ends at the first address written by a proxy we trust about a peer we do
 * not: the client. Everything further left came from that client and is never read. */
#include "core/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool tn_ip_is_v4(const struct tn_ip *ip) { return memcmp(ip->b, v4_prefix, 12) == 0; }

void tn_ip_party(const struct tn_ip *ip, struct tn_ip *out)
{
    *out = *ip;
    if (!tn_ip_is_v4(ip))
        memset(out->b + 8, 0, 8);
}

enum tn_err tn_ip_parse(const char *s, size_t len, struct tn_ip *out)
{
    memset(out, 0, sizeof *out);
    char tmp[TN_IP_TEXT_MAX];
    if (len == 0 || len >= sizeof tmp || memchr(s, '\0', len))
        return TN_ERR_BAD_INPUT;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* glibc's inet_pton is strict: four decimal parts without leading zeros for IPv4,
     * no zone, no brackets, no spaces for IPv6. */
    if (memchr(tmp, ':', len)) {
        if (inet_pton(AF_INET6, tmp, out->b) == 1)
            return TN_OK;
    } else {
        memcpy(out->b, v4_prefix, 12);
        if (inet_pton(AF_INET, tmp, out->b + 12) == 1)
            return TN_OK;
    }
    memset(out, 0, sizeof *out);
    return TN_ERR_BAD_INPUT;
}

bool tn_ip_from_sockaddr(const struct sockaddr *sa, struct tn_ip *out)
{
    memset(out, 0, sizeof *out);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(out->b, v4_prefix, 12);
        memcpy(out->b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa && sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

void tn_ip_format(const struct tn_ip *ip, char out[TN_IP_TEXT_MAX])
{
    const char *r = tn_ip_is_v4(ip) ? inet_ntop(AF_INET, ip->b + 12, out, TN_IP_TEXT_MAX)
                                    : inet_ntop(AF_INET6, ip->b, out, TN_IP_TEXT_MAX);
    if (!r)
        out[0] = '\0';
}

/* ---------- the trusted list ---------- */

static bool in_block(const struct tn_cidr *c, const struct tn_ip *ip)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net.b, ip->b, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net.b[full] & mask) == (ip->b[full] & mask);
}

bool tn_proxies_match(const struct tn_proxies *p, const struct tn_ip *ip)
{
    for (unsigned i = 0; p && i < p->n; i++)
        if (in_block(&p->v[i], ip))
            return true;
    return false;
}

static bool list_sep(char c) { return c == ',' || c == ' ' || c == '\t'; }

/* One entry: "addr" or "addr/bits". */
static enum tn_err parse_block(const char *e, size_t n, struct tn_cidr *out, struct tn_buf *err)
{
    const char *slash = memchr(e, '/', n);
    size_t alen = slash ? (size_t)(slash - e) : n;
    if (tn_ip_parse(e, alen, &out->net) != TN_OK) {
        tn_buf_printf(err,
                      "TRUSTED_PROXIES: '%.*s' is not an IPv4 or IPv6 address or CIDR block "
                      "(e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)",
                      (int)(n > 64 ? 64 : n), e);
        return TN_ERR_CONFIG;
    }
    bool v4 = memchr(e, ':', alen) == NULL;
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        const char *d = slash + 1;
        size_t dl = n - alen - 1;
        bool ok = dl >= 1 && dl <= 3 && !(dl > 1 && d[0] == '0');
        bits = 0;
        for (size_t i = 0; ok && i < dl; i++) {
            ok = d[i] >= '0' && d[i] <= '9';
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (!ok || bits > max) {
            tn_buf_printf(err,
                          "TRUSTED_PROXIES: '%.*s' has a bad prefix length (an %s block "
                          "takes /0 to /%u)",
                          (int)(n > 64 ? 64 : n), e, v4 ? "IPv4" : "IPv6", max);
            return TN_ERR_CONFIG;
        }
    }
    out->bits = (uint8_t)(v4 ? bits + 96 : bits);
    /* Host bits set: 10.0.0.1/8 trusts 16 million addresses where one was meant, maybe. */
    struct tn_cidr masked = *out;
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        uint8_t keep = out->bits >= lo + 8 ? 0xff
                       : out->bits <= lo   ? 0
                                           : (uint8_t)(0xff << (8 - (out->bits - lo)));
        masked.net.b[i] &= keep;
    }
    if (memcmp(masked.net.b, out->net.b, 16) != 0) {
        char net[TN_IP_TEXT_MAX];
        tn_ip_format(&masked.net, net);
        tn_buf_printf(err, "TRUSTED_PROXIES: '%.*s' has host bits set; write the block as %s/%u",
                      (int)(n > 64 ? 64 : n), e, net, bits);
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

enum tn_err tn_proxies_parse(const char *text, size_t len, struct tn_proxies *out,
                             struct tn_buf *err)
{
    enum tn_err rc = TN_OK;
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < len) {
        if (list_sep(text[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && !list_sep(text[i]))
            i++;
        if (out->n == TN_PROXIES_MAX) {
            tn_buf_printf(err, "TRUSTED_PROXIES: more than %d entries; use wider CIDR blocks",
                          TN_PROXIES_MAX);
            rc = TN_ERR_CONFIG;
            goto done;
        }
        if ((rc = parse_block(text + start, i - start, &out->v[out->n], err)) != TN_OK)
            goto done;
        out->n++;
    }
done:
    if (rc != TN_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ---------- hops ---------- */

#define NODE_MAX 64 /* "[v6]:port" is at most 53 bytes; longer is not an address */

struct hop {
    const char *p; /* the node: an X-Forwarded-For element, or a Forwarded for= value */
    size_t n;
    bool quoted;  /* a Forwarded quoted-string (p, n inside the quotes, escapes kept) */
    bool has_for; /* Forwarded: the element has a for= parameter */
};

static bool ows(char c) { return c == ' ' || c == '\t'; }

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool obfchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* The hops are read from the right, one at a time, and the walk stops at the client: what
 * lies further left was written by the client and is never parsed, so no garbage there
 * (a stray quote, a bad pair) can change the answer. Each reader takes the end of what is
 * still unread in *end and moves it to the start of the hop it returns. */

/* X-Forwarded-For: comma-separated nodes, no quoting. Empty elements are skipped (RFC
 * 9110 §5.6.1). False when the line has no more. */
static bool prev_xff(struct tn_span line, size_t *end, struct hop *hop)
{
    while (*end > 0) {
        size_t stop = *end, i = stop;
        while (i > 0 && line.ptr[i - 1] != ',')
            i--;
        *end = i > 0 ? i - 1 : 0;
        struct tn_span e = tn_span_trim((struct tn_span){line.ptr + i, stop - i});
        if (e.len) {
            *hop = (struct hop){e.ptr, e.len, false, true};
            return true;
        }
    }
    return false;
}

/* Forwarded (RFC 7239 §4): elements separated by commas, each pairs `token=value`
 * separated by semicolons, the value a token or a quoted-string, read backwards. Going
 * right to left, a quote closes a quoted-string and its opening quote is the first one
 * before it not escaped (escaped: preceded by an odd run of backslashes, which pair up
 * from their left inside a quoted-string). The element returned must parse entirely;
 * *found is false when the line has no more elements. */
static bool qd_ok(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static size_t backslashes_before(const char *s, size_t i)
{
    size_t k = 0;
    while (i > k && s[i - 1 - k] == '\\')
        k++;
    return k;
}

static enum tn_err prev_forwarded(struct tn_span line, size_t *end, struct hop *out, bool *found)
{
    const char *s = line.ptr;
    size_t i = *end;
    *found = false;
    for (;;) {
        while (i > 0 && ows(s[i - 1]))
            i--;
        if (i == 0) {
            *end = 0;
            return TN_OK;
        }
        if (s[i - 1] != ',')
            break;
        i--; /* an empty element */
    }
    struct hop hop = {NULL, 0, false, false};
    for (;;) { /* the pairs of one element, last first */
        while (i > 0 && ows(s[i - 1]))
            i--;
        if (i > 0 && s[i - 1] == ';') { /* an empty pair */
            i--;
            continue;
        }
        if (i == 0 || s[i - 1] == ',')
            break;
        const char *v;
        size_t vl;
        bool quoted = s[i - 1] == '"';
        if (quoted) {
            size_t close = i - 1;
            if (backslashes_before(s, close) % 2) /* an escaped quote cannot close */
                return TN_ERR_BAD_INPUT;
            size_t q = close;
            for (;;) {
                if (q == 0)
                    return TN_ERR_BAD_INPUT; /* unterminated */
                q--;
                if (s[q] == '"' && backslashes_before(s, q) % 2 == 0)
                    break;
            }
            for (size_t k = q + 1; k < close; k++) { /* qdtext / quoted-pair */
                if (s[k] == '\\' && ++k == close)
                    return TN_ERR_BAD_INPUT;
                if (!qd_ok((unsigned char)s[k]))
                    return TN_ERR_BAD_INPUT;
            }
            v = s + q + 1;
            vl = close - q - 1;
            i = q;
        } else {
            size_t stop = i;
            while (i > 0 && tchar((unsigned char)s[i - 1]))
                i--;
            v = s + i;
            vl = stop - i;
            if (vl == 0)
                return TN_ERR_BAD_INPUT;
        }
        if (i == 0 || s[i - 1] != '=')
            return TN_ERR_BAD_INPUT;
        i--;
        size_t name_end = i;
        while (i > 0 && tchar((unsigned char)s[i - 1]))
            i--;
        size_t name_len = name_end - i;
        if (name_len == 0)
            return TN_ERR_BAD_INPUT;
        if (name_len == 3 && strncasecmp(s + i, "for", 3) == 0) {
            if (hop.has_for) /* two for= in one hop: which one? neither */
                return TN_ERR_BAD_INPUT;
            hop = (struct hop){v, vl, quoted, true};
        }
        while (i > 0 && ows(s[i - 1]))
            i--;
        if (i > 0 && s[i - 1] == ';') {
            i--;
            continue;
        }
        if (i == 0 || s[i - 1] == ',')
            break;
        return TN_ERR_BAD_INPUT; /* e.g. for=1.2.3.4:80 unquoted */
    }
    *end = i > 0 ? i - 1 : 0; /* past the comma */
    *out = hop;
    *found = true;
    return TN_OK;
}

/* A port, or a Forwarded obfuscated port ("_abc"). */
static bool port_ok(const char *p, size_t n, bool obf_allowed)
{
    if (n >= 2 && p[0] == '_' && obf_allowed) {
        for (size_t i = 1; i < n; i++)
            if (!obfchar((unsigned char)p[i]))
                return false;
        return true;
    }
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= 65535;
}

/* One node: TN_OK with an address, TN_ERR_NOT_FOUND for "unknown" or an obfuscated
 * identifier, TN_ERR_BAD_INPUT for anything else. */
static enum tn_err parse_node(const struct hop *hop, enum tn_fwd_kind kind, struct tn_ip *ip)
{
    char buf[NODE_MAX];
    const char *p = hop->p;
    size_t n = hop->n;
    if (hop->quoted) { /* undo quoted-pairs */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '\\')
                i++;
            if (k == sizeof buf)
                return TN_ERR_BAD_INPUT;
            buf[k++] = p[i];
        }
        p = buf;
        n = k;
    }
    if (n == 0 || n > NODE_MAX)
        return TN_ERR_BAD_INPUT;
    bool fwd = kind == TN_FWD_FORWARDED;
    /* node = nodename [ ":" node-port ]; an IPv6 nodename is bracketed (X-Forwarded-For
     * also sees it bare: more than one colon and no brackets) */
    const char *addr = p, *port = NULL;
    size_t alen = n, plen = 0;
    bool bracketed = p[0] == '[';
    if (bracketed) {
        const char *close = memchr(p, ']', n);
        if (!close)
            return TN_ERR_BAD_INPUT;
        addr = p + 1;
        alen = (size_t)(close - addr);
        size_t after = n - (size_t)(close + 1 - p);
        if (after) {
            if (close[1] != ':')
                return TN_ERR_BAD_INPUT;
            port = close + 2;
            plen = after - 1;
        }
        if (!memchr(addr, ':', alen)) /* brackets hold IPv6 only */
            return TN_ERR_BAD_INPUT;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon && colon == memrchr(p, ':', n)) { /* name:port */
            alen = (size_t)(colon - p);
            port = colon + 1;
            plen = n - alen - 1;
        } else if (colon && fwd) { /* RFC 7239 §6: IPv6 is always bracketed */
            return TN_ERR_BAD_INPUT;
        }
    }
    if (port && !port_ok(port, plen, fwd))
        return TN_ERR_BAD_INPUT;
    if (!bracketed && alen == 7 && strncasecmp(addr, "unknown", 7) == 0)
        return TN_ERR_NOT_FOUND;
    if (!bracketed && alen && addr[0] == '_') { /* obfnode, Forwarded only */
        if (!fwd || alen < 2)
            return TN_ERR_BAD_INPUT;
        for (size_t i = 1; i < alen; i++)
            if (!obfchar((unsigned char)addr[i]))
                return TN_ERR_BAD_INPUT;
        return TN_ERR_NOT_FOUND;
    }
    return tn_ip_parse(addr, alen, ip) == TN_OK ? TN_OK : TN_ERR_BAD_INPUT;
}

enum tn_err tn_proxy_client(const struct tn_proxies *trusted, enum tn_fwd_kind kind,
                            const struct tn_span *lines, size_t n_lines, const struct tn_ip *peer,
                            struct tn_ip *out)
{
    enum tn_err rc = TN_OK;
    *out = *peer;
    if (!tn_proxies_match(trusted, peer))
        return TN_OK; /* a direct client: its headers say nothing we may believe */
    struct tn_ip ip;
    size_t walked = 0;
    for (size_t l = n_lines; l-- > 0;) { /* the last line was appended last */
        size_t end = lines[l].len;
        for (;;) {
            struct hop hop;
            bool found;
            if (kind == TN_FWD_XFF)
                found = prev_xff(lines[l], &end, &hop);
            else if ((rc = prev_forwarded(lines[l], &end, &hop, &found)) != TN_OK)
                goto done;
            if (!found)
                break;
            if (walked++ == TN_FWD_MAX_HOPS) {
                rc = TN_ERR_LIMIT;
                goto done;
            }
            if (!hop.has_for) {
                rc = TN_ERR_NOT_FOUND;
                goto done;
            }
            if ((rc = parse_node(&hop, kind, &ip)) != TN_OK)
                goto done;
            if (!tn_proxies_match(trusted, &ip)) {
                *out = ip;
                return TN_OK;
            }
        }
    }
    if (walked) /* every hop a proxy of ours: the leftmost is as far as we can see */
        *out = ip;
done:
    if (rc != TN_OK)
        *out = *peer;
    return rc;
}
