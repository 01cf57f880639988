/*
 * smtp_submit.c - credentials, sender grants, From: check and client
 * certificates of the submission service, against PostgreSQL. See
 * smtp_submit.h.
 *
 * SECURITY: user names, addresses and fingerprints reach SQL only as
 * parameters. Passwords go only to submit_pw_verify(); an unknown user is
 * verified against a dummy hash so the answer takes as long. From: values
 * are parsed by smtp_submit_from.c; anything unparseable is refused,
 * never guessed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "addr.h"
#include "hdr.h"
#include "log.h"
#include "xalloc.h"
#include "submit_pw.h"
#include "smtp_submit.h"

#define SMTP_SUBMIT_HDR_FIELDS    1000
#define SMTP_SUBMIT_HDR_FIELD_LEN (64 * 1024)

struct smtp_submit {
    db_pool *db;                 /* borrowed */
    int      db_timeout_ms;
    char    *dummy_hash;         /* owned: for unknown users */
};

static enum smtp_cred smtp_submit_granted(smtp_submit *x, const char *user,
                                          const char *addr, const char *kind);

smtp_submit *smtp_submit_create(db_pool *db, int db_timeout_ms)
{
    smtp_submit *x = xcalloc(1, sizeof *x);
    x->db = db;
    x->db_timeout_ms = db_timeout_ms;
    unsigned char rnd[16];
    char pw[33];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        fatal("no random bytes for the submission dummy hash");
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
    x->dummy_hash = submit_pw_hash(pw);
    if (x->dummy_hash == NULL)
        fatal("libcrypt cannot make a yescrypt hash");
    return x;
}

void smtp_submit_free(smtp_submit *x)
{
    if (x == NULL)
        return;
    free(x->dummy_hash);
    free(x);
}

enum smtp_cred smtp_submit_auth(smtp_submit *x, const char *user, const char *pass)
{
    db_conn *c = db_pool_acquire(x->db, x->db_timeout_ms);
    if (c == NULL)
        return SMTP_CRED_TEMPFAIL;
    PGresult *r = db_queryv(c, "SELECT password_hash FROM mx.submission_users WHERE name = $1",
                            1, user);
    if (r == NULL) {
        log_error("submission user lookup failed", "error", db_conn_error(c));
        db_pool_release(x->db, c);
        return SMTP_CRED_TEMPFAIL;
    }
    char *hash = PQntuples(r) == 1 ? xstrdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    db_pool_release(x->db, c);
    int ok = submit_pw_verify(pass, hash != NULL ? hash : x->dummy_hash) && hash != NULL;
    free(hash);
    return ok ? SMTP_CRED_OK : SMTP_CRED_BAD;
}

/* Is addr (any case) granted to user for kind ("envelope"/"from")? */
static enum smtp_cred smtp_submit_granted(smtp_submit *x, const char *user,
                                          const char *addr, const char *kind)
{
    const char *dom = addr_domain(addr);
    if (dom == NULL || *dom == '\0')
        return SMTP_CRED_BAD;
    char *low = addr_lower(addr);
    char wild[SMTP_PATH_MAX + 2];
    snprintf(wild, sizeof wild, "@%s", addr_domain(low));
    enum smtp_cred v = SMTP_CRED_TEMPFAIL;
    db_conn *c = db_pool_acquire(x->db, x->db_timeout_ms);
    if (c != NULL) {
        PGresult *r = db_queryv(c, "SELECT 1 FROM mx.submission_grants WHERE username = $1"
                                   " AND kind IN ('any', $2) AND address IN ($3, $4) LIMIT 1",
                                4, user, kind, low, wild);
        if (r == NULL)
            log_error("submission grant lookup failed", "error", db_conn_error(c));
        else
            v = PQntuples(r) > 0 ? SMTP_CRED_OK : SMTP_CRED_BAD;
        PQclear(r);
        db_pool_release(x->db, c);
    }
    free(low);
    return v;
}

enum smtp_cred smtp_submit_sender(smtp_submit *x, const char *user, const char *mail_from)
{
    if (mail_from[0] == '\0')
        return SMTP_CRED_OK;              /* the null sender claims no address */
    return smtp_submit_granted(x, user, mail_from, "envelope");
}

