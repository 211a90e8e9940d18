/* Request ids: the one a trusted proxy sent (X-Request-Id), when well formed, or one made
 * here. Every log line written while a request is handled carries it (core/log.h's
 * request_id field) and the answer echoes it in X-Request-Id. */
#ifndef TN_OPS_REQID_H
#define TN_OPS_REQID_H

#include <stdbool.h>
#include <stddef.h>

/* Longest accepted id, without its NUL. */
#define TN_REQID_MAX 128
/* Length of a made id: 16 bytes in base64url without padding. */
#define TN_REQID_MADE_LEN 22

/* True when s[0..len) is 1..TN_REQID_MAX characters of [A-Za-z0-9._:-]: an id that can
 * go into a log line and a header as it is. */
bool tn_reqid_valid(const char *s, size_t len);
/* Writes a new id (TN_REQID_MADE_LEN characters and a NUL): 16 bytes that no one outside
 * can predict or repeat (SipHash-128 of a process-wide counter under a random key drawn
 * at the first call), in base64url. Thread-safe, no system call after the first. */
void tn_reqid_make(char out[TN_REQID_MADE_LEN + 1]);

#endif
