/*
 * fuzz_smtp_sasl.c - libFuzzer target for the submission parsers of mx:
 * services/mx/smtp_sasl.c (strict base64, AUTH PLAIN/LOGIN exchanges) and
 * services/mx/smtp_submit_from.c (the mailboxes of a From: value).
 *
 * Input: the first byte picks the target, the rest is split at '\n' into
 * lines (the AUTH argument, then response lines).
 * Checks: no crash; decoded base64 re-encodes to the input; a finished
 * exchange has a user and password within the limits and without NUL; a
 * failed one leaves them wiped; From: results are lower-case mailboxes
 * with an '@' and within max.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/mx/smtp_sasl.c"
#include "../../services/mx/smtp_submit_from.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_b64(const char *p, size_t n)
{
    unsigned char out[1024];
    char enc[2048];
    long k = smtp_sasl_b64_decode(p, n, out, sizeof out);
    if (k < 0)
        return;
    if (smtp_sasl_b64_encode(out, (size_t)k, enc, sizeof enc) != 0 || strlen(enc) != n ||
        memcmp(enc, p, n) != 0)
        abort();                           /* canonical: decode then encode is identity */
}

static void fuzz_exchange(const char *p, size_t n)
{
    smtp_sasl x = { 0 };
    char ch[SMTP_SASL_CHALLENGE_MAX];
    const char *nl = memchr(p, '\n', n);
    size_t l = nl ? (size_t)(nl - p) : n;
    char line[600];
    if (l >= sizeof line)
        return;
    memcpy(line, p, l);
    line[l] = '\0';
    if (strlen(line) != l)
        return;                            /* the session never feeds NUL */
    enum smtp_sasl_result r = smtp_sasl_start(&x, line, ch, sizeof ch);
    while (r == SMTP_SASL_CONTINUE && nl != NULL) {
        p = nl + 1;
        n -= l + 1;
        nl = memchr(p, '\n', n);
        l = nl ? (size_t)(nl - p) : n;
        r = smtp_sasl_step(&x, p, l, ch, sizeof ch);
    }
    if (r == SMTP_SASL_DONE) {
        size_t ul = strlen(x.user), pl = strlen(x.pass);
        if (ul == 0 || pl == 0 || ul > SMTP_SASL_FIELD_MAX || pl > SMTP_SASL_FIELD_MAX)
            abort();
    } else if (r != SMTP_SASL_CONTINUE && (x.pass[0] != '\0' || smtp_sasl_active(&x))) {
        abort();
    }
    smtp_sasl_clear(&x);
}

static void fuzz_from(const char *p, size_t n)
{
    char v[2048];
    char out[4][SMTP_PATH_MAX + 1];
    if (n >= sizeof v)
        return;
    memcpy(v, p, n);
    v[n] = '\0';
    int k = smtp_submit_from_parse(v, out, 4);
    if (k > 4)
        abort();
    for (int i = 0; i < k; i++) {
        if (strchr(out[i], '@') == NULL)
            abort();
        for (const char *c = out[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: fuzz_b64(p, n); break;
    case 1: fuzz_exchange(p, n); break;
    default: fuzz_from(p, n); break;
    }
    return 0;
}
