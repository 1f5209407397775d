# Core TAP tests: one program per area, each with an exact plan, all run by
# automake's TAP driver.  They use libevpool only through <evpool.h> and
# share the small TAP library in t/tap.[ch].
EVPOOL_CORE_TESTS = \
	t/basic \
	t/errors \
	t/config \
	t/notify \
	t/drain \
	t/multi \
	t/timer \
	t/future \
	t/priority \
	t/queue-bound \
	t/cancel \
	t/batch \
	t/lifecycle \
	t/stats \
	t/emit \
	t/evbuf \
	t/deadline \
	t/resultfree \
	t/order

check_PROGRAMS += $(EVPOOL_CORE_TESTS)
TESTS += $(EVPOOL_CORE_TESTS)

EVPOOL_TAP_SOURCES = t/tap.c t/tap.h
EVPOOL_T_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)

t_basic_SOURCES = t/basic.c $(EVPOOL_TAP_SOURCES)
t_basic_CFLAGS = $(EVPOOL_T_CFLAGS)
t_basic_LDADD = $(EVPOOL_TEST_LDADD)

t_errors_SOURCES = t/errors.c $(EVPOOL_TAP_SOURCES)
t_errors_CFLAGS = $(EVPOOL_T_CFLAGS)
t_errors_LDADD = $(EVPOOL_TEST_LDADD)

t_config_SOURCES = t/config.c $(EVPOOL_TAP_SOURCES)
t_config_CFLAGS = $(EVPOOL_T_CFLAGS)
t_config_LDADD = $(EVPOOL_TEST_LDADD)

t_batch_SOURCES = t/batch.c $(EVPOOL_TAP_SOURCES)
t_batch_CFLAGS = $(EVPOOL_T_CFLAGS)
t_batch_LDADD = $(EVPOOL_TEST_LDADD)

t_notify_SOURCES = t/notify.c $(EVPOOL_TAP_SOURCES)
t_notify_CFLAGS = $(EVPOOL_T_CFLAGS)
t_notify_LDADD = $(EVPOOL_TEST_LDADD)

t_drain_SOURCES = t/drain.c $(EVPOOL_TAP_SOURCES)
t_drain_CFLAGS = $(EVPOOL_T_CFLAGS)
t_drain_LDADD = $(EVPOOL_TEST_LDADD)

t_multi_SOURCES = t/multi.c $(EVPOOL_TAP_SOURCES)
t_multi_CFLAGS = $(EVPOOL_T_CFLAGS)
t_multi_LDADD = $(EVPOOL_TEST_LDADD)

t_timer_SOURCES = t/timer.c $(EVPOOL_TAP_SOURCES)
t_timer_CFLAGS = $(EVPOOL_T_CFLAGS)
t_timer_LDADD = $(EVPOOL_TEST_LDADD)

t_future_SOURCES = t/future.c $(EVPOOL_TAP_SOURCES)
t_future_CFLAGS = $(EVPOOL_T_CFLAGS)
t_future_LDADD = $(EVPOOL_TEST_LDADD)

t_priority_SOURCES = t/priority.c $(EVPOOL_TAP_SOURCES)
t_priority_CFLAGS = $(EVPOOL_T_CFLAGS)
t_priority_LDADD = $(EVPOOL_TEST_LDADD)

t_queue_bound_SOURCES = t/queue-bound.c $(EVPOOL_TAP_SOURCES)
t_queue_bound_CFLAGS = $(EVPOOL_T_CFLAGS)
t_queue_bound_LDADD = $(EVPOOL_TEST_LDADD)

t_cancel_SOURCES = t/cancel.c $(EVPOOL_TAP_SOURCES)
t_cancel_CFLAGS = $(EVPOOL_T_CFLAGS)
t_cancel_LDADD = $(EVPOOL_TEST_LDADD)

t_lifecycle_SOURCES = t/lifecycle.c $(EVPOOL_TAP_SOURCES)
t_lifecycle_CFLAGS = $(EVPOOL_T_CFLAGS)
t_lifecycle_LDADD = $(EVPOOL_TEST_LDADD)

t_stats_SOURCES = t/stats.c $(EVPOOL_TAP_SOURCES)
t_stats_CFLAGS = $(EVPOOL_T_CFLAGS)
t_stats_LDADD = $(EVPOOL_TEST_LDADD)

t_emit_SOURCES = t/emit.c $(EVPOOL_TAP_SOURCES)
t_emit_CFLAGS = $(EVPOOL_T_CFLAGS)
t_emit_LDADD = $(EVPOOL_TEST_LDADD)

# Exported symbols and their man pages.
TESTS += t/exports.sh
dist_check_SCRIPTS += t/exports.sh

# The bad-input table beyond the core (t/errors.c has the core's).
check_PROGRAMS += t/badinput
t_badinput_SOURCES = t/badinput.c t/tap.c t/tap.h
t_badinput_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
t_badinput_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += t/badinput

# evpool_errmsg() names the public function called (issue 18).
check_PROGRAMS += t/errmsg
t_errmsg_SOURCES = t/errmsg.c $(EVPOOL_TAP_SOURCES)
t_errmsg_CFLAGS = $(EVPOOL_T_CFLAGS)
t_errmsg_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += t/errmsg

t_evbuf_SOURCES = t/evbuf.c $(EVPOOL_TAP_SOURCES)
t_evbuf_CFLAGS = $(EVPOOL_T_CFLAGS)
t_evbuf_LDADD = $(EVPOOL_TEST_LDADD)

t_deadline_SOURCES = t/deadline.c $(EVPOOL_TAP_SOURCES)
t_deadline_CFLAGS = $(EVPOOL_T_CFLAGS)
t_deadline_LDADD = $(EVPOOL_TEST_LDADD)

t_resultfree_SOURCES = t/resultfree.c $(EVPOOL_TAP_SOURCES)
t_resultfree_CFLAGS = $(EVPOOL_T_CFLAGS)
t_resultfree_LDADD = $(EVPOOL_TEST_LDADD)

t_order_SOURCES = t/order.c $(EVPOOL_TAP_SOURCES)
t_order_CFLAGS = $(EVPOOL_T_CFLAGS)
t_order_LDADD = $(EVPOOL_TEST_LDADD)
