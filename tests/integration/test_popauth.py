#!/usr/bin/env python3
"""test_popauth: the built popauth, really setuid, run by ordinary users.

popauth is installed setuid to the database owner.  To test exactly that
without touching the machine, the test (as root) re-runs itself in a
private mount namespace (unshare --mount) where:
  - /etc/passwd and /etc/group are bind-mounted copies with a few fake
    accounts added: the owner account (the name configure chose, uid 4343),
    the users ann, ben, eve (the attacker) and a uid without a name (an
    account of the machine with one of these names, e.g. the owner "pop"
    that make install needs, is left out of the copies; a uid the machine
    uses gives way to the next free one);
  - the directory of the compiled-in database path is a fresh tmpfs (an
    overlay where a tmpfs would hide what the tests need, as /etc), so
    popauth works on its real, compiled path;
  - a copy of the built popauth is chowned to the owner uid and made 4755.
The users run it through setpriv (real uid and gid switched, groups
cleared), on pipes and on a pseudo-terminal.  Checked: every switch and
its refusals (Qpopper's texts), the old-secret rule, the strength rule
(enforced on every try), the secret "*", that an ordinary user cannot
read, change or delete another user's entry, cannot name a file, cannot
create a file anywhere, gets nothing from a hostile environment, closed
descriptors or a zero file-size limit, and that killing popauth at every
write, sync and rename (strace fault injection as the user) leaves the
database whole.  Nothing outside the namespace changes; when unshare,
setpriv or root is missing those parts are skipped with the reason.
Speaks TAP.
"""
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import apopfixture as af  # noqa: E402
import popfixture as pf  # noqa: E402  (only for what popper was built with)

BUILDDIR = os.environ.get("TEST_BUILDDIR") or os.path.join(HERE, "..", "..")
POPAUTH = os.path.join(BUILDDIR, "apopdb", "popauth")
APOPDB = os.environ.get("APOPDB") or os.path.join(BUILDDIR, "apopdb", "apopdb")
INSIDE = "--in-namespace"
TIMEOUT = 30

OWNER_UID = 4343
ANN, BEN, EVE, NONAME = 5001, 5002, 5003, 5999
ANN_SECRET = "Kq7-first-Secret"
BEN_SECRET = "Zw4-bees-Secret"
CLEAN_ENV = {"PATH": "/usr/bin:/bin"}

count = 0
failed = 0
outputs = []     # everything popauth printed to users, to look for leaks


def ok(cond, desc, diag=None):
    global count, failed
    count += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", count, desc.replace("#", "\\#")))
    if not cond:
        failed += 1
        if diag is not None:
            for line in str(diag).splitlines()[-25:]:
                print("#   " + line)
    sys.stdout.flush()
    return bool(cond)


def skip(desc, reason):
    global count
    count += 1
    print("ok %d - %s # SKIP %s" % (count, desc, reason))
    sys.stdout.flush()


def done():
    print("1..%d" % count)
    sys.stdout.flush()
    sys.exit(1 if failed else 0)


def user_prefix(uid):
    if uid is None:
        return []
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups", "--"]


def run(prog, args, uid=None, stdin=b"", env=None, preexec=None, cwd=None):
    """Runs prog args (as uid, through setpriv); (rc, stdout, stderr)."""
    p = subprocess.run(user_prefix(uid) + [prog] + list(args), input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                       env=env if env is not None else CLEAN_ENV, preexec_fn=preexec, cwd=cwd)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    outputs.append(out + err)
    return p.returncode, out, err


def expect(desc, prog, args, want_rc, uid=None, stdin=b"", out_has=(), err_has=(), **kw):
    rc, out, err = run(prog, args, uid=uid, stdin=stdin, **kw)
    good = rc == want_rc and all(n in out for n in out_has) and all(n in err for n in err_has)
    ok(good, desc, "exit %s (want %s)\nstdout: %r\nstderr: %r" % (rc, want_rc, out, err))
    return rc, out, err


# --------------------------------------------------------------------------
# outside the namespace: what works anywhere (the built binary, unprivileged)

