# lines.t: the command line reader (robustness.md section 5.1 P1-P5, P18): the
# 512-octet limit at 511/512/513, NULs, bare LF, lone CR, spaces and TABs,
# and pipelining.  "LIST 000...01" pads a valid command to an exact length.

# A 511-octet command line is accepted
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST ${0*505}1
S: +OK 1 145

# A 512-octet command line is accepted
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST ${0*506}1
S: +OK 1 145

# A 513-octet command line gets one -ERR and its tail is not executed
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST ${0*507}1
S: -ERR Command line too long.
C: NOOP
S: +OK

# A 10000-octet USER line gets exactly one -ERR
C: USER ${a*10000}
S: -ERR Command line too long.
C: USER alice
S: +OK Password required for alice.

# The discarded tail of a long line is not run as a command
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
R: NOOP${ *600}DELE 1\r\nSTAT\r\n
S: -ERR Command line too long.
S: +OK 3 523
C: QUIT
S~ \+OK .*
closed
mailbox-after: unchanged

# 100 KB without any newline, then a command
R: ${x*100000}\r\nUSER alice\r\n
S: -ERR Command line too long.
S: +OK Password required for alice.

# A NUL in a command is refused
R: US\0ER alice\r\n
S: -ERR Invalid character in command.
R: USER al\0ice\r\n
S: -ERR Invalid character in command.
C: USER alice
S: +OK Password required for alice.

# A NUL in a password is refused, never truncated and accepted
mailbox: basic
C: USER alice
S: +OK Password required for alice.
R: PASS secret\0garbage\r\n
S: -ERR Invalid character in command.
R: PASS secret\0\r\n
S: -ERR Invalid character in command.
C: STAT
S: -ERR Command not valid in this state.
C: PASS secret
S: +OK alice has 3 visible messages (0 hidden) in 523 octets.

# A NUL in a TRANSACTION command is refused
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
R: DELE 1\0\r\n
S: -ERR Invalid character in command.
R: \0\r\n
S: -ERR Invalid character in command.
C: STAT
S: +OK 3 523

# A bare LF ends a line
mailbox: basic
R: USER alice\n
S: +OK Password required for alice.
R: PASS secret\n
S~ \+OK .*
R: STAT\n
S: +OK 3 523
R: LIST 2\nLIST 3\r\n
S: +OK 2 211
S: +OK 3 167

# A lone CR is data, not a line end
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
R: ST\rAT\r\n
S: -ERR Unknown command.
R: NOOP\r\r\n
S: -ERR Unknown command.
R: NOOP\n\rNOOP\r\n
S: +OK
S: -ERR Unknown command.
C: STAT
S: +OK 3 523

# An empty line is an unknown command
C:
S: -ERR Unknown command.
R: \n
S: -ERR Unknown command.
C: USER alice
S: +OK Password required for alice.

# Multiple spaces, a trailing space and a TAB separate arguments
mailbox: basic
C: USER  alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: LIST  2
S: +OK 2 211
C: LIST 2 
S: +OK 2 211
C: LIST	3
S: +OK 3 167
C: TOP   2    1
S: +OK Message follows.
S= top 2 1
C: STAT 
S: +OK 3 523

# Mixed-case keywords
mailbox: basic
C: UsEr alice
S: +OK Password required for alice.
C: pass secret
S~ \+OK .*
C: sTaT
S: +OK 3 523
C: list 1
S: +OK 1 145
C: Quit
S: +OK Pop server at ${host} signing off.
closed

# 8-bit bytes in a command are an unknown command, not a crash
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
R: \xef\xbb\xbfSTAT\r\n
S: -ERR Unknown command.
R: ST\xc0\xc1T\r\n
S: -ERR Unknown command.
R: LIST \xd9\xa1\r\n
S: -ERR Invalid message number.
C: STAT
S: +OK 3 523

# Pipelining: 100 commands in one write are answered in order
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
R: ${NOOP\r\n*100}
S*100: +OK
C: STAT
S: +OK 3 523

# Pipelining: a whole session in one write
mailbox: basic
R: USER alice\r\nPASS secret\r\nSTAT\r\nLIST 2\r\nRETR 1\r\nDELE 1\r\nDELE 9\r\nSTAT\r\nQUIT\r\n
S: +OK Password required for alice.
S: +OK alice has 3 visible messages (0 hidden) in 523 octets.
S: +OK 3 523
S: +OK 2 211
S: +OK 145 octets
S= retr 1
S: +OK Message 1 deleted.
S: -ERR No such message.
S: +OK 2 378
S: +OK Pop server at ${host} signing off.
closed
mailbox-after: 2 3

# Pipelining: 100 RETRs in one write, each message intact
messages: 5 3000
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK alice has 5 visible .*
R: ${RETR 3\r\n*100}NOOP\r\n
*100 S= retr+ 3
S: +OK

# A command trickled one byte per write, CR and LF in separate reads
mailbox: basic
T: USER alice\r\n
S: +OK Password required for alice.
T: PASS secret\r\n
S: +OK alice has 3 visible messages (0 hidden) in 523 octets.
T: LIST 2\r\nLIST 3\n
S: +OK 2 211
S: +OK 3 167

# A 600-octet line trickled one byte per write gets one -ERR
T: ${A*600}\r\nUSER alice\r\n
S: -ERR Command line too long.
S: +OK Password required for alice.
