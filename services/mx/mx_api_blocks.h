/*
 * mx_api_blocks.h - mx's HTTP API for block rules (docs/api/mx-blocks.yaml,
 * docs/mx.md "Block rules"):
 *
 *   GET    /v1/blocks[?kind=K]   {"blocks":[rule...]}
 *   POST   /v1/blocks            {"kind","value","reason"[,"expires_at"|
 *                                 "expires_in"]} -> 201 rule | 400 | 409
 *   DELETE /v1/blocks/{id}       204 | 404
 *
 * A rule: {"id","kind","value","reason","created_at","expires_at"|null,
 * "active"}. The routes go on the service's admin server (bearer token).
 * The SMTP side sees changes through mx.blocks_version (smtp_blocks.h).
 */
#ifndef MAILYARD_MX_API_BLOCKS_H
#define MAILYARD_MX_API_BLOCKS_H

#include "service.h"

/* Registers the routes; svc is borrowed and must outlive the server. 0 or -1. */
int mx_api_blocks_register(service *svc);

#endif
