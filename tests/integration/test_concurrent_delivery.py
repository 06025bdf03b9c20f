#!/usr/bin/env python3
"""test_concurrent_delivery: real local delivery agents writing into the
spool while POP3 sessions read and delete (robustness.md §6.3 T3, §5.3
F10 and F17).

Delivery: procmail (`procmail -m RCFILE`, a `:0:` recipe: dot-lock plus
procmail's fcntl lock) and a dotlockfile worker (fcntl first, then
`dotlockfile -l`, append, `dotlockfile -u`: Debian policy's order), each
delivering numbered messages.  Meanwhile POP3 workers against a standalone
popper log in, STAT, RETR a random message (compared byte for byte with
what was delivered), DELE some and QUIT -- or drop the connection, which
must not delete anything.  At the end: delivered - deleted == present,
each exactly once, byte-identical, and no lock is left.

Also: a second session for a user whose maildrop is in use gets
-ERR [IN-USE] only after a correct password; a lock held by
`dotlockfile -l` makes login wait lock-wait seconds and then answer
[IN-USE], and the foreign lock is left alone.
"""
import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import popfixture as pf  # noqa: E402

RUN_SECONDS = float(os.environ.get("POPPER_CONCURRENCY_SECONDS", "12"))
IN_USE = "-ERR [IN-USE] Maildrop is locked; is another session active?"
FROM_LINE = b"From lda@example.org Mon Jan  1 00:00:00 2024\n"


