/*
 * relay_dsnp.c - RFC 3461 parameters of a relay recipient (relay_dsnp.h):
 * lookup in the job payload or the spool message, NOTIFY parsing and
 * formatting, xtext encoding for the next hop. Pure functions over the
 * caller's data.
 */
#include "relay_dsnp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

static const struct { unsigned bit; const char *name; } dsnp_names[] = {
    { RELAY_NOTIFY_NEVER, "NEVER" }, { RELAY_NOTIFY_SUCCESS, "SUCCESS" },
    { RELAY_NOTIFY_FAILURE, "FAILURE" }, { RELAY_NOTIFY_DELAY, "DELAY" },
};

static void dsnp_from_entry(const json_t *e, relay_dsnp *out);

unsigned relay_dsnp_parse_notify(const char *s)
{
    unsigned bits = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 64)
        return 0;
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof dsnp_names / sizeof dsnp_names[0]; i++)
            if (strlen(dsnp_names[i].name) == len && strncasecmp(s, dsnp_names[i].name, len) == 0)
                bit = dsnp_names[i].bit;
        if (bit == 0)
            return 0;
        bits |= bit;
        s += len;
        if (*s == ',')
            s++;
    }
    /* NEVER stands alone (RFC 3461 §4.1) */
    if ((bits & RELAY_NOTIFY_NEVER) && bits != RELAY_NOTIFY_NEVER)
        return 0;
    return bits;
}

void relay_dsnp_lookup(const json_t *payload, const spool_message *msg, const char *rcpt,
                       relay_dsnp *out)
{
    memset(out, 0, sizeof(*out));
    const json_t *rcpts = json_object_get(payload, "rcpts");
    const json_t *dsn = json_object_get(payload, "dsn");
    if (json_is_array(dsn) && json_is_array(rcpts)) {
        size_t n = json_array_size(rcpts);
        for (size_t i = 0; i < n; i++) {
            const char *r = json_string_value(json_array_get(rcpts, i));
            if (r != NULL && strcmp(r, rcpt) == 0) {
                dsnp_from_entry(json_array_get(dsn, i), out);
                return;
            }
        }
        return;
    }
    if (msg == NULL || !json_is_array(msg->rcpt_dsn))
        return;
    for (size_t i = 0; i < msg->nrcpts; i++)
        if (msg->rcpts[i] != NULL && strcasecmp(msg->rcpts[i], rcpt) == 0) {
            dsnp_from_entry(json_array_get(msg->rcpt_dsn, i), out);
            return;
        }
}

int relay_dsnp_wants(const relay_dsnp *p, unsigned kind)
{
    if (p->notify == 0)
        return kind != RELAY_NOTIFY_SUCCESS;
    return (p->notify & kind) != 0;
}

void relay_dsnp_notify_format(unsigned notify, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof dsnp_names / sizeof dsnp_names[0]; i++) {
        if (!(notify & dsnp_names[i].bit))
            continue;
        int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "", dsnp_names[i].name);
        if (n < 0 || (size_t)n >= outlen - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)n;
    }
}

int relay_dsnp_xtext(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in != '\0'; in++) {
        unsigned char c = (unsigned char)*in;
        if (c >= '!' && c <= '~' && c != '+' && c != '=') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outlen)
                return -1;
            out[o++] = '+';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return 0;
}

/* {"notify": "...", "orcpt": "type;addr"} or null. */
static void dsnp_from_entry(const json_t *e, relay_dsnp *out)
{
    if (!json_is_object(e))
        return;
    out->notify = relay_dsnp_parse_notify(json_string_value(json_object_get(e, "notify")));
    const char *o = json_string_value(json_object_get(e, "orcpt"));
    if (o == NULL || strpbrk(o, "\r\n") != NULL || strchr(o, ';') == NULL ||
        str_copy(out->orcpt, sizeof(out->orcpt), o) != 0)
        out->orcpt[0] = '\0';
}
