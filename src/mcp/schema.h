/* JSON Schema validation of tool arguments (and structured tool output).
 *
 * A schema is compiled once, at tool registration, into a tree of C structs; validation
 * then walks that tree and the instance only. The dialect is JSON Schema 2020-12, also
 * accepting the draft-07 and draft-04 spellings that tool authors still write
 * (`definitions`, array-form `items` with `additionalItems`, boolean
 * `exclusiveMinimum`/`exclusiveMaximum`).
 *
 * Supported keywords: type, properties, patternProperties, additionalProperties,
 * required, minProperties, maxProperties, enum, const, minLength, maxLength, pattern,
 * minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, items, prefixItems,
 * additionalItems, minItems, maxItems, uniqueItems, allOf, anyOf, oneOf, not,
 * if/then/else, $ref, $defs, definitions, and the boolean schemas true and false.
 * Every other keyword (title, description, default, format, examples, $schema, $id,
 * x-*, and also contains, propertyNames, dependent*, unevaluated*) is ignored, which
 * makes a schema that relies on one of them more permissive, never stricter.
 *
 * Deliberate limits:
 *  - `$ref` must be local ("#" or "#/json/pointer", percent- and ~0/~1-escaped). Nothing
 *    is ever fetched; any other reference fails compilation.
 *  - `pattern` and patternProperties use POSIX extended regular expressions
 *    (regcomp REG_EXTENDED), not ECMA-262. A pattern that does not compile fails the
 *    schema.
 *  - enum, const and uniqueItems compare with json_equal, so 1 and 1.0 differ.
 *  - String lengths count Unicode code points, not bytes. */
#ifndef TN_MCP_SCHEMA_H
#define TN_MCP_SCHEMA_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/* How many subschemas validation may enter at once (each $ref hop and each descent into
 * a property or an item counts). It defeats self-referential schemas fed deep
 * instances; deeper instances are refused with "nested too deeply". */
#define TN_SCHEMA_MAX_DEPTH 64
/* How many subschemas a compiled schema may hold. */
#define TN_SCHEMA_MAX_NODES 4096

struct tn_schema;

/* Parses `json_text` (any JSON value; duplicate keys are refused) and compiles it.
 * On success *out owns a new schema, freed with tn_schema_free. On failure *out is
 * NULL and the result is TN_ERR_BAD_INPUT with a reason appended to `err` (may be NULL),
 * e.g. "#/properties/tags/items/pattern: invalid regular expression: ...", or
 * TN_ERR_NOMEM. */
enum tn_err tn_schema_compile(const char *json_text, struct tn_schema **out, struct tn_buf *err);

/* Same, from a jansson value, borrowed: the schema takes its own reference, and points
 * into the document, which must not be modified while the schema lives. */
enum tn_err tn_schema_compile_json(json_t *schema, struct tn_schema **out, struct tn_buf *err);

/* The schema document as given (borrowed, valid while `s` lives), to emit in
 * tools/list. */
json_t *tn_schema_json(const struct tn_schema *s);

/* Validates `instance` (borrowed). Returns TN_OK, or TN_ERR_BAD_INPUT and appends to
 * `err` (may be NULL) one message about the first problem found: the instance path,
 * then ": ", then what is wrong, e.g. "content: expected a string, got a number",
 * "items[2].name: at most 32 characters". Problems with the top-level value carry no
 * path: "missing required property 'content'". Names taken from the instance are
 * shown with control bytes escaped as \xNN and cut after 64 bytes. */
enum tn_err tn_schema_validate(const struct tn_schema *s, json_t *instance, struct tn_buf *err);

/* Frees the schema and drops its reference to the document. NULL is a no-op. */
void tn_schema_free(struct tn_schema *s);

#endif
