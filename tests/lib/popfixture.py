"""popfixture: throw-away popper environments for the protocol transcripts
(tests/proto, run by transcript.py) and the integration tests
(tests/integration).

One PopEnv is one temporary directory holding everything a popper run needs:
a configuration file, a GDBM user database made with the real apopdb, the
spool directories with mailboxes written from message lists, a state
directory, and -- when the tests run as root -- a fake mail-owner account
(and fake system users) served through nss_wrapper, so that popper, started
as real root, really drops to an unprivileged uid without touching the
machine's /etc/passwd.  It starts popper in inetd mode (a socketpair or an
accepted TCP connection as stdin/stdout) or as a standalone daemon on a free
loopback port, and stops only the processes it started, by PID.

Also here, because every test needs them: a TAP writer, a small POP3 client
with read timeouts, an mbox reader written from the framing rules in the
team notes (independent of server/maildrop/mbox.c, so a shared misunderstanding is
the only way both can agree on a wrong answer), and message builders.

Nothing in this file runs as root on behalf of popper: it only prepares
files (chown to the fake accounts) and starts the binary.
"""
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRCDIR = os.environ.get("TEST_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDDIR = os.environ.get("TEST_BUILDDIR") or SRCDIR
POPPER = os.environ.get("POPPER") or os.path.join(BUILDDIR, "server", "popper")
APOPDB = os.environ.get("APOPDB") or os.path.join(BUILDDIR, "apopdb", "apopdb")
DATADIR = os.path.join(SRCDIR, "tests", "data")

# Every wait in the tests is bounded by one of these (seconds).
IO_TIMEOUT = 10          # one reply line from the server
PROC_TIMEOUT = 15        # a process we started to exit after being asked
MAIL_OWNER_UID = 4242    # the fake account that owns virtual maildrops
MAIL_OWNER = "popmail"
MAIL_GID = 8             # Debian's "mail" group, listed in the fake group file
PREAUTH_UID = 4343       # the fake account of the pre-auth process ("popper")
PREAUTH_USER = "popper"
PAM_UID_BASE = 5001      # fake PAM accounts made by PopEnv.add_user (as root)

LIBDIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
           "/usr/lib64", "/usr/lib")


def find_lib(name):
    """Path of a shared library such as libnss_wrapper.so, or None."""
    for d in LIBDIRS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


def find_pam_matrix():
    for d in LIBDIRS:
        p = os.path.join(d, "pam_wrapper", "pam_matrix.so")
        if os.path.exists(p):
            return p
    return None


def is_root():
    return os.geteuid() == 0


def popper_built():
    return os.access(POPPER, os.X_OK) and os.access(APOPDB, os.X_OK)


# --------------------------------------------------------------------------
# What popper was built with, and how the fixture's users can log in

LIBRARY_NAMES = {"pam": "PAM", "gdbm": "GDBM", "openssl": "OpenSSL",
                 "sasl": "Cyrus SASL", "krb5": "Kerberos"}
NO_LOGIN = "popper built without GDBM and PAM: nobody can log in"
_built_with = None
_asan_runtime = None


class NotBuilt(Exception):
    """A test asked for something this build of popper cannot do; the
    message is the skip reason."""


