/* JSON Schema compiler and validator; see schema.h for the dialect and its limits.
 *
 * Reading order: the compiled node, messages, compilation (keyword table at its end),
 * validation (one function per instance type, then the combinators), public functions.
 *
 * Every compiled node is owned by the schema's flat `nodes` array; links in the tree
 * are borrowed. That is what lets $ref cycles exist without ownership cycles: a node is
 * registered before its keywords are compiled, so a reference back to it (or to any
 * schema value already compiled) resolves to the existing node. */
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

/* ---------- messages ---------- */

/* Copies a name for display: control bytes escaped, cut at a character boundary after
 * NAME_SHOWN_MAX bytes, and in pointer mode ~ and / escaped as RFC 6901 wants. Names
 * come from the instance: they must not smuggle control characters into logs. */
const char *tn_schema_show(char *out, size_t cap, const char *s, size_t len, bool pointer)
{
    size_t o = 0, i = 0, n = len;
    if (n > NAME_SHOWN_MAX) {
        n = NAME_SHOWN_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        else if (pointer && (ch == '~' || ch == '/'))
            o += (size_t)snprintf(out + o, cap - o, "~%c", ch == '~' ? '0' : '1');
        else
            out[o++] = (char)ch;
    }
    if (n < len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

void tn_schema_put_path(struct tn_buf *b, const struct seg *p, bool pointer)
{
    char shown[SHOWN_CAP];
    if (!p)
        return;
    tn_schema_put_path(b, p->up, pointer);
    if (p->raw)
        tn_buf_append(b, p->key, p->len);
    else if (!p->key)
        tn_buf_printf(b, pointer ? "/%zu" : "[%zu]", p->index);
    else
        tn_buf_printf(b, "%s%s", pointer ? "/" : (p->up ? "." : ""),
                      tn_schema_show(shown, sizeof shown, p->key, p->len, pointer));
}

/* Appends "<prefix><path>: <message>" to err, or as much of it as the caller's cap
 * allows: a cut message still beats none. */
void tn_schema_vreport(struct tn_buf *err, const char *prefix, const struct seg *path, bool pointer,
                       const char *fmt, va_list ap)
{
    struct tn_buf msg;
    char text[512];
    if (!err)
        return;
    tn_buf_init(&msg, MSG_MAX);
    vsnprintf(text, sizeof text, fmt, ap);
    tn_buf_puts(&msg, prefix);
    tn_schema_put_path(&msg, path, pointer);
    if (msg.len)
        tn_buf_puts(&msg, ": ");
    tn_buf_puts(&msg, text);
    if (msg.data && tn_buf_append(err, msg.data, msg.len) != TN_OK) {
        size_t room = err->limit > err->len ? err->limit - err->len : 0;
        size_t n = msg.len < room ? msg.len : room;
        while (n > 0 && ((unsigned char)msg.data[n] & 0xC0) == 0x80)
            n--;
        tn_buf_append(err, msg.data, n);
    }
    tn_buf_deinit(&msg);
}

/* ---------- compilation ---------- */

struct cc {
    struct tn_schema *s;
    struct tn_buf *err;
    json_t *obj; /* the schema object whose keywords are being compiled */
    unsigned depth;
};

/* Reports a compile error at `loc` (a keyword's location) and returns BAD_INPUT. */
__attribute__((format(printf, 3, 4))) static enum tn_err cfail(struct cc *c, const struct seg *loc,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tn_schema_vreport(c->err, "#", loc, true, fmt, ap);
    va_end(ap);
    return TN_ERR_BAD_INPUT;
}

static enum tn_err compile_node(struct cc *c, json_t *j, const struct seg *loc, struct node **out);

/* Rounding without libm, which the build does not link: from 2^52 up every double is
 * an integer already. */
double tn_schema_dabs(double d) { return d < 0 ? -d : d; }
double tn_schema_round_int(double d)
{
    return tn_schema_dabs(d) >= 4503599627370496.0 ? d
                                                   : (double)(int64_t)(d + (d < 0 ? -0.5 : 0.5));
}
bool tn_schema_zero_fraction(double d) { return isfinite(d) && tn_schema_round_int(d) == d; }

struct num tn_schema_num_of(json_t *j)
{
    struct num n = {json_is_integer(j), 0, json_number_value(j)};
    if (n.is_int)
        n.i = json_integer_value(j);
    return n;
}

static enum tn_err number(struct cc *c, json_t *v, const struct seg *loc, struct num *out,
                          bool *has)
{
    if (!json_is_number(v))
        return cfail(c, loc, "expected a number");
    *out = tn_schema_num_of(v);
    *has = true;
    return TN_OK;
}

/* Counts accept 2 and 2.0 alike, as 2020-12 does. */
static enum tn_err count(struct cc *c, json_t *v, const struct seg *loc, int64_t *out)
{
    double d = json_number_value(v);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *out = json_integer_value(v);
    else if (json_is_real(v) && d >= 0 && tn_schema_zero_fraction(d))
        *out = d >= 9.2e18 ? INT64_MAX : (int64_t)d;
    else
        return cfail(c, loc, "expected a non-negative integer");
    return TN_OK;
}

static enum tn_err compile_list(struct cc *c, json_t *v, const struct seg *loc, bool nonempty,
                                struct node ***arr, size_t *n_arr)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || (nonempty && n == 0))
        return cfail(c, loc, "expected %s array of schemas", nonempty ? "a non-empty" : "an");
    *arr = calloc(n + 1, sizeof **arr);
    if (!*arr)
        return TN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        struct seg is = {loc, NULL, 0, i, false};
        enum tn_err e = compile_node(c, json_array_get(v, i), &is, &(*arr)[i]);
        if (e != TN_OK)
            return e;
        *n_arr = i + 1;
    }
    return TN_OK;
}

