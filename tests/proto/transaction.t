# transaction.t: every TRANSACTION command (RFC 1939 section 5), its +OK and each
# of its -ERR paths: missing, extra and bad arguments, 0, count+1, deleted.
# mailbox basic: 3 messages of 145, 211 and 167 octets (523 in all).

# STAT counts messages and octets
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in 523 octets.
C: STAT
S: +OK 3 523
C: STAT 1
S: -ERR Too many arguments for the STAT command.
C: stat
S: +OK 3 523

# LIST with and without an argument
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST
S: +OK 3 messages (523 octets)
S: 1 145
S: 2 211
S: 3 167
S: .
C: LIST 2
S: +OK 2 211
C: LIST 3
S: +OK 3 167

# LIST refuses 0, count+1, bad numbers and extra arguments
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST 0
S: -ERR No such message.
C: LIST 4
S: -ERR No such message.
C: LIST -1
S: -ERR Invalid message number.
C: LIST +1
S: -ERR Invalid message number.
C: LIST 1x
S: -ERR Invalid message number.
C: LIST 1e3
S: -ERR Invalid message number.
C: LIST 0x1
S: -ERR Invalid message number.
C: LIST 4294967297
S~ -ERR (No such message|Invalid message number)\.
C: LIST 4294967296
S~ -ERR (No such message|Invalid message number)\.
C: LIST 18446744073709551617
S: -ERR Invalid message number.
C: LIST 18446744073709551616
S: -ERR Invalid message number.
C: LIST ${9*2000}
S: -ERR Command line too long.
C: LIST ${9*400}
S: -ERR Invalid message number.
C: LIST 1 2
S: -ERR Too many arguments for the LIST command.
C: LIST 01
S: +OK 1 145
C: LIST 002
S: +OK 2 211

# RETR sends the message, dot-stuffed, with its exact size
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 1
S: +OK 145 octets
S= retr 1
C: RETR 2
S: +OK ${size 2} octets
S= retr 2
C: RETR 3
S: +OK 167 octets
S= retr 3
C: RETR 3
S: +OK 167 octets
S= retr 3
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# RETR: every -ERR
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR
S: -ERR Too few arguments for the RETR command.
C: RETR 1 2
S: -ERR Too many arguments for the RETR command.
C: RETR 0
S: -ERR No such message.
C: RETR 4
S: -ERR No such message.
C: RETR x
S: -ERR Invalid message number.
C: RETR -3
S: -ERR Invalid message number.
C: RETR 18446744073709551617
S: -ERR Invalid message number.
C: DELE 2
S: +OK Message 2 deleted.
C: RETR 2
S: -ERR Message 2 has been deleted.
C: RETR 1
S: +OK 145 octets
S= retr 1

# TOP n 0 sends the header and the blank line only
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: TOP 2 0
S: +OK Message follows.
S= top 2 0
C: TOP 2 3
S: +OK Message follows.
S= top 2 3
C: TOP 2 5
S: +OK Message follows.
S= top 2 5
C: TOP 2 6
S: +OK Message follows.
S= top 2 6
C: TOP 1 99999999999
S: +OK Message follows.
S= retr 1
C: TOP 3 999999999999999999999999999999
S: +OK Message follows.
S= retr 3
C: TOP 2 007
S: +OK Message follows.
S= top 2 7

# TOP: every -ERR
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: TOP
S: -ERR Too few arguments for the TOP command.
C: TOP 1
S: -ERR Too few arguments for the TOP command.
C: TOP 1 2 3
S: -ERR Too many arguments for the TOP command.
C: TOP 0 1
S: -ERR No such message.
C: TOP 4 1
S: -ERR No such message.
C: TOP x 1
S: -ERR Invalid message number.
C: TOP 1 -1
S: -ERR Invalid line count.
C: TOP 1 x
S: -ERR Invalid line count.
C: TOP 1 +2
S: -ERR Invalid line count.
C: DELE 1
S: +OK Message 1 deleted.
C: TOP 1 0
S: -ERR Message 1 has been deleted.

# DELE marks a message; a second DELE of it is refused
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 1
S: -ERR Message 1 has been deleted.
C: STAT
S: +OK 2 378
C: LIST
S: +OK 2 messages (378 octets)
S: 2 211
S: 3 167
S: .
C: LIST 1
S: -ERR Message 1 has been deleted.
C: UIDL 1
S: -ERR Message 1 has been deleted.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 2 3

