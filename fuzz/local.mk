# libFuzzer harnesses (issue 7), built outside automake's normal flow with a
# clang that has -fsanitize=fuzzer (Debian: clang, libclang-rt-14-dev):
#   make fuzz                       build fuzz/fuzz-wire and fuzz/fuzz-config
#   make fuzz-run FUZZ_SECONDS=600  run each that long on its seed corpus
# The harnesses are linked with the library's sources compiled by clang, so
# they reach the internal entry points (evpool__wire_decode(),
# evpool__ring_get(), evpool__config_from_environ(), ...).  New inputs go to
# fuzz/work-<name>/ in the build directory, crashes to fuzz/crash-*.
CLANG = clang
FUZZ_SECONDS = 60
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_TARGETS = fuzz/fuzz-wire fuzz/fuzz-config
EXTRA_DIST += fuzz/fuzz-wire.c fuzz/fuzz-config.c fuzz/corpus

fuzz: $(FUZZ_TARGETS)

fuzz/fuzz-wire: fuzz/fuzz-wire.c
fuzz/fuzz-config: fuzz/fuzz-config.c
$(FUZZ_TARGETS): $(lib_libevpool_la_SOURCES) $(noinst_HEADERS) fuzz/local.mk
	@$(MKDIR_P) fuzz
	@srcs=; for f in $(lib_libevpool_la_SOURCES); do \
	  case $$f in lib/fault/fault.c) ;; *.c) srcs="$$srcs $(top_srcdir)/$$f";; esac; \
	done; \
	echo "  CLANG    $@"; \
	$(CLANG) $(FUZZ_CFLAGS) -I$(top_builddir) -I$(top_srcdir)/include \
	  -I$(top_builddir)/include -I$(top_srcdir)/lib $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) \
	  -o $@ $(top_srcdir)/$@.c $$srcs $(LIBEVENT_LIBS) $(HIREDIS_LIBS) -lpthread

fuzz-run: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  name=`echo $$t | sed 's|fuzz/fuzz-||'`; \
	  $(MKDIR_P) fuzz/work-$$name; \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  ./$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=fuzz/crash-$$name- \
	    fuzz/work-$$name $(top_srcdir)/fuzz/corpus/$$name || exit 1; \
	done

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf $(FUZZ_TARGETS) fuzz/work-* fuzz/crash-*

.PHONY: fuzz fuzz-run clean-fuzz
