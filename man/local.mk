# Man pages: one per public function, generated from include/evpool.h by
# man/gen-man.py (`make man` after changing the header; the pages are
# committed so that a tarball build needs no Python).  The HTTPS example's
# page is added by examples/https.mk.
include man/pages.mk
EXTRA_DIST += man/gen-man.py
.PHONY: man
man:
	cd $(top_srcdir) && python3 man/gen-man.py include/evpool.h man $(PACKAGE_VERSION)
