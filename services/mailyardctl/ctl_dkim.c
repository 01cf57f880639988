/*
 * ctl_dkim.c - offline DKIM and ARC commands of mailyardctl, for operators
 * and tests (docs/dkim-arc.md):
 *
 *   dkim-sign --key FILE --selector S --domain D [--headers a:b:c]
 *             [--timestamp T] MESSAGE            prints the signed message
 *   arc-seal  --key FILE --selector S --domain D --authserv-id ID
 *             [--auth-results TEXT] [--headers a:b:c] [--timestamp T]
 *             [--dns-records FILE] [--key-record NAME=TXT] MESSAGE
 *                                                prints the sealed message
 *   dkim-verify [--dns-records FILE] [--key-record NAME=TXT] MESSAGE
 *                                                one line per signature
 *   arc-verify  [--dns-records FILE] [--key-record NAME=TXT] MESSAGE
 *
 * Keys for verification come from --key-record (one "NAME=TXT" pair, e.g.
 * "sel._domainkey.example.test=v=DKIM1; k=rsa; p=..."), then from the
 * JSON records file (dns.h's file backend), then from the system resolver
 * when neither is given. MESSAGE "-" is standard input. The inserted
 * fields use the message's own line ends.
 *
 * Owns: the message bytes, the key and the resolver of one command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc.h"
#include "ctl.h"
#include "dkim.h"
#include "xalloc.h"

#define CTL_DKIM_MAX_MSG (64u * 1024 * 1024)

static int dkim_sign_cmd(ctl *c, int argc, char **argv);
static int arc_seal_cmd(ctl *c, int argc, char **argv);
static int dkim_verify_cmd(ctl *c, int argc, char **argv);
static int arc_verify_cmd(ctl *c, int argc, char **argv);

const ctl_cmd ctl_dkim_cmds[] = {
    { "dkim-sign", NULL, "dkim-sign --key FILE --selector S --domain D [--headers a:b:c] "
      "[--timestamp T] MESSAGE", dkim_sign_cmd },
    { "arc-seal", NULL, "arc-seal --key FILE --selector S --domain D --authserv-id ID "
      "[--auth-results TEXT] [--headers a:b:c] [--timestamp T] [--dns-records FILE] "
      "[--key-record NAME=TXT] MESSAGE", arc_seal_cmd },
    { "dkim-verify", NULL, "dkim-verify [--dns-records FILE] [--key-record NAME=TXT] MESSAGE",
      dkim_verify_cmd },
    { "arc-verify", NULL, "arc-verify [--dns-records FILE] [--key-record NAME=TXT] MESSAGE",
      arc_verify_cmd },
    { NULL, NULL, NULL, NULL },
};

typedef struct ctl_lookup {
    const char   *kr;      /* "NAME=TXT" or NULL (points into argv) */
    dns_resolver *dns;     /* owned, or NULL */
} ctl_lookup;

static char *
msg_read(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    buf b;
    char chunk[65536];
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "mailyardctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf_init(&b, CTL_DKIM_MAX_MSG);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, n) != 0) {
            fprintf(stderr, "mailyardctl: %s: message over %u bytes\n", path, CTL_DKIM_MAX_MSG);
            if (f != stdin)
                fclose(f);
            buf_release(&b);
            return NULL;
        }
    }
    if (f != stdin)
        fclose(f);
    {
        char *out = buf_steal(&b, len);
        buf_release(&b);
        return out;
    }
}

/* Writes s with "\r\n" turned into "\n" when the message uses bare LF. */
static void
put_eol(const char *s, int lf)
{
    for (; *s; s++) {
        if (lf && s[0] == '\r' && s[1] == '\n')
            continue;
        putchar(*s);
    }
}

static int
msg_uses_lf(const char *msg, size_t len)
{
    const char *nl = memchr(msg, '\n', len);
    return nl != NULL && (nl == msg || nl[-1] != '\r');
}

static enum dkim_lookup_status
ctl_lookup_fn(void *ctx, const char *name, char **recs, size_t max, size_t *n)
{
    ctl_lookup *l = ctx;

    *n = 0;
    if (l->kr != NULL) {
        const char *eq = strchr(l->kr, '=');
        if (eq != NULL && (size_t)(eq - l->kr) == strlen(name)
            && strncasecmp(l->kr, name, strlen(name)) == 0 && max > 0) {
            recs[0] = xstrdup(eq + 1);
            *n = 1;
            return DKIM_LOOKUP_OK;
        }
    }
    if (l->dns != NULL)
        return dkim_lookup_dns(l->dns, name, recs, max, n);
    return DKIM_LOOKUP_NONE;
}

