/* Unit tests of src/mcp/schema.c: compilation and validation of JSON Schemas.
 *
 * Cases are tables. In schemas and instances a ' stands for " so the JSON stays
 * readable; expected messages are written exactly as produced. A NULL message means
 * the instance must be valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mcp/schema.h"

struct vcase {
    const char *schema;
    const char *instance;
    const char *msg; /* NULL: valid */
};

struct ccase {
    const char *schema;
    const char *msg; /* NULL: compiles */
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The text with every ' turned into ". Caller frees. */
static char *dq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

static json_t *load(const char *text)
{
    json_error_t je;
    char *t = dq(text);
    json_t *j = json_loads(t, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j)
        fail_msg("bad test JSON %s: %s", t, je.text);
    free(t);
    return j;
}

static struct tn_schema *compile_ok(const char *schema)
{
    struct tn_schema *s = NULL;
    struct tn_buf err;
    char *t = dq(schema);
    tn_buf_init(&err, 4096);
    if (tn_schema_compile(t, &s, &err) != TN_OK)
        fail_msg("schema %s does not compile: %s", t, err.data ? err.data : "");
    free(t);
    tn_buf_deinit(&err);
    return s;
}

static void run_vcases(const struct vcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tn_schema *s = compile_ok(cases[i].schema);
        json_t *inst = load(cases[i].instance);
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        enum tn_err e = tn_schema_validate(s, inst, &err);
        const char *got = err.data ? err.data : "";
        if (!cases[i].msg && (e != TN_OK || err.len))
            fail_msg("case %zu: %s against %s: expected valid, got %s \"%s\"", i, cases[i].instance,
                     cases[i].schema, tn_err_name(e), got);
        if (cases[i].msg && (e != TN_ERR_BAD_INPUT || strcmp(got, cases[i].msg) != 0))
            fail_msg("case %zu: %s against %s: expected \"%s\", got %s \"%s\"", i,
                     cases[i].instance, cases[i].schema, cases[i].msg, tn_err_name(e), got);
        tn_buf_deinit(&err);
        json_decref(inst);
        tn_schema_free(s);
    }
}

static void run_ccases(const struct ccase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tn_schema *s = (struct tn_schema *)&n; /* must be reset */
        struct tn_buf err;
        char *t = dq(cases[i].schema);
        tn_buf_init(&err, 4096);
        enum tn_err e = tn_schema_compile(t, &s, &err);
        const char *got = err.data ? err.data : "";
        if (!cases[i].msg && (e != TN_OK || !s))
            fail_msg("case %zu: %s: expected to compile, got %s \"%s\"", i, t, tn_err_name(e), got);
        if (cases[i].msg && (e != TN_ERR_BAD_INPUT || s || strcmp(got, cases[i].msg) != 0))
            fail_msg("case %zu: %s: expected \"%s\", got %s \"%s\"", i, t, cases[i].msg,
                     tn_err_name(e), got);
        tn_schema_free(s);
        tn_buf_deinit(&err);
        free(t);
    }
}

/* ---------- type ---------- */

static const struct vcase type_cases[] = {
    {"{'type':'string'}", "'hi'", NULL},
    {"{'type':'string'}", "5", "expected a string, got a number"},
    {"{'type':'string'}", "null", "expected a string, got null"},
    {"{'type':'integer'}", "3", NULL},
    {"{'type':'integer'}", "-3.0", NULL},
    {"{'type':'integer'}", "1e3", NULL},
    {"{'type':'integer'}", "3.5", "expected an integer, got a number"},
    {"{'type':'integer'}", "'3'", "expected an integer, got a string"},
    {"{'type':'number'}", "3", NULL},
    {"{'type':'number'}", "3.5", NULL},
    {"{'type':'number'}", "true", "expected a number, got a boolean"},
    {"{'type':'boolean'}", "false", NULL},
    {"{'type':'boolean'}", "0", "expected a boolean, got a number"},
    {"{'type':'null'}", "null", NULL},
    {"{'type':'null'}", "0", "expected null, got a number"},
    {"{'type':'object'}", "{}", NULL},
    {"{'type':'object'}", "[]", "expected an object, got an array"},
    {"{'type':'array'}", "[]", NULL},
    {"{'type':'array'}", "{}", "expected an array, got an object"},
    {"{'type':['string','null']}", "null", NULL},
    {"{'type':['string','null']}", "'x'", NULL},
    {"{'type':['string','null']}", "1", "expected a string or null, got a number"},
    {"{'type':['null','integer','string']}", "[]",
     "expected a string, an integer or null, got an array"},
    {"{'type':['integer','number']}", "2.5", NULL},
    {"{'type':['integer','number']}", "{}", "expected a number, got an object"},
    /* Keywords for other types do not constrain a value of this one. */
    {"{'minLength':5,'minimum':9,'required':['a'],'minItems':3}", "true", NULL},
    {"{'minLength':5}", "3", NULL},
    {"{'minimum':9}", "'x'", NULL},
    {"{'required':['a']}", "'str'", NULL},
    {"{'minItems':3}", "{}", NULL},
};

