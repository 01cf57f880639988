/*
 * ctl_dkimkeys.c - mailyardctl commands for the relay's DKIM keys, over
 * /v1/dkim/keys of the relay (services/relay/relay_api_dkim.c,
 * docs/dkim-arc.md "Key rotation"):
 *
 *   dkim keys [DOMAIN]                               GET /v1/dkim/keys
 *   dkim generate DOMAIN [--selector S] [--algorithm A]  POST /v1/dkim/keys
 *   dkim rotate DOMAIN                               POST /v1/dkim/keys/rotate
 *   dkim retire ID                                   DELETE /v1/dkim/keys/{id}
 *
 * keys, generate and rotate print the DNS records to publish, one per line
 * (retired keys are marked); --json prints the API's answer. Owns nothing
 * beyond each call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int dkimkeys_keys(ctl *c, int argc, char **argv);
static int dkimkeys_generate(ctl *c, int argc, char **argv);
static int dkimkeys_rotate(ctl *c, int argc, char **argv);
static int dkimkeys_retire(ctl *c, int argc, char **argv);
static int dkimkeys_call(ctl *c, const char *method, const char *path, const json_t *body);
static void dkimkeys_print(const json_t *key);

const ctl_cmd ctl_dkimkeys_cmds[] = {
    { "dkim", "keys",     "dkim keys [DOMAIN]",                                 dkimkeys_keys },
    { "dkim", "generate", "dkim generate DOMAIN [--selector S] [--algorithm A]",
      dkimkeys_generate },
    { "dkim", "rotate",   "dkim rotate DOMAIN",                                 dkimkeys_rotate },
    { "dkim", "retire",   "dkim retire ID",                                     dkimkeys_retire },
    { NULL, NULL, NULL, NULL },
};

static int dkimkeys_keys(ctl *c, int argc, char **argv)
{
    char *pos[1];
    int n = ctl_args_parse(argc, argv, NULL, 0, pos, 1);
    if (n < 0)
        return ctl_usage("dkim keys [DOMAIN]");
    char *path = n == 1 ? ctl_path("/v1/dkim/keys?domain={}", pos[0], NULL)
                        : ctl_path("/v1/dkim/keys", NULL);
    int rc = dkimkeys_call(c, "GET", path, NULL);
    free(path);
    return rc;
}

static int dkimkeys_generate(ctl *c, int argc, char **argv)
{
    static const char *usage = "dkim generate DOMAIN [--selector S] [--algorithm A]";
    ctl_opt opts[] = { { "--selector", 1, NULL }, { "--algorithm", 1, NULL } };
    char *pos[1];
    if (ctl_args_parse(argc, argv, opts, 2, pos, 1) != 1)
        return ctl_usage(usage);
    json_t *body = json_pack("{s:s}", "domain", pos[0]);
    if (body == NULL)
        return ctl_bad_text();
    if ((opts[0].value != NULL &&
         json_object_set_new(body, "selector", json_string(opts[0].value)) != 0) ||
        (opts[1].value != NULL &&
         json_object_set_new(body, "algorithm", json_string(opts[1].value)) != 0)) {
        json_decref(body);
        return ctl_bad_text();
    }
    int rc = dkimkeys_call(c, "POST", "/v1/dkim/keys", body);
    json_decref(body);
    return rc;
}

static int dkimkeys_rotate(ctl *c, int argc, char **argv)
{
    char *pos[1];
    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("dkim rotate DOMAIN");
    json_t *body = json_pack("{s:s}", "domain", pos[0]);
    if (body == NULL)
        return ctl_bad_text();
    int rc = dkimkeys_call(c, "POST", "/v1/dkim/keys/rotate", body);
    json_decref(body);
    return rc;
}

static int dkimkeys_retire(ctl *c, int argc, char **argv)
{
    char *pos[1];
    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("dkim retire ID");
    char *path = ctl_path("/v1/dkim/keys/{}", pos[0], NULL);
    int rc = dkimkeys_call(c, "DELETE", path, NULL);
    free(path);
    return rc;
}

/* Calls the relay and prints the key(s) of the answer: {"keys": [...]} or
 * one key object. */
static int dkimkeys_call(ctl *c, const char *method, const char *path, const json_t *body)
{
    httpc_result res;
    if (path == NULL)
        return CTL_ERR;
    int rc = ctl_api(c, CTL_RELAY, method, path, body, &res);
    if (rc != CTL_OK)
        return rc;
    if (c->json) {
        ctl_print(c, &res, CTL_SHOW_OBJECT);
    } else {
        json_t *v = res.json;
        json_t *keys = json_object_get(v, "keys");
        if (json_is_array(keys)) {
            size_t i;
            json_t *k;
            json_array_foreach(keys, i, k)
                dkimkeys_print(k);
        } else if (json_is_object(v)) {
            dkimkeys_print(v);
        }
    }
    httpc_result_free(&res);
    return CTL_OK;
}

static void dkimkeys_print(const json_t *key)
{
    const char *rec = json_string_value(json_object_get(key, "dns_record"));
    const char *state = json_string_value(json_object_get(key, "state"));
    const char *src = json_string_value(json_object_get(key, "source"));
    if (src != NULL && strcmp(src, "file") == 0) {     /* MAILYARD_RELAY_DKIM_KEY_DIR */
        const char *alg = json_string_value(json_object_get(key, "algorithm"));
        printf("; file %s %s\n%s\n", alg ? alg : "?", state ? state : "?", rec ? rec : "");
        return;
    }
    printf("; id=%lld %s %s\n%s\n", (long long)json_integer_value(json_object_get(key, "id")),
           json_string_value(json_object_get(key, "algorithm")) ? json_string_value(json_object_get(key, "algorithm")) : "?", state ? state : "?",
           rec ? rec : "");
}
