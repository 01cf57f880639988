/*
 * test_log.c - unit tests for libcommon/log.c: every line is one valid
 * JSON object (checked with jansson), escaping, level filter, timestamp
 * format, truncation, no interleaving between threads, fatal and panic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "log.h"

struct capture {
    int saved;
    FILE *f;
};

static void capture_start(struct capture *c)
{
    fflush(stdout);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(1);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fileno(c->f), 1), 1);
}

/* Restores stdout; returns everything written meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
    assert_int_equal(dup2(c->saved, 1), 1);
    close(c->saved);
    off_t n = lseek(fileno(c->f), 0, SEEK_END);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(pread(fileno(c->f), s, (size_t)n, 0), n);
    s[n] = '\0';
    fclose(c->f);
    return s;
}

/* Parses a single line (with its '\n') into a JSON object. */
static json_t *parse_line(const char *line)
{
    size_t n = strlen(line);
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_error_t e;
    json_t *j = json_loadb(line, n, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", e.text, line);
    assert_true(json_is_object(j));
    return j;
}

static void test_line_format(void **state)
{
    (void)state;
    log_init("mx", "debug");
    struct capture c;
    capture_start(&c);
    log_info("queued", "queue_id", "Q123", "client", "192.0.2.1");
    char *out = capture_end(&c);
    json_t *j = parse_line(out);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "service")), "mx");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "queued");
    assert_string_equal(json_string_value(json_object_get(j, "queue_id")), "Q123");
    assert_string_equal(json_string_value(json_object_get(j, "client")), "192.0.2.1");
    const char *ts = json_string_value(json_object_get(j, "ts"));
    assert_non_null(ts);
    /* 2026-11-22T07:00:00.123Z */
    assert_int_equal(strlen(ts), 24);
    int y, mo, d, h, mi, s, ms;
    char z;
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
    assert_int_equal(z, 'Z');
    assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
    /* key order: ts, level, service, msg first */
    assert_true(strncmp(out, "{\"ts\":\"", 7) == 0);
    assert_non_null(strstr(out, "\",\"level\":\"info\",\"service\":\"mx\",\"msg\":\"queued\""));
    json_decref(j);
    free(out);
}

struct esc_case {
    const char *in;
    const char *want;      /* decoded value expected from the JSON */
    const char *raw;       /* substring expected in the raw line, or NULL */
};

static void test_escaping(void **state)
{
    (void)state;
    static const struct esc_case cases[] = {
        { "quote\" back\\slash", "quote\" back\\slash", "quote\\\" back\\\\slash" },
        { "nl\ncr\rtab\t", "nl\ncr\rtab\t", "nl\\u000acr\\u000dtab\\u0009" },
        { "\x01\x1f\x7f", "\x01\x1f\x7f", "\\u0001\\u001f\\u007f" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", NULL },
        { "bad\xff\xc3(", "bad\xef\xbf\xbd\xef\xbf\xbd(", "bad\\ufffd\\ufffd(" },
        { "overlong\xc0\xaf", "overlong\xef\xbf\xbd\xef\xbf\xbd", NULL },
        { "surrogate\xed\xa0\x80", "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", NULL },
        { "cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd", NULL },
        { "", "", NULL },
    };
    log_init("t", "info");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct capture c;
        capture_start(&c);
        log_warn(cases[i].in, "rcpt", cases[i].in, "key\"x", "v");
        char *out = capture_end(&c);
        json_t *j = parse_line(out);
        assert_string_equal(json_string_value(json_object_get(j, "msg")), cases[i].want);
        assert_string_equal(json_string_value(json_object_get(j, "rcpt")), cases[i].want);
        assert_string_equal(json_string_value(json_object_get(j, "key\"x")), "v");
        if (cases[i].raw && strstr(out, cases[i].raw) == NULL)
            fail_msg("case %zu: %s not in %s", i, cases[i].raw, out);
        json_decref(j);
        free(out);
    }
}

static void test_level_filter(void **state)
{
    (void)state;
    static const struct {
        const char *level;
        int lines;      /* of debug, info, warn, error */
    } cases[] = {
        { "debug", 4 }, { "info", 3 }, { "warn", 2 }, { "WARNING", 2 }, { "error", 1 },
        { "nonsense", 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_init("t", cases[i].level);
        struct capture c;
        capture_start(&c);
        log_debug("d");
        log_info("i");
        log_warn("w");
        log_error("e");
        char *out = capture_end(&c);
        int n = 0;
        for (char *p = out; *p; p++)
            n += *p == '\n';
        assert_int_equal(n, cases[i].lines);
        free(out);
    }
    /* level from the environment when not given */
    setenv("MAILYARD_LOG_LEVEL", "error", 1);
    log_init("t", NULL);
    struct capture c;
    capture_start(&c);
    log_warn("hidden");
    char *out = capture_end(&c);
    assert_string_equal(out, "");
    free(out);
    unsetenv("MAILYARD_LOG_LEVEL");
    log_init("t", NULL);
}

static void test_truncation_and_null(void **state)
{
    (void)state;
    log_init("t", "info");
    size_t n = 100000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    struct capture c;
    capture_start(&c);
    log_info("big", "v", big, "odd", (char *)NULL);
    char *out = capture_end(&c);
    json_t *j = parse_line(out);
    const char *v = json_string_value(json_object_get(j, "v"));
    assert_non_null(v);
    assert_true(strlen(v) < 10000);
    assert_non_null(strstr(v, "..."));
    assert_true(json_is_null(json_object_get(j, "odd")));
    json_decref(j);
    free(out);
    free(big);
}

static void *spam(void *arg)
{
    const char *id = arg;
    char val[600];
    memset(val, id[0], sizeof val - 1);
    val[sizeof val - 1] = '\0';
    for (int i = 0; i < 300; i++)
        log_info("thread line", "job_id", id, "payload", val);
    return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
    (void)state;
    log_init("t", "info");
    static const char *const ids[] = { "a", "b", "c", "d" };
    pthread_t t[4];
    struct capture c;
    capture_start(&c);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, spam, (void *)ids[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end(&c);
    int lines = 0;
    for (char *p = out, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        char save = nl[1];
        nl[1] = '\0';
        json_t *j = parse_line(p);
        const char *id = json_string_value(json_object_get(j, "job_id"));
        const char *pl = json_string_value(json_object_get(j, "payload"));
        assert_true(id != NULL && pl != NULL && pl[0] == id[0] && pl[598] == id[0]);
        json_decref(j);
        nl[1] = save;
        lines++;
    }
    assert_int_equal(lines, 1200);
    free(out);
}

static void test_fatal_and_panic(void **state)
{
    (void)state;
    log_init("t", "error");     /* fatal/panic are never filtered */
    struct capture c;
    capture_start(&c);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        fatal("cannot open", "path", "/x");
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        panic("invariant broken");
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    char *out = capture_end(&c);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    char save = nl[1];
    nl[1] = '\0';
    json_t *j = parse_line(out);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "fatal");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/x");
    json_decref(j);
    nl[1] = save;
    j = parse_line(nl + 1);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "panic");
    json_decref(j);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_truncation_and_null),
        cmocka_unit_test(test_threads_do_not_interleave),
        cmocka_unit_test(test_fatal_and_panic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
