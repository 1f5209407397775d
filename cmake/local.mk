# CMake package files (issue 18): find_package(libevpool) finds
# $(libdir)/cmake/libevpool/, whose imported target libevpool::libevpool
# carries the include directory, the library and libevent.  The paths are
# filled in at make time (fully expanded, as CMake needs them).
cmakeconfigdir = $(libdir)/cmake/libevpool
nodist_cmakeconfig_DATA = \
	cmake/libevpoolConfig.cmake \
	cmake/libevpoolConfigVersion.cmake
EXTRA_DIST += \
	cmake/libevpoolConfig.cmake.in \
	cmake/libevpoolConfigVersion.cmake.in
CLEANFILES += $(nodist_cmakeconfig_DATA)

evpool_cmake_edit = sed \
	-e 's|@includedir[@]|$(includedir)|g' \
	-e 's|@libdir[@]|$(libdir)|g' \
	-e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	-e 's|@EVPOOL_VERSION_MAJOR[@]|$(EVPOOL_VERSION_MAJOR)|g' \
	-e 's|@SIZEOF_VOID_P[@]|$(SIZEOF_VOID_P)|g'

cmake/libevpoolConfig.cmake: $(srcdir)/cmake/libevpoolConfig.cmake.in Makefile
	$(AM_V_GEN)$(MKDIR_P) cmake && $(evpool_cmake_edit) $(srcdir)/cmake/$(@F).in >$@.tmp && mv $@.tmp $@
cmake/libevpoolConfigVersion.cmake: $(srcdir)/cmake/libevpoolConfigVersion.cmake.in Makefile
	$(AM_V_GEN)$(MKDIR_P) cmake && $(evpool_cmake_edit) $(srcdir)/cmake/$(@F).in >$@.tmp && mv $@.tmp $@
