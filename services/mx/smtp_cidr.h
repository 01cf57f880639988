/*
 * smtp_cidr.h - a list of IPv4/IPv6 networks ("10.0.0.0/8, ::1, 2001:db8::/32")
 * and the test "is this address in one of them", for the PROXY protocol's
 * trusted networks (MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS).
 *
 * A bare address is a /32 or /128. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are matched as IPv4. Pure.
 *
 * Ownership: smtp_cidr_parse() returns a list the caller frees with
 * smtp_cidr_free() (accepts NULL); NULL with err filled on a bad entry.
 */
#ifndef MAILYARD_SMTP_CIDR_H
#define MAILYARD_SMTP_CIDR_H

#include <stddef.h>

typedef struct smtp_cidr_list smtp_cidr_list;

smtp_cidr_list *smtp_cidr_parse(const char *spec, char *err, size_t errlen);
void            smtp_cidr_free(smtp_cidr_list *l);
/* 1 when ip (numeric text) is inside one of the networks. */
int             smtp_cidr_match(const smtp_cidr_list *l, const char *ip);

/* One network on its own (mx's block rules, smtp_blocks.h). */
typedef struct smtp_cidr_net {
    int           v6;
    unsigned char addr[16];       /* host bits cleared */
    unsigned      bits;
} smtp_cidr_net;

/* "192.0.2.0/24", "2001:db8::/32" or a bare address (/32, /128); host
 * bits are cleared ("192.0.2.7/24" is 192.0.2.0/24). 0, or -1 with err
 * filled. */
int smtp_cidr_net_parse(const char *s, smtp_cidr_net *out, char *err, size_t errlen);
/* Canonical text "192.0.2.0/24". 0, or -1 if out is too small. */
int smtp_cidr_net_format(const smtp_cidr_net *n, char *out, size_t outlen);
/* 1 when ip (numeric text) is inside n. */
int smtp_cidr_net_match(const smtp_cidr_net *n, const char *ip);

#endif
