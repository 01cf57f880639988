/*
 * dmarc_mitigate.h - DMARC From mitigation for mail we resend (list posts,
 * alias forwards): the header and MIME transformations that make the
 * author's From our own when the author's domain publishes a DMARC policy
 * of quarantine or reject, so that our DKIM signature aligns.
 *
 * Modes (per list or alias):
 *   none            nothing changes.
 *   munge-from      From: "Name via ListName" <list@domain> (RFC 2047 when
 *                   not ASCII); the author's From value goes into Reply-To,
 *                   or into Cc when the message already has a Reply-To or
 *                   the list sets one itself.
 *   wrap            a new message from the list (From as munge-from,
 *                   Subject/To/Cc/Date/Message-ID/In-Reply-To/References
 *                   kept, Reply-To the author) whose body is multipart/mixed:
 *                   a short text/plain part and the original message as a
 *                   message/rfc822 part, byte for byte.
 *   encode-address  From: Name <local=40author.example@DOMAIN> (the author
 *                   address percent-encoded with '%' written as '='); the
 *                   original From value in X-Original-From. When the encoded
 *                   local part would exceed 64 octets, munge-from is used.
 * "always" applies the mode whatever the author's policy is.
 *
 * dmarc_mitigate_policy() asks DNS (dmarc.h policy discovery, DMARCbis tree
 * walk) through the caller's cached resolver; everything else is pure (no
 * I/O) and works on a hdr_msg (libcommon hdr.h) that keeps every field it
 * does not change byte for byte.
 *
 * SECURITY: the message and its From field are peer input: parsing is
 * bounded (DMARC_MITIGATE_NAME_MAX, the hdr limits), unusable input gives
 * -1 (the caller sends the message unmitigated or fails it), never a crash.
 * List names come from the API, which refuses control characters.
 *
 * Ownership: the caller owns every argument; results go into the caller's
 * hdr_msg or buf.
 */
#ifndef MAILYARD_DMARC_MITIGATE_H
#define MAILYARD_DMARC_MITIGATE_H

#include <stddef.h>

#include "buf.h"
#include "dmarc.h"
#include "dns.h"
#include "hdr.h"

#define DMARC_MITIGATE_NAME_MAX  200   /* octets of display name kept */
#define DMARC_MITIGATE_LOCAL_MAX 64    /* RFC 5321 local-part limit */
#define DMARC_MITIGATE_ADDR_MAX  256

enum dmarc_mitigation {
    DMARC_MIT_NONE = 0,
    DMARC_MIT_MUNGE_FROM,
    DMARC_MIT_WRAP,
    DMARC_MIT_ENCODE_ADDRESS,
};

/* What the list or alias that resends the message is. */
typedef struct dmarc_mitigate_info {
    const char *address;         /* list post address / alias, lower case */
    const char *name;            /* display name of the list ("" = local part) */
    const char *encode_domain;   /* encode-address: our domain (may be NULL) */
    int         sets_reply_to;   /* the list adds its own Reply-To */
} dmarc_mitigate_info;

/* What was done, for the trace. */
typedef struct dmarc_mitigate_result {
    enum dmarc_mitigation applied;          /* NONE when nothing changed */
    char author[DMARC_MITIGATE_ADDR_MAX + 1];   /* the original From address */
    char encoded[DMARC_MITIGATE_ADDR_MAX + 1];  /* encode-address: the new From */
} dmarc_mitigate_result;

/* "none", "munge-from", "wrap", "encode-address". */
const char *dmarc_mitigation_text(enum dmarc_mitigation m);
/* Parses one of the names above. 0, or -1 when unknown. */
int dmarc_mitigation_parse(const char *text, enum dmarc_mitigation *out);

/* The DMARC policy of the author domain (p, sp or np as DMARC would apply
 * it; DMARC_P_NONE when there is no record). A DNS temporary failure gives
 * DMARC_P_QUARANTINE (mitigating a message whose policy we cannot read is
 * the safe side: it still arrives). Returns 0. */
int dmarc_mitigate_policy(dns_resolver *dns, const char *author_domain,
                          enum dmarc_policy *out);
/* 1 when a message whose author domain has policy p is mitigated. */
int dmarc_mitigate_needed(enum dmarc_policy p, int always);

/* The first mailbox of a From value: its address (as written) into addr and
 * its display name (quotes and backslash escapes removed, encoded words
 * kept as written, at most DMARC_MITIGATE_NAME_MAX octets) into name.
 * 0, or -1 when there is no address or it does not fit. */
int dmarc_mitigate_parse_from(const char *value, char *addr, size_t addrlen,
                              char *name, size_t namelen);

/* The encoded local part for author (e.g. "a=40b.example"): letters,
 * digits, '-', '_', '+' and inner single dots are kept, every other octet
 * is "=XX" (upper-case hex). 0, or -1 when it exceeds outlen-1 or
 * DMARC_MITIGATE_LOCAL_MAX. */
int dmarc_mitigate_encode_local(const char *author, char *out, size_t outlen);
/* The reverse: the author address of an encoded local part (case kept).
 * 0, or -1 when local is not one we could have made (no "=40", bad hex,
 * a decoded octet that is a control character, no '@' after decoding). */
int dmarc_mitigate_decode_local(const char *local, char *out, size_t outlen);

/* Applies mode to m for info. The From is read from m. Fills res (may be
 * NULL). For DMARC_MIT_WRAP, m is replaced by the wrapper message in place
 * (its fields and body). Returns 0, or -1 (m unchanged or partly changed:
 * the caller drops it) when the From is unusable or a limit is hit. */
int dmarc_mitigate_apply(hdr_msg *m, enum dmarc_mitigation mode,
                         const dmarc_mitigate_info *info, dmarc_mitigate_result *res);

#endif
