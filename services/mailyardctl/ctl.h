/*
 * ctl.h - shared declarations of mailyardctl, the operator command line.
 *
 * mailyardctl is a thin client of the services' admin APIs (and of the
 * migration runner). main.c holds the dispatch table; each resource group
 * has its own file (ctl_rewrite.c, ctl_lists.c, ctl_archive.c, ctl_relay.c,
 * ctl_migrate.c); ctl_args.c parses per-command options, ctl_api.c makes
 * the calls and maps answers to exit codes, ctl_output.c prints results.
 *
 * Exit codes: CTL_OK (0) on a 2xx answer, CTL_ERR (1) on an API, transport
 * or environment error (message on stderr), CTL_USAGE (2) on bad usage.
 *
 * Ownership: the ctl context lives in main's frame; it owns the config and
 * the token (wiped on ctl_cleanup).
 */
#ifndef MAILYARD_CTL_H
#define MAILYARD_CTL_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "httpc.h"

#define CTL_OK    0
#define CTL_ERR   1
#define CTL_USAGE 2

typedef struct ctl {
    config     *cfg;          /* owned */
    int         json;         /* --json: print the API's JSON as is */
    const char *token_file;   /* --token-file, or NULL (points into argv) */
    char       *token;        /* owned, loaded on first API call, wiped */
} ctl;

/* A command: argv holds the arguments after the verb (after the group for
 * a command without verb such as "migrate"). Returns an exit code. */
typedef int (*ctl_cmd_fn)(ctl *c, int argc, char **argv);

typedef struct ctl_cmd {
    const char *group;        /* "domain" */
    const char *verb;         /* "add", or NULL when the group is the command */
    const char *usage;        /* "domain add NAME" */
    ctl_cmd_fn  fn;
} ctl_cmd;

/* Command tables, each terminated by an entry with group NULL. */
extern const ctl_cmd ctl_migrate_cmds[];
extern const ctl_cmd ctl_rewrite_cmds[];
extern const ctl_cmd ctl_lists_cmds[];
extern const ctl_cmd ctl_archive_cmds[];
extern const ctl_cmd ctl_relay_cmds[];
extern const ctl_cmd ctl_trace_cmds[];       /* ctl_trace.c */
extern const ctl_cmd ctl_dkim_cmds[];        /* ctl_dkim.c: offline sign/seal/verify */
extern const ctl_cmd ctl_checkauth_cmds[];   /* ctl_checkauth.c */
extern const ctl_cmd ctl_dkimkeys_cmds[];    /* ctl_dkimkeys.c: relay's key API */
extern const ctl_cmd ctl_blocks_cmds[];      /* ctl_blocks.c: mx's block rules */
extern const ctl_cmd ctl_tlsrpt_cmds[];      /* ctl_tlsrpt.c: relay tls-report */
extern const ctl_cmd ctl_dmarc_cmds[];       /* ctl_dmarc.c: DMARC mitigation */
extern const ctl_cmd ctl_verp_cmds[];        /* ctl_verp.c: a list's VERP setting */
extern const ctl_cmd ctl_submission_cmds[];  /* ctl_submission.c: mx's submission API */

/* --- ctl_args.c: per-command options ----------------------------------- */

typedef struct ctl_opt {
    const char *name;         /* "--name" */
    int         has_value;
    const char *value;        /* filled: points into argv (or "" for flags) */
} ctl_opt;

/* Splits argv into positional arguments (pos, at most maxpos) and the
 * options in opts ("--x v" or "--x=v"). Returns the number of positionals,
 * or -1 after printing the problem (unknown option, missing value, too
 * many arguments). "--" ends options. */
int ctl_args_parse(int argc, char **argv, ctl_opt *opts, size_t nopts,
                   char **pos, size_t maxpos);
/* Prints "usage: mailyardctl <usage>" on stderr and returns CTL_USAGE. */
int ctl_usage(const char *usage);
/* For an argument that is not valid UTF-8 (json_pack refused it): prints
 * the problem and returns CTL_USAGE. */
int ctl_bad_text(void);

/* --- ctl_api.c: calls ----------------------------------------------------- */

enum ctl_service { CTL_REWRITE, CTL_LISTS, CTL_ARCHIVE, CTL_RELAY, CTL_MX };

/* How to print a successful answer (ctl_output.c). */
enum ctl_show {
    CTL_SHOW_LIST,            /* {"things":[...]}: one line per element */
    CTL_SHOW_OBJECT,          /* "key: value" lines */
    CTL_SHOW_DONE,            /* the object if any, else "ok" */
};

/* Builds a path from tmpl, replacing each "{}" by the next argument
 * percent-encoded as one path segment. Arguments end with NULL. Caller
 * frees. */
char *ctl_path(const char *tmpl, ...) __attribute__((sentinel));
/* Makes the call. On a 2xx answer returns CTL_OK with *res filled (caller
 * frees with httpc_result_free). Otherwise prints the error on stderr (and
 * with --json the error body on stdout), frees *res and returns CTL_ERR.
 * body is not stolen. */
int  ctl_api(ctl *c, enum ctl_service svc, const char *method, const char *path,
             const json_t *body, httpc_result *res);
/* ctl_api() followed by ctl_print(); returns the exit code. */
int  ctl_run(ctl *c, enum ctl_service svc, const char *method, const char *path,
             const json_t *body, enum ctl_show show);

/* --- ctl_output.c: printing --------------------------------------------- */

/* Prints a successful result: the body as is with --json, else per show. */
void ctl_print(const ctl *c, const httpc_result *res, enum ctl_show show);
/* One array element (or scalar) on one line: key=value for scalar fields,
 * arrays of scalars joined with ','. */
void ctl_print_line(const json_t *v);
/* Every field of an object as "key: value" (non-scalars as compact JSON). */
void ctl_print_object(const json_t *obj);

#endif
