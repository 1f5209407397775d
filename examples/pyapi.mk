# Examples of the Python-style API (issue 3): each mirrors a Python program
# named in its opening comment, prints TAP, and is run by `make check`.
# Each reads EVPOOL_* from the environment, so `EVPOOL_MODE=process make
# check` runs them on worker processes.
EVPOOL_PY_EXAMPLES = \
	examples/lifecycle \
	examples/map \
	examples/priority \
	examples/queues \
	examples/generator \
	examples/config

noinst_PROGRAMS += $(EVPOOL_PY_EXAMPLES)
TESTS += $(EVPOOL_PY_EXAMPLES)

examples_lifecycle_SOURCES = examples/lifecycle.c
examples_lifecycle_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_lifecycle_LDADD = $(EVPOOL_TEST_LDADD)

examples_map_SOURCES = examples/map.c
examples_map_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_map_LDADD = $(EVPOOL_TEST_LDADD)

examples_priority_SOURCES = examples/priority.c
examples_priority_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_priority_LDADD = $(EVPOOL_TEST_LDADD)

examples_queues_SOURCES = examples/queues.c
examples_queues_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_queues_LDADD = $(EVPOOL_TEST_LDADD)

examples_generator_SOURCES = examples/generator.c
examples_generator_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_generator_LDADD = $(EVPOOL_TEST_LDADD)

examples_config_SOURCES = examples/config.c
examples_config_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_config_LDADD = $(EVPOOL_TEST_LDADD)
