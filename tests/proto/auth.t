# auth.t: the AUTHORIZATION state: USER, PASS, APOP and every -ERR they give.
# The fixture's virtual user is alice with password "secret"; the
# clear-text policy is "always" unless a case says otherwise (policy.t).

# USER and PASS log in and report the maildrop
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# One message is reported in the singular
mailbox: one
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 1 visible message (0 hidden) in ${size 1} octets.

# A missing spool file is an empty maildrop and is not created
mailbox: none
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 0 visible messages (0 hidden) in 0 octets.
C: STAT
S: +OK 0 0
C: LIST
S: +OK 0 messages (0 octets)
S: .
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: absent

# Keywords are case-insensitive
mailbox: basic
C: user alice
S: +OK Password required for alice.
C: pAsS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# A wrong password fails and the client may try again
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS wrong
S: -ERR [AUTH] Authentication failed.
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# An unknown user reads exactly like a wrong password
C: USER nosuchuser
S: +OK Password required for nosuchuser.
C: PASS secret
S: -ERR [AUTH] Authentication failed.
C: USER alice
S: +OK Password required for alice.
C: PASS wrong
S: -ERR [AUTH] Authentication failed.

# Passwords are case-sensitive
C: USER alice
S: +OK Password required for alice.
C: PASS SECRET
S: -ERR [AUTH] Authentication failed.

# An empty-looking password is still a failure, not a crash
C: USER alice
S: +OK Password required for alice.
C: PASS %s%s%n%n
S: -ERR [AUTH] Authentication failed.

# A password with a space is passed whole, not split
C: USER alice
S: +OK Password required for alice.
C: PASS secret extra
S~ -ERR (\[AUTH\] Authentication failed|Too many arguments for the PASS command)\.

# USER without a name
C: USER
S: -ERR Too few arguments for the USER command.

# USER with two names
C: USER alice bob
S: -ERR Too many arguments for the USER command.

# PASS without a password
C: USER alice
S: +OK Password required for alice.
C: PASS
S: -ERR Too few arguments for the PASS command.

