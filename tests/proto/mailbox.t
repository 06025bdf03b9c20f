# mailbox.t: what is in the mbox reaches the client byte-exact
# (robustness.md section 5.2): dot-stuffing, CRLF already present, lone CR, no
# final newline, NULs, From_ lines in bodies, header-only messages, long
# lines, forged X-UIDL; and a file that is not an mbox.

# Dot-stuffing: every line that begins with "." gets one more
mailbox: dots
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: LIST
S: +OK 3 messages (${octets} octets)
S: 1 ${size 1}
S: 2 ${size 2}
S: 3 ${size 3}
S: .
C: RETR 1
S: +OK ${size 1} octets
S= retr 1
C: TOP 1 2
S: +OK Message follows.
S= top 1 2
C: TOP 1 8
S: +OK Message follows.
S= top 1 8

# CRLF already in the mbox is not doubled; a lone CR stays data
mailbox: dots
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST 2
S: +OK 2 129
C: RETR 2
S: +OK 129 octets
S= retr 2

# A last message without a final newline gets CRLF before the "."
mailbox: dots
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST 3
S: +OK 3 110
C: RETR 3
S: +OK 110 octets
S= retr 3
C: TOP 3 0
S: +OK Message follows.
S= top 3 0

# Deleting around a message without a final newline keeps it intact
mailbox: dots
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

# Dot-stuffed messages survive a rewrite byte for byte
mailbox: dots
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 2
S: +OK Message 2 deleted.
C: QUIT
S~ \+OK .*
closed
reconnect
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 2 visible .*
C: RETR 1
S: +OK ${size 1} octets
S= retr 1
mailbox-after: 1 3

# NUL bytes in a message pass through and count in the size
mailbox: hostile
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 4 visible messages (0 hidden) in ${octets} octets.
C: LIST 1
S: +OK 1 84
C: RETR 1
S: +OK 84 octets
S= retr 1

# From_ lines inside a body do not split the message
mailbox: hostile
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 4 visible .*
C: RETR 2
S: +OK ${size 2} octets
S= retr 2

# A message with no body at all
mailbox: hostile
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 3
S: +OK ${size 3} octets
S= retr 3

# A 2000-octet body line is sent whole
mailbox: hostile
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: RETR 4
S: +OK 2026 octets
S= retr 4
C: TOP 4 1
S: +OK Message follows.
S= retr 4

# Hostile messages survive deleting their neighbours
mailbox: hostile
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: DELE 1
S: +OK Message 1 deleted.
C: DELE 3
S: +OK Message 3 deleted.
C: QUIT
S~ \+OK .*
closed
mailbox-after: 2 4

# A message that is only a From_ line has size 0
M| From a@example.org Mon Jan  1 00:00:00 2024
M|
M| From b@example.org Mon Jan  1 00:00:01 2024
M| Subject: second
M|
M| body
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 2 visible messages \(0 hidden\) in ${octets} octets\.
C: LIST 1
S: +OK 1 0
C: RETR 1
S: +OK 0 octets
S: .
C: RETR 2
S: +OK ${size 2} octets
S= retr 2

# From_ lines with other date forms are separators
M| From user Wed Dec  2 05:53 1992 -0700 remote from x
M| Subject: old style
M|
M| one
M|
M| From MAILER-DAEMON Thu Jan 11 10:20:30 2024
M| Subject: daemon
M|
M| two
M|
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 2 visible messages (0 hidden) in ${octets} octets.
C: RETR 2
S: +OK ${size 2} octets
S= retr 2

# A file that does not begin with a From_ line is refused and never rewritten
mailbox: garbage
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed
mailbox-after: unchanged

# A file that begins with NULs is refused
M\ \0\0\0\0From a@example.org Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed
mailbox-after: unchanged

# An empty spool file is an empty maildrop and stays empty
M\ 
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 0 visible messages (0 hidden) in 0 octets.
C: QUIT
S~ \+OK .*
closed
mailbox-after: unchanged

# Many messages: 300 messages are counted and the last is retrievable
messages: 300
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 300 visible messages (0 hidden) in ${octets} octets.
C: STAT
S: +OK 300 ${octets}
C: RETR 300
S: +OK ${size 300} octets
S= retr 300
C: DELE 150
S: +OK Message 150 deleted.
C: QUIT
S~ \+OK .*
closed
