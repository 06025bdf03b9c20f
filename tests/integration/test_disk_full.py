#!/usr/bin/env python3
"""test_disk_full: ENOSPC and I/O errors during the update (robustness.md
§6.3 T2, §5.3 F13).

Real full filesystems: a small tmpfs, mounted inside a private mount
namespace (the test re-runs itself under `unshare -m`, so nothing is left
mounted even if it dies), holds
  - the state directory (where the journal goes), filled up after login:
    QUIT must answer -ERR [SYS/TEMP], the mailbox must be byte-identical,
    and once space is freed the next session deletes fine;
  - the spool, filled up after login: the in-place update never needs
    more space, so QUIT may succeed; whatever it answers must be true
    (+OK = new state, -ERR [SYS/TEMP] = old state).
Injected errors: strace `inject=write:error=ENOSPC:when=k` (and pwrite64
ENOSPC, fsync/fdatasync EIO, ftruncate EIO) at every such call after QUIT;
the QUIT reply must match the resulting state and a later clean session
must delete fine.
"""
import errno
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

NS_MARK = "POPPER_TEST_IN_MOUNT_NS"
ERR_UPDATE = "-ERR [SYS/TEMP] Error updating the maildrop; no messages were deleted."
ERR_PENDING = ("-ERR [SYS/TEMP] Error updating the maildrop; the next login completes or "
               "undoes the update.")


def fixture():
    return [pf.make_message("full-%d" % (i + 1), size=s)
            for i, s in enumerate([40000, 60000, 30000, 50000])]