static int
lookup_open(ctl_lookup *l, const char *records, const char *kr)
{
    char err[256];

    l->kr = kr;
    l->dns = NULL;
    if (records != NULL)
        l->dns = dns_resolver_create_file(records, err, sizeof(err));
    else if (kr == NULL)
        l->dns = dns_resolver_create_unbound("", 5000, NULL, err, sizeof(err));
    else
        return 0;
    if (l->dns == NULL) {
        fprintf(stderr, "mailyardctl: DNS: %s\n", err);
        return -1;
    }
    return 0;
}

static int
parse_ts(const char *s, time_t *t)
{
    char *end;
    long long v;

    *t = 0;
    if (s == NULL)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v <= 0) {
        fprintf(stderr, "mailyardctl: --timestamp must be a positive number\n");
        return -1;
    }
    *t = (time_t)v;
    return 0;
}

static int
dkim_sign_cmd(ctl *c, int argc, char **argv)
{
    static const char *usage = "dkim-sign --key FILE --selector S --domain D "
                               "[--headers a:b:c] [--timestamp T] MESSAGE";
    ctl_opt o[] = { { "--key", 1, NULL }, { "--selector", 1, NULL }, { "--domain", 1, NULL },
                    { "--headers", 1, NULL }, { "--timestamp", 1, NULL } };
    char *pos[1], *msg, *value = NULL, err[256];
    size_t len;
    dkim_key *key;
    time_t ts;
    int rc = CTL_ERR;

    (void)c;
    if (ctl_args_parse(argc, argv, o, 5, pos, 1) != 1 || o[0].value == NULL
        || o[1].value == NULL || o[2].value == NULL)
        return ctl_usage(usage);
    if (parse_ts(o[4].value, &ts) != 0)
        return CTL_USAGE;
    key = dkim_key_load_file(o[0].value, err, sizeof(err));
    if (key == NULL) {
        fprintf(stderr, "mailyardctl: %s\n", err);
        return CTL_ERR;
    }
    msg = msg_read(pos[0], &len);
    if (msg != NULL) {
        if (dkim_sign(key, o[2].value, o[1].value, o[3].value, ts, msg, len, &value,
                      err, sizeof(err)) != 0) {
            fprintf(stderr, "mailyardctl: dkim-sign: %s\n", err);
        } else {
            int lf = msg_uses_lf(msg, len);
            fputs("DKIM-Signature: ", stdout);
            put_eol(value, lf);
            fputs(lf ? "\n" : "\r\n", stdout);
            fwrite(msg, 1, len, stdout);
            rc = fflush(stdout) == 0 ? CTL_OK : CTL_ERR;
        }
    }
    free(value);
    free(msg);
    dkim_key_free(key);
    return rc;
}