class Ledger:
    """What the workers did, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = {}      # id -> message bytes (delivery reported success)
        self.failed_deliveries = 0
        self.deleted = set()     # ids whose DELE was confirmed by QUIT +OK
        self.uncertain = set()   # ids whose QUIT reply never arrived
        self.problems = []
        self.stats = {"sessions": 0, "in_use": 0, "dropped": 0, "quit_ok": 0, "retr_ok": 0}

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] += n


def procmail_worker(env, rcfile, ledger, tag, stop):
    n = 0
    while not stop.is_set():
        n += 1
        tid = "%s-%04d" % (tag, n)
        msg = pf.make_message(tid, size=random.choice([300, 2000, 9000]))
        try:
            r = subprocess.run(["procmail", "-m", rcfile], input=FROM_LINE + msg,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        except subprocess.TimeoutExpired:
            ledger.problem("procmail %s timed out" % tid)
            continue
        with ledger.lock:
            if r.returncode == 0:
                ledger.delivered[tid] = msg
            else:
                ledger.failed_deliveries += 1
        time.sleep(random.uniform(0.01, 0.1))


def dotlock_deliver(spool, msg, timeout=30):
    """fcntl lock, then dotlockfile, append, unlock: True on success.
    Both locks are tried without blocking and everything is let go between
    tries (Debian policy's "non blocking way"): procmail takes the same two
    locks in the other order, and waiting while holding one would deadlock
    with it."""
    lock = spool + ".lock"
    fd = os.open(spool, os.O_WRONLY | os.O_APPEND)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pass
            else:
                r = subprocess.run(["dotlockfile", "-l", "-r", "0", lock],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
                if r.returncode == 0:
                    break
                fcntl.lockf(fd, fcntl.LOCK_UN)
            if time.monotonic() > deadline:
                return False
            time.sleep(random.uniform(0.05, 0.2))
        try:
            os.write(fd, FROM_LINE + msg + b"\n")
            os.fsync(fd)
        finally:
            subprocess.run(["dotlockfile", "-u", lock], timeout=30)
        return True
    finally:
        os.close(fd)


def dotlock_worker(env, ledger, stop):
    n = 0
    spool = env.maildrop("alice")
    while not stop.is_set():
        n += 1
        tid = "dl-%04d" % n
        msg = pf.make_message(tid, size=random.choice([500, 4000]))
        try:
            ok = dotlock_deliver(spool, msg)
        except (OSError, subprocess.SubprocessError) as e:
            ledger.problem("dotlock delivery %s: %s" % (tid, e))
            ok = False
        with ledger.lock:
            if ok:
                ledger.delivered[tid] = msg
            else:
                ledger.failed_deliveries += 1
        time.sleep(random.uniform(0.02, 0.15))


def pop_worker(daemon, ledger, stop, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            c = daemon.connect()
        except OSError as e:
            ledger.problem("connect: %s" % e)
            time.sleep(0.2)
            continue
        try:
            pop_session(c, ledger, rnd)
        except (pf.Closed, pf.Timeout, OSError) as e:
            ledger.problem("session error: %s" % e)
        finally:
            c.close()
        # Leave the maildrop alone for a moment so deliveries get through.
        time.sleep(rnd.uniform(0.2, 0.8))


def pop_session(c, ledger, rnd):
    c.line()
    r = c.login("alice", "secret")
    ledger.count("sessions")
    if r == IN_USE:
        ledger.count("in_use")
        return
    if not r.startswith("+OK"):
        ledger.problem("login: %r" % r)
        return
    st = c.command("STAT").split()
    count = int(st[1])
    if count:
        n = rnd.randint(1, count)
        first, body = c.retr(n)
        ids = [l for l in body.split(b"\r\n") if l.startswith(b"X-Test-Id: ")] if body else []
        if not ids:
            ledger.problem("RETR %d: %r without X-Test-Id" % (n, first))
        else:
            tid = ids[0][11:].decode()
            with ledger.lock:
                orig = ledger.delivered.get(tid)
            if orig is not None and pf.crlf_form(orig) != body:
                ledger.problem("RETR of %s differs from what was delivered" % tid)
            ledger.count("retr_ok")
    marked = []
    for n in range(1, count + 1):
        if rnd.random() < 0.3:
            c.sendline("TOP %d 0" % n)
            if not c.line_str().startswith("+OK"):
                continue
            hdr = c.multiline()
            tid = [l[11:].decode() for l in hdr if l.startswith(b"X-Test-Id: ")]
            if tid and c.command("DELE %d" % n).startswith("+OK"):
                marked.append(tid[0])
    if rnd.random() < 0.2:
        ledger.count("dropped")      # RFC 1939 §6: nothing may be deleted
        return
    c.sendline("QUIT")
    try:
        q = c.line_str()
    except (pf.Closed, pf.Timeout):
        with ledger.lock:
            ledger.uncertain.update(marked)
        return
    if q.startswith("+OK"):
        ledger.count("quit_ok")
        with ledger.lock:
            ledger.deleted.update(marked)
    else:
        ledger.problem("QUIT: %r" % q)


def test_interleaved(tap):
    missing = [p for p in ("procmail", "dotlockfile") if not shutil.which(p)]
    if missing:
        tap.skip("concurrent delivery", "not installed: " + " ".join(missing))
        return
    env = pf.PopEnv()
    daemon = None
    try:
        env.set("lock-wait", "2")
        env.write_mailbox("alice", [])
        spool = env.maildrop("alice")
        rc = env.path("procmailrc")
        with open(rc, "w") as f:
            f.write("LOCKSLEEP=1\nLOCKTIMEOUT=1024\n:0:\n%s\n" % spool)
        os.chmod(rc, 0o644)
        daemon = env.start_standalone()
        ledger = Ledger()
        stop_delivery, stop_pop = threading.Event(), threading.Event()
        threads = [threading.Thread(target=procmail_worker, args=(env, rc, ledger, "pm%d" % i, stop_delivery))
                   for i in range(2)]
        threads.append(threading.Thread(target=dotlock_worker, args=(env, ledger, stop_delivery)))
        pops = [threading.Thread(target=pop_worker, args=(daemon, ledger, stop_pop, i)) for i in range(2)]
        for t in threads + pops:
            t.daemon = True
            t.start()
        time.sleep(RUN_SECONDS)
        stop_delivery.set()
        for t in threads:
            t.join(90)
        time.sleep(1)
        stop_pop.set()
        for t in pops:
            t.join(90)
        hung = [t for t in threads + pops if t.is_alive()]
        tap.ok(not hung, "all delivery and POP3 workers finished")
        # A last clean session must see everything that is left.
        c = daemon.connect()
        c.line()
        r = c.login("alice", "secret")
        final_ok = r.startswith("+OK") and c.command("QUIT").startswith("+OK")
        c.close()
        tap.ok(final_ok, "a final session logs in and quits", "login: %r" % r)
        daemon.stop()
        daemon = None

        s = ledger.stats
        tap.diag("delivered %d (%d failed), sessions %d, in-use %d, dropped %d, QUIT ok %d, "
                 "deleted %d, uncertain %d" % (
                     len(ledger.delivered), ledger.failed_deliveries, s["sessions"], s["in_use"],
                     s["dropped"], s["quit_ok"], len(ledger.deleted), len(ledger.uncertain)))
        tap.ok(len(ledger.delivered) >= 10 and s["quit_ok"] >= 3,
               "the run did real work (%d deliveries, %d completed sessions)" % (
                   len(ledger.delivered), s["quit_ok"]))
        tap.ok(not ledger.problems, "no protocol problems during the run",
               "\n".join(ledger.problems[:20]) + "\nserver log:\n" + "\n".join(
                   l for l in env.trace(200000).splitlines()
                   if any(w in l.lower() for w in ("not opened", "error", "fail", "monitor",
                                                    "lock", "cannot")))[-3000:])
        try:
            present = env.mailbox("alice")
        except pf.MboxFormatError as e:
            tap.ok(False, "the spool is still a valid mbox", str(e))
            return
        ids = [pf.test_id_of(m) for m in present]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        tap.ok(not dup, "every message present at most once", "duplicated: %s" % dup)
        altered = [i for m, i in zip(present, ids) if ledger.delivered.get(i) not in (None, m)]
        unknown = [i for i in ids if i not in ledger.delivered]
        tap.ok(not altered and not unknown, "every present message is byte-identical to a delivery",
               "altered: %s unknown: %s" % (altered[:10], unknown[:10]))
        must = set(ledger.delivered) - ledger.deleted - ledger.uncertain
        lost = sorted(must - set(ids))
        resurrected = sorted(ledger.deleted & set(ids))
        tap.ok(not lost, "delivered - deleted == present: nothing lost (%d present)" % len(ids),
               "lost: %s" % lost[:20])
        tap.ok(not resurrected, "delivered - deleted == present: nothing deleted came back",
               "resurrected: %s" % resurrected[:20])
        tap.ok(not os.path.exists(spool + ".lock"), "no dot-lock left at the end")
    finally:
        if daemon:
            daemon.stop()
        env.cleanup()


def test_second_session(tap):
    env = pf.PopEnv()
    try:
        env.set("lock-wait", "1")
        env.write_mailbox("alice", [pf.make_message(i) for i in range(1, 4)])
        a, r = env.login_session()
        tap.ok(r.startswith("+OK"), "first session logs in")
        b = env.start_inetd()
        b.read_greeting()
        tap.is_(b.client.command("USER alice"), "+OK Password required for alice.",
                "second session: USER accepted")
        tap.is_(b.client.command("PASS wrong"), "-ERR [AUTH] Authentication failed.",
                "second session: a wrong password reads as a plain failure, not [IN-USE]")
        b.client.command("USER alice")
        tap.is_(b.client.command("PASS secret"), IN_USE,
                "second session: [IN-USE] only after the correct password")
        tap.ok(b.client.expect_closed(), "second session: closed after [IN-USE]")
        b.finish()
        tap.is_(a.client.command("STAT").split()[:2], ["+OK", "3"], "first session still works")
        a.client.command("DELE 1")
        tap.ok(a.client.command("QUIT").startswith("+OK"), "first session QUITs fine")
        a.finish()
        tap.is_([pf.test_id_of(m) for m in env.mailbox("alice")], ["m0002", "m0003"],
                "first session's deletion applied")
    finally:
        env.cleanup()


def test_dotlockfile_holder(tap):
    if not shutil.which("dotlockfile"):
        tap.skip("lock held by dotlockfile", "dotlockfile not installed")
        return
    env = pf.PopEnv()
    holder = None
    try:
        env.set("lock-wait", "2")
        env.write_mailbox("alice", [pf.make_message(1)])
        lock = env.lock_path("alice")
        # -p with a command: the lock holds the pid of a live dotlockfile.
        holder = subprocess.Popen(["dotlockfile", "-l", "-p", "-r", "0", lock, "sleep", "60"],
                                  start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(lock, "rb") as f:
            content = f.read()
        s = env.start_inetd()
        s.read_greeting()
        s.client.command("USER alice")
        t0 = time.monotonic()
        r = s.client.command("PASS secret")
        waited = time.monotonic() - t0
        tap.is_(r, IN_USE, "login while dotlockfile holds the lock answers [IN-USE]")
        tap.ok(waited >= 1.5, "login waited about lock-wait (2 s) before giving up (%.1f s)" % waited)
        tap.ok(s.client.expect_closed(), "connection closed after [IN-USE]")
        s.finish()
        same = os.path.exists(lock) and open(lock, "rb").read() == content
        tap.ok(same, "the live foreign lock was not broken")
        os.killpg(holder.pid, signal.SIGTERM)
        holder.wait(10)
        holder = None
        subprocess.run(["dotlockfile", "-u", lock], timeout=10)
        s, r = env.login_session()
        tap.ok(r.startswith("+OK"), "after the lock is released, login works", r)
        s.client.command("QUIT")
        s.finish()

        # A lock without a pid (dotlockfile -l alone) is valid for 5 minutes.
        subprocess.run(["dotlockfile", "-l", "-r", "0", lock], timeout=10)
        s = env.start_inetd()
        s.read_greeting()
        s.client.command("USER alice")
        tap.is_(s.client.command("PASS secret"), IN_USE,
                "a fresh lock without a pid is honoured too")
        s.finish()
        tap.ok(os.path.exists(lock), "that lock is left alone")
        subprocess.run(["dotlockfile", "-u", lock], timeout=10)
    finally:
        if holder:
            try:
                os.killpg(holder.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            holder.wait(10)
        env.cleanup()


def test_fcntl_holder(tap):
    """An LDA holding only the fcntl lock (as procmail does while it
    writes) is a locked maildrop too: wait lock-wait, then [IN-USE]."""
    env = pf.PopEnv()
    fd = None
    try:
        env.set("lock-wait", "2")
        env.write_mailbox("alice", [pf.make_message(1)])
        fd = os.open(env.maildrop("alice"), os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        s = env.start_inetd()
        s.read_greeting()
        s.client.command("USER alice")
        t0 = time.monotonic()
        r = s.client.command("PASS secret")
        waited = time.monotonic() - t0
        tap.is_(r, IN_USE, "login while another process holds the fcntl lock answers [IN-USE]")
        tap.ok(waited >= 1.5, "and waited about lock-wait (2 s) first (%.1f s)" % waited)
        s.finish()
        tap.ok(not os.path.exists(env.lock_path("alice")), "no dot-lock left behind")
        fcntl.lockf(fd, fcntl.LOCK_UN)
        s, r = env.login_session()
        tap.ok(r.startswith("+OK"), "after the fcntl lock is released, login works", r)
        s.client.command("QUIT")
        s.finish()
    finally:
        if fd is not None:
            os.close(fd)
        env.cleanup()


def main():
    tap = pf.TAP()
    tap.bail_if_unbuilt()
    for desc, test in (("a second session while the first holds the maildrop", test_second_session),
                       ("a maildrop held with an fcntl lock", test_fcntl_holder),
                       ("a maildrop held by dotlockfile", test_dotlockfile_holder),
                       ("deliveries interleaved with sessions", test_interleaved)):
        if tap.can_login(desc):
            test(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
