# update.t: the UPDATE state (RFC 1939 section 6): only QUIT in TRANSACTION
# removes messages; a dropped connection or a QUIT in AUTHORIZATION
# changes nothing; update-on-abort and auto-delete change that on purpose;
# mail that arrives during the session is kept.

# DELE then QUIT removes exactly the deleted messages
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 3
S: +OK Message 3 deleted.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 2

# Deleting every message leaves an empty maildrop
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 3
S: +OK Message 3 deleted.
C: DELE 2
S: +OK Message 2 deleted.
C: DELE 1
S: +OK Message 1 deleted.
C: STAT
S: +OK 0 0
C: LIST
S: +OK 0 messages (0 octets)
S: .
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: empty

# Deleting the last message only
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 3
S: +OK Message 3 deleted.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 1 2

# QUIT without deletions leaves the file byte-identical
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 1
S~ \+OK .*
S= retr 1
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# QUIT in AUTHORIZATION does not update
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# A dropped connection does not delete (RFC 1939 section 6)
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 2
S: +OK Message 2 deleted.
drop
mailbox-after: unchanged

# A connection dropped in the middle of the QUIT line does not delete
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
R: QUI
drop
mailbox-after: unchanged

# update-on-abort: a dropped connection applies the deletions
mailbox: basic
config: update-on-abort
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
drop
mailbox-after: 2 3

# update-on-abort does not apply deletions undone by RSET
mailbox: basic
config: update-on-abort
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: RSET
S~ \+OK .*
drop
mailbox-after: unchanged

# The idle timeout closes without updating
mailbox: basic
config: timeout = 2
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
S: -ERR Timeout; closing connection.
closed
mailbox-after: unchanged

# The idle timeout also applies before login
config: timeout = 2
C: USER alice
S: +OK Password required for alice.
S: -ERR Timeout; closing connection.
closed

# auto-delete: RETR marks the message deleted
mailbox: basic
config: auto-delete
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 2
S: +OK 211 octets
S= retr 2
C: STAT
S: +OK 2 312
C: RETR 2
S: -ERR Message 2 has been deleted.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 1 3

# auto-delete: TOP does not delete
mailbox: basic
config: auto-delete
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: TOP 2 1
S: +OK Message follows.
S= top 2 1
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# auto-delete: RSET brings a retrieved message back
mailbox: basic
config: auto-delete
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 1
S~ \+OK .*
S= retr 1
C: RSET
S: +OK Maildrop has 3 messages (523 octets).
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged

# Mail that arrives during the session is invisible and kept at QUIT
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
append: late-1
C: STAT
S: +OK 2 378
C: LIST 4
S: -ERR No such message.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 2 3 +late-1

# Mail that arrives during a session that deletes everything is kept
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 2
S: +OK Message 2 deleted.
C: DELE 3
S: +OK Message 3 deleted.
append: late-2
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: +late-2

# Mail that arrives in an empty maildrop during the session is kept
mailbox: none
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 0 visible messages (0 hidden) in 0 octets.
append: late-3
C: STAT
S: +OK 0 0
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: +late-3

# The next session sees the mail that arrived during the previous one
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 2
S: +OK Message 2 deleted.
append: late-4
C: QUIT
S~ \+OK .*
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 3 visible messages \(0 hidden\) in [0-9]+ octets\.
C: LIST 1
S: +OK 1 145
C: LIST 2
S: +OK 2 167
mailbox-after: 1 3 +late-4
