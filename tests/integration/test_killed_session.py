#!/usr/bin/env python3
"""test_killed_session: the dot-lock of a session whose monitor and session
process were both killed (issue 7, hole 5: "never lose mail, even after two
faults").

Nobody is left to remove such a lock, and procmail (1024 s) or dotlockfile
(300 s) would wait for its age to make it stale; popper cleans it up itself
from the registry of held locks in <state-dir>/.locks:
  - inetd mode: at the start of the next connection, before the greeting;
  - standalone: when the listener reaps the killed monitor (within a
    second), and when the daemon starts.
And what it must leave alone: a lock whose session still runs (only its
monitor was killed), a lock another agent took meanwhile, and a lock that
is reachable only through a directory swapped for a symlink.

Runs as root only: without root there is no monitor and no registry.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

CLEANED = "removed the dot-lock"


def dead(pid):
    """True when pid is gone or a zombie (it can hold nothing any more)."""
    st = pf.proc_status(pid)
    return st is None or st.get("State", "").startswith(("Z", "X"))


def wait_dead(pids, timeout=5):
    deadline = time.monotonic() + timeout
    while not all(dead(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return all(dead(p) for p in pids)


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def new_env():
    env = pf.PopEnv()
    env.set("server-mode")          # the spool stays locked for the whole session
    env.set("lock-wait", "1")
    env.write_mailbox("alice", [pf.make_message(1), pf.make_message(2)])
    return env


def logged_in(env, tap, what):
    """An inetd session holding the dot-lock: (session, monitor pid, session pid)."""
    s, r = env.login_session()
    tap.ok(r.startswith("+OK"), "%s: login" % what, r)
    monitor = s.proc.pid
    kids = pf.descendants(monitor)
    tap.ok(len(kids) == 1, "%s: the monitor has one child, the session (%s)" % (what, kids))
    tap.ok(os.path.exists(env.lock_path("alice")), "%s: the session holds the dot-lock" % what)
    return s, monitor, kids[0] if kids else None


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def bury(s):
    """Reaps the killed inetd popper we started and closes our end."""
    s.client.close()
    pf.stop_process(s.proc, signal.SIGKILL)


def greet_and_quit(env):
    """Any new inetd connection: greeting and QUIT.  Returns the greeting."""
    s = env.start_inetd()
    try:
        g = s.read_greeting()
        s.client.command("QUIT")
    except (pf.Closed, pf.Timeout) as e:
        g = "no greeting: %s" % e
    s.finish()
    return g


def registry(env):
    d = os.path.join(env.state, ".locks")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def dotlockfile_now(lock):
    """dotlockfile -l -r 0: True if it got the lock at once (then released)."""
    r = subprocess.run(["dotlockfile", "-l", "-r", "0", lock], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if r.returncode == 0:
        subprocess.run(["dotlockfile", "-u", lock], timeout=30)
    return r.returncode == 0


def test_inetd_both_killed(tap):
    env = new_env()
    try:
        lock = env.lock_path("alice")
        s, monitor, session = logged_in(env, tap, "inetd")
        tap.ok(len(registry(env)) == 1, "inetd: the monitor registered its lock in <state-dir>/.locks",
               "registry: %s" % registry(env))
        kill(monitor)
        kill(session)
        tap.ok(wait_dead([monitor, session]), "inetd: monitor and session are dead")
        tap.ok(os.path.exists(lock), "inetd: the dot-lock outlived both processes")
        bury(s)
        g = greet_and_quit(env)
        tap.ok(pf.greeting_re().match(g) is not None, "inetd: the next connection is greeted", g)
        tap.ok(not os.path.exists(lock), "inetd: the next connection removed the dead session's lock",
               env.trace(1500))
        tap.ok(CLEANED in env.trace(100000), "inetd: and logged it")
        tap.is_(registry(env), [], "inetd: the registry entry is gone too")
        t0 = time.monotonic()
        tap.ok(dotlockfile_now(lock), "inetd: dotlockfile -l -r 0 gets the lock at once (%.1f s)" % (
            time.monotonic() - t0))
        s, r = env.login_session()
        if tap.ok(r.startswith("+OK alice has 2 visible messages"), "inetd: the user logs in again", r):
            s.client.command("QUIT")
        s.finish()
    finally:
        env.cleanup()


def test_monitor_killed_session_alive(tap):
    env = new_env()
    try:
        lock = env.lock_path("alice")
        s, monitor, session = logged_in(env, tap, "monitor killed")
        content = read(lock)
        kill(monitor)
        tap.ok(wait_dead([monitor]), "monitor killed: the monitor is dead")
        tap.ok(not dead(session), "monitor killed: the session still runs")
        greet_and_quit(env)
        tap.ok(read(lock) == content and content is not None,
               "monitor killed: the lock of a session that still runs is left alone")
        tap.is_(len(registry(env)), 1, "monitor killed: its registry entry stays")
        kill(session)
        tap.ok(wait_dead([session]), "monitor killed: then the session is killed too")
        bury(s)
        greet_and_quit(env)
        tap.ok(not os.path.exists(lock), "monitor killed: once the session is dead too, the lock goes",
               env.trace(1500))
        tap.is_(registry(env), [], "monitor killed: and its registry entry")
    finally:
        env.cleanup()


def test_foreign_lock(tap):
    if not shutil.which("dotlockfile"):
        tap.skip("a lock taken by another agent is left alone", "dotlockfile not installed")
        return
    env = new_env()
    try:
        lock = env.lock_path("alice")
        s, monitor, session = logged_in(env, tap, "foreign lock")
        kill(monitor)
        kill(session)
        wait_dead([monitor, session])
        bury(s)
        # Another agent broke the dead lock and holds its own now.
        os.unlink(lock)
        r = subprocess.run(["dotlockfile", "-l", "-r", "0", lock], timeout=30)
        theirs = read(lock)
        tap.ok(r.returncode == 0 and theirs is not None, "foreign lock: dotlockfile took the lock")
        greet_and_quit(env)
        tap.ok(read(lock) == theirs, "foreign lock: another agent's lock is left alone")
        tap.is_(registry(env), [], "foreign lock: the stale registry entry is dropped")
        subprocess.run(["dotlockfile", "-u", lock], timeout=30)

        # The same, with a copy of popper's own content in a new file:
        # not the file the monitor made, so not ours to remove either.
        s, monitor, session = logged_in(env, tap, "copied lock")
        kill(monitor)
        kill(session)
        wait_dead([monitor, session])
        bury(s)
        content = read(lock)
        # Written while the lock still exists, so the copy cannot get
        # its inode number, then moved into its place.
        with open(lock + ".copy", "wb") as f:
            f.write(content)
        os.rename(lock + ".copy", lock)
        greet_and_quit(env)
        tap.ok(read(lock) == content, "copied lock: a new file with the same content is left alone")
        tap.is_(registry(env), [], "copied lock: the registry entry is dropped")
        os.unlink(lock)
    finally:
        env.cleanup()


def test_symlinked_directory(tap):
    env = new_env()
    try:
        lock = env.lock_path("alice")
        spooldir = os.path.dirname(lock)
        s, monitor, session = logged_in(env, tap, "symlinked directory")
        content = read(lock)
        kill(monitor)
        kill(session)
        wait_dead([monitor, session])
        bury(s)
        # The spool directory is swapped for a symlink to another directory
        # holding a file with exactly the dead lock's name and content.
        moved = spooldir + ".real"
        other = env.path("elsewhere")
        os.rename(spooldir, moved)
        os.mkdir(other)
        with open(os.path.join(other, os.path.basename(lock)), "wb") as f:
            f.write(content)
        os.symlink(other, spooldir)
        greet_and_quit(env)
        tap.ok(read(os.path.join(other, os.path.basename(lock))) == content,
               "symlinked directory: the sweep did not follow the swapped-in symlink")
        tap.ok(read(os.path.join(moved, os.path.basename(lock))) == content,
               "symlinked directory: nor touch the moved directory")
        tap.is_(registry(env), [], "symlinked directory: the registry entry is dropped")
        os.unlink(spooldir)
        os.rename(moved, spooldir)
    finally:
        env.cleanup()


def standalone_session(env, d, tap, what):
    """A TCP session logged in through the daemon: (client, monitor, session)."""
    c = d.connect()
    c.line()
    r = c.login("alice", "secret")
    tap.ok(r.startswith("+OK"), "%s: login" % what, r)
    monitor = session = None
    for k in pf.descendants(d.proc.pid):
        grandkids = pf.descendants(k)
        if grandkids:
            monitor, session = k, grandkids[0]
    tap.ok(monitor is not None, "%s: found the monitor and its session" % what)
    return c, monitor, session


def test_standalone(tap):
    env = new_env()
    d = None
    try:
        lock = env.lock_path("alice")
        d = env.start_standalone()
        c, monitor, session = standalone_session(env, d, tap, "standalone")
        tap.ok(os.path.exists(lock), "standalone: the session holds the dot-lock")
        kill(monitor)
        kill(session)
        t0 = time.monotonic()
        gone = wait_for(lambda: not os.path.exists(lock), 2)
        tap.ok(gone, "standalone: the daemon removed the lock within 2 s (%.2f s)" % (
            time.monotonic() - t0), env.trace(1500))
        tap.is_(registry(env), [], "standalone: the registry entry is gone")
        c.close()

        # Only the monitor killed: the session keeps its lock; when the
        # session dies later, the daemon notices within a few seconds.
        c, monitor, session = standalone_session(env, d, tap, "standalone, monitor killed")
        content = read(lock)
        kill(monitor)
        time.sleep(1.5)
        tap.ok(content is not None and read(lock) == content,
               "standalone: a session whose monitor alone was killed keeps its lock")
        kill(session)
        gone = wait_for(lambda: not os.path.exists(lock), 5)
        tap.ok(gone, "standalone: its lock goes once the session is killed too", env.trace(1500))
        c.close()
        rc, killed = d.stop()
        d = None
        tap.ok(not killed, "standalone: the daemon stops on SIGTERM")

        # Killed while no daemon runs (an inetd session, say): the daemon
        # cleans up when it starts.
        s, monitor, session = logged_in(env, tap, "daemon start")
        kill(monitor)
        kill(session)
        wait_dead([monitor, session])
        bury(s)
        tap.ok(os.path.exists(lock), "daemon start: the dead session's lock is there before the start")
        d = env.start_standalone()
        tap.ok(wait_for(lambda: not os.path.exists(lock), 2),
               "daemon start: the starting daemon removed it", env.trace(1500))
    finally:
        if d:
            d.stop()
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    tests = (("inetd: lock of a killed monitor and session", test_inetd_both_killed),
             ("inetd: monitor killed, session alive", test_monitor_killed_session_alive),
             ("inetd: a foreign lock after the kill", test_foreign_lock),
             ("inetd: a symlinked lock directory", test_symlinked_directory),
             ("standalone: killed sessions", test_standalone))
    for desc, test in tests:
        if not pf.is_root():
            tap.skip(desc, "needs root: only a root popper has a monitor and a lock registry")
        elif tap.can_login(desc):
            test(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
