/*
 * test_metrics.c - unit tests for libcommon/metrics.c: text format 0.0.4
 * (HELP/TYPE lines, labels, escaping), histogram buckets, the series cap,
 * and concurrent updates.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

/* Renders r into a malloc'd string (caller frees). */
static char *
render(metrics_registry *r)
{
    buf *b = buf_create(1 << 20);
    char *s;

    assert_int_equal(metrics_render(r, b), 0);
    s = buf_steal(b, NULL);
    buf_free(b);
    return s;
}

static void
test_counter_labels(void **state)
{
    static const char *const labels[] = { "code", NULL };
    metrics_registry *r = metrics_registry_create();
    metrics_family *f = metrics_counter(r, "mailyard_smtp_replies_total",
                                        "SMTP replies", labels);
    char *out;

    (void)state;
    metrics_counter_inc(f, "250");
    metrics_counter_inc(f, "250");
    metrics_counter_add(f, 3, "550");
    metrics_counter_add(f, -1, "550");       /* ignored: counters only grow */
    out = render(r);
    assert_non_null(strstr(out, "# HELP mailyard_smtp_replies_total SMTP replies\n"));
    assert_non_null(strstr(out, "# TYPE mailyard_smtp_replies_total counter\n"));
    assert_non_null(strstr(out, "mailyard_smtp_replies_total{code=\"250\"} 2\n"));
    assert_non_null(strstr(out, "mailyard_smtp_replies_total{code=\"550\"} 3\n"));
    free(out);
    metrics_registry_free(r);
}

static void
test_gauge_and_unlabelled(void **state)
{
    metrics_registry *r = metrics_registry_create();
    metrics_family *g = metrics_gauge(r, "mailyard_queue_depth", "Queue depth", NULL);
    char *out;

    (void)state;
    metrics_gauge_set(g, 10);
    metrics_gauge_add(g, -2.5);
    out = render(r);
    assert_non_null(strstr(out, "# TYPE mailyard_queue_depth gauge\n"));
    assert_non_null(strstr(out, "\nmailyard_queue_depth 7.5\n"));
    free(out);
    /* registering the same name again returns the same family */
    assert_ptr_equal(metrics_gauge(r, "mailyard_queue_depth", "x", NULL), g);
    metrics_registry_free(r);
}

static void
test_escaping(void **state)
{
    static const char *const labels[] = { "rcpt", "why", NULL };
    metrics_registry *r = metrics_registry_create();
    metrics_family *f = metrics_counter(r, "t_total", "line1\nback\\slash", labels);
    char *out;

    (void)state;
    metrics_counter_inc(f, "a\"b", "x\\y\nz");
    out = render(r);
    assert_non_null(strstr(out, "# HELP t_total line1\\nback\\\\slash\n"));
    assert_non_null(strstr(out, "t_total{rcpt=\"a\\\"b\",why=\"x\\\\y\\nz\"} 1\n"));
    free(out);
    metrics_registry_free(r);
}

static void
test_histogram(void **state)
{
    static const double bounds[] = { 0.1, 1, 10 };
    static const char *const labels[] = { "stage", NULL };
    metrics_registry *r = metrics_registry_create();
    metrics_family *h = metrics_histogram(r, "lat_seconds", "Latency", labels,
                                          bounds, 3);
    char *out;

    (void)state;
    metrics_histogram_observe(h, 0.05, "relay");
    metrics_histogram_observe(h, 0.1, "relay");   /* le is inclusive */
    metrics_histogram_observe(h, 5, "relay");
    metrics_histogram_observe(h, 100, "relay");
    out = render(r);
    assert_non_null(strstr(out, "# TYPE lat_seconds histogram\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{stage=\"relay\",le=\"0.1\"} 2\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{stage=\"relay\",le=\"1\"} 2\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{stage=\"relay\",le=\"10\"} 3\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{stage=\"relay\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "lat_seconds_sum{stage=\"relay\"} 105.15\n"));
    assert_non_null(strstr(out, "lat_seconds_count{stage=\"relay\"} 4\n"));
    free(out);
    metrics_registry_free(r);
}

static void
test_series_cap(void **state)
{
    static const char *const labels[] = { "rcpt", NULL };
    metrics_registry *r = metrics_registry_create();
    metrics_family *f = metrics_counter(r, "many_total", "Many", labels);
    char name[32], *out;

    (void)state;
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        metrics_counter_inc(f, name);
    }
    out = render(r);
    assert_non_null(strstr(out, "many_total{rcpt=\"r255\"} 1\n"));
    assert_null(strstr(out, "many_total{rcpt=\"r256\"}"));
    assert_non_null(strstr(out, "many_total{rcpt=\"other\"} 44\n"));
    free(out);
    metrics_registry_free(r);
}

static void
test_null_family_is_noop(void **state)
{
    (void)state;
    assert_null(metrics_counter(NULL, "x_total", "x", NULL));
    metrics_counter_inc(NULL);
    metrics_gauge_set(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    metrics_registry_free(NULL);
}

static void *
bump(void *arg)
{
    for (int i = 0; i < 10000; i++)
        metrics_counter_inc((metrics_family *)arg, i % 2 ? "a" : "b");
    return NULL;
}

static void
test_threads(void **state)
{
    static const char *const labels[] = { "k", NULL };
    metrics_registry *r = metrics_registry_create();
    metrics_family *f = metrics_counter(r, "c_total", "C", labels);
    pthread_t t[4];
    char *out;

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, bump, f), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    out = render(r);
    assert_non_null(strstr(out, "c_total{k=\"a\"} 20000\n"));
    assert_non_null(strstr(out, "c_total{k=\"b\"} 20000\n"));
    free(out);
    metrics_registry_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_labels),
        cmocka_unit_test(test_gauge_and_unlabelled),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_null_family_is_noop),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
