/*
 * relay_tmap.h - the transport map (MAILYARD_RELAY_TRANSPORT_MAP_FILE):
 * per-sender and per-domain routes that override the default transport.
 *
 * File format, one route a line, '#' starts a comment:
 *
 *     <key> <transport> [auth=/path/to/credentials] [tls=may|encrypt|verify]
 *
 *   key        sender:<address>  the envelope sender (checked first)
 *              <domain>          the recipient domain, exactly
 *              *.<domain>        any subdomain of <domain> (not <domain> itself)
 *              *                 everything else
 *   transport  mx                         MX delivery (e.g. to set tls= per domain)
 *              smarthost:host[:port]      SMTP to one next hop (port 25); also
 *              smarthost:[host]:port      "smtp:" and IPv6 as [v6]:port
 *              lmtp:host[:port]           LMTP (RFC 2033; port 24)
 *   auth=      a file whose first line is "username:password" (AUTH PLAIN or
 *              LOGIN, only after STARTTLS); read at start-up
 *   tls=       the STARTTLS policy of this route (default MAILYARD_RELAY_TLS)
 *
 * Lookup order: sender:, exact domain, the longest matching *.parent, *.
 * Keys are case-insensitive. At most RELAY_TMAP_MAX_ENTRIES lines.
 *
 * SECURITY: the file is operator configuration, but it is still parsed
 * with limits (line length, entries) and every error names its line.
 * Credentials are kept in memory only, wiped on free, never logged.
 *
 * Ownership: relay_tmap_parse/load return a map the caller frees with
 * relay_tmap_free (accepts NULL); relay_tmap_find returns a route borrowed
 * from the map.
 */
#ifndef MAILYARD_RELAY_TMAP_H
#define MAILYARD_RELAY_TMAP_H

#include <stddef.h>
#include "relay_smtp.h"

#define RELAY_TMAP_MAX_ENTRIES 10000
#define RELAY_TMAP_LINE_MAX    1024

enum relay_route_kind { RELAY_ROUTE_MX, RELAY_ROUTE_SMARTHOST, RELAY_ROUTE_LMTP };

typedef struct relay_route {
    enum relay_route_kind kind;
    char  host[256];          /* smarthost / lmtp: name or IP literal */
    int   port;
    int   tls_set;            /* tls= given */
    enum relay_tls_mode tls;
    char *auth_file;          /* owned, or NULL */
    char *auth_user;          /* owned, filled by relay_tmap_load, or NULL */
    char *auth_pass;          /* owned, wiped on free */
} relay_route;

typedef struct relay_tmap_entry {
    char        key[320];     /* lower case; without "sender:" / "*." */
    int         is_sender;
    int         is_wildcard;  /* "*.domain" */
    int         is_default;   /* "*" */
    relay_route route;
} relay_tmap_entry;

typedef struct relay_tmap {
    relay_tmap_entry *e;      /* owned */
    size_t            n;
} relay_tmap;

/* Parses the text (not NUL-terminated necessarily). Credentials are not
 * read. NULL with err ("line 3: ...") on a syntax error. */
relay_tmap *relay_tmap_parse(const char *text, size_t len, char *err, size_t errlen);
/* Reads the file, parses it and reads every auth= file. */
relay_tmap *relay_tmap_load(const char *path, char *err, size_t errlen);
void        relay_tmap_free(relay_tmap *m);
/* The route for this sender and recipient domain, or NULL (default transport). */
const relay_route *relay_tmap_find(const relay_tmap *m, const char *sender,
                                   const char *domain);
/* Pure helper: "host", "host:port", "[host]:port", "[v6]:port" into host
 * and port (def_port when absent). 0 or -1. */
int         relay_tmap_hostport(const char *v, char *host, size_t hostlen, int *port,
                                int def_port);

#endif
