#!/usr/bin/env python3
"""test_apop_clients: APOP end to end, and the server's side of the user
database.

- Real clients log in with APOP against a standalone popper on 127.0.0.1:
  Python's poplib (apop), fetchmail (protocol APOP) and mpop (auth apop);
  every message they fetch is compared with the original, and a wrong
  secret fails with the one failure text.
- The greeting's APOP timestamp is fresh for every connection.
- A database file the server must not trust (mode other than 0600, owned
  by someone other than root or auth-db-owner, a symlink, two links, in a
  directory others may write) takes the APOP timestamp out of the greeting
  and stops every login with -ERR [SYS/PERM] and a log line naming file,
  owner and mode, in the words apopdb uses for the same file; owned by the
  auth-db-owner account it is accepted.
- A system entry (the APOP secret popauth stores for a system account, made
  here with apopdb add --system) logs in that system account, not the
  mail owner; its APOP secret is not its password, and the "default"
  clear-text policy refuses USER for it while CAPA still offers USER.
- "set apop = false" turns APOP off (and with it the "default" refusal).
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

TIMEOUT = 60
SECRET = "secret"     # the fixture's alice
PERM = "-ERR [SYS/PERM] Authentication is unavailable; contact your administrator."
NOAPOP = "-ERR APOP is not available on this server."
FAIL = "-ERR [AUTH] Authentication failed."


def messages():
    return [
        pf.make_message("ap-1"),
        pf.make_message("ap-2", body=b".\n..\n.dotted line\nend\n"),
        pf.make_message("ap-3", size=20000),
    ]


def same(fetched, original):
    return pf.normalize_crlf(fetched) == pf.normalize_crlf(original)


def strip_received(data):
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].lower().startswith(b"received:"):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def ids_left(env, user="alice"):
    return [pf.test_id_of(m) for m in env.mailbox(user)]


# ---- real clients ---------------------------------------------------------

def test_poplib(tap, env, d, msgs):
    import poplib
    p = poplib.POP3("127.0.0.1", d.port, timeout=30)
    try:
        resp = p.apop("alice", SECRET)
        tap.ok(resp.startswith(b"+OK alice has 3 visible messages"), "poplib: apop logs in", resp)
        bad = [i + 1 for i, m in enumerate(msgs)
               if not same(b"\n".join(p.retr(i + 1)[1]) + b"\n", m)]
        tap.ok(not bad, "poplib: every message retrieved byte-identical", bad)
        p.dele(2)
        tap.ok(p.quit().startswith(b"+OK"), "poplib: QUIT")
    except poplib.error_proto as e:
        tap.ok(False, "poplib APOP session", str(e))
        p.close()
    tap.is_(ids_left(env), ["ap-1", "ap-3"], "poplib: DELE 2 applied")
    for user, secret, what in (("alice", "wrong", "a wrong secret"),
                               ("nosuchuser", SECRET, "an unknown user")):
        p = poplib.POP3("127.0.0.1", d.port, timeout=30)
        try:
            p.apop(user, secret)
            tap.ok(False, "poplib: apop with %s fails" % what)
        except poplib.error_proto as e:
            tap.is_(e.args[0].decode(), FAIL, "poplib: apop with %s: the one failure text" % what)
        finally:
            p.close()


MDA = r'''import os, sys
d = sys.argv[1]
data = sys.stdin.buffer.read()
with open(os.path.join(d, "%06d" % len(os.listdir(d))), "wb") as f:
    f.write(data)
'''


def test_fetchmail(tap, env, d, msgs):
    if not shutil.which("fetchmail"):
        tap.skip("fetchmail protocol APOP", "fetchmail not installed")
        return
    home = env.path("fetchmail-home")
    out = env.path("fetchmail-out")
    os.makedirs(home, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    mda = env.path("mda.py")
    with open(mda, "w") as f:
        f.write(MDA)

    def run(secret):
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('poll 127.0.0.1 protocol APOP port %d\n'
                    '  user "alice" password "%s" is root here\n'
                    '  mda "%s %s %s"\n  keep sslproto "" no sslcertck\n' % (
                        d.port, secret, sys.executable, mda, out))
        os.chmod(rc, 0o600)
        e = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        return subprocess.run(["fetchmail", "--nosyslog", "-N", "-v", "-f", rc, "--pidfile",
                               os.path.join(home, "pid")], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT, env=e)

    r = run(SECRET)
    log = r.stdout.decode(errors="replace")
    got = [open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))]
    tap.ok(r.returncode == 0 and "APOP alice" in log and len(got) == len(msgs),
           "fetchmail protocol APOP: logged in with APOP, fetched %d of %d" % (len(got),
                                                                          len(msgs)),
           log[-1500:])
    bad = [i + 1 for i, (g, m) in enumerate(zip(got, msgs)) if not same(strip_received(g), m)]
    tap.ok(got and not bad, "fetchmail: every message delivered byte-identical", bad)
    r = run("not-the-secret")
    log = r.stdout.decode(errors="replace")
    tap.ok(r.returncode != 0 and "Authentication failed" in log,
           "fetchmail with a wrong secret: refused (fetchmail status %d)" % r.returncode,
           log[-800:])


def test_mpop(tap, env, d, msgs):
    if not shutil.which("mpop"):
        tap.skip("mpop auth apop", "mpop not installed")
        return
    home = env.path("mpop-home")
    os.makedirs(home, exist_ok=True)
    box = os.path.join(home, "inbox")
    open(box, "wb").close()
    conf = os.path.join(home, "mpoprc")
    with open(conf, "w") as f:
        f.write("defaults\n")
    os.chmod(conf, 0o600)

    def run(secret):
        return subprocess.run(
            ["mpop", "-C", conf, "--host=127.0.0.1", "--port=%d" % d.port, "--auth=apop",
             "--user=alice", "--passwordeval=echo %s" % secret, "--tls=off",
             "--delivery=mbox,%s" % box, "--uidls-file=%s" % os.path.join(home, "uidls"),
             "--received-header=off", "--keep=on", "--only-new=off"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
            env=dict(os.environ, HOME=home))

    r = run(SECRET)
    got = pf.read_mbox(box)
    tap.ok(r.returncode == 0 and len(got) == len(msgs),
           "mpop --auth=apop: fetched %d of %d" % (len(got), len(msgs)),
           r.stdout.decode(errors="replace")[-1500:])
    bad = [i + 1 for i, (g, m) in enumerate(zip(got, msgs)) if not same(g, m)]
    tap.ok(got and not bad, "mpop: every message delivered byte-identical", bad)
    r = run("not-the-secret")
    tap.ok(r.returncode != 0, "mpop with a wrong secret: refused (status %d)" % r.returncode)


def test_timestamps(tap, d):
    stamps = []
    for _ in range(30):
        c = d.connect()
        try:
            g = c.line_str()
            m = pf.GREETING_RE.match(g)
            stamps.append(m.group("timestamp") if m else g)
            c.command("QUIT")
        finally:
            c.close()
    rand = [s[1:17] for s in stamps]
    tap.ok(all(pf.GREETING_RE.match("+OK popper (version 0.1.0) at h starting.  " + s)
               for s in stamps), "30 greetings each carry an APOP timestamp", stamps[:3])
    tap.ok(len(set(stamps)) == 30 and len(set(rand)) == 30,
           "  all different, and so are their 64 random bits", stamps)


# ---- the server and the database file ----------------------------------------

def inetd_try(env, lines):
    """Runs one inetd session: sends lines (str, or a callable taking the
    timestamp) and returns the replies."""
    s = env.start_inetd()
    try:
        s.read_greeting()
        out = []
        for l in lines:
            if callable(l):
                l = l(s.timestamp())
            out.append(s.client.command(l))
        s.client.command("QUIT")
    finally:
        s.finish()
    return out


def apop_line(user, secret):
    # With APOP off the greeting has no timestamp; the digest is then made
    # over a stand-in, and the server must refuse it all the same.
    return lambda ts: "APOP %s %s" % (user, pf.apop_digest(ts or "<none@greeting>", secret))


def greeting_timestamp(env):
    """The timestamp of one inetd session's greeting, or None."""
    s = env.start_inetd()
    try:
        s.read_greeting()
        ts = s.timestamp()
        s.client.command("QUIT")
    finally:
        s.finish()
    return ts


