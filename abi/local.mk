# The guarded ABI (issue 18): abi/libevpool.map is the library's linker
# version script (lib/local.mk), abi/libevpool.abi the baseline of the last
# release.  `make check-abi` (CI) compares the library just built with it
# and fails on an incompatible change; `make abi-baseline` remakes the
# baseline after a release.  Rules and bump steps: abi/README.md.
EXTRA_DIST += abi/README.md abi/libevpool.map abi/libevpool.abi abi/check-abi.sh

EVPOOL_ABI_HDRDIRS = $(top_srcdir)/include $(top_builddir)/include
EVPOOL_ABI_LIB = lib/.libs/libevpool.so.0

check-abi: lib/libevpool.la
	ABIDIFF='$(ABIDIFF)' $(SHELL) $(top_srcdir)/abi/check-abi.sh \
	  $(top_srcdir)/abi/libevpool.abi $(EVPOOL_ABI_LIB) $(EVPOOL_ABI_HDRDIRS)

abi-baseline: lib/libevpool.la
	$(ABIDW) --no-corpus-path --no-comp-dir-path --short-locs \
	  $(EVPOOL_ABI_HDRDIRS:%=--headers-dir %) --drop-undefined-syms \
	  $(EVPOOL_ABI_LIB) >$(top_srcdir)/abi/libevpool.abi.tmp
	mv $(top_srcdir)/abi/libevpool.abi.tmp $(top_srcdir)/abi/libevpool.abi
.PHONY: check-abi abi-baseline
