/*
 * smtp_tls.h - the OpenSSL server context for STARTTLS (RFC 3207) and
 * implicit TLS (RFC 8314), and its reload.
 *
 * The certificate chain and key come from the files named by
 * MAILYARD_TLS_CERT_FILE and MAILYARD_TLS_KEY_FILE (PEM; mounted Secrets).
 * TLS 1.2 is the minimum; OpenSSL's default cipher list otherwise, no
 * compression, no renegotiation, server cipher preference.
 *
 * The store (smtp_tls_store) holds the current context and replaces it
 * when SIGHUP was received (the service's reload generation changed) or
 * when the certificate or key file's mtime changed (checked at most once a
 * second, on a new TLS connection): new connections get the new
 * certificate, open ones keep theirs. A failed reload is logged and the
 * old context stays in use.
 *
 * Ownership: smtp_tls_ctx_create() returns a context owned by the server,
 * freed with smtp_tls_ctx_free() (accepts NULL). smtp_tls_store_create()
 * returns a store owned by the server (smtp_tls_store_free, accepts NULL);
 * smtp_tls_store_get() returns a context reference the caller releases with
 * smtp_tls_ctx_free() (after SSL_new, which takes its own).
 * smtp_tls_accept() returns an SSL the connection owns (SSL_free after
 * SSL_shutdown). The store is shared by all connection threads (mutex).
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
/* Makes ssl (before its handshake) request, not require, a client
 * certificate, accepted whatever its chain: submission pins certificates
 * by fingerprint (smtp_submit.h). 0, or -1. */
int      smtp_tls_request_client_cert(SSL *ssl);
typedef struct smtp_tls_store smtp_tls_store;

smtp_tls_store *smtp_tls_store_create(const char *cert_file, const char *key_file,
                                      char *err, size_t errlen);
void            smtp_tls_store_free(smtp_tls_store *st);
/* The current context (a new reference), reloaded first if reload_gen
 * differs from the last one seen or a file's mtime changed. */
SSL_CTX        *smtp_tls_store_get(smtp_tls_store *st, int reload_gen);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
void     smtp_tls_describe(SSL *ssl, char *out, size_t outlen);

#endif
