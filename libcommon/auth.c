/*
 * auth.c - run SPF, DKIM, DMARC and ARC on one message and build the
 * Authentication-Results value (see auth.h).
 *
 * Owns: the results it fills (auth_results_release).
 * SECURITY: the message is peer input: its header section is parsed with
 * limits (AUTH_MAX_FIELDS, AUTH_MAX_FIELD_LEN); a message whose header
 * cannot be parsed or has not exactly one From field gets
 * dmarc=permerror, never a crash.
 * STANDARDS: RFC 7208, 6376, 7489 (+ DMARCbis), 8617, 8601.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "authres.h"
#include "hdr.h"
#include "xalloc.h"

#define AUTH_MAX_FIELDS    1000
#define AUTH_MAX_FIELD_LEN (64 * 1024)

static void auth_from_domain(const auth_input *in, char *out, size_t outlen,
                             char *why, size_t whylen);
static void auth_dmarc(dns_resolver *dns, const auth_input *in, auth_results *out);
static char *auth_header(const auth_input *in, const auth_results *r);

int auth_check(dns_resolver *dns, const auth_input *in, auth_results *out)
{
    unsigned want = in->methods ? in->methods : AUTH_ALL;
    unsigned run = want;

    memset(out, 0, sizeof(*out));
    if (dns == NULL || in->msg == NULL)
        return -1;
    if (want & AUTH_DMARC)
        run |= AUTH_SPF | AUTH_DKIM;
    if (run & AUTH_SPF) {
        spf_request req = {
            .ip = in->ip, .helo = in->helo, .mail_from = in->mail_from,
            .receiver = in->authserv_id, .now = in->now,
        };
        (void)spf_check(dns, &req, &out->spf);
    }
    if (run & AUTH_DKIM) {
        if (dkim_verify_message(dns, in->msg, in->len, in->now, &out->dkim, &out->ndkim) != 0) {
            out->dkim = NULL;
            out->ndkim = 0;
        }
    }
    if (want & AUTH_DMARC)
        auth_dmarc(dns, in, out);
    (void)str_copy(out->arc.cv, sizeof(out->arc.cv), "none");
    if (want & AUTH_ARC) {
        if (arc_verify_message(dns, in->msg, in->len, in->now, &out->arc) != 0)
            (void)str_copy(out->arc.cv, sizeof(out->arc.cv), "none");
    }
    out->ran = want;
    out->header = auth_header(in, out);
    return 0;
}

void auth_results_release(auth_results *r)
{
    if (r == NULL)
        return;
    free(r->dkim);
    r->dkim = NULL;
    r->ndkim = 0;
    free(r->header);
    r->header = NULL;
}

const char *auth_spf_text(const auth_results *r)
{
    return spf_result_text(r->spf.result);
}

const char *auth_dkim_text(const auth_results *r)
{
    if (r->ndkim == 0)
        return "none";
    for (size_t k = 0; k < r->ndkim; k++)
        if (strcmp(r->dkim[k].result, "pass") == 0)
            return "pass";
    for (size_t k = 0; k < r->ndkim; k++)
        if (strcmp(r->dkim[k].result, "temperror") == 0)
            return "temperror";
    return r->dkim[0].result;
}

const char *auth_dmarc_text(const auth_results *r)
{
    return dmarc_result_text(r->dmarc.result);
}

const char *auth_arc_text(const auth_results *r)
{
    return r->arc.cv[0] ? r->arc.cv : "none";
}

/* The single From domain; out is "" with why set when there is none. */
static void auth_from_domain(const auth_input *in, char *out, size_t outlen,
                             char *why, size_t whylen)
{
    enum hdr_error herr;
    hdr_msg *m = hdr_parse(in->msg, in->len, AUTH_MAX_FIELDS, AUTH_MAX_FIELD_LEN, &herr);
    char *v;
    int rc;

    out[0] = '\0';
    if (m == NULL) {
        (void)str_copy(why, whylen, "header section cannot be parsed");
        return;
    }
    if (hdr_count(m, "From") != 1) {
        (void)str_copy(why, whylen, hdr_count(m, "From") == 0 ? "no From field"
                                                               : "more than one From field");
        hdr_msg_free(m);
        return;
    }
    v = hdr_get_value(m, "From");
    rc = v ? dmarc_from_domain(v, out, outlen) : -1;
    if (rc != 0) {
        out[0] = '\0';
        (void)str_copy(why, whylen, rc == -2 ? "From addresses of several domains"
                                             : "no address in From");
    }
    free(v);
    hdr_msg_free(m);
}

