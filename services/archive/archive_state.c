/*
 * archive_state.c - configuration shared by the archive API and worker.
 *
 *   MAILYARD_ARCHIVE_HDR_MAX_FIELDS      header fields parsed per post (1000)
 *   MAILYARD_ARCHIVE_HDR_MAX_FIELD_LEN   bytes per folded field (65536)
 *
 * The state lives in main's frame and borrows the service.
 */
#include <string.h>

#include "service.h"
#include "archive.h"

void archive_state_init(archive_state *st, service *svc)
{
    static const char *const result[] = { "result", NULL };

    memset(st, 0, sizeof *st);
    st->svc = svc;
    long f = config_get_long(svc->cfg, "MAILYARD_ARCHIVE_HDR_MAX_FIELDS", 1000);
    long l = config_get_long(svc->cfg, "MAILYARD_ARCHIVE_HDR_MAX_FIELD_LEN", 65536);
    st->hdr_max_fields = f > 0 ? (size_t)f : 1000;
    st->hdr_max_field_len = l > 0 ? (size_t)l : 65536;
    st->archived = metrics_counter(svc->metrics, "mailyard_archive_messages_total",
                                   "Archive jobs handled, by result", result);
}
