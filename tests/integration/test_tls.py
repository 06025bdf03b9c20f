#!/usr/bin/env python3
"""test_tls: popper's TLS against real clients, with a throw-away CA made
here by the openssl tool (tests/lib/tlsfixture.py).

  - popper -n: tls-* options, -l, -p 4, and every start-up refusal (no
    certificate, a group-readable key, a key of another pair, old protocol
    names, a cipher list that matches nothing, SSL Plus options); an expired
    certificate starts with a warning.
  - STLS (RFC 2595) on a standalone popper: CAPA before and after, no second
    STLS, login and RETR over TLS, the handshake in the log; the command
    injection class (CVE-2011-0411 / CVE-2021-38084): "STLS\\r\\nCAPA\\r\\n"
    in one write, and CAPA sent in clear text right after STLS, must never
    be answered; garbage instead of a ClientHello, a ClientHello cut short,
    a client that goes silent mid-handshake: closed, no hang.
  - clear-text-password tls: USER refused before TLS, offered and accepted
    after it.
  - implicit TLS (RFC 8314): a standalone popper with alternate-port, and
    inetd mode with -l 2 (and -l 1); a clear-text client gets not a byte.
  - real clients that verify the certificate against the test CA: curl
    (--ssl-reqd pop3:// and pop3s://), mpop (--tls-starttls on/off),
    fetchmail (sslproto/ssl with sslcertck), Python's poplib stls(); each
    must refuse a certificate from another CA and an expired one.
"""
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402
import tlsfixture as tf  # noqa: E402

TIMEOUT = 60
# The idle timeout of the daemons here; the TLS handshake gets no longer.
SHORT_TIMEOUT = 4


def messages():
    return [pf.make_message("tls-1"),
            pf.make_message("tls-2", body=b".\n..\n.dotted\nend\n"),
            pf.make_message("tls-3", size=40000)]


def new_env(pki, mode, cert=None, key=None, msgs=None):
    env = pf.PopEnv()
    env.set("timeout", SHORT_TIMEOUT)
    tf.tls_settings(env, pki, mode, cert, key)
    if env.login:
        env.write_mailbox("alice", msgs if msgs is not None else messages())
    return env


def out_of(r):
    return (r.stdout + r.stderr).decode(errors="replace")


# --------------------------------------------------------------------------
# popper -n: options and start-up checks


