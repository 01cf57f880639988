/*
 * smtp_tls.h - the OpenSSL server context for STARTTLS (RFC 3207).
 *
 * The certificate chain and key come from the files named by
 * MAILYARD_TLS_CERT_FILE and MAILYARD_TLS_KEY_FILE (PEM; mounted Secrets).
 * TLS 1.2 is the minimum; OpenSSL's default cipher list otherwise, no
 * compression, no renegotiation, server cipher preference.
 *
 * Ownership: smtp_tls_ctx_create() returns a context owned by the server,
 * freed with smtp_tls_ctx_free() (accepts NULL). smtp_tls_accept() returns
 * an SSL the connection owns (SSL_free after SSL_shutdown).
 */
#ifndef MAILYARD_SMTP_TLS_H
#define MAILYARD_SMTP_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* NULL with err filled when a file is unreadable or the key does not
 * match the certificate. */
SSL_CTX *smtp_tls_ctx_create(const char *cert_file, const char *key_file,
                             char *err, size_t errlen);
void     smtp_tls_ctx_free(SSL_CTX *ctx);
/* Server handshake on a blocking socket (its SO_RCVTIMEO/SO_SNDTIMEO
 * bound the wait). NULL with err filled on failure. */
SSL     *smtp_tls_accept(SSL_CTX *ctx, int fd, char *err, size_t errlen);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
void     smtp_tls_describe(SSL *ssl, char *out, size_t outlen);

#endif
