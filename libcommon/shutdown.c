/*
 * shutdown.c - SIGTERM/SIGINT/SIGHUP handling through a sigwait() thread.
 *
 * Owns: the self-pipe in the caller's shutdown_state (both ends
 * non-blocking, close-on-exec) and a detached thread that lives until the
 * process exits. No signal handlers run our code: the signals are blocked
 * in every thread (the mask is inherited from main) and taken synchronously
 * by the sigwait() thread, so the flag and the pipe write happen in plain
 * thread context. The pipe is never drained, so every poller of the read
 * end keeps seeing it readable once a stop was requested.
 */
#include "shutdown.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *shutdown_thread(void *arg);
static void  shutdown_signal_set(sigset_t *set);

static void shutdown_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

static void *shutdown_thread(void *arg)
{
    shutdown_state *s = arg;
    sigset_t set;
    shutdown_signal_set(&set);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP)
            atomic_fetch_add(&s->reload_gen, 1);
        else
            shutdown_request(s);
    }
    return NULL;
}

int shutdown_install(shutdown_state *s)
{
    atomic_init(&s->stop, 0);
    atomic_init(&s->reload_gen, 0);
    s->pipe_rd = s->pipe_wr = -1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return -1;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    s->pipe_rd = fds[0];
    s->pipe_wr = fds[1];

    sigset_t set;
    shutdown_signal_set(&set);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        goto fail;
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        goto fail;
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
        pthread_create(&t, &attr, shutdown_thread, s) != 0) {
        pthread_attr_destroy(&attr);
        goto fail;
    }
    pthread_attr_destroy(&attr);
    return 0;
fail:
    close(s->pipe_rd);
    close(s->pipe_wr);
    s->pipe_rd = s->pipe_wr = -1;
    return -1;
}

int shutdown_requested(const shutdown_state *s)
{
    return atomic_load(&s->stop) != 0;
}

void shutdown_request(shutdown_state *s)
{
    if (atomic_exchange(&s->stop, 1) != 0)
        return;                 /* already requested: the pipe is readable */
    if (s->pipe_wr >= 0) {
        ssize_t w;
        do
            w = write(s->pipe_wr, "x", 1);
        while (w < 0 && errno == EINTR);
    }
}

int shutdown_sleep(shutdown_state *s, int ms)
{
    struct timespec start, now;
    if (clock_gettime(CLOCK_MONOTONIC, &start) != 0)
        return shutdown_requested(s);
    for (;;) {
        if (shutdown_requested(s))
            return 1;
        if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
            return 0;
        long elapsed = (long)(now.tv_sec - start.tv_sec) * 1000 +
                       (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= ms)
            return 0;
        struct pollfd p = { .fd = s->pipe_rd, .events = POLLIN };
        int r = poll(&p, s->pipe_rd >= 0 ? 1 : 0, (int)(ms - elapsed));
        if (r < 0 && errno != EINTR)
            return shutdown_requested(s);
    }
}
