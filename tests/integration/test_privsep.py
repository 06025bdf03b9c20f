#!/usr/bin/env python3
"""test_privsep: no process that holds the client's connection runs as
root (issue 9, privilege separation).

For each state of a session -- the greeting, after USER, in the middle of a
SASL exchange, in the middle of a TLS handshake, TRANSACTION (in clear text
and over TLS), and while QUIT's update runs -- every process that holds the
server's end of the TCP connection is found through /proc/PID/fd and its
/proc/PID/status and root directory are checked:
  - before login: uid and gid of the pre-auth account, no other group, no
    capability, NoNewPrivs 1, Seccomp 2 (filter), root directory the empty
    chroot (<state-dir>/empty);
  - after login: the user's ids (a virtual user: the mail-owner account),
    no capability, never the mail group; over TLS the holder is still the
    confined pre-auth process (the TLS proxy), and the user's session holds
    only the clear-text socketpair.
The standalone daemon, inetd mode and the child's death are covered: a
pre-auth process killed by a signal, or by its seccomp filter in a test
build that forbids sendmsg (tests/tools/popper-sigsys), closes the
connection cleanly and the monitor logs it.
"""
import base64
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402
import tlsfixture as tf  # noqa: E402

SIGSYS_POPPER = os.path.join(pf.BUILDDIR, "tests", "tools", "popper-sigsys")
CAP_NONE = "0000000000000000"


def tcp_inode(local, remote):
    """The inode of the TCP socket whose local and remote (host, port) are
    these (IPv4 loopback only), from /proc/net/tcp; None if not found."""
    def hexaddr(hp):
        a = socket.inet_aton(hp[0])
        return "%08X:%04X" % (int.from_bytes(a, "little"), hp[1])
    want_l, want_r = hexaddr(local), hexaddr(remote)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[1] == want_l and p[2] == want_r:
                return p[9]
    return None


def holders(client_sock):
    """PIDs of the processes holding the server's end of client_sock."""
    inode = tcp_inode(client_sock.getpeername(), client_sock.getsockname())
    target = "socket:[%s]" % inode
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            for n in os.listdir("/proc/%s/fd" % d):
                if os.readlink("/proc/%s/fd/%s" % (d, n)) == target:
                    found.append(int(d))
                    break
        except OSError:
            continue
    return sorted(found)


def creds(pid):
    st = pf.proc_status(pid) or {}
    try:
        root = os.readlink("/proc/%d/root" % pid)
    except OSError:
        root = None
    return {
        "uid": st.get("Uid", "").split(),
        "gid": st.get("Gid", "").split(),
        "groups": st.get("Groups", "").split(),
        "CapEff": st.get("CapEff"), "CapPrm": st.get("CapPrm"), "CapInh": st.get("CapInh"),
        "CapAmb": st.get("CapAmb"),
        "NoNewPrivs": st.get("NoNewPrivs"), "Seccomp": st.get("Seccomp"), "root": root,
    }


def check_preauth(tap, env, pids, what):
    tap.ok(len(pids) == 1, "%s: exactly one process holds the connection (%s)" % (what, pids))
    want_ids = [str(pf.PREAUTH_UID)] * 4
    for pid in pids:
        c = creds(pid)
        tap.ok(c["uid"] == want_ids and c["gid"] == want_ids and c["groups"] == [str(pf.PREAUTH_UID)]
               and c["CapEff"] == CAP_NONE and c["CapPrm"] == CAP_NONE and c["CapAmb"] == CAP_NONE
               and c["NoNewPrivs"] == "1" and c["Seccomp"] == "2"
               and c["root"] == os.path.join(env.state, "empty"),
               "%s: the holder (pid %d) is the pre-auth account, no groups, no capabilities, "
               "NoNewPrivs, seccomp filter, chrooted into the empty directory" % (what, pid), c)