def test_config(tap, pki):
    env = pf.PopEnv()
    try:
        tf.tls_settings(env, pki, "stls")
        env.write_config()
        r = env.run_popper(["-n", "-f", env.conf])
        out = out_of(r)
        tap.is_(r.returncode, 0, "popper -n with tls-support stls, a good certificate and key")
        tap.ok(re.search(r"^set tls-support = stls$", out, re.M) and
               re.search(r"^set tls-server-cert-file = \"%s\"$" % re.escape(pki.server_cert),
                         out, re.M), "popper -n prints the TLS settings", out[-1500:])
        for sw, want in ((["-l", "0"], "none"), (["-l", "1"], "stls"), (["-l", "2"], "alternate-port")):
            r = env.run_popper(["-n", "-f", env.conf] + sw)
            tap.ok(r.returncode == 0 and re.search(r"^set tls-support = %s$" % want, out_of(r), re.M),
                   "-l %s is tls-support %s" % (sw[1], want), out_of(r)[-600:])
        r = env.run_popper(["-n", "-f", env.conf, "-l", "3"])
        tap.ok(r.returncode == 2 and "-l" in out_of(r), "-l 3 is refused (exit 2)", out_of(r))
        r = env.run_popper(["-n", "-f", env.conf, "-p", "4"])
        tap.ok(r.returncode == 0 and re.search(r"^set clear-text-password = tls$", out_of(r), re.M),
               "-p 4 is clear-text-password tls", out_of(r)[-600:])

        bad = env.path("etc", "bad.conf")
        os.chmod(pki.server_key, 0o600)
        loose = env.path("etc", "loose.key")
        shutil.copy(pki.server_key, loose)
        os.chmod(loose, 0o640)
        base = ["set tls-server-cert-file = %s" % pki.server_cert,
                "set tls-private-key-file = %s" % pki.server_key]
        cases = [
            (["set tls-support = stls"], "needs tls-server-cert-file",
             "tls-support without a certificate"),
            (["set tls-support = stls", "set tls-server-cert-file = %s" % pki.server_cert,
              "set tls-private-key-file = %s" % loose], "group or others",
             "a group-readable private key"),
            (["set tls-support = stls", "set tls-server-cert-file = %s" % pki.server_cert,
              "set tls-private-key-file = %s" % pki.other_key], "does not match",
             "a private key of another certificate"),
            (["set tls-support = alternate-port", "set tls-server-cert-file = %s" % env.path("nope.crt"),
              "set tls-private-key-file = %s" % pki.server_key], "nope.crt",
             "a missing certificate file"),
            (["set tls-support = stls"] + base + ["set tls-version = SSLv3"], "refused",
             "tls-version SSLv3"),
            (["set tls-support = stls"] + base + ["set tls-version = TLSv1"], "refused",
             "tls-version TLSv1"),
            (["set tls-support = stls"] + base + ["set tls-version = TLSv1.1"], "refused",
             "tls-version TLSv1.1"),
            (["set tls-support = stls"] + base + ["set tls-cipher-list = NO-SUCH-CIPHER"],
             "tls-cipher-list", "a cipher list that matches nothing"),
            (["set tls-support = sometimes"], "none, stls, alternate-port", "tls-support sometimes"),
            (["set tls-identity-file = /etc/mail/certs/identity.crt"], "SSL Plus",
             "tls-identity-file (SSL Plus)"),
            (["set tls-passphrase = x"], "SSL Plus", "tls-passphrase (SSL Plus)"),
        ]
        for lines, want, what in cases:
            with open(bad, "w") as f:
                f.write("\n".join(lines) + "\n")
            r = env.run_popper(["-n", "-f", bad])
            tap.ok(r.returncode == 2 and want in out_of(r), "refused at start-up: %s" % what,
                   "status %s: %r" % (r.returncode, out_of(r)[-500:]))

        for lines, what in ((["set tls-version = TLSv1.2"], "tls-version TLSv1.2"),
                            (["set tls-version = SSLv23"], "tls-version SSLv23 (best available)"),
                            (["set tls-version = all"], "tls-version all"),
                            (["set tls-cipher-list = ECDHE+AESGCM:ECDHE+CHACHA20"], "a cipher list"),
                            (["set tls-workarounds", "set tls-options = 4"],
                             "tls-workarounds and tls-options (no effect)")):
            with open(bad, "w") as f:
                f.write("\n".join(["set tls-support = stls"] + base + lines) + "\n")
            r = env.run_popper(["-n", "-f", bad])
            tap.ok(r.returncode == 0, "accepted: %s" % what, out_of(r)[-500:])
        tap.ok("no effect" in out_of(r), "tls-workarounds/tls-options say they have no effect",
               out_of(r)[-500:])

        with open(bad, "w") as f:
            f.write("set tls-support = alternate-port\nset tls-server-cert-file = %s\n"
                    "set tls-private-key-file = %s\n" % (pki.expired_cert, pki.expired_key))
        r = env.run_popper(["-n", "-f", bad])
        tap.ok(r.returncode == 0 and "expired" in out_of(r),
               "an expired certificate: popper -n warns and goes on", out_of(r)[-500:])
    finally:
        env.cleanup()


# --------------------------------------------------------------------------
# STLS


def assert_never_answered(tap, c, what):
    """After an injection attempt: whatever happens, CAPA must never be
    answered, and the connection must end."""
    got = c.buf
    closed = c.expect_closed(timeout=8)
    got = got + c.buf
    tap.ok(b"Capability" not in got, "%s: the injected CAPA is never answered" % what, got[:300])
    tap.ok(closed, "%s: the connection is closed" % what, got[:300])


