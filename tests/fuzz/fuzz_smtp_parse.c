/*
 * fuzz_smtp_parse.c - libFuzzer target for services/mx/smtp_parse.c: the
 * command line, MAIL/RCPT paths with ESMTP parameters (SIZE, BODY,
 * SMTPUTF8, RET, ENVID, NOTIFY, ORCPT) and BDAT arguments.
 *
 * Checks: no crash on any line; an accepted command has a known verb and
 * an argument shorter than the line; accepted paths and DSN values respect
 * their limits; ENVID and ORCPT decode to printable ASCII only; a path with
 * non-ASCII octets is accepted only with SMTPUTF8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/mx/smtp_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            abort();
}

static int fuzz_has8(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SMTP_LINE_MAX)
        return 0;
    smtp_cmd c;
    if (smtp_cmd_parse((const char *)data, size, &c) != SMTP_PARSE_OK)
        return 0;
    if (c.verb == SMTP_VERB_UNKNOWN || c.arg_len >= size + 1 || strlen(c.arg) != c.arg_len)
        abort();
    if (c.verb == SMTP_VERB_MAIL) {
        smtp_mail_args a;
        if (smtp_mail_parse(c.arg, 1, &a) == SMTP_PATH_OK) {
            if (strlen(a.addr) > SMTP_PATH_MAX || strlen(a.envid) > SMTP_ENVID_MAX)
                abort();
            fuzz_printable(a.envid);
            if (fuzz_has8(a.addr) && !a.smtputf8)
                abort();
        }
    } else if (c.verb == SMTP_VERB_RCPT) {
        smtp_rcpt_args r;
        int utf8_ok = size & 1;
        if (smtp_rcpt_parse(c.arg, 1, utf8_ok, &r) == SMTP_PATH_OK) {
            if (r.addr[0] == '\0' || strlen(r.addr) > SMTP_PATH_MAX ||
                strlen(r.orcpt) > SMTP_ORCPT_MAX)
                abort();
            fuzz_printable(r.orcpt);
            if (fuzz_has8(r.addr) && !utf8_ok)
                abort();
            if ((r.notify & SMTP_NOTIFY_NEVER) && r.notify != SMTP_NOTIFY_NEVER)
                abort();
            char n[64];
            smtp_notify_format(r.notify, n, sizeof n);
        }
    } else if (c.verb == SMTP_VERB_BDAT) {
        unsigned long long n;
        int last;
        (void)smtp_bdat_parse(c.arg, &n, &last);
    } else if (c.verb == SMTP_VERB_EHLO || c.verb == SMTP_VERB_HELO) {
        (void)smtp_helo_valid(c.arg);
    }
    return 0;
}
