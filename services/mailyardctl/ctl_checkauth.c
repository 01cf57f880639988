/*
 * ctl_checkauth.c - "mailyardctl check-auth": verify a message file offline
 * with the same code as mx (libcommon/auth.h): SPF, DKIM, DMARC, ARC.
 *
 *   check-auth [--ip IP] [--helo NAME] [--mail-from ADDR]
 *              [--only spf|dkim|dmarc|arc] [--dns-records FILE]
 *              [--authserv-id ID] MESSAGE_FILE|-
 *
 * DNS comes from the JSON records file (dns.h) or, without one, from
 * libunbound with MAILYARD_DNS_SERVERS and MAILYARD_DNS_TIMEOUT_MS.
 * Prints one "method=result" line per method, then the
 * "Authentication-Results: ..." line (with --json one object instead).
 * Exit 0 when the check ran (whatever the results), 1 on an unreadable
 * message or bad records file, 2 on usage. Needs no token and no service.
 *
 * Owns: the message bytes, the resolver and the results, for the call.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "ctl.h"
#include "dns.h"

#define CHECKAUTH_MAX_MSG (64u << 20)
#define CHECKAUTH_USAGE \
    "check-auth [--ip IP] [--helo NAME] [--mail-from ADDR] [--only spf|dkim|dmarc|arc] " \
    "[--dns-records FILE] [--authserv-id ID] MESSAGE_FILE|-"

static int checkauth_cmd(ctl *c, int argc, char **argv);
static int checkauth_read(const char *path, buf *out);
static void checkauth_print(const ctl *c, const auth_results *r);

const ctl_cmd ctl_checkauth_cmds[] = {
    { "check-auth", NULL, CHECKAUTH_USAGE, checkauth_cmd },
    { NULL, NULL, NULL, NULL },
};

static int checkauth_read(const char *path, buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "mailyardctl: check-auth: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(out, chunk, n) != 0) {
            fprintf(stderr, "mailyardctl: check-auth: %s: larger than %u bytes\n", path,
                    CHECKAUTH_MAX_MSG);
            rc = -1;
            break;
        }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "mailyardctl: check-auth: %s: read error\n", path);
        rc = -1;
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

static void checkauth_print(const ctl *c, const auth_results *r)
{
    static const struct { unsigned m; const char *name; } order[] = {
        { AUTH_SPF, "spf" }, { AUTH_DKIM, "dkim" }, { AUTH_DMARC, "dmarc" }, { AUTH_ARC, "arc" },
    };
    const char *res[4] = {
        auth_spf_text(r), auth_dkim_text(r), auth_dmarc_text(r), auth_arc_text(r),
    };

    if (c->json) {
        json_t *o = json_object();
        for (size_t k = 0; k < 4; k++)
            if (r->ran & order[k].m)
                json_object_set_new(o, order[k].name, json_string(res[k]));
        if (r->ran & AUTH_DMARC)
            json_object_set_new(o, "dmarc_policy",
                                json_string(dmarc_policy_text(r->dmarc.policy)));
        json_object_set_new(o, "authentication_results", json_string(r->header));
        char *s = json_dumps(o, JSON_COMPACT);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    for (size_t k = 0; k < 4; k++)
        if (r->ran & order[k].m)
            printf("%s=%s\n", order[k].name, res[k]);
    printf("Authentication-Results: %s\n", r->header);
}

static int checkauth_cmd(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = {
        { "--ip", 1, NULL }, { "--helo", 1, NULL }, { "--mail-from", 1, NULL },
        { "--only", 1, NULL }, { "--dns-records", 1, NULL }, { "--authserv-id", 1, NULL },
    };
    char *pos[1], err[512] = "";
    unsigned methods = AUTH_ALL;
    dns_resolver *dns;
    auth_results res;
    buf msg;
    int rc;

    if (ctl_args_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, 1) != 1)
        return ctl_usage(CHECKAUTH_USAGE);
    if (opts[3].value != NULL) {
        const char *o = opts[3].value;
        methods = strcmp(o, "spf") == 0 ? AUTH_SPF : strcmp(o, "dkim") == 0 ? AUTH_DKIM
                : strcmp(o, "dmarc") == 0 ? AUTH_DMARC : strcmp(o, "arc") == 0 ? AUTH_ARC : 0;
        if (methods == 0) {
            fprintf(stderr, "mailyardctl: --only takes spf, dkim, dmarc or arc\n");
            return ctl_usage(CHECKAUTH_USAGE);
        }
    }
    buf_init(&msg, CHECKAUTH_MAX_MSG);
    if (checkauth_read(pos[0], &msg) != 0) {
        buf_release(&msg);
        return CTL_ERR;
    }
    if (opts[4].value != NULL)
        dns = dns_resolver_create_file(opts[4].value, err, sizeof(err));
    else
        dns = dns_resolver_create_unbound(
            config_get(c->cfg, "MAILYARD_DNS_SERVERS", ""),
            (int)config_get_long(c->cfg, "MAILYARD_DNS_TIMEOUT_MS", 5000), NULL,
            err, sizeof(err));
    if (dns == NULL) {
        fprintf(stderr, "mailyardctl: check-auth: %s\n", err);
        buf_release(&msg);
        return CTL_ERR;
    }
    auth_input in = {
        .ip = opts[0].value, .helo = opts[1].value,
        .mail_from = opts[2].value ? opts[2].value : "",
        .msg = msg.data, .len = msg.len,
        .authserv_id = opts[5].value ? opts[5].value : "localhost",
        .now = time(NULL), .methods = methods, .fold = 0,
    };
    rc = auth_check(dns, &in, &res);
    if (rc == 0)
        checkauth_print(c, &res);
    else
        fprintf(stderr, "mailyardctl: check-auth: cannot check the message\n");
    auth_results_release(&res);
    dns_resolver_free(dns);
    buf_release(&msg);
    return rc == 0 ? CTL_OK : CTL_ERR;
}
