/*
 * smtp_loop.h - the event loop of mx's SMTP server (libevent): one thread
 * that accepts on every listener of the table, does all socket and TLS
 * I/O of every connection (smtp_conn.c), its timeouts, the connection
 * limits and the drain on shutdown. The blocking work of a session runs
 * on the worker pool (smtp_workers.h); a worker hands the connection back
 * with smtp_loop_job_done(), which wakes the loop.
 *
 * Stop: no more accepts; idle sessions get "421 4.3.2" at once, the
 * others finish for up to srv->drain_s seconds, then every session still
 * open gets "421 4.3.2" after its current job; the thread ends when the
 * last connection is closed.
 *
 * Ownership: smtp_loop_start() returns a loop the server owns;
 * smtp_loop_stop() drains, joins and frees it (accepts NULL). The server
 * must outlive the loop; its listener sockets stay the server's.
 */
#ifndef MAILYARD_SMTP_LOOP_H
#define MAILYARD_SMTP_LOOP_H

#include <stddef.h>
#include "smtp_conn.h"

typedef struct smtp_loop smtp_loop;

smtp_loop *smtp_loop_start(smtp_server *srv, char *err, size_t errlen);
void       smtp_loop_stop(smtp_loop *l);

/* For smtp_conn.c (loop thread unless said otherwise). */
struct event_base *smtp_loop_base(smtp_loop *l);
/* Any thread: c's worker job is over; the loop continues with it. */
void smtp_loop_job_done(smtp_loop *l, smtp_conn *c);
void smtp_loop_conn_add(smtp_loop *l, smtp_conn *c);
/* Unlinks c and counts it gone (ends the loop when stopping and none is
 * left). */
void smtp_loop_conn_remove(smtp_loop *l, smtp_conn *c);
int  smtp_loop_stopping(const smtp_loop *l);
int  smtp_loop_aborting(const smtp_loop *l);

#endif
