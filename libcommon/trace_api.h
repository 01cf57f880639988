/*
 * trace_api.h - GET /v1/trace/{id} on every service: "where is my mail?"
 * for the part of the story this service wrote.
 *
 * id is a queue id or a Message-ID (with or without angle brackets). The
 * answer holds this service's events from spool.events for every spool
 * message that has the given queue id, shares the Message-ID of such a
 * message (or the given one), or descends from one of those through the
 * parent_id chain (list copies, DSNs), oldest first:
 *
 *   {"service": "relay", "events": [{"at": "2026-...T...123456Z",
 *     "service", "event", "detail": {...} or null, "queue_id",
 *     "job_id": n or null}, ...]}
 *
 * An id that matches nothing gives an empty list (other services may
 * still know it). mailyardctl trace asks every service and merges the
 * lists by "at" (microseconds, UTC, so the strings sort in time order).
 *
 * service_init() registers the route for every service (libcommon
 * service.c); the handler borrows the service's database pool.
 */
#ifndef MAILYARD_TRACE_API_H
#define MAILYARD_TRACE_API_H

struct service;

/* Registers GET /v1/trace/ * (without the space) on svc->http; the service
 * struct must outlive the HTTP server (it does: main's frame). 0 or -1. */
int trace_api_register(struct service *svc);

#endif
