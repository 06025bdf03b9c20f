# greeting.t: the greeting and CAPA (RFC 1939 section 4, RFC 2449).
# Each case below is one TAP test; see tests/lib/transcript.py for the format.

# The greeting names the version and carries an APOP timestamp
requires: apop
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.  (?P<timestamp><[0-9a-f]{16}\.[0-9]+\.[0-9]+@\S+>)
C: QUIT
S: +OK Pop server at ${host} signing off.
closed

# Without APOP the greeting names the version and offers no timestamp
config: reset apop
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$
C: QUIT
S: +OK Pop server at ${host} signing off.
closed

# Without the user database file there is no APOP timestamp (popper(8))
requires: apop
authdb: missing
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$
C: APOP alice 0123456789abcdef0123456789abcdef
S: -ERR APOP is not available on this server.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed

# Without the user database file CAPA offers no CRAM-MD5 or SCRAM (they need stored secrets)
requires: apop
authdb: missing
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL (?!.*\b(CRAM-MD5|SCRAM-[A-Z0-9-]+)\b)[A-Z0-9_ -]+
S: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .

# A database of mode 0640: no APOP timestamp, no CRAM-MD5 or SCRAM, logins refused (its secrets are not safe)
requires: apop
mailbox: basic
authdb: mode 0640
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL (?!.*\b(CRAM-MD5|SCRAM-[A-Z0-9-]+)\b)[A-Z0-9_ -]+
S: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] Authentication is unavailable; contact your administrator.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged
log~ user database refused .*/etc/auth/pop\.auth: wrong mode \(must be 0600\) \(owner uid [0-9]+, mode 0640\)

# A database in a directory others may write: no APOP timestamp, no CRAM-MD5 or SCRAM, logins refused
requires: apop
mailbox: basic
authdb: dir-mode 0777
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL (?!.*\b(CRAM-MD5|SCRAM-[A-Z0-9-]+)\b)[A-Z0-9_ -]+
S: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] Authentication is unavailable; contact your administrator.
mailbox-after: unchanged
log~ user database refused .*/etc/auth/pop\.auth: directory .*/etc/auth: writable by group or others \(owner uid [0-9]+, mode 0777\)

# A sticky world-writable directory is refused too: no APOP timestamp
requires: apop
authdb: dir-mode 1777
G~ \+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
log~ user database refused .*: directory .*: writable by group or others \(owner uid [0-9]+, mode 1777\)

# Two connections get different APOP timestamps
requires: apop
G~ .*(?P<first><[^>]*>)
C: QUIT
S~ \+OK .*
reconnect
C: APOP alice 00000000000000000000000000000000
S: -ERR [AUTH] Authentication failed.
differ: first timestamp
C: NOOP
S: -ERR Command not valid in this state.

# CAPA before login lists the capabilities in the agreed order
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL [A-Z0-9_ -]+
S: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .
C: QUIT
S: +OK Pop server at ${host} signing off.
closed

# CAPA after login still works and keeps the order
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: CAPA
S: +OK Capability list follows.
S: TOP
S?: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# CAPA is case-insensitive and refuses arguments
C: capa
S: +OK Capability list follows.
S~ [^.].*
S?~ SASL [A-Z0-9_ -]+
S~ [^.].*
S~ [^.].*
S~ [^.].*
S~ [^.].*
S~ [^.].*
S~ [^.].*
S~ [^.].*
S: .
C: CAPA now
S: -ERR Too many arguments for the CAPA command.

# LOGIN-DELAY is announced when configured
config: announce-login-delay = 900
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL [A-Z0-9_ -]+
S: USER
S: LOGIN-DELAY 900
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .

# EXPIRE n is announced when configured
config: announce-expire = 30
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL [A-Z0-9_ -]+
S: USER
S: EXPIRE 30
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .

# -e login_delay=N,expire=N on the command line announces both
args: -e login_delay=60,expire=5
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL [A-Z0-9_ -]+
S: USER
S: LOGIN-DELAY 60
S: EXPIRE 5
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .

# auto-delete announces EXPIRE 0
config: auto-delete
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL [A-Z0-9_ -]+
S: USER
S: EXPIRE 0
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .

# shy: no version in the greeting, no IMPLEMENTATION before login
config: shy
G~ \+OK ready(  <[0-9a-f]{16}\.[0-9]+\.[0-9]+@\S+>)?$
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL [A-Z0-9_ -]+
S: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: .
C: QUIT
S~ \+OK Pop server at \S+ signing off\.
closed

# shy: IMPLEMENTATION appears once logged in
config: shy
mailbox: basic
G~ \+OK ready  (?P<timestamp><[^>]+>)
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: CAPA
S: +OK Capability list follows.
S: TOP
S?: USER
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .

# shy: APOP still works with the shy greeting's timestamp
requires: apop
config: shy
mailbox: basic
G~ \+OK ready  (?P<timestamp><[^>]+>)
C: APOP alice ${apop secret}
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: QUIT
S~ \+OK Pop server at \S+ signing off\.
closed
mailbox-after: unchanged