static enum tn_err compile_regex(struct cc *c, regex_t *re, const char *src, size_t len,
                                 const struct seg *loc)
{
    char why[128];
    if (strlen(src) != len)
        return cfail(c, loc, "a regular expression cannot contain a NUL byte");
    /* glibc's regcomp copies its parse tree per stacked quantifier: a pattern such as
     * x++++++++++++++++++++ costs exponential time and memory. Bound the length and
     * refuse quantifiers stacked on quantifiers. */
    if (len > 512)
        return cfail(c, loc, "a regular expression may have at most 512 characters");
    for (size_t i = 1; i < len; i++) {
        bool q = src[i] == '+' || src[i] == '*' || src[i] == '?' || src[i] == '{';
        bool prev = src[i - 1] == '+' || src[i - 1] == '*' || src[i - 1] == '?' ||
                    src[i - 1] == '}';
        if (q && prev && (i < 2 || src[i - 2] != '\\'))
            return cfail(c, loc, "stacked quantifiers (like a++ or a*?) are not supported");
    }
    int rc = regcomp(re, src, REG_EXTENDED | REG_NOSUB);
    if (rc == 0)
        return TN_OK;
    regerror(rc, re, why, sizeof why);
    return cfail(c, loc, "invalid regular expression: %s", why);
}

/* Keyword handlers: `v` is the keyword's value and `loc` its location. */
typedef enum tn_err (*kw_fn)(struct cc *c, struct node *n, json_t *v, const struct seg *loc);

static enum tn_err kw_type(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && (!json_is_array(v) || count == 0))
        return cfail(c, loc, "expected a type name or a non-empty array of them");
    for (size_t i = 0; i < count; i++) {
        json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        const char *name = json_string_value(t);
        unsigned bit = 0;
        for (size_t k = 0; name && k < N_TYPES; k++)
            if (strlen(types[k].name) == json_string_length(t) && !strcmp(types[k].name, name))
                bit = types[k].bit;
        if (!name)
            return cfail(c, loc, "expected a type name or a non-empty array of them");
        if (!bit)
            return cfail(c, loc, "unknown type '%.64s'", name);
        if (n->types & bit)
            return cfail(c, loc, "type '%s' listed twice", name);
        n->types |= bit;
    }
    return TN_OK;
}

int tn_schema_prop_cmp(const void *a, const void *b)
{
    const struct prop *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->name, y->name, n) : 0;
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static enum tn_err kw_properties(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    if (!json_is_object(v))
        return cfail(c, loc, "expected an object of schemas");
    n->props = calloc(json_object_size(v) + 1, sizeof *n->props);
    if (!n->props)
        return TN_ERR_NOMEM;
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        struct prop *p = &n->props[n->n_props];
        p->name = json_object_iter_key(it);
        p->len = json_object_iter_key_len(it);
        struct seg ks = {loc, p->name, p->len, 0, false};
        enum tn_err e = compile_node(c, json_object_iter_value(it), &ks, &p->schema);
        if (e != TN_OK)
            return e;
        n->n_props++;
    }
    qsort(n->props, n->n_props, sizeof *n->props, tn_schema_prop_cmp);
    return TN_OK;
}