def test_db_file(tap, env):
    db = env.authdb
    ok_lines = inetd_try(env, [apop_line("alice", SECRET)])
    tap.ok(ok_lines[0].startswith("+OK alice"), "APOP works with the database as apopdb made it",
           ok_lines)
    dbdir = os.path.dirname(db)
    cases = [("mode 0640", lambda: os.chmod(db, 0o640), lambda: os.chmod(db, 0o600), "0640"),
             ("mode 0644", lambda: os.chmod(db, 0o644), lambda: os.chmod(db, 0o600), "0644"),
             ("mode 0400", lambda: os.chmod(db, 0o400), lambda: os.chmod(db, 0o600), "0400"),
             ("in a world-writable directory", lambda: os.chmod(dbdir, 0o777),
              lambda: os.chmod(dbdir, 0o700), "writable by group or others"),
             ("in a sticky world-writable directory", lambda: os.chmod(dbdir, 0o1777),
              lambda: os.chmod(dbdir, 0o700), "writable by group or others")]
    if os.geteuid() == 0:
        cases.append(("owned by uid 4321", lambda: os.chown(db, 4321, 4321),
                      lambda: os.chown(db, 0, 0), "owner uid 4321"))
    hard = db + ".hard"
    cases.append(("with two links", lambda: os.link(db, hard), lambda: os.unlink(hard),
                  "several hard links"))
    for what, spoil, mend, needle in cases:
        spoil()
        try:
            tap.ok(greeting_timestamp(env) is None,
                   "a database %s: the greeting offers no APOP timestamp" % what)
            r = inetd_try(env, [apop_line("alice", SECRET), "USER alice", "PASS " + SECRET])
            tap.is_(r, [NOAPOP, "+OK Password required for alice.", PERM],
                    "  APOP is not available, and PASS gets [SYS/PERM]")
            trace = env.trace(4000)
            tap.ok(db in trace and needle in trace and "user database refused" in trace,
                   "  and the log names the file, owner and mode", trace[-600:])
            # The reason is the one rule's, word for word, in apopdb too.
            logged = [l for l in trace.splitlines() if "user database refused" in l]
            reason = logged[-1].split("): ", 1)[-1].strip() if logged else None
            a = env.apopdb(["list"])
            said = a.stderr.decode(errors="replace")
            tap.ok(a.returncode == 3 and reason and ("apopdb: " + reason) in said,
                   "  apopdb list refuses it in the same words", "log: %r\napopdb: %r" % (
                       reason, said))
            env.set("clear-text-password", "default")
            r = inetd_try(env, ["USER alice", "USER nosuchuser"])
            tap.is_(r, [PERM, PERM], "  under the \"default\" policy USER says so at once, for "
                    "any name")
            env.set("clear-text-password", "always")
        finally:
            mend()
    link = os.path.join(dbdir, "link.auth")
    os.symlink(db, link)
    env.set("auth-db", link)
    r = inetd_try(env, [apop_line("alice", SECRET), "USER alice", "PASS " + SECRET])
    tap.is_(r, [NOAPOP, "+OK Password required for alice.", PERM],
            "auth-db naming a symlink to a good database: no APOP, PASS gets [SYS/PERM]")
    tap.ok("symbolic link" in env.trace(2000), "  the log says it is a symlink")
    env.set("auth-db", db)
    if os.geteuid() == 0:
        os.chown(db, pf.MAIL_OWNER_UID, pf.MAIL_OWNER_UID)
        env.set("auth-db-owner", pf.MAIL_OWNER)
        r = inetd_try(env, [apop_line("alice", SECRET)])
        tap.ok(r[0].startswith("+OK alice"), "owned by the auth-db-owner account: accepted", r)
        env.set("auth-db-owner", "root")
        r = inetd_try(env, [apop_line("alice", SECRET), "USER alice", "PASS " + SECRET])
        tap.is_(r, [NOAPOP, "+OK Password required for alice.", PERM],
                "  but not when auth-db-owner names another account")
        del env.settings["auth-db-owner"]
        os.chown(db, 0, 0)
    else:
        tap.skip("database owned by the auth-db-owner account", "needs root to chown")
    r = inetd_try(env, [apop_line("alice", SECRET)])
    tap.ok(r[0].startswith("+OK alice"), "mended: APOP works again", r)


