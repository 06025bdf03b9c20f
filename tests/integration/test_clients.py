#!/usr/bin/env python3
"""test_clients: real POP3 clients against a standalone popper on
127.0.0.1 with the fixture's user (a virtual user, or a PAM account in a
build without GDBM): curl, fetchmail, Python's poplib and mpop each list,
fetch and delete, and every fetched message is compared byte for byte
with the original (after CRLF normalisation; headers a client adds
itself, such as fetchmail's Received:, are removed first).

The mailbox holds messages chosen to trip clients: dot-stuffed lines, a
line that is only ".", CRLF already in the file, a long line, a larger
body.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

TIMEOUT = 60


def messages():
    return [
        pf.make_message("cl-1"),
        pf.make_message("cl-2", body=b".\n..\n.dotted line\nmiddle\n.\nend\n"),
        pf.make_message("cl-3", body=b"crlf line\r\nanother\r\n"),
        pf.make_message("cl-4", body=b"x" * 900 + b"\n" + b"short\n"),
        pf.make_message("cl-5", size=60000),
    ]


def strip_added_headers(data, names=(b"received", b"x-original-to", b"delivered-to")):
    """Removes header fields a client adds at the top (with continuation
    lines) so the rest can be compared with the original."""
    lines = data.split(b"\n")
    i = 0
    while i < len(lines):
        name = lines[i].split(b":", 1)[0].lower()
        if name in names and b":" in lines[i]:
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            continue
        break
    return b"\n".join(lines[i:])


def same(fetched, original):
    return pf.normalize_crlf(fetched) == pf.normalize_crlf(original)


def ids_left(env):
    return [pf.test_id_of(m) for m in env.mailbox("alice")]


def test_curl(tap, env, d, msgs):
    if not shutil.which("curl"):
        tap.skip("curl", "curl not installed")
        return
    if pf.apop_unavailable():
        # curl logs in with APOP whenever the greeting carries a timestamp
        # (popper's always does) and never falls back to USER/PASS.
        tap.skip("curl", "curl insists on APOP, and " + pf.apop_unavailable())
        return
    base = "pop3://127.0.0.1:%d/" % d.port
    r = pf.run(["curl", "-s", "-S", "--max-time", "30", base, "-u", "alice:secret"], timeout=TIMEOUT)
    listing = r.stdout.decode(errors="replace").replace("\r\n", "\n").strip().split("\n")
    expect = ["%d %d" % (i + 1, pf.msg_size(m)) for i, m in enumerate(msgs)]
    tap.is_(listing, expect, "curl: LIST matches the sizes of the originals")
    bad = []
    for i, m in enumerate(msgs):
        r = pf.run(["curl", "-s", "-S", "--max-time", "30", base + str(i + 1), "-u", "alice:secret"],
                   timeout=TIMEOUT)
        if r.returncode != 0 or not same(r.stdout, m):
            bad.append("%d (rc %d, %d octets)" % (i + 1, r.returncode, len(r.stdout)))
    tap.ok(not bad, "curl: every message retrieved byte-identical", "differs: %s" % bad)
    r = pf.run(["curl", "-s", "-S", "--max-time", "30", base + "2", "-X", "DELE", "-I",
                "-u", "alice:secret"], timeout=TIMEOUT)
    tap.ok(r.returncode == 0, "curl: -X DELE 2 succeeds", r.stderr.decode(errors="replace"))
    tap.is_(ids_left(env), ["cl-1", "cl-3", "cl-4", "cl-5"], "curl: DELE removed exactly message 2")
    r = pf.run(["curl", "-s", "-S", "--max-time", "30", base + "1", "-u", "alice:wrong"], timeout=TIMEOUT)
    tap.ok(r.returncode != 0, "curl: a wrong password fails (curl status %d)" % r.returncode)


def test_poplib(tap, env, d, msgs):
    import poplib
    p = poplib.POP3("127.0.0.1", d.port, timeout=30)
    try:
        tap.ok(p.getwelcome().startswith(b"+OK popper"), "poplib: welcome")
        p.user("alice")
        p.pass_("secret")
        n, size = p.stat()
        tap.is_((n, size), (len(msgs), sum(pf.msg_size(m) for m in msgs)), "poplib: STAT")
        resp, lines, octets = p.list()
        tap.is_([l.decode() for l in lines],
                ["%d %d" % (i + 1, pf.msg_size(m)) for i, m in enumerate(msgs)], "poplib: LIST")
        bad = []
        for i, m in enumerate(msgs):
            resp, lines, octets = p.retr(i + 1)
            if not same(b"\n".join(lines) + b"\n", m):
                bad.append(i + 1)
        tap.ok(not bad, "poplib: every message retrieved byte-identical", "differs: %s" % bad)
        resp, lines, octets = p.top(2, 1)
        hdr, _, body = pf.normalize_crlf(msgs[1]).partition(b"\n\n")
        tap.is_(b"\n".join(lines), hdr + b"\n\n" + body.split(b"\n")[0], "poplib: TOP 2 1")
        resp, uids, _ = p.uidl()
        tap.is_(len(set(u.split()[1] for u in uids)), len(msgs), "poplib: UIDL gives distinct ids")
        p.dele(1)
        p.dele(5)
        resp = p.quit()
        tap.ok(resp.startswith(b"+OK"), "poplib: QUIT", resp)
    except poplib.error_proto as e:
        tap.ok(False, "poplib session", str(e))
        p.close()
    tap.is_(ids_left(env), ["cl-2", "cl-3", "cl-4"], "poplib: DELE 1 and 5 applied at QUIT")


MDA = r'''import os, sys, time
d = sys.argv[1]
data = sys.stdin.buffer.read()
n = len(os.listdir(d))
with open(os.path.join(d, "%06d" % n), "wb") as f:
    f.write(data)
'''


def test_fetchmail(tap, env, d, msgs):
    if not shutil.which("fetchmail"):
        tap.skip("fetchmail", "fetchmail not installed")
        return
    home = env.path("fetchmail-home")
    os.makedirs(home, exist_ok=True)
    out = env.path("fetchmail-out")
    os.makedirs(out, exist_ok=True)
    mda = env.path("mda.py")
    with open(mda, "w") as f:
        f.write(MDA)

    def run(keep):
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('poll 127.0.0.1 protocol pop3 port %d\n'
                    '  user "alice" password "secret" is root here\n'
                    '  mda "%s %s %s"\n  %s sslproto "" no sslcertck\n' % (
                        d.port, sys.executable, mda, out,
                        # popper's LAST remembers earlier sessions: after the
                        # keep run every message counts as seen.
                        "keep" if keep else "nokeep fetchall"))
        os.chmod(rc, 0o600)
        e = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        return subprocess.run(["fetchmail", "--nosyslog", "-N", "-f", rc, "--pidfile",
                               os.path.join(home, "pid")], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT, env=e)

    r = run(keep=True)
    log = r.stdout.decode(errors="replace")
    got = [open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))]
    tap.ok(r.returncode == 0 and len(got) == len(msgs),
           "fetchmail keep: fetched %d of %d messages" % (len(got), len(msgs)), log[-1500:])
    bad = [i + 1 for i, (g, m) in enumerate(zip(got, msgs)) if not same(strip_added_headers(g), m)]
    tap.ok(not bad and got, "fetchmail: every message delivered byte-identical", "differs: %s" % bad)
    tap.is_(ids_left(env), [pf.test_id_of(m) for m in msgs], "fetchmail keep: nothing deleted")
    for n in os.listdir(out):
        os.unlink(os.path.join(out, n))
    r = run(keep=False)
    got = os.listdir(out)
    tap.ok(r.returncode == 0 and len(got) == len(msgs), "fetchmail nokeep fetchall: fetched all again",
           r.stdout.decode(errors="replace")[-1500:])
    tap.is_(ids_left(env), [], "fetchmail nokeep: all deleted")


def test_mpop(tap, env, d, msgs):
    if not shutil.which("mpop"):
        tap.skip("mpop", "mpop not installed")
        return
    home = env.path("mpop-home")
    os.makedirs(home, exist_ok=True)
    box = os.path.join(home, "inbox")
    uidls = os.path.join(home, "uidls")
    open(box, "wb").close()
    conf = os.path.join(home, "mpoprc")
    with open(conf, "w") as f:
        f.write("defaults\n")
    os.chmod(conf, 0o600)

    def run(keep):
        return subprocess.run(
            ["mpop", "-C", conf, "--host=127.0.0.1", "--port=%d" % d.port, "--auth=user",
             "--user=alice", "--passwordeval=echo secret", "--tls=off",
             "--delivery=mbox,%s" % box, "--uidls-file=%s" % uidls, "--received-header=off",
             "--keep=%s" % ("on" if keep else "off"), "--only-new=off"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
            env=dict(os.environ, HOME=home))

    r = run(keep=True)
    got = pf.read_mbox(box)
    tap.ok(r.returncode == 0 and len(got) == len(msgs),
           "mpop keep: fetched %d of %d messages" % (len(got), len(msgs)),
           r.stdout.decode(errors="replace")[-1500:])
    bad = [i + 1 for i, (g, m) in enumerate(zip(got, msgs)) if not same(g, m)]
    tap.ok(not bad and got, "mpop: every message delivered byte-identical", "differs: %s" % bad)
    tap.is_(ids_left(env), [pf.test_id_of(m) for m in msgs], "mpop keep: nothing deleted")
    open(box, "wb").close()
    r = run(keep=False)
    got = pf.read_mbox(box)
    tap.ok(r.returncode == 0 and len(got) == len(msgs), "mpop keep=off: fetched all",
           r.stdout.decode(errors="replace")[-1500:])
    tap.is_(ids_left(env), [], "mpop keep=off: all deleted")


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    for name, fn in (("curl", test_curl), ("poplib", test_poplib),
                     ("fetchmail", test_fetchmail), ("mpop", test_mpop)):
        if not tap.can_login(name):
            continue
        env = pf.PopEnv()
        msgs = messages()
        env.write_mailbox("alice", msgs)
        d = None
        try:
            d = env.start_standalone("127.0.0.1")
            fn(tap, env, d, msgs)
        except (subprocess.TimeoutExpired, OSError, pf.Closed, pf.Timeout) as e:
            tap.ok(False, "%s: ran to the end" % name, "%s: %s" % (type(e).__name__, e))
        finally:
            if d:
                d.stop()
            env.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
