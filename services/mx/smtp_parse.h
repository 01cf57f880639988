/*
 * smtp_parse.h - SMTP command-line parsing (RFC 5321 §4.1), without I/O.
 *
 * smtp_cmd_parse() splits one command line (CRLF already removed) into a
 * verb and its argument text. smtp_mail_parse() and smtp_rcpt_parse() take
 * the argument of MAIL and RCPT: the "FROM:"/"TO:" keyword, the path (via
 * libcommon addr_parse_path) and the ESMTP parameters we support: SIZE=,
 * BODY=, SMTPUTF8, RET=, ENVID=, AUTH= (RFC 4954 §5, checked and ignored) on MAIL; NOTIFY=, ORCPT= on RCPT.
 * smtp_bdat_parse() takes the argument of BDAT. smtp_helo_valid() checks
 * an EHLO/HELO argument.
 *
 * SECURITY: every input is peer-controlled. Lines longer than SMTP_LINE_MAX
 * never reach these functions (the session discards them); control bytes,
 * NUL, DEL and invalid UTF-8 in a command line are refused. Valid UTF-8 is
 * allowed in a line (cmd->utf8 is set), but a path with non-ASCII octets
 * is accepted only in a transaction that gave SMTPUTF8 (RFC 6531 §3.4:
 * otherwise SMTP_PATH_NEED_UTF8, 553 5.6.7). ENVID and ORCPT are xtext
 * (RFC 3461 §4) and stored decoded; decoded values must be printable ASCII.
 *
 * Ownership: results are written into caller-provided structs with fixed
 * sized arrays; nothing is allocated.
 *
 * STANDARDS: RFC 5321, RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531
 * (SMTPUTF8), RFC 3461 (DSN), RFC 3030 (CHUNKING).
 */
#ifndef MAILYARD_SMTP_PARSE_H
#define MAILYARD_SMTP_PARSE_H

#include <stddef.h>

#define SMTP_LINE_MAX   512   /* command line including CRLF (§4.5.3.1.4) */
#define SMTP_PATH_MAX   256   /* path without brackets (§4.5.3.1.3) */
#define SMTP_DOMAIN_MAX 255
#define SMTP_ENVID_MAX  100   /* RFC 3461 §4.4 */
#define SMTP_ORCPT_MAX  500   /* RFC 3461 §4.2 */

enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_EHLO, SMTP_VERB_HELO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
    SMTP_VERB_DATA, SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_QUIT,
    SMTP_VERB_VRFY, SMTP_VERB_STARTTLS, SMTP_VERB_BDAT,
    SMTP_VERB_AUTH,           /* RFC 4954 (smtp_session_auth.c) */
};

enum smtp_parse_result {
    SMTP_PARSE_OK = 0,
    SMTP_PARSE_UNKNOWN,     /* not a command we know: 500 5.5.2 */
    SMTP_PARSE_BAD_BYTES,   /* NUL, control bytes or invalid UTF-8: 500 5.5.2 */
};

typedef struct smtp_cmd {
    enum smtp_verb verb;
    char   arg[SMTP_LINE_MAX];  /* text after "VERB ", trailing blanks removed */
    size_t arg_len;
    int    utf8;                /* the line has non-ASCII (valid UTF-8) octets */
} smtp_cmd;

/* Parses line[0..len) (no CRLF). Verbs are case-insensitive; the verb must
 * be followed by a space or the end of the line. */
enum smtp_parse_result smtp_cmd_parse(const char *line, size_t len, smtp_cmd *out);
/* Lower-case name of a verb for metrics ("ehlo", ..., "unknown"). */
const char *smtp_verb_name(enum smtp_verb v);

enum smtp_path_error {
    SMTP_PATH_OK = 0,
    SMTP_PATH_SYNTAX,         /* missing FROM:/TO: : 501 5.5.2 */
    SMTP_PATH_BAD_ADDR,       /* bad mailbox syntax or length: 501 5.1.3/5.1.7 */
    SMTP_PATH_ROUTE,          /* source route, '%' or '!': 553 5.7.1 */
    SMTP_PATH_BAD_PARAM,      /* malformed or repeated parameter value: 501 5.5.4 */
    SMTP_PATH_UNKNOWN_PARAM,  /* parameter we do not support: 555 5.5.4 */
    SMTP_PATH_NEED_UTF8,      /* non-ASCII path without SMTPUTF8: 553 5.6.7 */
};

enum smtp_dsn_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

enum {
    SMTP_NOTIFY_NEVER   = 1 << 0,
    SMTP_NOTIFY_SUCCESS = 1 << 1,
    SMTP_NOTIFY_FAILURE = 1 << 2,
    SMTP_NOTIFY_DELAY   = 1 << 3,
};

typedef struct smtp_mail_args {
    char      addr[SMTP_PATH_MAX + 1];  /* "" for the null sender */
    long long size;                     /* SIZE=, or -1 when absent */
    int       body_8bit;                /* BODY=8BITMIME given */
    int       smtputf8;                 /* SMTPUTF8 given */
    enum smtp_dsn_ret ret;              /* RET= */
    char      envid[SMTP_ENVID_MAX + 1];   /* ENVID= decoded, "" if none */
} smtp_mail_args;

typedef struct smtp_rcpt_args {
    char      addr[SMTP_PATH_MAX + 1];
    unsigned  notify;                   /* SMTP_NOTIFY_*, 0 when absent */
    char      orcpt[SMTP_ORCPT_MAX + 1];   /* "type;decoded", "" if none */
} smtp_rcpt_args;

/* arg is the text after "MAIL " (e.g. "FROM:<a@b> SIZE=10"). Parameters
 * are only accepted when esmtp (the client said EHLO). */
enum smtp_path_error smtp_mail_parse(const char *arg, int esmtp, smtp_mail_args *out);
/* arg is the text after "RCPT "; the null path is refused. utf8_ok: the
 * transaction gave SMTPUTF8. */
enum smtp_path_error smtp_rcpt_parse(const char *arg, int esmtp, int utf8_ok,
                                     smtp_rcpt_args *out);
/* "NOTIFY" list text ("SUCCESS,DELAY") of flags into out. */
void smtp_notify_format(unsigned notify, char *out, size_t outlen);
/* BDAT argument: "<size>" or "<size> LAST". 0, or -1 on a syntax error. */
int smtp_bdat_parse(const char *arg, unsigned long long *size, int *last);
/* 1 when s is a plausible EHLO/HELO argument: a domain or an address
 * literal of at most SMTP_DOMAIN_MAX octets, from [A-Za-z0-9.-_:[]]. */
int smtp_helo_valid(const char *s);

#endif
