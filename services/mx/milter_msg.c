/*
 * milter_msg.c - the envelope and the reassembled message of milter mode.
 * See milter_msg.h.
 *
 * SECURITY: everything here comes from the MTA, which passes on what its
 * SMTP client sent; sizes are bounded by the buf ceiling, the address
 * length and the recipient count, and the first failure is sticky
 * (too_big) so a too large message is never half-checked.
 */
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"
#include "milter_msg.h"

static int milter_msg_append(milter_msg *m, const void *p, size_t n);
static int milter_msg_append_value(milter_msg *m, const char *v);

milter_msg *milter_msg_create(size_t max_size, size_t max_rcpts)
{
    milter_msg *m = xcalloc(1, sizeof *m);
    buf_init(&m->data, max_size);
    m->max_rcpts = max_rcpts;
    return m;
}

void milter_msg_free(milter_msg *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nrcpts; i++)
        free(m->rcpts[i]);
    free(m->rcpts);
    buf_release(&m->data);
    free(m);
}

int milter_msg_addr(const char *arg, char *out, size_t outlen)
{
    if (arg == NULL)
        return -1;
    size_t len = strlen(arg);
    if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
        arg++;
        len -= 2;
    }
    if (len >= outlen || len > SMTP_PATH_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)arg[i];
        if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>')
            return -1;
    }
    memcpy(out, arg, len);
    out[len] = '\0';
    return 0;
}

int milter_msg_set_from(milter_msg *m, const char *arg)
{
    return milter_msg_addr(arg, m->mail_from, sizeof m->mail_from);
}

int milter_msg_add_rcpt(milter_msg *m, const char *arg)
{
    char a[SMTP_PATH_MAX + 1];
    if (milter_msg_addr(arg, a, sizeof a) != 0 || a[0] == '\0')
        return -1;
    if (m->nrcpts >= m->max_rcpts)
        return -2;
    if (m->nrcpts == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->rcpts = xrealloc(m->rcpts, m->cap * sizeof *m->rcpts);
    }
    m->rcpts[m->nrcpts++] = xstrdup(a);
    return 0;
}

/* Appends n bytes; past the ceiling sets too_big (sticky) and fails. */
static int milter_msg_append(milter_msg *m, const void *p, size_t n)
{
    if (m->too_big)
        return -1;
    if (buf_append(&m->data, p, n) != 0) {
        m->too_big = 1;
        return -1;
    }
    return 0;
}

/* Appends a header value with every line end made CRLF. */
static int milter_msg_append_value(milter_msg *m, const char *v)
{
    while (*v != '\0') {
        size_t run = strcspn(v, "\r\n");
        if (milter_msg_append(m, v, run) != 0)
            return -1;
        v += run;
        if (*v == '\0')
            break;
        if (milter_msg_append(m, "\r\n", 2) != 0)
            return -1;
        if (v[0] == '\r' && v[1] == '\n')
            v += 2;
        else
            v++;                                  /* a bare LF or CR */
    }
    return 0;
}

int milter_msg_header(milter_msg *m, const char *name, const char *value, int leadspc)
{
    if (name == NULL)
        return -1;
    if (value == NULL)
        value = "";
    if (milter_msg_append(m, name, strlen(name)) != 0 ||
        milter_msg_append(m, leadspc ? ":" : ": ", leadspc ? 1 : 2) != 0 ||
        milter_msg_append_value(m, value) != 0 ||
        milter_msg_append(m, "\r\n", 2) != 0)
        return -1;
    return 0;
}

int milter_msg_eoh(milter_msg *m)
{
    if (m->in_body)
        return m->too_big ? -1 : 0;
    m->in_body = 1;
    return milter_msg_append(m, "\r\n", 2);
}

int milter_msg_body(milter_msg *m, const unsigned char *p, size_t n)
{
    if (milter_msg_eoh(m) != 0)
        return -1;
    return milter_msg_append(m, p, n);
}
