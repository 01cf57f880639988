/*
 * shutdown.h - SIGTERM/SIGINT handling for services.
 *
 * shutdown_install() blocks SIGTERM, SIGINT and SIGHUP in the calling
 * thread (call it in main before creating threads, so every thread inherits
 * the mask) and starts a small thread that sigwait()s for them. On SIGTERM
 * or SIGINT it sets the flag that shutdown_requested() reads and writes a
 * byte to the pipe whose read end shutdown_fd() returns, so poll loops wake
 * up. SIGHUP increments a reload generation (shutdown_reload_gen()).
 * SIGPIPE is ignored.
 *
 * The state is a struct owned by main and passed by pointer to whoever needs
 * to check it (no global mutable state outside main).
 */
#ifndef MAILYARD_SHUTDOWN_H
#define MAILYARD_SHUTDOWN_H

#include <stdatomic.h>

typedef struct shutdown_state {
    atomic_int stop;        /* set once a stop signal arrived */
    atomic_int reload_gen;  /* incremented on SIGHUP */
    int        pipe_rd;     /* readable once stop is set */
    int        pipe_wr;
} shutdown_state;

/* Returns 0, or -1 if the pipe or thread could not be created. */
int  shutdown_install(shutdown_state *s);
int  shutdown_requested(const shutdown_state *s);
/* Request a stop from inside the process (tests, fatal paths). */
void shutdown_request(shutdown_state *s);
/* Sleep up to ms milliseconds, returning early (1) when a stop is
 * requested; 0 when the time passed. */
int  shutdown_sleep(shutdown_state *s, int ms);

#endif
