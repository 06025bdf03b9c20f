# ---- auth/userdb/: the user database (virtual users, APOP secrets) ----------
# A small library in three parts, so each program links only what it uses:
# format + read (the server, through auth/), the copy-sync-rename writer
# (apopdb, popauth), bulk export/import/verify (apopdb alone).  GDBM only.
noinst_LIBRARIES += auth/userdb/libuserdb.a auth/userdb/libuserdb_write.a \
	auth/userdb/libuserdb_bulk.a
auth_userdb_libuserdb_a_SOURCES = \
	auth/userdb/userdb.h auth/userdb/userdb_impl.h \
	auth/userdb/userdb_format.c auth/userdb/userdb_read.c
auth_userdb_libuserdb_write_a_SOURCES = \
	auth/userdb/userdb_write.c auth/userdb/userdb_write.h
auth_userdb_libuserdb_bulk_a_SOURCES = \
	auth/userdb/userdb_bulk.c auth/userdb/userdb_bulk.h

USERDB_LDADD = auth/userdb/libuserdb.a $(LIB_LDADD) $(GDBM_LIBS)
USERDB_WRITE_LDADD = auth/userdb/libuserdb_write.a $(USERDB_LDADD)
USERDB_BULK_LDADD = auth/userdb/libuserdb_bulk.a $(USERDB_WRITE_LDADD)

check_PROGRAMS += tests/unit/auth/userdb/test_userdb
tests_unit_auth_userdb_test_userdb_LDADD = $(USERDB_BULK_LDADD)
