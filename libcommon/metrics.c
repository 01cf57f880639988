/*
 * metrics.c - Prometheus counters, gauges and histograms (metrics.h).
 *
 * Owns: the registry (a list of families behind one mutex, taken only to
 * register and to render) and every family (its own mutex, its label names,
 * its bucket bounds and up to METRICS_MAX_SERIES label combinations plus one
 * overflow series whose labels are all "other").
 *
 * Output follows the text exposition format 0.0.4: "# HELP" and "# TYPE"
 * per family, label values escaped (backslash, double quote, newline),
 * histograms as cumulative _bucket{le="..."} series plus _sum and _count.
 *
 * Error policy: registering with a bad name, too many labels or unsorted
 * bounds, and updating a family of another type, are programming errors
 * (panic). Updates on a NULL family are no-ops so that code can run without
 * a registry (metrics_counter(NULL, ...) returns NULL).
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#define METRICS_MAX_LABELS 8
#define METRICS_MAX_SERIES 256

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

typedef struct metrics_series {
    char    **values;      /* owned label values, family->nlabels of them */
    double    value;       /* counter / gauge */
    uint64_t *buckets;     /* histogram: nbounds + 1 (last is +Inf), not cumulative */
    double    sum;
    uint64_t  count;
} metrics_series;

struct metrics_family {
    char              *name;      /* owned */
    char              *help;      /* owned */
    enum metrics_type  type;
    char              *labels[METRICS_MAX_LABELS];   /* owned */
    size_t             nlabels;
    double            *bounds;    /* owned, histogram only */
    size_t             nbounds;
    pthread_mutex_t    lock;      /* guards everything below */
    metrics_series    *series;    /* owned array */
    size_t             nseries, cap;
    metrics_series    *other;     /* overflow series, created on demand */
    int                overflow_logged;
    struct metrics_family *next;
};

struct metrics_registry {
    pthread_mutex_t  lock;        /* guards the family list */
    metrics_family  *head, *tail;
};

static int  name_valid(const char *s, int allow_colon);
static metrics_family *family_register(metrics_registry *r, enum metrics_type t,
                                       const char *name, const char *help,
                                       const char *const *label_names,
                                       const double *bounds, size_t nbounds);
static metrics_series *series_get(metrics_family *f, va_list ap);
static void series_release(const metrics_family *f, metrics_series *s);
static int  render_family(metrics_family *f, buf *out);
static int  render_series(const metrics_family *f, const metrics_series *s,
                          const char *suffix, const char *le, double v, buf *out);
static int  append_escaped(buf *out, const char *s, int quote);
static void format_double(double v, char *out, size_t outlen);

metrics_registry *
metrics_registry_create(void)
{
    metrics_registry *r = xcalloc(1, sizeof(*r));

    if (pthread_mutex_init(&r->lock, NULL) != 0)
        panic("metrics: mutex init failed");
    return r;
}

