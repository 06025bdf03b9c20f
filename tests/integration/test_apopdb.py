#!/usr/bin/env python3
"""test_apopdb: the built apopdb tool through every command and error path.

Runs the real binary (path in $APOPDB, set by tests/run.py) on databases in
a temporary directory: init (twice), add from standard input and from a
terminal (a pty, echo off), empty / too long / mismatched secrets, invalid
names, delete of a missing user, list, usage errors, and databases that are
missing, unsafe or not databases at all.  Checks the exit codes the man page
promises (0 done, 1 not found, 2 usage or invalid input, 3 system error),
that messages name the file, and that a secret never shows up in any output
or on a command line.  Where libgdbm can be loaded with ctypes, the stored
record itself is checked.  Speaks TAP.
"""
import ctypes
import ctypes.util
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time

APOPDB = os.environ.get("APOPDB") or os.path.join(
    os.environ.get("TEST_BUILDDIR", "."), "apopdb", "apopdb")

count = 0
failed = 0
all_output = []   # every byte apopdb printed, to look for leaked secrets


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


def pty_add(db, user, answers):
    """Runs "apopdb -f db add user" on a terminal, typing each answer after
    a prompt.  Returns (exit code, everything the terminal showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([APOPDB, "-f", db, "add", user], stdin=slave,
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


def body(tmp):
    db = os.path.join(tmp, "pop.auth")
    secret = "Sup3r-Secret-7f1c"

    # ---- usage ------------------------------------------------------------
    check("-h prints the usage on stdout and exits 0", ["-h"], 0,
          out_has=["usage:", "init", "add USER", "delete USER", "list"])
    check("no command: exit 2", [], 2, err_has="no command")
    check("unknown option: exit 2", ["-q", "list"], 2, err_has="unknown option")
    check("-f without a file: exit 2", ["-f"], 2, err_has="-f")
    check("unknown command: exit 2", ["-f", db, "frobnicate"], 2, err_has="unknown command")
    check("add without USER: exit 2", ["-f", db, "add"], 2, err_has="missing USER")
    check("delete without USER: exit 2", ["-f", db, "delete"], 2, err_has="missing USER")
    rc, out, err = check("a secret on the command line is refused: exit 2",
                         ["-f", db, "add", "alice", secret], 2,
                         err_has="never from the command line")
    ok(secret not in out + err, "  and the refused secret is not echoed")
    ok(not os.path.exists(db), "  and nothing was created")
    check("init with an argument: exit 2", ["-f", db, "init", "x"], 2)
    check("list with an argument: exit 2", ["-f", db, "list", "x"], 2)
    check("delete with two names: exit 2", ["-f", db, "delete", "a", "b"], 2)

    # ---- missing database ---------------------------------------------------
    check("list on a missing database: exit 3, names the file", ["-f", db, "list"], 3,
          err_has=[db, "No such file"])
    check("add to a missing database: exit 3, suggests init", ["-f", db, "add", "alice"], 3,
          stdin=(secret + "\n").encode(), err_has=[db, "init"])
    check("delete from a missing database: exit 3", ["-f", db, "delete", "alice"], 3,
          err_has=db)
    check("init in a missing directory: exit 3, names the file and reason",
          ["-f", os.path.join(tmp, "nodir", "pop.auth"), "init"], 3,
          err_has=["nodir/pop.auth", "No such file"])

    # ---- init ---------------------------------------------------------------
    check("init creates the database", ["-f", db, "init"], 0, out_has=db, umask=0o022)
    st = os.stat(db)
    ok(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
       "the new database is mode 0600 even under umask 022", oct(st.st_mode))
    with open(db, "rb") as f:
        before = f.read()
    check("init twice: refused, exit 3, names the file", ["-f", db, "init"], 3,
          err_has=[db, "already exists"])
    with open(db, "rb") as f:
        ok(f.read() == before, "  and the database is untouched")
    check("list on an empty database: nothing, exit 0", ["-f", db, "list"], 0)

    # ---- add ----------------------------------------------------------------
    rc, out, err = check("add alice with the secret on stdin", ["-f", db, "add", "alice"], 0,
                         stdin=(secret + "\n").encode(), out_has=["added alice", db])
    if GDBM is not None:
        rec = raw_record(db, "alice")
        ok(rec == b"v1\nsecret=" + secret.encode().hex().encode() + b"\n",
           "the record is v1 with the secret in lower-case hex", rec)
    else:
        skip("the stored record", "libgdbm cannot be loaded with ctypes")
    check("add alice again changes the secret", ["-f", db, "add", "alice"], 0,
          stdin=b"second-secret\r\n", out_has="changed the secret of alice")
    if GDBM is not None:
        ok(raw_record(db, "alice") == b"v1\nsecret=" + b"second-secret".hex().encode() + b"\n",
           "a CRLF line ending is not part of the secret")
    else:
        skip("CRLF stripped", "libgdbm cannot be loaded with ctypes")
    check("only the first line of stdin is the secret", ["-f", db, "add", "carol@example.org"], 0,
          stdin=b"line-one\nline-two\n")
    if GDBM is not None:
        ok(raw_record(db, "carol@example.org") == b"v1\nsecret=" + b"line-one".hex().encode() + b"\n",
           "  (the second line was ignored)")
    else:
        skip("first line only", "libgdbm cannot be loaded with ctypes")
    check("add without a newline at EOF works", ["-f", db, "add", "dave"], 0, stdin=b"no-newline")
    check("empty secret (no input): exit 2", ["-f", db, "add", "bob"], 2, stdin=b"",
          err_has="empty secret")
    check("empty secret (empty line): exit 2", ["-f", db, "add", "bob"], 2, stdin=b"\n",
          err_has="empty secret")
    check("a secret with a NUL byte: exit 2", ["-f", db, "add", "bob"], 2, stdin=b"ab\0cd\n",
          err_has="NUL")
    check("a secret of 256 bytes (the limit) is accepted", ["-f", db, "add", "max"], 0,
          stdin=b"x" * 256 + b"\n")
    check("a secret of 257 bytes: exit 2", ["-f", db, "add", "bob"], 2,
          stdin=b"x" * 257 + b"\n", err_has="too long")
    t0 = time.monotonic()
    check("a 4 MB line without newline: exit 2, quickly", ["-f", db, "add", "bob"], 2,
          stdin=b"y" * (4 * 1024 * 1024), err_has="too long")
    ok(time.monotonic() - t0 < 20, "  (it stops reading at the limit)")
    for bad in ["bad/name", "a b", "../etc", ".hidden", "-dash", "x" * 65, "caf\u00e9", "tab\tname"]:
        check("invalid name %r: exit 2" % bad, ["-f", db, "add", bad], 2,
              stdin=(secret + "\n").encode(), err_has="invalid user name")
    check("a name of 64 characters is accepted", ["-f", db, "add", "n" * 64], 0,
          stdin=(secret + "\n").encode())

    # ---- a terminal: prompted twice, no echo -------------------------------
    rc, shown = pty_add(db, "erin", [b"tty-secret-1", b"tty-secret-1"])
    ok(rc == 0 and "added erin" in shown, "add on a terminal: prompted twice, exit 0", shown)
    ok(shown.count("ecret") >= 2 and "tty-secret-1" not in shown,
       "  two prompts and the typed secret is not echoed", shown)
    rc, shown = pty_add(db, "erin", [b"tty-secret-1", b"different"])
    ok(rc == 2 and "do not match" in shown, "mismatched retype: exit 2", shown)
    rc, shown = pty_add(db, "frank", [b""])
    ok(rc == 2 and "empty secret" in shown, "empty secret on a terminal: exit 2", shown)

    # ---- list / delete -------------------------------------------------------
    rc, out, err = check("list", ["-f", db, "list"], 0)
    names = out.split()
    ok(names == sorted(["alice", "carol@example.org", "dave", "max", "n" * 64, "erin"]),
       "list prints every name, sorted, one per line", out)
    check("delete a missing user: exit 1, names the file", ["-f", db, "delete", "bob"], 1,
          err_has=[db, "bob"])
    check("delete an invalid name: exit 2", ["-f", db, "delete", "../x"], 2)
    check("delete alice", ["-f", db, "delete", "alice"], 0, out_has=["deleted alice", db])
    check("delete alice again: exit 1", ["-f", db, "delete", "alice"], 1)
    rc, out, err = run(["-f", db, "list"])
    ok(rc == 0 and "alice" not in out.split(), "alice is no longer listed", out)

    # ---- unsafe or damaged databases ----------------------------------------
    os.chmod(db, 0o644)
    check("a world-readable database: exit 3 with the reason", ["-f", db, "list"], 3,
          err_has=[db, "others"])
    check("  add refuses it too", ["-f", db, "add", "zed"], 3, stdin=b"pw\n", err_has=db)
    os.chmod(db, 0o620)
    check("a group-writable database: exit 3", ["-f", db, "delete", "dave"], 3,
          err_has=[db, "group-writable"])
    os.chmod(db, 0o600)
    link = os.path.join(tmp, "link.auth")
    os.symlink(db, link)
    check("a symlink: exit 3", ["-f", link, "list"], 3, err_has=[link, "symbolic link"])
    check("init over a symlink: exit 3", ["-f", link, "init"], 3, err_has="already exists")
    check("a directory: exit 3", ["-f", tmp, "list"], 3, err_has=[tmp, "not a regular file"])
    if os.geteuid() != 0:
        os.chmod(db, 0o000)
        check("an unreadable database: exit 3", ["-f", db, "list"], 3, err_has=[db, "denied"])
        os.chmod(db, 0o600)
    else:
        # root reads anything: run apopdb as nobody on root's 0600 file.
        sub = os.path.join(tmp, "rootonly")
        os.mkdir(sub, 0o711)
        os.chmod(tmp, 0o711)
        theirs = os.path.join(sub, "pop.auth")
        shutil.copy(db, theirs)
        os.chmod(theirs, 0o600)

        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.run([APOPDB, "-f", theirs, "list"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, preexec_fn=as_nobody)
        err = p.stderr.decode("utf-8", "replace")
        all_output.append(p.stdout.decode("utf-8", "replace") + err)
        ok(p.returncode == 3 and theirs in err and "denied" in err,
           "an unreadable database: exit 3, names the file and the reason",
           "exit %s, stderr %r" % (p.returncode, err))
        os.chmod(tmp, 0o700)

    corrupt = os.path.join(tmp, "corrupt.auth")
    with open(corrupt, "wb") as f:
        f.write(bytes((i * 131 + 7) % 256 for i in range(8192)))
    os.chmod(corrupt, 0o600)
    check("a corrupt database: list exits 3, names the file", ["-f", corrupt, "list"], 3,
          err_has=corrupt)
    check("a corrupt database: add exits 3", ["-f", corrupt, "add", "zed"], 3, stdin=b"pw\n",
          err_has=corrupt)
    check("a corrupt database: delete exits 3", ["-f", corrupt, "delete", "zed"], 3,
          err_has=corrupt)
    empty = os.path.join(tmp, "empty.auth")
    open(empty, "wb").close()
    os.chmod(empty, 0o600)
    check("an empty file: list exits 3", ["-f", empty, "list"], 3, err_has=[empty, "empty"])
    check("an empty file is not silently initialised by add", ["-f", empty, "add", "zed"], 3,
          stdin=b"pw\n")
    ok(os.path.getsize(empty) == 0, "  and it stays empty")

    # ---- secrets never leak ------------------------------------------------
    joined = "\n".join(all_output)
    ok(all(s not in joined for s in [secret, "second-secret", "line-one", "tty-secret-1"]),
       "no secret ever appears in apopdb's output")


if __name__ == "__main__":
    main()
