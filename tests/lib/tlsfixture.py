"""tlsfixture: TLS helpers for the integration tests (tests/integration/
test_tls.py), next to popfixture.py.

PKI makes a throw-away public-key infrastructure with the openssl command
line tool, in a directory of the test environment:
  ca.crt                  the test CA clients are told to trust
  server.crt/server.key   signed by it, for localhost, 127.0.0.1 and ::1
  expired.crt/expired.key signed by it, validity ended in 2020
  other-ca.crt, other.crt/other.key  the same names from a second CA the
                          clients do not trust
Keys are EC P-256 (fast to make) and mode 0600, as popper requires.

TLSPopClient is popfixture's PopClient that can switch to TLS on the same
socket (STLS) or start in TLS (implicit TLS); start_tls_daemon starts a
standalone popper whose first words are a TLS handshake.
"""
import os
import shutil
import socket
import ssl
import subprocess
import time

import popfixture as pf

OPENSSL = shutil.which("openssl")


def openssl_missing():
    """None when the openssl command line tool is there, else the reason."""
    return None if OPENSSL else "the openssl command line tool is not installed"


CA_CONF = """[ca]
default_ca = testca
[testca]
dir = %(dir)s
database = %(dir)s/index.txt
new_certs_dir = %(dir)s/newcerts
serial = %(dir)s/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[policy_any]
commonName = supplied
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
"""


def _openssl(args, cwd):
    r = subprocess.run([OPENSSL] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]),
                                                      r.stderr.decode(errors="replace")[-800:]))
    return r


class _CA:
    def __init__(self, dir, name):
        self.dir = dir
        os.makedirs(os.path.join(dir, "newcerts"), exist_ok=True)
        open(os.path.join(dir, "index.txt"), "w").close()
        with open(os.path.join(dir, "serial"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(dir, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(CA_CONF % {"dir": dir})
        self.key = os.path.join(dir, "ca.key")
        self.cert = os.path.join(dir, "ca.crt")
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "3",
                  "-subj", "/CN=%s" % name,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir)

    def issue(self, out_dir, name, start=None, end=None):
        """A server certificate for localhost/127.0.0.1/::1; start/end like
        20200101000000Z, else valid from now for two days.  Returns
        (cert, key) paths; the key is mode 0600."""
        key = os.path.join(out_dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        cert = os.path.join(out_dir, name + ".crt")
        _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"], self.dir)
        os.chmod(key, 0o600)
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", "2"]
        _openssl(["ca", "-batch", "-notext", "-config", self.conf, "-cert", self.cert,
                  "-keyfile", self.key, "-in", csr, "-out", cert,
                  "-extensions", "server_ext"] + dates, self.dir)
        os.chmod(cert, 0o644)
        return cert, key


class PKI:
    """The test CA and the certificates test_tls.py needs (see above)."""

    def __init__(self, dir):
        os.makedirs(dir, exist_ok=True)
        self.dir = dir
        ca = _CA(os.path.join(dir, "ca"), "popper test CA")
        other = _CA(os.path.join(dir, "other-ca"), "popper untrusted CA")
        self.ca_cert = ca.cert
        self.other_ca_cert = other.cert
        self.server_cert, self.server_key = ca.issue(dir, "server")
        self.expired_cert, self.expired_key = ca.issue(dir, "expired", "20200101000000Z",
                                                       "20200201000000Z")
        self.other_cert, self.other_key = other.issue(dir, "other")

    def client_context(self, cafile=None):
        """An ssl.SSLContext that verifies against our CA (or cafile)."""
        ctx = ssl.create_default_context(cafile=cafile or self.ca_cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx


def tls_settings(env, pki, mode, cert=None, key=None):
    """The popper.conf lines for tls-support mode with our certificate."""
    env.set("tls-support", mode)
    env.set("tls-server-cert-file", cert or pki.server_cert)
    env.set("tls-private-key-file", key or pki.server_key)


class TLSPopClient(pf.PopClient):
    """A PopClient whose socket may become (or start as) TLS."""

    def _fill(self, deadline):
        # Bytes OpenSSL has already decrypted are invisible to select().
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            self.buf += self.sock.recv(65536)
            return
        super()._fill(deadline)

    def starttls(self, ctx, server_hostname="localhost"):
        """The client side of the handshake on this connection (after
        "+OK Begin TLS negotiation", or at once for implicit TLS).  Raises
        ssl.SSLError (e.g. SSLCertVerificationError) or OSError."""
        if self.buf:
            raise RuntimeError("clear-text bytes left before the handshake: %r" % self.buf[:80])
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self

    @classmethod
    def connect(cls, host, port, timeout=pf.IO_TIMEOUT, source=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        return cls(s, timeout)

    def tls_version(self):
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None


def connect(d, timeout=pf.IO_TIMEOUT):
    """A TLSPopClient connected (in clear text) to daemon d."""
    return TLSPopClient.connect(d.host, d.port, timeout)


def start_tls_daemon(env, host="127.0.0.1", args=(), timeout=pf.IO_TIMEOUT):
    """A standalone popper whose connections start with a TLS handshake
    (tls-support alternate-port): popfixture's start_standalone waits for a
    clear-text greeting, which never comes there.  Returns once the port
    accepts connections."""
    env.write_config()
    port = pf.free_port(host)
    spec = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    errpath = env._log("daemon-tls")
    with open(errpath, "wb") as err:
        proc = subprocess.Popen([pf.POPPER, spec] + list(args) + ["-f", env.conf],
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                env=env.process_env(), start_new_session=True, close_fds=True)
    d = pf.Daemon(env, proc, host, port, errpath)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("popper exited with %s before listening: %s" % (
                proc.returncode, d.stderr()))
        try:
            s = socket.create_connection((host, port), timeout=2)
            s.close()
            return d
        except OSError:
            if time.monotonic() > deadline:
                d.stop()
                raise RuntimeError("popper did not accept on %s within %ss" % (spec, timeout))
            time.sleep(0.05)
