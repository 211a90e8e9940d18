/* libFuzzer target: the form parser (core/form.c) that every OAuth endpoint and sign-in
 * form reads untrusted bodies with. Invariants: no crash or read past the input;
 * success yields at most TN_FORM_MAX_FIELDS fields with non-empty names, no two alike,
 * no NUL inside; and re-encoding the parsed fields with tn_url_encode parses back to
 * exactly the same fields in the same order. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    struct tn_form f;
    enum tn_err e = tn_form_parse(&f, (const char *)data, size);
    if (e != TN_OK) {
        if (e != TN_ERR_BAD_INPUT && e != TN_ERR_LIMIT)
            abort();
        if (f.n != 0)
            abort();
        return 0;
    }
    if (f.n > TN_FORM_MAX_FIELDS)
        abort();
    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < f.n; i++) {
        if (!f.f[i].name[0])
            abort();
        for (size_t j = 0; j < i; j++)
            if (!strcmp(f.f[i].name, f.f[j].name))
                abort();
        if (i)
            tn_buf_puts(&b, "&");
        if (tn_url_encode(&b, f.f[i].name) != TN_OK || tn_buf_puts(&b, "=") != TN_OK ||
            tn_url_encode(&b, f.f[i].value) != TN_OK)
            abort();
    }
    struct tn_form g;
    if (tn_form_parse(&g, b.data, b.len) != TN_OK || g.n != f.n)
        abort();
    for (size_t i = 0; i < f.n; i++)
        if (strcmp(f.f[i].name, g.f[i].name) || strcmp(f.f[i].value, g.f[i].value))
            abort();
    tn_form_deinit(&g);
    tn_form_deinit(&f);
    tn_buf_deinit(&b);
    return 0;
}