def test_stls(tap, pki):
    env = new_env(pki, "stls")
    d = None
    try:
        d = env.start_standalone("127.0.0.1")
        ctx = pki.client_context()

        c = tf.connect(d)
        c.line()
        tap.ok(c.command("CAPA").startswith("+OK"), "CAPA before TLS")
        caps = [l.decode() for l in c.multiline()]
        tap.ok("STLS" in caps and "USER" in caps, "CAPA before TLS lists STLS (and USER)", caps)
        tap.is_(c.command("STLS extra"), "-ERR Too many arguments for the STLS command.",
                "STLS with an argument")
        tap.is_(c.command("STLS"), "+OK Begin TLS negotiation", "STLS: +OK Begin TLS negotiation")
        c.starttls(ctx)
        tap.ok(c.tls_version() in ("TLSv1.3", "TLSv1.2"),
               "handshake verified against the test CA: %s" % c.tls_version())
        c.command("CAPA")
        caps = [l.decode() for l in c.multiline()]
        tap.ok("STLS" not in caps and "USER" in caps, "CAPA after TLS: no STLS, USER", caps)
        tap.is_(c.command("STLS"), "-ERR Command not permitted when TLS active.",
                "a second STLS is refused")
        if env.login:
            tap.ok(c.login("alice", "secret").startswith("+OK alice has 3"), "USER/PASS over TLS")
            r, m = c.retr(3)
            tap.ok(r.startswith("+OK") and pf.normalize_crlf(m) == pf.normalize_crlf(messages()[2]),
                   "RETR of a 40 kB message over TLS is byte-identical")
            tap.is_(c.command("STLS"), "-ERR Command not valid in this state.",
                    "STLS in TRANSACTION")
            tap.ok(c.command("QUIT").startswith("+OK"), "QUIT over TLS")
        else:
            tap.skip("login over STLS", env.no_login_reason)
            c.command("QUIT")
        c.close()
        time.sleep(0.2)
        tap.ok(re.search(r"TLS handshake: client=127\.0\.0\.1 mode=stls protocol=TLSv1\.[23] "
                         r"cipher=\S+ bits=\d+", env.trace(20000)),
               "the handshake is logged: client, protocol, cipher", env.trace())

        c = tf.connect(d)
        c.line()
        tap.is_(c.command("USER alice"), "+OK Password required for alice.", "USER in clear text")
        tap.is_(c.command("STLS"), "-ERR Command not valid in this state.", "STLS after USER")
        c.close()

        # The injection class: STLS and a command in one write.
        c = tf.connect(d)
        c.line()
        c.send(b"STLS\r\nCAPA\r\n")
        first = c.line_str()
        tap.ok(first.startswith("-ERR"), "STLS\\r\\nCAPA\\r\\n in one write: STLS refused", first)
        if first.startswith("+OK"):
            # Not our behaviour, but Nessus' test: after the handshake,
            # nothing may arrive before we send a command.
            c.starttls(ctx)
            c.sock.settimeout(1)
            try:
                extra = c.sock.recv(100)
            except (socket.timeout, ssl.SSLError):
                extra = b""
            c.buf += extra
        assert_never_answered(tap, c, "STLS+CAPA in one write")

        # CAPA in clear text after STLS, not waiting for the handshake.
        c = tf.connect(d)
        c.line()
        c.send(b"STLS\r\n")
        time.sleep(0.3)
        c.send(b"CAPA\r\n")
        assert_never_answered(tap, c, "CAPA in clear text right after STLS")

        # Garbage instead of a ClientHello.
        c = tf.connect(d)
        c.line()
        c.command("STLS")
        t0 = time.monotonic()
        c.send(b"this is not TLS\r\nCAPA\r\n")
        closed = c.expect_closed(timeout=10)
        tap.ok(closed and b"Capability" not in c.buf and time.monotonic() - t0 < 5,
               "garbage instead of a ClientHello: closed at once, nothing in clear text",
               repr(c.buf[:200]))
        # A ClientHello cut short, then silence: the handshake timeout.
        c = tf.connect(d)
        c.line()
        c.command("STLS")
        t0 = time.monotonic()
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc")
        closed = c.expect_closed(timeout=SHORT_TIMEOUT + 8)
        took = time.monotonic() - t0
        tap.ok(closed and took < SHORT_TIMEOUT + 4,
               "a client silent mid-handshake is closed after the timeout (%.1f s)" % took)
        # A client that hangs up mid-handshake: the server carries on.
        c = tf.connect(d)
        c.line()
        c.command("STLS")
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc")
        c.close()
        c = tf.connect(d)
        tap.ok(c.line_str().startswith("+OK popper"),
               "after a client hung up mid-handshake, the next one is served")
        c.close()
        time.sleep(0.3)
        tap.ok("TLS handshake failed: client=127.0.0.1 mode=stls" in env.trace(20000),
               "a failed handshake is logged", env.trace())

        # A client that does not trust our CA.
        c = tf.connect(d)
        c.line()
        c.command("STLS")
        try:
            c.starttls(ssl.create_default_context(cafile=pki.other_ca_cert))
            tap.ok(False, "a client trusting another CA refuses the certificate")
        except ssl.SSLCertVerificationError as e:
            tap.ok(True, "a client trusting another CA refuses the certificate (%s)" % e.reason)
        c.close()

        # poplib's own STLS.
        p = poplib.POP3("127.0.0.1", d.port, timeout=30)
        try:
            tap.ok("STLS" in p.capa(), "poplib: capa() lists STLS")
            p.stls(context=ctx)
            tap.ok("STLS" not in p.capa(), "poplib: after stls() capa() has no STLS")
            if env.login:
                p.user("alice")
                p.pass_("secret")
                tap.is_(p.stat()[0], 3, "poplib over STLS: STAT")
            p.quit()
        except (poplib.error_proto, ssl.SSLError, OSError) as e:
            tap.ok(False, "poplib stls() session", str(e))
    finally:
        if d:
            d.stop()
        env.cleanup()


