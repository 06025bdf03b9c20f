# ---- server/maildrop/: the maildrop interface and the mbox store ----------------
# Runs as the user, after the privilege drop; libc only.  Sources in floors,
# top first: each file calls only the ones listed after it.
noinst_LIBRARIES += server/maildrop/libmaildrop.a
server_maildrop_libmaildrop_a_SOURCES = \
	server/maildrop/maildrop.c server/maildrop/maildrop.h \
	server/maildrop/maildrop_store.h \
	server/maildrop/tempdrop.c server/maildrop/tempdrop.h \
	server/maildrop/tempdrop_int.h server/maildrop/tempdrop_server.c \
	server/maildrop/tempdrop_movein.c server/maildrop/tempdrop_writeback.c \
	server/maildrop/tempdrop_recover.c server/maildrop/tempdrop_file.c \
	server/maildrop/tempdrop_marker.c \
	server/maildrop/mbox.c server/maildrop/mbox.h \
	server/maildrop/mbox_update.c server/maildrop/mbox_send.c \
	server/maildrop/mbox_journal.c server/maildrop/mbox_journal.h \
	server/maildrop/mbox_index.c server/maildrop/mbox_lock.c \
	server/maildrop/fileops.c server/maildrop/fileops.h \
	server/maildrop/phaserec.c server/maildrop/phaserec.h \
	server/maildrop/uidstore.c server/maildrop/uidstore.h \
	server/maildrop/dotlock.c server/maildrop/dotlock.h

MAILDROP_LDADD = server/maildrop/libmaildrop.a $(LIB_LDADD)

check_PROGRAMS += \
	tests/unit/server/maildrop/test_maildrop \
	tests/unit/server/maildrop/test_mbox tests/unit/server/maildrop/test_mbox_journal \
	tests/unit/server/maildrop/test_tempdrop tests/unit/server/maildrop/test_uidstore \
	tests/unit/server/maildrop/test_dotlock tests/unit/server/maildrop/test_fileops \
	tests/unit/server/maildrop/test_phaserec
tests_unit_server_maildrop_test_maildrop_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_mbox_LDADD = $(MAILDROP_LDADD)
# The tests of mbox*.c, one a module, share a fixture (mboxfixture.h).
check_PROGRAMS += \
	tests/unit/server/maildrop/test_mbox_index tests/unit/server/maildrop/test_mbox_send \
	tests/unit/server/maildrop/test_mbox_update tests/unit/server/maildrop/test_mbox_lock
MBOXFIXTURE = tests/unit/server/maildrop/mboxfixture.c \
	tests/unit/server/maildrop/mboxfixture.h tests/unit/server/maildrop/mdshared.h
tests_unit_server_maildrop_test_mbox_SOURCES = \
	tests/unit/server/maildrop/test_mbox.c $(MBOXFIXTURE)
tests_unit_server_maildrop_test_mbox_index_SOURCES = \
	tests/unit/server/maildrop/test_mbox_index.c $(MBOXFIXTURE)
tests_unit_server_maildrop_test_mbox_index_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_mbox_send_SOURCES = \
	tests/unit/server/maildrop/test_mbox_send.c $(MBOXFIXTURE)
tests_unit_server_maildrop_test_mbox_send_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_mbox_update_SOURCES = \
	tests/unit/server/maildrop/test_mbox_update.c $(MBOXFIXTURE)
tests_unit_server_maildrop_test_mbox_update_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_mbox_lock_SOURCES = \
	tests/unit/server/maildrop/test_mbox_lock.c $(MBOXFIXTURE)
tests_unit_server_maildrop_test_mbox_lock_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_mbox_journal_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_tempdrop_LDADD = $(MAILDROP_LDADD)
# Temp-drop mode: one test per module (test_tempdrop above is tempdrop.c's),
# all built on one fixture.
check_PROGRAMS += \
	tests/unit/server/maildrop/test_tempdrop_server \
	tests/unit/server/maildrop/test_tempdrop_movein \
	tests/unit/server/maildrop/test_tempdrop_writeback \
	tests/unit/server/maildrop/test_tempdrop_recover \
	tests/unit/server/maildrop/test_tempdrop_file \
	tests/unit/server/maildrop/test_tempdrop_marker
TDFIXTURE = tests/unit/server/maildrop/tdfixture.c tests/unit/server/maildrop/tdfixture.h
tests_unit_server_maildrop_test_tempdrop_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_server_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop_server.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_server_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_tempdrop_movein_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop_movein.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_movein_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_tempdrop_writeback_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop_writeback.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_writeback_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_tempdrop_recover_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop_recover.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_recover_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_tempdrop_file_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop_file.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_file_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_tempdrop_marker_SOURCES = \
	tests/unit/server/maildrop/test_tempdrop_marker.c $(TDFIXTURE)
tests_unit_server_maildrop_test_tempdrop_marker_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_uidstore_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_dotlock_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_fileops_LDADD = $(MAILDROP_LDADD)
tests_unit_server_maildrop_test_phaserec_LDADD = $(MAILDROP_LDADD)