/* Patterns that would make glibc's regcomp blow up are refused at registration. */
static void test_pathological_pattern(void **state)
{
    static const char *const bad[][2] = {
        {"{\"type\":\"string\",\"pattern\":\"^x-++++++++++++++++++++++$\"}",
         "#/pattern: stacked quantifiers (like a++ or a*?) are not supported"},
        {"{\"type\":\"string\",\"pattern\":\"a{2}*\"}",
         "#/pattern: stacked quantifiers (like a++ or a*?) are not supported"},
    };
    for (size_t i = 0; i < 2; i++) {
        struct tn_schema *s = NULL;
        struct tn_buf err;
        tn_buf_init(&err, 1024);
        assert_int_equal(tn_schema_compile(bad[i][0], &s, &err), TN_ERR_BAD_INPUT);
        assert_string_equal(err.data, bad[i][1]);
        tn_buf_deinit(&err);
    }
    struct tn_schema *ok = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    assert_int_equal(
        tn_schema_compile("{\"type\":\"string\",\"pattern\":\"^a\\\\++$\"}", &ok, &err), TN_OK);
    tn_schema_free(ok);
    tn_buf_deinit(&err);
}

static void test_type(void **state)
{
    (void)state;
    run_vcases(type_cases, N(type_cases));
}

/* ---------- strings ---------- */

static const struct vcase string_cases[] = {
    {"{'minLength':2}", "'ab'", NULL},
    {"{'minLength':2}", "'a'", "at least 2 characters"},
    {"{'minLength':1}", "''", "at least 1 character"},
    {"{'minLength':2.0}", "'a'", "at least 2 characters"},
    {"{'maxLength':3}", "'abc'", NULL},
    {"{'maxLength':3}", "'abcd'", "at most 3 characters"},
    {"{'maxLength':1}", "'ab'", "at most 1 character"},
    {"{'maxLength':0}", "''", NULL},
    /* Code points, not bytes: 2-, 3- and 4-byte UTF-8 sequences count as one. */
    {"{'maxLength':3}", "'h\u00e9\u00e9'", NULL},
    {"{'maxLength':3}", "'\u65e5\u672c\u8a9e'", NULL},
    {"{'maxLength':3}", "'\u65e5\u672c\u8a9ex'", "at most 3 characters"},
    {"{'maxLength':2,'minLength':2}", "'\U0001F600\U0001F600'", NULL},
    {"{'minLength':3}", "'\U0001F600\U0001F600'", "at least 3 characters"},
    {"{'pattern':'^[a-z]+$'}", "'abc'", NULL},
    {"{'pattern':'^[a-z]+$'}", "'abC'", "does not match the pattern '^[a-z]+$'"},
    /* A NUL inside the value must not end the match early. */
    {"{'pattern':'^[a-z]+$'}", "'abc\\u0000DEF'", "does not match the pattern '^[a-z]+$'"},
    /* Like ECMA-262, a pattern is not anchored unless it says so. */
    {"{'pattern':'b'}", "'abc'", NULL},
    {"{'pattern':'^(open|closed)$'}", "'opened'", "does not match the pattern '^(open|closed)$'"},
    {"{'type':'object','properties':{'tags':{'type':'array','items':{'type':'string','maxLength':32}}}}",
     "{'tags':['a','b','c','0123456789012345678901234567890123']}",
     "tags[3]: at most 32 characters"},
};

static void test_string(void **state)
{
    (void)state;
    run_vcases(string_cases, N(string_cases));
}

/* ---------- numbers ---------- */

