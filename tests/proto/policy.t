# policy.t: clear-text-password (never / always / local / default, -p),
# downcase-user (-c) and trim-domain (-C).

# never: USER is refused and CAPA does not offer it; APOP still works
requires: apop
mailbox: basic
config: clear-text-password = never
C: CAPA
S: +OK Capability list follows.
S: TOP
S?~ SASL (?!.*\b(PLAIN|LOGIN)\b)[A-Z0-9_ -]+
S: EXPIRE NEVER
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: IMPLEMENTATION popper-0.1.0
S: .
C: USER alice
S: -ERR [AUTH] You must use stronger authentication such as APOP to connect to this server.
C: PASS secret
S~ -ERR .*
C: APOP alice ${apop secret}
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# never: also for unknown users (nothing is revealed)
config: clear-text-password = never
C: USER nosuchuser
S: -ERR [AUTH] You must use stronger authentication such as APOP to connect to this server.

# -p 1 on the command line is the same as never
args: -p 1
C: USER alice
S: -ERR [AUTH] You must use stronger authentication such as APOP to connect to this server.

# always: USER/PASS works even for a user with a stored secret
requires: gdbm
mailbox: basic
config: clear-text-password = always
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# -p 2 on the command line is the same as always
requires: gdbm
mailbox: basic
config: clear-text-password = default
args: -p 2
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 3 .*

# local: allowed from 127.0.0.1
mailbox: basic
config: clear-text-password = local
transport: tcp
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
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# local: allowed from ::1
requires: ipv6
mailbox: basic
config: clear-text-password = local
transport: tcp6
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# default: refused for a user with a stored secret, who must use APOP.
# USER answers every name alike (it must not tell which names hold a
# secret); PASS then fails like a wrong password, even the right one, and
# the log says why.
requires: apop
mailbox: basic
config: clear-text-password = default
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [AUTH] Authentication failed.
log~ authentication failed: client=\S+ method=PASS user="alice" reason=stronger-auth-required
C: APOP alice ${apop secret}
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# default: a name without a secret gets the same USER reply and the same PASS failure
requires: apop
config: clear-text-password = default
C: USER nosuchuser
S: +OK Password required for nosuchuser.
C: PASS secret
S: -ERR [AUTH] Authentication failed.

# default: CAPA still offers USER (the refusal depends on the user)
config: clear-text-password = default
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

# default: a user without a stored secret may use USER (and fails like anyone)
config: clear-text-password = default
C: USER nosuchuser
S: +OK Password required for nosuchuser.
C: PASS secret
S: -ERR [AUTH] Authentication failed.

# downcase-user: USER ALICE logs in as alice
mailbox: basic
config: downcase-user
C: USER ALICE
S~ \+OK Password required for (ALICE|alice)\.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: QUIT
S~ \+OK .*
closed

# without downcase-user, USER ALICE is another (unknown) user
mailbox: basic
C: USER ALICE
S: +OK Password required for ALICE.
C: PASS secret
S: -ERR [AUTH] Authentication failed.

# -c on the command line downcases too
mailbox: basic
args: -c
C: USER Alice
S~ \+OK Password required for (Alice|alice)\.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# trim-domain: USER alice@example.org logs in as alice
mailbox: basic
config: trim-domain
C: USER alice@example.org
S~ \+OK Password required for (alice@example\.org|alice)\.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# without trim-domain, alice@example.org is another (unknown) user
mailbox: basic
C: USER alice@example.org
S: +OK Password required for alice@example.org.
C: PASS secret
S: -ERR [AUTH] Authentication failed.

# trim-domain also applies to APOP
requires: apop
mailbox: basic
config: trim-domain
C: APOP alice@example.org ${apop secret}
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.

# -C and -c together: USER ALICE@EXAMPLE.ORG logs in as alice
mailbox: basic
args: -c -C
C: USER ALICE@EXAMPLE.ORG
S~ \+OK Password required for \S+\.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
