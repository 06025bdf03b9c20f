#!/usr/bin/env python3
"""test_lock_directory: root makes the dot-lock only in the directory the
lock's path named when it was checked, never in one a user swapped in
(issue 9, outside review: the monitor followed a user's directories).

With home-dir-mail = Mail/inbox the dot-lock is ~/Mail/inbox.lock, in a
directory the user owns, and the root monitor makes it.  The user can
replace ~/Mail with a symbolic link at any time.  The monitor opens the
lock's directory once, component by component without following a link a
user could have made, and works only relative to that descriptor; when the
path no longer names that directory it says so in the log and does not
act on what the path names now.

  - The user holds ~/Mail/inbox.lock; the monitor waits for it; the user
    swaps ~/Mail for a symlink to a root-owned directory holding a stale
    root-owned inbox.lock, then releases the lock.  Root must neither
    remove that file nor create anything there; the login fails cleanly
    ([SYS/TEMP]) with a log line, and no lock is left in the user's
    directory either.
  - The same swap while the session holds the lock: at QUIT the monitor
    removes its own lock from the directory it made it in and leaves the
    swapped-in directory (holding a copy of the lock) alone.
  - ~/Mail is a symbolic link before the login: the monitor refuses to
    follow it (a user's link), the login fails cleanly, and the log says
    why.

Runs as root only: without root there is no monitor.
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

UID = 2001
TEMP = "-ERR [SYS/TEMP] Unable to open the maildrop; try again later."


def lock_host():
    """This host's name as popper writes it into a lock."""
    name = socket.gethostname() or "localhost"
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
    return "".join(c if c in ok else "_" for c in name)[:63]


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write_owned(path, data, uid, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, uid, uid)


def listing(d):
    """{name: (uid, content)} of directory d, without following anything."""
    out = {}
    for n in sorted(os.listdir(d)):
        st = os.lstat(os.path.join(d, n))
        out[n] = (st.st_uid, read(os.path.join(d, n)))
    return out


class Setup:
    """bob (uid 2001, PAM password bobpw) with ~/Mail/inbox, and a root-owned
    directory the user cannot write (the target of the swap)."""

    def __init__(self):
        self.env = pf.PopEnv(pam=True, users=())
        self.env.add_system_user("bob", UID, "bobpw")
        self.env.set("home-dir-mail", "Mail/inbox")
        self.env.set("server-mode")          # the lock is held for the whole session
        self.env.set("lock-wait", "10")
        self.home = self.env.system_users["bob"][2]
        self.mail = os.path.join(self.home, "Mail")
        self.moved = os.path.join(self.home, "Mail.moved")
        self.inbox = os.path.join(self.mail, "inbox")
        self.lock = self.inbox + ".lock"
        os.mkdir(self.mail, 0o700)
        os.chown(self.mail, UID, UID)
        write_owned(self.inbox, pf.mbox_bytes([pf.make_message(1), pf.make_message(2)]), UID, 0o600)
        self.target = self.env.path("rootonly")
        os.mkdir(self.target, 0o755)

    def swap(self):
        """What the user does: ~/Mail moves aside, a symlink (the user's)
        to the root-owned directory takes its place."""
        os.rename(self.mail, self.moved)
        os.symlink(self.target, self.mail)
        os.lchown(self.mail, UID, UID)

    def unswap(self):
        if os.path.islink(self.mail):
            os.unlink(self.mail)
        if os.path.isdir(self.moved):
            os.rename(self.moved, self.mail)

    def start(self):
        s = self.env.start_inetd()
        s.read_greeting()
        r = s.client.command("USER bob")
        return s, r


