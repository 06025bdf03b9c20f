# files.t: hostile spool files and locks (robustness.md section 5.3 F1-F6, F9,
# F10): popper refuses them with [SYS/PERM], never follows, never hangs,
# never changes the file behind them; it honours fresh locks and breaks
# stale ones.

# A symlinked spool is refused and its target untouched
mailbox: basic
spool: symlink
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed

# A FIFO as spool is refused without hanging
spool: fifo
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed

# A directory as spool is refused
spool: dir
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed

# A hard-linked spool is refused
mailbox: basic
spool: hardlink
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed
mailbox-after: unchanged

# A spool owned by another account is refused
requires: root
mailbox: basic
spool: foreign-owner
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed
mailbox-after: unchanged

# A world-writable spool is refused
mailbox: basic
spool: world-writable
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [SYS/PERM] The maildrop cannot be used; contact your administrator.
closed
mailbox-after: unchanged

# A fresh dot-lock of another agent makes login wait, then [IN-USE]
mailbox: basic
config: lock-wait = 1
lock: fresh
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: -ERR [IN-USE] Maildrop is locked; is another session active?
closed
mailbox-after: unchanged

# A wrong password does not reveal that the maildrop is locked
mailbox: basic
config: lock-wait = 1
lock: fresh
C: USER alice
S: +OK Password required for alice.
C: PASS wrong
S: -ERR [AUTH] Authentication failed.

# A dot-lock whose local owner is dead is broken at once
mailbox: basic
lock: stale
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in ${octets} octets.
C: DELE 2
S: +OK Message 2 deleted.
C: QUIT
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 1 3