static int
arc_seal_cmd(ctl *c, int argc, char **argv)
{
    static const char *usage = "arc-seal --key FILE --selector S --domain D --authserv-id ID "
        "[--auth-results TEXT] [--headers a:b:c] [--timestamp T] [--dns-records FILE] "
        "[--key-record NAME=TXT] MESSAGE";
    ctl_opt o[] = { { "--key", 1, NULL }, { "--selector", 1, NULL }, { "--domain", 1, NULL },
                    { "--authserv-id", 1, NULL }, { "--auth-results", 1, NULL },
                    { "--headers", 1, NULL }, { "--timestamp", 1, NULL },
                    { "--dns-records", 1, NULL }, { "--key-record", 1, NULL } };
    char *pos[1], *msg, *fields = NULL, err[256];
    size_t len;
    dkim_key *key;
    time_t ts;
    int rc = CTL_ERR, src;
    arc_result ar;
    ctl_lookup l = { 0 };

    (void)c;
    if (ctl_args_parse(argc, argv, o, 9, pos, 1) != 1 || o[0].value == NULL
        || o[1].value == NULL || o[2].value == NULL || o[3].value == NULL)
        return ctl_usage(usage);
    if (parse_ts(o[6].value, &ts) != 0)
        return CTL_USAGE;
    key = dkim_key_load_file(o[0].value, err, sizeof(err));
    if (key == NULL) {
        fprintf(stderr, "mailyardctl: %s\n", err);
        return CTL_ERR;
    }
    msg = msg_read(pos[0], &len);
    if (msg == NULL || lookup_open(&l, o[7].value, o[8].value) != 0)
        goto out;
    if (arc_verify_message_cb(ctl_lookup_fn, &l, msg, len, time(NULL), &ar) != 0) {
        fprintf(stderr, "mailyardctl: arc-seal: %s\n", ar.reason);
        goto out;
    }
    src = arc_seal(key, o[2].value, o[1].value, o[3].value, o[4].value, ts, o[5].value,
                   ar.cv, msg, len, &fields, err, sizeof(err));
    if (src != 0) {
        fprintf(stderr, "mailyardctl: arc-seal: %s%s%s\n", src == 1 ? "not sealed: " : "",
                err, ar.reason[0] ? "" : "");
        goto out;
    }
    if (ar.instances > 0)
        fprintf(stderr, "mailyardctl: arc-seal: incoming chain cv=%s%s%s\n", ar.cv,
                ar.reason[0] ? ": " : "", ar.reason);
    put_eol(fields, msg_uses_lf(msg, len));
    fwrite(msg, 1, len, stdout);
    rc = fflush(stdout) == 0 ? CTL_OK : CTL_ERR;
out:
    free(fields);
    free(msg);
    dkim_key_free(key);
    dns_resolver_free(l.dns);
    return rc;
}

static int
verify_open(int argc, char **argv, const char *usage, ctl_lookup *l, char **msg, size_t *len)
{
    ctl_opt o[] = { { "--dns-records", 1, NULL }, { "--key-record", 1, NULL } };
    char *pos[1];

    if (ctl_args_parse(argc, argv, o, 2, pos, 1) != 1)
        return ctl_usage(usage);
    *msg = msg_read(pos[0], len);
    if (*msg == NULL)
        return CTL_ERR;
    if (lookup_open(l, o[0].value, o[1].value) != 0) {
        free(*msg);
        return CTL_ERR;
    }
    return CTL_OK;
}

static int
dkim_verify_cmd(ctl *c, int argc, char **argv)
{
    ctl_lookup l = { 0 };
    char *msg;
    size_t len, n;
    dkim_result *res;
    int rc;

    (void)c;
    rc = verify_open(argc, argv, "dkim-verify [--dns-records FILE] [--key-record NAME=TXT] "
                     "MESSAGE", &l, &msg, &len);
    if (rc != CTL_OK)
        return rc;
    if (dkim_verify_message_cb(ctl_lookup_fn, &l, msg, len, time(NULL), &res, &n) != 0) {
        fprintf(stderr, "mailyardctl: dkim-verify: the header section cannot be parsed\n");
        rc = CTL_ERR;
    } else if (n == 0) {
        printf("dkim=none\n");
    }
    for (size_t i = 0; rc == CTL_OK && i < n; i++)
        printf("dkim=%s d=%s s=%s a=%s b=%s%s%s\n", res[i].result, res[i].domain,
               res[i].selector, res[i].algo, res[i].header_b,
               res[i].reason[0] ? " reason=" : "", res[i].reason);
    if (rc == CTL_OK)
        free(res);
    free(msg);
    dns_resolver_free(l.dns);
    return rc;
}

static int
arc_verify_cmd(ctl *c, int argc, char **argv)
{
    ctl_lookup l = { 0 };
    char *msg;
    size_t len;
    arc_result ar;
    int rc;

    (void)c;
    rc = verify_open(argc, argv, "arc-verify [--dns-records FILE] [--key-record NAME=TXT] "
                     "MESSAGE", &l, &msg, &len);
    if (rc != CTL_OK)
        return rc;
    arc_verify_message_cb(ctl_lookup_fn, &l, msg, len, time(NULL), &ar);
    printf("arc=%s instances=%d oldest-pass=%d d=%s%s%s\n", ar.cv, ar.instances,
           ar.oldest_pass, ar.domain, ar.reason[0] ? " reason=" : "", ar.reason);
    free(msg);
    dns_resolver_free(l.dns);
    return CTL_OK;
}
