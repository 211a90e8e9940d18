/* JSON Schema validation of a compiled schema (mcp/schema_internal.h). */
#include "mcp/schema.h"
#include "mcp/schema_internal.h"

#include <float.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- validation ---------- */

/* Validation results are TN_OK, TN_ERR_BAD_INPUT (does not match) or TN_ERR_LIMIT (too
 * deep). LIMIT is never absorbed by not/anyOf/oneOf/if, and is reported even when
 * quiet: a value must not pass because its check could not be finished. */
__attribute__((format(printf, 4, 5))) static enum tn_err vfail(struct vc *v, const struct seg *path,
                                                               enum tn_err e, const char *fmt, ...)
{
    va_list ap;
    if (v->quiet && e != TN_ERR_LIMIT)
        return e;
    va_start(ap, fmt);
    tn_schema_vreport(v->err, "", path, false, fmt, ap);
    va_end(ap);
    return e;
}
#define FAIL(...) vfail(v, path, TN_ERR_BAD_INPUT, __VA_ARGS__)

/* Tries a subschema without reporting its failure. */
static enum tn_err try_node(struct vc *v, const struct node *n, json_t *inst,
                            const struct seg *path, unsigned depth)
{
    v->quiet++;
    enum tn_err e = tn_schema_validate_node(v, n, inst, path, depth);
    v->quiet--;
    return e;
}

/* The type bits an instance satisfies: 3 is an integer and a number, so is 3.0. */
static unsigned kind_of(json_t *inst)
{
    switch (json_typeof(inst)) {
    case JSON_OBJECT:
        return T_OBJ;
    case JSON_ARRAY:
        return T_ARR;
    case JSON_STRING:
        return T_STR;
    case JSON_INTEGER:
        return T_INT | T_NUM;
    case JSON_REAL:
        return T_NUM | (tn_schema_zero_fraction(json_real_value(inst)) ? T_INT : 0);
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_NULL:
        return T_NULL;
    }
    return 0;
}

/* "expected a string or null, got a number"; a number is never called an integer in
 * "got", and "a number or an integer" collapses to "a number". */
static enum tn_err type_fail(struct vc *v, unsigned mask, json_t *inst, const struct seg *path)
{
    char list[128];
    size_t k = 0, total = 0, o = 0;
    unsigned kind = kind_of(inst) & ~(unsigned)T_INT;
    const char *got = "a value";
    if (mask & T_NUM)
        mask &= ~(unsigned)T_INT;
    for (size_t i = 0; i < N_TYPES; i++) {
        total += (mask & types[i].bit) != 0;
        got = kind == types[i].bit ? types[i].shown : got;
    }
    list[0] = '\0';
    for (size_t i = 0; i < N_TYPES && o < sizeof list; i++) {
        if (!(mask & types[i].bit))
            continue;
        const char *sep = k == 0 ? "" : k + 1 == total ? " or " : ", ";
        int w = snprintf(list + o, sizeof list - o, "%s%s", sep, types[i].shown);
        o += w > 0 ? (size_t)w : 0;
        k++;
    }
    return FAIL("expected %s, got %s", list, got);
}

static const char *num_text(char *b, size_t cap, struct num x)
{
    if (x.is_int) {
        snprintf(b, cap, "%lld", (long long)x.i);
        return b;
    }
    /* The shortest usual spelling that reads back exactly: 0.1, not 0.10000000000000001. */
    snprintf(b, cap, "%.15g", x.d);
    if (strtod(b, NULL) != x.d)
        snprintf(b, cap, "%.17g", x.d);
    return b;
}

static int num_cmp(struct num a, struct num b)
{
    if (a.is_int && b.is_int)
        return (a.i > b.i) - (a.i < b.i);
    return (a.d > b.d) - (a.d < b.d);
}

static bool is_multiple(struct num x, struct num m)
{
    if (x.is_int && m.is_int)
        return x.i % m.i == 0; /* m > 0, checked at compile */
    double q = x.d / m.d;
    /* Decimal inputs carry rounding error (0.3 / 0.1 = 2.9999999999999996). A few ulps
     * of q absorb it without taking 1e-12 for a multiple of 1. */
    return isfinite(q) &&
           tn_schema_dabs(q - tn_schema_round_int(q)) <= 8 * DBL_EPSILON * tn_schema_dabs(q);
}

