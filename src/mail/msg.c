/* The message: address and text checks, RFC 2047 encoded-words, quoted-printable, and
 * the RFC 5322 / MIME multipart/alternative message (mail/mail.h). No I/O here, so the
 * fuzz target links this file alone. */
#include "mail/mail.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 §3.2.3 atext */
static bool is_atext(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A DNS name of two or more labels: letters, digits and inner hyphens, 1..63 bytes each,
 * no empty label (so no leading, trailing or doubled dot), the last label not all digits. */
static bool domain_ok(const char *p, size_t n)
{
    if (n == 0 || n > TN_MAIL_DOMAIN_MAX)
        return false;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '.') {
            unsigned char c = (unsigned char)p[i];
            if (!is_alnum(c) && c != '-')
                return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || p[start] == '-' || p[i - 1] == '-')
            return false;
        labels++;
        if (i == n) {
            bool digits = true;
            for (size_t k = start; k < n; k++)
                digits &= p[k] >= '0' && p[k] <= '9';
            if (digits)
                return false;
        }
        start = i + 1;
    }
    return labels >= 2;
}

enum tn_err tn_mail_addr_check(const char *p, size_t n)
{
    if (!p || n == 0 || n > TN_MAIL_ADDR_MAX)
        return TN_ERR_BAD_INPUT;
    const char *at = memchr(p, '@', n);
    if (!at)
        return TN_ERR_BAD_INPUT;
    size_t ll = (size_t)(at - p);
    if (ll == 0 || ll > TN_MAIL_LOCAL_MAX)
        return TN_ERR_BAD_INPUT;
    /* dot-atom: atext runs joined by single dots */
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (i == 0 || i + 1 == ll || p[i - 1] == '.')
                return TN_ERR_BAD_INPUT;
        } else if (!is_atext(c)) {
            return TN_ERR_BAD_INPUT;
        }
    }
    /* a second '@' fails here: it is not a DNS name character */
    return domain_ok(at + 1, n - ll - 1) ? TN_OK : TN_ERR_BAD_INPUT;
}

/* Length of the UTF-8 character at p[0..n), 0 when it is not well formed (overlong forms,
 * surrogates and code points above U+10FFFF included). */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

enum tn_err tn_mail_text_check(const char *p, size_t n, size_t max)
{
    if (n > max)
        return TN_ERR_LIMIT;
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        /* CR, LF and NUL would end or split a header; the rest of C0 and DEL have no
         * business in a subject either */
        if (u[i] < 0x20 || u[i] == 0x7f)
            return TN_ERR_BAD_INPUT;
        size_t l = utf8_char(u + i, n - i);
        if (l == 0)
            return TN_ERR_BAD_INPUT;
        i += l;
    }
    return TN_OK;
}

static const char hex[] = "0123456789ABCDEF";

enum tn_err tn_mail_qp_encode(struct tn_buf *out, const char *in, size_t n)
{
    size_t entry = out->len;
    enum tn_err rc = TN_OK;
    size_t i = 0;
    for (;;) {
        const char *lf = memchr(in + i, '\n', n - i);
        size_t end = lf ? (size_t)(lf - in) : n; /* the line is in[i..le) */
        size_t le = end;
        if (lf && le > i && in[le - 1] == '\r')
            le--;
        size_t col = 0;
        for (size_t j = i; j < le; j++) {
            unsigned char c = (unsigned char)in[j];
            bool last = j + 1 == le;
            /* the last character of a line may use column 76; others leave room for
             * the "=" of a soft break */
            size_t limit = last ? 76 : 75;
            bool enc;
            for (int pass = 0;; pass++) {
                /* A line of encoded output starts at col 0, after a hard or a soft
                 * break: that is where transports dot-stuff "." and mbox quotes "From ". */
                enc = c == '=' || (c < 0x20 && c != '\t') || c > 0x7e ||
                      ((c == ' ' || c == '\t') && last) ||
                      (col == 0 &&
                       (c == '.' || (c == 'F' && le - j >= 5 && !memcmp(in + j, "From ", 5))));
                if (col + (enc ? 3 : 1) <= limit || pass)
                    break;
                if ((rc = tn_buf_append(out, "=\r\n", 3)) != TN_OK)
                    goto done;
                col = 0;
            }
            char t[3] = {'=', hex[c >> 4], hex[c & 15]};
            if ((rc = enc ? tn_buf_append(out, t, 3) : tn_buf_append(out, &c, 1)) != TN_OK)
                goto done;
            col += enc ? 3 : 1;
        }
        if (!lf)
            break;
        if ((rc = tn_buf_append(out, "\r\n", 2)) != TN_OK)
            goto done;
        i = end + 1;
    }
done:
    if (rc != TN_OK) {
        out->len = entry;
        if (out->data)
            out->data[entry] = '\0';
    }
    return rc;
}