enum smtp_cred smtp_submit_cert_user(smtp_submit *x, const char *fingerprint,
                                     char *user, size_t userlen)
{
    db_conn *c = db_pool_acquire(x->db, x->db_timeout_ms);
    if (c == NULL)
        return SMTP_CRED_TEMPFAIL;
    enum smtp_cred v = SMTP_CRED_TEMPFAIL;
    PGresult *r = db_queryv(c, "SELECT username FROM mx.submission_certs"
                               " WHERE fingerprint = $1", 1, fingerprint);
    if (r == NULL)
        log_error("submission certificate lookup failed", "error", db_conn_error(c));
    else if (PQntuples(r) == 1 && str_copy(user, userlen, PQgetvalue(r, 0, 0)) == 0)
        v = SMTP_CRED_OK;
    else
        v = SMTP_CRED_BAD;
    PQclear(r);
    db_pool_release(x->db, c);
    return v;
}

int smtp_submit_peer_fingerprint(SSL *ssl, char hex[65])
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32;
    X509_free(cert);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void smtp_submit_client_cert(smtp_submit *x, SSL *ssl, smtp_session *s)
{
    char fp[65], user[SMTP_SASL_FIELD_MAX + 1];
    if (smtp_submit_peer_fingerprint(ssl, fp) != 0)
        return;
    enum smtp_cred v = smtp_submit_cert_user(x, fp, user, sizeof user);
    if (v == SMTP_CRED_OK) {
        smtp_session_auth_set(s, user, "certificate");
        log_info("smtp authenticated", "client", s->client_ip, "user", user,
                 "method", "certificate", "fingerprint", fp);
    } else {
        log_info(v == SMTP_CRED_BAD ? "client certificate not registered"
                                    : "client certificate lookup failed",
                 "client", s->client_ip, "fingerprint", fp);
    }
}

int smtp_submit_from_check(smtp_submit *x, const smtp_session *s, smtp_tx *tx)
{
    const buf *body = &tx->data.body;
    const char *end = memmem(body->data, body->len, "\r\n\r\n", 4);
    size_t hlen = end != NULL ? (size_t)(end - body->data) + 4 : body->len;
    enum hdr_error herr;
    hdr_msg *h = hdr_parse(body->data, hlen, SMTP_SUBMIT_HDR_FIELDS,
                           SMTP_SUBMIT_HDR_FIELD_LEN, &herr);
    char addrs[SMTP_SUBMIT_FROM_MAX][SMTP_PATH_MAX + 1];
    int n = 0, syntax = h == NULL || hdr_count(h, "From") == 0;
    for (size_t i = 0; !syntax && i < hdr_count(h, "From"); i++) {
        char *v = hdr_field_value(h, (size_t)hdr_find(h, "From", i));
        int k = v != NULL ? smtp_submit_from_parse(v, addrs + n, SMTP_SUBMIT_FROM_MAX - n) : -1;
        free(v);
        if (k <= 0)
            syntax = 1;
        else
            n += k;
    }
    hdr_msg_free(h);
    tx->reply_reason = "submission_from";
    if (syntax) {
        tx->reply_code = 550;
        (void)str_copy(tx->reply_text, sizeof tx->reply_text,
                       "5.7.1 Error: message needs a From: header field with valid addresses");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        enum smtp_cred v = smtp_submit_granted(x, s->auth_user, addrs[i], "from");
        if (v == SMTP_CRED_OK)
            continue;
        if (v == SMTP_CRED_TEMPFAIL) {
            tx->reply_code = 451;
            (void)str_copy(tx->reply_text, sizeof tx->reply_text,
                           "4.7.1 Error: From: check failed, try again later");
        } else {
            tx->reply_code = 550;
            snprintf(tx->reply_text, sizeof tx->reply_text,
                     "5.7.1 <%.120s>: From: address not owned by user %.80s", addrs[i],
                     s->auth_user);
            log_info("submission refused: From: not granted", "client", s->client_ip,
                     "user", s->auth_user, "from", addrs[i]);
        }
        return -1;
    }
    tx->reply_reason = NULL;
    return 0;
}
