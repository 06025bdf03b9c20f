# ---- server/: the POP3 engine, login, monitor, daemon: popper -------------------
noinst_LIBRARIES += server/libpopserver.a
server_libpopserver_a_SOURCES = \
	server/settings.h server/options.c \
	server/session.c server/session.h \
	server/commands.c server/commands.h \
	server/cmd_any.c server/cmd_auth.c server/cmd_trans.c \
	server/cmd_stls.c server/cmd_sasl.c server/cmd_kpop.c \
	server/login.c server/login.h \
	server/policy.c server/policy.h \
	server/engine.c server/engine.h \
	server/spoolpath.c server/spoolpath.h \
	server/lockdir.c server/lockdir.h \
	server/lockreg.c server/lockreg.h \
	server/monitor.c server/monitor.h \
	server/privdrop.c server/privdrop.h \
	server/privsep.c server/privsep.h \
	server/authmon.c server/authmon_run.c server/authmon.h \
	server/authclient.c server/authclient.h \
	server/sandbox.c server/sandbox.h \
	server/tlsproxy.c server/tlsproxy.h \
	server/daemon.c server/daemon.h server/daemon_parts.h \
	server/penalty.c server/penalty.h
SERVER_CFLAGS = $(AUTH_CFLAGS)
server_libpopserver_a_CFLAGS = $(SERVER_CFLAGS)

# auth/ and server/maildrop/ both stand on lib/, so it comes last.
SERVER_LDADD = server/libpopserver.a server/maildrop/libmaildrop.a $(AUTH_LDADD) $(SECCOMP_LIBS)

sbin_PROGRAMS += server/popper
server_popper_SOURCES = server/main.c
server_popper_CFLAGS = $(SERVER_CFLAGS)
server_popper_LDADD = $(SERVER_LDADD)

# the root side: options, spool paths, lock directory, lock registry, monitor, daemon, privilege drop,
# the daemon's table of failed logins per address
check_PROGRAMS += \
	tests/unit/server/test_commands tests/unit/server/test_options \
	tests/unit/server/test_spoolpath tests/unit/server/test_lockdir \
	tests/unit/server/test_lockreg \
	tests/unit/server/test_monitor tests/unit/server/test_daemon \
	tests/unit/server/test_privdrop tests/unit/server/test_privsep \
	tests/unit/server/test_authmon tests/unit/server/test_penalty
tests_unit_server_test_privsep_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_privsep_LDADD = $(SERVER_LDADD)
tests_unit_server_test_authmon_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_authmon_LDADD = $(SERVER_LDADD)
tests_unit_server_test_commands_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_commands_LDADD = $(SERVER_LDADD)
tests_unit_server_test_options_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_options_LDADD = $(SERVER_LDADD)
tests_unit_server_test_spoolpath_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_spoolpath_LDADD = $(SERVER_LDADD)
tests_unit_server_test_lockdir_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_lockdir_LDADD = $(SERVER_LDADD)
tests_unit_server_test_lockreg_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_lockreg_LDADD = $(SERVER_LDADD)
tests_unit_server_test_monitor_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_monitor_LDADD = $(SERVER_LDADD)
# testlog.h is listed here so that it goes into the distribution.
tests_unit_server_test_daemon_SOURCES = tests/unit/server/test_daemon.c tests/unit/testlog.h
tests_unit_server_test_daemon_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_daemon_LDADD = $(SERVER_LDADD)
tests_unit_server_test_privdrop_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_privdrop_LDADD = $(SERVER_LDADD)
tests_unit_server_test_penalty_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_penalty_LDADD = $(SERVER_LDADD)

# the engine: one test per module, the handlers driven through dispatch
check_PROGRAMS += \
	tests/unit/server/test_engine tests/unit/server/test_policy \
	tests/unit/server/test_login tests/unit/server/test_session \
	tests/unit/server/test_cmd_any tests/unit/server/test_cmd_auth \
	tests/unit/server/test_cmd_trans tests/unit/server/test_cmd_kpop \
	tests/unit/server/test_cmd_stls tests/unit/server/test_cmd_sasl
tests_unit_server_test_engine_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_engine_LDADD = $(SERVER_LDADD)
tests_unit_server_test_policy_CFLAGS = $(SERVER_CFLAGS)
# these two make a user database with the writer
tests_unit_server_test_policy_LDADD = auth/userdb/libuserdb_write.a $(SERVER_LDADD)
tests_unit_server_test_login_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_login_LDADD = $(SERVER_LDADD)
tests_unit_server_test_session_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_session_LDADD = $(SERVER_LDADD)
tests_unit_server_test_cmd_any_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_cmd_any_LDADD = $(SERVER_LDADD)
tests_unit_server_test_cmd_auth_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_cmd_auth_LDADD = auth/userdb/libuserdb_write.a $(SERVER_LDADD)
tests_unit_server_test_cmd_trans_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_cmd_trans_LDADD = $(SERVER_LDADD)
tests_unit_server_test_cmd_kpop_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_cmd_kpop_LDADD = $(SERVER_LDADD)
tests_unit_server_test_cmd_stls_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_cmd_stls_LDADD = $(SERVER_LDADD)
tests_unit_server_test_cmd_sasl_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_cmd_sasl_LDADD = $(SERVER_LDADD)
EXTRA_DIST += tests/unit/server/testsession.h

# The pre-auth process's account (server/sandbox.c): popper refuses to start
# without it, so say how to make it.
install-exec-local:
	@if getent passwd "$(PREAUTH_USER)" >/dev/null 2>&1; then \
	  echo "popper: the pre-auth account $(PREAUTH_USER) exists"; \
	else \
	  echo "popper: create the pre-auth account before starting popper (an account of its own):"; \
	  echo "  adduser --system --group --no-create-home --home /nonexistent $(PREAUTH_USER)"; \
	fi
