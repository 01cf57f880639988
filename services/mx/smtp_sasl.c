/*
 * smtp_sasl.c - AUTH PLAIN and LOGIN exchanges and strict base64 for the
 * SMTP session (see smtp_sasl.h). Owns nothing; wipes what it decoded.
 *
 * STANDARDS: RFC 4954 (SMTP AUTH: "*" cancels, "=" is an empty initial
 * response), RFC 4616 (PLAIN: [authzid] NUL authcid NUL passwd), the
 * LOGIN mechanism of draft-murchison-sasl-login (challenges "Username:"
 * and "Password:"), RFC 4648 (base64).
 */
#include <string.h>
#include <strings.h>
#include "smtp_sasl.h"

static const char smtp_sasl_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int  smtp_sasl_b64_value(char c);
static enum smtp_sasl_result smtp_sasl_plain(smtp_sasl *x, const char *b64, size_t len);
static enum smtp_sasl_result smtp_sasl_field(const char *b64, size_t len, char *out,
                                             size_t outlen);
static int  smtp_sasl_challenge(const char *text, char *out, size_t outlen);
static void smtp_sasl_wipe(void *p, size_t n);

static void smtp_sasl_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

static int smtp_sasl_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long smtp_sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t outmax)
{
    if (len % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad > 0 || (v[k] = smtp_sasl_b64_value(c)) < 0)
                return -1;                       /* bad octet, or data after '=' */
        }
        /* canonical: the bits dropped by the padding must be zero */
        if ((pad == 1 && (v[2] & 0x3) != 0) || (pad == 2 && (v[1] & 0xf) != 0))
            return -1;
        unsigned char b[3] = { (unsigned char)(v[0] << 2 | v[1] >> 4),
                               (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2),
                               (unsigned char)((v[2] & 0x3) << 6 | v[3]) };
        size_t n = 3 - (size_t)pad;
        if (o + n > outmax)
            return -1;
        memcpy(out + o, b, n);
        o += n;
    }
    return (long)o;
}

int smtp_sasl_b64_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    if ((len + 2) / 3 * 4 + 1 > outlen)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = smtp_sasl_b64[v >> 18 & 63];
        out[o++] = smtp_sasl_b64[v >> 12 & 63];
        out[o++] = i + 1 < len ? smtp_sasl_b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? smtp_sasl_b64[v & 63] : '=';
    }
    out[o] = '\0';
    return 0;
}

int smtp_sasl_active(const smtp_sasl *x)
{
    return x->step != SMTP_SASL_IDLE;
}

void smtp_sasl_clear(smtp_sasl *x)
{
    smtp_sasl_wipe(x->user, sizeof x->user);
    smtp_sasl_wipe(x->pass, sizeof x->pass);
    x->step = SMTP_SASL_IDLE;
}

static int smtp_sasl_challenge(const char *text, char *out, size_t outlen)
{
    return smtp_sasl_b64_encode((const unsigned char *)text, strlen(text), out, outlen);
}

/* One LOGIN field: base64 of 1..SMTP_SASL_FIELD_MAX octets without NUL. */
static enum smtp_sasl_result smtp_sasl_field(const char *b64, size_t len, char *out,
                                             size_t outlen)
{
    unsigned char tmp[SMTP_SASL_MSG_MAX];
    long n = smtp_sasl_b64_decode(b64, len, tmp, sizeof tmp);
    enum smtp_sasl_result r = SMTP_SASL_CONTINUE;
    if (n < 0)
        r = SMTP_SASL_BAD_B64;
    else if (n == 0 || (size_t)n >= outlen || memchr(tmp, '\0', (size_t)n) != NULL)
        r = SMTP_SASL_BAD_MESSAGE;
    else {
        memcpy(out, tmp, (size_t)n);
        out[n] = '\0';
    }
    smtp_sasl_wipe(tmp, sizeof tmp);
    return r;
}

