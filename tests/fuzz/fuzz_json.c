/* Fuzz target: the request parser (tn_json_parse) against jansson's json_loadb with the
 * flags it replaces (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY).
 *
 * Contract on top of "no crash, no leak, no UB": for every input both refuse it, or both
 * build values that jansson writes out identically (member order, integer or real, every
 * byte of every string). The one deliberate difference (src/core/jsonparse.c): jansson
 * skips a NUL byte straight after a number or a literal; tn_json_parse refuses it, and
 * the text without those bytes must then be accepted as jansson's value. A refusal
 * always says why, at a position inside the text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_json: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Both values written out by jansson, byte for byte the same. */
static void same_value(const json_t *a, const json_t *b)
{
    char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK(da != NULL && db != NULL);
    CHECK(strcmp(da, db) == 0);
    free(da);
    free(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_error_t je, te;
    json_t *a = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    json_t *b = tn_json_parse(text, size, &te);
    if (!b) {
        CHECK(te.text[0] != '\0');
        CHECK(te.position >= 0 && (size_t)te.position <= size);
    }
    if (a && !b) {
        CHECK(memchr(text, '\0', size) != NULL);
        char *stripped = malloc(size + 1);
        size_t m = 0;
        for (size_t i = 0; i < size; i++) {
            char p = i ? text[i - 1] : ' ';
            if (!(text[i] == '\0' && ((p >= '0' && p <= '9') || (p >= 'a' && p <= 'z'))))
                stripped[m++] = text[i];
        }
        json_t *c = tn_json_parse(stripped, m, &te);
        CHECK(c != NULL);
        same_value(a, c);
        json_decref(c);
        free(stripped);
    } else {
        CHECK(!a == !b);
        if (a)
            same_value(a, b);
    }
    json_decref(a);
    json_decref(b);
    return 0;
}
