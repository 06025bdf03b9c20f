#!/usr/bin/env python3
"""anymachine: the whole suite in the situations of an ordinary machine
(what .ci/run runs).

    tests/anymachine.py [--srcdir=DIR] [--builddir=DIR] [ONLY...]

The suite must pass whatever accounts the machine has and wherever the
checkout lies.  Run as root, this runs tests/run.py twice:

  1. as it is: this checkout, this machine's accounts;
  2. from a copy of the tree (sources and build) under a mode-0700
     directory, as a checkout in root's home is, on a machine where popper
     is installed and the accounts pop, popper and vmail exist.  That run
     happens in a private mount namespace (unshare --mount): /etc/passwd,
     /etc/group, /etc/shadow and /etc/gshadow are bind-mounted copies with
     those accounts added (where the machine lacks them), and "make
     install" writes onto overlays of the directories it installs into,
     after which "apopdb init" creates the database.  The machine's own
     files are never changed: getent must see the accounts inside the
     namespace and not outside, and nothing the install made may be found
     outside afterwards.

Each run's output is shown as run.py prints it, its closing line labelled
with the run; the last line is the sum of both runs, "N passed, N
failed[, N skipped]".  A step of the second run that cannot be made on
this machine (no overlayfs, unshare not permitted) is one skipped test
with the reason, and the rest still runs.  Exits non-zero if anything
failed.  Not root (a developer's make check), it runs the suite once, as
tests/run.py does.
"""
import argparse
import datetime
import grp
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_PY = os.path.join(HERE, "run.py")
CLOSING = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")
SKIP_LINE = re.compile(r"^  skipped: anymachine: ")
# Bounds (seconds): a whole run of the suite (one takes about 5 minutes on
# a 2-core machine), and one setup command (copy, mount, make install).
RUN_TIMEOUT = 45 * 60
STEP_TIMEOUT = 300
# The accounts an installed popper or a mail setup brings: the APOP
# database owner (configure's default), an account named like the
# program, and the usual owner of virtual maildrops.
ACCOUNTS = (("pop", "POP3 authentication database owner", "/nonexistent"),
            ("popper", "popper", "/nonexistent"),
            ("vmail", "virtual mail", "/var/vmail"))
# uid and gid as "useradd --system" picks them (the highest free below
# 1000), except vmail, which mail guides give 5000.
PREFERRED_ID = {"vmail": 5000}
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
INSIDE = "--namespace-stage"


def say(text):
    print(text)
    sys.stdout.flush()