def test_policy_tls(tap, pki):
    env = new_env(pki, "stls")
    env.set("clear-text-password", "tls")
    d = None
    try:
        d = env.start_standalone("127.0.0.1")
        c = tf.connect(d)
        c.line()
        c.command("CAPA")
        caps = [l.decode() for l in c.multiline()]
        tap.ok("USER" not in caps and "STLS" in caps, "policy tls: CAPA before TLS has no USER", caps)
        tap.is_(c.command("USER alice"),
                "-ERR [AUTH] You must use TLS/SSL or stronger authentication such as APOP to "
                "connect to this server.", "policy tls: USER refused before TLS")
        c.command("STLS")
        c.starttls(pki.client_context())
        c.command("CAPA")
        caps = [l.decode() for l in c.multiline()]
        tap.ok("USER" in caps and "STLS" not in caps, "policy tls: CAPA after TLS offers USER", caps)
        if env.login:
            tap.ok(c.login("alice", "secret").startswith("+OK alice has"),
                   "policy tls: USER/PASS accepted after TLS")
        else:
            tap.skip("policy tls: login after TLS", env.no_login_reason)
        c.command("QUIT")
        c.close()
        policy_tls_sasl(tap, env, d, pki)
    finally:
        if d:
            d.stop()
        env.cleanup()


def sasl_line(c):
    c.command("CAPA")
    return next((l.decode() for l in c.multiline() if l.startswith(b"SASL")), None)


def policy_tls_sasl(tap, env, d, pki):
    """clear-text-password tls applies to SASL PLAIN as to USER/PASS."""
    import base64
    desc = "policy tls: SASL PLAIN only after TLS"
    if "sasl" not in pf.built_with():
        tap.skip(desc, pf.without("sasl"))
        return
    if not env.login:
        tap.skip(desc, env.no_login_reason)
        return
    token = base64.b64encode(b"\0alice\0secret").decode()
    c = tf.connect(d)
    c.line()
    before = sasl_line(c)
    if before is None:
        tap.skip(desc, "this build offers no SASL mechanism")
        c.close()
        return
    tap.ok("PLAIN" not in before.split(), "policy tls: CAPA before TLS offers no SASL PLAIN", before)
    r = c.command("AUTH PLAIN " + token)
    tap.ok(r.startswith("-ERR"), "policy tls: AUTH PLAIN refused before TLS", r)
    c.command("STLS")
    c.starttls(pki.client_context())
    after = sasl_line(c) or ""
    tap.ok("PLAIN" in after.split(), "policy tls: CAPA after TLS offers SASL PLAIN", after)
    r = c.command("AUTH PLAIN " + token)
    tap.ok(r.startswith("+OK alice has"), "policy tls: AUTH PLAIN accepted after TLS", r)
    c.command("QUIT")
    c.close()


# --------------------------------------------------------------------------
# Implicit TLS