static const struct vcase number_cases[] = {
    {"{'minimum':0}", "0", NULL},
    {"{'minimum':0}", "-1", "must be >= 0"},
    {"{'minimum':0}", "-0.5", "must be >= 0"},
    {"{'maximum':10.5}", "10.5", NULL},
    {"{'maximum':10.5}", "11", "must be <= 10.5"},
    {"{'maximum':0.1}", "0.2", "must be <= 0.1"},
    {"{'exclusiveMinimum':0}", "0.001", NULL},
    {"{'exclusiveMinimum':0}", "0", "must be > 0"},
    {"{'exclusiveMaximum':100}", "99", NULL},
    {"{'exclusiveMaximum':100}", "100", "must be < 100"},
    {"{'minimum':1,'exclusiveMinimum':0}", "0.5", "must be >= 1"},
    /* draft-04 boolean form */
    {"{'minimum':5,'exclusiveMinimum':true}", "6", NULL},
    {"{'minimum':5,'exclusiveMinimum':true}", "5", "must be > 5"},
    {"{'maximum':5,'exclusiveMaximum':true}", "5", "must be < 5"},
    {"{'minimum':5,'exclusiveMinimum':false}", "5", NULL},
    /* Integers compare exactly, beyond what a double holds. */
    {"{'maximum':9007199254740992}", "9007199254740992", NULL},
    {"{'maximum':9007199254740992}", "9007199254740993", "must be <= 9007199254740992"},
    {"{'multipleOf':5}", "10", NULL},
    {"{'multipleOf':5}", "10.0", NULL},
    {"{'multipleOf':5}", "-15", NULL},
    {"{'multipleOf':5}", "12", "must be a multiple of 5"},
    {"{'multipleOf':0.1}", "0.3", NULL},
    {"{'multipleOf':0.01}", "19.99", NULL},
    {"{'multipleOf':0.0001}", "0.0075", NULL},
    {"{'multipleOf':0.1}", "0.35", "must be a multiple of 0.1"},
    {"{'multipleOf':1}", "1e-12", "must be a multiple of 1"},
    {"{'multipleOf':0.123456789}", "1e308", "must be a multiple of 0.123456789"},
    {"{'type':'integer','minimum':1}", "1.0", NULL},
    {"{'type':'integer','minimum':1}", "0", "must be >= 1"},
};

static void test_number(void **state)
{
    (void)state;
    run_vcases(number_cases, N(number_cases));
}

/* ---------- enum and const ---------- */

static const struct vcase enum_cases[] = {
    {"{'enum':['open','closed']}", "'open'", NULL},
    {"{'enum':['open','closed']}", "'x'", "must be one of [\"open\",\"closed\"]"},
    {"{'enum':[1,null,{'a':[1]}]}", "{'a':[1]}", NULL},
    {"{'enum':[1,null,{'a':[1]}]}", "null", NULL},
    {"{'enum':[1,null,{'a':[1]}]}", "2", "must be one of [1,null,{\"a\":[1]}]"},
    {"{'enum':['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',"
     "'cccccccccccccccccccccccccccccc','dddddddddddddddddddddddddddddd']}",
     "'e'", "must be one of the allowed values"},
    {"{'enum':[]}", "1", "must be one of []"},
    {"{'const':'note'}", "'note'", NULL},
    {"{'const':'note'}", "'Note'", "must equal \"note\""},
    {"{'const':{'a':[1,2]}}", "{'a':[1,2]}", NULL},
    {"{'const':{'a':[1,2]}}", "{'a':[2,1]}", "must equal {\"a\":[1,2]}"},
    {"{'const':null}", "null", NULL},
    {"{'const':null}", "0", "must equal null"},
    /* json_equal semantics: an integer and a real are different values. */
    {"{'const':1}", "1.0", "must equal 1"},
};

static void test_enum_const(void **state)
{
    (void)state;
    run_vcases(enum_cases, N(enum_cases));
}

/* ---------- objects ---------- */

#define ITEMS_NAME                                                                     \
    "{'type':'object','properties':{'items':{'type':'array','items':{'type':'object'," \
    "'properties':{'name':{'type':'string','maxLength':3}}}}}}"