def built_with():
    """The optional libraries popper was built with (a set of "pam",
    "gdbm", "openssl", "sasl", "krb5"), read once from the second line of
    "popper -v".  Empty when popper is not built."""
    global _built_with
    if _built_with is None:
        _built_with = frozenset()
        if os.access(POPPER, os.X_OK):
            r = subprocess.run([POPPER, "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=PROC_TIMEOUT)
            out = r.stdout.decode("utf-8", "replace")
            m = re.search(r"^built with: (.+)$", out, re.M)
            if r.returncode != 0 or not m:
                raise RuntimeError("%s -v does not say what it was built with (status %s): %r" % (
                    POPPER, r.returncode, out[:200]))
            _built_with = frozenset(m.group(1).split()) - {"none"}
    return _built_with


def without(*libs):
    """None when popper was built with every one of libs, else the skip
    reason, e.g. "popper built without GDBM and OpenSSL"."""
    missing = [LIBRARY_NAMES[l] for l in libs if l not in built_with()]
    return "popper built without " + " and ".join(missing) if missing else None


def apop_unavailable():
    """None when APOP can work (it needs the GDBM database of secrets and
    OpenSSL's MD5), else the skip reason."""
    why = without("gdbm", "openssl")
    return why + ": no APOP" if why else None


def wrappers_missing():
    """None when pam_wrapper (with pam_matrix) and nss_wrapper are
    installed, else the skip reason."""
    if find_lib("libpam_wrapper.so") and find_pam_matrix() and find_lib("libnss_wrapper.so"):
        return None
    return "libpam-wrapper / libnss-wrapper not installed"


def login_method():
    """How the fixture's users log in with USER/PASS in this build:
    ("virtual", None)  users of the GDBM database, made with apopdb;
    ("pam", None)      without GDBM: fake system accounts (nss_wrapper)
                       whose passwords pam_matrix checks (pam_wrapper);
    (None, reason)     nobody can log in."""
    if "gdbm" in built_with():
        return "virtual", None
    if "pam" not in built_with():
        return None, NO_LOGIN
    missing = wrappers_missing()
    if missing:
        return None, "popper built without GDBM, and for PAM logins " + missing
    return "pam", None


def asan_runtime():
    """The shared ASan runtime popper is linked with (gcc's
    -fsanitize=address), or "".  A wrapper we preload must come after it:
    ASan refuses to start unless its runtime is first in LD_PRELOAD, and
    nss_wrapper and pam_wrapper, seeing libasan there, leave out the
    RTLD_DEEPBIND that ASan cannot work with."""
    global _asan_runtime
    if _asan_runtime is None:
        _asan_runtime = ""
        try:
            r = subprocess.run(["ldd", POPPER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=PROC_TIMEOUT)
            m = re.search(r"^\s*libasan\.so\S* => (/\S+)", r.stdout.decode("utf-8", "replace"), re.M)
            if m:
                _asan_runtime = m.group(1)
        except (OSError, subprocess.SubprocessError):
            pass
    return _asan_runtime


# --------------------------------------------------------------------------
# TAP


class TAP:
    """Numbered ok/not ok lines; done() prints the plan and gives the exit
    status (1 if anything failed)."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        desc = desc.replace("\n", " ").replace("#", "\\#")
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, desc))
        if not cond:
            self.failed += 1
            if diag:
                self.diag(diag)
        sys.stdout.flush()
        return bool(cond)

    def is_(self, got, expected, desc):
        return self.ok(got == expected, desc,
                       "expected: %r\ngot:      %r" % (expected, got))

    def skip(self, desc, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc.replace("#", "\\#"), reason))
        sys.stdout.flush()

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0

    def bail_if_unbuilt(self):
        """Skips the whole program (one SKIP line) when popper is not built."""
        if not popper_built():
            self.skip("popper tests", "popper or apopdb not built (%s)" % POPPER)
            sys.exit(self.done())

    def can_login(self, *descs):
        """For tests that log in: True when this build lets the fixture's
        users log in (login_method()), else one SKIP line with the reason
        for each of descs, and False."""
        method, reason = login_method()
        if method is None:
            for desc in descs:
                self.skip(desc, reason)
        return method is not None


# --------------------------------------------------------------------------
# Messages and the independent mbox reader

FROM_LINE = b"From sender@example.org Mon Jan  1 00:00:00 2024\n"
# The separator rule of the team notes: "From " at the start of the file or
# right after an empty line, and the rest contains a time hh:mm.
SEPARATOR = re.compile(rb"^From .*\b\d{1,2}:\d{2}")


class MboxFormatError(Exception):
    pass


def login_quit(env, user="alice", password="secret"):
    """One clean session: login and QUIT, nothing else (it runs any
    recovery the maildrop needs).  Returns the two replies; the QUIT reply
    is None when the login failed, and the login reply says "error: ..."
    when the connection broke."""
    s = env.start_inetd()
    try:
        s.read_greeting()
        r = s.client.login(user, password)
        q = s.client.command("QUIT") if r.startswith("+OK") else None
        return r, q
    except (Closed, Timeout, OSError) as e:
        return "error: %s" % e, None
    finally:
        s.finish()


def make_message(test_id, subject=None, body=None, headers=(), size=None):
    """An RFC 5322 message (LF line ends) with a unique X-Test-Id header.
    body: bytes, or None for a short generated body; size pads the body
    with numbered lines up to about that many octets."""
    if isinstance(test_id, int):
        test_id = "m%04d" % test_id
    h = [b"Return-Path: <sender@example.org>",
         b"From: Sender <sender@example.org>",
         b"To: alice@example.org",
         b"Subject: " + (subject or "test message %s" % test_id).encode(),
         b"Message-ID: <%s@test.example.org>" % test_id.encode(),
         b"X-Test-Id: " + test_id.encode()]
    h += [x if isinstance(x, bytes) else x.encode() for x in headers]
    if body is None:
        body = b"This is message %s.\nSecond line.\n" % test_id.encode()
        if size:
            i = 0
            while len(body) < size:
                i += 1
                body += b"Line %06d of %s: the quick brown fox jumps over the lazy dog\n" % (
                    i, test_id.encode())
    return b"\n".join(h) + b"\n\n" + body


def mbox_bytes(messages, from_line=FROM_LINE):
    """An mbox file holding messages (bytes, LF line ends) in order: From_
    line, the message, and the empty separator line.  A message without a
    final newline can only be the last one (nothing can frame it)."""
    out = []
    for i, m in enumerate(messages):
        if isinstance(m, tuple):        # (from_line, message)
            fl, m = m
        else:
            fl = from_line
        out.append(fl)
        out.append(m)
        if m.endswith(b"\n"):
            out.append(b"\n")
        elif i != len(messages) - 1:
            raise ValueError("only the last message may lack a final newline")
    return b"".join(out)


def parse_mbox(data):
    """Splits mbox bytes into a list of (from_line, message) per the team
    notes' framing rule.  An empty file is an empty list; a non-empty file
    that does not start with a separator raises MboxFormatError."""
    if not data:
        return []
    lines = data.splitlines(keepends=True)
    if not SEPARATOR.match(lines[0]):
        raise MboxFormatError("does not begin with a From_ line: %r" % lines[0][:60])
    seps = [0]
    for i in range(1, len(lines)):
        if lines[i - 1] == b"\n" and SEPARATOR.match(lines[i]):
            seps.append(i)
    out = []
    for k, start in enumerate(seps):
        end = seps[k + 1] - 1 if k + 1 < len(seps) else len(lines)  # drop the separator's empty line
        body = lines[start + 1:end]
        if k + 1 == len(seps) and body and body[-1] == b"\n":
            body = body[:-1]            # the final empty line is framing too
        out.append((lines[start], b"".join(body)))
    return out


def read_mbox(path):
    """Messages (bytes) of the mbox at path; a missing file is empty."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [m for _, m in parse_mbox(data)]


def test_id_of(msg):
    m = re.search(rb"^X-Test-Id: (\S+)", msg, re.M)
    return m.group(1).decode() if m else None


def crlf_form(msg):
    """The message as RETR sends it before dot-stuffing: every LF not after
    a CR becomes CRLF, a missing final newline is added."""
    out = re.sub(rb"(?<!\r)\n", b"\r\n", msg)
    if out and not out.endswith(b"\n"):
        out += b"\r\n"
    return out


def msg_size(msg):
    """Octets LIST/STAT/RETR report for msg."""
    return len(crlf_form(msg))


def stuff(crlf_text):
    """Dot-stuffing of CRLF text: every line beginning with '.' gets one
    more '.'."""
    lines = crlf_text.split(b"\n")
    return b"\n".join(b"." + l if l.startswith(b".") else l for l in lines)


def sent_form(msg):
    """Exact bytes of the multi-line body RETR sends (after the +OK line)."""
    return stuff(crlf_form(msg)) + b".\r\n"


def top_form(msg, n):
    """Exact bytes TOP msg n sends after its +OK line: header, blank line,
    the first n body lines, then the terminator."""
    lines = crlf_form(msg).splitlines(keepends=True)
    try:
        blank = lines.index(b"\r\n")
    except ValueError:
        part = lines                    # no body: the whole text is header
    else:
        part = lines[:blank + 1] + lines[blank + 1:blank + 1 + n]
    return stuff(b"".join(part)) + b".\r\n"


def normalize_crlf(data):
    """For comparing what a client stored with the original: CRLF -> LF."""
    return data.replace(b"\r\n", b"\n")


# --------------------------------------------------------------------------
# POP3 client


class Closed(Exception):
    pass


class Timeout(Exception):
    pass


class PopClient:
    """A tiny POP3 client over a connected socket.  Every read has a
    deadline; lines are returned without their CRLF and a line that does
    not end in CRLF is reported (the server must always send CRLF)."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.bad_endings = []     # lines that ended in a bare LF

    @classmethod
    def connect(cls, host, port, timeout=IO_TIMEOUT, source=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        return cls(s, timeout)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def sendline(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("no data within %ss (have %r)" % (self.timeout, self.buf[:80]))
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise Timeout("no data within %ss (have %r)" % (self.timeout, self.buf[:80]))
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed("connection closed (pending %r)" % self.buf[:80])
        self.buf += chunk

    def raw_line(self, timeout=None):
        """One line including its terminator."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line
            self._fill(deadline)

    def line(self, timeout=None):
        l = self.raw_line(timeout)
        if l.endswith(b"\r\n"):
            return l[:-2]
        self.bad_endings.append(l)
        return l[:-1]

    def line_str(self, timeout=None):
        return self.line(timeout).decode("latin-1")

    def read_exact_bytes(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def multiline_raw(self, timeout=None):
        """Raw bytes of a multi-line body up to and including ".\\r\\n"."""
        out = []
        while True:
            l = self.raw_line(timeout)
            out.append(l)
            if l == b".\r\n":
                return b"".join(out)

    def multiline(self, timeout=None):
        """Body lines (unstuffed, without CRLF) up to the terminator."""
        raw = self.multiline_raw(timeout)
        lines = raw[:-3].split(b"\r\n")[:-1] if raw != b".\r\n" else []
        return [l[1:] if l.startswith(b".") else l for l in lines]

    def command(self, line):
        self.sendline(line)
        return self.line_str()

    def expect_closed(self, timeout=None):
        """True when the server closes the connection (no more data) within
        the timeout.  Extra data read is kept in self.buf."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return True
        except Timeout:
            return False

    def login(self, user, password):
        """USER/PASS; returns the PASS reply (raises on a USER refusal)."""
        r = self.command("USER " + user)
        if not r.startswith("+OK"):
            return r
        return self.command("PASS " + password)

    def retr(self, n):
        """(first line, message bytes with CRLF, unstuffed) or (line, None)."""
        r = self.command("RETR %d" % n)
        if not r.startswith("+OK"):
            return r, None
        lines = self.multiline()
        return r, b"".join(l + b"\r\n" for l in lines)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Processes


def descendants(pid):
    """PIDs of all living descendants of pid (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def proc_status(pid):
    """/proc/PID/status as a dict of strings, or None if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    except OSError:
        return None


def stop_process(proc, sig=signal.SIGTERM, timeout=PROC_TIMEOUT):
    """Sends sig to a process we started (by PID) and reaps it; SIGKILL
    after the timeout.  Then kills what is left of its process group (we
    started it as a group leader, so the group holds only its children).
    Returns the exit status (negative = signal) and whether it needed KILL."""
    killed = False
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(PROC_TIMEOUT)
    reap_group(proc.pid)
    return proc.returncode, killed


def reap_group(pgid):
    """SIGKILLs any process still in the process group we created."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def group_members(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                if int(st[2]) == pgid and st[0] != "Z":
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def run(argv, input=None, timeout=PROC_TIMEOUT, env=None):
    """subprocess.run with a timeout, capturing output."""
    return subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=env)


# --------------------------------------------------------------------------
# The environment


class Session:
    """popper in inetd mode serving one connection: .client is the
    PopClient, .proc the popper (or wrapper, e.g. strace) process."""

    def __init__(self, env, proc, client, stderr_path):
        self.env = env
        self.proc = proc
        self.client = client
        self.stderr_path = stderr_path
        self.greeting = None

    def read_greeting(self):
        self.greeting = self.client.line_str()
        return self.greeting

    def timestamp(self):
        m = re.search(r"(<[^<>]*>)\s*$", self.greeting or "")
        return m.group(1) if m else None

    def finish(self, timeout=PROC_TIMEOUT):
        """Closes our end and waits for popper to exit.  Returns the exit
        status, or None if it had to be killed (a hang is a bug)."""
        self.client.close()
        try:
            self.proc.wait(timeout)
            rc = self.proc.returncode
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGKILL)
            rc = None
        # Children (the session under the monitor) may outlive the parent
        # briefly; give them a moment, then kill what we started.
        deadline = time.monotonic() + 5
        while group_members(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        reap_group(self.proc.pid)
        return rc

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Daemon:
    """A standalone popper on a loopback port."""

    def __init__(self, env, proc, host, port, stderr_path):
        self.env = env
        self.proc = proc
        self.host = host
        self.port = port
        self.stderr_path = stderr_path

    def connect(self, timeout=IO_TIMEOUT, source=None):
        return PopClient.connect(self.host, self.port, timeout, source)

    def stop(self, sig=signal.SIGTERM):
        return stop_process(self.proc, sig)

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class PopEnv:
    """A throw-away popper installation in a temporary directory.

    Layout:  etc/popper.conf  etc/auth/pop.auth (GDBM, via apopdb; the
             database in a directory of its own, as installed)
             vspool/ (virtual-spool-dir)  spool/ (spool-dir)  state/
             nss/passwd nss/group (root, or PAM logins)  pam/ (PAM service dir)
    The default user is alice with password "secret": a virtual user when
    popper has GDBM, else a PAM account (see add_user); when nobody can log
    in (self.login is None) there is no user at all, and tests that log in
    skip with self.no_login_reason."""

    def __init__(self, pam=False, users=(("alice", "secret"),), keep=False):
        # POPPER_TEST_TMPDIR: where (default: TMPDIR); POPPER_TEST_KEEP=1:
        # left in place for a look afterwards (tests/sanitize.sh does both).
        self.dir = tempfile.mkdtemp(prefix="popper-test-", dir=os.environ.get("POPPER_TEST_TMPDIR"))
        # The session runs as the mail owner and must reach the spool.
        os.chmod(self.dir, 0o755)
        self.keep = keep or os.environ.get("POPPER_TEST_KEEP") == "1"
        self.root = is_root()
        self.etc = self._mkdir("etc", 0o755)
        self.vspool = self._mkdir("vspool", 0o755)
        self.spool = self._mkdir("spool", 0o755)
        self.state = self._mkdir("state", 0o755)
        self.logs = self._mkdir("logs", 0o755)
        self.conf = os.path.join(self.etc, "popper.conf")
        # Only root (or we) may write the database's directory: the one
        # rule of auth/userdb/userdb.h.
        self.authdir = self._mkdir("etc/auth", 0o700)
        self.authdb = os.path.join(self.authdir, "pop.auth")
        self.login, self.no_login_reason = login_method()
        self.pam = pam or self.login == "pam"
        self.system_users = {}     # name -> (uid, gid, home, shell, groups)
        self.pam_passwords = {}    # name -> password (pam_matrix)
        self.pam_services = {}     # name -> service pam_matrix allows (default popper)
        self.extra_groups = {}     # group name -> gid, for supplementary groups
        self.virtual_users = {}
        self.extra_lines = []
        self.settings = {}
        self.counter = 0
        if self.root:
            self.owner_name, self.owner_uid, self.owner_gid = MAIL_OWNER, MAIL_OWNER_UID, MAIL_OWNER_UID
            # The session runs as the mail owner: it must be able to read
            # and write its maildrops; the spool-dir follows Debian's
            # 2775 root:mail so that only the privileged side makes locks.
            os.chown(self.vspool, self.owner_uid, self.owner_gid)
            os.chmod(self.vspool, 0o755)
            os.chown(self.spool, 0, MAIL_GID)
            os.chmod(self.spool, 0o2775)
        else:
            import pwd
            pw = pwd.getpwuid(os.getuid())
            self.owner_name, self.owner_uid, self.owner_gid = pw.pw_name, pw.pw_uid, pw.pw_gid
        self.defaults()
        if "gdbm" in built_with():
            self._init_authdb()
        if self.login:
            for name, pw in users:
                self.add_user(name, pw)

    # -- files ---------------------------------------------------------------
    def _mkdir(self, name, mode):
        p = os.path.join(self.dir, name)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        return p

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def defaults(self):
        self.settings = {
            "auth-failure-delay": "0",
            # Standalone tests that fail logins on purpose would wait the
            # penalty per address; test_penalty sets it itself.
            "auth-failure-penalty": "0",
            "state-dir": self.state,
            "virtual-spool-dir": self.vspool,
            "spool-dir": self.spool,
            "auth-db": self.authdb,
            "mail-owner": self.owner_name,
            "min-uid": "1000" if self.root else str(min(1000, os.getuid())),
            "reverse-lookup": "false",
            "lock-wait": "3",
            "timeout": "60",
            "pam-service": "popper" if self.pam else '""',
            # Every virtual user has a stored secret, so the "default"
            # policy would refuse USER/PASS for all of them (Qpopper's rule);
            # the policy tests set it explicitly.
            "clear-text-password": "always",
            # Every log record also lands here, for the diagnostics of a
            # failing test (syslog may not run on a test machine).
            "tracefile": os.path.join(self.logs, "trace.log"),
        }

    def set(self, name, value=None):
        """set NAME = VALUE (or "set NAME" for a boolean)."""
        self.settings[name] = "true" if value is None else str(value)

    def reset(self, name):
        self.settings[name] = "false"

    def write_config(self, extra=()):
        lines = ["# written by tests/lib/popfixture.py"]
        for k, v in self.settings.items():
            if v is None:
                continue
            lines.append("set %s = %s" % (k, v))
        lines += list(self.extra_lines) + list(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.conf

    def apopdb(self, args, input=None):
        """Runs the real apopdb on this environment's database, seeing the
        same accounts as the popper it starts (nss_wrapper): a real account
        of the machine (e.g. "pop", once popper is installed) must not own
        a database the server under test cannot resolve that owner for."""
        return run([APOPDB, "-f", self.authdb] + list(args), input=input,
                   env=self.process_env())

    def _init_authdb(self):
        r = self.apopdb(["init"])
        if r.returncode != 0:
            raise RuntimeError("apopdb init failed (%d): %s" % (
                r.returncode, r.stderr.decode(errors="replace")))

    def add_user(self, name, password="secret", messages=None, mbox=None):
        """A user who logs in with USER name / PASS password, as this build
        allows: a virtual user (GDBM), or without GDBM a system account of
        its own, uid from PAM_UID_BASE up (as root; else ours, since popper
        cannot change uid), checked by PAM, maildrop in spool-dir.  Raises
        NotBuilt when nobody can log in."""
        if self.login == "virtual":
            self.add_virtual_user(name, password, messages, mbox)
            return
        if self.login is None:
            raise NotBuilt(self.no_login_reason)
        if self.root:
            uid = gid = PAM_UID_BASE + len(self.system_users)
        else:
            uid, gid = os.getuid(), os.getgid()
        self.add_system_user(name, uid, password, gid=gid)
        if messages is not None or mbox is not None:
            self.write_mailbox(name, messages=messages, data=mbox)

    def add_virtual_user(self, name, password="secret", messages=None, mbox=None):
        """A user of the GDBM database (apopdb add, password on stdin);
        optionally with a mailbox.  Raises NotBuilt without GDBM."""
        if without("gdbm"):
            raise NotBuilt(without("gdbm") + ": no virtual users")
        r = self.apopdb(["add", name], input=(password + "\n").encode())
        if r.returncode != 0:
            raise RuntimeError("apopdb add %s failed (%d): %s" % (
                name, r.returncode, r.stderr.decode(errors="replace")))
        self.virtual_users[name] = password
        if messages is not None or mbox is not None:
            self.write_mailbox(name, messages=messages, data=mbox)

    def add_system_user(self, name, uid, password=None, gid=None, messages=None,
                        shell="/bin/sh", groups=()):
        """A system account (nss_wrapper passwd line) with a PAM password in
        the pam_matrix database and a spool file in spool-dir."""
        gid = uid if gid is None else gid
        home = self.path("home", name)
        os.makedirs(home, exist_ok=True)
        if self.root:
            os.chown(home, uid, gid)
        self.system_users[name] = (uid, gid, home, shell, tuple(groups))
        if password is not None:
            self.pam_passwords[name] = password
        if messages is not None:
            self.write_mailbox(name, messages=messages)

    def maildrop(self, user):
        if user in self.system_users:
            return os.path.join(self.spool, user)
        return os.path.join(self.vspool, user)

    def owner_of(self, user):
        if user in self.system_users and self.root:
            uid, gid = self.system_users[user][:2]
            return uid, gid
        return self.owner_uid, self.owner_gid

    def write_mailbox(self, user, messages=None, data=None):
        """Writes user's maildrop (mode 0600, owned by the account the
        session runs as).  data = raw mbox bytes, else built from messages."""
        if data is None:
            data = mbox_bytes(messages or [])
        p = self.maildrop(user)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o600)
        if self.root:
            os.chown(p, *self.owner_of(user))
        return p

    def append_mailbox(self, user, messages):
        with open(self.maildrop(user), "ab") as f:
            f.write(mbox_bytes(messages))

    def mailbox_bytes(self, user):
        try:
            with open(self.maildrop(user), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def mailbox(self, user):
        """Messages left in user's maildrop (independent reader)."""
        return read_mbox(self.maildrop(user))

    def lock_path(self, user):
        return self.maildrop(user) + ".lock"

    def trace(self, tail=2000):
        """The end of popper's trace file (its log records)."""
        try:
            with open(self.settings.get("tracefile") or "", "rb") as f:
                return f.read()[-tail:].decode("utf-8", "replace")
        except OSError:
            return ""

    def state_listing(self):
        out = []
        for dp, dn, fn in os.walk(self.state):
            for n in fn:
                out.append(os.path.relpath(os.path.join(dp, n), self.state))
        return sorted(out)

    # -- process environment -------------------------------------------------
    def _write_nss(self):
        nss = self._mkdir("nss", 0o755)
        pw = ["root:x:0:0:root:/root:/bin/sh",
              "mail:x:8:8:mail:/var/mail:/usr/sbin/nologin",
              "%s:x:%d:%d:popper test mail owner:%s:/usr/sbin/nologin" % (
                  MAIL_OWNER, MAIL_OWNER_UID, MAIL_OWNER_UID, self.dir),
              "%s:x:%d:%d:popper pre-auth:/nonexistent:/usr/sbin/nologin" % (
                  PREAUTH_USER, PREAUTH_UID, PREAUTH_UID)]
        gr = ["root:x:0:", "mail:x:8:", "%s:x:%d:" % (MAIL_OWNER, MAIL_OWNER_UID),
              "%s:x:%d:" % (PREAUTH_USER, PREAUTH_UID)]
        gr += ["%s:x:%d:" % (g, gid) for g, gid in self.extra_groups.items()]
        members = {}
        for name, (uid, gid, home, shell, groups) in self.system_users.items():
            pw.append("%s:x:%d:%d:test user %s:%s:%s" % (name, uid, gid, name, home, shell))
            if gid not in (0, MAIL_GID, MAIL_OWNER_UID):
                gr.append("%s:x:%d:" % (name, gid))
            for g in groups:
                members.setdefault(g, []).append(name)
        gr = [l + ",".join(members.get(l.split(":")[0], [])) for l in gr]
        with open(os.path.join(nss, "passwd"), "w") as f:
            f.write("\n".join(pw) + "\n")
        with open(os.path.join(nss, "group"), "w") as f:
            f.write("\n".join(gr) + "\n")
        return os.path.join(nss, "passwd"), os.path.join(nss, "group")

    def _write_pam(self):
        pamdir = self._mkdir("pam", 0o755)
        matrix = find_pam_matrix()
        passdb = os.path.join(pamdir, "passdb")
        with open(passdb, "w") as f:
            for name, pw in self.pam_passwords.items():
                f.write("%s:%s:%s\n" % (name, pw, self.pam_services.get(name, "popper")))
        svc = "".join("%s required %s passdb=%s\n" % (t, matrix, passdb)
                      for t in ("auth", "account", "password", "session"))
        with open(os.path.join(pamdir, "popper"), "w") as f:
            f.write(svc)
        return pamdir

    def process_env(self):
        """Environment for popper: nss_wrapper (as root, or for PAM
        accounts) and pam_wrapper (when PAM is used) preloaded."""
        env = dict(os.environ)
        wrappers = []
        if self.root or self.system_users:
            p, g = self._write_nss()
            lib = find_lib("libnss_wrapper.so")
            if lib:
                wrappers.append(lib)
                env["NSS_WRAPPER_PASSWD"] = p
                env["NSS_WRAPPER_GROUP"] = g
        if self.pam:
            lib = find_lib("libpam_wrapper.so")
            if lib:
                wrappers.append(lib)
                env["PAM_WRAPPER"] = "1"
                env["PAM_WRAPPER_SERVICE_DIR"] = self._write_pam()
        if wrappers:
            runtime = [asan_runtime()] if asan_runtime() else []
            env["LD_PRELOAD"] = " ".join(runtime + wrappers + [env.get("LD_PRELOAD", "")]).strip()
        return env

    def _log(self, what):
        self.counter += 1
        return os.path.join(self.logs, "%s-%03d.stderr" % (what, self.counter))

    # -- starting popper -----------------------------------------------------
    def popper_argv(self, args=(), popper=None):
        # Switches after -f: a later switch overrides the file (Qpopper).
        return [popper or POPPER, "-f", self.conf] + list(args)

    def start_inetd(self, transport="socketpair", prefix=(), args=(), timeout=IO_TIMEOUT,
                    write_config=True, pass_fds=(), popper=None):
        """popper in inetd mode serving one connection.  transport:
        "socketpair" (AF_UNIX), "tcp" (127.0.0.1) or "tcp6" (::1): for the
        TCP ones the accepted socket is popper's stdin/stdout, as inetd
        does.  prefix: a wrapper command (e.g. strace ...).  pass_fds:
        descriptors popper inherits besides 0-2 (as from a careless
        caller).  popper: another build of the program (a test tool)."""
        if write_config:
            self.write_config()
        if transport == "socketpair":
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            host = "::1" if transport == "tcp6" else "127.0.0.1"
            fam = socket.AF_INET6 if transport == "tcp6" else socket.AF_INET
            ls = socket.socket(fam, socket.SOCK_STREAM)
            ls.bind((host, 0))
            ls.listen(1)
            ours = socket.socket(fam, socket.SOCK_STREAM)
            ours.settimeout(timeout)
            ours.connect(ls.getsockname()[:2])
            ls.settimeout(timeout)
            theirs, _ = ls.accept()
            ls.close()
        errpath = self._log("inetd")
        with open(errpath, "wb") as err:
            proc = subprocess.Popen(list(prefix) + self.popper_argv(args, popper),
                                    stdin=theirs.fileno(), stdout=theirs.fileno(),
                                    stderr=err, env=self.process_env(),
                                    start_new_session=True, close_fds=True,
                                    pass_fds=tuple(pass_fds))
        theirs.close()
        return Session(self, proc, PopClient(ours, timeout), errpath)

    def start_standalone(self, host="127.0.0.1", args=(), timeout=IO_TIMEOUT, port=None,
                         pass_fds=()):
        """popper listening on host:<free port>; returns once it accepts.
        pass_fds: as for start_inetd."""
        self.write_config()
        port = port or free_port(host)
        spec = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        errpath = self._log("daemon")
        with open(errpath, "wb") as err:
            proc = subprocess.Popen([POPPER, spec] + list(args) + ["-f", self.conf],
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    env=self.process_env(), start_new_session=True,
                                    close_fds=True, pass_fds=tuple(pass_fds))
        d = Daemon(self, proc, host, port, errpath)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("popper exited with %s before listening: %s" % (
                    proc.returncode, d.stderr()))
            try:
                c = d.connect(timeout=2)
            except OSError:
                if time.monotonic() > deadline:
                    d.stop()
                    raise RuntimeError("popper did not accept on %s within %ss" % (spec, timeout))
                time.sleep(0.05)
                continue
            try:
                c.line()
                c.command("QUIT")
            except (Closed, Timeout, OSError):
                pass
            c.close()
            break
        return d

    def run_popper(self, args, timeout=PROC_TIMEOUT, stdin=b""):
        """popper run to completion (e.g. -n, -v); returns CompletedProcess."""
        return subprocess.run([POPPER] + list(args), input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              env=self.process_env(), start_new_session=True)

    def login_session(self, user="alice", password="secret", **kw):
        """An inetd session already logged in; returns (session, pass reply)."""
        s = self.start_inetd(**kw)
        s.read_greeting()
        r = s.client.login(user, password)
        return s, r

    def cleanup(self):
        if self.keep:
            sys.stderr.write("keeping %s\n" % self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def apop_digest(timestamp, secret):
    return hashlib.md5((timestamp + secret).encode()).hexdigest()


GREETING_RE = re.compile(
    r"^\+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.  "
    r"(?P<timestamp><[0-9a-fA-F]{16}\.\d+\.\d+@[^<>\s]+>)$")
SHY_GREETING_RE = re.compile(r"^\+OK ready  (?P<timestamp><[0-9a-fA-F]{16}\.\d+\.\d+@[^<>\s]+>)$")
# Without APOP (a build lacking GDBM or OpenSSL) the greeting carries no
# timestamp, so that clients do not try APOP.
GREETING_NO_APOP_RE = re.compile(r"^\+OK popper \(version 0\.1\.0\) at (?P<host>\S+) starting\.$")
SHY_GREETING_NO_APOP_RE = re.compile(r"^\+OK ready$")


def greeting_re(shy=False):
    """The greeting this build sends with the fixture's usual configuration."""
    if apop_unavailable():
        return SHY_GREETING_NO_APOP_RE if shy else GREETING_NO_APOP_RE
    return SHY_GREETING_RE if shy else GREETING_RE


# --------------------------------------------------------------------------
# strace fault injection (robustness.md §6.3 T1/T2)

# The syscalls that change files during an update.
MUTATING = ("write", "pwrite64", "ftruncate", "fsync", "fdatasync", "rename",
            "renameat", "renameat2", "unlink", "unlinkat", "link", "linkat", "openat")
STRACE_LINE = re.compile(r"^(\d+)\s+([a-z0-9_]+)\((.*)$")


def strace_available():
    return shutil.which("strace") is not None


def strace_prefix(outfile, trace=MUTATING + ("read", "recvfrom"), inject=None):
    """The wrapper command that runs popper (and every process it forks)
    under strace; inject like "write:signal=KILL:when=3"."""
    argv = ["strace", "-f", "-qq", "-s", "16", "-o", outfile, "-e", "trace=" + ",".join(trace)]
    if inject:
        argv += ["-e", "inject=" + inject]
    return argv


def strace_events(path):
    """[(pid, syscall, rest-of-line)] in the order strace saw them entered
    ("<... resumed>" continuation lines are not new calls)."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = STRACE_LINE.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def injection_points(events, classes=MUTATING, after=r'^\d+, "QUIT\\r\\n"'):
    """(syscall, k) pairs such that some process makes its k-th call of
    syscall after it read the line matching after: strace counts when=k per
    traced process, so these are exactly the injections that can land in
    the update."""
    counts = {}
    started = False
    points = set()
    pat = re.compile(after)
    for pid, sc, rest in events:
        counts[(pid, sc)] = counts.get((pid, sc), 0) + 1
        if sc in ("read", "recvfrom") and pat.search(rest):
            started = True
            continue
        if started and sc in classes:
            points.add((sc, counts[(pid, sc)]))
    return sorted(points)