def test_implicit(tap, pki):
    env = new_env(pki, "alternate-port")
    d = None
    try:
        d = tf.start_tls_daemon(env)
        c = tf.connect(d)
        c.starttls(pki.client_context())
        g = c.line_str()
        tap.ok(pf.greeting_re().match(g), "alternate-port: the greeting comes after the handshake", g)
        c.command("CAPA")
        caps = [l.decode() for l in c.multiline()]
        tap.ok("STLS" not in caps and "USER" in caps, "alternate-port: CAPA has no STLS", caps)
        tap.is_(c.command("STLS"), "-ERR Command not permitted when TLS active.",
                "alternate-port: STLS refused")
        if env.login:
            tap.ok(c.login("alice", "secret").startswith("+OK alice has 3"), "alternate-port: login")
            r, m = c.retr(2)
            tap.ok(pf.normalize_crlf(m or b"") == pf.normalize_crlf(messages()[1]),
                   "alternate-port: RETR with dot-stuffing")
        c.command("QUIT")
        c.close()

        c = tf.connect(d)
        c.send(b"CAPA\r\n")
        closed = c.expect_closed(timeout=10)
        tap.ok(closed and c.buf == b"", "alternate-port: a clear-text client gets not a byte "
               "and is closed", repr(c.buf[:100]))
        time.sleep(0.2)
        tap.ok(re.search(r"TLS handshake: client=127\.0\.0\.1 mode=implicit", env.trace(20000)) and
               "TLS handshake failed: client=127.0.0.1 mode=implicit" in env.trace(20000),
               "alternate-port: handshakes logged", env.trace())
    finally:
        if d:
            d.stop()
        env.cleanup()


def test_stop_mid_handshake(tap, pki):
    """SIGTERM reaches a session waiting in a handshake: the daemon stops at
    once, not after the handshake timeout (here the default 60 s)."""
    env = new_env(pki, "alternate-port", msgs=[])
    env.set("timeout", 600)
    d = None
    try:
        d = tf.start_tls_daemon(env)
        c = tf.connect(d)
        c.send(b"\x16\x03\x01\x02\x00")   # the start of a ClientHello, then nothing
        time.sleep(0.5)
        t0 = time.monotonic()
        rc, killed = d.stop()
        took = time.monotonic() - t0
        d = None
        tap.ok(rc == 0 and not killed and took < 10,
               "SIGTERM with a session mid-handshake: the daemon ends in %.1f s (status %s)" % (
                   took, rc))
        tap.ok(c.expect_closed(timeout=5), "... and the half-open connection is closed")
        c.close()
    finally:
        if d:
            d.stop()
        env.cleanup()


def test_inetd(tap, pki):
    for mode_arg in ("2", "1"):
        env = new_env(pki, "none")
        s = None
        try:
            s = env.start_inetd(transport="tcp", args=["-l", mode_arg])
            c = tf.TLSPopClient(s.client.sock, s.client.timeout)
            s.client = c
            if mode_arg == "1":
                c.line()
                tap.is_(c.command("STLS"), "+OK Begin TLS negotiation", "inetd -l 1: STLS")
                c.starttls(pki.client_context())
                c.command("NOOP")   # AUTHORIZATION: -ERR, but proves the channel works
            else:
                c.starttls(pki.client_context())
                tap.ok(pf.greeting_re().match(c.line_str()), "inetd -l 2: greeting after the handshake")
            if env.login:
                tap.ok(c.login("alice", "secret").startswith("+OK alice has 3"),
                       "inetd -l %s: login over TLS" % mode_arg)
                tap.ok(c.command("STAT").startswith("+OK 3 "), "inetd -l %s: STAT" % mode_arg)
            tap.ok(c.command("QUIT").startswith("+OK"), "inetd -l %s: QUIT" % mode_arg)
            tap.is_(s.finish(), 0, "inetd -l %s: popper exits 0" % mode_arg)
            s = None
        except (pf.Closed, pf.Timeout, ssl.SSLError, OSError) as e:
            tap.ok(False, "inetd -l %s session" % mode_arg, "%s: %s\n%s" % (
                type(e).__name__, e, env.trace()))
        finally:
            if s:
                s.finish()
            env.cleanup()


# --------------------------------------------------------------------------
# Real clients


def ids_left(env):
    return [pf.test_id_of(m) for m in env.mailbox("alice")]


def curl(args):
    return pf.run(["curl", "-s", "-S", "--max-time", "30"] + args, timeout=TIMEOUT)


