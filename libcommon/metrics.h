/*
 * metrics.h - Prometheus metrics: counters, gauges and histograms with
 * optional labels, rendered in the text exposition format (0.0.4).
 *
 * A registry is created by main and shared by pointer; registering is done
 * at start-up, updating is thread-safe (atomics / a mutex per family) and
 * cheap. Label values are given at update time: metrics_counter_inc(c,
 * "code", "250") for a family registered with label names {"code"}. At most
 * 8 labels per family and 256 label combinations per family (more are
 * folded into one series with every label "other", and logged once).
 *
 * Ownership: the registry owns every family; families live until
 * metrics_registry_free(). Strings passed at registration are copied.
 */
#ifndef MAILYARD_METRICS_H
#define MAILYARD_METRICS_H

#include <stddef.h>
#include "buf.h"

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;

metrics_registry *metrics_registry_create(void);
void              metrics_registry_free(metrics_registry *r);

/* label_names: NULL-terminated array (or NULL for none). Names are prefixed
 * by nothing: pass full names such as "mailyard_smtp_replies_total". */
metrics_family *metrics_counter(metrics_registry *r, const char *name,
                                const char *help, const char *const *label_names);
metrics_family *metrics_gauge(metrics_registry *r, const char *name,
                              const char *help, const char *const *label_names);
/* bounds: ascending upper bounds, nbounds of them (+Inf is implicit). */
metrics_family *metrics_histogram(metrics_registry *r, const char *name,
                                  const char *help, const char *const *label_names,
                                  const double *bounds, size_t nbounds);

/* Label values follow as const char * in label-name order (none for an
 * unlabelled family). */
void metrics_counter_add(metrics_family *f, double v, ...);
#define metrics_counter_inc(f, ...) metrics_counter_add((f), 1.0, ##__VA_ARGS__)
void metrics_gauge_set(metrics_family *f, double v, ...);
void metrics_gauge_add(metrics_family *f, double v, ...);
void metrics_histogram_observe(metrics_family *f, double v, ...);

/* Append the whole registry in text format to out. */
int  metrics_render(metrics_registry *r, buf *out);

#endif