def help_facts():
    """(compiled database path, owner account name) from popauth -help."""
    p = subprocess.run([POPAUTH, "-help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT, env=CLEAN_ENV)
    out = p.stdout.decode(errors="replace")
    path = re.search(r"^database: (\S+)$", out, re.M)
    owner = re.search(r"\(root or (\S+) only\)", out)
    return (path.group(1) if path else None), (owner.group(1) if owner else None), p, out


def test_switches(tmp, gdbm):
    """Usage, -version, -help, -trace and the admin switches, run by root
    (or the invoking user) on a database named with -f."""
    db = os.path.join(tmp, "plain.auth")
    expect("-version prints the version", POPAUTH, ["-version"], 0, out_has=["popauth v0.1.0"])
    path, owner, p, out = help_facts()
    ok(p.returncode == 0 and path and owner and "-list" in out and "-init" in out,
       "-help prints the usage, the database path and the owner, exit 0", out)
    expect("--help too", POPAUTH, ["--help"], 0, out_has=["usage:"])
    for args, what, needle in (
            (["-frobnicate"], "an unknown switch", '"-frobnicate" unknown option'),
            (["someone"], "a word that is not a switch", 'unrecognized switch "someone"'),
            (["-user"], "-user without a name", "missing argument for -user"),
            (["-delete"], "-delete without a name", "missing argument for -delete"),
            (["-f"], "-f without a file", "missing argument for -f"),
            (["-user", "ann", "Secret-On-Argv-1"], "-user with a password argument",
             "never taken from the command line"),
            (["-trace", os.path.join(tmp, "trace")], "-trace FILE (CVE-2001-1487)",
             "not supported"),
            (["-debug"], "-debug", "not supported"),
            (["-dump", "ALL"], "-dump", "not supported"),
            (["-safe"], "-safe without -init", "only goes with -init"),
            (["-list", "-delete", "x"], "two actions", "only one action"),
            (["-list"] * 9, "too many arguments", "too many arguments"),
            (["-user", "a" * 5000], "a huge argument", "too long")):
        rc, o, e = run(POPAUTH, args)
        ok(rc == 2 and needle in e and "usage:" in e, "%s: exit 2, says so" % what,
           "exit %s\n%s" % (rc, e))
    ok(not os.path.exists(os.path.join(tmp, "trace")), "-trace created no file")
    ok("Secret-On-Argv-1" not in "".join(outputs), "  and the refused password is not echoed")

    if pf.without("gdbm"):
        expect("-init without GDBM: exit 3, says so", POPAUTH, ["-f", db, "-init"], 3,
               err_has="without GDBM")
        ok(not os.path.exists(db), "  and nothing was created")
        skip("admin switches with -f, setuid popauth", pf.without("gdbm"))
        return
    if os.geteuid() != 0:
        skip("admin switches with -f", "not root")
        return
    expect("-init creates the database (root)", POPAUTH, ["-f", db, "-init"], 0,
           out_has=["created", db])
    ok(stat.S_IMODE(os.stat(db).st_mode) == 0o600, "  mode 0600")
    expect("-init -safe on an existing database: exit 0, not touched", POPAUTH,
           ["-f", db, "-init", "-safe"], 0, err_has="not initialized (exists)")
    expect("-user for an account that does not exist: refused", POPAUTH,
           ["-f", db, "-user", "no-such-account"], 1, stdin=b"Whatever-Secret-1\n",
           err_has="don't know who user no-such-account is")
    expect("-user root: root's APOP secret (admin, no old secret asked)", POPAUTH,
           ["-f", db, "-user", "root"], 0, stdin=b"Tr9-admin-Secret\n",
           out_has="Adding APOP password for root")
    expect("  apopdb agrees", APOPDB, ["-f", db, "check", "root"], 0, stdin=b"Tr9-admin-Secret\n")
    expect("-user with a weak secret: refused, nothing asked twice", POPAUTH,
           ["-f", db, "-user", "root"], 1, stdin=b"weakling\n", err_has="stronger password")
    expect("-user with the same secret: Password unchanged.", POPAUTH,
           ["-f", db, "-user", "root"], 1, stdin=b"Tr9-admin-Secret\n",
           err_has="Password unchanged.")
    expect("-user with an empty secret: Password unchanged.", POPAUTH,
           ["-f", db, "-user", "root"], 1, stdin=b"\n", err_has="Password unchanged.")
    expect("-list root", POPAUTH, ["-f", db, "-list", "root"], 0, out_has="root            : APOP")
    expect("-list ALL", POPAUTH, ["-f", db, "-list", "ALL"], 0, out_has="root            : APOP")
    expect("-list of a missing user: exit 1, Qpopper's text", POPAUTH,
           ["-f", db, "-list", "nobody"], 1,
           err_has='no entry for "nobody" in POP authentication DB')
    expect("the secret \"*\" turns APOP off, keeps the entry", POPAUTH,
           ["-f", db, "-user", "root"], 0, stdin=b"*\n", out_has="APOP turned off")
    rc, o, e = run(POPAUTH, ["-f", db, "-list", "root"])
    ok(rc == 0 and o.rstrip() == "root            :", "  -list shows the entry without APOP", o)
    expect("popauth with no action as root: refused (root cannot log in)", POPAUTH,
           ["-f", db], 1, err_has="root cannot log in")
    run(APOPDB, ["-f", db, "add", "virt"], stdin=b"Virtual-Secret-1\n")
    expect("-user on a virtual user of apopdb: refused", POPAUTH, ["-f", db, "-user", "virt"],
           1, stdin=b"New-Secret-99\n", err_has="virtual user")
    expect("-delete of a missing user: Qpopper's text, exit 1", POPAUTH,
           ["-f", db, "-delete", "nobody"], 1,
           err_has="User 'nobody' not found in authentication database")
    expect("-delete root", POPAUTH, ["-f", db, "-delete", "root"], 0,
           err_has='Warning: deleting user "root"')
    expect("  gone", POPAUTH, ["-f", db, "-list", "root"], 1)
    before = open(db, "rb").read()
    expect("-init on an existing database, answer no: exit 1, untouched", POPAUTH,
           ["-f", db, "-init"], 1, stdin=b"n\n", err_has="Really initialize")
    ok(open(db, "rb").read() == before, "  (the file is the same)")
    expect("-init, answer yes: emptied", POPAUTH, ["-f", db, "-init"], 0, stdin=b"yes\n",
           out_has="emptied")
    rc, o, e = run(APOPDB, ["-f", db, "list"])
    ok(rc == 0 and o == "", "  no entries left", o)
    os.chmod(db, 0o640)
    expect("a database with mode 0640: refused (the server's rule)", POPAUTH,
           ["-f", db, "-list", "ALL"], 3, err_has="0640")
    os.chmod(db, 0o600)
    if gdbm is not None:
        bad = os.path.join(tmp, "damaged.auth")
        shutil.copy(db, bad)
        gdbm.store(bad, {b"root": b"v1\nkind=system\nsecret=zz\n"})
        expect("a damaged record: exit 3, never repaired", POPAUTH, ["-f", bad, "-user", "root"],
               3, stdin=b"Tr9-admin-Secret2\n", err_has="root")
    else:
        skip("a damaged record", "libgdbm cannot be loaded with ctypes")


# --------------------------------------------------------------------------
# inside the namespace

# Directories a tmpfs must not hide (an overlay covers them instead).
FORBIDDEN_MOUNTS = {"/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/var", "/tmp",
                    "/proc", "/dev", "/sys", "/run", "/home", "/root", "/usr/lib", "/usr/bin"}


def free_id(want, taken):
    """want, or the next number above it that no account and no group of
    this machine has (its files and whatever else NSS asks)."""
    while True:
        if str(want) not in taken:
            try:
                pwd.getpwuid(want)
            except KeyError:
                try:
                    grp.getgrgid(want)
                except KeyError:
                    return want
        want += 1


def cover(tmp, anc):
    """Makes the directory anc, where the compiled database goes, ours to
    write in this namespace: a fresh tmpfs, or an overlay on the
    directories whose content the tests need (popper configured with
    --sysconfdir=/etc keeps its database under /etc).  Returns None or the
    reason it cannot."""
    if anc == "/":
        return "the database directory has no parent but / to cover"
    if anc in FORBIDDEN_MOUNTS:
        upper, work = os.path.join(tmp, "cover", "upper"), os.path.join(tmp, "cover", "work")
        os.makedirs(upper)
        os.makedirs(work)
        argv = ["mount", "-t", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (
            anc, upper, work), "popauth-test", anc]
    else:
        argv = ["mount", "-t", "tmpfs", "-o", "mode=0755", "popauth-test", anc]
    r = subprocess.run(argv, timeout=TIMEOUT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return "cannot mount %s on %s: %s" % (argv[2], anc, r.stdout.decode(errors="replace"))
    return None


def setup_namespace(tmp, path, owner):
    """Fake accounts, and the directory where the compiled database lives
    made ours (cover).
    Returns None or the reason it cannot be done.

    The machine's own accounts must not matter: an account of one of our
    names (the owner "pop" exists once popper is installed) is left out of
    the namespace's copy, and the uids are the wanted ones or the next free
    ones."""
    global OWNER_UID, ANN, BEN, EVE, NONAME
    subprocess.run(["mount", "--make-rprivate", "/"], check=False, timeout=TIMEOUT)
    pw = open("/etc/passwd").read().rstrip("\n").split("\n")
    gr = open("/etc/group").read().rstrip("\n").split("\n")
    names = {owner, "ann", "ben", "eve"}
    taken = set()
    for l in pw + gr:
        taken.update(l.split(":")[2:3])
    pw = [l for l in pw if l.split(":")[0] not in names]
    gr = [l for l in gr if l.split(":")[0] not in names]
    ids = []
    for want in (OWNER_UID, ANN, BEN, EVE, NONAME):
        ids.append(free_id(want, taken))
        taken.add(str(ids[-1]))
    OWNER_UID, ANN, BEN, EVE, NONAME = ids
    for name, uid in ((owner, OWNER_UID), ("ann", ANN), ("ben", BEN), ("eve", EVE)):
        pw.append("%s:x:%d:%d:popauth test:/nonexistent:/bin/sh" % (name, uid, uid))
        gr.append("%s:x:%d:" % (name, uid))
    # The database directory first: an overlay on /etc would hide the bind
    # mounts below.
    dbdir = os.path.dirname(path)
    anc = dbdir
    while not os.path.isdir(anc):
        anc = os.path.dirname(anc)
    why = cover(tmp, anc)
    if why:
        return why
    for name, lines in (("passwd", pw), ("group", gr)):
        fake = os.path.join(tmp, name)
        with open(fake, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(fake, 0o644)
        r = subprocess.run(["mount", "--bind", fake, "/etc/" + name], timeout=TIMEOUT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            return "cannot bind-mount /etc/%s: %s" % (name, r.stdout.decode(errors="replace"))
    os.makedirs(os.path.dirname(dbdir), mode=0o755, exist_ok=True)
    # Where popper is installed the directory exists: the cover is the
    # directory itself.
    if not os.path.isdir(dbdir):
        os.mkdir(dbdir)
    os.chmod(dbdir, 0o700)
    os.chown(dbdir, OWNER_UID, OWNER_UID)
    return None


def leftovers(dbdir, path):
    """What lies in the database's directory besides the database and the
    writers' lock directory, and in that directory (the copy of a writer
    that did not finish)."""
    base = os.path.basename(path)
    lock = "." + base + ".lock"
    out = [n for n in os.listdir(dbdir) if n not in (base, lock)]
    if os.path.isdir(os.path.join(dbdir, lock)):
        out += [lock + "/" + n for n in os.listdir(os.path.join(dbdir, lock))]
    return out


def test_stopped(pa, path, dbdir, gdbm):
    """A user stops her own setuid popauth while it holds the writers'
    lock: other users' popauth waits and names it, but never breaks it; the
    administrator's apopdb takes the lock over; the resumed popauth fails
    cleanly and its old copy never lands over the administrator's change."""
    # The premise: the user may stop her setuid popauth (the kernel checks
    # her real uid against its real uid).
    p = subprocess.Popen(user_prefix(EVE) + [pa], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and af.proc_state(p.pid) not in ("S", None):
            time.sleep(0.05)
        rc, o, e = run("kill", ["-STOP", str(p.pid)], uid=EVE)
        time.sleep(0.2)
        ok(rc == 0 and af.proc_state(p.pid) == "T",
           "eve can stop her own setuid popauth (SIGSTOP)", "%s %s" % (rc, e))
    finally:
        p.kill()
        p.wait(timeout=TIMEOUT)
    if not af.strace_available() or gdbm is None:
        skip("a popauth stopped with the lock held", "strace or libgdbm not available")
        return
    # ann changes her secret and is stopped inside the lock, after her copy
    # is made and before it is renamed into place (at the commit's fchmod).
    before = af.db_snapshot(gdbm, path)
    holder = af.strace_stop_start([pa], b"Good-Tty-Secret-5\nStopped-Secret-Seven-7\n",
                                  "fchmod", 1, env=CLEAN_ENV, user="ann")
    try:
        pid = af.stop_wait(holder)
        ok(pid is not None, "ann's popauth stopped with the lock held, its copy made")
        if pid is None:
            return
        t0 = time.monotonic()
        rc, o, e = run(pa, [], uid=BEN, stdin=(BEN_SECRET + "\nWaited-Secret-Two-2\n").encode())
        ok(rc == 3 and "another program is changing the database: process %d (popauth), "
           "stopped" % pid in e and time.monotonic() - t0 < 15,
           "ben's popauth waits, then gives up naming it; a user never breaks the lock",
           "exit %s\n%s" % (rc, e))
        ok(af.db_snapshot(gdbm, path) == before, "  nothing changed")
        t0 = time.monotonic()
        rc, o, e = run(APOPDB, ["-f", path, "passwd", "ben"], stdin=b"Admin-Set-Secret-8\n")
        ok(rc == 0 and "taking the lock over from process %d (popauth), stopped" % pid in e and
           time.monotonic() - t0 < 5,
           "root's apopdb passwd takes the lock over from the stopped popauth and commits, "
           "without --force or -b", "exit %s\n%s%s" % (rc, o, e))
    finally:
        try:
            os.kill(holder.pid, signal.SIGCONT)
            for k in af.children(holder.pid):
                os.kill(k, signal.SIGCONT)
        except ProcessLookupError:
            pass
        try:
            out, err = holder.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            holder.kill()
            out, err = holder.communicate()
    err = err.decode(errors="replace")
    outputs.append(out.decode(errors="replace") + err)
    ok(holder.returncode == 3 and "the lock was taken over" in err and
       "password unchanged." in err,
       "ann's popauth, resumed, fails cleanly: exit 3, says the lock was taken over",
       "exit %s\n%s" % (holder.returncode, err))
    expect("  the administrator's change is there", APOPDB, ["-f", path, "check", "ben"], 0,
           stdin=b"Admin-Set-Secret-8\n")
    expect("  and ann's stale copy never landed: her secret is the old one", APOPDB,
           ["-f", path, "check", "ann"], 0, stdin=b"Good-Tty-Secret-5\n")
    r = subprocess.run([APOPDB, "-f", path, "verify"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    ok(r.returncode == 0 and leftovers(dbdir, path) == [],
       "  the database verifies, and nothing is left of the old lock",
       r.stderr.decode(errors="replace") + str(leftovers(dbdir, path)))
    expect("ann can change her secret again at once", pa, [], 0, uid=ANN,
           stdin=b"Good-Tty-Secret-5\nAfter-Stop-Secret-6\n")
    expect("  (set back)", APOPDB, ["-f", path, "passwd", "ann"], 0,
           stdin=b"Good-Tty-Secret-5\n")


def inside(tmp):
    gdbm = af.Gdbm.load()
    test_switches(tmp, gdbm)
    if pf.without("gdbm"):
        return
    path, owner, _, _ = help_facts()
    if not path or not owner:
        skip("setuid popauth", "popauth -help does not name the database and owner")
        return
    why = setup_namespace(tmp, path, owner)
    if why:
        skip("setuid popauth run by ordinary users", why)
        return
    dbdir = os.path.dirname(path)
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir, 0o755)
    pa = os.path.join(bindir, "popauth")
    shutil.copy(POPAUTH, pa)
    os.chown(pa, OWNER_UID, OWNER_UID)
    os.chmod(pa, 0o4755)
    ok(os.stat(pa).st_mode & stat.S_ISUID and os.stat(pa).st_uid == OWNER_UID,
       "a copy of popauth, setuid %s (uid %d)" % (owner, OWNER_UID))
    anywhere = os.path.join(tmp, "anywhere")   # a world-writable place to plant things
    os.mkdir(anywhere)
    os.chmod(anywhere, 0o1777)

    # ---- root sets up -------------------------------------------------------
    expect("root: -init through the setuid copy creates the compiled-in database", pa,
           ["-init"], 0, out_has=path)
    st = os.stat(path)
    ok(st.st_uid == OWNER_UID and stat.S_IMODE(st.st_mode) == 0o600,
       "  owned by %s, mode 0600" % owner, "uid %d mode %o" % (st.st_uid, st.st_mode))
    expect("-init -safe again: exit 0, untouched", pa, ["-init", "-safe"], 0)
    expect("root: -user ann", pa, ["-user", "ann"], 0, stdin=(ANN_SECRET + "\n").encode())
    expect("root: -list ALL", pa, ["-list", "ALL"], 0, out_has="ann             : APOP")
    expect("the owner account is an admin too: -list ALL", pa, ["-list", "ALL"], 0,
           uid=OWNER_UID, out_has="ann")

    def snap():
        return af.db_snapshot(gdbm, path) if gdbm else open(path, "rb").read()

    # ---- ann: her own secret -------------------------------------------------
    base = snap()
    expect("ann: wrong old secret: refused with Qpopper's text", pa, [], 1, uid=ANN,
           stdin=b"Not-Her-Secret-1\nPq2-second-Secret\n",
           err_has="Sorry, password entered incorrectly")
    ok(snap() == base, "  the database is unchanged")
    expect("ann: right old secret, weak new one: refused", pa, [], 1, uid=ANN,
           stdin=(ANN_SECRET + "\nann12345\n").encode(), err_has="stronger password")
    expect("ann: a new secret containing her name: refused", pa, [], 1, uid=ANN,
           stdin=(ANN_SECRET + "\nX-ann-Secret-99\n").encode(), err_has="user name")
    expect("ann: the same secret again: Password unchanged.", pa, [], 1, uid=ANN,
           stdin=(ANN_SECRET + "\n" + ANN_SECRET + "\n").encode(), err_has="Password unchanged.")
    ok(snap() == base, "  the database is still unchanged")
    expect("ann: right old secret, strong new one: changed", pa, [], 0, uid=ANN,
           stdin=(ANN_SECRET + "\nPq2-second-Secret\n").encode(),
           out_has="Changing APOP password for ann")
    expect("  apopdb (root) sees the new secret", APOPDB, ["-f", path, "check", "ann"], 0,
           stdin=b"Pq2-second-Secret\n")
    ok(os.stat(path).st_uid == OWNER_UID and stat.S_IMODE(os.stat(path).st_mode) == 0o600,
       "  the new database file still belongs to the owner, mode 0600")
    expect("ann: -list (her own entry)", pa, ["-list"], 0, uid=ANN, out_has="ann")
    expect("ann: -list ann", pa, ["-list", "ann"], 0, uid=ANN, out_has="ann")

    # On a terminal: three prompts, no echo; weak tries are refused each time.
    rc, shown = af.pty_run(user_prefix(ANN) + [pa], [b"Pq2-second-Secret", b"Tty-Secret-two-2",
                                                     b"Tty-Secret-two-2"], env=CLEAN_ENV)
    outputs.append(shown)
    ok(rc == 0 and "Old password:" in shown and "New password:" in shown and
       "Retype new password:" in shown and "Tty-Secret-two-2" not in shown,
       "ann on a terminal: old, new, retype; nothing echoed", shown)
    rc, shown = af.pty_run(user_prefix(ANN) + [pa], [b"Tty-Secret-two-2", b"Tty-Secret-three-3",
                                                     b"Tty-Secret-four-4"], env=CLEAN_ENV)
    outputs.append(shown)
    ok(rc == 1 and "Mismatch -- password unchanged." in shown, "  a mismatched retype: refused",
       shown)
    rc, shown = af.pty_run(user_prefix(ANN) + [pa],
                           [b"Tty-Secret-two-2", b"short", b"short", b"alllowercase",
                            b"alllowercase", b"Good-Tty-Secret-5", b"Good-Tty-Secret-5"],
                           env=CLEAN_ENV)
    outputs.append(shown)
    ok(rc == 0 and shown.count("stronger password") == 2,
       "  weak secrets are refused on every try, a strong one then accepted", shown)
    rc, shown = af.pty_run(user_prefix(ANN) + [pa],
                           [b"Good-Tty-Secret-5", b"weak1", b"weak1", b"weak2", b"weak2",
                            b"weak3", b"weak3"], env=CLEAN_ENV)
    outputs.append(shown)
    ok(rc == 1 and shown.count("stronger password") == 3 and "Password unchanged." in shown,
       "  three weak tries: refused, never accepted anyway (Qpopper did)", shown)
    expect("  the secret is the last strong one", APOPDB, ["-f", path, "check", "ann"], 0,
           stdin=b"Good-Tty-Secret-5\n")

    # ---- ben: no entry yet; then APOP off -----------------------------------
    expect("ben, without an entry: adds one, no old secret asked", pa, [], 0, uid=BEN,
           stdin=(BEN_SECRET + "\n").encode(), out_has="Adding APOP password for ben")
    expect("ben: \"*\" turns APOP off (old secret first)", pa, [], 0, uid=BEN,
           stdin=(BEN_SECRET + "\n*\n").encode(), out_has="APOP turned off")
    expect("  the entry stays, without APOP", pa, ["-list"], 0, uid=BEN, out_has="ben")
    rc, o, e = run(pa, ["-list"], uid=BEN)
    ok("APOP" not in o, "  (no APOP flag)", o)
    expect("ben sets one again (no old secret: APOP was off)", pa, [], 0, uid=BEN,
           stdin=(BEN_SECRET + "\n").encode())

    # ---- eve: everything she must not do ------------------------------------
    before_files = {d: sorted(os.listdir(d)) for d in (dbdir, anywhere, tmp)}
    base = snap()
    for args, what, want, needle in (
            (["-list", "ann"], "read ann's entry", 1, "Only superuser or user"),
            (["-list", "ALL"], "list everyone", 1, "Only superuser or user"),
            (["-user", "ann"], "set ann's secret", 1, "Only superuser or user"),
            (["-delete", "ann"], "delete ann's entry", 1, "Only superuser or user"),
            (["-init"], "initialise the database", 1, "Only superuser can"),
            (["-init", "-safe"], "initialise it safely", 1, "Only superuser can"),
            (["-f", os.path.join(anywhere, "evil.auth"), "-init"], "name a file to create", 1,
             "-f is only for root"),
            (["-f", path, "-list", "ALL"], "name the real database with -f", 1,
             "-f is only for root"),
            (["-trace", os.path.join(anywhere, "trace")], "open a trace file", 2,
             "not supported"),
            (["-trace", os.path.join(dbdir, "trace")], "write a trace into the owner's directory", 2,
             "not supported")):
        rc, o, e = run(pa, args, uid=EVE, stdin=b"Evil-Secret-One-1\n", cwd=anywhere)
        ok(rc == want and needle in e, "eve cannot %s (exit %d)" % (what, want),
           "exit %s\n%s%s" % (rc, o, e))
    ok(snap() == base, "  the database is unchanged")
    ok({d: sorted(os.listdir(d)) for d in before_files} == before_files,
       "  and eve created no file anywhere (database directory, a world-writable "
       "directory, the test directory)",
       {d: sorted(os.listdir(d)) for d in before_files})
    # identity comes from getuid() only
    hostile = dict(CLEAN_ENV, USER="ann", LOGNAME="ann", HOME="/root", TZ="../../etc/passwd",
                   LANG="xx_XX.UTF-8", NLSPATH=os.path.join(anywhere, "%N"),
                   LD_PRELOAD=os.path.join(anywhere, "evil.so"), LD_LIBRARY_PATH=anywhere,
                   GCONV_PATH=anywhere, MALLOC_CHECK_="3")
    expect("eve with USER=ann LOGNAME=ann and a hostile environment sets her OWN secret",
           pa, [], 0, uid=EVE, stdin=b"Mine-Only-Secret-1\n", env=hostile,
           out_has="Adding APOP password for eve")
    expect("  ann's entry is untouched", APOPDB, ["-f", path, "check", "ann"], 0,
           stdin=b"Good-Tty-Secret-5\n")
    rc, o, e = run(pa, ["-list", "ALL"], uid=EVE)
    ok(rc == 1 and "ann" not in o, "eve's -list ALL shows nothing of ann", o)

    def closed_fds():
        os.closerange(0, 3)
    base = snap()
    rc, o, e = run(pa, [], uid=EVE, preexec=closed_fds)
    # (glibc reopens them on /dev/null for a setuid program, stdin write-only)
    ok(rc in (1, 3) and snap() == base,
       "eve with fds 0-2 closed: no crash, no secret read, nothing changed", "exit %s" % rc)

    def no_file_size():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    rc, o, e = run(pa, [], uid=EVE, stdin=b"Mine-Only-Secret-1\nMine-Other-Secret-2\n",
                   preexec=no_file_size)
    ok(rc == 3 and snap() == base, "eve with a file-size limit of 0: the change fails cleanly "
       "(exit 3), the database is whole", "exit %s\n%s" % (rc, e))
    ok(leftovers(dbdir, path) == [], "  and no temporary file is left", os.listdir(dbdir))
    expect("a uid without a name: Qpopper's text", pa, [], 1, uid=NONAME,
           err_has="don't know who you (uid %d) are" % NONAME)
    run(APOPDB, ["-f", path, "add", "eve2"], stdin=b"Virtual-Secret-Two-2\n")

    # ---- killed at every step, as the user ----------------------------------
    if af.strace_available() and gdbm is not None:
        orig = open(path, "rb").read()
        old_secret = "Mine-Only-Secret-1"
        stdin = (old_secret + "\nKilled-Secret-Nine-9\n").encode()
        calls = ("openat", "write", "pwrite64", "fsync", "fchmod", "rename", "renameat",
                 "renameat2", "unlinkat")

        def restore():
            with open(path, "wb") as f:
                f.write(orig)
            os.chown(path, OWNER_UID, OWNER_UID)
            os.chmod(path, 0o600)
        before = af.db_snapshot(gdbm, path)
        counts, p = af.strace_kill_points([pa], stdin, calls, env=CLEAN_ENV, user="eve")
        after = af.db_snapshot(gdbm, path)
        ok(p.returncode == 0 and after != before,
           "under strace -u eve, setuid still works: the change is made",
           p.stderr.decode(errors="replace")[-800:])
        restore()
        bad = []
        for sc, n in sorted(counts.items()):
            for k in range(1, n + 1):
                af.strace_kill_run([pa], stdin, sc, k, env=CLEAN_ENV, user="eve")
                now = af.db_snapshot(gdbm, path)
                r = subprocess.run([APOPDB, "-f", path, "verify"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=TIMEOUT)
                if now not in (before, after) or r.returncode != 0:
                    bad.append("%s#%d %s" % (sc, k, r.stderr.decode(errors="replace")))
                if now != before:
                    restore()
        ok(not bad and counts, "popauth killed at each of its %d writes, syncs and renames: "
           "the database is the old one or the new one, never damaged"
           % sum(counts.values()), "\n".join(bad))
        expect("  and the next change works", pa, [], 0, uid=EVE, stdin=stdin)
        ok(leftovers(dbdir, path) == [],
           "  and cleaned up what the killed ones left", os.listdir(dbdir))
    else:
        skip("popauth killed at every step", "strace or libgdbm not available")
    test_stopped(pa, path, dbdir, gdbm)
    # a timing kill too, without strace: SIGKILL at once and after short delays
    bad = []
    for delay in (0, 0.001, 0.003, 0.006, 0.01, 0.02, 0.04):
        p = subprocess.Popen(user_prefix(EVE) + [pa], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV)
        try:
            p.stdin.write(b"Killed-Secret-Nine-9\nTiming-Secret-Three-3\n")
            p.stdin.close()
        except BrokenPipeError:
            pass
        if delay:
            import time
            time.sleep(delay)
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=TIMEOUT)
        r = subprocess.run([APOPDB, "-f", path, "verify"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        if r.returncode != 0:
            bad.append("%s: %s" % (delay, r.stderr.decode(errors="replace")))
    ok(not bad, "popauth SIGKILLed after 0-40 ms, seven times: the database verifies",
       "\n".join(bad))

    # ---- the owner and root ---------------------------------------------------
    expect("the owner account may delete an entry", pa, ["-delete", "ben"], 0, uid=OWNER_UID)
    expect("root may set anyone's secret", pa, ["-user", "ben"], 0,
           stdin=(BEN_SECRET + "\n").encode())
    expect("eve's secret \"*\" on a virtual user's name is not hers to change", pa,
           ["-user", "eve2"], 1, stdin=b"*\n", err_has="virtual user")
    setuid_root = os.path.join(bindir, "popauth-root")
    shutil.copy(POPAUTH, setuid_root)
    os.chmod(setuid_root, 0o4755)
    expect("a popauth installed setuid root refuses to run", setuid_root, ["-list"], 3,
           uid=EVE, err_has="refusing to run setuid root")
    os.chmod(path, 0o644)
    expect("a database with mode 0644: refused by popauth too", pa, ["-list"], 3, uid=EVE,
           err_has="0644")
    os.chmod(path, 0o600)

    secrets = [ANN_SECRET, "Pq2-second-Secret", "Good-Tty-Secret-5", BEN_SECRET,
               "Tty-Secret-two-2", "Mine-Only-Secret-1"]
    joined = "\n".join(outputs)
    ok(not [s for s in secrets if s in joined], "no secret ever appears in popauth's output")


def main():
    if not os.access(POPAUTH, os.X_OK) or not os.access(APOPDB, os.X_OK):
        skip("popauth", "popauth or apopdb not built")
        done()
    if len(sys.argv) > 1 and sys.argv[1] == INSIDE:
        tmp = sys.argv[2]
        inside(tmp)
        done()
    tmp = tempfile.mkdtemp(prefix="test_popauth.")
    os.chmod(tmp, 0o755)
    try:
        if (os.geteuid() == 0 and shutil.which("unshare") and shutil.which("setpriv")
                and shutil.which("mount")):
            probe = subprocess.run(["unshare", "--mount", "true"], timeout=TIMEOUT,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if probe.returncode == 0:
                # Everything from here runs in a private mount namespace.
                sys.stdout.flush()
                r = subprocess.run(["unshare", "--mount", "--propagation", "private",
                                    sys.executable, os.path.abspath(__file__), INSIDE, tmp],
                                   timeout=600)
                sys.exit(r.returncode)
            test_switches(tmp, af.Gdbm.load())
            skip("setuid popauth run by ordinary users",
                 "unshare --mount is not permitted here: %s" % probe.stdout.decode().strip())
        else:
            test_switches(tmp, af.Gdbm.load())
            skip("setuid popauth run by ordinary users",
                 "needs root, unshare, mount and setpriv")
    finally:
        if not (len(sys.argv) > 1 and sys.argv[1] == INSIDE):
            shutil.rmtree(tmp, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
