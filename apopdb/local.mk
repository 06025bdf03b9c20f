# ---- apopdb/: apopdb (admin tool) and popauth (users set their own secret) ----
# Both stand on the user database alone: no PAM, SASL, Kerberos or TLS.
sbin_PROGRAMS += apopdb/apopdb
bin_PROGRAMS += apopdb/popauth
apopdb_apopdb_SOURCES = apopdb/apopdb.c apopdb/entry.c apopdb/entry.h \
	apopdb/secret.c apopdb/secret.h
apopdb_apopdb_LDADD = $(USERDB_BULK_LDADD)
apopdb_popauth_SOURCES = apopdb/popauth.c apopdb/entry.c apopdb/entry.h \
	apopdb/secret.c apopdb/secret.h
apopdb_popauth_LDADD = $(USERDB_WRITE_LDADD)
# popauth is setuid to the database owner ($(APOP_OWNER), never root), and the
# database gets a directory of its own that only the owner can write.  As
# root with the account present this is done here; otherwise (a package
# build, or no such account yet) we say what to run.
install-exec-hook:
	@popauth="$(DESTDIR)$(bindir)/popauth"; \
	dbdir=`dirname "$(AUTH_DB_PATH)"`; \
	$(MKDIR_P) "$(DESTDIR)$$dbdir" || exit 1; \
	if test "`id -u`" = 0 && id "$(APOP_OWNER)" >/dev/null 2>&1; then \
	  chown "$(APOP_OWNER)" "$$popauth" "$(DESTDIR)$$dbdir" && \
	  chmod 4755 "$$popauth" && chmod 0700 "$(DESTDIR)$$dbdir" || exit 1; \
	  echo "popauth: installed setuid $(APOP_OWNER) (mode 4755); $$dbdir belongs to $(APOP_OWNER)"; \
	else \
	  echo "popauth: NOT made setuid (not root, or no account \"$(APOP_OWNER)\")."; \
	  echo "  Create the account if needed:  useradd --system --no-create-home --shell /usr/sbin/nologin $(APOP_OWNER)"; \
	  echo "  Then (Debian packages):  dpkg-statoverride --update --add $(APOP_OWNER) root 4755 $(bindir)/popauth"; \
	  echo "                           dpkg-statoverride --update --add $(APOP_OWNER) root 0700 $$dbdir"; \
	  echo "  or by hand:  chown $(APOP_OWNER) $(bindir)/popauth $$dbdir && chmod 4755 $(bindir)/popauth && chmod 0700 $$dbdir"; \
	fi

# The database directory goes only when empty: a database is never removed.
uninstall-hook:
	-@dbdir=`dirname "$(AUTH_DB_PATH)"`; rmdir "$(DESTDIR)$$dbdir" 2>/dev/null; :

# ---- tests/unit/apopdb/ -------------------------------------------------------
check_PROGRAMS += tests/unit/apopdb/test_secret tests/unit/apopdb/test_entry
tests_unit_apopdb_test_secret_SOURCES = tests/unit/apopdb/test_secret.c \
	apopdb/secret.c apopdb/secret.h
tests_unit_apopdb_test_secret_LDADD = $(LIB_LDADD)
tests_unit_apopdb_test_entry_SOURCES = tests/unit/apopdb/test_entry.c \
	apopdb/entry.c apopdb/entry.h tests/unit/auth/testdir.c tests/unit/auth/testdir.h
tests_unit_apopdb_test_entry_LDADD = $(USERDB_WRITE_LDADD)