static const struct vcase object_cases[] = {
    {"{'required':['content']}", "{'content':1}", NULL},
    {"{'required':['content']}", "{}", "missing required property 'content'"},
    {"{'required':['a','b']}", "{'a':1}", "missing required property 'b'"},
    {"{'properties':{'content':{'type':'string'}}}", "{'content':5}",
     "content: expected a string, got a number"},
    {"{'properties':{'content':{'type':'string'}}}", "{'other':5}", NULL},
    {"{'properties':{'a':{}},'additionalProperties':false}", "{'a':1}", NULL},
    {"{'properties':{'a':{}},'additionalProperties':false}", "{'a':1,'foo':2}",
     "unexpected property 'foo'"},
    {"{'properties':{'a':{}},'additionalProperties':true}", "{'a':1,'foo':2}", NULL},
    {"{'properties':{'a':{}},'additionalProperties':{'type':'integer'}}", "{'a':'x','b':3}", NULL},
    {"{'properties':{'a':{}},'additionalProperties':{'type':'integer'}}", "{'a':'x','b':'y'}",
     "b: expected an integer, got a string"},
    {"{'properties':{'author':{'type':'object','required':['name']}}}", "{'author':{}}",
     "author: missing required property 'name'"},
    {"{'properties':{'author':{'additionalProperties':false}}}", "{'author':{'x':1}}",
     "author: unexpected property 'x'"},
    {"{'properties':{'a':false}}", "{'a':1}", "a: value not allowed"},
    {"{'patternProperties':{'^x-':{'type':'string'}},'additionalProperties':false}", "{'x-a':'s'}",
     NULL},
    {"{'patternProperties':{'^x-':{'type':'string'}},'additionalProperties':false}", "{'x-a':1}",
     "x-a: expected a string, got a number"},
    {"{'patternProperties':{'^x-':{'type':'string'}},'additionalProperties':false}", "{'y':1}",
     "unexpected property 'y'"},
    /* A name matched by properties and patternProperties must satisfy both. */
    {"{'properties':{'x-n':{'type':'string'}},'patternProperties':{'n$':{'maxLength':1}}}",
     "{'x-n':'ab'}", "x-n: at most 1 character"},
    {"{'minProperties':1}", "{'a':1}", NULL},
    {"{'minProperties':1}", "{}", "at least 1 property"},
    {"{'minProperties':2}", "{'a':1}", "at least 2 properties"},
    {"{'maxProperties':1}", "{'a':1,'b':2}", "at most 1 property"},
    {"{'maxProperties':0}", "{}", NULL},
    /* Names from the instance are escaped and cut before they reach a message. */
    {"{'additionalProperties':false}", "{'a\\u0001b':1}", "unexpected property 'a\\x01b'"},
    {"{'additionalProperties':false}",
     "{'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk':1}",
     "unexpected property 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'"},
    {ITEMS_NAME, "{'items':[{'name':'a'},{'name':'b'},{'name':'abc'}]}", NULL},
    {ITEMS_NAME, "{'items':[{'name':'a'},{'name':'b'},{'name':'long'}]}",
     "items[2].name: at most 3 characters"},
    {"{'properties':{'a':{'properties':{'b':{'items':{'type':'null'}}}}}}",
     "{'a':{'b':[null,null,0]}}", "a.b[2]: expected null, got a number"},
};

static void test_object(void **state)
{
    (void)state;
    run_vcases(object_cases, N(object_cases));
}

/* ---------- arrays ---------- */

static const struct vcase array_cases[] = {
    {"{'minItems':1}", "[1]", NULL},
    {"{'minItems':1}", "[]", "at least 1 item"},
    {"{'minItems':2}", "[1]", "at least 2 items"},
    {"{'maxItems':2}", "[1,2]", NULL},
    {"{'maxItems':2}", "[1,2,3]", "at most 2 items"},
    {"{'items':{'type':'integer'}}", "[1,2,3]", NULL},
    {"{'items':{'type':'integer'}}", "[1,2,'x']", "[2]: expected an integer, got a string"},
    {"{'prefixItems':[{'type':'string'},{'type':'integer'}]}", "['a',1,true]", NULL},
    {"{'prefixItems':[{'type':'string'},{'type':'integer'}]}", "['a']", NULL},
    {"{'prefixItems':[{'type':'string'},{'type':'integer'}]}", "['a','b']",
     "[1]: expected an integer, got a string"},
    {"{'prefixItems':[{'type':'string'}],'items':false}", "['a']", NULL},
    {"{'prefixItems':[{'type':'string'}],'items':false}", "['a','b']", "at most 1 item"},
    {"{'prefixItems':[{}],'items':{'type':'integer'}}", "['x',2]", NULL},
    {"{'prefixItems':[{}],'items':{'type':'integer'}}", "[1,'x']",
     "[1]: expected an integer, got a string"},
    {"{'prefixItems':[false]}", "[1]", "[0]: value not allowed"},
    /* draft-07 tuples */
    {"{'items':[{'type':'string'},{'type':'integer'}]}", "['a',1,'anything']", NULL},
    {"{'items':[{'type':'string'},{'type':'integer'}]}", "[1]",
     "[0]: expected a string, got a number"},
    {"{'items':[{'type':'string'}],'additionalItems':false}", "['a','b']", "at most 1 item"},
    {"{'items':[{}],'additionalItems':{'type':'string'}}", "[1,2]",
     "[1]: expected a string, got a number"},
    {"{'items':{'type':'integer'},'additionalItems':false}", "[1,2]", NULL},
    {"{'uniqueItems':true}", "[1,2,3]", NULL},
    {"{'uniqueItems':true}", "[1,2,1]", "items must be unique (0 and 2 are equal)"},
    {"{'uniqueItems':true}", "[{'a':[1]},{'a':[1]}]", "items must be unique (0 and 1 are equal)"},
    {"{'uniqueItems':true}", "[{'a':1},{'a':2}]", NULL},
    {"{'uniqueItems':false}", "[1,1]", NULL},
};

static void test_array(void **state)
{
    (void)state;
    run_vcases(array_cases, N(array_cases));
}

/* ---------- combinators and boolean schemas ---------- */

#define IF_TASK                                                           \
    "{'if':{'properties':{'kind':{'const':'task'}},'required':['kind']}," \
    "'then':{'required':['due']},'else':{'properties':{'due':false}}}"

