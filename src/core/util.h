/* Small shared helpers: time, randomness, base64, HMAC. */
#ifndef TN_CORE_UTIL_H
#define TN_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Initialises libsodium; call once before any other function here. */
enum tn_err tn_util_init(void);

/* Milliseconds since the Unix epoch, and a monotonic clock in nanoseconds. */
int64_t tn_time_now_ms(void);
uint64_t tn_time_mono_ns(void);
/* Writes `ms` (milliseconds since the epoch) as an RFC 3339 UTC date to the second,
 * "2026-12-06T10:31:02Z", NUL-terminated, into out[21]; returns 20. Years outside
 * 0000..9999 are clamped to the first or last second of that range. */
size_t tn_time_rfc3339(int64_t ms, char out[21]);
/* Parses an RFC 3339 date-time of exactly `n` bytes ("2026-12-06T10:31:02.123Z",
 * "...+02:00"; a fraction of any length, read to the millisecond) into milliseconds
 * since the epoch. TN_ERR_BAD_INPUT for anything else (out of range fields included). */
enum tn_err tn_time_parse_rfc3339(const char *s, size_t n, int64_t *ms);

/* Fills `out` with cryptographically random bytes. */
void tn_random(void *out, size_t n);

/* base64url without padding. `out` receives a NUL-terminated string; `cap` must be at
 * least tn_b64url_encoded_len(n) + 1. Returns the length written. */
size_t tn_b64url_encoded_len(size_t n);
size_t tn_b64url_encode(char *out, size_t cap, const void *in, size_t n);
/* Decodes base64url (padding optional) into out[0..cap). Fails with TN_ERR_BAD_INPUT on
 * any character outside the alphabet, TN_ERR_LIMIT when it does not fit. */
enum tn_err tn_b64url_decode(void *out, size_t cap, size_t *out_len, const char *in, size_t n);
/* Same for standard base64 with padding required (RFC 4648 §4). */
enum tn_err tn_b64_decode(void *out, size_t cap, size_t *out_len, const char *in, size_t n);

/* HMAC-SHA-256 of msg under key (32 bytes out). */
void tn_hmac_sha256(uint8_t out[32], const uint8_t *key, size_t key_len, const void *msg,
                    size_t msg_len);
/* Copies the string `src` into dst[0..cap) (cap > 0), cut short when it does not fit, and
 * always NUL-terminated: snprintf(dst, cap, "%s", src) without the format machinery.
 * Returns strlen(src), so a result >= cap means it was cut. */
size_t tn_strlcpy(char *dst, const char *src, size_t cap);

/* Marks the calling thread as one that may wait (the HTTP layer's blocking pool), or
 * not (the default: an event loop, or any other). What is shared with the event loops
 * holds some of itself back from threads that may wait (the SQLite store's connections),
 * so that no loop waits behind them. */
void tn_thread_set_may_wait(bool yes);
bool tn_thread_may_wait(void);

/* Constant-time comparison of two equal-length byte strings. */
bool tn_ct_equal(const void *a, const void *b, size_t n);

#endif
