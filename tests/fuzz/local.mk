# ---- tests/fuzz/: libFuzzer targets (tests/fuzz/README) ----------------------
# EXTRA_PROGRAMS: never built by "make", "make check" or "make check-build".
# tests/fuzz/fuzz.sh ("make fuzz") builds them in a throw-away copy of the
# tree configured with clang and -fsanitize=fuzzer-no-link,address,undefined
# (every library instrumented), and links them with LIBFUZZER.
FUZZ_TARGETS = \
	tests/fuzz/fuzz_netio tests/fuzz/fuzz_commands tests/fuzz/fuzz_sasl \
	tests/fuzz/fuzz_mbox_index tests/fuzz/fuzz_uidstore tests/fuzz/fuzz_journal \
	tests/fuzz/fuzz_tempdrop_marker tests/fuzz/fuzz_userdb_format \
	tests/fuzz/fuzz_userdb_bulk tests/fuzz/fuzz_config tests/fuzz/fuzz_privsep
EXTRA_PROGRAMS += $(FUZZ_TARGETS)
LIBFUZZER = -fsanitize=fuzzer
FUZZ_UTIL = tests/fuzz/fuzzutil.h

tests_fuzz_fuzz_netio_SOURCES = tests/fuzz/fuzz_netio.c $(FUZZ_UTIL)
tests_fuzz_fuzz_netio_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_netio_LDADD = $(LIB_LDADD)

# The engine must not fork or change privileges in the harness: the link
# sends those calls to the harness (fuzz_commands.c says how).
tests_fuzz_fuzz_commands_SOURCES = tests/fuzz/fuzz_commands.c $(FUZZ_UTIL)
tests_fuzz_fuzz_commands_CFLAGS = $(SERVER_CFLAGS)
tests_fuzz_fuzz_commands_LDFLAGS = $(LIBFUZZER) \
	-Wl,--wrap=monitor_start,--wrap=privdrop_to,--wrap=fork
tests_fuzz_fuzz_commands_LDADD = auth/userdb/libuserdb_write.a $(SERVER_LDADD)

tests_fuzz_fuzz_sasl_SOURCES = tests/fuzz/fuzz_sasl.c $(FUZZ_UTIL)
tests_fuzz_fuzz_sasl_CFLAGS = $(AUTH_CFLAGS)
tests_fuzz_fuzz_sasl_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_sasl_LDADD = auth/userdb/libuserdb_write.a $(AUTH_LDADD)

tests_fuzz_fuzz_mbox_index_SOURCES = tests/fuzz/fuzz_mbox_index.c $(FUZZ_UTIL)
tests_fuzz_fuzz_mbox_index_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_mbox_index_LDADD = $(MAILDROP_LDADD)

tests_fuzz_fuzz_uidstore_SOURCES = tests/fuzz/fuzz_uidstore.c $(FUZZ_UTIL)
tests_fuzz_fuzz_uidstore_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_uidstore_LDADD = $(MAILDROP_LDADD)

tests_fuzz_fuzz_journal_SOURCES = tests/fuzz/fuzz_journal.c $(FUZZ_UTIL)
tests_fuzz_fuzz_journal_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_journal_LDADD = $(MAILDROP_LDADD)

tests_fuzz_fuzz_tempdrop_marker_SOURCES = tests/fuzz/fuzz_tempdrop_marker.c $(FUZZ_UTIL)
tests_fuzz_fuzz_tempdrop_marker_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_tempdrop_marker_LDADD = $(MAILDROP_LDADD)

tests_fuzz_fuzz_userdb_format_SOURCES = tests/fuzz/fuzz_userdb_format.c $(FUZZ_UTIL)
tests_fuzz_fuzz_userdb_format_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_userdb_format_LDADD = $(USERDB_LDADD)

tests_fuzz_fuzz_userdb_bulk_SOURCES = tests/fuzz/fuzz_userdb_bulk.c $(FUZZ_UTIL)
tests_fuzz_fuzz_userdb_bulk_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_userdb_bulk_LDADD = $(USERDB_BULK_LDADD)

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c $(FUZZ_UTIL)
tests_fuzz_fuzz_config_CFLAGS = $(SERVER_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_config_LDADD = $(SERVER_LDADD)

# The auth monitor's request table, driven as a compromised pre-auth process
# would (server/authmon.c); it never forks.
tests_fuzz_fuzz_privsep_SOURCES = tests/fuzz/fuzz_privsep.c $(FUZZ_UTIL)
tests_fuzz_fuzz_privsep_CFLAGS = $(SERVER_CFLAGS)
tests_fuzz_fuzz_privsep_LDFLAGS = $(LIBFUZZER)
tests_fuzz_fuzz_privsep_LDADD = auth/userdb/libuserdb_write.a $(SERVER_LDADD)

# What fuzz.sh builds in its copy.
fuzz-build: $(FUZZ_TARGETS)

EXTRA_DIST += tests/fuzz/README tests/fuzz/fuzz.sh tests/fuzz/corpus \
	tests/fuzz/fuzz_commands.dict tests/fuzz/fuzz_config.dict \
	tests/fuzz/fuzz_mbox_index.dict tests/fuzz/fuzz_sasl.dict
