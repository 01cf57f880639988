/*
 * dkim_bench.c - the Mailyard side of tests/bench/dkim_sign: signs one
 * message file with one key (libcommon/dkim.h, dkim_sign) again and again
 * on one thread for a given time and prints "signatures_per_second N",
 * counted per second of this process's CPU time (user + system), as
 * `openssl speed` counts per second of user CPU time: on a busy machine
 * both then measure one core's rate, not the share of it they got.
 *
 * Usage: dkim_bench KEY.pem MESSAGE SECONDS
 *        dkim_bench --raw-ed25519 SECONDS
 * The second form times libsodium's bare Ed25519 signature of a 32-byte
 * digest (what dkim_sign calls for an Ed25519 key), so the report can show
 * the DKIM work on top of the signature beside the comparison with
 * `openssl speed`.
 * Owns: the key, the message bytes and each signature it makes (freed at
 * once). Not built by `make`; bench.py compiles it against libmailyard.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "dkim.h"

#define BENCH_MSG_MAX (16u * 1024 * 1024)

static char  *bench_read_file(const char *path, size_t *len);
static double bench_now(clockid_t clk);
static int    bench_raw_ed25519(double seconds);

/* Bare crypto_sign_ed25519_detached over a 32-byte digest, per CPU second. */
static int
bench_raw_ed25519(double seconds)
{
    unsigned char pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_ed25519_SECRETKEYBYTES];
    unsigned char dig[32], sig[crypto_sign_ed25519_BYTES];
    unsigned long n = 0;
    double t0, t, c0, c;

    if (sodium_init() < 0 || crypto_sign_ed25519_keypair(pk, sk) != 0) {
        fprintf(stderr, "libsodium initialisation failed\n");
        return 1;
    }
    memset(dig, 0x5a, sizeof(dig));
    t0 = bench_now(CLOCK_MONOTONIC);
    c0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
    do {
        if (crypto_sign_ed25519_detached(sig, NULL, dig, sizeof(dig), sk) != 0) {
            fprintf(stderr, "crypto_sign_ed25519_detached failed\n");
            return 1;
        }
        dig[0] = sig[0];    /* each signature over a new digest */
        n++;
        t = bench_now(CLOCK_MONOTONIC);
    } while (t - t0 < seconds);
    c = bench_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("algorithm libsodium-ed25519\nsignatures %lu\ncpu_seconds %.3f\n"
           "signatures_per_second %.1f\n", n, c, c > 0.0 ? (double)n / c : 0.0);
    return 0;
}

static char *
bench_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    size_t n;

    if (f == NULL)
        return NULL;
    p = malloc(BENCH_MSG_MAX);
    if (p == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(p, 1, BENCH_MSG_MAX, f);
    if (ferror(f) || n == BENCH_MSG_MAX) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *len = n;
    return p;
}

static double
bench_now(clockid_t clk)
{
    struct timespec ts;

    if (clock_gettime(clk, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    char err[256] = "";
    dkim_key *key;
    char *msg, *value = NULL;
    size_t len = 0;
    double seconds, t0, t, c0, c;
    unsigned long n = 0;

    if (argc == 3 && strcmp(argv[1], "--raw-ed25519") == 0) {
        seconds = atof(argv[2]);
        if (seconds <= 0.0 || seconds > 600.0) {
            fprintf(stderr, "SECONDS must be in (0, 600]\n");
            return 2;
        }
        return bench_raw_ed25519(seconds);
    }
    if (argc != 4) {
        fprintf(stderr, "usage: %s KEY.pem MESSAGE SECONDS | --raw-ed25519 SECONDS\n",
                argv[0]);
        return 2;
    }
    seconds = atof(argv[3]);
    if (seconds <= 0.0 || seconds > 600.0) {
        fprintf(stderr, "SECONDS must be in (0, 600]\n");
        return 2;
    }
    key = dkim_key_load_file(argv[1], err, sizeof(err));
    if (key == NULL) {
        fprintf(stderr, "key %s: %s\n", argv[1], err);
        return 1;
    }
    msg = bench_read_file(argv[2], &len);
    if (msg == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        dkim_key_free(key);
        return 1;
    }
    t0 = bench_now(CLOCK_MONOTONIC);
    c0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
    do {
        if (dkim_sign(key, "example.test", "bench", NULL, 1700000000, msg, len,
                      &value, err, sizeof(err)) != 0) {
            fprintf(stderr, "dkim_sign: %s\n", err);
            free(msg);
            dkim_key_free(key);
            return 1;
        }
        if (n == 0)
            fprintf(stderr, "DKIM-Signature: %s\n", value);
        free(value);
        value = NULL;
        n++;
        t = bench_now(CLOCK_MONOTONIC);
    } while (t - t0 < seconds);
    c = bench_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("algorithm %s\nsignatures %lu\nseconds %.3f\ncpu_seconds %.3f\n"
           "signatures_per_second %.1f\nsignatures_per_wall_second %.1f\n",
           dkim_algo_name(dkim_key_algo(key)), n, t - t0, c,
           c > 0.0 ? (double)n / c : 0.0, (double)n / (t - t0));
    free(msg);
    dkim_key_free(key);
    return 0;
}
