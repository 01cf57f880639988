/*
 * milter_msg.h - one message as a milter sees it (milter mode of mx,
 * milter_server.h): the envelope (MAIL FROM and the RCPT TO addresses the
 * MTA passes) and the message reassembled from the header, end-of-header
 * and body callbacks into the bytes the client sent (CRLF lines), so that
 * smtp_auth_message() and smtp_commit_message_client() work on it exactly
 * as they do on a message received by mx itself. No I/O, no libmilter:
 * the unit tests drive it directly (tests/unit/test_milter_msg.c).
 *
 * Reassembly: each header becomes "Name:" + value + CRLF. With leadspc (the
 * MTA agreed to SMFIP_HDR_LEADSPC) the value is passed on exactly, leading
 * white space included; without, one space is put after the colon (the MTA
 * removed it). Line ends inside a folded value are made CRLF (Postfix sends
 * bare LF there). milter_msg_eoh() adds the empty line; body chunks arrive
 * with CRLF already and are appended as they are.
 *
 * Limits: the message (header section and body) is at most max_size bytes
 * (MAILYARD_SMTP_MAX_MESSAGE_SIZE); past it the append functions return -1
 * and too_big is set, and nothing more is stored. Addresses are at most
 * SMTP_PATH_MAX bytes without their angle brackets, printable ASCII or
 * UTF-8 (no control characters); at most max_rcpts recipients.
 *
 * Ownership: milter_msg_create() returns an object the caller frees with
 * milter_msg_free() (accepts NULL); it owns the addresses and the bytes.
 */
#ifndef MAILYARD_MILTER_MSG_H
#define MAILYARD_MILTER_MSG_H

#include <stddef.h>
#include "buf.h"
#include "smtp_parse.h"

typedef struct milter_msg {
    char    mail_from[SMTP_PATH_MAX + 1];  /* "" for the null sender */
    char  **rcpts;                         /* owned array of owned strings */
    size_t  nrcpts, cap;
    size_t  max_rcpts;
    buf     data;                          /* header section, then the body */
    int     in_body;                       /* milter_msg_eoh() was called */
    int     too_big;                       /* max_size was reached */
} milter_msg;

milter_msg *milter_msg_create(size_t max_size, size_t max_rcpts);
void        milter_msg_free(milter_msg *m);

/* Copies an envelope address as the MTA passes it ("<a@b>", "a@b" or
 * "<>") without its angle brackets into out. 0, or -1 when it is too long
 * or holds a control character. Pure. */
int  milter_msg_addr(const char *arg, char *out, size_t outlen);
/* Sets MAIL FROM. 0 or -1 (bad address). */
int  milter_msg_set_from(milter_msg *m, const char *arg);
/* Adds a recipient. 0, -1 for a bad address, -2 over max_rcpts. */
int  milter_msg_add_rcpt(milter_msg *m, const char *arg);
/* Appends one header field. 0, or -1 over the size limit (too_big set). */
int  milter_msg_header(milter_msg *m, const char *name, const char *value, int leadspc);
/* Ends the header section (the empty line). 0 or -1 (too_big). */
int  milter_msg_eoh(milter_msg *m);
/* Appends a body chunk (an implicit end of header section first if
 * milter_msg_eoh was not called). 0 or -1 (too_big). */
int  milter_msg_body(milter_msg *m, const unsigned char *p, size_t n);

#endif
