/* Fuzz target: Mcp-* header values (tn_mcp_header_decode) and the two base64 decoders
 * (tn_b64url_decode, tn_b64_decode) on arbitrary bytes.
 *
 * Input: the whole input is the header value (cut at its first NUL, as a C string
 * reaching the decoder would be) and, uncut, the base64 text. Besides "no crash, no
 * leak", each call's documented contract is checked:
 *  - a decoded header value is NUL-free, and a plain one (not `=?base64?…?=`) equals the
 *    input without its surrounding spaces and tabs and is visible ASCII;
 *  - a successful decode writes at most `cap` bytes, re-encodes and decodes to the same
 *    bytes; a failed one reports length 0;
 *  - a buffer one byte too small for a successful decode fails with TN_ERR_LIMIT or
 *    TN_ERR_BAD_INPUT and never writes past its end (ASan watches the heap copy). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mcp/internal.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_header: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static void check_header(const uint8_t *data, size_t size)
{
    char *raw = malloc(size + 1);
    CHECK(raw);
    memcpy(raw, data, size);
    raw[size] = '\0';
    char *dec = tn_mcp_header_decode(raw);
    if (dec) {
        struct tn_span t = tn_span_trim((struct tn_span){raw, strlen(raw)});
        bool encoded = t.len >= 11 && memcmp(t.ptr, "=?base64?", 9) == 0 &&
                       memcmp(t.ptr + t.len - 2, "?=", 2) == 0;
        if (!encoded) {
            CHECK(strlen(dec) == t.len && memcmp(dec, t.ptr, t.len) == 0);
            for (const char *c = dec; *c; c++)
                CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c <= 0x7e);
        }
        free(dec);
    }
    free(raw);
}

typedef enum tn_err (*decode_fn)(void *, size_t, size_t *, const char *, size_t);

static void check_b64(decode_fn decode, bool url, const uint8_t *data, size_t size)
{
    /* The input on the heap, so reading past it is caught. */
    char *in = malloc(size ? size : 1);
    CHECK(in);
    memcpy(in, data, size);
    size_t cap = size + 1;
    uint8_t *out = malloc(cap);
    CHECK(out);
    size_t n = 12345;
    enum tn_err e = decode(out, cap, &n, in, size);
    if (e != TN_OK) {
        CHECK(n == 0);
        CHECK(e == TN_ERR_BAD_INPUT || e == TN_ERR_LIMIT);
    } else {
        CHECK(n <= cap && n <= size);
        /* Round trip: encode (unpadded url form, or padded standard form) and decode. */
        size_t elen = tn_b64url_encoded_len(n) + 4;
        char *enc = malloc(elen + 1);
        CHECK(enc);
        size_t w = tn_b64url_encode(enc, elen + 1, out, n);
        if (!url) {
            for (size_t i = 0; i < w; i++)
                enc[i] = enc[i] == '-' ? '+' : enc[i] == '_' ? '/' : enc[i];
            while (w % 4)
                enc[w++] = '=';
            enc[w] = '\0';
        }
        uint8_t *again = malloc(n + 1);
        CHECK(again);
        size_t n2 = 0;
        CHECK(decode(again, n + 1, &n2, enc, w) == TN_OK);
        CHECK(n2 == n && memcmp(again, out, n) == 0);
        free(again);
        free(enc);
        /* Exactly too small: must fail, and stay inside its buffer. */
        if (n > 0) {
            uint8_t *tight = malloc(n - 1 ? n - 1 : 1);
            CHECK(tight);
            size_t n3 = 777;
            enum tn_err e3 = decode(tight, n - 1, &n3, in, size);
            CHECK(e3 == TN_ERR_LIMIT || e3 == TN_ERR_BAD_INPUT);
            CHECK(n3 == 0);
            free(tight);
        }
    }
    free(out);
    free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    check_header(data, size);
    check_b64(tn_b64url_decode, true, data, size);
    check_b64(tn_b64_decode, false, data, size);
    return 0;
}
