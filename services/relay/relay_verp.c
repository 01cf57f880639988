/*
 * relay_verp.c - VERP envelope senders for list mail (see relay_verp.h).
 * Pure; no state.
 */
#include "relay_verp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VERP_SUFFIX "-bounces"

int relay_verp_wanted(int global, const json_t *payload)
{
    const json_t *v = json_object_get(payload, "verp");
    return json_is_boolean(v) ? json_is_true(v) : global != 0;
}

int relay_verp_applies(const char *origin, const char *mail_from)
{
    if (origin == NULL || strcmp(origin, "lists") != 0 || mail_from == NULL)
        return 0;
    const char *at = strrchr(mail_from, '@');
    size_t sl = strlen(VERP_SUFFIX);
    if (at == NULL || (size_t)(at - mail_from) <= sl)
        return 0;
    return strncasecmp(at - sl, VERP_SUFFIX, sl) == 0;
}

int relay_verp_encode(const char *mail_from, const char *rcpt, const char delims[2],
                      char *out, size_t outlen)
{
    const char *at = strrchr(mail_from, '@');
    const char *rat = strrchr(rcpt, '@');
    if (at == NULL || rat == NULL || rat == rcpt || rat[1] == '\0' || at[1] == '\0')
        return -1;
    /* the member's local part must not hide an '@' or the delimiters'
     * meaning: quoted local parts and line breaks are not encoded */
    if (strpbrk(rcpt, "\"\\ \r\n<>") != NULL)
        return -1;
    int n = snprintf(out, outlen, "%.*s%c%.*s%c%s%s", (int)(at - mail_from), mail_from,
                     delims[0], (int)(rat - rcpt), rcpt, delims[1], rat + 1, at);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}