def test_curl(tap, pki, daemons):
    if not shutil.which("curl"):
        tap.skip("curl", "curl not installed")
        return
    if pf.apop_unavailable():
        tap.skip("curl", "curl insists on APOP, and " + pf.apop_unavailable())
        return
    msgs = messages()
    for mode, url in (("stls", "pop3://127.0.0.1:%d/"), ("alternate-port", "pop3s://127.0.0.1:%d/")):
        d, env = daemons[mode]
        base = url % d.port
        extra = ["--ssl-reqd"] if mode == "stls" else []
        r = curl(extra + ["--cacert", pki.ca_cert, base, "-u", "alice:secret"])
        listing = r.stdout.decode(errors="replace").replace("\r\n", "\n").strip().split("\n")
        tap.is_(listing, ["%d %d" % (i + 1, pf.msg_size(m)) for i, m in enumerate(msgs)],
                "curl %s: LIST with the certificate verified" % " ".join(extra + [base.split(":")[0]]))
        r = curl(extra + ["--cacert", pki.ca_cert, base + "3", "-u", "alice:secret"])
        tap.ok(r.returncode == 0 and pf.normalize_crlf(r.stdout) == pf.normalize_crlf(msgs[2]),
               "curl %s: RETR 3 byte-identical" % mode, r.stderr.decode(errors="replace"))
        r = curl(extra + ["--cacert", pki.other_ca_cert, base, "-u", "alice:secret"])
        tap.is_(r.returncode, 60, "curl %s: a certificate from an untrusted CA is refused" % mode)
    d, env = daemons["expired"]
    r = curl(["--cacert", pki.ca_cert, "pop3s://127.0.0.1:%d/" % d.port, "-u", "alice:secret"])
    err = r.stderr.decode(errors="replace")
    tap.ok(r.returncode == 60 and "expired" in err.lower(),
           "curl: an expired certificate is refused as expired", "status %s: %s" % (r.returncode, err))


