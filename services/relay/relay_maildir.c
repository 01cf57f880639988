/*
 * relay_maildir.c - Maildir delivery for the "maildir" transport (see
 * relay_maildir.h). Owns nothing between calls.
 */
#include "relay_maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int maildir_mkdir(const char *path, char *err, size_t errlen);
static int maildir_write_all(int fd, const char *p, size_t n);
static int maildir_has_eol(const char *s);

int relay_maildir_name(char *out, size_t outlen, time_t now, pid_t pid,
                       int thread_no, unsigned long counter, const char *host)
{
    int w = snprintf(out, outlen, "%lld.%ld_%d_%lu.", (long long)now,
                     (long)pid, thread_no, counter);
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    size_t o = (size_t)w;
    for (const char *h = host; *h != '\0'; h++) {
        const char *piece = NULL;
        char one[2] = { *h, '\0' };
        if (*h == '/')
            piece = "\\057";
        else if (*h == ':')
            piece = "\\072";
        else
            piece = one;
        size_t pl = strlen(piece);
        if (o + pl >= outlen)
            return -1;
        memcpy(out + o, piece, pl);
        o += pl;
    }
    out[o] = '\0';
    return 0;
}

int relay_maildir_prepare(const char *dir, char *err, size_t errlen)
{
    static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
    char path[4096];

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        int w = snprintf(path, sizeof(path), "%s%s", dir, subs[i]);
        if (w < 0 || (size_t)w >= sizeof(path)) {
            snprintf(err, errlen, "maildir path too long");
            return -1;
        }
        if (maildir_mkdir(path, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int relay_maildir_deliver(const char *dir, const char *name, const char *sender,
                          const char *rcpt, const char *msg, size_t len,
                          char *err, size_t errlen)
{
    char tmp[4096], fin[4096], head[1200];

    if (maildir_has_eol(sender) || maildir_has_eol(rcpt)) {
        snprintf(err, errlen, "line break in an envelope address");
        return -1;
    }
    int a = snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
    int b = snprintf(fin, sizeof(fin), "%s/new/%s", dir, name);
    int h = snprintf(head, sizeof(head), "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
                     sender, rcpt);
    if (a < 0 || b < 0 || h < 0 || (size_t)a >= sizeof(tmp) ||
        (size_t)b >= sizeof(fin) || (size_t)h >= sizeof(head)) {
        snprintf(err, errlen, "maildir path or header too long");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (maildir_write_all(fd, head, (size_t)h) != 0 ||
        maildir_write_all(fd, msg, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, fin) != 0) {
        snprintf(err, errlen, "rename to %s: %s", fin, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* Make the rename durable too. */
    char newdir[4096];
    int d = snprintf(newdir, sizeof(newdir), "%s/new", dir);
    if (d > 0 && (size_t)d < sizeof(newdir)) {
        int dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) != 0) {
                snprintf(err, errlen, "fsync %s: %s", newdir, strerror(errno));
                close(dfd);
                return -1;
            }
            close(dfd);
        }
    }
    return 0;
}

static int maildir_mkdir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        snprintf(err, errlen, "%s is not a directory", path);
        return -1;
    }
    snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
    return -1;
}

static int maildir_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int maildir_has_eol(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}
