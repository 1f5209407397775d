# Reliability tests and maintainer targets (issue 7).
#   t/stress        chaos test of the exactly-once contract (make check runs
#                   a short pass; EVPOOL_STRESS_SECONDS=600 for a long one)
#   check-valgrind  the test programs under valgrind, 0 errors and 0 leaks
#   check-loaded    the suite with two CPU burners beside it
#   lint            cppcheck and clang-tidy over lib/
check_PROGRAMS += t/stress
t_stress_SOURCES = t/stress.c
t_stress_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
t_stress_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += t/stress

# The fault-injection sweep: only in a --enable-fault-injection build (the
# hooks it drives are not in any other).
if FAULT_INJECTION
check_PROGRAMS += t/fault
t_fault_SOURCES = t/fault.c t/tap.c t/tap.h
t_fault_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
t_fault_LDADD = $(EVPOOL_TEST_LDADD)
# The static library: the fault hooks are hidden, like every evpool__ name.
t_fault_LDFLAGS = -static
TESTS += t/fault
endif
EXTRA_DIST += t/fault.c

# ---- make check-valgrind -------------------------------------------------
# Every test program of `make check` under valgrind (memcheck): any error or
# any definitely/indirectly/possibly lost block fails it, and so does a test
# that fails under valgrind's slowdown (EVPOOL_TEST_SLOWDOWN=30 is set for
# tests whose watchdogs read it).  Shell tests are
# left out (they drive programs of their own); t/stress runs 3 s (valgrind
# serialises threads, 15 s would take minutes).  Forked worker processes are
# silent (--child-silent-after-fork): a child exits with the parent's heap
# still mapped, which is not a leak.  No suppressions are needed.
VALGRIND = valgrind
VALGRIND_FLAGS = --error-exitcode=97 --leak-check=full \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible \
	--child-silent-after-fork=yes --num-callers=30
# t/proc runs too: its watchdogs and time limits scale with
# EVPOOL_TEST_SLOWDOWN (tap_slowdown()), and EVPOOL_TEST_VALGRIND=1 tells it
# to skip the RLIMIT_NOFILE check that valgrind's own descriptors break.
VALGRIND_SKIP =
check-valgrind: $(check_PROGRAMS) $(noinst_PROGRAMS)
	@fail=0; for t in $(TESTS); do \
	  case $$t in *.sh) continue;; esac; \
	  case " $(VALGRIND_SKIP) " in *" $$t "*) \
	    echo "SKIP: valgrind $$t (see VALGRIND_SKIP in t/reliability.mk)"; continue;; esac; \
	  log=$$t.valgrind.log; \
	  EVPOOL_STRESS_SECONDS=3 EVPOOL_TEST_SLOWDOWN=30 EVPOOL_TEST_VALGRIND=1 $(LIBTOOL) --mode=execute \
	    $(VALGRIND) $(VALGRIND_FLAGS) --log-file=$$log ./$$t \
	    >$$t.valgrind.out 2>&1; rc=$$?; \
	  if test $$rc = 97 || ! grep -q 'ERROR SUMMARY: 0 errors' $$log; then \
	    echo "FAIL: valgrind $$t: memory errors or leaks (see $$log)"; fail=1; \
	  elif test $$rc != 0; then \
	    echo "FAIL: valgrind $$t: the test failed under valgrind (see $$t.valgrind.out)"; fail=1; \
	  else echo "PASS: valgrind $$t"; fi; \
	done; exit $$fail
.PHONY: check-valgrind

# ---- make lint -----------------------------------------------------------
# cppcheck and clang-tidy (the checks in .clang-tidy) over the library.
# One cppcheck finding is suppressed, with its reason:
#   objectIndex in forkserver.c: evpool__close_fds_except(&ctl, 1) reads
#   keep[i] for i < n only; cppcheck does not follow the bound.
# One clang-tidy finding is filtered by its text, because clang-tidy 14
# reports it under an empty check name that .clang-tidy cannot turn off:
#   "Use of memory allocated with size zero" (queue.c level_get: the
#   capacity starts at 4 and doubles, never 0).
CPPCHECK = cppcheck
CLANG_TIDY = clang-tidy
LINT_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/include -I$(top_builddir)/include \
	-I$(top_srcdir)/lib
lint:
	$(CPPCHECK) --enable=warning,performance,portability --error-exitcode=1 \
	  --quiet --inline-suppr --suppress=objectIndex:$(top_srcdir)/lib/process/forkserver.c \
	  $(LINT_CPPFLAGS) $(top_srcdir)/lib
	@out=`for f in $(lib_libevpool_la_SOURCES); do \
	  case $$f in *.c) ;; *) continue;; esac; \
	  $(CLANG_TIDY) --quiet --config-file=$(top_srcdir)/.clang-tidy \
	    $(top_srcdir)/$$f -- $(LINT_CPPFLAGS) $(LIBEVENT_CFLAGS) -pthread 2>&1; \
	done | grep -E '(warning|error):' | \
	  grep -v 'Use of memory allocated with size zero'`; \
	if test -n "$$out"; then echo "$$out"; echo "clang-tidy: findings above"; exit 1; fi; \
	echo "clang-tidy: clean"
.PHONY: lint

# The HTTPS example under attack (skips itself without the server, curl,
# openssl or python3).
TESTS += t/https-attack.sh
dist_check_SCRIPTS += t/https-attack.sh

# ---- make check-loaded ---------------------------------------------------
# The whole suite with two CPU burners beside it (the 2-CPU machines the
# suite meets in CI and on shared hosts): timing-dependent checks must hold
# under load, without scaling their limits (EVPOOL_TEST_SLOWDOWN stays
# unset).  Not part of CI's time budget.  The burners are this target's own
# children, killed by pid when the run ends.
check-loaded: $(check_PROGRAMS) $(noinst_PROGRAMS)
	@pids=""; for i in 1 2; do ( exec yes >/dev/null ) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "check-loaded: CPU burners$$pids"; \
	$(MAKE) $(AM_MAKEFLAGS) check; rc=$$?; \
	kill $$pids 2>/dev/null; exit $$rc
.PHONY: check-loaded