# DELE: every -ERR
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE
S: -ERR Too few arguments for the DELE command.
C: DELE 1 2
S: -ERR Too many arguments for the DELE command.
C: DELE 0
S: -ERR No such message.
C: DELE 4
S: -ERR No such message.
C: DELE one
S: -ERR Invalid message number.
C: STAT
S: +OK 3 523
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# NOOP answers +OK and takes no argument
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: NOOP
S: +OK
C: NOOP 1
S: -ERR Too many arguments for the NOOP command.

# RSET undeletes everything
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 3
S: +OK Message 3 deleted.
C: STAT
S: +OK 1 211
C: RSET
S: +OK Maildrop has 3 messages (523 octets).
C: STAT
S: +OK 3 523
C: RETR 1
S: +OK 145 octets
S= retr 1
C: RSET 1
S: -ERR Too many arguments for the RSET command.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# LAST reports the highest message retrieved; RSET restores it
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LAST
S: +OK 0
C: RETR 2
S: +OK 211 octets
S= retr 2
C: LAST
S: +OK 2
C: RETR 1
S: +OK 145 octets
S= retr 1
C: LAST
S: +OK 2
C: LAST 1
S: -ERR Too many arguments for the LAST command.
C: RSET
S: +OK Maildrop has 3 messages (523 octets).
C: LAST
S: +OK 0

# LAST remembers messages retrieved in an earlier session
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 2
S: +OK 211 octets
S= retr 2
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LAST
S: +OK 2
mailbox-after: unchanged

# UIDL lists unique printable ids; UIDL n answers one
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: UIDL
S: +OK Unique-ID listing follows.
S~ 1 (?P<u1>[\x21-\x7e]{1,70})
S~ 2 (?P<u2>[\x21-\x7e]{1,70})
S~ 3 (?P<u3>[\x21-\x7e]{1,70})
S: .
differ: u1 u2
differ: u2 u3
differ: u1 u3
C: UIDL 2
S: +OK 2 ${u2}
C: UIDL 0
S: -ERR No such message.
C: UIDL 4
S: -ERR No such message.
C: UIDL z
S: -ERR Invalid message number.
C: UIDL 1 2
S: -ERR Too many arguments for the UIDL command.
C: DELE 1
S: +OK Message 1 deleted.
C: UIDL
S: +OK Unique-ID listing follows.
S: 2 ${u2}
S: 3 ${u3}
S: .

# UIDL is stable across sessions and across the rewrite that deletes a message
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: UIDL
S: +OK Unique-ID listing follows.
S~ 1 (?P<u1>\S+)
S~ 2 (?P<u2>\S+)
S~ 3 (?P<u3>\S+)
S: .
C: QUIT
S~ \+OK .*
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: UIDL
S: +OK Unique-ID listing follows.
S: 1 ${u1}
S: 2 ${u2}
S: 3 ${u3}
S: .
C: DELE 1
S: +OK Message 1 deleted.
C: QUIT
S~ \+OK .*
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 2 visible messages (0 hidden) in 378 octets.
C: UIDL
S: +OK Unique-ID listing follows.
S: 1 ${u2}
S: 2 ${u3}
S: .
C: LIST
S: +OK 2 messages (378 octets)
S: 1 211
S: 2 167
S: .
mailbox-after: 2 3

# Byte-identical messages get different UIDLs
M| From a@example.org Mon Jan  1 00:00:00 2024
M| Subject: same
M| Message-ID: <same@example.org>
M|
M| same body
M|
M| From a@example.org Mon Jan  1 00:00:00 2024
M| Subject: same
M| Message-ID: <same@example.org>
M|
M| same body
M|
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 2 visible .*
C: UIDL
S: +OK Unique-ID listing follows.
S~ 1 (?P<u1>[\x21-\x7e]{1,70})
S~ 2 (?P<u2>[\x21-\x7e]{1,70})
S: .
differ: u1 u2
C: LIST
S: +OK 2 messages (${octets} octets)
S: 1 ${size 1}
S: 2 ${size 2}
S: .

# QUIT takes no argument
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: QUIT now
S: -ERR Too many arguments for the QUIT command.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 2 3
