/*
 * ctl_args.c - per-command option parsing for mailyardctl.
 *
 * Owns nothing: values point into argv. Options are long only ("--page 2"
 * or "--page=2"); "--" ends them. Anything else is a positional argument.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int
ctl_args_parse(int argc, char **argv, ctl_opt *opts, size_t nopts,
               char **pos, size_t maxpos)
{
    size_t npos = 0;
    int only_pos = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && strncmp(a, "--", 2) == 0) {
            const char *eq = strchr(a, '=');
            size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
            ctl_opt *o = NULL;
            for (size_t j = 0; j < nopts; j++)
                if (strlen(opts[j].name) == nlen && strncmp(opts[j].name, a, nlen) == 0)
                    o = &opts[j];
            if (o == NULL) {
                fprintf(stderr, "mailyardctl: unknown option %.*s\n", (int)nlen, a);
                return -1;
            }
            if (!o->has_value) {
                if (eq != NULL) {
                    fprintf(stderr, "mailyardctl: %s takes no value\n", o->name);
                    return -1;
                }
                o->value = "";
            } else if (eq != NULL) {
                o->value = eq + 1;
            } else if (i + 1 < argc) {
                o->value = argv[++i];
            } else {
                fprintf(stderr, "mailyardctl: %s needs a value\n", o->name);
                return -1;
            }
            continue;
        }
        if (npos >= maxpos) {
            fprintf(stderr, "mailyardctl: unexpected argument \"%s\"\n", a);
            return -1;
        }
        pos[npos++] = argv[i];
    }
    return (int)npos;
}

int
ctl_usage(const char *usage)
{
    fprintf(stderr, "usage: mailyardctl %s\n", usage);
    return CTL_USAGE;
}

int
ctl_bad_text(void)
{
    fprintf(stderr, "mailyardctl: arguments must be valid UTF-8 text\n");
    return CTL_USAGE;
}
