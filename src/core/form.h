/* application/x-www-form-urlencoded: parsing (bounded) and encoding, and URL query
 * building. Used by the OAuth endpoints and the sign-in forms. */
#ifndef TN_CORE_FORM_H
#define TN_CORE_FORM_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define TN_FORM_MAX_FIELDS 32

struct tn_form {
    struct {
        char *name;
        char *value;
    } f[TN_FORM_MAX_FIELDS];
    size_t n;
};

/* Parses `len` bytes. TN_ERR_BAD_INPUT for malformed percent escapes, NUL bytes or a
 * field repeated (OAuth forbids repeated parameters); TN_ERR_LIMIT past
 * TN_FORM_MAX_FIELDS. The form owns copies; free with tn_form_deinit. */
enum tn_err tn_form_parse(struct tn_form *form, const char *data, size_t len);
void tn_form_deinit(struct tn_form *form);
/* Value of a field, or NULL when absent. */
const char *tn_form_get(const struct tn_form *form, const char *name);
/* Appends `s` percent-encoded (RFC 3986 unreserved characters kept). */
enum tn_err tn_url_encode(struct tn_buf *out, const char *s);

#endif