/* Column of the end of `b` on its current line. */
static size_t line_col(const struct tn_buf *b)
{
    size_t k = b->len;
    while (k > 0 && b->data[k - 1] != '\n')
        k--;
    return b->len - k;
}

enum tn_err tn_mail_header_encode(struct tn_buf *out, const char *in, size_t n, size_t used,
                                  bool phrase)
{
    enum tn_err rc = TN_OK;
    size_t entry = out->len;
    bool plain = n > 0 && in[0] != ' ' && in[n - 1] != ' ' && !memmem(in, n, "=?", 2);
    size_t width = used + n + (phrase ? 2 : 0);
    for (size_t i = 0; plain && i < n; i++) {
        plain = in[i] >= 0x20 && in[i] <= 0x7e;
        width += phrase && (in[i] == '"' || in[i] == '\\');
    }
    if (n == 0 || (plain && width <= 78)) {
        /* A phrase of atoms ("teamnotes", "Team Notes") goes as is; anything else in an
         * RFC 5322 §3.2.4 quoted-string, where only '"' and '\' need a backslash. */
        bool atoms = phrase;
        for (size_t i = 0; atoms && i < n; i++)
            atoms = is_atext((unsigned char)in[i]) || (in[i] == ' ' && in[i + 1] != ' ');
        if (atoms)
            phrase = false;
        if (phrase && (rc = tn_buf_append(out, "\"", 1)) != TN_OK)
            goto done;
        for (size_t i = 0; i < n; i++) {
            if (phrase && (in[i] == '"' || in[i] == '\\') &&
                (rc = tn_buf_append(out, "\\", 1)) != TN_OK)
                goto done;
            if ((rc = tn_buf_append(out, in + i, 1)) != TN_OK)
                goto done;
        }
        if (phrase)
            rc = tn_buf_append(out, "\"", 1);
        goto done;
    }
    /* RFC 2047: "=?UTF-8?B?" + base64 + "?=", at most 75 characters per word and 76 per
     * line, each word holding whole characters (§5); words are separated by a fold
     * (CRLF SP), whitespace that decoders drop between adjacent encoded-words (§6.2). */
    size_t col = used;
    const unsigned char *u = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        if (i > 0 || col + 12 + 16 > 76) { /* a new line for each word after the first */
            if ((rc = tn_buf_append(out, "\r\n ", 3)) != TN_OK)
                goto done;
            col = 1;
        }
        size_t cap = ((76 - col - 12) / 4) * 3; /* bytes whose base64 fits the line */
        if (cap > 45)
            cap = 45;
        size_t take = 0;
        while (i + take < n) {
            size_t l = utf8_char(u + i + take, n - i - take);
            if (l == 0)
                l = 1; /* unchecked input: a stray byte still travels, encoded */
            if (take + l > cap)
                break;
            take += l;
        }
        char b64[64];
        sodium_bin2base64(b64, sizeof b64, u + i, take, sodium_base64_VARIANT_ORIGINAL);
        if ((rc = tn_buf_printf(out, "=?UTF-8?B?%s?=", b64)) != TN_OK)
            goto done;
        i += take;
    }
done:
    if (rc != TN_OK) {
        out->len = entry;
        if (out->data)
            out->data[entry] = '\0';
    }
    return rc;
}

/* RFC 5322 §3.3: "Tue, 06 Dec 2026 10:31:02 +0000" (fixed English names, not the locale). */
static void rfc5322_date(int64_t ms, char out[40])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void random_token(char *out, size_t cap, size_t bytes)
{
    uint8_t r[24];
    if (bytes > sizeof r)
        bytes = sizeof r;
    tn_random(r, bytes);
    tn_b64url_encode(out, cap, r, bytes);
}

static enum tn_err part(struct tn_buf *out, const char *boundary, const char *type,
                        const struct tn_buf *qp)
{
    enum tn_err rc = tn_buf_printf(out,
                                   "--%s\r\nContent-Type: %s; charset=utf-8\r\n"
                                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                                   boundary, type);
    if (rc == TN_OK && qp->len)
        rc = tn_buf_append(out, qp->data, qp->len);
    /* the CRLF before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1) */
    if (rc == TN_OK)
        rc = tn_buf_append(out, "\r\n", 2);
    return rc;
}

