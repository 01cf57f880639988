/*
 * test_relay_maildir.c - unit tests for the relay's Maildir transport
 * (services/relay/relay_maildir.c): unique names, the
 * tmp -> new protocol and the prepended envelope headers, in a temporary
 * directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../services/relay/relay_maildir.c"
#include "../../services/relay/relay_dns.c"

#include <dirent.h>
#include <stdlib.h>

static void test_name(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(relay_maildir_name(out, sizeof(out), 1700000000, 4242, 1, 7,
                                        "mx.example"), 0);
    assert_string_equal(out, "1700000000.4242_1_7.mx.example");
    assert_int_equal(relay_maildir_name(out, sizeof(out), 5, 1, 0, 0, "a/b:c"), 0);
    assert_string_equal(out, "5.1_0_0.a\\057b\\072c");
    char small[12];
    assert_int_equal(relay_maildir_name(small, sizeof(small), 1700000000, 4242, 1, 7, "h"), -1);
    char exact[19];   /* "1700000000.1_0_0.h" is 18 chars */
    assert_int_equal(relay_maildir_name(exact, sizeof(exact), 1700000000, 1, 0, 0, "h"), 0);
    assert_int_equal(relay_maildir_name(exact, 18, 1700000000, 1, 0, 0, "h"), -1);
}

static void test_deliver(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_relay_maildir.XXXXXX";
    char err[256], path[800];
    assert_non_null(mkdtemp(dir));
    char md[600];
    snprintf(md, sizeof(md), "%s/Maildir", dir);
    assert_int_equal(relay_maildir_prepare(md, err, sizeof(err)), 0);
    assert_int_equal(relay_maildir_prepare(md, err, sizeof(err)), 0);   /* idempotent */
    const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
    assert_int_equal(relay_maildir_deliver(md, "1.2_0_0.h", "s@x.example", "r@y.example", msg,
                                           sizeof(msg) - 1, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/new/1.2_0_0.h", md);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char got[256];
    size_t n = fread(got, 1, sizeof(got), f);
    fclose(f);
    const char want[] = "Return-Path: <s@x.example>\r\nDelivered-To: r@y.example\r\n"
                        "Subject: hi\r\n\r\nbody\r\n";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(got, want, n);
    /* tmp/ is empty again */
    snprintf(path, sizeof(path), "%s/tmp", md);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            files++;
    closedir(d);
    assert_int_equal(files, 0);
    /* the same name twice is refused (O_EXCL), a line break too */
    assert_int_equal(relay_maildir_deliver(md, "1.2_0_0.h", "", "r@y", msg, 3, err,
                                           sizeof(err)), 0);   /* tmp is free again */
    assert_int_equal(relay_maildir_deliver(md, "x", "a\r\nB: c", "r@y", msg, 3, err,
                                           sizeof(err)), -1);
    /* a file where a directory should be */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/new/1.2_0_0.h", md);
    assert_int_equal(relay_maildir_prepare(bad, err, sizeof(err)), -1);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_deliver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
