#!/usr/bin/env python3
"""test_standalone: popper as its own daemon (robustness.md §5.5 R1, §5.6)
and the command line: listening on 127.0.0.1 and [::1], the per-host
session cap, SIGTERM stopping the daemon and its children, `popper -n`
printing the effective settings, a bad configuration line exiting 2 with
FILE:LINE, rejected not-built options and switches, and `popper -v`.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402


def full_session(d, tap, what):
    c = d.connect()
    try:
        g = c.line_str()
        tap.ok(pf.greeting_re().match(g) is not None, "%s: greeting" % what, g)
        r = c.login("alice", "secret")
        tap.is_(r, "+OK alice has 2 visible messages (0 hidden) in %d octets." % d.total,
                "%s: login" % what)
        tap.is_(c.command("STAT"), "+OK 2 %d" % d.total, "%s: STAT" % what)
        c.sendline("RETR 2")
        first = c.line_str()
        body = b"".join(l + b"\r\n" for l in c.multiline())
        tap.ok(first.startswith("+OK") and body == pf.crlf_form(d.msgs[1]),
               "%s: RETR 2 byte-identical" % what, first)
        q = c.command("QUIT")
        tap.ok(q.startswith("+OK Pop server at "), "%s: QUIT" % what, q)
        tap.ok(c.expect_closed(), "%s: closed after QUIT" % what)
    finally:
        c.close()


def test_ipv4_ipv6(tap):
    env = pf.PopEnv()
    msgs = [pf.make_message(1), pf.make_message(2, size=5000)]
    env.write_mailbox("alice", msgs)
    try:
        d = env.start_standalone("127.0.0.1")
        d.msgs, d.total = msgs, sum(pf.msg_size(m) for m in msgs)
        try:
            full_session(d, tap, "standalone 127.0.0.1")
            # Several connections one after another work (no leaked lock).
            full_session(d, tap, "standalone 127.0.0.1, second connection")
        finally:
            rc, killed = d.stop()
            tap.ok(not killed, "SIGTERM stops the daemon (status %s)" % rc, d.stderr()[-500:])
        if not pf.ipv6_loopback():
            tap.skip("standalone [::1]", "IPv6 loopback unavailable")
            return
        d = env.start_standalone("::1")
        d.msgs, d.total = msgs, sum(pf.msg_size(m) for m in msgs)
        try:
            full_session(d, tap, "standalone [::1]")
        finally:
            rc, killed = d.stop()
            tap.ok(not killed, "SIGTERM stops the [::1] daemon", d.stderr()[-500:])
    finally:
        env.cleanup()


def test_per_host_cap(tap):
    env = pf.PopEnv()
    env.set("max-sessions-per-host", "2")
    env.write_mailbox("alice", [pf.make_message(1)])
    d = env.start_standalone("127.0.0.1")
    held = []
    try:
        time.sleep(0.3)        # the start-up probe session has ended
        for i in range(2):
            c = d.connect()
            held.append(c)
            tap.ok(c.line_str().startswith("+OK"), "per-host cap 2: connection %d greeted" % (i + 1))
        third = d.connect()
        try:
            r = third.line_str()
        except (pf.Closed, pf.Timeout) as e:
            r = "no reply: %s" % e
        tap.ok(r.startswith("-ERR"), "per-host cap 2: the third connection gets -ERR", r)
        tap.ok(third.expect_closed(), "per-host cap 2: and is closed")
        third.close()
        # Freed slots are reusable.
        held.pop().close()
        time.sleep(0.5)
        c = d.connect()
        held.append(c)
        tap.ok(c.line_str().startswith("+OK"), "per-host cap: a slot freed by a closed connection is reused")
        # SIGTERM with sessions open stops the daemon and its children.
        kids = pf.descendants(d.proc.pid)
        tap.ok(len(kids) >= 2, "the daemon has one child per open connection (%d)" % len(kids))
        rc, killed = d.stop()
        tap.ok(not killed, "SIGTERM stops the daemon while sessions are open")
        gone = all(pf.proc_status(k) is None or pf.proc_status(k).get("State", "").startswith("Z")
                   for k in kids)
        if not gone:
            time.sleep(2)
            gone = all(pf.proc_status(k) is None for k in kids)
        tap.ok(gone, "SIGTERM also ends the session children", "left: %s" % [
            k for k in kids if pf.proc_status(k)])
    finally:
        for c in held:
            c.close()
        d.stop()
        env.cleanup()


def test_check_config(tap):
    env = pf.PopEnv()
    try:
        env.set("timeout", "77")
        env.set("shy")
        env.write_config()
        r = env.run_popper(["-n", "-f", env.conf])
        out = r.stdout.decode(errors="replace")
        tap.is_(r.returncode, 0, "popper -n -f CONF exits 0")
        tap.ok(re.search(r"^set timeout = 77$", out, re.M) is not None,
               "popper -n prints the effective timeout", out[:800])
        tap.ok(re.search(r"^set shy( = true)?$", out, re.M) is not None,
               "popper -n prints the effective shy", out[:800])
        tap.ok(re.search(r"^set spool-dir = \"?%s\"?$" % re.escape(env.spool), out, re.M) is not None,
               "popper -n prints the effective spool-dir")
        tap.ok(re.search(r"^set max-auth-failures = 3$", out, re.M) is not None,
               "popper -n prints defaults too (max-auth-failures 3)")
        # A switch after -f overrides the file.
        r = env.run_popper(["-n", "-f", env.conf, "-T", "99"])
        tap.ok(re.search(r"^set timeout = 99$", r.stdout.decode(errors="replace"), re.M) is not None,
               "popper -n: -T after -f overrides the file")

        bad = env.path("etc", "bad.conf")
        with open(bad, "w") as f:
            f.write("# comment\nset timeout = 30\nset no-such-option = 1\n")
        r = env.run_popper(["-n", "-f", bad])
        err = (r.stderr + r.stdout).decode(errors="replace")
        tap.is_(r.returncode, 2, "an unknown option exits 2")
        tap.ok("%s:3" % bad in err, "the message names FILE:LINE", err)

        for line, what in (("set timeout = abc", "a bad number"),
                           ("set timeout", "a missing value"),
                           ("set clear-text-password = sometimes", "a bad keyword"),
                           ("set tls-version = SSLv3", "a refused TLS version"),
                           ("set bulldir = /var/spool/bulls", "bulletins (not built yet)"),
                           (("set kerberos-service = pop/x", "a kerberos-service that is not one word")
                            if "krb5" in pf.built_with() else
                            ("set kerberos", "kerberos (not built yet)")),
                           ("set check-old-spool-loc", "check-old-spool-loc (not built yet)"),
                           ("set drac-host = localhost", "drac (not built yet)"),
                           ("set timeout = " + "9" * 5000, "a 5000-octet line")):
            with open(bad, "w") as f:
                f.write("set shy\n%s\n" % line)
            r = env.run_popper(["-n", "-f", bad])
            err = (r.stderr + r.stdout).decode(errors="replace")
            tap.ok(r.returncode == 2 and "%s:2" % bad in err,
                   "config with %s exits 2 naming FILE:2" % what,
                   "status %s, output %r" % (r.returncode, err[:300]))
        with open(bad, "w") as f:
            f.write("set bulldir = /x\n")
        r = env.run_popper(["-n", "-f", bad])
        tap.ok("not built" in (r.stderr + r.stdout).decode(errors="replace"),
               "a not-built option says it is not built yet",
               (r.stderr + r.stdout).decode(errors="replace"))
        r = env.run_popper(["-n", "-f", env.path("etc", "missing.conf")])
        tap.ok(r.returncode != 0, "a missing configuration file is an error (status %s)" % r.returncode)

        for sw in ("-b", "-x") + (() if "krb5" in pf.built_with() else ("-k",)):
            r = env.run_popper(["-n", "-f", env.conf, sw] + (["x"] if sw in ("-b",) else []))
            err = (r.stderr + r.stdout).decode(errors="replace")
            tap.ok(r.returncode == 2 and "not built" in err,
                   "switch %s: not built yet, exit 2" % sw, "status %s: %r" % (r.returncode, err[:300]))
        if "krb5" in pf.built_with():
            r = env.run_popper(["-n", "-f", env.conf, "-k", "-K", "kpop"])
            out = (r.stdout + r.stderr).decode(errors="replace")
            tap.ok(r.returncode == 0 and "set kerberos = true" in out and
                   'set kerberos-service = "kpop"' in out,
                   "-k -K kpop: kerberos on, service kpop", "status %s: %r" % (r.returncode, out[-500:]))

        r = env.run_popper(["-v"])
        out = (r.stdout + r.stderr).decode(errors="replace")
        tap.ok(r.returncode == 0 and "0.1.0" in out, "popper -v prints the version and exits 0",
               "status %s: %r" % (r.returncode, out[:300]))
        tap.is_(built_with_line(out), expected_built_with(),
                "popper -v names the optional libraries config.h enables, in order")
    finally:
        env.cleanup()


def built_with_line(out):
    m = re.search(r"^built with: .*$", out, re.M)
    return m.group(0) if m else None


def expected_built_with():
    """The "built with:" line config.h (in the build directory) calls for."""
    with open(os.path.join(pf.BUILDDIR, "config.h")) as f:
        defined = set(re.findall(r"^#define HAVE_(\w+) 1$", f.read(), re.M))
    libs = [l for l in ("pam", "gdbm", "openssl", "sasl", "krb5", "seccomp") if l.upper() in defined]
    return "built with: " + (" ".join(libs) if libs else "none")


def test_bad_listen(tap):
    env = pf.PopEnv()
    try:
        env.write_config()
        # A port already in use: the daemon must fail, not hang.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            r = env.run_popper(["127.0.0.1:%d" % port, "-f", env.conf], timeout=20)
            tap.ok(r.returncode != 0, "a port in use makes the daemon exit non-zero (%s)" % r.returncode,
                   r.stderr.decode(errors="replace")[-300:])
        except pf.subprocess.TimeoutExpired:
            tap.ok(False, "a port in use makes the daemon exit (it hung)")
        finally:
            s.close()
    finally:
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if tap.can_login("standalone daemon: full sessions on 127.0.0.1 and [::1]"):
        test_ipv4_ipv6(tap)
    test_per_host_cap(tap)
    test_check_config(tap)
    test_bad_listen(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
