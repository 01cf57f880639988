/*
 * smtp_listen.c - listening sockets for mx: address specs, bind/listen,
 * the peer address as text, and the PROXY protocol mode of a listener.
 * See smtp_listen.h.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "xalloc.h"
#include "proxy_parse.h"
#include "smtp_listen.h"

/* "off", "v1", "v2" or "any" into a PROXY_ACCEPT_* mask. 0 or -1. */
int smtp_listen_proxy_mode(const char *v, unsigned *mask)
{
    if (v == NULL || strcmp(v, "off") == 0 || *v == '\0') *mask = 0;
    else if (strcmp(v, "v1") == 0) *mask = PROXY_ACCEPT_V1;
    else if (strcmp(v, "v2") == 0) *mask = PROXY_ACCEPT_V2;
    else if (strcmp(v, "any") == 0) *mask = PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2;
    else return -1;
    return 0;
}

/* "host:port", "[v6]:port" or ":port" (every address). */
int smtp_listen_bind(const char *var, const char *spec, char *err, size_t errlen)
{
    char host[256];
    const char *orig = spec;
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon[1] == '\0') {
        snprintf(err, errlen, "%s: expected host:port, got \"%s\"", var, spec);
        return -1;
    }
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(err, errlen, "%s: host too long", var);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    int gr = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai);
    if (gr != 0) {
        snprintf(err, errlen, "%s: %s", var, gai_strerror(gr));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        snprintf(err, errlen, "%s %s: %s", var, orig, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

void smtp_listen_peer_ip(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    if (getnameinfo((const struct sockaddr *)ss, sizeof *ss, out, (socklen_t)outlen,
                    NULL, 0, NI_NUMERICHOST) != 0) {
        str_copy(out, outlen, "unknown");
        return;
    }
    if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.') != NULL)
        memmove(out, out + 7, strlen(out + 7) + 1);   /* v4-mapped */
}

