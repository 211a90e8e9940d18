#include "core/form.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one component ('+' is a space). NULL on a bad escape or an encoded NUL. */
static char *decode(const char *p, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { /* bad escape, or %00 */
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

enum tn_err tn_form_parse(struct tn_form *form, const char *data, size_t len)
{
    memset(form, 0, sizeof *form);
    enum tn_err rc = TN_OK;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && data[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(data + i, '=', end - i);
            size_t nlen = eq ? (size_t)(eq - (data + i)) : end - i;
            const char *v = eq ? eq + 1 : data + end;
            size_t vlen = eq ? (size_t)(data + end - v) : 0;
            if (form->n >= TN_FORM_MAX_FIELDS) {
                rc = TN_ERR_LIMIT;
                break;
            }
            char *name = decode(data + i, nlen);
            char *value = decode(v, vlen);
            if (!name || !value || !name[0]) {
                free(name);
                free(value);
                rc = TN_ERR_BAD_INPUT;
                break;
            }
            if (tn_form_get(form, name)) {
                free(name);
                free(value);
                rc = TN_ERR_BAD_INPUT;
                break;
            }
            form->f[form->n].name = name;
            form->f[form->n].value = value;
            form->n++;
        }
        i = end + 1;
    }
    if (rc != TN_OK)
        tn_form_deinit(form);
    return rc;
}

void tn_form_deinit(struct tn_form *form)
{
    for (size_t i = 0; i < form->n; i++) {
        free(form->f[i].name);
        free(form->f[i].value);
    }
    form->n = 0;
}

const char *tn_form_get(const struct tn_form *form, const char *name)
{
    for (size_t i = 0; i < form->n; i++)
        if (strcmp(form->f[i].name, name) == 0)
            return form->f[i].value;
    return NULL;
}

enum tn_err tn_url_encode(struct tn_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        enum tn_err rc;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            rc = tn_buf_append(out, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = tn_buf_append(out, e, 3);
        }
        if (rc != TN_OK)
            return rc;
    }
    return TN_OK;
}