static enum tn_err check_number(struct vc *v, const struct node *n, json_t *inst,
                                const struct seg *path)
{
    struct num x = tn_schema_num_of(inst);
    char b[40];
    if (n->has_min && num_cmp(x, n->min) < 0)
        return FAIL("must be >= %s", num_text(b, sizeof b, n->min));
    if (n->has_xmin && num_cmp(x, n->xmin) <= 0)
        return FAIL("must be > %s", num_text(b, sizeof b, n->xmin));
    if (n->has_max && num_cmp(x, n->max) > 0)
        return FAIL("must be <= %s", num_text(b, sizeof b, n->max));
    if (n->has_xmax && num_cmp(x, n->xmax) >= 0)
        return FAIL("must be < %s", num_text(b, sizeof b, n->xmax));
    if (n->has_mult && !is_multiple(x, n->mult))
        return FAIL("must be a multiple of %s", num_text(b, sizeof b, n->mult));
    return TN_OK;
}

/* "at least 2 items", "at most 1 character": bounds of -1 are absent. */
static enum tn_err check_size(struct vc *v, const struct seg *path, uint64_t size, int64_t min,
                              int64_t max, const char *one, const char *many)
{
    if (min >= 0 && size < (uint64_t)min)
        return FAIL("at least %lld %s", (long long)min, min == 1 ? one : many);
    if (max >= 0 && size > (uint64_t)max)
        return FAIL("at most %lld %s", (long long)max, max == 1 ? one : many);
    return TN_OK;
}

/* Matches the whole string, NUL bytes included: without REG_STARTEND the match would
 * stop at the first NUL and let the tail escape the pattern. */
static bool regex_matches(const regex_t *re, const char *s, size_t len)
{
#ifdef REG_STARTEND
    regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)len}};
    return regexec(re, s, 1, m, REG_STARTEND) == 0;
#else
    return strlen(s) == len && regexec(re, s, 0, NULL, 0) == 0;
#endif
}

static enum tn_err check_string(struct vc *v, const struct node *n, json_t *inst,
                                const struct seg *path)
{
    const char *s = json_string_value(inst);
    size_t len = json_string_length(inst);
    uint64_t cp = 0; /* code points: the bytes that are not UTF-8 continuation bytes */
    for (size_t i = 0; (n->min_len >= 0 || n->max_len >= 0) && i < len; i++)
        cp += ((unsigned char)s[i] & 0xC0) != 0x80;
    enum tn_err e = check_size(v, path, cp, n->min_len, n->max_len, "character", "characters");
    if (e != TN_OK)
        return e;
    if (n->has_pattern && !regex_matches(&n->pattern, s, len))
        return FAIL("does not match the pattern '%.100s'", n->pattern_src);
    return TN_OK;
}

static enum tn_err check_object(struct vc *v, const struct node *n, json_t *inst,
                                const struct seg *path, unsigned depth)
{
    enum tn_err e = TN_OK;
    char shown[SHOWN_CAP];
    for (size_t i = 0; i < n->n_required; i++) {
        const struct prop *r = &n->required[i];
        if (!json_object_getn(inst, r->name, r->len))
            return FAIL("missing required property '%s'",
                        tn_schema_show(shown, sizeof shown, r->name, r->len, false));
    }
    e = check_size(v, path, json_object_size(inst), n->min_props, n->max_props, "property",
                   "properties");
    for (void *it = json_object_iter(inst); it && e == TN_OK;
         it = json_object_iter_next(inst, it)) {
        struct prop key = {json_object_iter_key(it), json_object_iter_key_len(it), NULL};
        struct seg ks = {path, key.name, key.len, 0, false};
        json_t *val = json_object_iter_value(it);
        const struct prop *p =
            n->n_props ? bsearch(&key, n->props, n->n_props, sizeof key, tn_schema_prop_cmp) : NULL;
        bool matched = p != NULL;
        if (p)
            e = tn_schema_validate_node(v, p->schema, val, &ks, depth + 1);
        for (size_t i = 0; i < n->n_pprops && e == TN_OK; i++) {
            if (regex_matches(&n->pprops[i].re, key.name, key.len)) {
                matched = true;
                e = tn_schema_validate_node(v, n->pprops[i].schema, val, &ks, depth + 1);
            }
        }
        if (e != TN_OK || matched || !n->additional)
            continue;
        if (n->additional->is_false)
            return FAIL("unexpected property '%s'",
                        tn_schema_show(shown, sizeof shown, key.name, key.len, false));
        e = tn_schema_validate_node(v, n->additional, val, &ks, depth + 1);
    }
    return e;
}

static enum tn_err check_array(struct vc *v, const struct node *n, json_t *inst,
                               const struct seg *path, unsigned depth)
{
    size_t size = json_array_size(inst);
    enum tn_err e = check_size(v, path, size, n->min_items, n->max_items, "item", "items");
    /* A closed tuple reads better as a count than as "[3]: value not allowed". */
    if (e == TN_OK && n->items && n->items->is_false)
        e = check_size(v, path, size, -1, (int64_t)n->n_prefix, "item", "items");
    for (size_t i = 0; i < size && e == TN_OK; i++) {
        const struct node *sub = i < n->n_prefix ? n->prefix[i] : n->items;
        struct seg is = {path, NULL, 0, i, false};
        e = sub ? tn_schema_validate_node(v, sub, json_array_get(inst, i), &is, depth + 1) : TN_OK;
    }
    if (e != TN_OK)
        return e;
    for (size_t i = 0; n->unique && i < size; i++)
        for (size_t j = i + 1; j < size; j++)
            if (json_equal(json_array_get(inst, i), json_array_get(inst, j)))
                return FAIL("items must be unique (%zu and %zu are equal)", i, j);
    return TN_OK;
}

