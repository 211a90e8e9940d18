/* The Prometheus text exposition format (version 0.0.4), written into a tn_buf.
 *
 * A family is opened with its HELP and TYPE lines, then its samples follow, all
 * together. Names are checked ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics, [a-zA-Z_][a-zA-Z0-9_]*
 * for labels, no "__" prefix); label values and HELP text are escaped as the format says
 * (label values: backslash, double quote and newline; HELP: backslash and newline). A
 * counter's name must end in _total. Every function returns TN_ERR_BAD_INPUT for a name
 * the format does not allow and TN_ERR_LIMIT when the buffer is full; nothing half
 * written is left in the buffer on failure of one line. */
#ifndef TN_OPS_PROM_H
#define TN_OPS_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum tn_prom_type { TN_PROM_COUNTER, TN_PROM_GAUGE, TN_PROM_HISTOGRAM };

/* One label: name and value (any bytes of a C string; escaped on output). */
struct tn_prom_label {
    const char *name;
    const char *value;
};

/* "# HELP name help\n# TYPE name type\n". */
enum tn_err tn_prom_family(struct tn_buf *b, const char *name, const char *help,
                           enum tn_prom_type type);
/* "name{labels} value\n" with an integer value. */
enum tn_err tn_prom_sample(struct tn_buf *b, const char *name, const struct tn_prom_label *labels,
                           size_t n_labels, uint64_t value);
/* A histogram's samples: name_bucket{labels,le="bound"} cumulative counts for each of the
 * n bounds, then le="+Inf", name_sum and name_count. counts[i] is the number of
 * observations in bucket i alone (counts[n]: above the last bound); bounds are the
 * upper bounds written as `le` (e.g. "0.005"), in increasing order; sum is written as is. */
enum tn_err tn_prom_histogram(struct tn_buf *b, const char *name,
                              const struct tn_prom_label *labels, size_t n_labels,
                              const char *const *bounds, const uint64_t *counts, size_t n,
                              double sum);
/* Appends the escaped label value (for tests and callers that build lines themselves). */
enum tn_err tn_prom_escape_label(struct tn_buf *b, const char *value);
/* True for a valid metric name / label name. */
int tn_prom_metric_name_ok(const char *name);
int tn_prom_label_name_ok(const char *name);

#endif
