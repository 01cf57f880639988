/*
 * smtp_listen.h - listening sockets for mx's SMTP listeners
 * (MAILYARD_SMTP_LISTEN, MAILYARD_SMTPS_LISTEN) and their PROXY protocol
 * mode (MAILYARD_SMTP(S)_PROXY_PROTOCOL).
 *
 * Ownership: smtp_listen_bind() returns a socket the caller closes.
 */
#ifndef MAILYARD_SMTP_LISTEN_H
#define MAILYARD_SMTP_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Binds and listens on spec: "host:port", "[v6]:port" or ":port" (every
 * address). var names the variable in error messages. The fd, or -1 with
 * err filled. */
int  smtp_listen_bind(const char *var, const char *spec, char *err, size_t errlen);
/* The numeric peer address ("unknown" on failure); v4-mapped v6 becomes v4. */
void smtp_listen_peer_ip(const struct sockaddr_storage *ss, char *out, size_t outlen);
/* "off" (or empty/NULL), "v1", "v2", "any" into a PROXY_ACCEPT_* mask
 * (0 = off). 0, or -1 for anything else. */
int  smtp_listen_proxy_mode(const char *v, unsigned *mask);

#endif
