# Debian packages (issue 18): `make deb` builds libevpool0, libevpool-dev and
# evpool-https-server from this version's `make dist` tarball with
# `dpkg-buildpackage -us -uc -b` (debian/rules; the package build skips the
# test suite, which CI runs on its own builds) and runs lintian on them; the
# packages land in deb/.  `make deb-check` (root: it installs them) installs
# deb/*.deb with apt-get, builds and runs the README example against /usr
# with pkg-config and with CMake (t/installcheck.sh), checks the server and a
# man page, and removes the packages again (KEEP_DEBS=1 keeps them).
EXTRA_DIST += \
	debian/changelog \
	debian/control \
	debian/copyright \
	debian/rules \
	debian/source/format \
	debian/libevpool0.install \
	debian/libevpool0.symbols \
	debian/libevpool-dev.install \
	debian/evpool-https-server.install \
	debian/evpool-https-server.manpages \
	debian/evpool-worker.install

EVPOOL_DEBS = libevpool0 libevpool-dev evpool-https-server evpool-worker

deb: dist-gzip
	rm -rf deb deb-build && mkdir deb-build
	cp $(distdir).tar.gz deb-build/$(PACKAGE)_$(VERSION).orig.tar.gz
	tar -C deb-build -xzf $(distdir).tar.gz
	cd deb-build/$(distdir) && dpkg-buildpackage -us -uc -b
	mkdir deb && mv deb-build/*.deb deb-build/*.changes deb-build/*.buildinfo deb/
	rm -rf deb-build
	lintian --fail-on error deb/*.changes
	@ls -l deb/*.deb

deb-check:
	apt-get install -y -qq --no-install-recommends \
	  $(EVPOOL_DEBS:%=$(abs_builddir)/deb/%_$(VERSION)-*.deb) >/dev/null
	multiarch=$$(dpkg-architecture -qDEB_HOST_MULTIARCH) && \
	prefix=/usr libdir=/usr/lib/$$multiarch top_srcdir='$(abs_top_srcdir)' \
	  CC='$(CC)' $(SHELL) '$(abs_top_srcdir)/t/installcheck.sh' >deb-check.log 2>&1; \
	  rc=$$?; cat deb-check.log; \
	  evpool-https-server --help | grep -q /usr/share/evpool-https-server/www && \
	  echo "ok - evpool-https-server --help names its installed www/" && \
	  man -w evpool_submit && man -w evpool-https-server && \
	  test $$rc = 0 && ! grep -q '^not ok' deb-check.log; rc=$$?; \
	  if [ "$(KEEP_DEBS)" != 1 ]; then apt-get purge -y -qq $(EVPOOL_DEBS) >/dev/null; fi; \
	  exit $$rc

clean-local: clean-deb
clean-deb:
	rm -rf deb deb-build deb-check.log
.PHONY: deb deb-check clean-deb
