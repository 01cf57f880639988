/*
 * test_relay_dkim_files.c - unit tests for DKIM keys from files
 * (services/relay/relay_dkim_files.c): the <domain>.<selector>.key names,
 * loading a directory (a key made here with OpenSSL), lookups by domain and
 * algorithm, the listing without private material, and an unusable key
 * file refusing the whole directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../services/relay/relay_dkim_files.c"
#include "../../services/relay/relay_dkim_keygen.c"

static void test_names(void **state)
{
    (void)state;
    char d[RELAY_DKIM_DOMAIN_MAX + 1], s[RELAY_DKIM_SELECTOR_MAX + 1];
    assert_int_equal(files_name_split("Example.TEST.sel-1.key", d, s), 0);
    assert_string_equal(d, "example.test");
    assert_string_equal(s, "sel-1");
    assert_int_equal(files_name_split("a.b.key", d, s), 0);
    assert_string_equal(d, "a");
    assert_string_equal(s, "b");
    assert_int_equal(files_name_split("nodomain.key", d, s), -1);
    assert_int_equal(files_name_split(".sel.key", d, s), -1);
    assert_int_equal(files_name_split("a.test..key", d, s), -1);
    assert_int_equal(files_name_split("a.test.sel.pem", d, s), -1);
    assert_int_equal(files_name_split("a te.st.sel.key", d, s), -1);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_find_list(void **state)
{
    (void)state;
    char dir[] = "/tmp/dkimfiles-XXXXXX", path[512], err[256];
    assert_non_null(mkdtemp(dir));
    char *pem = NULL, *txt = NULL;
    assert_int_equal(relay_dkim_keygen("ed25519-sha256", &pem, &txt, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/ours.test.s1.key", dir);
    write_file(path, pem);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_file(path, "skip me");

    relay_dkim_files *f = relay_dkim_files_load(dir, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(f->n, 1);
    assert_non_null(relay_dkim_files_find(f, "OURS.test", DKIM_ALGO_ED25519_SHA256));
    assert_null(relay_dkim_files_find(f, "ours.test", DKIM_ALGO_RSA_SHA256));
    json_t *j = relay_dkim_files_json(f, NULL);
    assert_int_equal(json_array_size(j), 1);
    char *dump = json_dumps(j, 0);
    assert_non_null(strstr(dump, "s1._domainkey.ours.test IN TXT"));
    assert_non_null(strstr(dump, txt));
    assert_null(strstr(dump, "PRIVATE"));
    free(dump);
    json_decref(j);
    j = relay_dkim_files_json(f, "other.test");
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    relay_dkim_files_free(f);

    /* a broken key file refuses the directory, naming the file */
    snprintf(path, sizeof(path), "%s/ours.test.bad.key", dir);
    write_file(path, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n");
    assert_null(relay_dkim_files_load(dir, err, sizeof(err)));
    assert_non_null(strstr(err, "ours.test.bad.key"));
    assert_null(relay_dkim_files_load("/nonexistent-dkim-dir", err, sizeof(err)));

    unlink(path);
    snprintf(path, sizeof(path), "%s/ours.test.s1.key", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    unlink(path);
    rmdir(dir);
    relay_dkim_pem_free(pem);
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_load_find_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
