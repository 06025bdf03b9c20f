# ---- auth/: one face (auth/auth.h), one file per backend ----------------------
noinst_LIBRARIES += auth/libpopauth.a
auth_libpopauth_a_SOURCES = \
	auth/auth.c auth/auth.h auth/backend.h \
	auth/auth_pam.c auth/auth_userdb.c \
	auth/sasl.c auth/sasl.h auth/sasl_auxprop.c \
	auth/kpop.c auth/kpop.h
AUTH_CFLAGS = $(AM_CFLAGS) $(PAM_CFLAGS) $(OPENSSL_CFLAGS) $(SASL_CFLAGS) $(KRB5_CFLAGS)
auth_libpopauth_a_CFLAGS = $(AUTH_CFLAGS)

AUTH_LDADD = auth/libpopauth.a $(USERDB_LDADD) \
	$(PAM_LIBS) $(OPENSSL_LIBS) $(SASL_LIBS) $(KRB5_LIBS)

check_PROGRAMS += tests/unit/auth/test_auth tests/unit/auth/test_auth_userdb \
	tests/unit/auth/test_auth_pam tests/unit/auth/test_kpop \
	tests/unit/auth/test_sasl tests/unit/auth/test_sasl_auxprop
# test_auth, test_auth_userdb, test_auth_pam and test_sasl_auxprop run under
# pam_wrapper (pamwrap.c); all but test_auth_pam in the made-up accounts
# (accounts.c).  test_sasl and test_sasl_auxprop drive libsasl2's client
# (saslpeer.c).
TESTDIR = tests/unit/auth/testdir.c tests/unit/auth/testdir.h
PAMWRAP = tests/unit/auth/pamwrap.c tests/unit/auth/pamwrap.h $(TESTDIR)
ACCOUNTS = tests/unit/auth/accounts.c tests/unit/auth/accounts.h $(PAMWRAP)
SASLPEER = tests/unit/auth/saslpeer.c tests/unit/auth/saslpeer.h
# The user database tests' helpers that plant records (put_sys, raw_store).
PLANT = tests/unit/auth/userdb/userdb_fixture.c tests/unit/auth/userdb/userdb_fixture.h
tests_unit_auth_test_auth_SOURCES = tests/unit/auth/test_auth.c $(ACCOUNTS)
tests_unit_auth_test_auth_CFLAGS = $(AUTH_CFLAGS)
tests_unit_auth_test_auth_LDADD = auth/userdb/libuserdb_write.a $(AUTH_LDADD)
tests_unit_auth_test_auth_userdb_SOURCES = tests/unit/auth/test_auth_userdb.c \
	$(ACCOUNTS) $(PLANT)
tests_unit_auth_test_auth_userdb_CFLAGS = $(AUTH_CFLAGS)
tests_unit_auth_test_auth_userdb_LDADD = auth/userdb/libuserdb_write.a $(AUTH_LDADD)
tests_unit_auth_test_auth_pam_SOURCES = tests/unit/auth/test_auth_pam.c $(PAMWRAP)
tests_unit_auth_test_auth_pam_CFLAGS = $(AUTH_CFLAGS)
tests_unit_auth_test_auth_pam_LDADD = $(AUTH_LDADD)
tests_unit_auth_test_sasl_SOURCES = tests/unit/auth/test_sasl.c $(SASLPEER) $(TESTDIR)
tests_unit_auth_test_sasl_CFLAGS = $(AUTH_CFLAGS)
tests_unit_auth_test_sasl_LDADD = auth/userdb/libuserdb_write.a $(AUTH_LDADD)
tests_unit_auth_test_sasl_auxprop_SOURCES = tests/unit/auth/test_sasl_auxprop.c \
	$(SASLPEER) $(ACCOUNTS) $(PLANT)
tests_unit_auth_test_sasl_auxprop_CFLAGS = $(AUTH_CFLAGS)
tests_unit_auth_test_sasl_auxprop_LDADD = auth/userdb/libuserdb_write.a $(AUTH_LDADD)
tests_unit_auth_test_kpop_SOURCES = tests/unit/auth/test_kpop.c $(TESTDIR)
tests_unit_auth_test_kpop_CFLAGS = $(AUTH_CFLAGS)
tests_unit_auth_test_kpop_LDADD = $(AUTH_LDADD)
