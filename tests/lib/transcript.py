#!/usr/bin/env python3
"""transcript: runs a readable POP3 client/server transcript (tests/proto/*.t)
against the real popper in inetd mode and prints one TAP line per case.

    usage: transcript.py FILE.t [CASE-TITLE-SUBSTRING]

A file is a list of cases separated by blank lines.  A case starts with a
"# title" line; further "#" lines in a block are comments, and a block made
of comments only (the file's header) is not a case.  Each case gets a fresh
environment (tests/lib/popfixture.py): user alice, password "secret" (a
virtual user, or a PAM account when popper has no GDBM), and the mailbox
the case names.  A case that names alice in what the client sends, or adds
a user, needs someone who can log in: in a build without GDBM and PAM it is
skipped with that reason.  Lines of a case:

  Setup
    config: NAME = VALUE    "set NAME = VALUE" in popper.conf
    config: NAME            "set NAME"          config: reset NAME
    user: NAME PASSWORD     another user (a virtual one, or a PAM account)
    mailbox: FIXTURE        alice's mbox from tests/data/FIXTURE.mbox;
                            "none" = no spool file (the default)
    messages: N [SIZE]      alice's mbox made of N generated messages
    M| text                 one line of an inline mbox (LF added)
    M\\ text                 inline mbox bytes with escapes, no LF added
    transport: socketpair | tcp | tcp6    how the connection reaches popper
    args: SWITCHES          extra command-line switches
    requires: WHAT          skip the case (with a reason) unless WHAT:
                            root, ipv6, apop (GDBM and OpenSSL), or a
                            library popper -v lists (pam, gdbm, ...)
    spool: KIND             alice's spool is made hostile after it is
                            written: symlink, fifo, dir, hardlink,
                            foreign-owner (root), world-writable
    lock: fresh | stale     a dot-lock exists at the start: fresh (no pid,
                            just made: must be honoured and left alone) or
                            stale ("PID HOST" of a dead local process,
                            popper's own lock format)
    authdb: KIND            the user database (etc/auth/pop.auth, made
                            with apopdb) after the users are in it:
                            missing (removed), mode NNNN (of the file),
                            dir-mode NNNN (of its directory)
  Conversation
    G: text / G~ regex      the greeting (default: the spec's regex,
                            the shy one when "config: shy")
    C: text                 client sends text + CRLF
    R: bytes                client sends raw bytes, no CRLF added; escapes
                            \\r \\n \\t \\0 \\xHH \\\\
    T: bytes                like R:, but one byte per write (a trickle that
                            splits CR from LF across reads)
    S: text                 the next server line is exactly text (+CRLF)
    S~ regex                the next line matches regex entirely; named
                            groups become variables
    S*N: text               N lines, each exactly text
    S= retr N               the multi-line body of RETR N: exactly the
                            stuffed CRLF form of message N, then "."
    S= top N M              the same for TOP N M
    S= retr+ N              "+OK SIZE octets" and then the body of RETR N
    *N STEP                 STEP repeated N times
    S?: text                the next line, if it is exactly text
    S?~ regex               the next line, if it matches regex (a line that
                            depends on the build, e.g. CAPA's SASL line)
    closed                  the server closes the connection (EOF)
    drop                    the client closes the connection now
    reconnect               the session must be over; a new one starts
                            (same environment, variables kept)
    append: ID              an LDA-like append of a new message (X-Test-Id
                            ID) to alice's spool, lock-free, mid-session
    sleep: SECONDS
    differ: VAR1 VAR2       the two variables must differ
  After popper exited (it must, within the timeout; a left lock fails)
    mailbox-after: unchanged        byte-identical spool file
    mailbox-after: empty            no message left
    mailbox-after: absent           no spool file
    log~ regex                      some record of popper's log (its
                                    trace file) matches regex
    log!~ regex                     no record matches regex
    mailbox-after: 1 3 +ID          exactly original messages 1 and 3 and
                                    the appended message ID, byte for byte
Variables, in C:/R:/S:/S~ lines: ${host} and ${timestamp} (from the
greeting), ${count} and ${octets} (alice's original mailbox), ${size N},
${sum N M ...}, ${apop SECRET} (APOP digest for this connection's
timestamp; ${APOP SECRET} in upper case; ${apop-with VAR SECRET} for
the timestamp in VAR), ${TEXT*N} (TEXT repeated N times), any captured group; "$$"
is a literal "$".  In S~ lines variable values are matched literally.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import popfixture as pf  # noqa: E402


class CaseFailure(Exception):
    pass


class Skip(Exception):
    pass


def decode_escapes(text):
    """\\r \\n \\t \\0 \\xHH \\\\ and \\$ in a raw line, to bytes."""
    out = bytearray()
    i = 0
    b = text.encode("latin-1")
    while i < len(b):
        c = b[i:i + 1]
        if c != b"\\" or i + 1 >= len(b):
            out += c
            i += 1
            continue
        n = b[i + 1:i + 2]
        if n == b"x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
            continue
        out += {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0",
                b"\\": b"\\"}.get(n, b"\\" + n)
        i += 2
    return bytes(out)


def parse(path):
    with open(path, encoding="latin-1") as f:
        lines = f.read().split("\n")
    cases, block, start = [], [], 1
    for no, line in enumerate(lines + [""], 1):
        if line.strip() == "":
            if block:
                cases.append((start, block))
            block = []
            start = no + 1
            continue
        block.append((no, line))
    out = []
    for start, block in cases:
        title = None
        steps = []
        for no, line in block:
            if line.startswith("#"):
                if title is None and not steps:
                    title = line.lstrip("#").strip()
                continue
            steps.append((no, line))
        if steps:
            out.append((title or "case at line %d" % start, start, steps))
    return out


class Case:
    def __init__(self, path, title, steps):
        self.path = path
        self.title = title
        self.steps = steps
        self.vars = {}
        self.env = None
        self.session = None
        self.original = b""        # alice's mbox bytes at the start
        self.orig_msgs = []
        self.appended = {}
        self.log = []              # transcript of what happened, for diagnostics

    # -- variables -----------------------------------------------------------
    def value(self, raw):
        expr = raw.strip()
        words = expr.split()
        if words and words[0] == "size" and len(words) == 2:
            return str(pf.msg_size(self.orig_msgs[int(words[1]) - 1]))
        if words and words[0] == "sum":
            return str(sum(pf.msg_size(self.orig_msgs[int(w) - 1]) for w in words[1:]))
        if words and words[0] in ("apop", "APOP") and len(words) == 2:
            ts = self.vars.get("timestamp")
            if not ts:
                raise CaseFailure("no timestamp in the greeting for ${apop}")
            d = pf.apop_digest(ts, words[1])
            return d.upper() if words[0] == "APOP" else d
        if words and words[0] == "apop-with" and len(words) == 3:
            return pf.apop_digest(self.vars[words[1]], words[2])
        if expr in self.vars:
            return self.vars[expr]
        m = re.match(r"^(.+)\*(\d+)$", raw, re.S)
        if m:
            return m.group(1) * int(m.group(2))
        raise CaseFailure("unknown variable ${%s}" % expr)

    def expand(self, text, regex=False):
        def sub(m):
            if m.group(0) == "$$":
                return re.escape("$") if regex else "$"
            v = self.value(m.group(1))
            return re.escape(v) if regex else v
        return re.sub(r"\$\$|\$\{([^}]*)\}", sub, text)

    # -- setup ---------------------------------------------------------------
    def setup(self):
        inline = []
        hostile = lock = authdb = None
        mailbox = None
        transport = "socketpair"
        args = []
        for no, line in self.steps:
            key, _, rest = line.partition(":")
            rest = rest.strip()
            if line.startswith("M|"):
                text = line[2:]
                inline.append((text[1:] if text.startswith(" ") else text).encode("latin-1") + b"\n")
            elif line.startswith("M\\ "):
                inline.append(decode_escapes(line[3:]))
            elif key == "config":
                if rest.startswith("reset "):
                    self.env.reset(rest[6:].strip())
                elif "=" in rest:
                    n, _, v = rest.partition("=")
                    self.env.set(n.strip(), v.strip())
                else:
                    self.env.set(rest)
            elif key == "user":
                w = rest.split()
                self.env.add_user(w[0], w[1])
                if len(w) > 2:
                    with open(os.path.join(pf.DATADIR, w[2] + ".mbox"), "rb") as f:
                        self.env.write_mailbox(w[0], data=f.read())
            elif key == "mailbox":
                mailbox = rest
            elif key == "messages":
                w = rest.split()
                size = int(w[1]) if len(w) > 1 else None
                msgs = [pf.make_message(i + 1, size=size) for i in range(int(w[0]))]
                mailbox = pf.mbox_bytes(msgs)
            elif key == "transport":
                transport = rest
            elif key == "args":
                args = rest.split()
            elif key == "spool":
                hostile = rest
            elif key == "lock":
                lock = rest
            elif key == "authdb":
                authdb = rest
        if inline:
            mailbox = b"".join(inline)
        if isinstance(mailbox, bytes):
            self.env.write_mailbox("alice", data=mailbox)
        elif mailbox and mailbox != "none":
            with open(os.path.join(pf.DATADIR, mailbox + ".mbox"), "rb") as f:
                self.env.write_mailbox("alice", data=f.read())
        self.original = self.env.mailbox_bytes("alice")
        try:
            self.orig_msgs = [m for _, m in pf.parse_mbox(self.original or b"")]
        except pf.MboxFormatError:
            self.orig_msgs = []
        self.vars["count"] = str(len(self.orig_msgs))
        self.vars["octets"] = str(sum(pf.msg_size(m) for m in self.orig_msgs))
        if hostile:
            self.make_hostile(hostile)
        self.fresh_lock = None
        if lock:
            self.make_lock(lock)
        if authdb:
            self.spoil_authdb(authdb)
        return transport, args

    def spoil_authdb(self, kind):
        """Removes the user database, or changes the mode of the file or of
        its directory (authdb: in the case)."""
        db = self.env.authdb
        w = kind.split()
        if w == ["missing"]:
            if os.path.exists(db):
                os.unlink(db)
            return
        if len(w) != 2 or w[0] not in ("mode", "dir-mode") or not re.fullmatch(r"[0-7]{3,4}",
                                                                              w[1]):
            raise CaseFailure("unknown authdb kind %r" % kind)
        if not os.path.exists(db):
            raise Skip(pf.without("gdbm") or "no user database was made")
        os.chmod(db if w[0] == "mode" else os.path.dirname(db), int(w[1], 8))

    def check_requirements(self):
        """Raises Skip, with the reason, when this build or machine cannot
        run the case: a "requires:" line it does not meet, or no way to
        log in for a case that needs one (see uses_login)."""
        for no, line in self.steps:
            key, _, rest = line.partition(":")
            if key != "requires":
                continue
            rest = rest.strip()
            if rest == "root":
                why = None if pf.is_root() else "needs root"
            elif rest == "ipv6":
                why = None if pf.ipv6_loopback() else "IPv6 loopback unavailable"
            elif rest == "apop":
                why = pf.apop_unavailable()
            elif rest in pf.LIBRARY_NAMES:
                why = pf.without(rest)
            else:
                raise CaseFailure("line %d: unknown requirement %r" % (no, rest))
            if why:
                raise Skip(why)
        method, why = pf.login_method()
        if method is None and any(self.uses_login(line) for _, line in self.steps):
            raise Skip(why)

    @staticmethod
    def uses_login(line):
        """True for a line that adds a user or sends the fixture user's
        name: such a case means nothing unless alice can exist."""
        return line.startswith("user:") or (
            line[:2] in ("C:", "R:", "T:")
            and re.search(r"(?<![a-z])alice(?![a-z])", line, re.I) is not None)

    def make_hostile(self, kind):
        """Replaces alice's spool by something popper must refuse; the
        thing it points at is remembered in self.guarded (path, bytes)."""
        spool = self.env.maildrop("alice")
        data = self.original or pf.mbox_bytes([pf.make_message("guarded")])
        other = self.env.path("other-mailbox")
        with open(other, "wb") as f:
            f.write(data)
        if self.env.root:
            os.chown(other, *self.env.owner_of("alice"))
        os.chmod(other, 0o600)
        if os.path.lexists(spool):
            os.unlink(spool)
        if kind == "symlink":
            os.symlink(other, spool)
        elif kind == "fifo":
            os.mkfifo(spool, 0o600)
        elif kind == "dir":
            os.mkdir(spool, 0o700)
        elif kind == "hardlink":
            os.link(other, spool)
        elif kind in ("foreign-owner", "world-writable"):
            if kind == "foreign-owner" and not self.env.root:
                raise Skip("needs root to give the spool a foreign owner")
            with open(spool, "wb") as f:
                f.write(data)
            if self.env.root:
                os.chown(spool, *self.env.owner_of("alice"))
            if kind == "foreign-owner":
                os.chown(spool, 4343, 4343)
                os.chmod(spool, 0o600)
            else:
                os.chmod(spool, 0o666)
        else:
            raise CaseFailure("unknown spool kind %r" % kind)
        self.guarded = (other, data)
        self.original = self.env.mailbox_bytes("alice") if kind in (
            "foreign-owner", "world-writable", "hardlink") else None
        self.spool_kind = kind

    def make_lock(self, kind):
        lp = self.env.lock_path("alice")
        if kind == "fresh":
            content = b""
        elif kind == "stale":
            import subprocess
            p = subprocess.Popen(["true"])
            p.wait()
            import socket
            # what a killed popper leaves: a local pid that no longer runs
            content = b"%d %s\n" % (p.pid, socket.gethostname().encode())
        else:
            raise CaseFailure("unknown lock kind %r" % kind)
        with open(lp, "wb") as f:
            f.write(content)
        if kind == "fresh":
            self.fresh_lock = content

    # -- conversation --------------------------------------------------------
    def fail(self, no, msg):
        raise CaseFailure("line %d: %s" % (no, msg))

    def expect_line(self, no, expected, got):
        if got != expected:
            self.fail(no, "expected %r\n  got      %r" % (expected, got))

    def read(self, no):
        c = self.session.client
        try:
            line = c.line()
        except pf.Closed as e:
            self.fail(no, "connection closed while waiting for a line (%s)" % e)
        except pf.Timeout as e:
            self.fail(no, "timeout waiting for a line (%s)" % e)
        if c.bad_endings:
            self.fail(no, "server line not ended by CRLF: %r" % c.bad_endings[-1])
        self.log.append("S: %r" % line)
        return line.decode("latin-1")

    def regex_match(self, no, pattern, got):
        m = re.fullmatch(pattern, got)
        if not m:
            self.fail(no, "expected to match %r\n  got %r" % (pattern, got))
        for k, v in m.groupdict().items():
            if v is not None:
                self.vars[k] = v

    def run(self):
        self.check_requirements()
        self.env = pf.PopEnv()
        try:
            transport, args = self.setup()
            shy = self.env.settings.get("shy") == "true"
            self.transport, self.args, self.shy = transport, args, shy
            self.session = self.env.start_inetd(transport=transport, args=args)
            conv = [(no, l) for no, l in self.steps if self.is_conversation(l)]
            if not conv or not conv[0][1].startswith(("G:", "G~")):
                g = self.read(0)
                self.regex_match(0, pf.greeting_re(shy).pattern, g)
            closed = False
            for no, line in conv:
                closed = self.step(no, line) or closed
            rc = self.session.finish()
            if rc is None:
                self.fail(0, "popper did not exit after the session ended (killed)")
            self.log.append("exit status %s" % rc)
            lp = self.env.lock_path("alice")
            if self.fresh_lock is not None:
                if not os.path.exists(lp):
                    self.fail(0, "a fresh foreign dot-lock was broken: %s" % lp)
            elif os.path.exists(lp):
                self.fail(0, "a dot-lock was left behind: %s" % lp)
            if getattr(self, "guarded", None):
                with open(self.guarded[0], "rb") as f:
                    if f.read() != self.guarded[1]:
                        self.fail(0, "the file behind the hostile spool was changed")
            trace = None
            for no, line in self.steps:
                if line.startswith(("log~ ", "log!~ ")):
                    if trace is None:
                        trace = self.env.trace(10 ** 7)
                    neg = line.startswith("log!~")
                    pat = line.split(" ", 1)[1]
                    found = re.search(self.expand(pat), trace, re.M)
                    if neg and found:
                        self.fail(no, "log has %r" % found.group(0))
                    if not neg and not found:
                        self.fail(no, "no log record matches %r; log:\n%s" % (pat, trace[-1500:]))
            for no, line in self.steps:
                if line.startswith("mailbox-after:") and getattr(self, "spool_kind", None) in (
                        None, "foreign-owner", "world-writable", "hardlink"):
                    self.check_mailbox(no, line.partition(":")[2].strip())
        finally:
            if self.session:
                self.session.finish(timeout=5)
                self.stderr = self.session.stderr() + self.env.trace(1200)
            self.env.cleanup()

    @staticmethod
    def is_conversation(line):
        return (line[:2] in ("G:", "G~", "C:", "R:", "T:", "S:", "S~", "S=")
                or re.match(r"^\*\d+ ", line) is not None
                or line.startswith("S?:") or line.startswith("S?~")
                or re.match(r"^S\*\d+:", line) is not None
                or line.strip() in ("closed", "drop", "reconnect")
                or line.startswith(("sleep:", "append:", "differ:")))

    def step(self, no, line):
        m = re.match(r"^\*(\d+) (.*)$", line)
        if m:
            closed = False
            for _ in range(int(m.group(1))):
                closed = self.step(no, m.group(2)) or closed
            return closed
        c = self.session.client
        if line.startswith("G:") or line.startswith("G~"):
            g = self.read(no)
            if line.startswith("G:"):
                self.expect_line(no, self.expand(line[3:]), g)
            else:
                self.regex_match(no, self.expand(line[3:], regex=True), g)
        elif line.startswith("C:"):
            text = self.expand(line[3:])
            self.log.append("C: %r" % text)
            try:
                c.sendline(text.encode("latin-1"))
            except OSError as e:
                self.fail(no, "send failed: %s" % e)
        elif line.startswith("T:"):
            data = decode_escapes(self.expand(line[3:]))
            self.log.append("T: %r" % data[:200])
            try:
                for i in range(len(data)):
                    c.send(data[i:i + 1])
                    time.sleep(0.002)
            except OSError as e:
                self.fail(no, "send failed: %s" % e)
        elif line.startswith("R:"):
            data = decode_escapes(self.expand(line[3:]))
            self.log.append("R: %r" % data[:200])
            try:
                c.send(data)
            except OSError as e:
                self.fail(no, "send failed: %s" % e)
        elif line.startswith("S:"):
            self.expect_line(no, self.expand(line[3:]), self.read(no))
        elif line.startswith("S~"):
            self.regex_match(no, self.expand(line[3:], regex=True), self.read(no))
        elif line.startswith("S?~"):
            pattern = self.expand(line[4:], regex=True)
            raw = c.raw_line()
            m = re.fullmatch(pattern, raw.rstrip(b"\r\n").decode("latin-1"))
            if m:
                self.log.append("S?~ %r" % raw)
                for k, v in m.groupdict().items():
                    if v is not None:
                        self.vars[k] = v
            else:
                c.buf = raw + c.buf      # not there: leave it for the next step
        elif line.startswith("S?:"):
            exp = self.expand(line[4:])
            raw = c.raw_line()
            if raw.rstrip(b"\r\n").decode("latin-1") == exp:
                self.log.append("S?: %r" % raw)
            else:
                c.buf = raw + c.buf      # not there: leave it for the next step
        elif line.strip() == "reconnect":
            rc = self.session.finish()
            if rc is None:
                self.fail(no, "popper did not exit after the session ended (killed)")
            self.log.append("reconnect")
            self.session = self.env.start_inetd(transport=self.transport, args=self.args,
                                                write_config=False)
            g = self.read(no)
            self.regex_match(no, pf.greeting_re(self.shy).pattern, g)
        elif re.match(r"^S\*\d+:", line):
            n, _, text = line[2:].partition(":")
            exp = self.expand(text[1:])
            for i in range(int(n)):
                got = self.read(no)
                if got != exp:
                    self.fail(no, "line %d of %s: expected %r got %r" % (i + 1, n, exp, got))
        elif line.startswith("S="):
            w = line[3:].split()
            msg = self.orig_msgs[int(w[1]) - 1]
            if w[0] == "retr+":
                self.expect_line(no, "+OK %d octets" % pf.msg_size(msg), self.read(no))
            expected = pf.top_form(msg, int(w[2])) if w[0] == "top" else pf.sent_form(msg)
            try:
                got = c.multiline_raw()
            except (pf.Closed, pf.Timeout) as e:
                self.fail(no, "while reading a multi-line body: %s" % e)
            self.log.append("S= %d octets" % len(got))
            if got != expected:
                self.fail(no, "multi-line body differs\n  expected %r\n  got      %r" % (
                    expected[:400], got[:400]))
        elif line.strip() == "closed":
            if not c.expect_closed(pf.IO_TIMEOUT):
                self.fail(no, "the server did not close the connection")
            if c.buf:
                self.fail(no, "data before close: %r" % c.buf[:200])
            self.log.append("closed")
            return True
        elif line.strip() == "drop":
            self.log.append("drop")
            c.close()
            return True
        elif line.startswith("differ:"):
            a, b = line[7:].split()
            if self.vars.get(a) == self.vars.get(b):
                self.fail(no, "${%s} and ${%s} are both %r" % (a, b, self.vars.get(a)))
        elif line.startswith("sleep:"):
            time.sleep(float(line[6:]))
        elif line.startswith("append:"):
            tid = line[7:].strip()
            msg = pf.make_message(tid)
            self.appended[tid] = msg
            self.env.append_mailbox("alice", [msg])
        return False

    def check_mailbox(self, no, spec):
        data = self.env.mailbox_bytes("alice") or b""
        if spec == "absent":
            if os.path.lexists(self.env.maildrop("alice")):
                self.fail(no, "a spool file was created")
            return
        if spec == "unchanged":
            if data != (self.original or b""):
                self.fail(no, "mailbox changed: %d octets, was %d" % (len(data), len(self.original or b"")))
            return
        try:
            got = [m for _, m in pf.parse_mbox(data)]
        except pf.MboxFormatError as e:
            self.fail(no, "mailbox no longer parses: %s" % e)
        if spec == "empty":
            expected = []
        else:
            expected = []
            for w in spec.split():
                if w.startswith("+"):
                    expected.append(self.appended[w[1:]])
                else:
                    expected.append(self.orig_msgs[int(w) - 1])
        if got != expected:
            self.fail(no, "mailbox after the session: expected %d messages %s, got %d: %s" % (
                len(expected), [pf.test_id_of(m) for m in expected], len(got),
                [pf.test_id_of(m) for m in got]))


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: transcript.py FILE.t [TITLE-SUBSTRING]\n")
        return 2
    path = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else None
    tap = pf.TAP()
    cases = parse(path)
    for title, start, steps in cases:
        if only and only not in title:
            continue
        desc = "%s (%s:%d)" % (title, os.path.basename(path), start)
        if not pf.popper_built():
            tap.skip(desc, "popper or apopdb not built")
            continue
        case = Case(path, title, steps)
        case.stderr = ""
        try:
            case.run()
            tap.ok(True, desc)
        except Skip as e:
            tap.skip(desc, str(e))
        except CaseFailure as e:
            tap.ok(False, desc, "%s\nconversation so far:\n  %s\npopper stderr: %s" % (
                e, "\n  ".join(case.log[-12:]), case.stderr.strip()[-600:]))
        except Exception as e:  # a harness problem is a failure too, with the reason
            tap.ok(False, desc, "harness error: %s: %s" % (type(e).__name__, e))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
