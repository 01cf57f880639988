/*
 * hdr_phrase.c - writing text as an RFC 5322 phrase (a display name): as
 * atoms when it is plain ASCII, as a quoted string when it is ASCII with
 * specials, else as RFC 2047 "B" encoded words in UTF-8 (never splitting a
 * UTF-8 sequence between two words, each word at most 75 octets).
 *
 * Pure; owns nothing. Declared in hdr.h. The caller makes sure text holds
 * no CR, LF or NUL (they are dropped here as a last defence, so a phrase
 * can never inject a header field).
 *
 * STANDARDS: RFC 5322 3.2.5 (phrase), RFC 2047 (encoded words).
 */
#include <ctype.h>
#include <string.h>
#include <openssl/evp.h>

#include "hdr.h"

#define PHRASE_CHUNK 45   /* bytes of text per encoded word: 60 base64 chars */

static int phrase_is_atext(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int hdr_phrase_append(buf *out, const char *text)
{
    int ascii = 1, plain = 1;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p >= 0x80)
            ascii = 0;
        else if (!phrase_is_atext(*p) && *p != ' ')
            plain = 0;
    }
    /* "=?" would read as an encoded word: quote it */
    if (strstr(text, "=?") != NULL)
        plain = 0;
    if (ascii && plain)
        return buf_append_str(out, text);
    if (ascii) {
        if (buf_append_str(out, "\"") != 0)
            return -1;
        for (const char *p = text; *p != '\0'; p++) {
            if (*p == '\r' || *p == '\n')
                continue;
            if ((*p == '"' || *p == '\\') && buf_append_str(out, "\\") != 0)
                return -1;
            if (buf_append(out, p, 1) != 0)
                return -1;
        }
        return buf_append_str(out, "\"");
    }
    size_t len = strlen(text);
    for (size_t i = 0; i < len;) {
        size_t n = len - i < PHRASE_CHUNK ? len - i : PHRASE_CHUNK;
        while (i + n < len && n > 1 && ((unsigned char)text[i + n] & 0xc0) == 0x80)
            n--;
        unsigned char enc[4 * PHRASE_CHUNK / 3 + 8];
        int el = EVP_EncodeBlock(enc, (const unsigned char *)text + i, (int)n);
        if (el < 0)
            return -1;
        if (buf_printf(out, "%s=?UTF-8?B?%.*s?=", i > 0 ? " " : "", el,
                       (const char *)enc) != 0)
            return -1;
        i += n;
    }
    return 0;
}
