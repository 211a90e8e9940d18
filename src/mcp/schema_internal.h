/* Private to the JSON Schema compiler and validator (mcp/schema.c, schema_validate.c):
 * the compiled form, the message helpers both report through. */
#ifndef TN_MCP_SCHEMA_INTERNAL_H
#define TN_MCP_SCHEMA_INTERNAL_H

#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mcp/schema.h"

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

struct vc {
    struct tn_buf *err;
    unsigned quiet; /* > 0 inside anyOf/oneOf/not/if, whose failures are not errors */
};

const char *tn_schema_show(char *out, size_t cap, const char *s, size_t len, bool pointer);
void tn_schema_put_path(struct tn_buf *b, const struct seg *p, bool pointer);
void tn_schema_vreport(struct tn_buf *err, const char *prefix, const struct seg *path, bool pointer,
                       const char *fmt, va_list ap);
enum tn_err tn_schema_validate_node(struct vc *v, const struct node *n, json_t *inst,
                                    const struct seg *path, unsigned depth);
/* Numbers as the schema keywords compare them (schema.c). */
double tn_schema_dabs(double d);
double tn_schema_round_int(double d);
bool tn_schema_zero_fraction(double d);
struct num tn_schema_num_of(json_t *j);
/* qsort order of a node's properties, by name (schema.c). */
int tn_schema_prop_cmp(const void *a, const void *b);

#endif
