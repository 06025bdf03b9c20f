#!/usr/bin/env python3
"""test_sasl: AUTH (RFC 5034) against the real popper and the real Cyrus
SASL plugins.

Hand-built exchanges (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256
written here from RFC 4616, the LOGIN draft, RFC 2195 and RFC 5802, so the
server is checked against the specifications and not against a second
copy of the same library) cover the protocol: initial responses and "=",
"+ " continuations, "*" cancel, malformed base64, an over-long response and
the line limit coming back afterwards, unknown mechanisms, the bare AUTH
listing, the CAPA SASL line, the clear-text policy, authorization
identities and sasl-proxy-users, failure counting and the log line.  Then
real clients: mpop (GNU SASL: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN,
LOGIN) and curl (PLAIN, LOGIN, CRAM-MD5), each with the right password and
a wrong one, and PLAIN for a PAM account (pam_wrapper).

One "apopdb add" is all a user needs for APOP, CRAM-MD5 and SCRAM alike:
every user here was made that way by the fixture.
"""
import base64
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

TIMEOUT = 60
PW = "secret"
FAIL = "-ERR [AUTH] Authentication failed."
NEED_STRONGER = "-ERR [AUTH] You must use stronger authentication such as APOP to connect to this server."


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


class Scram:
    """The client side of SCRAM (RFC 5802) without channel binding."""

    def __init__(self, hashname, user, password, authz=""):
        self.h = hashname
        self.user, self.password, self.authz = user, password, authz
        self.nonce = b64(os.urandom(18))
        self.gs2 = "n,%s," % ("a=" + authz if authz else "")
        self.bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.nonce)
        self.server_sig = None

    def first(self):
        return self.gs2 + self.bare

    def final(self, server_first):
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise ValueError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(self.h, self.password.encode(), unb64(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", self.h).digest()
        stored = hashlib.new(self.h, client_key).digest()
        without_proof = "c=%s,r=%s" % (b64(self.gs2), attrs["r"])
        auth_msg = ",".join((self.bare, server_first, without_proof)).encode()
        sig = hmac.new(stored, auth_msg, self.h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b"Server Key", self.h).digest()
        self.server_sig = hmac.new(server_key, auth_msg, self.h).digest()
        return without_proof + ",p=" + b64(proof)

    def verify(self, server_final):
        return server_final == "v=" + b64(self.server_sig)


def session(env, **kw):
    s = env.start_inetd(**kw)
    s.read_greeting()
    return s, s.client


def capa_sasl(c):
    """The mechanisms of CAPA's SASL line ([] when there is none)."""
    c.sendline("CAPA")
    first = c.line_str()
    lines = [l.decode("latin-1") for l in c.multiline()] if first.startswith("+OK") else []
    for l in lines:
        if l.startswith("SASL "):
            return l.split()[1:], lines
    return [], lines


def cram(c, user, password):
    r = c.command("AUTH CRAM-MD5")
    if not r.startswith("+ "):
        return r
    chal = unb64(r[2:])
    digest = hmac.new(password.encode(), chal, hashlib.md5).hexdigest()
    return c.command(b64("%s %s" % (user, digest)))


def scram(c, mech, user, password, authz="", initial=True):
    """Returns (final reply, client's verdict on the server's signature)."""
    h = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
    cl = Scram(h, user, password, authz)
    if initial:
        r = c.command("AUTH %s %s" % (mech, b64(cl.first())))
    else:
        r = c.command("AUTH " + mech)
        if r != "+ ":
            return r, None
        r = c.command(b64(cl.first()))
    if not r.startswith("+ "):
        return r, None
    r = c.command(b64(cl.final(unb64(r[2:]).decode())))
    if not r.startswith("+ "):
        return r, None
    verdict = cl.verify(unb64(r[2:]).decode())
    return c.command(""), verdict


def plain(c, user, password, authz="", initial=True):
    resp = b64("%s\0%s\0%s" % (authz, user, password))
    if initial:
        return c.command("AUTH PLAIN " + resp)
    r = c.command("AUTH PLAIN")
    if r != "+ ":
        return r
    return c.command(resp)


def login(c, user, password):
    r = c.command("AUTH LOGIN")
    if not r.startswith("+ "):
        return r
    r = c.command(b64(user))
    if not r.startswith("+ "):
        return r
    return c.command(b64(password))


def logged_in(r, user="alice"):
    return r.startswith("+OK %s has " % user)


# --------------------------------------------------------------------------


def test_capa_and_list(tap, env, offered):
    s, c = session(env)
    mechs, lines = capa_sasl(c)
    tap.is_(lines[:2], ["TOP", "SASL " + " ".join(mechs)], "CAPA: SASL comes right after TOP")
    tap.ok(all(m in mechs for m in ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN")),
           "CAPA announces SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN", mechs)
    tap.ok("ANONYMOUS" not in mechs, "ANONYMOUS is never announced")
    r = c.command("AUTH")
    body = [l.decode() for l in c.multiline()] if r.startswith("+OK") else None
    tap.is_((r, body), ("+OK Supported SASL mechanisms:", mechs),
            "a bare AUTH lists the same mechanisms, one per line (Outlook's probe)")
    r = c.command("AUTH X-NOT-A-MECH")
    tap.is_(r, "-ERR Unsupported authentication mechanism.", "an unknown mechanism is refused")
    tap.is_(c.command("AUTH PLAIN a b"), "-ERR Too many arguments for the AUTH command.",
            "AUTH takes at most a mechanism and an initial response")
    c.command("QUIT")
    s.finish()


def test_mechanisms(tap, env):
    s, c = session(env)
    r = plain(c, "alice", PW)
    tap.ok(logged_in(r), "PLAIN with an initial response logs alice in", r)
    c.command("QUIT")
    s.finish()

    s, c = session(env)
    r = plain(c, "alice", PW, initial=False)
    tap.ok(logged_in(r), "PLAIN without an initial response: '+ ' then the response", r)
    c.command("QUIT")
    s.finish()

    s, c = session(env)
    tap.is_(plain(c, "alice", "wrong"), FAIL, "PLAIN with a wrong password fails")
    tap.is_(plain(c, "nosuchuser", "wrong"), FAIL, "PLAIN for an unknown user: the same reply")
    c.command("QUIT")
    s.finish()
    trace = env.trace(6000)
    tap.ok(re.search(r'authentication failed: client=local method=AUTH-PLAIN user="alice" '
                     r'reason=rejected detail="wrong password"', trace),
           "a failed AUTH logs the PASS failure line (method=AUTH-PLAIN)", trace[-800:])

    s, c = session(env)
    r = login(c, "alice", PW)
    tap.ok(logged_in(r), "LOGIN logs alice in", r)
    c.command("QUIT")
    s.finish()
    s, c = session(env)
    tap.is_(login(c, "alice", "wrong"), FAIL, "LOGIN with a wrong password fails")
    c.command("QUIT")
    s.finish()

    s, c = session(env)
    r = cram(c, "alice", PW)
    tap.ok(logged_in(r), "CRAM-MD5 logs alice in with her APOP secret", r)
    c.command("QUIT")
    s.finish()
    s, c = session(env)
    tap.is_(cram(c, "alice", "wrong"), FAIL, "CRAM-MD5 with a wrong secret fails")
    tap.is_(cram(c, "nosuchuser", "wrong"), FAIL, "CRAM-MD5 for an unknown user: the same reply")
    c.command("QUIT")
    s.finish()

    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
        for initial in (True, False):
            s, c = session(env)
            r, verdict = scram(c, mech, "alice", PW, initial=initial)
            tap.ok(logged_in(r) and verdict,
                   "%s%s logs alice in, and the server proves it knows her secret" % (
                       mech, "" if initial else " (no initial response)"), (r, verdict))
            c.command("QUIT")
            s.finish()
        s, c = session(env)
        r, verdict = scram(c, mech, "alice", "wrong")
        tap.is_(r, FAIL, "%s with a wrong password fails" % mech)
        # An unknown user gets a salt and an iteration count like anyone
        # (a random secret stands in), and fails at the proof, not before.
        cl = Scram("sha1" if mech == "SCRAM-SHA-1" else "sha256", "nosuchuser", "x")
        r = c.command("AUTH %s %s" % (mech, b64(cl.first())))
        tap.ok(r.startswith("+ ") and "s=" in unb64(r[2:]).decode(),
               "%s: an unknown user gets a server-first message too (no enumeration)" % mech, r)
        r = c.command(b64(cl.final(unb64(r[2:]).decode()))) if r.startswith("+ ") else r
        tap.is_(r, FAIL, "%s: ... and fails at the proof like a wrong password" % mech)
        c.command("QUIT")
        s.finish()


def test_protocol_edges(tap, env):
    s, c = session(env)
    r = c.command("AUTH PLAIN =")
    tap.is_(r, FAIL, "AUTH PLAIN = (an empty initial response) is a failed login")
    tap.is_(c.command("AUTH PLAIN !!!!"), FAIL, "malformed base64 in the initial response fails")
    r = c.command("QUIT")
    s.finish()

    s, c = session(env)
    r = c.command("AUTH CRAM-MD5")
    tap.ok(r.startswith("+ "), "CRAM-MD5 starts with a challenge", r)
    tap.is_(c.command("*"), "-ERR Authentication cancelled.", "'*' cancels the exchange with -ERR")
    tap.is_(c.command("USER alice"), "+OK Password required for alice.",
            "after a cancel the session goes on (USER)")
    c.command("QUIT")
    s.finish()

    s, c = session(env)
    r = c.command("AUTH CRAM-MD5")
    tap.is_(c.command("not base64!"), FAIL, "a malformed base64 response fails the login")
    r = c.command("AUTH PLAIN")
    tap.is_(c.command("AGFsaWNlAHNlY3JldA"), FAIL, "base64 without its padding is malformed too")
    tap.is_(c.command("AUTH PLAIN " + b64("\0alice\0wrong")), FAIL, "a third failure...")
    tap.ok(c.expect_closed(5), "... closes the connection (max-auth-failures 3)")
    s.finish()

    s, c = session(env)
    r = c.command("AUTH PLAIN")
    c.sendline("A" * 40000)
    r = c.line_str()
    tap.is_(r, FAIL, "a 40000-octet response (over the 32 KiB AUTH limit) fails")
    c.sendline("NOOP " + "x" * 600)
    tap.is_(c.line_str(), "-ERR Command line too long.",
            "after AUTH the 512-octet command limit is back")
    r = c.command("AUTH PLAIN")
    tap.ok(logged_in(c.command(b64("\0alice\0" + PW))), "a normal exchange works again afterwards")
    c.command("QUIT")
    s.finish()

    s, c = session(env)
    r = c.command("AUTH PLAIN")
    c.sendline("A" * 20000)   # within the limit, but not a valid PLAIN message
    tap.is_(c.line_str(), FAIL, "a long (20000-octet) response is read whole and judged")
    c.command("QUIT")
    s.finish()

    # Pipelined: AUTH with its response in one write.
    s, c = session(env)
    c.send("AUTH PLAIN\r\n%s\r\nSTAT\r\n" % b64("\0alice\0" + PW))
    tap.is_(c.line_str(), "+ ", "pipelined AUTH: the continuation")
    tap.ok(logged_in(c.line_str()), "pipelined AUTH: the response is read as the response")
    tap.ok(c.line_str().startswith("+OK "), "pipelined AUTH: STAT then runs in TRANSACTION")
    c.command("QUIT")
    s.finish()

    s, c = session(env)
    c.command("USER alice")
    tap.is_(c.command("AUTH PLAIN"), "-ERR Command not valid in this state.",
            "AUTH after USER is out of place")
    c.command("QUIT")
    s.finish()


def test_policy(tap, env):
    env.set("clear-text-password", "never")
    s, c = session(env)
    mechs, _ = capa_sasl(c)
    tap.ok("PLAIN" not in mechs and "LOGIN" not in mechs and "CRAM-MD5" in mechs,
           "clear-text-password never: PLAIN and LOGIN are not announced", mechs)
    tap.is_(c.command("AUTH PLAIN " + b64("\0alice\0" + PW)), NEED_STRONGER,
            "clear-text-password never: AUTH PLAIN is refused like USER")
    tap.is_(c.command("AUTH LOGIN"), NEED_STRONGER, "... and AUTH LOGIN")
    r = cram(c, "alice", PW)
    tap.ok(logged_in(r), "clear-text-password never: CRAM-MD5 still logs in", r)
    c.command("QUIT")
    s.finish()

    env.set("clear-text-password", "default")
    s, c = session(env)
    mechs, _ = capa_sasl(c)
    tap.ok("PLAIN" in mechs, "policy default: PLAIN is announced (the refusal depends on the user)")
    tap.is_(plain(c, "alice", PW), FAIL,
            "policy default: PLAIN is refused for alice, who has a stored secret (as USER is)")
    r, ok = scram(c, "SCRAM-SHA-256", "alice", PW)
    tap.ok(logged_in(r), "policy default: SCRAM-SHA-256 logs her in", r)
    c.command("QUIT")
    s.finish()

    env.set("clear-text-password", "local")
    s, c = session(env, transport="tcp")
    mechs, _ = capa_sasl(c)
    tap.ok("PLAIN" in mechs, "clear-text-password local from 127.0.0.1: PLAIN announced", mechs)
    tap.ok(logged_in(plain(c, "alice", PW)), "... and it works")
    c.command("QUIT")
    s.finish()
    env.set("clear-text-password", "always")

    env.set("sasl-mechanisms", "CRAM-MD5")
    s, c = session(env)
    mechs, _ = capa_sasl(c)
    tap.is_(mechs, ["CRAM-MD5"], "sasl-mechanisms = CRAM-MD5: only that one is announced")
    tap.is_(c.command("AUTH PLAIN " + b64("\0alice\0" + PW)),
            "-ERR Unsupported authentication mechanism.", "... and PLAIN is refused")
    c.command("QUIT")
    s.finish()

    env.set("sasl-mechanisms", '""')
    s, c = session(env)
    mechs, lines = capa_sasl(c)
    tap.ok(mechs == [] and not any(l.startswith("SASL") for l in lines),
           "sasl-mechanisms = \"\": no SASL line at all", lines)
    c.command("QUIT")
    s.finish()
    del env.settings["sasl-mechanisms"]


def test_authz(tap, env):
    env.add_user("bob", "bob-pw", messages=[pf.make_message("b1")])
    env.add_user("helpdesk", "hd-pw")
    s, c = session(env)
    tap.is_(plain(c, "alice", PW, authz="bob"), FAIL,
            "PLAIN: alice may not act for bob (authorization identity)")
    r, _ = scram(c, "SCRAM-SHA-256", "alice", PW, authz="bob")
    tap.is_(r, FAIL, "SCRAM: alice may not act for bob either")
    c.command("QUIT")
    s.finish()
    env.set("sasl-proxy-users", "helpdesk")
    s, c = session(env)
    r = plain(c, "helpdesk", "hd-pw", authz="bob")
    tap.ok(logged_in(r, "bob"), "sasl-proxy-users = helpdesk: helpdesk may log in as bob", r)
    c.command("QUIT")
    s.finish()
    tap.ok("SASL proxy login: helpdesk acts for bob" in env.trace(4000),
           "a proxy login is logged", env.trace(1500))
    del env.settings["sasl-proxy-users"]


def test_pam_plain(tap):
    if pf.wrappers_missing() or pf.without("pam"):
        tap.skip("PLAIN for a PAM account", pf.wrappers_missing() or pf.without("pam"))
        return
    if not pf.is_root():
        tap.skip("PLAIN for a PAM account", "needs root (the session changes uid)")
        return
    env = pf.PopEnv(pam=True)
    try:
        env.add_system_user("carol", pf.PAM_UID_BASE + 7, password="carol-pw",
                            messages=[pf.make_message("c1")])
        s, c = session(env)
        r = plain(c, "carol", "carol-pw")
        tap.ok(logged_in(r, "carol"), "PLAIN for a system account checked by PAM", r)
        c.command("QUIT")
        s.finish()
        s, c = session(env)
        tap.is_(plain(c, "carol", "wrong"), FAIL, "PLAIN with a wrong PAM password fails")
        tap.is_(login(c, "carol", "carol-pw")[:14], "+OK carol has ", "LOGIN through PAM too")
        c.command("QUIT")
        s.finish()
    finally:
        env.cleanup()


def run_mpop(env, d, mech, password):
    home = env.path("mpop-" + mech)
    os.makedirs(home, exist_ok=True)
    conf = os.path.join(home, "mpoprc")
    with open(conf, "w") as f:
        f.write("defaults\n")
    os.chmod(conf, 0o600)
    return subprocess.run(
        ["mpop", "-C", conf, "--host=127.0.0.1", "--port=%d" % d.port, "--auth=" + mech,
         "--user=alice", "--passwordeval=echo %s" % password, "--tls=off", "--status-only",
         "--delivery=mbox,/dev/null"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
        env=dict(os.environ, HOME=home))


def test_clients(tap, env):
    env.write_mailbox("alice", [pf.make_message("r1"), pf.make_message("r2")])
    d = env.start_standalone()
    try:
        if shutil.which("mpop"):
            for mech in ("scram-sha-256", "scram-sha-1", "cram-md5", "plain", "login"):
                r = run_mpop(env, d, mech, PW)
                out = r.stdout.decode(errors="replace")
                tap.ok(r.returncode == 0 and "2 messages" in out,
                       "mpop --auth=%s logs in" % mech, out[-600:])
                r = run_mpop(env, d, mech, "wrong")
                tap.ok(r.returncode != 0, "mpop --auth=%s with a wrong password fails (status %d)"
                       % (mech, r.returncode))
        else:
            tap.skip("mpop (GNU SASL client)", "mpop not installed")
        if shutil.which("curl"):
            base = "pop3://127.0.0.1:%d/" % d.port
            for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
                r = pf.run(["curl", "-s", "-S", "--max-time", "30", base, "-u", "alice:" + PW,
                            "--login-options", "AUTH=" + mech], timeout=TIMEOUT)
                listing = r.stdout.decode(errors="replace").split()
                tap.ok(r.returncode == 0 and len(listing) == 4,
                       "curl --login-options AUTH=%s lists the mailbox" % mech,
                       r.stderr.decode(errors="replace"))
                r = pf.run(["curl", "-s", "-S", "--max-time", "30", base, "-u", "alice:wrong",
                            "--login-options", "AUTH=" + mech], timeout=TIMEOUT)
                tap.ok(r.returncode != 0, "curl AUTH=%s with a wrong password fails" % mech)
        else:
            tap.skip("curl", "curl not installed")
    finally:
        d.stop()
    trace = env.trace(20000)
    tap.ok(re.search(r"login: user=alice client=127\.0\.0\.1 method=AUTH-SCRAM-SHA-256 ", trace)
           or not shutil.which("mpop"),
           "the login record names the mechanism (method=AUTH-SCRAM-SHA-256)", trace[-1500:])


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    why = pf.without("sasl")
    if why:
        tap.skip("SASL (AUTH)", why)
        return tap.done()
    if not tap.can_login("SASL logins"):
        return tap.done()
    if pf.without("gdbm"):
        tap.skip("SASL with the user database", pf.without("gdbm") + ": no stored secrets")
        test_pam_plain(tap)
        return tap.done()
    env = pf.PopEnv()
    try:
        s, c = session(env)
        offered, _ = capa_sasl(c)
        c.command("QUIT")
        s.finish()
        if "PLAIN" not in offered or "CRAM-MD5" not in offered:
            why = ("the libsasl2 plugins are not installed (libsasl2-modules): CAPA offers %r"
                   % offered)
            if os.environ.get("CI") == "true":
                tap.ok(False, "CI: the SASL plugins must be installed", why)
            else:
                tap.skip("SASL exchanges", why)
            return tap.done()
        test_capa_and_list(tap, env, offered)
        test_mechanisms(tap, env)
        test_protocol_edges(tap, env)
        test_policy(tap, env)
        test_authz(tap, env)
        test_clients(tap, env)
    finally:
        env.cleanup()
    test_pam_plain(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
