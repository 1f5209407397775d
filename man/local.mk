# Man pages: one per public function and per public struct, generated from
# include/evpool.h and its parts by
# man/gen-man.py (`make man` after changing the header; the pages are
# committed so that a tarball build needs no Python).  The HTTPS example's
# page is added by examples/https.mk.
include man/pages.mk
EXTRA_DIST += man/gen-man.py
.PHONY: man
man:
	cd $(top_srcdir) && python3 man/gen-man.py include/evpool.h man $(PACKAGE_VERSION)

# Every page renders clean, with no Doxygen markup, working SEE ALSO links,
# a page per public struct, and matches the headers (issue 18).
TESTS += t/man-render.sh
dist_check_SCRIPTS += t/man-render.sh
