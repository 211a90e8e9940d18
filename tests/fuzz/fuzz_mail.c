/* libFuzzer target: the mail message (mail/msg.c) that sign-in codes and invitations are
 * built into from people's input (addresses, names, subjects, bodies).
 *
 * Input: six fields separated by 0x1f, in order from_name, from, to, subject, text, html
 * (a NUL may sit inside any of them; missing fields are empty).
 *
 * Invariants on success: the message is 7-bit ASCII, every line ends CRLF (no bare CR or
 * LF anywhere, so nothing can escape into a new header line); the header block holds
 * exactly Date, From, To, Subject, Message-ID, MIME-Version, Auto-Submitted and
 * Content-Type in that order, continuation lines start with a space and no line passes 998
 * characters; To is the input address byte for byte and From ends with it; the Subject's
 * encoded-words (at most 75 characters each) decode back to the input; the boundary
 * occurs exactly as the three delimiters; both parts decode back (quoted-printable,
 * lines of at most 76 characters) to the input with line ends made CRLF.
 * On failure: TN_ERR_BAD_INPUT or TN_ERR_LIMIT, the buffer untouched, and BAD_INPUT only
 * when a field really is refused by tn_mail_addr_check / tn_mail_text_check or a body
 * holds a NUL. Accepted addresses never hold a byte outside the dot-atom and DNS sets. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mail/mail.h"

#define CHECK(c) \
    do {         \
        if (!(c)) \
            abort(); \
    } while (0)

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Strict quoted-printable reader over CRLF lines; returns the decoded length. */
static size_t qp_decode(const char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        const char *crlf = memmem(in + i, n - i, "\r\n", 2);
        size_t end = crlf ? (size_t)(crlf - in) : n;
        CHECK(end - i <= 76);
        CHECK(end == i || (in[end - 1] != ' ' && in[end - 1] != '\t'));
        CHECK(end == i || !(in[i] == '.' || (end - i >= 5 && !memcmp(in + i, "From ", 5))));
        bool soft = end > i && in[end - 1] == '=';
        size_t stop = soft ? end - 1 : end;
        for (size_t j = i; j < stop; j++) {
            if (in[j] == '=') {
                CHECK(j + 2 < stop && hexval(in[j + 1]) >= 0 && hexval(in[j + 2]) >= 0);
                out[o++] = (char)(hexval(in[j + 1]) * 16 + hexval(in[j + 2]));
                j += 2;
            } else {
                CHECK((in[j] >= 0x20 && in[j] <= 0x7e) || in[j] == '\t');
                out[o++] = in[j];
            }
        }
        if (!crlf)
            break;
        if (!soft) {
            out[o++] = '\r';
            out[o++] = '\n';
        }
        i = end + 2;
    }
    return o;
}

static size_t canon(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n' && !(i > 0 && in[i - 1] == '\r'))
            out[o++] = '\r';
        out[o++] = in[i];
    }
    return o;
}

/* The unfolded Subject value decoded: plain, or encoded-words joined by " ". */
static size_t subject_decode(const char *v, size_t n, char *out)
{
    if (n < 2 || memcmp(v, "=?", 2) != 0) {
        memcpy(out, v, n);
        return n;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        if (i > 0) {
            CHECK(v[i] == ' ');
            i++;
        }
        CHECK(n - i >= 12 && !memcmp(v + i, "=?UTF-8?B?", 10));
        const char *e = memmem(v + i + 10, n - i - 10, "?=", 2);
        CHECK(e != NULL);
        size_t wl = (size_t)(e + 2 - (v + i));
        CHECK(wl <= 75);
        size_t got;
        CHECK(tn_b64_decode(out + o, 64, &got, v + i + 10, (size_t)(e - v) - i - 10) == TN_OK);
        o += got;
        i += wl;
    }
    return o;
}