def check_user(tap, pids, ids, what):
    """ids: (uid, gid) of the account the user's session runs as.  It is
    not under no_new_privs or seccomp (it may start the mail command of a
    later XTND XMIT, which can be setgid) and not chrooted."""
    uid, gid = ids
    tap.ok(len(pids) >= 1, "%s: a process holds the connection (%s)" % (what, pids))
    for pid in pids:
        c = creds(pid)
        tap.ok(c["uid"] == [str(uid)] * 4 and c["gid"] == [str(gid)] * 4
               and "0" not in c["groups"] and str(pf.MAIL_GID) not in c["groups"]
               and c["CapEff"] == CAP_NONE and c["CapPrm"] == CAP_NONE and c["CapAmb"] == CAP_NONE
               and c["root"] == "/",
               "%s: the holder (pid %d) runs as the user (uid %d gid %d), no root group, no mail "
               "group, no capabilities" % (what, pid, uid, gid), c)


def new_env(pki):
    env = pf.PopEnv()
    msgs = [pf.make_message(i, size=200000) for i in range(1, 80)]
    env.write_mailbox("alice", msgs)
    tf.tls_settings(env, pki, "stls")
    return env


def sasl_plain_offered(c):
    r = c.command("CAPA")
    caps = c.multiline() if r.startswith("+OK") else []
    return any(l.startswith(b"SASL ") and b"PLAIN" in l.split() for l in caps)


def test_states(tap, env, pki):
    ids = env.owner_of("alice")
    uid = ids[0]
    d = env.start_standalone()
    try:
        c = tf.connect(d)
        c.line()
        check_preauth(tap, env, holders(c.sock), "greeting")
        tap.ok(c.command("USER alice").startswith("+OK"), "USER accepted")
        check_preauth(tap, env, holders(c.sock), "after USER")
        c.command("QUIT")
        c.close()

        c = tf.connect(d)
        c.line()
        if sasl_plain_offered(c):
            r = c.command("AUTH PLAIN")
            tap.ok(r.startswith("+"), "AUTH PLAIN: the server waits for the response", r)
            check_preauth(tap, env, holders(c.sock), "mid-SASL")
            r = c.command(base64.b64encode(b"\0alice\0secret").decode())
            tap.ok(r.startswith("+OK"), "AUTH PLAIN logs in", r)
            check_user(tap, holders(c.sock), ids, "TRANSACTION after AUTH")
            c.command("QUIT")
        else:
            tap.skip("mid-SASL checks", "this build offers no SASL PLAIN")
        c.close()

        c = tf.connect(d)
        c.line()
        tap.ok(c.command("STLS").startswith("+OK"), "STLS accepted")
        check_preauth(tap, env, holders(c.sock), "mid-TLS-handshake")
        c.starttls(pki.client_context())
        r = c.login("alice", "secret")
        tap.ok(r.startswith("+OK"), "login over TLS", r)
        raw = c.sock
        check_preauth(tap, env, holders(raw), "TRANSACTION over TLS (the TLS proxy)")
        kids = [p for p in pf.descendants(d.proc.pid) if creds(p)["uid"] == [str(uid)] * 4]
        tap.ok(len(kids) == 1, "over TLS the user's session is a process of its own (%s)" % kids)
        r = c.command("CAPA")
        caps = c.multiline() if r.startswith("+OK") else []
        tap.ok(r.startswith("+OK") and b"STLS" not in caps,
               "the user's session knows the connection is encrypted: no STLS in CAPA", caps)
        r = c.command("RETR 1")
        body = c.multiline_raw() if r.startswith("+OK") else b""
        tap.ok(len(body) > 200000, "a 200 KB message comes through the proxy", r)
        tap.is_(c.command("QUIT")[:3], "+OK", "QUIT over TLS")
        c.close()

        c = tf.connect(d)
        c.line()
        r = c.login("alice", "secret")
        tap.ok(r.startswith("+OK"), "login in clear text", r)
        check_user(tap, holders(c.sock), ids, "TRANSACTION")
        for i in range(1, 10):
            c.command("DELE %d" % i)
        # The update moves ~14 MB down the file and fsyncs: it runs while
        # the holders are read, before the reply is.
        c.sendline("QUIT")
        pids = holders(c.sock)
        check_user(tap, pids, ids, "UPDATE")
        tap.is_(c.line_str()[:3], "+OK", "QUIT's update done")
        c.close()
    finally:
        d.stop()


