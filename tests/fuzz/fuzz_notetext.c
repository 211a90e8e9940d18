/* Fuzz target: what the notes make of a note's text and of dates from an imported file:
 * tn_note_title_derive (the title a note without one shows) and tn_time_parse_rfc3339 /
 * tn_time_rfc3339, on arbitrary bytes.
 *
 * Checks besides "no crash, no leak":
 *  - a derived title fits its buffer, NUL-terminated, of the returned length, never
 *    longer than TN_NOTE_DERIVED_TITLE characters and an ellipsis, without a newline,
 *    without leading or trailing spaces; valid UTF-8 in, valid UTF-8 out; every buffer
 *    size from 1 up gives a prefix of the full title (or the full one without "…");
 *  - a parsed date formats to an RFC 3339 string that parses back to the same second. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_notetext: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || n - i < len)
            return false;
        for (size_t j = 1; j < len; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void check_title(const uint8_t *data, size_t size)
{
    char full[TN_NOTE_DERIVED_TITLE_SIZE];
    size_t n = tn_note_title_derive((const char *)data, size, full, sizeof full);
    CHECK(n == strlen(full) && n < sizeof full);
    CHECK(!strchr(full, '\n'));
    CHECK(chars(full) <= TN_NOTE_DERIVED_TITLE + 1);
    if (n) {
        CHECK(full[0] != ' ' && full[0] != '\t' && full[n - 1] != ' ' && full[n - 1] != '\t');
    }
    /* the input up to its first NUL is what a C string would be */
    size_t c_len = strnlen((const char *)data, size);
    if (utf8_ok(data, c_len))
        CHECK(utf8_ok((const unsigned char *)full, n));
    for (size_t cap = 1; cap <= sizeof full; cap++) {
        char *small = malloc(cap); /* exactly cap: ASan sees a write past it */
        CHECK(small);
        size_t m = tn_note_title_derive((const char *)data, size, small, cap);
        CHECK(m < cap && m == strlen(small));
        CHECK(memcmp(small, full, m) == 0 || (m >= 3 && memcmp(small, full, m - 3) == 0 &&
                                              memcmp(small + m - 3, "\xe2\x80\xa6", 3) == 0));
        free(small);
    }
}

static void check_date(const uint8_t *data, size_t size)
{
    int64_t ms = 0;
    if (tn_time_parse_rfc3339((const char *)data, size, &ms) != TN_OK) {
        CHECK(ms == 0);
        return;
    }
    char out[21];
    CHECK(tn_time_rfc3339(ms, out) == 20 && strlen(out) == 20);
    int64_t back = -1;
    if (ms >= -62167219200000LL && ms <= 253402300799999LL) {
        CHECK(tn_time_parse_rfc3339(out, 20, &back) == TN_OK);
        int64_t s = ms / 1000 - (ms % 1000 < 0);
        CHECK(back == s * 1000);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_title(data, size);
    check_date(data, size);
    return 0;
}
