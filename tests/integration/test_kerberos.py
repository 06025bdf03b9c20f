#!/usr/bin/env python3
"""test_kerberos: GSSAPI (AUTH GSSAPI through Cyrus SASL) and KPOP (-k, the
krb5_recvauth handshake at connection start) against a real MIT KDC.

The test makes a throw-away realm, POPPER.TEST, under a temporary
directory: krb5.conf and kdc.conf there (KRB5_CONFIG, KRB5_KDC_PROFILE), a
database made with kdb5_util, principals and keytabs made with
kadmin.local, krb5kdc listening on a free 127.0.0.1 port, tickets got with
kinit (password on stdin) into a credential cache in the same directory
(KRB5CCNAME).  A second realm, OTHER.TEST, served by the same KDC and
trusted by POPPER.TEST, supplies a foreign principal.  The KDC is stopped
by its PID at the end; nothing outside the directory is touched.

Real clients log in: curl (--login-options AUTH=GSSAPI), fetchmail
("auth gssapi", and "auth kerberos_v5" for KPOP, which fetchmail only
speaks to the kpop service (1109): fetchmail's "plugin" hands it a
popper started in inetd mode, as an inetd line for 1109 would).  Failure
paths: no ticket, a ticket for another service, a keytab without our key,
kerberos-service and -K, a principal of a foreign realm (refused, then
allowed by an auth_to_local rule), an expired ticket, a principal whose
local user is not the one named.

When the KDC cannot be started (no krb5-kdc, krb5-admin-server, krb5-user)
every test says "skipped: <reason>" -- except in CI (CI=true), which
installs them (.ci/run) and where that is a failure.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

REALM = "POPPER.TEST"
OTHER = "OTHER.TEST"
TIMEOUT = 60
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
ALICE_PW = "alice-kerberos-pw"
BOB_PW = "bob-kerberos-pw"


def find_tool(name):
    p = shutil.which(name)
    if p:
        return p
    for d in SBIN:
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


class KDC:
    """A throw-away MIT KDC for two realms on 127.0.0.1."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="popper-krb-")
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.port = pf.free_port()
        self.conf = os.path.join(self.dir, "krb5.conf")
        self.kdcconf = os.path.join(self.dir, "kdc.conf")
        self.ccache = os.path.join(self.dir, "ccache")
        self.log = os.path.join(self.dir, "kdc.log")
        self.auth_to_local = []

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def env(self, **extra):
        e = dict(os.environ, KRB5_CONFIG=self.conf, KRB5_KDC_PROFILE=self.kdcconf,
                 KRB5CCNAME="FILE:" + self.ccache)
        e.pop("KRB5_KTNAME", None)
        e.pop("KRB5_CLIENT_KTNAME", None)
        e.update(extra)
        return e

    def write_krb5_conf(self, clockskew=300):
        rules = "".join("    auth_to_local = %s\n" % r for r in self.auth_to_local)
        with open(self.conf, "w") as f:
            f.write(
                "[libdefaults]\n"
                "  default_realm = %(r)s\n"
                "  dns_lookup_kdc = false\n"
                "  dns_lookup_realm = false\n"
                "  dns_canonicalize_hostname = false\n"
                "  rdns = false\n"
                "  udp_preference_limit = 1\n"
                "  ignore_acceptor_hostname = true\n"
                "  clockskew = %(skew)d\n"
                "  default_ccache_name = FILE:%(cc)s\n"
                "[realms]\n"
                "  %(r)s = {\n    kdc = 127.0.0.1:%(p)d\n%(rules)s  }\n"
                "  %(o)s = {\n    kdc = 127.0.0.1:%(p)d\n  }\n"
                "[domain_realm]\n"
                "  localhost = %(r)s\n"
                "  .localhost = %(r)s\n"
                "[capaths]\n"
                "  %(o)s = {\n    %(r)s = .\n  }\n"
                "  %(r)s = {\n    %(o)s = .\n  }\n"
                % {"r": REALM, "o": OTHER, "p": self.port, "cc": self.ccache, "rules": rules,
                   "skew": clockskew})

    def write_kdc_conf(self):
        realm = ("  %(r)s = {\n"
                 "    database_name = %(d)s/principal-%(r)s\n"
                 "    key_stash_file = %(d)s/stash-%(r)s\n"
                 "    acl_file = %(d)s/kadm5.acl\n"
                 "    max_life = 1h\n"
                 "    supported_enctypes = aes256-cts-hmac-sha1-96:normal "
                 "aes128-cts-hmac-sha1-96:normal\n"
                 "  }\n")
        with open(self.kdcconf, "w") as f:
            f.write("[kdcdefaults]\n  kdc_ports = %d\n  kdc_tcp_listen = 127.0.0.1:%d\n"
                    "  kdc_listen = 127.0.0.1:%d\n" % (self.port, self.port, self.port))
            f.write("[realms]\n")
            for r in (REALM, OTHER):
                f.write(realm % {"r": r, "d": self.dir})
            f.write("[logging]\n  kdc = FILE:%s\n" % self.log)
        with open(self.path("kadm5.acl"), "w") as f:
            f.write("")

    def run(self, argv, input=None, env=None, timeout=TIMEOUT):
        return subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, env=env or self.env(), stdin=None if input else
                              subprocess.DEVNULL)

    def kadmin(self, realm, query):
        r = self.run([find_tool("kadmin.local"), "-r", realm, "-q", query])
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0 or "error" in out.lower() and "WARNING" not in out:
            raise RuntimeError("kadmin.local %s: %s" % (query, out))
        return out

    def start(self):
        """Returns None, or the reason the KDC cannot run here."""
        tools = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist", "kvno")
        missing = [t for t in tools if not find_tool(t)]
        if missing:
            return "%s not installed (packages krb5-kdc, krb5-admin-server, krb5-user)" % (
                ", ".join(missing))
        self.write_krb5_conf()
        self.write_kdc_conf()
        for r in (REALM, OTHER):
            res = self.run([find_tool("kdb5_util"), "-r", r, "create", "-s", "-P",
                            "master-%s" % r])
            if res.returncode != 0:
                return "kdb5_util create failed: %s" % res.stdout.decode(errors="replace")[-300:]
        try:
            self.kadmin(REALM, "addprinc -pw %s alice" % ALICE_PW)
            self.kadmin(REALM, "addprinc -pw %s carol" % ALICE_PW)
            self.kadmin(REALM, "addprinc -pw %s alice/admin" % ALICE_PW)
            self.kadmin(OTHER, "addprinc -pw %s bob" % BOB_PW)
            for svc in ("pop/localhost", "imap/localhost", "pop3/localhost"):
                self.kadmin(REALM, "addprinc -randkey %s" % svc)
            # Cross-realm trust, both ways: the same key in both databases.
            for r in (REALM, OTHER):
                self.kadmin(r, "addprinc -pw cross-realm-pw krbtgt/%s@%s" % (REALM, OTHER))
                self.kadmin(r, "addprinc -pw cross-realm-pw krbtgt/%s@%s" % (OTHER, REALM))
            self.kadmin(REALM, "ktadd -k %s pop/localhost" % self.path("pop.keytab"))
            self.kadmin(REALM, "ktadd -k %s imap/localhost" % self.path("imap.keytab"))
            self.kadmin(REALM, "ktadd -k %s pop3/localhost" % self.path("pop3.keytab"))
            # A keytab shared by two services: imap tickets must still not
            # get into pop.
            self.kadmin(REALM, "ktadd -k %s -norandkey pop/localhost" % self.path("shared.keytab"))
            self.kadmin(REALM, "ktadd -k %s -norandkey imap/localhost" % self.path("shared.keytab"))
        except RuntimeError as e:
            return str(e)[-400:]
        with open(self.path("kdc.stderr"), "wb") as err:
            self.proc = subprocess.Popen([find_tool("krb5kdc"), "-n", "-r", REALM, "-r", OTHER],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         env=self.env(), start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with open(self.path("kdc.stderr"), "rb") as f:
                    return "krb5kdc exited with %s: %s" % (self.proc.returncode,
                                                         f.read().decode(errors="replace")[-300:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return None
            except OSError:
                time.sleep(0.1)
        return "krb5kdc did not listen on 127.0.0.1:%d" % self.port

    def kinit(self, principal, password, lifetime=None, ccache=None):
        argv = [find_tool("kinit")]
        if lifetime:
            argv += ["-l", lifetime]
        argv.append(principal)
        env = self.env(**({"KRB5CCNAME": "FILE:" + ccache} if ccache else {}))
        return self.run(argv, input=(password + "\n").encode(), env=env)

    def kvno(self, service, ccache=None):
        env = self.env(**({"KRB5CCNAME": "FILE:" + ccache} if ccache else {}))
        return self.run([find_tool("kvno"), service], env=env)

    def kdestroy(self):
        kd = find_tool("kdestroy")
        if kd:
            self.run([kd])

    def stop(self):
        if self.proc is not None:
            pf.stop_process(self.proc)
            self.proc = None

    def cleanup(self):
        self.stop()
        if os.environ.get("POPPER_TEST_KEEP") == "1":
            sys.stderr.write("keeping %s\n" % self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Clients


def curl_gssapi(kdc, d, service=None, ccache=None, user="", authzid=None):
    argv = ["curl", "-s", "-S", "--max-time", "30",
            "--resolve", "localhost:%d:127.0.0.1" % d.port,
            "pop3://localhost:%d/" % d.port, "-u", user + ":",
            "--login-options", "AUTH=GSSAPI"]
    if service:
        argv += ["--service-name", service]
    if authzid:
        argv += ["--sasl-authzid", authzid]
    env = kdc.env(**({"KRB5CCNAME": "FILE:" + ccache} if ccache else {}))
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                          env=env, stdin=subprocess.DEVNULL)


def wrapper_script(env, kdc, name, args=()):
    """A script that starts popper in inetd mode on its stdin/stdout with
    the fixture's environment: what inetd would run for the kpop port."""
    env.write_config()
    penv = env.process_env()
    keep = ("LD_PRELOAD", "NSS_WRAPPER_PASSWD", "NSS_WRAPPER_GROUP", "PAM_WRAPPER",
            "PAM_WRAPPER_SERVICE_DIR")
    lines = ["#!/bin/sh", "exec env -i PATH=/usr/bin:/bin KRB5_CONFIG=%s \\" % kdc.conf]
    for k in keep:
        if penv.get(k):
            lines.append("  %s='%s' \\" % (k, penv[k]))
    lines.append("  %s %s" % (" ".join(env.popper_argv()), " ".join(args)))
    path = env.path(name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return path


def fetchmail(env, kdc, auth, plugin, service="kpop", user="alice", ccache=None):
    """fetchmail polling through plugin (a popper on stdin/stdout); returns
    (status, output, messages delivered)."""
    env.write_config()
    home = env.path("fetchmail-" + auth)
    os.makedirs(home, exist_ok=True)
    out = env.path("fetched-" + auth)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    mda = env.path("mda.py")
    with open(mda, "w") as f:
        f.write("import os, sys\nd = sys.argv[1]\ndata = sys.stdin.buffer.read()\n"
                "open(os.path.join(d, '%06d' % len(os.listdir(d))), 'wb').write(data)\n")
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('poll localhost protocol pop3 service "%s" auth %s\n'
                '  plugin "%s"\n'
                '  user "%s" is root here\n'
                '  mda "%s %s %s"\n  keep fetchall sslproto "" no sslcertck\n' % (
                    service, auth, plugin, user, sys.executable, mda, out))
    os.chmod(rc, 0o600)
    e = kdc.env(HOME=home, **({"KRB5CCNAME": "FILE:" + ccache} if ccache else {}))
    r = subprocess.run(["fetchmail", "-f", rc, "-v", "--nosyslog", "-d0", "--pidfile",
                        os.path.join(home, "pid")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT, env=e,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(errors="replace"), len(os.listdir(out))


# --------------------------------------------------------------------------


def listing_ok(r, n):
    return r.returncode == 0 and len(r.stdout.decode(errors="replace").split()) == 2 * n


def test_gssapi(tap, kdc, env):
    env.set("kerberos-keytab", kdc.path("pop.keytab"))
    env.write_mailbox("alice", [pf.make_message("k1"), pf.make_message("k2")])
    d = env.start_standalone()
    try:
        c = d.connect()
        c.line()
        c.sendline("CAPA")
        c.line()
        capa = [l.decode() for l in c.multiline()]
        c.command("QUIT")
        c.close()
        sasl = next((l.split()[1:] for l in capa if l.startswith("SASL ")), [])
        if "GSSAPI" not in sasl:
            why = "CAPA offers no GSSAPI (libsasl2-modules-gssapi-mit not installed?): %r" % sasl
            if os.environ.get("CI") == "true":
                tap.ok(False, "CI: GSSAPI must be offered", why)
            else:
                tap.skip("GSSAPI", why)
            return False
        tap.ok(True, "CAPA offers GSSAPI with a keytab that has keys: %s" % " ".join(sasl))

        kdc.kdestroy()
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode != 0, "curl AUTH=GSSAPI without a ticket fails (status %d)"
               % r.returncode)
        r = kdc.kinit("alice", ALICE_PW)
        tap.ok(r.returncode == 0, "kinit alice (password on stdin)", r.stdout.decode(errors="replace"))
        r = curl_gssapi(kdc, d)
        tap.ok(listing_ok(r, 2), "curl --login-options AUTH=GSSAPI logs alice in and lists 2 messages",
               (r.stdout + r.stderr).decode(errors="replace")[-800:])
        trace = env.trace(20000)
        tap.ok(re.search(r"login: user=alice client=127\.0\.0\.1 method=AUTH-GSSAPI ", trace),
               "the login record says method=AUTH-GSSAPI", trace[-1200:])
        # curl chooses GSSAPI for a named user only with a realm in it.
        r = curl_gssapi(kdc, d, user="alice@" + REALM)
        tap.ok(listing_ok(r, 2), "curl -u alice@%s: logs in (the ticket decides)" % REALM,
               r.stderr.decode(errors="replace"))
        r = curl_gssapi(kdc, d, authzid="alice")
        tap.ok(listing_ok(r, 2), "authorization identity alice (--sasl-authzid): logs in",
               r.stderr.decode(errors="replace"))
        r = curl_gssapi(kdc, d, authzid="alice@" + REALM)
        tap.ok(listing_ok(r, 2), "authorization identity alice@%s (her own principal): logs in"
               % REALM, r.stderr.decode(errors="replace"))
        r = curl_gssapi(kdc, d, authzid="bob")
        tap.ok(r.returncode != 0, "alice's principal may not act for bob (krb5_kuserok)")
        tap.ok(re.search(r'method=AUTH-GSSAPI user="alice" .*krb5_kuserok', env.trace(20000)),
               "... logged with the reason", env.trace(1500))
        r = curl_gssapi(kdc, d, service="imap")
        tap.ok(r.returncode != 0, "a ticket for imap/localhost is refused (status %d)" % r.returncode)

        if shutil.which("fetchmail"):
            plugin = wrapper_script(env, kdc, "popper-gssapi.sh")
            st, out, n = fetchmail(env, kdc, "gssapi", plugin, service="110")
            tap.ok(st == 0 and n == 2, "fetchmail auth gssapi fetches alice's 2 messages", out[-1500:])
        else:
            tap.skip("fetchmail auth gssapi", "fetchmail not installed")

        r = kdc.kinit("alice/admin", ALICE_PW)
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode != 0, "alice/admin (a principal with an instance) has no local user")
        tap.ok(re.search(r'method=AUTH-GSSAPI user="alice/admin" .*no local user', env.trace(20000)),
               "... logged as a failed login with the principal", env.trace(1500))
        kdc.kdestroy()
    finally:
        d.stop()

    # A keytab shared with imap: imap's tickets still may not open pop.
    env.set("kerberos-keytab", kdc.path("shared.keytab"))
    kdc.kinit("alice", ALICE_PW)
    d = env.start_standalone()
    try:
        r = curl_gssapi(kdc, d)
        tap.ok(listing_ok(r, 2), "a keytab shared by pop and imap: pop tickets work",
               r.stderr.decode(errors="replace"))
        r = curl_gssapi(kdc, d, service="imap")
        tap.ok(r.returncode != 0, "... an imap ticket does not, though the keytab has its key")
    finally:
        d.stop()

    # A keytab without pop's key: GSSAPI is still offered (the keytab has
    # keys) but nothing gets in.
    env.set("kerberos-keytab", kdc.path("imap.keytab"))
    d = env.start_standalone()
    try:
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode != 0, "a keytab without pop/localhost's key: refused")
    finally:
        d.stop()

    # kerberos-service (Qpopper's -K): the service name changes.
    env.set("kerberos-keytab", kdc.path("pop3.keytab"))
    d = env.start_standalone(args=["-K", "pop3"])
    try:
        r = curl_gssapi(kdc, d, service="pop3")
        tap.ok(listing_ok(r, 2), "-K pop3: a ticket for pop3/localhost logs in",
               r.stderr.decode(errors="replace"))
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode != 0, "-K pop3: a ticket for pop/localhost does not")
    finally:
        d.stop()

    # No keytab at all: GSSAPI is not offered.
    env.set("kerberos-keytab", kdc.path("no-such.keytab"))
    s = env.start_inetd()
    s.read_greeting()
    s.client.sendline("CAPA")
    s.client.line()
    capa = [l.decode() for l in s.client.multiline()]
    s.client.command("QUIT")
    s.finish()
    tap.ok(not any("GSSAPI" in l for l in capa), "without a usable keytab GSSAPI is not offered",
           capa)
    return True


def test_foreign_realm(tap, kdc, env):
    env.set("kerberos-keytab", kdc.path("pop.keytab"))
    env.add_user("bob", "bob-secret", messages=[pf.make_message("b1")])
    r = kdc.kinit("bob@" + OTHER, BOB_PW)
    if r.returncode != 0:
        tap.skip("foreign realm", "kinit bob@%s failed: %s" % (OTHER, r.stdout.decode(errors="replace")))
        return
    r = kdc.kvno("pop/localhost@" + REALM)
    if r.returncode != 0:
        tap.skip("foreign realm", "no cross-realm ticket for pop/localhost: %s"
                 % r.stdout.decode(errors="replace")[-300:])
        return
    d = env.start_standalone()
    try:
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode != 0, "bob@%s (a foreign realm) is refused by default" % OTHER)
        tap.ok(re.search(r'user="bob@OTHER\.TEST" .*no local user', env.trace(20000)),
               "... the log names the principal and the reason", env.trace(1500))
    finally:
        d.stop()
    # krb5's own rule, configured for popper's krb5.conf only.
    kdc.auth_to_local = ["RULE:[1:$1@$0](.*@OTHER\\.TEST)s/@.*//", "DEFAULT"]
    kdc.write_krb5_conf()
    d = env.start_standalone()
    try:
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode == 0 and len(r.stdout.split()) == 2,
               "with an auth_to_local rule for %s, bob@%s logs in as bob" % (OTHER, OTHER),
               (r.stdout + r.stderr).decode(errors="replace")[-600:])
    finally:
        d.stop()
        kdc.auth_to_local = []
        kdc.write_krb5_conf()
        kdc.kdestroy()


