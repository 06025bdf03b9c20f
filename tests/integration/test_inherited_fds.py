#!/usr/bin/env python3
"""test_inherited_fds: popper closes every descriptor it did not open
(issue 9, outside review: "the user's session inherits the daemon's file
descriptors").

A caller -- a root shell, a careless inetd or wrapper -- may start popper
with more open than stdin, stdout and stderr.  Such a descriptor must never
reach a process that runs as the user: here popper is started holding a
root-only file open read-write on a high descriptor, in inetd mode and as a
standalone daemon, and after a login no process of popper's (daemon,
monitor, session) may still hold it.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

HIGH_FD = 9    # what the review's shell held
O_CLOEXEC = 0o2000000   # in /proc/PID/fdinfo "flags" (octal)


def secret_file():
    """A root-only file opened read-write on HIGH_FD; returns its path."""
    fd, path = tempfile.mkstemp(prefix="popper-secret-")
    os.write(fd, b"root only\n")
    os.fchmod(fd, 0o600)
    if fd != HIGH_FD:
        os.dup2(fd, HIGH_FD)
        os.close(fd)
    os.set_inheritable(HIGH_FD, True)
    return path


def holders(pids, path):
    """The (pid, fd) pairs of pids whose descriptors lead to path."""
    found = []
    for pid in pids:
        d = "/proc/%d/fd" % pid
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            try:
                if os.readlink(os.path.join(d, n)) == path:
                    found.append((pid, int(n)))
            except OSError:
                pass
    return found


def without_cloexec(pids):
    """The (pid, fd, target) of descriptors above stderr lacking close-on-exec."""
    found = []
    for pid in pids:
        try:
            names = os.listdir("/proc/%d/fdinfo" % pid)
        except OSError:
            continue
        for n in names:
            if int(n) <= 2:
                continue
            try:
                with open("/proc/%d/fdinfo/%s" % (pid, n)) as f:
                    flags = [l for l in f if l.startswith("flags:")]
                target = os.readlink("/proc/%d/fd/%s" % (pid, n))
            except OSError:
                continue
            if flags and not int(flags[0].split()[1], 8) & O_CLOEXEC:
                found.append((pid, int(n), target))
    return found


def new_env():
    env = pf.PopEnv()
    env.write_mailbox("alice", [pf.make_message(1)])
    return env


def test_inetd(tap, path):
    env = new_env()
    try:
        s = env.start_inetd(pass_fds=(HIGH_FD,))
        s.read_greeting()
        before = holders([s.proc.pid], path)
        r = s.client.login("alice", "secret")
        tap.ok(r.startswith("+OK"), "inetd: login", r)
        pids = [s.proc.pid] + pf.descendants(s.proc.pid)
        tap.is_(before, [], "inetd: before login, popper holds no inherited descriptor")
        tap.is_(holders(pids, path), [], "inetd: after login, neither the monitor nor the "
                "session holds the inherited descriptor (pids %s)" % pids)
        tap.is_(without_cloexec(pids), [], "inetd: every descriptor above stderr of the monitor "
                "and the session is close-on-exec")
        s.client.command("QUIT")
        s.finish()
    finally:
        env.cleanup()


def test_standalone(tap, path):
    env = new_env()
    d = None
    try:
        d = env.start_standalone(pass_fds=(HIGH_FD,))
        tap.is_(holders([d.proc.pid], path), [], "standalone: the daemon holds no inherited descriptor")
        c = d.connect()
        c.line()
        r = c.login("alice", "secret")
        tap.ok(r.startswith("+OK"), "standalone: login", r)
        pids = [d.proc.pid] + pf.descendants(d.proc.pid)
        tap.ok(len(pids) >= 3, "standalone: daemon, monitor and session found (%s)" % pids)
        tap.is_(holders(pids, path), [], "standalone: no process of popper's holds the "
                "inherited descriptor after login")
        tap.is_(without_cloexec(pids), [], "standalone: every descriptor above stderr of the "
                "daemon, monitor and session is close-on-exec")
        c.command("QUIT")
        c.close()
    finally:
        if d is not None:
            d.stop()
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    path = secret_file()
    try:
        tests = (("inetd: inherited descriptors", test_inetd),
                 ("standalone: inherited descriptors", test_standalone))
        for desc, test in tests:
            if tap.can_login(desc):
                test(tap, path)
    finally:
        os.close(HIGH_FD)
        os.unlink(path)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
