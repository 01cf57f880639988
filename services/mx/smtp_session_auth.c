/*
 * smtp_session_auth.c - AUTH (RFC 4954) and the SUBMISSION policy of the
 * SMTP session: AUTH PLAIN/LOGIN offered in EHLO only on a submission
 * listener and only under TLS, the exchange (smtp_sasl.c), the credential
 * check through cfg->auth_check, AUTH required before MAIL and the
 * envelope sender checked against the user's grants (cfg->sender_check).
 * The From: header is checked after DATA by the server's commit callback
 * (smtp_submit.c). See smtp_session.h.
 *
 * SECURITY: the password is only in s->sasl, wiped as soon as the check
 * returned; it is never logged. Failed attempts count as errors, and after
 * SMTP_AUTH_MAX_FAILURES the session ends with 421 (no sleeping: the
 * server is moving to an event loop).
 *
 * STANDARDS: RFC 4954 (reply codes 235, 334, 454, 501, 503, 504, 530,
 * 535, 538), RFC 3207 §4 (no AUTH in the clear), RFC 8314.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_session.h"

static void smtp_session_auth_finish(smtp_session *s);
static void smtp_session_auth_result(smtp_session *s, enum smtp_sasl_result r,
                                     const char *challenge);

const char *smtp_session_auth_ehlo(const smtp_session *s)
{
    if (s->cfg->submission && s->cfg->auth_check != NULL && s->tls)
        return "250-AUTH PLAIN LOGIN\r\n";
    return "";
}

void smtp_session_auth_set(smtp_session *s, const char *user, const char *method)
{
    if (str_copy(s->auth_user, sizeof s->auth_user, user) != 0)
        s->auth_user[0] = '\0';
    s->auth_method = method;
}

void smtp_session_auth_cmd(smtp_session *s, const char *arg)
{
    if (!s->cfg->submission || s->cfg->auth_check == NULL) {
        smtp_session_reply(s, 503, "5.5.1 Error: authentication not enabled");
        return;
    }
    if (!s->tls) {
        smtp_session_reply(s, 538, "5.7.11 Encryption required for requested "
                                   "authentication mechanism");
        return;
    }
    if (s->auth_user[0] != '\0') {
        smtp_session_reply(s, 503, "5.5.1 Error: already authenticated");
        return;
    }
    if (s->tx != NULL) {
        smtp_session_reply(s, 503, "5.5.1 Error: MAIL transaction in progress");
        return;
    }
    char challenge[SMTP_SASL_CHALLENGE_MAX];
    s->auth_method = strncasecmp(arg, "LOGIN", 5) == 0 ? "LOGIN" : "PLAIN";
    smtp_session_auth_result(s, smtp_sasl_start(&s->sasl, arg, challenge, sizeof challenge),
                             challenge);
}

void smtp_session_auth_line(smtp_session *s, const char *line, size_t len)
{
    char challenge[SMTP_SASL_CHALLENGE_MAX];
    smtp_session_auth_result(s, smtp_sasl_step(&s->sasl, line, len, challenge,
                                               sizeof challenge), challenge);
}

static void smtp_session_auth_result(smtp_session *s, enum smtp_sasl_result r,
                                     const char *challenge)
{
    switch (r) {
    case SMTP_SASL_CONTINUE:
        smtp_session_reply(s, 334, challenge);
        return;
    case SMTP_SASL_DONE:
        smtp_session_auth_finish(s);
        return;
    case SMTP_SASL_CANCELLED:
        smtp_session_reply(s, 501, "5.0.0 Authentication cancelled");
        return;
    case SMTP_SASL_BAD_B64:
        smtp_session_reply(s, 501, "5.5.2 Error: invalid base64 data");
        return;
    case SMTP_SASL_BAD_MECH:
        smtp_session_reply(s, 504, "5.5.4 Error: unrecognized authentication mechanism");
        return;
    case SMTP_SASL_SYNTAX:
        smtp_session_reply(s, 501, "5.5.4 Syntax: AUTH mechanism [initial-response]");
        return;
    case SMTP_SASL_BAD_MESSAGE:
        break;                               /* a failed attempt, like bad credentials */
    }
    s->auth_failures++;
    smtp_session_reply(s, 535, "5.7.8 Error: authentication credentials invalid");
    if (s->auth_failures >= SMTP_AUTH_MAX_FAILURES)
        smtp_session_abort(s, 421, "4.7.0 Error: too many failed authentication attempts");
}

/* The exchange is complete: ask the credential store, wipe, answer. */
static void smtp_session_auth_finish(smtp_session *s)
{
    enum smtp_cred v = s->cfg->auth_check(s->arg, s->sasl.user, s->sasl.pass);
    char user[SMTP_SASL_FIELD_MAX + 1];
    memcpy(user, s->sasl.user, sizeof user);
    smtp_sasl_clear(&s->sasl);
    switch (v) {
    case SMTP_CRED_OK:
        smtp_session_auth_set(s, user, s->auth_method);
        log_info("smtp authenticated", "client", s->client_ip, "user", user,
                 "method", s->auth_method);
        smtp_session_reply(s, 235, "2.7.0 Authentication successful");
        return;
    case SMTP_CRED_TEMPFAIL:
        smtp_session_reply(s, 454, "4.7.0 Temporary authentication failure, try again later");
        return;
    case SMTP_CRED_BAD:
        break;
    }
    s->auth_failures++;
    log_info("smtp authentication failed", "client", s->client_ip, "user", user,
             "method", s->auth_method);
    smtp_session_reply(s, 535, "5.7.8 Error: authentication credentials invalid");
    if (s->auth_failures >= SMTP_AUTH_MAX_FAILURES)
        smtp_session_abort(s, 421, "4.7.0 Error: too many failed authentication attempts");
}

int smtp_session_auth_mail(smtp_session *s, const char *mail_from)
{
    if (!s->cfg->submission)
        return 1;
    if (s->auth_user[0] == '\0') {
        smtp_session_reply(s, 530, "5.7.0 Authentication required");
        return 0;
    }
    if (s->cfg->sender_check == NULL)
        return 1;
    switch (s->cfg->sender_check(s->arg, s->auth_user, mail_from)) {
    case SMTP_CRED_OK:
        return 1;
    case SMTP_CRED_TEMPFAIL:
        smtp_session_reply(s, 451, "4.7.1 Error: sender check failed, try again later");
        return 0;
    case SMTP_CRED_BAD:
        break;
    }
    char text[SMTP_LINE_MAX];
    snprintf(text, sizeof text, "5.7.1 <%.256s>: Sender address not owned by user %.128s",
             mail_from, s->auth_user);
    smtp_session_reply(s, 553, text);
    return 0;
}
