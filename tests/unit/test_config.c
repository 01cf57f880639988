/*
 * test_config.c - unit tests for libcommon/config.c: precedence (env >
 * file > default), file syntax, numbers and booleans, secrets from files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

/* Writes len bytes of data to a new temp file; path into out (size 64). */
static void write_tmp(char *out, const char *data, size_t len)
{
    snprintf(out, 64, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static config *load_file(const char *text, char *path)
{
    write_tmp(path, text, strlen(text));
    setenv("MAILYARD_CONFIG_FILE", path, 1);
    char err[256] = "";
    config *c = config_load(err, sizeof err);
    unsetenv("MAILYARD_CONFIG_FILE");
    return c;
}

static void test_precedence(void **state)
{
    (void)state;
    char path[64];
    unsetenv("MAILYARD_T_A");
    unsetenv("MAILYARD_T_B");
    config *c = load_file("# comment\n\nMAILYARD_T_A=from file\r\n  MAILYARD_T_B=b=c\n"
                          "MAILYARD_T_EMPTY=\nMAILYARD_T_DUP=1\nMAILYARD_T_DUP=2", path);
    assert_non_null(c);
    assert_string_equal(config_get(c, "MAILYARD_T_A", "def"), "from file");
    assert_string_equal(config_get(c, "MAILYARD_T_B", "def"), "b=c");
    assert_string_equal(config_get(c, "MAILYARD_T_EMPTY", "def"), "");
    assert_string_equal(config_get(c, "MAILYARD_T_DUP", "def"), "2");
    assert_string_equal(config_get(c, "MAILYARD_T_NONE", "def"), "def");
    assert_null(config_get(c, "MAILYARD_T_NONE", NULL));
    setenv("MAILYARD_T_A", "from env", 1);
    assert_string_equal(config_get(c, "MAILYARD_T_A", "def"), "from env");
    unsetenv("MAILYARD_T_A");
    config_free(c);
    unlink(path);
    /* no file at all: env and defaults */
    char err[256];
    c = config_load(err, sizeof err);
    assert_non_null(c);
    assert_string_equal(config_get(c, "MAILYARD_T_A", "d"), "d");
    config_free(c);
    config_free(NULL);
    assert_string_equal(config_get(NULL, "MAILYARD_T_A", "d"), "d");
}

static void test_bad_files(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "MAILYARD_X\n", "=value\n", "MAILYARD X=1\n", "1ABC=2\n", "ok=1\nnot a line\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[64];
        config *c = load_file(bad[i], path);
        if (c != NULL)
            fail_msg("accepted bad file %zu", i);
        unlink(path);
    }
    char err[256] = "";
    setenv("MAILYARD_CONFIG_FILE", "/nonexistent/mailyard.conf", 1);
    assert_null(config_load(err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/mailyard.conf"));
    /* over 64 KiB */
    size_t n = 64 * 1024 + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    char path[64];
    write_tmp(path, big, n);
    setenv("MAILYARD_CONFIG_FILE", path, 1);
    assert_null(config_load(err, sizeof err));
    unlink(path);
    write_tmp(path, big, n - 1);    /* exactly 64 KiB of comment is fine */
    setenv("MAILYARD_CONFIG_FILE", path, 1);
    config *c = config_load(err, sizeof err);
    if (c == NULL)
        fail_msg("64 KiB file refused: %s", err);
    config_free(c);
    unlink(path);
    unsetenv("MAILYARD_CONFIG_FILE");
    free(big);
}

struct num_case {
    const char *value;  /* NULL: unset */
    long        want_long;
    int         want_bool;
};

static void test_numbers_bools(void **state)
{
    (void)state;
    static const struct num_case cases[] = {
        { NULL, 7, 1 }, { "42", 42, 1 }, { "-3", -3, 1 }, { "12x", 7, 1 }, { "", 7, 1 },
        { "99999999999999999999999", 7, 1 }, { "true", 7, 1 }, { "YES", 7, 1 },
        { "on", 7, 1 }, { "1", 1, 1 }, { "0", 0, 0 }, { "false", 7, 0 }, { "No", 7, 0 },
        { "off", 7, 0 }, { "maybe", 7, 1 },
    };
    log_init("test", "error");    /* keep the "malformed value" warnings quiet */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].value)
            setenv("MAILYARD_T_N", cases[i].value, 1);
        else
            unsetenv("MAILYARD_T_N");
        assert_int_equal(config_get_long(NULL, "MAILYARD_T_N", 7), cases[i].want_long);
        assert_int_equal(config_get_bool(NULL, "MAILYARD_T_N", 1), cases[i].want_bool);
    }
    setenv("MAILYARD_T_N", "maybe", 1);
    assert_int_equal(config_get_bool(NULL, "MAILYARD_T_N", 0), 0);
    unsetenv("MAILYARD_T_N");
}

struct secret_case {
    const char *content;
    size_t      len;
    const char *want;       /* NULL: refused */
};

static void test_secrets(void **state)
{
    (void)state;
    static const struct secret_case cases[] = {
        { "s3cret\n", 7, "s3cret" },
        { "s3cret\r\n", 8, "s3cret" },
        { "s3cret", 6, "s3cret" },
        { "s3cret\n\n", 8, "s3cret\n" },     /* only one newline is stripped */
        { " spaced \n", 9, " spaced " },
        { "\n", 1, NULL },                     /* empty secret */
        { "", 0, NULL },
        { "a\0b\n", 4, NULL },                 /* NUL byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[64], err[256] = "";
        write_tmp(path, cases[i].content, cases[i].len);
        setenv("MAILYARD_T_SECRET_FILE", path, 1);
        char *s = config_secret(NULL, "MAILYARD_T_SECRET_FILE", err, sizeof err);
        if (cases[i].want == NULL) {
            assert_null(s);
            assert_true(err[0] != '\0');
        } else {
            assert_non_null(s);
            assert_string_equal(s, cases[i].want);
        }
        config_secret_free(s);
        unlink(path);
    }
    char err[256] = "";
    unsetenv("MAILYARD_T_SECRET_FILE");
    assert_null(config_secret(NULL, "MAILYARD_T_SECRET_FILE", err, sizeof err));
    assert_non_null(strstr(err, "MAILYARD_T_SECRET_FILE"));
    setenv("MAILYARD_T_SECRET_FILE", "/nonexistent/secret", 1);
    assert_null(config_secret(NULL, "MAILYARD_T_SECRET_FILE", err, sizeof err));
    setenv("MAILYARD_T_SECRET_FILE", "/tmp", 1);      /* a directory */
    assert_null(config_secret(NULL, "MAILYARD_T_SECRET_FILE", err, sizeof err));
    unsetenv("MAILYARD_T_SECRET_FILE");
    config_secret_free(NULL);

    /* the secret's path may come from the config file too; secrets over
     * 64 KiB are refused */
    char spath[64], cpath[64], text[128];
    size_t n = 64 * 1024 + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'k', n);
    write_tmp(spath, big, n);
    free(big);
    snprintf(text, sizeof text, "MAILYARD_T_BIG_FILE=%s\n", spath);
    config *c = load_file(text, cpath);
    assert_non_null(c);
    assert_null(config_secret(c, "MAILYARD_T_BIG_FILE", err, sizeof err));
    assert_null(strstr(err, "kkkk"));       /* content never in messages */
    config_free(c);
    unlink(spath);
    unlink(cpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_numbers_bools),
        cmocka_unit_test(test_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
