#include "core/util.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

enum tn_err tn_util_init(void) { return sodium_init() < 0 ? TN_ERR_INTERNAL : TN_OK; }

static _Thread_local bool may_wait;
void tn_thread_set_may_wait(bool yes) { may_wait = yes; }
bool tn_thread_may_wait(void) { return may_wait; }

int64_t tn_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (the civil calendar in
 * 400-year eras of 146097 days; pure arithmetic: no gmtime lock on the hot path). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

size_t tn_time_rfc3339(int64_t ms, char out[21])
{
    static const int64_t lo = -62167219200LL, hi = 253402300799LL; /* 0000-01-01, 9999-12-31 */
    /* A page writes two times per note, mostly of few days and often the same second
     * (a note never edited): this thread's last second and last day are kept. */
    static _Thread_local int64_t last_s = INT64_MIN, last_day = INT64_MIN;
    static _Thread_local char last_text[21], last_date[10];
    int64_t s = ms / 1000 - (ms % 1000 < 0); /* floor: -1 ms is the second before the epoch */
    s = s < lo ? lo : s > hi ? hi : s;
    if (s == last_s) {
        memcpy(out, last_text, 21);
        return 20;
    }
    int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    unsigned sec = (unsigned)(s - days * 86400), m, d;
    if (days == last_day) {
        memcpy(out, last_date, 10);
    } else {
        int64_t y;
        civil_from_days(days, &y, &m, &d);
        put2(out, (unsigned)(y / 100));
        put2(out + 2, (unsigned)(y % 100));
        out[4] = '-';
        put2(out + 5, m);
        out[7] = '-';
        put2(out + 8, d);
        memcpy(last_date, out, 10);
        last_day = days;
    }
    out[10] = 'T';
    put2(out + 11, sec / 3600);
    out[13] = ':';
    put2(out + 14, sec / 60 % 60);
    out[16] = ':';
    put2(out + 17, sec % 60);
    out[19] = 'Z';
    out[20] = '\0';
    memcpy(last_text, out, 21);
    last_s = s;
    return 20;
}

/* `k` decimal digits at s[i..], as a number; false when one is not a digit. */
static bool digits(const char *s, size_t i, size_t k, unsigned *v)
{
    *v = 0;
    for (size_t j = i; j < i + k; j++) {
        if (s[j] < '0' || s[j] > '9')
            return false;
        *v = *v * 10 + (unsigned)(s[j] - '0');
    }
    return true;
}

enum tn_err tn_time_parse_rfc3339(const char *s, size_t n, int64_t *ms)
{
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, se, frac = 0, oh = 0, om = 0;
    *ms = 0;
    if (!s || n < 20 || !digits(s, 0, 4, &y) || s[4] != '-' || !digits(s, 5, 2, &mo) ||
        s[7] != '-' || !digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s, 11, 2, &h) || s[13] != ':' || !digits(s, 14, 2, &mi) || s[16] != ':' ||
        !digits(s, 17, 2, &se))
        return TN_ERR_BAD_INPUT;
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        unsigned scale = 100;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            frac += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return TN_ERR_BAD_INPUT;
    }
    int sign = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        sign = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s, i + 1, 2, &oh) &&
               s[i + 3] == ':' && digits(s, i + 4, 2, &om) && oh < 24 && om < 60) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return TN_ERR_BAD_INPUT;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 60)
        return TN_ERR_BAD_INPUT;
    if (se == 60)
        se = 59; /* a leap second: the last second of the minute */
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    t -= sign * (int64_t)(oh * 3600 + om * 60);
    *ms = t * 1000 + frac;
    return TN_OK;
}

uint64_t tn_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tn_random(void *out, size_t n) { randombytes_buf(out, n); }

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

bool tn_ct_equal(const void *a, const void *b, size_t n) { return sodium_memcmp(a, b, n) == 0; }

size_t tn_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    size_t k = n < cap ? n : cap - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}