void
metrics_registry_free(metrics_registry *r)
{
    metrics_family *f, *next;

    if (r == NULL)
        return;
    for (f = r->head; f != NULL; f = next) {
        next = f->next;
        for (size_t i = 0; i < f->nseries; i++)
            series_release(f, &f->series[i]);
        free(f->series);
        if (f->other != NULL) {
            series_release(f, f->other);
            free(f->other);
        }
        for (size_t i = 0; i < f->nlabels; i++)
            free(f->labels[i]);
        free(f->bounds);
        free(f->name);
        free(f->help);
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

metrics_family *
metrics_counter(metrics_registry *r, const char *name, const char *help,
                const char *const *label_names)
{
    return family_register(r, METRICS_COUNTER, name, help, label_names, NULL, 0);
}

metrics_family *
metrics_gauge(metrics_registry *r, const char *name, const char *help,
              const char *const *label_names)
{
    return family_register(r, METRICS_GAUGE, name, help, label_names, NULL, 0);
}

metrics_family *
metrics_histogram(metrics_registry *r, const char *name, const char *help,
                  const char *const *label_names, const double *bounds,
                  size_t nbounds)
{
    return family_register(r, METRICS_HISTOGRAM, name, help, label_names,
                           bounds, nbounds);
}

/* The shared body of counter_add, gauge_set and gauge_add: checks the
 * family's type, finds the series of the labels in ap and sets or adds v
 * under the family's lock. what names the caller for the panic. */
static void
family_update(metrics_family *f, enum metrics_type type, const char *what, int add,
              double v, va_list ap)
{
    metrics_series *s;

    if (f->type != type)
        panic(what, "metric", f->name);
    pthread_mutex_lock(&f->lock);
    s = series_get(f, ap);
    if (add)
        s->value += v;
    else
        s->value = v;
    pthread_mutex_unlock(&f->lock);
}

void
metrics_counter_add(metrics_family *f, double v, ...)
{
    va_list ap;

    if (f == NULL || !(v >= 0))     /* counters only go up; NaN refused too */
        return;
    va_start(ap, v);
    family_update(f, METRICS_COUNTER, "metrics: counter_add on a non-counter", 1, v, ap);
    va_end(ap);
}

void
metrics_gauge_set(metrics_family *f, double v, ...)
{
    va_list ap;

    if (f == NULL)
        return;
    va_start(ap, v);
    family_update(f, METRICS_GAUGE, "metrics: gauge_set on a non-gauge", 0, v, ap);
    va_end(ap);
}

void
metrics_gauge_add(metrics_family *f, double v, ...)
{
    va_list ap;

    if (f == NULL)
        return;
    va_start(ap, v);
    family_update(f, METRICS_GAUGE, "metrics: gauge_add on a non-gauge", 1, v, ap);
    va_end(ap);
}

void
metrics_histogram_observe(metrics_family *f, double v, ...)
{
    va_list ap;
    metrics_series *s;
    size_t i;

    if (f == NULL)
        return;
    if (f->type != METRICS_HISTOGRAM)
        panic("metrics: observe on a non-histogram", "metric", f->name);
    if (isnan(v))
        return;
    pthread_mutex_lock(&f->lock);
    va_start(ap, v);
    s = series_get(f, ap);
    va_end(ap);
    for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
        ;
    s->buckets[i]++;
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&f->lock);
}

int
metrics_render(metrics_registry *r, buf *out)
{
    int rc = 0;

    if (r == NULL)
        return 0;
    pthread_mutex_lock(&r->lock);
    for (metrics_family *f = r->head; f != NULL && rc == 0; f = f->next)
        rc = render_family(f, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* --- registration ------------------------------------------------------ */

/* Metric names may contain ':', label names may not. */
static int
name_valid(const char *s, int allow_colon)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Registers a family, or returns the existing one of the same name and
 * type (so two components sharing a registry may both register it). */
static metrics_family *
family_register(metrics_registry *r, enum metrics_type t, const char *name,
                const char *help, const char *const *label_names,
                const double *bounds, size_t nbounds)
{
    metrics_family *f;

    if (r == NULL)
        return NULL;
    if (!name_valid(name, 1))
        panic("metrics: invalid metric name", "metric", name ? name : "(null)");
    pthread_mutex_lock(&r->lock);
    for (f = r->head; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            pthread_mutex_unlock(&r->lock);
            if (f->type != t)
                panic("metrics: metric registered twice with different types",
                      "metric", name);
            return f;
        }
    }
    f = xcalloc(1, sizeof(*f));
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->type = t;
    for (size_t i = 0; label_names != NULL && label_names[i] != NULL; i++) {
        if (i >= METRICS_MAX_LABELS)
            panic("metrics: too many labels", "metric", name);
        if (!name_valid(label_names[i], 0) || strcmp(label_names[i], "le") == 0)
            panic("metrics: invalid label name", "metric", name);
        f->labels[i] = xstrdup(label_names[i]);
        f->nlabels = i + 1;
    }
    if (t == METRICS_HISTOGRAM) {
        if (nbounds > 0 && bounds == NULL)
            panic("metrics: histogram without bounds", "metric", name);
        for (size_t i = 1; i < nbounds; i++)
            if (!(bounds[i] > bounds[i - 1]))
                panic("metrics: histogram bounds not ascending", "metric", name);
        f->nbounds = nbounds;
        f->bounds = xcalloc(nbounds + 1, sizeof(double));
        if (nbounds > 0)
            memcpy(f->bounds, bounds, nbounds * sizeof(double));
    }
    if (pthread_mutex_init(&f->lock, NULL) != 0)
        panic("metrics: mutex init failed");
    if (r->tail != NULL)
        r->tail->next = f;
    else
        r->head = f;
    r->tail = f;
    pthread_mutex_unlock(&r->lock);
    return f;
}

/* --- series ------------------------------------------------------------ */

static void
series_init(const metrics_family *f, metrics_series *s, const char *const *values)
{
    memset(s, 0, sizeof(*s));
    s->values = xcalloc(f->nlabels + 1, sizeof(char *));
    for (size_t i = 0; i < f->nlabels; i++)
        s->values[i] = xstrdup(values[i]);
    if (f->type == METRICS_HISTOGRAM)
        s->buckets = xcalloc(f->nbounds + 1, sizeof(uint64_t));
}

static void
series_release(const metrics_family *f, metrics_series *s)
{
    for (size_t i = 0; s->values != NULL && i < f->nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
}

/* Called with f->lock held. Reads f->nlabels label values from ap. */
static metrics_series *
series_get(metrics_family *f, va_list ap)
{
    const char *values[METRICS_MAX_LABELS];

    for (size_t i = 0; i < f->nlabels; i++) {
        values[i] = va_arg(ap, const char *);
        if (values[i] == NULL)
            values[i] = "";
    }
    for (size_t i = 0; i < f->nseries; i++) {
        size_t j;
        for (j = 0; j < f->nlabels; j++)
            if (strcmp(f->series[i].values[j], values[j]) != 0)
                break;
        if (j == f->nlabels)
            return &f->series[i];
    }
    if (f->nseries >= METRICS_MAX_SERIES) {
        if (f->other == NULL) {
            const char *other[METRICS_MAX_LABELS];
            for (size_t i = 0; i < f->nlabels; i++)
                other[i] = "other";
            f->other = xcalloc(1, sizeof(*f->other));
            series_init(f, f->other, other);
        }
        if (!f->overflow_logged) {
            f->overflow_logged = 1;
            log_warn("metrics: too many label combinations, folding into \"other\"",
                     "metric", f->name);
        }
        return f->other;
    }
    if (f->nseries == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->series = xrealloc(f->series, f->cap * sizeof(*f->series));
    }
    series_init(f, &f->series[f->nseries], values);
    return &f->series[f->nseries++];
}

/* --- rendering --------------------------------------------------------- */

static const char *
type_name(enum metrics_type t)
{
    switch (t) {
    case METRICS_COUNTER:   return "counter";
    case METRICS_GAUGE:     return "gauge";
    case METRICS_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static int
render_one(const metrics_family *f, const metrics_series *s, buf *out)
{
    char le[64];
    uint64_t cum = 0;

    if (f->type != METRICS_HISTOGRAM)
        return render_series(f, s, "", NULL, s->value, out);
    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += s->buckets[i];
        if (i < f->nbounds)
            format_double(f->bounds[i], le, sizeof(le));
        else
            str_copy(le, sizeof(le), "+Inf");
        if (render_series(f, s, "_bucket", le, (double)cum, out) < 0)
            return -1;
    }
    if (render_series(f, s, "_sum", NULL, s->sum, out) < 0)
        return -1;
    return render_series(f, s, "_count", NULL, (double)s->count, out);
}

static int
render_family(metrics_family *f, buf *out)
{
    int rc = 0;

    if (buf_printf(out, "# HELP %s ", f->name) < 0 ||
        append_escaped(out, f->help, 0) < 0 ||
        buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type)) < 0)
        return -1;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nseries && rc == 0; i++)
        rc = render_one(f, &f->series[i], out);
    if (rc == 0 && f->other != NULL)
        rc = render_one(f, f->other, out);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* name+suffix{labels...,le="x"} value */
static int
render_series(const metrics_family *f, const metrics_series *s,
              const char *suffix, const char *le, double v, buf *out)
{
    char num[64];
    int first = 1;

    if (buf_printf(out, "%s%s", f->name, suffix) < 0)
        return -1;
    if (f->nlabels > 0 || le != NULL) {
        if (buf_append_str(out, "{") < 0)
            return -1;
        for (size_t i = 0; i < f->nlabels; i++) {
            if (buf_printf(out, "%s%s=\"", first ? "" : ",", f->labels[i]) < 0 ||
                append_escaped(out, s->values[i], 1) < 0 ||
                buf_append_str(out, "\"") < 0)
                return -1;
            first = 0;
        }
        if (le != NULL && buf_printf(out, "%sle=\"%s\"", first ? "" : ",", le) < 0)
            return -1;
        if (buf_append_str(out, "}") < 0)
            return -1;
    }
    format_double(v, num, sizeof(num));
    return buf_printf(out, " %s\n", num);
}

/* HELP text escapes backslash and newline; label values also '"'. */
static int
append_escaped(buf *out, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        int rc;
        if (*s == '\\')
            rc = buf_append_str(out, "\\\\");
        else if (*s == '\n')
            rc = buf_append_str(out, "\\n");
        else if (quote && *s == '"')
            rc = buf_append_str(out, "\\\"");
        else
            rc = buf_append(out, s, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The shortest of %.15g / %.17g that round-trips; +Inf, -Inf, NaN. */
static void
format_double(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(out, outlen, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, outlen, "%.17g", v);
}