static const struct vcase logic_cases[] = {
    {"true", "{'anything':[1]}", NULL},
    {"{}", "null", NULL},
    {"false", "1", "value not allowed"},
    {"{'allOf':[{'type':'string'},{'minLength':2}]}", "'ab'", NULL},
    {"{'allOf':[{'type':'string'},{'minLength':2}]}", "'a'", "at least 2 characters"},
    {"{'anyOf':[{'type':'string'},{'type':'integer'}]}", "1", NULL},
    {"{'anyOf':[{'type':'string'},{'type':'integer'}]}", "'x'", NULL},
    {"{'anyOf':[{'type':'string'},{'type':'integer'}]}", "1.5",
     "does not match any schema in anyOf"},
    {"{'oneOf':[{'type':'integer'},{'minimum':2}]}", "1", NULL},
    {"{'oneOf':[{'type':'integer'},{'minimum':2}]}", "2.5", NULL},
    {"{'oneOf':[{'type':'integer'},{'minimum':2}]}", "3",
     "matches more than one schema in oneOf (0 and 1)"},
    {"{'oneOf':[{'type':'integer'},{'minimum':2}]}", "1.5", "does not match any schema in oneOf"},
    {"{'not':{'type':'string'}}", "1", NULL},
    {"{'not':{'type':'string'}}", "'x'", "must not match the schema in not"},
    {"{'properties':{'a':{'anyOf':[{'type':'string'},{'type':'null'}]}}}", "{'a':1}",
     "a: does not match any schema in anyOf"},
    {IF_TASK, "{'kind':'task','due':1}", NULL},
    {IF_TASK, "{'kind':'task'}", "missing required property 'due'"},
    {IF_TASK, "{'kind':'note','due':1}", "due: value not allowed"},
    {IF_TASK, "{'kind':'note'}", NULL},
    {"{'if':{'type':'string'}}", "1", NULL},
    {"{'if':{'type':'string'},'then':{'minLength':2}}", "1", NULL},
    {"{'if':{'type':'string'},'then':{'minLength':2}}", "'a'", "at least 2 characters"},
    {"{'then':false,'else':false}", "1", NULL},
    /* Annotations and unknown keywords change nothing. */
    {"{'title':'t','description':'d','default':5,'format':'email','examples':[1],"
     "'$schema':'https://json-schema.org/draft/2020-12/schema','$id':'urn:x',"
     "'x-foo':{'type':'nope'},'contains':5,'deprecated':true}",
     "'not an email'", NULL},
};

static void test_logic(void **state)
{
    (void)state;
    run_vcases(logic_cases, N(logic_cases));
}

/* ---------- $ref ---------- */

#define TREE                                                                 \
    "{'type':'object','properties':{'name':{'type':'string'},"               \
    "'children':{'type':'array','items':{'$ref':'#'}}},'required':['name']," \
    "'additionalProperties':false}"
#define MUTUAL                                                     \
    "{'$defs':{'a':{'type':'array','items':{'$ref':'#/$defs/b'}}," \
    "'b':{'anyOf':[{'type':'integer'},{'$ref':'#/$defs/a'}]}},'$ref':'#/$defs/a'}"
#define LOOP "'$defs':{'loop':{'$ref':'#/$defs/loop'}}"

