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

#define COMPILE_MAX_DEPTH 128 /* nesting of subschemas while compiling */
#define MSG_MAX 1024          /* one error message */
#define NAME_SHOWN_MAX 64     /* bytes of a name quoted in a message */
#define SHOWN_CAP (NAME_SHOWN_MAX * 4 + 8)
#define VALUE_SHOWN_MAX 120 /* enum/const values longer than this are not spelled out */
#define REF_MAX 512

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64 };

static const struct {
    const char *name, *shown; /* shown: with its article, for messages */
    unsigned bit;
} types[] = {
    {"string", "a string", T_STR},    {"number", "a number", T_NUM},
    {"integer", "an integer", T_INT}, {"boolean", "a boolean", T_BOOL},
    {"object", "an object", T_OBJ},   {"array", "an array", T_ARR},
    {"null", "null", T_NULL},
};
#define N_TYPES (sizeof types / sizeof types[0])

/* A JSON number kept exact when it is an integer, so bounds near 2^63 compare right. */
struct num {
    bool is_int;
    json_int_t i;
    double d;
};

struct prop {
    const char *name;
    size_t len;
    struct node *schema; /* NULL for required names */
};

struct pprop {
    regex_t re;
    struct node *schema;
};

/* One compiled (sub)schema. Counts are -1 when absent; pointers NULL. */
struct node {
    json_t *src;    /* the schema value compiled, borrowed; the registry key */
    bool is_false;  /* the boolean schema false */
    unsigned types; /* 0: any */
    struct node *ref;
    struct prop *props, *required; /* props sorted by name for bsearch */
    size_t n_props, n_required;
    struct pprop *pprops;
    size_t n_pprops;         /* entries whose regex is compiled (and must be freed) */
    struct node *additional; /* NULL: additional properties are fine */
    int64_t min_props, max_props, min_len, max_len, min_items, max_items;
    json_t *enum_vals, *const_val; /* borrowed from the document */
    char *enum_text, *const_text;  /* rendered for messages, NULL when too long */
    bool has_pattern, has_min, has_max, has_xmin, has_xmax, has_mult, unique;
    regex_t pattern;
    const char *pattern_src;
    struct num min, max, xmin, xmax, mult;
    struct node **prefix, *items; /* items: for the items after the prefix */
    size_t n_prefix;
    struct node **all_of, **any_of, **one_of;
    size_t n_all, n_any, n_one;
    struct node *not_, *if_, *then_, *else_;
};

struct tn_schema {
    json_t *doc;
    struct node *root, **nodes;
    size_t n_nodes, cap_nodes;
};

/* A path, in the schema (rendered as a JSON pointer) or in the instance (rendered as
 * a.b[2].c). It lives on the C stack of the recursion and becomes text only when an
 * error is reported, so a valid instance costs no formatting. */
struct seg {
    const struct seg *up;
    const char *key; /* NULL: array index */
    size_t len;
    size_t index;
    bool raw; /* key is an already escaped pointer (a $ref target) */
};

/* ---------- messages ---------- */

/* Copies a name for display: control bytes escaped, cut at a character boundary after
 * NAME_SHOWN_MAX bytes, and in pointer mode ~ and / escaped as RFC 6901 wants. Names
 * come from the instance: they must not smuggle control characters into logs. */
static const char *show(char *out, size_t cap, const char *s, size_t len, bool pointer)
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

static void put_path(struct tn_buf *b, const struct seg *p, bool pointer)
{
    char shown[SHOWN_CAP];
    if (!p)
        return;
    put_path(b, p->up, pointer);
    if (p->raw)
        tn_buf_append(b, p->key, p->len);
    else if (!p->key)
        tn_buf_printf(b, pointer ? "/%zu" : "[%zu]", p->index);
    else
        tn_buf_printf(b, "%s%s", pointer ? "/" : (p->up ? "." : ""),
                      show(shown, sizeof shown, p->key, p->len, pointer));
}

/* Appends "<prefix><path>: <message>" to err, or as much of it as the caller's cap
 * allows: a cut message still beats none. */
static void vreport(struct tn_buf *err, const char *prefix, const struct seg *path, bool pointer,
                    const char *fmt, va_list ap)
{
    struct tn_buf msg;
    char text[512];
    if (!err)
        return;
    tn_buf_init(&msg, MSG_MAX);
    vsnprintf(text, sizeof text, fmt, ap);
    tn_buf_puts(&msg, prefix);
    put_path(&msg, path, pointer);
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
    vreport(c->err, "#", loc, true, fmt, ap);
    va_end(ap);
    return TN_ERR_BAD_INPUT;
}

static enum tn_err compile_node(struct cc *c, json_t *j, const struct seg *loc, struct node **out);

/* Rounding without libm, which the build does not link: from 2^52 up every double is
 * an integer already. */