# PASS without USER is refused and the session goes on
mailbox: basic
C: PASS secret
S~ -ERR .+
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# Invalid user names are refused before anything looks them up
config: max-auth-failures = 50
C: USER ../../etc/passwd
S: -ERR [AUTH] Invalid user name.
C: USER a/b
S: -ERR [AUTH] Invalid user name.
C: USER -oFoo
S: -ERR [AUTH] Invalid user name.
C: USER .alice
S: -ERR [AUTH] Invalid user name.
C: USER al..ice
S: -ERR [AUTH] Invalid user name.
C: USER %n%n%s%s%999999d
S: -ERR [AUTH] Invalid user name.
R: USER \x1b[2J\r\n
S: -ERR [AUTH] Invalid user name.
R: USER caf\xc3\xa9\r\n
S: -ERR [AUTH] Invalid user name.
R: USER \xff\xfe\r\n
S: -ERR [AUTH] Invalid user name.
C: USER ${a*65}
S: -ERR [AUTH] Invalid user name.
C: USER alice
S: +OK Password required for alice.

# The longest valid name (64 octets) is accepted, and fails like any unknown user
C: USER ${a*64}
S: +OK Password required for ${a*64}.
C: PASS secret
S: -ERR [AUTH] Authentication failed.

# Names with @ + - . are valid
C: USER alice@example.org
S: +OK Password required for alice@example.org.
C: PASS secret
S: -ERR [AUTH] Authentication failed.
C: USER a.b-c+d_e
S: +OK Password required for a.b-c+d_e.

# root is just an unknown user
C: USER root
S: +OK Password required for root.
C: PASS secret
S: -ERR [AUTH] Authentication failed.

# A TAB separates arguments like a space
C: USER alice	bob
S: -ERR Too many arguments for the USER command.

# After max-auth-failures (3) failures the connection is closed
C: USER alice
S: +OK Password required for alice.
C: PASS one
S: -ERR [AUTH] Authentication failed.
C: USER alice
S: +OK Password required for alice.
C: PASS two
S: -ERR [AUTH] Authentication failed.
C: USER alice
S: +OK Password required for alice.
C: PASS three
S: -ERR [AUTH] Authentication failed.
closed
mailbox-after: absent

# max-auth-failures = 1 closes after the first failure
config: max-auth-failures = 1
C: USER nosuchuser
S: +OK Password required for nosuchuser.
C: PASS x
S: -ERR [AUTH] Authentication failed.
closed

# The last allowed attempt can still succeed
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS one
S: -ERR [AUTH] Authentication failed.
C: USER alice
S: +OK Password required for alice.
C: PASS two
S: -ERR [AUTH] Authentication failed.
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# APOP with the right digest logs in
requires: apop
mailbox: basic
C: APOP alice ${apop secret}
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: STAT
S: +OK 3 ${octets}
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# APOP with a wrong digest fails
requires: apop
C: APOP alice ${apop wrong}
S: -ERR [AUTH] Authentication failed.

# APOP for an unknown user fails in the same words
requires: apop
C: APOP nosuchuser ${apop secret}
S: -ERR [AUTH] Authentication failed.

# APOP digests of the wrong form fail in the same words
requires: apop
config: max-auth-failures = 10
C: APOP alice 0123456789abcdef0123456789abcde
S: -ERR [AUTH] Authentication failed.
C: APOP alice 0123456789abcdef0123456789abcdef0
S: -ERR [AUTH] Authentication failed.
C: APOP alice 0123456789abcdefg123456789abcdef
S: -ERR [AUTH] Authentication failed.

# APOP digest in upper-case hex is a bad format (RFC 1939: lower-case hex; robustness.md P14)
requires: apop
C: APOP alice ${APOP secret}
S: -ERR [AUTH] Authentication failed.

# APOP replay: the same digest sent to a new connection fails
requires: apop
G~ .*(?P<oldts>(?P<timestamp><[^>]+>))
C: APOP alice ${apop secret}
S~ \+OK alice has .*
C: QUIT
S~ \+OK .*
closed
reconnect
C: APOP alice ${apop-with oldts secret}
S: -ERR [AUTH] Authentication failed.

# APOP arity
C: APOP alice
S: -ERR Too few arguments for the APOP command.
C: APOP
S: -ERR Too few arguments for the APOP command.
C: APOP alice 0123456789abcdef0123456789abcdef extra
S: -ERR Too many arguments for the APOP command.

# APOP is refused when it is switched off, and the greeting offers no timestamp
config: reset apop
G~ ^\+OK popper \(version \S+\) at \S+ starting\.$
C: APOP alice 0123456789abcdef0123456789abcdef
S: -ERR APOP is not available on this server.
C: USER alice
S: +OK Password required for alice.

# APOP after USER is refused and the state is unchanged (PASS still expected)
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: APOP alice ${apop secret}
S~ -ERR .+
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# USER, PASS and APOP are not valid after login
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: USER alice
S: -ERR Command not valid in this state.
C: PASS secret
S: -ERR Command not valid in this state.
C: APOP alice ${apop secret}
S: -ERR Command not valid in this state.
C: STAT
S: +OK 3 ${octets}

# TRANSACTION commands are not valid before login
C: STAT
S: -ERR Command not valid in this state.
C: LIST
S: -ERR Command not valid in this state.
C: RETR 1
S: -ERR Command not valid in this state.
C: DELE 1
S: -ERR Command not valid in this state.
C: TOP 1 1
S: -ERR Command not valid in this state.
C: UIDL
S: -ERR Command not valid in this state.
C: NOOP
S: -ERR Command not valid in this state.
C: RSET
S: -ERR Command not valid in this state.
C: LAST
S: -ERR Command not valid in this state.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