static const struct vcase ref_cases[] = {
    {"{'$defs':{'name':{'type':'string','maxLength':3}},'properties':{'n':{'$ref':'#/$defs/name'}}}",
     "{'n':'abc'}", NULL},
    {"{'$defs':{'name':{'type':'string','maxLength':3}},'properties':{'n':{'$ref':'#/$defs/name'}}}",
     "{'n':'abcd'}", "n: at most 3 characters"},
    {"{'definitions':{'pos':{'type':'integer','minimum':0}},'items':{'$ref':'#/definitions/pos'}}",
     "[1,-1]", "[1]: must be >= 0"},
    {TREE, "{'name':'a','children':[{'name':'b','children':[{'name':'c'}]}]}", NULL},
    {TREE, "{'name':'a','children':[{'name':'b','children':[{'nam':'c'}]}]}",
     "children[0].children[0]: missing required property 'name'"},
    {TREE, "{'name':'a','children':[{'name':'b','x':1}]}", "children[0]: unexpected property 'x'"},
    {MUTUAL, "[1,[2,[3]]]", NULL},
    {MUTUAL, "[1,[2,['x']]]", "[1]: does not match any schema in anyOf"},
    {"{'$defs':{'a/b':{'type':'integer'},'t~x':{'type':'string'}},"
     "'properties':{'p':{'$ref':'#/$defs/a~1b'},'q':{'$ref':'#/$defs/t~0x'}}}",
     "{'p':'s'}", "p: expected an integer, got a string"},
    {"{'$defs':{'a/b':{'type':'integer'},'t~x':{'type':'string'}},"
     "'properties':{'p':{'$ref':'#/$defs/a~1b'},'q':{'$ref':'#/$defs/t~0x'}}}",
     "{'q':1}", "q: expected a string, got a number"},
    {"{'$defs':{'a b':{'type':'integer'}},'$ref':'#/$defs/a%20b'}", "'x'",
     "expected an integer, got a string"},
    {"{'allOf':[{'type':'string'}],'properties':{'x':{'$ref':'#/allOf/0'}}}", "{'x':1}",
     "x: expected a string, got a number"},
    /* 2020-12: keywords beside $ref apply too. */
    {"{'$defs':{'s':{'type':'string'}},'$ref':'#/$defs/s','maxLength':2}", "'ab'", NULL},
    {"{'$defs':{'s':{'type':'string'}},'$ref':'#/$defs/s','maxLength':2}", "'abc'",
     "at most 2 characters"},
    {"{'$defs':{'s':{'type':'string'}},'$ref':'#/$defs/s','maxLength':2}", "1",
     "expected a string, got a number"},
    /* A reference that never reaches a value is cut off by the depth guard, and that
     * failure is not turned into a success by not/anyOf. */
    {"{" LOOP ",'$ref':'#/$defs/loop'}", "1", "nested too deeply (more than 64 levels)"},
    {"{" LOOP ",'not':{'$ref':'#/$defs/loop'}}", "1", "nested too deeply (more than 64 levels)"},
    {"{" LOOP ",'anyOf':[{'$ref':'#/$defs/loop'},true]}", "1",
     "nested too deeply (more than 64 levels)"},
    {"{" LOOP ",'not':{'$ref':'#/$defs/loop'},'if':true}", "1",
     "nested too deeply (more than 64 levels)"},
    {"{" LOOP ",'oneOf':[true,{'$ref':'#/$defs/loop'}]}", "1",
     "nested too deeply (more than 64 levels)"},
    {"{" LOOP ",'if':{'$ref':'#/$defs/loop'},'else':true}", "1",
     "nested too deeply (more than 64 levels)"},
    {"{" LOOP ",'properties':{'a':{'$ref':'#/$defs/loop'}}}", "{'a':1}",
     "a: nested too deeply (more than 64 levels)"},
};

static void test_ref(void **state)
{
    (void)state;
    run_vcases(ref_cases, N(ref_cases));
}

/* A recursive schema against a deep instance: refused at the depth limit, with the path
 * of the value where it gave up. Each level of nesting costs two: the items schema and
 * the $ref hop back to the root. */
static void test_ref_deep_instance(void **state)
{
    (void)state;
    struct tn_schema *s = compile_ok("{'type':'array','items':{'$ref':'#'}}");
    char text[1024], expect[1024];
    size_t o = 0;
    struct tn_buf err;
    for (int i = 0; i < 200; i++)
        text[o++] = '[';
    for (int i = 0; i < 200; i++)
        text[o++] = ']';
    text[o] = '\0';
    json_t *deep = load(text);
    json_t *shallow = load("[[[[[[[[[[]]]]]]]]]]");
    o = 0;
    for (int i = 0; i < TN_SCHEMA_MAX_DEPTH / 2; i++)
        o += (size_t)snprintf(expect + o, sizeof expect - o, "[0]");
    snprintf(expect + o, sizeof expect - o, ": nested too deeply (more than %d levels)",
             TN_SCHEMA_MAX_DEPTH);
    tn_buf_init(&err, 4096);
    assert_int_equal(tn_schema_validate(s, shallow, &err), TN_OK);
    assert_int_equal(tn_schema_validate(s, deep, &err), TN_ERR_BAD_INPUT);
    assert_string_equal(err.data, expect);
    tn_buf_deinit(&err);
    json_decref(deep);
    json_decref(shallow);
    tn_schema_free(s);
}

/* ---------- invalid schemas ---------- */

