/*
 * test_relay_conn.c - unit tests for the relay's connection cache and
 * destination slots (services/relay/relay_conn.c), with the SMTP session
 * replaced by a stub that records closes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../services/relay/relay_conn.c"

struct relay_smtp_session {
    int reusable;
    int *closed;
};

int relay_smtp_reusable(const relay_smtp_session *s)
{
    return s->reusable;
}

void relay_smtp_close(relay_smtp_session *s)
{
    if (s != NULL)
        (*s->closed)++;
}

static void test_take_put_and_keys(void **state)
{
    (void)state;
    int closed = 0;
    relay_smtp_session a = { 1, &closed }, b = { 1, &closed }, bad = { 0, &closed };
    relay_conn_pool *p = relay_conn_pool_create(60, 2);

    assert_null(relay_conn_take(p, "k1"));
    relay_conn_put(p, "k1", &a);
    relay_conn_put(p, "k2", &b);
    relay_conn_put(p, "k1", &bad);          /* not reusable: closed at once */
    assert_int_equal(closed, 1);
    assert_ptr_equal(relay_conn_take(p, "k1"), &a);
    assert_null(relay_conn_take(p, "k1"));  /* taken means gone */
    assert_ptr_equal(relay_conn_take(p, "k2"), &b);
    relay_conn_put(p, "k2", &b);
    relay_conn_pool_free(p);                /* closes what is idle */
    assert_int_equal(closed, 2);
}

static void test_reuse_off_closes(void **state)
{
    (void)state;
    int closed = 0;
    relay_smtp_session a = { 1, &closed };
    relay_conn_pool *p = relay_conn_pool_create(0, 1);
    relay_conn_put(p, "k", &a);
    assert_int_equal(closed, 1);
    assert_null(relay_conn_take(p, "k"));
    relay_conn_pool_free(p);
}

static void test_idle_sessions_expire(void **state)
{
    (void)state;
    int closed = 0;
    relay_smtp_session a = { 1, &closed };
    relay_conn_pool *p = relay_conn_pool_create(1, 1);
    relay_conn_put(p, "k", &a);
    sleep(2);
    assert_null(relay_conn_take(p, "k"));
    assert_int_equal(closed, 1);
    relay_conn_pool_free(p);
    assert_int_equal(closed, 1);
}

static void test_idle_cap_drops_the_oldest(void **state)
{
    (void)state;
    int closed = 0;
    static relay_smtp_session s[RELAY_CONN_IDLE_MAX + 1];
    char key[32];
    relay_conn_pool *p = relay_conn_pool_create(60, 1);
    for (int i = 0; i <= RELAY_CONN_IDLE_MAX; i++) {
        s[i] = (relay_smtp_session){ 1, &closed };
        snprintf(key, sizeof(key), "k%d", i);
        relay_conn_put(p, key, &s[i]);
    }
    assert_int_equal(closed, 1);
    assert_null(relay_conn_take(p, "k0"));
    assert_ptr_equal(relay_conn_take(p, "k1"), &s[1]);
    relay_conn_pool_free(p);
    assert_int_equal(closed, RELAY_CONN_IDLE_MAX);
}

static void test_destination_slots(void **state)
{
    (void)state;
    relay_conn_pool *p = relay_conn_pool_create(10, 2);
    assert_int_equal(relay_conn_dest_acquire(p, "a.example", 1), 0);
    assert_int_equal(relay_conn_dest_acquire(p, "A.example", 1), 0);   /* case-insensitive */
    assert_int_equal(relay_conn_dest_acquire(p, "a.example", 1), -1);  /* full: times out */
    assert_int_equal(relay_conn_dest_acquire(p, "b.example", 1), 0);   /* others are not */
    relay_conn_dest_release(p, "a.example");
    assert_int_equal(relay_conn_dest_acquire(p, "a.example", 1), 0);
    relay_conn_dest_release(p, "a.example");
    relay_conn_dest_release(p, "a.example");
    relay_conn_dest_release(p, "b.example");
    relay_conn_dest_release(p, "never.example");                       /* harmless */
    assert_null(p->dests);
    relay_conn_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_put_and_keys),
        cmocka_unit_test(test_reuse_off_closes),
        cmocka_unit_test(test_idle_sessions_expire),
        cmocka_unit_test(test_idle_cap_drops_the_oldest),
        cmocka_unit_test(test_destination_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