def test_expired(tap, kdc, env):
    env.set("kerberos-keytab", kdc.path("pop.keytab"))
    r = kdc.kinit("alice", ALICE_PW, lifetime="3s")
    if r.returncode != 0:
        tap.skip("expired ticket", "kinit -l 3s failed: %s" % r.stdout.decode(errors="replace"))
        return
    kdc.kvno("pop/localhost")
    time.sleep(5)
    d = env.start_standalone()
    try:
        r = curl_gssapi(kdc, d)
        tap.ok(r.returncode != 0, "an expired ticket does not log in (status %d)" % r.returncode,
               r.stdout.decode(errors="replace"))
    finally:
        d.stop()
        kdc.kdestroy()


def test_kpop(tap, kdc, env):
    if not shutil.which("fetchmail"):
        tap.skip("KPOP", "fetchmail not installed")
        return
    env.set("kerberos-keytab", kdc.path("pop.keytab"))
    env.write_mailbox("alice", [pf.make_message("p1"), pf.make_message("p2"), pf.make_message("p3")])
    plugin = wrapper_script(env, kdc, "popper-kpop.sh", args=["-k"])
    kdc.kdestroy()
    st, out, n = fetchmail(env, kdc, "kerberos_v5", plugin)
    tap.ok(st != 0 and n == 0, "KPOP without a ticket fails", out[-800:])
    kdc.kinit("alice", ALICE_PW)
    st, out, n = fetchmail(env, kdc, "kerberos_v5", plugin)
    tap.ok(st == 0 and n == 3, "fetchmail auth kerberos_v5 (KPOP, service kpop) fetches 3 messages",
           out[-1500:])
    trace = env.trace(30000)
    tap.ok(re.search(r'KPOP: client=local principal="alice@POPPER\.TEST" user=alice', trace) and
           re.search(r"login: user=alice client=local method=KPOP ", trace),
           "the log shows the principal, the user and method=KPOP", trace[-1500:])
    st, out, n = fetchmail(env, kdc, "kerberos_v5", plugin, user="bob")
    tap.ok(st != 0 and n == 0, "KPOP: USER must name the user the principal maps to", out[-800:])
    tap.ok(re.search(r'method=KPOP user="bob" reason=rejected detail="USER is not the user',
                     env.trace(30000)), "... a failed login with its reason in the log",
           env.trace(1500))

    # By hand over the same plugin: the greeting, then what USER and AUTH say.
    kdc.kdestroy()

    # A ticket for imap is no KPOP ticket.
    plugin_imap = wrapper_script(env, kdc, "popper-kpop-imap.sh",
                                 args=["-k"])
    env.set("kerberos-keytab", kdc.path("shared.keytab"))
    kdc.kinit("alice", ALICE_PW)
    st, out, n = fetchmail(env, kdc, "kerberos_v5", plugin_imap)
    tap.ok(st == 0 and n == 3, "KPOP with a keytab shared with imap still works for pop", out[-800:])
    env.set("kerberos-service", "imap")
    plugin_imap = wrapper_script(env, kdc, "popper-kpop-imap2.sh", args=["-k"])
    st, out, n = fetchmail(env, kdc, "kerberos_v5", plugin_imap)
    tap.ok(st != 0 and n == 0, "kerberos-service imap: fetchmail's pop ticket is refused", out[-800:])
    tap.ok("ticket is not for service imap" in env.trace(30000),
           "... because the ticket is not for service imap", env.trace(1500))
    del env.settings["kerberos-service"]
    kdc.kdestroy()

    # A client that does not speak KPOP at all: the session ends without a
    # word of POP3 (and within the handshake deadline).
    env.set("kerberos-keytab", kdc.path("pop.keytab"))
    s = env.start_inetd(args=["-k"])
    s.client.sendline("USER alice")
    tap.ok(s.client.expect_closed(30), "-k: a plain POP3 client gets no session")
    s.finish()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    why = pf.without("krb5", "sasl")
    if why:
        tap.skip("Kerberos (GSSAPI and KPOP)", why)
        return tap.done()
    if not tap.can_login("Kerberos logins"):
        return tap.done()
    kdc = KDC()
    try:
        why = kdc.start()
        if why:
            if os.environ.get("CI") == "true":
                # CI installs the KDC (.ci/run): a skip there would hide
                # that nothing was tested.
                tap.ok(False, "CI: the KDC must start for the Kerberos tests", why)
            else:
                tap.skip("Kerberos (GSSAPI and KPOP)", "the KDC cannot be started: " + why)
            return tap.done()
        # popper, the clients and the KDC all read the realm's krb5.conf.
        os.environ["KRB5_CONFIG"] = kdc.conf
        os.environ["KRB5CCNAME"] = "FILE:" + kdc.ccache
        env = pf.PopEnv()
        try:
            if not shutil.which("curl"):
                tap.skip("GSSAPI with curl", "curl not installed")
            elif test_gssapi(tap, kdc, env):
                test_foreign_realm(tap, kdc, env)
                test_expired(tap, kdc, env)
            test_kpop(tap, kdc, env)
        finally:
            env.cleanup()
    finally:
        kdc.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