static enum tn_err kw_pattern_properties(struct cc *c, struct node *n, json_t *v,
                                         const struct seg *loc)
{
    if (!json_is_object(v))
        return cfail(c, loc, "expected an object of schemas");
    n->pprops = calloc(json_object_size(v) + 1, sizeof *n->pprops);
    if (!n->pprops)
        return TN_ERR_NOMEM;
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        struct pprop *p = &n->pprops[n->n_pprops];
        struct seg ks = {loc, json_object_iter_key(it), json_object_iter_key_len(it), 0, false};
        enum tn_err e = compile_regex(c, &p->re, ks.key, ks.len, &ks);
        if (e != TN_OK)
            return e;
        n->n_pprops++; /* counted now: the regex is freed even if its schema fails */
        e = compile_node(c, json_object_iter_value(it), &ks, &p->schema);
        if (e != TN_OK)
            return e;
    }
    return TN_OK;
}

static enum tn_err kw_required(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    if (!json_is_array(v))
        return cfail(c, loc, "expected an array of property names");
    n->required = calloc(json_array_size(v) + 1, sizeof *n->required);
    if (!n->required)
        return TN_ERR_NOMEM;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *name = json_array_get(v, i);
        struct seg is = {loc, NULL, 0, i, false};
        if (!json_is_string(name))
            return cfail(c, &is, "expected a property name");
        n->required[i].name = json_string_value(name);
        n->required[i].len = json_string_length(name);
        n->n_required = i + 1;
    }
    return TN_OK;
}

/* The value as compact JSON when short enough to put in a message, else NULL. */
static char *render(json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text && strlen(text) > VALUE_SHOWN_MAX) {
        free(text);
        text = NULL;
    }
    return text;
}

static enum tn_err kw_enum(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    if (!json_is_array(v))
        return cfail(c, loc, "expected an array");
    n->enum_text = render(n->enum_vals = v);
    return TN_OK;
}

static enum tn_err kw_const(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    (void)c, (void)loc;
    n->const_text = render(n->const_val = v);
    return TN_OK;
}

static enum tn_err kw_pattern(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    if (!json_is_string(v))
        return cfail(c, loc, "expected a string");
    enum tn_err e = compile_regex(c, &n->pattern, json_string_value(v), json_string_length(v), loc);
    n->has_pattern = e == TN_OK;
    n->pattern_src = json_string_value(v);
    return e;
}

/* 2020-12 gives the exclusive bound as a number; draft-04 as `true`, turning the
 * sibling minimum/maximum exclusive. The table compiles minimum/maximum first. */
static enum tn_err exclusive(struct cc *c, json_t *v, const struct seg *loc, struct num *bound,
                             bool *has_bound, struct num *x, bool *has_x)
{
    if (!json_is_boolean(v))
        return number(c, v, loc, x, has_x);
    if (json_is_true(v) && !*has_bound)
        return cfail(c, loc, "the boolean form needs a sibling bound");
    if (json_is_true(v)) {
        *x = *bound;
        *has_x = true;
        *has_bound = false;
    }
    return TN_OK;
}

static enum tn_err kw_xmin(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    return exclusive(c, v, loc, &n->min, &n->has_min, &n->xmin, &n->has_xmin);
}
static enum tn_err kw_xmax(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    return exclusive(c, v, loc, &n->max, &n->has_max, &n->xmax, &n->has_xmax);
}

static enum tn_err kw_multiple_of(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return cfail(c, loc, "expected a number greater than 0");
    return number(c, v, loc, &n->mult, &n->has_mult);
}

/* draft-07 spells a tuple as an array under `items`, and the rest as `additionalItems`. */
static enum tn_err kw_items(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    if (!json_is_array(v))
        return compile_node(c, v, loc, &n->items);
    if (json_object_get(c->obj, "prefixItems"))
        return cfail(c, loc, "the array form cannot be combined with prefixItems");
    return compile_list(c, v, loc, false, &n->prefix, &n->n_prefix);
}