static double dabs(double d) { return d < 0 ? -d : d; }
static double round_int(double d)
{
    return dabs(d) >= 4503599627370496.0 ? d : (double)(int64_t)(d + (d < 0 ? -0.5 : 0.5));
}
static bool zero_fraction(double d) { return isfinite(d) && round_int(d) == d; }

static struct num num_of(json_t *j)
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
    *out = num_of(v);
    *has = true;
    return TN_OK;
}

/* Counts accept 2 and 2.0 alike, as 2020-12 does. */
static enum tn_err count(struct cc *c, json_t *v, const struct seg *loc, int64_t *out)
{
    double d = json_number_value(v);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *out = json_integer_value(v);
    else if (json_is_real(v) && d >= 0 && zero_fraction(d))
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

static int prop_cmp(const void *a, const void *b)
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
    qsort(n->props, n->n_props, sizeof *n->props, prop_cmp);
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

/* ---------- validation ---------- */

struct vc {
    struct tn_buf *err;
    unsigned quiet; /* > 0 inside anyOf/oneOf/not/if, whose failures are not errors */
};

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
    vreport(v->err, "", path, false, fmt, ap);
    va_end(ap);
    return e;
}
#define FAIL(...) vfail(v, path, TN_ERR_BAD_INPUT, __VA_ARGS__)

static enum tn_err validate_node(struct vc *v, const struct node *n, json_t *inst,
                                 const struct seg *path, unsigned depth);

/* Tries a subschema without reporting its failure. */
static enum tn_err try_node(struct vc *v, const struct node *n, json_t *inst,
                            const struct seg *path, unsigned depth)
{
    v->quiet++;
    enum tn_err e = validate_node(v, n, inst, path, depth);
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
        return T_NUM | (zero_fraction(json_real_value(inst)) ? T_INT : 0);
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
    return isfinite(q) && dabs(q - round_int(q)) <= 8 * DBL_EPSILON * dabs(q);
}

static enum tn_err check_number(struct vc *v, const struct node *n, json_t *inst,
                                const struct seg *path)
{
    struct num x = num_of(inst);
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
                        show(shown, sizeof shown, r->name, r->len, false));
    }
    e = check_size(v, path, json_object_size(inst), n->min_props, n->max_props, "property",
                   "properties");
    for (void *it = json_object_iter(inst); it && e == TN_OK;
         it = json_object_iter_next(inst, it)) {
        struct prop key = {json_object_iter_key(it), json_object_iter_key_len(it), NULL};
        struct seg ks = {path, key.name, key.len, 0, false};
        json_t *val = json_object_iter_value(it);
        const struct prop *p =
            n->n_props ? bsearch(&key, n->props, n->n_props, sizeof key, prop_cmp) : NULL;
        bool matched = p != NULL;
        if (p)
            e = validate_node(v, p->schema, val, &ks, depth + 1);
        for (size_t i = 0; i < n->n_pprops && e == TN_OK; i++) {
            if (regex_matches(&n->pprops[i].re, key.name, key.len)) {
                matched = true;
                e = validate_node(v, n->pprops[i].schema, val, &ks, depth + 1);
            }
        }
        if (e != TN_OK || matched || !n->additional)
            continue;
        if (n->additional->is_false)
            return FAIL("unexpected property '%s'",
                        show(shown, sizeof shown, key.name, key.len, false));
        e = validate_node(v, n->additional, val, &ks, depth + 1);
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
        e = sub ? validate_node(v, sub, json_array_get(inst, i), &is, depth + 1) : TN_OK;
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
        e = validate_node(v, n->all_of[i], inst, path, depth + 1);
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
        return validate_node(v, n->then_, inst, path, depth + 1);
    if (e == TN_ERR_BAD_INPUT)
        return n->else_ ? validate_node(v, n->else_, inst, path, depth + 1) : TN_OK;
    return e;
}

static enum tn_err validate_node(struct vc *v, const struct node *n, json_t *inst,
                                 const struct seg *path, unsigned depth)
{
    enum tn_err e = TN_OK;
    size_t i, size = json_array_size(n->enum_vals);
    if (depth >= TN_SCHEMA_MAX_DEPTH)
        return vfail(v, path, TN_ERR_LIMIT, "nested too deeply (more than %d levels)",
                     TN_SCHEMA_MAX_DEPTH);
    if (n->is_false)
        return FAIL("value not allowed");
    if (n->ref && (e = validate_node(v, n->ref, inst, path, depth + 1)) != TN_OK)
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

enum tn_err tn_schema_validate(const struct tn_schema *s, json_t *instance, struct tn_buf *err)
{
    struct vc ctx = {err, 0}, *v = &ctx;
    const struct seg *path = NULL;
    if (!s || !instance)
        return FAIL("no value to validate");
    enum tn_err e = validate_node(v, s->root, instance, path, 0);
    return e == TN_ERR_LIMIT ? TN_ERR_BAD_INPUT : e;
}

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
