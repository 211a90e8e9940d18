/* Eight bytes of a JSON string at a time (the writer in json.c, the parser in
 * jsonparse.c): which of them need an escape. */
#ifndef TN_CORE_JSONMASK_H
#define TN_CORE_JSONMASK_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TN_JSON_WORD_SCAN 1 /* the lowest byte of a loaded word is the first in memory */
#else
#define TN_JSON_WORD_SCAN 0
#endif

/* The high bit of each byte of v set exactly where that byte needs an escape in a JSON
 * string: below 0x20, '"' or '\\'. Each test keeps its sum within the byte, so no carry
 * reaches a neighbour and every set bit is exact. */
static inline uint64_t tn_json_escape_mask(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ULL, low7 = ones * 0x7f;
    uint64_t quote = v ^ (ones * '"'), bslash = v ^ (ones * '\\');
    uint64_t control = ~(((v & low7) + ones * (0x80 - 0x20)) | v);
    quote = ~(((quote & low7) + low7) | quote);
    bslash = ~(((bslash & low7) + low7) | bslash);
    return (control | quote | bslash) & ~low7;
}

#endif