def session_has_open(monitor, path, timeout=10):
    """Waits until the session (the monitor's child) has path open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for kid in pf.descendants(monitor):
            fddir = "/proc/%d/fd" % kid
            try:
                for fd in os.listdir(fddir):
                    if os.readlink(os.path.join(fddir, fd)) == path:
                        return True
            except OSError:
                pass
        time.sleep(0.02)
    return False


def test_swap_while_waiting(tap):
    t = Setup()
    try:
        # The user holds the lock (a live process of this host: not stale).
        write_owned(t.lock, ("%d %s\n" % (os.getpid(), lock_host())).encode(), UID)
        # In the target: a root-owned file of the lock's name that the
        # stale rules would break (its process is gone).
        stale = ("%d %s\n" % (dead_pid(), lock_host())).encode()
        write_owned(os.path.join(t.target, "inbox.lock"), stale, 0)
        before = listing(t.target)
        s, r = t.start()
        tap.ok(r.startswith("+OK"), "waiting: USER accepted", r)
        s.client.sendline("PASS bobpw")
        opened = session_has_open(s.proc.pid, t.inbox)
        tap.ok(opened, "waiting: the session opened ~/Mail/inbox and asks for the dot-lock",
               t.env.trace(1500))
        # The monitor is now waiting for the user's lock.
        time.sleep(0.5)
        t.swap()
        os.unlink(os.path.join(t.moved, "inbox.lock"))      # the user lets go
        try:
            reply = s.client.line_str(timeout=20)
        except (pf.Closed, pf.Timeout) as e:
            reply = "no reply: %s" % e
        tap.is_(listing(t.target), before,
                "waiting: root neither removed nor created anything in the swapped-in directory")
        tap.is_(reply, TEMP, "waiting: the login fails cleanly")
        tap.ok(s.client.expect_closed(), "waiting: and the connection is closed")
        s.finish()
        tap.is_(listing(t.target), before, "waiting: nor when the session had ended")
        tap.is_(sorted(os.listdir(t.moved)), ["inbox"],
                "waiting: no lock (nor unique file) left in the user's own directory")
        trace = t.env.trace(20000)
        tap.ok("was moved or replaced while the lock was being taken" in trace,
               "waiting: the monitor logged why it let go", trace[-1500:])
        tap.ok("removed stale lock" not in trace, "waiting: no stale lock was broken", trace[-1500:])
    finally:
        t.unswap()
        t.env.cleanup()


def test_swap_while_held(tap):
    t = Setup()
    try:
        s, r = t.start()
        r = s.client.command("PASS bobpw")
        tap.ok(r.startswith("+OK bob has 2 visible messages"), "held: login", r)
        content = read(t.lock)
        tap.ok(content is not None and os.lstat(t.lock).st_uid == 0,
               "held: the monitor made ~/Mail/inbox.lock")
        # A root-owned copy of the lock, content and all, behind the swap.
        write_owned(os.path.join(t.target, "inbox.lock"), content or b"", 0)
        before = listing(t.target)
        t.swap()
        q = s.client.command("QUIT")
        tap.ok(q.startswith("+OK"), "held: QUIT", q)
        s.finish()
        tap.is_(listing(t.target), before, "held: the swapped-in directory is left alone")
        tap.is_(sorted(os.listdir(t.moved)), ["inbox"],
                "held: the lock went from the directory it was made in")
        tap.ok("was moved or replaced since the lock was taken" in t.env.trace(20000),
               "held: the monitor logged the swap", t.env.trace(1500))
    finally:
        t.unswap()
        t.env.cleanup()


def test_symlink_before_login(tap):
    t = Setup()
    try:
        # The user's own link: ~/Mail -> ~/Mail.moved, which the user owns.
        os.rename(t.mail, t.moved)
        os.symlink(t.moved, t.mail)
        os.lchown(t.mail, UID, UID)
        s, r = t.start()
        r = s.client.command("PASS bobpw")
        tap.is_(r, TEMP, "user's symlink: the login fails cleanly")
        s.finish()
        tap.is_(sorted(os.listdir(t.moved)), ["inbox"], "user's symlink: no lock made through it")
        trace = t.env.trace(20000)
        tap.ok("Mail is a symbolic link in a directory a user can write" in trace,
               "user's symlink: the log says why", trace[-1500:])
    finally:
        t.unswap()
        t.env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    tests = (("a directory swapped while the monitor waits", test_swap_while_waiting),
             ("a directory swapped while the lock is held", test_swap_while_held),
             ("a user's symlink in the lock's path", test_symlink_before_login))
    for desc, test in tests:
        if not pf.is_root():
            tap.skip(desc, "needs root: only a root popper has a monitor")
        elif pf.without("pam"):
            tap.skip(desc, pf.without("pam"))
        elif pf.wrappers_missing():
            tap.skip(desc, pf.wrappers_missing())
        else:
            test(tap)
    return tap.done()


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