static enum tn_err check_combinators(struct vc *v, const struct node *n, json_t *inst,
                                     const struct seg *path, unsigned depth)
{
    enum tn_err e = TN_OK;
    size_t i, hits = 0, first = 0;
    for (i = 0; i < n->n_all && e == TN_OK; i++)
        e = tn_schema_validate_node(v, n->all_of[i], inst, path, depth + 1);
    if (e != TN_OK)
        return e;
    for (i = 0, e = n->n_any ? TN_ERR_BAD_INPUT : TN_OK; i < n->n_any && e == TN_ERR_BAD_INPUT; i++)
        e = try_node(v, n->any_of[i], inst, path, depth + 1);
    if (e == TN_ERR_BAD_INPUT)
        return FAIL("does not match any schema in anyOf");
    for (i = 0; i < n->n_one && e != TN_ERR_LIMIT; i++) {
        e = try_node(v, n->one_of[i], inst, path, depth + 1);
        if (e == TN_OK && hits++ > 0)
            return FAIL("matches more than one schema in oneOf (%zu and %zu)", first, i);
        first = e == TN_OK ? i : first;
    }
    if (e == TN_ERR_LIMIT)
        return e;
    if (n->n_one && hits == 0)
        return FAIL("does not match any schema in oneOf");
    e = n->not_ ? try_node(v, n->not_, inst, path, depth + 1) : TN_ERR_BAD_INPUT;
    if (e == TN_OK)
        return FAIL("must not match the schema in not");
    if (e == TN_ERR_LIMIT || !n->if_)
        return e == TN_ERR_LIMIT ? e : TN_OK;
    e = try_node(v, n->if_, inst, path, depth + 1);
    if (e == TN_OK && n->then_)
        return tn_schema_validate_node(v, n->then_, inst, path, depth + 1);
    if (e == TN_ERR_BAD_INPUT)
        return n->else_ ? tn_schema_validate_node(v, n->else_, inst, path, depth + 1) : TN_OK;
    return e;
}

enum tn_err tn_schema_validate_node(struct vc *v, const struct node *n, json_t *inst,
                                    const struct seg *path, unsigned depth)
{
    enum tn_err e = TN_OK;
    size_t i, size = json_array_size(n->enum_vals);
    if (depth >= TN_SCHEMA_MAX_DEPTH)
        return vfail(v, path, TN_ERR_LIMIT, "nested too deeply (more than %d levels)",
                     TN_SCHEMA_MAX_DEPTH);
    if (n->is_false)
        return FAIL("value not allowed");
    if (n->ref && (e = tn_schema_validate_node(v, n->ref, inst, path, depth + 1)) != TN_OK)
        return e;
    if (n->types && !(n->types & kind_of(inst)))
        return type_fail(v, n->types, inst, path);
    for (i = 0; n->enum_vals && i < size && !json_equal(inst, json_array_get(n->enum_vals, i)); i++)
        ;
    if (n->enum_vals && i == size)
        return n->enum_text ? FAIL("must be one of %s", n->enum_text)
                            : FAIL("must be one of the allowed values");
    if (n->const_val && !json_equal(inst, n->const_val))
        return n->const_text ? FAIL("must equal %s", n->const_text)
                             : FAIL("must equal the constant value");
    switch (json_typeof(inst)) {
    case JSON_STRING:
        e = check_string(v, n, inst, path);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        e = check_number(v, n, inst, path);
        break;
    case JSON_OBJECT:
        e = check_object(v, n, inst, path, depth);
        break;
    case JSON_ARRAY:
        e = check_array(v, n, inst, path, depth);
        break;
    default:
        break;
    }
    return e != TN_OK ? e : check_combinators(v, n, inst, path, depth);
}

enum tn_err tn_schema_validate(const struct tn_schema *s, json_t *instance, struct tn_buf *err)
{
    struct vc ctx = {err, 0}, *v = &ctx;
    const struct seg *path = NULL;
    if (!s || !instance)
        return FAIL("no value to validate");
    enum tn_err e = tn_schema_validate_node(v, s->root, instance, path, 0);
    return e == TN_ERR_LIMIT ? TN_ERR_BAD_INPUT : e;
}
