/* Integrity-protected MRTR requestState and opaque list cursors.
 *
 * requestState travels through the client, so it is attacker-controlled: it is
 * `base64url(payload) "." base64url(HMAC-SHA-256(key, payload))`, where the payload binds
 * the caller, the tool or prompt name and an expiry to the handler's own state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mcp/internal.h"

#define STATE_TTL_MS (10 * 60 * 1000)
#define STATE_MAX 65536

char *tn_mcp_state_seal(const struct tn_mcp_server *s, const char *subject, const char *name,
                        json_t *state)
{
    char *out = NULL, *payload = NULL;
    json_t *doc = json_pack("{s:s, s:s, s:I, s:O}", "sub", subject ? subject : "", "name", name,
                            "exp", (json_int_t)(tn_time_now_ms() + STATE_TTL_MS), "state",
                            state ? state : json_null());
    if (!doc)
        goto done;
    payload = json_dumps(doc, JSON_COMPACT);
    if (!payload)
        goto done;
    size_t plen = strlen(payload);
    uint8_t mac[32];
    tn_hmac_sha256(mac, s->state_key, sizeof s->state_key, payload, plen);
    size_t cap = tn_b64url_encoded_len(plen) + tn_b64url_encoded_len(32) + 3;
    out = malloc(cap);
    if (!out)
        goto done;
    size_t n = tn_b64url_encode(out, cap, payload, plen);
    out[n++] = '.';
    tn_b64url_encode(out + n, cap - n, mac, 32);
done:
    free(payload);
    json_decref(doc);
    return out;
}

json_t *tn_mcp_state_open(const struct tn_mcp_server *s, const char *subject, const char *name,
                          const char *sealed, const char **why)
{
    json_t *doc = NULL, *result = NULL;
    char *payload = NULL;
    *why = "requestState is malformed";
    size_t len = strlen(sealed);
    const char *dot = memchr(sealed, '.', len);
    if (!dot || len > STATE_MAX)
        goto done;
    size_t plen_b64 = (size_t)(dot - sealed);
    payload = malloc(plen_b64 + 1);
    if (!payload)
        goto done;
    size_t plen = 0, mlen = 0;
    uint8_t mac[40], want[32];
    if (tn_b64url_decode(payload, plen_b64, &plen, sealed, plen_b64) != TN_OK ||
        tn_b64url_decode(mac, sizeof mac, &mlen, dot + 1, len - plen_b64 - 1) != TN_OK ||
        mlen != 32)
        goto done;
    tn_hmac_sha256(want, s->state_key, sizeof s->state_key, payload, plen);
    if (!tn_ct_equal(mac, want, 32)) {
        *why = "requestState failed its integrity check";
        goto done;
    }
    doc = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);
    json_t *st = NULL;
    const char *sub = NULL, *nm = NULL;
    json_int_t exp = 0;
    if (!doc || json_unpack(doc, "{s:s, s:s, s:I, s:o}", "sub", &sub, "name", &nm, "exp", &exp,
                            "state", &st) != 0)
        goto done;
    if (strcmp(sub, subject ? subject : "") != 0 || strcmp(nm, name) != 0) {
        *why = "requestState belongs to another request";
        goto done;
    }
    if (exp < tn_time_now_ms()) {
        *why = "requestState has expired";
        goto done;
    }
    result = json_incref(st);
    *why = NULL;
done:
    json_decref(doc);
    free(payload);
    return result;
}

/* Cursor = base64url( kind | a (4) | b (4) | inner… | mac (12) ). Forged or stale cursors
 * fail the MAC and are refused as invalid params. */
char *tn_mcp_cursor_make(const struct tn_mcp_server *s, char kind, uint32_t a, uint32_t b,
                         const char *inner)
{
    size_t ilen = inner ? strlen(inner) : 0;
    if (ilen > 4096)
        return NULL;
    size_t raw_len = 9 + ilen + 12;
    uint8_t *raw = malloc(raw_len);
    if (!raw)
        return NULL;
    raw[0] = (uint8_t)kind;
    for (int i = 0; i < 4; i++) {
        raw[1 + i] = (uint8_t)(a >> (8 * i));
        raw[5 + i] = (uint8_t)(b >> (8 * i));
    }
    if (ilen)
        memcpy(raw + 9, inner, ilen);
    uint8_t mac[32];
    tn_hmac_sha256(mac, s->cursor_key, sizeof s->cursor_key, raw, 9 + ilen);
    memcpy(raw + 9 + ilen, mac, 12);
    size_t cap = tn_b64url_encoded_len(raw_len) + 1;
    char *out = malloc(cap);
    if (out)
        tn_b64url_encode(out, cap, raw, raw_len);
    free(raw);
    return out;
}

bool tn_mcp_cursor_read(const struct tn_mcp_server *s, const char *cursor, char kind, uint32_t *a,
                        uint32_t *b, char **inner)
{
    bool ok = false;
    size_t len = strlen(cursor), n = 0;
    *a = *b = 0;
    if (inner)
        *inner = NULL;
    if (len > 8192)
        return false;
    uint8_t *raw = malloc(len + 1);
    if (!raw)
        return false;
    if (tn_b64url_decode(raw, len + 1, &n, cursor, len) != TN_OK || n < 21 ||
        raw[0] != (uint8_t)kind)
        goto done;
    uint8_t mac[32];
    tn_hmac_sha256(mac, s->cursor_key, sizeof s->cursor_key, raw, n - 12);
    if (!tn_ct_equal(mac, raw + n - 12, 12))
        goto done;
    for (int i = 0; i < 4; i++) {
        *a |= (uint32_t)raw[1 + i] << (8 * i);
        *b |= (uint32_t)raw[5 + i] << (8 * i);
    }
    if (inner && n > 21) {
        *inner = strndup((const char *)raw + 9, n - 21);
        if (!*inner)
            goto done;
    }
    ok = true;
done:
    free(raw);
    return ok;
}