static void auth_dmarc(dns_resolver *dns, const auth_input *in, auth_results *out)
{
    char from[256], why[160] = "";
    dmarc_ident spf = { out->spf.domain, out->spf.result == SPF_PASS };
    dmarc_ident dk[DKIM_MAX_SIGS];
    size_t nd = 0;

    auth_from_domain(in, from, sizeof(from), why, sizeof(why));
    if (from[0] == '\0') {
        memset(&out->dmarc, 0, sizeof(out->dmarc));
        out->dmarc.result = DMARC_PERMERROR;
        (void)str_copy(out->dmarc.reason, sizeof(out->dmarc.reason), why);
        return;
    }
    for (size_t k = 0; k < out->ndkim && nd < DKIM_MAX_SIGS; k++) {
        dk[nd].domain = out->dkim[k].domain;
        dk[nd].pass = strcmp(out->dkim[k].result, "pass") == 0;
        nd++;
    }
    (void)dmarc_check(dns, from, &spf, dk, nd, &out->dmarc);
}

static char *auth_header(const auth_input *in, const auth_results *r)
{
    authres_builder a;
    int rc = 0;

    authres_begin(&a, in->authserv_id, in->fold);
    if (r->ran & AUTH_SPF) {
        int helo = strcmp(r->spf.identity, "helo") == 0;
        rc |= authres_add(&a, "spf", spf_result_text(r->spf.result), r->spf.reason,
                          helo ? "smtp.helo" : "smtp.mailfrom",
                          helo ? r->spf.domain : r->spf.sender, (const char *)NULL);
    }
    if (r->ran & AUTH_DKIM) {
        if (r->ndkim == 0)
            rc |= authres_add(&a, "dkim", "none", (const char *)NULL, (const char *)NULL);
        for (size_t k = 0; k < r->ndkim; k++) {
            const dkim_result *d = &r->dkim[k];
            rc |= authres_add(&a, "dkim", d->result[0] ? d->result : "permerror", d->reason,
                              "header.d", d->domain, "header.s", d->selector,
                              "header.a", d->algo, "header.b", d->header_b,
                              (const char *)NULL);
        }
    }
    if (r->ran & AUTH_DMARC) {
        char comment[200];
        const dmarc_outcome *d = &r->dmarc;
        if (d->result == DMARC_PASS || d->result == DMARC_FAIL)
            snprintf(comment, sizeof(comment), "p=%s, %s",
                     dmarc_policy_text(d->policy), d->reason);
        else
            (void)str_copy(comment, sizeof(comment), d->reason);
        rc |= authres_add(&a, "dmarc", dmarc_result_text(d->result), comment,
                          "header.from", d->from_domain, (const char *)NULL);
    }
    if (r->ran & AUTH_ARC) {
        char oldest[16] = "";
        if (r->arc.instances > 0)
            snprintf(oldest, sizeof(oldest), "%d", r->arc.oldest_pass);
        rc |= authres_add(&a, "arc", auth_arc_text(r), r->arc.reason,
                          "header.oldest-pass", oldest, (const char *)NULL);
    }
    (void)rc;   /* over AUTHRES_MAX_LEN: the clauses that fit are kept */
    return authres_finish(&a);
}
