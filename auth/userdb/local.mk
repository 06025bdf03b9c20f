# ---- auth/userdb/: the user database (virtual users, APOP secrets) ----------
# A small library in three parts, so each program links only what it uses:
# format + read + the one rule (the server, through auth/), the copy-sync-rename writer
# (apopdb, popauth), bulk export/import/verify (apopdb alone).  GDBM only.
noinst_LIBRARIES += auth/userdb/libuserdb.a auth/userdb/libuserdb_write.a \
	auth/userdb/libuserdb_bulk.a
auth_userdb_libuserdb_a_SOURCES = \
	auth/userdb/userdb.h auth/userdb/userdb_impl.h \
	auth/userdb/userdb_format.c auth/userdb/userdb_read.c \
	auth/userdb/userdb_rule.c
auth_userdb_libuserdb_write_a_SOURCES = \
	auth/userdb/userdb_write.c auth/userdb/userdb_write.h
auth_userdb_libuserdb_bulk_a_SOURCES = \
	auth/userdb/userdb_bulk.c auth/userdb/userdb_bulk.h

USERDB_LDADD = auth/userdb/libuserdb.a $(LIB_LDADD) $(GDBM_LIBS)
USERDB_WRITE_LDADD = auth/userdb/libuserdb_write.a $(USERDB_LDADD)
USERDB_BULK_LDADD = auth/userdb/libuserdb_bulk.a $(USERDB_WRITE_LDADD)

# One test per module of the library; the last three share a fixture.
check_PROGRAMS += tests/unit/auth/userdb/test_userdb_format \
	tests/unit/auth/userdb/test_userdb_read \
	tests/unit/auth/userdb/test_userdb_write \
	tests/unit/auth/userdb/test_userdb_bulk
USERDB_FIXTURE = tests/unit/auth/userdb/userdb_fixture.c \
	tests/unit/auth/userdb/userdb_fixture.h \
	tests/unit/auth/testdir.c tests/unit/auth/testdir.h
tests_unit_auth_userdb_test_userdb_format_LDADD = $(USERDB_LDADD)
tests_unit_auth_userdb_test_userdb_read_SOURCES = \
	tests/unit/auth/userdb/test_userdb_read.c $(USERDB_FIXTURE)
tests_unit_auth_userdb_test_userdb_read_LDADD = $(USERDB_WRITE_LDADD)
tests_unit_auth_userdb_test_userdb_write_SOURCES = \
	tests/unit/auth/userdb/test_userdb_write.c $(USERDB_FIXTURE)
tests_unit_auth_userdb_test_userdb_write_LDADD = $(USERDB_WRITE_LDADD)
tests_unit_auth_userdb_test_userdb_bulk_SOURCES = \
	tests/unit/auth/userdb/test_userdb_bulk.c $(USERDB_FIXTURE)
tests_unit_auth_userdb_test_userdb_bulk_LDADD = $(USERDB_BULK_LDADD)