def step(argv, cwd=None, env=None):
    """Runs a setup command; (exit status, its output)."""
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return -1, "timed out after %d s" % STEP_TIMEOUT
    except OSError as e:
        return -1, str(e)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def run_suite(label, argv, cwd):
    """Runs argv (run.py, maybe through unshare), shows its output with the
    closing line labelled, and returns [passed, failed, skipped].  A run
    without a closing line, or one ending with a non-zero status and no
    failure counted, adds a failure."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    counts = [0, 0, 0]
    held = None
    buf = b""
    deadline = start + RUN_TIMEOUT
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        r, _, _ = select.select([proc.stdout], [], [], left)
        if not r:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if held is not None:
                say(held)
            held = line
            if SKIP_LINE.match(line):
                counts[2] += 1
    if timed_out:
        # run.py and everything it started are in the group we created.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    if buf:
        if held is not None:
            say(held)
        held = buf.decode("utf-8", "replace")
    m = CLOSING.match(held or "")
    if m:
        counts[0] += int(m.group(1))
        counts[1] += int(m.group(2))
        counts[2] += int(m.group(3) or 0)
        say("%s: %s  (%.0f s)" % (label, held, time.monotonic() - start))
    else:
        if held is not None:
            say(held)
        counts[1] += 1
        say("  FAILED: %s: %s" % (label, "timed out after %d s" % RUN_TIMEOUT if timed_out
                                  else "no closing line (exit status %s)" % rc))
    if rc != 0 and counts[1] == 0:
        counts[1] += 1
        say("  FAILED: %s: exit status %s" % (label, rc))
    return counts


def closing_line(counts):
    line = "%d passed, %d failed" % (counts[0], counts[1])
    if counts[2]:
        line += ", %d skipped" % counts[2]
    return line


# --------------------------------------------------------------------------
# The accounts


def taken_ids():
    """Every uid and gid the machine knows (its files and NSS)."""
    ids = set()
    for name in ("passwd", "group"):
        try:
            with open("/etc/" + name) as f:
                for line in f:
                    parts = line.split(":")
                    if len(parts) > 2 and parts[2].isdigit():
                        ids.add(int(parts[2]))
        except OSError:
            pass
    ids.update(p.pw_uid for p in pwd.getpwall())
    ids.update(p.pw_gid for p in pwd.getpwall())
    ids.update(g.gr_gid for g in grp.getgrall())
    return ids


def account_exists(name):
    return step(["getent", "passwd", name])[0] == 0


def write_account_files(etc):
    """Copies of the account files with the accounts of ACCOUNTS the machine
    lacks added.  Returns the names added."""
    taken = taken_ids()
    days = (datetime.date.today() - datetime.date(1970, 1, 1)).days
    lines = {name: [] for name in ACCOUNT_FILES}
    added = []
    for name, gecos, home in ACCOUNTS:
        if account_exists(name):
            continue
        want = PREFERRED_ID.get(name)
        if want is None or want in taken:
            want = next(i for i in range(999, 99, -1) if i not in taken)
        taken.add(want)
        lines["passwd"].append("%s:x:%d:%d:%s:%s:/usr/sbin/nologin" % (
            name, want, want, gecos, home))
        lines["group"].append("%s:x:%d:" % (name, want))
        lines["shadow"].append("%s:!:%d::::::" % (name, days))
        lines["gshadow"].append("%s:!::" % name)
        added.append(name)
    for name in ACCOUNT_FILES:
        real = "/etc/" + name
        if not os.path.exists(real):
            continue
        copy = os.path.join(etc, name)
        shutil.copy2(real, copy)
        st = os.stat(real)
        os.chown(copy, st.st_uid, st.st_gid)
        with open(copy, "r+") as f:
            text = f.read()
            if text and not text.endswith("\n"):
                f.write("\n")
            f.write("".join(l + "\n" for l in lines[name]))
    return added


# --------------------------------------------------------------------------
# Inside the namespace (as root): overlays, accounts, make install, the suite


def nearest_existing(path):
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def install_targets(stage):
    """What "make install" changes, from a staged install into
    DESTDIR=stage: (the directories to overlay, the paths it creates).
    Every path it writes must lie in one of those directories: a file or
    a new directory lies in the nearest existing directory above it, and
    a directory that exists and is installed empty (the database's, which
    the install chowns) is overlaid itself.  A directory that exists and
    only receives entries is not touched itself."""
    tops, new = set(), []
    for dp, dn, fn in os.walk(stage):
        for n in dn + fn:
            path = os.path.join(dp, n)
            real = path[len(stage):]
            if not os.path.lexists(real):
                new.append(real)
                tops.add(nearest_existing(real))
            elif os.path.isdir(path) and not os.path.islink(path):
                if not os.listdir(path):
                    tops.add(real)
            else:
                tops.add(os.path.dirname(real))
    outer = [t for t in sorted(tops)
             if not any(t != o and t.startswith(o.rstrip("/") + "/") for o in tops)]
    return outer, sorted(new)


def covered(path, dirs):
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def overlay_install_dirs(priv, builddir):
    """Overlays on the directories "make install" writes into, found by a
    staged install (DESTDIR).  Returns None or the reason it cannot be
    done (a skip); raises RuntimeError on a failure."""
    stage = os.path.join(priv, "stage")
    rc, out = step(["make", "-s", "install", "DESTDIR=" + stage], cwd=builddir)
    if rc != 0:
        raise RuntimeError("make install DESTDIR=%s failed:\n%s" % (stage, out[-2000:]))
    dirs, new = install_targets(stage)
    with open(os.path.join(priv, "installed-files"), "w") as f:
        f.write("".join(p + "\n" for p in new))
    if not dirs:
        raise RuntimeError("make install DESTDIR=%s installed nothing" % stage)
    if not all(covered(p, dirs) for p in new):
        raise RuntimeError("not every path make install creates lies under %s" % dirs)
    if "/" in dirs:
        return "make install writes into / itself, which cannot be overlaid"
    for i, d in enumerate(dirs):
        upper = os.path.join(priv, "overlay", str(i), "upper")
        work = os.path.join(priv, "overlay", str(i), "work")
        os.makedirs(upper)
        os.makedirs(work)
        rc, out = step(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%s,upperdir=%s,workdir=%s" % (d, upper, work), d])
        if rc != 0:
            return "cannot mount an overlay on %s: %s" % (d, out.strip())
    say("anymachine: overlays on %s" % ", ".join(dirs))
    return None


def install(builddir):
    """make install (onto the overlays, with the accounts in place: popauth
    becomes setuid pop, the database directory pop's), then apopdb init:
    the installed database, owned by pop.  Raises RuntimeError."""
    rc, out = step(["make", "install"], cwd=builddir)
    if rc != 0:
        raise RuntimeError("make install failed:\n%s" % out[-2000:])
    say("anymachine: make install: %s" % " ".join(
        l.strip() for l in out.splitlines() if l.startswith("popauth:")))
    rc, out = step([os.path.join(builddir, "apopdb", "apopdb"), "init"])
    if rc != 0:
        raise RuntimeError("apopdb init (the installed database) failed: %s" % out)
    say("anymachine: " + out.strip())


def inside(args):
    """The second run's setup in the private mount namespace, then the
    suite (exec).  A setup failure ends the run without a closing line."""
    priv = args.priv
    try:
        why = overlay_install_dirs(priv, args.builddir)
        if why:
            say("  skipped: anymachine: popper installed (reason: %s)" % why)
        # After the overlays: one on /etc would hide a bind mount made
        # before it.
        for name in ACCOUNT_FILES:
            copy = os.path.join(priv, "etc", name)
            if os.path.exists(copy):
                rc, out = step(["mount", "--bind", copy, "/etc/" + name])
                if rc != 0:
                    raise RuntimeError("cannot bind-mount /etc/%s: %s" % (name, out.strip()))
        missing = [n for n, _, _ in ACCOUNTS if not account_exists(n)]
        if missing:
            raise RuntimeError("getent does not see %s in the namespace (nscd?)" %
                               ", ".join(missing))
        say("anymachine: accounts: %s" % "; ".join(
            step(["getent", "passwd", n])[1].strip() for n, _, _ in ACCOUNTS))
        if not why:
            install(args.builddir)
    except (RuntimeError, OSError) as e:
        say("  FAILED: anymachine: %s" % e)
        return 1
    os.execv(sys.executable, [sys.executable, os.path.join(args.srcdir, "tests", "run.py"),
                              "--srcdir=" + args.srcdir, "--builddir=" + args.builddir]
             + args.only)


# --------------------------------------------------------------------------


def copy_tree(src, dst):
    """The tree as a checkout holds it, without git's own directory."""
    shutil.copytree(src, dst, symlinks=True,
                    ignore=lambda d, names: [".git"] if d == src else [])


def second_run(srcdir, builddir, only):
    """Run 2; returns its counts."""
    counts = [0, 0, 0]
    label = "run 2 (mode-0700 checkout, popper installed, accounts %s)" % ", ".join(
        n for n, _, _ in ACCOUNTS)
    priv = tempfile.mkdtemp(prefix="popper-anymachine.")
    try:
        os.chmod(priv, 0o700)
        checkout = os.path.join(priv, "checkout")
        copy_tree(srcdir, checkout)
        src2 = checkout
        if builddir == srcdir:
            build2 = checkout
        elif builddir.startswith(srcdir + "/"):
            build2 = os.path.join(checkout, os.path.relpath(builddir, srcdir))
        else:
            build2 = os.path.join(priv, "build")
            copy_tree(builddir, build2)
        etc = os.path.join(priv, "etc")
        os.mkdir(etc, 0o755)
        added = write_account_files(etc)
        say("anymachine: run 2: a copy of the tree in %s (mode 0700); accounts added in "
            "the namespace: %s" % (priv, ", ".join(added) or "none (the machine has them)"))
        rc, out = step(["unshare", "--mount", "true"])
        if rc != 0:
            say("  skipped: anymachine: accounts present and popper installed (reason: "
                "unshare --mount is not permitted here: %s)" % out.strip())
            counts[2] += 1
            argv = [sys.executable, os.path.join(src2, "tests", "run.py"),
                    "--srcdir=" + src2, "--builddir=" + build2] + only
            label = "run 2 (mode-0700 checkout)"
        else:
            argv = ["unshare", "--mount", "--propagation", "private", "--",
                    sys.executable, os.path.join(src2, "tests", "anymachine.py"), INSIDE,
                    "--priv=" + priv, "--srcdir=" + src2, "--builddir=" + build2] + only
        c = run_suite(label, argv, cwd=src2)
        counts = [a + b for a, b in zip(counts, c)]
        # Nothing of it outside: the accounts we added and the files the
        # install made are not there.
        leaked = [n for n in added if account_exists(n)]
        try:
            with open(os.path.join(priv, "installed-files")) as f:
                leaked += [p for p in f.read().split() if os.path.lexists(p)]
        except OSError:
            pass
        if leaked:
            counts[1] += 1
            say("  FAILED: anymachine: seen outside the namespace: %s" % ", ".join(leaked))
    finally:
        shutil.rmtree(priv, ignore_errors=True)
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srcdir", default=os.path.dirname(HERE))
    ap.add_argument("--builddir", default=None)
    ap.add_argument(INSIDE, dest="inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--priv", help=argparse.SUPPRESS)
    ap.add_argument("only", nargs="*", help="run only tests whose label contains one of these")
    args = ap.parse_args()
    args.srcdir = os.path.abspath(args.srcdir)
    args.builddir = os.path.abspath(args.builddir or args.srcdir)
    if args.inside:
        return inside(args)
    argv1 = [sys.executable, RUN_PY, "--srcdir=" + args.srcdir,
             "--builddir=" + args.builddir] + args.only
    if os.geteuid() != 0:
        os.execv(sys.executable, argv1)
    say("anymachine: run 1: this checkout, this machine's accounts")
    total = run_suite("run 1 (this checkout)", argv1, cwd=args.srcdir)
    c = second_run(args.srcdir, args.builddir, args.only)
    total = [a + b for a, b in zip(total, c)]
    say(closing_line(total))
    return 1 if total[1] or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