def fill(directory):
    """Writes a filler file until the filesystem is full; returns its path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    chunk = 1 << 16
    try:
        while chunk:
            try:
                os.write(fd, b"\0" * chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    return path


def mount_tmpfs(path, size, uid=0, gid=0, mode="0755"):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=%s,uid=%d,gid=%d" % (
        size, mode, uid, gid), "tmpfs", path], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=10)
    return r.returncode == 0, r.stderr.decode(errors="replace").strip()


def umount(path):
    subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10)


HANGS = []


def session(env, dele, between=None, prefix=(), timeout=pf.IO_TIMEOUT, what=""):
    """login, DELE..., between(), QUIT; returns the login reply and the
    QUIT reply (None if the connection died or hung; a hang -- no answer
    and no close within the timeout -- is recorded in HANGS)."""
    s = env.start_inetd(prefix=prefix, timeout=timeout)
    login = reply = None
    step = "greeting"
    hung = False
    try:
        s.read_greeting()
        step = "login"
        login = s.client.login("alice", "secret")
        if login.startswith("+OK"):
            step = "DELE"
            for n in dele:
                s.client.command("DELE %d" % n)
            if between:
                between()
            step = "QUIT"
            reply = s.client.command("QUIT")
    except pf.Timeout:
        hung = True
        HANGS.append("%s: no answer and no close within %ss at %s" % (what, timeout, step))
    except (pf.Closed, OSError):
        pass
    finally:
        s.finish(timeout=2 if hung else pf.PROC_TIMEOUT)
    return login, reply


def ids(env):
    try:
        return [pf.test_id_of(m) for m in env.mailbox("alice")]
    except pf.MboxFormatError as e:
        return "unparsable: %s" % e


def test_state_full(tap, msgs):
    env = pf.PopEnv()
    mnt = env.path("state-fs")
    ok, why = mount_tmpfs(mnt, "512k")
    if not ok:
        tap.skip("state dir full: QUIT answers -ERR [SYS/TEMP]", "cannot mount tmpfs: " + why)
        env.cleanup()
        return
    try:
        env.set("state-dir", mnt)
        env.write_mailbox("alice", msgs)
        before = env.mailbox_bytes("alice")
        filler = []
        login, reply = session(env, [1, 3], between=lambda: filler.append(fill(mnt)))
        tap.ok(login and login.startswith("+OK"), "state dir full: login works", "login: %r" % login)
        tap.is_(reply, ERR_UPDATE, "state dir full (journal cannot be written): QUIT answers -ERR [SYS/TEMP]")
        tap.ok(env.mailbox_bytes("alice") == before, "state dir full: mailbox byte-identical")
        tap.ok(not os.path.exists(env.lock_path("alice")), "state dir full: no dot-lock left")
        for f in filler:
            os.unlink(f)
        login, reply = session(env, [1, 3])
        tap.ok((reply or "").startswith("+OK"), "state dir freed: the next session's QUIT succeeds",
               "login %r, QUIT %r" % (login, reply))
        tap.is_(ids(env), ["full-2", "full-4"], "state dir freed: the deletions are applied")
    finally:
        umount(mnt)
        env.cleanup()


def test_spool_full(tap, msgs):
    env = pf.PopEnv()
    # The tmpfs replaces the directory of alice's maildrop (vspool for a
    # virtual user, spool-dir for a PAM account), with its owner and mode.
    mnt = os.path.dirname(env.maildrop("alice"))
    st = os.stat(mnt)
    ok, why = mount_tmpfs(mnt, "512k", st.st_uid, st.st_gid, "%o" % (st.st_mode & 0o7777))
    if not ok:
        tap.skip("spool full: QUIT reply matches the outcome", "cannot mount tmpfs: " + why)
        env.cleanup()
        return
    try:
        env.write_mailbox("alice", msgs)
        before = env.mailbox_bytes("alice")
        filler = []
        login, reply = session(env, [2], between=lambda: filler.append(fill(mnt)))
        got = ids(env)
        if reply == ERR_UPDATE:
            good = env.mailbox_bytes("alice") == before
        elif reply and reply.startswith("+OK"):
            good = got == ["full-1", "full-3", "full-4"]
        else:
            good = False
        tap.ok(good, "spool full: QUIT reply matches the mailbox (%r)" % reply, "messages: %s" % got)
        tap.ok(not os.path.exists(env.lock_path("alice")), "spool full: no dot-lock left")
        for f in filler:
            os.unlink(f)
        login, reply = session(env, [1])
        tap.ok((reply or "").startswith("+OK"), "spool freed: the next session's QUIT succeeds",
               "login %r, QUIT %r" % (login, reply))
        expect = ["full-3", "full-4"] if got == ["full-1", "full-3", "full-4"] else ["full-2", "full-3", "full-4"]
        tap.is_(ids(env), expect, "spool freed: the deletions are applied")
    finally:
        umount(mnt)
        env.cleanup()


INJECTIONS = [("write", "ENOSPC"), ("pwrite64", "ENOSPC"), ("fsync", "EIO"),
              ("fdatasync", "EIO"), ("ftruncate", "EIO")]


def test_injected(tap, msgs):
    if not pf.strace_available():
        tap.skip("injected ENOSPC/EIO sweep", "strace not installed")
        return
    dele = [1, 3]
    new_ids = ["full-2", "full-4"]
    old_ids = [pf.test_id_of(m) for m in msgs]
    env = pf.PopEnv()
    try:
        env.write_mailbox("alice", msgs)
        trace = env.path("dry.strace")
        login, reply = session(env, dele, prefix=pf.strace_prefix(trace))
        points = pf.injection_points(pf.strace_events(trace), classes=[s for s, _ in INJECTIONS])
    finally:
        env.cleanup()
    tap.ok(bool(points), "injection points found after QUIT (%d)" % len(points))
    limit = int(os.environ.get("POPPER_SWEEP_MAX", "0"))
    failures, seen = [], {"+OK": 0, "-ERR": 0, "pending": 0, "none": 0}
    per = {}
    for sc, k in points:
        per[sc] = per.get(sc, 0) + 1
        if limit and per[sc] > limit:
            continue
        err = dict(INJECTIONS)[sc]
        env = pf.PopEnv()
        try:
            env.write_mailbox("alice", msgs)
            before = env.mailbox_bytes("alice")
            prefix = pf.strace_prefix(env.path("inj.strace"), trace=(sc,),
                                      inject="%s:error=%s:when=%d" % (sc, err, k))
            login, reply = session(env, dele, prefix=prefix, timeout=5,
                                   what="%s=%s when=%d" % (sc, err, k))
            got = ids(env)
            what = "%s=%s when=%d: QUIT %r, messages %s" % (sc, err, k, reply, got)
            if reply is None:
                seen["none"] += 1
                if got not in (old_ids, new_ids):
                    failures.append(what)
            elif reply.startswith("+OK"):
                seen["+OK"] += 1
                if got != new_ids:
                    failures.append(what)
            elif reply == ERR_UPDATE:
                seen["-ERR"] += 1
                if env.mailbox_bytes("alice") != before:
                    failures.append(what + " (file changed)")
            elif reply == ERR_PENDING:
                # The journal stays; the next login decides, and must land
                # on one of the two sets.
                seen["pending"] += 1
                session(env, [])
                got = ids(env)
                if got not in (old_ids, new_ids):
                    failures.append(what + "; after the next login: %s" % got)
            else:
                failures.append(what + " (unexpected reply)")
            if os.path.exists(env.lock_path("alice")):
                failures.append(what + ": dot-lock left")
            login, reply = session(env, dele if got == old_ids else [])
            if not (reply or "").startswith("+OK") or ids(env) != new_ids:
                failures.append(what + "; next clean session: QUIT %r, messages %s" % (reply, ids(env)))
        finally:
            env.cleanup()
    tap.ok(not failures, "injected ENOSPC/EIO at each update syscall: reply matches the state, "
           "the next session works (+OK %d, -ERR %d, -ERR pending %d, no reply %d)" % (
               seen["+OK"], seen["-ERR"], seen["pending"], seen["none"]), "\n".join(failures[:20]))
    tap.ok(seen["-ERR"] > 0 or not points, "at least one injected error was answered with %s" % ERR_UPDATE)
    tap.ok(not HANGS, "no injected error leaves the client without an answer or a close",
           "\n".join(HANGS[:20]))


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not tap.can_login("state dir full", "spool full", "injected ENOSPC/EIO sweep"):
        return tap.done()
    msgs = fixture()
    can_unshare = False
    if pf.is_root() and os.environ.get(NS_MARK) != "1":
        try:
            can_unshare = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                                         timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            pass
    if can_unshare:
        # Re-run in a private mount namespace so mounts vanish with us.
        env = dict(os.environ, **{NS_MARK: "1"})
        try:
            r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                                os.path.abspath(__file__)], env=env, timeout=500)
            return r.returncode
        except (OSError, subprocess.SubprocessError):
            pass
    if os.environ.get(NS_MARK) == "1":
        test_state_full(tap, msgs)
        test_spool_full(tap, msgs)
    else:
        tap.skip("state dir / spool on a full tmpfs", "needs root and unshare -m to mount a tmpfs")
    test_injected(tap, msgs)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