static const struct ccase compile_cases[] = {
    {"{'type':'string'}", NULL},
    {"true", NULL},
    {"{'$defs':{'a':{'$ref':'#/$defs/b'},'b':{'$ref':'#/$defs/a'}}}", NULL},
    {"5", "#: expected a schema (an object or a boolean)"},
    {"'string'", "#: expected a schema (an object or a boolean)"},
    {"[]", "#: expected a schema (an object or a boolean)"},
    {"null", "#: expected a schema (an object or a boolean)"},
    {"{", "invalid JSON at line 1, column 1: string or '}' expected near end of file"},
    {"{'type':'string','type':'integer'}",
     "invalid JSON at line 1, column 23: duplicate object key near '\"type\"'"},
    {"{'type':'strin'}", "#/type: unknown type 'strin'"},
    {"{'type':['string','nope']}", "#/type: unknown type 'nope'"},
    {"{'type':5}", "#/type: expected a type name or a non-empty array of them"},
    {"{'type':[]}", "#/type: expected a type name or a non-empty array of them"},
    {"{'type':['string',1]}", "#/type: expected a type name or a non-empty array of them"},
    {"{'type':['string','string']}", "#/type: type 'string' listed twice"},
    {"{'$ref':'http://example.com/s.json'}",
     "#/$ref: only local references (#...) are supported, not 'http://example.com/s.json'"},
    {"{'$ref':'other.json#/a'}",
     "#/$ref: only local references (#...) are supported, not 'other.json#/a'"},
    {"{'$ref':'#/$defs/missing'}", "#/$ref: '#/$defs/missing' does not resolve"},
    {"{'$ref':'#anchor'}", "#/$ref: '#anchor' is not a JSON pointer (anchors are not supported)"},
    {"{'$ref':'#/a~2'}", "#/$ref: bad ~ escape in '#/a~2'"},
    {"{'$ref':'#/%zz'}", "#/$ref: bad percent-encoding in '#/%zz'"},
    {"{'$ref':'#/allOf/01','allOf':[{},{}]}", "#/$ref: '#/allOf/01' does not resolve"},
    {"{'$ref':5}", "#/$ref: expected a string"},
    {"{'required':['a'],'$ref':'#/required'}",
     "#/required: expected a schema (an object or a boolean)"},
    {"{'$defs':{'a':{'type':'nope'}}}", "#/$defs/a/type: unknown type 'nope'"},
    {"{'definitions':{'a':3}}", "#/definitions/a: expected a schema (an object or a boolean)"},
    {"{'$defs':[]}", "#/$defs: expected an object of schemas"},
    {"{'pattern':'[a-'}", "#/pattern: invalid regular expression: Unmatched [, [^, [:, [., or [="},
    {"{'pattern':'*a'}",
     "#/pattern: invalid regular expression: Invalid preceding regular expression"},
    {"{'pattern':5}", "#/pattern: expected a string"},
    {"{'patternProperties':{'(':{}}}",
     "#/patternProperties/(: invalid regular expression: Unmatched ( or \\("},
    {"{'patternProperties':{'^a':3}}",
     "#/patternProperties/^a: expected a schema (an object or a boolean)"},
    {"{'properties':{'a/b':{'items':{'pattern':'a{2,1}'}}}}",
     "#/properties/a~1b/items/pattern: invalid regular expression: Invalid content of \\{\\}"},
    {"{'properties':{'a':5}}", "#/properties/a: expected a schema (an object or a boolean)"},
    {"{'properties':[]}", "#/properties: expected an object of schemas"},
    {"{'additionalProperties':'no'}",
     "#/additionalProperties: expected a schema (an object or a boolean)"},
    {"{'items':'string'}", "#/items: expected a schema (an object or a boolean)"},
    {"{'items':[{},1]}", "#/items/1: expected a schema (an object or a boolean)"},
    {"{'prefixItems':[]}", "#/prefixItems: expected a non-empty array of schemas"},
    {"{'prefixItems':[{}],'items':[{}]}",
     "#/items: the array form cannot be combined with prefixItems"},
    {"{'allOf':[]}", "#/allOf: expected a non-empty array of schemas"},
    {"{'anyOf':[{},3]}", "#/anyOf/1: expected a schema (an object or a boolean)"},
    {"{'oneOf':{}}", "#/oneOf: expected a non-empty array of schemas"},
    {"{'not':null}", "#/not: expected a schema (an object or a boolean)"},
    {"{'if':1}", "#/if: expected a schema (an object or a boolean)"},
    {"{'then':[]}", "#/then: expected a schema (an object or a boolean)"},
    {"{'else':'x'}", "#/else: expected a schema (an object or a boolean)"},
    {"{'minLength':-1}", "#/minLength: expected a non-negative integer"},
    {"{'maxLength':'3'}", "#/maxLength: expected a non-negative integer"},
    {"{'maxItems':1.5}", "#/maxItems: expected a non-negative integer"},
    {"{'minItems':null}", "#/minItems: expected a non-negative integer"},
    {"{'minProperties':true}", "#/minProperties: expected a non-negative integer"},
    {"{'maxProperties':-2}", "#/maxProperties: expected a non-negative integer"},
    {"{'minimum':'0'}", "#/minimum: expected a number"},
    {"{'maximum':null}", "#/maximum: expected a number"},
    {"{'exclusiveMinimum':true}", "#/exclusiveMinimum: the boolean form needs a sibling bound"},
    {"{'exclusiveMaximum':'x'}", "#/exclusiveMaximum: expected a number"},
    {"{'multipleOf':0}", "#/multipleOf: expected a number greater than 0"},
    {"{'multipleOf':-2}", "#/multipleOf: expected a number greater than 0"},
    {"{'required':'a'}", "#/required: expected an array of property names"},
    {"{'required':['a',1]}", "#/required/1: expected a property name"},
    {"{'enum':'a'}", "#/enum: expected an array"},
    {"{'uniqueItems':1}", "#/uniqueItems: expected a boolean"},
};

