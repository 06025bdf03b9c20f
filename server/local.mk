# ---- server/: the POP3 engine, login, monitor, daemon: popper -------------------
noinst_LIBRARIES += server/libpopserver.a
server_libpopserver_a_SOURCES = \
	server/settings.h server/options.c \
	server/session.c server/session.h \
	server/commands.c server/commands.h \
	server/cmd_auth.c server/cmd_trans.c \
	server/cmd_stls.c server/cmd_sasl.c \
	server/spoolpath.c server/spoolpath.h \
	server/lockreg.c server/lockreg.h \
	server/monitor.c server/monitor.h \
	server/privdrop.c server/privdrop.h \
	server/daemon.c server/daemon.h server/daemon_parts.h
SERVER_CFLAGS = $(AUTH_CFLAGS)
server_libpopserver_a_CFLAGS = $(SERVER_CFLAGS)

# auth/ and server/maildrop/ both stand on lib/, so it comes last.
SERVER_LDADD = server/libpopserver.a server/maildrop/libmaildrop.a $(AUTH_LDADD)

sbin_PROGRAMS += server/popper
server_popper_SOURCES = server/main.c
server_popper_CFLAGS = $(SERVER_CFLAGS)
server_popper_LDADD = $(SERVER_LDADD)

check_PROGRAMS += \
	tests/unit/server/test_commands tests/unit/server/test_settings \
	tests/unit/server/test_spoolpath tests/unit/server/test_lockreg \
	tests/unit/server/test_monitor tests/unit/server/test_daemon \
	tests/unit/server/test_privdrop
tests_unit_server_test_commands_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_commands_LDADD = $(SERVER_LDADD)
tests_unit_server_test_settings_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_settings_LDADD = $(SERVER_LDADD)
tests_unit_server_test_spoolpath_CFLAGS = $(SERVER_CFLAGS)
tests_unit_server_test_spoolpath_LDADD = $(SERVER_LDADD)
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
