/* Fuzz target: JSON Schema compilation (tn_schema_compile) and validation
 * (tn_schema_validate).
 *
 * Input: <schema JSON> SEP <instance JSON>, where SEP is the first NUL or 0xff byte
 * (neither can appear in valid JSON text). Without a separator the whole input is the
 * schema and the schema document itself is the instance. When the instance half is not
 * JSON, the schema document is validated instead, so every compiled schema meets
 * structured data.
 *
 * Contract checks on top of "no crash, no leak, no UB":
 *  - a failed compile leaves *out NULL and says why in `err`;
 *  - a failed validation says why (the message is never empty);
 *  - the verdict does not depend on whether, or how much, of the message is kept: the
 *    same instance gives the same result with no buffer and with a tiny one.
 *
 * Known limit, filtered out here: glibc's regcomp copies the parse tree for every
 * quantifier, so stacked quantifiers ("x-++++++++++++++++++++++", "(a{1,99}){1,99}…")
 * cost time and memory exponential in their number (22 '+' take 16 s and 2.9 GB).
 * tn_schema_compile passes `pattern` and patternProperties keys to regcomp unbounded.
 * Schemas are the tool author's, compiled at registration, so this is not reachable
 * from a client; it is reported, and schemas whose patterns could expand beyond
 * PATTERN_BUDGET are skipped so the fuzzer keeps exploring instead of re-finding it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "mcp/schema.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_schema: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Real tool schemas are a few kilobytes; far larger inputs only slow the fuzzer down. */
#define MAX_INPUT (64 * 1024)
#ifndef PATTERN_BUDGET /* -DPATTERN_BUDGET=1e300 turns the filter off, to reproduce */
#define PATTERN_BUDGET 20000.0
#endif

/* An upper bound of how many copies of its tree glibc may build for one POSIX ERE: the
 * product of every quantifier's weight (2 for + * ?, the larger count for {m,n}). */
static double pattern_cost(const char *re, size_t len)
{
    double cost = 1;
    for (size_t i = 0; i < len; i++) {
        char ch = re[i];
        if (ch == '\\') {
            i++;
        } else if (ch == '[') { /* a bracket: "]" first is a member, not the end */
            size_t j = i + 1;
            if (j < len && re[j] == '^')
                j++;
            if (j < len && re[j] == ']')
                j++;
            while (j < len && re[j] != ']')
                j++;
            i = j;
        } else if (ch == '+' || ch == '*' || ch == '?') {
            cost *= 2;
        } else if (ch == '{') {
            double big = 0, n = 0;
            for (i++; i < len && re[i] != '}'; i++) {
                if (re[i] >= '0' && re[i] <= '9')
                    n = n * 10 + (re[i] - '0');
                else
                    n = 0;
                big = n > big ? n : big;
            }
            cost *= big > 2 ? big : 2;
        }
    }
    return cost;
}

/* True when some `pattern` or patternProperties key of the document is too costly. */
static bool costly_patterns(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (costly_patterns(x))
                return true;
        }
        return false;
    }
    if (!json_is_object(v))
        return false;
    json_object_foreach(v, k, x)
    {
        if (!strcmp(k, "pattern") && json_is_string(x) &&
            pattern_cost(json_string_value(x), json_string_length(x)) > PATTERN_BUDGET)
            return true;
        if (!strcmp(k, "patternProperties") && json_is_object(x)) {
            void *it;
            for (it = json_object_iter(x); it; it = json_object_iter_next(x, it))
                if (pattern_cost(json_object_iter_key(it), json_object_iter_key_len(it)) >
                    PATTERN_BUDGET)
                    return true;
        }
        if (costly_patterns(x))
            return true;
    }
    return false;
}

static void validate_all_ways(const struct tn_schema *s, json_t *inst)
{
    struct tn_buf err, tiny;
    tn_buf_init(&err, 64 * 1024);
    tn_buf_init(&tiny, 7);
    enum tn_err e1 = tn_schema_validate(s, inst, &err);
    enum tn_err e2 = tn_schema_validate(s, inst, NULL);
    enum tn_err e3 = tn_schema_validate(s, inst, &tiny);
    CHECK(e1 == TN_OK || e1 == TN_ERR_BAD_INPUT);
    CHECK(e1 == e2 && e2 == e3);
    if (e1 == TN_OK)
        CHECK(err.len == 0 && tiny.len == 0);
    else
        CHECK(err.len > 0 && tiny.len <= 7);
    tn_buf_deinit(&err);
    tn_buf_deinit(&tiny);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    size_t cut = 0;
    while (cut < size && data[cut] != 0 && data[cut] != 0xff)
        cut++;
    char *schema_text = malloc(cut + 1);
    CHECK(schema_text);
    memcpy(schema_text, data, cut);
    schema_text[cut] = '\0';
    json_t *doc = json_loads(schema_text, JSON_DECODE_ANY, NULL);
    bool skip = doc && costly_patterns(doc);
    json_decref(doc);
    if (skip) {
        free(schema_text);
        return -1; /* not added to the corpus */
    }

    struct tn_buf err;
    tn_buf_init(&err, 4096);
    struct tn_schema *s = (struct tn_schema *)(uintptr_t)1;
    enum tn_err e = tn_schema_compile(schema_text, &s, &err);
    if (e != TN_OK) {
        CHECK(s == NULL);
        CHECK(e == TN_ERR_BAD_INPUT || e == TN_ERR_NOMEM);
        CHECK(err.len > 0);
        goto done;
    }
    CHECK(s != NULL && tn_schema_json(s) != NULL);

    json_t *inst = NULL;
    if (cut < size)
        inst = json_loadb((const char *)data + cut + 1, size - cut - 1, JSON_DECODE_ANY, NULL);
    validate_all_ways(s, inst ? inst : tn_schema_json(s));
    json_decref(inst);
    tn_schema_free(s);
done:
    tn_buf_deinit(&err);
    free(schema_text);
    return 0;
}
