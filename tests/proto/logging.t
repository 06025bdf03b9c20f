# logging.t: what popper writes to its log (here its trace file): the
# fail2ban-safe authentication failure line, client text quoted and never
# raw, the statistics line.  robustness.md section 5.1 P10, P11; team notes.

# A failed PASS is logged with the client address first
transport: tcp
C: USER nosuchuser
S: +OK Password required for nosuchuser.
C: PASS secret
S: -ERR [AUTH] Authentication failed.
log~ authentication failed: client=127\.0\.0\.1 method=PASS user="nosuchuser" reason=\S+

# A wrong password for a real user is logged the same way
transport: tcp
C: USER alice
S: +OK Password required for alice.
C: PASS wrong
S: -ERR [AUTH] Authentication failed.
log~ authentication failed: client=127\.0\.0\.1 method=PASS user="alice" reason=\S+

# A failed APOP is logged with method=APOP
requires: apop
C: APOP alice 00000000000000000000000000000000
S: -ERR [AUTH] Authentication failed.
log~ authentication failed: client=\S+ method=APOP user="alice" reason=\S+

# Escape sequences and format specifiers from the client never reach the log raw
requires: apop
config: max-auth-failures = 10
R: APOP a\x1b[2Jb 0123456789abcdef0123456789abcdef\r\n
S~ -ERR .*
R: APOP %n%s%x 0123456789abcdef0123456789abcdef\r\n
S~ -ERR .*
R: APOP \xff\xfe\x7f 0123456789abcdef0123456789abcdef\r\n
S~ -ERR .*
log!~ \x1b
log!~ \x7f
log!~ \ufffd

# The password never appears in the log
C: USER alice
S: +OK Password required for alice.
C: PASS Sup3rS3cretPassw0rd
S: -ERR [AUTH] Authentication failed.
log!~ Sup3rS3cretPassw0rd

# A good password is not logged either
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: QUIT
S~ \+OK .*
closed
log!~ secret=|pass(word)?="?secret

# statistics: one Stats line per session that logged in
mailbox: basic
config: statistics
transport: tcp
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: QUIT
S~ \+OK .*
closed
log~ Stats: alice 1 145 2 378 \S+ 127\.0\.0\.1 time=\d+
mailbox-after: 2 3
