#include "ops/prom.h"

#include <stdio.h>
#include <string.h>

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int is_digit(char c) { return c >= '0' && c <= '9'; }

int tn_prom_metric_name_ok(const char *name)
{
    if (!name || !(is_alpha_(name[0]) || name[0] == ':'))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_(*p) || is_digit(*p) || *p == ':'))
            return 0;
    return 1;
}

int tn_prom_label_name_ok(const char *name)
{
    if (!name || !is_alpha_(name[0]) || (name[0] == '_' && name[1] == '_'))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_(*p) || is_digit(*p)))
            return 0;
    return 1;
}

static enum tn_err put_escaped(struct tn_buf *b, const char *s, int quote)
{
    enum tn_err rc = TN_OK;
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (quote && *p == '"')
            esc = "\\\"";
        if (!esc && *p)
            continue;
        if ((rc = tn_buf_append(b, run, (size_t)(p - run))) != TN_OK)
            return rc;
        if (!*p)
            return TN_OK;
        if ((rc = tn_buf_puts(b, esc)) != TN_OK)
            return rc;
        run = p + 1;
    }
}

enum tn_err tn_prom_escape_label(struct tn_buf *b, const char *value)
{
    return put_escaped(b, value ? value : "", 1);
}

static const char *type_name(enum tn_prom_type t)
{
    switch (t) {
    case TN_PROM_COUNTER:
        return "counter";
    case TN_PROM_GAUGE:
        return "gauge";
    case TN_PROM_HISTOGRAM:
        return "histogram";
    }
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

enum tn_err tn_prom_family(struct tn_buf *b, const char *name, const char *help,
                           enum tn_prom_type type)
{
    const char *tn = type_name(type);
    if (!tn_prom_metric_name_ok(name) || !tn ||
        (type == TN_PROM_COUNTER && !ends_with(name, "_total")))
        return TN_ERR_BAD_INPUT;
    size_t mark = b->len;
    enum tn_err rc;
    if ((rc = tn_buf_printf(b, "# HELP %s ", name)) != TN_OK ||
        (rc = put_escaped(b, help ? help : "", 0)) != TN_OK ||
        (rc = tn_buf_printf(b, "\n# TYPE %s %s\n", name, tn)) != TN_OK) {
        b->len = mark;
        if (b->data)
            b->data[mark] = '\0';
    }
    return rc;
}

/* name{labels[,extra="v"]} */
static enum tn_err put_series(struct tn_buf *b, const char *name, const char *suffix,
                              const struct tn_prom_label *labels, size_t n_labels,
                              const char *extra_name, const char *extra_value)
{
    enum tn_err rc;
    if ((rc = tn_buf_puts(b, name)) != TN_OK || (rc = tn_buf_puts(b, suffix)) != TN_OK)
        return rc;
    if (!n_labels && !extra_name)
        return TN_OK;
    if ((rc = tn_buf_append(b, "{", 1)) != TN_OK)
        return rc;
    for (size_t i = 0; i <= n_labels; i++) {
        const char *ln = i < n_labels ? labels[i].name : extra_name;
        const char *lv = i < n_labels ? labels[i].value : extra_value;
        if (!ln)
            break;
        if (!tn_prom_label_name_ok(ln))
            return TN_ERR_BAD_INPUT;
        if ((i && (rc = tn_buf_append(b, ",", 1)) != TN_OK) || (rc = tn_buf_puts(b, ln)) != TN_OK ||
            (rc = tn_buf_append(b, "=\"", 2)) != TN_OK ||
            (rc = tn_prom_escape_label(b, lv)) != TN_OK ||
            (rc = tn_buf_append(b, "\"", 1)) != TN_OK)
            return rc;
    }
    return tn_buf_append(b, "}", 1);
}

static void undo(struct tn_buf *b, size_t mark)
{
    b->len = mark;
    if (b->data)
        b->data[mark] = '\0';
}

enum tn_err tn_prom_sample(struct tn_buf *b, const char *name, const struct tn_prom_label *labels,
                           size_t n_labels, uint64_t value)
{
    if (!tn_prom_metric_name_ok(name))
        return TN_ERR_BAD_INPUT;
    size_t mark = b->len;
    enum tn_err rc = put_series(b, name, "", labels, n_labels, NULL, NULL);
    if (rc == TN_OK)
        rc = tn_buf_printf(b, " %llu\n", (unsigned long long)value);
    if (rc != TN_OK)
        undo(b, mark);
    return rc;
}

enum tn_err tn_prom_histogram(struct tn_buf *b, const char *name,
                              const struct tn_prom_label *labels, size_t n_labels,
                              const char *const *bounds, const uint64_t *counts, size_t n,
                              double sum)
{
    if (!tn_prom_metric_name_ok(name))
        return TN_ERR_BAD_INPUT;
    for (size_t i = 0; i < n_labels; i++)
        if (!strcmp(labels[i].name, "le"))
            return TN_ERR_BAD_INPUT; /* le is the bucket's own label */
    size_t mark = b->len;
    enum tn_err rc = TN_OK;
    uint64_t cum = 0;
    for (size_t i = 0; i <= n && rc == TN_OK; i++) {
        cum += counts[i];
        rc = put_series(b, name, "_bucket", labels, n_labels, "le", i < n ? bounds[i] : "+Inf");
        if (rc == TN_OK)
            rc = tn_buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    if (rc == TN_OK)
        rc = put_series(b, name, "_sum", labels, n_labels, NULL, NULL);
    if (rc == TN_OK)
        rc = tn_buf_printf(b, " %.9f\n", sum);
    if (rc == TN_OK)
        rc = put_series(b, name, "_count", labels, n_labels, NULL, NULL);
    if (rc == TN_OK)
        rc = tn_buf_printf(b, " %llu\n", (unsigned long long)cum);
    if (rc != TN_OK)
        undo(b, mark);
    return rc;
}