static void test_compile_errors(void **state)
{
    (void)state;
    run_ccases(compile_cases, N(compile_cases));
}

/* Nesting and size limits of compilation. */
static void test_compile_limits(void **state)
{
    struct tn_buf err;
    struct tn_schema *s = (struct tn_schema *)&err; /* must be reset */
    size_t o = 0;
    (void)state;
    char expect[1024];
    json_t *deep = json_true(), *many = json_array();
    for (int i = 0; i < 200; i++)
        deep = json_pack("{s:o}", "not", deep);
    for (int i = 0; i < TN_SCHEMA_MAX_NODES; i++)
        json_array_append_new(many, json_object());
    json_t *wide = json_pack("{s:o}", "anyOf", many);
    o += (size_t)snprintf(expect + o, sizeof expect - o, "#");
    for (int i = 0; i < 128; i++)
        o += (size_t)snprintf(expect + o, sizeof expect - o, "/not");
    snprintf(expect + o, sizeof expect - o, ": schema nested more than 128 levels deep");

    tn_buf_init(&err, 4096);
    assert_int_equal(tn_schema_compile_json(deep, &s, &err), TN_ERR_BAD_INPUT);
    assert_null(s);
    assert_string_equal(err.data, expect);
    tn_buf_reset(&err);
    assert_int_equal(tn_schema_compile_json(wide, &s, &err), TN_ERR_BAD_INPUT);
    assert_null(s);
    snprintf(expect, sizeof expect, "#/anyOf/%d: more than %d subschemas", TN_SCHEMA_MAX_NODES - 1,
             TN_SCHEMA_MAX_NODES);
    assert_string_equal(err.data, expect);
    /* One fewer fits. */
    json_array_remove(many, 0);
    assert_int_equal(tn_schema_compile_json(wide, &s, NULL), TN_OK);
    tn_schema_free(s);
    tn_buf_deinit(&err);
    json_decref(deep);
    json_decref(wide);
}

/* ---------- API contract ---------- */

static void test_api(void **state)
{
    (void)state;
    struct tn_schema *s = NULL;
    struct tn_buf err;
    json_t *doc = load("{'type':'object','required':['content']}");
    json_t *empty = json_object();
    tn_buf_init(&err, 4096);

    /* The document is kept by reference and handed back unchanged. */
    assert_int_equal(tn_schema_compile_json(doc, &s, &err), TN_OK);
    assert_ptr_equal(tn_schema_json(s), doc);
    assert_int_equal(doc->refcount, 2);
    assert_int_equal(tn_schema_validate(s, empty, NULL), TN_ERR_BAD_INPUT);

    /* Messages are appended to what the caller already has. */
    tn_buf_puts(&err, "arguments: ");
    assert_int_equal(tn_schema_validate(s, empty, &err), TN_ERR_BAD_INPUT);
    assert_string_equal(err.data, "arguments: missing required property 'content'");

    /* A small error buffer gets the start of the message, not nothing. */
    struct tn_buf small;
    tn_buf_init(&small, 12);
    assert_int_equal(tn_schema_validate(s, empty, &small), TN_ERR_BAD_INPUT);
    assert_string_equal(small.data, "missing requ");
    tn_buf_deinit(&small);

    tn_buf_reset(&err);
    assert_int_equal(tn_schema_validate(s, NULL, &err), TN_ERR_BAD_INPUT);
    assert_string_equal(err.data, "no value to validate");

    /* The same compiled schema validates any number of times. */
    json_t *ok = load("{'content':'x'}");
    for (int i = 0; i < 3; i++)
        assert_int_equal(tn_schema_validate(s, ok, NULL), TN_OK);
    tn_schema_free(s);
    assert_int_equal(doc->refcount, 1);

    tn_buf_reset(&err);
    s = (struct tn_schema *)&err;
    assert_int_equal(tn_schema_compile(NULL, &s, &err), TN_ERR_BAD_INPUT);
    assert_null(s);
    assert_string_equal(err.data, "no schema");

    tn_schema_free(NULL);
    json_decref(ok);
    json_decref(empty);
    json_decref(doc);
    tn_buf_deinit(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pathological_pattern),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_ref),
        cmocka_unit_test(test_ref_deep_instance),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_compile_limits),
        cmocka_unit_test(test_api),
    };
    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
