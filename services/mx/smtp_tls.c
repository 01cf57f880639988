/*
 * smtp_tls.c - OpenSSL server context, its reloading store, and the
 * handshake for STARTTLS and implicit TLS. See smtp_tls.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_tls.h"

struct smtp_tls_store {
    pthread_mutex_t lock;
    SSL_CTX        *ctx;              /* owned reference */
    char           *cert_file, *key_file;   /* owned */
    struct timespec cert_mtime, key_mtime;
    int             gen;              /* reload generation of ctx */
    time_t          checked;          /* last mtime check (monotonic s) */
};

static int smtp_tls_mtimes(const smtp_tls_store *st, struct timespec *c, struct timespec *k);

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

/* Client certificates are pinned by fingerprint, not validated. */
static int smtp_tls_verify_any(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok;
    (void)x;
    return 1;
}

int smtp_tls_request_client_cert(SSL *ssl)
{
    static const unsigned char sid[] = "mailyard-submission";
    SSL_set_verify(ssl, SSL_VERIFY_PEER, smtp_tls_verify_any);
    return SSL_set_session_id_context(ssl, sid, sizeof sid - 1) == 1 ? 0 : -1;
}

void smtp_tls_describe(SSL *ssl, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

/* The mtimes of both files; -1 if one cannot be stat'ed. */
static int smtp_tls_mtimes(const smtp_tls_store *st, struct timespec *c, struct timespec *k)
{
    struct stat a, b;
    if (stat(st->cert_file, &a) != 0 || stat(st->key_file, &b) != 0)
        return -1;
    *c = a.st_mtim;
    *k = b.st_mtim;
    return 0;
}

smtp_tls_store *smtp_tls_store_create(const char *cert_file, const char *key_file,
                                      char *err, size_t errlen)
{
    SSL_CTX *ctx = smtp_tls_ctx_create(cert_file, key_file, err, errlen);
    if (ctx == NULL)
        return NULL;
    smtp_tls_store *st = xcalloc(1, sizeof *st);
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        fatal("smtp_tls_store: mutex");
    st->ctx = ctx;
    st->cert_file = xstrdup(cert_file);
    st->key_file = xstrdup(key_file);
    if (smtp_tls_mtimes(st, &st->cert_mtime, &st->key_mtime) != 0)
        memset(&st->cert_mtime, 0, sizeof st->cert_mtime);
    return st;
}

void smtp_tls_store_free(smtp_tls_store *st)
{
    if (st == NULL)
        return;
    SSL_CTX_free(st->ctx);
    free(st->cert_file);
    free(st->key_file);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

SSL_CTX *smtp_tls_store_get(smtp_tls_store *st, int reload_gen)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&st->lock);
    int reload = reload_gen != st->gen;
    struct timespec cm, km;
    if (!reload && now.tv_sec != st->checked) {
        st->checked = now.tv_sec;
        if (smtp_tls_mtimes(st, &cm, &km) == 0 &&
            (memcmp(&cm, &st->cert_mtime, sizeof cm) != 0 ||
             memcmp(&km, &st->key_mtime, sizeof km) != 0))
            reload = 1;
    }
    if (reload) {
        char err[256];
        st->gen = reload_gen;
        SSL_CTX *fresh = smtp_tls_ctx_create(st->cert_file, st->key_file, err, sizeof err);
        if (smtp_tls_mtimes(st, &cm, &km) == 0) {
            st->cert_mtime = cm;      /* a broken pair is not retried until it changes */
            st->key_mtime = km;
        }
        if (fresh != NULL) {
            SSL_CTX_free(st->ctx);
            st->ctx = fresh;
            log_info("tls certificate reloaded", "cert", st->cert_file);
        } else {
            log_error("tls certificate reload failed; keeping the old one", "error", err);
        }
    }
    SSL_CTX *ctx = st->ctx;
    if (SSL_CTX_up_ref(ctx) != 1)
        fatal("SSL_CTX_up_ref failed");
    pthread_mutex_unlock(&st->lock);
    return ctx;
}