def test_mpop(tap, pki, daemons):
    if not shutil.which("mpop"):
        tap.skip("mpop", "mpop not installed")
        return
    home = tempfile.mkdtemp(prefix="popper-test-mpop-")
    try:
        conf = os.path.join(home, "mpoprc")
        with open(conf, "w") as f:
            f.write("defaults\n")
        os.chmod(conf, 0o600)

        def run(d, starttls, trust, box):
            open(box, "wb").close()
            return subprocess.run(
                ["mpop", "-C", conf, "--host=127.0.0.1", "--port=%d" % d.port, "--auth=user",
                 "--user=alice", "--passwordeval=echo secret", "--tls=on",
                 "--tls-starttls=%s" % ("on" if starttls else "off"), "--tls-trust-file=%s" % trust,
                 "--tls-host-override=localhost",
                 "--delivery=mbox,%s" % box, "--uidls-file=%s" % os.path.join(home, "uidls"),
                 "--received-header=off", "--keep=on", "--only-new=off"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
                env=dict(os.environ, HOME=home))

        box = os.path.join(home, "inbox")
        for mode, starttls in (("stls", True), ("alternate-port", False)):
            d, env = daemons[mode]
            r = run(d, starttls, pki.ca_cert, box)
            got = pf.read_mbox(box)
            tap.ok(r.returncode == 0 and len(got) == 3,
                   "mpop --tls-starttls=%s: fetched %d of 3 messages over verified TLS" % (
                       "on" if starttls else "off", len(got)), r.stdout.decode(errors="replace")[-800:])
            r = run(d, starttls, pki.other_ca_cert, box)
            tap.ok(r.returncode != 0 and not pf.read_mbox(box),
                   "mpop %s: a certificate from an untrusted CA is refused" % mode,
                   r.stdout.decode(errors="replace")[-500:])
        d, env = daemons["expired"]
        r = run(d, False, pki.ca_cert, box)
        out = r.stdout.decode(errors="replace")
        tap.ok(r.returncode != 0 and not pf.read_mbox(box) and "expired" in out.lower(),
               "mpop: an expired certificate is refused as expired", out[-500:])
    finally:
        shutil.rmtree(home, ignore_errors=True)


MDA = r'''import os, sys
d = sys.argv[1]
data = sys.stdin.buffer.read()
with open(os.path.join(d, "%06d" % len(os.listdir(d))), "wb") as f:
    f.write(data)
'''


def test_fetchmail(tap, pki, daemons):
    if not shutil.which("fetchmail"):
        tap.skip("fetchmail", "fetchmail not installed")
        return
    home = tempfile.mkdtemp(prefix="popper-test-fetchmail-")
    try:
        out = os.path.join(home, "out")
        os.makedirs(out)
        mda = os.path.join(home, "mda.py")
        with open(mda, "w") as f:
            f.write(MDA)

        def run(d, tls_lines):
            for n in os.listdir(out):
                os.unlink(os.path.join(out, n))
            rc = os.path.join(home, "fetchmailrc")
            with open(rc, "w") as f:
                f.write('poll 127.0.0.1 protocol pop3 port %d\n'
                        '  user "alice" password "secret" is root here\n'
                        '  mda "%s %s %s"\n  keep fetchall %s\n' % (
                            d.port, sys.executable, mda, out, tls_lines))
            os.chmod(rc, 0o600)
            e = dict(os.environ, HOME=home, FETCHMAILHOME=home)
            r = subprocess.run(["fetchmail", "--nosyslog", "-N", "-f", rc, "--pidfile",
                                os.path.join(home, "pid")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=TIMEOUT, env=e)
            return r, len(os.listdir(out))

        check = 'sslcertck sslcertfile "%s" sslcommonname localhost'
        for mode, lines in (("stls", "sslproto tls1.2+ " + check),
                            ("alternate-port", "ssl " + check)):
            d, env = daemons[mode]
            r, n = run(d, lines % pki.ca_cert)
            log = r.stdout.decode(errors="replace")
            tap.ok(r.returncode == 0 and n == 3,
                   "fetchmail %s: fetched %d of 3 messages with sslcertck" % (lines.split()[0], n),
                   log[-1000:])
            r, n = run(d, lines % pki.other_ca_cert)
            tap.ok(r.returncode != 0 and n == 0,
                   "fetchmail %s: a certificate from an untrusted CA is refused" % mode,
                   r.stdout.decode(errors="replace")[-600:])
        tap.ok("mode=stls" in daemons["stls"][1].trace(50000),
               "fetchmail sslproto tls1.2+ really used STLS (popper's log)")
        d, env = daemons["expired"]
        r, n = run(d, ("ssl " + check) % pki.ca_cert)
        log = r.stdout.decode(errors="replace")
        tap.ok(r.returncode != 0 and n == 0 and "expired" in log.lower(),
               "fetchmail: an expired certificate is refused as expired", log[-600:])
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_clients(tap, pki):
    """curl, mpop and fetchmail against three daemons: STLS, implicit TLS,
    and implicit TLS with the expired certificate."""
    if not tap.can_login("curl over TLS", "mpop over TLS", "fetchmail over TLS"):
        return
    daemons = {}
    envs = []
    try:
        for mode, kind in (("stls", "stls"), ("alternate-port", "alternate-port"),
                           ("expired", "alternate-port")):
            if mode == "expired":
                env = new_env(pki, kind, pki.expired_cert, pki.expired_key)
            else:
                env = new_env(pki, kind)
            envs.append(env)
            d = env.start_standalone("127.0.0.1") if kind == "stls" else tf.start_tls_daemon(env)
            daemons[mode] = (d, env)
        tap.ok("expired" in daemons["expired"][0].stderr() + daemons["expired"][1].trace(),
               "a daemon with an expired certificate warns at start-up",
               daemons["expired"][0].stderr())
        for fn in (test_curl, test_mpop, test_fetchmail):
            try:
                fn(tap, pki, daemons)
            except (subprocess.TimeoutExpired, OSError) as e:
                tap.ok(False, "%s ran to the end" % fn.__name__, "%s: %s" % (type(e).__name__, e))
    finally:
        for d, env in daemons.values():
            d.stop()
        for env in envs:
            env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    why = pf.without("openssl") or tf.openssl_missing()
    if why:
        tap.skip("TLS tests", why)
        return tap.done()
    pki_env = pf.PopEnv(users=())
    try:
        pki = tf.PKI(pki_env.path("pki"))
        for fn in (test_config, test_stls, test_policy_tls, test_implicit,
                   test_stop_mid_handshake, test_inetd, test_clients):
            try:
                fn(tap, pki)
            except (pf.Closed, pf.Timeout, ssl.SSLError, OSError, RuntimeError,
                    subprocess.TimeoutExpired) as e:
                tap.ok(False, "%s ran to the end" % fn.__name__, "%s: %s" % (type(e).__name__, e))
    finally:
        pki_env.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
