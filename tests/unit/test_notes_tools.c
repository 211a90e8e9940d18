/* The notes tools' result writers (src/notes/tools.c, included here so its static
 * functions can be reached): the hand-written list entry (note_text, the hot path) and
 * the jansson one (note_json) write the same JSON, and both match the output schemas
 * the tools publish; titles derived, texts flagged truncated, dates RFC 3339. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mcp/schema.h"
#include "notes/tools.c"

static const struct tn_mcp_tool *tool(const char *name)
{
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (!strcmp(tools[i].name, name))
            return &tools[i];
    fail_msg("no tool %s", name);
    return NULL;
}

static struct tn_schema *out_schema(const char *name)
{
    struct tn_schema *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err e = tn_schema_compile(tool(name)->output_schema, &s, &err);
    if (e != TN_OK)
        fail_msg("%s: %s", name, err.data ? err.data : "");
    tn_buf_deinit(&err);
    return s;
}

static void validate(struct tn_schema *s, json_t *v)
{
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err e = tn_schema_validate(s, v, &err);
    if (e != TN_OK)
        fail_msg("%s", err.data ? err.data : "");
    tn_buf_deinit(&err);
}

static struct tn_note note(const char *title, char *content, int64_t length)
{
    struct tn_note n;
    memset(&n, 0, sizeof n);
    snprintf(n.id, sizeof n.id, "n_AZXy9l0kAAAAAAAAAAAAAA");
    snprintf(n.owner, sizeof n.owner, "https://issuer.example|alice");
    snprintf(n.title, sizeof n.title, "%s", title);
    n.content = content;
    n.length = length;
    snprintf(n.tags, sizeof n.tags, "[\"a\", \"b\\\"c\"]");
    snprintf(n.visibility, sizeof n.visibility, "org");
    n.version = 3;
    n.created_at = 1796553057789LL;
    n.updated_at = 1796553062001LL;
    return n;
}

/* note_text and note_json (LIST_TEXT) agree member for member, and both validate. */
static void test_writers_agree(void **state)
{
    (void)state;
    struct tn_schema *list = out_schema("list_my_notes"), *search = out_schema("search_notes"),
                     *get = out_schema("get_note");
    char *long_prefix = malloc(4 * TN_NOTE_LIST_TEXT + 1);
    assert_non_null(long_prefix);
    for (size_t i = 0; i < TN_NOTE_LIST_TEXT; i++)
        memcpy(long_prefix + 2 * i, "\xc3\xa9", 2);
    long_prefix[2 * TN_NOTE_LIST_TEXT] = '\0';
    struct {
        const char *title;
        char *content;
        int64_t length;
        const char *want_title;
        bool truncated;
    } cases[] = {
        {"", "Buy milk and call the plumber", 29, "Buy milk and call the plumber", false},
        {"Given", "first\nsecond", 12, "Given", false},
        {"", "# Plan\n\"quoted\" \\ and \x01 control", 30, "Plan", false},
        {"", " \n\t", 3, "", false},
        {"", long_prefix, TN_NOTE_LIST_TEXT, "", false},
        {"", long_prefix, TN_NOTE_LIST_TEXT + 1, "", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tn_note n = note(cases[i].title, cases[i].content, cases[i].length);
        struct tn_json_twin t;
        tn_json_twin_init(&t, 1 << 20);
        note_text(&t, &n, false);
        assert_int_equal(t.err, TN_OK);
        struct tn_buf b = t.json;
        /* the text beside it is the page escaped as a JSON string's contents, exactly */
        struct tn_buf esc;
        tn_buf_init(&esc, 1 << 22);
        assert_int_equal(tn_json_put_string_body(&esc, b.data, b.len), TN_OK);
        assert_int_equal(t.text.len, esc.len);
        assert_memory_equal(t.text.data, esc.data, esc.len);
        tn_buf_deinit(&esc);
        json_error_t jerr;
        json_t *from_text = json_loadb(b.data, b.len, 0, &jerr);
        if (!from_text)
            fail_msg("case %zu: %s in %s", i, jerr.text, b.data);
        json_t *from_json = note_json(&n, LIST_TEXT);
        json_object_set_new(from_json, "mine", json_false());
        assert_true(json_equal(from_text, from_json));
        /* the same member order too: the text is what clients see */
        char *dumped = json_dumps(from_json, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char *redumped = json_dumps(from_text, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(dumped, redumped);
        free(dumped);
        free(redumped);
        if (cases[i].want_title[0])
            assert_string_equal(json_string_value(json_object_get(from_text, "title")),
                                cases[i].want_title);
        else if (cases[i].content == long_prefix) /* 80 é and … */
            assert_int_equal(strlen(json_string_value(json_object_get(from_text, "title"))), 163);
        else
            assert_string_equal(json_string_value(json_object_get(from_text, "title")), "");
        assert_true(json_is_true(json_object_get(from_text, "truncated")) == cases[i].truncated);
        assert_int_equal(json_integer_value(json_object_get(from_text, "contentLength")),
                         cases[i].length);
        assert_string_equal(json_string_value(json_object_get(from_text, "content")),
                            cases[i].content);
        assert_string_equal(json_string_value(json_object_get(from_text, "createdAt")),
                            "2026-12-06T10:30:57Z");
        assert_string_equal(json_string_value(json_object_get(from_text, "updatedAt")),
                            "2026-12-06T10:31:02Z");
        /* a list page and a search result with it validate against the published schemas */
        json_t *page =
            json_pack("{s:s, s:i, s:[O]}", "userId", "alice", "count", 1, "notes", from_text);
        validate(list, page);
        json_t *hit = json_deep_copy(from_json);
        json_object_set_new(hit, "snippet", json_string("around"));
        json_object_set_new(hit, "rank", json_real(1.5));
        json_t *results = json_pack("{s:s, s:i, s:[o]}", "query", "q", "count", 1, "results", hit);
        validate(search, results);
        /* get_note: whole text, never truncated */
        json_t *whole = note_json(&n, WHOLE_TEXT);
        assert_true(json_is_false(json_object_get(whole, "truncated")));
        validate(get, whole);
        json_decref(whole);
        json_decref(results);
        json_decref(page);
        json_decref(from_json);
        json_decref(from_text);
        tn_json_twin_deinit(&t);
    }
    /* a result without what the schema requires fails it: the checks can fail */
    struct tn_note n = note("", "x", 1);
    json_t *bare = note_json(&n, NO_TEXT);
    json_t *page = json_pack("{s:s, s:i, s:[o]}", "userId", "alice", "count", 1, "notes", bare);
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    assert_int_equal(tn_schema_validate(list, page, &err), TN_ERR_BAD_INPUT);
    tn_buf_deinit(&err);
    json_decref(page);
    free(long_prefix);
    tn_schema_free(list);
    tn_schema_free(search);
    tn_schema_free(get);
}

/* save_note's result written as text (saved_result) is, byte for byte, the answer the
 * jansson tree gave (note_json with NO_TEXT, "userId", tn_mcp_result_structured): the
 * whole result dumped, for hostile titles, derived titles, tags as tags_text writes
 * them (escapes, control bytes, UTF-8, '/') and user ids; and it validates. */
static void test_saved_result(void **state)
{
    (void)state;
    struct tn_schema *save = out_schema("save_note");
    struct {
        const char *title, *content, *tags, *user, *visibility;
    } cases[] = {
        {"Plain", "text", "[\"bench\"]", "alice", "private"},
        {"", "# Derived \"title\"\nbody", "[]", "bob", "org"},
        {"q\"uo\\te \x01\x1f </script> \xc3\xa9\xe2\x80\xa8", "x",
         "[\"a\", \"b\\\"c\", \"\\u0001\\t/\", \"\xc3\xa9\xf0\x9f\x98\x80\"]",
         "user \"with\" \\ quotes \x7f \xe6\x97\xa5", "private"},
        {"", " \n\t", "[\"x\"]", "", "org"},
        {"", "", "", "u", "private"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tn_note n =
            note(cases[i].title, (char *)cases[i].content, (int64_t)strlen(cases[i].content));
        snprintf(n.visibility, sizeof n.visibility, "%s", cases[i].visibility);
        json_t *given = cases[i].tags[0] ? json_loads(cases[i].tags, 0, NULL) : NULL;
        if (cases[i].tags[0])
            assert_non_null(given);
        tags_text(given, n.tags, sizeof n.tags); /* as save_note stores them */
        if (!cases[i].tags[0])
            n.tags[0] = '\0';
        json_decref(given);

        json_t *old = note_json(&n, NO_TEXT);
        json_object_set_new(old, "userId", json_string(cases[i].user));
        old = tn_mcp_result_structured(old);
        assert_non_null(old);
        json_t *now = saved_result(&n, cases[i].user);
        assert_non_null(now);
        struct tn_buf a, b;
        tn_buf_init(&a, 1 << 20);
        tn_buf_init(&b, 1 << 20);
        assert_int_equal(tn_json_dump(old, &a), TN_OK);
        assert_int_equal(tn_json_dump(now, &b), TN_OK);
        if (a.len != b.len || memcmp(a.data, b.data, a.len))
            fail_msg("case %zu:\n%.*s\n%.*s", i, (int)a.len, a.data, (int)b.len, b.data);
        /* written as text: structured content a raw value, validating once parsed */
        size_t raw_len;
        const char *raw = tn_json_raw_text(json_object_get(now, "structuredContent"), &raw_len);
        assert_non_null(raw);
        json_t *parsed = json_loadb(raw, raw_len, 0, NULL);
        assert_non_null(parsed);
        validate(save, parsed);
        assert_string_equal(json_string_value(json_object_get(parsed, "userId")), cases[i].user);
        json_decref(parsed);
        tn_buf_deinit(&a);
        tn_buf_deinit(&b);
        json_decref(old);
        json_decref(now);
    }
    tn_schema_free(save);
}

/* Every tool's schemas compile and every description says what the model needs. */
static void test_descriptions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        struct tn_schema *s = NULL;
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        if (tools[i].input_schema)
            assert_int_equal(tn_schema_compile(tools[i].input_schema, &s, &err), TN_OK);
        tn_schema_free(s);
        s = NULL;
        assert_int_equal(tn_schema_compile(tools[i].output_schema, &s, &err), TN_OK);
        tn_schema_free(s);
        tn_buf_deinit(&err);
        assert_true(strlen(tools[i].description) > 60);
        /* reads say so; writes do not claim to be reads */
        bool read = tools[i].required_scope == NULL ||
                    !strcmp(tools[i].required_scope, "notes:read");
        assert_int_equal(tools[i].annotations.read_only, read ? 1 : -1);
        assert_int_equal(tools[i].annotations.open_world, -1);
    }
    for (const char *const *t =
             (const char *const[]){"list_my_notes", "list_team_notes", "search_notes", NULL};
         *t; t++) {
        assert_non_null(strstr(tool(*t)->description, "2,000 characters"));
        assert_non_null(strstr(tool(*t)->description, "truncated"));
        assert_non_null(strstr(tool(*t)->description, "get_note"));
    }
    assert_int_equal(tool("delete_note")->annotations.destructive, 1);
    assert_int_equal(tool("update_note")->annotations.destructive, 1);
    assert_int_equal(tool("save_note")->annotations.destructive, -1);
}

/* Calls that wait for a commit, or that may take long, run on the blocking pool and
 * never on an HTTP worker (one per core: it serves every other connection of its loop). */
static void test_who_waits(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool waits;
    } want[] = {
        {"save_note", true},    {"update_note", true},    {"delete_note", true},
        {"search_notes", true}, {"list_my_notes", false}, {"list_team_notes", false},
        {"get_note", false},    {"whoami", false},
    };
    assert_int_equal(sizeof tools / sizeof tools[0], sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_non_null(tool(want[i].name));
        if (tool(want[i].name)->waits != want[i].waits)
            fail_msg("%s: waits should be %d", want[i].name, want[i].waits);
    }
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers_agree),
        cmocka_unit_test(test_saved_result),
        cmocka_unit_test(test_descriptions),
        cmocka_unit_test(test_who_waits),
    };
    return cmocka_run_group_tests_name("notes_tools", tests, NULL, NULL);
}
