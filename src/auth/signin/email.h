/* Email one-time codes and magic links: the values, their keyed hashes and the message.
 *
 * A sign-in by email sends one message with a 6-digit code and a link. Both are stored
 * only as keyed hashes (HMAC-SHA256 with the server secret, bound to the row's id), so
 * that a copy of the database does not let anyone try the 10^6 codes offline. The code
 * is drawn with randombytes_uniform (no modulo bias); the link token carries 256 bits. */
#ifndef TN_AUTH_SIGNIN_EMAIL_H
#define TN_AUTH_SIGNIN_EMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define TN_EMAIL_CODE_LEN 6

/* A fresh code of TN_EMAIL_CODE_LEN decimal digits, NUL-terminated. */
void tn_email_code_new(char out[TN_EMAIL_CODE_LEN + 1]);
/* The code a person typed, normalised: spaces and hyphens dropped ("123 456",
 * "123-456"), then exactly TN_EMAIL_CODE_LEN digits, else false (out is ""). At most 32
 * bytes are read. */
bool tn_email_code_normalise(const char *in, char out[TN_EMAIL_CODE_LEN + 1]);
/* HMAC-SHA256(secret, "<purpose>|<id>|<value>"): purpose "code", "link" or "browser". */
void tn_email_hash(const uint8_t *secret, size_t secret_len, const char *purpose, const char *id,
                   const char *value, uint8_t out[32]);
/* The message's subject (no secret in it: mailers log subjects), its text and its HTML
 * part, with the code, the link and the lifetime in minutes. TN_ERR_LIMIT when a buffer
 * is full. */
#define TN_EMAIL_SUBJECT "Your teamnotes sign-in code"
enum tn_err tn_email_message(const char *code, const char *link, unsigned minutes,
                             struct tn_buf *text, struct tn_buf *html);

#endif
