# ---- lib/: the ground floor: I/O, logging, parsing, safe files, TLS -----------
# Knows nothing above it.  Only tls.c calls a library (OpenSSL); a program
# that never calls tls_* does not pull it in.
noinst_LIBRARIES += lib/libpopcommon.a
lib_libpopcommon_a_SOURCES = \
	lib/netio.c lib/netio.h \
	lib/log.c lib/log.h \
	lib/reason.c lib/reason.h \
	lib/strnum.c lib/strnum.h \
	lib/ctcompare.c lib/ctcompare.h \
	lib/safeopen.c lib/safeopen.h \
	lib/confparse.c lib/confparse.h \
	lib/username.c lib/username.h \
	lib/tls.c lib/tls.h \
	lib/sigwake.c lib/sigwake.h \
	lib/procinfo.c lib/procinfo.h
lib_libpopcommon_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

LIB_LDADD = lib/libpopcommon.a

check_PROGRAMS += \
	tests/unit/lib/test_strnum tests/unit/lib/test_ctcompare \
	tests/unit/lib/test_username tests/unit/lib/test_netio \
	tests/unit/lib/test_log tests/unit/lib/test_safeopen \
	tests/unit/lib/test_confparse tests/unit/lib/test_tls \
	tests/unit/lib/test_procinfo tests/unit/lib/test_reason \
	tests/unit/lib/test_sigwake
tests_unit_lib_test_strnum_LDADD = $(LIB_LDADD)
tests_unit_lib_test_ctcompare_LDADD = $(LIB_LDADD)
tests_unit_lib_test_username_LDADD = $(LIB_LDADD)
tests_unit_lib_test_netio_LDADD = $(LIB_LDADD)
tests_unit_lib_test_log_LDADD = $(LIB_LDADD)
tests_unit_lib_test_safeopen_LDADD = $(LIB_LDADD)
tests_unit_lib_test_confparse_LDADD = $(LIB_LDADD)
tests_unit_lib_test_tls_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_lib_test_tls_LDADD = $(LIB_LDADD) $(OPENSSL_LIBS)
tests_unit_lib_test_procinfo_LDADD = $(LIB_LDADD)
tests_unit_lib_test_reason_LDADD = $(LIB_LDADD)
tests_unit_lib_test_sigwake_LDADD = $(LIB_LDADD)