static bool has_nul(struct tn_span s)
{
    return s.len && memchr(s.ptr, '\0', s.len) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        tn_util_init();
        init = true;
    }
    if (size > 65536)
        return 0;
    struct tn_span f[6] = {{"", 0}, {"", 0}, {"", 0}, {"", 0}, {"", 0}, {"", 0}};
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 6 && p <= end; i++) {
        const char *sep = i < 5 ? memchr(p, 0x1f, (size_t)(end - p)) : NULL;
        const char *stop = sep ? sep : end;
        f[i] = (struct tn_span){p, (size_t)(stop - p)};
        if (!sep)
            break;
        p = sep + 1;
    }
    struct tn_mail_msg m = {f[0], f[1], f[2], f[3], f[4], f[5]};

    /* accepted addresses hold only dot-atom and DNS characters, one '@' */
    for (int k = 1; k <= 2; k++) {
        if (tn_mail_addr_check(f[k].ptr, f[k].len) != TN_OK)
            continue;
        int ats = 0;
        for (size_t i = 0; i < f[k].len; i++) {
            unsigned char c = (unsigned char)f[k].ptr[i];
            ats += c == '@';
            CHECK(c > 0x20 && c < 0x7f && !strchr("\"(),:;<>[\\]", c));
        }
        CHECK(ats == 1 && f[k].len <= 254);
    }

    struct tn_buf out;
    tn_buf_init(&out, TN_MAIL_MSG_MAX);
    tn_buf_puts(&out, "X"); /* a failure must leave what was there */
    enum tn_err rc = tn_mail_build(&m, 1796553062000, &out);
    bool refused = tn_mail_addr_check(f[1].ptr, f[1].len) || tn_mail_addr_check(f[2].ptr, f[2].len) ||
                   tn_mail_text_check(f[0].ptr, f[0].len, TN_MAIL_NAME_MAX) == TN_ERR_BAD_INPUT ||
                   tn_mail_text_check(f[3].ptr, f[3].len, TN_MAIL_SUBJECT_MAX) == TN_ERR_BAD_INPUT ||
                   has_nul(f[4]) || has_nul(f[5]);
    if (rc != TN_OK) {
        CHECK(rc == TN_ERR_BAD_INPUT || rc == TN_ERR_LIMIT);
        CHECK(rc != TN_ERR_BAD_INPUT || refused);
        CHECK(out.len == 1 && out.data[0] == 'X' && out.data[1] == '\0');
        tn_buf_deinit(&out);
        return 0;
    }
    CHECK(!refused);
    const char *msg = out.data + 1;
    size_t n = out.len - 1;

    /* ASCII, CRLF only */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        CHECK(c < 0x80 && c != 0);
        if (c == '\r')
            CHECK(i + 1 < n && msg[i + 1] == '\n');
        if (c == '\n')
            CHECK(i > 0 && msg[i - 1] == '\r');
    }
    CHECK(n >= 2 && !memcmp(msg + n - 2, "\r\n", 2));

    /* the header block: our fields, in order, nothing else */
    const char *hend = memmem(msg, n, "\r\n\r\n", 4);
    CHECK(hend != NULL);
    static const char *names[] = {"Date", "From", "To", "Subject", "Message-ID",
                                  "MIME-Version", "Auto-Submitted", "Content-Type"};
    static char unfolded[8][8192];
    size_t ulen[8] = {0};
    int field = -1;
    for (const char *l = msg; l < hend + 2;) {
        const char *e = memmem(l, (size_t)(hend + 2 - l), "\r\n", 2);
        size_t ll = (size_t)(e - l);
        CHECK(ll <= 998);
        if (*l == ' ') {
            CHECK(field >= 0 && ulen[field] + ll < sizeof unfolded[0]);
            memcpy(unfolded[field] + ulen[field], l, ll);
            ulen[field] += ll;
        } else {
            field++;
            CHECK(field < 8);
            size_t nl = strlen(names[field]);
            CHECK(ll >= nl + 2 && !memcmp(l, names[field], nl) && l[nl] == ':' && l[nl + 1] == ' ');
            memcpy(unfolded[field], l + nl + 2, ll - nl - 2);
            ulen[field] = ll - nl - 2;
        }
        l = e + 2;
    }
    CHECK(field == 7);
    /* To is the address as given; From ends with it */
    CHECK(ulen[2] == f[2].len && !memcmp(unfolded[2], f[2].ptr, f[2].len));
    if (f[0].len) {
        CHECK(ulen[1] >= f[1].len + 2 && unfolded[1][ulen[1] - 1] == '>' &&
              !memcmp(unfolded[1] + ulen[1] - 1 - f[1].len, f[1].ptr, f[1].len) &&
              unfolded[1][ulen[1] - 2 - f[1].len] == '<');
    } else {
        CHECK(ulen[1] == f[1].len && !memcmp(unfolded[1], f[1].ptr, f[1].len));
    }
    /* the subject decodes back */
    static char dec[8192];
    size_t dl = subject_decode(unfolded[3], ulen[3], dec);
    CHECK(dl == f[3].len && !memcmp(dec, f[3].ptr, dl));

    /* the boundary and the two parts */
    static const char ct[] = "multipart/alternative; boundary=\"";
    CHECK(ulen[7] > sizeof ct && !memcmp(unfolded[7], ct, sizeof ct - 1) && unfolded[7][ulen[7] - 1] == '"');
    const char *b = unfolded[7] + sizeof ct - 1;
    size_t bl = ulen[7] - (sizeof ct - 1) - 1;
    char delim[128], close[128];
    CHECK(bl > 0 && bl < 100);
    size_t dlen = (size_t)snprintf(delim, sizeof delim, "\r\n--%.*s\r\n", (int)bl, b);
    size_t clen = (size_t)snprintf(close, sizeof close, "\r\n--%.*s--\r\n", (int)bl, b);
    const char *body = hend + 2;
    size_t rest = n - (size_t)(body - msg);
    CHECK(rest >= dlen && !memcmp(body, delim, dlen));
    const char *d2 = memmem(body + 1, rest - 1, delim, dlen);
    CHECK(d2 != NULL);
    const char *d3 = memmem(d2 + 1, n - (size_t)(d2 + 1 - msg), close, clen);
    CHECK(d3 != NULL && d3 + clen == msg + n);
    /* the boundary string occurs nowhere else */
    size_t count = 0;
    for (const char *s = msg; (s = memmem(s, n - (size_t)(s - msg), b, bl)); s++)
        count++;
    CHECK(count == 4); /* Content-Type and the three delimiters */
    static const char th[] = "Content-Type: text/plain; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    static const char hh[] = "Content-Type: text/html; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    const char *t0 = body + dlen, *h0 = d2 + dlen;
    CHECK(!memcmp(t0, th, sizeof th - 1) && !memcmp(h0, hh, sizeof hh - 1));
    static char want[2 * 65536 + 2], got[2 * 65536 + 16];
    size_t wl = canon(f[4].ptr, f[4].len, want);
    size_t gl = qp_decode(t0 + sizeof th - 1, (size_t)(d2 - t0) - (sizeof th - 1), got);
    CHECK(gl == wl && !memcmp(got, want, wl));
    wl = canon(f[5].ptr, f[5].len, want);
    gl = qp_decode(h0 + sizeof hh - 1, (size_t)(d3 - h0) - (sizeof hh - 1), got);
    CHECK(gl == wl && !memcmp(got, want, wl));
    tn_buf_deinit(&out);
    return 0;
}
