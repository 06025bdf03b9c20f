# ---- auth/userdb/: the user database (virtual users, APOP secrets) ----------
# Read by auth/ (the server) and written by apopdb/ (the tools); GDBM only.
noinst_LIBRARIES += auth/userdb/libuserdb.a
auth_userdb_libuserdb_a_SOURCES = \
	auth/userdb/userdb.c auth/userdb/userdb.h

USERDB_LDADD = auth/userdb/libuserdb.a $(LIB_LDADD) $(GDBM_LIBS)

check_PROGRAMS += tests/unit/auth/userdb/test_userdb
tests_unit_auth_userdb_test_userdb_LDADD = $(USERDB_LDADD)