enum tn_err tn_mail_build(const struct tn_mail_msg *m, int64_t now_ms, struct tn_buf *out)
{
    enum tn_err rc;
    size_t entry = out->len;
    struct tn_buf text, html;
    tn_buf_init(&text, TN_MAIL_MSG_MAX / 2);
    tn_buf_init(&html, TN_MAIL_MSG_MAX / 2);

    if ((rc = tn_mail_addr_check(m->from.ptr, m->from.len)) != TN_OK ||
        (rc = tn_mail_addr_check(m->to.ptr, m->to.len)) != TN_OK ||
        (rc = tn_mail_text_check(m->from_name.ptr, m->from_name.len, TN_MAIL_NAME_MAX)) != TN_OK ||
        (rc = tn_mail_text_check(m->subject.ptr, m->subject.len, TN_MAIL_SUBJECT_MAX)) != TN_OK)
        goto done;
    if (m->text.len > TN_MAIL_BODY_MAX || m->html.len > TN_MAIL_BODY_MAX) {
        rc = TN_ERR_LIMIT;
        goto done;
    }
    if (memchr(m->text.ptr, '\0', m->text.len) || memchr(m->html.ptr, '\0', m->html.len)) {
        rc = TN_ERR_BAD_INPUT;
        goto done;
    }
    if ((rc = tn_mail_qp_encode(&text, m->text.ptr, m->text.len)) != TN_OK ||
        (rc = tn_mail_qp_encode(&html, m->html.ptr, m->html.len)) != TN_OK)
        goto done;

    /* "=_" never occurs in quoted-printable output ('=' is followed by hex digits or a
     * line break), so the boundary cannot collide; the search below keeps that promise
     * checked rather than assumed. */
    char boundary[48];
    for (int tries = 0;; tries++) {
        memcpy(boundary, "=_tn_", 5);
        random_token(boundary + 5, sizeof boundary - 5, 18);
        size_t bl = strlen(boundary);
        if ((!text.len || !memmem(text.data, text.len, boundary, bl)) &&
            (!html.len || !memmem(html.data, html.len, boundary, bl)))
            break;
        if (tries == 8) {
            rc = TN_ERR_INTERNAL;
            goto done;
        }
    }
    char date[40], id[40];
    rfc5322_date(now_ms, date);
    random_token(id, sizeof id, 18);
    const char *domain = (const char *)memchr(m->from.ptr, '@', m->from.len) + 1;
    int dl = (int)(m->from.len - (size_t)(domain - m->from.ptr));

    if ((rc = tn_buf_printf(out, "Date: %s\r\nFrom: ", date)) != TN_OK)
        goto done;
    if (m->from_name.len) {
        if ((rc = tn_mail_header_encode(out, m->from_name.ptr, m->from_name.len, 6, true)) != TN_OK)
            goto done;
        /* fold before the address when the line would pass 78 */
        bool fold = line_col(out) + 3 + m->from.len > 78;
        if ((rc = tn_buf_puts(out, fold ? "\r\n <" : " <")) != TN_OK ||
            (rc = tn_buf_append(out, m->from.ptr, m->from.len)) != TN_OK ||
            (rc = tn_buf_puts(out, ">")) != TN_OK)
            goto done;
    } else if ((rc = tn_buf_append(out, m->from.ptr, m->from.len)) != TN_OK) {
        goto done;
    }
    if ((rc = tn_buf_puts(out, "\r\nTo: ")) != TN_OK ||
        (rc = tn_buf_append(out, m->to.ptr, m->to.len)) != TN_OK ||
        (rc = tn_buf_puts(out, "\r\nSubject: ")) != TN_OK ||
        (rc = tn_mail_header_encode(out, m->subject.ptr, m->subject.len, 9, false)) != TN_OK)
        goto done;
    if ((rc = tn_buf_printf(out,
                            "\r\nMessage-ID: <%s@%.*s>\r\n"
                            "MIME-Version: 1.0\r\n"
                            /* RFC 3834: no vacation or out-of-office replies to sign-in mail */
                            "Auto-Submitted: auto-generated\r\n"
                            "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n"
                            "\r\n",
                            id, dl, domain, boundary)) != TN_OK)
        goto done;
    if ((rc = part(out, boundary, "text/plain", &text)) != TN_OK ||
        (rc = part(out, boundary, "text/html", &html)) != TN_OK)
        goto done;
    rc = tn_buf_printf(out, "--%s--\r\n", boundary);
done:
    if (rc != TN_OK) {
        out->len = entry;
        if (out->data)
            out->data[entry] = '\0';
    }
    tn_buf_deinit(&text);
    tn_buf_deinit(&html);
    return rc;
}
