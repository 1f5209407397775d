# `make installcheck` (and so `make distcheck`): the installed library, its
# libevpool.pc and its CMake files are enough to build the README example
# (t/installcheck.sh, TAP).  It runs against $(prefix), never DESTDIR.
EXTRA_DIST += t/installcheck.sh t/cmake-consumer/CMakeLists.txt

installcheck-local:
	prefix='$(prefix)' libdir='$(libdir)' top_srcdir='$(abs_top_srcdir)' \
	  CC='$(CC)' $(SHELL) '$(abs_top_srcdir)/t/installcheck.sh' \
	  >installcheck.log 2>&1; rc=$$?; cat installcheck.log; \
	  test $$rc = 0 && ! grep -q '^not ok' installcheck.log && \
	  test "$$(grep -c '^ok' installcheck.log)" = "$$(sed -n 's/^1\.\.//p' installcheck.log)"
CLEANFILES += installcheck.log