def test_inetd(tap, env):
    s = env.start_inetd(transport="tcp")
    try:
        s.read_greeting()
        check_preauth(tap, env, holders(s.client.sock), "inetd mode: greeting")
        tap.ok(s.client.login("alice", "secret").startswith("+OK"), "inetd mode: login")
        check_user(tap, holders(s.client.sock), env.owner_of("alice"), "inetd mode: TRANSACTION")
        s.client.command("QUIT")
    finally:
        s.finish()


def test_kpop(tap, env):
    """-k: the KPOP handshake's bytes reach krb5 in the monitor only through
    the confined pre-auth process."""
    if "krb5" not in pf.built_with():
        tap.skip("-k split", pf.without("krb5"))
        return
    s = env.start_inetd(transport="tcp", args=("-k",))
    try:
        time.sleep(0.3)   # the child is confined before it reads
        check_preauth(tap, env, holders(s.client.sock), "-k, waiting for the KPOP handshake")
        s.client.send(b"\x00\x00\x00\x09NOT-KPOP\x00")
        closed = ends(s.client)
        tap.ok(closed, "-k: a peer that is not a KPOP client is disconnected")
    finally:
        s.finish()
    tap.ok('method=KPOP' in env.trace(), "-k: the monitor logs the failed handshake",
           env.trace()[-600:])


def ends(client):
    """True when the server closes the connection (within the timeout)."""
    try:
        client.expect_closed()
        return True
    except (pf.Timeout, OSError):
        return False


def preauth_child(daemon_pid, uid):
    for p in pf.descendants(daemon_pid):
        if creds(p)["uid"] == [str(uid)] * 4:
            return p
    return None


def test_child_killed(tap, env):
    d = env.start_standalone()
    try:
        c = tf.connect(d)
        c.line()
        pid = preauth_child(d.proc.pid, pf.PREAUTH_UID)
        tap.ok(pid is not None, "the pre-auth process is found")
        os.kill(pid, signal.SIGKILL)
        closed = ends(c)
        tap.ok(closed, "killing the pre-auth process closes the connection")
        deadline = time.monotonic() + 5
        while "killed by signal 9" not in env.trace() and time.monotonic() < deadline:
            time.sleep(0.05)
        tap.ok("pre-auth process killed by signal 9" in env.trace(),
               "the monitor logs the pre-auth process's death", env.trace()[-600:])
        c.close()
        c = tf.connect(d)
        tap.ok(c.line().startswith(b"+OK"), "the daemon serves the next connection")
        c.close()
    finally:
        d.stop()


def test_seccomp_kill(tap, env):
    if not os.path.exists(SIGSYS_POPPER):
        tap.skip("seccomp kill", "tests/tools/popper-sigsys not built (no libseccomp)")
        return
    s = env.start_inetd(transport="tcp", popper=SIGSYS_POPPER)
    try:
        s.read_greeting()
        tap.ok(s.client.command("USER alice").startswith("+OK"), "seccomp test build: USER")
        s.client.sendline("PASS secret")
        closed = ends(s.client)
        tap.ok(closed, "a forbidden system call (sendmsg in this test build) ends the connection")
    finally:
        s.finish()
    tap.ok("pre-auth process killed by signal 31 (seccomp" in env.trace(),
           "the monitor logs the seccomp kill", env.trace()[-600:])


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    if not pf.is_root():
        tap.skip("privilege separation", "needs root (the split changes ids and chroots)")
        return tap.done()
    why = pf.wrappers_missing() or tf.openssl_missing()
    if why:
        tap.skip("privilege separation", why)
        return tap.done()
    if "seccomp" not in pf.built_with():
        tap.skip("privilege separation", "built without libseccomp")
        return tap.done()
    pki_env = pf.PopEnv()
    pki = tf.PKI(pki_env.path("pki"))
    for t in (test_states, test_inetd, test_kpop, test_child_killed, test_seccomp_kill):
        env = new_env(pki) if t is test_states else pf.PopEnv()
        if t is not test_states:
            env.write_mailbox("alice", [pf.make_message(1)])
            tf.tls_settings(env, pki, "stls")
        try:
            if t is test_states:
                t(tap, env, pki)
            else:
                t(tap, env)
        finally:
            env.cleanup()
    pki_env.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
