#!/usr/bin/env python3
"""test_apopdb: the built apopdb tool through every command and error path.

Runs the real binary (path in $APOPDB, set by tests/run.py) on databases in
a temporary directory: init (twice, --force, owner), add (virtual and
--system) from standard input and from a terminal (a pty, echo off),
passwd, delete, list (plain and --json), show, check, export (stdout and a
file), import (popper's export format, merged and --replace, and a Qpopper
pop.auth built here in Qpopper's own format), verify; empty / too long /
mismatched / weak secrets, the secret "*", invalid names, usage errors, and
databases that are missing, unsafe or not databases at all.  A writer
killed at every write, sync and rename (strace fault injection) leaves the
database exactly as it was.  Checks the exit codes the man page promises
(0 done, 1 not found / already there / no match, 2 usage or invalid input,
3 system error), that messages name the file, and that a secret never
shows up in any output but export's or on a command line.  Speaks TAP.
"""
import ctypes
import ctypes.util
import json
import os
import pty
import pwd
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time

APOPDB = os.environ.get("APOPDB") or os.path.join(
    os.environ.get("TEST_BUILDDIR", "."), "apopdb", "apopdb")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import apopfixture as af  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402  (only for what popper was built with)

count = 0
failed = 0
all_output = []   # every byte apopdb printed, to look for leaked secrets


def own_owner():
    """Options for verify on the test's own databases.  verify reports a
    file popper would refuse: one owned by neither root nor the owner
    account (-o, default pop).  As root our files are root's; otherwise
    they are ours, as they are a non-root popper's, so we name ourselves
    the owner account."""
    if os.geteuid() == 0:
        return []
    try:
        return ["-o", pwd.getpwuid(os.geteuid()).pw_name]
    except KeyError:
        return []


OWN = own_owner()


def ok(cond, desc, diag=None):
    global count, failed
    count += 1
    if cond:
        print("ok %d - %s" % (count, desc))
    else:
        failed += 1
        print("not ok %d - %s" % (count, desc))
        if diag:
            for line in str(diag).splitlines():
                print("#   " + line)
    sys.stdout.flush()


def skip(desc, reason):
    global count
    count += 1
    print("ok %d - %s # SKIP %s" % (count, desc, reason))


def done():
    print("1..%d" % count)
    sys.exit(1 if failed else 0)


def run(args, stdin=b"", umask=None):
    """Runs apopdb with args; returns (exit code, stdout, stderr) as str."""
    def pre():
        if umask is not None:
            os.umask(umask)
    p = subprocess.run([APOPDB] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, preexec_fn=pre)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    all_output.append(out + err)
    return p.returncode, out, err


def check(desc, args, want_rc, stdin=b"", out_has=None, err_has=None, **kw):
    rc, out, err = run(args, stdin, **kw)
    good = rc == want_rc
    for needle in ([out_has] if isinstance(out_has, str) else out_has or []):
        good = good and needle in out
    for needle in ([err_has] if isinstance(err_has, str) else err_has or []):
        good = good and needle in err
    ok(good, desc, "exit %s (want %s)\nstdout: %r\nstderr: %r" % (rc, want_rc, out, err))
    return rc, out, err


# ---- reading the stored record (optional: libgdbm through ctypes) ----------

class Datum(ctypes.Structure):
    _fields_ = [("dptr", ctypes.c_void_p), ("dsize", ctypes.c_int)]


def load_gdbm():
    name = ctypes.util.find_library("gdbm")
    for candidate in ([name] if name else []) + ["libgdbm.so.6"]:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        lib.gdbm_open.restype = ctypes.c_void_p
        lib.gdbm_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_int, ctypes.c_void_p]
        lib.gdbm_fetch.restype = Datum
        lib.gdbm_fetch.argtypes = [ctypes.c_void_p, Datum]
        lib.gdbm_close.argtypes = [ctypes.c_void_p]
        return lib
    return None


GDBM = load_gdbm()
LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
LIBC.free.argtypes = [ctypes.c_void_p]


def raw_record(path, user):
    """The stored value for user, or None."""
    f = GDBM.gdbm_open(path.encode(), 0, 0, 0o600, None)   # GDBM_READER
    if not f:
        return None
    key = ctypes.create_string_buffer(user.encode(), len(user))
    d = GDBM.gdbm_fetch(f, Datum(ctypes.cast(key, ctypes.c_void_p), len(user)))
    val = None
    if d.dptr:
        val = ctypes.string_at(d.dptr, d.dsize)
        LIBC.free(d.dptr)
    GDBM.gdbm_close(f)
    return val


