#include "core/seal.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define SEAL_MAX 16384

static void mac(uint8_t out[32], const uint8_t *key, size_t key_len, const char *purpose,
                const char *payload, size_t len)
{
    /* purpose and payload are separated by a NUL, which neither can contain */
    size_t pl = strlen(purpose);
    char *buf = malloc(pl + 1 + len);
    if (!buf)
        abort();
    memcpy(buf, purpose, pl + 1);
    memcpy(buf + pl + 1, payload, len);
    tn_hmac_sha256(out, key, key_len, buf, pl + 1 + len);
    free(buf);
}

char *tn_seal(const uint8_t *key, size_t key_len, const char *purpose, json_t *doc, int64_t ttl_s)
{
    json_t *wrap =
        json_pack("{s:O, s:I}", "d", doc, "x", (json_int_t)(tn_time_now_ms() / 1000 + ttl_s));
    char *payload = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
    json_decref(wrap);
    if (!payload)
        return NULL;
    size_t plen = strlen(payload);
    uint8_t m[32];
    mac(m, key, key_len, purpose, payload, plen);
    size_t cap = tn_b64url_encoded_len(plen) + tn_b64url_encoded_len(32) + 2;
    char *out = malloc(cap);
    if (out) {
        size_t n = tn_b64url_encode(out, cap, payload, plen);
        out[n++] = '.';
        tn_b64url_encode(out + n, cap - n, m, 32);
    }
    free(payload);
    return out;
}

json_t *tn_unseal(const uint8_t *key, size_t key_len, const char *purpose, const char *sealed)
{
    json_t *result = NULL, *wrap = NULL;
    if (!sealed)
        return NULL;
    size_t len = strlen(sealed);
    const char *dot = memchr(sealed, '.', len);
    if (!dot || len > SEAL_MAX)
        return NULL;
    size_t b64 = (size_t)(dot - sealed);
    char *payload = malloc(b64 + 1);
    size_t plen = 0, mlen = 0;
    uint8_t m[40], want[32];
    if (!payload || tn_b64url_decode(payload, b64, &plen, sealed, b64) != TN_OK ||
        tn_b64url_decode(m, sizeof m, &mlen, dot + 1, len - b64 - 1) != TN_OK || mlen != 32)
        goto done;
    mac(want, key, key_len, purpose, payload, plen);
    if (!tn_ct_equal(m, want, 32))
        goto done;
    wrap = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);
    json_t *x = json_object_get(wrap, "x");
    if (!json_is_integer(x) || json_integer_value(x) < tn_time_now_ms() / 1000)
        goto done;
    result = json_incref(json_object_get(wrap, "d"));
done:
    json_decref(wrap);
    free(payload);
    return result;
}