static enum tn_err kw_additional_items(struct cc *c, struct node *n, json_t *v,
                                       const struct seg *loc)
{
    /* Without a tuple, draft-07 gives additionalItems no meaning. */
    if (!json_is_array(json_object_get(c->obj, "items")))
        return TN_OK;
    return compile_node(c, v, loc, &n->items);
}

/* The node already compiled for the schema value `j`, or a new one. Keying on the
 * value, not on the reference text, is what makes "#" and "#/$defs/a" cycles end. */
static enum tn_err intern(struct cc *c, json_t *j, const struct seg *loc, struct node **out)
{
    for (size_t i = 0; i < c->s->n_nodes; i++) {
        if (c->s->nodes[i]->src == j) {
            *out = c->s->nodes[i];
            return TN_OK;
        }
    }
    return compile_node(c, j, loc, out);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

/* Resolves a local reference, "#" or "#/a/b~1c/0": percent-decoded first because the
 * pointer sits in a URI fragment, then ~1 -> / and ~0 -> ~ per token (RFC 6901). */
static enum tn_err resolve(struct cc *c, const char *ref, size_t ref_len, const struct seg *loc,
                           json_t **out)
{
    char ptr[REF_MAX], tok[REF_MAX];
    size_t n = 0, i;
    json_t *cur = c->s->doc;
    if (ref_len == 0 || ref[0] != '#')
        return cfail(c, loc, "only local references (#...) are supported, not '%.64s'", ref);
    if (ref_len > REF_MAX)
        return cfail(c, loc, "reference longer than %d bytes", REF_MAX);
    for (i = 1; i < ref_len; i++) {
        int hi = ref[i] == '%' && i + 2 < ref_len ? hexval(ref[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(ref[i + 2]) : -1;
        if (ref[i] == '%' && lo < 0)
            return cfail(c, loc, "bad percent-encoding in '%.64s'", ref);
        ptr[n++] = ref[i] == '%' ? (char)(hi * 16 + lo) : ref[i];
        i += ref[i] == '%' ? 2 : 0;
    }
    if (n > 0 && ptr[0] != '/')
        return cfail(c, loc, "'%.64s' is not a JSON pointer (anchors are not supported)", ref);
    for (i = 0; i < n && cur;) {
        size_t t = 0, idx = 0, k = 0;
        for (i++; i < n && ptr[i] != '/'; i++) {
            if (ptr[i] == '~' && (i + 1 >= n || (ptr[i + 1] != '0' && ptr[i + 1] != '1')))
                return cfail(c, loc, "bad ~ escape in '%.64s'", ref);
            tok[t++] = ptr[i] != '~' ? ptr[i] : ptr[++i] == '0' ? '~' : '/';
        }
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, t);
            continue;
        }
        /* Array indexes: digits, no leading zero; nine digits outgrow any array. */
        for (; k < t && t <= 9 && tok[k] >= '0' && tok[k] <= '9'; k++)
            idx = idx * 10 + (size_t)(tok[k] - '0');
        bool index = t > 0 && k == t && (tok[0] != '0' || t == 1);
        cur = json_is_array(cur) && index ? json_array_get(cur, idx) : NULL;
    }
    if (!cur)
        return cfail(c, loc, "'%.64s' does not resolve", ref);
    *out = cur;
    return TN_OK;
}

static enum tn_err kw_ref(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    json_t *target = NULL;
    if (!json_is_string(v))
        return cfail(c, loc, "expected a string");
    const char *ref = json_string_value(v);
    enum tn_err e = resolve(c, ref, json_string_length(v), loc, &target);
    if (e != TN_OK)
        return e;
    /* Errors inside the target are reported at the target's own pointer. */
    struct seg at = {NULL, ref + 1, json_string_length(v) - 1, 0, true};
    return intern(c, target, &at, &n->ref);
}

/* Definitions are compiled even when unused, so a broken one fails at registration
 * rather than on the day someone first references it. */
static enum tn_err kw_defs(struct cc *c, struct node *n, json_t *v, const struct seg *loc)
{
    enum tn_err e = TN_OK;
    struct node *unused = NULL;
    (void)n;
    if (!json_is_object(v))
        return cfail(c, loc, "expected an object of schemas");
    for (void *it = json_object_iter(v); it && e == TN_OK; it = json_object_iter_next(v, it)) {
        struct seg ks = {loc, json_object_iter_key(it), json_object_iter_key_len(it), 0, false};
        e = intern(c, json_object_iter_value(it), &ks, &unused);
    }
    return e;
}

/* Most keywords are one of a few shapes stored at a fixed place in the node; the rest
 * have a handler. */
enum kind { K_FN, K_SCHEMA, K_LIST, K_COUNT, K_NUM, K_BOOL };
#define AT(field) offsetof(struct node, field)

/* Table order is compile order; it matters where a handler reads what an earlier row
 * set ($defs before $ref, minimum before exclusiveMinimum). */
static const struct {
    const char *name;
    enum kind kind;
    kw_fn fn;
    size_t off, off2; /* the value, and its count or presence flag */
} keywords[] = {
    {"$defs", K_FN, kw_defs, 0, 0},
    {"definitions", K_FN, kw_defs, 0, 0},
    {"$ref", K_FN, kw_ref, 0, 0},
    {"type", K_FN, kw_type, 0, 0},
    {"enum", K_FN, kw_enum, 0, 0},
    {"const", K_FN, kw_const, 0, 0},
    {"minLength", K_COUNT, NULL, AT(min_len), 0},
    {"maxLength", K_COUNT, NULL, AT(max_len), 0},
    {"pattern", K_FN, kw_pattern, 0, 0},
    {"minimum", K_NUM, NULL, AT(min), AT(has_min)},
    {"maximum", K_NUM, NULL, AT(max), AT(has_max)},
    {"exclusiveMinimum", K_FN, kw_xmin, 0, 0},
    {"exclusiveMaximum", K_FN, kw_xmax, 0, 0},
    {"multipleOf", K_FN, kw_multiple_of, 0, 0},
    {"required", K_FN, kw_required, 0, 0},
    {"minProperties", K_COUNT, NULL, AT(min_props), 0},
    {"maxProperties", K_COUNT, NULL, AT(max_props), 0},
    {"properties", K_FN, kw_properties, 0, 0},
    {"patternProperties", K_FN, kw_pattern_properties, 0, 0},
    {"additionalProperties", K_SCHEMA, NULL, AT(additional), 0},
    {"minItems", K_COUNT, NULL, AT(min_items), 0},
    {"maxItems", K_COUNT, NULL, AT(max_items), 0},
    {"uniqueItems", K_BOOL, NULL, AT(unique), 0},
    {"prefixItems", K_LIST, NULL, AT(prefix), AT(n_prefix)},
    {"items", K_FN, kw_items, 0, 0},
    {"additionalItems", K_FN, kw_additional_items, 0, 0},
    {"allOf", K_LIST, NULL, AT(all_of), AT(n_all)},
    {"anyOf", K_LIST, NULL, AT(any_of), AT(n_any)},
    {"oneOf", K_LIST, NULL, AT(one_of), AT(n_one)},
    {"not", K_SCHEMA, NULL, AT(not_), 0},
    {"if", K_SCHEMA, NULL, AT(if_), 0},
    /* then/else without if do nothing, but are compiled so that mistakes show. */
    {"then", K_SCHEMA, NULL, AT(then_), 0},
    {"else", K_SCHEMA, NULL, AT(else_), 0},
};
#define N_KEYWORDS (sizeof keywords / sizeof keywords[0])

static enum tn_err compile_keyword(struct cc *c, struct node *n, size_t k, json_t *v,
                                   const struct seg *loc)
{
    char *at = (char *)n + keywords[k].off, *at2 = (char *)n + keywords[k].off2;
    switch (keywords[k].kind) {
    case K_SCHEMA:
        return compile_node(c, v, loc, (struct node **)(void *)at);
    case K_LIST:
        return compile_list(c, v, loc, true, (struct node ***)(void *)at, (size_t *)(void *)at2);
    case K_COUNT:
        return count(c, v, loc, (int64_t *)(void *)at);
    case K_NUM:
        return number(c, v, loc, (struct num *)(void *)at, (bool *)(void *)at2);
    case K_BOOL:
        *(bool *)(void *)at = json_is_true(v);
        return json_is_boolean(v) ? TN_OK : cfail(c, loc, "expected a boolean");
    case K_FN:
        break;
    }
    return keywords[k].fn(c, n, v, loc);
}

static enum tn_err node_new(struct cc *c, json_t *j, const struct seg *loc, struct node **out)
{
    struct tn_schema *s = c->s;
    struct node *n = NULL;
    if (s->n_nodes >= TN_SCHEMA_MAX_NODES)
        return cfail(c, loc, "more than %d subschemas", TN_SCHEMA_MAX_NODES);
    if (s->n_nodes == s->cap_nodes) {
        size_t cap = s->cap_nodes ? s->cap_nodes * 2 : 16;
        struct node **p = realloc(s->nodes, cap * sizeof *p);
        if (!p)
            return TN_ERR_NOMEM;
        s->nodes = p;
        s->cap_nodes = cap;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        return TN_ERR_NOMEM;
    n->src = j;
    n->min_len = n->max_len = n->min_items = n->max_items = n->min_props = n->max_props = -1;
    s->nodes[s->n_nodes++] = n;
    *out = n;
    return TN_OK;
}

static enum tn_err compile_node(struct cc *c, json_t *j, const struct seg *loc, struct node **out)
{
    enum tn_err e = TN_OK;
    struct node *n = NULL;
    json_t *outer = c->obj;
    *out = NULL;
    if (!json_is_object(j) && !json_is_boolean(j))
        return cfail(c, loc, "expected a schema (an object or a boolean)");
    if (c->depth >= COMPILE_MAX_DEPTH)
        return cfail(c, loc, "schema nested more than %d levels deep", COMPILE_MAX_DEPTH);
    /* Registered before its keywords are compiled, so references back to it resolve. */
    if ((e = node_new(c, j, loc, &n)) != TN_OK)
        return e;
    n->is_false = json_is_false(j);
    c->depth++;
    for (size_t k = 0; k < N_KEYWORDS && e == TN_OK && json_is_object(j); k++) {
        json_t *v = json_object_get(j, keywords[k].name);
        struct seg kw = {loc, keywords[k].name, strlen(keywords[k].name), 0, false};
        c->obj = j;
        if (v)
            e = compile_keyword(c, n, k, v, &kw);
    }
    c->depth--;
    c->obj = outer;
    if (e == TN_OK)
        *out = n;
    return e;
}

/* ---------- public ---------- */

enum tn_err tn_schema_compile_json(json_t *schema, struct tn_schema **out, struct tn_buf *err)
{
    enum tn_err e = TN_OK;
    struct tn_schema *s = NULL;
    struct cc c = {NULL, err, NULL, 0};
    *out = NULL;
    if (!schema) {
        e = cfail(&c, NULL, "no schema");
        goto done;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        e = TN_ERR_NOMEM;
        goto done;
    }
    s->doc = json_incref(schema);
    c.s = s;
    e = compile_node(&c, schema, NULL, &s->root);
    if (e != TN_OK)
        goto done;
    *out = s;
    s = NULL;
done:
    tn_schema_free(s);
    return e;
}

enum tn_err tn_schema_compile(const char *json_text, struct tn_schema **out, struct tn_buf *err)
{
    enum tn_err e = TN_ERR_BAD_INPUT;
    json_error_t je;
    json_t *doc = NULL;
    *out = NULL;
    if (!json_text) {
        if (err)
            tn_buf_puts(err, "no schema");
        goto done;
    }
    /* Duplicate keys would make the schema mean whichever copy jansson kept. */
    doc = json_loads(json_text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!doc) {
        if (err)
            tn_buf_printf(err, "invalid JSON at line %d, column %d: %.160s", je.line, je.column,
                          je.text);
        goto done;
    }
    e = tn_schema_compile_json(doc, out, err);
done:
    json_decref(doc);
    return e;
}

json_t *tn_schema_json(const struct tn_schema *s) { return s ? s->doc : NULL; }

void tn_schema_free(struct tn_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_nodes; i++) {
        struct node *n = s->nodes[i];
        void *owned[] = {n->props,  n->required, n->pprops, n->enum_text, n->const_text,
                         n->prefix, n->all_of,   n->any_of, n->one_of,    n};
        for (size_t k = 0; k < n->n_pprops; k++)
            regfree(&n->pprops[k].re);
        if (n->has_pattern)
            regfree(&n->pattern);
        for (size_t k = 0; k < sizeof owned / sizeof owned[0]; k++)
            free(owned[k]);
    }
    free(s->nodes);
    json_decref(s->doc);
    free(s);
}
