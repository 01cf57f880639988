/*
 * smtp_tls.c - OpenSSL server context and handshake for STARTTLS.
 * See smtp_tls.h.
 */
#include <stdio.h>
#include <openssl/err.h>
#include "smtp_tls.h"

static void smtp_tls_error(const char *what, char *err, size_t errlen)
{
    char detail[256];
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, detail, sizeof detail);
    else
        snprintf(detail, sizeof detail, "unknown error");
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, detail);
}

SSL_CTX *smtp_tls_ctx_create(const char *cert_file, const char *key_file,
                             char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        smtp_tls_error("SSL_CTX_new", err, errlen);
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        smtp_tls_error("TLS 1.2 minimum", err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        smtp_tls_error(cert_file, err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        smtp_tls_error(key_file, err, errlen);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void smtp_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);                /* accepts NULL */
}

SSL *smtp_tls_accept(SSL_CTX *ctx, int fd, char *err, size_t errlen)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        smtp_tls_error("SSL_new", err, errlen);
        return NULL;
    }
    if (SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
        smtp_tls_error("TLS handshake", err, errlen);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void smtp_tls_describe(SSL *ssl, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