def pty_add(db, user, answers, cmd="add"):
    """Runs "apopdb -f db add user" on a terminal, typing each answer after
    a prompt.  Returns (exit code, everything the terminal showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([APOPDB, "-f", db, cmd, user], stdin=slave,
                         stdout=slave, stderr=slave, close_fds=True,
                         start_new_session=True)
    os.close(slave)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.rstrip().endswith(b":"):
                os.write(master, pending.pop(0) + b"\n")
                shown += b"<typed>"
        elif p.poll() is not None:
            break
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    os.close(master)
    text = shown.decode("utf-8", "replace")
    all_output.append(text)
    return rc, text


def main():
    if not os.access(APOPDB, os.X_OK):
        skip("apopdb", "%s not built" % APOPDB)
        done()
    tmp = tempfile.mkdtemp(prefix="test_apopdb.")
    try:
        body(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done()


HOLDER = r"""
import fcntl, os, signal, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
sys.stdout.write("locked\n")
sys.stdout.flush()
if sys.argv[2] == "stop":
    os.kill(os.getpid(), signal.SIGSTOP)
time.sleep(120)
"""


def lock_holder(db, how):
    """A process that holds the writers' lock of db (the flock on the lock
    directory beside it, as popauth or apopdb would) and then stops itself
    (how "stop") or sleeps.  Returns the Popen once it holds the lock."""
    lockdir = os.path.join(os.path.dirname(db), "." + os.path.basename(db) + ".lock")
    os.makedirs(lockdir, 0o700, exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", HOLDER, lockdir, how], stdout=subprocess.PIPE)
    p.stdout.readline()
    deadline = time.monotonic() + 10
    while how == "stop" and af.proc_state(p.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.05)
    return p


def end_holder(p):
    p.kill()
    p.wait(timeout=30)
    p.stdout.close()


def test_lock(tmp, db):
    """Another program keeps the lock: apopdb waits and names it; takes the
    lock over from a stopped one after a second, from a sleeping one only
    with -b after the wait."""
    h = lock_holder(db, "stop")
    try:
        t0 = time.monotonic()
        rc, out, err = run(["-f", db, "passwd", "alice"], b"Lock-Taken-Over-1\n")
        took = time.monotonic() - t0
        ok(rc == 0 and "taking the lock over from process %d (" % h.pid in err and
           "), stopped;" in err and took < 5,
           "a stopped holder of the lock: passwd takes it over within seconds and commits",
           "exit %s after %.1fs\n%s" % (rc, took, err))
    finally:
        end_holder(h)
    check("  the change is there", ["-f", db, "check", "alice"], 0, stdin=b"Lock-Taken-Over-1\n")
    h = lock_holder(db, "sleep")
    try:
        t0 = time.monotonic()
        rc, out, err = run(["-f", db, "passwd", "alice"], b"Lock-Not-Taken-2\n")
        ok(rc == 3 and "waiting for process %d (" % h.pid in err and
           "another program is changing the database: process %d (" % h.pid in err and
           "sleeping" in err and "apopdb -b" in err and "nothing changed" in err,
           "a holder that sleeps: passwd waits, then gives up naming it and suggesting -b",
           "exit %s after %.1fs\n%s" % (rc, time.monotonic() - t0, err))
        check("  nothing changed", ["-f", db, "check", "alice"], 0,
              stdin=b"Lock-Taken-Over-1\n")
        rc, out, err = run(["-b", "-f", db, "passwd", "alice"], b"Lock-Broken-3\n")
        ok(rc == 0 and "taking the lock over from process %d (" % h.pid in err,
           "  -b takes it over after the wait", "exit %s\n%s" % (rc, err))
    finally:
        end_holder(h)
    check("  the change is there", ["-f", db, "check", "alice"], 0, stdin=b"Lock-Broken-3\n")
    check("  and the secret is set back", ["-f", db, "passwd", "alice"], 0,
          stdin=b"second-Secret-9\n")
    left = [n for n in os.listdir(tmp) if n.startswith("." + os.path.basename(db) + ".lock.")]
    ok(left == [] and os.listdir(os.path.join(tmp, "." + os.path.basename(db) + ".lock")) == [],
       "  no old lock directory or copy is left", left)


def rec(secret, kind="virtual"):
    """The v1 record apopdb writes for a secret (None: no secret)."""
    out = b"v1\nkind=" + kind.encode() + b"\n"
    if secret is not None:
        out += b"secret=" + secret.encode().hex().encode() + b"\n"
    return out


def json_list(db):
    rc, out, err = run(["-f", db, "list", "--json"])
    try:
        return rc, json.loads(out)
    except ValueError:
        return rc, None


def body(tmp):
    db = os.path.join(tmp, "pop.auth")
    secret = "Sup3r-Secret-7f1c"
    gdbm = af.Gdbm.load()

    # ---- usage ------------------------------------------------------------
    check("-h prints the usage on stdout and exits 0", ["-h"], 0,
          out_has=["usage:", "init [--force]", "add [--system] USER", "passwd USER",
                   "delete USER", "list [--json]", "show USER", "check USER",
                   "import [--qpopper] [--replace] FILE", "export [FILE]", "verify"])
    check("-V prints the version", ["-V"], 0, out_has="0.1.0")
    check("no command: exit 2", [], 2, err_has="no command")
    check("unknown option: exit 2", ["-q", "list"], 2, err_has="unknown option")
    check("-f without a file: exit 2", ["-f"], 2, err_has="-f")
    check("-o with a bad account name: exit 2", ["-o", "a/b", "list"], 2, err_has="-o")
    check("unknown command: exit 2", ["-f", db, "frobnicate"], 2, err_has="unknown command")
    for c in ("add", "passwd", "delete", "show", "check"):
        check("%s without USER: exit 2" % c, ["-f", db, c], 2, err_has="missing USER")
    check("import without FILE: exit 2", ["-f", db, "import"], 2, err_has="missing FILE")
    check("an option another command takes: exit 2", ["-f", db, "list", "--force"], 2,
          err_has="unknown option for list")
    for c in ("add", "passwd", "check"):
        rc, out, err = check("%s: a secret on the command line is refused: exit 2" % c,
                             ["-f", db, c, "alice", secret], 2,
                             err_has="never from the command line")
        ok(secret not in out + err, "  and the refused secret is not echoed")
    ok(not os.path.exists(db), "  and nothing was created")
    check("init with an argument: exit 2", ["-f", db, "init", "x"], 2)
    check("list with an argument: exit 2", ["-f", db, "list", "x"], 2)
    check("verify with an argument: exit 2", ["-f", db, "verify", "x"], 2)
    check("export with two files: exit 2", ["-f", db, "export", "a", "b"], 2)
    check("delete with two names: exit 2", ["-f", db, "delete", "a", "b"], 2)

    # ---- without GDBM every database command says so -------------------------
    if pf.without("gdbm"):
        for args in (["init"], ["list"], ["add", "alice"], ["delete", "alice"]):
            check("%s without GDBM: exit 3, says so" % args[0], ["-f", db] + args, 3,
                  stdin=(secret + "\n").encode(), err_has="without GDBM")
        ok(not os.path.exists(db), "  and nothing was created")
        skip("the database commands and their error paths", pf.without("gdbm"))
        return

    # ---- missing database ---------------------------------------------------
    check("list on a missing database: exit 3, names the file", ["-f", db, "list"], 3,
          err_has=[db, "No such file"])
    check("add to a missing database: exit 3, suggests init", ["-f", db, "add", "alice"], 3,
          stdin=(secret + "\n").encode(), err_has=[db, "init"])
    for c in ("delete", "passwd", "show", "check", "verify", "export"):
        args = ["-f", db, c] + (["alice"] if c in ("delete", "passwd", "show", "check") else [])
        check("%s on a missing database: exit 3" % c, args, 3, stdin=b"x\n", err_has=db)
    check("init in a missing directory: exit 3, names the file and reason",
          ["-f", os.path.join(tmp, "nodir", "pop.auth"), "init"], 3,
          err_has=["nodir/pop.auth", "No such file"])

    # ---- init ---------------------------------------------------------------
    check("init creates the database", ["-f", db, "-o", "no-such-account", "init"], 0,
          out_has=["created", db], umask=0o022)
    st = os.stat(db)
    ok(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
       "the new database is mode 0600 even under umask 022", oct(st.st_mode))
    ok(not [n for n in os.listdir(tmp) if n.endswith(".new")], "  no temporary file is left")
    with open(db, "rb") as f:
        before = f.read()
    check("init twice: refused, exit 3, names the file", ["-f", db, "init"], 3,
          err_has=[db, "already exists"])
    with open(db, "rb") as f:
        ok(f.read() == before, "  and the database is untouched")
    check("list on an empty database: nothing, exit 0", ["-f", db, "list"], 0)
    if os.geteuid() == 0:
        owned = os.path.join(tmp, "owned.auth")
        check("init as root with -o nobody", ["-f", owned, "-o", "nobody", "init"], 0)
        ok(os.stat(owned).st_uid == 65534, "  the database belongs to nobody",
           os.stat(owned).st_uid)
        check("init as root with an unknown owner account: a note, owned by root",
              ["-f", os.path.join(tmp, "rootowned.auth"), "-o", "no-such-account", "init"], 0,
              err_has="no account")
        ok(os.stat(os.path.join(tmp, "rootowned.auth")).st_uid == 0, "  (root)")
    else:
        skip("init as root gives the file to the owner account", "not root")

    # ---- add / passwd -------------------------------------------------------
    rc, out, err = check("add alice with the secret on stdin", ["-f", db, "add", "alice"], 0,
                         stdin=(secret + "\n").encode(), out_has=["added alice", db])
    ok("warning" not in err, "  a strong secret gives no warning", err)
    if gdbm is not None:
        r = gdbm.fetch(db, "alice")
        ok(r == rec(secret), "the record is v1: kind, then the secret in lower-case hex", r)
    else:
        skip("the stored record", "libgdbm cannot be loaded with ctypes")
    check("add alice again: exit 1, says to use passwd", ["-f", db, "add", "alice"], 1,
          stdin=b"Other-Secret-99\n", err_has=["already there", "passwd"])
    check("passwd alice changes the secret", ["-f", db, "passwd", "alice"], 0,
          stdin=b"second-Secret-9\r\n", out_has="changed the secret of alice")
    if gdbm is not None:
        ok(gdbm.fetch(db, "alice") == rec("second-Secret-9"),
           "a CRLF line ending is not part of the secret")
    else:
        skip("CRLF stripped", "libgdbm cannot be loaded with ctypes")
    check("passwd for a missing user: exit 1, before asking", ["-f", db, "passwd", "bob"], 1,
          stdin=b"", err_has=[db, "no user bob"])
    check("only the first line of stdin is the secret", ["-f", db, "add", "carol@example.org"], 0,
          stdin=b"Line-one-secret1\nline-two\n")
    if gdbm is not None:
        ok(gdbm.fetch(db, "carol@example.org") == rec("Line-one-secret1"),
           "  (the second line was ignored)")
    else:
        skip("first line only", "libgdbm cannot be loaded with ctypes")
    rc, out, err = check("a weak secret: stored, with a warning", ["-f", db, "add", "dave"], 0,
                         stdin=b"weak")
    ok("warning: weak secret for dave" in err and "shorter than 8" in err,
       "  the warning says why", err)
    check("empty secret (no input): exit 2", ["-f", db, "add", "bob"], 2, stdin=b"",
          err_has="empty secret")
    check("empty secret (empty line): exit 2", ["-f", db, "add", "bob"], 2, stdin=b"\n",
          err_has="empty secret")
    check("a secret with a NUL byte: exit 2", ["-f", db, "add", "bob"], 2, stdin=b"ab\0cd\n",
          err_has="NUL")
    check("a secret with a control character: exit 2", ["-f", db, "add", "bob"], 2,
          stdin=b"abc\tdefGH1\n", err_has="control character")
    check("a secret of 256 bytes (the limit) is accepted", ["-f", db, "add", "max"], 0,
          stdin=b"xY1!" * 64 + b"\n")
    check("a secret of 257 bytes: exit 2", ["-f", db, "add", "bob"], 2,
          stdin=b"x" * 257 + b"\n", err_has="too long")
    t0 = time.monotonic()
    check("a 4 MB line without newline: exit 2, quickly", ["-f", db, "add", "bob"], 2,
          stdin=b"y" * (4 * 1024 * 1024), err_has="too long")
    ok(time.monotonic() - t0 < 20, "  (it stops reading at the limit)")
    rc, out, err = run(["-f", db, "list"])
    ok("bob" not in out.split(), "  none of the refused adds created bob", out)
    for bad in ["bad/name", "a b", "../etc", ".hidden", "-dash", "x" * 65, "caf\u00e9", "tab\tname"]:
        check("invalid name %r: exit 2" % bad, ["-f", db, "add", bad], 2,
              stdin=(secret + "\n").encode(), err_has="invalid user name")
    check("a name of 64 characters is accepted", ["-f", db, "add", "n" * 64], 0,
          stdin=(secret + "\n").encode())
    check("add --system: the APOP secret of a system account", ["-f", db, "add", "--system",
                                                                "root"], 0,
          stdin=b"Root-apop-55\n", out_has="added system user root")
    check("add --system for an account that does not exist: a note, stored",
          ["-f", db, "add", "--system", "ghost"], 0, stdin=b"Ghost-apop-55\n",
          err_has="no system account ghost")
    if gdbm is not None:
        ok(gdbm.fetch(db, "ghost") == rec("Ghost-apop-55", "system"),
           "  the record says kind=system")
    else:
        skip("kind=system stored", "libgdbm cannot be loaded with ctypes")
    check("the secret \"*\": an entry without a secret", ["-f", db, "add", "--system", "nosec"],
          0, stdin=b"*\n")
    if gdbm is not None:
        ok(gdbm.fetch(db, "nosec") == rec(None, "system"), "  the record has no secret line")
    else:
        skip("no secret line", "libgdbm cannot be loaded with ctypes")
    check("passwd with \"*\" turns APOP off for a user", ["-f", db, "passwd", "ghost"], 0,
          stdin=b"*\n")
    check("  show says so", ["-f", db, "show", "ghost"], 0, out_has=["kind: system",
                                                                      "secret: none"])

    # ---- a terminal: prompted twice, no echo -------------------------------
    rc, shown = pty_add(db, "erin", [b"tty-Secret-1", b"tty-Secret-1"])
    ok(rc == 0 and "added erin" in shown, "add on a terminal: prompted twice, exit 0", shown)
    ok(shown.count("ecret") >= 2 and "tty-Secret-1" not in shown,
       "  two prompts and the typed secret is not echoed", shown)
    rc, shown = pty_add(db, "erin", [b"tty-Secret-2", b"different"], cmd="passwd")
    ok(rc == 2 and "do not match" in shown, "passwd, mismatched retype: exit 2", shown)
    rc, shown = pty_add(db, "frank", [b""])
    ok(rc == 2 and "empty secret" in shown, "empty secret on a terminal: exit 2", shown)
    rc, shown = af.pty_run([APOPDB, "-f", db, "check", "erin"], [b"tty-Secret-1"])
    all_output.append(shown)
    ok(rc == 0 and shown.count("Secret of erin") == 1 and "tty-Secret-1" not in shown,
       "check on a terminal: one prompt, no echo, exit 0 for the right secret", shown)

    # ---- list / show / check / delete ---------------------------------------
    rc, out, err = check("list", ["-f", db, "list"], 0)
    names = out.split()
    want = sorted(["alice", "carol@example.org", "dave", "max", "n" * 64, "erin", "root",
                   "ghost", "nosec"])
    ok(names == want, "list prints every name, sorted, one per line", out)
    rc, j = json_list(db)
    ok(rc == 0 and isinstance(j, list) and [e.get("user") for e in j] == want,
       "list --json: a JSON array of every user, sorted", j)
    byname = {e["user"]: e for e in (j or [])}
    ok(byname.get("alice") == {"user": "alice", "kind": "virtual", "secret": True,
                               "other_fields": 0}
       and byname.get("nosec", {}).get("secret") is False
       and byname.get("root", {}).get("kind") == "system",
       "  with kind, whether a secret is set, and the count of other fields", byname)
    rc, out, err = check("show alice", ["-f", db, "show", "alice"], 0,
                         out_has=["user: alice", "kind: virtual", "secret: set"])
    ok("second-Secret-9" not in out and "second-Secret-9".encode().hex() not in out,
       "  show never prints the secret")
    check("show a missing user: exit 1", ["-f", db, "show", "bob"], 1, err_has=[db, "bob"])
    check("show an invalid name: exit 2", ["-f", db, "show", "../x"], 2)
    check("check with the right secret: exit 0", ["-f", db, "check", "alice"], 0,
          stdin=b"second-Secret-9\n", out_has="matches")
    check("check with a wrong secret: exit 1", ["-f", db, "check", "alice"], 1,
          stdin=b"second-Secret-8\n", err_has="does not match")
    check("check with a prefix of the secret: exit 1", ["-f", db, "check", "alice"], 1,
          stdin=b"second\n")
    check("check for a missing user: exit 1", ["-f", db, "check", "bob"], 1,
          stdin=b"x\n", err_has="no user bob")
    check("check for a user without a secret: exit 1", ["-f", db, "check", "nosec"], 1,
          stdin=b"*\n", err_has="no secret")
    check("delete a missing user: exit 1, names the file", ["-f", db, "delete", "bob"], 1,
          err_has=[db, "bob"])
    check("delete an invalid name: exit 2", ["-f", db, "delete", "../x"], 2)
    check("delete carol", ["-f", db, "delete", "carol@example.org"], 0,
          out_has=["deleted carol@example.org", db])
    check("delete carol again: exit 1", ["-f", db, "delete", "carol@example.org"], 1)
    rc, out, err = run(["-f", db, "list"])
    ok(rc == 0 and "carol@example.org" not in out.split(), "carol is no longer listed", out)
    ok(not [n for n in os.listdir(tmp) if n.endswith(".new")],
       "no temporary file is left behind by any of this")

    # ---- export / import -----------------------------------------------------
    rc, out, err = check("export to standard output", ["-f", db, "export"], 0,
                         err_has="every secret")
    ok(out.startswith("popper-userdb-export 1\n") and "[alice]\nkind=virtual\nsecret=" +
       "second-Secret-9".encode().hex() + "\n" in out and "[nosec]\nkind=system\n" in out,
       "  the export format: a header, [user] lines, the record's lines", out[:300])
    exp = os.path.join(tmp, "backup.txt")
    check("export to a file", ["-f", db, "export", exp], 0, out_has=["exported", exp])
    ok(stat.S_IMODE(os.stat(exp).st_mode) == 0o600, "  the file has mode 0600")
    check("export never overwrites a file: exit 3", ["-f", db, "export", exp], 3,
          err_has=[exp, "exists"])
    os.symlink(os.path.join(tmp, "elsewhere"), os.path.join(tmp, "exp-link"))
    check("export never follows a symlink: exit 3",
          ["-f", db, "export", os.path.join(tmp, "exp-link")], 3)
    ok(not os.path.exists(os.path.join(tmp, "elsewhere")), "  (nothing created through it)")

    db2 = os.path.join(tmp, "restored.auth")
    check("import into a missing database creates it", ["-f", db2, "import", exp], 0,
          out_has=["imported", "8 added, 0 replaced"])
    if gdbm is not None:
        ok(af.db_snapshot(gdbm, db2) == af.db_snapshot(gdbm, db),
           "  the restored database equals the original, record for record")
    else:
        skip("restore is exact", "libgdbm cannot be loaded with ctypes")
    check("import again merges: every entry replaced", ["-f", db2, "import", exp], 0,
          out_has="0 added, 8 replaced")
    check("import from standard input (-)", ["-f", db2, "import", "-"], 0,
          stdin=b"popper-userdb-export 1\n[zoe]\nkind=virtual\nsecret=" +
          b"Zoe-Secret-1".hex().encode() + b"\n", out_has="1 added")
    check("  the imported secret works", ["-f", db2, "check", "zoe"], 0, stdin=b"Zoe-Secret-1\n")
    if gdbm is not None:
        snap = af.db_snapshot(gdbm, db2)
    for text, what in ((b"not an export\n", "a file that is not an export"),
                       (b"popper-userdb-export 1\n[a]\nsecret=zz\n", "a damaged entry"),
                       (b"popper-userdb-export 1\n[a]\n[a]\n", "a name given twice"),
                       (b"popper-userdb-export 1\n[bad name]\n", "an invalid name")):
        bad = os.path.join(tmp, "bad-import.txt")
        with open(bad, "wb") as f:
            f.write(text)
        check("import of %s: exit 3, names the file" % what, ["-f", db2, "import", bad], 3,
              err_has=["bad-import.txt", "nothing imported"])
    if gdbm is not None:
        ok(af.db_snapshot(gdbm, db2) == snap, "  and the database is unchanged")
    else:
        skip("unchanged after refused imports", "libgdbm cannot be loaded with ctypes")
    check("import --replace: only the file's entries remain", ["-f", db2, "import", "--replace",
                                                               exp], 0)
    rc, out, err = run(["-f", db2, "list"])
    ok("zoe" not in out.split() and len(out.split()) == 8, "  (zoe is gone)", out)
    check("import of a missing file: exit 3", ["-f", db2, "import",
                                               os.path.join(tmp, "nothere")], 3,
          err_has="No such file")

    # ---- Qpopper ------------------------------------------------------------
    if gdbm is not None:
        qp = os.path.join(tmp, "qpopper-pop.auth")
        af.make_qpopper_db(gdbm, qp, {
            "qalice": "Alice-Qpop-1",
            "qbob": ("Bob-Qpop-22", b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"),
            "qempty": "",
            "bad name": "skipped-1",
        })
        db3 = os.path.join(tmp, "migrated.auth")
        rc, out, err = check("import --qpopper of a Qpopper pop.auth", ["-f", db3, "import",
                                                                       "--qpopper", qp], 0,
                             out_has="3 added, 0 replaced, 1 skipped")
        ok("bad name" in err and "skipping" in err, "  the skipped entry is named", err)
        check("  the Qpopper secret is the user's secret", ["-f", db3, "check", "qalice"], 0,
              stdin=b"Alice-Qpop-1\n")
        check("  imported as system users", ["-f", db3, "show", "qbob"], 0,
              out_has=["kind: system", "secret: set", "other fields: 1"])
        ok(b"qpopper-scram-md5=QUJDREVG" in (gdbm.fetch(db3, "qbob") or b""),
           "  the SCRAM field is kept")
        check("  an empty APOP field: an entry without a secret", ["-f", db3, "show", "qempty"],
              0, out_has="secret: none")
        check("a Qpopper file read as an export: refused", ["-f", db3, "import", qp], 3,
              err_has=[qp, "nothing imported"])
        # In place: the old file put where the database goes.
        inplace = os.path.join(tmp, "inplace.auth")
        shutil.copy(qp, inplace)
        os.chmod(inplace, 0o600)
        check("import --qpopper of the database file itself converts it in place",
              ["-f", inplace, "import", "--qpopper", inplace], 0, out_has="3 added")
        check("  and the result verifies", ["-f", inplace] + OWN + ["verify"], 0)
        check("verify on a Qpopper file: exit 3, says what it is", ["-f", qp, "verify"], 3,
              err_has="import --qpopper")
    else:
        skip("Qpopper import", "libgdbm cannot be loaded with ctypes")

    # ---- verify ---------------------------------------------------------------
    rc, out, err = check("verify a good database", ["-f", db] + OWN + ["verify"], 0,
                         out_has=["8 entries", "no problems found"])
    if gdbm is not None:
        broken = os.path.join(tmp, "broken.auth")
        shutil.copy(db, broken)
        os.chmod(broken, 0o600)
        gdbm.store(broken, {b"mallory": b"v1\nsecret=XY\n"})
        check("verify finds a damaged record: exit 3, names the user",
              ["-f", broken] + OWN + ["verify"], 3, err_has=["mallory", "not lower-case hex"],
              out_has="PROBLEMS")
        check("  list --json stops at it: exit 3", ["-f", broken, "list", "--json"], 3,
              err_has="mallory")
        check("  passwd of that user: exit 3, nothing changed", ["-f", broken, "passwd",
                                                                 "mallory"], 3, stdin=b"x\n")
    else:
        skip("verify of a damaged record", "libgdbm cannot be loaded with ctypes")
    os.chmod(db, 0o640)
    check("verify: mode 0640 is reported (popper refuses it)", ["-f", db] + OWN + ["verify"], 3,
          err_has="0640")
    os.chmod(db, 0o600)

    # ---- a writer killed at every step ----------------------------------------
    if af.strace_available() and gdbm is not None:
        killdb = os.path.join(tmp, "kill.auth")
        shutil.copy(db, killdb)
        os.chmod(killdb, 0o600)
        snap = af.db_snapshot(gdbm, killdb)
        calls = ("openat", "write", "pwrite64", "fsync", "fchmod", "fchown", "rename",
                 "renameat", "renameat2", "unlinkat")
        for what, args, stdin in (("passwd", ["passwd", "alice"], b"Killed-Secret-1\n"),
                                  ("delete", ["delete", "erin"], b""),
                                  ("import", ["import", exp], b"")):
            counts, p = af.strace_kill_points([APOPDB, "-f", killdb] + args, stdin, calls)
            if p.returncode != 0 or not counts:
                ok(False, "strace dry run of %s" % what, p.stderr.decode(errors="replace")[-500:])
                continue
            # the dry run made the whole change: that is the only other
            # state a killed writer may leave; then put the original back
            after = af.db_snapshot(gdbm, killdb)
            shutil.copy(db, killdb)
            os.chmod(killdb, 0o600)
            bad = []
            for sc, n in sorted(counts.items()):
                for k in range(1, n + 1):
                    af.strace_kill_run([APOPDB, "-f", killdb] + args, stdin, sc, k)
                    now = af.db_snapshot(gdbm, killdb)
                    r = subprocess.run([APOPDB, "-f", killdb] + OWN + ["verify"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       timeout=30)
                    if r.returncode != 0 or now not in (snap, after):
                        bad.append("%s#%d: %s" % (sc, k, r.stderr.decode(errors="replace")))
                    if now != snap:
                        shutil.copy(db, killdb)
                        os.chmod(killdb, 0o600)
            total = sum(counts.values())
            ok(not bad, "%s killed at each of its %d writes, syncs and renames: the database "
               "is always whole (old or new)" % (what, total), "\n".join(bad))
        check("after all that, the next writer works", ["-f", killdb, "passwd", "alice"], 0,
              stdin=b"After-Kill-1\n")
        ok(len([n for n in os.listdir(tmp) if n.endswith(".new")]) == 0,
           "  and removed what the killed writers left")
    else:
        skip("a writer killed at every step", "strace or libgdbm not available")

    test_lock(tmp, db)

    # ---- unsafe or damaged databases ----------------------------------------
    os.chmod(db, 0o644)
    check("a world-readable database: exit 3 with the reason", ["-f", db, "list"], 3,
          err_has=[db, "wrong mode (must be 0600)", "mode 0644"])
    check("  add refuses it too", ["-f", db, "add", "zed"], 3, stdin=b"pw\n", err_has=db)
    os.chmod(db, 0o620)
    check("a group-writable database: exit 3", ["-f", db, "delete", "dave"], 3,
          err_has=[db, "mode 0620"])
    # What popper refuses, every command refuses, in popper's words.
    os.chmod(db, 0o640)
    for args in (["list"], ["list", "--json"], ["show", "alice"], ["export"], ["verify"],
                 ["delete", "dave"]):
        check("a group-readable (0640) database: %s refuses it as popper does" % args[0],
              ["-f", db] + OWN + args, 3,
              err_has=[db, "wrong mode (must be 0600) (owner uid %d, mode 0640)" % os.geteuid()])
    check("  check too (before a secret is read)", ["-f", db, "check", "alice"], 3,
          stdin=b"x\n", err_has="mode 0640")
    os.chmod(db, 0o600)
    wwdir = os.path.join(tmp, "ww")
    os.mkdir(wwdir)
    wwdb = os.path.join(wwdir, "pop.auth")
    shutil.copy(db, wwdb)
    os.chmod(wwdb, 0o600)
    for mode in (0o777, 0o1777, 0o770):
        os.chmod(wwdir, mode)
        want = "%s: directory %s: writable by group or others (owner uid %d, mode %04o)" % (
            wwdb, wwdir, os.geteuid(), mode)
        for args in (["list"], ["verify"], ["add", "zed"], ["init", "--force"]):
            check("a database in a directory of mode %04o: %s refuses it" % (mode, args[0]),
                  ["-f", wwdb] + OWN + args, 3, stdin=b"Zed-Secret-123\n", err_has=want)
    os.chmod(wwdir, 0o700)
    check("  in a directory only its owner may write: accepted",
          ["-f", wwdb] + OWN + ["verify"], 0)
    os.chmod(db, 0o600)
    link = os.path.join(tmp, "link.auth")
    os.symlink(db, link)
    check("a symlink: exit 3", ["-f", link, "list"], 3, err_has=[link, "symbolic link"])
    check("init over a symlink: exit 3", ["-f", link, "init"], 3, err_has="already exists")
    check("passwd through a symlink: exit 3", ["-f", link, "passwd", "alice"], 3,
          stdin=b"Through-Link-1\n", err_has="symbolic link")
    ok(os.path.islink(link), "  the symlink is still a symlink")
    adir = os.path.join(tmp, "adir")
    os.mkdir(adir, 0o700)
    check("a directory: exit 3", ["-f", adir, "list"], 3, err_has=[adir, "not a regular file"])
    if os.geteuid() != 0:
        os.chmod(db, 0o000)
        check("an unreadable database: exit 3", ["-f", db, "list"], 3, err_has=[db, "denied"])
        os.chmod(db, 0o600)
    else:
        # root reads anything: run apopdb as nobody on root's 0600 file.
        # nobody runs a copy: the build may lie where only root can go (a
        # checkout under root's mode-0700 home).
        sub = os.path.join(tmp, "rootonly")
        os.mkdir(sub, 0o711)
        os.chmod(tmp, 0o711)
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir, 0o755)
        apopdb = os.path.join(bindir, "apopdb")
        shutil.copy(APOPDB, apopdb)
        os.chmod(apopdb, 0o755)
        theirs = os.path.join(sub, "pop.auth")
        shutil.copy(db, theirs)
        os.chmod(theirs, 0o600)

        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.run([apopdb, "-f", theirs, "list"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, preexec_fn=as_nobody)
        err = p.stderr.decode("utf-8", "replace")
        all_output.append(p.stdout.decode("utf-8", "replace") + err)
        ok(p.returncode == 3 and theirs in err and "denied" in err,
           "an unreadable database: exit 3, names the file and the reason",
           "exit %s, stderr %r" % (p.returncode, err))
        p = subprocess.run([apopdb, "-f", theirs, "delete", "alice"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, preexec_fn=as_nobody)
        ok(p.returncode == 3, "  a user who cannot write the directory cannot change it",
           p.stderr)
        os.chmod(tmp, 0o700)

    corrupt = os.path.join(tmp, "corrupt.auth")
    with open(corrupt, "wb") as f:
        f.write(bytes((i * 131 + 7) % 256 for i in range(8192)))
    os.chmod(corrupt, 0o600)
    with open(corrupt, "rb") as f:
        corrupt_bytes = f.read()
    check("a corrupt database: list exits 3, names the file", ["-f", corrupt, "list"], 3,
          err_has=corrupt)
    check("a corrupt database: add exits 3", ["-f", corrupt, "add", "zed"], 3, stdin=b"pw\n",
          err_has=corrupt)
    check("a corrupt database: delete exits 3", ["-f", corrupt, "delete", "zed"], 3,
          err_has=corrupt)
    check("a corrupt database: verify exits 3", ["-f", corrupt, "verify"], 3, err_has=corrupt)
    check("a corrupt database: import exits 3 (never repaired)", ["-f", corrupt, "import", exp],
          3, err_has=corrupt)
    with open(corrupt, "rb") as f:
        ok(f.read() == corrupt_bytes, "  and it is left exactly as it was")
    check("init --force replaces it with an empty database", ["-f", corrupt, "init", "--force"],
          0, out_has="emptied")
    check("  which works", ["-f", corrupt, "list"], 0)
    check("init --force empties a good database", ["-f", db2, "init", "--force"], 0)
    rc, out, err = run(["-f", db2, "list"])
    ok(rc == 0 and out == "", "  (no entries left)", out)
    empty = os.path.join(tmp, "empty.auth")
    open(empty, "wb").close()
    os.chmod(empty, 0o600)
    check("an empty file: list exits 3", ["-f", empty, "list"], 3, err_has=[empty, "empty"])
    check("an empty file is not silently initialised by add", ["-f", empty, "add", "zed"], 3,
          stdin=b"pw\n")
    ok(os.path.getsize(empty) == 0, "  and it stays empty")

    # ---- secrets never leak ------------------------------------------------
    joined = "\n".join(all_output)
    ok(all(s not in joined for s in [secret, "second-Secret-9", "Line-one-secret1",
                                     "tty-Secret-1", "Alice-Qpop-1", "Killed-Secret-1"]),
       "no secret ever appears in apopdb's output")


if __name__ == "__main__":
    main()
