# unsupported.t: commands that are not built yet answer from their table
# row; unknown and old extension commands are refused (robustness.md P12).

# AUTH with a mechanism nobody offers is refused (without SASL: not supported)
C: AUTH X-NO-SUCH-MECH
S~ -ERR (AUTH is not supported by this server|Unsupported authentication mechanism)\.
C: USER alice
S: +OK Password required for alice.

# AUTH with a format string is just refused
C: AUTH %x%x%n
S~ -ERR (AUTH is not supported by this server|Unsupported authentication mechanism)\.

# STLS is not supported yet
C: STLS
S: -ERR STLS is not supported by this server.
C: USER alice
S: +OK Password required for alice.

# STLS followed by a pipelined command: the command is answered normally
R: STLS\r\nCAPA\r\n
S: -ERR STLS is not supported by this server.
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

# XTND is not supported
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: XTND XMIT
S: -ERR XTND is not supported by this server.
C: STAT
S: +OK 3 523

# Unknown commands before login
C: HELO
S: -ERR Unknown command.
C: XLST
S: -ERR Unknown command.
C: EUIDL
S: -ERR Unknown command.
C: MDEF %s%s%s%n
S: -ERR Unknown command.
C: USERX alice
S: -ERR Unknown command.
C: USER alice
S: +OK Password required for alice.

# Unknown commands after login
mailbox: basic
C: USER alice
S: +OK Password required for alice.
C: PASS secret
S~ \+OK .*
C: XLST
S: -ERR Unknown command.
C: EUIDL 1
S: -ERR Unknown command.
C: RETRX 1
S: -ERR Unknown command.
C: STAT
S: +OK 3 523
