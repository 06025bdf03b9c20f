# tempdrop.t: Qpopper's temp-drop ("normal") mode, chosen with
# "reset server-mode": the spool's mail moves into a private temporary drop
# at login (the spool is unlocked for the delivery agent during the
# session) and goes back at the end.  Whatever happens -- QUIT, DELE, a
# dropped connection, a timeout, mail arriving meanwhile -- the spool ends
# up holding exactly the messages it must, byte for byte.

# A whole session without deletions leaves the spool byte-identical
mailbox: basic
config: reset server-mode
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: STAT
S: +OK 3 ${octets}
C: LIST
S: +OK 3 messages (${octets} octets)
S: 1 ${size 1}
S: 2 ${size 2}
S: 3 ${size 3}
S: .
C: UIDL 1
S~ \+OK 1 (?P<uid1>\S+)
C: RETR 2
S: +OK ${size 2} octets
S= retr 2
C: TOP 3 1
S: +OK Message follows.
S= top 3 1
C: LAST
S: +OK 2
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: unchanged
log~ moved \d+ octets from \S+ into the temporary drop
log~ login: user=alice .* mode=temp-drop
log~ wrote \d+ octets back from the temporary drop

# UIDs and the retrieved marks survive the round trip
mailbox: basic
config: reset server-mode
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: UIDL 2
S~ \+OK 2 (?P<first>\S+)
C: RETR 1
S~ \+OK .*
S= retr 1
C: QUIT
S~ \+OK .*
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: UIDL 2
S: +OK 2 ${first}
C: LAST
S: +OK 1
C: QUIT
S~ \+OK .*
closed
mailbox-after: unchanged

# DELE and QUIT remove exactly the deleted messages
mailbox: basic
config: reset server-mode
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

# Deleting every message leaves an empty spool
mailbox: basic
config: reset server-mode
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
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: empty

# Mail delivered during the session follows the kept messages, once
mailbox: basic
config: reset server-mode
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
append: during-1
C: DELE 2
S: +OK Message 2 deleted.
append: during-2
C: STAT
S: +OK 2 ${sum 1 3}
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 1 3 +during-1 +during-2

# Mail delivered during a session that deletes everything is all that is left
mailbox: basic
config: reset server-mode
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
append: during-3
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: +during-3

# A dropped connection deletes nothing; the mail is back and reappears
mailbox: basic
config: reset server-mode
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 2
S: +OK Message 2 deleted.
append: during-4
drop
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 4 visible messages \(0 hidden\) in \d+ octets\.
C: LIST 1
S: +OK 1 ${size 1}
C: QUIT
S~ \+OK .*
closed
mailbox-after: 1 2 3 +during-4

# A connection dropped in the middle of QUIT deletes nothing
mailbox: basic
config: reset server-mode
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
config: reset server-mode
config: update-on-abort
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
drop
mailbox-after: 2 3

# The idle timeout deletes nothing and puts the mail back
mailbox: basic
config: reset server-mode
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

# No spool file: an empty maildrop, and none is created
mailbox: none
config: reset server-mode
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 0 visible messages (0 hidden) in 0 octets.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: absent

# Mail arriving in an empty maildrop during the session is kept
mailbox: none
config: reset server-mode
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 0 visible messages (0 hidden) in 0 octets.
append: during-5
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: +during-5

# keep-temp-drop changes nothing the client or the spool sees
mailbox: basic
config: reset server-mode
config: keep-temp-drop
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 3
S: +OK Message 3 deleted.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 2 visible messages (0 hidden) in ${sum 1 2} octets.
C: QUIT
S~ \+OK .*
closed
mailbox-after: 1 2

# A temp-dir the session's account does not own is refused, spool untouched
mailbox: basic
config: reset server-mode
config: temp-dir = /
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/TEMP] Unable to open the maildrop; try again later.
closed
mailbox-after: unchanged
log~ login: maildrop not opened: user=alice .*temp-dir / belongs to uid 0

# A missing temp-dir is refused in temp-drop mode
mailbox: basic
config: reset server-mode
config: temp-dir = /nonexistent-popper-temp-dir/%s
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/TEMP] Unable to open the maildrop; try again later.
closed
mailbox-after: unchanged

# ... and does not matter in server mode
mailbox: basic
config: temp-dir = /nonexistent-popper-temp-dir/%s
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: DELE 2
S: +OK Message 2 deleted.
C: QUIT
S~ \+OK .*
closed
mailbox-after: 1 3
log!~ mode=temp-drop

# group-no-server-mode: the group's members get temp-drop mode
requires: root
requires: gdbm
mailbox: basic
config: group-no-server-mode = popmail
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: QUIT
S~ \+OK .*
closed
mailbox-after: 2 3
log~ login: user=alice .* mode=temp-drop

# group-server-mode: the group's members get server mode
requires: root
requires: gdbm
mailbox: basic
config: reset server-mode
config: group-server-mode = popmail
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: QUIT
S~ \+OK .*
closed
mailbox-after: unchanged
log!~ mode=temp-drop

# A member of both groups gets server mode, the safer one
requires: root
requires: gdbm
mailbox: basic
config: reset server-mode
config: group-server-mode = popmail
config: group-no-server-mode = popmail
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: QUIT
S~ \+OK .*
closed
log!~ mode=temp-drop
