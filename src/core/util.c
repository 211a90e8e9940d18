#include "core/util.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

enum tn_err tn_util_init(void)
{
    return sodium_init() < 0 ? TN_ERR_INTERNAL : TN_OK;
}

int64_t tn_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t tn_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tn_random(void *out, size_t n)
{
    randombytes_buf(out, n);
}

size_t tn_b64url_encoded_len(size_t n)
{
    return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

size_t tn_b64url_encode(char *out, size_t cap, const void *in, size_t n)
{
    if (cap < tn_b64url_encoded_len(n) + 1) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

static enum tn_err decode(void *out, size_t cap, size_t *out_len, const char *in, size_t n,
                          int variant)
{
    *out_len = 0;
    const char *end = NULL;
    size_t len = 0;
    if (n == 0)
        return TN_OK;
    if (sodium_base642bin(out, cap, in, n, NULL, &len, &end, variant) != 0)
        return (n / 4 * 3 > cap) ? TN_ERR_LIMIT : TN_ERR_BAD_INPUT;
    if (end != in + n)
        return TN_ERR_BAD_INPUT;
    *out_len = len;
    return TN_OK;
}

enum tn_err tn_b64url_decode(void *out, size_t cap, size_t *out_len, const char *in, size_t n)
{
    /* Accept trailing '=' padding that some encoders add. */
    while (n && in[n - 1] == '=')
        n--;
    return decode(out, cap, out_len, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum tn_err tn_b64_decode(void *out, size_t cap, size_t *out_len, const char *in, size_t n)
{
    return decode(out, cap, out_len, in, n, sodium_base64_VARIANT_ORIGINAL);
}

void tn_hmac_sha256(uint8_t out[32], const uint8_t *key, size_t key_len, const void *msg,
                    size_t msg_len)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, msg, msg_len);
    crypto_auth_hmacsha256_final(&st, out);
}

bool tn_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

size_t tn_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    size_t k = n < cap ? n : cap - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}
