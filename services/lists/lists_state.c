/*
 * lists_state.c - the state the lists API and the "lists" worker share:
 * configuration read once at start-up, the posts counter, and the Redis
 * handle the API uses to publish the jobs an approval creates.
 *
 * Configuration (docs/lists.md):
 *   MAILYARD_ARCHIVE_PUBLIC_URL        base of List-Archive (http://127.0.0.1:9104)
 *   MAILYARD_LISTS_HDR_MAX_FIELDS      header fields per post (1000)
 *   MAILYARD_LISTS_HDR_MAX_FIELD_LEN   bytes per folded field (65536)
 *   MAILYARD_LISTS_BOUNCE_DISABLE_AFTER  no list mail to a member with this
 *                                      many counted bounces (0 = never)
 *
 * Ownership: lists_state lives in main's frame; it borrows the service and
 * owns q (created lazily, under q_lock, because libmicrohttpd runs handlers
 * on several threads and one hiredis context is not thread-safe).
 */
#include <string.h>

#include "jobq.h"
#include "log.h"
#include "service.h"
#include "lists.h"

void lists_state_init(lists_state *st, service *svc)
{
    static const char *const outcome[] = { "outcome", NULL };

    memset(st, 0, sizeof *st);
    st->svc = svc;
    st->archive_url = config_get(svc->cfg, "MAILYARD_ARCHIVE_PUBLIC_URL",
                                 "http://127.0.0.1:9104");
    long f = config_get_long(svc->cfg, "MAILYARD_LISTS_HDR_MAX_FIELDS", 1000);
    long l = config_get_long(svc->cfg, "MAILYARD_LISTS_HDR_MAX_FIELD_LEN", 65536);
    st->hdr_max_fields = f > 0 ? (size_t)f : 1000;
    st->hdr_max_field_len = l > 0 ? (size_t)l : 65536;
    long b = config_get_long(svc->cfg, "MAILYARD_LISTS_BOUNCE_DISABLE_AFTER", 0);
    st->bounce_disable_after = b > 0 && b <= 1000000 ? b : 0;
    st->posts = metrics_counter(svc->metrics, "mailyard_lists_posts_total",
                                "Posts handled by the lists stage, by outcome",
                                outcome);
    if (pthread_mutex_init(&st->q_lock, NULL) != 0)
        fatal("pthread_mutex_init failed");
    lists_dmarc_init(st);
}

void lists_state_release(lists_state *st)
{
    jobq_free(st->q);
    st->q = NULL;
    lists_dmarc_release(st);
    pthread_mutex_destroy(&st->q_lock);
}

void lists_state_publish(lists_state *st, db_conn *c, const spool_jobs *l)
{
    if (l->n == 0)
        return;
    if (pthread_mutex_lock(&st->q_lock) != 0)
        panic("pthread_mutex_lock failed");
    if (st->q == NULL)
        st->q = service_jobq(st->svc, "lists-api");
    if (st->q != NULL)
        worker_publish(st->q, c, l);
    else
        log_warn("no Redis handle for publishing; the sweeper will publish");
    pthread_mutex_unlock(&st->q_lock);
}