/* The PLAIN message: [authzid] NUL authcid NUL passwd. */
static enum smtp_sasl_result smtp_sasl_plain(smtp_sasl *x, const char *b64, size_t len)
{
    unsigned char m[SMTP_SASL_MSG_MAX];
    long n = smtp_sasl_b64_decode(b64, len, m, sizeof m);
    if (n < 0) {
        smtp_sasl_clear(x);
        return SMTP_SASL_BAD_B64;
    }
    enum smtp_sasl_result r = SMTP_SASL_BAD_MESSAGE;
    const unsigned char *z1 = memchr(m, '\0', (size_t)n);
    const unsigned char *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(m + n - (z1 + 1))) : NULL;
    if (z1 != NULL && z2 != NULL && memchr(z2 + 1, '\0', (size_t)(m + n - (z2 + 1))) == NULL) {
        size_t zl = (size_t)(z1 - m), ul = (size_t)(z2 - z1 - 1);
        size_t pl = (size_t)(m + n - (z2 + 1));
        int authz_ok = zl == 0 || (zl == ul && memcmp(m, z1 + 1, ul) == 0);
        if (authz_ok && ul > 0 && ul <= SMTP_SASL_FIELD_MAX && pl > 0 &&
            pl <= SMTP_SASL_FIELD_MAX) {
            memcpy(x->user, z1 + 1, ul);
            x->user[ul] = '\0';
            memcpy(x->pass, z2 + 1, pl);
            x->pass[pl] = '\0';
            r = SMTP_SASL_DONE;
        }
    }
    smtp_sasl_wipe(m, sizeof m);
    x->step = SMTP_SASL_IDLE;
    if (r != SMTP_SASL_DONE)
        smtp_sasl_clear(x);
    return r;
}

enum smtp_sasl_result smtp_sasl_start(smtp_sasl *x, const char *arg,
                                      char *challenge, size_t clen)
{
    smtp_sasl_clear(x);
    challenge[0] = '\0';
    size_t ml = strcspn(arg, " ");
    if (ml == 0)
        return SMTP_SASL_SYNTAX;
    const char *ir = arg[ml] == ' ' ? arg + ml + 1 : NULL;   /* initial response */
    if (ir != NULL && (*ir == '\0' || strchr(ir, ' ') != NULL))
        return SMTP_SASL_SYNTAX;
    if (ml == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
        if (ir == NULL) {
            x->step = SMTP_SASL_PLAIN;                 /* "334 " and wait */
            return SMTP_SASL_CONTINUE;
        }
        if (strcmp(ir, "=") == 0)
            return SMTP_SASL_BAD_MESSAGE;              /* empty PLAIN message */
        return smtp_sasl_plain(x, ir, strlen(ir));
    }
    if (ml == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
        if (ir != NULL) {
            enum smtp_sasl_result r = smtp_sasl_field(ir, strlen(ir), x->user, sizeof x->user);
            if (r != SMTP_SASL_CONTINUE) {
                smtp_sasl_clear(x);
                return r;
            }
            x->step = SMTP_SASL_LOGIN_PASS;
            return smtp_sasl_challenge("Password:", challenge, clen) == 0
                   ? SMTP_SASL_CONTINUE : SMTP_SASL_SYNTAX;
        }
        x->step = SMTP_SASL_LOGIN_USER;
        return smtp_sasl_challenge("Username:", challenge, clen) == 0
               ? SMTP_SASL_CONTINUE : SMTP_SASL_SYNTAX;
    }
    return SMTP_SASL_BAD_MECH;
}

enum smtp_sasl_result smtp_sasl_step(smtp_sasl *x, const char *line, size_t len,
                                     char *challenge, size_t clen)
{
    challenge[0] = '\0';
    if (len == 1 && line[0] == '*') {
        smtp_sasl_clear(x);
        return SMTP_SASL_CANCELLED;
    }
    enum smtp_sasl_result r;
    switch (x->step) {
    case SMTP_SASL_PLAIN:
        return smtp_sasl_plain(x, line, len);
    case SMTP_SASL_LOGIN_USER:
        r = smtp_sasl_field(line, len, x->user, sizeof x->user);
        if (r != SMTP_SASL_CONTINUE)
            break;
        x->step = SMTP_SASL_LOGIN_PASS;
        if (smtp_sasl_challenge("Password:", challenge, clen) != 0)
            r = SMTP_SASL_SYNTAX;
        return r == SMTP_SASL_CONTINUE ? r : (smtp_sasl_clear(x), r);
    case SMTP_SASL_LOGIN_PASS:
        r = smtp_sasl_field(line, len, x->pass, sizeof x->pass);
        if (r != SMTP_SASL_CONTINUE)
            break;
        x->step = SMTP_SASL_IDLE;
        return SMTP_SASL_DONE;
    case SMTP_SASL_IDLE:
    default:
        r = SMTP_SASL_SYNTAX;
        break;
    }
    smtp_sasl_clear(x);
    return r;
}
