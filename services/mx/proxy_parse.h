/*
 * proxy_parse.h - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2), parsed without I/O, so a load balancer in front of mx
 * can pass on the real client address.
 *
 * proxy_parse() is given the bytes read so far from a new connection and
 * says: PROXY_OK (a complete header of out->header_len bytes; the bytes
 * after it belong to SMTP or TLS), PROXY_NEED_MORE (read at least
 * out->need more bytes, and never more than that, then call again with
 * everything), or PROXY_ERROR (out->error says why; close the connection).
 * The server reads exactly out->need bytes each time, so it never consumes
 * a byte of the TLS ClientHello or SMTP that follows the header.
 *
 * v1: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" or "PROXY UNKNOWN
 * ...\r\n", at most 107 octets; addresses must parse for their family,
 * ports are 0-65535 without leading zeros. v2: the 12-octet signature,
 * version 2, command LOCAL or PROXY, family INET/INET6 over STREAM (UNSPEC
 * and UNIX are taken as "local"), at most PROXY_V2_MAX_LEN octets of
 * addresses and TLVs; the TLVs must tile the rest of the header exactly.
 * For v1 UNKNOWN, v2 LOCAL and v2 UNSPEC/UNIX, out->local is set: the
 * caller keeps the socket's own peer address.
 *
 * SECURITY: all input is peer-controlled; whether to parse at all is the
 * caller's decision (trusted networks). Every length is checked before use.
 *
 * Ownership: out is caller-provided; nothing is allocated.
 */
#ifndef MAILYARD_PROXY_PARSE_H
#define MAILYARD_PROXY_PARSE_H

#include <stddef.h>

#define PROXY_V1_MAX     107
#define PROXY_V2_MAX_LEN 2048       /* octets after the 16-octet v2 prefix */
#define PROXY_IP_MAX     46         /* INET6_ADDRSTRLEN */

enum proxy_result { PROXY_OK = 0, PROXY_NEED_MORE, PROXY_ERROR };

enum { PROXY_ACCEPT_V1 = 1, PROXY_ACCEPT_V2 = 2 };

typedef struct proxy_info {
    int      version;                  /* 1 or 2 */
    int      local;                    /* keep the socket's addresses */
    int      v6;                       /* the addresses are IPv6 */
    char     src_ip[PROXY_IP_MAX];     /* "" when local */
    char     dst_ip[PROXY_IP_MAX];
    unsigned src_port, dst_port;
    unsigned ntlv;                     /* v2 TLVs seen (not interpreted) */
    size_t   header_len;               /* PROXY_OK: octets of the header */
    size_t   need;                     /* PROXY_NEED_MORE: octets to read */
    char     error[80];                /* PROXY_ERROR: why */
} proxy_info;

/* accept: PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2. */
enum proxy_result proxy_parse(const unsigned char *p, size_t n, unsigned accept,
                              proxy_info *out);

#endif
