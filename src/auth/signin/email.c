/* Email one-time codes and magic links (auth/signin/email.h). */
#include "auth/signin/email.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

void tn_email_code_new(char out[TN_EMAIL_CODE_LEN + 1])
{
    for (int i = 0; i < TN_EMAIL_CODE_LEN; i++)
        out[i] = (char)('0' + randombytes_uniform(10));
    out[TN_EMAIL_CODE_LEN] = '\0';
}

bool tn_email_code_normalise(const char *in, char out[TN_EMAIL_CODE_LEN + 1])
{
    size_t n = 0;
    out[0] = '\0';
    if (!in)
        return false;
    for (size_t i = 0; in[i] && i < 32; i++) {
        char c = in[i];
        if (c == ' ' || c == '-')
            continue;
        if (c < '0' || c > '9' || n == TN_EMAIL_CODE_LEN) {
            out[0] = '\0';
            return false;
        }
        out[n++] = c;
    }
    if (n != TN_EMAIL_CODE_LEN || strnlen(in, 33) > 32) {
        out[0] = '\0';
        return false;
    }
    out[n] = '\0';
    return true;
}

void tn_email_hash(const uint8_t *secret, size_t secret_len, const char *purpose, const char *id,
                   const char *value, uint8_t out[32])
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s|%s|%s", purpose, id, value);
    tn_hmac_sha256(out, secret, secret_len, msg,
                   n > 0 && (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    sodium_memzero(msg, sizeof msg);
}

enum tn_err tn_email_message(const char *code, const char *link, unsigned minutes,
                             struct tn_buf *text, struct tn_buf *html)
{
    enum tn_err rc =
        tn_buf_printf(text,
                      "Your teamnotes sign-in code is:\n\n    %s\n\n"
                      "Enter it in the window where you started signing in, or open this "
                      "link in the same browser:\n\n%s\n\n"
                      "The code and the link work once, for %u minutes.\n\n"
                      "If you did not try to sign in, ignore this message: nobody can "
                      "sign in without the code.\n",
                      code, link, minutes);
    if (rc == TN_OK)
        rc = tn_buf_printf(
            html,
            "<!doctype html>\n<html><body style=\"font-family:system-ui,sans-serif;"
            "color:#1b1f24\">\n<p>Your teamnotes sign-in code is:</p>\n"
            "<p style=\"font-size:28px;font-weight:700;letter-spacing:6px;"
            "font-family:ui-monospace,Menlo,Consolas,monospace\">%s</p>\n"
            "<p>Enter it in the window where you started signing in, or "
            "<a href=\"%s\">sign in with this link</a> in the same browser.</p>\n"
            "<p>The code and the link work once, for %u minutes.</p>\n"
            "<p style=\"color:#5a6270;font-size:14px\">If you did not try to sign in, "
            "ignore this message: nobody can sign in without the code.</p>\n"
            "</body></html>\n",
            code, link, minutes);
    return rc;
}
