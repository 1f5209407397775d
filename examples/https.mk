# The example HTTPS server (issue 5).  Built only when configure found
# libevent_openssl and OpenSSL (HAVE_TLS); its test skips itself otherwise.
if HAVE_TLS
noinst_PROGRAMS += examples/https-server
examples_https_server_SOURCES = \
	examples/https-server.c \
	examples/https-http.c \
	examples/https-jobs.c \
	examples/https-tls.c \
	examples/https-frame.c \
	examples/https-server.h
# The default --root is the www/ directory of this source tree; a package
# that installs the server and its www/ elsewhere sets https_www_root
# (debian/rules does).
https_www_root = $(abs_top_srcdir)/examples/www
examples_https_server_CPPFLAGS = $(AM_CPPFLAGS) \
	-DHTTPS_WWW_ROOT='"$(https_www_root)"'
examples_https_server_CFLAGS = $(AM_CFLAGS) $(EVPOOL_WARN_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(TLS_CFLAGS)
examples_https_server_LDADD = $(EVPOOL_TEST_LDADD) $(TLS_LIBS) \
	$(HTTP_PARSER_LIBS)
endif

TESTS += t/https-server.sh t/https-frame.sh t/https-queues.sh t/https-files.sh
dist_check_SCRIPTS += t/https-server.sh t/https-frame.sh t/https-queues.sh \
	t/https-files.sh
# Sourced by t/https-server.sh and t/https-attack.sh (t/reliability.mk).
EXTRA_DIST += t/https-lib.sh
# Raw requests over TLS, judged (t/https-frame.sh).
EXTRA_DIST += t/https-raw.py
EXTRA_DIST += \
	examples/www/index.html \
	examples/www/hello.txt \
	examples/www/style.css \
	examples/www/data.json \
	bench/https-wrk.sh \
	bench/https-vs-nginx.sh
# The example is not installed, so neither is its page: it ships in the
# tarball (man -l man/evpool-https-server.1).
EXTRA_DIST += man/evpool-https-server.1