def test_system_entry(tap, env):
    if os.geteuid() != 0 or not pf.find_lib("libnss_wrapper.so"):
        tap.skip("APOP for a system entry", "needs root and nss_wrapper for a fake account")
        return
    env.add_system_user("sam", 2001, password="sam-unix-pw",
                        messages=[pf.make_message("sam-1")])
    r = env.apopdb(["add", "--system", "sam"], input=b"Sam-apop-Secret1\n")
    tap.ok(r.returncode == 0, "apopdb add --system sam (what popauth stores)", r.stderr)
    s = env.start_inetd()
    try:
        s.read_greeting()
        reply = s.client.command("APOP sam %s" % pf.apop_digest(s.timestamp(),
                                                                "Sam-apop-Secret1"))
        tap.ok(reply.startswith("+OK sam has 1 visible message"),
               "APOP with a system entry logs in the system account sam", reply)
        uids = set()
        for pid in [s.proc.pid] + pf.descendants(s.proc.pid):
            st = pf.proc_status(pid)
            if st:
                uids.add(int(st["Uid"].split()[0]))
        tap.ok(2001 in uids and pf.MAIL_OWNER_UID not in uids,
               "  the session runs as sam (uid 2001), not as the mail owner", uids)
        tap.is_(s.client.command("RETR 1").startswith("+OK"), True, "  and reads sam's spool")
        s.client.multiline()
        s.client.command("QUIT")
    finally:
        s.finish()
    r = inetd_try(env, ["USER sam", "PASS Sam-apop-Secret1"])
    tap.is_(r[1], FAIL, "the APOP secret is not sam's password for USER/PASS")
    env.set("clear-text-password", "default")
    r = inetd_try(env, ["USER sam", "PASS sam-unix-pw"])
    tap.is_(r, ["+OK Password required for sam.", FAIL],
            "policy default: USER accepted for sam, who has an APOP secret, and PASS refused "
            "like a wrong password, even the right one")
    s = env.start_inetd()
    try:
        s.read_greeting()
        s.client.sendline("CAPA")
        s.client.line()
        capa = [l.decode() for l in s.client.multiline()]
        tap.ok("USER" in capa, "  CAPA still offers USER (allowed for users without a secret)",
               capa)
    finally:
        s.finish()
    env.apopdb(["passwd", "sam"], input=b"*\n")
    r = inetd_try(env, ["USER sam"]) + inetd_try(env, [apop_line("sam", "Sam-apop-Secret1")])
    tap.is_(r, ["+OK Password required for sam.", FAIL],
            "secret \"*\" (APOP off): USER allowed again, the old APOP secret fails")
    env.set("clear-text-password", "always")


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    why = pf.apop_unavailable()
    if why:
        tap.skip("APOP end to end", why)
        return tap.done()
    for name, fn in (("poplib", test_poplib), ("fetchmail", test_fetchmail),
                     ("mpop", test_mpop)):
        env = pf.PopEnv()
        msgs = messages()
        env.write_mailbox("alice", msgs)
        d = None
        try:
            d = env.start_standalone("127.0.0.1")
            fn(tap, env, d, msgs)
            if name == "poplib":
                test_timestamps(tap, d)
        except (subprocess.TimeoutExpired, OSError, pf.Closed, pf.Timeout) as e:
            tap.ok(False, "%s: ran to the end" % name, "%s: %s" % (type(e).__name__, e))
        finally:
            if d:
                d.stop()
            env.cleanup()

    env = pf.PopEnv()
    try:
        env.write_mailbox("alice", messages())
        test_db_file(tap, env)
        test_system_entry(tap, env)
        env.reset("apop")
        tap.ok(greeting_timestamp(env) is None,
               "set apop = false: the greeting offers no APOP timestamp")
        r = inetd_try(env, [apop_line("alice", SECRET)])
        tap.is_(r, ["-ERR APOP is not available on this server."], "set apop = false: APOP off")
        env.set("clear-text-password", "default")
        r = inetd_try(env, ["USER alice", "PASS " + SECRET])
        tap.ok(r[0] == "+OK Password required for alice." and r[1].startswith("+OK alice"),
               "  and \"default\" no longer refuses USER for users with a secret", r)
    except (subprocess.TimeoutExpired, OSError, pf.Closed, pf.Timeout) as e:
        tap.ok(False, "database tests: ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        env.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
