/*
 * fuzz_spf.c - libFuzzer target for the SPF record parser and macro
 * expander (libcommon/spf_parse.c, spf_macro.c).
 *
 * The input is parsed as an SPF record (with "v=spf1 " put in front when it
 * lacks it, so most inputs reach the term parser); every domain-spec of a
 * parsed record must expand without crashing, and a spec the parser
 * accepted must be a valid macro-string. The macro context has no
 * resolver, so %{p} expands to "unknown" without DNS.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 8), err[160], out[1024];
    spf_record *r = NULL;
    spf_macro_ctx m = {
        .sender = "strong-bad@email.example.com", .domain = "email.example.com",
        .helo = "mx.example.org", .receiver = "mx.test", .now = 1700000000,
        .ip = { 192, 0, 2, 3 },
    };
    size_t len = size;

    if (text == NULL || size > 4096) {
        free(text);
        return 0;
    }
    if (size >= 6 && memcmp(data, "v=spf1", 6) == 0) {
        memcpy(text, data, size);
    } else {
        memcpy(text, "v=spf1 ", 7);
        memcpy(text + 7, data, size);
        len = size + 7;
    }
    text[len] = '\0';
    if (spf_record_parse(text, len, &r, err, sizeof(err)) == 0) {
        if (r->n > SPF_MAX_TERMS)
            abort();
        for (size_t i = 0; i < r->n; i++) {
            const spf_term *t = &r->terms[i];
            if (t->cidr4 < 0 || t->cidr4 > 32 || t->cidr6 < 0 || t->cidr6 > 128)
                abort();
            if (t->spec != NULL) {
                if (!spf_macro_valid(t->spec, strlen(t->spec), 0))
                    abort();
                (void)spf_macro_expand(t->spec, &m, 0, out, sizeof(out));
                m.ipv6 = !m.ipv6;
                (void)spf_macro_expand(t->spec, &m, 0, out, sizeof(out));
            }
        }
        if (r->redirect != NULL)
            (void)spf_macro_expand(r->redirect, &m, 0, out, sizeof(out));
        if (r->exp != NULL)
            (void)spf_macro_expand(r->exp, &m, 0, out, sizeof(out));
        spf_record_free(r);
    }
    /* the raw input as an explanation string */
    if (memchr(data, '\0', size) == NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
        if (spf_macro_expand(text, &m, 1, out, sizeof(out)) == 0 && strlen(out) >= sizeof(out))
            abort();
        (void)spf_macro_expand(text, &m, 0, out, 16);
    }
    free(text);
    return 0;
}
